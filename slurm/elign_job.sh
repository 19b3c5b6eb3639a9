# shellcheck shell=bash
# elign_job.sh — what every Elign-C batch job does, sourced by the templates
# in this directory (slurm/README.md):
#   elign_job_setup            the binary, the threads per rank, a summary line
#   elign_place ORACLE DFT     rank placement: the learner first on node 0,
#                              oracle (and DFT) ranks spread over the nodes
#   elign_run_preemptible CMD  run CMD (srun ...) so that a time-limit warning
#                              (SIGUSR1 to this shell, --signal=B:USR1@T),
#                              preemption or `scontrol requeue` (SIGTERM)
#                              end it with a checkpoint, and requeue the job
#                              after a time-limit stop.
# Variables (all optional):
#   ELIGN_HOME   the Elign-C checkout (default: the submit directory)
#   ELIGN        the binary (default: $ELIGN_HOME/build/elign)
#   ELIGN_SRUN_MPI  srun's --mpi plugin (default pmix; Debian's Open MPI uses it)

elign_log() { echo "[elign-job $(date -u +%H:%M:%S)] $*"; }

elign_job_setup() {
  ELIGN_HOME="${ELIGN_HOME:-${SLURM_SUBMIT_DIR:-$PWD}}"
  ELIGN="${ELIGN:-$ELIGN_HOME/build/elign}"
  ELIGN_SRUN_MPI="${ELIGN_SRUN_MPI:-pmix}"
  if [ ! -x "$ELIGN" ]; then
    elign_log "no Elign-C binary at $ELIGN (build it, or set ELIGN / ELIGN_HOME)"
    exit 1
  fi
  # One OpenMP (and OpenBLAS) thread team per rank, as wide as the cores
  # SLURM gave the task: set explicitly, never inherited from the login shell.
  export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
  export OPENBLAS_NUM_THREADS="$OMP_NUM_THREADS"
  export OMP_PROC_BIND=close OMP_PLACES=cores
  # The cores are the job's own (--cpu-bind=cores): a short spin before a
  # waiting thread sleeps beats Elign-C's passive default, which pays a
  # futex wake at every parallel region (2-thread pretraining 7.1 -> 5.0 s,
  # docs/performance.md). Not where the user chose a policy.
  if [ "$OMP_NUM_THREADS" -gt 1 ] && [ -z "${OMP_WAIT_POLICY:-}" ]; then
    export GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-1000}"
  fi
  elign_log "job ${SLURM_JOB_ID:-?} (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NUM_NODES:-1} node(s)" \
    "[${SLURM_JOB_NODELIST:-$(hostname)}]: ${SLURM_NTASKS:-1} rank(s) x $OMP_NUM_THREADS thread(s); $ELIGN"
  cd "$ELIGN_HOME" || exit 1
}

# elign_place ORACLE DFT: write a host file that puts the ranks where the
# roles want them (common/mpi/roles.h: actors first, then ORACLE oracle ranks,
# then DFT ranks) and tell srun to follow it (--distribution=arbitrary):
#   - rank 0, the learner, first on the first node;
#   - the oracle ranks round robin over the nodes, starting at the last one,
#     so every node serves some and no node's actors queue on a remote one only;
#   - the DFT ranks likewise (a separate partition: see slurm/README.md);
#   - the actors in the slots left, node by node.
# Each node has SLURM_NTASKS / nodes slots (the templates ask for
# --ntasks-per-node). Sets ELIGN_SRUN_PLACEMENT for srun's command line.
elign_place() {
  local oracles="$1" dft="$2"
  local -a nodes
  mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
  local n_nodes=${#nodes[@]} ntasks="${SLURM_NTASKS:-1}"
  local per_node=$(( (ntasks + n_nodes - 1) / n_nodes ))
  local actors=$(( ntasks - oracles - dft ))
  if [ "$actors" -lt 1 ]; then
    elign_log "placement: $ntasks ranks cannot hold $oracles oracle + $dft DFT ranks and an actor"
    exit 1
  fi
  local -a free node_of
  local i r k
  for ((i = 0; i < n_nodes; i++)); do free[i]=$per_node; done
  # special ranks first, round robin from the last node
  k=$(( n_nodes - 1 ))
  for ((r = actors; r < ntasks; r++)); do
    while [ "${free[k]}" -le 0 ] || { [ "$k" -eq 0 ] && [ "${free[0]}" -le 1 ]; }; do k=$(( (k + n_nodes - 1) % n_nodes )); done
    node_of[r]=$k; free[k]=$(( free[k] - 1 )); k=$(( (k + n_nodes - 1) % n_nodes ))
  done
  # actors fill the nodes in order: rank 0 lands on node 0
  k=0
  for ((r = 0; r < actors; r++)); do
    while [ "${free[k]}" -le 0 ]; do k=$(( k + 1 )); done
    node_of[r]=$k; free[k]=$(( free[k] - 1 ))
  done
  ELIGN_HOSTFILE="${ELIGN_HOSTFILE:-${TMPDIR:-/tmp}/elign_hosts.${SLURM_JOB_ID:-$$}}"
  : > "$ELIGN_HOSTFILE"
  for ((r = 0; r < ntasks; r++)); do echo "${nodes[${node_of[r]}]}" >> "$ELIGN_HOSTFILE"; done
  export SLURM_HOSTFILE="$ELIGN_HOSTFILE"
  export ELIGN_SRUN_PLACEMENT="--distribution=arbitrary"
  elign_log "placement: $actors actor(s) (rank 0 = learner on ${nodes[0]}), $oracles oracle, $dft DFT rank(s):" \
    "$(tr '\n' ' ' < "$ELIGN_HOSTFILE")"
}

# elign_run_preemptible CMD...: run CMD in the background and wait for it.
#  - SIGUSR1 to this shell (#SBATCH --signal=B:USR1@SECONDS, the time-limit
#    warning) is passed on to CMD (srun forwards it to every rank): the ranks
#    finish their step, rank 0 writes a checkpoint, CMD exits 0, and this job
#    requeues itself (#SBATCH --requeue) to continue with the same command line.
#  - SIGTERM (preemption, scancel, scontrol requeue: SLURM signals every rank
#    itself) is passed on as well; SLURM requeues a preempted job by itself.
# Returns CMD's exit code.
elign_run_preemptible() {
  ELIGN_STOP_REQUESTED=""
  "$@" &
  local pid=$!
  # shellcheck disable=SC2064
  trap "ELIGN_STOP_REQUESTED=USR1; elign_log 'SIGUSR1: time limit near, the ranks stop after their step'; kill -USR1 $pid 2>/dev/null" USR1
  # shellcheck disable=SC2064
  trap "ELIGN_STOP_REQUESTED=\${ELIGN_STOP_REQUESTED:-TERM}; elign_log 'SIGTERM: the ranks stop after their step'; kill -TERM $pid 2>/dev/null" TERM
  local rc
  while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null || break # a trap ended the wait, not the command
  done
  trap - USR1 TERM
  elign_log "command exited with $rc${ELIGN_STOP_REQUESTED:+ (stop requested by SIG$ELIGN_STOP_REQUESTED)}"
  if [ "$rc" -eq 0 ] && [ "$ELIGN_STOP_REQUESTED" = USR1 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    elign_log "requeueing job $SLURM_JOB_ID: it continues from the checkpoint (--resume-if-exists)"
    scontrol requeue "$SLURM_JOB_ID"
  fi
  return "$rc"
}
