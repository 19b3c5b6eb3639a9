#!/usr/bin/env bash
# Warm-start benchmark of diffusion relaxation (paper 004, SEEDS_NOTES §5(a)5):
# oracle-optimiser steps and final energy when relaxing from the original
# geometries vs from diffusion-relaxed ones.
#
# usage: bench/bench_warmstart.sh ELIGN MODEL.h5 DATASET.h5 ZOO OUTDIR [N] [S_LIST] [SIGMA]
#   ELIGN    the elign binary            MODEL  the diffusion model (elign relax --model)
#   DATASET  a dataset file with a test split (elign data import ... --split split.json)
#   ZOO      the ANI model zoo (the oracle: ANI-2x, L-BFGS, fmax 0.03 eV/Å, <= 500 steps)
#   N        molecules of the test split (default 64)
#   S_LIST   diffusion start steps (default "20 30 50", as paper 004)
#   SIGMA    Å, Gaussian perturbation of the "perturbed" set (default 0.1)
# Start sets: mmff (the dataset's own MMFF94 geometries), perturbed (mmff + N(0, SIGMA²)
# per coordinate, seeded), samples (N molecules sampled from MODEL, seed 1).
# Prints one table per set; everything is kept in OUTDIR (samples files, eval JSON/CSV).
set -eu
ELIGN="$1"; MODEL="$2"; DATA="$3"; ZOO="$4"; OUT="$5"
N="${6:-64}"; SLIST="${7:-20 30 50}"; SIGMA="${8:-0.1}"
PY="${ELIGN_PYTHON:-/usr/bin/python3}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
log() { echo "[bench_warmstart] $*" >&2; }

# ---- start sets -------------------------------------------------------------------
"$ELIGN" --quiet relax "$DATA" --split test -n "$N" --model "$MODEL" --steps 0 --out "$OUT/mmff.h5" --force
"$PY" - "$OUT/mmff.h5" "$OUT/perturbed.xyz" "$SIGMA" <<'EOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
off, Z, X, ids = f["offsets"][:], f["atomic_numbers"][:], f["positions"][:], f["ids"][:]
sym = {1: "H", 6: "C", 7: "N", 8: "O", 9: "F", 16: "S", 17: "Cl"}
rng = np.random.default_rng(20261129)
with open(sys.argv[2], "w") as out:
    for m in range(len(off) - 1):
        x = X[off[m]:off[m + 1]] + rng.normal(0.0, float(sys.argv[3]), (off[m + 1] - off[m], 3))
        out.write("%d\nProperties=species:S:1:pos:R:3 id=%d\n" % (len(x), ids[m]))
        for z, p in zip(Z[off[m]:off[m + 1]], x):
            out.write("%s %.6f %.6f %.6f\n" % (sym[int(z)], p[0], p[1], p[2]))
EOF
"$ELIGN" --quiet relax "$OUT/perturbed.xyz" --model "$MODEL" --steps 0 --out "$OUT/perturbed.h5" --force
"$ELIGN" --quiet sample --model "$MODEL" -n "$N" --seed 1 --out "$OUT/samples.h5" --force

# ---- diffusion relaxation, then the oracle's relaxation of every start --------------
for set in mmff perturbed samples; do
  files=("$OUT/$set.h5")
  for s in $SLIST; do
    t0=$(date +%s.%N)
    "$ELIGN" --quiet relax "$OUT/$set.h5" --model "$MODEL" --steps "$s" --seed 7 --out "$OUT/${set}_s$s.h5" --force
    log "$set: diffusion relaxation from step $s of $N molecules: $(echo "$(date +%s.%N) - $t0" | bc) s wall"
    files+=("$OUT/${set}_s$s.h5")
  done
  t0=$(date +%s.%N)
  "$ELIGN" --quiet eval "${files[@]}" --oracle ani --model-dir "$ZOO" --relax --no-print --restart \
    --out "$OUT/$set.json" --table "$OUT/$set.csv" --force
  log "$set: ANI relaxation of $(( ${#files[@]} * N )) starts: $(echo "$(date +%s.%N) - $t0" | bc) s wall"
done

# ---- the tables ---------------------------------------------------------------------
"$PY" - "$OUT" "$N" $SLIST <<'EOF'
import csv, sys, math, statistics as st
out, n = sys.argv[1], int(sys.argv[2])
slist = sys.argv[3:]
EV_KCAL = 23.0605
def num(x):
    try: return float(x)
    except ValueError: return math.nan
for name in ("mmff", "perturbed", "samples"):
    rows = list(csv.DictReader(open("%s/%s.csv" % (out, name))))
    by = {}
    for r in rows:
        by.setdefault(r["path"].rsplit("/", 1)[-1], []).append(r)
    files = sorted(by, key=lambda f: (0 if f.endswith(name + ".h5") else int(f.rsplit("_s", 1)[1][:-3])))
    base = by[files[0]]
    print("\n%s (%d molecules; ANI-2x, L-BFGS, fmax 0.03 eV/Å, <= 500 steps)" % (name, len(base)))
    print("%-10s %10s %10s %12s %14s %14s %16s %10s" % ("start", "converged", "median", "median step", "start E - E*",
          "final E - E*", "|ΔE_final| > 0.1", "RMSD to"))
    print("%-10s %10s %10s %12s %14s %14s %16s %10s" % ("", "", "steps", "reduction", "median kcal/mol",
          "median kcal/mol", "kcal/mol", "start Å"))
    # E*: the lowest final energy any start of that molecule reached
    emin = [min(num(by[f][i]["ani.energy_final"]) for f in files) for i in range(len(base))]
    for f in files:
        r = by[f]
        label = "original" if f == files[0] else "s = " + f.rsplit("_s", 1)[1][:-3]
        conv = sum(x["ani.relax"] == "converged" for x in r)
        steps = [num(x["ani.steps"]) for x in r]
        red = [1 - num(x["ani.steps"]) / num(b["ani.steps"]) for x, b in zip(r, base) if num(b["ani.steps"]) > 0]
        e0 = [(num(x["ani.energy"]) - e) * EV_KCAL for x, e in zip(r, emin)]
        e1 = [(num(x["ani.energy_final"]) - e) * EV_KCAL for x, e in zip(r, emin)]
        dE = [abs(num(x["ani.energy_final"]) - num(b["ani.energy_final"])) * EV_KCAL > 0.1 for x, b in zip(r, base)]
        rmsd = [num(x["ani.rmsd"]) for x in r]
        fin = lambda v: [x for x in v if not math.isnan(x)]
        print("%-10s %6d/%-3d %10.1f %11.0f%% %14.2f %14.3f %16d %10.3f" % (label, conv, len(r), st.median(fin(steps)),
              100 * st.median(fin(red)) if f != files[0] else 0.0, st.median(fin(e0)), st.median(fin(e1)),
              sum(dE) if f != files[0] else 0, st.median(fin(rmsd))))
print("\nE*: per molecule, the lowest final ANI energy any start reached. Step reduction: per-molecule 1 - steps/steps(original),"
      "\nmedian (paper 004's 'speedup'). |ΔE_final| > 0.1: final energies differing from the original start's (basin change).")
EOF
