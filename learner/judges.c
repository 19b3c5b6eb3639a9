/* judges.c — the train.judge* keys, the judges' oracles behind one evaluate
 * function (oracle channels), and the alarm rule (judges.h). The trainer's
 * side (sampling the fixed set, the rounds) is train_judges.c. */
#include "learner/judges.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/base/log.h"

/* ---- config ------------------------------------------------------------------------- */

/* The oracle layer's names (elign_oracle_spec: "ani-1ccx", "gfn2-xtb", "B:ARG"), plus a
 * metric label. */
static elign_status parse_judge(const char *text, train_judge_spec *j, elign_error *err) {
  memset(j, 0, sizeof *j);
  elign_status st = elign_oracle_spec_parse(text, "train.judges", &j->oracle, err);
  if (st) return st;
  size_t k = 0;
  for (const char *p = text; *p && k + 1 < sizeof j->label; p++)
    j->label[k++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
  j->label[k] = 0;
  return ELIGN_OK;
}

static elign_status parse_judge_list(const char *list, train_judges_config *jc, elign_error *err) {
  char buf[1024];
  if (strlen(list) >= sizeof buf) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "train.judges: list too long");
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    if (jc->n == TRAIN_MAX_JUDGES)
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "train.judges: more than %d judges", TRAIN_MAX_JUDGES);
    elign_status st = parse_judge(tok, &jc->judge[jc->n], err);
    if (st) return st;
    for (int i = 0; i < jc->n; i++)
      if (strcmp(jc->judge[i].label, jc->judge[jc->n].label) == 0)
        return ELIGN_FAIL(err, ELIGN_ERR_ARG, "train.judges: '%s' listed twice", tok);
    jc->n++;
  }
  return ELIGN_OK;
}

elign_status train_judges_config_read(const elign_config *cfg, train_judges_config *jc, elign_error *err) {
  memset(jc, 0, sizeof *jc);
  jc->every = elign_config_get_int(cfg, "train.judge_every");
  jc->samples = (int)elign_config_get_int(cfg, "train.judge_samples");
  jc->seed = (uint64_t)elign_config_get_int(cfg, "train.judge_seed");
  jc->window = (int)elign_config_get_int(cfg, "train.judge_window");
  jc->reward_min_rise = elign_config_get_double(cfg, "train.judge_reward_min_rise");
  jc->energy_tol = elign_config_get_double(cfg, "train.judge_energy_tolerance");
  jc->force_tol = elign_config_get_double(cfg, "train.judge_force_tolerance");
  jc->failure_rise = elign_config_get_double(cfg, "train.judge_failure_rise");
  jc->stability_drop = elign_config_get_double(cfg, "train.judge_stability_drop");
  jc->uniqueness_drop = elign_config_get_double(cfg, "train.judge_uniqueness_drop");
  jc->stop = elign_config_get_bool(cfg, "train.judge_alarm_stop");
  if (elign_config_is_null(cfg, "train.judges")) return ELIGN_OK;
  return parse_judge_list(elign_config_get_string(cfg, "train.judges"), jc, err);
}

/* ---- the oracles -------------------------------------------------------------------- */

elign_status train_oracle_set_create(train_oracle_set *set, elign_oracle *primary, const train_judges_config *jc,
                                     const elign_oracle_options *base, elign_error *err) {
  memset(set, 0, sizeof *set);
  set->primary = primary;
  for (int i = 0; i < jc->n; i++) {
    const train_judge_spec *j = &jc->judge[i];
    elign_oracle_options opt = elign_oracle_spec_options(&j->oracle, base);
    opt.min_distance = 0; /* the judge's own default, not the reward's setting */
    elign_status st = elign_oracle_create(j->oracle.backend, &opt, &set->judge[i], err);
    if (st) {
      elign_error_prefix(err, "train.judges '%s': ", j->oracle.spec);
      train_oracle_set_free(set);
      return st;
    }
    set->n = i + 1;
  }
  return ELIGN_OK;
}

void train_oracle_set_free(train_oracle_set *set) {
  for (int i = 0; i < set->n; i++) elign_oracle_destroy(&set->judge[i]);
  set->n = 0;
}

elign_status train_oracle_set_evaluate(void *ctx, const elign_oracle_batch *batch, elign_oracle_result *result,
                                       elign_error *err) {
  train_oracle_set *set = ctx;
  int c = batch->channel;
  elign_oracle *o = c == 0 ? set->primary : c >= 1 && c <= set->n ? set->judge[c - 1] : NULL;
  if (!o)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle channel %d: %s", c,
                      c == 0 ? "no reward oracle (reward.type dummy)" : "no such judge (train.judges)");
  return elign_oracle_evaluate(o, batch, result, err);
}

/* ---- the alarm ---------------------------------------------------------------------- */

static void add_cause(char *why, int len, int *n, const char *fmt, double a, double b, double c, const char *name) {
  size_t used = strlen(why);
  if (used + 2 >= (size_t)len) return;
  char part[256];
  snprintf(part, sizeof part, fmt, name, a, b, c);
  snprintf(why + used, (size_t)len - used, "%s%s", (*n)++ ? "; " : "", part);
}

/* A fraction p1 → p2 over n molecules moved by more than `tol` and by more
 * than twice its binomial standard error (n <= 0: the tolerance alone). */
static int fraction_moved(double p1, double p2, double tol, int n) {
  double d = p2 - p1;
  if (!isfinite(d) || !(d > tol)) return 0;
  if (n <= 0) return 1;
  double se = sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n);
  return d > 2 * se;
}

int train_judges_alarm(const train_judges_config *jc, const train_judge_round *then, const train_judge_round *now,
                       char *why, int len) {
  int n = 0;
  why[0] = 0;
  double rise = now->reward - then->reward;
  if (isfinite(rise) && rise > jc->reward_min_rise) {
    for (int i = 0; i < jc->n; i++) {
      const char *name = jc->judge[i].oracle.spec;
      double dE = now->energy[i] - then->energy[i];
      if (isfinite(dE) && dE > jc->energy_tol)
        add_cause(why, len, &n, "reward up while judge %s's energy rose %.4g eV/atom (%.6g -> %.6g)", dE,
                  then->energy[i], now->energy[i], name);
      if (isfinite(now->rms_force[i]) && isfinite(then->rms_force[i]) &&
          now->rms_force[i] > then->rms_force[i] * (1 + jc->force_tol))
        add_cause(why, len, &n, "reward up while judge %s's RMS force rose %.3gx (%.4g -> %.4g eV/A)",
                  now->rms_force[i] / then->rms_force[i], then->rms_force[i], now->rms_force[i], name);
      double dF = now->failed[i] - then->failed[i];
      if (fraction_moved(then->failed[i], now->failed[i], jc->failure_rise, now->n_samples))
        add_cause(why, len, &n, "reward up while judge %s failed on %.3g more of the set (%.3g -> %.3g)", dF,
                  then->failed[i], now->failed[i], name);
    }
  }
  double ds = then->stability - now->stability, du = then->uniqueness - now->uniqueness;
  if (fraction_moved(now->stability, then->stability, jc->stability_drop, now->n_samples))
    add_cause(why, len, &n, "%smolecule stability fell %.3g (%.3g -> %.3g)", ds, then->stability, now->stability, "");
  if (fraction_moved(now->uniqueness, then->uniqueness, jc->uniqueness_drop, now->n_samples))
    add_cause(why, len, &n, "%suniqueness fell %.3g (%.3g -> %.3g)", du, then->uniqueness, now->uniqueness, "");
  size_t used = strlen(why);
  if (n && used + 1 < (size_t)len)
    snprintf(why + used, (size_t)len - used, " [reward %.6g -> %.6g, iterations %lld -> %lld]", then->reward,
             now->reward, (long long)then->iteration, (long long)now->iteration);
  return n > 0;
}
