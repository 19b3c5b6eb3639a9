#!/usr/bin/env bash
# The slurm/ templates on a real scheduler: Debian's slurm-wlm (+ munge) as a
# one-node cluster on localhost (slurmctld + slurmd, a generated slurm.conf,
# everything in a temporary directory, ports chosen at random), the tiny
# model of tests/train_cli.sh with a toy oracle, 2 actors + 1 oracle rank.
#   - train_1node.sbatch runs end to end: COMPLETED, exit 0:0, the job log
#     says what ran, the checkpoint is bitwise the one of `mpirun -np 3`;
#   - `scontrol requeue` while it runs (SIGTERM to every rank): the ranks
#     finish their iteration, a checkpoint, exit 0; the requeued job (same
#     command line, --resume-if-exists) ends bitwise equal;
#   - the time-limit warning (SIGUSR1 to the batch shell, as
#     --signal=B:USR1@T sends it; here with `scancel --signal=USR1 --batch`):
#     passed on to the ranks, a checkpoint, the job requeues itself, ends
#     bitwise equal;
#   - train_nodes.sbatch (placement host file, one oracle rank), the sweep
#     array (2 points, traces summarised) and the evaluation array (2 tasks).
# Exits 77 (ctest SKIP_RETURN_CODE) with a message where SLURM cannot start
# (binaries missing, not root, daemons that do not come up).
#   bash tests/slurm_cluster.sh path/to/elign path/to/train_make_model
# ok() always succeeds, so `A && ok || bad` is a safe if-then-else; run directories hold plain names
# shellcheck disable=SC2015,SC2012
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
MAKE_MODEL="$(cli_abspath "$2")"
skip() { echo "SKIP: slurm_cluster: $*"; exit 77; }

for b in slurmctld slurmd sbatch squeue scontrol scancel sinfo srun; do
  command -v "$b" > /dev/null 2>&1 || skip "no '$b' (Debian packages slurmctld slurmd slurm-client; ./setup.sh installs them)"
done
[ "$(id -u)" -eq 0 ] || skip "slurmd must run as root to start jobs; this is uid $(id -u)"

# a short path: the munge socket name must fit in sun_path
dir=$(mktemp -d /tmp/elign_slurm.XXXXXX)
export SLURM_CONF="$dir/slurm.conf"
cleanup() {
  # the jobs first (slurmd ends their steps), then the daemons
  scancel --quiet --user="$(id -un)" 2> /dev/null
  for _ in $(seq 1 60); do [ -z "$(squeue -h 2> /dev/null)" ] && break; sleep 0.5; done
  for p in slurmd slurmctld munged; do
    [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2> /dev/null
  done
  sleep 1
  for p in slurmd slurmctld munged; do
    [ -f "$dir/$p.pid" ] && kill -9 "$(cat "$dir/$p.pid")" 2> /dev/null
  done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge" "$dir/work"
chmod 700 "$dir/munge"

# ---- the cluster -----------------------------------------------------------------------
AUTH="auth/none" CRED="cred/none" AUTHINFO=""
if command -v munged > /dev/null 2>&1; then
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=128 count=1 2> /dev/null && chmod 600 "$dir/munge/munge.key"
  if munged --force --socket="$dir/munge/sock" --key-file="$dir/munge/munge.key" --pid-file="$dir/munged.pid" \
       --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" 2> "$dir/log/munged.err"; then
    AUTH="auth/munge" CRED="cred/munge" AUTHINFO="socket=$dir/munge/sock,"
  else
    echo "slurm_cluster: munged did not start ($(head -1 "$dir/log/munged.err")): auth/none"
  fi
fi
HOST=$(hostname -s)
PORT=$(( 20000 + RANDOM % 20000 ))
cat > "$SLURM_CONF" <<EOF
ClusterName=elign-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$(( PORT + 1 ))
SlurmUser=root
SlurmdUser=root
AuthType=$AUTH
CredType=$CRED
AuthInfo=${AUTHINFO}cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=60
MinJobAge=600
SlurmdParameters=config_overrides
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
PlugStackConfig=/dev/null
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=12 RealMemory=4000 State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
# The PMIx plugin names a step's client directory spmix_appdir_<uid>_<job>.<step> (under TmpFS) and
# does not always remove it; a later cluster's job ids start at 1 again, and a step whose
# directory exists fails to launch (srun: "launch failed", seen in CI). Keep them in $dir.
mkdir -p "$dir/pmix"
echo "PMIxCliTmpDirBase=$dir/pmix" > "$dir/mpi.conf"
slurmctld -f "$SLURM_CONF" 2> "$dir/log/slurmctld.err" || skip "slurmctld did not start: $(tail -2 "$dir/log/slurmctld.err")"
slurmd -f "$SLURM_CONF" 2> "$dir/log/slurmd.err" || skip "slurmd did not start: $(tail -2 "$dir/log/slurmd.err")"
up=0
for _ in $(seq 1 60); do
  [ "$(sinfo -h -o %T 2> /dev/null)" = idle ] && up=1 && break
  sleep 0.5
done
[ $up -eq 1 ] || skip "the node did not come up: $(sinfo -h 2>&1 | head -1); $(tail -3 "$dir/log/slurmctld.log" 2> /dev/null)"
echo "slurm_cluster: $(sinfo -h -o '%P %D %T %C') ($AUTH, port $PORT)"

# ---- the job's inputs -----------------------------------------------------------------
cd "$dir/work" || exit 1
"$MAKE_MODEL" tiny.h5 7 || bad "make model"
ITERS=6
. "$SRC/tests/tiny_train_config.sh"
tiny_train_config job.yaml "$dir/work/tiny.h5" $ITERS 2 1
"${MPIRUN[@]}" -np 3 "$ELIGN" --quiet train job.yaml --set run.dir=ref > ref.txt 2>&1 || bad "reference run: $(tail -3 ref.txt)"

# the templates run from ELIGN_HOME (configs name paths relative to the checkout): absolute run directories here
export ELIGN_HOME="$SRC" ELIGN="$ELIGN"
# submit NAME TEMPLATE [sbatch options] -- ARGS: prints the job id
submit() {
  local name="$1" tmpl="$2"; shift 2
  local -a opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  sbatch --parsable --chdir="$dir/work" --output="$dir/work/$name-%j.out" "${opts[@]}" "$SRC/slurm/$tmpl" "$@"
}
field() { scontrol show job "$1" 2> /dev/null | tr ' ' '\n' | grep "^$2=" | head -1 | cut -d= -f2; }
# finished JOB [SECONDS]: wait until the job (all array tasks) left the queue
finished() {
  local t=0
  while [ -n "$(squeue -h -j "$1" 2> /dev/null)" ] && [ $t -lt "${2:-240}" ]; do sleep 1; t=$((t + 1)); done
  [ -z "$(squeue -h -j "$1" 2> /dev/null)" ]
}
wait_lines() { # FILE N [SECONDS]
  for _ in $(seq 1 $(( ${3:-120} * 10 ))); do [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0; sleep 0.1; done
  return 1
}
# check_done JOB NAME RESTARTS: COMPLETED, exit 0:0, the restart count
check_done() {
  local st ec rs
  st=$(field "$1" JobState) ec=$(field "$1" ExitCode) rs=$(field "$1" Restarts)
  [ "$st" = COMPLETED ] && [ "$ec" = 0:0 ] && [ "$rs" = "$3" ] && ok ||
    bad "$2 (job $1): state $st, exit $ec, restarts $rs (want COMPLETED 0:0 $3); log: $(grep -v INFO "$dir/work/$2"-*.out | tail -5)"
}

# ---- one node, end to end (the sweep and the several-node template meanwhile) -----------
j1=$(submit one train_1node.sbatch --ntasks-per-node=3 -- "$dir/work/job.yaml" --set run.dir="$dir/work/one")
js=$(ELIGN_SWEEP_RANKS="1 2" ELIGN_SWEEP_ITERS=1 ELIGN_SWEEP_LABEL=t ELIGN_SWEEP_DIR="$dir/work/sweep" submit sweep sweep.sbatch --array=0-1 -- "$dir/work/job.yaml")
jn=$(ELIGN_ORACLE_RANKS=1 submit nodes train_nodes.sbatch --nodes=1 --ntasks-per-node=3 --cpus-per-task=1 -- \
  "$dir/work/job.yaml" --set run.dir="$dir/work/nodes" --set dataloader.epoches=2)
finished "$j1" || bad "one node: still queued"
check_done "$j1" one 0
same_ckpt() { same "checkpoints differ: $*" "$@"; }
same_ckpt ref/checkpoint.h5 one/checkpoint.h5
grep -q "^\[elign-job .*3 rank(s) x 1 thread(s)" one-"$j1".out && grep -q "done: $ITERS iterations" one-"$j1".out && ok ||
  bad "one node: job log: $(head -3 one-"$j1".out)"

# ---- scontrol requeue while it runs ------------------------------------------------------
j2=$(submit rq train_1node.sbatch --ntasks-per-node=3 -- "$dir/work/job.yaml" --set run.dir="$dir/work/rq")
wait_lines rq/metrics.jsonl 1 || bad "requeue: the job never ran an iteration: $(tail -3 rq-"$j2".out)"
scontrol requeue "$j2" || bad "scontrol requeue"
finished "$j2" || bad "requeue: still queued"
check_done "$j2" rq 1
same_ckpt ref/checkpoint.h5 rq/checkpoint.h5
grep -q "stopped after iteration" rq-"$j2".out && grep -q "resuming from" rq-"$j2".out && grep -q "(restart 1)" rq-"$j2".out &&
  ok || bad "requeue: job log: $(grep -v 'INFO iteration' rq-"$j2".out | tail -8)"

# ---- the time-limit warning: SIGUSR1 to the batch shell -----------------------------------
j3=$(submit tl train_1node.sbatch --ntasks-per-node=3 -- "$dir/work/job.yaml" --set run.dir="$dir/work/tl")
wait_lines tl/metrics.jsonl 1 || bad "time limit: the job never ran an iteration: $(tail -3 tl-"$j3".out)"
scancel --signal=USR1 --batch "$j3" || bad "scancel --signal=USR1 --batch"
finished "$j3" || bad "time limit: still queued"
check_done "$j3" tl 1
same_ckpt ref/checkpoint.h5 tl/checkpoint.h5
grep -q "requeueing job $j3" tl-"$j3".out && grep -q "resuming from" tl-"$j3".out && ok ||
  bad "time limit: job log: $(grep -v 'INFO iteration' tl-"$j3".out | tail -8)"

# ---- several-node template, sweep and evaluation arrays -----------------------------------
finished "$jn" || bad "nodes: still queued"
check_done "$jn" nodes 0
grep -q "placement: 2 actor(s) (rank 0 = learner on $HOST), 1 oracle" nodes-"$jn".out && ok ||
  bad "nodes: placement line: $(grep placement nodes-"$jn".out)"
finished "$js" || bad "sweep: still queued"
for t in 0 1; do
  [ "$(field "${js}_$t" JobState)" = COMPLETED ] && ok || bad "sweep task $t: $(field "${js}_$t" JobState)"
done
[ -s sweep/t/n1_r1.json ] && [ -s sweep/t/n1_r2.json ] && grep -q '"critical_path"' sweep/t/n1_r2.json && ok ||
  bad "sweep summaries: $(ls sweep/t 2>&1)"
je=$(ELIGN_EVAL_N=4 ELIGN_EVAL_T=10 submit ev eval.sbatch --array=0-1 -- "$dir/work/one")
finished "$je" || bad "eval: still queued"
for t in 0 1; do
  [ "$(field "${je}_$t" JobState)" = COMPLETED ] && ok || bad "eval task $t: $(field "${je}_$t" JobState): $(tail -3 ev-*.out)"
done
[ "$(ls one/eval/*.json 2> /dev/null | wc -l)" -eq 2 ] && ok || bad "eval outputs: $(ls one/eval 2>&1)"
# a step that does not launch (its PMIx directory taken, as CI once had) while srun exits 0:
# the task must fail and say so, not pass without its results
jf=$(ELIGN_EVAL_N=4 ELIGN_EVAL_T=10 submit evf eval.sbatch --array=1 --hold -- "$dir/work/one")
mkdir -p "$dir/pmix/spmix_appdir_$(id -u)_$jf.1"
scontrol release "$jf"
finished "$jf" || bad "eval failure: still queued"
[ "$(field "${jf}_1" JobState)" = FAILED ] && grep -q "no new .*iter_000000004.json: the task failed" evf-*.out && ok ||
  bad "eval failure: $(field "${jf}_1" JobState): $(tail -3 evf-*.out)"

cli_finish checks
