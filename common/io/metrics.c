/* metrics.c — the JSON Lines writer of metrics.h. */
#include "common/io/metrics.h"

#include "common/base/atomic_file.h"
#include "common/base/provenance.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct elign_metrics {
  FILE *file;
  char *path;
  char *line;      /* the record being built, NUL-terminated */
  size_t len, cap; /* bytes used (without the NUL) and allocated */
  int in_record;   /* between begin and end */
  int n_fields;    /* fields in the current record (for the commas) */
  int repaired;    /* open terminated a torn last line */
};

/* ---- the line buffer ----------------------------------------------------- */

static void buf_reserve(elign_metrics *m, size_t extra) {
  if (m->len + extra + 1 <= m->cap) return;
  size_t cap = m->cap ? m->cap : 256;
  while (cap < m->len + extra + 1) cap *= 2;
  m->line = elign_realloc(m->line, cap, "metrics:line");
  m->cap = cap;
}

static void buf_add(elign_metrics *m, const char *text, size_t n) {
  buf_reserve(m, n);
  memcpy(m->line + m->len, text, n);
  m->len += n;
  m->line[m->len] = '\0';
}

static void buf_addf(elign_metrics *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_addf(elign_metrics *m, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  ELIGN_ASSERT(n >= 0 && (size_t)n < sizeof tmp); /* only numbers go through here */
  buf_add(m, tmp, (size_t)n);
}

/* A JSON string: quotes, backslashes and control characters escaped; other
 * bytes (UTF-8 included) pass through. */
static void buf_add_json_string(elign_metrics *m, const char *s) {
  buf_add(m, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    switch (*c) {
      case '"': buf_add(m, "\\\"", 2); break;
      case '\\': buf_add(m, "\\\\", 2); break;
      case '\n': buf_add(m, "\\n", 2); break;
      case '\r': buf_add(m, "\\r", 2); break;
      case '\t': buf_add(m, "\\t", 2); break;
      case '\b': buf_add(m, "\\b", 2); break;
      case '\f': buf_add(m, "\\f", 2); break;
      default:
        if (*c < 0x20 || *c == 0x7f)
          buf_addf(m, "\\u%04x", *c);
        else
          buf_add(m, (const char *)c, 1);
    }
  }
  buf_add(m, "\"", 1);
}

static void field_key(elign_metrics *m, const char *key) {
  ELIGN_ASSERT(m && m->in_record && key);
  if (m->n_fields++ > 0) buf_add(m, ", ", 2);
  buf_add_json_string(m, key);
  buf_add(m, ": ", 2);
}

/* ---- open / close -------------------------------------------------------- */

/* If the file's last byte is not a newline, an earlier run died mid-line. */
static int ends_torn(FILE *f) {
  if (fseek(f, 0, SEEK_END) != 0) return 0;
  long size = ftell(f);
  if (size <= 0) return 0;
  if (fseek(f, -1, SEEK_END) != 0) return 0;
  int last = fgetc(f);
  return last != '\n';
}

/* RUN/provenance.json: the provenance record of the process that appends to
 * the metrics log from its current line on (a resumed run rewrites it; the
 * line it starts at says which lines it covers). Atomic. */
static elign_status write_provenance(const char *run_dir, const char *file_name, FILE *log, elign_error *err) {
  int64_t lines = 0;
  rewind(log);
  for (int c; (c = fgetc(log)) != EOF;) lines += c == '\n';
  fseek(log, 0, SEEK_END);
  char path[4200];
  snprintf(path, sizeof path, "%s/provenance.json", run_dir);
  elign_atomic_file a;
  FILE *f;
  elign_status st = elign_atomic_fopen(&a, path, &f, err);
  if (st) return st;
  char *rec = elign_provenance_json();
  fprintf(f, "{\"metrics\": \"%s\", \"from_line\": %lld,\n \"provenance\": %s\n}\n", file_name, (long long)lines + 1, rec);
  free(rec);
  return elign_atomic_fclose(&a, f, err);
}

elign_metrics *elign_metrics_open(const char *run_dir, const char *file_name, elign_error *err) {
  size_t n = strlen(run_dir) + strlen(file_name) + 2;
  char *path = elign_malloc(n, "metrics:path");
  snprintf(path, n, "%s/%s", run_dir, file_name);
  /* "a+": every write appends (earlier lines are never touched); reading is
   * only for the torn-line check. */
  FILE *f = fopen(path, "a+");
  if (!f) {
    ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open the metrics file for appending: %s", path, strerror(errno));
    elign_free(path);
    return NULL;
  }
  elign_metrics *m = elign_calloc(1, sizeof *m, "metrics");
  m->file = f;
  m->path = path;
  if (ends_torn(f)) {
    m->repaired = 1;
    if (fputc('\n', f) == EOF || fflush(f) != 0) {
      ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot append to the metrics file: %s", path, strerror(errno));
      elign_metrics_close(&m);
      return NULL;
    }
  }
  if (write_provenance(run_dir, file_name, f, err)) {
    elign_metrics_close(&m);
    return NULL;
  }
  return m;
}

const char *elign_metrics_path(const elign_metrics *m) { return m->path; }

int elign_metrics_repaired_torn_line(const elign_metrics *m) { return m->repaired; }

void elign_metrics_close(elign_metrics **m) {
  if (!m || !*m) return;
  if ((*m)->file) fclose((*m)->file);
  elign_free((*m)->path);
  elign_free((*m)->line);
  elign_free(*m);
}

/* ---- records ------------------------------------------------------------- */

void elign_metrics_begin(elign_metrics *m) {
  ELIGN_ASSERT(m && !m->in_record);
  m->in_record = 1;
  m->n_fields = 0;
  m->len = 0;
  buf_add(m, "{", 1);
}

void elign_metrics_int(elign_metrics *m, const char *key, long long value) {
  field_key(m, key);
  buf_addf(m, "%lld", value);
}

void elign_metrics_double(elign_metrics *m, const char *key, double value) {
  field_key(m, key);
  if (!isfinite(value)) { /* JSON has no NaN or Infinity */
    buf_add(m, "null", 4);
    return;
  }
  /* Shortest of 15..17 significant digits that reads back as the same double. */
  char tmp[40];
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(tmp, sizeof tmp, "%.*g", digits, value);
    if (strtod(tmp, NULL) == value) break;
  }
  /* "3" or "-0" would read back as integers (and lose the sign of zero):
   * keep doubles recognisable as doubles. */
  if (!strpbrk(tmp, ".e")) strcat(tmp, ".0");
  buf_add(m, tmp, strlen(tmp));
}

void elign_metrics_bool(elign_metrics *m, const char *key, int value) {
  field_key(m, key);
  if (value)
    buf_add(m, "true", 4);
  else
    buf_add(m, "false", 5);
}

void elign_metrics_string(elign_metrics *m, const char *key, const char *value) {
  field_key(m, key);
  if (value)
    buf_add_json_string(m, value);
  else
    buf_add(m, "null", 4);
}

elign_status elign_metrics_end(elign_metrics *m, elign_error *err) {
  ELIGN_ASSERT(m && m->in_record);
  m->in_record = 0;
  buf_add(m, "}\n", 2);
  /* One fwrite of the whole line, then flush: a crash leaves whole lines. */
  size_t written = fwrite(m->line, 1, m->len, m->file);
  if (written != m->len || fflush(m->file) != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot write a metrics line: %s", m->path, strerror(errno));
  return ELIGN_OK;
}
