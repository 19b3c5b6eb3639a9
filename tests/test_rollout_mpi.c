/* test_rollout_mpi.c — rollouts across ranks (run with 2 ranks): each rank
 * samples its own block of global groups; rank 1 sends its record to rank 0
 * (rollout_batch_send / recv), which must find it bitwise equal to the same
 * groups sampled locally — the rank-count independence of the keying, and
 * the record's two-message wire form. A header with a foreign magic is
 * refused with a format error. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "actor/rollout.h"
#include "tests/testutil_mpi.h"

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  elign_error err;
  edm_model model;
  CHECK(edm_model_init_preset(&model, "qm9", 1, 99, &err) == ELIGN_OK);
  if (size != 2) {
    if (rank == 0) fprintf(stderr, "test_rollout_mpi: run with 2 ranks\n");
    MPI_Finalize();
    return 1;
  }
  int frames[3] = {8, 15, 20};
  rollout_config c = {.model = &model, .T = 20, .K = 3, .share_initial_noise = 1, .skip_prefix = 8,
                      .train_start = 8, .frames = frames, .n_frames = 3, .keep_mu = 1, .groups_per_batch = 2,
                      .seed = 5, .iteration = 11, .policy_version = 7};
  /* sizes drawn from the histogram; molecules up to 29 atoms, kept short by T = 20 */
  rollout_batch mine;
  CHECK(rollout_run(&c, 2 * rank, 2, NULL, &mine, &err) == ELIGN_OK);
  if (rank == 1) {
    CHECK(rollout_batch_send(&mine, 0, 40, MPI_COMM_WORLD, &err) == ELIGN_OK);
    rollout_header bad = mine.h;
    bad.magic ^= 1u;
    MPI_Send(&bad, (int)sizeof bad, MPI_BYTE, 0, 50, MPI_COMM_WORLD);
  } else {
    rollout_batch got, all;
    CHECK(rollout_batch_recv(&got, 1, 40, MPI_COMM_WORLD, &err) == ELIGN_OK);
    CHECK(rollout_run(&c, 0, 4, NULL, &all, &err) == ELIGN_OK);
    CHECK(got.h.group_first == 2 && got.h.n_groups == 2 && got.h.policy_version == 7 && got.h.has_mu == 1);
    /* rank 1's record = the tail of the whole run, byte for byte, array by array */
    int64_t m0 = 2 * c.K, a0 = all.offsets[m0], D = all.h.D, na = got.h.n_atoms;
    int ok = got.h.n_atoms == all.h.n_atoms - a0;
    for (int64_t m = 0; ok && m <= got.h.n_mol; m++) ok &= got.offsets[m] == all.offsets[m0 + m] - a0;
    for (int i = 0; ok && i < rollout_n_latents(&got); i++)
      ok &= memcmp(rollout_latent(&got, i), rollout_latent(&all, i) + a0 * D, (size_t)(na * D) * sizeof(elign_real)) == 0;
    for (int i = 0; ok && i < rollout_T_act(&got); i++)
      for (int64_t m = 0; m < got.h.n_mol; m++) ok &= rollout_logp_old(&got, m, i) == rollout_logp_old(&all, m0 + m, i);
    for (int j = 0; ok && j < 3; j++) {
      ok &= memcmp(rollout_frame_zhat0(&got, j), rollout_frame_zhat0(&all, j) + a0 * D, (size_t)(na * D) * sizeof(elign_real)) == 0;
      ok &= memcmp(rollout_frame_mu(&got, j), rollout_frame_mu(&all, j) + a0 * D, (size_t)(na * D) * sizeof(elign_real)) == 0;
    }
    ok = ok && memcmp(got.pos, all.pos + 3 * a0, (size_t)na * 3 * sizeof(double)) == 0 &&
         memcmp(got.Z, all.Z + a0, (size_t)na * sizeof(int32_t)) == 0 &&
         memcmp(got.xh, all.xh + a0 * D, (size_t)(na * D) * sizeof(elign_real)) == 0;
    CHECK(ok);
    /* and rank 0's own block is the head */
    CHECK(mine.h.n_atoms == a0 &&
          memcmp(mine.pos, all.pos, (size_t)a0 * 3 * sizeof(double)) == 0);
    rollout_batch bad;
    CHECK(rollout_batch_recv(&bad, 1, 50, MPI_COMM_WORLD, &err) == ELIGN_ERR_FORMAT);
    printf("refused: %s\n", err.msg);
    printf("record of 2 groups x 3 members: %lld atoms, %llu bytes\n", (long long)got.h.n_atoms,
           (unsigned long long)got.h.data_bytes);
    rollout_batch_free(&got);
    rollout_batch_free(&all);
  }
  rollout_batch_free(&mine);
  edm_model_free(&model);
  int rc = test_mpi_main_result("test_rollout_mpi", MPI_COMM_WORLD);
  MPI_Finalize();
  return rc;
}
