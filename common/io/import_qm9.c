/* import_qm9.c — the QM9 distribution (dsgdb9nsd.xyz.tar.bz2) → elign_dataset.
 *
 * Each archive member is one molecule in the format of Ramakrishnan et al.,
 * Sci. Data 1, 140022 (2014):
 *   line 1      n_atoms
 *   line 2      "gdb" index A B C mu alpha homo lumo gap r2 zpve U0 U H G Cv
 *   n lines     element x y z mulliken_charge        (Å, e)
 *   next line   harmonic frequencies (cm^-1)
 *   next line   SMILES from GDB-17 <tab> SMILES of the relaxed geometry
 *   next line   InChI (GDB) <tab> InChI (relaxed)
 * Numbers may be written in Mathematica form "1.2345*^-6". Members are read
 * into memory through libarchive (no unpacking to disk).
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/parse.h"
#include "common/io/importers.h"

#define QM9_N_PROPS 15

/* Columns of line 2 after the tag and index, with the units of the paper. */
static const struct {
  const char *name, *unit, *description;
} qm9_props[QM9_N_PROPS] = {
    {"A", "GHz", "rotational constant A"},
    {"B", "GHz", "rotational constant B"},
    {"C", "GHz", "rotational constant C"},
    {"mu", "Debye", "dipole moment"},
    {"alpha", "Bohr^3", "isotropic polarizability"},
    {"homo", "Hartree", "energy of the HOMO"},
    {"lumo", "Hartree", "energy of the LUMO"},
    {"gap", "Hartree", "HOMO-LUMO gap"},
    {"r2", "Bohr^2", "electronic spatial extent"},
    {"zpve", "Hartree", "zero point vibrational energy"},
    {"U0", "Hartree", "internal energy at 0 K"},
    {"U", "Hartree", "internal energy at 298.15 K"},
    {"H", "Hartree", "enthalpy at 298.15 K"},
    {"G", "Hartree", "free energy at 298.15 K"},
    {"Cv", "cal/(mol K)", "heat capacity at 298.15 K"},
};

/* A number in C or Mathematica notation ("-1.5*^-6" = -1.5e-6). */
static int qm9_number(const char *s, double *v) {
  char buf[64];
  size_t n = 0;
  for (const char *p = s; *p; p++) {
    if (n + 2 >= sizeof buf) return 0;
    if (p[0] == '*' && p[1] == '^') {
      buf[n++] = 'e';
      p++;
    } else {
      buf[n++] = *p;
    }
  }
  buf[n] = '\0';
  return elign_scan_real(buf, -INFINITY, INFINITY, v) == ELIGN_SCAN_OK; /* decimal only: no hex, inf, nan */
}

/* Growing columns of the 15 properties, for the molecules of one archive. */
typedef struct {
  int64_t n, cap;
  double *values[QM9_N_PROPS];
} qm9_columns;

/* Line cursor over an in-memory member. */
typedef struct {
  char *p, *end;
  int lineno;
} qm9_lines;

static char *qm9_next_line(qm9_lines *c) {
  if (c->p >= c->end) return NULL;
  char *s = c->p;
  char *nl = memchr(s, '\n', (size_t)(c->end - s));
  char *e = nl ? nl : c->end;
  c->p = nl ? nl + 1 : c->end;
  if (e > s && e[-1] == '\r') e--;
  *e = '\0';
  c->lineno++;
  return s;
}

/* Parse one member; its properties go to `pending` (archive import) or, if
 * NULL, straight into ds. */
static elign_status qm9_parse(const char *text, size_t len, const char *label, elign_dataset *ds,
                              qm9_columns *pending, elign_error *err) {
  char *buf = elign_malloc(len + 1, "qm9:text");
  memcpy(buf, text, len);
  buf[len] = '\0';
  qm9_lines c = {buf, buf + len, 0};
  elign_status st = ELIGN_OK;
  char *tok[32], *line, copy[512];
  int32_t *Z = NULL;
  double *pos = NULL, props[QM9_N_PROPS];
  int64_t n = 0, id = -1;
#define QM9_FAIL(...)                                           \
  do {                                                          \
    char what_[600];                                            \
    snprintf(what_, sizeof what_, __VA_ARGS__);                 \
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s line %d: %s", label, c.lineno, what_); \
    goto done;                                                  \
  } while (0)

  if (!(line = qm9_next_line(&c)) || elign_import_split_ws(line, tok, 1) != 1 ||
      elign_scan_i64(tok[0], 1, 100000, &n) != ELIGN_SCAN_OK)
    QM9_FAIL("expected the atom count (an integer 1..100000)");
  if (!(line = qm9_next_line(&c))) QM9_FAIL("missing the property line");
  snprintf(copy, sizeof copy, "%.200s", line);
  if (elign_import_split_ws(line, tok, 2 + QM9_N_PROPS) != 2 + QM9_N_PROPS)
    QM9_FAIL("property line needs a tag, an index and %d numbers: '%s'", QM9_N_PROPS, copy);
  if (elign_scan_i64(tok[1], 0, INT64_MAX, &id) != ELIGN_SCAN_OK)
    QM9_FAIL("bad molecule index '%s' on the property line (an integer 0..%lld)", tok[1], (long long)INT64_MAX);
  for (int k = 0; k < QM9_N_PROPS; k++)
    if (!qm9_number(tok[2 + k], &props[k])) QM9_FAIL("bad number '%s' (%s) on the property line", tok[2 + k], qm9_props[k].name);
  Z = elign_malloc((size_t)n * sizeof *Z, "qm9:Z");
  pos = elign_malloc((size_t)n * 3 * sizeof *pos, "qm9:pos");
  for (int64_t a = 0; a < n; a++) {
    if (!(line = qm9_next_line(&c))) QM9_FAIL("file ends after %ld of %ld atoms", (long)a, (long)n);
    snprintf(copy, sizeof copy, "%.200s", line);
    int nt = elign_import_split_ws(line, tok, 6);
    int z = nt >= 1 ? elign_element_z(tok[0], (int)strlen(tok[0])) : 0;
    double q;
    if (nt != 5 || z == 0 || !qm9_number(tok[1], &pos[3 * a]) || !qm9_number(tok[2], &pos[3 * a + 1]) ||
        !qm9_number(tok[3], &pos[3 * a + 2]) || !qm9_number(tok[4], &q))
      QM9_FAIL("bad atom line '%s'", copy);
    Z[a] = z;
  }
  if (!(line = qm9_next_line(&c))) QM9_FAIL("missing the frequency line");
  if (!(line = qm9_next_line(&c))) QM9_FAIL("missing the SMILES line");
  int nt = elign_import_split_ws(line, tok, 2);
  if (nt < 1 || nt > 2) QM9_FAIL("SMILES line needs the GDB and the relaxed SMILES");
  const char *smiles = tok[nt - 1]; /* the relaxed geometry's SMILES */
  elign_molset_append(&ds->mols, (int)n, Z, pos, id, smiles);
  if (pending) {
    qm9_columns *col = pending;
    if (col->n == col->cap) {
      col->cap = col->cap ? 2 * col->cap : 1024;
      for (int k = 0; k < QM9_N_PROPS; k++)
        col->values[k] = elign_realloc(col->values[k], (size_t)col->cap * sizeof(double), "qm9:column");
    }
    for (int k = 0; k < QM9_N_PROPS; k++) col->values[k][col->n] = props[k];
    col->n++;
  } else {
    /* Single molecule parsed on its own: store its properties directly. */
    for (int k = 0; k < QM9_N_PROPS; k++)
      elign_dataset_put_property(ds, qm9_props[k].name, qm9_props[k].unit, qm9_props[k].description,
                                 ds->mols.n_mol - 1, 1, &props[k]);
  }
done:
#undef QM9_FAIL
  free(Z);
  free(pos);
  free(buf);
  return st;
}

elign_status elign_import_qm9_text(const char *text, size_t len, const char *label, elign_dataset *ds,
                                   elign_error *err) {
  return qm9_parse(text, len, label, ds, NULL, err);
}

/* Read the current member's data into a growing buffer. */
static elign_status read_member(struct archive *a, const char *label, char **buf, size_t *cap, size_t *len,
                                elign_error *err) {
  *len = 0;
  for (;;) {
    if (*len + 65536 > *cap) {
      *cap = *cap ? 2 * *cap : 1 << 17;
      *buf = elign_realloc(*buf, *cap, "qm9:member");
    }
    la_ssize_t got = archive_read_data(a, *buf + *len, *cap - *len);
    if (got < 0) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: cannot read: %s", label, archive_error_string(a));
    if (got == 0) return ELIGN_OK;
    *len += (size_t)got;
  }
}

elign_status elign_import_qm9_archive(const char *path, elign_dataset *ds, elign_error *err) {
  struct archive *a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
    elign_status st = ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open as an archive: %s", path, archive_error_string(a));
    archive_read_free(a);
    return st;
  }
  int64_t first = ds->mols.n_mol;
  qm9_columns cols = {0};
  char *buf = NULL, label[4096 + 256];
  size_t cap = 0, len;
  elign_status st = ELIGN_OK;
  struct archive_entry *entry;
  int rc;
  while (st == ELIGN_OK && (rc = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    const char *name = archive_entry_pathname(entry);
    size_t nl = strlen(name);
    if (nl < 4 || strcmp(name + nl - 4, ".xyz") != 0) continue; /* README and the like */
    snprintf(label, sizeof label, "%s:%s", path, name);
    st = read_member(a, label, &buf, &cap, &len, err);
    if (st == ELIGN_OK) st = qm9_parse(buf, len, label, ds, &cols, err);
  }
  if (st == ELIGN_OK && rc != ARCHIVE_EOF)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: damaged archive: %s", path, archive_error_string(a));
  if (st == ELIGN_OK && cols.n == 0) st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: no .xyz members in the archive", path);
  if (st == ELIGN_OK)
    for (int k = 0; k < QM9_N_PROPS; k++)
      elign_dataset_put_property(ds, qm9_props[k].name, qm9_props[k].unit, qm9_props[k].description, first, cols.n,
                                 cols.values[k]);
  for (int k = 0; k < QM9_N_PROPS; k++) free(cols.values[k]);
  free(buf);
  archive_read_free(a);
  return st;
}
