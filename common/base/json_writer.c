/* json_writer.c — see json_writer.h. */
#include "common/base/json_writer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/error.h"

void elign_jw_init(elign_json_writer *w, FILE *f, int pretty) {
  memset(w, 0, sizeof *w);
  w->f = f;
  w->pretty = pretty;
}

static void out(elign_json_writer *w, const char *s) {
  if (fputs(s, w->f) == EOF) w->failed = 1;
}

static void out_string(elign_json_writer *w, const char *s) {
  out(w, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char buf[8];
    switch (*p) {
      case '"': out(w, "\\\""); break;
      case '\\': out(w, "\\\\"); break;
      case '\n': out(w, "\\n"); break;
      case '\r': out(w, "\\r"); break;
      case '\t': out(w, "\\t"); break;
      default:
        if (*p < 0x20) {
          snprintf(buf, sizeof buf, "\\u%04x", *p);
        } else {
          buf[0] = (char)*p;
          buf[1] = '\0';
        }
        out(w, buf);
    }
  }
  out(w, "\"");
}

static void newline_indent(elign_json_writer *w, int depth) {
  if (!w->pretty) return;
  out(w, "\n");
  for (int i = 0; i < depth; i++) out(w, "  ");
}

/* Comma, line break and key before an item of the innermost container. */
static void item_start(elign_json_writer *w, const char *key) {
  if (w->depth == 0) {
    ELIGN_ASSERT(key == NULL);
    return;
  }
  int d = w->depth - 1;
  ELIGN_ASSERT(w->kind[d] == 'o' ? key != NULL : key == NULL);
  if (w->count[d]++ > 0) out(w, ",");
  if (w->pretty)
    newline_indent(w, w->depth);
  else if (w->count[d] > 1)
    out(w, " ");
  if (key) {
    out_string(w, key);
    out(w, ": ");
  }
}

static void begin(elign_json_writer *w, const char *key, char kind) {
  ELIGN_ASSERT(w->depth < ELIGN_JW_MAX_DEPTH);
  item_start(w, key);
  out(w, kind == 'o' ? "{" : "[");
  w->kind[w->depth] = kind;
  w->count[w->depth] = 0;
  w->depth++;
}

void elign_jw_begin_object(elign_json_writer *w, const char *key) { begin(w, key, 'o'); }
void elign_jw_begin_array(elign_json_writer *w, const char *key) { begin(w, key, 'a'); }

void elign_jw_end(elign_json_writer *w) {
  ELIGN_ASSERT(w->depth > 0);
  w->depth--;
  if (w->count[w->depth] > 0) newline_indent(w, w->depth);
  out(w, w->kind[w->depth] == 'o' ? "}" : "]");
  if (w->depth == 0 && w->pretty) out(w, "\n");
}

void elign_json_format_double(double value, char *buf, size_t cap) {
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(buf, cap, "%.*g", digits, value);
    if (strtod(buf, NULL) == value) break;
  }
  if (!strpbrk(buf, ".e") && strlen(buf) + 3 <= cap) strcat(buf, ".0");
}

void elign_jw_number(elign_json_writer *w, const char *key, double value) {
  item_start(w, key);
  if (!isfinite(value)) {
    out(w, "null");
    return;
  }
  char buf[40];
  elign_json_format_double(value, buf, sizeof buf);
  out(w, buf);
}

void elign_jw_int(elign_json_writer *w, const char *key, long long value) {
  item_start(w, key);
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", value);
  out(w, buf);
}

void elign_jw_bool(elign_json_writer *w, const char *key, int value) {
  item_start(w, key);
  out(w, value ? "true" : "false");
}

void elign_jw_string(elign_json_writer *w, const char *key, const char *value) {
  item_start(w, key);
  if (value)
    out_string(w, value);
  else
    out(w, "null");
}

void elign_jw_null(elign_json_writer *w, const char *key) {
  item_start(w, key);
  out(w, "null");
}

int elign_jw_error(const elign_json_writer *w) { return w->failed; }
