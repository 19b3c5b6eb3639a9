#!/usr/bin/env bash
# `elign data import FILE.msgpack` (GEOM-Drugs) end to end. tests/geom_check.py
# writes a small file in the drugs_crude.msgpack schema with msgpack-python
# (more than 30 conformers, ties and NaN energies, an element outside EDM's 16
# types, 185 and 181 atoms, no conformers, a bin key, fixmap/map16/map32
# headers), then re-reads it with EDM's rules and compares the dataset (h5py).
# usage: geom_cli.sh ELIGN PYTHON
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
PY="$2"
CHECK="$SRC/tests/geom_check.py"
W=geom_cli.work; rm -rf "$W"; mkdir -p "$W"; cd "$W"
# one_error CMD...: exit 1 with exactly one line on stderr (left in err.txt)
one_error() {
  "$@" > out.txt 2> err.txt; local rc=$?
  [ $rc -eq 1 ] && [ "$(wc -l < err.txt)" -eq 1 ] && ! grep -q "HDF5-DIAG\|Segmentation\|internal error" err.txt
}
nothing_left() { [ ! -e "$1" ] && ! ls "$1".tmp.* > /dev/null 2>&1; }

"$PY" -c "import msgpack, h5py" || { echo "FAIL: python3-msgpack and python3-h5py are needed (setup.sh installs them)"; exit 1; }
"$PY" "$CHECK" make g.msgpack g.json && ok || bad "make g.msgpack"

# --- defaults: EDM's 30 conformers, <= 181 atoms, 16 types kept, 80/10/10 by conformer --------
"$ELIGN" data import g.msgpack -o g.h5 > import.txt 2> import.err && ok || bad "import: $(cat import.err)"
"$PY" "$CHECK" check g.msgpack g.h5 --report import.txt && ok || bad "contents and report (defaults)"
# the cases the file was made for: 2 conformers above 181 atoms, 2 with selenium (kept)
grep -q "^conformers dropped for more than 181 atoms: 2$" import.txt \
  && grep -q "^conformers with elements outside the 16 GEOM types: 2 (kept, as EDM keeps them)$" import.txt \
  && ok || bad "report: the planted cases"
"$ELIGN" info g.h5 > info.txt && grep -q "property totalenergy \[hartree\]" info.txt && grep -q "^split valid: " info.txt \
  && ok || bad "info g.h5"
n=$(grep -o "^molecules: [0-9]*" import.txt | cut -d' ' -f2)
grep -q "^molecules: $n$" info.txt && ok || bad "info and import disagree on the count"

# --- options ------------------------------------------------------------------------------------------
"$ELIGN" data import g.msgpack -o g5.h5 --conformers 5 --max-atoms 0 --drop-unknown-elements \
  --split-by molecule --split-seed 7 --valid-fraction 0.2 --test-fraction 0.15 > import5.txt && ok || bad "import with options"
"$PY" "$CHECK" check g.msgpack g5.h5 --conformers 5 --max-atoms 0 --drop-unknown --split-by molecule \
  --valid 0.2 --test 0.15 --report import5.txt && ok || bad "contents (options)"

# --- the split: reproducible, and the seed matters ------------------------------------------------------
"$ELIGN" data import g.msgpack -o g_again.h5 > /dev/null && "$PY" "$CHECK" same g.h5 g_again.h5 > /dev/null \
  && ok || bad "same input, same file"
"$ELIGN" data import g.msgpack -o g_seed.h5 --split-seed 3 > /dev/null \
  && "$PY" "$CHECK" same g.h5 g_seed.h5 --ignore-splits > /dev/null \
  && ! "$PY" "$CHECK" same g.h5 g_seed.h5 > /dev/null 2>&1 && ok || bad "another seed changes only the split"

# --- bad input: one message naming the file and where, nothing written ---------------------------------
read -r k_off v_off v_end smiles <<< "$("$PY" -c "
import json; m = json.load(open('g.json'))['molecules'][7]
print(m['key'], m['value'], m['end'], m['smiles'])")"
head -c $((v_off + (v_end - v_off) / 2)) g.msgpack > cut.msgpack
one_error "$ELIGN" data import cut.msgpack -o cut.h5 \
  && grep -q "cut.msgpack: truncated: the file ends (at byte offset [0-9]*) inside molecule 7 '$smiles', which starts at byte offset $v_off" err.txt \
  && nothing_left cut.h5 && ok || bad "truncated file: $(cat err.txt)"
cp g.msgpack corrupt.msgpack
printf '\xc1' | dd of=corrupt.msgpack bs=1 seek="$v_off" conv=notrunc status=none
one_error "$ELIGN" data import corrupt.msgpack -o corrupt.h5 \
  && grep -q "corrupt.msgpack: corrupt msgpack in molecule 7 '$smiles' (which starts at byte offset $v_off): invalid type byte 0xc1 at byte offset $v_off" err.txt \
  && nothing_left corrupt.h5 && ok || bad "corrupt byte: $(cat err.txt)"
cp g.h5 keep.h5
one_error "$ELIGN" data import corrupt.msgpack -o keep.h5 --force && cmp -s keep.h5 g.h5 && ok || bad "a failed import replaced keep.h5"
"$PY" - <<'PYEOF'
import msgpack
def write(name, mol):
    with open(name, "wb") as f:
        f.write(msgpack.packb({"CC": mol}))
xyz = [[6.0, 0.0, 0.0, 0.0], [6.0, 1.5, 0.0, 0.0]]
write("noenergy.msgpack", {"conformers": [{"xyz": xyz, "totalenergy": -1.0}, {"xyz": xyz}]})
write("badrow.msgpack", {"conformers": [{"xyz": [[6.0, 0.0, 0.0]], "totalenergy": -1.0}]})
write("badz.msgpack", {"conformers": [{"xyz": [[6.5, 0.0, 0.0, 0.0]], "totalenergy": -1.0}]})
write("noconfs.msgpack", {"charge": 0})
with open("notmap.msgpack", "wb") as f:
    f.write(msgpack.packb([1, 2, 3]))
PYEOF
one_error "$ELIGN" data import noenergy.msgpack -o x.h5 \
  && grep -q "noenergy.msgpack: molecule 0 'CC' (byte offset 4): conformer 1 has no numeric 'totalenergy'" err.txt \
  && nothing_left x.h5 && ok || bad "missing totalenergy: $(cat err.txt)"
one_error "$ELIGN" data import badrow.msgpack -o x.h5 \
  && grep -q "badrow.msgpack: molecule 0 'CC' (byte offset 4): conformer 0 atom 0: expected \[Z, x, y, z\]" err.txt \
  && ok || bad "bad xyz row: $(cat err.txt)"
one_error "$ELIGN" data import badz.msgpack -o x.h5 && grep -q "atomic number 6.5 is not an integer" err.txt \
  && ok || bad "bad Z: $(cat err.txt)"
one_error "$ELIGN" data import noconfs.msgpack -o x.h5 && grep -q "molecule 0 'CC' (byte offset 4): no 'conformers' array" err.txt \
  && ok || bad "no conformers key: $(cat err.txt)"
one_error "$ELIGN" data import notmap.msgpack -o x.h5 \
  && grep -q "notmap.msgpack: byte offset 0: top-level object 0 is not a map of SMILES -> molecule" err.txt \
  && ok || bad "not a map: $(cat err.txt)"
: > empty.msgpack
one_error "$ELIGN" data import empty.msgpack -o x.h5 && grep -q "empty.msgpack: no conformer to keep (0 molecules read)" err.txt \
  && nothing_left x.h5 && ok || bad "empty file: $(cat err.txt)"
one_error "$ELIGN" data import missing.msgpack -o x.h5 && grep -q "missing.msgpack: cannot open" err.txt \
  && ok || bad "missing file: $(cat err.txt)"

# --- usage errors ---------------------------------------------------------------------------------------
"$ELIGN" data import g.msgpack g.msgpack -o x.h5 > /dev/null 2> err.txt; [ $? -eq 2 ] \
  && grep -q "must be the only input" err.txt && ok || bad "two msgpack inputs"
"$ELIGN" data import g.msgpack -o x.h5 --split s.json > /dev/null 2> err.txt; [ $? -eq 2 ] \
  && grep -q "do not apply to GEOM input" err.txt && ok || bad "--split with msgpack"
"$ELIGN" data import "$SHARED/data/qm9like/tiny.xyz" -o x.h5 --conformers 3 > /dev/null 2> err.txt; [ $? -eq 2 ] \
  && grep -q "need a .msgpack input" err.txt && ok || bad "GEOM option without msgpack"
"$ELIGN" data import g.msgpack -o x.h5 --valid-fraction 1.5 > /dev/null 2> err.txt; [ $? -eq 2 ] \
  && grep -q "bad or missing value for --valid-fraction: 1.5" err.txt && ok || bad "bad fraction"
"$ELIGN" data import g.msgpack -o x.h5 --valid-fraction 0.6 --test-fraction 0.6 > /dev/null 2> err.txt; [ $? -eq 1 ] \
  && grep -q "sum <= 1" err.txt && nothing_left x.h5 && ok || bad "fractions over 1: $(cat err.txt)"

cli_finish
