#!/usr/bin/env bash
# Quality versus sampling steps (issue 11 item 5): sample with `elign sample --steps K`
# for K in 50 100 250 500 1000 from a base and (optionally) a post-trained model, score
# every file with `elign eval` (stability, RDKit validity, energy and RMS force under an
# oracle) and write the table into docs/results.md (between the steps-table markers) and
# a JSON table for `elign report --steps`.
#
#   tools/steps_table.sh [--base M.h5] [--post M.h5] [-n N] [--seed S] [--oracle NAME]
#                        [--steps "50 100 250 500 1000"] [--dir DIR] [--doc FILE]
#                        [--note TEXT] [--elign PATH] [--np P] [--no-doc]
#
# Defaults: --base models/demo.h5, no post model, -n 64, --seed 1, --oracle gfn2-xtb,
# --dir steps_run, --doc docs/results.md, --elign build/elign, --np 1 (mpirun ranks for
# sample and eval when > 1). Re-runnable: a samples file that exists is reused and `elign
# eval` resumes from its journals, so an interrupted run continues where it stopped; a
# new model means a new --dir (or removing the old one). Every sample of one K uses the
# same seed for both models (the same prior noise), so base and post differ only by
# their weights.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=models/demo.h5
POST=""
N=64
SEED=1
ORACLE=gfn2-xtb
STEPS="50 100 250 500 1000"
DIR=steps_run
DOC=docs/results.md
NOTE=""
ELIGN=build/elign
NP=1
WRITE_DOC=1
while [ $# -gt 0 ]; do
  case "$1" in
    --base) BASE="$2"; shift 2 ;;
    --post) POST="$2"; shift 2 ;;
    -n) N="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --oracle) ORACLE="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --doc) DOC="$2"; shift 2 ;;
    --note) NOTE="$2"; shift 2 ;;
    --elign) ELIGN="$2"; shift 2 ;;
    --np) NP="$2"; shift 2 ;;
    --no-doc) WRITE_DOC=0; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "steps_table.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$ELIGN" ] || { echo "steps_table.sh: $ELIGN not found: build first (./setup.sh)" >&2; exit 2; }
for m in "$BASE" $POST; do [ -s "$m" ] || { echo "steps_table.sh: model $m not found" >&2; exit 2; }; done
RUN=()
if [ "$NP" -gt 1 ]; then
  RUN=(mpirun --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1 -np "$NP")
fi
mkdir -p "$DIR"
MODELS=("base:$BASE")
[ -n "$POST" ] && MODELS+=("post:$POST")
for entry in "${MODELS[@]}"; do
  tag="${entry%%:*}"
  model="${entry#*:}"
  for K in $STEPS; do
    s="$DIR/${tag}_K${K}.h5"
    if [ ! -s "$s" ]; then
      echo "steps_table: sampling $tag K=$K ($N molecules, seed $SEED)" >&2
      start=$SECONDS
      "${RUN[@]}" "$ELIGN" sample --model "$model" -n "$N" --seed "$SEED" --steps "$K" --out "$s.part.h5" --force
      mv "$s.part.h5" "$s"
      echo $((SECONDS - start)) > "$s.seconds"   # wall seconds of the sampling (a shared machine: indicative)
    fi
    "${RUN[@]}" "$ELIGN" eval "$s" --oracle "$ORACLE" --out "$DIR/${tag}_K${K}.json" --run-dir "$DIR/eval.d" \
      --no-print --force
  done
done
/usr/bin/python3 tools/steps_table.py --dir "$DIR" --steps "$STEPS" --oracle "$ORACLE" --n "$N" --seed "$SEED" \
  --base "$BASE" ${POST:+--post "$POST"} --note "$NOTE" $( [ $WRITE_DOC -eq 1 ] && echo --doc "$DOC" )
