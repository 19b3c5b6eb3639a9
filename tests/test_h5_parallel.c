/* test_h5_parallel.c — several ranks write one sample file with collective
 * MPI-IO (elign_samples_write_parallel). Run with 1, 2 and 4 ranks; rank 0
 * reads the file back and compares it with the molecules every rank can
 * rebuild on its own. With 4 ranks, rank 1 holds no molecules (an empty rank
 * must still take part in the collective writes). The set is large enough
 * (about 21,000 atoms) that /positions and /forces span three Fletcher32
 * chunks of 8192 rows, so ranks' slabs straddle chunk boundaries: filtered
 * chunks shared between ranks must still come out whole and checksummed.
 * usage: test_h5_parallel OUT.h5 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/io/dataset_io.h"
#include "tests/testutil_mpi.h"

#define N_MOL 3001

/* The global set: sizes 1..13, elements 1..9, SMILES on even molecules. */
static void make_global(elign_molset *s, int64_t *group) {
  elign_molset_init(s);
  int32_t Z[16];
  double pos[48];
  for (int m = 0; m < N_MOL; m++) {
    int n = 1 + (m * 7) % 13;
    for (int a = 0; a < n; a++) {
      Z[a] = 1 + (m + a) % 9;
      for (int k = 0; k < 3; k++) pos[3 * a + k] = sin(0.1 * (m * 50 + a * 3 + k));
    }
    char smiles[32];
    snprintf(smiles, sizeof smiles, "C%dO", m);
    elign_molset_append(s, n, Z, pos, 1000 + m, m % 2 == 0 ? smiles : NULL);
    group[m] = m / 4;
  }
  s->energy = malloc(N_MOL * sizeof(double));
  s->forces = malloc((size_t)s->n_atoms * 3 * sizeof(double));
  for (int m = 0; m < N_MOL; m++) s->energy[m] = -1.5 * m;
  for (int64_t i = 0; i < 3 * s->n_atoms; i++) s->forces[i] = cos(0.37 * (double)i);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const char *path = argc > 1 ? argv[1] : "samples_par.h5";
  elign_molset global, local;
  int64_t group[N_MOL];
  make_global(&global, group);
  int64_t bounds[65];
  for (int r = 0; r <= size; r++) bounds[r] = (int64_t)N_MOL * r / size;
  if (size == 4) bounds[2] = bounds[1]; /* rank 1 empty */
  elign_molset_slice(&local, &global, bounds[rank], bounds[rank + 1]);
  elign_samples_meta meta = {.model = "ckpt/model.h5", .seed = 77, .steps = 500, .iteration = -1};
  elign_error err;
  elign_error_clear(&err);
  elign_status st = elign_samples_write_parallel(MPI_COMM_WORLD, path, &local, group + bounds[rank], &meta, &err);
  CHECK(st == ELIGN_OK);
  if (st != ELIGN_OK) fprintf(stderr, "rank %d: %s\n", rank, err.msg);

  /* A failing collective write fails on every rank (no hang, no file). */
  st = elign_samples_write_parallel(MPI_COMM_WORLD, "no_such_dir/x.h5", &local, NULL, &meta, &err);
  CHECK(st != ELIGN_OK && strstr(err.msg, "no_such_dir/x.h5"));

  if (rank == 0) {
    elign_molset back;
    int64_t *g = NULL;
    elign_samples_meta mb;
    st = elign_samples_read(path, &back, &g, &mb, &err);
    CHECK(st == ELIGN_OK);
    if (st == ELIGN_OK) {
      CHECK(back.n_mol == N_MOL && back.n_atoms == global.n_atoms);
      CHECK(memcmp(back.offsets, global.offsets, (N_MOL + 1) * sizeof(int64_t)) == 0);
      CHECK(memcmp(back.Z, global.Z, (size_t)global.n_atoms * sizeof(int32_t)) == 0);
      CHECK(memcmp(back.pos, global.pos, (size_t)global.n_atoms * 3 * sizeof(double)) == 0);
      CHECK(memcmp(back.forces, global.forces, (size_t)global.n_atoms * 3 * sizeof(double)) == 0);
      CHECK(memcmp(back.energy, global.energy, N_MOL * sizeof(double)) == 0);
      CHECK(memcmp(back.ids, global.ids, N_MOL * sizeof(int64_t)) == 0);
      CHECK(memcmp(g, group, N_MOL * sizeof(int64_t)) == 0);
      int smiles_ok = back.smiles != NULL;
      for (int m = 0; smiles_ok && m < N_MOL; m++)
        smiles_ok = global.smiles[m] ? back.smiles[m] && strcmp(back.smiles[m], global.smiles[m]) == 0
                                     : back.smiles[m] == NULL;
      CHECK(smiles_ok);
      CHECK(mb.seed == 77 && mb.steps == 500 && strcmp(mb.model, "ckpt/model.h5") == 0);
      elign_hist h;
      CHECK(elign_dataset_read_nodes_hist(path, &h, &err) == ELIGN_ERR_FORMAT); /* samples, not a dataset */
    }
    free(g);
    elign_molset_free(&back);
  }
  elign_molset_free(&local);
  elign_molset_free(&global);
  int rc = test_mpi_main_result("test_h5_parallel", MPI_COMM_WORLD);
  MPI_Finalize();
  return rc;
}
