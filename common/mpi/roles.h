/* roles.h — MPI start-up and the split of the world into roles.
 *
 * Layout for a world of S ranks, from the config keys mpi.oracle_ranks (O)
 * and mpi.dft_ranks (D), read by the caller:
 *
 *   rank 0                 learner (optimizer, schedule, checkpoints, metrics)
 *   ranks 0 .. S-O-D-1     actors: the learner group. Rank 0 is learner AND
 *                          actor, because the FED-GRPO gradient is sharded
 *                          over the ranks that hold rollouts (DESIGN.md).
 *   next O ranks           oracle servers (energy + forces)
 *   last D ranks           DFT validation pool
 *
 * Actor i (in rank order) sends its molecules to oracle rank i mod O. O = 0
 * means every actor evaluates its own molecules in-process (embedded_oracle);
 * D = 0 likewise for DFT (embedded_dft). A single process (no mpirun) holds
 * every role: oracle and DFT are embedded whatever O and D say, and `note`
 * tells the caller that requested ranks were folded in.
 *
 * Commands do not call this directly: common/mpi/runctx.h builds the world
 * from the config's mpi.* keys (or flags) and holds the one error agreement.
 *
 * Call sequence (every rank):
 *   elign_mpi_init(&argc, &argv, &err);           once per process, idempotent
 *   elign_world_init(&w, MPI_COMM_WORLD, O, D, &err);   collective
 *   ... if it failed: return elign_world_fail_all(&w, &err)  (rank 0 prints)
 *   elign_world_free(&w);
 *   elign_mpi_finalize();
 *
 * Errors (STYLE.md, after LAMMPS Error::all / Error::one): an error every
 * rank finds alike (config, world shape) is returned by every rank and
 * printed once by rank 0 (elign_world_fail_all); a fault only one rank sees
 * is either made collective with elign_mpi_agree, or, when the others cannot
 * be told, printed with the rank id before MPI_Abort (elign_world_fail_one).
 */
#ifndef ELIGN_ROLES_H
#define ELIGN_ROLES_H

#include <mpi.h>
#include <stddef.h>

#include "common/base/error.h"

/* MPI_Init_thread with MPI_THREAD_FUNNELED (OpenMP threads inside a rank,
 * MPI calls from the main thread only). Works as a singleton without mpirun.
 * Idempotent: a second call, or a host that already started MPI, is fine
 * (the thread level is then checked). Sets the log's rank tag. */
elign_status elign_mpi_init(int *argc, char ***argv, elign_error *err);

/* MPI_Finalize if elign_mpi_init started MPI and it is still running; a host
 * that started MPI itself finalizes it. Free every elign_world first. */
void elign_mpi_finalize(void);

typedef struct {
  MPI_Comm comm; /* private duplicate of the parent: our tags never meet a host's */
  int rank, size;

  /* roles of this rank */
  int is_learner;      /* rank 0 */
  int is_actor;        /* samples rollouts and shards the gradient */
  int is_oracle;       /* a dedicated oracle server rank */
  int is_dft;          /* a dedicated DFT pool rank */
  int embedded_oracle; /* no oracle ranks: actors evaluate their molecules in-process */
  int embedded_dft;    /* no DFT ranks: DFT runs in-process where it is needed */

  /* world ranks (in comm) of each role, ascending */
  int n_actors, n_oracles, n_dft;
  int *actor_ranks;  /* (n_actors) */
  int *oracle_ranks; /* (n_oracles) */
  int *dft_ranks;    /* (n_dft) */
  int actor_index;   /* my position in actor_ranks, or -1 */
  int oracle_index;  /* my position in oracle_ranks, or -1 */
  int dft_index;     /* my position in dft_ranks, or -1 */
  int my_oracle;     /* actor: rank serving my molecules (my own rank when embedded); else -1 */

  /* Role communicators, ranks ordered as in comm; MPI_COMM_NULL where this
   * rank does not hold the role. `actors` is the learner group: its rank 0
   * is the learner. */
  MPI_Comm actors;
  MPI_Comm oracles;
  MPI_Comm dft;

  char note[256]; /* something the caller should log (e.g. ranks folded into a single process), or "" */
} elign_world;

/* Split `parent` (normally MPI_COMM_WORLD) into roles. Collective over
 * parent. On an error (negative counts, no actor rank left, ranks that
 * disagree on the counts) every rank returns the same ELIGN_ERR_CONFIG with a
 * message naming mpi.oracle_ranks / mpi.dft_ranks, and `w` holds nothing to
 * free (elign_world_free is still safe). */
elign_status elign_world_init(elign_world *w, MPI_Comm parent, int oracle_ranks, int dft_ranks, elign_error *err);

/* Release the communicators and lists; safe on a zeroed or failed world. */
void elign_world_free(elign_world *w);

/* The rank serving actor `actor_rank`'s oracle requests: an oracle rank, or
 * the actor itself when the oracle is embedded; -1 if it is not an actor. */
int elign_world_oracle_of(const elign_world *w, int actor_rank);

/* The actors an oracle rank serves, ascending, written to clients (up to
 * max); returns how many there are (0 if `oracle_rank` is not an oracle). */
int elign_world_oracle_clients(const elign_world *w, int oracle_rank, int *clients, int max);

/* One line, e.g. "world 4: learner r0; actors r0,r1; oracles r2; dft r3"
 * (runs of three or more ranks are written r4-r9). Returns buf. */
const char *elign_world_summary(const elign_world *w, char *buf, size_t len);

/* ---- errors across ranks ------------------------------------------------ */

/* Make a local outcome collective over comm: if any rank's err holds an
 * error, every rank's err receives the error of the lowest failing rank,
 * prefixed "rank N: " when N is not rank 0 and other ranks did not fail
 * alike, and every rank returns its status. Returns ELIGN_OK everywhere if no
 * rank failed. err may be NULL (then this rank counts as OK). Collective.
 * Commands call elign_runctx_agree (runctx.h), which also prints once. */
elign_status elign_mpi_agree(MPI_Comm comm, elign_error *err);

/* elign_mpi_agree with every wait bounded: a rank that does not take part
 * within timeout_s seconds (stopped, hung, too slow) makes the call return
 * ELIGN_ERR_TIMEOUT with a message naming it ("rank 2 did not answer
 * within 3 s (mpi.timeout) ..."); the job cannot go on (the caller ends it:
 * elign_world_fail_one). Rank 0 collects the outcomes (it waits timeout_s)
 * and sends the verdict (the others wait (2 + (rank mod 8)/4) × timeout_s
 * for it: rank 0 names a silent rank before anyone blames rank 0, and one
 * rank at a time gives up). Waits count only time this process ran
 * (elign_wait_clock: a rank stopped and continued blames nobody). Point to
 * point on comm, tag ELIGN_AGREE_TAG. timeout_s <= 0: elign_mpi_agree. */
#define ELIGN_AGREE_TAG 7301
elign_status elign_mpi_agree_within(MPI_Comm comm, double timeout_s, elign_error *err);

/* Wait for req until it completes or timeout_s seconds pass (polling with
 * short sleeps, so a waiting rank does not spin a core); timeout_s <= 0
 * waits without bound. Returns 1 when complete, 0 on timeout. */
int elign_mpi_wait_within(MPI_Request *req, double timeout_s);

/* An error found alike on every rank (Error::all): rank 0 of w->comm prints
 * it; every rank returns err->status for its caller to return. w may be NULL
 * (or not initialised): rank 0 of MPI_COMM_WORLD prints, or the process
 * prints when MPI is not running. */
elign_status elign_world_fail_all(const elign_world *w, const elign_error *err);

/* A fatal fault seen by one rank only (Error::one): print it with this
 * rank's id, then MPI_Abort the whole job (exit(1) without MPI). */
_Noreturn void elign_world_fail_one(const elign_error *err);

#endif
