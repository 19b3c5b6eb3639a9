#!/usr/bin/env bash
# Strong and weak scaling points of `elign train` with mpirun on this machine
# (docs/scaling.md). Every point is a traced run (run.trace: true) summarised
# by `elign trace summary --json`; the strong points must end bitwise equal
# (any rank count gives the same checkpoint), which is checked.
#   bash bench/scaling.sh ELIGN OUT CONFIG [--set KEY=VALUE]...
# Environment:
#   SCALING_STRONG   actors:oracle_ranks of the strong points (unset: "1:0 2:0 2:1 4:0 4:2 12:4"; "" = none)
#   SCALING_WEAK     actors:oracle_ranks of the weak points   (unset: "1:0 2:0 4:0"; "" = none)
#   SCALING_GROUPS_PER_ACTOR  weak scaling: dataloader.sample_group_size = this x actors (default 1)
#   SCALING_ITERS    iterations per point (default 2)
# Output: OUT/<kind>_a<actors>_o<oracles>/ (run dir with trace/), OUT/<...>.json (summary),
#         OUT/points.tsv (kind, actors, oracles, ranks, wall s, mean iteration s)
set -u
ELIGN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
OUT="$2"
CONFIG="$3"
shift 3
PY="${ELIGN_PYTHON:-/usr/bin/python3}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
MPIRUN="${ELIGN_MPIRUN:-mpirun} --oversubscribe --bind-to none --allow-run-as-root -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$OUT"
ITERS="${SCALING_ITERS:-2}"
printf 'kind\tactors\toracles\tranks\twall_s\titeration_s\n' > "$OUT/points.tsv"

# point KIND ACTORS ORACLES [extra elign args]
point() {
  local kind="$1" a="$2" o="$3"; shift 3
  local run="$OUT/${kind}_a${a}_o${o}" np=$(( a + o ))
  local t0 t1
  t0=$(date +%s.%N)
  $MPIRUN -np "$np" "$ELIGN" --quiet train "$CONFIG" --force --set run.dir="$run" --set run.trace=true \
    --set mpi.oracle_ranks="$o" --set dataloader.epoches="$ITERS" --set save_interval=1000000 "$@" > "$run.log" 2>&1 ||
    { echo "scaling: $kind a=$a o=$o failed: $(tail -3 "$run.log")" >&2; return 1; }
  t1=$(date +%s.%N)
  "$ELIGN" trace summary "$run" --json > "$run.json"
  local it
  it=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['iteration_s'])" "$run.json")
  printf '%s\t%d\t%d\t%d\t%.3f\t%.4f\n' "$kind" "$a" "$o" "$np" "$(echo "$t1 - $t0" | bc)" "$it" >> "$OUT/points.tsv"
  echo "scaling: $kind $a actor(s) + $o oracle rank(s): iteration $it s"
}

first=""
for p in ${SCALING_STRONG-1:0 2:0 2:1 4:0 4:2 12:4}; do
  point strong "${p%%:*}" "${p##*:}" "$@" || exit 1
  run="$OUT/strong_a${p%%:*}_o${p##*:}/checkpoint.h5"
  if [ -z "$first" ]; then first="$run"
  else "$PY" "$SRC/tests/h5_compare.py" "$first" "$run" > /dev/null || { echo "scaling: $run differs from $first" >&2; exit 1; }
  fi
done
echo "scaling: every strong point ends with the same checkpoint bits"
for p in ${SCALING_WEAK-1:0 2:0 4:0}; do
  a="${p%%:*}"
  point weak "$a" "${p##*:}" --set dataloader.sample_group_size=$(( ${SCALING_GROUPS_PER_ACTOR:-1} * a )) "$@" || exit 1
done
column -t "$OUT/points.tsv"
