/* fuzz_h5.c — libFuzzer target: the HDF5 readers on one (mutated) file.
 *
 * Every reader of an Elign-C HDF5 file gets each input, whatever its kind,
 * so a mutation that makes a dataset look like a model file (or anything
 * else) meets the reader it now claims to be: elign_dataset_read,
 * _read_nodes_hist, _read_index and _read_range (the pretraining reader),
 * elign_samples_read, elign_oracle_results_read, elign_checkpoint_read and
 * edm_model_load (the model with its architecture cross-checks), and
 * `elign info` itself (which also checks the stored histograms against the
 * molecules). Each result must honour the one-message contract of
 * fuzz_common.h, and no HDF5 object may stay open afterwards.
 * Seeds: tests/fuzz/corpus/{dataset,model,samples}/. fuzz_h5_values.c reuses
 * fuzz_h5_read_all (compiled with FUZZ_H5_NO_MAIN). */
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cmd/commands.h"
#include "common/io/checkpoint.h"
#include "common/io/dataset_io.h"
#include "common/model/edm_model.h"
#include "tests/fuzz/fuzz_common.h"

static void check_nothing_open(const char *after) {
  ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (n != 0) fuzz_fail("%zd HDF5 objects still open after %s", n, after);
}

/* `elign info FILE` with its output discarded (stdout and stderr around the
 * call only: libFuzzer and the tests report on them). */
static void run_info(const char *path) {
  fflush(stdout);
  fflush(stderr);
  int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
  dup2(null, STDOUT_FILENO);
  dup2(null, STDERR_FILENO);
  close(null);
  char *argv[] = {"info", "--views", (char *)path, NULL};
  int rc = info_main(3, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(saved_out, STDOUT_FILENO);
  dup2(saved_err, STDERR_FILENO);
  close(saved_out);
  close(saved_err);
  if (rc != 0 && rc != 1) fuzz_fail("elign info exited %d (0 or 1 expected)", rc);
}

void fuzz_h5_read_all(const char *path) {
  elign_error err;

  elign_error_clear(&err);
  elign_dataset ds;
  fuzz_check_result(elign_dataset_read(path, &ds, &err), &err, path, "elign_dataset_read");
  elign_dataset_free(&ds);
  check_nothing_open("elign_dataset_read");

  elign_error_clear(&err);
  elign_hist h;
  fuzz_check_result(elign_dataset_read_nodes_hist(path, &h, &err), &err, path, "elign_dataset_read_nodes_hist");
  elign_hist_free(&h);

  elign_error_clear(&err);
  elign_dataset_index idx;
  elign_status st = elign_dataset_read_index(path, &idx, &err);
  fuzz_check_result(st, &err, path, "elign_dataset_read_index");
  if (st == ELIGN_OK) {
    elign_molset part;
    int64_t ranges[2][2] = {{0, idx.n_mol}, {idx.n_mol / 3, idx.n_mol / 2}};
    for (int r = 0; r < 2; r++) {
      elign_error_clear(&err);
      fuzz_check_result(elign_dataset_read_range(path, ranges[r][0], ranges[r][1], &part, &err), &err, path,
                        "elign_dataset_read_range");
      elign_molset_free(&part);
    }
  }
  elign_dataset_index_free(&idx);
  check_nothing_open("the partial readers");

  elign_error_clear(&err);
  elign_molset mols;
  int64_t *group = NULL;
  elign_samples_meta meta;
  fuzz_check_result(elign_samples_read(path, &mols, &group, &meta, &err), &err, path, "elign_samples_read");
  elign_molset_free(&mols);
  free(group);

  elign_error_clear(&err);
  int32_t *status = NULL;
  char oracle[128];
  fuzz_check_result(elign_oracle_results_read(path, &mols, &status, oracle, &err), &err, path,
                    "elign_oracle_results_read");
  elign_molset_free(&mols);
  free(status);

  elign_error_clear(&err);
  elign_checkpoint c;
  fuzz_check_result(elign_checkpoint_read(&c, path, &err), &err, path, "elign_checkpoint_read");
  elign_checkpoint_free(&c);

  elign_error_clear(&err);
  edm_model m;
  st = edm_model_load(&m, path, &err);
  fuzz_check_result(st, &err, path, "edm_model_load");
  if (st == ELIGN_OK) edm_model_free(&m);
  check_nothing_open("the model readers");

  run_info(path);
  check_nothing_open("elign info");
}

#ifndef FUZZ_H5_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_h5_read_all(fuzz_write_input(data, size, ".h5"));
  return 0;
}
#endif
