/* test_judges.c — the reward-hacking alarm rule and the zero-signal watch
 * (learner/judges.h, learner/signal_watch.h), case by case. */
#include <math.h>
#include <string.h>

#include "learner/judges.h"
#include "learner/signal_watch.h"
#include "testutil.h"

static train_judges_config config(void) {
  train_judges_config jc;
  memset(&jc, 0, sizeof jc);
  jc.n = 2;
  strcpy(jc.judge[0].oracle.spec, "ani-1ccx");
  strcpy(jc.judge[1].oracle.spec, "gfn2-xtb");
  jc.window = 3, jc.reward_min_rise = 0.0, jc.energy_tol = 0.05, jc.force_tol = 0.25, jc.failure_rise = 0.1;
  jc.stability_drop = 0.1, jc.uniqueness_drop = 0.1;
  return jc;
}

static train_judge_round round_at(int64_t it, double reward) {
  train_judge_round r = {.iteration = it, .reward = reward, .stability = 0.8, .uniqueness = 0.9};
  for (int i = 0; i < TRAIN_MAX_JUDGES; i++) r.energy[i] = -1000.0, r.rms_force[i] = 0.5, r.failed[i] = 0.0;
  return r;
}

static void test_alarm(void) {
  train_judges_config jc = config();
  char why[1024];
  train_judge_round a = round_at(10, 1.0), b = round_at(40, 1.5);
  CHECK(!train_judges_alarm(&jc, &a, &b, why, sizeof why)); /* reward up, judges unchanged */
  CHECK(why[0] == 0);
  b.energy[1] = -1000.0 + 0.06; /* gfn2-xtb worse by 0.06 eV/atom */
  CHECK(train_judges_alarm(&jc, &a, &b, why, sizeof why));
  CHECK(strstr(why, "gfn2-xtb's energy rose") && !strstr(why, "ani-1ccx") && strstr(why, "iterations 10 -> 40"));
  b.energy[1] = -1000.0 + 0.04; /* within tolerance */
  CHECK(!train_judges_alarm(&jc, &a, &b, why, sizeof why));
  b.rms_force[0] = 0.5 * 1.3; /* 30 % > 25 % */
  CHECK(train_judges_alarm(&jc, &a, &b, why, sizeof why) && strstr(why, "ani-1ccx's RMS force rose"));
  b.rms_force[0] = 0.5 * 1.2;
  CHECK(!train_judges_alarm(&jc, &a, &b, why, sizeof why));
  b.failed[0] = 0.2; /* a judge that cannot evaluate the set any more */
  CHECK(train_judges_alarm(&jc, &a, &b, why, sizeof why) && strstr(why, "ani-1ccx failed on"));
  b.failed[0] = 0.0;
  /* the reward did not improve: a worse judge alone is no reward hacking */
  b.energy[0] = -900.0;
  b.reward = 0.9;
  CHECK(!train_judges_alarm(&jc, &a, &b, why, sizeof why));
  jc.reward_min_rise = 0.6; /* a rise must exceed the minimum */
  b.reward = 1.5;
  CHECK(!train_judges_alarm(&jc, &a, &b, why, sizeof why));
  b.reward = 1.7;
  CHECK(train_judges_alarm(&jc, &a, &b, why, sizeof why));
  /* stability or uniqueness falling fires whatever the reward did */
  train_judge_round c = round_at(40, 0.5);
  c.stability = 0.65;
  CHECK(train_judges_alarm(&jc, &a, &c, why, sizeof why) && strstr(why, "molecule stability fell"));
  c.stability = 0.75, c.uniqueness = 0.7;
  CHECK(train_judges_alarm(&jc, &a, &c, why, sizeof why) && strstr(why, "uniqueness fell") && !strstr(why, "stability"));
  /* a fraction's change must beat its binomial noise: 0.1875 -> 0.0625 over 16 molecules (2 of them) is
   * within 2 standard errors (0.23), over 1000 molecules it is not */
  train_judge_round f = round_at(10, 0.5), g = round_at(40, 0.5);
  f.uniqueness = 0.1875, g.uniqueness = 0.0625, f.n_samples = g.n_samples = 16;
  CHECK(!train_judges_alarm(&jc, &f, &g, why, sizeof why));
  f.n_samples = g.n_samples = 1000;
  CHECK(train_judges_alarm(&jc, &f, &g, why, sizeof why) && strstr(why, "uniqueness fell"));
  f.n_samples = g.n_samples = 16;
  f.uniqueness = 0.9, g.uniqueness = 0.3; /* a collapse is significant even over 16 */
  CHECK(train_judges_alarm(&jc, &f, &g, why, sizeof why));
  /* unmeasured numbers (NAN) never fire */
  train_judge_round d = round_at(40, 2.0);
  d.energy[0] = NAN, d.rms_force[0] = NAN, d.stability = NAN, d.uniqueness = NAN;
  CHECK(!train_judges_alarm(&jc, &a, &d, why, sizeof why));
  train_judge_round e = round_at(10, NAN);
  d.energy[0] = 0;
  CHECK(!train_judges_alarm(&jc, &e, &d, why, sizeof why));
}

static void test_signal_watch(void) {
  grpo_signal_watch w = {.threshold = 0.5, .iterations = 3};
  const double f[] = {0.6, 0.7, 0.5, 0.9, 1.0, 0.2, 0.5, 0.5, 0.5, NAN};
  const int want[] = {0, 0, 1, 0, 0, 0, 0, 0, 1, 0}; /* once per run of 3 high iterations */
  for (int i = 0; i < 10; i++) CHECK(grpo_signal_watch_update(&w, f[i]) == want[i]);
  CHECK(w.run == 0);
}

int main(void) {
  test_alarm();
  test_signal_watch();
  return test_main_result("test_judges");
}
