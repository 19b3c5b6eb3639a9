/* shaping.h — reward shaping on ẑ₀ predictions (ALGORITHMS.md §4.6).
 *
 * What this file is: the reward scheduler (which trajectory frames the
 * oracle evaluates: uniform or adaptive stride after a skipped prefix, the
 * terminal frame appended) and the two ways the per-frame potentials become
 * rewards: `delta` (γ^Δ Φ(k_{j+1}) − Φ(k_j) per scheduled step, the terminal
 * reward at the last one) and `pbrs_return_to_go` (energy potentials kept
 * for the trainer's return-to-go, force terminal-only).
 *
 * Frames: k = 0..T−1 are the diffusion transitions (frame k's ẑ₀ comes from
 * the network call at z_{T−k}), k = T is the decode frame (its ẑ₀ is xh);
 * S = T + 1 frames. timesteps[k] = s of transition k = T − k − 1, and
 * timesteps[T] = 0 (grpo_standard_timesteps).
 *
 * Call sequence (shaping enabled):
 *   grpo_standard_timesteps(ts, T);
 *   grpo_schedule_build(&sch, ts, T + 1, s, &err);
 *   for each scheduled frame j: oracle on ẑ₀[:, sch.indices[j]], then
 *       grpo_frame_potentials(phi_f + j*n, phi_e + j*n, failed, ...);
 *   grpo_molecule_terms(...) on the FINAL molecules;
 *   grpo_rewards_shaped(&rb, &sch, T + 1, phi_f, phi_e, fail_count, terms, s, &err);
 */
#ifndef ELIGN_GRPO_SHAPING_H
#define ELIGN_GRPO_SHAPING_H

#include <stdint.h>

#include "common/base/error.h"
#include "learner/grpo_settings.h"
#include "learner/rewards.h"

/* The frames the oracle evaluates. */
typedef struct {
  int n;             /* J scheduled frames */
  int *indices;      /* [J] ascending frame indices k */
  int *intervals;    /* [J] Δ_j = k_{j+1} − k_j; the last is 1 */
  uint8_t *fine;     /* [J] adaptive mode: timesteps[k] ≤ threshold (the fine stage; force
                        alignment §4.13 uses it); all 0 in uniform mode */
} grpo_schedule;

/* timesteps[k] = T − k − 1 for k < T, timesteps[T] = 0 ([T + 1] entries). */
void grpo_standard_timesteps(int *timesteps, int T);

/* Build the schedule over frames 0..S−1 (end = S − 1): start at
 * min(scheduler skip prefix, end), step by uniform_stride, or in adaptive
 * mode by coarse_stride while timesteps[k] > θ and fine_stride after (θ =
 * threshold_timestep if set, else max(timesteps) · threshold_fraction; fine
 * stride when that max is 0), append `end` if include_terminal and the walk
 * missed it. Example (adaptive, skip 500, T = 1000): 500, 510, …, 740, 750,
 * 752, …, 1000 — 151 frames. ELIGN_ERR_ARG for S < 1. */
elign_status grpo_schedule_build(grpo_schedule *sch, const int *timesteps, int S, const grpo_settings *s,
                                 elign_error *err);
void grpo_schedule_free(grpo_schedule *sch);

/* Shaped rewards. phi_force, phi_energy: (J, n_mol) frame-major potentials of
 * the scheduled frames (grpo_frame_potentials; phi_energy may be NULL when
 * use_energy is off); fail_count: [n_mol] failed frames per molecule (NULL =
 * none); terms: of the final molecules. rb from grpo_reward_batch_init.
 * Terminal values f, e = the potentials of the last scheduled frame.
 *  delta: traces (rewards_ts, force_rewards_ts, energy_rewards_ts when
 *    use_energy) with shaped deltas in the scheduled columns (force deltas 0
 *    if only_energy_reshape) and tw·Φ at the last scheduled column; the
 *    combined trace weights force_weight/energy_weight.
 *  pbrs_return_to_go: force_rewards_ts = Φ_F at the last column only,
 *    energy_rewards_ts = Φ_E in the scheduled columns (use_energy only), no
 *    combined trace.
 * Then grpo_rewards_finish (gates, bonus, weighted scalars). */
elign_status grpo_rewards_shaped(grpo_reward_batch *rb, const grpo_schedule *sch, int S, const double *phi_force,
                                 const double *phi_energy, const int32_t *fail_count, const grpo_mol_terms *terms,
                                 const grpo_settings *s, elign_error *err);

#endif
