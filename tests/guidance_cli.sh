#!/usr/bin/env bash
# `elign sample --guidance` and `elign relax` end to end with the repository's
# demo model (short chains): scale 0 = the unguided file; the guided file is
# the same in-process, with one oracle rank, and with two actors sharing it;
# guidance with the lj backend lowers the lj energy; relax: ranks change
# nothing, --steps 0 is the input centred, types kept, bad input named.
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
MODEL="$SRC/models/demo.h5"
cli_tempdir guidance_cli
# same_samples A B...: the sample files are equal (h5_compare.py --values; its report on stderr if not)
same_samples() { "$PY" "$SRC/tests/h5_compare.py" --values "$@" > "$dir/cmp.txt" 2>&1 || { cat "$dir/cmp.txt" >&2; return 1; }; }

S=(sample --model "$MODEL" -n 6 --T 20 --batch 4 --seed 5)
G=(--guidance lj --guidance-scale 0.01 --guidance-clip 5 --oracle-batch 3)

"$ELIGN" sample --help | grep -q -- "--guidance-scale" && ok || bad "sample --help lists the guidance options"
"$ELIGN" "${S[@]}" --out "$dir/u.h5" 2> "$dir/log" && ok || { bad "unguided run"; cat "$dir/log" >&2; }
"$ELIGN" "${S[@]}" --guidance lj --guidance-scale 0 --out "$dir/g0.h5" 2> "$dir/log" && ok || bad "scale 0 run"
same_samples "$dir/u.h5" "$dir/g0.h5" && ok || bad "scale 0 differs from the unguided samples"
grep -q "0 oracle molecule evaluations" "$dir/log" && ok || bad "scale 0 called the oracle"

"$ELIGN" "${S[@]}" "${G[@]}" --out "$dir/g.h5" 2> "$dir/log" && ok || { bad "guided run"; cat "$dir/log" >&2; }
! same_samples "$dir/u.h5" "$dir/g.h5" 2> /dev/null && ok || bad "guidance changed nothing"
"${MPIRUN[@]}" -np 2 "$ELIGN" "${S[@]}" "${G[@]}" --oracle-ranks 1 --out "$dir/g_np2.h5" 2> "$dir/log" && ok \
  || { bad "np 2 with an oracle rank"; cat "$dir/log" >&2; }
grep -q "oracle server: requests" "$dir/log" && ok || bad "np 2: no oracle server ran"
"${MPIRUN[@]}" -np 3 "$ELIGN" "${S[@]}" "${G[@]}" --oracle-ranks 1 --out "$dir/g_np3.h5" 2> "$dir/log" && ok \
  || { bad "np 3 (2 actors, 1 oracle rank)"; cat "$dir/log" >&2; }
"${MPIRUN[@]}" -np 2 "$ELIGN" "${S[@]}" "${G[@]}" --out "$dir/g_np2e.h5" 2> "$dir/log" && ok \
  || { bad "np 2, oracles in-process"; cat "$dir/log" >&2; }
same_samples "$dir/g.h5" "$dir/g_np2.h5" "$dir/g_np3.h5" "$dir/g_np2e.h5" && ok || bad "oracle ranks changed the guided samples"

# the lj energy of the guided samples is lower (16 molecules, 50 steps)
L=(sample --model "$MODEL" -n 16 --T 50 --batch 8 --seed 3)
"$ELIGN" "${L[@]}" --out "$dir/lu.h5" 2> /dev/null && "$ELIGN" "${L[@]}" "${G[@]}" --out "$dir/lg.h5" 2> /dev/null \
  && "$ELIGN" oracle --backend lj --in "$dir/lu.h5" --no-table --out "$dir/eu.h5" 2> /dev/null \
  && "$ELIGN" oracle --backend lj --in "$dir/lg.h5" --no-table --out "$dir/eg.h5" 2> /dev/null && ok \
  || bad "lj energy runs"
"$PY" - "$dir/eu.h5" "$dir/eg.h5" <<'EOF' && ok || bad "guided lj energy not lower"
import sys, h5py
e = [h5py.File(p, "r")["energy"][:] for p in sys.argv[1:]]
print("lj mean energy unguided %.4f eV, guided %.4f eV" % (e[0].mean(), e[1].mean()))
sys.exit(0 if e[1].mean() < e[0].mean() else 1)
EOF

# bad guidance options
"$ELIGN" "${S[@]}" --guidance-scale 0.1 --out "$dir/x.h5" 2> "$dir/err"; rc=$?
[ $rc -eq 2 ] && grep -q "need --guidance BACKEND" "$dir/err" && ok || bad "--guidance-scale alone: exit $rc"
"$ELIGN" "${S[@]}" --guidance nosuch --out "$dir/x.h5" 2> "$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "unknown oracle backend 'nosuch'" "$dir/err" && ok || bad "unknown backend: exit $rc"
"$ELIGN" "${S[@]}" --guidance lj --guidance-scale -1 --out "$dir/x.h5" 2> "$dir/err"; rc=$?
[ $rc -eq 2 ] && ok || bad "negative scale: exit $rc"
[ ! -e "$dir/x.h5" ] && ok || bad "a failed run wrote its output"

# ---- relax ----------------------------------------------------------------------
R=(relax "$SHARED/data/qm9like/tiny.xyz" --model "$MODEL" -n 10 --batch 4 --seed 2)
"$ELIGN" relax --help | grep -q "usage: elign relax" && ok || bad "relax --help"
"$ELIGN" "${R[@]}" --steps 15 --T 200 --out "$dir/r.h5" 2> "$dir/log" && ok || { bad "relax run"; cat "$dir/log" >&2; }
grep -q "relaxed 10 molecules from step 15" "$dir/log" && ok || bad "relax log line"
"${MPIRUN[@]}" -np 2 "$ELIGN" "${R[@]}" --steps 15 --T 200 --out "$dir/r2.h5" 2> "$dir/log" && ok || bad "relax np 2"
same_samples "$dir/r.h5" "$dir/r2.h5" && ok || bad "relax: 2 ranks differ from 1"
"$ELIGN" "${R[@]}" --steps 0 --out "$dir/r0.h5" --xyz "$dir/r0.xyz" 2> /dev/null && ok || bad "relax --steps 0"
"$PY" - "$SHARED/data/qm9like/tiny.xyz" "$dir/r0.h5" "$dir/r.h5" <<'EOF' && ok || bad "relax: identity / types / ids"
import sys, h5py, numpy as np
import re
mols, ids, lines, i = [], [], open(sys.argv[1]).read().splitlines(), 0
while len(mols) < 10:
    n = int(lines[i]); mols.append(np.array([[float(v) for v in l.split()[1:4]] for l in lines[i + 2:i + 2 + n]]))
    ids.append(int(re.search(r"\bid=(\d+)", lines[i + 1]).group(1)))
    i += 2 + n
for path, identity in ((sys.argv[2], True), (sys.argv[3], False)):
    f = h5py.File(path, "r")
    off, X, Z = f["offsets"][:], f["positions"][:], f["atomic_numbers"][:]
    assert len(off) == 11, off
    assert list(f["ids"][:]) == ids, (f["ids"][:], ids)  # the input's ids
    for m, x in enumerate(mols):
        y = X[off[m]:off[m + 1]]
        d = np.abs(y - (x - x.mean(0))).max()
        assert (d < 1e-9) if identity else (1e-3 < d < 1.0), (path, m, d)
    assert (Z == h5py.File(sys.argv[2], "r")["atomic_numbers"][:]).all()
EOF
[ -s "$dir/r0.xyz" ] && ok || bad "relax --xyz"
"$ELIGN" "${R[@]}" --steps 15 --T 200 --out "$dir/r.h5" 2> "$dir/err"; rc=$?
[ $rc -ne 0 ] && grep -q -- "--force" "$dir/err" && ok || bad "relax over an existing output: exit $rc"
printf '2\nsulfur is not a QM9 type\nS 0 0 0\nH 0 0 1.34\n' > "$dir/s.xyz"
"$ELIGN" relax "$dir/s.xyz" --model "$MODEL" --steps 5 --out "$dir/s.h5" 2> "$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "element Z = 16 is not one of the model's atom types" "$dir/err" && ok \
  || { bad "relax: unknown element: exit $rc"; cat "$dir/err" >&2; }
"$ELIGN" "${R[@]}" --steps 2000 --out "$dir/s.h5" 2> "$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "exceeds the chain length" "$dir/err" && ok || bad "relax: --steps > T: exit $rc"

cli_finish
