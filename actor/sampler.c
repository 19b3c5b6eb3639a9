/* sampler.c — ancestral sampling z_T → z_0 → (x, h) for packed batches, with
 * per-molecule random streams (see sampler.h for the determinism contract). */
#include "actor/sampler.h"

#include <math.h>
#include <stdlib.h>
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

int64_t sampler_batch_for(int64_t n_total, int64_t max_batch) {
  int64_t b = n_total / SAMPLER_SPREAD_BATCHES;
  if (b > max_batch) b = max_batch;
  return b < 1 ? 1 : b;
}

/* Network cost of batch [b0, b1): Σ n² over its molecules. */
static double batch_cost(const sampler_config *cfg, int64_t b0, int64_t b1) {
  double c = 0;
  for (int64_t g = b0; g < b1; g++) {
    double n = sampler_draw_n_atoms(cfg, g);
    c += n * n;
  }
  return c;
}

/* The largest of the ranks' loads under owner[nb]. */
static double largest_load(const double *cost, int64_t nb, int size, const int *owner) {
  double *load = elign_calloc((size_t)size, sizeof *load, "sampler:loads");
  double most = 0;
  for (int64_t b = 0; b < nb; b++) load[owner[b]] += cost[b];
  for (int r = 0; r < size; r++)
    if (load[r] > most) most = load[r];
  elign_free(load);
  return most;
}

/* Batch b to the rank whose equal slice of the total cost holds its midpoint:
 * monotone in b, so every rank's batches are contiguous. */
static void split_contiguous(const double *cost, int64_t nb, int size, int *owner) {
  double total = 0, before = 0;
  for (int64_t b = 0; b < nb; b++) total += cost[b];
  for (int64_t b = 0; b < nb; b++) {
    /* all costs 0: by count, which the midpoint rule cannot divide by */
    int64_t r = total > 0 ? (int64_t)((before + 0.5 * cost[b]) * size / total) : b * size / nb;
    owner[b] = r < size - 1 ? (int)r : size - 1;
    before += cost[b];
  }
}

typedef struct {
  double cost;
  int64_t batch;
} costed_batch;

/* Larger cost first, then the lower batch index: a total order, so qsort's
 * instability cannot make two ranks sort differently. */
static int larger_cost_first(const void *pa, const void *pb) {
  const costed_batch *a = pa, *b = pb;
  if (a->cost != b->cost) return a->cost > b->cost ? -1 : 1;
  return (a->batch > b->batch) - (a->batch < b->batch);
}

/* Is rank a less loaded than rank b (ties: the lower rank)? */
static int less_loaded(const double *load, int a, int b) { return load[a] < load[b] || (load[a] == load[b] && a < b); }

/* Restore the min-heap of ranks by (load, rank) after the root's load grew. */
static void sift_down(int *heap, int size, const double *load) {
  for (int i = 0;;) {
    int least = i, l = 2 * i + 1, r = l + 1;
    if (l < size && less_loaded(load, heap[l], heap[least])) least = l;
    if (r < size && less_loaded(load, heap[r], heap[least])) least = r;
    if (least == i) return;
    int t = heap[i];
    heap[i] = heap[least], heap[least] = t;
    i = least;
  }
}

/* Largest first: each batch to the least-loaded rank; a heap keeps that
 * rank at hand in O(log size) (a scan would be nb · size). */
static void split_largest_first(const double *cost, int64_t nb, int size, int *owner) {
  costed_batch *order = elign_malloc((size_t)nb * sizeof *order, "sampler:batch order");
  for (int64_t b = 0; b < nb; b++) order[b] = (costed_batch){cost[b], b};
  qsort(order, (size_t)nb, sizeof *order, larger_cost_first);
  double *load = elign_calloc((size_t)size, sizeof *load, "sampler:loads");
  int *heap = elign_malloc((size_t)size * sizeof *heap, "sampler:rank heap");
  for (int r = 0; r < size; r++) heap[r] = r; /* all loads 0: ordered by rank, a valid heap */
  for (int64_t k = 0; k < nb; k++) {
    owner[order[k].batch] = heap[0];
    load[heap[0]] += order[k].cost;
    sift_down(heap, size, load);
  }
  elign_free(heap);
  elign_free(load);
  elign_free(order);
}

double sampler_split_batches(const double *cost, int64_t nb, int size, int *owner) {
  if (nb <= 0) return 0;
  split_contiguous(cost, nb, size, owner);
  double contiguous = largest_load(cost, nb, size, owner);
  int *lpt = elign_malloc((size_t)nb * sizeof *lpt, "sampler:owners");
  split_largest_first(cost, nb, size, lpt);
  double largest_first = largest_load(cost, nb, size, lpt);
  if (largest_first < contiguous) memcpy(owner, lpt, (size_t)nb * sizeof *owner);
  elign_free(lpt);
  return largest_first < contiguous ? largest_first : contiguous;
}

/* Molecules [m0, m1) of batch b of a run of n_total in batches of B. */
static sampler_range batch_molecules(int64_t b, int64_t B, int64_t n_total) {
  int64_t m0 = b * B, m1 = (b + 1) * B < n_total ? (b + 1) * B : n_total;
  return (sampler_range){m0, m1 - m0};
}

/* This rank's batches under owner[nb] as ranges, adjacent batches merged. */
static void share_from_owners(sampler_share *s, const int *owner, int64_t nb, int rank, int64_t B, int64_t n_total) {
  int64_t n = 0;
  for (int64_t b = 0; b < nb; b++) n += owner[b] == rank && (b == 0 || owner[b - 1] != rank);
  s->ranges = elign_malloc((size_t)(n > 0 ? n : 1) * sizeof *s->ranges, "sampler:share");
  for (int64_t b = 0; b < nb; b++) {
    if (owner[b] != rank) continue;
    sampler_range m = batch_molecules(b, B, n_total);
    if (b > 0 && owner[b - 1] == rank)
      s->ranges[s->n_ranges - 1].count += m.count;
    else
      s->ranges[s->n_ranges++] = m;
    s->count += m.count;
  }
}

void sampler_rank_share(const sampler_config *cfg, int64_t n_total, int rank, int size, sampler_share *share) {
  memset(share, 0, sizeof *share);
  int64_t B = cfg->batch;
  if (n_total > SAMPLER_BALANCE_MAX || size <= 1 || n_total <= 0) {
    sampler_range r;
    sampler_rank_range(n_total, B, rank, size, &r.first, &r.count);
    share->ranges = elign_malloc(sizeof *share->ranges, "sampler:share");
    share->ranges[0] = r;
    share->n_ranges = r.count > 0;
    share->count = r.count;
    share->largest_share = size <= 1 ? 1.0 : NAN;
    return;
  }
  int64_t nb = (n_total + B - 1) / B;
  double *cost = elign_malloc((size_t)nb * sizeof *cost, "sampler:batch costs");
  double total = 0;
  for (int64_t b = 0; b < nb; b++) {
    sampler_range m = batch_molecules(b, B, n_total);
    total += cost[b] = batch_cost(cfg, m.first, m.first + m.count);
  }
  int *owner = elign_malloc((size_t)nb * sizeof *owner, "sampler:owners");
  share->largest_share = sampler_split_batches(cost, nb, size, owner) / total;
  share_from_owners(share, owner, nb, rank, B, n_total);
  elign_free(owner);
  elign_free(cost);
}

void sampler_share_free(sampler_share *share) {
  if (!share) return;
  elign_free(share->ranges);
  memset(share, 0, sizeof *share);
}

void sampler_output_free(sampler_output *out) {
  if (!out) return;
  elign_molset_free(&out->mols);
  elign_free(out->charges);
}

/* ---- the EDM policy ----------------------------------------------------------- */

static elign_real *edm_eps_scratch(sampler_edm_ctx *c, int64_t rows) {
  if (rows > c->eps_rows) {
    c->eps_hat = elign_realloc(c->eps_hat, (size_t)rows * (size_t)c->model->layout.D * sizeof(elign_real), "sampler:eps");
    c->eps_rows = rows;
  }
  return c->eps_hat;
}

static elign_status edm_transition(void *ctx, int64_t n_mol, const int64_t *off, const elign_real *z_t, const int *t,
                                   const int *s, int T, elign_real *mu, elign_real *sigma, elign_real *zhat0,
                                   elign_error *err) {
  sampler_edm_ctx *c = ctx;
  elign_real *eps = edm_eps_scratch(c, off[n_mol] > 0 ? off[n_mol] : 1);
  if (!zhat0) return edm_model_denoise(c->model, c->ws, n_mol, off, z_t, t, s, T, eps, mu, sigma, NULL, NULL, err);
  /* μ exactly as without ẑ₀: asking diffusion_reverse_mean for both at once
   * compiles to another loop whose μ rounds differently (-O3, FMA), which
   * would make a sampler with a step callback drift from one without. */
  diffusion_step_coef *coef = elign_malloc((size_t)(n_mol > 0 ? n_mol : 1) * sizeof *coef, "sampler:coef");
  elign_status st = edm_model_denoise(c->model, c->ws, n_mol, off, z_t, t, s, T, eps, mu, sigma, NULL, coef, err);
  if (!st) diffusion_reverse_mean(NULL, zhat0, z_t, eps, coef, off, n_mol, c->model->layout.D);
  elign_free(coef);
  return st;
}

static elign_status edm_decode(void *ctx, int64_t n_mol, const int64_t *off, const elign_real *z0,
                               const elign_real *noise, int T, elign_real *xh, elign_real *mu_x, elign_real *sigma_x,
                               elign_error *err) {
  sampler_edm_ctx *c = ctx;
  const edm_model *m = c->model;
  int64_t N = off[n_mol];
  elign_real *eps = edm_eps_scratch(c, N > 0 ? N : 1);
  int *tt = elign_calloc((size_t)(n_mol > 0 ? n_mol : 1), sizeof(int), "sampler:t0"); /* t = 0: the decode */
  /* ε̂ = φ(z₀, 0), xh = μ_x + σ_x ε */
  elign_status st = edm_model_denoise(m, c->ws, n_mol, off, z0, tt, tt, T, eps, NULL, sigma_x, NULL, NULL, err);
  elign_free(tt);
  if (st) return st;
  diffusion_decode_coef dc;
  diffusion_decode_coef_init(&dc, &m->sched);
  diffusion_decode_sample(xh, NULL, z0, eps, noise, &dc, N, m->layout.D);
  if (mu_x) { /* again in a call of its own, so xh rounds as without μ_x (see edm_transition) */
    elign_real *scratch = elign_malloc((size_t)(N > 0 ? N : 1) * m->layout.D * sizeof(elign_real), "sampler:xh");
    diffusion_decode_sample(scratch, mu_x, z0, eps, noise, &dc, N, m->layout.D);
    elign_free(scratch);
  }
  return ELIGN_OK;
}

static void edm_molecules(void *ctx, int64_t n_atoms, const elign_real *xh, const elign_real *z0, double *pos,
                          int32_t *Z, int32_t *charges) {
  const edm_model *m = ((sampler_edm_ctx *)ctx)->model;
  diffusion_decode_molecules(pos, Z, charges, xh, z0, n_atoms, &m->layout);
  for (int64_t i = 0; i < n_atoms; i++) Z[i] = m->type_Z[Z[i]];
}

sampler_policy sampler_policy_edm(sampler_edm_ctx *ctx) {
  sampler_policy p = {.ctx = ctx,
                      .D = ctx->model->layout.D,
                      .transition = edm_transition,
                      .decode = edm_decode,
                      .molecules = edm_molecules};
  return p;
}

void sampler_edm_ctx_free(sampler_edm_ctx *ctx) {
  if (!ctx) return;
  elign_free(ctx->eps_hat);
  ctx->eps_rows = 0;
}

/* ---- one chain segment ------------------------------------------------------- */

/* Fill each molecule's rows of z (N,D) with combined noise from its stream. */
static void draw_noise(const sampler_config *cfg, const sampler_chain *ch, elign_real *z, const int64_t *off,
                       int step, elign_rng_purpose purpose, int D) {
  for (int64_t b = 0; b < ch->n_mol; b++) {
    elign_rng r = elign_rng_stream(cfg->seed, cfg->iteration, ch->key_group[b], ch->key_member ? ch->key_member[b] : 0,
                                   (uint32_t)step, purpose);
    diffusion_noise_molecule(z + off[b] * D, &r, off[b + 1] - off[b], D);
  }
}

/* Buffers of one chain segment, (N, D) unless noted. */
typedef struct {
  int64_t *off;            /* [n_mol + 1] */
  elign_real *z, *z_next, *mu, *noise;
  int *tt, *ss;            /* [n_mol] */
  elign_real *sigma;       /* [n_mol] */
  diffusion_step_coef *coef; /* [n_mol]: only sigma_step is used, by diffusion_reverse_sample */
  elign_real *zhat0;       /* callback only */
  double *logp;            /* [n_mol], callback only */
} chain_buffers;

static void chain_buffers_free(chain_buffers *b) {
  elign_free(b->off);
  elign_free(b->z);
  elign_free(b->z_next);
  elign_free(b->mu);
  elign_free(b->noise);
  elign_free(b->tt);
  elign_free(b->ss);
  elign_free(b->sigma);
  elign_free(b->coef);
  elign_free(b->zhat0);
  elign_free(b->logp);
}

static elign_status call_step(const sampler_chain *ch, const chain_buffers *b, int t, int s, int decode,
                              const elign_real *z_s, int D, elign_error *err) {
  diffusion_step_logp(b->logp, z_s, b->mu, b->sigma, b->off, ch->n_mol, D);
  sampler_step info = {.t = t, .s = s, .decode = decode, .n_mol = ch->n_mol, .offsets = b->off,
                       .key_group = ch->key_group, .key_member = ch->key_member, .z_t = b->z, .z_s = z_s,
                       .mu = b->mu, .sigma = b->sigma, .zhat0 = decode ? b->mu : b->zhat0, .logp = b->logp};
  return ch->on_step(&info, ch->user, err);
}

static elign_status adjust_state(const sampler_config *cfg, const sampler_chain *ch, chain_buffers *b, int t, int s,
                                 int T, int D, elign_error *err) {
  sampler_adjust_step info = {.t = t, .s = s, .T = T, .n_mol = ch->n_mol, .offsets = b->off,
                              .key_group = ch->key_group, .key_member = ch->key_member, .noise = b->noise, .D = D};
  return cfg->adjust->apply(cfg->adjust->ctx, &info, b->z_next, err);
}

/* The chain t_start → t_stop (+ decode) of one batch with a policy. Appends
 * decoded molecules to out. */
static elign_status run_chain(const sampler_config *cfg, const sampler_policy *pol, const sampler_chain *ch, int T,
                              int stride, sampler_output *out, elign_progress *progress, long long *network_calls,
                              elign_error *err) {
  int D = pol->D, hook = ch->on_step != NULL;
  int64_t n_mol = ch->n_mol;
  size_t nm = (size_t)(n_mol > 0 ? n_mol : 1);
  chain_buffers b = {0};
  b.off = elign_malloc((nm + 1) * sizeof(int64_t), "sampler:offsets");
  b.off[0] = 0;
  for (int64_t m = 0; m < n_mol; m++) b.off[m + 1] = b.off[m] + ch->sizes[m];
  int64_t N = b.off[n_mol];
  size_t bytes = (size_t)(N * D > 0 ? N * D : 1) * sizeof(elign_real);
  b.z = elign_malloc(bytes, "sampler:z");
  b.z_next = elign_malloc(bytes, "sampler:z_next");
  b.mu = elign_malloc(bytes, "sampler:mu");
  b.noise = elign_malloc(bytes, "sampler:noise");
  b.tt = elign_malloc(nm * sizeof(int), "sampler:t");
  b.ss = elign_malloc(nm * sizeof(int), "sampler:s");
  b.sigma = elign_malloc(nm * sizeof(elign_real), "sampler:sigma");
  b.coef = elign_calloc(nm, sizeof *b.coef, "sampler:coef");
  if (hook) {
    b.zhat0 = elign_malloc(bytes, "sampler:zhat0");
    b.logp = elign_malloc(nm * sizeof(double), "sampler:logp");
  }
  elign_status st = ELIGN_OK;

  if (ch->z_start)
    memcpy(b.z, ch->z_start, (size_t)(N * D) * sizeof(elign_real));
  else
    draw_noise(cfg, ch, b.z, b.off, 0, ELIGN_RNG_PRIOR, D); /* z_T */
  for (int t = ch->t_start; t > ch->t_stop && !st; t -= stride) {
    int s = t - stride;
    for (int64_t m = 0; m < n_mol; m++) b.tt[m] = t, b.ss[m] = s;
    st = pol->transition(pol->ctx, n_mol, b.off, b.z, b.tt, b.ss, T, b.mu, b.sigma, hook ? b.zhat0 : NULL, err);
    if (st) break;
    for (int64_t m = 0; m < n_mol; m++) b.coef[m].sigma_step = b.sigma[m];
    draw_noise(cfg, ch, b.noise, b.off, s, ELIGN_RNG_STEP_NOISE, D);
    diffusion_reverse_sample(b.z_next, b.mu, b.noise, b.coef, b.off, n_mol, D);
    if (cfg->adjust) st = adjust_state(cfg, ch, &b, t, s, T, D, err);
    if (st) break;
    *network_calls += n_mol;
    if (progress) elign_progress_update(progress, *network_calls);
    if (hook) st = call_step(ch, &b, t, s, 0, b.z_next, D, err);
    elign_real *swap = b.z;
    b.z = b.z_next, b.z_next = swap;
  }
  if (!st && ch->z_stop) memcpy(ch->z_stop, b.z, (size_t)(N * D) * sizeof(elign_real));
  if (!st && ch->decode) {
    /* p(x, h | z₀); b.z_next receives xh */
    draw_noise(cfg, ch, b.noise, b.off, 0, ELIGN_RNG_DECODE_NOISE, D);
    st = pol->decode(pol->ctx, n_mol, b.off, b.z, b.noise, T, b.z_next, hook ? b.mu : NULL, b.sigma, err);
  }
  if (!st && ch->decode) {
    elign_real *xh = b.z_next;
    double com = diffusion_max_com(xh, D, b.off, n_mol);
    if (com > out->max_com) out->max_com = com;
    if (com > SAMPLER_RECENTRE_THRESHOLD) diffusion_remove_mean(xh, D, b.off, n_mol);
    if (hook) st = call_step(ch, &b, 0, 0, 1, xh, D, err);
  }
  if (!st && ch->decode) {
    size_t na = (size_t)(N > 0 ? N : 1);
    double *pos = elign_malloc(na * 3 * sizeof(double), "sampler:pos");
    int32_t *Z = elign_malloc(na * sizeof(int32_t), "sampler:types");
    int64_t a0 = out->mols.n_atoms;
    out->charges = elign_realloc(out->charges, (size_t)(a0 + N > 0 ? a0 + N : 1) * sizeof(int32_t), "sampler:charges");
    pol->molecules(pol->ctx, N, b.z_next, b.z, pos, Z, out->charges + a0);
    for (int64_t m = 0; m < n_mol; m++)
      elign_molset_append(&out->mols, ch->sizes[m], Z + b.off[m], pos + 3 * b.off[m], ch->key_group[m], NULL);
    elign_free(pos);
    elign_free(Z);
  }
  chain_buffers_free(&b);
  return st;
}

/* Workspace for one batch of the given sizes (forward only). */
static egnn_workspace *batch_workspace(const edm_model *m, int64_t n_mol, const int *sizes) {
  int64_t na = 0, ne = 0;
  for (int64_t b = 0; b < n_mol; b++) na += sizes[b], ne += (int64_t)sizes[b] * (sizes[b] - 1);
  return egnn_workspace_create_edges(&m->net, na > 0 ? na : 1, n_mol > 0 ? n_mol : 1, ne > 0 ? ne : 1, 0);
}

static int chain_length(const sampler_config *cfg) { return cfg->T > 0 ? cfg->T : cfg->model->T0; }

elign_status sampler_run_chain(const sampler_config *cfg, const sampler_chain *ch, egnn_workspace *ws,
                               sampler_output *out, elign_error *err) {
  int T = chain_length(cfg);
  int K = cfg->steps > 0 ? cfg->steps : T;
  if (K > T || T % K != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "steps %d must divide the chain length T = %d", K, T);
  if (T > 65535) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "T = %d exceeds the RNG step range (65535)", T);
  int stride = T / K;
  if (ch->t_stop < 0 || ch->t_start > T || ch->t_start < ch->t_stop || (ch->t_start - ch->t_stop) % stride != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "chain %d → %d: need 0 ≤ t_stop ≤ t_start ≤ T = %d in strides of %d",
                      ch->t_start, ch->t_stop, T, stride);
  if (!ch->z_start && ch->t_start != T)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "a chain without a start state starts at z_T (t_start %d != T %d)",
                      ch->t_start, T);
  if (ch->decode && (ch->t_stop != 0 || !out))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "the decode needs t_stop = 0 and an output");
  if (ch->n_mol < 0 || (ch->n_mol > 0 && (!ch->sizes || !ch->key_group)))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "chain: sizes and key_group are required");
  for (int64_t b = 0; b < ch->n_mol; b++)
    if (ch->sizes[b] < 1)
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "chain molecule %lld: %d atoms", (long long)b, ch->sizes[b]);
  sampler_edm_ctx edm = {.model = cfg->model, .ws = ws};
  sampler_policy edm_policy;
  const sampler_policy *pol = cfg->policy;
  if (!pol) {
    if (!edm.ws) edm.ws = batch_workspace(cfg->model, ch->n_mol, ch->sizes);
    edm_policy = sampler_policy_edm(&edm);
    pol = &edm_policy;
  }
  long long calls = 0;
  elign_status st = run_chain(cfg, pol, ch, T, stride, out, NULL, &calls, err);
  sampler_edm_ctx_free(&edm);
  if (!ws && edm.ws) egnn_workspace_free(&edm.ws);
  return st;
}

/* sampler_run's batch: global molecules g0 .. g0 + n_mol − 1, member 0, from z_T to the decode. */
static elign_status sample_range(const sampler_config *cfg, int T, int stride, egnn_workspace *ws, int64_t g0,
                                 int64_t n_mol, const int *sizes, sampler_output *out, elign_progress *progress,
                                 long long *network_calls, elign_error *err) {
  uint32_t *keys = elign_malloc((size_t)(n_mol > 0 ? n_mol : 1) * sizeof(uint32_t), "sampler:keys");
  for (int64_t b = 0; b < n_mol; b++) keys[b] = (uint32_t)(g0 + b);
  sampler_chain ch = {.n_mol = n_mol, .sizes = sizes, .key_group = keys, .t_start = T, .t_stop = 0, .decode = 1};
  sampler_edm_ctx edm = {.model = cfg->model, .ws = ws};
  sampler_policy edm_policy = sampler_policy_edm(&edm);
  elign_status st = run_chain(cfg, cfg->policy ? cfg->policy : &edm_policy, &ch, T, stride, out, progress,
                              network_calls, err);
  sampler_edm_ctx_free(&edm);
  elign_free(keys);
  return st;
}

/* The atom counts of the ranges' molecules in order: n_atoms if given, else
 * drawn. NULL (err set) if one is below 1. */
static int *range_sizes(const sampler_config *cfg, const sampler_range *ranges, int64_t n_ranges, int64_t count,
                        const int *n_atoms, elign_error *err) {
  int *sizes = elign_malloc((size_t)(count > 0 ? count : 1) * sizeof(int), "sampler:sizes");
  int64_t k = 0;
  for (int64_t r = 0; r < n_ranges; r++)
    for (int64_t g = ranges[r].first; g < ranges[r].first + ranges[r].count; g++, k++) {
      sizes[k] = n_atoms ? n_atoms[k] : sampler_draw_n_atoms(cfg, g);
      if (sizes[k] < 1) {
        elign_free(sizes);
        ELIGN_FAIL(err, ELIGN_ERR_ARG, "molecule %lld: %d atoms", (long long)g, sizes[k]);
        return NULL;
      }
    }
  return sizes;
}

/* One range cut into the batches of cfg->batch aligned in the global index,
 * so that a rank's share never changes a batch's composition. */
static elign_status sample_batches(const sampler_config *cfg, int T, int stride, egnn_workspace *ws,
                                   sampler_range range, const int *sizes, sampler_output *out,
                                   elign_progress *progress, long long *network_calls, elign_error *err) {
  int64_t bsz = cfg->batch, first = range.first, end = range.first + range.count;
  elign_status st = ELIGN_OK;
  for (int64_t b0 = first - first % bsz; b0 < end && !st; b0 += bsz) {
    int64_t lo = b0 < first ? first : b0, hi = b0 + bsz < end ? b0 + bsz : end;
    st = sample_range(cfg, T, stride, ws, lo, hi - lo, sizes + (lo - first), out, progress, network_calls, err);
  }
  return st;
}

elign_status sampler_run_ranges(const sampler_config *cfg, const sampler_range *ranges, int64_t n_ranges,
                                const int *n_atoms, sampler_output *out, elign_error *err) {
  memset(out, 0, sizeof *out); /* an error before the sampling leaves it so: nothing to free */
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
  int64_t count = 0;
  for (int64_t r = 0; r < n_ranges; r++) count += ranges[r].count;
  int *sizes = range_sizes(cfg, ranges, n_ranges, count, n_atoms, err);
  if (!sizes) return ELIGN_ERR_ARG;
  elign_molset_init(&out->mols);
  egnn_workspace *ws = edm_model_workspace_create(m); /* edm_model_denoise sizes it */
  elign_status st = ELIGN_OK;
  /* progress in molecule-steps: each molecule takes K reverse steps (+ the decode) */
  elign_progress progress;
  if (cfg->progress_label) elign_progress_start(&progress, cfg->progress_label, (long long)count * K, 10.0);
  long long network_calls = 0;
  const int *next_sizes = sizes;
  for (int64_t r = 0; r < n_ranges && !st; next_sizes += ranges[r].count, r++)
    st = sample_batches(cfg, T, stride, ws, ranges[r], next_sizes, out, cfg->progress_label ? &progress : NULL,
                        &network_calls, err);
  if (cfg->progress_label) elign_progress_finish(&progress);
  egnn_workspace_free(&ws);
  elign_free(sizes);
  if (st) sampler_output_free(out);
  return st;
}

elign_status sampler_run(const sampler_config *cfg, int64_t first, int64_t count, const int *n_atoms,
                         sampler_output *out, elign_error *err) {
  sampler_range all = {first, count};
  return sampler_run_ranges(cfg, &all, 1, n_atoms, out, err);
}
