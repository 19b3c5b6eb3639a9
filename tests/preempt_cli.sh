#!/usr/bin/env bash
# Preemption-safe runs (issue 12 item 3, slurm/README.md): what SLURM does to
# a job, reproduced with mpirun on the tiny model of tests/train_cli.sh.
#   - SIGTERM to every rank (what slurmd sends at preemption or a time limit;
#     2 actors + 1 oracle rank): each finishes its iteration, rank 0 writes a
#     checkpoint, the job exits 0 with iterations left; the SAME command line
#     (--resume-if-exists, as a requeued batch job runs it) continues and ends
#     bitwise equal to an uninterrupted run, with one metrics line per iteration;
#   - SIGUSR1 to mpirun (forwarded to the ranks; SLURM's --signal warning):
#     the same; with run.sigusr1=checkpoint it checkpoints and goes on;
#   - kill -9 (no warning) + the same command line: bitwise equal, the metrics
#     lines after the checkpoint and the torn last line dropped;
#   - a run directory moved elsewhere resumes (--resume NEW and
#     --set run.dir=NEW --resume-if-exists) bitwise equal;
#   - elign pretrain: SIGTERM to both ranks, exit 0, --resume-if-exists, bitwise.
#   bash tests/preempt_cli.sh path/to/elign path/to/train_make_model
# ok() always succeeds, so `A && ok || bad` is a safe if-then-else; run directories hold plain names
# shellcheck disable=SC2015,SC2012
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
MAKE_MODEL="$(cli_abspath "$2")"
cli_workdir preempt_cli

# lines_ok FILE KEY N: the metrics file holds exactly KEY = 0..N-1 (train) once each, all whole JSON lines
lines_ok() {
  "$PY" - "$@" <<'EOF'
import json, sys
path, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
vals = [json.loads(l)[key] for l in open(path)]
sys.exit(0 if vals == list(range(n)) else f"{path}: {key} = {vals}")
EOF
}
# wait_lines FILE N: until FILE has N lines (at most 60 s)
wait_lines() {
  for _ in $(seq 1 3000); do [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0; sleep 0.02; done
  return 1
}
# rank_pids MPIRUN_PID: the rank processes (children of mpirun)
rank_pids() { pgrep -P "$1" | tr '\n' ' '; }

"$MAKE_MODEL" tiny.h5 7 || bad "make model"
ITERS=6
. "$SRC/tests/tiny_train_config.sh"
tiny_train_config base.yaml tiny.h5 $ITERS 2 1
# the job's one command line: 2 actors + 1 oracle rank; a requeued job runs it again
JOB() { "${MPIRUN[@]}" -np 3 "$ELIGN" --quiet train base.yaml --resume-if-exists "$@"; }
# JOB_BG OUT ARGS...: the same in the background; $job is mpirun's pid (the ranks are its children)
JOB_BG() { local out="$1"; shift; "${MPIRUN[@]}" -np 3 "$ELIGN" --quiet train base.yaml --resume-if-exists "$@" > "$out" 2>&1 & job=$!; }

JOB --set run.dir=ref > ref.txt 2>&1 || bad "uninterrupted run: $(tail -3 ref.txt)"
lines_ok ref/metrics.jsonl iteration $ITERS && ok || bad "reference metrics"

# ---- SIGTERM to every rank, as slurmd does -------------------------------------------
JOB_BG term1.txt --set run.dir=term
wait_lines term/metrics.jsonl 1 || bad "SIGTERM run: no first iteration"
# shellcheck disable=SC2046
kill -TERM $(rank_pids $job) 2> /dev/null
wait $job; rc=$?
done_iters=$(wc -l < term/metrics.jsonl)
last=$(ls term/checkpoints | tail -1)
[ $rc -eq 0 ] && [ "$done_iters" -lt $ITERS ] && [ "$last" = "iter_$(printf %09d "$done_iters").h5" ] && ok ||
  bad "SIGTERM to the ranks: exit $rc after $done_iters iterations, newest checkpoint $last: $(grep -v INFO term1.txt | head -3)"
JOB --set run.dir=term > term2.txt 2>&1 || bad "requeued run after SIGTERM: $(tail -3 term2.txt)"
same "SIGTERM + the same command line" ref/checkpoint.h5 term/checkpoint.h5
lines_ok term/metrics.jsonl iteration $ITERS && ok || bad "SIGTERM: metrics lines"

# ---- SIGUSR1 to mpirun (it forwards it to every rank) -----------------------------------
JOB_BG usr1.txt --set run.dir=usr1
wait_lines usr1/metrics.jsonl 1 || bad "SIGUSR1 run: no first iteration"
kill -USR1 $job
wait $job; rc=$?
done_iters=$(wc -l < usr1/metrics.jsonl)
[ $rc -eq 0 ] && [ "$done_iters" -lt $ITERS ] && [ -f "usr1/checkpoints/iter_$(printf %09d "$done_iters").h5" ] && ok ||
  bad "SIGUSR1: exit $rc after $done_iters iterations: $(ls usr1/checkpoints)"
JOB --set run.dir=usr1 > /dev/null 2>&1 || bad "requeued run after SIGUSR1"
same "SIGUSR1 + the same command line" ref/checkpoint.h5 usr1/checkpoint.h5
# run.sigusr1=checkpoint: a checkpoint outside save_interval (an odd iteration), and the run goes on to the end
JOB_BG usr1c.txt --set run.dir=usr1c --set run.sigusr1=checkpoint --set train.keep_checkpoints=10
# once iteration 2's scheduled checkpoint is written, the signal falls into iteration 3: an odd checkpoint
for _ in $(seq 1 3000); do [ -f usr1c/checkpoints/iter_000000002.h5 ] && break; sleep 0.02; done
kill -USR1 $job
wait $job; rc=$?
odd=$(find usr1c/checkpoints -name 'iter_00000000[135].h5' | wc -l)
[ $rc -eq 0 ] && [ "$(wc -l < usr1c/metrics.jsonl)" -eq $ITERS ] && [ "$odd" -ge 1 ] && ok ||
  bad "run.sigusr1=checkpoint: exit $rc, $(wc -l < usr1c/metrics.jsonl) iterations, checkpoints $(ls usr1c/checkpoints | tr '\n' ' ')"
same "SIGUSR1 checkpoint-and-continue" ref/checkpoint.h5 usr1c/checkpoint.h5

# ---- kill -9: no warning; the metrics after the checkpoint and a torn line go ---------------
JOB_BG k9a.txt --set run.dir=k9
wait_lines k9/metrics.jsonl 3 || bad "kill -9 run: no third iteration"
# shellcheck disable=SC2046
kill -KILL $(rank_pids $job) $job 2> /dev/null
wait $job 2> /dev/null
printf '{"iteration": 99, "torn' >> k9/metrics.jsonl # a line cut by the kill
n_before=$(wc -l < k9/metrics.jsonl)
[ "$n_before" -lt $ITERS ] && ok || bad "kill -9 came too late ($n_before lines)"
JOB --set run.dir=k9 > k9.txt 2>&1 || bad "requeued run after kill -9: $(tail -3 k9.txt)"
same "kill -9 + the same command line" ref/checkpoint.h5 k9/checkpoint.h5
lines_ok k9/metrics.jsonl iteration $ITERS && ok || bad "kill -9: metrics lines (duplicates or the torn line kept)"

# ---- a moved run directory -------------------------------------------------------------
"$ELIGN" --quiet train base.yaml --set mpi.oracle_ranks=0 --set run.dir=mv --stop-after 2 > /dev/null 2>&1 ||
  bad "run to be moved"
mkdir -p elsewhere && mv mv elsewhere/moved && cp -r elsewhere/moved moved2
"$ELIGN" --quiet train base.yaml --set mpi.oracle_ranks=0 --resume elsewhere/moved > mv.txt 2>&1 || bad "--resume a moved run: $(tail -3 mv.txt)"
"$ELIGN" --quiet train base.yaml --set mpi.oracle_ranks=0 --set run.dir=moved2 --resume-if-exists > /dev/null 2>&1 ||
  bad "--resume-if-exists in a moved run"
"$ELIGN" --quiet train base.yaml --set mpi.oracle_ranks=0 --set run.dir=ref1 > /dev/null 2>&1 || bad "1-process reference"
same "moved run directories resume" ref/checkpoint.h5 ref1/checkpoint.h5 elsewhere/moved/checkpoint.h5 moved2/checkpoint.h5
lines_ok elsewhere/moved/metrics.jsonl iteration $ITERS && ok || bad "moved: metrics lines"

# ---- bad combinations ------------------------------------------------------------------
"$ELIGN" train base.yaml --resume-if-exists --force > /dev/null 2> err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "resume-if-exists excludes" err.txt && ok || bad "--resume-if-exists --force: exit $rc"

# ---- elign pretrain: SIGTERM to both ranks ----------------------------------------------
"$PY" -c "import json,re,sys; ids=[int(m) for m in re.findall(r' id=(\d+)', open(sys.argv[1]).read())]; json.dump({'train': ids}, open('split.json','w'))" \
  "$SHARED/data/qm9like/tiny.xyz" || bad "split"
"$ELIGN" --quiet data import "$SHARED/data/qm9like/tiny.xyz" -o tinyd.h5 --split split.json > /dev/null || bad "import tiny.xyz"
cat > pre.yaml <<'EOF'
seed: 3
run:
  dir: pre
data:
  path: tinyd.h5
  val_split: null
pretrain:
  batch_size: 8
  chunk_size: 4
  max_steps: 40
  log_every: 1
  checkpoint_every: 10
  eval_every: 0
  model:
    n_layers: 2
    nf: 16
EOF
PJOB() { "${MPIRUN[@]}" -np 2 "$ELIGN" --quiet pretrain pre.yaml --resume-if-exists "$@"; }
PJOB --set run.dir=pref > /dev/null 2>&1 || bad "pretrain reference"
"${MPIRUN[@]}" -np 2 "$ELIGN" --quiet pretrain pre.yaml --resume-if-exists --set run.dir=pterm > pterm.txt 2>&1 &
job=$!
wait_lines pterm/metrics.jsonl 3 || bad "pretrain: no third step"
# shellcheck disable=SC2046
kill -TERM $(rank_pids $job) 2> /dev/null
wait $job; rc=$?
steps=$(ls pterm/checkpoints | tail -1)
[ $rc -eq 0 ] && [ "$steps" != "step_000000040.h5" ] && ok || bad "pretrain SIGTERM: exit $rc, newest $steps"
PJOB --set run.dir=pterm > /dev/null 2>&1 || bad "pretrain requeued run"
same "pretrain SIGTERM + the same command line" pref/checkpoints/step_000000040.h5 pterm/checkpoints/step_000000040.h5
"$PY" -c "import json,sys; s=[d['step'] for d in map(json.loads, open('pterm/metrics.jsonl')) if d['phase'] == 'train']; sys.exit(0 if s == list(range(1, 41)) else str(s))" &&
  ok || bad "pretrain metrics lines after the restart"

cli_finish checks
