/* force_align.h — the optional force-alignment regularizer of FED-GRPO
 * (ALGORITHMS.md §4.13; not part of the paper), forward and backward.
 *
 * At a trained transition k whose ẑ₀ frame the oracle evaluated in the
 * adaptive scheduler's fine stage, per atom i of the micro-batch:
 *     Δμ_i = μθ,i[0:3] − μold,i[0:3]      (μold: the rollout's stored mean)
 *     F_i  = the oracle's force on ẑ₀ of that frame (eV/Å)
 * atoms with ‖F_i‖ > min_force and ‖Δμ_i‖ > min_delta qualify, and
 *     cos_i = clip(F_i·Δμ_i / ((‖F_i‖ + 1e−8)(‖Δμ_i‖ + 1e−8)), −1, 1),
 *     L_k   = w · Σ_i (1 − cos_i) / (count + 1e−8),
 * the sums over the qualifying atoms of the WHOLE micro-batch (one ratio).
 * The micro-batch may be cut into units of gradient work on several ranks
 * (learner/train_update.c): each unit sums its own atoms, the count is the
 * micro-batch's (a pre-pass when it has several units), so the units'
 * contributions add up to L_k exactly.
 *
 * The gradient flows into μθ only (μold and F are data): dL/dμθ,i[0:3] =
 * −dL_k/dS · ∂cos_i/∂Δμ_i, added to the d_mu the PPO/KL terms send through
 * μ = z_t/α_{t|s} − c·ε̂ into the network (grpo_mu_backward_eps_hat).
 * clamp passes the gradient on [−1, 1] (bounds included), as torch.clamp;
 * with the 1e−8 in both norms |cos| < 1, so it never cuts in practice.
 *
 * Call sequence per trained step of a unit (packed atoms, D channels):
 *   n = grpo_force_align_count(mu, mu_old, F, n_atoms, D, &fs);     this unit's atoms
 *   total = n, or the micro-batch's count (a pre-pass + MPI sum);
 *   dS = fs.weight · scale / (total + 1e−8);                          scale: the micro-batch's share
 *   grpo_force_align_step(&r, d_mu, mu, mu_old, F, n_atoms, D, &fs, dS);  r.sum_one_minus_cos · dS = its loss
 */
#ifndef ELIGN_GRPO_FORCE_ALIGN_H
#define ELIGN_GRPO_FORCE_ALIGN_H

#include <stdint.h>

#include "common/base/real.h"

#define GRPO_FORCE_ALIGN_EPS 1e-8

typedef struct {
  double weight;    /* train.force_alignment_weight (w) */
  double min_force; /* train.force_alignment_min_force, eV/Å */
  double min_delta; /* train.force_alignment_min_delta, normalized units */
} grpo_force_align_settings;

typedef struct {
  int64_t count;             /* qualifying atoms */
  double sum_one_minus_cos;  /* Σ (1 − cos_i) over them */
  double sum_cos;            /* Σ cos_i (for the metrics) */
} grpo_force_align_result;

/* Does atom i qualify? mu, mu_old: its D channels; F: its 3 force components. */
int grpo_force_align_atom_qualifies(const elign_real *mu, const elign_real *mu_old, const double *F,
                                    const grpo_force_align_settings *fs);

/* Qualifying atoms among n_atoms packed rows: mu, mu_old (n_atoms, D), F (n_atoms, 3). */
int64_t grpo_force_align_count(const elign_real *mu, const elign_real *mu_old, const double *F, int64_t n_atoms, int D,
                               const grpo_force_align_settings *fs);

/* Forward and backward over n_atoms packed rows: fills r, and when d_mu is
 * not NULL ACCUMULATES dS · ∂Σ(1 − cos_i)/∂μθ into channels 0..2 of d_mu
 * (n_atoms, D). dS = dL/dΣ(1 − cos) = w · (share of the loss) / (count + 1e−8). */
void grpo_force_align_step(grpo_force_align_result *r, elign_real *d_mu, const elign_real *mu,
                           const elign_real *mu_old, const double *F, int64_t n_atoms, int D,
                           const grpo_force_align_settings *fs, double dS);

#endif
