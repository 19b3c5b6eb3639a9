#!/bin/bash
# Submit the scaling sweep: one sweep.sbatch array per node count.
#   slurm/sweep.sh configs/demo.yaml "1 2 4 8" [--set KEY=VALUE]...
# ELIGN_SWEEP_* variables pass through to the jobs (slurm/sweep.sbatch).
set -eu
CONFIG="${1:-configs/demo.yaml}"
NODE_COUNTS="${2:-1 2 4}"
shift $(( $# < 2 ? $# : 2 ))
here="$(cd "$(dirname "$0")" && pwd)"
read -r -a PER_NODE <<< "${ELIGN_SWEEP_RANKS:-1 2 4}"
for n in $NODE_COUNTS; do
  sbatch --nodes="$n" --array=0-$(( ${#PER_NODE[@]} - 1 )) --job-name="elign-sweep-n$n" --export=ALL \
    "$here/sweep.sbatch" "$CONFIG" "$@"
done
