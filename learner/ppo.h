/* ppo.h — the FED-GRPO policy loss and its gradient (ALGORITHMS.md §4.9–4.10).
 *
 * What this file is: which transitions are trained, the micro-batch and
 * gradient-accumulation plan, and for one trained step k of one micro-batch
 * M the loss
 *     L = w · Σ_{b∈M} [ max(−A_b ρ_b, −A_b clip(ρ_b, 1−ε, 1+ε)) + β KL_b ],
 *     ρ_b = exp(ℓ_b − ℓ_b^old),   KL_b = Σ_{i∈b, d<D} (μθ − μref)²_{id} / (2σ_b² + 1e−12),
 * with its gradient as dL/dℓ_b (per molecule) and dL/dμ (per atom and
 * channel), where w folds the micro-batch mean and 1/(grad_accum · T_act)
 * (grpo_microbatch.weight). What it is not: the network — the caller runs
 * the EGNN forward (μθ, and μref with the frozen reference), and after these
 * functions one EGNN backward per step.
 *
 * The chain to the network, per trained step (μ = z_t/α_{t|s} − c_b ε̂):
 *   diffusion_step_logp(logp, z_s, mu, sigma, ...);                 ℓ_b
 *   grpo_ppo_clip_loss(&st, dlogp, logp, logp_old, adv, n, ..., w);  dL/dℓ_b
 *   grpo_kl_forward(kl, mu, mu_ref, sigma, ...);                    KL_b
 *   memset(d_mu, 0); grpo_kl_backward(d_mu, dkl = w·β, ...);        dL/dμ (KL part)
 *   memset(d_eps_hat, 0);
 *   diffusion_step_logp_backward(d_eps_hat, dlogp, z_s, mu, coef, ...);  ℓ part → ε̂
 *   grpo_mu_backward_eps_hat(d_eps_hat, d_mu, coef, ...);                μ part → ε̂
 *   egnn_dynamics_backward(..., d_eps_hat, ...);                         once
 * grpo_ppo_step does all of this but the network calls.
 *
 * Subgradient of the max: PyTorch's torch.maximum sends the whole gradient
 * to the larger argument and half to each on a tie; clamp passes the
 * gradient for 1−ε ≤ ρ ≤ 1+ε (bounds included). Reproduced exactly
 * (tests/grpo_ref.py checks it against autograd).
 */
#ifndef ELIGN_GRPO_PPO_H
#define ELIGN_GRPO_PPO_H

#include <stdint.h>

#include "common/base/error.h"
#include "common/base/real.h"
#include "common/model/diffusion.h"
#include "learner/grpo_settings.h"

/* ---- which steps, which molecules ------------------------------------------ */

/* First trained transition (§4.9): the rollout's skip prefix when
 * model.share_initial_noise, else 0, at most T. T_act = T − start. */
int grpo_trained_start(const grpo_settings *s, int T);

typedef struct {
  int64_t begin, count; /* kept molecules [begin, begin + count) */
  int optimizer_step;   /* which optimizer step of the pass this micro-batch feeds */
  int step_after;       /* 1: clip the gradient norm and step AdamW after this one */
  double weight;        /* w of the per-step loss above */
} grpo_microbatch;

typedef struct {
  int n;                 /* micro-batches per pass */
  int n_optimizer_steps; /* ⌈n / gradient_accumulation_steps⌉ */
  int T_act;             /* trained steps per micro-batch */
  grpo_microbatch *mb;   /* [n] */
} grpo_microbatch_plan;

/* Micro-batches over n_kept molecules (§4.9): one of all when m ≥ n_kept,
 * else ⌊n_kept/m⌋ consecutive chunks of m and one remainder chunk; an
 * optimizer step after every gradient_accumulation_steps micro-batches and
 * after the last. Weights: with train.loss_mean_over_accumulation (default)
 * w = 1/(molecules of its optimizer step · T_act), so every molecule of a
 * step counts alike; otherwise the public code's w = 1/(count ·
 * gradient_accumulation_steps · T_act). n_kept = 0 or T_act = 0 gives an
 * empty plan (nothing to train). */
elign_status grpo_microbatch_plan_build(grpo_microbatch_plan *p, int64_t n_kept, int T_act, const grpo_settings *s,
                                        elign_error *err);
void grpo_microbatch_plan_free(grpo_microbatch_plan *p);

/* ---- the loss of one step --------------------------------------------------- */

typedef struct {
  int64_t n;             /* molecules */
  double policy_loss;    /* mean_b max(−Aρ, −A clip ρ) */
  double kl;             /* mean_b KL_b (0 when β = 0) */
  double loss;           /* policy_loss + β·kl: the public "Loss" of the step */
  double weighted_loss;  /* w · Σ_b (pg_b + β KL_b): what the gradient is of */
  double clipfrac;       /* mean_b [|ρ_b − 1| > ε] */
  double adv_clipfrac;   /* mean_b [|A_b| > c] before the actor-side clamp */
  double ratio_mean, ratio_min, ratio_max;
} grpo_ppo_stats;

/* PPO-clip over n molecules: logp, logp_old, adv [n]; A clamped to ±adv_clip
 * first (§4.10 item 3). Writes dlogp[b] = w · ∂pg_b/∂ℓ_b and fills the
 * policy_loss, clipfrac, adv_clipfrac and ratio fields of st (policy part of
 * weighted_loss too; kl and loss are left for grpo_ppo_add_kl). */
void grpo_ppo_clip_loss(grpo_ppo_stats *st, double *dlogp, const double *logp, const double *logp_old,
                        const double *adv, int64_t n, double clip_range, double adv_clip, double weight);

/* KL_b = Σ (μ − μref)² / (2σ_b² + 1e−12), σ_b ← max(σ_b, 1e−8), over molecule b's
 * atoms and all D channels; (N, D) packed arrays, sigma [n_mol]. */
void grpo_kl_forward(double *kl, const elign_real *mu, const elign_real *mu_ref, const elign_real *sigma,
                     const int64_t *offsets, int64_t n_mol, int D);

/* d_mu += dkl_b · 2(μ − μref)/(2σ_b² + 1e−12). Accumulates into d_mu (N, D). */
void grpo_kl_backward(elign_real *d_mu, const double *dkl, const elign_real *mu, const elign_real *mu_ref,
                      const elign_real *sigma, const int64_t *offsets, int64_t n_mol, int D);

/* The μ → ε̂ link of the reverse mean μ = z_t/α_{t|s} − eps_coef_b·ε̂:
 * d_eps_hat += −eps_coef_b · d_mu. Accumulates. */
void grpo_mu_backward_eps_hat(elign_real *d_eps_hat, const elign_real *d_mu, const diffusion_step_coef *c,
                              const int64_t *offsets, int64_t n_mol, int D);

/* Add β·KL to the stats (kl, loss, weighted_loss) for molecules of KL kl[n]. */
void grpo_ppo_add_kl(grpo_ppo_stats *st, const double *kl, int64_t n, double beta, double weight);

/* One trained step of one micro-batch, everything but the network. */
typedef struct {
  int64_t n_mol;
  const int64_t *offsets;         /* [n_mol + 1] packed atoms */
  int D;                          /* latent channels */
  const elign_real *z_s;          /* (N, D) the stored next latent */
  const elign_real *mu;           /* (N, D) μθ of the current network at (z_t, t) */
  const elign_real *mu_ref;       /* (N, D) μ of the frozen reference; NULL when β = 0 */
  const diffusion_step_coef *coef;/* [n_mol] the step's coefficients (σ_step, eps_coef) */
  const double *logp_old;         /* [n_mol] rollout log-probs of this step */
  const double *adv;              /* [n_mol] advantages of this step */
} grpo_step_input;

/* Loss and gradient of one step: writes logp [n_mol] (ℓ_b under μθ) and
 * dlogp [n_mol] (dL/dℓ_b); d_mu (N, D) gets dL/dμ of the KL term
 * (overwritten; NULL allowed when β = 0); ACCUMULATES the whole dL/dε̂ into
 * d_eps_hat (N, D). Settings: train.clip_range, train.kl_penalty_weight and
 * the actor-side advantage clamp. */
void grpo_ppo_step(grpo_ppo_stats *st, double *logp, double *dlogp, elign_real *d_mu, elign_real *d_eps_hat,
                   const grpo_step_input *in, double weight, const grpo_settings *s);

#endif
