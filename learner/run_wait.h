/* run_wait.h — the deadline of a training command's waits between ranks.
 *
 * `elign pretrain` and `elign train` move rollouts, gradients, weights and
 * agreements between the ranks of the learner group in MPI collectives and
 * point-to-point calls that cannot bound their own waits: one rank that is
 * stopped (SIGSTOP) or hung (a stuck library call) would block every other
 * rank inside one of them forever. So each such wait runs under the watchdog
 * (common/base/watchdog.h) with mpi.timeout:
 *
 *   run_wait w;
 *   run_wait_init(&w, timeout_s, run_dir, "iteration", last_checkpoint);
 *   run_wait_begin(&w, 3, "the gradient reduction");  // arm: this rank now waits for the others (in iteration 3)
 *   ... MPI calls ...
 *   run_wait_end();                                   // disarm: this rank works alone again
 *   run_wait_agree(&w, 3, "the sampling phase", comm, &err);   // begin, elign_mpi_agree, end in one call
 *
 * The number is the iteration or step as the command's other messages count
 * it: train's iteration index (its checkpoint K is the state before
 * iteration K), pretrain's step 1, 2, ... (checkpoint K after step K).
 *
 * What counts: only the time a rank waits for the others, never its own work
 * between two waits (each begin restarts the clock; end stops it). A wait
 * does include the others' work since their previous message — the rest of a
 * sampling phase, rank 0's rewards, its checkpoint write or judge round —
 * which is why mpi.timeout must exceed the longest such piece of work.
 *
 * Past the deadline the waiting rank prints one line and exits 1 (mpirun
 * then ends the job):
 *   elign: error on rank 0: in iteration 3, the gradient reduction did not finish within 600 s (mpi.timeout): a rank
 *   is stopped or hung; the last checkpoint (iteration 3, in RUN/checkpoints) is intact; --resume RUN continues from it
 * The checkpoint named is the newest one this rank knows complete; while
 * rank 0 writes one (run_wait_checkpoint_pending) the others name both.
 */
#ifndef ELIGN_RUN_WAIT_H
#define ELIGN_RUN_WAIT_H

#include <mpi.h>
#include <stdint.h>

#include "common/base/error.h"

#define RUN_WAIT_AS_BEFORE (-2)

typedef struct {
  double timeout_s;        /* mpi.timeout, s (> 0) */
  const char *run_dir;     /* RUN, for the message (the caller's: it outlives the waits) */
  const char *unit;        /* "iteration" (train) or "step" (pretrain): what the numbers count */
  int64_t last_checkpoint; /* the newest complete RUN/checkpoints file's number, -1 = none yet,
                              RUN_WAIT_AS_BEFORE = not known yet (a resume's start-up) */
  int64_t pending;         /* rank 0 is writing this checkpoint now (others' view), -1 = none */
} run_wait;

void run_wait_init(run_wait *w, double timeout_s, const char *run_dir, const char *unit, int64_t last_checkpoint);

/* Rank 0 writes checkpoint n now (every rank calls it: the decision is collective). */
void run_wait_checkpoint_pending(run_wait *w, int64_t n);
/* Checkpoint n is complete (rank 0 after writing it; the others once that is agreed). */
void run_wait_checkpoint_done(run_wait *w, int64_t n);

/* Arm the watchdog for a wait of `phase` of unit `at` (at < 0: no number,
 * e.g. the start-up); a second begin replaces the first (a new phase, a
 * fresh deadline). */
void run_wait_begin(const run_wait *w, int64_t at, const char *phase);
void run_wait_end(void);

/* elign_mpi_agree(comm, err) as one wait of `phase`. */
elign_status run_wait_agree(const run_wait *w, int64_t at, const char *phase, MPI_Comm comm, elign_error *err);

#endif
