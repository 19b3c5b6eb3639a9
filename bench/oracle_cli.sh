#!/usr/bin/env bash
# `elign oracle` end to end against the script a user would write instead
# (issue 14's table): ANI-2x energies and forces of N molecules of mixed
# composition read from an xyz file and written out, batches of 32, one
# thread each, each side timed as the whole command a user types (start-up,
# model load, read, compute, write). Ours: `elign oracle --backend ani --in
# MOLS.xyz --out R.h5`. Theirs: bench/ani_torch.py stream with TorchANI
# itself ($TORCHANI_SRC; skipped without it); its own timer from reading to
# writing (Python, torch import and model load excluded) is printed too. Best of REPS alternating runs each; the energies
# of the two must agree (printed). Prints a BENCH line.
#   bash bench/oracle_cli.sh ELIGN ZOO MOLS.xyz[.gz] OUT [N=1000] [REPS=3]
set -u
ELIGN="$1" ZOO="$2" SRC_XYZ="$3" OUT="$4" N="${5:-1000}" REPS="${6:-3}"
PY="${ELIGN_PYTHON:-/usr/bin/python3}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# the first N molecules as a plain multi-frame xyz (both sides read this file)
"$PY" - "$SRC_XYZ" "$OUT/mols.xyz" "$N" <<'PYEOF' || exit 1
import gzip, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
f = gzip.open(src, "rt") if src.endswith(".gz") else open(src)
with open(dst, "w") as out:
    for _ in range(n):
        head = f.readline()
        if not head.strip():
            sys.exit("%s: fewer than %d molecules" % (src, n))
        k = int(head)
        f.readline()
        out.write("%d\nmolecule\n" % k)
        for _ in range(k):
            out.write(" ".join(f.readline().split()[:4]) + "\n")
PYEOF
if [ -z "${TORCHANI_SRC:-}" ]; then
  echo "oracle_cli: no TORCHANI_SRC (a TorchANI 2.2.4 source tree): the script side needs TorchANI's padded batches; skipped"
  exit 0
fi
torch_args=(--torchani "$TORCHANI_SRC")
label="a TorchANI 2.2.4 script (source, \$TORCHANI_SRC)"
best_ours=999999 best_theirs=999999
for rep in $(seq "$REPS"); do
  t0=$(date +%s.%N)
  "$ELIGN" --quiet oracle --backend ani --model-dir "$ZOO" --in "$OUT/mols.xyz" --out "$OUT/ours.h5" --force \
    --no-table --batch 32 || exit 1
  t=$(echo "$(date +%s.%N) - $t0" | bc)
  t0=$(date +%s.%N)
  inner=$("$PY" "$HERE/ani_torch.py" stream --zoo "$ZOO" --xyz "$OUT/mols.xyz" --out "$OUT/theirs.npy" \
    --batch 32 --threads 1 "${torch_args[@]}" 2> /dev/null | sed -n 's/^TORCH_STREAM_S //p')
  theirs=$(echo "$(date +%s.%N) - $t0" | bc)
  [ -n "$inner" ] || exit 1
  echo "run $rep: elign oracle $t s; script $theirs s ($inner s from reading to writing)"
  [ "$(echo "$t < $best_ours" | bc)" = 1 ] && best_ours=$t
  [ "$(echo "$theirs < $best_theirs" | bc)" = 1 ] && best_theirs=$theirs
done
"$PY" - "$OUT/ours.h5" "$OUT/theirs.npy" "$best_ours" "$best_theirs" "$N" "$label" <<'PYEOF'
import json, sys
import h5py, numpy as np
ours = h5py.File(sys.argv[1], "r")
e_ours, e_theirs = ours["energy"][()], np.load(sys.argv[2])
f_ours, f_theirs = ours["forces"][()].reshape(-1), np.load(sys.argv[2].replace(".npy", ".forces.npy")).reshape(-1)
w_ours, w_theirs, n, label = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
print("energies: max |dE| %.2e eV over %d molecules; forces: max |dF| %.2e eV/A"
      % (np.max(np.abs(e_ours - e_theirs)), n, np.max(np.abs(f_ours - f_theirs))))
print("elign oracle %.2f s, %s %.2f s: %.2fx" % (w_ours, label, w_theirs, w_theirs / w_ours))
print("BENCH " + json.dumps({"figure": "oracle_cli_ani_%d" % n,
      "what": "elign oracle --backend ani, %d QM9-like molecules end to end (read, E+F, write), batches of 32" % n,
      "ours": w_ours, "unit": "s", "reference": w_theirs, "reference_program": label, "ratio": w_theirs / w_ours,
      "peak_fraction": None, "peak_gflops": None, "threads": 1, "batch": 32, "target": None, "pass": None}))
PYEOF
