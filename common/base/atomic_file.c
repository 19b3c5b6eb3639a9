/* atomic_file.c — temporary name, fsync, rename (atomic_file.h). */
#include "common/base/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* ---- the live temporaries, for elign_atomic_discard_all ------------------ */

#define ATOMIC_LIVE_MAX 16
static char live_path[ATOMIC_LIVE_MAX][ELIGN_ATOMIC_PATH_MAX];
static volatile sig_atomic_t live_used[ATOMIC_LIVE_MAX];

static void live_add(const char *tmp) {
  for (int i = 0; i < ATOMIC_LIVE_MAX; i++)
    if (!live_used[i]) {
      snprintf(live_path[i], sizeof live_path[i], "%s", tmp);
      live_used[i] = 1; /* only once the path is complete */
      return;
    }
}

static void live_remove(const char *tmp) {
  for (int i = 0; i < ATOMIC_LIVE_MAX; i++)
    if (live_used[i] && strcmp(live_path[i], tmp) == 0) {
      live_used[i] = 0;
      return;
    }
}

void elign_atomic_discard_all(void) {
  for (int i = 0; i < ATOMIC_LIVE_MAX; i++)
    if (live_used[i]) {
      unlink(live_path[i]);
      live_used[i] = 0;
    }
}

/* ---- one atomic file ----------------------------------------------------- */

elign_status elign_atomic_begin(elign_atomic_file *a, const char *path, long tag, elign_error *err) {
  a->final_path[0] = a->tmp_path[0] = '\0';
  if (strlen(path) + 32 >= ELIGN_ATOMIC_PATH_MAX) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: path too long", path);
  snprintf(a->final_path, sizeof a->final_path, "%s", path);
  snprintf(a->tmp_path, sizeof a->tmp_path, "%s.tmp.%ld", path, tag);
  live_add(a->tmp_path);
  return ELIGN_OK;
}

elign_status elign_atomic_fopen(elign_atomic_file *a, const char *path, FILE **f, elign_error *err) {
  *f = NULL;
  elign_status st = elign_atomic_begin(a, path, (long)getpid(), err);
  if (st != ELIGN_OK) return st;
  *f = fopen(a->tmp_path, "w");
  if (!*f) {
    ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot create (temporary %s): %s", path, a->tmp_path, strerror(errno));
    live_remove(a->tmp_path);
    a->tmp_path[0] = '\0';
    return ELIGN_ERR_IO;
  }
  return ELIGN_OK;
}

static void sync_directory_of(const char *path) {
  char dir[ELIGN_ATOMIC_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  int dfd = open(dirname(dir), O_RDONLY);
  if (dfd >= 0) {
    fsync(dfd); /* best effort: some file systems refuse fsync on directories */
    close(dfd);
  }
}

elign_status elign_atomic_publish(elign_atomic_file *a, elign_error *err) {
  int fd = open(a->tmp_path, O_RDONLY);
  if (fd < 0 || fsync(fd) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot sync %s: %s", a->final_path, a->tmp_path, strerror(e));
    elign_atomic_discard(a);
    return ELIGN_ERR_IO;
  }
  close(fd);
  if (rename(a->tmp_path, a->final_path) != 0) {
    int e = errno;
    ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot rename from %s: %s", a->final_path, a->tmp_path, strerror(e));
    elign_atomic_discard(a);
    return ELIGN_ERR_IO;
  }
  live_remove(a->tmp_path);
  a->tmp_path[0] = '\0';
  sync_directory_of(a->final_path);
  return ELIGN_OK;
}

elign_status elign_atomic_fclose(elign_atomic_file *a, FILE *f, elign_error *err) {
  int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
  int e = errno;
  bad |= fclose(f) != 0;
  if (bad) {
    if (!e) e = errno;
    elign_atomic_discard(a);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot write: %s", a->final_path, strerror(e));
  }
  return elign_atomic_publish(a, err);
}

void elign_atomic_discard(elign_atomic_file *a) {
  if (a->tmp_path[0]) {
    unlink(a->tmp_path);
    live_remove(a->tmp_path);
  }
  a->tmp_path[0] = '\0';
}

void elign_atomic_forget(elign_atomic_file *a) {
  if (a->tmp_path[0]) live_remove(a->tmp_path);
  a->tmp_path[0] = '\0';
}
