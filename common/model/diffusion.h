/* diffusion.h — EDM's Gaussian diffusion on packed molecules (ALGORITHMS.md §2).
 *
 * What this file is: the noise schedule (γ table), the scalar coefficients of
 * a transition, and the per-atom maths of the forward process, the reverse
 * step p(z_s | z_t), its log-probability and the final decode — all as
 * functions of ε̂, the network's noise prediction. What it is not: the
 * network (common/model/egnn.h) or the sampling loop (actor/sampler.h).
 *
 * Layout. A latent is packed without padding: molecule m owns rows
 * offsets[m] .. offsets[m+1]-1 of a (N, D) row-major array, N = offsets[n_mol].
 * Row = [x (3, Å, normalization factor 1) | one-hot / 4 (n_types) | Z / 10 (if
 * charges)], D = 3 + n_types + include_charges. Everything is in these
 * *normalized* units unless a name says otherwise.
 *
 * Precision. Tensors are elign_real (float32; double in the -DELIGN_DOUBLE
 * build). Scalar coefficients are evaluated in elign_real in PyTorch's order,
 * so the float build reproduces the reference to float32 rounding. The γ table
 * is built in double and stored as float32 (as EDM stores it). Log-probs,
 * losses and molecule sums of x (centre of mass) are accumulated in double.
 *
 * Randomness comes only from the elign_rng stream the caller passes in; the
 * caller chooses the key (actor/sampler.c keys streams by molecule).
 */
#ifndef ELIGN_DIFFUSION_H
#define ELIGN_DIFFUSION_H

#include <stdint.h>

#include "common/base/error.h"
#include "common/base/real.h"
#include "common/base/rng.h"

#define DIFFUSION_NDIM 3           /* position channels */
#define DIFFUSION_NORM_ONEHOT 4.0f /* normalize_factors[1] */
#define DIFFUSION_NORM_CHARGE 10.0f /* normalize_factors[2] */

/* ---- schedule ------------------------------------------------------------ */

/* The γ lookup table of a predefined schedule, γ(k) = log(σ²(k)/α²(k)),
 * k = 0..T0 (increasing: ≈ −11.51 at k = 0, +11.51 at k = T0). */
typedef struct {
  int T0;           /* diffusion_steps the table was built with (1000) */
  double precision; /* diffusion_noise_precision (1e-5) */
  double power;     /* polynomial power (2 for "polynomial_2") */
  float *gamma;     /* [T0 + 1] float32, as EDM stores `gamma.gamma` */
} diffusion_schedule;

/* Build the table for `name` ("polynomial_<p>", e.g. "polynomial_2") in
 * float64 with EDM's ratio clipping (0.001) and precision, then cast to
 * float32 (§2.1). Unknown names fail with ELIGN_ERR_UNSUPPORTED. */
elign_status diffusion_schedule_init(diffusion_schedule *s, const char *name, int T0, double precision,
                                     elign_error *err);
void diffusion_schedule_free(diffusion_schedule *s);

/* γ at integer step k of a T-step chain: τ = k/T in float32, index =
 * round_half_even(τ·T0) (EDM's lookup; for T ≠ T0 this sub-samples). */
float diffusion_gamma(const diffusion_schedule *s, int k, int T);

/* α² of the table before the float32 cast (float64; for tests and docs). */
double diffusion_alpha2_f64(const diffusion_schedule *s, int k);

/* ---- scalar functions of γ (float32 order as in PyTorch) ----------------- */
elign_real diffusion_sigma(elign_real gamma);  /* sqrt(sigmoid(γ)) */
elign_real diffusion_alpha(elign_real gamma);  /* sqrt(sigmoid(−γ)) */
elign_real diffusion_softplus(elign_real u);   /* log1p(exp u), u if u > 20 */
elign_real diffusion_logsigmoid(elign_real u); /* −softplus(−u), stable form */

/* Everything a transition t → s (s < t) needs, for one molecule. */
typedef struct {
  int t, s;               /* integer steps of a T-step chain */
  elign_real tau_t;       /* t/T (float32): the network's time input */
  elign_real gamma_t, gamma_s;
  elign_real alpha_t, sigma_t, sigma_s;
  elign_real sigma2_ts;   /* σ²_{t|s} = −expm1(softplus γ_s − softplus γ_t) */
  elign_real sigma_ts;    /* sqrt(σ²_{t|s}) */
  elign_real alpha_ts;    /* α_{t|s} = exp(½(logsigmoid(−γ_t) − logsigmoid(−γ_s))) */
  elign_real eps_coef;    /* σ²_{t|s} / α_{t|s} / σ_t, in that order */
  elign_real sigma_step;  /* σ_{t|s} σ_s / σ_t */
} diffusion_step_coef;

/* Coefficients of the reverse step from t to s = t − stride (stride ≥ 1,
 * s ≥ 0) of a T-step chain (§2.2, §2.6; pitfall 9). */
void diffusion_step_coef_init(diffusion_step_coef *c, const diffusion_schedule *sched, int t, int s, int T);

/* Decode constants at k = 0 (§2.7): α₀, σ₀ and σ_x = exp(½γ₀). */
typedef struct {
  elign_real gamma0, alpha0, sigma0, sigma_x;
} diffusion_decode_coef;
void diffusion_decode_coef_init(diffusion_decode_coef *c, const diffusion_schedule *sched);

/* ---- layout and normalization ------------------------------------------- */

/* Channel layout of a latent row. */
typedef struct {
  int n_types;         /* one-hot channels (QM9 5, GEOM 16) */
  int include_charges; /* 1: a last channel carrying Z/10 (QM9) */
  int D;               /* 3 + n_types + include_charges */
} diffusion_layout;

void diffusion_layout_init(diffusion_layout *l, int n_types, int include_charges);

/* Encode molecules into normalized latent rows (§2.3): positions centred per
 * molecule (Å, factor 1), one-hot/4, atomic number/10. type_index[i] in
 * 0..n_types−1; Z[i] atomic numbers (charge channel); pos (N,3) Å.
 * xh: (N, D). */
void diffusion_encode(elign_real *xh, const double *pos, const int32_t *type_index, const int32_t *Z,
                      const int64_t *offsets, int64_t n_mol, const diffusion_layout *l);

/* Centre the first 3 channels of each molecule (row stride ld):
 * x_i ← x_i − mean_k x_k (mean accumulated in double). */
void diffusion_remove_mean(elign_real *z, int64_t ld, const int64_t *offsets, int64_t n_mol);

/* Largest |Σ_i x_{m,i,d}| over molecules and d (double): CoM drift probe. */
double diffusion_max_com(const elign_real *z, int64_t ld, const int64_t *offsets, int64_t n_mol);

/* ---- noise --------------------------------------------------------------- */

/* Combined noise of ONE molecule of n atoms (§2.4), row-major (n, D): draws
 * n·3 normals (x, atom-major) then n·(D−3) normals (h, atom-major) from
 * `rng`, and centres the x part. The prior z_T is exactly this. */
void diffusion_noise_molecule(elign_real *eps, elign_rng *rng, int64_t n, int D);

/* ---- forward process (training) ------------------------------------------ */

/* z_t = α_t xh + σ_t ε per molecule (alpha[m], sigma[m]). (N, D) arrays. */
void diffusion_forward_noise(elign_real *z_t, const elign_real *xh, const elign_real *eps,
                             const elign_real *alpha, const elign_real *sigma, const int64_t *offsets,
                             int64_t n_mol, int D);

/* ---- reverse step p(z_s | z_t) (§2.6) ------------------------------------ */

/* μ = z_t/α_{t|s} − eps_coef·ε̂ and ẑ₀ = (z_t − σ_t ε̂)/α_t, per molecule
 * coefficients c[m]. mu and/or zhat0 may be NULL. (N, D) arrays. */
void diffusion_reverse_mean(elign_real *mu, elign_real *zhat0, const elign_real *z_t, const elign_real *eps_hat,
                            const diffusion_step_coef *c, const int64_t *offsets, int64_t n_mol, int D);

/* z_s = μ + σ_step ε (ε = combined noise), then re-centre the x part. */
void diffusion_reverse_sample(elign_real *z_s, const elign_real *mu, const elign_real *noise,
                              const diffusion_step_coef *c, const int64_t *offsets, int64_t n_mol, int D);

/* log N(z_s; μ, σ²) per molecule (§4.4.1), double: Σ over the molecule's
 * atoms and all D channels of −½((z_s−μ)/σ)² − log σ − ½ log 2π, σ ← max(σ,
 * 1e−12). logp: [n_mol]. */
void diffusion_step_logp(double *logp, const elign_real *z_s, const elign_real *mu, const elign_real *sigma,
                         const int64_t *offsets, int64_t n_mol, int D);

/* Backward of diffusion_step_logp through μ = z_t/α_{t|s} − eps_coef·ε̂ into ε̂:
 *   ∂logp_m/∂μ_id = (z_s,id − μ_id)/σ_m²,   ∂μ_id/∂ε̂_id = −eps_coef_m
 * so  d_eps_hat_id += dlogp_m · (−eps_coef_m) · (z_s,id − μ_id)/σ_m².
 * Accumulates into d_eps_hat (N, D); dlogp [n_mol] upstream gradients. */
void diffusion_step_logp_backward(elign_real *d_eps_hat, const double *dlogp, const elign_real *z_s,
                                  const elign_real *mu, const diffusion_step_coef *c, const int64_t *offsets,
                                  int64_t n_mol, int D);

/* ---- decode p(x, h | z₀) (§2.7) ------------------------------------------ */

/* μ_x = (z₀ − σ₀ ε̂)/α₀ and xh = μ_x + σ_x·noise (no re-centring). mu_x may be NULL. */
void diffusion_decode_sample(elign_real *xh, elign_real *mu_x, const elign_real *z0, const elign_real *eps_hat,
                             const elign_real *noise, const diffusion_decode_coef *c, int64_t n_atoms, int D);

/* Final molecule from the decode sample xh (positions) and z₀ (types,
 * charges): pos (N,3) Å from xh; type_index[i] = first argmax of z₀'s
 * one-hot channels, looking only at the first `n_argmax` of them (EDM slices
 * z₀[3:−1]: n_types for QM9, n_types − 1 for GEOM, so GEOM never yields
 * the last type); charge[i] = round_half_even(10·z₀[charge]) if charges
 * (else 0). charge may be NULL. */
void diffusion_decode_molecules(double *pos, int32_t *type_index, int32_t *charge, const elign_real *xh,
                                const elign_real *z0, int64_t n_atoms, const diffusion_layout *l);

/* The number of one-hot channels the decode argmax sees (see above). */
int diffusion_decode_argmax_channels(const diffusion_layout *l);

/* ---- atom counts (§2.9) --------------------------------------------------- */

/* A size histogram in the dataset's insertion order (that order is the
 * categorical's category order). */
typedef struct {
  int n;            /* entries */
  int *sizes;       /* [n] atom counts */
  double *counts;   /* [n] counts (weights) */
} diffusion_nodes_hist;

/* QM9-with-H train histogram (§3.1; no entry for 28). */
void diffusion_nodes_hist_qm9(diffusion_nodes_hist *h);
/* Copy from arrays; fails if empty or a count is negative or a size < 1. */
elign_status diffusion_nodes_hist_init(diffusion_nodes_hist *h, const int *sizes, const double *counts, int n,
                                       elign_error *err);
void diffusion_nodes_hist_free(diffusion_nodes_hist *h);
/* Draw one size: category k with probability counts[k]/Σ counts. */
int diffusion_nodes_sample(const diffusion_nodes_hist *h, elign_rng *rng);
/* log p(n) = log(p_n + 1e−30) (0-probability sizes included). */
double diffusion_nodes_log_prob(const diffusion_nodes_hist *h, int n_atoms);
/* Largest size with non-zero count. */
int diffusion_nodes_max(const diffusion_nodes_hist *h);

/* ---- EDM training loss (§2.10, l2, t0_always = False) -------------------- */

/* Optional replacement of the position channels' ε-MSE by the pairwise-
 * distance energy loss of Kaba et al. (common/model/energy_loss.h; spec
 * SEEDS_NOTES §3): per molecule  w · (α_t²/σ_t²) · E(x̂, x)  with
 * x̂ = (z_t − σ_t ε̂)/α_t on the 3 position channels; the SNR factor puts the
 * x-space energy in ε-space units. One-hot and charge channels keep the
 * ε-MSE. At t = 0 it replaces the ½·error_x of −log p(x | z₀) the same way. */
typedef struct {
  int coeff;     /* energy_coeff_kind: ENERGY_COEFF_EXP_DIST was best for EDM */
  double k0;     /* coefficient scale (1) */
  double weight; /* w: the paper's best for EDM is 0.05 */
} diffusion_energy_loss;

/* Per-batch inputs of the loss, once ε̂ = φ(z_t, t/T) is known.
 * Contract: z_t = α_t xh + σ_t ε was built with diffusion_forward_noise from
 * the normalized data xh (diffusion_encode) and the combined noise ε. */
typedef struct {
  const elign_real *xh;      /* (N, D) normalized data */
  const elign_real *z_t;     /* (N, D) noisy latent */
  const elign_real *eps;     /* (N, D) the noise used */
  const elign_real *eps_hat; /* (N, D) the network's prediction */
  const int *t;              /* [n_mol] integer times in 0..T */
  const int64_t *offsets;
  int64_t n_mol;
  int T;
  const diffusion_layout *layout;
  const diffusion_schedule *sched;
  const diffusion_nodes_hist *nodes; /* for −log p(N); NULL: term omitted */
  /* A chunk of a larger batch (data-parallel training): the batch's molecule
   * count B and largest molecule N_batch, so that chunk losses and gradients
   * add up to the batch's. 0 = this call's own n_mol / largest molecule. */
  int64_t batch_n_mol;
  int64_t batch_max_atoms;
  const diffusion_energy_loss *energy; /* NULL: EDM's l2 on every channel */
} diffusion_loss_input;

/* Per-molecule terms (double) of nll = loss_t + KL prior − log p(N), each a
 * sum over this call's molecules divided by B (batch_n_mol, or n_mol): the
 * batch mean, or a chunk's share of it. */
typedef struct {
  double loss;        /* mean over molecules of nll_m: what is optimised */
  double l2_term;     /* mean over molecules of ½·error (t > 0) / −log p(x,h|z₀) (t = 0) */
  double kl_prior;    /* mean KL(q(z_T|x) ‖ N(0, I)) */
  double neg_log_pn;  /* mean −log p(N) */
  /* l2_term split by the time drawn, as plain sums over the molecules (not
   * divided by B) with their counts, for logging the t = 0 and t > 0 parts. */
  double l2_sum_t0, l2_sum_t;
  int64_t n_t0, n_t;
} diffusion_loss_terms;

/* The EDM loss: error_m = Σ_{i,d}(ε − ε̂)²/(D·N_batch), N_batch = largest
 * molecule of the batch (EDM's padded size; batch_max_atoms when given). t_m > 0: ½·error_m; t_m = 0:
 * ½·error_x,m − log p(h | z₀) with EDM's discretized Gaussian likelihoods
 * (σ₀·4 for categories, σ₀·10 for charges). Plus KL prior and −log p(N);
 * averaged over the batch. */
void diffusion_train_loss(diffusion_loss_terms *out, const diffusion_loss_input *in);

/* d loss / d ε̂, overwritten into d_eps_hat (N, D), scaled by dloss (with
 * `energy`, the position channels get −w·(α_t/σ_t)·∂E/∂x̂ / B instead):
 *   t > 0:  ∂/∂ε̂_id = (ε̂_id − ε_id)/(B·D·N_batch)    (all channels;
 *           B and N_batch of the whole batch when batch_* are given)
 *   t = 0:  the same on the 3 position channels, 0 on h channels (the
 *           discretized likelihood reads z₀, not ε̂). */
void diffusion_train_loss_backward(elign_real *d_eps_hat, double dloss, const diffusion_loss_input *in);

#endif
