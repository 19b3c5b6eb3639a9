/* rewards.h — FED-GRPO rewards from oracle answers (ALGORITHMS.md §4.5).
 *
 * What this file is: the per-molecule force and energy potentials (clip,
 * rms/max aggregation, atom references, per-atom, offset/scale, clip), the
 * oracle-failure rule, the stability gates, the stability/valence bonus
 * (hard and soft valence), the weighted scalars, and the reward batch that
 * the filter (filter.h) and the advantages (advantages.h) work on. What it
 * is not: the oracle call, the stability rule itself (common/chem computes
 * stable flags and per-atom bond counts with EDM's rule; grpo_chem.h makes
 * them and the tables below, and they come in as inputs here), or PBRS
 * (shaping.h).
 *
 * Units: forces eV/Å, energies eV, positions Å. Molecules are packed without
 * padding: molecule b owns atoms offsets[b] .. offsets[b+1]−1. Every reward
 * is a double.
 *
 * Call sequence, terminal-only path (reward.shaping.enabled = false):
 *   grpo_frame_potentials(phi_f, phi_e, failed, &oracle_frame, n, off, ref_sum, s);
 *   grpo_molecule_terms(terms, n, off, types, &chem, s, &err);
 *   grpo_reward_batch_init(&rb, n, group_index);
 *   grpo_rewards_terminal(&rb, phi_f, phi_e, failed, terms, s);
 * then filter.h, then advantages.h. The shaped path replaces the last call
 * by grpo_rewards_shaped (shaping.h).
 */
#ifndef ELIGN_GRPO_REWARDS_H
#define ELIGN_GRPO_REWARDS_H

#include <stdint.h>

#include "common/base/error.h"
#include "learner/grpo_settings.h"

#define GRPO_MAX_TYPES 16   /* GEOM has 16 atom types */
#define GRPO_MAX_VALENCES 4 /* allowed valences per element (P: {3, 5}) */

/* Allowed valences per dataset atom type (§3.2 allowed_bonds), ascending.
 * n_allowed[t] = 0: the element has no entry (its atoms are skipped). */
typedef struct {
  int n_types;
  int n_allowed[GRPO_MAX_TYPES];
  int allowed[GRPO_MAX_TYPES][GRPO_MAX_VALENCES];
} grpo_valence_table;

/* Bond reference lengths per ordered type pair (§3.2), pm; 0 = no entry.
 * order 0/1/2 = single/double/triple; margins 10/5/3 pm for QM9. */
typedef struct {
  int n_types;
  double length_pm[3][GRPO_MAX_TYPES][GRPO_MAX_TYPES];
  double margin_pm[3];
} grpo_bond_table;

/* ---- per-molecule scalars ------------------------------------------------ */

/* Force metric M of one molecule of n atoms (§4.5 items 2–3): per-atom clip
 * F ← F·min(1, c/(‖F‖ + 1e−12)) when reward.force_clip_threshold = c is set,
 * then rms sqrt(Σ‖F‖²/n) or max ‖F‖; 0 for n = 0. forces: (n, 3) eV/Å. */
double grpo_force_metric(const double *forces, int64_t n, const grpo_settings *s);

/* Energy potential −E′ (§4.5 item 5): E ← E − ref_sum (pass 0 without atom
 * references), E ← E/max(n,1) if energy_normalize_by_atoms, E′ = (E +
 * offset)/scale, clamped to ±energy_transform_clip if set. eV in. */
double grpo_energy_potential(double energy, int64_t n, double ref_sum, const grpo_settings *s);

/* Σ_i ref_by_type[type_i] over a molecule's atoms (eV). */
double grpo_atom_ref_sum(const int32_t *type_index, int64_t n, const double *ref_by_type);

/* Hard valence counts of one molecule (§4.5 item 7) from per-atom bond-order
 * sums nr_bonds (§3.4): for a single allowed valence v, missing += max(v−nb,0)
 * and excess += max(nb−v,0); for a list, nothing if nb is allowed, the gap to
 * the nearest allowed value when nb is outside the list, and between two
 * allowed values the cheaper direction by weight (excess when
 * excess·w_over ≤ missing·w_under, or w_under = 0; missing when w_over = 0). */
void grpo_valence_hard(double *missing, double *excess, const int32_t *nr_bonds, const int32_t *type_index,
                       int64_t n, const grpo_valence_table *vt, double w_under, double w_over);

/* Soft valence counts (§4.5 item 8): per pair i < j with a single-bond entry,
 * o = S((thr1 − d)/τ) [+ S((thr2 − d)/τ) [+ S((thr3 − d)/τ)]], thr_k = (length_k +
 * margin_k)/100 Å, S(u) = 1/(1 + e^{−clip(u,±60)}); o added to both atoms
 * (float32 accumulation per atom, as the reference); then per atom the gap to
 * its valence (for lists: the closest allowed value, the first on ties).
 * pos: (n, 3) Å. */
void grpo_valence_soft(double *missing, double *excess, const double *pos, const int32_t *type_index, int64_t n,
                       const grpo_bond_table *bt, const grpo_valence_table *vt, double temperature);

/* ---- oracle frames → potentials ------------------------------------------- */

/* One oracle answer per molecule (one frame: the final molecule or one ẑ₀). */
typedef struct {
  const double *forces;  /* (N, 3) eV/Å */
  const double *energy;  /* [n_mol] eV; may be NULL when reward.use_energy is off */
  const uint8_t *ok;     /* [n_mol] 1 = the oracle evaluated it; NULL = all evaluated */
} grpo_oracle_frame;

/* Potentials of one frame: phi_force[b] = −M_b, phi_energy[b] = −E′_b (0 when
 * use_energy is off). ref_sum: [n_mol] atom-reference sums of the FINAL
 * molecules (NULL = none; required when reward.energy_atom_refs is on).
 * A molecule the oracle flagged, or whose energy or forces are not finite,
 * is a failure (failed[b] = 1; failed may be NULL): with
 * reward.oracle_failure = min_margin both potentials become the minimum over
 * this frame's evaluated molecules minus reward.oracle_failure_margin (just
 * −margin when none was evaluated); with `reference` the public fallback,
 * forces (5,0,0) on every atom and energy 0, goes through the transforms.
 * Returns the number of failures. */
int64_t grpo_frame_potentials(double *phi_force, double *phi_energy, uint8_t *failed, const grpo_oracle_frame *f,
                              int64_t n_mol, const int64_t *offsets, const double *ref_sum, const grpo_settings *s);

/* The same from three numbers per molecule, for callers that reduce the
 * forces where the oracle answers arrive (elign train's actors):
 * metric[b] = grpo_force_metric of the molecule's forces (ignored when it
 * failed), energy[b] eV (NULL when use_energy is off), ok[b] =
 * grpo_frame_molecule_ok. grpo_frame_potentials is exactly this after
 * computing them. */
int64_t grpo_frame_potentials_from_metrics(double *phi_force, double *phi_energy, uint8_t *failed,
                                           const double *metric, const double *energy, const uint8_t *ok,
                                           int64_t n_mol, const int64_t *offsets, const double *ref_sum,
                                           const grpo_settings *s);
/* 1 if the oracle evaluated molecule b of the frame: status OK (or no
 * flags), finite forces and, with use_energy, a finite energy. */
int grpo_frame_molecule_ok(const grpo_oracle_frame *f, int64_t b, const int64_t *offsets, const grpo_settings *s);

/* ---- stability and valence terms ----------------------------------------- */

/* Chemistry of the final molecules, computed by common/chem (§3.4). */
typedef struct {
  const uint8_t *stable;             /* [n_mol] molecule stable */
  const int32_t *n_stable_atoms;     /* [n_mol] */
  const int32_t *nr_bonds;           /* [N] per-atom bond-order sums; needed when a hard valence weight ≠ 0 */
  const double *positions;           /* (N, 3) Å; needed when a soft valence weight ≠ 0 */
  const grpo_valence_table *valence; /* needed when any valence weight ≠ 0 */
  const grpo_bond_table *bonds;      /* soft valence; NULL: soft terms 0 (the public code has them for QM9 only) */
} grpo_chem_input;

/* Per-molecule stability and bonus terms (logged; bonus enters the force channel). */
typedef struct {
  double stability;                  /* st ∈ {0, 1} */
  double atom_stability;             /* #stable atoms / n (0 for n = 0) */
  double valence_underbond, valence_overbond;           /* hard counts */
  double valence_underbond_soft, valence_overbond_soft; /* soft counts */
  double bonus_stability;            /* w_stab (2 st − 1) */
  double bonus_atom;                 /* −w_atom (1 − as) */
  double bonus_underbond, bonus_overbond, bonus_underbond_soft, bonus_overbond_soft; /* −w·count */
  double bonus_composition;          /* [Elign-C] the element-mix term (grpo_composition_bonus) */
  double bonus;                      /* sum of the above (item 9) */
} grpo_mol_terms;

/* Fill terms[b] for n_mol molecules (§4.5 items 6–9). Fails (ELIGN_ERR_ARG)
 * if a table or array an active weight needs is missing, or a type index is
 * outside the tables. */
elign_status grpo_molecule_terms(grpo_mol_terms *terms, int64_t n_mol, const int64_t *offsets,
                                 const int32_t *type_index, const grpo_chem_input *chem, const grpo_settings *s,
                                 elign_error *err);

/* [Elign-C] The element-mix term. A policy can buy stability and small RMS
 * forces with a different element mix (more hydrogens: one bond each, small
 * forces), which no energy per atom compares fairly. With target fractions
 * p*_Z (target_by_Z[Z], > 0 for every element present) and the batch's own
 * p̂_Z = (n_Z + ½) / (N + ½·#targets) over all atoms of the n_mol molecules
 * (the ½ keeps the log of an element the batch lacks finite), molecule b gains
 *   −w · (1/n_b) Σ_{atoms a of b} log(p̂_{Z_a} / p*_{Z_a}),
 * per atom the derivative of the batch's N·KL(p̂ ‖ p*) with respect to that
 * element's count: molecules rich in what the batch lacks gain, and the term
 * is 0 when the batch has the target mix. Added to terms[b].bonus_composition
 * and .bonus (the force channel, after the stability gate like every bonus).
 * With integral_gain η > 0 the term also has a memory: integral_by_Z[Z]
 * (the run's state, 0 at the start) first grows by η · log(p̂_Z / p*_Z) and
 * the per-atom log ratio above becomes log(p̂_Z / p*_Z) + integral_by_Z[Z].
 * A proportional term alone settles where its pull balances the other
 * rewards' pull, i.e. still off the target; the accumulated offset keeps
 * growing while the drift lasts (the I of a PI controller). integral_by_Z
 * may be NULL when η is 0. Returns KL(p̂ ‖ p*) of the batch (nats). */
double grpo_composition_bonus(grpo_mol_terms *terms, int64_t n_mol, const int64_t *offsets, const int32_t *Z,
                              const double *target_by_Z, double weight, double integral_gain, double *integral_by_Z);

/* ---- the reward batch --------------------------------------------------------- */

/* Rewards of a rollout batch in the public code's field names. The per-step
 * traces *_ts exist only in the shaped path: (n_mol, S) row-major, column k =
 * frame k (k = 0..T−1 transitions, k = T the decode frame, S = T + 1). */
typedef struct {
  int64_t n_mol;
  int S;                              /* columns of the traces; 0 when there are none */
  int has_rewards_ts, has_force_ts, has_energy_ts;
  double *rewards;                    /* logged scalar (§4.5 item 11) */
  double *force_rewards;              /* f: the force learning signal */
  double *energy_rewards;             /* e: the energy learning signal (0 without energy) */
  double *weighted_force_rewards;     /* force_weight · tw · f */
  double *weighted_energy_rewards;    /* energy_weight · tw · e */
  double *rewards_ts, *force_rewards_ts, *energy_rewards_ts; /* (n_mol, S) or NULL */
  grpo_mol_terms *terms;              /* [n_mol] */
  int32_t *oracle_failures;           /* [n_mol] failed oracle frames of the molecule */
  int32_t *group_index;               /* [n_mol] prompt group */
  int64_t *source_index;              /* [n_mol] batch index before filtering */
} grpo_reward_batch;

/* Allocate the scalar fields for n_mol molecules (zeroed; source_index[b] =
 * b; group_index copied). */
void grpo_reward_batch_init(grpo_reward_batch *rb, int64_t n_mol, const int32_t *group_index);
/* Allocate the (n_mol, S) traces named by the flags (zeroed). */
void grpo_reward_batch_alloc_traces(grpo_reward_batch *rb, int S, int rewards_ts, int force_ts, int energy_ts);
void grpo_reward_batch_free(grpo_reward_batch *rb);
/* Keep molecules keep[0..n_keep) (ascending batch indices), compacting every field in place. */
void grpo_reward_batch_select(grpo_reward_batch *rb, const int64_t *keep, int64_t n_keep);

/* Terminal-only rewards (§4.5 items 9–11): f = phi_force, e = phi_energy,
 * then grpo_rewards_finish. failed: [n_mol] flags from grpo_frame_potentials
 * (NULL = none). rb from grpo_reward_batch_init, no traces. */
void grpo_rewards_terminal(grpo_reward_batch *rb, const double *phi_force, const double *phi_energy,
                           const uint8_t *failed, const grpo_mol_terms *terms, const grpo_settings *s);

/* The tail both paths share, on rb's force_rewards/energy_rewards (and
 * traces) already holding the potentials: copy terms; force gate (f and the
 * force trace; the combined trace too without energy); f += bonus; energy
 * gate (e and the energy trace); weighted scalars with tw =
 * grpo_reward_terminal_weight; with a combined trace, add fw·tw·bonus to its
 * column `last` and tw·bonus to the force trace's, rebuild it as fw·force +
 * ew·energy when both traces exist, and set rewards = its row sums. */
void grpo_rewards_finish(grpo_reward_batch *rb, int last, const grpo_mol_terms *terms, const grpo_settings *s);

#endif
