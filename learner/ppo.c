/* ppo.c — the FED-GRPO policy loss and its gradient (ALGORITHMS.md §4.9–4.10). */
#include "learner/ppo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ==== which steps, which molecules ========================================= */

int grpo_trained_start(const grpo_settings *s, int T) {
  int start = s->model.share_initial_noise ? grpo_rollout_skip_prefix(s) : 0;
  return start > T ? T : start;
}

elign_status grpo_microbatch_plan_build(grpo_microbatch_plan *p, int64_t n_kept, int T_act, const grpo_settings *s,
                                        elign_error *err) {
  memset(p, 0, sizeof *p);
  int64_t m = s->train.train_micro_batch_size;
  int accum = s->train.gradient_accumulation_steps;
  if (m < 1 || accum < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG,
                      "train.train_micro_batch_size and train.gradient_accumulation_steps must be >= 1");
  if (n_kept < 0 || T_act < 0) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo plan: negative batch or step count");
  p->T_act = T_act;
  if (n_kept == 0 || T_act == 0) return ELIGN_OK;

  int64_t full = m >= n_kept ? 1 : n_kept / m;
  int64_t chunk = m >= n_kept ? n_kept : m;
  int64_t rem = m >= n_kept ? 0 : n_kept % m;
  p->n = (int)(full + (rem > 0));
  p->mb = elign_calloc((size_t)p->n, sizeof(grpo_microbatch), "grpo:plan");
  for (int i = 0; i < p->n; i++) {
    grpo_microbatch *mb = &p->mb[i];
    mb->begin = i < full ? (int64_t)i * chunk : n_kept - rem;
    mb->count = i < full ? chunk : rem;
    mb->optimizer_step = i / accum;
    mb->step_after = (i + 1) % accum == 0 || i + 1 == p->n;
  }
  p->n_optimizer_steps = (p->n + accum - 1) / accum;

  for (int i = 0; i < p->n; i++) {
    grpo_microbatch *mb = &p->mb[i];
    if (s->train.loss_mean_over_accumulation) {
      int64_t mols = 0; /* molecules feeding the same optimizer step */
      for (int j = 0; j < p->n; j++)
        if (p->mb[j].optimizer_step == mb->optimizer_step) mols += p->mb[j].count;
      mb->weight = 1.0 / ((double)mols * (double)T_act);
    } else {
      mb->weight = 1.0 / ((double)mb->count * (double)accum * (double)T_act);
    }
  }
  return ELIGN_OK;
}

void grpo_microbatch_plan_free(grpo_microbatch_plan *p) {
  if (!p) return;
  elign_free(p->mb);
  p->n = 0;
}

/* ==== PPO-clip ================================================================ */

void grpo_ppo_clip_loss(grpo_ppo_stats *st, double *dlogp, const double *logp, const double *logp_old,
                        const double *adv, int64_t n, double clip_range, double adv_clip, double weight) {
  memset(st, 0, sizeof *st);
  st->n = n;
  if (n <= 0) return;
  double lo = 1.0 - clip_range, hi = 1.0 + clip_range;
  double sum_pg = 0.0;
  int64_t n_clip = 0, n_adv_clip = 0;
  st->ratio_min = INFINITY;
  st->ratio_max = -INFINITY;
  for (int64_t b = 0; b < n; b++) {
    double A = adv[b];
    if (fabs(A) > adv_clip) n_adv_clip++;
    A = A < -adv_clip ? -adv_clip : (A > adv_clip ? adv_clip : A);
    double rho = exp(logp[b] - logp_old[b]);
    int in_range = rho >= lo && rho <= hi;
    double rho_c = rho < lo ? lo : (rho > hi ? hi : rho);
    double unclipped = -A * rho, clipped = -A * rho_c;
    /* torch.maximum: all of the gradient to the larger term, half each on a tie */
    double g_u = unclipped > clipped ? 1.0 : (unclipped < clipped ? 0.0 : 0.5);
    double g_c = 1.0 - g_u;
    double dpg_drho = g_u * (-A) + g_c * (in_range ? -A : 0.0);
    dlogp[b] = weight * dpg_drho * rho; /* dρ/dℓ = ρ */
    sum_pg += unclipped > clipped ? unclipped : clipped;
    if (fabs(rho - 1.0) > clip_range) n_clip++;
    st->ratio_mean += rho;
    if (rho < st->ratio_min) st->ratio_min = rho;
    if (rho > st->ratio_max) st->ratio_max = rho;
  }
  st->policy_loss = sum_pg / (double)n;
  st->loss = st->policy_loss;
  st->weighted_loss = weight * sum_pg;
  st->clipfrac = (double)n_clip / (double)n;
  st->adv_clipfrac = (double)n_adv_clip / (double)n;
  st->ratio_mean /= (double)n;
}

/* ==== KL to the reference policy =============================================== */

static double kl_denominator(elign_real sigma) {
  double sg = (double)sigma;
  if (sg < 1e-8) sg = 1e-8;
  return 2.0 * sg * sg + 1e-12;
}

void grpo_kl_forward(double *kl, const elign_real *mu, const elign_real *mu_ref, const elign_real *sigma,
                     const int64_t *offsets, int64_t n_mol, int D) {
  for (int64_t b = 0; b < n_mol; b++) {
    double den = kl_denominator(sigma[b]), sum = 0.0;
    for (int64_t j = offsets[b] * D; j < offsets[b + 1] * D; j++) {
      double d = (double)mu[j] - (double)mu_ref[j];
      sum += d * d;
    }
    kl[b] = sum / den;
  }
}

void grpo_kl_backward(elign_real *d_mu, const double *dkl, const elign_real *mu, const elign_real *mu_ref,
                      const elign_real *sigma, const int64_t *offsets, int64_t n_mol, int D) {
  for (int64_t b = 0; b < n_mol; b++) {
    double scale = 2.0 * dkl[b] / kl_denominator(sigma[b]);
    for (int64_t j = offsets[b] * D; j < offsets[b + 1] * D; j++)
      d_mu[j] += (elign_real)(scale * ((double)mu[j] - (double)mu_ref[j]));
  }
}

void grpo_mu_backward_eps_hat(elign_real *d_eps_hat, const elign_real *d_mu, const diffusion_step_coef *c,
                              const int64_t *offsets, int64_t n_mol, int D) {
  for (int64_t b = 0; b < n_mol; b++) {
    double coef = -(double)c[b].eps_coef;
    for (int64_t j = offsets[b] * D; j < offsets[b + 1] * D; j++) d_eps_hat[j] += (elign_real)(coef * (double)d_mu[j]);
  }
}

void grpo_ppo_add_kl(grpo_ppo_stats *st, const double *kl, int64_t n, double beta, double weight) {
  double sum = 0.0;
  for (int64_t b = 0; b < n; b++) sum += kl[b];
  st->kl = n > 0 ? sum / (double)n : 0.0;
  st->loss = st->policy_loss + beta * st->kl;
  st->weighted_loss += weight * beta * sum;
}

/* ==== one trained step =========================================================== */

void grpo_ppo_step(grpo_ppo_stats *st, double *logp, double *dlogp, elign_real *d_mu, elign_real *d_eps_hat,
                   const grpo_step_input *in, double weight, const grpo_settings *s) {
  int64_t n = in->n_mol, n_atoms = in->offsets[n];
  size_t nn = (size_t)(n > 0 ? n : 1);
  elign_real *sigma = elign_malloc(nn * sizeof(elign_real), "grpo:step.sigma");
  for (int64_t b = 0; b < n; b++) sigma[b] = in->coef[b].sigma_step;

  diffusion_step_logp(logp, in->z_s, in->mu, sigma, in->offsets, n, in->D);
  grpo_ppo_clip_loss(st, dlogp, logp, in->logp_old, in->adv, n, s->train.clip_range, grpo_actor_advantage_clip(s),
                     weight);
  diffusion_step_logp_backward(d_eps_hat, dlogp, in->z_s, in->mu, in->coef, in->offsets, n, in->D);

  double beta = s->train.kl_penalty_weight;
  if (beta > 0 && in->mu_ref) {
    double *kl = elign_malloc(nn * sizeof(double), "grpo:step.kl");
    grpo_kl_forward(kl, in->mu, in->mu_ref, sigma, in->offsets, n, in->D);
    grpo_ppo_add_kl(st, kl, n, beta, weight);
    size_t nd = (size_t)(n_atoms > 0 ? n_atoms : 1) * (size_t)in->D;
    elign_real *dm = d_mu ? d_mu : elign_malloc(nd * sizeof(elign_real), "grpo:step.d_mu");
    memset(dm, 0, nd * sizeof(elign_real));
    for (int64_t b = 0; b < n; b++) kl[b] = weight * beta; /* reuse as dL/dKL_b */
    grpo_kl_backward(dm, kl, in->mu, in->mu_ref, sigma, in->offsets, n, in->D);
    grpo_mu_backward_eps_hat(d_eps_hat, dm, in->coef, in->offsets, n, in->D);
    if (!d_mu) free(dm);
    free(kl);
  } else if (d_mu) {
    memset(d_mu, 0, (size_t)n_atoms * (size_t)in->D * sizeof(elign_real));
  }
  free(sigma);
}
