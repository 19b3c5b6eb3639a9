/* test_rollout.c — FED-GRPO rollouts (actor/rollout.h) on a small random
 * QM9-shaped model (2 blocks × 32, T = 30):
 *
 *  - every recorded transition is re-derived from the record in the
 *    rollout's own batch composition: z_s = μ(z_t) + σ ε with ε from the
 *    documented keys, old log-prob = log N(z_s; μ, σ²), ẑ₀ and μ at the
 *    scheduled frames — all BITWISE (so a PPO ratio with zero drift is
 *    exactly 1); the same re-derivation one molecule at a time shows how far
 *    another batch composition moves them (printed);
 *  - case C: members identical through z_{T−p}, all pairs different after;
 *    case B: same z_T, different from the first step; case A: all distinct
 *    and the prefix ignored;
 *  - ẑ₀ recorded exactly at the reward scheduler's frames (learner/shaping.h)
 *    and handed to on_frame in order, then the final molecules;
 *  - groups {0..3} in one call equal {0,1} + {2,3} in two calls;
 *  - case A (and B) with K = 1 equals sampler_run for the same keys;
 *  - drawn sizes follow the NODE_COUNT stream; bad settings, a failing
 *    callback and a NaN from a (caller-supplied) policy are errors naming
 *    where;
 *  - the record's memory for the QM9 cases of the brief (printed; see the
 *    comment at print_qm9_memory).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/rollout.h"
#include "learner/grpo_settings.h"
#include "learner/ppo.h"
#include "learner/shaping.h"
#include "tests/testutil.h"

static edm_model model;
#define T_TEST 30

/* ---- re-deriving a record ----------------------------------------------------------- */

typedef struct {
  int64_t steps_checked, frames_checked;
  int zs_bitwise, logp_bitwise, zhat0_bitwise, mu_bitwise, decode_ok;
  double other_batch_max_dlogp;   /* molecule-at-a-time re-derivation vs the record */
  double other_batch_max_rel_dmu; /* max |Δμ| / max |μ| of a molecule, same */
} rederive_stats;

/* Batch of transition k of block [m0, m0 + nm): in the case-C prefix the
 * references (member 0 of each group), else every member. Returns the
 * batch's record molecules in mols[]. */
static int64_t batch_of(const rollout_batch *r, int64_t m0, int64_t nm, int k, int64_t *mols) {
  int prefix = r->h.share_initial_noise && k < r->h.skip_prefix;
  int64_t n = 0;
  for (int64_t m = m0; m < m0 + nm; m++)
    if (!prefix || rollout_member(r, m) == 0) mols[n++] = m;
  return n;
}

/* Gather rows of molecules mols[] of an (n_atoms, D) record array. */
static int64_t gather(const rollout_batch *r, const elign_real *src, const int64_t *mols, int64_t n, elign_real *dst,
                      int64_t *off) {
  int D = r->h.D;
  off[0] = 0;
  for (int64_t b = 0; b < n; b++) {
    int64_t na = rollout_natoms(r, mols[b]);
    memcpy(dst + off[b] * D, src + r->offsets[mols[b]] * D, (size_t)(na * D) * sizeof(elign_real));
    off[b + 1] = off[b] + na;
  }
  return off[n];
}

static void rederive(const rollout_batch *r, int G, rederive_stats *st) {
  memset(st, 0, sizeof *st);
  st->zs_bitwise = st->logp_bitwise = st->zhat0_bitwise = st->mu_bitwise = st->decode_ok = 1;
  int D = r->h.D, T = r->h.T, k0 = r->h.train_start, K = r->h.K;
  int64_t nmax = r->h.n_mol, amax = r->h.n_atoms;
  int64_t *mols = malloc(sizeof(int64_t) * nmax), *off = malloc(sizeof(int64_t) * (nmax + 1));
  size_t rows = (size_t)amax * D * sizeof(elign_real);
  elign_real *zt = malloc(rows), *zs = malloc(rows), *mu = malloc(rows), *zh = malloc(rows), *eps = malloc(rows);
  elign_real *noise = malloc(rows), *zexp = malloc(rows), *tmp = malloc(rows), *sig = malloc(sizeof(elign_real) * nmax);
  double *lp = malloc(sizeof(double) * nmax);
  int *tt = malloc(sizeof(int) * nmax), *ss = malloc(sizeof(int) * nmax);
  diffusion_step_coef *coef = malloc(sizeof *coef * nmax);
  egnn_workspace *ws = egnn_workspace_create(&model.net, amax, nmax, 0);
  elign_error err;
  int slot_of[T_TEST + 1];
  for (int k = 0; k <= T; k++) slot_of[k] = -1;
  for (int j = 0; j < r->h.n_frames; j++) slot_of[r->frames[j]] = j;

  for (int64_t gb = r->h.group_first; gb < r->h.group_first + r->h.n_groups;) {
    int64_t ge = (gb / G + 1) * G;
    if (ge > r->h.group_first + r->h.n_groups) ge = r->h.group_first + r->h.n_groups;
    int64_t m0 = (gb - r->h.group_first) * K, nm = (ge - gb) * K;
    for (int i = 0; i < rollout_T_act(r); i++) {
      int k = k0 + i, t = T - k, s = t - 1;
      int prefix = r->h.share_initial_noise && k < r->h.skip_prefix;
      int64_t n = batch_of(r, m0, nm, k, mols);
      gather(r, rollout_latent(r, i), mols, n, zt, off);
      gather(r, rollout_latent(r, i + 1), mols, n, zs, off);
      for (int64_t b = 0; b < n; b++) tt[b] = t, ss[b] = s;
      /* μ as the learner computes it (no ẑ₀ asked for: see sampler.c edm_transition), then ẑ₀ */
      CHECK(edm_model_denoise(&model, ws, n, off, zt, tt, ss, T, eps, mu, sig, NULL, coef, &err) == ELIGN_OK);
      diffusion_reverse_mean(NULL, zh, zt, eps, coef, off, n, D);
      for (int64_t b = 0; b < n; b++) {
        uint32_t g = (uint32_t)rollout_group(r, mols[b]), j = prefix ? 0u : (uint32_t)rollout_member(r, mols[b]);
        elign_rng rng = elign_rng_stream(r->h.seed, r->h.iteration, g, j, (uint32_t)s, ELIGN_RNG_STEP_NOISE);
        diffusion_noise_molecule(noise + off[b] * D, &rng, off[b + 1] - off[b], D);
      }
      diffusion_reverse_sample(zexp, mu, noise, coef, off, n, D);
      st->zs_bitwise &= memcmp(zexp, zs, (size_t)(off[n] * D) * sizeof(elign_real)) == 0;
      diffusion_step_logp(lp, zs, mu, sig, off, n, D);
      for (int64_t b = 0; b < n; b++) {
        /* in the prefix the reference's value stands for all K members */
        for (int j = 0; j < (prefix ? K : 1); j++) st->logp_bitwise &= lp[b] == rollout_logp_old(r, mols[b] + j, i);
      }
      int slot = slot_of[k];
      if (slot >= 0) {
        gather(r, rollout_frame_zhat0(r, slot), mols, n, tmp, off);
        st->zhat0_bitwise &= memcmp(tmp, zh, (size_t)(off[n] * D) * sizeof(elign_real)) == 0;
        if (r->mu) {
          gather(r, rollout_frame_mu(r, slot), mols, n, tmp, off);
          st->mu_bitwise &= memcmp(tmp, mu, (size_t)(off[n] * D) * sizeof(elign_real)) == 0;
        }
        st->frames_checked++;
      }
      /* another composition: one molecule at a time */
      for (int64_t b = 0; b < n; b++) {
        int64_t o1[2] = {0, off[b + 1] - off[b]};
        elign_real s1;
        double l1;
        CHECK(edm_model_denoise(&model, ws, 1, o1, zt + off[b] * D, tt, ss, T, eps, tmp, &s1, NULL, NULL, &err) ==
              ELIGN_OK);
        diffusion_step_logp(&l1, zs + off[b] * D, tmp, &s1, o1, 1, D);
        double d = fabs(l1 - lp[b]), dm = 0, mm = 0;
        for (int64_t q = 0; q < o1[1] * D; q++) {
          dm = fmax(dm, fabs((double)tmp[q] - (double)mu[off[b] * D + q]));
          mm = fmax(mm, fabs((double)mu[off[b] * D + q]));
        }
        if (dm / mm > st->other_batch_max_rel_dmu) st->other_batch_max_rel_dmu = dm / mm;
        if (d > st->other_batch_max_dlogp) st->other_batch_max_dlogp = d;
      }
      st->steps_checked += n;
    }
    gb = ge;
  }
  /* the decode frame is xh; the final positions are xh's */
  if (r->h.n_frames > 0 && r->frames[r->h.n_frames - 1] == T)
    st->decode_ok &= memcmp(rollout_frame_zhat0(r, r->h.n_frames - 1), r->xh,
                            (size_t)(r->h.n_atoms * D) * sizeof(elign_real)) == 0;
  for (int64_t a = 0; a < r->h.n_atoms; a++)
    for (int d = 0; d < 3; d++) st->decode_ok &= r->pos[3 * a + d] == (double)r->xh[a * D + d];
  egnn_workspace_free(&ws);
  free(mols), free(off), free(zt), free(zs), free(mu), free(zh), free(eps), free(noise), free(zexp), free(tmp);
  free(sig), free(lp), free(tt), free(ss), free(coef);
}

/* ---- frames seen by the callback ------------------------------------------------------ */

typedef struct {
  int n_calls;
  int kinds[256], frames[256], copies[256];
  int64_t first[256], count[256];
  int zhat0_matches; /* the handed rows equal the record's at that point */
  const rollout_batch *r;
  int fail_at;       /* call index at which to fail (−1: never) */
} frame_log;

static elign_status log_frame(const rollout_frame *f, void *user, elign_error *err) {
  frame_log *L = user;
  if (L->n_calls < 256) {
    L->kinds[L->n_calls] = f->kind;
    L->frames[L->n_calls] = f->frame;
    L->copies[L->n_calls] = f->copies;
    L->first[L->n_calls] = f->mol_first;
    L->count[L->n_calls] = f->n_mol;
  }
  if (f->kind == ROLLOUT_FRAME_ZHAT0) {
    /* non-empty, finite ẑ₀ rows of this molecule range */
    int ok = f->offsets[0] == 0 && f->offsets[f->n_mol] > 0;
    for (int64_t q = 0; q < f->offsets[f->n_mol] * f->D; q++) ok &= isfinite(f->zhat0[q]);
    double *pos = malloc(sizeof(double) * 3 * f->offsets[f->n_mol]);
    int32_t *Z = malloc(sizeof(int32_t) * f->offsets[f->n_mol]);
    rollout_frame_molecules(&model, f, pos, Z);
    for (int64_t a = 0; a < f->offsets[f->n_mol]; a++) ok &= pos[3 * a] == (double)f->zhat0[a * f->D] && Z[a] >= 1;
    free(pos), free(Z);
    L->zhat0_matches &= ok;
  }
  int idx = L->n_calls++;
  if (idx == L->fail_at) return ELIGN_FAIL(err, ELIGN_ERR_BACKEND, "oracle queue closed (test)");
  return ELIGN_OK;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static rollout_config base_config(int share, int p, int k0, int K, int G) {
  rollout_config c = {.model = &model, .T = T_TEST, .K = K, .share_initial_noise = share, .skip_prefix = p,
                      .train_start = k0, .groups_per_batch = G, .seed = 1234567, .iteration = 3};
  return c;
}

static int same_rows(const rollout_batch *r, const elign_real *base, int64_t m1, int64_t m2) {
  int64_t n = rollout_natoms(r, m1);
  return n == rollout_natoms(r, m2) &&
         memcmp(base + r->offsets[m1] * r->h.D, base + r->offsets[m2] * r->h.D, (size_t)(n * r->h.D) * sizeof(elign_real)) == 0;
}

/* Latent i of all members of every group: 1 = all pairs equal, 0 = all pairs differ, −1 mixed. */
static int members_relation(const rollout_batch *r, int i) {
  int all_same = 1, all_diff = 1;
  for (int64_t g = 0; g < r->h.n_groups; g++)
    for (int a = 0; a < r->h.K; a++)
      for (int b = a + 1; b < r->h.K; b++) {
        int same = same_rows(r, rollout_latent(r, i), g * r->h.K + a, g * r->h.K + b);
        all_same &= same;
        all_diff &= !same;
      }
  return all_same ? 1 : all_diff ? 0 : -1;
}

static int records_equal(const rollout_batch *a, const rollout_batch *b, int64_t mol_shift) {
  int D = a->h.D, ok = 1;
  for (int64_t m = 0; m < b->h.n_mol; m++) {
    int64_t ma = m + mol_shift, na = rollout_natoms(b, m);
    ok &= rollout_natoms(a, ma) == na;
    if (!ok) return 0;
    size_t bytes = (size_t)(na * D) * sizeof(elign_real);
    for (int i = 0; i < rollout_n_latents(b); i++)
      ok &= memcmp(rollout_latent(a, i) + a->offsets[ma] * D, rollout_latent(b, i) + b->offsets[m] * D, bytes) == 0;
    for (int i = 0; i < rollout_T_act(b); i++) ok &= rollout_logp_old(a, ma, i) == rollout_logp_old(b, m, i);
    for (int j = 0; j < b->h.n_frames; j++)
      ok &= memcmp(rollout_frame_zhat0(a, j) + a->offsets[ma] * D, rollout_frame_zhat0(b, j) + b->offsets[m] * D,
                   bytes) == 0;
    ok &= memcmp(a->xh + a->offsets[ma] * D, b->xh + b->offsets[m] * D, bytes) == 0;
    ok &= memcmp(a->pos + 3 * a->offsets[ma], b->pos + 3 * b->offsets[m], (size_t)na * 3 * sizeof(double)) == 0;
    ok &= memcmp(a->Z + a->offsets[ma], b->Z + b->offsets[m], (size_t)na * sizeof(int32_t)) == 0;
    ok &= memcmp(a->charges + a->offsets[ma], b->charges + b->offsets[m], (size_t)na * sizeof(int32_t)) == 0;
  }
  return ok;
}

/* ---- a caller policy: EDM, with NaN injected into one group's μ at one step ------------ */

typedef struct {
  sampler_edm_ctx edm;
  sampler_policy inner;
  int poison_t;
  uint32_t poison_row; /* batch row to poison */
} poison_ctx;

static elign_status poison_transition(void *ctx, int64_t n_mol, const int64_t *off, const elign_real *z_t,
                                      const int *t, const int *s, int T, elign_real *mu, elign_real *sigma,
                                      elign_real *zhat0, elign_error *err) {
  poison_ctx *c = ctx;
  elign_status st = c->inner.transition(c->inner.ctx, n_mol, off, z_t, t, s, T, mu, sigma, zhat0, err);
  if (!st && t[0] == c->poison_t && (int64_t)c->poison_row < n_mol) mu[off[c->poison_row] * c->inner.D + 4] = NAN;
  return st;
}
static elign_status poison_decode(void *ctx, int64_t n_mol, const int64_t *off, const elign_real *z0,
                                  const elign_real *noise, int T, elign_real *xh, elign_real *mu_x, elign_real *sigma_x,
                                  elign_error *err) {
  poison_ctx *c = ctx;
  return c->inner.decode(c->inner.ctx, n_mol, off, z0, noise, T, xh, mu_x, sigma_x, err);
}
static void poison_molecules(void *ctx, int64_t n, const elign_real *xh, const elign_real *z0, double *pos, int32_t *Z,
                             int32_t *q) {
  poison_ctx *c = ctx;
  c->inner.molecules(c->inner.ctx, n, xh, z0, pos, Z, q);
}

/* ---- memory of the QM9 cases ------------------------------------------------------------ */

/* QM9, K = 8, P = 4 (B = 32), T = 1000, D = 9, mean atom count of the
 * histogram 18.0 (B·n̄ ≈ 577 atoms), float32 latents. Printed by this test
 * (numbers for the histogram mean; a drawn batch varies):
 *   p = 700, no frames (terminal-only):        ≈ 6.3 MB  (301 latents)
 *   p = 700, adaptive frames from 700 (126):   ≈ 9.0 MB
 *   p = none (all 1000 trained), no frames:    ≈ 21 MB   (1001 latents)
 *   p = none, uniform frames from 600 (401):   ≈ 29 MB
 * The public code's record for the same batch (latents [B,T+2,29,D] +
 * z0_preds [B,T+1,29,D] + logps) is ≈ 67 MB whatever p is (+33 MB with μ). */
static int qm9_frames(int mode, int skip, int stride) {
  grpo_settings gs;
  grpo_settings_defaults(&gs);
  gs.reward.shaping.scheduler.mode = mode;
  gs.reward.shaping.scheduler.skip_prefix = skip;
  gs.reward.shaping.scheduler.uniform_stride = stride;
  int *ts = malloc(sizeof(int) * 1001);
  grpo_standard_timesteps(ts, 1000);
  grpo_schedule sch;
  elign_error err;
  CHECK(grpo_schedule_build(&sch, ts, 1001, &gs, &err) == ELIGN_OK);
  int n = sch.n;
  grpo_schedule_free(&sch);
  free(ts);
  return n;
}

static void print_qm9_memory(void) {
  double sum = 0, cnt = 0;
  for (int i = 0; i < model.nodes.n; i++) sum += model.nodes.sizes[i] * model.nodes.counts[i], cnt += model.nodes.counts[i];
  double nbar = sum / cnt;
  int B = 32;
  int64_t n_atoms = (int64_t)llround(nbar * B);
  int J_adaptive = qm9_frames(GRPO_SCHEDULER_ADAPTIVE, 700, 1), J_uniform = qm9_frames(GRPO_SCHEDULER_UNIFORM, 600, 1);
  CHECK(J_uniform == 401 && qm9_frames(GRPO_SCHEDULER_ADAPTIVE, 500, 1) == 151); /* §4.6's examples */
  struct {
    const char *what;
    int k0, J, mu;
  } cases[] = {{"p=700, terminal-only (no frames)", 700, 0, 0},
               {"p=700, adaptive frames from 700", 700, J_adaptive, 0},
               {"p=700, adaptive frames + mu (force alignment)", 700, J_adaptive, 1},
               {"p=none (all 1000 trained), no frames", 0, 0, 0},
               {"p=none, uniform frames from 600", 0, J_uniform, 0}};
  printf("record memory, QM9 K=8 P=4 T=1000 (mean n = %.2f, %lld atoms):\n", nbar, (long long)n_atoms);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    rollout_header h = {.real_bytes = 4, .K = 8, .T = 1000, .D = 9, .train_start = cases[c].k0,
                        .n_frames = cases[c].J, .has_mu = cases[c].mu, .n_mol = B, .n_atoms = n_atoms};
    printf("  %-46s J=%3d %8.2f MB\n", cases[c].what, cases[c].J, rollout_data_bytes(&h) / 1e6);
  }
  double elign = (double)B * (1002 + 1001) * 29 * 9 * 4 + (double)B * 1001 * 8;
  printf("  %-52s %8.2f MB (+%.2f MB with mus)\n", "public code (latents + z0_preds + logps)", elign / 1e6,
         (double)B * 1001 * 29 * 9 * 4 / 1e6);
  rollout_header h = {.real_bytes = 4, .K = 8, .T = 1000, .D = 9, .train_start = 700, .n_mol = B, .n_atoms = n_atoms};
  CHECK(rollout_data_bytes(&h) < 7e6 && rollout_data_bytes(&h) > 6e6);
}

int main(void) {
  elign_error err;
  CHECK(edm_model_init_preset(&model, "qm9", 1, 4242, &err) == ELIGN_OK);
  const int T = T_TEST, K = 4, P = 4, G = 2;
  int sizes[4] = {6, 4, 6, 5};

  /* the learner's view of the settings → rollout settings (§4.3, §4.6, §4.9) */
  grpo_settings gs;
  grpo_settings_defaults(&gs);
  gs.model.time_step = T;
  gs.model.share_initial_noise = 1;
  gs.reward.shaping.enabled = 1;
  gs.reward.shaping.scheduler.skip_prefix = 12;   /* also the rollout's p (model.skip_prefix null) */
  gs.reward.shaping.scheduler.mode = GRPO_SCHEDULER_ADAPTIVE;
  gs.reward.shaping.scheduler.adaptive.coarse_stride = 4;
  gs.reward.shaping.scheduler.adaptive.fine_stride = 2;
  int p = grpo_rollout_skip_prefix(&gs), k0 = grpo_trained_start(&gs, T);
  CHECK(p == 12 && k0 == 12);
  int ts[T_TEST + 1];
  grpo_standard_timesteps(ts, T);
  grpo_schedule sch;
  CHECK(grpo_schedule_build(&sch, ts, T + 1, &gs, &err) == ELIGN_OK);
  printf("scheduled frames:");
  for (int j = 0; j < sch.n; j++) printf(" %d", sch.indices[j]);
  printf("\n");
  CHECK(sch.n > 3 && sch.indices[0] == 12 && sch.indices[sch.n - 1] == T);

  /* ---- case C, the learner's settings; frames and μ kept ---- */
  rollout_config c = base_config(1, p, k0, K, G);
  c.frames = sch.indices, c.n_frames = sch.n, c.keep_mu = 1;
  frame_log L = {.zhat0_matches = 1, .fail_at = -1};
  c.on_frame = log_frame, c.user = &L;
  rollout_batch rc;
  CHECK(rollout_run(&c, 0, P, sizes, &rc, &err) == ELIGN_OK);
  L.r = &rc;
  CHECK(rc.h.n_mol == P * K && rc.h.skip_prefix == p && rollout_T_act(&rc) == T - p && rc.h.n_frames == sch.n);
  CHECK(rc.h.n_atoms == K * (6 + 4 + 6 + 5));
  rederive_stats rs;
  rederive(&rc, G, &rs);
  printf("case C: %lld steps, %lld frame batches re-derived; one molecule per batch instead: max |dlogp| %.3g, "
         "max |dmu|/max|mu| %.3g\n",
         (long long)rs.steps_checked, (long long)rs.frames_checked, rs.other_batch_max_dlogp, rs.other_batch_max_rel_dmu);
  CHECK(rs.steps_checked == (int64_t)(T - p) * P * K);
  CHECK(rs.zs_bitwise && rs.logp_bitwise && rs.zhat0_bitwise && rs.mu_bitwise && rs.decode_ok);
  CHECK(rs.frames_checked == (int64_t)(sch.n - 1) * (P / G)); /* every scheduled frame but the decode, per block */
  /* Another batch composition is NOT bitwise (OpenBLAS rounds a GEMM row
   * differently in other batch shapes): only float rounding apart. The
   * random model's latents grow to ~1e3–1e5, so the absolute log-prob gap
   * printed above is large here; a trained model's is far smaller. */
  CHECK(rs.other_batch_max_rel_dmu < 1e-5);
  /* the PPO ratio with zero drift: exp(logp_new − logp_old) = 1 exactly (checked through logp_bitwise) */
  CHECK(members_relation(&rc, 0) == 1);  /* z_{T−p}: the branch state, shared */
  int differ_after = 1;
  for (int i = 1; i < rollout_n_latents(&rc); i++) differ_after &= members_relation(&rc, i) == 0;
  CHECK(differ_after);
  /* frames: per block, the scheduled frames in order, then FINAL */
  int order_ok = L.n_calls == (P / G) * (sch.n + 1);
  for (int b = 0; b < P / G && order_ok; b++)
    for (int j = 0; j <= sch.n; j++) {
      int q = b * (sch.n + 1) + j;
      order_ok &= L.first[q] == (int64_t)b * G * K && L.count[q] == (int64_t)G * K && L.copies[q] == 1;
      order_ok &= j < sch.n ? (L.kinds[q] == ROLLOUT_FRAME_ZHAT0 && L.frames[q] == sch.indices[j])
                            : (L.kinds[q] == ROLLOUT_FRAME_FINAL && L.frames[q] == T);
    }
  CHECK(order_ok);
  CHECK(L.zhat0_matches);
  for (int j = 0; j < sch.n; j++) CHECK(rc.frames[j] == sch.indices[j]);

  /* ---- case C with the prefix recorded too (k0 = 0; a prefix frame 5): members equal up to z_{T−p} ---- */
  int pf[3] = {5, 12, T};
  rollout_config c0 = base_config(1, p, 0, K, G);
  c0.frames = pf, c0.n_frames = 3;
  frame_log L0 = {.zhat0_matches = 1, .fail_at = -1};
  c0.on_frame = log_frame, c0.user = &L0;
  rollout_batch r0;
  CHECK(rollout_run(&c0, 0, P, sizes, &r0, &err) == ELIGN_OK);
  int shared_prefix = 1, branched = 1;
  for (int i = 0; i <= p; i++) shared_prefix &= members_relation(&r0, i) == 1;
  for (int i = p + 1; i <= T; i++) branched &= members_relation(&r0, i) == 0;
  CHECK(shared_prefix);
  CHECK(branched);
  int prefix_frame_copied = 1; /* frame 5 (in the prefix): the reference's ẑ₀ in every member */
  for (int64_t g = 0; g < P; g++)
    for (int j = 1; j < K; j++) prefix_frame_copied &= same_rows(&r0, rollout_frame_zhat0(&r0, 0), g * K, g * K + j);
  CHECK(prefix_frame_copied);
  CHECK(L0.n_calls == 2 * 4 && L0.frames[0] == 5 && L0.copies[0] == K && L0.frames[1] == 12 && L0.copies[1] == 1);
  CHECK(!same_rows(&r0, rollout_frame_zhat0(&r0, 2), 0, 1)); /* frame T differs */
  rederive(&r0, G, &rs);
  CHECK(rs.steps_checked == (int64_t)p * P + (int64_t)(T - p) * P * K);
  CHECK(rs.zs_bitwise && rs.logp_bitwise && rs.zhat0_bitwise && rs.decode_ok);
  /* the k0 = 12 record is the tail of the k0 = 0 one */
  int tail_ok = 1;
  for (int i = 0; i < rollout_n_latents(&rc); i++)
    tail_ok &= memcmp(rollout_latent(&rc, i), rollout_latent(&r0, i + p), (size_t)(rc.h.n_atoms * rc.h.D) * sizeof(elign_real)) == 0;
  for (int i = 0; i < rollout_T_act(&rc); i++)
    for (int64_t m = 0; m < rc.h.n_mol; m++) tail_ok &= rollout_logp_old(&rc, m, i) == rollout_logp_old(&r0, m, i + p);
  CHECK(tail_ok);
  CHECK(memcmp(rc.pos, r0.pos, (size_t)rc.h.n_atoms * 3 * sizeof(double)) == 0);

  /* ---- case B: same z_T, different from the first step ---- */
  rollout_config cb = base_config(1, 0, 0, K, G);
  rollout_batch rb;
  CHECK(rollout_run(&cb, 0, P, sizes, &rb, &err) == ELIGN_OK);
  CHECK(rb.h.skip_prefix == 0 && rollout_T_act(&rb) == T);
  CHECK(members_relation(&rb, 0) == 1);
  CHECK(members_relation(&rb, 1) == 0);
  CHECK(members_relation(&rb, T) == 0);
  CHECK(!same_rows(&rb, rollout_latent(&rb, 0), 0, 2 * K)); /* groups 0 and 2 (both 6 atoms): own z_T */
  rederive(&rb, G, &rs);
  CHECK(rs.zs_bitwise && rs.logp_bitwise && rs.decode_ok);
  /* member 0 keeps the case-C reference's keys: z_T equal to case C's */
  CHECK(memcmp(rollout_latent(&rb, 0), rollout_latent(&r0, 0), (size_t)(rb.h.n_atoms * rb.h.D) * sizeof(elign_real)) == 0);

  /* ---- case A: all independent; a prefix given is ignored ---- */
  rollout_config ca = base_config(0, 12, 0, K, G);
  rollout_batch ra;
  CHECK(rollout_run(&ca, 0, P, sizes, &ra, &err) == ELIGN_OK);
  CHECK(ra.h.skip_prefix == 0);
  CHECK(members_relation(&ra, 0) == 0);
  CHECK(members_relation(&ra, T) == 0);
  rederive(&ra, G, &rs);
  CHECK(rs.zs_bitwise && rs.logp_bitwise && rs.decode_ok);

  /* ---- rank independence: groups {0..3} once = {0,1} + {2,3} ---- */
  rollout_batch h1, h2;
  CHECK(rollout_run(&c, 0, 2, sizes, &h1, &err) == ELIGN_OK);
  CHECK(rollout_run(&c, 2, 2, sizes + 2, &h2, &err) == ELIGN_OK);
  CHECK(h2.h.group_first == 2 && rollout_group(&h2, 0) == 2);
  CHECK(records_equal(&rc, &h1, 0));
  CHECK(records_equal(&rc, &h2, 2 * K));
  rollout_batch_free(&h1);
  rollout_batch_free(&h2);
  /* the same record after a byte copy of header + data (what MPI moves) */
  rollout_batch cp;
  rollout_batch_alloc(&cp, &rc.h);
  CHECK(cp.h.data_bytes == rc.h.data_bytes);
  memcpy(cp.data, rc.data, rc.h.data_bytes);
  CHECK(records_equal(&cp, &rc, 0));
  rollout_step v = rollout_step_view(&cp, 5, 3);
  CHECK(v.k == p + 3 && v.t == T - p - 3 && v.s == v.t - 1 && v.logp_old == rollout_logp_old(&rc, 5, 3));
  CHECK(memcmp(v.z_s, rollout_step_view(&rc, 5, 4).z_t, (size_t)(rollout_natoms(&rc, 5) * rc.h.D) * sizeof(elign_real)) == 0);
  rollout_batch_free(&cp);

  /* ---- K = 1, cases A and B: exactly sampler_run over molecules = groups ---- */
  int sz6[6] = {5, 7, 3, 8, 4, 6};
  sampler_config sc = {.model = &model, .T = T, .seed = c.seed, .iteration = c.iteration, .batch = 3};
  sampler_output so;
  CHECK(sampler_run(&sc, 0, 6, sz6, &so, &err) == ELIGN_OK);
  for (int share = 0; share <= 1; share++) {
    rollout_config c1 = base_config(share, 0, 0, 1, 3);
    rollout_batch r1;
    CHECK(rollout_run(&c1, 0, 6, sz6, &r1, &err) == ELIGN_OK);
    CHECK(r1.h.n_atoms == so.mols.n_atoms);
    CHECK(memcmp(r1.pos, so.mols.pos, (size_t)so.mols.n_atoms * 3 * sizeof(double)) == 0);
    CHECK(memcmp(r1.Z, so.mols.Z, (size_t)so.mols.n_atoms * sizeof(int32_t)) == 0);
    CHECK(memcmp(r1.charges, so.charges, (size_t)so.mols.n_atoms * sizeof(int32_t)) == 0);
    rollout_batch_free(&r1);
  }
  sampler_output_free(&so);

  /* ---- drawn sizes: the NODE_COUNT stream of the global group = sampler_draw_n_atoms ---- */
  rollout_config cd = base_config(1, 25, 25, 2, 1);
  cd.T = 26; /* short: drawn molecules are up to 29 atoms */
  rollout_batch rd;
  CHECK(rollout_run(&cd, 40, 2, NULL, &rd, &err) == ELIGN_OK);
  sampler_config sd = {.model = &model, .T = cd.T, .seed = cd.seed, .iteration = cd.iteration, .batch = 1};
  CHECK(rollout_natoms(&rd, 0) == sampler_draw_n_atoms(&sd, 40) && rollout_natoms(&rd, 1) == rollout_natoms(&rd, 0));
  CHECK(rollout_natoms(&rd, 2) == rollout_draw_group_size(&cd, 41));
  rollout_batch_free(&rd);

  /* ---- errors ---- */
  int bad_frames[2] = {10, 10};
  rollout_config ce = base_config(1, p, k0, K, G);
  ce.frames = bad_frames, ce.n_frames = 2;
  rollout_batch re;
  CHECK(rollout_run(&ce, 0, P, sizes, &re, &err) == ELIGN_ERR_ARG);
  ce = base_config(1, p, T + 1, K, G);
  CHECK(rollout_run(&ce, 0, P, sizes, &re, &err) == ELIGN_ERR_ARG);
  ce = base_config(1, p, k0, K, 0);
  CHECK(rollout_run(&ce, 0, P, sizes, &re, &err) == ELIGN_ERR_ARG);
  ce = base_config(1, p, k0, K, G);
  CHECK(rollout_run(&ce, 1, 2, sizes, &re, &err) == ELIGN_ERR_ARG); /* cuts block 0 */
  CHECK(strstr(err.msg, "groups_per_batch") != NULL);
  /* a callback failure stops the rollout with its error */
  frame_log Lf = {.zhat0_matches = 1, .fail_at = 2};
  ce = c;
  ce.on_frame = log_frame, ce.user = &Lf;
  CHECK(rollout_run(&ce, 0, P, sizes, &re, &err) == ELIGN_ERR_BACKEND && Lf.n_calls == 3);
  rollout_batch_free(&re);
  /* NaN from the policy (a caller policy wrapping EDM): named iteration, group, member, step */
  poison_ctx pc = {.edm = {.model = &model, .ws = egnn_workspace_create(&model.net, 256, 64, 0)}, .poison_t = 20};
  pc.inner = sampler_policy_edm(&pc.edm);
  pc.poison_row = 1; /* in the case-C prefix (t = 20 > T − p = 18) row 1 is group 1's reference */
  sampler_policy pol = {.ctx = &pc, .D = model.layout.D, .transition = poison_transition, .decode = poison_decode,
                        .molecules = poison_molecules};
  ce = c;
  ce.policy = &pol;
  elign_error_clear(&err);
  CHECK(rollout_run(&ce, 0, P, sizes, &re, &err) == ELIGN_ERR_NUMERIC);
  printf("NaN report: %s\n", err.msg);
  CHECK(strstr(err.msg, "iteration 3, group 1, member 0, step t=20") != NULL);
  rollout_batch_free(&re);
  /* the same policy without poisoning is EDM: the record is unchanged */
  pc.poison_t = -1;
  CHECK(rollout_run(&ce, 0, P, sizes, &re, &err) == ELIGN_OK);
  CHECK(records_equal(&re, &rc, 0));
  rollout_batch_free(&re);
  sampler_edm_ctx_free(&pc.edm);
  egnn_workspace_free(&pc.edm.ws);

  print_qm9_memory();

  rollout_batch_free(&rc);
  rollout_batch_free(&r0);
  rollout_batch_free(&rb);
  rollout_batch_free(&ra);
  grpo_schedule_free(&sch);
  edm_model_free(&model);
  return test_main_result("test_rollout");
}
