/* fuzz_common.c — input files, the message contract and statistics (fuzz_common.h). */
#include "tests/fuzz/fuzz_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256], path[320];

static void remove_dir(void) {
  if (path[0]) unlink(path);
  if (dir[0]) rmdir(dir);
}

/* ---- statistics ---------------------------------------------------------------------------- */

#define MAX_CLASSES 4096

typedef struct {
  char text[200];
  long count;
} msg_class;

static msg_class classes[MAX_CLASSES];
static int n_classes;
static long n_inputs;

static void count_class(const char *text) {
  for (int i = 0; i < n_classes; i++)
    if (strcmp(classes[i].text, text) == 0) {
      classes[i].count++;
      return;
    }
  if (n_classes < MAX_CLASSES) {
    snprintf(classes[n_classes].text, sizeof classes[0].text, "%s", text);
    classes[n_classes++].count = 1;
  }
}

static int by_count(const void *a, const void *b) {
  const msg_class *x = a, *y = b;
  return (y->count > x->count) - (y->count < x->count);
}

static void write_stats(void) {
  const char *out = getenv("ELIGN_FUZZ_STATS");
  if (!out || !out[0]) return;
  FILE *f = fopen(out, "w");
  if (!f) return;
  qsort(classes, (size_t)n_classes, sizeof classes[0], by_count);
  fprintf(f, "# inputs %ld, message classes %d (digits -> N, the input's path -> FILE)\n", n_inputs, n_classes);
  for (int i = 0; i < n_classes; i++) fprintf(f, "%8ld  %s\n", classes[i].count, classes[i].text);
  fclose(f);
}

/* The message with the path replaced by FILE, every digit run by N and
 * every quoted echo of the input by '*'. */
static void classify(const char *msg, const char *p, char *out, size_t len) {
  size_t plen = strlen(p), o = 0;
  for (const char *s = msg; *s && o + 5 < len;) {
    if (strncmp(s, p, plen) == 0) {
      memcpy(out + o, "FILE", 4), o += 4, s += plen;
    } else if (*s == '\'' && strchr(s + 1, '\'')) {
      memcpy(out + o, "'*'", 3), o += 3, s = strchr(s + 1, '\'') + 1;
    } else if (*s >= '0' && *s <= '9') {
      out[o++] = 'N';
      while (*s >= '0' && *s <= '9') s++;
    } else {
      out[o++] = *s++;
    }
  }
  out[o] = '\0';
}

void fuzz_count_accepted(const char *what) {
  char text[200];
  snprintf(text, sizeof text, "(accepted by %s)", what);
  count_class(text);
}

/* ---- inputs and the contract ------------------------------------------------------------------ */

const char *fuzz_write_input(const uint8_t *data, size_t size, const char *suffix) {
  if (!dir[0]) {
    /* $TMPDIR if set, else /dev/shm (memory: inputs are written thousands of times a second) */
    struct stat sb;
    const char *base = getenv("TMPDIR");
    if (!base || !base[0]) base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/elign_fuzz.%ld", base, (long)getpid());
    if (mkdir(dir, 0700) != 0) fuzz_fail("cannot create %s", dir);
    atexit(remove_dir);
    atexit(write_stats);
  }
  snprintf(path, sizeof path, "%s/input%s", dir, suffix);
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) fuzz_fail("cannot write %s", path);
  n_inputs++;
  return path;
}

_Noreturn void fuzz_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz contract broken: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}

void fuzz_check_result(elign_status st, const elign_error *err, const char *p, const char *what) {
  if (st == ELIGN_OK) {
    fuzz_count_accepted(what);
    return;
  }
  if (st != err->status) fuzz_fail("%s: returned status %d but the message says %d", what, st, err->status);
  if (!err->msg[0]) fuzz_fail("%s: status %d without a message", what, st);
  if (strncmp(err->msg, p, strlen(p)) != 0) fuzz_fail("%s: the message does not begin with the file: '%s'", what, err->msg);
  if (strlen(err->msg) <= strlen(p) + 2) fuzz_fail("%s: an empty message: '%s'", what, err->msg);
  if (strchr(err->msg, '\n')) fuzz_fail("%s: a message of several lines: '%s'", what, err->msg);
  char text[200];
  classify(err->msg, p, text, sizeof text);
  count_class(text);
}
