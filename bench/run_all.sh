#!/usr/bin/env bash
# Every performance figure of the README in one run, each against the
# program a user would otherwise run, on the same work and the same cores
# (issue 14). Each bench prints BENCH lines (one JSON object per figure);
# this script collects them into OUT/bench.jsonl, writes OUT/table.md (the
# README table, headed by the CPU it ran on) and OUT/machine.json.
#
#   bash bench/run_all.sh [BUILD_DIR] [OUT]          (defaults: build, bench-results)
#   bash bench/run_all.sh build out --update-readme  also rewrite the README table
#
# References, from local checkouts named by environment variables (never part
# of this repository; without them the PyTorch side is our own
# re-implementation, labelled so in the table):
#   EDM_SRC       github.com/ehoogeboom/e3_diffusion_for_molecules
#   TORCHANI_SRC  github.com/aiqm/torchani (tag 2.2.4)
# Run it on a quiet machine: every figure is a ratio or a fraction of the
# sgemm peak measured in the same run, but a busy core still blurs them.
# ELIGN_SHARED_DIR names the reference data (the ANI model zoo, the qm9like data).
# BENCH_QUICK=1 shortens every bench (a smoke run, not figures to publish).
set -u
SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-build}" && pwd)"
OUT="${2:-bench-results}"
UPDATE_README="${3:-}"
PY="${ELIGN_PYTHON:-/usr/bin/python3}"
ELIGN="$BUILD/elign"
SHARED="${ELIGN_SHARED_DIR:?set ELIGN_SHARED_DIR to the reference data folder (models/ani-model-zoo, data/qm9like)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LOG="$OUT/run_all.log"
: > "$OUT/bench.jsonl"
: > "$LOG"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun --oversubscribe --bind-to none"
QUICK="${BENCH_QUICK:-0}"

# run NAME COMMAND...: log the output, keep its BENCH lines, go on if it fails
run() {
  local name="$1"; shift
  echo "== $name: $*" | tee -a "$LOG"
  local t0=$SECONDS
  if "$@" > "$OUT/$name.out" 2>&1; then
    echo "   done in $((SECONDS - t0)) s" | tee -a "$LOG"
  else
    echo "   FAILED after $((SECONDS - t0)) s (see $OUT/$name.out)" | tee -a "$LOG"
  fi
  grep '^BENCH ' "$OUT/$name.out" | sed 's/^BENCH //' >> "$OUT/bench.jsonl"
}

# the OpenBLAS core and wait policy `elign` chooses (common/base/launch_env.h), for every
# process of the run, the PyTorch references included: like for like
OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$("$ELIGN" --version | sed -n 's/.*OpenBLAS core \([^,]*\),.*/\1/p')}"
export OPENBLAS_CORETYPE OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
"$PY" "$SRC/bench/perf_table.py" machine > "$OUT/machine.json"
cat "$OUT/machine.json" | tee -a "$LOG"

# a dataset for the pretraining bench
DATA="$OUT/qm9like.h5"
[ -f "$DATA" ] || "$ELIGN" --quiet data import "$SHARED/data/qm9like/qm9like_mmff.xyz.gz" -o "$DATA" \
  --split "$SHARED/data/qm9like/split.json" >> "$LOG" 2>&1

# ANI calls take milliseconds: ten repetitions make its best-of figure steadier on a shared host
if [ "$QUICK" = 1 ]; then REPS=2 ANI_REPS=2 STEPS=4 GSIZES=20,50 ORACLE_MOLS=200; else REPS=4 ANI_REPS=10 STEPS=20 GSIZES=20,50,100,200 ORACLE_MOLS=1000; fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

run egnn "$BUILD/bench/bench_egnn" --mols 32 --cases qm9:1,qm9:2,geom:1 --reps "$REPS" --torch "$SRC/bench/egnn_torch.py"
run sample_vs_torch "$PY" "$SRC/bench/bench_sample.py" "$BUILD/bench/bench_sample" --threads 1 2
run ani "$BUILD/bench/bench_ani" "$SHARED/models/ani-model-zoo" --threads 1 --reps "$ANI_REPS"
run oracle_cli bash "$SRC/bench/oracle_cli.sh" "$ELIGN" "$SHARED/models/ani-model-zoo" \
  "$SHARED/data/qm9like/qm9like_mmff.xyz.gz" "$OUT/oracle_cli" "$ORACLE_MOLS" 3
run train_step "$BUILD/bench/bench_train_step" --reps "$REPS" --torch "$SRC/bench/egnn_torch.py"
run pretrain "$PY" "$SRC/bench/bench_pretrain.py" "$ELIGN" "$DATA" --arch qm9like --steps "$STEPS" \
  --threads 1,2 --ranks 2 --workdir "$OUT/pretrain"
run guidance "$BUILD/bench/bench_guidance" --model edm-qm9 --oracle ani --model-dir "$SHARED/models/ani-model-zoo" \
  --sizes "$GSIZES" --steps 50 --batch 4
run sample_ranks bash "$SRC/bench/sample_ranks.sh" "$ELIGN" "$SRC/models/qm9like-base.h5" "$OUT/sample_ranks"
SCALING_STRONG="1:0 2:0" SCALING_WEAK="" SCALING_ITERS="${BENCH_TRAIN_ITERS:-3}" \
  run train_ranks bash "$SRC/bench/scaling.sh" "$ELIGN" "$OUT/train_ranks" "$SRC/configs/demo.yaml"
"$PY" "$SRC/bench/perf_table.py" train-ranks "$OUT/train_ranks/points.tsv" | tee -a "$OUT/train_ranks.out" |
  grep '^BENCH ' | sed 's/^BENCH //' >> "$OUT/bench.jsonl"
run omp_wait bash "$SRC/bench/omp_wait.sh" "$ELIGN" "$SRC/models/qm9like-base.h5" "$OUT/omp_wait"

"$PY" "$SRC/bench/perf_table.py" table "$OUT/machine.json" "$OUT/bench.jsonl" "$OUT/egnn.out" > "$OUT/table.md"
cat "$OUT/table.md"
if [ "$UPDATE_README" = "--update-readme" ]; then
  "$PY" "$SRC/bench/perf_table.py" readme "$SRC/README.md" "$OUT/table.md" && echo "README.md table rewritten"
fi
