/* runctx.h — the run context every MPI command starts from.
 *
 * One call brings MPI up and splits the world into roles (roles.h: learner,
 * actors, oracle ranks, DFT ranks); one call makes an outcome collective and
 * prints it once; one call takes it all down. `elign sample` and
 * `elign oracle` start here; so do the pretraining, training and evaluation
 * commands of the next issues.
 *
 * Build the options
 *   from a config:    elign_runctx_options o;
 *                     elign_runctx_options_from_config(cfg, &o);   // mpi.oracle_ranks, mpi.dft_ranks,
 *                                                                  // mpi.threads_per_rank
 *   from flags:       elign_runctx_options o = {.oracle_ranks = n, .dft_ranks = 0};
 *   one reader + servers (as `elign oracle`):  o.oracle_ranks = ELIGN_RANKS_REST;
 *
 * Who does what (ctx.world, roles.h): rank 0 is the learner and an actor;
 * actors are world.actor_ranks (communicator world.actors, the learner
 * group: shard data, rollouts and the gradient over it); oracle servers are
 * world.oracle_ranks (an actor's server: world.my_oracle); DFT ranks
 * world.dft_ranks. world.embedded_oracle / embedded_dft: no such ranks, the
 * actors evaluate in-process. A single process (no mpirun) holds every role.
 *
 * Call sequence (every rank):
 *   int rank0 = elign_launcher_rank() == 0;      // before MPI: only rank 0 prints usage errors
 *   elign_runctx ctx;
 *   elign_runctx_init(&ctx, &argc, &argv, &o, &err);
 *   if (elign_runctx_agree(&ctx, &err)) goto out;  // every rank returns; the message printed once
 *   ... work; after each step that can fail on some ranks only:
 *   if (elign_runctx_agree(&ctx, &err)) goto out;
 * out:
 *   elign_runctx_free(&ctx);                       // world, then MPI_Finalize
 *
 * Errors: elign_runctx_agree is the one error agreement of a command. A
 * fault only one rank can see and the others cannot be told of (they are
 * blocked in a receive) goes to elign_world_fail_one (roles.h) instead.
 */
#ifndef ELIGN_RUNCTX_H
#define ELIGN_RUNCTX_H

#include "common/base/config.h"
#include "common/base/error.h"
#include "common/mpi/roles.h"

/* oracle_ranks: every rank but one actor (rank 0) and the DFT ranks serves;
 * a single process evaluates in-process. */
#define ELIGN_RANKS_REST (-1)

/* mpi.timeout's default, s (config_schema.c says the same). */
#define ELIGN_MPI_TIMEOUT_DEFAULT 600.0

typedef struct {
  int oracle_ranks;     /* mpi.oracle_ranks: dedicated oracle servers, 0 = in-process, or ELIGN_RANKS_REST */
  int dft_ranks;        /* mpi.dft_ranks: dedicated DFT ranks, 0 = none / in-process */
  int threads_per_rank; /* mpi.threads_per_rank: OpenMP threads per rank, 0 = leave OMP_NUM_THREADS */
  double timeout_s;     /* mpi.timeout: bound of every wait for another rank, s; 0 = ELIGN_MPI_TIMEOUT_DEFAULT */
} elign_runctx_options;

typedef struct {
  elign_world world; /* the roles; world.comm is this run's private communicator */
  int mpi_up;        /* elign_mpi_init succeeded */
  double timeout_s;  /* mpi.timeout in force (> 0) */
} elign_runctx;

/* The mpi.* keys of a resolved config. */
void elign_runctx_options_from_config(const elign_config *cfg, elign_runctx_options *o);

/* MPI up (MPI_THREAD_FUNNELED, log rank tag), threads set, the world split
 * into roles. Collective. On failure err holds why, the same on every rank
 * (the counts are checked alike everywhere); call elign_runctx_agree to
 * print it once, then elign_runctx_free. */
elign_status elign_runctx_init(elign_runctx *ctx, int *argc, char ***argv, const elign_runctx_options *o,
                               elign_error *err);

/* Every rank calls it with its own outcome in err (cleared = this rank is
 * fine; not NULL). If no rank failed: ELIGN_OK everywhere. Otherwise every rank's err
 * receives the error of the lowest failing rank ("rank N: " in front when
 * it came from another rank than 0; kept as is when every rank failed
 * alike), rank 0 prints it once, and every rank returns the status.
 * Collective over ctx->world.comm (MPI_COMM_WORLD if the world could not be
 * built; the process alone if MPI is not up). Bounded by mpi.timeout: a
 * rank that does not arrive in time (stopped, hung) is named and the job
 * ends there (elign_mpi_agree_within, elign_world_fail_one) — this call
 * then does not return. */
elign_status elign_runctx_agree(const elign_runctx *ctx, elign_error *err);

/* Free the world and finalize MPI. Safe after a failed init. */
void elign_runctx_free(elign_runctx *ctx);

/* This process's rank as the MPI launcher announces it (Open MPI, PMIx,
 * MPICH/PMI, SLURM), read before MPI starts — so only rank 0 prints usage
 * errors and --help never pays for MPI start-up; 0 without a launcher. */
int elign_launcher_rank(void);

#endif
