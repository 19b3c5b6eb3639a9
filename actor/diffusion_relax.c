/* diffusion_relax.c — the last s reverse steps from a given molecule with its
 * atom types clamped (diffusion_relax.h). */
#include "actor/diffusion_relax.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/base/rng.h"

/* The clamp hook's view of one batch. */
typedef struct {
  const edm_model *model;
  const elign_real *xh; /* (N, D) the batch's clean encoding */
} clamp_ctx;

/* z_{s,h} = α_s h + σ_s ε_{s,h} on every atom-type channel (3 .. D−1). */
static void clamp_types(const edm_model *m, const elign_real *xh, const elign_real *noise, int s, int T, int64_t N,
                        elign_real *z) {
  elign_real gamma = (elign_real)diffusion_gamma(&m->sched, s, T);
  elign_real alpha = diffusion_alpha(gamma), sigma = diffusion_sigma(gamma);
  int D = m->layout.D;
  for (int64_t i = 0; i < N; i++)
    for (int c = 3; c < D; c++) z[i * D + c] = alpha * xh[i * D + c] + sigma * noise[i * D + c];
}

static elign_status clamp_hook(void *ctx, const sampler_adjust_step *step, elign_real *z_s, elign_error *err) {
  (void)err;
  const clamp_ctx *c = ctx;
  clamp_types(c->model, c->xh, step->noise, step->s, step->T, step->offsets[step->n_mol], z_s);
  return ELIGN_OK;
}

/* type index of every atom of molecules [first, first + count); fails naming
 * the first atom whose element the model lacks. */
static elign_status type_indices(const edm_model *m, const elign_molset *in, int64_t first, int64_t count,
                                 int32_t *type, elign_error *err) {
  int64_t a0 = in->offsets[first];
  for (int64_t g = first; g < first + count; g++)
    for (int64_t a = in->offsets[g]; a < in->offsets[g + 1]; a++) {
      int k = 0;
      while (k < m->n_types && m->type_Z[k] != in->Z[a]) k++;
      if (k == m->n_types) {
        char types[160] = "";
        size_t used = 0;
        for (int j = 0; j < m->n_types && used < sizeof types; j++)
          used += (size_t)snprintf(types + used, sizeof types - used, "%s%d", j ? " " : "", m->type_Z[j]);
        return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED,
                          "molecule %lld, atom %lld: element Z = %d is not one of the model's atom types (Z = %s)",
                          (long long)g, (long long)(a - in->offsets[g]), in->Z[a], types);
      }
      type[a - a0] = k;
    }
  return ELIGN_OK;
}

/* Molecules [g0, g0 + n): encode, noise to step s, run s → 0 with clamped types, decode. */
static elign_status relax_batch(const edm_model *m, const diffusion_relax_options *o, int T, egnn_workspace *ws,
                                const elign_molset *in, int64_t g0, int64_t n, const int32_t *type_all,
                                int64_t type_base, sampler_output *out, diffusion_relax_stats *stats,
                                elign_error *err) {
  int D = m->layout.D;
  int64_t a0 = in->offsets[g0], N = in->offsets[g0 + n] - a0;
  size_t nm = (size_t)(n > 0 ? n : 1), rows = (size_t)(N > 0 ? N : 1);
  int64_t *off = elign_malloc((nm + 1) * sizeof *off, "drelax:offsets");
  int *sizes = elign_malloc(nm * sizeof *sizes, "drelax:sizes");
  uint32_t *keys = elign_malloc(nm * sizeof *keys, "drelax:keys");
  elign_real *xh = elign_malloc(rows * D * sizeof *xh, "drelax:xh");
  elign_real *eps = elign_malloc(rows * D * sizeof *eps, "drelax:eps");
  elign_real *z = elign_malloc(rows * D * sizeof *z, "drelax:z");
  elign_real *alpha = elign_malloc(nm * sizeof *alpha, "drelax:alpha"), *sigma = elign_malloc(nm * sizeof *sigma, "drelax:sigma");
  for (int64_t b = 0; b <= n; b++) off[b] = in->offsets[g0 + b] - a0;
  for (int64_t b = 0; b < n; b++) sizes[b] = (int)(off[b + 1] - off[b]), keys[b] = (uint32_t)(g0 + b);
  diffusion_encode(xh, in->pos + 3 * a0, type_all + (a0 - type_base), in->Z + a0, off, n, &m->layout);

  int s = o->start_step;
  elign_real gamma = (elign_real)diffusion_gamma(&m->sched, s, T);
  for (int64_t b = 0; b < n; b++) {
    alpha[b] = diffusion_alpha(gamma);
    sigma[b] = o->noise ? diffusion_sigma(gamma) : 0;
    elign_rng r = elign_rng_stream(o->seed, 0, keys[b], 0, (uint32_t)s, ELIGN_RNG_PRIOR);
    diffusion_noise_molecule(eps + off[b] * D, &r, off[b + 1] - off[b], D);
  }
  diffusion_forward_noise(z, xh, eps, alpha, sigma, off, n, D); /* z_s = α_s xh + σ_s ε */

  clamp_ctx cc = {.model = m, .xh = xh};
  sampler_adjust clamp = {.ctx = &cc, .apply = clamp_hook};
  sampler_config cfg = {.model = m, .T = T, .steps = T, .seed = o->seed, .iteration = 0, .batch = n, .adjust = &clamp};
  sampler_chain ch = {.n_mol = n, .sizes = sizes, .key_group = keys, .z_start = z, .t_start = s, .t_stop = 0,
                      .decode = 1};
  int64_t m_before = out->mols.n_mol, at_before = out->mols.n_atoms;
  elign_status st = sampler_run_chain(&cfg, &ch, ws, out, err);
  if (!st) { /* the input's types and ids, whatever the decode's argmax said */
    for (int64_t i = 0; i < N; i++) {
      int32_t *Zo = out->mols.Z + at_before + i;
      if (*Zo != in->Z[a0 + i]) stats->type_mismatches++;
      *Zo = in->Z[a0 + i];
      out->charges[at_before + i] = m->layout.include_charges ? in->Z[a0 + i] : 0;
    }
    for (int64_t b = 0; b < n; b++) out->mols.ids[m_before + b] = in->ids ? in->ids[g0 + b] : g0 + b;
  }
  elign_free(off);
  elign_free(sizes);
  elign_free(keys);
  elign_free(xh);
  elign_free(eps);
  elign_free(z);
  elign_free(alpha);
  elign_free(sigma);
  return st;
}

/* s = 0: the input, centred (no network call). */
static void identity_batch(const elign_molset *in, int64_t g0, int64_t n, const edm_model *m, sampler_output *out) {
  for (int64_t g = g0; g < g0 + n; g++) {
    int64_t a0 = in->offsets[g], na = in->offsets[g + 1] - a0;
    double c[3] = {0, 0, 0};
    for (int64_t i = 0; i < na; i++)
      for (int d = 0; d < 3; d++) c[d] += in->pos[3 * (a0 + i) + d] / (double)na;
    double *pos = elign_malloc((size_t)(na > 0 ? na : 1) * 3 * sizeof *pos, "drelax:pos");
    for (int64_t i = 0; i < na; i++)
      for (int d = 0; d < 3; d++) pos[3 * i + d] = in->pos[3 * (a0 + i) + d] - c[d];
    int64_t at = out->mols.n_atoms;
    elign_molset_append(&out->mols, (int)na, in->Z + a0, pos, in->ids ? in->ids[g] : g, NULL);
    out->charges = elign_realloc(out->charges, (size_t)(at + na > 0 ? at + na : 1) * sizeof(int32_t), "drelax:charges");
    for (int64_t i = 0; i < na; i++) out->charges[at + i] = m->layout.include_charges ? in->Z[a0 + i] : 0;
    elign_free(pos);
  }
}

elign_status diffusion_relax_run(const edm_model *m, const diffusion_relax_options *o, const elign_molset *in,
                                 int64_t first, int64_t count, sampler_output *out, diffusion_relax_stats *stats,
                                 elign_error *err) {
  memset(out, 0, sizeof *out);
  elign_molset_init(&out->mols);
  diffusion_relax_stats local = {0};
  if (!stats) stats = &local;
  memset(stats, 0, sizeof *stats);
  int T = o->T > 0 ? o->T : m->T0;
  if (T > 65535) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "T = %d exceeds the RNG step range (65535)", T);
  if (o->start_step < 0 || o->start_step > T)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "--steps %d: the start step must lie in 0..T = %d", o->start_step, T);
  if (o->batch < 1) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "batch size %lld < 1", (long long)o->batch);
  if (first < 0 || count < 0 || first + count > in->n_mol)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "molecules [%lld, %lld) outside the input's %lld", (long long)first,
                      (long long)(first + count), (long long)in->n_mol);
  for (int64_t g = first; g < first + count; g++)
    if (elign_molset_natoms(in, g) < 1)
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "molecule %lld has no atoms", (long long)g);
  int64_t base = in->offsets[first], n_atoms = in->offsets[first + count] - base;
  int32_t *type = elign_malloc((size_t)(n_atoms > 0 ? n_atoms : 1) * sizeof *type, "drelax:types");
  elign_status st = type_indices(m, in, first, count, type, err);
  egnn_workspace *ws = st || o->start_step == 0 ? NULL : edm_model_workspace_create(m);
  int64_t bsz = o->batch;
  for (int64_t b0 = first - first % bsz; !st && b0 < first + count; b0 += bsz) {
    int64_t lo = b0 < first ? first : b0, hi = b0 + bsz < first + count ? b0 + bsz : first + count;
    if (o->start_step == 0) identity_batch(in, lo, hi - lo, m, out);
    else st = relax_batch(m, o, T, ws, in, lo, hi - lo, type, base, out, stats, err);
  }
  egnn_workspace_free(&ws);
  elign_free(type);
  if (st) sampler_output_free(out);
  return st;
}
