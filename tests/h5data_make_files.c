/* h5data_make_files.c — writes one file of each non-dataset kind (model
 * checkpoint, samples, oracle results) with values given by simple formulas,
 * so tests/h5data_check.py can verify them with h5py independently.
 * usage: h5data_make_files DIR
 * The formulas here and in h5data_check.py (check_kinds) must agree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/io/checkpoint.h"
#include "common/io/dataset_io.h"

#define N_PARAMS 1000

static int fail(const elign_error *err) {
  fprintf(stderr, "h5data_make_files: %s\n", err->msg);
  return 1;
}

/* Molecule m (0..4) has m+2 atoms; Z = 1 + (m + a) % 8; x,y,z = m + 0.5 a, -a, 0.25 k. */
static void make_mols(elign_molset *s) {
  elign_molset_init(s);
  for (int m = 0; m < 5; m++) {
    int n = m + 2;
    int32_t Z[8];
    double pos[24];
    for (int a = 0; a < n; a++) {
      Z[a] = 1 + (m + a) % 8;
      pos[3 * a] = m + 0.5 * a;
      pos[3 * a + 1] = -a;
      pos[3 * a + 2] = 0.25 * m;
    }
    elign_molset_append(s, n, Z, pos, 100 + m, NULL);
  }
  s->energy = malloc(5 * sizeof(double));
  s->forces = malloc((size_t)s->n_atoms * 3 * sizeof(double));
  for (int m = 0; m < 5; m++) s->energy[m] = -10.0 * m - 0.5;
  for (int64_t i = 0; i < 3 * s->n_atoms; i++) s->forces[i] = 0.125 * (double)(i % 7) - 0.25;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: h5data_make_files DIR\n");
    return 2;
  }
  char path[4096];
  elign_error err;
  elign_checkpoint c;
  elign_checkpoint_init(&c);
  elign_checkpoint_set_int(&c, "n_layers", 9);
  elign_checkpoint_set_int(&c, "hidden", 256);
  elign_checkpoint_set_double(&c, "coords_range", 15.0);
  double nf[3] = {1.0, 4.0, 10.0};
  elign_checkpoint_set_doubles(&c, "normalize_factors", 3, nf);
  elign_checkpoint_set_string(&c, "aggregation", "sum");
  elign_checkpoint_set_string(&c, "noise_schedule", "polynomial_2");
  elign_checkpoint_set_params(&c, N_PARAMS, NULL);
  for (int i = 0; i < N_PARAMS; i++) c.params[i] = (float)(i % 97) * 0.25f - 3.0f;
  int64_t w[2] = {10, 20}, b[1] = {20}, r[1] = {780};
  if (elign_checkpoint_append_view(&c, "dynamics.egnn.embedding.weight", 2, w, &err) ||
      elign_checkpoint_append_view(&c, "dynamics.egnn.embedding.bias", 1, b, &err) ||
      elign_checkpoint_append_view(&c, "dynamics.egnn.rest", 1, r, &err))
    return fail(&err);
  elign_checkpoint_set_optimizer(&c, "adamw", 7, NULL, NULL);
  for (int i = 0; i < N_PARAMS; i++) c.opt_m[i] = 0.5f * c.params[i], c.opt_v[i] = 0.125f * (float)(i % 5);
  elign_checkpoint_set_reference(&c, NULL);
  for (int i = 0; i < N_PARAMS; i++) c.reference[i] = -c.params[i];
  uint64_t counters[2] = {3, 5};
  elign_checkpoint_set_rng(&c, 42, 2, counters);
  elign_checkpoint_set_config(&c, "train:\n  learning_rate: 1.0e-5\n");
  int64_t hn[2] = {17, 19}, hc[2] = {3974, 3789};
  elign_checkpoint_set_nodes_hist(&c, 2, hn, hc);
  c.iteration = 12;
  c.optimizer_step = 7;
  c.epoch = 1;
  snprintf(path, sizeof path, "%s/kind_model.h5", argv[1]);
  if (elign_checkpoint_write(&c, path, &err)) return fail(&err);
  elign_checkpoint_free(&c);

  elign_molset s;
  make_mols(&s);
  int64_t group[5] = {0, 0, 1, 1, 1};
  elign_samples_meta meta = {.model = "kind_model.h5", .seed = 42, .steps = 1000, .iteration = 12};
  snprintf(path, sizeof path, "%s/kind_samples.h5", argv[1]);
  if (elign_samples_write(path, &s, group, &meta, &err)) return fail(&err);
  int32_t status[5] = {0, 0, 3, 0, 0};
  snprintf(path, sizeof path, "%s/kind_oracle.h5", argv[1]);
  if (elign_oracle_results_write(path, &s, status, "test-oracle", &err)) return fail(&err);
  elign_molset_free(&s);
  return 0;
}
