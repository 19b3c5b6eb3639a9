/* diffusion.c — EDM's Gaussian diffusion maths (ALGORITHMS.md §2), given ε̂.
 *
 * Reading order: schedule → scalar coefficients → layout/normalization →
 * noise → forward process → reverse step (+ log-prob and its backward) →
 * decode → atom counts → training loss (+ backward).
 *
 * <tgmath.h> makes exp/log1p/sqrt/... follow elign_real, so in the float build
 * every scalar is evaluated in float32 like PyTorch's, and in the double build
 * everything is double (tight finite-difference checks).
 */
#include "common/model/diffusion.h"

#include "common/model/energy_loss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#define R(v) ((elign_real)(v))

/* ==== schedule =========================================================== */

/* α²(k) of "polynomial_<power>" in float64 (§2.1), exactly as EDM builds it:
 * x = linspace(0, T0+1, T0+1) / (T0+1) (numpy computes k·step with step =
 * (T0+1)/T0 and pins the last point), a = (1 − x^p)², per-step ratios clipped
 * to [0.001, 1] and re-multiplied, then α² = (1 − 2s)·a + s. */
static void polynomial_alpha2(double *alpha2, int T0, double power, double s) {
  int steps = T0 + 1;
  double step = (double)steps / (double)(steps - 1);
  double prev = 1.0, cum = 1.0;
  for (int k = 0; k <= T0; k++) {
    double x = (k == T0 ? (double)steps : (double)k * step) / (double)steps;
    double xp = power == 2.0 ? x * x : pow(x, power);
    double a = (1.0 - xp) * (1.0 - xp);
    double ratio = a / prev; /* prev = a(k−1), with a(−1) := 1 */
    if (ratio < 0.001) ratio = 0.001;
    if (ratio > 1.0) ratio = 1.0;
    cum *= ratio;
    alpha2[k] = (1.0 - 2.0 * s) * cum + s;
    prev = a;
  }
}

elign_status diffusion_schedule_init(diffusion_schedule *s, const char *name, int T0, double precision,
                                     elign_error *err) {
  memset(s, 0, sizeof *s);
  double power = 0;
  char *end = NULL;
  if (strncmp(name, "polynomial_", 11) == 0) power = strtod(name + 11, &end);
  if (!end || *end != '\0' || !(power > 0))
    return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "noise schedule '%s' is not supported (only polynomial_<p>)",
                      name);
  if (T0 < 1 || T0 > 65535)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "diffusion_steps %d out of range 1..65535", T0);
  if (!(precision > 0 && precision < 0.5))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "diffusion_noise_precision %g out of range (0, 0.5)", precision);
  s->T0 = T0;
  s->precision = precision;
  s->power = power;
  s->gamma = elign_malloc((size_t)(T0 + 1) * sizeof(float), "diffusion:gamma");
  double *alpha2 = elign_malloc((size_t)(T0 + 1) * sizeof(double), "diffusion:alpha2");
  polynomial_alpha2(alpha2, T0, power, precision);
  for (int k = 0; k <= T0; k++) {
    double sigma2 = 1.0 - alpha2[k];
    s->gamma[k] = (float)(-(log(alpha2[k]) - log(sigma2)));
  }
  elign_free(alpha2);
  return ELIGN_OK;
}

void diffusion_schedule_free(diffusion_schedule *s) {
  if (!s) return;
  elign_free(s->gamma);
  s->T0 = 0;
}

double diffusion_alpha2_f64(const diffusion_schedule *s, int k) {
  ELIGN_ASSERT(s->power > 0 && k >= 0 && k <= s->T0);
  double *alpha2 = elign_malloc((size_t)(s->T0 + 1) * sizeof(double), "diffusion:alpha2");
  polynomial_alpha2(alpha2, s->T0, s->power, s->precision);
  double v = alpha2[k];
  elign_free(alpha2);
  return v;
}

float diffusion_gamma(const diffusion_schedule *s, int k, int T) {
  ELIGN_ASSERT(k >= 0 && k <= T && T >= 1);
  /* PyTorch: τ = k / T in float32, index = round(τ · T0) half-to-even. */
  volatile float tau = (float)k / (float)T;
  volatile float scaled = tau * (float)s->T0;
  long idx = lrintf(scaled);
  ELIGN_ASSERT(idx >= 0 && idx <= s->T0);
  return s->gamma[idx];
}

/* ==== scalar functions of γ ============================================== */

elign_real diffusion_softplus(elign_real u) { return u > R(20) ? u : log1p(exp(u)); }

elign_real diffusion_logsigmoid(elign_real u) {
  /* PyTorch's stable form: min(0, u) − log1p(exp(−|u|)). */
  elign_real m = u < R(0) ? u : R(0);
  return m - log1p(exp(-fabs(u)));
}

static elign_real sigmoid(elign_real u) { return R(1) / (R(1) + exp(-u)); }
elign_real diffusion_sigma(elign_real gamma) { return sqrt(sigmoid(gamma)); }
elign_real diffusion_alpha(elign_real gamma) { return sqrt(sigmoid(-gamma)); }

void diffusion_step_coef_init(diffusion_step_coef *c, const diffusion_schedule *sched, int t, int s, int T) {
  ELIGN_ASSERT(0 <= s && s < t && t <= T);
  c->t = t;
  c->s = s;
  c->tau_t = R((float)t / (float)T);
  c->gamma_t = R(diffusion_gamma(sched, t, T));
  c->gamma_s = R(diffusion_gamma(sched, s, T));
  c->alpha_t = diffusion_alpha(c->gamma_t);
  c->sigma_t = diffusion_sigma(c->gamma_t);
  c->sigma_s = diffusion_sigma(c->gamma_s);
  /* σ²_{t|s} = 1 − α²_t/α²_s written as −expm1(softplus γ_s − softplus γ_t):
   * the naive form cancels catastrophically at small t (pitfall 9). */
  c->sigma2_ts = -expm1(diffusion_softplus(c->gamma_s) - diffusion_softplus(c->gamma_t));
  elign_real log_alpha2_t = diffusion_logsigmoid(-c->gamma_t);
  elign_real log_alpha2_s = diffusion_logsigmoid(-c->gamma_s);
  c->alpha_ts = exp(R(0.5) * (log_alpha2_t - log_alpha2_s));
  c->sigma_ts = sqrt(c->sigma2_ts);
  c->eps_coef = c->sigma2_ts / c->alpha_ts / c->sigma_t; /* left to right, as EDM */
  c->sigma_step = c->sigma_ts * c->sigma_s / c->sigma_t;
}

void diffusion_decode_coef_init(diffusion_decode_coef *c, const diffusion_schedule *sched) {
  c->gamma0 = R(sched->gamma[0]);
  c->alpha0 = diffusion_alpha(c->gamma0);
  c->sigma0 = diffusion_sigma(c->gamma0);
  c->sigma_x = exp(-(R(-0.5) * c->gamma0)); /* SNR(−½γ₀) = exp(½γ₀) */
}

/* ==== layout and normalization =========================================== */

void diffusion_layout_init(diffusion_layout *l, int n_types, int include_charges) {
  l->n_types = n_types;
  l->include_charges = include_charges ? 1 : 0;
  l->D = DIFFUSION_NDIM + n_types + l->include_charges;
}

void diffusion_encode(elign_real *xh, const double *pos, const int32_t *type_index, const int32_t *Z,
                      const int64_t *offsets, int64_t n_mol, const diffusion_layout *l) {
  int D = l->D;
  for (int64_t m = 0; m < n_mol; m++) {
    int64_t a0 = offsets[m], a1 = offsets[m + 1];
    double com[3] = {0, 0, 0};
    for (int64_t i = a0; i < a1; i++)
      for (int d = 0; d < 3; d++) com[d] += pos[3 * i + d];
    for (int d = 0; d < 3; d++) com[d] /= (double)(a1 > a0 ? a1 - a0 : 1);
    for (int64_t i = a0; i < a1; i++) {
      elign_real *row = xh + i * D;
      for (int d = 0; d < 3; d++) row[d] = R(pos[3 * i + d] - com[d]);
      for (int k = 0; k < l->n_types; k++) row[3 + k] = R(0);
      ELIGN_ASSERT(type_index[i] >= 0 && type_index[i] < l->n_types);
      row[3 + type_index[i]] = R(1) / R(DIFFUSION_NORM_ONEHOT);
      if (l->include_charges) row[3 + l->n_types] = R(Z[i]) / R(DIFFUSION_NORM_CHARGE);
    }
  }
}

void diffusion_remove_mean(elign_real *z, int64_t ld, const int64_t *offsets, int64_t n_mol) {
  for (int64_t m = 0; m < n_mol; m++) {
    int64_t a0 = offsets[m], a1 = offsets[m + 1];
    if (a1 <= a0) continue;
    double sum[3] = {0, 0, 0};
    for (int64_t i = a0; i < a1; i++)
      for (int d = 0; d < 3; d++) sum[d] += z[i * ld + d];
    for (int d = 0; d < 3; d++) {
      elign_real mean = R(sum[d] / (double)(a1 - a0));
      for (int64_t i = a0; i < a1; i++) z[i * ld + d] -= mean;
    }
  }
}

double diffusion_max_com(const elign_real *z, int64_t ld, const int64_t *offsets, int64_t n_mol) {
  double worst = 0;
  for (int64_t m = 0; m < n_mol; m++) {
    double sum[3] = {0, 0, 0};
    for (int64_t i = offsets[m]; i < offsets[m + 1]; i++)
      for (int d = 0; d < 3; d++) sum[d] += z[i * ld + d];
    for (int d = 0; d < 3; d++)
      if (fabs(sum[d]) > worst) worst = fabs(sum[d]);
  }
  return worst;
}

/* ==== noise ============================================================== */

static void normal_fill(elign_rng *rng, elign_real *out, size_t n) {
#ifdef ELIGN_DOUBLE
  elign_rng_normal_fill_d(rng, out, n);
#else
  elign_rng_normal_fill_f(rng, out, n);
#endif
}

void diffusion_noise_molecule(elign_real *eps, elign_rng *rng, int64_t n, int D) {
  if (n <= 0) return;
  int H = D - DIFFUSION_NDIM;
  size_t nx = (size_t)n * DIFFUSION_NDIM, nh = (size_t)n * (size_t)H;
  elign_real *buf = elign_malloc((nx + nh) * sizeof(elign_real), "diffusion:noise");
  normal_fill(rng, buf, nx + nh);
  for (int64_t i = 0; i < n; i++) {
    for (int d = 0; d < DIFFUSION_NDIM; d++) eps[i * D + d] = buf[i * DIFFUSION_NDIM + d];
    for (int k = 0; k < H; k++) eps[i * D + DIFFUSION_NDIM + k] = buf[nx + (size_t)i * H + k];
  }
  elign_free(buf);
  int64_t off[2] = {0, n};
  diffusion_remove_mean(eps, D, off, 1);
}

/* ==== forward process ==================================================== */

void diffusion_forward_noise(elign_real *z_t, const elign_real *xh, const elign_real *eps,
                             const elign_real *alpha, const elign_real *sigma, const int64_t *offsets,
                             int64_t n_mol, int D) {
  for (int64_t m = 0; m < n_mol; m++)
    for (int64_t j = offsets[m] * D; j < offsets[m + 1] * D; j++) z_t[j] = alpha[m] * xh[j] + sigma[m] * eps[j];
}

/* ==== reverse step ======================================================= */

void diffusion_reverse_mean(elign_real *mu, elign_real *zhat0, const elign_real *z_t, const elign_real *eps_hat,
                            const diffusion_step_coef *c, const int64_t *offsets, int64_t n_mol, int D) {
  for (int64_t m = 0; m < n_mol; m++) {
    const diffusion_step_coef *cm = &c[m];
    elign_real inv_alpha_t = R(1) / cm->alpha_t;
    for (int64_t j = offsets[m] * D; j < offsets[m + 1] * D; j++) {
      if (mu) mu[j] = z_t[j] / cm->alpha_ts - cm->eps_coef * eps_hat[j];
      /* EDM's compute_x_pred: (1/α_t)·(z_t − σ_t ε̂). */
      if (zhat0) zhat0[j] = inv_alpha_t * (z_t[j] - cm->sigma_t * eps_hat[j]);
    }
  }
}

void diffusion_reverse_sample(elign_real *z_s, const elign_real *mu, const elign_real *noise,
                              const diffusion_step_coef *c, const int64_t *offsets, int64_t n_mol, int D) {
  for (int64_t m = 0; m < n_mol; m++)
    for (int64_t j = offsets[m] * D; j < offsets[m + 1] * D; j++) z_s[j] = mu[j] + c[m].sigma_step * noise[j];
  /* μ and the noise are CoM-free already; this only removes rounding drift. */
  diffusion_remove_mean(z_s, D, offsets, n_mol);
}

static const double HALF_LOG_2PI = 0.91893853320467274178;

void diffusion_step_logp(double *logp, const elign_real *z_s, const elign_real *mu, const elign_real *sigma,
                         const int64_t *offsets, int64_t n_mol, int D) {
  for (int64_t m = 0; m < n_mol; m++) {
    double sg = (double)sigma[m];
    if (sg < 1e-12) sg = 1e-12;
    double inv = 1.0 / sg, quad = 0;
    for (int64_t j = offsets[m] * D; j < offsets[m + 1] * D; j++) {
      double r = ((double)z_s[j] - (double)mu[j]) * inv;
      quad += r * r;
    }
    double dims = (double)((offsets[m + 1] - offsets[m]) * D);
    logp[m] = -0.5 * quad - dims * (log(sg) + HALF_LOG_2PI);
  }
}

void diffusion_step_logp_backward(elign_real *d_eps_hat, const double *dlogp, const elign_real *z_s,
                                  const elign_real *mu, const diffusion_step_coef *c, const int64_t *offsets,
                                  int64_t n_mol, int D) {
  for (int64_t m = 0; m < n_mol; m++) {
    double sg = (double)c[m].sigma_step;
    if (sg < 1e-12) sg = 1e-12;
    double scale = -dlogp[m] * (double)c[m].eps_coef / (sg * sg);
    for (int64_t j = offsets[m] * D; j < offsets[m + 1] * D; j++)
      d_eps_hat[j] += R(scale * ((double)z_s[j] - (double)mu[j]));
  }
}

/* ==== decode ============================================================= */

void diffusion_decode_sample(elign_real *xh, elign_real *mu_x, const elign_real *z0, const elign_real *eps_hat,
                             const elign_real *noise, const diffusion_decode_coef *c, int64_t n_atoms, int D) {
  elign_real inv_alpha0 = R(1) / c->alpha0;
  for (int64_t j = 0; j < n_atoms * D; j++) {
    elign_real mu = inv_alpha0 * (z0[j] - c->sigma0 * eps_hat[j]);
    if (mu_x) mu_x[j] = mu;
    xh[j] = mu + c->sigma_x * noise[j];
  }
}

int diffusion_decode_argmax_channels(const diffusion_layout *l) {
  /* EDM slices z₀[..., 3:−1]: drops the charge channel when there is one,
   * otherwise the last atom type (GEOM's Bi, which can never be decoded). */
  return l->include_charges ? l->n_types : l->n_types - 1;
}

void diffusion_decode_molecules(double *pos, int32_t *type_index, int32_t *charge, const elign_real *xh,
                                const elign_real *z0, int64_t n_atoms, const diffusion_layout *l) {
  int D = l->D, nc = diffusion_decode_argmax_channels(l);
  for (int64_t i = 0; i < n_atoms; i++) {
    for (int d = 0; d < 3; d++) pos[3 * i + d] = (double)xh[i * D + d];
    const elign_real *h = z0 + i * D + DIFFUSION_NDIM;
    int best = 0;
    for (int k = 1; k < nc; k++)
      if (h[k] > h[best]) best = k; /* strict: first max wins ties */
    type_index[i] = best;
    if (charge)
      charge[i] = l->include_charges ? (int32_t)lrint((double)(h[l->n_types] * R(DIFFUSION_NORM_CHARGE))) : 0;
  }
}

/* ==== atom counts ======================================================== */

static const int QM9_SIZES[] = {22, 17, 23, 21, 19, 20, 16, 13, 15, 25, 18, 12, 11,
                                24, 14, 26, 7,  10, 8,  9,  27, 4,  29, 6,  5,  3};
static const double QM9_COUNTS[] = {3393, 13025, 4848, 9970, 13832, 9482, 10644, 3060, 7796,
                                    1506, 13364, 1689, 807,  539,   5136, 48,    16,   362,
                                    49,   124,   266,  4,    25,    9,    5,     1};

void diffusion_nodes_hist_qm9(diffusion_nodes_hist *h) {
  int n = (int)(sizeof QM9_SIZES / sizeof QM9_SIZES[0]);
  elign_status st = diffusion_nodes_hist_init(h, QM9_SIZES, QM9_COUNTS, n, NULL);
  ELIGN_ASSERT(st == ELIGN_OK);
}

elign_status diffusion_nodes_hist_init(diffusion_nodes_hist *h, const int *sizes, const double *counts, int n,
                                       elign_error *err) {
  memset(h, 0, sizeof *h);
  double total = 0;
  for (int k = 0; k < n; k++) {
    if (sizes[k] < 1) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "nodes histogram: size %d < 1 (entry %d)", sizes[k], k);
    if (!(counts[k] >= 0))
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "nodes histogram: count %g for size %d is negative", counts[k],
                        sizes[k]);
    total += counts[k];
  }
  if (n < 1 || !(total > 0)) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "nodes histogram is empty");
  h->n = n;
  h->sizes = elign_malloc((size_t)n * sizeof(int), "diffusion:hist_sizes");
  h->counts = elign_malloc((size_t)n * sizeof(double), "diffusion:hist_counts");
  memcpy(h->sizes, sizes, (size_t)n * sizeof(int));
  memcpy(h->counts, counts, (size_t)n * sizeof(double));
  return ELIGN_OK;
}

void diffusion_nodes_hist_free(diffusion_nodes_hist *h) {
  if (!h) return;
  elign_free(h->sizes);
  elign_free(h->counts);
  h->n = 0;
}

int diffusion_nodes_sample(const diffusion_nodes_hist *h, elign_rng *rng) {
  return h->sizes[elign_rng_categorical(rng, h->counts, (size_t)h->n)];
}

double diffusion_nodes_log_prob(const diffusion_nodes_hist *h, int n_atoms) {
  double total = 0, c = 0;
  for (int k = 0; k < h->n; k++) {
    total += h->counts[k];
    if (h->sizes[k] == n_atoms) c += h->counts[k];
  }
  return log(c / total + 1e-30);
}

int diffusion_nodes_max(const diffusion_nodes_hist *h) {
  int best = 0;
  for (int k = 0; k < h->n; k++)
    if (h->counts[k] > 0 && h->sizes[k] > best) best = h->sizes[k];
  return best;
}

/* ==== EDM training loss ================================================== */

static double std_normal_cdf(double u) { return 0.5 * (1.0 + erf(u / 1.41421356237309504880)); }

/* log ∫ N(v; centre, σ²) dv over the unit bin around `target`:
 * log(Φ((c + ½)/σ) − Φ((c − ½)/σ) + 1e−10) with c = target − centre. */
static double log_bin_mass(double centred, double sigma) {
  return log(std_normal_cdf((centred + 0.5) / sigma) - std_normal_cdf((centred - 0.5) / sigma) + 1e-10);
}

static int64_t batch_max_atoms(const int64_t *offsets, int64_t n_mol) {
  int64_t nb = 0;
  for (int64_t m = 0; m < n_mol; m++)
    if (offsets[m + 1] - offsets[m] > nb) nb = offsets[m + 1] - offsets[m];
  return nb;
}

/* −log p(h | z₀) of one molecule: discretized Gaussians around the data's
 * integer charge (σ₀·10) and, log-normalised over categories, around one-hot
 * value 1 (σ₀·4), read from z₀ (not from ε̂). */
static double neg_log_ph_given_z0(const diffusion_loss_input *in, int64_t m, double sigma0) {
  const diffusion_layout *l = in->layout;
  int D = l->D, K = l->n_types;
  double s_cat = sigma0 * DIFFUSION_NORM_ONEHOT, s_int = sigma0 * DIFFUSION_NORM_CHARGE, lp = 0;
  double *lpk = elign_malloc((size_t)K * sizeof(double), "diffusion:lpk");
  for (int64_t i = in->offsets[m]; i < in->offsets[m + 1]; i++) {
    const elign_real *x = in->xh + i * D, *z = in->z_t + i * D;
    if (l->include_charges) {
      double zint = nearbyint((double)x[3 + K] * DIFFUSION_NORM_CHARGE);
      lp += log_bin_mass(zint - (double)z[3 + K] * DIFFUSION_NORM_CHARGE, s_int);
    }
    double mx = -INFINITY;
    for (int k = 0; k < K; k++) {
      lpk[k] = log_bin_mass((double)z[3 + k] * DIFFUSION_NORM_ONEHOT - 1.0, s_cat);
      if (lpk[k] > mx) mx = lpk[k];
    }
    double se = 0;
    for (int k = 0; k < K; k++) se += exp(lpk[k] - mx);
    double logZ = mx + log(se);
    for (int k = 0; k < K; k++) lp += (lpk[k] - logZ) * ((double)x[3 + k] * DIFFUSION_NORM_ONEHOT);
  }
  elign_free(lpk);
  return -lp;
}

/* KL(q(z_T | x) ‖ N(0, I)) of one molecule: h channels per entry, x on the
 * (n−1)·3-dimensional CoM-free subspace. */
static double kl_prior(const diffusion_loss_input *in, int64_t m, double alpha_T, double sigma_T) {
  int D = in->layout->D;
  int64_t n = in->offsets[m + 1] - in->offsets[m];
  double mu2_x = 0, mu2_h = 0;
  for (int64_t i = in->offsets[m]; i < in->offsets[m + 1]; i++)
    for (int d = 0; d < D; d++) {
      double mu = alpha_T * (double)in->xh[i * D + d];
      if (d < 3) mu2_x += mu * mu; else mu2_h += mu * mu;
    }
  double nh = (double)(n * (D - 3)), dx = (double)((n - 1) * 3), ls = log(1.0 / sigma_T), s2 = sigma_T * sigma_T;
  double kl_h = nh * (ls + 0.5 * s2 - 0.5) + 0.5 * mu2_h;
  double kl_x = dx * ls + 0.5 * (dx * s2 + mu2_x) - 0.5 * dx;
  return kl_h + kl_x;
}

/* D·N_batch and B of the batch this call belongs to. */
static double loss_denominator(const diffusion_loss_input *in) {
  int64_t nb = in->batch_max_atoms > 0 ? in->batch_max_atoms : batch_max_atoms(in->offsets, in->n_mol);
  return (double)in->layout->D * (double)nb;
}

static double loss_batch_size(const diffusion_loss_input *in) {
  int64_t b = in->batch_n_mol > 0 ? in->batch_n_mol : in->n_mol;
  return (double)(b > 0 ? b : 1);
}

/* α_t and σ_t of molecule m's time as the forward noising used them. */
static void molecule_alpha_sigma(const diffusion_loss_input *in, int64_t m, double *alpha, double *sigma) {
  elign_real gamma = R(diffusion_gamma(in->sched, in->t[m], in->T));
  *alpha = (double)diffusion_alpha(gamma);
  *sigma = (double)diffusion_sigma(gamma);
}

/* Molecule m's positions: data x and prediction x̂ = (z_t − σ ε̂)/α, (n, 3) double. */
static void molecule_positions(const diffusion_loss_input *in, int64_t m, double alpha, double sigma, double *x,
                               double *xhat) {
  int D = in->layout->D;
  for (int64_t i = in->offsets[m], a = 0; i < in->offsets[m + 1]; i++, a++)
    for (int d = 0; d < DIFFUSION_NDIM; d++) {
      x[a * 3 + d] = (double)in->xh[i * D + d];
      xhat[a * 3 + d] = ((double)in->z_t[i * D + d] - sigma * (double)in->eps_hat[i * D + d]) / alpha;
    }
}

/* w · (α²/σ²) · E(x̂, x) of molecule m (the energy replacement of ½·error_x). */
static double energy_position_term(const diffusion_loss_input *in, int64_t m) {
  int64_t n = in->offsets[m + 1] - in->offsets[m];
  double alpha, sigma;
  molecule_alpha_sigma(in, m, &alpha, &sigma);
  double *x = elign_malloc((size_t)(6 * (n > 0 ? n : 1)) * sizeof *x, "energy loss");
  molecule_positions(in, m, alpha, sigma, x, x + 3 * n);
  const diffusion_energy_loss *e = in->energy;
  double E = energy_loss_molecule(x + 3 * n, x, n, 3, (energy_coeff_kind)e->coeff, e->k0);
  elign_free(x);
  return e->weight * (alpha * alpha) / (sigma * sigma) * E;
}

/* Its gradient with respect to ε̂'s position channels, times scale, written
 * into d_eps_hat: ∂/∂ε̂ = −w (α/σ) ∂E/∂x̂ (x̂ depends on ε̂ through −σ/α). */
static void energy_position_backward(elign_real *d_eps_hat, const diffusion_loss_input *in, int64_t m,
                                     double scale) {
  int64_t n = in->offsets[m + 1] - in->offsets[m];
  int D = in->layout->D;
  double alpha, sigma;
  molecule_alpha_sigma(in, m, &alpha, &sigma);
  double *x = elign_calloc((size_t)(9 * (n > 0 ? n : 1)), sizeof *x, "energy loss grad");
  double *xhat = x + 3 * n, *g = x + 6 * n;
  molecule_positions(in, m, alpha, sigma, x, xhat);
  const diffusion_energy_loss *e = in->energy;
  energy_loss_molecule_backward(g, xhat, x, n, 3, (energy_coeff_kind)e->coeff, e->k0,
                                -scale * e->weight * alpha / sigma);
  for (int64_t a = 0; a < n; a++)
    for (int d = 0; d < DIFFUSION_NDIM; d++) d_eps_hat[(in->offsets[m] + a) * D + d] = R(g[a * 3 + d]);
  elign_free(x);
}

void diffusion_train_loss(diffusion_loss_terms *out, const diffusion_loss_input *in) {
  int D = in->layout->D;
  double denom = loss_denominator(in);
  double gT = (double)diffusion_gamma(in->sched, in->T, in->T);
  double alpha_T = (double)diffusion_alpha(R(gT)), sigma_T = (double)diffusion_sigma(R(gT));
  double sigma0 = (double)diffusion_sigma(R(diffusion_gamma(in->sched, 0, in->T)));
  memset(out, 0, sizeof *out);
  for (int64_t m = 0; m < in->n_mol; m++) {
    double err_all = 0, err_x = 0;
    for (int64_t i = in->offsets[m]; i < in->offsets[m + 1]; i++)
      for (int d = 0; d < D; d++) {
        double r = (double)in->eps[i * D + d] - (double)in->eps_hat[i * D + d];
        err_all += r * r;
        if (d < 3) err_x += r * r;
      }
    double l2;
    if (!in->energy)
      l2 = in->t[m] > 0 ? 0.5 * err_all / denom : 0.5 * err_x / denom + neg_log_ph_given_z0(in, m, sigma0);
    else /* positions by the energy loss, h channels by the ε-MSE (t > 0) or the likelihood (t = 0) */
      l2 = energy_position_term(in, m) +
           (in->t[m] > 0 ? 0.5 * (err_all - err_x) / denom : neg_log_ph_given_z0(in, m, sigma0));
    double kl = kl_prior(in, m, alpha_T, sigma_T);
    double nlpn = in->nodes ? -diffusion_nodes_log_prob(in->nodes, (int)(in->offsets[m + 1] - in->offsets[m])) : 0;
    out->l2_term += l2;
    out->kl_prior += kl;
    out->neg_log_pn += nlpn;
    if (in->t[m] > 0) out->l2_sum_t += l2, out->n_t++;
    else out->l2_sum_t0 += l2, out->n_t0++;
  }
  double B = loss_batch_size(in);
  out->l2_term /= B;
  out->kl_prior /= B;
  out->neg_log_pn /= B;
  out->loss = out->l2_term + out->kl_prior + out->neg_log_pn;
}

void diffusion_train_loss_backward(elign_real *d_eps_hat, double dloss, const diffusion_loss_input *in) {
  int D = in->layout->D;
  double scale = dloss / (loss_batch_size(in) * loss_denominator(in));
  for (int64_t m = 0; m < in->n_mol; m++)
    for (int64_t i = in->offsets[m]; i < in->offsets[m + 1]; i++)
      for (int d = 0; d < D; d++) {
        int64_t j = i * D + d;
        int live = in->t[m] > 0 || d < 3;
        d_eps_hat[j] = live ? R(scale * ((double)in->eps_hat[j] - (double)in->eps[j])) : R(0);
      }
  if (in->energy) {
    double per_molecule = dloss / loss_batch_size(in);
    for (int64_t m = 0; m < in->n_mol; m++) energy_position_backward(d_eps_hat, in, m, per_molecule);
  }
}
