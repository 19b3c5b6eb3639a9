/* runctx.c — the run context of every MPI command (runctx.h). */
#include "common/mpi/runctx.h"
#include "common/base/provenance.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/log.h"
#include "common/base/watchdog.h"

void elign_runctx_options_from_config(const elign_config *cfg, elign_runctx_options *o) {
  memset(o, 0, sizeof *o);
  o->oracle_ranks = (int)elign_config_get_int(cfg, "mpi.oracle_ranks");
  o->dft_ranks = (int)elign_config_get_int(cfg, "mpi.dft_ranks");
  o->threads_per_rank = (int)elign_config_get_int(cfg, "mpi.threads_per_rank");
  o->timeout_s = elign_config_get_double(cfg, "mpi.timeout");
}

/* ELIGN_RANKS_REST: every rank that is not the one actor or a DFT rank. */
static int resolve_oracle_ranks(int requested, int dft_ranks) {
  if (requested != ELIGN_RANKS_REST) return requested;
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int rest = size - 1 - (dft_ranks > 0 ? dft_ranks : 0);
  return size > 1 && rest > 0 ? rest : 0;
}

elign_status elign_runctx_init(elign_runctx *ctx, int *argc, char ***argv, const elign_runctx_options *o,
                               elign_error *err) {
  memset(ctx, 0, sizeof *ctx);
  ctx->world.comm = ctx->world.actors = ctx->world.oracles = ctx->world.dft = MPI_COMM_NULL;
  ctx->timeout_s = o->timeout_s > 0 ? o->timeout_s : ELIGN_MPI_TIMEOUT_DEFAULT;
  /* MPI_Init waits for every rank of the job: bounded like any other wait */
  elign_watchdog_arm(ctx->timeout_s, "starting MPI", "nothing written");
  elign_status st = elign_mpi_init(argc, argv, err);
  elign_watchdog_disarm();
  if (st != ELIGN_OK) return st;
  ctx->mpi_up = 1;
  if (o->threads_per_rank > 0) omp_set_num_threads(o->threads_per_rank);
  int oracle_ranks = resolve_oracle_ranks(o->oracle_ranks, o->dft_ranks);
  elign_watchdog_arm(ctx->timeout_s, "starting the MPI job (the role split)", "nothing written");
  st = elign_world_init(&ctx->world, MPI_COMM_WORLD, oracle_ranks, o->dft_ranks, err);
  elign_watchdog_disarm();
  if (st == ELIGN_OK && ctx->world.note[0]) elign_info("%s", ctx->world.note);
  if (st == ELIGN_OK)
    elign_provenance_set_layout(ctx->world.size, ctx->world.n_actors, ctx->world.n_oracles, ctx->world.n_dft);
  return st;
}

elign_status elign_runctx_agree(const elign_runctx *ctx, elign_error *err) {
  if (!ctx->mpi_up) { /* MPI never started: this process is the whole run */
    if (err && err->status != ELIGN_OK) elign_error_print(err);
    return err ? err->status : ELIGN_OK;
  }
  MPI_Comm comm = ctx->world.comm != MPI_COMM_NULL ? ctx->world.comm : MPI_COMM_WORLD;
  elign_status st = elign_mpi_agree_within(comm, ctx->timeout_s, err);
  if (st == ELIGN_OK) return ELIGN_OK;
  if (st == ELIGN_ERR_TIMEOUT) elign_world_fail_one(err); /* a silent rank cannot take part in any ending */
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) elign_error_print(err);
  return st;
}

void elign_runctx_free(elign_runctx *ctx) {
  /* MPI_Finalize waits for every rank: bounded like any other wait */
  if (ctx->mpi_up) elign_watchdog_arm(ctx->timeout_s, "finishing the MPI job", "outputs written before are kept");
  elign_world_free(&ctx->world);
  if (ctx->mpi_up) elign_mpi_finalize();
  elign_watchdog_disarm();
  ctx->mpi_up = 0;
}

int elign_launcher_rank(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return atoi(v);
  }
  return 0;
}
