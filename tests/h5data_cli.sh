#!/usr/bin/env bash
# `elign data import` and `elign info` end to end, checked by tests/h5data_check.py
# (h5py + an independent XYZ/QM9 parser) against the inputs and the qm9like README.
# usage: h5data_cli.sh ELIGN MAKE_FILES PYTHON
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
MAKE_FILES="$(cli_abspath "$2")"; PY="$3"
CHECK="$SRC/tests/h5data_check.py"
DATA="$SHARED/data/qm9like"
W=h5data_cli.work; rm -rf "$W"; mkdir -p "$W"; cd "$W"
# one_error CMD...: must exit 1 with exactly one line on stderr; leaves it in err.txt
one_error() {
  "$@" > out.txt 2> err.txt; local rc=$?
  [ $rc -eq 1 ] && [ "$(wc -l < err.txt)" -eq 1 ] && ! grep -q "HDF5-DIAG\|Segmentation\|internal error" err.txt
}

# --- tiny.xyz ---------------------------------------------------------------------------
"$ELIGN" data import "$DATA/tiny.xyz" -o tiny.h5 > import_tiny.txt && ok || bad "import tiny.xyz"
"$ELIGN" info tiny.h5 > info_tiny.txt && ok || bad "info tiny.h5"
"$PY" "$CHECK" xyz "$DATA/tiny.xyz" tiny.h5 info_tiny.txt && ok || bad "tiny.xyz contents"
"$PY" "$CHECK" xyz "$DATA/tiny.xyz" tiny.h5 import_tiny.txt > /dev/null && ok || bad "tiny import report"

# --- full qm9like (gz) with the split ----------------------------------------------------
t0=$(date +%s.%N)
"$ELIGN" data import "$DATA/qm9like_mmff.xyz.gz" -o qm9like.h5 --split "$DATA/split.json" > import_full.txt \
  && ok || bad "import qm9like_mmff.xyz.gz"
t1=$(date +%s.%N)
echo "qm9like import took $(echo "$t1 - $t0" | bc) s"
"$ELIGN" info qm9like.h5 > info_full.txt && ok || bad "info qm9like.h5"
"$PY" "$CHECK" xyz "$DATA/qm9like_mmff.xyz.gz" qm9like.h5 info_full.txt --readme "$DATA/README.md" \
  --split "$DATA/split.json" && ok || bad "qm9like contents vs xyz.gz, README and split.json"
"$ELIGN" data import "$DATA/tiny.xyz" -o sub.h5 --split "$DATA/split.json" --subset test > /dev/null 2> err.txt; rc=$?
# tiny.xyz holds 64 ids of the test list: every other split id is unknown
[ $rc -eq 1 ] && grep -q "split.json line [0-9]*: split 'train' lists id [0-9]*, which no imported molecule has" err.txt \
  && [ ! -e sub.h5 ] && ok || bad "unknown split id: rc=$rc $(cat err.txt)"
printf '{"test": [%s]}\n' "$(grep -o 'id=[0-9]*' "$DATA/tiny.xyz" | head -10 | cut -d= -f2 | paste -sd,)" > sub.json
"$ELIGN" data import "$DATA/tiny.xyz" -o sub.h5 --split sub.json --subset test > sub.txt && grep -q "^molecules: 10$" sub.txt \
  && ok || bad "--subset"

# --- QM9 archive -------------------------------------------------------------------------
"$PY" "$CHECK" make_qm9 qm9.tar.bz2 && ok || bad "make qm9 tarball"
"$ELIGN" data import qm9.tar.bz2 -o qm9.h5 > import_qm9.txt && ok || bad "import qm9.tar.bz2"
"$PY" "$CHECK" qm9 qm9.h5 && ok || bad "qm9 contents"
"$ELIGN" info qm9.h5 > info_qm9.txt && grep -q "^molecules: 3$" info_qm9.txt && grep -q "property U0 \[Hartree\]" info_qm9.txt \
  && ok || bad "info qm9.h5"
"$PY" "$CHECK" make_qm9 qm9bad.tar.bz2 --bad
one_error "$ELIGN" data import qm9bad.tar.bz2 -o qm9bad.h5 \
  && grep -q "qm9bad.tar.bz2:dsgdb9nsd_000017.xyz line 4: bad atom line 'O" err.txt && [ ! -e qm9bad.h5 ] \
  && ok || bad "bad QM9 member: $(cat err.txt)"

# --- malformed XYZ: one message, nothing written -------------------------------------------
head -n 40 "$DATA/tiny.xyz" > badatom.xyz
n0=$(head -1 badatom.xyz); n1=$(sed -n "$((n0 + 3))p" badatom.xyz)
line=$((n0 + 2 + 2 + 3))   # third atom of molecule 1
sed -i "${line}s/ [-0-9.]* / x /" badatom.xyz
one_error "$ELIGN" data import badatom.xyz -o badatom.h5 \
  && grep -q "badatom.xyz: molecule 1 (line $line): bad atom line '[A-Z][a-z]* x " err.txt \
  && [ ! -e badatom.h5 ] && ! ls badatom.h5.tmp.* > /dev/null 2>&1 && ok || bad "bad atom line: $(cat err.txt)"
cp tiny.h5 keep.h5
one_error "$ELIGN" data import badatom.xyz -o keep.h5 --force && cmp -s keep.h5 tiny.h5 && ok || bad "failed import replaced keep.h5"
printf '3\nc\nC 0 0 0\n' | gzip > short.xyz.gz
one_error "$ELIGN" data import short.xyz.gz -o short.h5 && grep -q "short.xyz.gz: molecule 0 (line 4): file ends after 1 of 3 atoms" err.txt \
  && ok || bad "short gz: $(cat err.txt)"
head -c 3000000 "$DATA/qm9like_mmff.xyz.gz" > cut.xyz.gz
one_error "$ELIGN" data import cut.xyz.gz -o cut.h5 && grep -q "cut.xyz.gz" err.txt && [ ! -e cut.h5 ] \
  && ok || bad "truncated gzip: $(cat err.txt)"

# --- other kinds through h5py and info ----------------------------------------------------
"$MAKE_FILES" . && ok || bad "h5data_make_files"
"$PY" "$CHECK" kinds . && ok || bad "h5py reads model/samples/oracle files"
"$ELIGN" info kind_model.h5 > info_model.txt && grep -q "^parameters: 1000 " info_model.txt \
  && grep -q "aggregation *\"sum\"" info_model.txt && grep -q "optimizer: adamw, step 7" info_model.txt \
  && ok || bad "info model"
"$ELIGN" info kind_samples.h5 > info_samples.txt && grep -q "^molecules: 5$" info_samples.txt \
  && grep -q "^groups: 2 " info_samples.txt && ok || bad "info samples"
"$ELIGN" info kind_oracle.h5 > info_oracle.txt && grep -q "^oracle: test-oracle" info_oracle.txt \
  && grep -qE "^ +3 +1$" info_oracle.txt && grep -q "energy (eV, status 0): n 4, mean -20.5" info_oracle.txt \
  && ok || bad "info oracle results"

# --- truncated, foreign and non-HDF5 files ---------------------------------------------------
for f in tiny.h5 kind_model.h5; do
  size=$(stat -c %s "$f")
  for cut in 0 7 200 1500 $((size / 2)) $((size - 100)) $((size - 1)); do
    head -c "$cut" "$f" > cut.h5
    if [ "$cut" -lt 48 ]; then want="^elign: error: cut.h5: not an HDF5 file$"
    else want="^elign: error: cut.h5: truncated (the HDF5 superblock says $size bytes, the file has $cut)$"; fi
    one_error "$ELIGN" info cut.h5 && grep -q "$want" err.txt && ok || bad "truncated $f at $cut: $(cat err.txt)"
  done
done
# h5py's default file has no metadata checksums (superblock 0): refused before HDF5 parses it
"$PY" -c "import h5py; f = h5py.File('foreign.h5', 'w'); f['x'] = [1, 2]; f.attrs['note'] = 'not ours'"
one_error "$ELIGN" info foreign.h5 && grep -q "foreign.h5: HDF5 file without metadata checksums (superblock version 0)" err.txt \
  && ok || bad "foreign: $(cat err.txt)"
"$PY" -c "import h5py; f = h5py.File('foreign3.h5', 'w', libver=('v110', 'v110')); f['x'] = [1, 2]"
one_error "$ELIGN" info foreign3.h5 && grep -q "foreign3.h5: not an Elign-C file" err.txt && ok || bad "foreign v110: $(cat err.txt)"
"$PY" -c "import h5py, numpy as np; f = h5py.File('wrongkind.h5', 'w', libver=('v110', 'v110'));
f.attrs['elign_format'] = np.bytes_('dataset'); f.attrs['elign_format_version'] = 2"
one_error "$ELIGN" info wrongkind.h5 && grep -q "wrongkind.h5: missing dataset /offsets" err.txt && ok || bad "empty dataset: $(cat err.txt)"
"$PY" -c "import h5py; f = h5py.File('vlen.h5', 'w', libver=('v110', 'v110')); f.attrs['elign_format'] = 'dataset'"
one_error "$ELIGN" info vlen.h5 && grep -q "vlen.h5: attribute 'elign_format' of / is not a fixed-length string" err.txt \
  && ok || bad "variable-length format attribute: $(cat err.txt)"
echo "not hdf5" > text.h5
one_error "$ELIGN" info text.h5 && grep -q "text.h5: not an HDF5 file$" err.txt && ok || bad "text file"
one_error "$ELIGN" info missing.h5 && grep -q "missing.h5: cannot open" err.txt && ok || bad "missing file"
"$ELIGN" data import > /dev/null 2>&1; [ $? -eq 2 ] && ok || bad "data import without args should exit 2"

cli_finish
