/* edm_model_io.c — edm_model ↔ the HDF5 checkpoint of common/io/checkpoint.h
 * (attribute list in edm_model.h and docs/formats-diffusion.md). Kept apart
 * from edm_model.c so code that only builds models in memory (tests, the
 * sampler) does not pull in HDF5. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/io/checkpoint.h"
#include "common/base/provenance.h"
#include "common/model/edm_model.h"

/* ---- load ---------------------------------------------------------------- */

/* Largest diffusion_steps a model file may state (EDM trains with 1000; the
 * γ table and schedules hold T + 1 entries). */
#define EDM_MAX_DIFFUSION_STEPS 1000000

static elign_status get_flag(const elign_checkpoint *c, const char *name, int *out, elign_error *err) {
  int64_t v;
  elign_status st = elign_checkpoint_get_int(c, name, &v, err);
  if (st) return st;
  if (v != 0 && v != 1) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "attribute %s = %lld, expected 0 or 1", name, (long long)v);
  *out = (int)v;
  return ELIGN_OK;
}

static elign_status expect_string(const elign_checkpoint *c, const char *name, const char *want, elign_error *err) {
  const char *s;
  elign_status st = elign_checkpoint_get_string(c, name, &s, err);
  if (st) return st;
  if (strcmp(s, want) != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "attribute %s = '%s' is not supported (only '%s')", name, s, want);
  return ELIGN_OK;
}

/* Architecture from the attributes; then model_setup. */
static elign_status load_arch(edm_model *m, const elign_checkpoint *c, elign_error *err) {
  elign_status st;
  int64_t n_layers, nf, inv, T0;
  double precision, nfac[3];
  const char *schedule, *dataset = "unknown";
  egnn_config cfg = egnn_config_qm9();
  if ((st = expect_string(c, "model", "egnn_dynamics", err))) return st;
  if ((st = elign_checkpoint_get_int(c, "n_layers", &n_layers, err))) return st;
  if ((st = elign_checkpoint_get_int(c, "nf", &nf, err))) return st;
  if ((st = elign_checkpoint_get_int(c, "inv_sublayers", &inv, err))) return st;
  if (inv != 1) return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "inv_sublayers = %lld (only 1 supported)", (long long)inv);
  if ((st = get_flag(c, "attention", &cfg.attention, err))) return st;
  if ((st = get_flag(c, "tanh", &cfg.tanh, err))) return st;
  if ((st = get_flag(c, "condition_time", &cfg.include_time, err))) return st;
  if ((st = elign_checkpoint_get_double(c, "coords_range", &cfg.coords_range, err))) return st;
  if ((st = elign_checkpoint_get_double(c, "norm_constant", &cfg.norm_constant, err))) return st;
  if ((st = elign_checkpoint_get_double(c, "normalization_factor", &cfg.normalization_factor, err))) return st;
  if ((st = expect_string(c, "aggregation_method", "sum", err))) return st;
  int charges = 0;
  if ((st = get_flag(c, "include_charges", &charges, err))) return st;
  if ((st = elign_checkpoint_get_int(c, "diffusion_steps", &T0, err))) return st;
  if ((st = elign_checkpoint_get_string(c, "diffusion_noise_schedule", &schedule, err))) return st;
  if ((st = elign_checkpoint_get_double(c, "diffusion_noise_precision", &precision, err))) return st;
  if ((st = elign_checkpoint_get_doubles(c, "normalize_factors", 3, nfac, err))) return st;
  const struct {
    const char *name;
    double v;
  } reals[] = {{"coords_range", cfg.coords_range}, {"norm_constant", cfg.norm_constant},
               {"normalization_factor", cfg.normalization_factor}, {"diffusion_noise_precision", precision}};
  for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
    if (!isfinite(reals[i].v))
      return ELIGN_FAIL(err, ELIGN_ERR_NUMERIC, "attribute %s = %g is not finite", reals[i].name, reals[i].v);
  if (nfac[0] != 1 || nfac[1] != 4 || nfac[2] != 10)
    return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "normalize_factors [%g, %g, %g] (only [1, 4, 10] supported)",
                      nfac[0], nfac[1], nfac[2]);
  if (elign_checkpoint_find_attr(c, "dataset") && (st = elign_checkpoint_get_string(c, "dataset", &dataset, err)))
    return st;
  const elign_ckpt_attr *za = elign_checkpoint_find_attr(c, "atomic_numbers");
  if (!za || za->type != ELIGN_CKPT_DOUBLES || za->n < 1 || za->n > EDM_MAX_TYPES)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "attribute atomic_numbers missing or not a list of 1..%d numbers",
                      EDM_MAX_TYPES);
  int32_t Z[EDM_MAX_TYPES];
  for (int k = 0; k < za->n; k++) Z[k] = (int32_t)za->v[k];
  if (n_layers < 1 || nf < 1 || T0 < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "n_layers %lld, nf %lld, diffusion_steps %lld must be positive",
                      (long long)n_layers, (long long)nf, (long long)T0);
  /* The sizes come from the file: cross-check them with what it holds before
   * anything is sized by them. Every EGNN layer has at least 9 nf x nf
   * weight matrices, so n_layers * nf^2 never exceeds the parameter count. */
  if ((double)n_layers * (double)nf * (double)nf > (double)c->n_params)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "n_layers %lld with nf %lld needs more than the %lld stored parameters",
                      (long long)n_layers, (long long)nf, (long long)c->n_params);
  if (T0 > EDM_MAX_DIFFUSION_STEPS)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "diffusion_steps %lld (at most %d)", (long long)T0,
                      EDM_MAX_DIFFUSION_STEPS);
  cfg.n_layers = (int)n_layers;
  cfg.hidden = (int)nf;
  cfg.in_node_nf = za->n + charges;
  return edm_model_setup(m, &cfg, dataset, za->n, Z, charges, (int)T0, schedule, precision, err);
}

/* A view of the checkpoint holding tensor t with t's shape, or NULL with err set. */
static const elign_ckpt_view *matching_view(const egnn_tensor *t, const elign_checkpoint *c, elign_error *err) {
  const elign_ckpt_view *v = elign_checkpoint_find_view(c, t->name);
  if (!v) {
    ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "parameter %s is missing", t->name);
    return NULL;
  }
  int want_ndim = t->cols ? 2 : 1;
  int ok = v->ndim == want_ndim && v->shape[0] == t->rows && (want_ndim == 1 || v->shape[1] == t->cols);
  if (!ok) {
    ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "parameter %s has shape [%lld%s%lld], the architecture needs [%d%s%d]", t->name,
               (long long)v->shape[0], v->ndim > 1 ? ", " : "", v->ndim > 1 ? (long long)v->shape[1] : 0LL, t->rows,
               t->cols ? ", " : "", t->cols);
    return NULL;
  }
  return v;
}

elign_status edm_model_copy_by_name(const egnn_model *net, elign_real *dst, const elign_checkpoint *c,
                                    const float *src, elign_error *err) {
  for (int k = 0; k < net->n_tensors; k++) {
    const egnn_tensor *t = &net->tensors[k];
    const elign_ckpt_view *v = matching_view(t, c, err);
    if (!v) return ELIGN_ERR_FORMAT;
    for (size_t q = 0; q < t->size; q++) dst[t->offset + q] = (elign_real)src[v->offset + (int64_t)q];
    /* A NaN or Inf weight makes every sample garbage while looking fine:
     * refuse it here, naming the tensor and its first bad entry. */
    for (size_t q = 0; q < t->size; q++)
      if (!isfinite(dst[t->offset + q])) {
        size_t bad = 0;
        for (size_t r = 0; r < t->size; r++) bad += !isfinite(dst[t->offset + r]);
        ELIGN_FAIL(err, ELIGN_ERR_NUMERIC,
                   "parameter %s holds %zu non-finite value%s (the first at index %zu of the tensor: %g)", t->name, bad,
                   bad == 1 ? "" : "s", q, (double)dst[t->offset + q]);
        elign_error_hint(err, "the model is damaged or its training diverged; use an earlier checkpoint");
        return ELIGN_ERR_NUMERIC;
      }
  }
  return ELIGN_OK;
}

/* The stored γ table (if any) wins: it is what the source model used. */
static elign_status load_gamma_table(edm_model *m, const elign_checkpoint *c, elign_error *err) {
  const elign_ckpt_attr *g = elign_checkpoint_find_attr(c, "gamma_table");
  if (!g) return ELIGN_OK;
  if (g->type != ELIGN_CKPT_DOUBLES || g->n != m->T0 + 1)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "attribute gamma_table has %d entries, expected diffusion_steps + 1 = %d",
                      g->n, m->T0 + 1);
  for (int k = 0; k <= m->T0; k++)
    if (!isfinite(g->v[k])) return ELIGN_FAIL(err, ELIGN_ERR_NUMERIC, "attribute gamma_table[%d] = %g is not finite", k, g->v[k]);
  for (int k = 0; k <= m->T0; k++) m->sched.gamma[k] = (float)g->v[k];
  return ELIGN_OK;
}

static elign_status load_nodes_hist(edm_model *m, const elign_checkpoint *c, elign_error *err) {
  if (c->n_hist <= 0) return ELIGN_OK;
  int *sizes = elign_malloc((size_t)c->n_hist * sizeof(int), "edm:hist");
  double *counts = elign_malloc((size_t)c->n_hist * sizeof(double), "edm:hist");
  for (int64_t k = 0; k < c->n_hist; k++) sizes[k] = (int)c->hist_n_atoms[k], counts[k] = (double)c->hist_count[k];
  elign_status st = diffusion_nodes_hist_init(&m->nodes, sizes, counts, (int)c->n_hist, err);
  elign_free(sizes);
  elign_free(counts);
  return st;
}

elign_status edm_model_from_checkpoint(edm_model *m, const elign_checkpoint *c, elign_error *err) {
  memset(m, 0, sizeof *m);
  elign_status st = load_arch(m, c, err);
  if (!st) st = edm_model_copy_by_name(&m->net, m->params, c, c->params, err);
  if (!st) st = load_gamma_table(m, c, err);
  if (!st) st = load_nodes_hist(m, c, err);
  if (st) edm_model_free(m);
  return st;
}

elign_status edm_model_load(edm_model *m, const char *path, elign_error *err) {
  memset(m, 0, sizeof *m);
  elign_provenance_add_input("model", path);
  elign_checkpoint c;
  elign_status st = elign_checkpoint_read(&c, path, err); /* its messages name the file */
  if (!st) {
    st = edm_model_from_checkpoint(m, &c, err);
    if (st) elign_error_prefix(err, "%s: ", path);
  }
  elign_checkpoint_free(&c);
  return st;
}

/* ---- save ---------------------------------------------------------------- */

elign_status edm_model_to_checkpoint(const edm_model *m, const elign_real *params, elign_checkpoint *c,
                                     elign_error *err) {
  const egnn_config *cfg = &m->net.cfg;
  if (!params) params = m->params;
  elign_checkpoint_set_string(c, "model", "egnn_dynamics");
  elign_checkpoint_set_int(c, "n_layers", cfg->n_layers);
  elign_checkpoint_set_int(c, "inv_sublayers", 1);
  elign_checkpoint_set_int(c, "nf", cfg->hidden);
  elign_checkpoint_set_int(c, "attention", cfg->attention);
  elign_checkpoint_set_int(c, "tanh", cfg->tanh);
  elign_checkpoint_set_double(c, "coords_range", cfg->coords_range);
  elign_checkpoint_set_double(c, "norm_constant", cfg->norm_constant);
  elign_checkpoint_set_double(c, "normalization_factor", cfg->normalization_factor);
  elign_checkpoint_set_string(c, "aggregation_method", "sum");
  elign_checkpoint_set_int(c, "condition_time", cfg->include_time);
  elign_checkpoint_set_int(c, "include_charges", m->layout.include_charges);
  elign_checkpoint_set_int(c, "diffusion_steps", m->T0);
  elign_checkpoint_set_string(c, "diffusion_noise_schedule", m->schedule_name);
  elign_checkpoint_set_double(c, "diffusion_noise_precision", m->sched.precision);
  elign_checkpoint_set_string(c, "diffusion_loss_type", "l2");
  elign_checkpoint_set_doubles(c, "normalize_factors", 3, (const double[]){1, 4, 10});
  elign_checkpoint_set_string(c, "dataset", m->dataset);
  double Z[EDM_MAX_TYPES];
  for (int k = 0; k < m->n_types; k++) Z[k] = m->type_Z[k];
  elign_checkpoint_set_doubles(c, "atomic_numbers", m->n_types, Z);
  double *g = elign_malloc((size_t)(m->T0 + 1) * sizeof(double), "edm:gamma");
  for (int k = 0; k <= m->T0; k++) g[k] = m->sched.gamma[k];
  elign_checkpoint_set_doubles(c, "gamma_table", m->T0 + 1, g);
  elign_free(g);

  elign_checkpoint_set_params(c, (int64_t)m->net.n_params, NULL);
  for (size_t q = 0; q < m->net.n_params; q++) c->params[q] = (float)params[q];
  elign_status st = ELIGN_OK;
  for (int k = 0; k < m->net.n_tensors && !st; k++) {
    const egnn_tensor *t = &m->net.tensors[k];
    int64_t shape[2] = {t->rows, t->cols};
    st = elign_checkpoint_add_view(c, t->name, (int64_t)t->offset, t->cols ? 2 : 1, shape, err);
  }
  if (!st && m->nodes.n > 0) {
    int64_t *n = elign_malloc((size_t)m->nodes.n * sizeof(int64_t), "edm:hist");
    int64_t *cnt = elign_malloc((size_t)m->nodes.n * sizeof(int64_t), "edm:hist");
    for (int k = 0; k < m->nodes.n; k++) n[k] = m->nodes.sizes[k], cnt[k] = (int64_t)llround(m->nodes.counts[k]);
    elign_checkpoint_set_nodes_hist(c, m->nodes.n, n, cnt);
    elign_free(n);
    elign_free(cnt);
  }
  return st;
}

elign_status edm_model_save(const edm_model *m, const char *path, elign_error *err) {
  elign_checkpoint c;
  elign_checkpoint_init(&c);
  elign_status st = edm_model_to_checkpoint(m, NULL, &c, err);
  if (!st) st = elign_checkpoint_write(&c, path, err);
  elign_checkpoint_free(&c);
  return st;
}

