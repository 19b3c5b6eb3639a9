/* checkpoint.c — generic model checkpoints (elign_format = "model"). */
#include "common/io/checkpoint.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chem/hist.h"
#include "common/io/h5io.h"

/* ---- lifecycle and attributes --------------------------------------------------------- */

void elign_checkpoint_init(elign_checkpoint *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->opt_kind, sizeof c->opt_kind, "adamw");
}

void elign_checkpoint_free(elign_checkpoint *c) {
  for (int i = 0; i < c->n_attrs; i++) {
    free(c->attrs[i].v);
    free(c->attrs[i].s);
  }
  free(c->attrs);
  for (int i = 0; i < c->n_views; i++) free(c->views[i].name);
  free(c->views);
  free(c->params);
  free(c->opt_m);
  free(c->opt_v);
  free(c->opt_vmax);
  free(c->clip_queue);
  free(c->ema);
  free(c->reference);
  free(c->rng_counters);
  free(c->config_text);
  free(c->hist_n_atoms);
  free(c->hist_count);
  elign_checkpoint_init(c);
}

/* The slot for `name`: the existing one (cleared) or a new one. */
static elign_ckpt_attr *attr_slot(elign_checkpoint *c, const char *name) {
  ELIGN_ASSERT(strlen(name) < ELIGN_CKPT_NAME_MAX);
  for (int i = 0; i < c->n_attrs; i++)
    if (strcmp(c->attrs[i].name, name) == 0) {
      free(c->attrs[i].v);
      free(c->attrs[i].s);
      memset(&c->attrs[i], 0, sizeof c->attrs[i]);
      snprintf(c->attrs[i].name, ELIGN_CKPT_NAME_MAX, "%s", name);
      return &c->attrs[i];
    }
  c->attrs = elign_realloc(c->attrs, (size_t)(c->n_attrs + 1) * sizeof *c->attrs, "ckpt:attrs");
  elign_ckpt_attr *a = &c->attrs[c->n_attrs++];
  memset(a, 0, sizeof *a);
  snprintf(a->name, ELIGN_CKPT_NAME_MAX, "%s", name);
  return a;
}

void elign_checkpoint_set_int(elign_checkpoint *c, const char *name, int64_t value) {
  elign_ckpt_attr *a = attr_slot(c, name);
  a->type = ELIGN_CKPT_INT;
  a->i = value;
}

void elign_checkpoint_set_double(elign_checkpoint *c, const char *name, double value) {
  elign_ckpt_attr *a = attr_slot(c, name);
  a->type = ELIGN_CKPT_DOUBLE;
  a->d = value;
}

void elign_checkpoint_set_doubles(elign_checkpoint *c, const char *name, int n, const double *values) {
  elign_ckpt_attr *a = attr_slot(c, name);
  a->type = ELIGN_CKPT_DOUBLES;
  a->n = n;
  a->v = elign_malloc((size_t)(n ? n : 1) * sizeof *a->v, "ckpt:attr");
  memcpy(a->v, values, (size_t)n * sizeof *a->v);
}

void elign_checkpoint_set_string(elign_checkpoint *c, const char *name, const char *value) {
  elign_ckpt_attr *a = attr_slot(c, name);
  a->type = ELIGN_CKPT_STRING;
  a->s = elign_strdup(value, "ckpt:attr");
}

const elign_ckpt_attr *elign_checkpoint_find_attr(const elign_checkpoint *c, const char *name) {
  for (int i = 0; i < c->n_attrs; i++)
    if (strcmp(c->attrs[i].name, name) == 0) return &c->attrs[i];
  return NULL;
}

static const char *attr_type_name(elign_ckpt_attr_type t) {
  static const char *names[] = {"an integer", "a number", "a number vector", "a string"};
  return names[t];
}

static const elign_ckpt_attr *attr_get(const elign_checkpoint *c, const char *name, elign_ckpt_attr_type want,
                                       elign_error *err) {
  const elign_ckpt_attr *a = elign_checkpoint_find_attr(c, name);
  if (!a) {
    ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "checkpoint has no architecture attribute '%s'", name);
    return NULL;
  }
  if (a->type != want && !(want == ELIGN_CKPT_DOUBLE && a->type == ELIGN_CKPT_INT)) {
    ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "checkpoint attribute '%s' is %s, expected %s", name, attr_type_name(a->type),
               attr_type_name(want));
    return NULL;
  }
  return a;
}

elign_status elign_checkpoint_get_int(const elign_checkpoint *c, const char *name, int64_t *out, elign_error *err) {
  const elign_ckpt_attr *a = attr_get(c, name, ELIGN_CKPT_INT, err);
  if (!a) return ELIGN_ERR_FORMAT;
  *out = a->i;
  return ELIGN_OK;
}

elign_status elign_checkpoint_get_double(const elign_checkpoint *c, const char *name, double *out, elign_error *err) {
  const elign_ckpt_attr *a = attr_get(c, name, ELIGN_CKPT_DOUBLE, err);
  if (!a) return ELIGN_ERR_FORMAT;
  *out = a->type == ELIGN_CKPT_INT ? (double)a->i : a->d;
  return ELIGN_OK;
}

elign_status elign_checkpoint_get_doubles(const elign_checkpoint *c, const char *name, int n, double *out,
                                          elign_error *err) {
  const elign_ckpt_attr *a = attr_get(c, name, ELIGN_CKPT_DOUBLES, err);
  if (!a) return ELIGN_ERR_FORMAT;
  if (a->n != n)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "checkpoint attribute '%s' has %d values, expected %d", name, a->n, n);
  memcpy(out, a->v, (size_t)n * sizeof *out);
  return ELIGN_OK;
}

elign_status elign_checkpoint_get_string(const elign_checkpoint *c, const char *name, const char **out,
                                         elign_error *err) {
  const elign_ckpt_attr *a = attr_get(c, name, ELIGN_CKPT_STRING, err);
  if (!a) return ELIGN_ERR_FORMAT;
  *out = a->s;
  return ELIGN_OK;
}

/* ---- buffers --------------------------------------------------------------------------- */

static float *copy_floats(int64_t n, const float *src, const char *label) {
  float *p = elign_malloc((size_t)(n ? n : 1) * sizeof *p, label);
  if (src)
    memcpy(p, src, (size_t)n * sizeof *p);
  else
    memset(p, 0, (size_t)n * sizeof *p);
  return p;
}

void elign_checkpoint_set_params(elign_checkpoint *c, int64_t n, const float *src) {
  ELIGN_ASSERT(n >= 0);
  free(c->params);
  c->n_params = n;
  c->params = copy_floats(n, src, "ckpt:params");
}

void elign_checkpoint_set_optimizer(elign_checkpoint *c, const char *kind, int64_t step, const float *m,
                                    const float *v) {
  free(c->opt_m);
  free(c->opt_v);
  snprintf(c->opt_kind, sizeof c->opt_kind, "%s", kind);
  c->opt_step = step;
  c->opt_m = copy_floats(c->n_params, m, "ckpt:adam_m");
  c->opt_v = copy_floats(c->n_params, v, "ckpt:adam_v");
}

void elign_checkpoint_set_reference(elign_checkpoint *c, const float *src) {
  free(c->reference);
  c->reference = copy_floats(c->n_params, src, "ckpt:reference");
}

void elign_checkpoint_set_optimizer_vmax(elign_checkpoint *c, const float *vmax) {
  ELIGN_ASSERT(c->opt_m); /* part of the optimizer state */
  free(c->opt_vmax);
  c->opt_vmax = copy_floats(c->n_params, vmax, "ckpt:adam_vmax");
}

void elign_checkpoint_set_clip_queue(elign_checkpoint *c, int n, const double *items) {
  free(c->clip_queue);
  c->n_clip = n;
  c->clip_queue = elign_malloc((size_t)(n ? n : 1) * sizeof *c->clip_queue, "ckpt:clip");
  memcpy(c->clip_queue, items, (size_t)n * sizeof *items);
}

void elign_checkpoint_set_ema(elign_checkpoint *c, const float *src, double decay) {
  free(c->ema);
  c->ema = copy_floats(c->n_params, src, "ckpt:ema");
  c->ema_decay = decay;
}

void elign_checkpoint_set_rng(elign_checkpoint *c, uint64_t seed, int n_counters, const uint64_t *counters) {
  free(c->rng_counters);
  c->rng_seed = seed;
  c->n_rng_counters = n_counters;
  c->rng_counters = elign_malloc((size_t)(n_counters ? n_counters : 1) * sizeof *c->rng_counters, "ckpt:rng");
  memcpy(c->rng_counters, counters, (size_t)n_counters * sizeof *c->rng_counters);
}

void elign_checkpoint_set_config(elign_checkpoint *c, const char *text) {
  free(c->config_text);
  c->config_text = text ? elign_strdup(text, "ckpt:config") : NULL;
}

void elign_checkpoint_set_nodes_hist(elign_checkpoint *c, int64_t n, const int64_t *n_atoms, const int64_t *count) {
  free(c->hist_n_atoms);
  free(c->hist_count);
  c->n_hist = n;
  c->hist_n_atoms = elign_malloc((size_t)(n ? n : 1) * sizeof(int64_t), "ckpt:hist");
  c->hist_count = elign_malloc((size_t)(n ? n : 1) * sizeof(int64_t), "ckpt:hist");
  memcpy(c->hist_n_atoms, n_atoms, (size_t)n * sizeof(int64_t));
  memcpy(c->hist_count, count, (size_t)n * sizeof(int64_t));
}

/* ---- views ------------------------------------------------------------------------------ */

/* Shared by add_view and the reader: the message says what is wrong. */
/* check_duplicate: 0 when the caller has checked the names already (the
 * reader does it once for all views, in O(k log k)). */
static elign_status view_check(const elign_checkpoint *c, const char *name, int64_t offset, int ndim,
                               const int64_t *shape, int check_duplicate, int64_t *size, elign_error *err) {
  if (!name[0]) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "parameter view with an empty name");
  if (ndim < 0 || ndim > ELIGN_CKPT_MAX_DIMS)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "parameter view %s: %d dimensions (at most %d)", name, ndim,
                      ELIGN_CKPT_MAX_DIMS);
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "parameter view %s: negative dimension", name);
    /* Shapes come from files too: a product past the buffer is out of range, not an overflow. */
    n = shape[d] == 0 || n <= c->n_params / shape[d] ? n * shape[d] : c->n_params + 1;
  }
  if (offset < 0 || offset > c->n_params || n > c->n_params - offset)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG,
                      "parameter view %s: elements [%lld, %lld + %lld) lie outside the parameter buffer of %lld", name,
                      (long long)offset, (long long)offset, (long long)n, (long long)c->n_params);
  if (check_duplicate && elign_checkpoint_find_view(c, name))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "parameter view %s appears twice", name);
  *size = n;
  return ELIGN_OK;
}

static elign_status add_view(elign_checkpoint *c, const char *name, int64_t offset, int ndim, const int64_t *shape,
                             int check_duplicate, elign_error *err) {
  int64_t size = 0;
  elign_status st = view_check(c, name, offset, ndim, shape, check_duplicate, &size, err);
  if (st != ELIGN_OK) return st;
  c->views = elign_realloc(c->views, (size_t)(c->n_views + 1) * sizeof *c->views, "ckpt:views");
  elign_ckpt_view *v = &c->views[c->n_views++];
  memset(v, 0, sizeof *v);
  v->name = elign_strdup(name, "ckpt:view");
  v->offset = offset;
  v->ndim = ndim;
  for (int d = 0; d < ndim; d++) v->shape[d] = shape[d];
  v->size = size;
  return ELIGN_OK;
}

elign_status elign_checkpoint_add_view(elign_checkpoint *c, const char *name, int64_t offset, int ndim,
                                       const int64_t *shape, elign_error *err) {
  return add_view(c, name, offset, ndim, shape, 1, err);
}

elign_status elign_checkpoint_append_view(elign_checkpoint *c, const char *name, int ndim, const int64_t *shape,
                                          elign_error *err) {
  int64_t off = c->n_views ? c->views[c->n_views - 1].offset + c->views[c->n_views - 1].size : 0;
  return elign_checkpoint_add_view(c, name, off, ndim, shape, err);
}

const elign_ckpt_view *elign_checkpoint_find_view(const elign_checkpoint *c, const char *name) {
  for (int i = 0; i < c->n_views; i++)
    if (strcmp(c->views[i].name, name) == 0) return &c->views[i];
  return NULL;
}

/* ---- write ------------------------------------------------------------------------------- */

static elign_status write_arch(hid_t f, const elign_checkpoint *c, elign_error *err) {
  hid_t g = H5Gcreate2(f, "/arch", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot create /arch");
  H5Gclose(g);
  elign_status st = ELIGN_OK;
  for (int i = 0; i < c->n_attrs && st == ELIGN_OK; i++) {
    const elign_ckpt_attr *a = &c->attrs[i];
    switch (a->type) {
      case ELIGN_CKPT_INT: st = elign_h5_set_attr_i64(f, "/arch", a->name, a->i, err); break;
      case ELIGN_CKPT_DOUBLE: st = elign_h5_set_attr_f64(f, "/arch", a->name, a->d, err); break;
      case ELIGN_CKPT_DOUBLES: st = elign_h5_set_attr_f64v(f, "/arch", a->name, a->n, a->v, err); break;
      case ELIGN_CKPT_STRING: st = elign_h5_set_attr_str(f, "/arch", a->name, a->s, err); break;
    }
  }
  return st;
}

static elign_status write_views(hid_t f, const elign_checkpoint *c, elign_error *err) {
  int k = c->n_views;
  char **names = elign_malloc((size_t)(k ? k : 1) * sizeof *names, "ckpt:names");
  int64_t *offsets = elign_malloc((size_t)(k ? k : 1) * sizeof *offsets, "ckpt:offsets");
  int64_t *shapes = elign_malloc((size_t)(k ? k : 1) * ELIGN_CKPT_MAX_DIMS * sizeof *shapes, "ckpt:shapes");
  for (int i = 0; i < k; i++) {
    names[i] = c->views[i].name;
    offsets[i] = c->views[i].offset;
    for (int d = 0; d < ELIGN_CKPT_MAX_DIMS; d++)
      shapes[i * ELIGN_CKPT_MAX_DIMS + d] = d < c->views[i].ndim ? c->views[i].shape[d] : -1;
  }
  hsize_t d1[1] = {(hsize_t)k}, d2[2] = {(hsize_t)k, ELIGN_CKPT_MAX_DIMS};
  elign_status st = elign_h5_write_strings(f, "/params/names", k, names, err);
  if (st == ELIGN_OK) st = elign_h5_write_array(f, "/params/offsets", H5T_NATIVE_INT64, 1, d1, offsets, err);
  if (st == ELIGN_OK) st = elign_h5_write_array(f, "/params/shapes", H5T_NATIVE_INT64, 2, d2, shapes, err);
  free(names);
  free(offsets);
  free(shapes);
  return st;
}

static elign_status write_body(hid_t f, const elign_checkpoint *c, elign_error *err) {
  hsize_t dp[1] = {(hsize_t)c->n_params};
  elign_status st = write_arch(f, c, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/", "iteration", c->iteration, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/", "optimizer_step", c->optimizer_step, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/", "epoch", c->epoch, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/", "n_params", c->n_params, err);
  if (st == ELIGN_OK) st = elign_h5_write_array(f, "/params/flat", H5T_NATIVE_FLOAT, 1, dp, c->params, err);
  if (st == ELIGN_OK) st = write_views(f, c, err);
  if (st == ELIGN_OK && c->opt_m) {
    st = elign_h5_write_array(f, "/optimizer/m", H5T_NATIVE_FLOAT, 1, dp, c->opt_m, err);
    if (st == ELIGN_OK) st = elign_h5_write_array(f, "/optimizer/v", H5T_NATIVE_FLOAT, 1, dp, c->opt_v, err);
    if (st == ELIGN_OK) st = elign_h5_set_attr_str(f, "/optimizer", "kind", c->opt_kind, err);
    if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/optimizer", "step", c->opt_step, err);
    if (st == ELIGN_OK && c->opt_vmax)
      st = elign_h5_write_array(f, "/optimizer/vmax", H5T_NATIVE_FLOAT, 1, dp, c->opt_vmax, err);
  }
  if (st == ELIGN_OK && c->n_clip > 0) {
    hsize_t dq[1] = {(hsize_t)c->n_clip};
    st = elign_h5_write_array(f, "/optimizer/clip_queue", H5T_NATIVE_DOUBLE, 1, dq, c->clip_queue, err);
  }
  if (st == ELIGN_OK && c->ema) {
    st = elign_h5_write_array(f, "/ema/flat", H5T_NATIVE_FLOAT, 1, dp, c->ema, err);
    if (st == ELIGN_OK) st = elign_h5_set_attr_f64(f, "/ema", "decay", c->ema_decay, err);
  }
  if (st == ELIGN_OK && c->reference)
    st = elign_h5_write_array(f, "/reference/flat", H5T_NATIVE_FLOAT, 1, dp, c->reference, err);
  if (st == ELIGN_OK) {
    hsize_t dr[1] = {(hsize_t)c->n_rng_counters};
    uint64_t none = 0;
    st = elign_h5_write_array(f, "/rng/counters", H5T_NATIVE_UINT64, 1, dr, c->rng_counters ? c->rng_counters : &none,
                              err);
    /* uint64 seed stored bit-for-bit in an int64 attribute */
    if (st == ELIGN_OK) st = elign_h5_set_attr_i64(f, "/rng", "seed", (int64_t)c->rng_seed, err);
  }
  if (st == ELIGN_OK && c->config_text) st = elign_h5_write_text(f, "/config", c->config_text, err);
  if (st == ELIGN_OK && c->n_hist > 0) {
    hsize_t dh[1] = {(hsize_t)c->n_hist};
    st = elign_h5_write_array(f, "/nodes_hist/n_atoms", H5T_NATIVE_INT64, 1, dh, c->hist_n_atoms, err);
    if (st == ELIGN_OK) st = elign_h5_write_array(f, "/nodes_hist/count", H5T_NATIVE_INT64, 1, dh, c->hist_count, err);
  }
  return st;
}

elign_status elign_checkpoint_write(const elign_checkpoint *c, const char *path, elign_error *err) {
  elign_h5_writer w;
  elign_status st = elign_h5_writer_create(&w, path, "model", ELIGN_CHECKPOINT_VERSION, err);
  if (st != ELIGN_OK) return st;
  st = write_body(w.file, c, err);
  return elign_h5_writer_finish(&w, st, err);
}

/* ---- read ------------------------------------------------------------------------------------ */

/* Longest optimizer clipping queue and RNG counter list a reader accepts
 * (both hold tens of entries; the bound keeps int counts exact). */
#define CKPT_MAX_SMALL (1 << 20)

typedef struct {
  elign_checkpoint *c;
  const char *path;
  elign_error *err;
  elign_status st;
} arch_reader;

static herr_t read_arch_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
  arch_reader *r = data;
  if (strlen(name) >= ELIGN_CKPT_NAME_MAX) return 0; /* not ours; skip */
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) return 0;
  hid_t t = H5Aget_type(a), space = H5Aget_space(a);
  H5T_class_t cls = H5Tget_class(t);
  hssize_t npts = H5Sget_simple_extent_npoints(space);
  H5Sclose(space);
  H5Tclose(t);
  H5Aclose(a);
  if (cls == H5T_INTEGER && npts == 1) {
    int64_t v;
    r->st = elign_h5_get_attr_i64(loc, ".", name, &v, r->path, r->err);
    if (r->st == ELIGN_OK) elign_checkpoint_set_int(r->c, name, v);
  } else if (cls == H5T_FLOAT && npts == 1) {
    double v;
    r->st = elign_h5_get_attr_f64(loc, ".", name, &v, r->path, r->err);
    if (r->st == ELIGN_OK) elign_checkpoint_set_double(r->c, name, v);
  } else if (cls == H5T_FLOAT && npts > 1 && npts < 1024) {
    double v[1024];
    hid_t a2 = H5Aopen(loc, name, H5P_DEFAULT);
    herr_t rc = H5Aread(a2, H5T_NATIVE_DOUBLE, v);
    H5Aclose(a2);
    if (rc < 0)
      r->st = ELIGN_FAIL(r->err, ELIGN_ERR_FORMAT, "%s: cannot read /arch attribute %s", r->path, name);
    else
      elign_checkpoint_set_doubles(r->c, name, (int)npts, v);
  } else if (cls == H5T_STRING) {
    char *text;
    r->st = elign_h5_get_attr_text(loc, ".", name, &text, r->path, r->err);
    if (r->st == ELIGN_OK) elign_checkpoint_set_string(r->c, name, text);
    free(text);
  } else {
    r->st = ELIGN_FAIL(r->err, ELIGN_ERR_FORMAT, "%s: /arch attribute %s has an unsupported type", r->path, name);
  }
  return r->st == ELIGN_OK ? 0 : -1;
}

static elign_status read_floats(hid_t f, const char *path, const char *name, int64_t n, float **out,
                                elign_error *err) {
  hsize_t d[1];
  void *p;
  elign_status st = elign_h5_read_array(f, name, H5T_NATIVE_FLOAT, 1, d, &p, path, err);
  if (st != ELIGN_OK) return st;
  *out = p;
  if ((int64_t)d[0] != n)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: %s has %llu values, the parameter buffer %lld", path, name,
                      (unsigned long long)d[0], (long long)n);
  return ELIGN_OK;
}

static int cmp_name(const void *a, const void *b) {
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  return strcmp(x ? x : "", y ? y : "");
}

/* No view name twice: sorted copy, neighbours compared (a file may hold any
 * number of views; one lookup per view would be quadratic). */
static elign_status check_unique_names(char *const *names, int64_t k, const char *path, elign_error *err) {
  char **sorted = elign_malloc((size_t)(k > 0 ? k : 1) * sizeof *sorted, "ckpt:sorted_names");
  memcpy(sorted, names, (size_t)k * sizeof *sorted);
  qsort(sorted, (size_t)k, sizeof *sorted, cmp_name);
  elign_status st = ELIGN_OK;
  for (int64_t i = 1; i < k && st == ELIGN_OK; i++)
    if (cmp_name(&sorted[i - 1], &sorted[i]) == 0)
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: parameter view %s appears twice", path,
                      sorted[i] ? sorted[i] : "(empty)");
  free(sorted);
  return st;
}

static elign_status read_views(elign_checkpoint *c, hid_t f, const char *path, elign_error *err) {
  int64_t k;
  char **names = NULL;
  int64_t *offsets = NULL, *shapes = NULL;
  hsize_t d1[1], d2[2];
  void *p;
  elign_status st = elign_h5_read_strings(f, "/params/names", &k, &names, path, err);
  if (st == ELIGN_OK) st = elign_h5_read_array(f, "/params/offsets", H5T_NATIVE_INT64, 1, d1, &p, path, err);
  if (st == ELIGN_OK) offsets = p;
  if (st == ELIGN_OK) st = elign_h5_read_array(f, "/params/shapes", H5T_NATIVE_INT64, 2, d2, &p, path, err);
  if (st == ELIGN_OK) shapes = p;
  if (st == ELIGN_OK && ((int64_t)d1[0] != k || (int64_t)d2[0] != k || d2[1] != ELIGN_CKPT_MAX_DIMS))
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                    "%s: /params/names (%lld), /params/offsets (%llu) and /params/shapes (%llu x %llu) disagree", path,
                    (long long)k, (unsigned long long)d1[0], (unsigned long long)d2[0], (unsigned long long)d2[1]);
  if (st == ELIGN_OK) st = check_unique_names(names, k, path, err);
  for (int64_t i = 0; i < k && st == ELIGN_OK; i++) {
    int ndim = 0;
    const int64_t *sh = shapes + i * ELIGN_CKPT_MAX_DIMS;
    while (ndim < ELIGN_CKPT_MAX_DIMS && sh[ndim] >= 0) ndim++;
    st = add_view(c, names[i] ? names[i] : "", offsets[i], ndim, sh, 0, err);
    if (st != ELIGN_OK) {
      st = ELIGN_ERR_FORMAT;
      elign_error_prefix(err, "%s: ", path);
    }
  }
  for (int64_t i = 0; i < k; i++) free(names[i]);
  free(names);
  free(offsets);
  free(shapes);
  return st;
}

static elign_status read_body(elign_checkpoint *c, hid_t f, const char *path, elign_error *err) {
  elign_status st = elign_h5_get_attr_i64(f, "/", "iteration", &c->iteration, path, err);
  if (st == ELIGN_OK) st = elign_h5_get_attr_i64(f, "/", "optimizer_step", &c->optimizer_step, path, err);
  if (st == ELIGN_OK) st = elign_h5_get_attr_i64(f, "/", "epoch", &c->epoch, path, err);
  if (st == ELIGN_OK && !elign_h5_exists(f, "/arch"))
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: missing group /arch", path);
  if (st == ELIGN_OK) {
    arch_reader r = {c, path, err, ELIGN_OK};
    hid_t g = H5Gopen2(f, "/arch", H5P_DEFAULT);
    hsize_t idx = 0;
    if ((g < 0 || H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, read_arch_attr, &r) < 0) && r.st == ELIGN_OK)
      r.st = elign_h5_fail_corrupted(err, path, "/arch attributes");
    if (g >= 0) H5Gclose(g);
    st = r.st;
  }
  if (st != ELIGN_OK) return st;
  hsize_t d[1];
  void *p;
  st = elign_h5_read_array(f, "/params/flat", H5T_NATIVE_FLOAT, 1, d, &p, path, err);
  if (st != ELIGN_OK) return st;
  c->params = p;
  c->n_params = (int64_t)d[0];
  int64_t n_attr;
  if (elign_h5_get_attr_i64(f, "/", "n_params", &n_attr, path, NULL) == ELIGN_OK && n_attr != c->n_params)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /params/flat has %lld values but n_params says %lld", path,
                      (long long)c->n_params, (long long)n_attr);
  st = read_views(c, f, path, err);
  if (st == ELIGN_OK && elign_h5_exists(f, "/optimizer")) {
    st = read_floats(f, path, "/optimizer/m", c->n_params, &c->opt_m, err);
    if (st == ELIGN_OK) st = read_floats(f, path, "/optimizer/v", c->n_params, &c->opt_v, err);
    if (st == ELIGN_OK) st = elign_h5_get_attr_str(f, "/optimizer", "kind", c->opt_kind, sizeof c->opt_kind, path, err);
    if (st == ELIGN_OK) st = elign_h5_get_attr_i64(f, "/optimizer", "step", &c->opt_step, path, err);
    if (st == ELIGN_OK && elign_h5_exists(f, "/optimizer/vmax"))
      st = read_floats(f, path, "/optimizer/vmax", c->n_params, &c->opt_vmax, err);
  }
  if (st == ELIGN_OK && elign_h5_exists(f, "/optimizer/clip_queue")) {
    st = elign_h5_read_array(f, "/optimizer/clip_queue", H5T_NATIVE_DOUBLE, 1, d, &p, path, err);
    if (st == ELIGN_OK) {
      c->clip_queue = p;
      c->n_clip = d[0] <= CKPT_MAX_SMALL ? (int)d[0] : 0;
      if (d[0] > CKPT_MAX_SMALL)
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /optimizer/clip_queue holds %llu values (at most %d)", path,
                        (unsigned long long)d[0], CKPT_MAX_SMALL);
    }
  }
  if (st == ELIGN_OK && elign_h5_exists(f, "/ema/flat")) {
    st = read_floats(f, path, "/ema/flat", c->n_params, &c->ema, err);
    if (st == ELIGN_OK) st = elign_h5_get_attr_f64(f, "/ema", "decay", &c->ema_decay, path, err);
  }
  if (st == ELIGN_OK && elign_h5_exists(f, "/reference/flat"))
    st = read_floats(f, path, "/reference/flat", c->n_params, &c->reference, err);
  if (st == ELIGN_OK && elign_h5_exists(f, "/rng/counters")) {
    int64_t seed = 0;
    st = elign_h5_read_array(f, "/rng/counters", H5T_NATIVE_UINT64, 1, d, &p, path, err);
    if (st == ELIGN_OK && d[0] > CKPT_MAX_SMALL) {
      free(p);
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /rng/counters holds %llu values (at most %d)", path,
                      (unsigned long long)d[0], CKPT_MAX_SMALL);
    }
    if (st == ELIGN_OK) {
      c->rng_counters = p;
      c->n_rng_counters = (int)d[0];
      st = elign_h5_get_attr_i64(f, "/rng", "seed", &seed, path, err);
      c->rng_seed = (uint64_t)seed;
    }
  }
  if (st == ELIGN_OK && elign_h5_exists(f, "/config"))
    st = elign_h5_read_text(f, "/config", &c->config_text, path, err);
  if (st == ELIGN_OK && elign_h5_exists(f, "/nodes_hist/n_atoms")) {
    hsize_t d2[1];
    st = elign_h5_read_array(f, "/nodes_hist/n_atoms", H5T_NATIVE_INT64, 1, d, &p, path, err);
    if (st == ELIGN_OK) c->hist_n_atoms = p;
    if (st == ELIGN_OK) st = elign_h5_read_array(f, "/nodes_hist/count", H5T_NATIVE_INT64, 1, d2, &p, path, err);
    if (st == ELIGN_OK) c->hist_count = p;
    if (st == ELIGN_OK && d[0] != d2[0])
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /nodes_hist arrays differ in length", path);
    if (st == ELIGN_OK) c->n_hist = (int64_t)d[0];
    if (st == ELIGN_OK) {
      elign_hist h = {c->n_hist, c->hist_n_atoms, c->hist_count};
      char what[ELIGN_H5_PATH_MAX + 32];
      snprintf(what, sizeof what, "%s: /nodes_hist", path);
      st = elign_hist_check(&h, 1, INT32_MAX, 0, what, err); /* the sampler draws ints; source order */
    }
  }
  return st;
}

elign_status elign_checkpoint_read(elign_checkpoint *c, const char *path, elign_error *err) {
  elign_checkpoint_init(c);
  hid_t f;
  elign_status st = elign_h5_open_read(path, "model", ELIGN_CHECKPOINT_VERSION, &f, NULL, NULL, err);
  if (st != ELIGN_OK) return st;
  st = read_body(c, f, path, err);
  H5Fclose(f);
  return st;
}
