/* dataset_stream.c — a dataset file written molecule by molecule (dataset_stream.h). */
#include "common/io/dataset_stream.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/io/h5io.h"

/* Rows per chunk: a positions chunk is 1.5 MiB, a per-molecule chunk 128 KiB.
 * Columns flush exactly one chunk at a time, so HDF5 writes whole chunks. */
#define ATOM_CHUNK_ROWS ((int64_t)1 << 16)
#define MOL_CHUNK_ROWS ((int64_t)1 << 14)

/* ---- one extendible column: [rows] or [rows, cols], one chunk buffered ------------------------------------ */

/* Strings are stored fixed-length (h5io.h: no global heap), as wide as the
 * longest, which is known only at the end. So a string column spills its
 * strings to an anonymous temporary file next to the output while the
 * molecules stream in (memory stays flat; the file vanishes with the
 * process, also on a crash) and writes /smiles from it on commit. */
typedef struct {
  hid_t ds;          /* the dataset, H5I_INVALID_HID when not created (strings: until commit) */
  hid_t memtype;     /* element type in memory */
  int cols;          /* 0: a 1-D column; else values per row */
  int is_string;     /* rows are char* (strdup'ed), spilled to `spill` */
  size_t row_bytes;
  char *buf;         /* chunk_rows rows */
  int64_t chunk_rows, n_buf, n_disk;
  FILE *spill;       /* strings only: every string so far, each followed by '\0' */
  size_t max_len;    /* strings only: the longest so far */
  char name[96];
} column;

/* An anonymous file in the directory of `near` (unlinked at once). */
static FILE *anonymous_file_near(const char *near) {
  char tmpl[ELIGN_H5_PATH_MAX + 32];
  snprintf(tmpl, sizeof tmpl, "%s.strings.XXXXXX", near);
  int fd = mkstemp(tmpl);
  if (fd < 0) return NULL;
  unlink(tmpl);
  FILE *f = fdopen(fd, "w+b");
  if (!f) close(fd);
  return f;
}

/* filetype: the little-endian standard type on disk (as elign_h5_write_array
 * uses); ignored for string columns. */
static elign_status column_create(column *c, hid_t file, const char *name, hid_t memtype, hid_t filetype, int cols,
                                  int is_string, int64_t chunk_rows, const char *near, elign_error *err) {
  memset(c, 0, sizeof *c);
  c->ds = H5I_INVALID_HID;
  c->memtype = memtype;
  c->cols = cols;
  c->is_string = is_string;
  c->row_bytes = is_string ? sizeof(char *) : H5Tget_size(memtype) * (size_t)(cols ? cols : 1);
  c->chunk_rows = chunk_rows;
  c->buf = elign_malloc((size_t)chunk_rows * c->row_bytes, "stream:column");
  snprintf(c->name, sizeof c->name, "%s", name);
  if (is_string) {
    c->spill = anonymous_file_near(near);
    if (!c->spill)
      return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot create a temporary file for %s: %s", name, strerror(errno));
    return ELIGN_OK;
  }
  int rank = cols ? 2 : 1;
  hsize_t dims[2] = {0, (hsize_t)cols}, maxdims[2] = {H5S_UNLIMITED, (hsize_t)cols};
  hsize_t chunk[2] = {(hsize_t)chunk_rows, (hsize_t)cols};
  hid_t space = H5Screate_simple(rank, dims, maxdims);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, rank, chunk);
  H5Pset_fletcher32(dcpl); /* every stored byte checksummed (h5io.h) */
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  c->ds = H5Dcreate2(file, name, filetype, space, lcpl, dcpl, H5P_DEFAULT);
  H5Pclose(lcpl);
  H5Pclose(dcpl);
  H5Sclose(space);
  if (c->ds < 0) return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot create HDF5 dataset %s", name);
  return ELIGN_OK;
}

/* A column that does not exist yet (closing it is a no-op). */
static void column_init_empty(column *c) {
  memset(c, 0, sizeof *c);
  c->ds = c->memtype = H5I_INVALID_HID;
}

static void column_free_strings(column *c) {
  if (!c->is_string) return;
  char **s = (char **)c->buf;
  for (int64_t i = 0; i < c->n_buf; i++) free(s[i]);
}

static elign_status column_spill_strings(column *c, elign_error *err) {
  char **s = (char **)c->buf;
  int ok = 1;
  for (int64_t i = 0; i < c->n_buf && ok; i++) {
    size_t l = strlen(s[i]);
    if (l > c->max_len) c->max_len = l;
    ok = fwrite(s[i], 1, l + 1, c->spill) == l + 1;
  }
  if (!ok) return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot write the temporary strings of %s (disk full?)", c->name);
  if (c->max_len > ELIGN_H5_STRING_MAX)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: a string of %zu bytes (at most %d)", c->name, c->max_len,
                      ELIGN_H5_STRING_MAX);
  return ELIGN_OK;
}

static elign_status column_flush(column *c, elign_error *err) {
  if (c->n_buf == 0) return ELIGN_OK;
  if (c->is_string) {
    elign_status st = column_spill_strings(c, err);
    column_free_strings(c);
    c->n_disk += c->n_buf;
    c->n_buf = 0;
    return st;
  }
  int rank = c->cols ? 2 : 1;
  hsize_t total[2] = {(hsize_t)(c->n_disk + c->n_buf), (hsize_t)c->cols};
  hsize_t start[2] = {(hsize_t)c->n_disk, 0}, count[2] = {(hsize_t)c->n_buf, (hsize_t)c->cols};
  herr_t rc = H5Dset_extent(c->ds, total);
  hid_t fspace = rc < 0 ? H5I_INVALID_HID : H5Dget_space(c->ds);
  if (fspace >= 0) rc = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
  hid_t mspace = H5Screate_simple(rank, count, NULL);
  if (rc >= 0 && fspace >= 0) rc = H5Dwrite(c->ds, c->memtype, mspace, fspace, H5P_DEFAULT, c->buf);
  H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  c->n_disk += c->n_buf;
  c->n_buf = 0;
  if (rc < 0 || fspace < 0) return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot write HDF5 dataset %s (disk full?)", c->name);
  return ELIGN_OK;
}

/* Write the spilled strings of a flushed string column as the fixed-length
 * dataset c->name, chunk_rows strings at a time. */
static elign_status column_write_strings(column *c, hid_t file, elign_error *err) {
  size_t width = c->max_len ? c->max_len : 1;
  hsize_t dims[1] = {(hsize_t)c->n_disk};
  hid_t t = elign_h5_string_type(width);
  c->ds = elign_h5_dataset_create(file, c->name, t, 1, dims);
  char *rows = elign_malloc((size_t)c->chunk_rows * width, "stream:string_rows");
  herr_t rc = c->ds < 0 || fflush(c->spill) != 0 || fseek(c->spill, 0, SEEK_SET) != 0 ? -1 : 0;
  for (int64_t first = 0; first < c->n_disk && rc >= 0; first += c->chunk_rows) {
    int64_t n = c->n_disk - first < c->chunk_rows ? c->n_disk - first : c->chunk_rows;
    memset(rows, 0, (size_t)n * width);
    for (int64_t i = 0; i < n && rc >= 0; i++) {
      char *row = rows + (size_t)i * width;
      size_t l = 0;
      int ch;
      while ((ch = getc(c->spill)) > 0 && l < width) row[l++] = (char)ch;
      if (ch != 0) rc = -1; /* the spill file is our own: anything else is an I/O error */
    }
    hsize_t start[1] = {(hsize_t)first}, count[1] = {(hsize_t)n};
    hid_t fspace = rc >= 0 ? H5Dget_space(c->ds) : H5I_INVALID_HID;
    hid_t mspace = H5Screate_simple(1, count, NULL);
    if (fspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0) rc = -1;
    if (rc >= 0) rc = H5Dwrite(c->ds, t, mspace, fspace, H5P_DEFAULT, rows);
    H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
  }
  free(rows);
  H5Tclose(t);
  if (rc < 0) return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot write HDF5 dataset %s (disk full?)", c->name);
  return ELIGN_OK;
}

/* Append n rows (n * row_bytes bytes; for strings n char* that are copied). */
static elign_status column_push(column *c, const void *rows, int64_t n, elign_error *err) {
  const char *src = rows;
  while (n > 0) {
    int64_t take = c->chunk_rows - c->n_buf < n ? c->chunk_rows - c->n_buf : n;
    if (c->is_string) {
      char *const *in = rows;
      char **dst = (char **)c->buf + c->n_buf;
      for (int64_t i = 0; i < take; i++) dst[i] = elign_strdup(in[i] ? in[i] : "", "stream:string");
      rows = in + take;
    } else {
      memcpy(c->buf + (size_t)c->n_buf * c->row_bytes, src, (size_t)take * c->row_bytes);
      src += (size_t)take * c->row_bytes;
    }
    c->n_buf += take;
    n -= take;
    if (c->n_buf == c->chunk_rows) {
      elign_status st = column_flush(c, err);
      if (st != ELIGN_OK) return st;
    }
  }
  return ELIGN_OK;
}

static void column_close(column *c) {
  column_free_strings(c);
  c->n_buf = 0;
  if (c->ds >= 0) H5Dclose(c->ds);
  c->ds = H5I_INVALID_HID;
  if (c->spill) fclose(c->spill);
  c->spill = NULL;
  elign_free(c->buf);
}

/* ---- the stream --------------------------------------------------------------------------------------------- */

struct elign_dataset_stream {
  elign_h5_writer w;
  column offsets, Z, pos, ids, smiles;
  int with_ids, with_smiles;
  int n_props;
  column *props;
  int n_splits;
  column *splits;
  int64_t *split_last;  /* last index pushed per split, -1 before the first */
  int64_t n_mol, n_atoms;
  int64_t *nodes_dense; /* molecules per atom count [0..nodes_cap) */
  int64_t nodes_cap;
  int64_t elements_dense[119];
};

static void stream_close_columns(elign_dataset_stream *s) {
  column_close(&s->offsets);
  column_close(&s->Z);
  column_close(&s->pos);
  column_close(&s->ids);
  column_close(&s->smiles);
  for (int i = 0; i < s->n_props; i++) column_close(&s->props[i]);
  for (int i = 0; i < s->n_splits; i++) column_close(&s->splits[i]);
}

static void stream_free(elign_dataset_stream *s) {
  free(s->props);
  free(s->splits);
  free(s->split_last);
  free(s->nodes_dense);
  free(s);
}

void elign_dataset_stream_abort(elign_dataset_stream *s) {
  if (!s) return;
  stream_close_columns(s);
  elign_h5_writer_abort(&s->w);
  stream_free(s);
}

static elign_status create_columns(elign_dataset_stream *s, const elign_stream_layout *l, elign_error *err) {
  hid_t f = s->w.file;
  const char *near = s->w.out.final_path;
  elign_status st =
      column_create(&s->offsets, f, "/offsets", H5T_NATIVE_INT64, H5T_STD_I64LE, 0, 0, MOL_CHUNK_ROWS, near, err);
  if (st == ELIGN_OK)
    st = column_create(&s->Z, f, "/atomic_numbers", H5T_NATIVE_INT32, H5T_STD_I32LE, 0, 0, ATOM_CHUNK_ROWS, near,
                       err);
  if (st == ELIGN_OK)
    st = column_create(&s->pos, f, "/positions", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 3, 0, ATOM_CHUNK_ROWS, near, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_str(f, "/positions", "unit", "angstrom", err);
  if (st == ELIGN_OK && s->with_ids)
    st = column_create(&s->ids, f, "/ids", H5T_NATIVE_INT64, H5T_STD_I64LE, 0, 0, MOL_CHUNK_ROWS, near, err);
  if (st == ELIGN_OK && s->with_smiles)
    st = column_create(&s->smiles, f, "/smiles", H5I_INVALID_HID, H5I_INVALID_HID, 0, 1, MOL_CHUNK_ROWS, near, err);
  for (int i = 0; i < s->n_props && st == ELIGN_OK; i++) {
    char name[128];
    snprintf(name, sizeof name, "/properties/%s", l->props[i].name);
    st = column_create(&s->props[i], f, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 0, 0, MOL_CHUNK_ROWS, near, err);
    if (st == ELIGN_OK) st = elign_h5_set_attr_str(f, name, "unit", l->props[i].unit ? l->props[i].unit : "", err);
    if (st == ELIGN_OK)
      st = elign_h5_set_attr_str(f, name, "description", l->props[i].description ? l->props[i].description : "", err);
  }
  for (int i = 0; i < s->n_splits && st == ELIGN_OK; i++) {
    char name[128];
    snprintf(name, sizeof name, "/split/%s", l->split_names[i]);
    st = column_create(&s->splits[i], f, name, H5T_NATIVE_INT64, H5T_STD_I64LE, 0, 0, MOL_CHUNK_ROWS, near, err);
  }
  return st;
}

elign_status elign_dataset_stream_create(elign_dataset_stream **out, const char *path,
                                         const elign_stream_layout *layout, elign_error *err) {
  *out = NULL;
  for (int i = 0; i < layout->n_props; i++)
    ELIGN_ASSERT(layout->props[i].name && layout->props[i].name[0] && strlen(layout->props[i].name) < 64);
  for (int i = 0; i < layout->n_splits; i++)
    ELIGN_ASSERT(layout->split_names[i] && layout->split_names[i][0] && strlen(layout->split_names[i]) < 64);
  elign_dataset_stream *s = elign_calloc(1, sizeof *s, "stream");
  s->with_ids = layout->with_ids;
  s->with_smiles = layout->with_smiles;
  s->props = elign_calloc((size_t)layout->n_props + 1, sizeof *s->props, "stream:props");
  s->splits = elign_calloc((size_t)layout->n_splits + 1, sizeof *s->splits, "stream:splits");
  s->split_last = elign_malloc(((size_t)layout->n_splits + 1) * sizeof *s->split_last, "stream:split_last");
  for (int i = 0; i < layout->n_splits; i++) s->split_last[i] = -1;
  /* Every column starts "not created", so an early failure closes only what exists. */
  column *fixed[] = {&s->offsets, &s->Z, &s->pos, &s->ids, &s->smiles};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) column_init_empty(fixed[i]);
  for (int i = 0; i < layout->n_props; i++) column_init_empty(&s->props[i]);
  for (int i = 0; i < layout->n_splits; i++) column_init_empty(&s->splits[i]);
  elign_status st = elign_h5_writer_create(&s->w, path, "dataset", ELIGN_DATASET_VERSION, err);
  if (st != ELIGN_OK) {
    stream_free(s);
    return st;
  }
  s->n_props = layout->n_props;
  s->n_splits = layout->n_splits;
  st = create_columns(s, layout, err);
  int64_t zero = 0;
  if (st == ELIGN_OK) st = column_push(&s->offsets, &zero, 1, err);
  if (st != ELIGN_OK) {
    elign_error_prefix(err, "%s: ", path);
    elign_dataset_stream_abort(s);
    return st;
  }
  *out = s;
  return ELIGN_OK;
}

int64_t elign_dataset_stream_n_mol(const elign_dataset_stream *s) { return s->n_mol; }
int64_t elign_dataset_stream_n_atoms(const elign_dataset_stream *s) { return s->n_atoms; }

static void count_histograms(elign_dataset_stream *s, int n, const int32_t *Z) {
  if (n >= s->nodes_cap) {
    int64_t cap = s->nodes_cap ? s->nodes_cap : 256;
    while (cap <= n) cap *= 2;
    s->nodes_dense = elign_realloc(s->nodes_dense, (size_t)cap * sizeof *s->nodes_dense, "stream:nodes_hist");
    memset(s->nodes_dense + s->nodes_cap, 0, (size_t)(cap - s->nodes_cap) * sizeof *s->nodes_dense);
    s->nodes_cap = cap;
  }
  s->nodes_dense[n]++;
  for (int a = 0; a < n; a++) s->elements_dense[Z[a]]++;
}

elign_status elign_dataset_stream_append(elign_dataset_stream *s, int n, const int32_t *Z, const double *pos,
                                         int64_t id, const char *smiles, const double *props, elign_error *err) {
  ELIGN_ASSERT(n >= 0);
  for (int a = 0; a < n; a++) ELIGN_ASSERT(Z[a] >= 1 && Z[a] <= 118); /* the caller validates its input */
  int64_t end = s->n_atoms + n;
  elign_status st = column_push(&s->Z, Z, n, err);
  if (st == ELIGN_OK) st = column_push(&s->pos, pos, n, err);
  if (st == ELIGN_OK) st = column_push(&s->offsets, &end, 1, err);
  if (st == ELIGN_OK && s->with_ids) st = column_push(&s->ids, &id, 1, err);
  if (st == ELIGN_OK && s->with_smiles) st = column_push(&s->smiles, &smiles, 1, err);
  for (int i = 0; i < s->n_props && st == ELIGN_OK; i++) st = column_push(&s->props[i], &props[i], 1, err);
  if (st != ELIGN_OK) {
    elign_error_prefix(err, "%s: ", s->w.out.final_path);
    return st;
  }
  count_histograms(s, n, Z);
  s->n_mol++;
  s->n_atoms = end;
  return ELIGN_OK;
}

elign_status elign_dataset_stream_split_push(elign_dataset_stream *s, int k, int64_t index, elign_error *err) {
  ELIGN_ASSERT(k >= 0 && k < s->n_splits);
  ELIGN_ASSERT(index > s->split_last[k] && index < s->n_mol);
  s->split_last[k] = index;
  elign_status st = column_push(&s->splits[k], &index, 1, err);
  if (st != ELIGN_OK) elign_error_prefix(err, "%s: ", s->w.out.final_path);
  return st;
}

int64_t elign_dataset_stream_split_size(const elign_dataset_stream *s, int k) {
  ELIGN_ASSERT(k >= 0 && k < s->n_splits);
  return s->splits[k].n_disk + s->splits[k].n_buf;
}

/* Non-empty bins of a dense count array, keys ascending (as dataset_io stores them). */
static void hist_from_counts(elign_hist *h, const int64_t *dense, int64_t n) {
  h->n = 0;
  for (int64_t k = 0; k < n; k++) h->n += dense[k] > 0;
  h->key = elign_malloc((size_t)(h->n ? h->n : 1) * sizeof *h->key, "stream:hist");
  h->count = elign_malloc((size_t)(h->n ? h->n : 1) * sizeof *h->count, "stream:hist");
  int64_t j = 0;
  for (int64_t k = 0; k < n; k++)
    if (dense[k] > 0) h->key[j] = k, h->count[j++] = dense[k];
}

void elign_dataset_stream_hists(const elign_dataset_stream *s, elign_hist *nodes, elign_hist *elements) {
  hist_from_counts(nodes, s->nodes_dense, s->nodes_cap);
  hist_from_counts(elements, s->elements_dense, 119);
}

static elign_status write_hist(hid_t f, const char *key_path, const char *count_path, const elign_hist *h,
                               elign_error *err) {
  hsize_t d[1] = {(hsize_t)h->n};
  elign_status st = elign_h5_write_array(f, key_path, H5T_NATIVE_INT64, 1, d, h->key, err);
  if (st == ELIGN_OK) st = elign_h5_write_array(f, count_path, H5T_NATIVE_INT64, 1, d, h->count, err);
  return st;
}

elign_status elign_dataset_stream_commit(elign_dataset_stream *s, const char *source, elign_error *err) {
  column *fixed[] = {&s->offsets, &s->Z, &s->pos, &s->ids, &s->smiles};
  elign_status st = ELIGN_OK;
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] && st == ELIGN_OK; i++) st = column_flush(fixed[i], err);
  for (int i = 0; i < s->n_props && st == ELIGN_OK; i++) st = column_flush(&s->props[i], err);
  for (int i = 0; i < s->n_splits && st == ELIGN_OK; i++) st = column_flush(&s->splits[i], err);
  hid_t f = s->w.file;
  if (st == ELIGN_OK && s->with_smiles) st = column_write_strings(&s->smiles, f, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/", "n_mol", s->n_mol, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/", "n_atoms", s->n_atoms, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_str(f, "/", "source", source ? source : "", err);
  elign_hist nodes, elements;
  elign_dataset_stream_hists(s, &nodes, &elements);
  if (st == ELIGN_OK) st = write_hist(f, "/nodes_hist/n_atoms", "/nodes_hist/count", &nodes, err);
  if (st == ELIGN_OK) st = write_hist(f, "/element_hist/Z", "/element_hist/count", &elements, err);
  elign_hist_free(&nodes);
  elign_hist_free(&elements);
  /* Close the datasets before the file (the writer closes it with CLOSE_STRONG
   * anyway, but our buffers must go too). */
  stream_close_columns(s);
  st = elign_h5_writer_finish(&s->w, st, err);
  stream_free(s);
  return st;
}
