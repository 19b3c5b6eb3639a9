/* make_seeds.c — writes the HDF5 seed files of the fuzz corpora with the
 * library's own writers (so the seeds follow the current format):
 *   DIR/dataset/small.h5         5 molecules with ids, SMILES, two properties, two splits
 *   DIR/dataset/oracle.h5        oracle results (energies, forces, status)
 *   DIR/model/edm_tiny.h5        an EDM model (1 layer, nf 4, T = 20): edm_model_load's checks
 *   DIR/model/train_state.h5     the same with AdamW moments, vmax, clipping queue, EMA,
 *                                reference, RNG counters and a config (a trainer's checkpoint)
 *   DIR/samples/small.h5         5 sampled molecules with groups and SMILES
 * usage: make_seeds DIR (tests/fuzz/make_corpus.sh runs it). Small on purpose:
 * libFuzzer mutates whole files, and small seeds mean fast runs. (No file of
 * the streaming writer: its fixed 1.5 MiB chunks make even 5 molecules a
 * 2.5 MB file.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/io/checkpoint.h"
#include "common/io/dataset_io.h"
#include "common/model/edm_model.h"

static void die(const char *what, const elign_error *err) {
  fprintf(stderr, "make_seeds: %s: %s\n", what, err->msg);
  exit(1);
}

/* Molecule m (0..4): m + 2 atoms, H C N O F. */
static void make_mols(elign_molset *s, int with_smiles) {
  static const char *smiles[5] = {"[H][H]", "C", "CN", "CCO", "FC(F)F"};
  elign_molset_init(s);
  for (int m = 0; m < 5; m++) {
    int32_t Z[8];
    double pos[24];
    for (int a = 0; a < m + 2; a++) {
      static const int32_t types[5] = {1, 6, 7, 8, 9};
      Z[a] = types[(m + a) % 5];
      pos[3 * a] = 1.1 * a + 0.1 * m, pos[3 * a + 1] = sin(a + m), pos[3 * a + 2] = 0.25 * m;
    }
    elign_molset_append(s, m + 2, Z, pos, 100 + m, with_smiles ? smiles[m] : NULL);
  }
}

static void write_datasets(const char *dir) {
  char path[4096];
  elign_error err;
  elign_dataset ds;
  elign_dataset_init(&ds);
  elign_molset_free(&ds.mols); /* make_mols initialises it again */
  make_mols(&ds.mols, 1);
  double u0[5] = {-40.5, -56.5, -95.8, -154.9, -337.0}, mmff[5] = {1, 2, NAN, 4, 5};
  elign_dataset_add_property(&ds, "U0", "Hartree", "internal energy at 0 K", u0);
  elign_dataset_add_property(&ds, "mmff_energy", "kcal/mol", "MMFF94 steric energy", mmff);
  int64_t train[3] = {0, 2, 4}, test[2] = {1, 3};
  elign_dataset_add_split(&ds, "train", 3, train);
  elign_dataset_add_split(&ds, "test", 2, test);
  snprintf(ds.source, sizeof ds.source, "make_seeds");
  snprintf(path, sizeof path, "%s/dataset/small.h5", dir);
  if (elign_dataset_write(path, &ds, &err)) die(path, &err);

  elign_dataset_free(&ds);

  elign_molset mols;
  make_mols(&mols, 0);
  mols.energy = malloc(5 * sizeof(double));
  mols.forces = malloc((size_t)mols.n_atoms * 3 * sizeof(double));
  for (int m = 0; m < 5; m++) mols.energy[m] = -10.0 * m - 0.5;
  for (int64_t i = 0; i < 3 * mols.n_atoms; i++) mols.forces[i] = 0.125 * (double)(i % 7) - 0.25;
  int32_t status[5] = {0, 0, 3, 0, 0};
  snprintf(path, sizeof path, "%s/dataset/oracle.h5", dir);
  if (elign_oracle_results_write(path, &mols, status, "lj", &err)) die(path, &err);
  elign_molset_free(&mols);

  make_mols(&mols, 1);
  int64_t group[5] = {0, 0, 1, 1, -1};
  elign_samples_meta meta = {.model = "model/edm_tiny.h5", .seed = 7, .steps = 20, .iteration = 3};
  snprintf(path, sizeof path, "%s/samples/small.h5", dir);
  if (elign_samples_write(path, &mols, group, &meta, &err)) die(path, &err);
  elign_molset_free(&mols);
}

static void write_models(const char *dir) {
  char path[4096];
  elign_error err;
  edm_model m;
  egnn_config cfg = egnn_config_qm9();
  cfg.n_layers = 1;
  cfg.hidden = 4;
  cfg.in_node_nf = 6; /* 5 types + charges */
  if (edm_model_setup(&m, &cfg, "qm9", 5, EDM_QM9_Z, 1, 20, "polynomial_2", 1e-5, &err)) die("edm setup", &err);
  for (size_t i = 0; i < (size_t)m.net.n_params; i++) m.params[i] = (elign_real)(0.01 * (double)((i * 37) % 101) - 0.5);
  int sizes[3] = {3, 5, 9};
  double counts[3] = {1, 4, 2};
  if (diffusion_nodes_hist_init(&m.nodes, sizes, counts, 3, &err)) die("hist", &err);
  snprintf(path, sizeof path, "%s/model/edm_tiny.h5", dir);
  if (edm_model_save(&m, path, &err)) die(path, &err);

  elign_checkpoint c;
  elign_checkpoint_init(&c);
  if (edm_model_to_checkpoint(&m, NULL, &c, &err)) die("to_checkpoint", &err);
  elign_checkpoint_set_optimizer(&c, "adamw", 11, c.params, c.params);
  elign_checkpoint_set_optimizer_vmax(&c, c.params);
  double queue[3] = {1.5, 2.5, 0.5};
  elign_checkpoint_set_clip_queue(&c, 3, queue);
  elign_checkpoint_set_ema(&c, c.params, 0.999);
  elign_checkpoint_set_reference(&c, c.params);
  uint64_t counters[2] = {3, 5};
  elign_checkpoint_set_rng(&c, 42, 2, counters);
  elign_checkpoint_set_config(&c, "train:\n  learning_rate: 1.0e-5\n");
  c.iteration = 3, c.optimizer_step = 11, c.epoch = 1;
  snprintf(path, sizeof path, "%s/model/train_state.h5", dir);
  if (elign_checkpoint_write(&c, path, &err)) die(path, &err);
  elign_checkpoint_free(&c);
  edm_model_free(&m);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  write_datasets(argv[1]);
  write_models(argv[1]);
  return 0;
}
