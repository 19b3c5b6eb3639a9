/* sampler.c — ancestral sampling z_T → z_0 → (x, h) for packed batches, with
 * per-molecule random streams (see sampler.h for the determinism contract). */
#include "actor/sampler.h"

#include <math.h>
#include <string.h>

#include "common/base/log.h"
#include "common/base/rng.h"

/* EDM re-centres decoded positions only if some |Σ_i x_i| exceeds this. */
#define SAMPLER_RECENTRE_THRESHOLD 0.05

static elign_rng mol_stream(const sampler_config *cfg, int64_t g, int step, elign_rng_purpose purpose) {
  return elign_rng_stream(cfg->seed, cfg->iteration, (uint32_t)g, 0, (uint32_t)step, purpose);
}

int sampler_draw_n_atoms(const sampler_config *cfg, int64_t g) {
  elign_rng r = mol_stream(cfg, g, 0, ELIGN_RNG_NODE_COUNT);
  return diffusion_nodes_sample(&cfg->model->nodes, &r);
}

/* min(a·b, cap) without overflow (a, b ≥ 0). */
static int64_t mul_capped(int64_t a, int64_t b, int64_t cap) {
  __int128 p = (__int128)a * b;
  return p > cap ? cap : (int64_t)p;
}

void sampler_rank_range(int64_t n_total, int64_t batch, int rank, int size, int64_t *first, int64_t *count) {
  /* Overflow-free for any int64 n_total (issue 8: n_total + batch − 1 overflowed). */
  int64_t nb = n_total / batch + (n_total % batch != 0);
  int64_t b0 = (int64_t)((__int128)nb * rank / size), b1 = (int64_t)((__int128)nb * (rank + 1) / size);
  int64_t m0 = mul_capped(b0, batch, n_total), m1 = mul_capped(b1, batch, n_total);
  *first = m0;
  *count = m1 - m0;
}

void sampler_output_free(sampler_output *out) {
  if (!out) return;
  elign_molset_free(&out->mols);
  elign_free(out->charges);
}

/* Fill each molecule's rows of z (N,D) with combined noise from its stream. */
static void draw_noise(const sampler_config *cfg, elign_real *z, const int64_t *off, int64_t n_mol, int64_t g0,
                       int step, elign_rng_purpose purpose, int D) {
  for (int64_t b = 0; b < n_mol; b++) {
    elign_rng r = mol_stream(cfg, g0 + b, step, purpose);
    diffusion_noise_molecule(z + off[b] * D, &r, off[b + 1] - off[b], D);
  }
}

/* One batch: molecules g0 .. g0 + n_mol − 1 with sizes sizes[]. Appends to out. */
static elign_status sample_batch(const sampler_config *cfg, int T, int stride, egnn_workspace *ws, int64_t g0,
                                 int64_t n_mol, const int *sizes, sampler_output *out, elign_progress *progress,
                                 long long *network_calls, elign_error *err) {
  const edm_model *m = cfg->model;
  int D = m->layout.D;
  int64_t *off = elign_malloc((size_t)(n_mol + 1) * sizeof(int64_t), "sampler:offsets");
  off[0] = 0;
  for (int64_t b = 0; b < n_mol; b++) off[b + 1] = off[b] + sizes[b];
  int64_t N = off[n_mol];
  size_t bytes = (size_t)(N * D > 0 ? N * D : 1) * sizeof(elign_real);
  elign_real *z = elign_malloc(bytes, "sampler:z"), *eps = elign_malloc(bytes, "sampler:eps");
  elign_real *mu = elign_malloc(bytes, "sampler:mu"), *noise = elign_malloc(bytes, "sampler:noise");
  int *tt = elign_malloc((size_t)n_mol * sizeof(int), "sampler:t"), *ss = elign_malloc((size_t)n_mol * sizeof(int), "sampler:s");
  diffusion_step_coef *coef = elign_malloc((size_t)n_mol * sizeof *coef, "sampler:coef");
  elign_status st = ELIGN_OK;

  draw_noise(cfg, z, off, n_mol, g0, 0, ELIGN_RNG_PRIOR, D); /* z_T */
  for (int t = T; t > 0 && !st; t -= stride) {
    int s = t - stride;
    for (int64_t b = 0; b < n_mol; b++) tt[b] = t, ss[b] = s;
    st = edm_model_denoise(m, ws, n_mol, off, z, tt, ss, T, eps, mu, NULL, NULL, coef, err);
    if (st) break;
    draw_noise(cfg, noise, off, n_mol, g0, s, ELIGN_RNG_STEP_NOISE, D);
    diffusion_reverse_sample(z, mu, noise, coef, off, n_mol, D);
    *network_calls += n_mol;
    if (progress) elign_progress_update(progress, *network_calls);
  }
  if (!st) {
    /* decode p(x, h | z₀): ε̂ = φ(z₀, 0), xh = μ_x + σ_x ε */
    for (int64_t b = 0; b < n_mol; b++) tt[b] = 0, ss[b] = 0;
    st = edm_model_denoise(m, ws, n_mol, off, z, tt, ss, T, eps, NULL, NULL, NULL, NULL, err);
  }
  if (!st) {
    diffusion_decode_coef dc;
    diffusion_decode_coef_init(&dc, &m->sched);
    draw_noise(cfg, noise, off, n_mol, g0, 0, ELIGN_RNG_DECODE_NOISE, D);
    diffusion_decode_sample(mu, NULL, z, eps, noise, &dc, N, D); /* mu now holds xh */
    double com = diffusion_max_com(mu, D, off, n_mol);
    if (com > out->max_com) out->max_com = com;
    if (com > SAMPLER_RECENTRE_THRESHOLD) diffusion_remove_mean(mu, D, off, n_mol);
    double *pos = elign_malloc((size_t)(N > 0 ? N : 1) * 3 * sizeof(double), "sampler:pos");
    int32_t *ti = elign_malloc((size_t)(N > 0 ? N : 1) * sizeof(int32_t), "sampler:types");
    int32_t *q = elign_malloc((size_t)(N > 0 ? N : 1) * sizeof(int32_t), "sampler:charges");
    diffusion_decode_molecules(pos, ti, q, mu, z, N, &m->layout);
    for (int64_t i = 0; i < N; i++) ti[i] = m->type_Z[ti[i]];
    int64_t a0 = out->mols.n_atoms;
    out->charges = elign_realloc(out->charges, (size_t)(a0 + N > 0 ? a0 + N : 1) * sizeof(int32_t), "sampler:charges");
    memcpy(out->charges + a0, q, (size_t)N * sizeof(int32_t));
    for (int64_t b = 0; b < n_mol; b++)
      elign_molset_append(&out->mols, sizes[b], ti + off[b], pos + 3 * off[b], g0 + b, NULL);
    elign_free(pos);
    elign_free(ti);
    elign_free(q);
  }
  elign_free(off);
  elign_free(z);
  elign_free(eps);
  elign_free(mu);
  elign_free(noise);
  elign_free(tt);
  elign_free(ss);
  elign_free(coef);
  return st;
}

elign_status sampler_run(const sampler_config *cfg, int64_t first, int64_t count, const int *n_atoms,
                         sampler_output *out, elign_error *err) {
  memset(out, 0, sizeof *out);
  elign_molset_init(&out->mols);
  const edm_model *m = cfg->model;
  int T = cfg->T > 0 ? cfg->T : m->T0;
  int K = cfg->steps > 0 ? cfg->steps : T;
  if (K > T || T % K != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "steps %d must divide the chain length T = %d", K, T);
  if (T > 65535) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "T = %d exceeds the RNG step range (65535)", T);
  if (cfg->batch < 1) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "batch size %lld < 1", (long long)cfg->batch);
  if (!n_atoms && m->nodes.n == 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "the model has no atom-count histogram; give the sizes explicitly");
  int stride = T / K;
  int *sizes = elign_malloc((size_t)(count > 0 ? count : 1) * sizeof(int), "sampler:sizes");
  for (int64_t b = 0; b < count; b++) {
    sizes[b] = n_atoms ? n_atoms[b] : sampler_draw_n_atoms(cfg, first + b);
    if (sizes[b] < 1) {
      elign_free(sizes);
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "molecule %lld: %d atoms", (long long)(first + b), sizes[b]);
    }
  }
  /* Batches are aligned to multiples of cfg->batch in the global index, so a
   * rank's share never changes a batch's composition. */
  int64_t bsz = cfg->batch;
  egnn_workspace *ws = edm_model_workspace_create(m); /* edm_model_denoise sizes it */
  elign_status st = ELIGN_OK;
  /* progress in molecule-steps: each molecule takes K reverse steps (+ the decode) */
  elign_progress progress;
  if (cfg->progress_label) elign_progress_start(&progress, cfg->progress_label, (long long)count * K, 10.0);
  long long network_calls = 0;
  for (int64_t b0 = first - first % bsz; b0 < first + count && !st; b0 += bsz) {
    int64_t lo = b0 < first ? first : b0, hi = b0 + bsz < first + count ? b0 + bsz : first + count;
    st = sample_batch(cfg, T, stride, ws, lo, hi - lo, sizes + (lo - first), out,
                      cfg->progress_label ? &progress : NULL, &network_calls, err);
  }
  if (cfg->progress_label) elign_progress_finish(&progress);
  egnn_workspace_free(&ws);
  elign_free(sizes);
  if (st) sampler_output_free(out);
  return st;
}
