#!/usr/bin/env bash
# tools/train_smiles.py end to end: tiny.xyz imported with a split that makes all its 64
# molecules "train"; the tool's list must be EDM's (the whole-molecule SMILES of those
# molecules in the golden file, invalid ones dropped, same order), and test_rdkit must get
# EDM's novelty of the test split against it after loading it.
#   rdkit_tool.sh ELIGN PYTHON TOOL TEST_RDKIT GOLDEN_DIR
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
PY="$2"; TOOL="$3"; TEST_RDKIT="$4"; GOLDEN="$5"
TINY="$SHARED/data/qm9like/tiny.xyz"

"$PY" - "$TINY" > tiny_split.json <<'PYEOF'
import json, re, sys
ids = [int(m.group(1)) for m in re.finditer(r' id=(\d+)', open(sys.argv[1]).read())]
print(json.dumps({"train": ids[:60], "valid": ids[60:]}))
PYEOF
[ -s tiny_split.json ] && ok || bad "split json"
"$ELIGN" data import "$TINY" -o tiny_rdkit.h5 --force --split tiny_split.json > import.log 2>&1 && ok || bad "import: $(cat import.log)"

# only the 60 "train" molecules, in order
"$PY" "$TOOL" tiny_rdkit.h5 -o tiny_train60.txt > tool.log 2>&1 && ok || bad "tool: $(cat tool.log)"
"$PY" - "$GOLDEN/qm9like_test.tsv.gz" tiny_train60.txt 60 <<'PYEOF' && ok || bad "tool output differs from EDM's list"
import gzip, sys
rows = [l.rstrip('\n').split('\t') for l in gzip.open(sys.argv[1], 'rt') if not l.startswith('#')]
want = [r[3] for r in rows[:int(sys.argv[3])] if r[1] == '1']
got = [l.rstrip('\n') for l in open(sys.argv[2]) if not l.startswith('#')]
print('train_smiles.py: %d SMILES, EDM %d, equal %d' % (len(got), len(want), sum(a == b for a, b in zip(got, want))))
sys.exit(0 if got == want and len(want) > 40 else 1)
PYEOF

# all 64 (train + valid), the reference list of the golden file's novelty numbers
"$PY" - "$TINY" > tiny_all.json <<'PYEOF'
import json, re, sys
print(json.dumps({"train": [int(m.group(1)) for m in re.finditer(r' id=(\d+)', open(sys.argv[1]).read())]}))
PYEOF
"$ELIGN" data import "$TINY" -o tiny_all.h5 --force --split tiny_all.json > import.log 2>&1 && ok || bad "import all: $(cat import.log)"
"$PY" "$TOOL" tiny_all.h5 -o tiny_train.txt > tool.log 2>&1 && ok || bad "tool all: $(cat tool.log)"
"$TEST_RDKIT" "$GOLDEN" --train tiny_train.txt > test_rdkit_train.log 2>&1 && ok || bad "test_rdkit --train: $(tail -20 test_rdkit_train.log)"
grep "novelty vs tiny_train.txt" test_rdkit_train.log

# bad input: a split that is not there, a file that is not a dataset
"$PY" "$TOOL" tiny_rdkit.h5 -o x.txt --split test > err.txt 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "no split 'test'" err.txt && ok || bad "missing split: rc=$rc $(cat err.txt)"
echo "not hdf5" > not.h5
"$PY" "$TOOL" not.h5 -o x.txt > err.txt 2>&1; rc=$?
[ $rc -ne 0 ] && [ ! -e x.txt ] && ok || bad "non-HDF5 input: rc=$rc"

cli_finish
