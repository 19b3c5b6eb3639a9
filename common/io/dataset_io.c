/* dataset_io.c — dataset, sample and oracle-result files (docs/formats.md). */
#include "common/io/dataset_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/io/h5io.h"

/* ---- dataset object ------------------------------------------------------------------- */

void elign_dataset_init(elign_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  elign_molset_init(&ds->mols);
}

void elign_dataset_free(elign_dataset *ds) {
  elign_molset_free(&ds->mols);
  for (int i = 0; i < ds->n_props; i++) free(ds->props[i].values);
  free(ds->props);
  for (int i = 0; i < ds->n_splits; i++) free(ds->splits[i].index);
  free(ds->splits);
  memset(ds, 0, sizeof *ds);
}

elign_mol_property *elign_dataset_add_property(elign_dataset *ds, const char *name, const char *unit,
                                               const char *description, const double *values) {
  ds->props = elign_realloc(ds->props, (size_t)(ds->n_props + 1) * sizeof *ds->props, "dataset:props");
  elign_mol_property *p = &ds->props[ds->n_props++];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
  snprintf(p->description, sizeof p->description, "%s", description ? description : "");
  int64_t n = ds->mols.n_mol;
  p->values = elign_malloc((size_t)(n ? n : 1) * sizeof *p->values, "dataset:prop");
  for (int64_t m = 0; m < n; m++) p->values[m] = values ? values[m] : NAN;
  p->n = n;
  return p;
}

void elign_dataset_put_property(elign_dataset *ds, const char *name, const char *unit, const char *description,
                                int64_t first, int64_t n, const double *values) {
  int64_t nm = ds->mols.n_mol;
  ELIGN_ASSERT(first >= 0 && first + n <= nm);
  if (!elign_dataset_find_property(ds, name)) elign_dataset_add_property(ds, name, unit, description, NULL);
  /* Every column grows to n_mol; molecules of earlier inputs lacking it stay NaN. */
  for (int i = 0; i < ds->n_props; i++) {
    elign_mol_property *q = &ds->props[i];
    if (q->n < nm) {
      q->values = elign_realloc(q->values, (size_t)nm * sizeof *q->values, "dataset:prop");
      for (int64_t m = q->n; m < nm; m++) q->values[m] = NAN;
      q->n = nm;
    }
    if (strcmp(q->name, name) == 0) memcpy(q->values + first, values, (size_t)n * sizeof *values);
  }
}

const elign_mol_property *elign_dataset_find_property(const elign_dataset *ds, const char *name) {
  for (int i = 0; i < ds->n_props; i++)
    if (strcmp(ds->props[i].name, name) == 0) return &ds->props[i];
  return NULL;
}

static void split_list_add(int *n_splits, elign_split **splits, const char *name, int64_t n, const int64_t *index) {
  *splits = elign_realloc(*splits, (size_t)(*n_splits + 1) * sizeof **splits, "dataset:splits");
  elign_split *s = &(*splits)[(*n_splits)++];
  snprintf(s->name, sizeof s->name, "%s", name);
  s->n = n;
  s->index = elign_malloc((size_t)(n ? n : 1) * sizeof *s->index, "dataset:split");
  memcpy(s->index, index, (size_t)n * sizeof *s->index);
}

void elign_dataset_add_split(elign_dataset *ds, const char *name, int64_t n, const int64_t *index) {
  split_list_add(&ds->n_splits, &ds->splits, name, n, index);
}

const elign_split *elign_dataset_find_split(const elign_dataset *ds, const char *name) {
  for (int i = 0; i < ds->n_splits; i++)
    if (strcmp(ds->splits[i].name, name) == 0) return &ds->splits[i];
  return NULL;
}

/* ---- shared packed-molecule layout ----------------------------------------------------- */

static elign_status write_hist(hid_t f, const char *group, const char *key_name, const elign_hist *h,
                               elign_error *err) {
  char path[128];
  hsize_t dims[1] = {(hsize_t)h->n};
  snprintf(path, sizeof path, "%s/%s", group, key_name);
  elign_status st = elign_h5_write_array(f, path, H5T_NATIVE_INT64, 1, dims, h->key, err);
  snprintf(path, sizeof path, "%s/count", group);
  if (st == ELIGN_OK) st = elign_h5_write_array(f, path, H5T_NATIVE_INT64, 1, dims, h->count, err);
  return st;
}

static elign_status write_histograms(hid_t f, const elign_hist *nodes, const elign_hist *elements, elign_error *err) {
  elign_status st = write_hist(f, "/nodes_hist", "n_atoms", nodes, err);
  if (st == ELIGN_OK) st = write_hist(f, "/element_hist", "Z", elements, err);
  return st;
}

/* Everything of a molset except the histograms (written by the caller, which
 * may have computed them across ranks). */
static elign_status write_molset_arrays(hid_t f, const elign_molset *s, elign_error *err) {
  hsize_t nm = (hsize_t)s->n_mol, na = (hsize_t)s->n_atoms;
  hsize_t d_off[1] = {nm + 1}, d_mol[1] = {nm}, d_atom[1] = {na}, d_xyz[2] = {na, 3};
  elign_status st = elign_h5_set_attr_i64(f, "/", "n_mol", s->n_mol, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/", "n_atoms", s->n_atoms, err);
  if (st == ELIGN_OK) st = elign_h5_write_array(f, "/offsets", H5T_NATIVE_INT64, 1, d_off, s->offsets, err);
  if (st == ELIGN_OK) st = elign_h5_write_array(f, "/atomic_numbers", H5T_NATIVE_INT32, 1, d_atom, s->Z, err);
  if (st == ELIGN_OK) st = elign_h5_write_array(f, "/positions", H5T_NATIVE_DOUBLE, 2, d_xyz, s->pos, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_str(f, "/positions", "unit", "angstrom", err);
  if (st == ELIGN_OK && s->ids) st = elign_h5_write_array(f, "/ids", H5T_NATIVE_INT64, 1, d_mol, s->ids, err);
  if (st == ELIGN_OK && s->smiles) st = elign_h5_write_strings(f, "/smiles", s->n_mol, s->smiles, err);
  if (st == ELIGN_OK && s->energy) {
    st = elign_h5_write_array(f, "/energy", H5T_NATIVE_DOUBLE, 1, d_mol, s->energy, err);
    if (st == ELIGN_OK) st = elign_h5_set_attr_str(f, "/energy", "unit", "eV", err);
  }
  if (st == ELIGN_OK && s->forces) {
    st = elign_h5_write_array(f, "/forces", H5T_NATIVE_DOUBLE, 2, d_xyz, s->forces, err);
    if (st == ELIGN_OK) st = elign_h5_set_attr_str(f, "/forces", "unit", "eV/angstrom", err);
  }
  return st;
}

static elign_status write_molset(hid_t f, const elign_molset *s, elign_error *err) {
  elign_status st = write_molset_arrays(f, s, err);
  if (st != ELIGN_OK) return st;
  elign_hist nodes, elements;
  elign_molset_size_hist(s, &nodes);
  elign_molset_element_hist(s, &elements);
  st = write_histograms(f, &nodes, &elements, err);
  elign_hist_free(&nodes);
  elign_hist_free(&elements);
  return st;
}

/* Read a 1-D array that holds one entry per molecule. *out receives the
 * array as soon as it is read, also when its length is wrong, so the caller
 * releases it the same way in both cases; NULL if the read itself failed. */
static elign_status read_per_molecule(hid_t f, const char *name, hid_t memtype, int64_t n_mol, void **out,
                                      const char *label, elign_error *err) {
  hsize_t d[1];
  void *p; /* not *out directly: a failed read leaves its argument dangling */
  *out = NULL;
  elign_status st = elign_h5_read_array(f, name, memtype, 1, d, &p, label, err);
  if (st != ELIGN_OK) return st;
  *out = p;
  if ((int64_t)d[0] != n_mol)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: %s has %llu entries for %lld molecules", label, name,
                      (unsigned long long)d[0], (long long)n_mol);
  return ELIGN_OK;
}

/* Read an (n_atoms,3) double array (positions, forces); *out as above. */
static elign_status read_atom_vectors(hid_t f, const char *name, int64_t n_atoms, double **out, const char *label,
                                      elign_error *err) {
  hsize_t d[2];
  void *p;
  elign_status st = elign_h5_read_array(f, name, H5T_NATIVE_DOUBLE, 2, d, &p, label, err);
  if (st != ELIGN_OK) return st;
  *out = p;
  if ((int64_t)d[0] != n_atoms || d[1] != 3)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: %s is [%llu,%llu], expected [%lld,3]", label, name,
                      (unsigned long long)d[0], (unsigned long long)d[1], (long long)n_atoms);
  return ELIGN_OK;
}

/* The root attributes n_mol / n_atoms, where present, must agree with /offsets. */
static elign_status check_root_counts(hid_t f, const char *label, int64_t n_mol, int64_t n_atoms, elign_error *err) {
  const char *names[2] = {"n_mol", "n_atoms"};
  int64_t want[2] = {n_mol, n_atoms};
  for (int i = 0; i < 2; i++) {
    int has = elign_h5_has_attr(f, "/", names[i]);
    if (has < 0) return elign_h5_fail_corrupted(err, label, "root attributes");
    int64_t v;
    if (!has) continue;
    elign_status st = elign_h5_get_attr_i64(f, "/", names[i], &v, label, err);
    if (st != ELIGN_OK) return st;
    if (v != want[i])
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: root attribute %s is %lld, /offsets says %lld", label, names[i],
                        (long long)v, (long long)want[i]);
  }
  return ELIGN_OK;
}

/* Read and validate the packed layout (sizes, offsets monotone, Z range). */
static elign_status read_molset(hid_t f, const char *label, elign_molset *s, elign_error *err) {
  memset(s, 0, sizeof *s);
  hsize_t d[2];
  void *p;
  elign_status st = elign_h5_read_array(f, "/offsets", H5T_NATIVE_INT64, 1, d, &p, label, err);
  if (st != ELIGN_OK) return st;
  s->offsets = p;
  if (d[0] < 1) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /offsets is empty (needs n_mol+1 entries)", label);
  s->n_mol = (int64_t)d[0] - 1;
  s->n_atoms = s->offsets[s->n_mol];
  if (s->offsets[0] != 0) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /offsets[0] is not 0", label);
  for (int64_t m = 0; m < s->n_mol; m++)
    if (s->offsets[m + 1] < s->offsets[m])
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /offsets decreases at molecule %lld", label, (long long)m);
  st = check_root_counts(f, label, s->n_mol, s->n_atoms, err);
  if (st != ELIGN_OK) return st;
  st = elign_h5_read_array(f, "/atomic_numbers", H5T_NATIVE_INT32, 1, d, &p, label, err);
  if (st != ELIGN_OK) return st;
  s->Z = p;
  if ((int64_t)d[0] != s->n_atoms)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /atomic_numbers has %llu entries, /offsets says %lld atoms", label,
                      (unsigned long long)d[0], (long long)s->n_atoms);
  for (int64_t a = 0; a < s->n_atoms; a++)
    if (!elign_element_valid(s->Z[a]))
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: atom %lld has atomic number %d", label, (long long)a, s->Z[a]);
  st = read_atom_vectors(f, "/positions", s->n_atoms, &s->pos, label, err);
  if (st != ELIGN_OK) return st;
  if (elign_h5_exists(f, "/ids")) {
    st = read_per_molecule(f, "/ids", H5T_NATIVE_INT64, s->n_mol, &p, label, err);
    s->ids = p;
    if (st != ELIGN_OK) return st;
  }
  if (elign_h5_exists(f, "/smiles")) {
    int64_t n;
    st = elign_h5_read_strings(f, "/smiles", &n, &s->smiles, label, err);
    if (st != ELIGN_OK) return st;
    if (n != s->n_mol) {
      for (int64_t i = 0; i < n; i++) free(s->smiles[i]);
      elign_free(s->smiles);
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /smiles has %lld entries for %lld molecules", label,
                        (long long)n, (long long)s->n_mol);
    }
  }
  if (elign_h5_exists(f, "/energy")) {
    st = read_per_molecule(f, "/energy", H5T_NATIVE_DOUBLE, s->n_mol, &p, label, err);
    s->energy = p;
    if (st != ELIGN_OK) return st;
  }
  if (elign_h5_exists(f, "/forces")) {
    st = read_atom_vectors(f, "/forces", s->n_atoms, &s->forces, label, err);
    if (st != ELIGN_OK) return st;
  }
  return ELIGN_OK;
}

/* ---- datasets ------------------------------------------------------------------------------ */

/* A property or split name becomes an HDF5 link name under /properties or
 * /split: one path component (no '/', not "." or ".."), shorter than the
 * 64 bytes the readers take (a file we could not read back is refused). */
static elign_status check_member_name(const char *path, const char *kind, const char *name, elign_error *err) {
  size_t l = strlen(name);
  if (l == 0 || l >= 64 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: %s name '%s' cannot be stored (1..63 bytes, no '/')", path, kind,
                      name);
  return ELIGN_OK;
}

elign_status elign_dataset_write(const char *path, const elign_dataset *ds, elign_error *err) {
  for (int i = 0; i < ds->n_props; i++)
    if (check_member_name(path, "property", ds->props[i].name, err)) return ELIGN_ERR_ARG;
  for (int i = 0; i < ds->n_splits; i++)
    if (check_member_name(path, "split", ds->splits[i].name, err)) return ELIGN_ERR_ARG;
  elign_h5_writer w;
  elign_status st = elign_h5_writer_create(&w, path, "dataset", ELIGN_DATASET_VERSION, err);
  if (st != ELIGN_OK) return st;
  st = write_molset(w.file, &ds->mols, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_str(w.file, "/", "source", ds->source, err);
  if (st == ELIGN_OK && ds->mols.energy && ds->energy_description[0])
    st = elign_h5_set_attr_str(w.file, "/energy", "description", ds->energy_description, err);
  hsize_t d_mol[1] = {(hsize_t)ds->mols.n_mol};
  for (int i = 0; i < ds->n_props && st == ELIGN_OK; i++) {
    char name[128];
    snprintf(name, sizeof name, "/properties/%s", ds->props[i].name);
    ELIGN_ASSERT(ds->props[i].n == ds->mols.n_mol);
    st = elign_h5_write_array(w.file, name, H5T_NATIVE_DOUBLE, 1, d_mol, ds->props[i].values, err);
    if (st == ELIGN_OK) st = elign_h5_set_attr_str(w.file, name, "unit", ds->props[i].unit, err);
    if (st == ELIGN_OK) st = elign_h5_set_attr_str(w.file, name, "description", ds->props[i].description, err);
  }
  for (int i = 0; i < ds->n_splits && st == ELIGN_OK; i++) {
    char name[128];
    snprintf(name, sizeof name, "/split/%s", ds->splits[i].name);
    hsize_t d[1] = {(hsize_t)ds->splits[i].n};
    st = elign_h5_write_array(w.file, name, H5T_NATIVE_INT64, 1, d, ds->splits[i].index, err);
  }
  return elign_h5_writer_finish(&w, st, err);
}

#define GROUP_MAX_NAMES 64

typedef struct {
  char names[GROUP_MAX_NAMES][64];
  int n;
  int too_many, too_long;
} name_list;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  name_list *l = data;
  if (strlen(name) >= sizeof l->names[0]) l->too_long = 1;
  else if (l->n == GROUP_MAX_NAMES) l->too_many = 1;
  else snprintf(l->names[l->n++], sizeof l->names[0], "%s", name);
  return l->too_long || l->too_many; /* stop early */
}

/* The names in `group` (none if it does not exist), in name order. More
 * than GROUP_MAX_NAMES, or a name of 64 bytes or more, is an error rather
 * than a silently shorter list. */
static elign_status list_group(hid_t f, const char *group, name_list *l, const char *path, elign_error *err) {
  memset(l, 0, sizeof *l);
  int e = elign_h5_exists(f, group);
  if (e == 0) return ELIGN_OK;
  char what[96];
  snprintf(what, sizeof what, "group %s", group);
  hid_t g = e > 0 ? H5Gopen2(f, group, H5P_DEFAULT) : H5I_INVALID_HID;
  if (g < 0) return elign_h5_fail_corrupted(err, path, what);
  hsize_t idx = 0;
  herr_t rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, l);
  elign_status st = ELIGN_OK;
  if (rc < 0) st = elign_h5_fail_corrupted(err, path, what);
  else if (l->too_many)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: %s holds more than %d entries (this build reads at most %d)", path,
                    group, GROUP_MAX_NAMES, GROUP_MAX_NAMES);
  else if (l->too_long)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: %s holds a name of 64 bytes or more", path, group);
  H5Gclose(g);
  return st;
}

/* Every /split/<name> (indices checked against n_mol), appended to *splits. */
static elign_status read_splits(hid_t f, const char *path, int64_t n_mol, int *n_splits, elign_split **splits,
                                elign_error *err) {
  name_list l;
  elign_status st = list_group(f, "/split", &l, path, err);
  for (int i = 0; i < l.n && st == ELIGN_OK; i++) {
    char name[128];
    snprintf(name, sizeof name, "/split/%s", l.names[i]);
    hsize_t d[1];
    void *p;
    st = elign_h5_read_array(f, name, H5T_NATIVE_INT64, 1, d, &p, path, err);
    if (st != ELIGN_OK) return st;
    int64_t *idx = p;
    for (hsize_t k = 0; k < d[0] && st == ELIGN_OK; k++)
      if (idx[k] < 0 || idx[k] >= n_mol)
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: %s holds molecule index %lld outside 0..%lld", path, name,
                        (long long)idx[k], (long long)n_mol - 1);
      else if (k > 0 && idx[k] <= idx[k - 1])
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: %s is not strictly ascending at entry %llu", path, name,
                        (unsigned long long)k);
    if (st == ELIGN_OK) split_list_add(n_splits, splits, l.names[i], (int64_t)d[0], idx);
    free(p);
  }
  return st;
}

static elign_status read_dataset_extras(hid_t f, const char *path, elign_dataset *ds, elign_error *err) {
  if (elign_h5_has_attr(f, "/", "source"))
    elign_h5_get_attr_str(f, "/", "source", ds->source, sizeof ds->source, path, NULL);
  if (ds->mols.energy && elign_h5_has_attr(f, "/energy", "description"))
    elign_h5_get_attr_str(f, "/energy", "description", ds->energy_description, sizeof ds->energy_description, path,
                          NULL);
  name_list l;
  elign_status lst = list_group(f, "/properties", &l, path, err);
  if (lst != ELIGN_OK) return lst;
  for (int i = 0; i < l.n; i++) {
    char name[128];
    snprintf(name, sizeof name, "/properties/%s", l.names[i]);
    void *p;
    elign_status st = read_per_molecule(f, name, H5T_NATIVE_DOUBLE, ds->mols.n_mol, &p, path, err);
    if (st != ELIGN_OK) {
      free(p);
      return st;
    }
    char unit[32] = "", desc[160] = "";
    if (elign_h5_has_attr(f, name, "unit")) elign_h5_get_attr_str(f, name, "unit", unit, sizeof unit, path, NULL);
    if (elign_h5_has_attr(f, name, "description"))
      elign_h5_get_attr_str(f, name, "description", desc, sizeof desc, path, NULL);
    elign_dataset_add_property(ds, l.names[i], unit, desc, p);
    free(p);
  }
  return read_splits(f, path, ds->mols.n_mol, &ds->n_splits, &ds->splits, err);
}

elign_status elign_dataset_read(const char *path, elign_dataset *ds, elign_error *err) {
  elign_dataset_init(ds);
  hid_t f;
  elign_status st = elign_h5_open_read(path, "dataset", ELIGN_DATASET_VERSION, &f, NULL, NULL, err);
  if (st != ELIGN_OK) return st;
  elign_molset_free(&ds->mols);
  st = read_molset(f, path, &ds->mols, err);
  if (st == ELIGN_OK) st = read_dataset_extras(f, path, ds, err);
  H5Fclose(f);
  return st;
}

static elign_status read_hist(hid_t f, const char *path, const char *group, const char *key_name, elign_hist *h,
                              elign_error *err) {
  memset(h, 0, sizeof *h);
  char name[128];
  hsize_t d1[1], d2[1];
  void *k, *c;
  snprintf(name, sizeof name, "%s/%s", group, key_name);
  elign_status st = elign_h5_read_array(f, name, H5T_NATIVE_INT64, 1, d1, &k, path, err);
  if (st != ELIGN_OK) return st;
  snprintf(name, sizeof name, "%s/count", group);
  st = elign_h5_read_array(f, name, H5T_NATIVE_INT64, 1, d2, &c, path, err);
  if (st != ELIGN_OK) {
    free(k);
    return st;
  }
  if (d1[0] != d2[0]) {
    free(k);
    free(c);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: %s/%s and %s/count differ in length", path, group, key_name, group);
  }
  h->n = (int64_t)d1[0];
  h->key = k;
  h->count = c;
  /* Atom counts are ints in the sampler; elements are the table's. */
  int elements = strcmp(key_name, "Z") == 0;
  char what[ELIGN_H5_PATH_MAX + 32];
  snprintf(what, sizeof what, "%s: %s", path, group);
  st = elign_hist_check(h, elements ? 1 : 0, elements ? ELIGN_MAX_Z : INT32_MAX, 1, what, err);
  if (st != ELIGN_OK) elign_hist_free(h);
  return st;
}

elign_status elign_h5_read_hists(int64_t file_id, const char *label, elign_hist *nodes, elign_hist *elements,
                                 elign_error *err) {
  memset(elements, 0, sizeof *elements);
  elign_status st = read_hist((hid_t)file_id, label, "/nodes_hist", "n_atoms", nodes, err);
  if (st == ELIGN_OK) st = read_hist((hid_t)file_id, label, "/element_hist", "Z", elements, err);
  return st;
}

elign_status elign_dataset_read_nodes_hist(const char *path, elign_hist *h, elign_error *err) {
  memset(h, 0, sizeof *h);
  hid_t f;
  elign_status st = elign_h5_open_read(path, "dataset", ELIGN_DATASET_VERSION, &f, NULL, NULL, err);
  if (st != ELIGN_OK) return st;
  st = read_hist(f, path, "/nodes_hist", "n_atoms", h, err);
  H5Fclose(f);
  return st;
}

/* ---- partial reads ---------------------------------------------------------------------------- */

void elign_dataset_index_free(elign_dataset_index *idx) {
  free(idx->offsets);
  free(idx->ids);
  for (int i = 0; i < idx->n_splits; i++) free(idx->splits[i].index);
  free(idx->splits);
  memset(idx, 0, sizeof *idx);
}

const elign_split *elign_dataset_index_find_split(const elign_dataset_index *idx, const char *name) {
  for (int i = 0; i < idx->n_splits; i++)
    if (strcmp(idx->splits[i].name, name) == 0) return &idx->splits[i];
  return NULL;
}

/* /offsets checked: starts at 0, never decreases. */
static elign_status check_offsets(const int64_t *off, int64_t n_mol, int64_t base, const char *path,
                                  elign_error *err) {
  if (off[0] != base)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /offsets[0] is %lld, expected %lld", path, (long long)off[0],
                      (long long)base);
  for (int64_t m = 0; m < n_mol; m++)
    if (off[m + 1] < off[m])
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /offsets decreases at molecule %lld", path, (long long)m);
  return ELIGN_OK;
}

elign_status elign_dataset_read_index(const char *path, elign_dataset_index *idx, elign_error *err) {
  memset(idx, 0, sizeof *idx);
  hid_t f;
  elign_status st = elign_h5_open_read(path, "dataset", ELIGN_DATASET_VERSION, &f, NULL, NULL, err);
  if (st != ELIGN_OK) return st;
  hsize_t d[1];
  void *p;
  st = elign_h5_read_array(f, "/offsets", H5T_NATIVE_INT64, 1, d, &p, path, err);
  if (st == ELIGN_OK) {
    idx->offsets = p;
    if (d[0] < 1) st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /offsets is empty (needs n_mol+1 entries)", path);
  }
  if (st == ELIGN_OK) {
    idx->n_mol = (int64_t)d[0] - 1;
    st = check_offsets(idx->offsets, idx->n_mol, 0, path, err);
  }
  if (st == ELIGN_OK && elign_h5_exists(f, "/ids")) {
    st = read_per_molecule(f, "/ids", H5T_NATIVE_INT64, idx->n_mol, &p, path, err);
    idx->ids = p;
  }
  if (st == ELIGN_OK) st = read_splits(f, path, idx->n_mol, &idx->n_splits, &idx->splits, err);
  H5Fclose(f);
  if (st != ELIGN_OK) elign_dataset_index_free(idx);
  return st;
}

elign_status elign_dataset_read_range(const char *path, int64_t m0, int64_t m1, elign_molset *out,
                                      elign_error *err) {
  elign_molset_init(out);
  ELIGN_ASSERT(0 <= m0 && m0 <= m1);
  hid_t f;
  elign_status st = elign_h5_open_read(path, "dataset", ELIGN_DATASET_VERSION, &f, NULL, NULL, err);
  if (st != ELIGN_OK) return st;
  hsize_t d[2];
  void *p = NULL;
  int64_t n = m1 - m0;
  st = elign_h5_read_rows(f, "/offsets", H5T_NATIVE_INT64, 1, (hsize_t)m0, (hsize_t)n + 1, d, &p, path, err);
  int64_t *off = p;
  if (st == ELIGN_OK && off[0] < 0)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /offsets[%lld] is negative", path, (long long)m0);
  if (st == ELIGN_OK) st = check_offsets(off, n, off[0], path, err);
  int64_t a0 = st == ELIGN_OK ? off[0] : 0, na = st == ELIGN_OK ? off[n] - off[0] : 0;
  if (st == ELIGN_OK) {
    out->n_mol = n;
    out->n_atoms = na;
    free(out->offsets);
    out->offsets = off;
    for (int64_t m = 0; m <= n; m++) off[m] -= a0;
    off = NULL;
    st = elign_h5_read_rows(f, "/atomic_numbers", H5T_NATIVE_INT32, 1, (hsize_t)a0, (hsize_t)na, d, &p, path, err);
    out->Z = p;
  }
  for (int64_t a = 0; st == ELIGN_OK && a < na; a++)
    if (out->Z[a] < 1 || out->Z[a] > 118)
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: atom %lld has atomic number %d", path, (long long)(a0 + a), out->Z[a]);
  if (st == ELIGN_OK) {
    st = elign_h5_read_rows(f, "/positions", H5T_NATIVE_DOUBLE, 2, (hsize_t)a0, (hsize_t)na, d, &p, path, err);
    out->pos = p;
    if (st == ELIGN_OK && d[1] != 3)
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /positions is [%llu,%llu], expected [n_atoms,3]", path,
                      (unsigned long long)d[0], (unsigned long long)d[1]);
  }
  if (st == ELIGN_OK && elign_h5_exists(f, "/ids")) {
    st = elign_h5_read_rows(f, "/ids", H5T_NATIVE_INT64, 1, (hsize_t)m0, (hsize_t)n, d, &p, path, err);
    out->ids = p;
  }
  free(off);
  H5Fclose(f);
  if (st != ELIGN_OK) elign_molset_free(out);
  return st;
}

/* ---- sample files ------------------------------------------------------------------------------ */

static elign_status write_samples_meta(hid_t f, const elign_samples_meta *meta, elign_error *err) {
  elign_samples_meta none = {.model = "", .seed = 0, .steps = 0, .iteration = -1};
  if (!meta) meta = &none;
  elign_status st = elign_h5_set_attr_str(f, "/", "model", meta->model, err);
  /* seeds are uint64 in the RNG; stored bit-for-bit as int64 */
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/", "seed", (int64_t)meta->seed, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/", "steps", meta->steps, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/", "iteration", meta->iteration, err);
  if (st == ELIGN_OK && meta->model_sha256[0]) st = elign_h5_set_attr_str(f, "/", "model_sha256", meta->model_sha256, err);
  return st;
}

elign_status elign_samples_write(const char *path, const elign_molset *mols, const int64_t *group,
                                 const elign_samples_meta *meta, elign_error *err) {
  elign_h5_writer w;
  elign_status st = elign_h5_writer_create(&w, path, "samples", ELIGN_SAMPLES_VERSION, err);
  if (st != ELIGN_OK) return st;
  st = write_molset(w.file, mols, err);
  int64_t *g = elign_malloc((size_t)(mols->n_mol ? mols->n_mol : 1) * sizeof *g, "samples:group");
  for (int64_t m = 0; m < mols->n_mol; m++) g[m] = group ? group[m] : -1;
  hsize_t d[1] = {(hsize_t)mols->n_mol};
  if (st == ELIGN_OK) st = elign_h5_write_array(w.file, "/group", H5T_NATIVE_INT64, 1, d, g, err);
  free(g);
  if (st == ELIGN_OK) st = write_samples_meta(w.file, meta, err);
  return elign_h5_writer_finish(&w, st, err);
}

/* Global histograms from every rank's molecules (dense bins reduced by sum). */
static void parallel_histograms(MPI_Comm comm, const elign_molset *local, elign_hist *nodes, elign_hist *elements) {
  int64_t maxn = elign_molset_max_natoms(local), gmax = 0;
  MPI_Allreduce(&maxn, &gmax, 1, MPI_INT64_T, MPI_MAX, comm);
  int64_t *dense = elign_calloc((size_t)gmax + 1, sizeof *dense, "hist:dense");
  int64_t *sum = elign_calloc((size_t)gmax + 1, sizeof *sum, "hist:sum");
  elign_count_sizes(local, dense);
  MPI_Allreduce(dense, sum, (int)gmax + 1, MPI_INT64_T, MPI_SUM, comm);
  elign_hist_from_dense(nodes, sum, gmax + 1);
  free(dense);
  free(sum);
  int64_t ed[ELIGN_MAX_Z + 1] = {0}, es[ELIGN_MAX_Z + 1];
  elign_count_elements(local->Z, local->n_atoms, ed);
  MPI_Allreduce(ed, es, ELIGN_MAX_Z + 1, MPI_INT64_T, MPI_SUM, comm);
  elign_hist_from_dense(elements, es, ELIGN_MAX_Z + 1);
}

/* SMILES of all ranks gathered on rank 0 in rank order (NULL → ""); *out is
 * NULL on other ranks or when no rank has SMILES. */
static void gather_smiles(MPI_Comm comm, const elign_molset *local, int64_t n_total, char ***out) {
  int rank, size, have = local->smiles != NULL, any = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  MPI_Allreduce(&have, &any, 1, MPI_INT, MPI_MAX, comm);
  *out = NULL;
  if (!any) return;
  int len = 0;
  for (int64_t m = 0; m < local->n_mol; m++) len += (int)strlen(have && local->smiles[m] ? local->smiles[m] : "") + 1;
  char *buf = elign_malloc((size_t)len + 1, "smiles:send"), *p = buf;
  for (int64_t m = 0; m < local->n_mol; m++) {
    const char *s = have && local->smiles[m] ? local->smiles[m] : "";
    size_t l = strlen(s) + 1;
    memcpy(p, s, l);
    p += l;
  }
  int *lens = NULL, *displs = NULL;
  char *all = NULL;
  if (rank == 0) lens = elign_malloc((size_t)size * sizeof *lens, "smiles:lens");
  MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, comm);
  int total = 0;
  if (rank == 0) {
    displs = elign_malloc((size_t)size * sizeof *displs, "smiles:displs");
    for (int r = 0; r < size; r++) displs[r] = total, total += lens[r];
    all = elign_malloc((size_t)total + 1, "smiles:all");
  }
  MPI_Gatherv(buf, len, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, comm);
  if (rank == 0) {
    char **s = elign_calloc((size_t)(n_total ? n_total : 1), sizeof *s, "smiles:gathered");
    const char *q = all;
    for (int64_t m = 0; m < n_total; m++) {
      s[m] = *q ? elign_strdup(q, "smiles") : NULL;
      q += strlen(q) + 1;
    }
    *out = s;
  }
  free(buf);
  free(lens);
  free(displs);
  free(all);
}

/* /smiles as fixed-length strings (h5io.h), written collectively before the
 * file is published: rank 0 holds them all (gather_smiles) and broadcasts
 * their width; the other ranks take part with no rows. */
static elign_status write_smiles_collective(hid_t file, MPI_Comm comm, int rank, int64_t n, char *const *smiles,
                                            elign_error *err) {
  uint64_t width = 1;
  for (int64_t m = 0; rank == 0 && m < n; m++)
    if (smiles[m] && strlen(smiles[m]) > width) width = strlen(smiles[m]);
  MPI_Bcast(&width, 1, MPI_UINT64_T, 0, comm);
  if (width > ELIGN_H5_STRING_MAX)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "/smiles: a SMILES of %llu bytes (at most %d)", (unsigned long long)width,
                      ELIGN_H5_STRING_MAX);
  char *rows = elign_calloc(rank == 0 && n > 0 ? (size_t)n : 1, (size_t)width, "samples:smiles");
  for (int64_t m = 0; rank == 0 && m < n; m++)
    if (smiles[m]) memcpy(rows + (size_t)m * width, smiles[m], strlen(smiles[m]));
  hid_t t = elign_h5_string_type((size_t)width);
  hsize_t dims[1] = {(hsize_t)n};
  elign_status st = elign_h5_write_slab(file, "/smiles", t, 1, dims, 0, rank == 0 ? (hsize_t)n : 0, rows, err);
  H5Tclose(t);
  free(rows);
  return st;
}

/* The collective phase: every rank writes its rows of every per-molecule and
 * per-atom dataset. Offsets: rank r writes entries [mol0, mol0 + n) shifted by
 * its first global atom; the last rank also writes the closing entry. */
/* One collective slab write, then the outcome agreed by every rank (a rank
 * that failed alone must not leave the others in the next collective call). */
static elign_status slab_step(elign_h5_writer *w, elign_status st, const char *name, hid_t memtype, int rank,
                              const hsize_t *global_dims, int64_t row0, int64_t nrows, const void *data,
                              elign_error *err) {
  if (st != ELIGN_OK) return st;
  st = elign_h5_write_slab(w->file, name, memtype, rank, global_dims, (hsize_t)row0, (hsize_t)nrows, data, err);
  return elign_h5_writer_agree(w, st, err);
}

static elign_status samples_write_slabs(elign_h5_writer *w, int size, const elign_molset *local,
                                        const int64_t *local_group, int64_t mol0, int64_t atom0, int64_t n_mol,
                                        int64_t n_atoms, int any_ids, int any_energy, int any_forces,
                                        elign_error *err) {
  int64_t nl = local->n_mol, al = local->n_atoms;
  int last = w->rank == size - 1;
  int64_t *buf = elign_malloc((size_t)(nl + 1) * sizeof *buf, "samples:offsets");
  for (int64_t m = 0; m < nl + last; m++) buf[m] = local->offsets[m] + atom0;
  hsize_t g_off[1] = {(hsize_t)n_mol + 1}, g_mol[1] = {(hsize_t)n_mol}, g_atom[1] = {(hsize_t)n_atoms},
          g_xyz[2] = {(hsize_t)n_atoms, 3};
  elign_status st = slab_step(w, ELIGN_OK, "/offsets", H5T_NATIVE_INT64, 1, g_off, mol0, nl + last, buf, err);
  st = slab_step(w, st, "/atomic_numbers", H5T_NATIVE_INT32, 1, g_atom, atom0, al, local->Z, err);
  st = slab_step(w, st, "/positions", H5T_NATIVE_DOUBLE, 2, g_xyz, atom0, al, local->pos, err);
  for (int64_t m = 0; m < nl; m++) buf[m] = local_group ? local_group[m] : -1;
  st = slab_step(w, st, "/group", H5T_NATIVE_INT64, 1, g_mol, mol0, nl, buf, err);
  if (any_ids) {
    for (int64_t m = 0; m < nl; m++) buf[m] = local->ids ? local->ids[m] : -1;
    st = slab_step(w, st, "/ids", H5T_NATIVE_INT64, 1, g_mol, mol0, nl, buf, err);
  }
  free(buf);
  if (any_energy) {
    double *e = elign_malloc((size_t)(nl ? nl : 1) * sizeof *e, "samples:energy");
    for (int64_t m = 0; m < nl; m++) e[m] = local->energy ? local->energy[m] : NAN;
    st = slab_step(w, st, "/energy", H5T_NATIVE_DOUBLE, 1, g_mol, mol0, nl, e, err);
    free(e);
  }
  if (any_forces) {
    double *fz = local->forces ? NULL : elign_calloc((size_t)(3 * al), sizeof *fz, "samples:forces");
    st = slab_step(w, st, "/forces", H5T_NATIVE_DOUBLE, 2, g_xyz, atom0, al, local->forces ? local->forces : fz, err);
    free(fz);
  }
  return st;
}

/* Bytes the arrays of a samples file take (what elign_h5_writer_reserve asks for). */
static double samples_file_bytes(int64_t n_mol, int64_t n_atoms, int any_ids, int any_energy, int any_forces) {
  double per_mol = 8.0 /* offsets */ + 8.0 /* group */ + 8.0 * any_ids + 8.0 * any_energy;
  double per_atom = 4.0 /* Z */ + 24.0 /* positions */ + 24.0 * any_forces;
  return 8.0 + per_mol * (double)n_mol + per_atom * (double)n_atoms + 4096.0 /* histograms */;
}

elign_status elign_samples_write_parallel(MPI_Comm comm, const char *path, const elign_molset *local,
                                          const int64_t *local_group, const elign_samples_meta *meta,
                                          elign_error *err) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  /* Where this rank's molecules start, and the totals. */
  int64_t mine[2] = {local->n_mol, local->n_atoms}, before[2] = {0, 0}, total[2];
  MPI_Exscan(mine, before, 2, MPI_INT64_T, MPI_SUM, comm);
  if (rank == 0) before[0] = before[1] = 0; /* MPI_Exscan leaves rank 0's result undefined */
  MPI_Allreduce(mine, total, 2, MPI_INT64_T, MPI_SUM, comm);
  int flags[4] = {local->ids != NULL, local->energy != NULL, local->forces != NULL, local->smiles != NULL}, any[4];
  MPI_Allreduce(flags, any, 4, MPI_INT, MPI_MAX, comm);
  elign_hist nodes, elements;
  parallel_histograms(comm, local, &nodes, &elements);
  char **smiles = NULL;
  gather_smiles(comm, local, total[0], &smiles);

  elign_h5_writer w;
  elign_status st = elign_h5_writer_create_parallel(&w, comm, path, "samples", ELIGN_SAMPLES_VERSION, err);
  if (st == ELIGN_OK)
    st = elign_h5_writer_reserve(&w, samples_file_bytes(total[0], total[1], any[0], any[1], any[2]), err);
  if (st == ELIGN_OK) {
    st = samples_write_slabs(&w, size, local, local_group, before[0], before[1], total[0], total[1], any[0], any[1],
                             any[2], err);
    /* Everything below is metadata with identical values on every rank;
     * only rank 0 may meet a failed metadata write: agree after each. */
    if (st == ELIGN_OK) st = elign_h5_writer_agree(&w, elign_h5_set_attr_i64(w.file, "/", "n_mol", total[0], err), err);
    if (st == ELIGN_OK) st = elign_h5_writer_agree(&w, elign_h5_set_attr_i64(w.file, "/", "n_atoms", total[1], err), err);
    if (st == ELIGN_OK)
      st = elign_h5_writer_agree(&w, elign_h5_set_attr_str(w.file, "/positions", "unit", "angstrom", err), err);
    if (st == ELIGN_OK && any[1])
      st = elign_h5_writer_agree(&w, elign_h5_set_attr_str(w.file, "/energy", "unit", "eV", err), err);
    if (st == ELIGN_OK && any[2])
      st = elign_h5_writer_agree(&w, elign_h5_set_attr_str(w.file, "/forces", "unit", "eV/angstrom", err), err);
    if (st == ELIGN_OK) st = write_samples_meta(w.file, meta, err);
    /* Small arrays: every rank passes the same data; collective write of the whole. */
    const struct {
      const char *name;
      const elign_hist *hist;
      const int64_t *values;
    } small[] = {{"/nodes_hist/n_atoms", &nodes, nodes.key},
                 {"/nodes_hist/count", &nodes, nodes.count},
                 {"/element_hist/Z", &elements, elements.key},
                 {"/element_hist/count", &elements, elements.count}};
    st = elign_h5_writer_agree(&w, st, err); /* the attributes: collective metadata */
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
      hsize_t dims[1] = {(hsize_t)small[i].hist->n};
      st = slab_step(&w, st, small[i].name, H5T_NATIVE_INT64, 1, dims, 0, rank == 0 ? (int64_t)dims[0] : 0,
                     small[i].values, err);
    }
    if (st == ELIGN_OK && any[3])
      st = elign_h5_writer_agree(&w, write_smiles_collective(w.file, comm, rank, total[0], smiles, err), err);
    if (st == ELIGN_OK) {
      st = elign_h5_writer_commit_parallel(&w, err);
    } else {
      elign_h5_writer_abort_parallel(&w);
      elign_error_prefix(err, "%s: ", path);
    }
  }
  elign_hist_free(&nodes);
  elign_hist_free(&elements);
  if (smiles)
    for (int64_t m = 0; m < total[0]; m++) free(smiles[m]);
  free(smiles);
  return st;
}

elign_status elign_samples_read(const char *path, elign_molset *mols, int64_t **group, elign_samples_meta *meta,
                                elign_error *err) {
  memset(mols, 0, sizeof *mols);
  if (group) *group = NULL;
  hid_t f;
  elign_status st = elign_h5_open_read(path, "samples", ELIGN_SAMPLES_VERSION, &f, NULL, NULL, err);
  if (st != ELIGN_OK) return st;
  st = read_molset(f, path, mols, err);
  if (st == ELIGN_OK && group) {
    void *p;
    st = read_per_molecule(f, "/group", H5T_NATIVE_INT64, mols->n_mol, &p, path, err);
    *group = p;
  }
  if (st == ELIGN_OK && meta) {
    memset(meta, 0, sizeof *meta);
    int64_t seed = 0;
    elign_h5_get_attr_str(f, "/", "model", meta->model, sizeof meta->model, path, NULL);
    elign_h5_get_attr_i64(f, "/", "seed", &seed, path, NULL);
    elign_h5_get_attr_i64(f, "/", "steps", &meta->steps, path, NULL);
    elign_h5_get_attr_i64(f, "/", "iteration", &meta->iteration, path, NULL);
    if (elign_h5_has_attr(f, "/", "model_sha256"))
      elign_h5_get_attr_str(f, "/", "model_sha256", meta->model_sha256, sizeof meta->model_sha256, path, NULL);
    meta->seed = (uint64_t)seed;
  }
  H5Fclose(f);
  return st;
}

/* ---- oracle results ------------------------------------------------------------------------------ */

elign_status elign_oracle_results_write(const char *path, const elign_molset *mols, const int32_t *status,
                                        const char *oracle_name, elign_error *err) {
  if (!mols->energy || !mols->forces)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: oracle results need energies and forces", path);
  elign_h5_writer w;
  elign_status st = elign_h5_writer_create(&w, path, "oracle_results", ELIGN_ORACLE_RESULTS_VERSION, err);
  if (st != ELIGN_OK) return st;
  st = write_molset(w.file, mols, err);
  hsize_t d[1] = {(hsize_t)mols->n_mol};
  int32_t *s = elign_calloc((size_t)(mols->n_mol ? mols->n_mol : 1), sizeof *s, "oracle:status");
  if (status) memcpy(s, status, (size_t)mols->n_mol * sizeof *s);
  if (st == ELIGN_OK) st = elign_h5_write_array(w.file, "/status", H5T_NATIVE_INT32, 1, d, s, err);
  free(s);
  if (st == ELIGN_OK) st = elign_h5_set_attr_str(w.file, "/", "oracle", oracle_name ? oracle_name : "", err);
  return elign_h5_writer_finish(&w, st, err);
}

elign_status elign_oracle_results_read(const char *path, elign_molset *mols, int32_t **status, char *oracle_name,
                                       elign_error *err) {
  memset(mols, 0, sizeof *mols);
  *status = NULL;
  hid_t f;
  elign_status st = elign_h5_open_read(path, "oracle_results", ELIGN_ORACLE_RESULTS_VERSION, &f, NULL, NULL, err);
  if (st != ELIGN_OK) return st;
  st = read_molset(f, path, mols, err);
  if (st == ELIGN_OK && (!mols->energy || !mols->forces))
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: oracle results without /energy or /forces", path);
  if (st == ELIGN_OK) {
    void *p;
    st = read_per_molecule(f, "/status", H5T_NATIVE_INT32, mols->n_mol, &p, path, err);
    *status = p;
  }
  if (st == ELIGN_OK && oracle_name) {
    oracle_name[0] = '\0';
    elign_h5_get_attr_str(f, "/", "oracle", oracle_name, 128, path, NULL);
  }
  H5Fclose(f);
  return st;
}
