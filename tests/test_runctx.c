/* test_runctx.c — the run context of every MPI command (common/mpi/runctx.h),
 * without mpirun and on 2 and 3 ranks.
 *
 * 1. elign_runctx_options_from_config reads the mpi.* keys;
 * 2. ELIGN_RANKS_REST (the `elign oracle` world): rank 0 is the learner and the
 *    only actor, every other rank an oracle rank; a single process embeds it;
 * 3. elign_runctx_agree: no fault → OK everywhere; a fault on the last rank
 *    reaches every rank as "rank N: ..." with its hint; a fault on rank 0
 *    keeps rank 0's own words. (That rank 0 prints it exactly once is
 *    checked by the ctest test_runctx_print_once, which counts the lines.)
 */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "common/mpi/runctx.h"
#include "tests/testutil.h"

static int all_ranks(MPI_Comm comm, int ok) {
  int all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
  return all;
}

static void check_options_from_config(void) {
  const char *sets[] = {"mpi.oracle_ranks=2", "mpi.dft_ranks=1", "mpi.threads_per_rank=3"};
  elign_config *cfg = NULL;
  elign_error err;
  elign_error_clear(&err);
  CHECK(elign_config_load(NULL, sets, 3, &cfg, &err) == ELIGN_OK);
  elign_runctx_options o;
  elign_runctx_options_from_config(cfg, &o);
  CHECK(o.oracle_ranks == 2 && o.dft_ranks == 1 && o.threads_per_rank == 3);
  elign_config_free(&cfg);
}

static void check_rest_layout(const elign_world *w) {
  int size = w->size, rank = w->rank;
  CHECK(w->is_learner == (rank == 0));
  CHECK(w->n_actors == 1 && w->actor_ranks[0] == 0 && w->is_actor == (rank == 0));
  CHECK(w->n_dft == 0 && w->embedded_dft);
  if (size == 1) {
    CHECK(w->embedded_oracle && w->n_oracles == 0);
  } else {
    CHECK(!w->embedded_oracle && w->n_oracles == size - 1);
    for (int k = 0; k < w->n_oracles; k++) CHECK(w->oracle_ranks[k] == k + 1);
    CHECK(w->is_oracle == (rank > 0));
  }
}

static void check_agree(const elign_runctx *ctx, int print_once) {
  const elign_world *w = &ctx->world;
  elign_error err;
  elign_error_clear(&err);
  CHECK(all_ranks(w->comm, elign_runctx_agree(ctx, &err) == ELIGN_OK));

  int faulty = w->size - 1;
  if (w->rank == faulty) {
    ELIGN_FAIL(&err, ELIGN_ERR_IO, "injected fault on rank %d", faulty);
    elign_error_hint(&err, "a hint travels along");
  }
  elign_status st = elign_runctx_agree(ctx, &err);
  char want[128];
  if (faulty == 0)
    snprintf(want, sizeof want, "injected fault on rank 0");
  else
    snprintf(want, sizeof want, "rank %d: injected fault on rank %d", faulty, faulty);
  CHECK(all_ranks(w->comm, st == ELIGN_ERR_IO && strcmp(err.msg, want) == 0 &&
                               strcmp(err.hint, "a hint travels along") == 0));
  if (print_once) return;

  elign_error_clear(&err);
  if (w->rank == 0) ELIGN_FAIL(&err, ELIGN_ERR_CONFIG, "rank 0 alone");
  st = elign_runctx_agree(ctx, &err);
  CHECK(all_ranks(w->comm, st == ELIGN_ERR_CONFIG && strcmp(err.msg, "rank 0 alone") == 0));
}

int main(int argc, char **argv) {
  int print_once = argc > 1 && strcmp(argv[1], "--print-once") == 0;
  if (!print_once) check_options_from_config();
  elign_runctx_options o = {.oracle_ranks = ELIGN_RANKS_REST, .dft_ranks = 0};
  elign_runctx ctx;
  elign_error err;
  elign_error_clear(&err);
  CHECK(elign_runctx_init(&ctx, &argc, &argv, &o, &err) == ELIGN_OK);
  CHECK(elign_runctx_agree(&ctx, &err) == ELIGN_OK);
  check_rest_layout(&ctx.world);
  check_agree(&ctx, print_once);
  int rank = ctx.world.rank;
  elign_runctx_free(&ctx);
  elign_runctx_free(&ctx); /* safe twice */
  if (rank != 0) return test_checks_failed ? 1 : 0;
  return test_main_result("test_runctx");
}
