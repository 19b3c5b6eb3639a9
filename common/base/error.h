/* error.h — status codes and the error context every libelign call fills.
 *
 * Rule (after xtb's environment object): library functions never print and
 * never end the process for bad input. They return an elign_status and, when
 * not ELIGN_OK, leave a message in the caller's elign_error naming the file,
 * line, key, molecule or rank at fault. The CLI layer prints it and exits
 * non-zero. Broken internal invariants (a bug, not bad input) abort through
 * ELIGN_ASSERT, which stays on in release builds.
 */
#ifndef ELIGN_ERROR_H
#define ELIGN_ERROR_H

#include <stddef.h>
#include <stdlib.h> /* free, for elign_free */

typedef enum {
  ELIGN_OK = 0,
  ELIGN_ERR_IO,          /* cannot open / read / write a file */
  ELIGN_ERR_FORMAT,      /* a file's content is malformed or foreign */
  ELIGN_ERR_CONFIG,      /* a config key, type or range is wrong */
  ELIGN_ERR_ARG,         /* a bad command-line or API argument */
  ELIGN_ERR_NOMEM,       /* allocation failed */
  ELIGN_ERR_MPI,         /* an MPI call failed or the world has the wrong shape */
  ELIGN_ERR_BACKEND,     /* an oracle / external library failed */
  ELIGN_ERR_UNSUPPORTED, /* valid request this build or model cannot serve */
  ELIGN_ERR_NUMERIC,     /* NaN/Inf or another numerical failure */
  ELIGN_ERR_TIMEOUT      /* another rank did not answer within mpi.timeout: the job cannot go on */
} elign_status;

#define ELIGN_ERROR_MSG_LEN 1024
#define ELIGN_ERROR_HINT_LEN 512

typedef struct {
  elign_status status;
  char msg[ELIGN_ERROR_MSG_LEN];   /* what went wrong, naming the file/key/molecule */
  char hint[ELIGN_ERROR_HINT_LEN]; /* optional: what to do about it ("" if none) */
  const char *src_file;            /* where in our source it was raised (debugging) */
  int src_line;
} elign_error;

/* Clear the context (status OK, empty strings). Accepts NULL. */
void elign_error_clear(elign_error *err);

/* Record an error (printf-style message) and return `status`, so a caller can
 * write `return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open", path);`.
 * A NULL err is allowed (the message is then dropped). The message is kept
 * on one line: control characters it echoes from an input (newlines,
 * carriage returns; not tabs) become spaces. elign_error_prefix likewise. */
elign_status elign_error_set(elign_error *err, elign_status status, const char *src_file,
                             int src_line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define ELIGN_FAIL(err, status, ...) elign_error_set((err), (status), __FILE__, __LINE__, __VA_ARGS__)

/* Attach a hint ("HINT: ...") to an error already set. */
void elign_error_hint(elign_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the current message with context, e.g. "config demo.yaml: " + msg. */
void elign_error_prefix(elign_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *elign_status_string(elign_status status);

/* Print "elign: error: <msg>" (+ hint) to stderr. */
void elign_error_print(const elign_error *err);

/* Invariant check that survives NDEBUG; prints file:line and aborts.
 * One statement (no dangling-else trap). */
_Noreturn void elign_abort(const char *src_file, int src_line, const char *what);
#define ELIGN_ASSERT(cond)                                                   \
  do {                                                                       \
    if (!(cond)) elign_abort(__FILE__, __LINE__, "assertion failed: " #cond); \
  } while (0)

/* Allocation that aborts with a label on out-of-memory (an OOM is not bad
 * input that a caller could handle). Zero-size requests return a valid
 * pointer. elign_free accepts NULL. */
void *elign_malloc(size_t bytes, const char *label);
/* The same on a 64-byte boundary (a cache line, an AVX-512 vector): for
 * arrays whose rows the vector kernels load whole, where a row split over
 * two lines costs two loads (malloc gives 16 bytes). Freed by elign_free. */
void *elign_malloc_aligned(size_t bytes, const char *label);
void *elign_calloc(size_t count, size_t size, const char *label);
void *elign_realloc(void *ptr, size_t bytes, const char *label);
char *elign_strdup(const char *s, const char *label);
#define elign_free(p) do { free(p); (p) = NULL; } while (0)

#endif
