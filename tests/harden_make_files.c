/* harden_make_files.c — small input files for the hardening tests
 * (tests/harden_*.sh), written in C so that no test pays for importing torch.
 *
 *   harden_make_files model OUT.h5 [nan|inf|huge]  small QM9-architecture EDM
 *                                              model (2 layers, nf 32, fixed
 *                                              random init); nan/inf: one weight
 *                                              made non-finite; huge: every weight
 *                                              × 1e30 (finite, but the network
 *                                              overflows)
 *   harden_make_files states OUT.h5 [nan]      denoise states for that model:
 *                                              3 molecules of 3, 4, 5 atoms;
 *                                              nan: molecule 1 gets a NaN latent
 *   harden_make_files dataset OUT.h5 [nan]     dataset of 3 small molecules;
 *                                              nan: molecule 2 gets a NaN coordinate
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/io/dataset_io.h"
#include "common/io/h5io.h"
#include "common/model/edm_model.h"

static int fail(const elign_error *err) {
  fprintf(stderr, "harden_make_files: %s\n", err->msg);
  return 1;
}

static int make_model(const char *out, const char *mode) {
  elign_error err;
  elign_error_clear(&err);
  edm_model m;
  if (edm_model_init_preset(&m, "qm9", 1, 7, &err)) return fail(&err);
  if (mode && strcmp(mode, "huge") == 0) /* finite weights whose activations overflow */
    for (size_t q = 0; q < m.net.n_params; q++) m.params[q] *= 1e30f;
  else if (mode)
    m.params[m.net.n_params / 2] = strcmp(mode, "inf") == 0 ? INFINITY : NAN;
  elign_status st = edm_model_save(&m, out, &err);
  edm_model_free(&m);
  return st ? fail(&err) : 0;
}

static int make_states(const char *out, const char *mode) {
  enum { N_MOL = 3, D = 9 }; /* x, y, z, 5 one-hot types, charge */
  int64_t offsets[N_MOL + 1] = {0, 3, 7, 12};
  int32_t t[N_MOL] = {500, 10, 1};
  float z[12 * D];
  for (int i = 0; i < 12 * D; i++) z[i] = (float)sin(0.7 * i + 0.3);
  if (mode) z[4 * D + 2] = NAN; /* molecule 1 (atoms 3..6), atom 4, z coordinate */
  elign_error err;
  elign_error_clear(&err);
  elign_h5_writer w;
  elign_status st = elign_h5_writer_create(&w, out, "denoise_states", ELIGN_DENOISE_VERSION, &err);
  if (st) return fail(&err);
  hsize_t no[1] = {N_MOL + 1}, nm[1] = {N_MOL}, nz[2] = {12, D};
  st = elign_h5_set_attr_i64(w.file, "/", "T", 1000, &err);
  if (!st) st = elign_h5_write_array(w.file, "offsets", H5T_NATIVE_INT64, 1, no, offsets, &err);
  if (!st) st = elign_h5_write_array(w.file, "t", H5T_NATIVE_INT32, 1, nm, t, &err);
  if (!st) st = elign_h5_write_array(w.file, "z_t", H5T_NATIVE_FLOAT, 2, nz, z, &err);
  return elign_h5_writer_finish(&w, st, &err) ? fail(&err) : 0;
}

static int make_dataset(const char *out, const char *mode) {
  elign_dataset ds;
  elign_dataset_init(&ds);
  snprintf(ds.source, sizeof ds.source, "harden_make_files");
  for (int m = 0; m < 3; m++) {
    int32_t Z[3] = {8, 1, 1};
    double pos[9] = {0, 0, 0.1 * m, 0.96, 0, 0, -0.24, 0.93, 0};
    if (mode && m == 2) pos[4] = NAN;
    elign_molset_append(&ds.mols, 3, Z, pos, 10 + m, NULL);
  }
  elign_error err;
  elign_error_clear(&err);
  elign_status st = elign_dataset_write(out, &ds, &err);
  elign_dataset_free(&ds);
  return st ? fail(&err) : 0;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: harden_make_files model|states|dataset OUT.h5 [nan|inf|huge]\n");
    return 2;
  }
  const char *mode = argc == 4 ? argv[3] : NULL;
  if (!strcmp(argv[1], "model")) return make_model(argv[2], mode);
  if (!strcmp(argv[1], "states")) return make_states(argv[2], mode);
  if (!strcmp(argv[1], "dataset")) return make_dataset(argv[2], mode);
  fprintf(stderr, "harden_make_files: unknown kind '%s'\n", argv[1]);
  return 2;
}
