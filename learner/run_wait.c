/* run_wait.c — the deadline of a training command's waits between ranks (run_wait.h). */
#include "learner/run_wait.h"

#include <stdio.h>

#include "common/base/watchdog.h"
#include "common/mpi/roles.h"

void run_wait_init(run_wait *w, double timeout_s, const char *run_dir, const char *unit, int64_t last_checkpoint) {
  w->timeout_s = timeout_s;
  w->run_dir = run_dir;
  w->unit = unit;
  w->last_checkpoint = last_checkpoint;
  w->pending = -1;
}

void run_wait_checkpoint_pending(run_wait *w, int64_t n) { w->pending = n; }

void run_wait_checkpoint_done(run_wait *w, int64_t n) {
  w->last_checkpoint = n;
  w->pending = -1;
}

/* What a job ended at this wait leaves behind, and how to go on. */
static void describe_kept(const run_wait *w, char *buf, size_t cap) {
  const char *dir = w->run_dir, *unit = w->unit;
  long long last = (long long)w->last_checkpoint, pending = (long long)w->pending;
  int writing = w->pending >= 0 && w->pending > w->last_checkpoint;
  if (writing && w->last_checkpoint >= 0)
    snprintf(buf, cap, "the last checkpoint (%s %lld if rank 0 finished writing it, else %s %lld, in %s/checkpoints) is "
             "intact; --resume %s continues from it", unit, pending, unit, last, dir, dir);
  else if (writing)
    snprintf(buf, cap, "%s/checkpoints holds the checkpoint of %s %lld if rank 0 finished writing it (then --resume %s "
             "continues from it), else none yet: start the run again (--force)", dir, unit, pending, dir);
  else if (w->last_checkpoint >= 0)
    snprintf(buf, cap, "the last checkpoint (%s %lld, in %s/checkpoints) is intact; --resume %s continues from it", unit,
             last, dir, dir);
  else if (w->last_checkpoint == RUN_WAIT_AS_BEFORE)
    snprintf(buf, cap, "%s/checkpoints is as before this run; --resume %s continues from its newest checkpoint", dir,
             dir);
  else
    snprintf(buf, cap, "no checkpoint yet in %s/checkpoints: start the run again (--force)", dir);
}

void run_wait_begin(const run_wait *w, int64_t at, const char *phase) {
  char step[256], kept[1024];
  if (at >= 0) snprintf(step, sizeof step, "in %s %lld, %s", w->unit, (long long)at, phase);
  else snprintf(step, sizeof step, "%s", phase);
  describe_kept(w, kept, sizeof kept);
  elign_watchdog_arm(w->timeout_s, step, kept);
}

void run_wait_end(void) { elign_watchdog_disarm(); }

elign_status run_wait_agree(const run_wait *w, int64_t at, const char *phase, MPI_Comm comm, elign_error *err) {
  run_wait_begin(w, at, phase);
  elign_status st = elign_mpi_agree(comm, err);
  run_wait_end();
  return st;
}
