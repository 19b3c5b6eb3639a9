/* train_judges.c — rank 0's watch over the run: the zero-signal watch's
 * settings and the judge rounds during `elign train` (judges.h):
 * sample the fixed set with the current weights, have the reward oracle and
 * every judge score it, put the numbers into the metrics line and run the
 * alarm. Touches no training state: the set's noise comes from its own keys
 * (train.judge_seed, iteration key 0), so checkpoints do not depend on judges. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/sampler.h"
#include "common/base/log.h"
#include "common/chem/rdkit_metrics.h"
#include "common/chem/smiles_set.h"
#include "learner/grpo_chem.h"
#include "learner/judges.h"
#include "learner/train_impl.h"

#define JUDGE_NAME_LEN 64
#define ELIGN_MAX_Z 118
#define JUDGE_HISTORY 4096

struct train_judges {
  train_judges_config jc;
  train_oracle_set set;              /* embedded runs: the judges in this process */
  elign_oracle_client *own;          /* embedded runs: a client over `set` */
  double reward_sum;                 /* reward_mean summed since the previous round */
  int64_t reward_n;
  int n_rounds;
  train_judge_round *rounds;         /* [JUDGE_HISTORY] (a ring) */
  char names[TRAIN_MAX_JUDGES + 1][3][JUDGE_NAME_LEN]; /* metric names (the metrics line keeps pointers) */
  /* isolated-atom energies of each oracle (channel), by Z; NAN = not evaluable */
  double atom_e[TRAIN_MAX_JUDGES + 1][ELIGN_MAX_Z + 1];
  uint8_t atom_known[TRAIN_MAX_JUDGES + 1][ELIGN_MAX_Z + 1];
};

/* The same backend with the same model (ANI) or function (python) as the reward. */
static int judge_is_reward(const train_judge_spec *j, const train_options *o) {
  if (strcmp(j->oracle.backend, o->oracle_backend) != 0) return 0;
  const char *mine = strcmp(j->oracle.backend, "ani") == 0      ? o->oracle.model
                     : strcmp(j->oracle.backend, "python") == 0 ? (o->oracle.python_function ? o->oracle.python_function
                                                                                          : "evaluate")
                                                         : NULL;
  if (!j->oracle.arg[0] || !mine) return 1;
  return strcmp(j->oracle.arg, mine) == 0;
}

/* With oracle ranks rank 0 reads no ANI file, yet its checkpoints must name
 * them (provenance.h): load each ANI model the oracle ranks serve (the
 * reward's, the judges') once and drop it — the loader hashes every file. */
static void record_remote_ani_files(const trainer *tr) {
  if (tr->w->embedded_oracle) return;
  elign_oracle *o = NULL;
  elign_error e;
  elign_error_clear(&e);
  if (!tr->o->dummy_reward && strcmp(tr->o->oracle_backend, "ani") == 0 &&
      elign_oracle_create("ani", &tr->o->oracle, &o, &e) == ELIGN_OK)
    elign_oracle_destroy(&o);
  for (int i = 0; i < tr->o->judges.n; i++) {
    const train_judge_spec *j = &tr->o->judges.judge[i];
    if (strcmp(j->oracle.backend, "ani") != 0) continue;
    elign_oracle_options opt = elign_oracle_spec_options(&j->oracle, &tr->o->oracle);
    if (elign_oracle_create("ani", &opt, &o, &e) == ELIGN_OK) elign_oracle_destroy(&o);
  }
}

elign_status train_judges_setup(trainer *tr, elign_error *err) {
  const train_judges_config *jc = &tr->o->judges;
  tr->signal_watch.threshold = elign_config_get_double(tr->cfg, "train.zero_signal_warn_fraction");
  tr->signal_watch.iterations = (int)elign_config_get_int(tr->cfg, "train.zero_signal_warn_iterations");
  if (tr->rank == 0) record_remote_ani_files(tr);
  if (tr->rank != 0 || jc->n == 0) return ELIGN_OK;
  struct train_judges *J = elign_calloc(1, sizeof *J, "train:judges");
  J->jc = *jc;
  J->rounds = elign_calloc(JUDGE_HISTORY, sizeof *J->rounds, "train:judge_rounds");
  tr->judges = J;
  for (int i = 0; i <= jc->n; i++) {
    const char *label = i < jc->n ? jc->judge[i].label : "reward_oracle";
    snprintf(J->names[i][0], JUDGE_NAME_LEN, "judge_%s_atomization_per_atom", label);
    snprintf(J->names[i][1], JUDGE_NAME_LEN, "judge_%s_rms_force", label);
    snprintf(J->names[i][2], JUDGE_NAME_LEN, "judge_%s_failed", label);
  }
  if (tr->w->embedded_oracle) { /* no oracle ranks: the judges run here */
    elign_status st = train_oracle_set_create(&J->set, NULL, jc, &tr->o->oracle, err);
    if (!st) st = elign_oracle_client_create_embedded_fn(train_oracle_set_evaluate, &J->set, tr->o->oracle_batch,
                                                         &J->own, err);
    if (st) return st;
  }
  for (int i = 0; i < jc->n; i++) /* a judge that is the reward itself cannot catch the reward's holes */
    if (!tr->o->dummy_reward && judge_is_reward(&jc->judge[i], tr->o))
      elign_warn("train.judges: '%s' is the reward's own oracle (oracle.backend %s): it cannot see the reward's "
                 "holes; list backends or models the reward does not use", jc->judge[i].oracle.spec, tr->o->oracle_backend);
  char list[512] = "";
  for (int i = 0; i < jc->n; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", jc->judge[i].oracle.spec);
  elign_info("judges: %s score %d fixed samples every %lld iterations (%s); alarm window %d rounds%s", list,
             jc->samples, (long long)jc->every, tr->w->embedded_oracle ? "in process" : "on the oracle ranks",
             jc->window, jc->stop ? ", a firing alarm stops the run" : "");
  return ELIGN_OK;
}

void train_judges_free(trainer *tr) {
  struct train_judges *J = tr->judges;
  if (!J) return;
  elign_oracle_client_destroy(&J->own);
  train_oracle_set_free(&J->set);
  free(J->rounds);
  free(J);
  tr->judges = NULL;
}

/* Per-set means of one oracle's answer: the atomization energy per atom
 * (E minus the same oracle's isolated-atom energies: a total energy per atom
 * mostly counts elements — C ≈ −1030 eV, H ≈ −13.6 eV under ANI — and would
 * move with the composition, not the chemistry), the RMS force over the
 * evaluated molecules, and the fraction it could not evaluate. */
static void score(const elign_molset *s, const elign_oracle_result *r, const double *atom_e, double *energy,
                  double *rms, double *failed) {
  double se = 0, sf = 0;
  int64_t ok = 0, with_e = 0;
  for (int64_t m = 0; m < s->n_mol; m++) {
    int64_t a0 = s->offsets[m], n = s->offsets[m + 1] - a0;
    if (r->status[m] != ELIGN_MOL_OK || n == 0 || !elign_oracle_result_finite(r->energy[m], r->forces + 3 * a0, n))
      continue;
    double f2 = 0, ref = 0;
    for (int64_t k = 0; k < 3 * n; k++) f2 += r->forces[3 * a0 + k] * r->forces[3 * a0 + k];
    for (int64_t a = a0; a < a0 + n; a++) ref += s->Z[a] >= 0 && s->Z[a] <= ELIGN_MAX_Z ? atom_e[s->Z[a]] : NAN;
    if (isfinite(ref)) se += (r->energy[m] - ref) / (double)n, with_e++;
    sf += sqrt(f2 / (double)n);
    ok++;
  }
  *energy = with_e ? se / (double)with_e : NAN;
  *rms = ok ? sf / (double)ok : NAN;
  *failed = s->n_mol ? 1.0 - (double)ok / (double)s->n_mol : NAN;
}

/* The isolated-atom energies of oracle `channel` for the elements of s not yet known. */
static elign_status atom_energies(struct train_judges *J, elign_oracle_client *c, int channel, const elign_molset *s,
                                  elign_error *err) {
  uint8_t want[ELIGN_MAX_Z + 1] = {0}, *known = J->atom_known[channel];
  int n = 0;
  for (int64_t a = 0; a < s->n_atoms; a++) {
    int z = s->Z[a];
    if (z < 1 || z > ELIGN_MAX_Z || known[z]) continue;
    known[z] = want[z] = 1;
    n++;
  }
  if (n == 0) return ELIGN_OK;
  elign_status st = elign_oracle_isolated_atoms(c, channel, want, J->atom_e[channel], err);
  for (int z = 1; st == ELIGN_OK && z <= ELIGN_MAX_Z; z++)
    if (want[z] && !isfinite(J->atom_e[channel][z]))
      elign_warn("judges: oracle channel %d has no energy of an isolated atom of Z = %d: molecules with it get no "
                 "atomization energy", channel, z);
  return st;
}

/* Ask one oracle (channel: 0 = reward, c = judge c − 1) about the set. */
static elign_status ask(struct train_judges *J, elign_oracle_client *c, int channel, const elign_molset *s, double out[3],
                        elign_error *err) {
  elign_oracle_batch b = {.n_mol = s->n_mol, .offsets = s->offsets, .Z = s->Z, .pos = s->pos, .channel = channel};
  double *energy = elign_malloc((size_t)s->n_mol * sizeof *energy, "judges:energy");
  double *forces = elign_calloc(3 * (size_t)(s->n_atoms > 0 ? s->n_atoms : 1), sizeof *forces, "judges:forces");
  elign_mol_status *status = elign_malloc((size_t)s->n_mol * sizeof *status, "judges:status");
  elign_oracle_result r = {.energy = energy, .forces = forces, .status = status};
  uint64_t id;
  elign_status st = elign_oracle_client_submit(c, &b, 1, &id, err);
  if (!st) st = elign_oracle_client_wait(c, id, &r, err);
  if (!st) st = atom_energies(J, c, channel, s, err);
  if (!st) score(s, &r, J->atom_e[channel], &out[0], &out[1], &out[2]);
  free(energy);
  free(forces);
  free(status);
  return st;
}

/* Stability and uniqueness (distinct valid SMILES / molecules) of the set. */
static void chemistry(const trainer *tr, const elign_molset *s, double *stability, double *validity,
                      double *uniqueness) {
  int64_t B = s->n_mol, N = s->n_atoms;
  int32_t *types = elign_malloc((size_t)(N > 0 ? N : 1) * sizeof *types, "judges:types");
  uint8_t *stable = elign_malloc((size_t)B, "judges:stable");
  int32_t *n_stable = elign_malloc((size_t)B * sizeof *n_stable, "judges:n_stable");
  int32_t *nr_bonds = elign_malloc((size_t)(N > 0 ? N : 1) * sizeof *nr_bonds, "judges:nr_bonds");
  int bad = 0;
  for (int64_t i = 0; i < N; i++) bad |= (types[i] = edm_model_type_index(&tr->model, s->Z[i])) < 0;
  int64_t n_stable_mols = 0;
  if (!bad) {
    grpo_chem_stability(stable, n_stable, nr_bonds, s->pos, types, s->offsets, B, tr->model.type_Z, tr->rule);
    for (int64_t b = 0; b < B; b++) n_stable_mols += stable[b];
  }
  int rule = strncmp(tr->model.dataset, "qm9", 3) == 0 ? ELIGN_RDKIT_RULE_QM9 : ELIGN_RDKIT_RULE_GEOM;
  elign_smiles_set *seen = elign_smiles_set_new();
  int64_t valid = 0, unique = 0;
  for (int64_t b = 0; b < B; b++) {
    elign_error e;
    elign_error_clear(&e);
    char *smi = NULL;
    int64_t a0 = s->offsets[b];
    if (elign_rdkit_smiles_dup(s->pos + 3 * a0, s->Z + a0, s->offsets[b + 1] - a0, rule, 1, &smi, &e) ==
            ELIGN_RDKIT_VALID && smi) {
      int added = 0;
      valid++;
      elign_smiles_set_insert(seen, smi, &added);
      unique += added;
    }
    free(smi);
  }
  elign_smiles_set_free(&seen);
  *stability = bad || B == 0 ? NAN : (double)n_stable_mols / (double)B;
  *validity = B ? (double)valid / (double)B : NAN;
  *uniqueness = B ? (double)unique / (double)B : NAN;
  free(types);
  free(stable);
  free(n_stable);
  free(nr_bonds);
}

/* The fixed set with the current weights: the same keys every round. */
static elign_status sample_set(const trainer *tr, sampler_output *out, elign_error *err) {
  const train_judges_config *jc = &tr->judges->jc;
  sampler_config sc = {.model = &tr->model, .T = tr->o->T, .seed = jc->seed, .iteration = 0,
                       .batch = jc->samples};
  return sampler_run(&sc, 0, jc->samples, NULL, out, err);
}

static void alarm_check(trainer *tr, train_judge_round *now, train_metrics *m) {
  struct train_judges *J = tr->judges;
  int fired = 0;
  if (J->n_rounds > J->jc.window) {
    const train_judge_round *then = &J->rounds[(J->n_rounds - 1 - J->jc.window) % JUDGE_HISTORY];
    char why[2048];
    fired = train_judges_alarm(&J->jc, then, now, why, sizeof why);
    if (fired) {
      elign_warn("REWARD-HACKING ALARM at iteration %lld: %s%s", (long long)now->iteration, why,
                 J->jc.stop ? "; stopping (train.judge_alarm_stop)" : "");
      if (J->jc.stop) tr->early_stop = 1;
    }
  }
  train_metric(m, "judge_alarm", fired);
}

elign_status train_judges_after_iteration(trainer *tr, train_metrics *m, elign_error *err) {
  struct train_judges *J = tr->judges;
  if (!J) return ELIGN_OK;
  double r = train_metric_get(m, "reward_mean");
  if (isfinite(r)) J->reward_sum += r, J->reward_n++;
  if (tr->iteration % J->jc.every != 0) return ELIGN_OK;
  sampler_output out;
  memset(&out, 0, sizeof out);
  elign_status st = sample_set(tr, &out, err);
  train_judge_round *now = &J->rounds[J->n_rounds % JUDGE_HISTORY];
  memset(now, 0, sizeof *now);
  now->iteration = tr->iteration;
  now->n_samples = J->jc.samples;
  now->reward = J->reward_n ? J->reward_sum / (double)J->reward_n : NAN;
  J->reward_sum = 0, J->reward_n = 0;
  double v[3];
  for (int i = 0; !st && i < J->jc.n; i++) {
    st = ask(J, J->own ? J->own : tr->client, i + 1, &out.mols, v, err);
    if (st) break;
    now->energy[i] = v[0], now->rms_force[i] = v[1], now->failed[i] = v[2];
    for (int k = 0; k < 3; k++) train_metric(m, J->names[i][k], v[k]);
  }
  if (!st && tr->client && !tr->o->dummy_reward) { /* the reward's oracle on the same set, for comparison */
    st = ask(J, tr->client, 0, &out.mols, v, err);
    for (int k = 0; !st && k < 3; k++) train_metric(m, J->names[J->jc.n][k], v[k]);
  }
  if (!st) {
    double validity;
    chemistry(tr, &out.mols, &now->stability, &validity, &now->uniqueness);
    J->n_rounds++;
    train_metric(m, "judge_round", J->n_rounds);
    train_metric(m, "judge_reward", now->reward);
    train_metric(m, "judge_stability", now->stability);
    train_metric(m, "judge_validity", validity);
    train_metric(m, "judge_uniqueness", now->uniqueness);
    alarm_check(tr, now, m);
  } else {
    elign_error_prefix(err, "judges at iteration %lld: ", (long long)tr->iteration);
  }
  sampler_output_free(&out);
  return st;
}
