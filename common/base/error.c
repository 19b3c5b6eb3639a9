/* error.c — the error context, invariant aborts and checked allocation. */
#include "common/base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void elign_error_clear(elign_error *err) {
  if (!err) return;
  err->status = ELIGN_OK;
  err->msg[0] = '\0';
  err->hint[0] = '\0';
  err->src_file = NULL;
  err->src_line = 0;
}

/* A message is one line: control characters that a message may echo from
 * its input (a newline inside a YAML scalar, a carriage return in a text
 * file) become spaces. Tabs stay (they separate QM9 columns). */
static void one_line(char *msg) {
  for (unsigned char *p = (unsigned char *)msg; *p; p++)
    if ((*p < 0x20 && *p != '\t') || *p == 0x7f) *p = ' ';
}

elign_status elign_error_set(elign_error *err, elign_status status, const char *src_file,
                             int src_line, const char *fmt, ...) {
  if (!err) return status;
  err->status = status;
  err->hint[0] = '\0';
  err->src_file = src_file;
  err->src_line = src_line;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  one_line(err->msg);
  return status;
}

void elign_error_hint(elign_error *err, const char *fmt, ...) {
  if (!err) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->hint, sizeof err->hint, fmt, ap);
  va_end(ap);
}

void elign_error_prefix(elign_error *err, const char *fmt, ...) {
  if (!err) return;
  char prefix[ELIGN_ERROR_MSG_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  /* Keep as much of the prefix and the message as fits; truncation is fine here. */
  char joined[2 * ELIGN_ERROR_MSG_LEN];
  snprintf(joined, sizeof joined, "%s%s", prefix, err->msg);
  snprintf(err->msg, sizeof err->msg, "%.*s", (int)sizeof err->msg - 1, joined);
  one_line(err->msg);
}

const char *elign_status_string(elign_status status) {
  switch (status) {
    case ELIGN_OK: return "ok";
    case ELIGN_ERR_IO: return "I/O error";
    case ELIGN_ERR_FORMAT: return "bad file format";
    case ELIGN_ERR_CONFIG: return "config error";
    case ELIGN_ERR_ARG: return "bad argument";
    case ELIGN_ERR_NOMEM: return "out of memory";
    case ELIGN_ERR_MPI: return "MPI error";
    case ELIGN_ERR_BACKEND: return "backend failure";
    case ELIGN_ERR_UNSUPPORTED: return "unsupported";
    case ELIGN_ERR_NUMERIC: return "numerical failure";
    case ELIGN_ERR_TIMEOUT: return "a rank did not answer in time";
  }
  return "unknown status";
}

void elign_error_print(const elign_error *err) {
  if (!err || err->status == ELIGN_OK) return;
  fprintf(stderr, "elign: error: %s\n", err->msg[0] ? err->msg : elign_status_string(err->status));
  if (err->hint[0]) fprintf(stderr, "HINT: %s\n", err->hint);
}

_Noreturn void elign_abort(const char *src_file, int src_line, const char *what) {
  fprintf(stderr, "elign: internal error at %s:%d: %s\n", src_file, src_line, what);
  fflush(stderr);
  abort();
}

static void *check_alloc(void *p, size_t bytes, const char *label) {
  if (!p) {
    fprintf(stderr, "elign: out of memory allocating %zu bytes for %s\n", bytes, label ? label : "?");
    fflush(stderr);
    abort();
  }
  return p;
}

void *elign_malloc(size_t bytes, const char *label) {
  return check_alloc(malloc(bytes ? bytes : 1), bytes, label);
}

void *elign_malloc_aligned(size_t bytes, const char *label) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? bytes : 1)) p = NULL;
  return check_alloc(p, bytes, label);
}

void *elign_calloc(size_t count, size_t size, const char *label) {
  if (count == 0 || size == 0) count = size = 1;
  return check_alloc(calloc(count, size), count * size, label);
}

void *elign_realloc(void *ptr, size_t bytes, const char *label) {
  return check_alloc(realloc(ptr, bytes ? bytes : 1), bytes, label);
}

char *elign_strdup(const char *s, const char *label) {
  size_t n = strlen(s) + 1;
  char *d = elign_malloc(n, label);
  memcpy(d, s, n);
  return d;
}
