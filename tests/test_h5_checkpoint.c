/* test_h5_checkpoint.c — model checkpoints: full round trip, view validation,
 * truncated and foreign files, and atomicity (a writer killed at random
 * moments never leaves a partial file under the final name). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/io/checkpoint.h"
#include "common/io/h5io.h"
#include "tests/testutil.h"

/* A small EDM-like checkpoint: two views, optimizer, reference, RNG, config, histogram. */
static void make_checkpoint(elign_checkpoint *c, int64_t extra, float scale) {
  elign_error err;
  elign_checkpoint_init(c);
  elign_checkpoint_set_int(c, "n_layers", 9);
  elign_checkpoint_set_int(c, "hidden", 256);
  elign_checkpoint_set_double(c, "coords_range", 15.0);
  elign_checkpoint_set_double(c, "noise_precision", 1e-5);
  double nf[3] = {1.0, 4.0, 10.0};
  elign_checkpoint_set_doubles(c, "normalize_factors", 3, nf);
  elign_checkpoint_set_string(c, "aggregation", "sum");
  elign_checkpoint_set_string(c, "atom_decoder", "H,C,N,O,F");
  int64_t n = 256 * 6 + 256 + extra;
  elign_checkpoint_set_params(c, n, NULL);
  for (int64_t i = 0; i < n; i++) c->params[i] = scale * sinf((float)i * 0.01f);
  int64_t w[2] = {256, 6}, b[1] = {256};
  CHECK(elign_checkpoint_append_view(c, "dynamics.egnn.embedding.weight", 2, w, &err) == ELIGN_OK);
  CHECK(elign_checkpoint_append_view(c, "dynamics.egnn.embedding.bias", 1, b, &err) == ELIGN_OK);
  if (extra > 0) {
    int64_t e[1] = {extra};
    CHECK(elign_checkpoint_append_view(c, "padding.big", 1, e, &err) == ELIGN_OK);
  }
  elign_checkpoint_set_optimizer(c, "adamw", 42, NULL, NULL);
  for (int64_t i = 0; i < n; i++) c->opt_m[i] = (float)i, c->opt_v[i] = 1.0f / (float)(i + 1);
  elign_checkpoint_set_optimizer_vmax(c, c->opt_v);
  double queue[3] = {12.5, 3000.0, 0.25};
  elign_checkpoint_set_clip_queue(c, 3, queue);
  elign_checkpoint_set_ema(c, c->opt_m, 0.9999);
  elign_checkpoint_set_reference(c, c->params);
  uint64_t counters[3] = {7, UINT64_C(0xFFFFFFFFFFFFFFFF), 0};
  elign_checkpoint_set_rng(c, UINT64_C(0x8000000000000001), 3, counters);
  elign_checkpoint_set_config(c, "train:\n  learning_rate: 1e-5\n");
  int64_t hn[3] = {3, 17, 29}, hc[3] = {2, 3974, 6};
  elign_checkpoint_set_nodes_hist(c, 3, hn, hc);
  c->iteration = 12;
  c->optimizer_step = 42;
  c->epoch = 1;
}

static void test_round_trip(void) {
  elign_checkpoint a, b;
  elign_error err;
  make_checkpoint(&a, 0, 1.0f);
  CHECK(elign_checkpoint_write(&a, "ckpt_rt.h5", &err) == ELIGN_OK);
  CHECK(access("ckpt_rt.h5", F_OK) == 0);
  elign_status st = elign_checkpoint_read(&b, "ckpt_rt.h5", &err);
  CHECK(st == ELIGN_OK);
  if (st != ELIGN_OK) {
    fprintf(stderr, "%s\n", err.msg);
    return;
  }
  CHECK(b.n_attrs == a.n_attrs);
  int64_t i64;
  double d, nf[3];
  const char *s;
  CHECK(elign_checkpoint_get_int(&b, "n_layers", &i64, &err) == ELIGN_OK && i64 == 9);
  CHECK(elign_checkpoint_get_double(&b, "hidden", &d, &err) == ELIGN_OK && d == 256.0); /* int read as double */
  CHECK(elign_checkpoint_get_double(&b, "noise_precision", &d, &err) == ELIGN_OK && d == 1e-5);
  CHECK(elign_checkpoint_get_doubles(&b, "normalize_factors", 3, nf, &err) == ELIGN_OK && nf[0] == 1.0 &&
        nf[1] == 4.0 && nf[2] == 10.0);
  CHECK(elign_checkpoint_get_string(&b, "atom_decoder", &s, &err) == ELIGN_OK && strcmp(s, "H,C,N,O,F") == 0);
  CHECK(elign_checkpoint_get_int(&b, "aggregation", &i64, &err) == ELIGN_ERR_FORMAT && strstr(err.msg, "aggregation"));
  CHECK(elign_checkpoint_get_int(&b, "missing_key", &i64, &err) == ELIGN_ERR_FORMAT && strstr(err.msg, "missing_key"));
  CHECK(b.n_params == a.n_params);
  CHECK(memcmp(b.params, a.params, (size_t)a.n_params * sizeof(float)) == 0);
  CHECK(b.opt_m && memcmp(b.opt_m, a.opt_m, (size_t)a.n_params * sizeof(float)) == 0);
  CHECK(b.opt_v && memcmp(b.opt_v, a.opt_v, (size_t)a.n_params * sizeof(float)) == 0);
  CHECK(b.reference && memcmp(b.reference, a.reference, (size_t)a.n_params * sizeof(float)) == 0);
  CHECK(b.opt_vmax && memcmp(b.opt_vmax, a.opt_v, (size_t)a.n_params * sizeof(float)) == 0);
  CHECK(b.ema && memcmp(b.ema, a.opt_m, (size_t)a.n_params * sizeof(float)) == 0 && b.ema_decay == 0.9999);
  CHECK(b.n_clip == 3 && b.clip_queue[0] == 12.5 && b.clip_queue[1] == 3000.0 && b.clip_queue[2] == 0.25);
  CHECK(strcmp(b.opt_kind, "adamw") == 0 && b.opt_step == 42);
  CHECK(b.iteration == 12 && b.optimizer_step == 42 && b.epoch == 1);
  CHECK(b.rng_seed == UINT64_C(0x8000000000000001));
  CHECK(b.n_rng_counters == 3 && b.rng_counters[1] == UINT64_C(0xFFFFFFFFFFFFFFFF) && b.rng_counters[0] == 7);
  CHECK(b.config_text && strcmp(b.config_text, a.config_text) == 0);
  CHECK(b.n_hist == 3 && b.hist_n_atoms[1] == 17 && b.hist_count[1] == 3974);
  CHECK(b.n_views == 2);
  const elign_ckpt_view *v = elign_checkpoint_find_view(&b, "dynamics.egnn.embedding.bias");
  CHECK(v && v->offset == 256 * 6 && v->ndim == 1 && v->shape[0] == 256 && v->size == 256);
  v = elign_checkpoint_find_view(&b, "dynamics.egnn.embedding.weight");
  CHECK(v && v->offset == 0 && v->ndim == 2 && v->shape[0] == 256 && v->shape[1] == 6);
  CHECK(elign_checkpoint_find_view(&b, "nope") == NULL);
  /* no temporary files left next to it */
  CHECK(system("ls ckpt_rt.h5.tmp.* >/dev/null 2>&1") != 0);
  elign_checkpoint_free(&a);
  elign_checkpoint_free(&b);
}

static void test_view_validation(void) {
  elign_checkpoint c;
  elign_error err;
  elign_checkpoint_init(&c);
  elign_checkpoint_set_params(&c, 10, NULL);
  int64_t s5[1] = {5}, s6[1] = {6}, bad[5] = {1, 1, 1, 1, 1};
  CHECK(elign_checkpoint_add_view(&c, "a", 0, 1, s5, &err) == ELIGN_OK);
  CHECK(elign_checkpoint_add_view(&c, "b", 5, 1, s6, &err) == ELIGN_ERR_ARG && strstr(err.msg, "outside"));
  CHECK(elign_checkpoint_add_view(&c, "a", 5, 1, s5, &err) == ELIGN_ERR_ARG && strstr(err.msg, "twice"));
  CHECK(elign_checkpoint_add_view(&c, "c", 0, 5, bad, &err) == ELIGN_ERR_ARG);
  CHECK(elign_checkpoint_add_view(&c, "scalar", 9, 0, NULL, &err) == ELIGN_OK);
  CHECK(elign_checkpoint_find_view(&c, "scalar")->size == 1);
  elign_checkpoint_free(&c);
}

/* Copy the first `len` bytes of src to dst. */
static void truncate_copy(const char *src, const char *dst, long len) {
  FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
  for (long i = 0; i < len; i++) {
    int ch = fgetc(in);
    if (ch == EOF) break;
    fputc(ch, out);
  }
  fclose(in);
  fclose(out);
}

static void test_truncated_and_foreign(void) {
  FILE *f = fopen("ckpt_rt.h5", "rb");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fclose(f);
  long cuts[] = {0, 1, 8, 100, 512, 2048, size / 3, size / 2, size - 1000, size - 1};
  for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
    truncate_copy("ckpt_rt.h5", "ckpt_cut.h5", cuts[k]);
    elign_checkpoint c;
    elign_error err;
    elign_error_clear(&err);
    elign_status st = elign_checkpoint_read(&c, "ckpt_cut.h5", &err);
    CHECK(st == ELIGN_ERR_FORMAT);
    /* Shorter than the superblock: not HDF5 at all; longer: the stored end of file names the cut. */
    if (cuts[k] < 48) CHECK(strcmp(err.msg, "ckpt_cut.h5: not an HDF5 file") == 0);
    else CHECK(strstr(err.msg, "ckpt_cut.h5: truncated (the HDF5 superblock says ") == err.msg);
    if (st != ELIGN_ERR_FORMAT) fprintf(stderr, "cut at %ld: status %d '%s'\n", cuts[k], st, err.msg);
    elign_checkpoint_free(&c);
  }
  /* A dataset-kind file is not a checkpoint. */
  elign_h5_writer w;
  elign_error err;
  CHECK(elign_h5_writer_create(&w, "not_a_model.h5", "dataset", 1, &err) == ELIGN_OK);
  CHECK(elign_h5_writer_commit(&w, &err) == ELIGN_OK);
  elign_checkpoint c;
  CHECK(elign_checkpoint_read(&c, "not_a_model.h5", &err) == ELIGN_ERR_FORMAT);
  CHECK(strstr(err.msg, "is an Elign-C dataset file, expected a model file") != NULL);
  elign_checkpoint_free(&c);
  /* A newer format version is refused with the numbers named. */
  CHECK(elign_h5_writer_create(&w, "future_model.h5", "model", 99, &err) == ELIGN_OK);
  CHECK(elign_h5_writer_commit(&w, &err) == ELIGN_OK);
  CHECK(elign_checkpoint_read(&c, "future_model.h5", &err) == ELIGN_ERR_FORMAT && strstr(err.msg, "version 99"));
  elign_checkpoint_free(&c);
}

/* A failing write (an attribute HDF5 refuses) leaves the previous file intact. */
static void test_failed_write_keeps_old(void) {
  elign_checkpoint a, b;
  elign_error err;
  make_checkpoint(&a, 0, 1.0f);
  CHECK(elign_checkpoint_write(&a, "ckpt_keep.h5", &err) == ELIGN_OK);
  elign_checkpoint_set_int(&a, "", 1); /* empty attribute name: HDF5 fails */
  a.params[0] = 1234.0f;
  CHECK(elign_checkpoint_write(&a, "ckpt_keep.h5", &err) != ELIGN_OK);
  CHECK(strstr(err.msg, "ckpt_keep.h5") != NULL);
  CHECK(elign_checkpoint_read(&b, "ckpt_keep.h5", &err) == ELIGN_OK && b.params[0] == 0.0f);
  CHECK(system("ls ckpt_keep.h5.tmp.* >/dev/null 2>&1") != 0);
  elign_checkpoint_free(&a);
  elign_checkpoint_free(&b);
}

/* Kill a process that rewrites a ~40 MB checkpoint in a loop at random
 * moments: the final name must always hold a complete, readable checkpoint. */
static void test_atomic_under_kill(void) {
  elign_checkpoint a;
  elign_error err;
  make_checkpoint(&a, 3000000, 1.0f);
  CHECK(elign_checkpoint_write(&a, "ckpt_kill.h5", &err) == ELIGN_OK);
  srand(12345);
  for (int round = 0; round < 6; round++) {
    pid_t pid = fork();
    if (pid == 0) {
      for (int k = 0;; k++) {
        a.params[0] = (float)(k + 1);
        elign_checkpoint_write(&a, "ckpt_kill.h5", &err);
      }
    }
    struct timespec ts = {0, (long)(20 + rand() % 200) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    elign_checkpoint b;
    elign_status st = elign_checkpoint_read(&b, "ckpt_kill.h5", &err);
    CHECK(st == ELIGN_OK);
    if (st != ELIGN_OK) fprintf(stderr, "round %d: %s\n", round, err.msg);
    CHECK(b.n_params == a.n_params && b.params[1] == a.params[1] && b.n_views == 3);
    elign_checkpoint_free(&b);
  }
  CHECK(system("rm -f ckpt_kill.h5.tmp.*") == 0); /* killed writers leave temporaries, never the final name */
  elign_checkpoint_free(&a);
}

int main(void) {
  test_round_trip();
  test_view_validation();
  test_truncated_and_foreign();
  test_failed_write_keeps_old();
  test_atomic_under_kill();
  return test_main_result("test_h5_checkpoint");
}
