/* test_outputs.c — outputs never destroy inputs (common/base/outputs.h):
 * an output that is an input under any name (same path, ./path, hard link,
 * symlink, a directory reached two ways) is refused naming both; two outputs
 * that are one file are refused; an existing output needs force; a
 * non-regular existing output (a directory, /dev/null) is refused even with
 * force; run directories need resume or force once they hold anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base/outputs.h"
#include "testutil.h"

static char dir[256];

static const char *at(const char *name) {
  static char buf[8][512];
  static int k = 0;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

static void touch(const char *path) {
  FILE *f = fopen(path, "w");
  fputs("x\n", f);
  fclose(f);
}

/* Check one call: expect OK (pattern NULL) or a refusal whose message holds pattern. */
static void expect(const elign_file_arg *outs, int n_out, const elign_file_arg *ins, int n_in, int force,
                   const char *pattern, const char *what) {
  elign_error err;
  elign_error_clear(&err);
  elign_status st = elign_outputs_check(outs, n_out, ins, n_in, force, &err);
  int ok = pattern ? st == ELIGN_ERR_ARG && strstr(err.msg, pattern) != NULL : st == ELIGN_OK;
  if (!ok) fprintf(stderr, "%s: status %d, message '%s'\n", what, (int)st, err.msg);
  CHECK(ok);
}

static void test_same_file(void) {
  touch(at("in.h5"));
  CHECK(link(at("in.h5"), at("hard.h5")) == 0);
  CHECK(symlink("in.h5", at("soft.h5")) == 0);
  CHECK(mkdir(at("sub"), 0755) == 0);
  char dotted[512];
  snprintf(dotted, sizeof dotted, "%s/sub/../in.h5", dir);
  const char *same[] = {at("in.h5"), at("hard.h5"), at("soft.h5"), dotted};
  for (int k = 0; k < 4; k++) {
    elign_file_arg out = {same[k], "--out"}, in[2] = {{NULL, "--unused"}, {at("in.h5"), "--model"}};
    expect(&out, 1, in, 2, 1, "is the same file as --model", same[k]); /* even with --force */
  }
  CHECK(elign_same_file(at("hard.h5"), at("in.h5")) == 1);
  CHECK(elign_same_file(at("new.h5"), at("sub/../new.h5")) == 1); /* neither exists: resolved paths */
  CHECK(elign_same_file(at("new.h5"), at("other.h5")) == 0);
  /* the message names both files */
  elign_error err;
  elign_error_clear(&err);
  elign_file_arg out = {at("soft.h5"), "--out"}, in = {at("in.h5"), "--in"};
  elign_outputs_check(&out, 1, &in, 1, 0, &err);
  CHECK(strstr(err.msg, "soft.h5") && strstr(err.msg, "in.h5") && strstr(err.msg, "--in"));
}

static void test_outputs_apart(void) {
  elign_file_arg in = {at("in.h5"), "--model"};
  elign_file_arg two[2] = {{at("s.h5"), "--out"}, {at("sub/../s.h5"), "--xyz"}};
  expect(two, 2, &in, 1, 0, "are the same file", "--out = --xyz (not existing)");
  elign_file_arg fine[3] = {{at("s.h5"), "--out"}, {NULL, "--sdf"}, {at("s.xyz"), "--xyz"}};
  expect(fine, 3, &in, 1, 0, NULL, "distinct new outputs");
  elign_file_arg nodir = {at("missing/s.h5"), "--out"};
  expect(&nodir, 1, &in, 1, 1, "does not exist", "output directory missing");
}

static void test_existing(void) {
  touch(at("old.h5"));
  elign_file_arg out = {at("old.h5"), "-o"};
  expect(&out, 1, NULL, 0, 0, "exists: refusing to overwrite", "existing output without --force");
  expect(&out, 1, NULL, 0, 1, NULL, "existing output with --force");
  elign_file_arg d = {at("sub"), "--out"};
  expect(&d, 1, NULL, 0, 1, "not a regular file", "a directory as output");
  elign_file_arg dev = {"/dev/null", "--xyz"};
  expect(&dev, 1, NULL, 0, 1, "not a regular file", "a device as output");
}

static void test_run_dir(void) {
  elign_error err;
  elign_error_clear(&err);
  CHECK(elign_run_dir_check(at("run_new"), "--run-dir", 0, 0, &err) == ELIGN_OK); /* absent: created later */
  CHECK(mkdir(at("run"), 0755) == 0);
  CHECK(elign_run_dir_check(at("run"), "--run-dir", 0, 0, &err) == ELIGN_OK); /* empty */
  touch(at("run/metrics.jsonl"));
  CHECK(elign_run_dir_check(at("run"), "--run-dir", 0, 0, &err) == ELIGN_ERR_ARG);
  CHECK(strstr(err.msg, "not empty") && strstr(err.msg, "metrics.jsonl") && strstr(err.hint, "--resume"));
  elign_error_clear(&err);
  CHECK(elign_run_dir_check(at("run"), "--run-dir", 1, 0, &err) == ELIGN_OK);
  CHECK(elign_run_dir_check(at("run"), "--run-dir", 0, 1, &err) == ELIGN_OK);
  CHECK(elign_run_dir_check(at("in.h5"), "--run-dir", 1, 1, &err) == ELIGN_ERR_ARG);
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/elign_outputs.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(dir)) return 1;
  test_same_file();
  test_outputs_apart();
  test_existing();
  test_run_dir();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return test_main_result("test_outputs");
}
