/* config.c — load, validate, query and write the run configuration.
 *
 * The schema (config_schema.c) drives everything: a YAML file is read with
 * libyaml's event parser, nested mappings become dotted keys, and each scalar
 * is checked against its row (type, null, range, enum) with the line number
 * kept for the message. `--set key=value` strings go through the same check.
 * Values are stored in one array parallel to the schema.
 */
#include "common/base/config.h"
#include "common/base/provenance.h"
#include "common/base/parse.h"

#include "common/base/atomic_file.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_ORIGIN_LEN 512
#define CONFIG_MAX_DEPTH 16

typedef struct {
  int is_set;   /* 0 only for a required key missing from a defaults-only config */
  int is_null;
  int explicit_; /* given in the file or by --set (not a default) */
  long i;
  double d;
  int b;
  char *s;      /* STRING / ENUM (canonical value) */
  double *list; /* LIST */
  int n_list;
  char origin[CONFIG_ORIGIN_LEN];
} config_value;

struct elign_config {
  config_value *values; /* parallel to elign_config_schema */
};

/* ------------------------------------------------------------------ schema lookup */

static int config_index(const char *key) {
  for (const elign_config_alias *a = elign_config_key_aliases; a->alias; a++)
    if (strcmp(a->alias, key) == 0) key = a->key;
  for (int k = 0; k < elign_config_schema_len; k++)
    if (strcmp(elign_config_schema[k].key, key) == 0) return k;
  return -1;
}

const elign_config_key *elign_config_find_key(const char *key) {
  int k = config_index(key);
  return k < 0 ? NULL : &elign_config_schema[k];
}

long elign_config_default_int(const char *key) {
  const elign_config_key *k = elign_config_find_key(key);
  ELIGN_ASSERT(k && k->type == ELIGN_CFG_INT && k->def && k->def[0] != '=' && strcmp(k->def, "null") != 0);
  return strtol(k->def, NULL, 10);
}

static const char *config_type_name(elign_config_type t) {
  switch (t) {
    case ELIGN_CFG_BOOL: return "a bool (true/false)";
    case ELIGN_CFG_INT: return "an int";
    case ELIGN_CFG_FLOAT: return "a float";
    case ELIGN_CFG_STRING: return "a string";
    case ELIGN_CFG_ENUM: return "one of";
    case ELIGN_CFG_LIST: return "a list of numbers";
  }
  return "?";
}

/* ------------------------------------------------------------------ suggestions */

/* Levenshtein distance (keys are short; a row buffer is enough). */
static int config_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (lb > 255) return (int)lb;
  int row[256];
  for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int up = row[j];
      int best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static const char *config_last_component(const char *key) {
  const char *dot = strrchr(key, '.');
  return dot ? dot + 1 : key;
}

/* The nearest schema key by edit distance on the full dotted key and on the
 * last component (so `learning_rate` at top level finds `train.learning_rate`);
 * NULL if nothing is reasonably close. */
static const char *config_suggest(const char *key) {
  const char *best = NULL;
  int best_d = INT_MAX;
  const char *last = config_last_component(key);
  for (int k = 0; k < elign_config_schema_len; k++) {
    const char *cand = elign_config_schema[k].key;
    int d_full = config_edit_distance(key, cand);
    int d_last = config_edit_distance(last, config_last_component(cand)) + 2; /* full matches win close calls */
    int d = d_full < d_last ? d_full : d_last;
    if (d < best_d) best_d = d, best = cand;
  }
  int limit = (int)strlen(last) / 3 + 2;
  return best_d <= limit ? best : NULL;
}

/* True if `key` is a section (the prefix of some dotted key), e.g. "train". */
static const char *config_section_example(const char *key) {
  size_t len = strlen(key);
  for (int k = 0; k < elign_config_schema_len; k++)
    if (strncmp(elign_config_schema[k].key, key, len) == 0 && elign_config_schema[k].key[len] == '.')
      return elign_config_schema[k].key;
  return NULL;
}

static elign_status config_fail_unknown(elign_error *err, const char *where, const char *key) {
  const char *example = config_section_example(key);
  if (example)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: '%s' is a section, not a value: set its keys (e.g. '%s')", where,
                      key, example);
  const char *near = config_suggest(key);
  if (near)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: unknown key '%s' (did you mean '%s'?)", where, key, near);
  ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: unknown key '%s'", where, key);
  elign_error_hint(err, "`elign config keys` lists every valid key");
  return ELIGN_ERR_CONFIG;
}

/* ------------------------------------------------------------------ scalar parsing */

static int config_is_null_text(const char *s) {
  return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
         strcmp(s, "NULL") == 0;
}

static int config_parse_double(const char *s, double *out) {
  if (!*s || isspace((unsigned char)*s)) return 0;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  while (isspace((unsigned char)*end)) end++;
  if (*end || errno == ERANGE || isnan(v)) return 0;
  *out = v;
  return 1;
}

/* A value for an int / float key: a decimal number only (parse.h) — "0x10"
 * or "0x1p3" are not numbers here, though strtod would read them. Trailing
 * blanks are allowed (YAML plain scalars). */
static int config_parse_number(const char *s, double *out) {
  char buf[128];
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
  if (n == 0 || n >= sizeof buf) return 0;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return elign_scan_real(buf, -INFINITY, INFINITY, out) == ELIGN_SCAN_OK;
}

static int config_parse_bool(const char *s, int *out) {
  static const char *yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char *no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcmp(s, yes[i]) == 0) return *out = 1, 1;
    if (strcmp(s, no[i]) == 0) return *out = 0, 1;
  }
  return 0;
}

/* Range text "[a,b]", "(a,inf)": parse into bounds and openness. */
typedef struct {
  double lo, hi;
  int lo_open, hi_open;
} config_range;

static int config_range_parse(const char *text, config_range *r) {
  if (!text) return 0;
  char *end;
  ELIGN_ASSERT(text[0] == '[' || text[0] == '(');
  r->lo_open = text[0] == '(';
  r->lo = strtod(text + 1, &end);
  ELIGN_ASSERT(*end == ',');
  r->hi = strtod(end + 1, &end);
  ELIGN_ASSERT(*end == ']' || *end == ')');
  r->hi_open = *end == ')';
  return 1;
}

static int config_in_range(const elign_config_key *row, double v) {
  config_range r;
  if (!config_range_parse(row->range, &r)) return 1;
  if (r.lo_open ? !(v > r.lo) : !(v >= r.lo)) return 0;
  if (r.hi_open ? !(v < r.hi) : !(v <= r.hi)) return 0;
  return 1;
}

/* Canonical enum value for `s` (aliases resolved), or NULL. */
static const char *config_enum_match(const char *choices, const char *s, char *buf, size_t cap) {
  const char *p = choices;
  while (*p) {
    size_t len = strcspn(p, "|");
    const char *gt = memchr(p, '>', len);
    size_t name_len = gt ? (size_t)(gt - p) : len;
    if (strlen(s) == name_len && strncmp(p, s, name_len) == 0) {
      const char *val = gt ? gt + 1 : p;
      size_t val_len = gt ? len - name_len - 1 : len;
      if (val_len >= cap) val_len = cap - 1;
      memcpy(buf, val, val_len);
      buf[val_len] = '\0';
      return buf;
    }
    p += len + (p[len] == '|');
  }
  return NULL;
}

/* "a, b, c" — the canonical values only (aliases are not advertised). */
static void config_enum_list(const char *choices, char *buf, size_t cap) {
  buf[0] = '\0';
  const char *p = choices;
  while (*p) {
    size_t len = strcspn(p, "|");
    if (!memchr(p, '>', len)) {
      size_t used = strlen(buf);
      snprintf(buf + used, cap - used, "%s%.*s", used ? ", " : "", (int)len, p);
    }
    p += len + (p[len] == '|');
  }
}

/* "a float", "one of: max, min" — what a key expects, for messages. */
static void config_expect_text(const elign_config_key *row, char *buf, size_t cap) {
  if (row->type != ELIGN_CFG_ENUM) {
    snprintf(buf, cap, "%s", config_type_name(row->type));
    return;
  }
  char allowed[256];
  config_enum_list(row->choices, allowed, sizeof allowed);
  snprintf(buf, cap, "one of: %s", allowed);
}

static void config_value_clear(config_value *v) {
  elign_free(v->s);
  elign_free(v->list);
  v->n_list = 0;
  v->is_null = 0;
}

static void config_format_range(const elign_config_key *row, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", row->range ? row->range : "");
}

/* Check one number against an int/float/list-item row; fills `why` on failure. */
static int config_check_number(const elign_config_key *row, double v, const char *text, char *why, size_t cap) {
  if (!config_in_range(row, v)) {
    char range[64];
    config_format_range(row, range, sizeof range);
    snprintf(why, cap, "key '%s' = %s is out of range %s", row->key, text, range);
    return 0;
  }
  return 1;
}

/* Parse a flow list "[1, 2.5]" (the --set and default form) into numbers. */
static int config_parse_flow_list(const elign_config_key *row, const char *text, config_value *out, char *why,
                                  size_t cap) {
  const char *p = text;
  while (isspace((unsigned char)*p)) p++;
  size_t len = strlen(p);
  while (len && isspace((unsigned char)p[len - 1])) len--;
  if (len < 2 || p[0] != '[' || p[len - 1] != ']') {
    snprintf(why, cap, "key '%s' expects a list of numbers like [1.0, 2.0], got '%s'", row->key, text);
    return 0;
  }
  char *body = elign_malloc(len - 1, "config:list");
  memcpy(body, p + 1, len - 2);
  body[len - 2] = '\0';
  int n = 0, ok = 1;
  double *items = elign_malloc(sizeof(double) * (len + 1), "config:list");
  char *save = NULL;
  int only_space = 1;
  for (char *c = body; *c; c++) only_space &= isspace((unsigned char)*c) != 0;
  for (char *tok = only_space ? NULL : strtok_r(body, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save)) {
    while (isspace((unsigned char)*tok)) tok++;
    char *e = tok + strlen(tok);
    while (e > tok && isspace((unsigned char)e[-1])) *--e = '\0';
    double v;
    if (!config_parse_number(tok, &v)) {
      snprintf(why, cap, "key '%s' expects a list of numbers, got item '%s'", row->key, tok);
      ok = 0;
    } else if (!config_check_number(row, v, tok, why, cap)) {
      ok = 0;
    } else {
      items[n++] = v;
    }
  }
  elign_free(body);
  if (!ok) {
    elign_free(items);
    return 0;
  }
  out->list = items;
  out->n_list = n;
  return 1;
}

/* Set `out` from scalar text for `row`. `quoted` scalars are never null or
 * bool/number-coerced beyond what the type asks. Returns 1, or 0 with `why`. */
static int config_parse_scalar(const elign_config_key *row, const char *text, int quoted, config_value *out,
                               char *why, size_t cap) {
  config_value v = {0};
  v.is_set = 1;
  if (!quoted && config_is_null_text(text)) {
    if (!row->nullable) {
      char expect[300];
      config_expect_text(row, expect, sizeof expect);
      snprintf(why, cap, "key '%s' may not be null (expects %s)", row->key, expect);
      return 0;
    }
    v.is_null = 1;
  } else {
    switch (row->type) {
      case ELIGN_CFG_BOOL:
        if (!config_parse_bool(text, &v.b)) {
          snprintf(why, cap, "key '%s' expects a bool (true/false), got '%s'", row->key, text);
          return 0;
        }
        break;
      case ELIGN_CFG_INT: {
        double d; /* decimal digits, or an integral decimal real ("1e3"); exact below 2^53 */
        if (!config_parse_number(text, &d) || d != floor(d) || fabs(d) > 9.0e15) {
          snprintf(why, cap, "key '%s' expects an int, got '%s'", row->key, text);
          return 0;
        }
        if (!config_check_number(row, d, text, why, cap)) return 0;
        v.i = (long)d;
        break;
      }
      case ELIGN_CFG_FLOAT:
        if (!config_parse_number(text, &v.d)) {
          snprintf(why, cap, "key '%s' expects a float, got '%s'", row->key, text);
          return 0;
        }
        if (!config_check_number(row, v.d, text, why, cap)) return 0;
        break;
      case ELIGN_CFG_STRING:
        v.s = elign_strdup(text, "config:string");
        break;
      case ELIGN_CFG_ENUM: {
        char canon[128];
        if (!config_enum_match(row->choices, text, canon, sizeof canon)) {
          char allowed[256];
          config_enum_list(row->choices, allowed, sizeof allowed);
          snprintf(why, cap, "key '%s' has no value '%s' (allowed: %s)", row->key, text, allowed);
          return 0;
        }
        v.s = elign_strdup(canon, "config:enum");
        break;
      }
      case ELIGN_CFG_LIST:
        if (!config_parse_flow_list(row, text, &v, why, cap)) return 0;
        break;
    }
  }
  config_value_clear(out);
  memcpy(v.origin, out->origin, sizeof v.origin);
  *out = v;
  return 1;
}

/* ------------------------------------------------------------------ defaults */

static elign_config *config_new_defaults(void) {
  elign_config *cfg = elign_calloc(1, sizeof *cfg, "config");
  cfg->values = elign_calloc((size_t)elign_config_schema_len, sizeof(config_value), "config:values");
  for (int k = 0; k < elign_config_schema_len; k++) {
    const elign_config_key *row = &elign_config_schema[k];
    config_value *v = &cfg->values[k];
    snprintf(v->origin, sizeof v->origin, "default");
    if (!row->def) { /* required: unset until given */
      v->is_null = 1;
      continue;
    }
    if (row->def[0] == '=') continue; /* derived: resolved after the file and --set */
    char why[512];
    int ok = config_parse_scalar(row, row->def, 0, v, why, sizeof why);
    if (!ok) elign_abort(__FILE__, __LINE__, why); /* a bad default is a schema bug */
  }
  return cfg;
}

static void config_copy_value(config_value *dst, const config_value *src) {
  config_value_clear(dst);
  dst->is_set = src->is_set;
  dst->is_null = src->is_null;
  dst->i = src->i;
  dst->d = src->d;
  dst->b = src->b;
  if (src->s) dst->s = elign_strdup(src->s, "config:string");
  if (src->n_list) {
    dst->list = elign_malloc(sizeof(double) * (size_t)src->n_list, "config:list");
    memcpy(dst->list, src->list, sizeof(double) * (size_t)src->n_list);
  }
  dst->n_list = src->n_list;
}

/* Derived defaults ("=other.key") that were not given explicitly. */
static void config_resolve_derived(elign_config *cfg) {
  for (int k = 0; k < elign_config_schema_len; k++) {
    const elign_config_key *row = &elign_config_schema[k];
    config_value *v = &cfg->values[k];
    if (v->explicit_ || !row->def || row->def[0] != '=') continue;
    int src = config_index(row->def + 1);
    ELIGN_ASSERT(src >= 0 && elign_config_schema[src].type == row->type);
    config_copy_value(v, &cfg->values[src]);
    snprintf(v->origin, sizeof v->origin, "default (= %s)", row->def + 1);
  }
}

/* ------------------------------------------------------------------ YAML file */

typedef struct {
  yaml_parser_t parser;
  const char *path;
  elign_config *cfg;
  elign_error *err;
  int *key_line; /* line where each schema key was set in this file (0 = not yet) */
} config_reader;

static elign_status config_syntax_error(config_reader *r) {
  yaml_parser_t *p = &r->parser;
  const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
  char context[256] = "";
  if (p->context) /* e.g. "while scanning a simple key": say where that started */
    snprintf(context, sizeof context, " (%s at line %zu, column %zu)", p->context, p->context_mark.line + 1,
             p->context_mark.column + 1);
  return ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG, "%s:%zu:%zu: YAML syntax error: %s%s", r->path, m->line + 1,
                    m->column + 1, p->problem ? p->problem : "malformed YAML", context);
}

static elign_status config_next(config_reader *r, yaml_event_t *ev) {
  if (!yaml_parser_parse(&r->parser, ev)) return config_syntax_error(r);
  if (ev->type == YAML_ALIAS_EVENT) {
    size_t line = ev->start_mark.line + 1;
    yaml_event_delete(ev);
    return ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG, "%s:%zu: YAML aliases (*name) are not supported in configs", r->path,
                      line);
  }
  return ELIGN_OK;
}

/* Store a scalar for dotted `key` found at `line`. */
static elign_status config_store(config_reader *r, const char *key, size_t line, const char *text, int quoted) {
  char where[CONFIG_ORIGIN_LEN];
  snprintf(where, sizeof where, "%s:%zu", r->path, line);
  int k = config_index(key);
  if (k < 0) return config_fail_unknown(r->err, where, key);
  const elign_config_key *row = &elign_config_schema[k];
  if (r->key_line[k])
    return ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG, "%s: key '%s' is set twice (first at line %d)", where, row->key,
                      r->key_line[k]);
  char why[768];
  config_value *v = &r->cfg->values[k];
  if (!config_parse_scalar(row, text, quoted, v, why, sizeof why))
    return ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG, "%s: %s", where, why);
  v->explicit_ = 1;
  snprintf(v->origin, sizeof v->origin, "%s", where);
  r->key_line[k] = (int)line;
  return ELIGN_OK;
}

static elign_status config_read_mapping(config_reader *r, const char *prefix, int depth);

/* A block or flow sequence as the value of `key`: only LIST keys take one. */
static elign_status config_read_sequence(config_reader *r, const char *key, size_t line) {
  char where[CONFIG_ORIGIN_LEN];
  snprintf(where, sizeof where, "%s:%zu", r->path, line);
  int k = config_index(key);
  if (k < 0) return config_fail_unknown(r->err, where, key);
  const elign_config_key *row = &elign_config_schema[k];
  if (row->type != ELIGN_CFG_LIST) {
    char expect[300];
    config_expect_text(row, expect, sizeof expect);
    return ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG, "%s: key '%s' expects %s, got a list", where, row->key, expect);
  }
  /* Rebuild the flow text and reuse the one list parser (same checks everywhere). */
  size_t cap = 64, used = 1;
  char *text = elign_malloc(cap, "config:seq");
  strcpy(text, "[");
  for (;;) {
    yaml_event_t ev;
    elign_status st = config_next(r, &ev);
    if (st) {
      elign_free(text);
      return st;
    }
    if (ev.type == YAML_SEQUENCE_END_EVENT) {
      yaml_event_delete(&ev);
      break;
    }
    if (ev.type != YAML_SCALAR_EVENT) {
      yaml_event_delete(&ev);
      elign_free(text);
      return ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG, "%s: key '%s' expects a list of numbers (no nesting)", where,
                        row->key);
    }
    const char *item = (const char *)ev.data.scalar.value;
    size_t need = used + strlen(item) + 3;
    if (need > cap) text = elign_realloc(text, cap = 2 * need, "config:seq");
    used += (size_t)sprintf(text + used, "%s%s", used > 1 ? "," : "", item);
    yaml_event_delete(&ev);
  }
  strcat(text, "]");
  elign_status st = config_store(r, key, line, text, 0);
  elign_free(text);
  return st;
}

/* prefix.name into out; returns 0 if it does not fit (no key is that long). */
static int config_join(char *out, size_t cap, const char *prefix, const char *name) {
  int n = prefix[0] ? snprintf(out, cap, "%s.%s", prefix, name) : snprintf(out, cap, "%s", name);
  return n >= 0 && (size_t)n < cap;
}

/* Read key/value pairs until the mapping ends; nested mappings extend the prefix. */
static elign_status config_read_mapping(config_reader *r, const char *prefix, int depth) {
  if (depth > CONFIG_MAX_DEPTH)
    return ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG, "%s: mappings nested deeper than %d levels under '%s'", r->path,
                      CONFIG_MAX_DEPTH, prefix);
  for (;;) {
    yaml_event_t kev;
    elign_status st = config_next(r, &kev);
    if (st) return st;
    if (kev.type == YAML_MAPPING_END_EVENT) {
      yaml_event_delete(&kev);
      return ELIGN_OK;
    }
    size_t line = kev.start_mark.line + 1;
    if (kev.type != YAML_SCALAR_EVENT) {
      yaml_event_delete(&kev);
      return ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG, "%s:%zu: keys must be plain names (under '%s')", r->path, line,
                        prefix[0] ? prefix : "top level");
    }
    char key[512];
    int fits = config_join(key, sizeof key, prefix, (const char *)kev.data.scalar.value);
    yaml_event_delete(&kev);
    if (!fits) return ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG, "%s:%zu: key '%.60s...' is too long", r->path, line, key);
    if (depth == 0 && strcmp(key, "defaults") == 0) {
      ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG,
                 "%s:%zu: Hydra 'defaults:' lists are not supported: an Elign-C config is one self-contained file",
                 r->path, line);
      elign_error_hint(r->err, "copy the parent config's keys into this file (`elign config show PARENT` prints them)");
      return ELIGN_ERR_CONFIG;
    }

    yaml_event_t vev;
    st = config_next(r, &vev);
    if (st) return st;
    if (vev.type == YAML_SCALAR_EVENT) {
      int quoted = vev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
      st = config_store(r, key, line, (const char *)vev.data.scalar.value, quoted);
      yaml_event_delete(&vev);
    } else if (vev.type == YAML_SEQUENCE_START_EVENT) {
      yaml_event_delete(&vev);
      st = config_read_sequence(r, key, line);
    } else if (vev.type == YAML_MAPPING_START_EVENT) {
      yaml_event_delete(&vev);
      int k = config_index(key);
      if (k >= 0) {
        char expect[300];
        config_expect_text(&elign_config_schema[k], expect, sizeof expect);
        return ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG, "%s:%zu: key '%s' expects %s, got a mapping", r->path, line,
                          elign_config_schema[k].key, expect);
      }
      st = config_read_mapping(r, key, depth + 1);
    } else {
      yaml_event_delete(&vev);
      st = ELIGN_FAIL(r->err, ELIGN_ERR_CONFIG, "%s:%zu: unexpected YAML node for key '%s'", r->path, line, key);
    }
    if (st) return st;
  }
}

static elign_status config_read_file(elign_config *cfg, const char *path, elign_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: cannot open config: %s", path, strerror(errno));
  config_reader r = {.path = path, .cfg = cfg, .err = err};
  r.key_line = elign_calloc((size_t)elign_config_schema_len, sizeof(int), "config:lines");
  yaml_parser_initialize(&r.parser);
  yaml_parser_set_input_file(&r.parser, f);

  elign_status st = ELIGN_OK;
  int documents = 0;
  for (int done = 0; !done && st == ELIGN_OK;) {
    yaml_event_t ev;
    st = config_next(&r, &ev);
    if (st) break;
    switch (ev.type) {
      case YAML_STREAM_END_EVENT: done = 1; break;
      case YAML_DOCUMENT_START_EVENT:
        if (++documents > 1)
          st = ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s:%zu: more than one YAML document ('---') in a config", path,
                          ev.start_mark.line + 1);
        break;
      case YAML_MAPPING_START_EVENT: st = config_read_mapping(&r, "", 0); break;
      case YAML_SCALAR_EVENT:
        /* An empty document is a null scalar: that is an empty config. */
        if (!(ev.data.scalar.length == 0 && ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE))
          st = ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s:%zu: a config must be a mapping of keys (key: value), not '%.40s'",
                          path, ev.start_mark.line + 1, (const char *)ev.data.scalar.value);
        break;
      case YAML_SEQUENCE_START_EVENT:
        st = ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s:%zu: a config must be a mapping of keys (key: value), not a list",
                        path, ev.start_mark.line + 1);
        break;
      default: break;
    }
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&r.parser);
  fclose(f);
  elign_free(r.key_line);
  return st;
}

/* ------------------------------------------------------------------ --set */

static elign_status config_apply_set(elign_config *cfg, const char *set, elign_error *err) {
  const char *eq = strchr(set, '=');
  if (!eq || eq == set)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "--set '%s': expected KEY=VALUE, e.g. --set train.learning_rate=4e-6",
                      set);
  char key[512], where[CONFIG_ORIGIN_LEN];
  snprintf(key, sizeof key, "%.*s", (int)(eq - set), set);
  snprintf(where, sizeof where, "--set %s", set);
  int k = config_index(key);
  if (k < 0) return config_fail_unknown(err, where, key);
  /* Shell-quoted 'x' or "x" inside the value forces a string (e.g. --set name="'null'"). */
  const char *text = eq + 1;
  char buf[1024];
  int quoted = 0;
  size_t len = strlen(text);
  if (len >= 2 && (text[0] == '\'' || text[0] == '"') && text[len - 1] == text[0]) {
    snprintf(buf, sizeof buf, "%.*s", (int)(len - 2), text + 1);
    text = buf;
    quoted = 1;
  }
  char why[768];
  config_value *v = &cfg->values[k];
  if (!config_parse_scalar(&elign_config_schema[k], text, quoted, v, why, sizeof why))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: %s", where, why);
  v->explicit_ = 1;
  snprintf(v->origin, sizeof v->origin, "--set");
  return ELIGN_OK;
}

/* ------------------------------------------------------------------ cross-key rules */

/* Rules that involve two keys (each key alone was checked against its row). */
static elign_status config_check_relations(const elign_config *cfg, elign_error *err) {
  const config_value *mb = &cfg->values[config_index("dataloader.micro_batch_size")];
  const config_value *p = &cfg->values[config_index("dataloader.sample_group_size")];
  const config_value *k = &cfg->values[config_index("dataloader.each_prompt_sample")];
  if (mb->is_set && !mb->is_null && p->is_set && k->is_set && (p->i * k->i) % mb->i != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG,
                      "%s: dataloader.micro_batch_size = %ld must divide the batch sample_group_size * "
                      "each_prompt_sample = %ld (rollouts are generated in equal chunks)",
                      mb->origin, mb->i, p->i * k->i);
  const config_value *lo = &cfg->values[config_index("dataloader.nodes_dist_focus_min")];
  const config_value *hi = &cfg->values[config_index("dataloader.nodes_dist_focus_max")];
  if (!lo->is_null && !hi->is_null && lo->i > hi->i)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: dataloader.nodes_dist_focus_min = %ld exceeds nodes_dist_focus_max = %ld",
                      lo->origin, lo->i, hi->i);
  return ELIGN_OK;
}

/* ------------------------------------------------------------------ load / free */

/* Sections a command reads besides the top-level keys; NULL = every key. */
static elign_status config_command_sections(const char *command, const char *const **sections, elign_error *err) {
  static const char *const pretrain[] = {"run.", "data.", "mpi.", "pretrain.", NULL};
  *sections = NULL;
  if (!command || strcmp(command, "train") == 0) return ELIGN_OK;
  if (strcmp(command, "pretrain") == 0) {
    *sections = pretrain;
    return ELIGN_OK;
  }
  return ELIGN_FAIL(err, ELIGN_ERR_ARG, "unknown command '%s' for a config (train, pretrain)", command);
}

static int config_command_reads(const char *const *sections, const char *key) {
  if (!sections || !strchr(key, '.')) return 1;
  for (int i = 0; sections[i]; i++)
    if (strncmp(key, sections[i], strlen(sections[i])) == 0) return 1;
  return 0;
}

elign_status elign_config_load(const char *path, const char *const *sets, int n_sets, elign_config **out,
                               elign_error *err) {
  return elign_config_load_for(NULL, path, sets, n_sets, out, err);
}

/* The resolved config and its seed go into the provenance record of the files this process writes. */
static void config_record_provenance(const elign_config *cfg) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return;
  elign_config_write_yaml(cfg, f, 0);
  fclose(f);
  elign_provenance_set_config(text);
  free(text);
  elign_provenance_set_seed((uint64_t)elign_config_get_int(cfg, "seed"));
}

elign_status elign_config_load_for(const char *command, const char *path, const char *const *sets, int n_sets,
                                   elign_config **out, elign_error *err) {
  ELIGN_ASSERT(out);
  *out = NULL;
  const char *const *sections;
  if (config_command_sections(command, &sections, err)) return ELIGN_ERR_ARG;
  elign_config *cfg = config_new_defaults();
  elign_status st = ELIGN_OK;
  if (path) st = config_read_file(cfg, path, err);
  for (int i = 0; i < n_sets && st == ELIGN_OK; i++) st = config_apply_set(cfg, sets[i], err);
  if (st == ELIGN_OK && path) {
    for (int k = 0; k < elign_config_schema_len; k++) {
      if (elign_config_schema[k].def || cfg->values[k].explicit_) continue;
      if (!config_command_reads(sections, elign_config_schema[k].key)) continue;
      st = ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: missing required key '%s' (%s)", path, elign_config_schema[k].key,
                      elign_config_schema[k].doc);
      elign_error_hint(err, "add it to the file or pass --set %s=VALUE (a config for `elign pretrain` needs no "
                            "FED-GRPO keys: check it with --for pretrain)",
                       elign_config_schema[k].key);
      break;
    }
  }
  if (st == ELIGN_OK) {
    config_resolve_derived(cfg);
    st = config_check_relations(cfg, err);
  }
  if (st != ELIGN_OK) {
    elign_config_free(&cfg);
    return st;
  }
  config_record_provenance(cfg);
  *out = cfg;
  return ELIGN_OK;
}

void elign_config_free(elign_config **cfg) {
  if (!cfg || !*cfg) return;
  for (int k = 0; k < elign_config_schema_len; k++) config_value_clear(&(*cfg)->values[k]);
  elign_free((*cfg)->values);
  elign_free(*cfg);
}

/* ------------------------------------------------------------------ getters */

/* A caller's mistake (not the user's): abort naming the key and the problem. */
static _Noreturn void config_misuse(const char *key, const char *problem) {
  char what[600];
  snprintf(what, sizeof what, "config key '%s': %s", key, problem);
  elign_abort(__FILE__, __LINE__, what);
}

static const config_value *config_lookup(const elign_config *cfg, const char *key) {
  ELIGN_ASSERT(cfg && key);
  int k = config_index(key);
  if (k < 0) config_misuse(key, "not in the schema (add a row to common/base/config_schema.c)");
  return &cfg->values[k];
}

static const config_value *config_get(const elign_config *cfg, const char *key, elign_config_type t1,
                                      elign_config_type t2) {
  const config_value *v = config_lookup(cfg, key);
  const elign_config_type t = elign_config_find_key(key)->type;
  if (t != t1 && t != t2) config_misuse(key, "read with a getter of another type (see its schema row)");
  if (!v->is_set) config_misuse(key, "required key read from a defaults-only config (load a file or --set it)");
  if (v->is_null) config_misuse(key, "value is null (check elign_config_is_null first)");
  return v;
}

long elign_config_get_int(const elign_config *cfg, const char *key) {
  return config_get(cfg, key, ELIGN_CFG_INT, ELIGN_CFG_INT)->i;
}
double elign_config_get_double(const elign_config *cfg, const char *key) {
  return config_get(cfg, key, ELIGN_CFG_FLOAT, ELIGN_CFG_FLOAT)->d;
}
int elign_config_get_bool(const elign_config *cfg, const char *key) {
  return config_get(cfg, key, ELIGN_CFG_BOOL, ELIGN_CFG_BOOL)->b;
}
const char *elign_config_get_string(const elign_config *cfg, const char *key) {
  return config_get(cfg, key, ELIGN_CFG_STRING, ELIGN_CFG_ENUM)->s;
}
const double *elign_config_get_list(const elign_config *cfg, const char *key, int *n) {
  const config_value *v = config_get(cfg, key, ELIGN_CFG_LIST, ELIGN_CFG_LIST);
  if (n) *n = v->n_list;
  return v->list;
}

int elign_config_is_null(const elign_config *cfg, const char *key) {
  const config_value *v = config_lookup(cfg, key);
  return !v->is_set || v->is_null;
}
const char *elign_config_origin(const elign_config *cfg, const char *key) { return config_lookup(cfg, key)->origin; }

int elign_config_n_explicit(const elign_config *cfg) {
  int n = 0;
  for (int k = 0; k < elign_config_schema_len; k++) n += cfg->values[k].explicit_;
  return n;
}

/* ------------------------------------------------------------------ YAML writer */

/* Shortest decimal text that reads back to exactly `v` (%.17g is exact but noisy). */
static void config_format_double(double v, char *buf, size_t cap) {
  if (v == floor(v) && fabs(v) < 1e15) { /* 10000.0, not 1e+04 */
    snprintf(buf, cap, "%.1f", v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", cap - strlen(buf) - 1); /* keep floats looking like floats */
}

/* Strings that YAML would read as something else (or that need escaping) get double quotes. */
static int config_needs_quotes(const char *s) {
  double d;
  int b;
  if (config_is_null_text(s) || config_parse_bool(s, &b) || config_parse_double(s, &d)) return 1;
  if (!isalnum((unsigned char)s[0]) && s[0] != '.' && s[0] != '/' && s[0] != '_') return 1;
  for (const char *c = s; *c; c++)
    if (!isalnum((unsigned char)*c) && !strchr("._-/()+", *c)) return 1;
  return 0;
}

static void config_write_string(FILE *out, const char *s) {
  if (!config_needs_quotes(s)) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (const char *c = s; *c; c++) {
    if (*c == '"' || *c == '\\') fputc('\\', out);
    if (*c == '\n')
      fputs("\\n", out);
    else
      fputc(*c, out);
  }
  fputc('"', out);
}

static void config_write_value(FILE *out, const elign_config_key *row, const config_value *v) {
  char num[64];
  if (!v->is_set || v->is_null) {
    fputs("null", out);
    return;
  }
  switch (row->type) {
    case ELIGN_CFG_BOOL: fputs(v->b ? "true" : "false", out); break;
    case ELIGN_CFG_INT: fprintf(out, "%ld", v->i); break;
    case ELIGN_CFG_FLOAT:
      config_format_double(v->d, num, sizeof num);
      fputs(num, out);
      break;
    case ELIGN_CFG_STRING:
    case ELIGN_CFG_ENUM: config_write_string(out, v->s); break;
    case ELIGN_CFG_LIST:
      fputc('[', out);
      for (int i = 0; i < v->n_list; i++) {
        config_format_double(v->list[i], num, sizeof num);
        fprintf(out, "%s%s", i ? ", " : "", num);
      }
      fputc(']', out);
      break;
  }
}

/* Number of leading dotted components `a` and `b` share. */
static int config_common_depth(const char *a, const char *b) {
  int depth = 0;
  for (size_t i = 0;; i++) {
    if (a[i] != b[i]) return depth;
    if (a[i] == '\0') return depth; /* identical keys: never happens */
    if (a[i] == '.') depth++;
  }
}

void elign_config_write_yaml(const elign_config *cfg, FILE *out, int flags) {
  const char *prev = "";
  for (int k = 0; k < elign_config_schema_len; k++) {
    const elign_config_key *row = &elign_config_schema[k];
    const config_value *v = &cfg->values[k];
    if (!v->is_set) continue; /* a required key this config's command does not read */
    /* Open the mappings this key needs beyond what it shares with the previous key. */
    int depth = config_common_depth(prev, row->key);
    const char *p = row->key;
    for (int d = 0; d < depth; d++) p = strchr(p, '.') + 1;
    if (depth == 0 && k > 0 && (strchr(prev, '.') || strchr(row->key, '.'))) fputc('\n', out);
    for (const char *dot; (dot = strchr(p, '.')); p = dot + 1, depth++)
      fprintf(out, "%*s%.*s:\n", 2 * depth, "", (int)(dot - p), p);
    if (flags & ELIGN_CONFIG_WRITE_COMMENTS) fprintf(out, "%*s# %s\n", 2 * depth, "", row->doc);
    fprintf(out, "%*s%s: ", 2 * depth, "", p);
    config_write_value(out, row, v);
    if ((flags & ELIGN_CONFIG_WRITE_ORIGIN) && strcmp(v->origin, "default") != 0) fprintf(out, "  # %s", v->origin);
    fputc('\n', out);
    prev = row->key;
  }
}

elign_status elign_config_write_resolved(const elign_config *cfg, const char *run_dir, elign_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/config.yaml", run_dir);
  elign_atomic_file a;
  FILE *f;
  elign_status st = elign_atomic_fopen(&a, path, &f, err);
  if (st != ELIGN_OK) return st;
  fprintf(f,
          "# Resolved Elign-C configuration (every key, defaults included), written by elign %s.\n"
          "# `elign config check` accepts it as is; '# from' comments say where each non-default came from.\n\n",
          ELIGN_VERSION);
  elign_config_write_yaml(cfg, f, ELIGN_CONFIG_WRITE_ORIGIN);
  return elign_atomic_fclose(&a, f, err);
}
