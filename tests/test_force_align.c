/* test_force_align.c — the force-alignment regularizer (ALGORITHMS.md §4.13,
 * learner/force_align.h): hand-computed cosines, the masking rules (atoms
 * under either threshold skipped, count 0 → no contribution, only channels
 * 0..2 of μ), the micro-batch-wide ratio split over units, and in the
 * double build its gradient w.r.t. μθ — and through μ = z_t/α_{t|s} −
 * c·ε̂ into ε̂, together with the PPO-clip + KL step it is added to —
 * against central finite differences. */
#include <math.h>
#include <string.h>

#include "learner/force_align.h"
#include "learner/ppo.h"
#include "tests/testrng.h"
#include "tests/testutil.h"
#include "tests/testutil_fd.h"

enum { D = 9 };

static const grpo_force_align_settings FS = {.weight = 0.5, .min_force = 1e-4, .min_delta = 1e-4};

/* One atom row: μ channels 0..2 = d (μold = 0), the rest c. */
static void set_row(elign_real *mu, elign_real *mu_old, const double d[3], double rest) {
  for (int c = 0; c < D; c++) {
    mu_old[c] = (elign_real)(c < 3 ? 0.25 : rest - 1.0);
    mu[c] = (elign_real)(c < 3 ? 0.25 + d[c] : rest);
  }
}

/* Cosines of known vectors; thresholds; channels ≥ 3 neither count nor get a gradient. */
static void test_cosines_and_masks(void) {
  elign_real mu[5 * D], mu_old[5 * D];
  double F[5 * 3] = {
      2, 0, 0,      /* atom 0: Δμ along F → cos 1 */
      0, 3, 0,      /* atom 1: Δμ opposite → cos −1 */
      1, 1, 0,      /* atom 2: Δμ ⟂ F → cos 0 */
      5e-5, 0, 0,   /* atom 3: |F| under min_force: skipped */
      0, 0, 1,      /* atom 4: |Δμ| under min_delta: skipped */
  };
  double d[5][3] = {{0.5, 0, 0}, {0, -0.25, 0}, {0.1, -0.1, 0}, {0.3, 0, 0}, {0, 0, 5e-5}};
  for (int i = 0; i < 5; i++) set_row(mu + i * D, mu_old + i * D, d[i], 7.0 + i);
  CHECK(grpo_force_align_count(mu, mu_old, F, 5, D, &FS) == 3);
  CHECK(grpo_force_align_atom_qualifies(mu, mu_old, F, &FS));
  CHECK(!grpo_force_align_atom_qualifies(mu + 3 * D, mu_old + 3 * D, F + 9, &FS));
  CHECK(!grpo_force_align_atom_qualifies(mu + 4 * D, mu_old + 4 * D, F + 12, &FS));
  grpo_force_align_result r;
  elign_real d_mu[5 * D];
  for (int j = 0; j < 5 * D; j++) d_mu[j] = (elign_real)0.125; /* accumulates onto what is there */
  grpo_force_align_step(&r, d_mu, mu, mu_old, F, 5, D, &FS, 1.0);
  CHECK(r.count == 3);
  /* the 1e−8 in the norms leaves cos a hair inside ±1 */
  CHECK_CLOSE(r.sum_cos, 1.0 - 1.0 + 0.0, 1e-6, 0);
  CHECK_CLOSE(r.sum_one_minus_cos, 0.0 + 2.0 + 1.0, 1e-6, 0);
  for (int i = 0; i < 5; i++)
    for (int c = 3; c < D; c++) CHECK(d_mu[i * D + c] == (elign_real)0.125);
  for (int c = 0; c < 3; c++) {
    CHECK(d_mu[3 * D + c] == (elign_real)0.125); /* masked atoms: no gradient */
    CHECK(d_mu[4 * D + c] == (elign_real)0.125);
  }
  /* atom 2 (⟂): moving Δμ towards F lowers 1 − cos: the gradient points away from F̂ */
  double g2 = (d_mu[2 * D] - 0.125) * F[6] + (d_mu[2 * D + 1] - 0.125) * F[7];
  CHECK(g2 < 0);
  /* without d_mu: the same numbers, nothing written */
  grpo_force_align_result r2;
  grpo_force_align_step(&r2, NULL, mu, mu_old, F, 5, D, &FS, 1.0);
  CHECK(r2.count == r.count && r2.sum_cos == r.sum_cos && r2.sum_one_minus_cos == r.sum_one_minus_cos);
}

/* No qualifying atom (zero drift, as at the first step of a rollout batch; or no force): nothing. */
static void test_count_zero(void) {
  elign_real mu[3 * D], d_mu[3 * D];
  double F[9] = {1, 2, 3, 0, 0, 0, -1, 0, 2};
  double zero[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) set_row(mu + i * D, mu + i * D, zero, 1.0); /* μθ = μold */
  uint64_t st = 3;
  elign_real mu_old[3 * D];
  memcpy(mu_old, mu, sizeof mu);
  CHECK(grpo_force_align_count(mu, mu_old, F, 3, D, &FS) == 0);
  memset(d_mu, 0, sizeof d_mu);
  grpo_force_align_result r;
  grpo_force_align_step(&r, d_mu, mu, mu_old, F, 3, D, &FS, 1.0);
  CHECK(r.count == 0 && r.sum_one_minus_cos == 0 && r.sum_cos == 0);
  for (int j = 0; j < 3 * D; j++) CHECK(d_mu[j] == 0);
  /* drift but zero forces (a failed oracle frame keeps zeros) */
  for (int j = 0; j < 3 * D; j++) mu[j] += (elign_real)(0.1 * testrng_normal(&st));
  double F0[9] = {0};
  CHECK(grpo_force_align_count(mu, mu_old, F0, 3, D, &FS) == 0);
}

/* One ratio over the micro-batch: two units (halves of the atoms) with the
 * micro-batch's count give exactly the loss and gradient of one unit over all. */
static void test_units_add_up(void) {
  enum { N = 12 };
  elign_real mu[N * D], mu_old[N * D], g_all[N * D] = {0}, g_split[N * D] = {0};
  double F[N * 3];
  uint64_t st = 17;
  for (int j = 0; j < N * D; j++) {
    mu_old[j] = (elign_real)testrng_normal(&st);
    mu[j] = mu_old[j] + (elign_real)(0.2 * testrng_normal(&st));
  }
  for (int j = 0; j < N * 3; j++) F[j] = testrng_normal(&st);
  for (int c = 0; c < 3; c++) mu[5 * D + c] = mu_old[5 * D + c]; /* one atom without drift */
  int64_t total = grpo_force_align_count(mu, mu_old, F, N, D, &FS);
  CHECK(total == N - 1);
  double dS = FS.weight / ((double)total + GRPO_FORCE_ALIGN_EPS);
  grpo_force_align_result a, b1, b2;
  grpo_force_align_step(&a, g_all, mu, mu_old, F, N, D, &FS, dS);
  grpo_force_align_step(&b1, g_split, mu, mu_old, F, 7, D, &FS, dS);
  grpo_force_align_step(&b2, g_split + 7 * D, mu + 7 * D, mu_old + 7 * D, F + 21, N - 7, D, &FS, dS);
  CHECK(b1.count + b2.count == total);
  CHECK_CLOSE(dS * (b1.sum_one_minus_cos + b2.sum_one_minus_cos), dS * a.sum_one_minus_cos, 1e-12, 1e-12);
  for (int j = 0; j < N * D; j++) CHECK(g_split[j] == g_all[j]);
}

#ifdef ELIGN_DOUBLE
/* L(μ) = dS · Σ(1 − cos) with the count fixed (it is piecewise constant). */
typedef struct {
  const elign_real *mu_old;
  const double *F;
  int64_t n;
  double dS;
} fa_loss_ctx;

static double fa_loss(void *ctx, const elign_real *mu) {
  const fa_loss_ctx *c = ctx;
  grpo_force_align_result r;
  grpo_force_align_step(&r, NULL, mu, c->mu_old, c->F, c->n, D, &FS, c->dS);
  return c->dS * r.sum_one_minus_cos;
}

static void test_fd_mu(void) {
  enum { N = 10 };
  elign_real mu[N * D], mu_old[N * D], g[N * D] = {0};
  double F[N * 3];
  uint64_t st = 5;
  for (int j = 0; j < N * D; j++) {
    mu_old[j] = testrng_normal(&st);
    mu[j] = mu_old[j] + 0.3 * testrng_normal(&st);
  }
  for (int j = 0; j < N * 3; j++) F[j] = 2.0 * testrng_normal(&st);
  F[3 * 4] = F[3 * 4 + 1] = F[3 * 4 + 2] = 0.0; /* atom 4: no force → masked */
  for (int c = 0; c < 3; c++) mu[7 * D + c] = mu_old[7 * D + c] + (c == 0 ? 3e-5 : 0); /* atom 7: under min_delta */
  int64_t count = grpo_force_align_count(mu, mu_old, F, N, D, &FS);
  CHECK(count == N - 2);
  double dS = FS.weight * 0.37 / ((double)count + GRPO_FORCE_ALIGN_EPS); /* 0.37: the micro-batch's share */
  grpo_force_align_result r;
  grpo_force_align_step(&r, g, mu, mu_old, F, N, D, &FS, dS);
  fa_loss_ctx ctx = {mu_old, F, N, dS};
  CHECK(test_fd_gradient(fa_loss, &ctx, mu, g, N * D, 1, 1e-6, 1e-9, 1e-6, "force alignment FD (mu)") == 0);
  /* channels ≥ 3 and the masked atoms 4 and 7 get no gradient at all */
  for (int j = 0; j < N * D; j++)
    if (j % D >= 3 || j / D == 4 || j / D == 7) CHECK(g[j] == 0);
  double norm = 0;
  for (int j = 0; j < N * D; j++) norm += g[j] * g[j];
  CHECK(norm > 1e-6);
}

/* Through the network's output: μ = z_t/α_{t|s} − c·ε̂; the PPO-clip + KL step
 * (learner/ppo.h) and the force term share the one dL/dε̂, as train_update.c
 * adds them. */
enum { NM = 2 };
static const int64_t OFF[NM + 1] = {0, 5, 9};
typedef struct {
  diffusion_step_coef c[NM];
  elign_real z_t[9 * D], z_s[9 * D], mu_ref[9 * D], mu_old[9 * D];
  double F[9 * 3], old[NM], adv[NM];
  grpo_settings s;
  double w, dS;
} fixture;

static double total_loss(const fixture *f, const elign_real *eps_hat, elign_real *d_eps) {
  elign_real mu[9 * D], d_mu[9 * D], scratch[9 * D] = {0};
  double logp[NM], dlogp[NM];
  diffusion_reverse_mean(mu, NULL, f->z_t, eps_hat, f->c, OFF, NM, D);
  grpo_step_input in = {NM, OFF, D, f->z_s, mu, f->mu_ref, f->c, f->old, f->adv};
  grpo_ppo_stats st;
  elign_real *de = d_eps ? d_eps : scratch;
  grpo_ppo_step(&st, logp, dlogp, d_mu, de, &in, f->w, &f->s);
  memset(d_mu, 0, sizeof d_mu);
  grpo_force_align_result r;
  grpo_force_align_step(&r, d_mu, mu, f->mu_old, f->F, 9, D, &FS, f->dS);
  grpo_mu_backward_eps_hat(de, d_mu, f->c, OFF, NM, D);
  return st.weighted_loss + f->dS * r.sum_one_minus_cos;
}

static double total_loss_at(void *f, const elign_real *eps_hat) { return total_loss(f, eps_hat, NULL); }

static void test_fd_eps_hat(void) {
  diffusion_schedule sched;
  elign_error err;
  CHECK(diffusion_schedule_init(&sched, "polynomial_2", 1000, 1e-5, &err) == ELIGN_OK);
  fixture f;
  memset(&f, 0, sizeof f);
  grpo_settings_defaults(&f.s);
  f.s.model.time_step = 1000;
  f.s.train.clip_range = 0.2;
  f.s.train.kl_penalty_weight = 0.05;
  int t[NM] = {40, 40};
  uint64_t st = 23;
  elign_real eps_hat[9 * D], mu[9 * D];
  for (int m = 0; m < NM; m++) diffusion_step_coef_init(&f.c[m], &sched, t[m], t[m] - 1, 1000);
  for (int j = 0; j < 9 * D; j++) f.z_t[j] = testrng_normal(&st), eps_hat[j] = testrng_normal(&st);
  diffusion_reverse_mean(mu, NULL, f.z_t, eps_hat, f.c, OFF, NM, D);
  for (int m = 0; m < NM; m++)
    for (int64_t j = OFF[m] * D; j < OFF[m + 1] * D; j++) {
      f.z_s[j] = mu[j] + f.c[m].sigma_step * testrng_normal(&st);
      f.mu_ref[j] = mu[j] + 0.2 * f.c[m].sigma_step * testrng_normal(&st);
      f.mu_old[j] = mu[j] + 0.5 * f.c[m].sigma_step * testrng_normal(&st); /* the drift since the rollout */
    }
  for (int j = 0; j < 9 * 3; j++) f.F[j] = testrng_normal(&st);
  double logp[NM];
  elign_real sg[NM] = {f.c[0].sigma_step, f.c[1].sigma_step};
  diffusion_step_logp(logp, f.z_s, mu, sg, OFF, NM, D);
  f.old[0] = logp[0] - 0.05, f.old[1] = logp[1] + 0.1;
  f.adv[0] = 0.8, f.adv[1] = -1.1;
  f.w = 1.0 / (NM * 10.0);
  int64_t count = grpo_force_align_count(mu, f.mu_old, f.F, 9, D, &FS);
  CHECK(count == 9);
  f.dS = FS.weight * (NM * f.w) / ((double)count + GRPO_FORCE_ALIGN_EPS);
  elign_real g[9 * D] = {0}, g_ppo[9 * D] = {0};
  total_loss(&f, eps_hat, g);
  /* the force term changes the gradient (it is not swamped: compare with PPO + KL alone) */
  {
    fixture f0 = f;
    f0.dS = 0;
    total_loss(&f0, eps_hat, g_ppo);
    double diff = 0;
    for (int j = 0; j < 9 * D; j++) diff += fabs(g[j] - g_ppo[j]);
    CHECK(diff > 1e-6);
  }
  CHECK(test_fd_gradient(total_loss_at, &f, eps_hat, g, 9 * D, 1, 1e-6, 1e-9, 1e-6,
                         "force alignment FD (eps_hat, with PPO + KL)") == 0);
  diffusion_schedule_free(&sched);
}
#endif

int main(void) {
  test_cosines_and_masks();
  test_count_zero();
  test_units_add_up();
#ifdef ELIGN_DOUBLE
  test_fd_mu();
  test_fd_eps_hat();
#endif
  return test_main_result("test_force_align");
}
