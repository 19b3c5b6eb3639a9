/* train_reward.c — the reward stage of an iteration on rank 0: every
 * actor's (metric, energy, ok) per molecule and frame and its final
 * molecules gathered in global molecule order; potentials (§4.5), shaping
 * (§4.6), stability and the bonus terms, the RDKit filter across the whole
 * batch (§4.7) and the group-relative advantages (§4.8); then the kept
 * molecules and their advantages broadcast to every actor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/log.h"
#include "common/base/trace.h"
#include "common/chem/elements.h"
#include "common/chem/rdkit_metrics.h"
#include "common/mpi/roles.h"
#include "learner/grpo_chem.h"
#include "learner/train_impl.h"

/* What rank 0 assembles: the whole batch in global molecule order. */
typedef struct {
  int64_t B, N;
  int64_t *offsets;  /* [B + 1] */
  double *fv;        /* [J][B][FV_COUNT] */
  double *pos;       /* (N, 3) Å, final molecules */
  int32_t *Z;        /* [N] */
} batch_inputs;

static void batch_inputs_free(batch_inputs *b) {
  free(b->offsets);
  free(b->fv);
  free(b->pos);
  free(b->Z);
  memset(b, 0, sizeof *b);
}

/* Every actor's numbers to rank 0, block by block in its block order: for
 * each block [J][n_mol][FV] frame values, then pos (n_atoms, 3), then Z as
 * doubles (exact). Rank 0 puts each block at its place in the global order. */
static void gather_inputs(trainer *tr, const train_iter *it, batch_inputs *bi) {
  const train_options *o = tr->o;
  int J = tr->n_oracle_frames;
  size_t mine_n = 0;
  for (int64_t j = 0; j < it->n_mine; j++)
    mine_n += (size_t)(J * it->rec[j].h.n_mol * FV_COUNT + 4 * it->rec[j].h.n_atoms);
  double *mine = elign_malloc((mine_n ? mine_n : 1) * sizeof(double), "train:gather_mine"), *w = mine;
  for (int64_t j = 0; j < it->n_mine; j++) {
    const rollout_batch *r = &it->rec[j];
    int64_t nm = r->h.n_mol, na = r->h.n_atoms;
    memcpy(w, it->frame_vals[j], (size_t)(J * nm * FV_COUNT) * sizeof(double));
    w += J * nm * FV_COUNT;
    memcpy(w, r->pos, (size_t)(3 * na) * sizeof(double));
    w += 3 * na;
    for (int64_t i = 0; i < na; i++) *w++ = (double)r->Z[i];
  }

  int *counts = NULL, *displs = NULL;
  double *all = NULL;
  int64_t *block_atoms = NULL; /* rank 0: first atom of each block, then the total */
  if (tr->rank == 0) {
    memset(bi, 0, sizeof *bi);
    bi->B = (int64_t)o->P * o->K;
    bi->offsets = elign_malloc((size_t)(bi->B + 1) * sizeof *bi->offsets, "train:offsets");
    bi->offsets[0] = 0;
    for (int64_t m = 0; m < bi->B; m++) bi->offsets[m + 1] = bi->offsets[m] + it->group_sizes[m / o->K];
    bi->N = bi->offsets[bi->B];
    block_atoms = elign_malloc((size_t)(tr->n_blocks + 1) * sizeof *block_atoms, "train:block_atoms");
    for (int64_t b = 0; b <= tr->n_blocks; b++)
      block_atoms[b] = bi->offsets[(b < tr->n_blocks ? train_block_group0(tr, b) : o->P) * o->K];
    counts = elign_calloc((size_t)tr->size, sizeof *counts, "train:counts");
    displs = elign_malloc((size_t)tr->size * sizeof *displs, "train:displs");
    int64_t total = 0;
    for (int q = 0; q < tr->size; q++) {
      for (int64_t b = q; b < tr->n_blocks; b += tr->size) {
        int64_t n = train_block_groups(tr, b) * o->K, a = block_atoms[b + 1] - block_atoms[b];
        counts[q] += (int)(J * n * FV_COUNT + 4 * a);
      }
      displs[q] = (int)total;
      total += counts[q];
    }
    all = elign_malloc((size_t)(total > 0 ? total : 1) * sizeof(double), "train:gather_all");
  }
  MPI_Gatherv(mine, (int)mine_n, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, tr->comm);
  free(mine);
  if (tr->rank != 0) return;
  bi->fv = elign_calloc((size_t)(J * bi->B > 0 ? J * bi->B : 1) * FV_COUNT, sizeof(double), "train:fv");
  bi->pos = elign_malloc((size_t)(bi->N > 0 ? bi->N : 1) * 3 * sizeof(double), "train:pos");
  bi->Z = elign_malloc((size_t)(bi->N > 0 ? bi->N : 1) * sizeof(int32_t), "train:Z");
  for (int q = 0; q < tr->size; q++) {
    const double *src = all + displs[q];
    for (int64_t b = q; b < tr->n_blocks; b += tr->size) {
      int64_t m0 = train_block_group0(tr, b) * o->K, n = train_block_groups(tr, b) * o->K;
      int64_t a0 = block_atoms[b], a = block_atoms[b + 1] - a0;
      for (int j = 0; j < J; j++)
        memcpy(bi->fv + ((int64_t)j * bi->B + m0) * FV_COUNT, src + (int64_t)j * n * FV_COUNT,
               (size_t)(n * FV_COUNT) * sizeof(double));
      src += J * n * FV_COUNT;
      memcpy(bi->pos + 3 * a0, src, (size_t)(3 * a) * sizeof(double));
      src += 3 * a;
      for (int64_t i = 0; i < a; i++) bi->Z[a0 + i] = (int32_t)src[i];
      src += a;
    }
  }
  free(all);
  free(counts);
  free(displs);
  free(block_atoms);
}

/* ---- rank 0: rewards → filter → advantages --------------------------------------- */

static double mean_of(const double *v, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += v[i];
  return n ? s / (double)n : NAN;
}
static double max_of(const double *v, int64_t n) {
  double s = -INFINITY;
  for (int64_t i = 0; i < n; i++) s = v[i] > s ? v[i] : s;
  return n ? s : NAN;
}
static double min_of(const double *v, int64_t n) {
  double s = INFINITY;
  for (int64_t i = 0; i < n; i++) s = v[i] < s ? v[i] : s;
  return n ? s : NAN;
}

/* "H -13.6, C -1029.8, ..." for a log line: one element's value appended. */
static void append_element_value(char *list, size_t cap, int z, double value, int digits) {
  size_t len = strlen(list);
  snprintf(list + len, cap - len, "%s%s %.*f", len ? ", " : "", elign_element_symbol(z), digits, value);
}

elign_status train_reward_setup_atom_refs(trainer *tr, elign_error *err) {
  const train_options *o = tr->o;
  for (int z = 0; z < 119; z++) tr->atom_ref_eV[z] = o->atom_ref_eV[z];
  if (o->atom_refs == TRAIN_REF_NONE || tr->rank != 0) return ELIGN_OK;
  uint8_t want[ELIGN_MAX_Z + 1] = {0};
  for (int t = 0; t < tr->model.n_types; t++)
    if (elign_element_valid(tr->model.type_Z[t])) want[tr->model.type_Z[t]] = 1;
  if (o->atom_refs == TRAIN_REF_ORACLE) {
    if (!tr->client)
      return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.energy_atom_refs: oracle needs an oracle (reward.type is dummy)");
    elign_status st = elign_oracle_isolated_atoms(tr->client, 0, want, tr->atom_ref_eV, err);
    if (st) return st;
  }
  char list[512] = "";
  for (int z = 1; z <= ELIGN_MAX_Z; z++) {
    if (!want[z]) continue;
    if (!isfinite(tr->atom_ref_eV[z]))
      return o->atom_refs == TRAIN_REF_ORACLE
                 ? ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.energy_atom_refs: oracle: the oracle '%s' gives no energy "
                              "for a lone atom of %s (Z = %d), an element of the model", o->oracle_backend,
                              elign_element_symbol(z), z)
                 : ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.energy_atom_ref_values has no energy for %s (Z = %d, "
                              "entry %d), an element of the model", elign_element_symbol(z), z, z - 1);
    append_element_value(list, sizeof list, z, tr->atom_ref_eV[z], 6);
  }
  elign_info("energy references (%s): %s eV", o->atom_refs == TRAIN_REF_ORACLE ? "the oracle's lone atoms" : "custom",
             list);
  return ELIGN_OK;
}

elign_status train_reward_check_composition(const trainer *tr, elign_error *err) {
  const train_options *o = tr->o;
  if (!(o->s.reward.composition_weight > 0)) return ELIGN_OK;
  char list[512] = "";
  for (int t = 0; t < tr->model.n_types; t++) {
    int z = tr->model.type_Z[t];
    if (!elign_element_valid(z)) continue;
    if (!(o->composition_target[z] > 0))
      return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.composition_target: entry %d (%s) is 0 or missing, but the "
                        "model makes %s: give every element of the model a fraction > 0", z - 1,
                        elign_element_symbol(z), elign_element_symbol(z));
    append_element_value(list, sizeof list, z, o->composition_target[z], 4);
  }
  elign_info("element-mix term: weight %g, target fractions %s", o->s.reward.composition_weight, list);
  return ELIGN_OK;
}

/* Metric names by Z ("composition_fraction_C", ...): train_metric keeps the pointer. */
static const char *element_metric_name(const char *what, int z) {
  static char names[2][ELIGN_MAX_Z + 1][40];
  int which = strcmp(what, "fraction") == 0 ? 0 : 1;
  snprintf(names[which][z], sizeof names[which][z], "composition_%s_%s", what, elign_element_symbol(z));
  return names[which][z];
}

/* Every iteration: the fraction of the batch's atoms of each element of the
 * model (the element mix is where the rewards can be bought, D9/D10). */
static void composition_metrics(const trainer *tr, const batch_inputs *bi, train_metrics *m) {
  int64_t count[ELIGN_MAX_Z + 1] = {0};
  elign_count_elements(bi->Z, bi->N, count);
  for (int t = 0; t < tr->model.n_types; t++) {
    int z = tr->model.type_Z[t];
    if (elign_element_valid(z))
      train_metric(m, element_metric_name("fraction", z), bi->N > 0 ? (double)count[z] / (double)bi->N : NAN);
  }
}

/* The element-mix term (D9) on the iteration's molecules, with its metrics:
 * the batch's KL to the target and, with the integral gain on, each target
 * element's accumulated offset. */
static void composition_term(trainer *tr, const batch_inputs *bi, grpo_mol_terms *terms, train_metrics *m) {
  const train_options *o = tr->o;
  const grpo_settings *s = &o->s;
  train_metric(m, "composition_kl",
               grpo_composition_bonus(terms, bi->B, bi->offsets, bi->Z, o->composition_target,
                                      s->reward.composition_weight, s->reward.composition_integral,
                                      tr->composition_integral));
  for (int z = 1; z <= ELIGN_MAX_Z && s->reward.composition_integral > 0; z++)
    if (o->composition_target[z] > 0) train_metric(m, element_metric_name("offset", z), tr->composition_integral[z]);
}

/* Potentials of every oracle frame (J × B each), failures counted. */
static elign_status frame_potentials(const trainer *tr, const batch_inputs *bi, double *phi_f, double *phi_e,
                                     uint8_t *failed_terminal, int32_t *fail_count, int64_t *n_failed,
                                     elign_error *err) {
  const train_options *o = tr->o;
  int64_t B = bi->B;
  double *ref_sum = NULL;
  if (o->atom_refs != TRAIN_REF_NONE) { /* every element of the model has one (train_reward_setup_atom_refs) */
    ref_sum = elign_calloc((size_t)(B > 0 ? B : 1), sizeof *ref_sum, "train:ref_sum");
    for (int64_t b = 0; b < B; b++)
      for (int64_t i = bi->offsets[b]; i < bi->offsets[b + 1]; i++)
        ref_sum[b] += elign_element_valid(bi->Z[i]) ? tr->atom_ref_eV[bi->Z[i]] : NAN;
  }
  double *metric = elign_malloc((size_t)(B > 0 ? B : 1) * sizeof(double), "train:metric");
  double *energy = elign_malloc((size_t)(B > 0 ? B : 1) * sizeof(double), "train:energy");
  uint8_t *ok = elign_malloc((size_t)(B > 0 ? B : 1), "train:ok");
  uint8_t *failed = elign_malloc((size_t)(B > 0 ? B : 1), "train:failed");
  *n_failed = 0;
  memset(fail_count, 0, (size_t)B * sizeof *fail_count);
  for (int j = 0; j < tr->n_oracle_frames; j++) {
    for (int64_t b = 0; b < B; b++) {
      const double *v = bi->fv + ((int64_t)j * B + b) * FV_COUNT;
      metric[b] = v[FV_METRIC];
      energy[b] = v[FV_ENERGY];
      ok[b] = v[FV_OK] != 0;
    }
    *n_failed += grpo_frame_potentials_from_metrics(phi_f + (int64_t)j * B, phi_e + (int64_t)j * B, failed, metric,
                                                    energy, ok, B, bi->offsets, ref_sum, &o->s);
    for (int64_t b = 0; b < B; b++) fail_count[b] += failed[b];
    if (j == tr->n_oracle_frames - 1) memcpy(failed_terminal, failed, (size_t)B);
  }
  if (tr->n_oracle_frames == 0) /* reward.type dummy: every potential 0 */
    memset(failed_terminal, 0, (size_t)B);
  free(ref_sum);
  free(metric);
  free(energy);
  free(ok);
  free(failed);
  return ELIGN_OK;
}

/* Canonical largest-fragment SMILES (NULL = invalid; an RDKit error counts as
 * invalid and is reported once). */
static char **batch_smiles(const trainer *tr, const batch_inputs *bi, int64_t *n_errors) {
  char **smi = elign_calloc((size_t)(bi->B > 0 ? bi->B : 1), sizeof *smi, "train:smiles");
  int rule = strncmp(tr->model.dataset, "qm9", 3) == 0 ? ELIGN_RDKIT_RULE_QM9 : ELIGN_RDKIT_RULE_GEOM;
  *n_errors = 0;
  for (int64_t b = 0; b < bi->B; b++) {
    elign_error e;
    elign_error_clear(&e);
    int64_t a = bi->offsets[b], n = bi->offsets[b + 1] - a;
    if (elign_rdkit_smiles_dup(bi->pos + 3 * a, bi->Z + a, n, rule, 1, &smi[b], &e) == ELIGN_RDKIT_ERROR) {
      if ((*n_errors)++ == 0) elign_warn("RDKit: molecule %lld counted invalid: %s", (long long)b, e.msg);
      smi[b] = NULL;
    }
  }
  return smi;
}

/* Rank 0: zero-signal groups stayed high: say which settings make them. */
static void warn_zero_signal(const trainer *tr, const grpo_advantages *adv, const train_metrics *m) {
  const grpo_settings *s = &tr->o->s;
  char fclip[32] = "null", eclip[32] = "null";
  if (!isnan(s->reward.force_clip_threshold)) snprintf(fclip, sizeof fclip, "%g", s->reward.force_clip_threshold);
  if (!isnan(s->reward.energy_transform_clip)) snprintf(eclip, sizeof eclip, "%g", s->reward.energy_transform_clip);
  elign_warn("no learning signal: %d of %d groups (%.0f%%) have all-zero advantages, %d iterations in a row "
             "(train.zero_signal_warn_fraction %g). Causes: groups of one member %d (dataloader.each_prompt_sample "
             "K = %d; filters.enable_filtering %s kept %.0f of %.0f molecules); members with equal rewards %d "
             "(reward.force_clip_threshold %s eV/A and reward.energy_transform_clip %s flatten rewards beyond them; "
             "oracle failures %.0f share the failure reward); advantages clamped to +-%g (train.clip_advantage_value)",
             adv->n_zero_signal, adv->n_groups, 100.0 * adv->n_zero_signal / (adv->n_groups ? adv->n_groups : 1),
             tr->signal_watch.run, tr->signal_watch.threshold, adv->n_zero_single, tr->o->K,
             s->filters.enable_filtering ? "on" : "off", train_metric_get(m, "kept"), train_metric_get(m, "molecules"),
             adv->n_zero_signal - adv->n_zero_single, fclip, eclip, train_metric_get(m, "oracle_failures"),
             grpo_advantage_clip(s));
}

static void advantage_stats(trainer *tr, const grpo_advantages *adv, train_metrics *m) {
  double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
  int64_t n = 0;
  for (int64_t b = 0; b < adv->n_mol; b++)
    for (int k = tr->train_start; k < tr->o->T; k++) {
      double a = grpo_advantage_at(adv, b, k);
      s += a, s2 += a * a, n++;
      lo = a < lo ? a : lo;
      hi = a > hi ? a : hi;
      if (adv->cols == 1) break; /* one value per molecule */
    }
  double mean = n ? s / (double)n : NAN;
  train_metric(m, "advantage_mean", mean);
  train_metric(m, "advantage_std", n ? sqrt(fmax(s2 / (double)n - mean * mean, 0)) : NAN);
  train_metric(m, "advantage_min", n ? lo : NAN);
  train_metric(m, "advantage_max", n ? hi : NAN);
  train_metric(m, "groups", adv->n_groups);
  train_metric(m, "zero_signal_groups", adv->n_zero_signal);
  double frac = adv->n_groups ? (double)adv->n_zero_signal / adv->n_groups : NAN;
  train_metric(m, "zero_signal_fraction", frac);
  train_metric(m, "zero_signal_single_member", adv->n_zero_single);
  if (grpo_signal_watch_update(&tr->signal_watch, frac)) warn_zero_signal(tr, adv, m);
}

/* D10: the kept molecules' counts of the model's elements, and the advantages
 * made blind to them; logs the fraction of the advantages' square sum removed. */
static void composition_neutral(const trainer *tr, const batch_inputs *bi, const grpo_reward_batch *rb,
                                grpo_advantages *adv, train_metrics *m) {
  int E = tr->model.n_types;
  double *counts = elign_calloc((size_t)(rb->n_mol > 0 ? rb->n_mol : 1) * (size_t)E, sizeof(double), "train:counts");
  for (int64_t j = 0; j < rb->n_mol; j++) {
    int64_t b = rb->source_index[j];
    for (int64_t i = bi->offsets[b]; i < bi->offsets[b + 1]; i++) {
      int t = edm_model_type_index(&tr->model, bi->Z[i]);
      if (t >= 0) counts[j * E + t] += 1;
    }
  }
  double removed = grpo_advantages_composition_neutral(adv, rb->group_index, counts, E, grpo_advantage_clip(&tr->o->s));
  train_metric(m, "composition_advantage_removed", removed);
  free(counts);
}

static elign_status rank0_rewards(trainer *tr, train_iter *it, const batch_inputs *bi, train_metrics *m,
                                  elign_error *err) {
  const train_options *o = tr->o;
  const grpo_settings *s = &o->s;
  int64_t B = bi->B, N = bi->N;
  int J = tr->n_oracle_frames > 0 ? tr->n_oracle_frames : 1;
  size_t nb = (size_t)(B > 0 ? B : 1), na = (size_t)(N > 0 ? N : 1);
  double *phi_f = elign_calloc((size_t)J * nb, sizeof(double), "train:phi_f");
  double *phi_e = elign_calloc((size_t)J * nb, sizeof(double), "train:phi_e");
  uint8_t *failed = elign_calloc(nb, 1, "train:failed_t");
  int32_t *fail_count = elign_calloc(nb, sizeof(int32_t), "train:fail_count");
  int32_t *type_index = elign_malloc(na * sizeof(int32_t), "train:types");
  uint8_t *stable = elign_malloc(nb, "train:stable");
  int32_t *n_stable = elign_malloc(nb * sizeof(int32_t), "train:n_stable");
  int32_t *nr_bonds = elign_malloc(na * sizeof(int32_t), "train:nr_bonds");
  int32_t *group_index = elign_malloc(nb * sizeof(int32_t), "train:group_index");
  grpo_mol_terms *terms = elign_calloc(nb, sizeof *terms, "train:terms");
  uint8_t *valid = elign_calloc(nb, 1, "train:valid");
  uint8_t *known = elign_calloc(nb, 1, "train:known");
  char **smiles = NULL;
  grpo_reward_batch rb;
  memset(&rb, 0, sizeof rb);
  grpo_advantages adv;
  memset(&adv, 0, sizeof adv);
  grpo_filter_stats fs;
  memset(&fs, 0, sizeof fs);

  int64_t n_failed = 0;
  elign_status st = frame_potentials(tr, bi, phi_f, phi_e, failed, fail_count, &n_failed, err);
  for (int64_t i = 0; !st && i < N; i++) {
    type_index[i] = edm_model_type_index(&tr->model, bi->Z[i]);
    if (type_index[i] < 0)
      st = ELIGN_FAIL(err, ELIGN_ERR_ARG, "a sampled atom has Z = %d, not one of the model's types", bi->Z[i]);
  }
  if (!st) {
    grpo_chem_stability(stable, n_stable, nr_bonds, bi->pos, type_index, bi->offsets, B, tr->model.type_Z, tr->rule);
    grpo_chem_input chem = {.stable = stable, .n_stable_atoms = n_stable, .nr_bonds = nr_bonds, .positions = bi->pos,
                            .valence = &tr->valence, .bonds = tr->have_bonds ? &tr->bonds : NULL};
    st = grpo_molecule_terms(terms, B, bi->offsets, type_index, &chem, s, err);
    if (!st) composition_metrics(tr, bi, m);
    if (!st && s->reward.composition_weight > 0) composition_term(tr, bi, terms, m);
  }
  if (!st) {
    for (int64_t b = 0; b < B; b++) group_index[b] = (int32_t)(b / o->K);
    grpo_reward_batch_init(&rb, B, group_index);
    if (tr->shaped)
      st = grpo_rewards_shaped(&rb, &tr->sched, tr->S, phi_f, s->reward.use_energy ? phi_e : NULL, fail_count, terms,
                               s, err);
    else
      grpo_rewards_terminal(&rb, phi_f, phi_e, failed, terms, s);
  }
  int64_t rdkit_errors = 0;
  if (!st) {
    /* the iteration's samples, before the filter */
    double n_st = 0, frac = 0;
    for (int64_t b = 0; b < B; b++) {
      n_st += stable[b];
      int64_t n = bi->offsets[b + 1] - bi->offsets[b];
      frac += n ? (double)n_stable[b] / (double)n : 0;
    }
    train_metric(m, "molecule_stability", B ? n_st / (double)B : NAN);
    train_metric(m, "stable_molecules", n_st);
    train_metric(m, "atom_stability", B ? frac / (double)B : NAN);
    int64_t mol_failed = 0;
    for (int64_t b = 0; b < B; b++) mol_failed += fail_count[b] > 0;
    train_metric(m, "oracle_evaluations", (double)B * tr->n_oracle_frames);
    train_metric(m, "oracle_failures", (double)n_failed);
    train_metric(m, "oracle_failed_molecules", (double)mol_failed);
    smiles = batch_smiles(tr, bi, &rdkit_errors);
    for (int64_t b = 0; b < B; b++)
      known[b] = tr->train_smiles && smiles[b] && elign_smiles_set_find(tr->train_smiles, smiles[b]) >= 0;
    st = grpo_filter_apply(&rb, &fs, valid, (const char *const *)smiles, known, s, err);
  }
  if (!st) {
    double n_valid = 0, n_valid_stable = 0;
    for (int64_t b = 0; b < B; b++) n_valid += valid[b], n_valid_stable += valid[b] && stable[b];
    double mol_stab = train_metric_get(m, "molecule_stability");
    train_metric(m, "rdkit_validity", fs.rdkit_validity);
    train_metric(m, "rdkit_uniqueness", fs.rdkit_uniqueness);
    train_metric(m, "validity_x_uniqueness", fs.rdkit_validity * fs.rdkit_uniqueness);
    train_metric(m, "validity_x_uniqueness_x_stability", fs.rdkit_validity * fs.rdkit_uniqueness * mol_stab);
    train_metric(m, "stability_given_rdkit_valid", n_valid > 0 ? n_valid_stable / n_valid : NAN);
    train_metric(m, "rdkit_errors", (double)rdkit_errors);
    train_metric(m, "molecules", (double)B);
    train_metric(m, "kept", (double)rb.n_mol);
    train_metric(m, "filter_ratio", fs.filter_ratio);
    train_metric(m, "novelty_penalty_ratio", fs.novelty_penalty_ratio);
    train_metric(m, "reward", mean_of(rb.rewards, rb.n_mol)); /* the public metric name */
    train_metric(m, "reward_mean", mean_of(rb.rewards, rb.n_mol));
    train_metric(m, "reward_max", max_of(rb.rewards, rb.n_mol));
    train_metric(m, "reward_min", min_of(rb.rewards, rb.n_mol));
    train_metric(m, "force_reward_mean", mean_of(rb.force_rewards, rb.n_mol));
    train_metric(m, "force_reward_max", max_of(rb.force_rewards, rb.n_mol));
    train_metric(m, "energy_reward_mean", mean_of(rb.energy_rewards, rb.n_mol));
    train_metric(m, "energy_reward_max", max_of(rb.energy_rewards, rb.n_mol));
    st = grpo_advantages_compute(&adv, &rb, o->T, tr->timesteps, tr->shaped ? &tr->sched : NULL, s, err);
    if (!st && s->reward.composition_neutral) composition_neutral(tr, bi, &rb, &adv, m);
  }
  if (!st) {
    advantage_stats(tr, &adv, m);
    it->n_kept = rb.n_mol;
    it->adv_cols = adv.cols;
    it->kept = elign_malloc((size_t)(rb.n_mol > 0 ? rb.n_mol : 1) * sizeof *it->kept, "train:kept");
    memcpy(it->kept, rb.source_index, (size_t)rb.n_mol * sizeof *it->kept);
    size_t na_ = (size_t)(rb.n_mol * adv.cols);
    it->adv = elign_malloc((na_ ? na_ : 1) * sizeof *it->adv, "train:adv");
    memcpy(it->adv, adv.adv, na_ * sizeof *it->adv);
  }
  if (smiles) elign_rdkit_smiles_free(smiles, B);
  free(smiles);
  grpo_advantages_free(&adv);
  grpo_reward_batch_free(&rb);
  free(phi_f);
  free(phi_e);
  free(failed);
  free(fail_count);
  free(type_index);
  free(stable);
  free(n_stable);
  free(nr_bonds);
  free(group_index);
  free(terms);
  free(valid);
  free(known);
  return st;
}

/* Rank 0's kept molecules and their advantages to every actor. */
static void broadcast_advantages(trainer *tr, train_iter *it) {
  int64_t head[2] = {it->n_kept, it->adv_cols};
  MPI_Bcast(head, 2, MPI_INT64_T, 0, tr->comm);
  if (tr->rank != 0) {
    it->n_kept = head[0];
    it->adv_cols = (int)head[1];
    it->kept = elign_malloc((size_t)(it->n_kept > 0 ? it->n_kept : 1) * sizeof *it->kept, "train:kept");
    it->adv = elign_malloc((size_t)(it->n_kept * it->adv_cols > 0 ? it->n_kept * it->adv_cols : 1) * sizeof *it->adv,
                           "train:adv");
  }
  MPI_Bcast(it->kept, (int)it->n_kept, MPI_INT64_T, 0, tr->comm);
  MPI_Bcast(it->adv, (int)(it->n_kept * it->adv_cols), MPI_DOUBLE, 0, tr->comm);
}

elign_status train_reward(trainer *tr, train_iter *it, train_metrics *m, elign_error *err) {
  batch_inputs bi;
  memset(&bi, 0, sizeof bi);
  double t0 = elign_wtime(), tt = elign_trace_begin();
  run_wait_begin(&tr->wait, it->it, "the reward stage (every actor's reward inputs to rank 0)");
  gather_inputs(tr, it, &bi);
  run_wait_end();
  elign_trace_end(tt, "reward_gather", ELIGN_TRACE_WAIT);
  tt = elign_trace_begin();
  elign_status st = tr->rank == 0 ? rank0_rewards(tr, it, &bi, m, err) : ELIGN_OK;
  if (tr->rank == 0) elign_trace_end(tt, "reward", ELIGN_TRACE_BUSY);
  tt = elign_trace_begin();
  batch_inputs_free(&bi);
  /* the others wait here for rank 0's rewards */
  run_wait_begin(&tr->wait, it->it, "the reward stage (rank 0's advantages to every actor)");
  st = elign_mpi_agree(tr->comm, err);
  if (!st) broadcast_advantages(tr, it);
  run_wait_end();
  if (st) return st;
  if (tr->rank == 0) train_metric(m, "time_reward_s", elign_wtime() - t0);
  elign_trace_end(tt, "advantage_broadcast", ELIGN_TRACE_WAIT);
  return ELIGN_OK;
}
