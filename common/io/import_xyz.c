/* import_xyz.c — extended XYZ (plain or gzip) → elign_dataset, streaming.
 *
 * One pass with gzgets (zlib reads plain files transparently); each atom line
 * is split in place and parsed with strtod. Molecule indices in messages are
 * 0-based positions in the file, line numbers 1-based.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/base/parse.h"
#include "common/io/importers.h"

#define XYZ_LINE_MAX 65536
#define XYZ_MAX_KEYS 16
#define XYZ_MAX_ATOMS 1000000 /* atoms per molecule: far beyond any molecule, well inside int */

/* Known comment-line keys and the units their source documents. */
static const struct {
  const char *key, *unit, *description;
} xyz_known_keys[] = {
    {"mmff_energy", "kcal/mol", "MMFF94 total energy of the stored geometry (extended-XYZ comment key mmff_energy)"},
    {"energy", "", "extended-XYZ comment key energy (unit not stated by the source)"},
};

typedef struct {
  char name[64];
  double *values; /* [n_mol of this file] */
} xyz_column;

typedef struct {
  const char *path;
  gzFile gz;
  char line[XYZ_LINE_MAX];
  char comment[XYZ_LINE_MAX]; /* the current comment line, split in place */
  long lineno;
  int eof;
  /* per-file collections */
  int n_cols;
  xyz_column cols[XYZ_MAX_KEYS];
  int64_t n_mol, cap_mol;
  /* per-molecule scratch */
  int32_t *Z;
  double *pos;
  int cap_atoms;
} xyz_reader;

/* Next line without its newline; 0 at end of file. */
static int xyz_next_line(xyz_reader *r, elign_error *err, elign_status *st) {
  *st = ELIGN_OK;
  if (!gzgets(r->gz, r->line, sizeof r->line)) {
    int errnum;
    const char *msg = gzerror(r->gz, &errnum);
    if (errnum != Z_OK && errnum != Z_STREAM_END)
      *st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s line %ld: cannot read: %s (truncated or damaged gzip?)", r->path,
                       r->lineno + 1, msg);
    return 0;
  }
  r->lineno++;
  size_t n = strlen(r->line);
  if (n == sizeof r->line - 1 && r->line[n - 1] != '\n') {
    *st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s line %ld: line longer than %d characters", r->path, r->lineno,
                     XYZ_LINE_MAX - 1);
    return 0;
  }
  while (n > 0 && (r->line[n - 1] == '\n' || r->line[n - 1] == '\r')) r->line[--n] = '\0';
  return 1;
}

static int is_blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ' && *s != '\t') return 0;
  return 1;
}

/* Decimal numbers only (parse.h): "0x10" is not 16 here, "nan"/"inf" are
 * not coordinates. */
static int parse_double(const char *s, double *v) { return elign_scan_real(s, -INFINITY, INFINITY, v) == ELIGN_SCAN_OK; }

/* ---- comment line: key=value pairs ------------------------------------------------------ */

typedef struct {
  const char *id;      /* the id= value as written, or NULL */
  char *smiles;        /* points into the line buffer, or NULL */
  char *props;         /* Properties= value or NULL */
  int n_kv;
  char *key[XYZ_MAX_KEYS * 2], *val[XYZ_MAX_KEYS * 2];
} xyz_comment;

/* Parse `k=v k="quoted v" flag` in place. Unquoted bare words are ignored
 * (plain XYZ files carry free text there). */
static void parse_comment(char *s, xyz_comment *c) {
  memset(c, 0, sizeof *c);
  while (*s) {
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) break;
    char *k = s;
    while (*s && *s != '=' && *s != ' ' && *s != '\t') s++;
    if (*s != '=') {
      while (*s && *s != ' ' && *s != '\t') s++;
      continue;
    }
    *s++ = '\0';
    char *v;
    if (*s == '"') {
      v = ++s;
      while (*s && *s != '"') s++;
    } else {
      v = s;
      while (*s && *s != ' ' && *s != '\t') s++;
    }
    if (*s) *s++ = '\0';
    if (strcmp(k, "smiles") == 0 || strcmp(k, "SMILES") == 0) c->smiles = v;
    else if (strcmp(k, "Properties") == 0) c->props = v;
    else if (strcmp(k, "id") == 0)
      c->id = v;
    else if (c->n_kv < XYZ_MAX_KEYS * 2) {
      c->key[c->n_kv] = k;
      c->val[c->n_kv++] = v;
    }
  }
}

/* A key that can name a dataset /properties/<key>: 1..63 bytes, no '/', not "." or "..". */
static int usable_property_name(const char *k) {
  size_t l = strlen(k);
  return l > 0 && l < 64 && !strchr(k, '/') && strcmp(k, ".") != 0 && strcmp(k, "..") != 0;
}

/* Record numeric comment values in the file's columns. The first molecule
 * decides which keys become columns (keys that cannot name a dataset are
 * skipped, as non-numeric ones are). */
static void record_columns(xyz_reader *r, const xyz_comment *c) {
  if (r->n_mol == 0)
    for (int i = 0; i < c->n_kv && r->n_cols < XYZ_MAX_KEYS; i++) {
      double v;
      if (!parse_double(c->val[i], &v) || !usable_property_name(c->key[i])) continue;
      snprintf(r->cols[r->n_cols++].name, 64, "%s", c->key[i]);
    }
  if (r->n_mol == r->cap_mol) {
    r->cap_mol = r->cap_mol ? 2 * r->cap_mol : 1024;
    for (int j = 0; j < r->n_cols; j++)
      r->cols[j].values = elign_realloc(r->cols[j].values, (size_t)r->cap_mol * sizeof(double), "xyz:column");
  }
  for (int j = 0; j < r->n_cols; j++) {
    double v = NAN;
    for (int i = 0; i < c->n_kv; i++)
      if (strcmp(c->key[i], r->cols[j].name) == 0 && !parse_double(c->val[i], &v)) v = NAN;
    r->cols[j].values[r->n_mol] = v;
  }
}

/* ---- one molecule ------------------------------------------------------------------------- */

/* Returns ELIGN_OK with *done = 1 at a clean end of file. */
static elign_status read_molecule(xyz_reader *r, elign_dataset *ds, int *done, elign_error *err) {
  elign_status st;
  *done = 0;
  int64_t m = r->n_mol;
  /* count line (blank lines between molecules and at the end are tolerated) */
  do {
    if (!xyz_next_line(r, err, &st)) {
      *done = st == ELIGN_OK;
      return st;
    }
  } while (is_blank(r->line));
  long count_line = r->lineno;
  char *tok[8];
  char copy[256];
  snprintf(copy, sizeof copy, "%.200s", r->line);
  int64_t n;
  if (elign_import_split_ws(r->line, tok, 1) != 1 || elign_scan_i64(tok[0], 1, XYZ_MAX_ATOMS, &n) != ELIGN_SCAN_OK)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                      "%s: molecule %lld (line %ld): expected the atom count, found '%s' (an integer 1..%d)", r->path,
                      (long long)m, count_line, copy, XYZ_MAX_ATOMS);
  if (!xyz_next_line(r, err, &st))
    return st != ELIGN_OK ? st
                          : ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                                       "%s: molecule %lld (line %ld): file ends before the comment line", r->path,
                                       (long long)m, count_line + 1);
  xyz_comment c;
  memcpy(r->comment, r->line, strlen(r->line) + 1);
  parse_comment(r->comment, &c);
  int64_t id = -1; /* none */
  if (c.id && elign_scan_i64(c.id, 0, INT64_MAX, &id) != ELIGN_SCAN_OK)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: molecule %lld (line %ld): id=%s is not an integer in 0..%lld",
                      r->path, (long long)m, r->lineno, c.id, (long long)INT64_MAX);
  /* Standard columns only → exactly 4 tokens per atom line. */
  int strict = !c.props || strcmp(c.props, "species:S:1:pos:R:3") == 0;
  if (c.props && strncmp(c.props, "species:S:1:pos:R:3", 19) != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED,
                      "%s: molecule %lld (line %ld): Properties=%s is not supported (needs species:S:1:pos:R:3 first)",
                      r->path, (long long)m, r->lineno, c.props);
  if (n > r->cap_atoms) {
    r->cap_atoms = (int)n;
    r->Z = elign_realloc(r->Z, (size_t)n * sizeof *r->Z, "xyz:Z");
    r->pos = elign_realloc(r->pos, (size_t)n * 3 * sizeof *r->pos, "xyz:pos");
  }
  for (int64_t a = 0; a < n; a++) {
    if (!xyz_next_line(r, err, &st))
      return st != ELIGN_OK ? st
                            : ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                                         "%s: molecule %lld (line %ld): file ends after %lld of %lld atoms", r->path,
                                         (long long)m, r->lineno + 1, (long long)a, (long long)n);
    snprintf(copy, sizeof copy, "%.200s", r->line);
    int nt = elign_import_split_ws(r->line, tok, 7);
    int z = nt >= 1 ? elign_element_z(tok[0], (int)strlen(tok[0])) : 0;
    int ok = (strict ? nt == 4 : nt >= 4) && z > 0 && parse_double(tok[1], &r->pos[3 * a]) &&
             parse_double(tok[2], &r->pos[3 * a + 1]) && parse_double(tok[3], &r->pos[3 * a + 2]);
    if (!ok)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: molecule %lld (line %ld): bad atom line '%s'%s", r->path,
                        (long long)m, r->lineno, copy,
                        nt >= 1 && z == 0 ? " (unknown element symbol)"
                        : nt >= 4         ? " (coordinates must be finite decimal numbers)"
                                          : "");
    r->Z[a] = z;
  }
  record_columns(r, &c);
  elign_molset_append(&ds->mols, (int)n, r->Z, r->pos, id, c.smiles);
  r->n_mol++;
  return ELIGN_OK;
}

elign_status elign_import_xyz(const char *path, elign_dataset *ds, elign_error *err) {
  xyz_reader *r = elign_calloc(1, sizeof *r, "xyz:reader");
  r->path = path;
  r->gz = gzopen(path, "rb");
  if (!r->gz) {
    free(r);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  }
  gzbuffer(r->gz, 1 << 20);
  int64_t first = ds->mols.n_mol;
  elign_status st = ELIGN_OK;
  for (int done = 0; st == ELIGN_OK && !done;) st = read_molecule(r, ds, &done, err);
  gzclose(r->gz);
  if (st == ELIGN_OK && r->n_mol == 0) st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: no molecules", path);
  if (st == ELIGN_OK)
    for (int j = 0; j < r->n_cols; j++) {
      const char *unit = "", *desc = "extended-XYZ comment key (unit not stated by the source)";
      for (size_t k = 0; k < sizeof xyz_known_keys / sizeof xyz_known_keys[0]; k++)
        if (strcmp(xyz_known_keys[k].key, r->cols[j].name) == 0)
          unit = xyz_known_keys[k].unit, desc = xyz_known_keys[k].description;
      elign_dataset_put_property(ds, r->cols[j].name, unit, desc, first, r->n_mol, r->cols[j].values);
    }
  for (int j = 0; j < r->n_cols; j++) free(r->cols[j].values);
  free(r->Z);
  free(r->pos);
  free(r);
  return st;
}

elign_status elign_import_any(const char *path, elign_dataset *ds, elign_error *err) {
  static const char *archive_suffixes[] = {".tar", ".tar.bz2", ".tbz2", ".tbz", ".tar.gz", ".tgz", ".tar.xz"};
  size_t len = strlen(path);
  if (elign_import_is_geom(path))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: a GEOM msgpack file is imported alone, straight into its dataset file", path);
  for (size_t i = 0; i < sizeof archive_suffixes / sizeof archive_suffixes[0]; i++) {
    size_t l = strlen(archive_suffixes[i]);
    if (len >= l && strcmp(path + len - l, archive_suffixes[i]) == 0) return elign_import_qm9_archive(path, ds, err);
  }
  return elign_import_xyz(path, ds, err);
}
