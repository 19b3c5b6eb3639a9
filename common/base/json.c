/* json.c — strict recursive-descent JSON reader with line numbers. */
#include "common/base/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 256

typedef struct {
  const char *p, *end;
  const char *source;
  int line;
  elign_error *err;
} json_parser;

static elign_status parse_value(json_parser *ps, elign_json *out, int depth);

static void skip_ws(json_parser *ps) {
  while (ps->p < ps->end) {
    char c = *ps->p;
    if (c == '\n') ps->line++;
    else if (c != ' ' && c != '\t' && c != '\r') return;
    ps->p++;
  }
}

static elign_status json_fail(json_parser *ps, const char *what) {
  if (ps->p >= ps->end)
    return ELIGN_FAIL(ps->err, ELIGN_ERR_FORMAT, "%s line %d: %s (at end of input)", ps->source, ps->line, what);
  return ELIGN_FAIL(ps->err, ELIGN_ERR_FORMAT, "%s line %d: %s (at '%c')", ps->source, ps->line, what, *ps->p);
}

static void put_utf8(char **q, unsigned cp) {
  char *o = *q;
  if (cp < 0x80) *o++ = (char)cp;
  else if (cp < 0x800) *o++ = (char)(0xC0 | (cp >> 6)), *o++ = (char)(0x80 | (cp & 0x3F));
  else if (cp < 0x10000)
    *o++ = (char)(0xE0 | (cp >> 12)), *o++ = (char)(0x80 | ((cp >> 6) & 0x3F)), *o++ = (char)(0x80 | (cp & 0x3F));
  else
    *o++ = (char)(0xF0 | (cp >> 18)), *o++ = (char)(0x80 | ((cp >> 12) & 0x3F)),
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F)), *o++ = (char)(0x80 | (cp & 0x3F));
  *q = o;
}

static int hex4(const char *s, unsigned *v) {
  *v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return 0;
    *v = *v * 16 + (unsigned)d;
  }
  return 1;
}

/* At the opening quote. The unescaped string is never longer than the raw one. */
static elign_status parse_string(json_parser *ps, char **out) {
  ps->p++;
  const char *start = ps->p;
  while (ps->p < ps->end && *ps->p != '"') {
    if (*ps->p == '\\') ps->p++;
    ps->p++;
  }
  if (ps->p >= ps->end) return json_fail(ps, "unterminated string");
  char *s = elign_malloc((size_t)(ps->p - start) + 1, "json:string"), *q = s;
  for (const char *r = start; r < ps->p; r++) {
    if ((unsigned char)*r < 0x20) {
      free(s);
      return json_fail(ps, "control character inside a string");
    }
    if (*r != '\\') {
      *q++ = *r;
      continue;
    }
    r++;
    switch (*r) {
      case '"': *q++ = '"'; break;
      case '\\': *q++ = '\\'; break;
      case '/': *q++ = '/'; break;
      case 'b': *q++ = '\b'; break;
      case 'f': *q++ = '\f'; break;
      case 'n': *q++ = '\n'; break;
      case 'r': *q++ = '\r'; break;
      case 't': *q++ = '\t'; break;
      case 'u': {
        unsigned cp;
        if (ps->p - r < 5 || !hex4(r + 1, &cp)) {
          free(s);
          return json_fail(ps, "bad \\u escape in a string");
        }
        r += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && ps->p - r >= 7 && r[1] == '\\' && r[2] == 'u') {
          unsigned lo;
          if (hex4(r + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            r += 6;
          }
        }
        put_utf8(&q, cp);
        break;
      }
      default: free(s); return json_fail(ps, "bad escape in a string");
    }
  }
  *q = '\0';
  ps->p++; /* closing quote */
  *out = s;
  return ELIGN_OK;
}

static elign_status parse_number(json_parser *ps, elign_json *out) {
  /* Validate the JSON grammar (strtod alone would accept hex, inf, "1."). */
  const char *s = ps->p;
  if (s < ps->end && *s == '-') s++;
  if (s >= ps->end || !(*s >= '0' && *s <= '9')) return json_fail(ps, "bad number");
  if (*s == '0') s++;
  else
    while (s < ps->end && *s >= '0' && *s <= '9') s++;
  if (s < ps->end && *s == '.') {
    s++;
    if (s >= ps->end || !(*s >= '0' && *s <= '9')) return json_fail(ps, "bad number (digits expected after '.')");
    while (s < ps->end && *s >= '0' && *s <= '9') s++;
  }
  if (s < ps->end && (*s == 'e' || *s == 'E')) {
    s++;
    if (s < ps->end && (*s == '+' || *s == '-')) s++;
    if (s >= ps->end || !(*s >= '0' && *s <= '9')) return json_fail(ps, "bad number exponent");
    while (s < ps->end && *s >= '0' && *s <= '9') s++;
  }
  char buf[64];
  size_t n = (size_t)(s - ps->p);
  if (n >= sizeof buf) return json_fail(ps, "number too long");
  memcpy(buf, ps->p, n);
  buf[n] = '\0';
  out->type = ELIGN_JSON_NUMBER;
  out->number = strtod(buf, NULL);
  ps->p = s;
  return ELIGN_OK;
}

static int match_word(json_parser *ps, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0) return 0;
  ps->p += n;
  return 1;
}

static void push_item(elign_json *v, int *cap) {
  if (v->n == *cap) {
    *cap = *cap ? 2 * *cap : 8;
    v->items = elign_realloc(v->items, (size_t)*cap * sizeof *v->items, "json:items");
    if (v->type == ELIGN_JSON_OBJECT) v->keys = elign_realloc(v->keys, (size_t)*cap * sizeof *v->keys, "json:keys");
  }
  memset(&v->items[v->n], 0, sizeof v->items[v->n]);
}

static elign_status parse_container(json_parser *ps, elign_json *out, int depth) {
  int is_obj = *ps->p == '{';
  char close = is_obj ? '}' : ']';
  out->type = is_obj ? ELIGN_JSON_OBJECT : ELIGN_JSON_ARRAY;
  ps->p++;
  int cap = 0;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    return ELIGN_OK;
  }
  for (;;) {
    skip_ws(ps);
    push_item(out, &cap);
    if (is_obj) {
      if (ps->p >= ps->end || *ps->p != '"') return json_fail(ps, "expected a string key");
      char *key;
      int key_line = ps->line;
      elign_status st = parse_string(ps, &key);
      if (st != ELIGN_OK) return st;
      for (int i = 0; i < out->n; i++)
        if (strcmp(out->keys[i], key) == 0) {
          free(key);
          return ELIGN_FAIL(ps->err, ELIGN_ERR_FORMAT, "%s line %d: duplicate key \"%s\"", ps->source, key_line,
                            out->keys[i]);
        }
      out->keys[out->n] = key;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') {
        out->n++; /* so the key is freed */
        return json_fail(ps, "expected ':'");
      }
      ps->p++;
    }
    out->n++;
    elign_status st = parse_value(ps, &out->items[out->n - 1], depth + 1);
    if (st != ELIGN_OK) return st;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
      return ELIGN_OK;
    }
    return json_fail(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static elign_status parse_value(json_parser *ps, elign_json *out, int depth) {
  memset(out, 0, sizeof *out);
  if (depth > JSON_MAX_DEPTH) return json_fail(ps, "nesting too deep");
  skip_ws(ps);
  out->line = ps->line;
  if (ps->p >= ps->end) return json_fail(ps, "expected a value");
  char c = *ps->p;
  if (c == '{' || c == '[') return parse_container(ps, out, depth);
  if (c == '"') {
    out->type = ELIGN_JSON_STRING;
    return parse_string(ps, &out->string);
  }
  if (c == '-' || (c >= '0' && c <= '9')) return parse_number(ps, out);
  if (match_word(ps, "true")) {
    out->type = ELIGN_JSON_BOOL;
    out->boolean = 1;
    return ELIGN_OK;
  }
  if (match_word(ps, "false")) {
    out->type = ELIGN_JSON_BOOL;
    return ELIGN_OK;
  }
  if (match_word(ps, "null")) return ELIGN_OK;
  return json_fail(ps, "expected a value");
}

elign_status elign_json_parse(const char *text, size_t len, const char *source, elign_json *out, elign_error *err) {
  json_parser ps = {text, text + len, source, 1, err};
  elign_status st = parse_value(&ps, out, 0);
  if (st == ELIGN_OK) {
    skip_ws(&ps);
    if (ps.p < ps.end) st = json_fail(&ps, "unexpected text after the JSON value");
  }
  if (st != ELIGN_OK) elign_json_free(out);
  return st;
}

elign_status elign_json_parse_file(const char *path, elign_json *out, elign_error *err) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0, got;
  char *buf = elign_malloc(cap, "json:file");
  while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) buf = elign_realloc(buf, cap *= 2, "json:file");
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: read error", path);
  }
  elign_status st = elign_json_parse(buf, n, path, out, err);
  free(buf);
  return st;
}

void elign_json_free(elign_json *v) {
  if (!v) return;
  for (int i = 0; i < v->n; i++) {
    elign_json_free(&v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->string);
  memset(v, 0, sizeof *v);
}

const elign_json *elign_json_get(const elign_json *obj, const char *key) {
  if (!obj || obj->type != ELIGN_JSON_OBJECT) return NULL;
  for (int i = 0; i < obj->n; i++)
    if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
  return NULL;
}

