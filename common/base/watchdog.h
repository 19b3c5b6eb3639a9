/* watchdog.h — a deadline for a step that cannot bound its own waits.
 *
 * Waits between ranks are bounded where our code waits (elign_mpi_agree_within,
 * the oracle client and server: mpi.timeout). A collective call inside a
 * library — an MPI-IO write, MPI_Finalize — cannot be: one stopped rank
 * stalls the others inside it. Such a step runs under the watchdog:
 *
 *   elign_watchdog_arm(timeout_s, "writing s.h5 with every rank", "nothing written; inputs untouched");
 *   ... the collective step ...
 *   elign_watchdog_disarm();
 *
 * If the step still runs at the deadline, this process prints one line
 *   elign: error on rank R: writing s.h5 with every rank did not finish within T s (mpi.timeout): a rank is stopped or hung; nothing written; inputs untouched
 * removes its live temporaries (atomic_file.h) and exits 1 (_exit: the
 * stalled library is not re-entered); under mpirun the job ends with it.
 * One watchdog per process (a helper thread that only sleeps); arming again
 * replaces the deadline. timeout_s <= 0 disarms.
 */
#ifndef ELIGN_WATCHDOG_H
#define ELIGN_WATCHDOG_H

void elign_watchdog_arm(double timeout_s, const char *step, const char *kept);
void elign_watchdog_disarm(void);

/* Time spent waiting for others, counting only time in which this process
 * ran: a gap of more than a second between two ticks means this process
 * itself was stopped (SIGSTOP, then SIGCONT) or starved, and a wait that
 * resumes after that must not blame another rank for it. Polling loops
 * tick every iteration (their sleeps are far shorter than a second).
 *   elign_wait_clock c; elign_wait_clock_start(&c);
 *   while (!done) { ...; if (elign_wait_clock_tick(&c) > timeout_s) give up; sleep a little; } */
typedef struct {
  double last;    /* wall clock of the previous tick, s */
  double elapsed; /* waited so far, s */
} elign_wait_clock;
void elign_wait_clock_start(elign_wait_clock *c);
double elign_wait_clock_tick(elign_wait_clock *c); /* returns elapsed */

/* This process's rank as the launcher announces it (Open MPI, PMIx, MPICH,
 * SLURM environment), 0 without one: usable before MPI starts and from a
 * signal handler's or helper thread's point of view. */
int elign_env_rank(void);

#endif
