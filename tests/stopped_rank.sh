# stopped_rank.sh — sourced by the training tests (train_cli, pretrain_cli):
# a job one of whose ranks is stopped (SIGSTOP) while it runs.
#
#   stopped_rank_run OUT BOUND FILE DELAY RANK cmd...
#
# starts cmd (an mpirun command line) in the background, stdout and stderr to
# OUT; once a file matches the glob FILE (e.g. any checkpoint: a named one can
# be pruned by keep_checkpoints between two looks) and DELAY more seconds have
# passed, stops MPI rank RANK with SIGSTOP; then waits at most BOUND seconds
# for the job to end. Sets
#   STOPPED_RC       the job's exit code, or "hung" (it ran BOUND s after the stop; then it was killed)
#   STOPPED_SECONDS  from the SIGSTOP to the end of the job (or to BOUND), s
#   STOPPED_PID      the stopped rank's pid ("" when it was not found)
# The stopped rank is killed afterwards if the launcher left it behind.

# pid of MPI rank $2 among the children of mpirun $1
stopped_rank_pid() {
  local p
  for p in $(pgrep -P "$1"); do
    tr '\0' '\n' < /proc/$p/environ 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo $p; return; }
  done
}

stopped_rank_run() {
  local out="$1" bound="$2" file="$3" delay="$4" rank="$5"; shift 5
  "$@" > "$out" 2>&1 &
  local job=$! i
  for i in $(seq 1 6000); do compgen -G "$file" > /dev/null && break; kill -0 $job 2> /dev/null || break; sleep 0.02; done
  sleep "$delay"
  STOPPED_PID=$(stopped_rank_pid $job "$rank")
  local t0; t0=$(date +%s.%N)
  [ -n "$STOPPED_PID" ] && kill -STOP "$STOPPED_PID"
  # by the clock, not by counting sleeps: on a loaded machine a short sleep takes much longer
  while kill -0 $job 2> /dev/null && awk -v a="$t0" -v b="$(date +%s.%N)" -v n="$bound" 'BEGIN { exit !(b - a < n) }'; do
    sleep 0.1
  done
  STOPPED_SECONDS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if kill -0 $job 2> /dev/null; then
    STOPPED_RC=hung
    for i in $(pgrep -P $job); do kill -KILL $i 2> /dev/null; done # the ranks first: they would outlive mpirun
    kill -KILL $job 2> /dev/null
    wait $job 2> /dev/null
  else
    wait $job
    STOPPED_RC=$?
  fi
  [ -n "$STOPPED_PID" ] && kill -KILL "$STOPPED_PID" 2> /dev/null
  return 0
}
