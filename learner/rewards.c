/* rewards.c — FED-GRPO rewards from oracle answers (ALGORITHMS.md §4.5). */
#include "learner/rewards.h"

#include "common/chem/elements.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ==== per-molecule scalars ================================================ */

/* ‖F‖ after the optional per-atom clip F ← F·min(1, c/(‖F‖ + 1e−12)). */
static double clipped_norm(double norm, double clip) {
  if (!grpo_is_set(clip)) return norm;
  double scale = clip / (norm + 1e-12);
  return scale < 1.0 ? norm * scale : norm;
}

static double aggregate(double sum_sq, double max_norm, int64_t n, grpo_force_aggregation agg) {
  if (n <= 0) return 0.0;
  return agg == GRPO_FORCE_RMS ? sqrt(sum_sq / (double)n) : max_norm;
}

double grpo_force_metric(const double *forces, int64_t n, const grpo_settings *s) {
  double sum_sq = 0.0, max_norm = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const double *f = forces + 3 * i;
    double norm = clipped_norm(sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]), s->reward.force_clip_threshold);
    sum_sq += norm * norm;
    if (norm > max_norm) max_norm = norm;
  }
  return aggregate(sum_sq, max_norm, n, s->reward.force_aggregation);
}

/* The public fallback for a failed molecule: (5, 0, 0) eV/Å on every atom. */
static double reference_failure_force_metric(int64_t n, const grpo_settings *s) {
  double norm = clipped_norm(5.0, s->reward.force_clip_threshold);
  return aggregate((double)n * norm * norm, norm, n, s->reward.force_aggregation);
}

double grpo_energy_potential(double energy, int64_t n, double ref_sum, const grpo_settings *s) {
  const grpo_reward_settings *r = &s->reward;
  double e = energy - ref_sum;
  if (r->energy_normalize_by_atoms) e /= (double)(n > 1 ? n : 1);
  double t = (e + r->energy_transform_offset) / r->energy_transform_scale;
  if (grpo_is_set(r->energy_transform_clip)) {
    double c = r->energy_transform_clip;
    t = t < -c ? -c : (t > c ? c : t);
  }
  return -t;
}

double grpo_atom_ref_sum(const int32_t *type_index, int64_t n, const double *ref_by_type) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) sum += ref_by_type[type_index[i]];
  return sum;
}

/* ==== valence counts ====================================================== */

void grpo_valence_hard(double *missing, double *excess, const int32_t *nr_bonds, const int32_t *type_index,
                       int64_t n, const grpo_valence_table *vt, double w_under, double w_over) {
  double miss = 0.0, exc = 0.0;
  double wu = fabs(w_under), wo = fabs(w_over);
  for (int64_t i = 0; i < n; i++) {
    int t = type_index[i], nb = nr_bonds[i], na = vt->n_allowed[t];
    const int *allowed = vt->allowed[t];
    if (na == 0) continue;
    if (na == 1) {
      if (allowed[0] > nb) miss += allowed[0] - nb;
      if (nb > allowed[0]) exc += nb - allowed[0];
      continue;
    }
    /* a list: the nearest allowed values below and above nb (ascending table) */
    int lower = -1, upper = -1, hit = 0;
    for (int k = 0; k < na; k++) {
      if (allowed[k] == nb) hit = 1;
      if (allowed[k] < nb) lower = allowed[k];
      if (allowed[k] > nb && upper < 0) upper = allowed[k];
    }
    if (hit) continue;
    if (lower < 0) {
      miss += upper - nb;
    } else if (upper < 0) {
      exc += nb - lower;
    } else {
      /* between two allowed values: the cheaper fix by weight, excess on ties */
      int miss_delta = upper - nb, exc_delta = nb - lower;
      if (wu == 0.0)
        exc += exc_delta;
      else if (wo == 0.0)
        miss += miss_delta;
      else if (exc_delta * wo <= miss_delta * wu)
        exc += exc_delta;
      else
        miss += miss_delta;
    }
  }
  *missing = miss;
  *excess = exc;
}

static double soft_step(double u) {
  u = u < -60.0 ? -60.0 : (u > 60.0 ? 60.0 : u);
  return 1.0 / (1.0 + exp(-u));
}

/* Soft bond order of one pair at distance d (Å); < 0 if the pair has no
 * single-bond entry. The double term needs a double entry, the triple term
 * a double and a triple entry (the public code nests them). */
static double soft_bond_order(const grpo_bond_table *bt, int a, int b, double d, double tau) {
  double l1 = bt->length_pm[0][a][b], l2 = bt->length_pm[1][a][b], l3 = bt->length_pm[2][a][b];
  if (l1 <= 0) return -1.0;
  double o = soft_step((l1 / 100.0 + bt->margin_pm[0] / 100.0 - d) / tau);
  if (l2 > 0) {
    o += soft_step((l2 / 100.0 + bt->margin_pm[1] / 100.0 - d) / tau);
    if (l3 > 0) o += soft_step((l3 / 100.0 + bt->margin_pm[2] / 100.0 - d) / tau);
  }
  return o;
}

void grpo_valence_soft(double *missing, double *excess, const double *pos, const int32_t *type_index, int64_t n,
                       const grpo_bond_table *bt, const grpo_valence_table *vt, double temperature) {
  /* per-atom soft valence, accumulated in float32 as the reference does */
  float *val = elign_calloc((size_t)(n > 0 ? n : 1), sizeof(float), "grpo:soft_valence");
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = i + 1; j < n; j++) {
      const double *p = pos + 3 * i, *q = pos + 3 * j;
      double d = sqrt((p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) + (p[2] - q[2]) * (p[2] - q[2]));
      double o = soft_bond_order(bt, type_index[i], type_index[j], d, temperature);
      if (o < 0) continue;
      val[i] = (float)((double)val[i] + o);
      val[j] = (float)((double)val[j] + o);
    }
  }
  double miss = 0.0, exc = 0.0;
  for (int64_t i = 0; i < n; i++) {
    int t = type_index[i], na = vt->n_allowed[t];
    if (na == 0) continue;
    /* the allowed value closest to the soft valence, first on ties */
    double o = (double)val[i], best = vt->allowed[t][0];
    for (int k = 1; k < na; k++)
      if (fabs(vt->allowed[t][k] - o) < fabs(best - o)) best = vt->allowed[t][k];
    if (best > o) miss += best - o;
    if (o > best) exc += o - best;
  }
  free(val);
  *missing = miss;
  *excess = exc;
}

/* ==== oracle frames → potentials ========================================== */

static int frame_ok(const grpo_oracle_frame *f, int64_t b, const int64_t *offsets, int use_energy) {
  if (f->ok && !f->ok[b]) return 0;
  if (use_energy && !isfinite(f->energy[b])) return 0;
  for (int64_t j = 3 * offsets[b]; j < 3 * offsets[b + 1]; j++)
    if (!isfinite(f->forces[j])) return 0;
  return 1;
}

int grpo_frame_molecule_ok(const grpo_oracle_frame *f, int64_t b, const int64_t *offsets, const grpo_settings *s) {
  return frame_ok(f, b, offsets, s->reward.use_energy);
}

int64_t grpo_frame_potentials(double *phi_force, double *phi_energy, uint8_t *failed, const grpo_oracle_frame *f,
                              int64_t n_mol, const int64_t *offsets, const double *ref_sum, const grpo_settings *s) {
  int use_energy = s->reward.use_energy;
  ELIGN_ASSERT(!use_energy || f->energy);
  size_t nn = (size_t)(n_mol > 0 ? n_mol : 1);
  double *metric = elign_malloc(nn * sizeof(double), "grpo:frame.metric");
  uint8_t *ok = elign_malloc(nn, "grpo:frame.ok");
  for (int64_t b = 0; b < n_mol; b++) {
    ok[b] = (uint8_t)frame_ok(f, b, offsets, use_energy);
    metric[b] = ok[b] ? grpo_force_metric(f->forces + 3 * offsets[b], offsets[b + 1] - offsets[b], s) : 0.0;
  }
  int64_t n_failed =
      grpo_frame_potentials_from_metrics(phi_force, phi_energy, failed, metric, f->energy, ok, n_mol, offsets, ref_sum, s);
  free(metric);
  free(ok);
  return n_failed;
}

int64_t grpo_frame_potentials_from_metrics(double *phi_force, double *phi_energy, uint8_t *failed,
                                           const double *metric, const double *energy, const uint8_t *ok,
                                           int64_t n_mol, const int64_t *offsets, const double *ref_sum,
                                           const grpo_settings *s) {
  int use_energy = s->reward.use_energy;
  ELIGN_ASSERT(!use_energy || energy);
  ELIGN_ASSERT(!(use_energy && s->reward.energy_atom_refs) || ref_sum);
  int64_t n_failed = 0, n_ok = 0;
  double min_f = INFINITY, min_e = INFINITY;
  for (int64_t b = 0; b < n_mol; b++) {
    int64_t n = offsets[b + 1] - offsets[b];
    double ref = (use_energy && s->reward.energy_atom_refs) ? ref_sum[b] : 0.0;
    if (failed) failed[b] = (uint8_t)!ok[b];
    if (ok[b]) {
      phi_force[b] = -metric[b];
      phi_energy[b] = use_energy ? grpo_energy_potential(energy[b], n, ref, s) : 0.0;
      if (phi_force[b] < min_f) min_f = phi_force[b];
      if (phi_energy[b] < min_e) min_e = phi_energy[b];
      n_ok++;
      continue;
    }
    n_failed++;
    if (s->reward.oracle_failure == GRPO_FAILURE_REFERENCE) {
      phi_force[b] = -reference_failure_force_metric(n, s);
      phi_energy[b] = use_energy ? grpo_energy_potential(0.0, n, ref, s) : 0.0;
    }
  }
  if (n_failed && s->reward.oracle_failure == GRPO_FAILURE_MIN_MARGIN) {
    double margin = s->reward.oracle_failure_margin;
    if (n_ok == 0) min_f = min_e = 0.0;
    for (int64_t b = 0; b < n_mol; b++) {
      if (ok[b]) continue;
      phi_force[b] = min_f - margin;
      phi_energy[b] = use_energy ? min_e - margin : 0.0;
    }
  }
  return n_failed;
}

/* ==== stability and valence terms ========================================== */

static elign_status check_types(const int32_t *type_index, int64_t n_atoms, int n_types, const char *table,
                                elign_error *err) {
  for (int64_t i = 0; i < n_atoms; i++)
    if (type_index[i] < 0 || type_index[i] >= n_types)
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo rewards: atom %lld has type %d outside the %s table (%d types)",
                        (long long)i, (int)type_index[i], table, n_types);
  return ELIGN_OK;
}

elign_status grpo_molecule_terms(grpo_mol_terms *terms, int64_t n_mol, const int64_t *offsets,
                                 const int32_t *type_index, const grpo_chem_input *chem, const grpo_settings *s,
                                 elign_error *err) {
  const grpo_reward_settings *r = &s->reward;
  int hard = r->valence_underbond_weight != 0.0 || r->valence_overbond_weight != 0.0;
  int soft = (r->valence_underbond_soft_weight != 0.0 || r->valence_overbond_soft_weight != 0.0) && chem->bonds;
  int64_t n_atoms = offsets[n_mol];
  if (!chem->stable || !chem->n_stable_atoms)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo rewards: stability flags and stable-atom counts are required");
  if ((hard || soft) && !chem->valence)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo rewards: valence weights are set but no valence table was given");
  if (hard && !chem->nr_bonds)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo rewards: hard valence weights need per-atom bond counts");
  if (soft && !chem->positions)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo rewards: soft valence weights need positions");
  if (hard || soft) {
    elign_status st = check_types(type_index, n_atoms, chem->valence->n_types, "valence", err);
    if (st) return st;
  }
  if (soft) {
    elign_status st = check_types(type_index, n_atoms, chem->bonds->n_types, "bond", err);
    if (st) return st;
  }

  for (int64_t b = 0; b < n_mol; b++) {
    grpo_mol_terms *t = &terms[b];
    memset(t, 0, sizeof *t);
    int64_t o = offsets[b], n = offsets[b + 1] - o;
    if (n > 0) { /* the public code skips empty molecules: stability 0 */
      t->stability = chem->stable[b] ? 1.0 : 0.0;
      t->atom_stability = (double)chem->n_stable_atoms[b] / (double)n;
      if (hard)
        grpo_valence_hard(&t->valence_underbond, &t->valence_overbond, chem->nr_bonds + o, type_index + o, n,
                          chem->valence, r->valence_underbond_weight, r->valence_overbond_weight);
      if (soft)
        grpo_valence_soft(&t->valence_underbond_soft, &t->valence_overbond_soft, chem->positions + 3 * o,
                          type_index + o, n, chem->bonds, chem->valence, r->valence_soft_temperature);
    }
    if (r->stability_weight != 0.0) t->bonus_stability = r->stability_weight * (2.0 * t->stability - 1.0);
    if (r->atom_stability_weight != 0.0) {
      double instability = 1.0 - t->atom_stability;
      instability = instability < 0 ? 0 : (instability > 1 ? 1 : instability);
      t->bonus_atom = -r->atom_stability_weight * instability;
    }
    if (r->valence_underbond_weight != 0.0) t->bonus_underbond = -r->valence_underbond_weight * t->valence_underbond;
    if (r->valence_overbond_weight != 0.0) t->bonus_overbond = -r->valence_overbond_weight * t->valence_overbond;
    if (r->valence_underbond_soft_weight != 0.0)
      t->bonus_underbond_soft = -r->valence_underbond_soft_weight * t->valence_underbond_soft;
    if (r->valence_overbond_soft_weight != 0.0)
      t->bonus_overbond_soft = -r->valence_overbond_soft_weight * t->valence_overbond_soft;
    t->bonus = t->bonus_stability + t->bonus_atom + t->bonus_underbond + t->bonus_overbond + t->bonus_underbond_soft +
               t->bonus_overbond_soft;
  }
  return ELIGN_OK;
}

double grpo_composition_bonus(grpo_mol_terms *terms, int64_t n_mol, const int64_t *offsets, const int32_t *Z,
                              const double *target_by_Z, double weight, double integral_gain, double *integral_by_Z) {
  int64_t count[ELIGN_MAX_Z + 1] = {0};
  double per_atom[ELIGN_MAX_Z + 1] = {0};
  int64_t N = offsets[n_mol] - offsets[0];
  elign_count_elements(Z + offsets[0], N, count);
  int targets = 0;
  for (int z = 1; z <= ELIGN_MAX_Z; z++) targets += target_by_Z[z] > 0;
  double kl = 0;
  for (int z = 1; z <= ELIGN_MAX_Z; z++) {
    if (!(target_by_Z[z] > 0)) continue;
    double p = ((double)count[z] + 0.5) / ((double)N + 0.5 * targets);
    double log_ratio = log(p / target_by_Z[z]);
    kl += p * log_ratio;
    per_atom[z] = log_ratio;
    if (integral_gain > 0) {
      integral_by_Z[z] += integral_gain * log_ratio;
      per_atom[z] += integral_by_Z[z];
    }
  }
  for (int64_t b = 0; b < n_mol; b++) {
    int64_t o = offsets[b], n = offsets[b + 1] - o;
    double sum = 0;
    for (int64_t a = o; a < o + n; a++) sum += per_atom[Z[a]];
    terms[b].bonus_composition = n > 0 ? -weight * sum / (double)n : 0.0;
    terms[b].bonus += terms[b].bonus_composition;
  }
  return kl;
}

/* ==== the reward batch ====================================================== */

void grpo_reward_batch_init(grpo_reward_batch *rb, int64_t n_mol, const int32_t *group_index) {
  memset(rb, 0, sizeof *rb);
  size_t n = (size_t)(n_mol > 0 ? n_mol : 1);
  rb->n_mol = n_mol;
  rb->rewards = elign_calloc(n, sizeof(double), "grpo:rewards");
  rb->force_rewards = elign_calloc(n, sizeof(double), "grpo:force_rewards");
  rb->energy_rewards = elign_calloc(n, sizeof(double), "grpo:energy_rewards");
  rb->weighted_force_rewards = elign_calloc(n, sizeof(double), "grpo:weighted_force_rewards");
  rb->weighted_energy_rewards = elign_calloc(n, sizeof(double), "grpo:weighted_energy_rewards");
  rb->terms = elign_calloc(n, sizeof(grpo_mol_terms), "grpo:terms");
  rb->oracle_failures = elign_calloc(n, sizeof(int32_t), "grpo:oracle_failures");
  rb->group_index = elign_calloc(n, sizeof(int32_t), "grpo:group_index");
  rb->source_index = elign_calloc(n, sizeof(int64_t), "grpo:source_index");
  for (int64_t b = 0; b < n_mol; b++) {
    rb->group_index[b] = group_index ? group_index[b] : 0;
    rb->source_index[b] = b;
  }
}

void grpo_reward_batch_alloc_traces(grpo_reward_batch *rb, int S, int rewards_ts, int force_ts, int energy_ts) {
  size_t n = (size_t)(rb->n_mol > 0 ? rb->n_mol : 1) * (size_t)(S > 0 ? S : 1);
  rb->S = S;
  free(rb->rewards_ts);
  free(rb->force_rewards_ts);
  free(rb->energy_rewards_ts);
  rb->rewards_ts = rewards_ts ? elign_calloc(n, sizeof(double), "grpo:rewards_ts") : NULL;
  rb->force_rewards_ts = force_ts ? elign_calloc(n, sizeof(double), "grpo:force_rewards_ts") : NULL;
  rb->energy_rewards_ts = energy_ts ? elign_calloc(n, sizeof(double), "grpo:energy_rewards_ts") : NULL;
  rb->has_rewards_ts = rewards_ts != 0;
  rb->has_force_ts = force_ts != 0;
  rb->has_energy_ts = energy_ts != 0;
}

void grpo_reward_batch_free(grpo_reward_batch *rb) {
  if (!rb) return;
  elign_free(rb->rewards);
  elign_free(rb->force_rewards);
  elign_free(rb->energy_rewards);
  elign_free(rb->weighted_force_rewards);
  elign_free(rb->weighted_energy_rewards);
  elign_free(rb->rewards_ts);
  elign_free(rb->force_rewards_ts);
  elign_free(rb->energy_rewards_ts);
  elign_free(rb->terms);
  elign_free(rb->oracle_failures);
  elign_free(rb->group_index);
  elign_free(rb->source_index);
  rb->n_mol = 0;
}

#define SELECT(arr, width)                                                                            \
  do {                                                                                                \
    if (arr)                                                                                          \
      for (int64_t i = 0; i < n_keep; i++)                                                            \
        memmove((arr) + i * (width), (arr) + keep[i] * (width), sizeof(*(arr)) * (size_t)(width));    \
  } while (0)

void grpo_reward_batch_select(grpo_reward_batch *rb, const int64_t *keep, int64_t n_keep) {
  for (int64_t i = 0; i < n_keep; i++) {
    ELIGN_ASSERT(keep[i] >= 0 && keep[i] < rb->n_mol);
    ELIGN_ASSERT(i == 0 || keep[i] > keep[i - 1]); /* ascending: moves never overwrite a later source */
  }
  int64_t S = rb->S;
  SELECT(rb->rewards, 1);
  SELECT(rb->force_rewards, 1);
  SELECT(rb->energy_rewards, 1);
  SELECT(rb->weighted_force_rewards, 1);
  SELECT(rb->weighted_energy_rewards, 1);
  SELECT(rb->rewards_ts, S);
  SELECT(rb->force_rewards_ts, S);
  SELECT(rb->energy_rewards_ts, S);
  SELECT(rb->terms, 1);
  SELECT(rb->oracle_failures, 1);
  SELECT(rb->group_index, 1);
  SELECT(rb->source_index, 1);
  rb->n_mol = n_keep;
}
#undef SELECT

/* ==== assembling the rewards ================================================ */

static void scale_row(double *row, int S, double g) {
  for (int k = 0; k < S; k++) row[k] *= g;
}

void grpo_rewards_finish(grpo_reward_batch *rb, int last, const grpo_mol_terms *terms, const grpo_settings *s) {
  const grpo_reward_settings *r = &s->reward;
  double tw = grpo_reward_terminal_weight(s);
  int S = rb->S;
  for (int64_t b = 0; b < rb->n_mol; b++) {
    const grpo_mol_terms *t = &terms[b];
    rb->terms[b] = *t;
    double *rts = rb->has_rewards_ts ? rb->rewards_ts + b * S : NULL;
    double *fts = rb->has_force_ts ? rb->force_rewards_ts + b * S : NULL;
    double *ets = rb->has_energy_ts ? rb->energy_rewards_ts + b * S : NULL;
    if (r->force_only_if_stable) {
      rb->force_rewards[b] *= t->stability;
      if (fts) scale_row(fts, S, t->stability);
      if (rts && !r->use_energy) scale_row(rts, S, t->stability);
    }
    rb->force_rewards[b] += t->bonus;
    if (!r->use_energy) {
      rb->energy_rewards[b] = 0.0;
    } else if (r->energy_only_if_stable) {
      rb->energy_rewards[b] *= t->stability;
      if (ets) scale_row(ets, S, t->stability);
    }
    rb->weighted_force_rewards[b] = r->force_weight * tw * rb->force_rewards[b];
    rb->weighted_energy_rewards[b] = r->energy_weight * tw * rb->energy_rewards[b];
    rb->rewards[b] = rb->weighted_force_rewards[b] + rb->weighted_energy_rewards[b];
    if (rts) {
      ELIGN_ASSERT(last >= 0 && last < S);
      rts[last] += r->force_weight * tw * t->bonus;
      if (fts) fts[last] += tw * t->bonus;
      if (r->use_energy && fts && ets)
        for (int k = 0; k < S; k++) rts[k] = r->force_weight * fts[k] + r->energy_weight * ets[k];
      double sum = 0.0;
      for (int k = 0; k < S; k++) sum += rts[k];
      rb->rewards[b] = sum;
    }
  }
}

void grpo_rewards_terminal(grpo_reward_batch *rb, const double *phi_force, const double *phi_energy,
                           const uint8_t *failed, const grpo_mol_terms *terms, const grpo_settings *s) {
  for (int64_t b = 0; b < rb->n_mol; b++) {
    rb->force_rewards[b] = phi_force[b];
    rb->energy_rewards[b] = s->reward.use_energy ? phi_energy[b] : 0.0;
    rb->oracle_failures[b] = failed ? failed[b] : 0;
  }
  grpo_rewards_finish(rb, -1, terms, s);
}
