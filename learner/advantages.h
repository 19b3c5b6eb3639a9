/* advantages.h — group-relative, two-channel advantages (ALGORITHMS.md §4.8).
 *
 * What this file is: the three paths of the public trainer, tried in order —
 *  PBRS return-to-go (mode pbrs_return_to_go with an energy trace): force
 *    advantage = the group-normalised terminal force reward, broadcast over
 *    all T transitions; energy advantage per transition k = the group- AND
 *    column-normalised return G_E(b,k) = γ^{t_k} Ψ₀(b) − Ψ(b,k) on the
 *    scheduled k < T (0 elsewhere), t_k = timesteps[k] + 1;
 *  delta (a combined per-step trace): the decode column folded into the last
 *    transition, force and energy traces normalised per group and column
 *    (or the combined trace when there is no energy trace);
 *  terminal-only: one scalar per molecule, w_F·norm(f) + w_E·norm(e).
 * then the terminal weight on the last transition column (per-step paths)
 * and the clamp to ±clip. Normalisation: (r − mean)/(std + 1e−8) over the
 * group's members with the population std, in double; a group of one or a
 * channel whose members are all equal gives exactly 0 (deviation D3 in
 * docs/fed-grpo.md).
 */
#ifndef ELIGN_GRPO_ADVANTAGES_H
#define ELIGN_GRPO_ADVANTAGES_H

#include <stdint.h>

#include "common/base/error.h"
#include "learner/grpo_settings.h"
#include "learner/rewards.h"
#include "learner/shaping.h"

typedef enum {
  GRPO_ADV_TERMINAL = 0, /* §4.8.3: one advantage per molecule, used at every trained step */
  GRPO_ADV_DELTA = 1,    /* §4.8.2 */
  GRPO_ADV_PBRS = 2      /* §4.8.1 */
} grpo_adv_path;

typedef struct {
  grpo_adv_path path;
  int64_t n_mol;
  int cols;          /* T for the per-step paths, 1 for terminal-only */
  double *adv;       /* (n_mol, cols): the advantage of molecule b at transition k (column k, or 0) */
  double *adv_sum;   /* [n_mol] clamp(Σ_k adv) — logged only, as the public trainer */
  int n_groups;      /* distinct group_index values */
  int n_zero_signal; /* groups whose advantages are all exactly 0 (no learning signal) */
  int n_zero_single; /* of those, groups of a single member (K = 1, or the filter kept one) */
} grpo_advantages;

/* Advantages of the (filtered) batch rb, grouped by rb->group_index. T =
 * model.time_step transitions; timesteps: the [S] frame timesteps
 * (grpo_standard_timesteps), needed by the PBRS path; sch: the reward
 * schedule (PBRS path; NULL = columns with some |Ψ| > 1e−12). */
elign_status grpo_advantages_compute(grpo_advantages *out, const grpo_reward_batch *rb, int T, const int *timesteps,
                                     const grpo_schedule *sch, const grpo_settings *s, elign_error *err);
void grpo_advantages_free(grpo_advantages *a);

/* [Elign-C] D10 (reward.composition_neutral): remove from the advantages
 * every part that is linear in the molecules' element counts relative to
 * their group's mean. counts: (n_mol, E) element counts of the molecules in
 * a's order; group_index: their groups. Per advantage column k the batch's
 * least-squares fit A[:,k] ≈ X·β (X = counts centred per group; pooled over
 * the groups, one β per column) is subtracted, then the clamp to ±clip is
 * applied again. Afterwards no element count correlates with the advantage
 * inside the groups (Xᵀ A[:,k] = 0 up to the clamp), so the policy gradient
 * has no first-order pull towards any element mix, whichever reward term
 * would have pulled. Returns the fraction of Σ A² the fit removed. */
double grpo_advantages_composition_neutral(grpo_advantages *a, const int32_t *group_index, const double *counts,
                                           int E, double clip);

/* Advantage of molecule b at transition k (any path). */
static inline double grpo_advantage_at(const grpo_advantages *a, int64_t b, int k) {
  return a->cols == 1 ? a->adv[b] : a->adv[b * a->cols + k];
}

/* norm_G over n members r[i·stride] into out[i·stride] (population std + 1e−8;
 * exactly 0 when all members are equal). */
void grpo_group_normalize(double *out, const double *r, int64_t n, int64_t stride);

#endif
