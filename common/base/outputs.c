/* outputs.c — refuse outputs that would destroy inputs or existing files (outputs.h). */
#include "common/base/outputs.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* What identifies a file: device + inode if it exists, else the path with
 * its directory resolved. */
typedef struct {
  int exists;
  struct stat st;
  int dir_ok;                /* the containing directory exists and is a directory */
  char dir[PATH_MAX];        /* that directory, resolved if dir_ok */
  char resolved[PATH_MAX + NAME_MAX + 2];
} file_id;

static void file_id_of(const char *path, file_id *id) {
  memset(id, 0, sizeof *id);
  id->exists = stat(path, &id->st) == 0;
  char a[PATH_MAX], b[PATH_MAX];
  snprintf(a, sizeof a, "%s", path);
  snprintf(b, sizeof b, "%s", path);
  const char *dir = dirname(a), *base = basename(b);
  struct stat ds;
  if (realpath(dir, id->dir) && stat(id->dir, &ds) == 0 && S_ISDIR(ds.st_mode)) {
    id->dir_ok = 1;
    snprintf(id->resolved, sizeof id->resolved, "%s/%s", strcmp(id->dir, "/") == 0 ? "" : id->dir, base);
  } else {
    snprintf(id->dir, sizeof id->dir, "%s", dir);
    snprintf(id->resolved, sizeof id->resolved, "%s", path);
  }
}

static int file_id_same(const file_id *x, const file_id *y) {
  if (x->exists && y->exists) return x->st.st_dev == y->st.st_dev && x->st.st_ino == y->st.st_ino;
  return strcmp(x->resolved, y->resolved) == 0;
}

int elign_same_file(const char *a, const char *b) {
  file_id x, y;
  file_id_of(a, &x);
  file_id_of(b, &y);
  return file_id_same(&x, &y);
}

static elign_status check_output(const elign_file_arg *out, const file_id *id, int force, elign_error *err) {
  if (!id->dir_ok)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s %s: directory %s does not exist", out->role, out->path, id->dir);
  if (!id->exists) return ELIGN_OK;
  if (!S_ISREG(id->st.st_mode)) {
    ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s %s exists and is not a regular file: refusing to replace it", out->role,
               out->path);
    elign_error_hint(err, "name a new file; outputs are written to a temporary file and renamed over the final name");
    return ELIGN_ERR_ARG;
  }
  if (!force) {
    ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s %s exists: refusing to overwrite it", out->role, out->path);
    elign_error_hint(err, "pass --force to replace it (the old file stays until the new one is complete)");
    return ELIGN_ERR_ARG;
  }
  return ELIGN_OK;
}

elign_status elign_outputs_check(const elign_file_arg *outputs, int n_outputs, const elign_file_arg *inputs,
                                 int n_inputs, int force, elign_error *err) {
  file_id out, other;
  for (int i = 0; i < n_outputs; i++) {
    if (!outputs[i].path) continue;
    file_id_of(outputs[i].path, &out);
    for (int j = 0; j < n_inputs; j++) {
      if (!inputs[j].path) continue;
      file_id_of(inputs[j].path, &other);
      if (file_id_same(&out, &other)) {
        ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s %s is the same file as %s %s: refusing to overwrite an input",
                   outputs[i].role, outputs[i].path, inputs[j].role, inputs[j].path);
        elign_error_hint(err, "write the output under another name");
        return ELIGN_ERR_ARG;
      }
    }
    for (int j = 0; j < i; j++) {
      if (!outputs[j].path) continue;
      file_id_of(outputs[j].path, &other);
      if (file_id_same(&out, &other))
        return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s %s and %s %s are the same file: each output needs its own name",
                          outputs[j].role, outputs[j].path, outputs[i].role, outputs[i].path);
    }
    elign_status st = check_output(&outputs[i], &out, force, err);
    if (st != ELIGN_OK) return st;
  }
  return ELIGN_OK;
}

elign_status elign_run_dir_check(const char *dir, const char *role, int resume, int force, elign_error *err) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    if (errno == ENOENT) return ELIGN_OK; /* the run creates it */
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s %s: %s", role, dir, strerror(errno));
  }
  if (!S_ISDIR(st.st_mode))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s %s exists and is not a directory", role, dir);
  DIR *d = opendir(dir);
  if (!d) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s %s: cannot list: %s", role, dir, strerror(errno));
  char first[NAME_MAX + 1] = "";
  long n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n++ == 0) snprintf(first, sizeof first, "%s", e->d_name);
  }
  closedir(d);
  if (n == 0 || resume || force) return ELIGN_OK;
  ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s %s is not empty (%ld entr%s, e.g. '%s'): refusing to write a run over it", role,
             dir, n, n == 1 ? "y" : "ies", first);
  elign_error_hint(err, "pass --resume to continue that run, or --force to write over it");
  return ELIGN_ERR_ARG;
}
