#!/bin/bash
# `elign info` on a samples file prints EDM's stability; the counts must equal
# those EDM's analyze_stability_for_molecules gave for the same molecules (the
# qm9like test split, written as a samples file by test_stability).
# usage: stability_info.sh ELIGN GOLDEN_GZ SAMPLES_H5
set -u
ELIGN=$1 GOLDEN=$2 SAMPLES=$3
line=$("$ELIGN" info "$SAMPLES" | grep '^stability (EDM, QM9 rule):') || { echo "FAIL: no stability line"; exit 1; }
echo "$line"
ref=$(zcat "$GOLDEN" | grep '^# split test:') || { echo "FAIL: no test split in $GOLDEN"; exit 1; }
read -r mols smols atoms satoms <<<"$(echo "$ref" | awk '{print $5, $7, $9, $11}')"
want="atoms $satoms/$atoms = .* molecules $smols/$mols = "
if echo "$line" | grep -q "$want"; then echo "ok: matches EDM ($ref)"; exit 0; fi
echo "FAIL: expected '$want' (EDM: $ref)"
exit 1
