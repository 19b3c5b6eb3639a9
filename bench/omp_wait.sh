#!/usr/bin/env bash
# The OpenMP wait policy under oversubscription (issue 14 item 4,
# common/base/launch_env.h): `elign sample` with 2 threads while one busy
# process holds a core, with OMP_WAIT_POLICY=active (libgomp's spinning) and
# with Elign-C's default (passive). Prints a BENCH line: active / passive.
#   bash bench/omp_wait.sh ELIGN MODEL.h5 OUT [N=4] [STEPS=50]
set -u
ELIGN="$1" MODEL="$2" OUT="$3" N="${4:-4}" STEPS="${5:-50}"
mkdir -p "$OUT"
busy() { while :; do :; done; }
busy &
BUSY=$!
trap 'kill $BUSY 2> /dev/null' EXIT
declare -A wall
for pol in active passive; do
  t0=$(date +%s.%N)
  OMP_WAIT_POLICY=$pol OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 \
    "$ELIGN" --quiet sample --model "$MODEL" -n "$N" --steps "$STEPS" --seed 3 --out "$OUT/$pol.h5" --force || exit 1
  wall[$pol]=$(printf '%.4f' "$(echo "$(date +%s.%N) - $t0" | bc)") # printf: bc writes .85 for 0.85, not JSON
  echo "OMP_WAIT_POLICY=$pol, 2 threads beside a busy process: ${wall[$pol]} s"
done
ratio=$(printf '%.3f' "$(echo "scale=4; ${wall[active]} / ${wall[passive]}" | bc)")
printf 'BENCH {"figure": "omp_wait_passive_gain", "what": "elign sample, 2 threads beside a busy process: active / passive wait", "ours": %s, "unit": "s", "reference": %s, "reference_program": "OMP_WAIT_POLICY=active (libgomp spinning)", "ratio": %s, "peak_fraction": null, "peak_gflops": null, "threads": 2, "batch": null, "target": null, "pass": null}\n' \
  "${wall[passive]}" "${wall[active]}" "$ratio"
