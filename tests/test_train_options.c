/* test_train_options.c — the config → train_options (and grpo_settings)
 * loader of `elign train`: every shipped FED-GRPO config loads, public keys
 * land in the right grpo_settings fields (the QM9 launch-script preset of
 * ALGORITHMS.md App. B), resolved fall-backs and derived values are right, and
 * the unsupported settings are refused with their key named. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/base/config.h"
#include "learner/ppo.h"
#include "learner/train.h"
#include "testutil.h"

static const char *SRC = ELIGN_SOURCE_DIR;

static int load(const char *file, const char *const *sets, int n_sets, train_options *o, elign_error *err) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", SRC, file);
  elign_config *cfg = NULL;
  elign_status st = elign_config_load_for("train", path, sets, n_sets, &cfg, err);
  if (!st) st = train_options_from_config(cfg, o, err);
  elign_config_free(&cfg);
  return st;
}

static void test_shipped_configs(void) {
  const char *files[] = {"configs/demo.yaml", "configs/qm9.yaml", "configs/geom_drugs.yaml", "configs/qm9like_ani.yaml"};
  for (int i = 0; i < 4; i++) {
    train_options o;
    elign_error err;
    elign_error_clear(&err);
    int st = load(files[i], NULL, 0, &o, &err);
    if (st) printf("%s: %s\n", files[i], err.msg);
    CHECK(st == ELIGN_OK);
  }
}

/* configs/qm9.yaml = fed_grpo_qm9_energy_force_group4x6 + launch script (App. B). */
static void test_qm9_preset(void) {
  train_options o;
  elign_error err;
  elign_error_clear(&err);
  CHECK(load("configs/qm9.yaml", NULL, 0, &o, &err) == ELIGN_OK);
  const grpo_settings *s = &o.s;
  CHECK(o.T == 1000 && o.P == 4 && o.K == 6 && o.iterations == 200);
  CHECK(o.groups_per_block == 1); /* micro_batch_size 6 / K */
  CHECK(s->model.share_initial_noise == 1 && s->model.skip_prefix == -1);
  CHECK(grpo_rollout_skip_prefix(s) == 700 && grpo_trained_start(s, 1000) == 700); /* from the scheduler key */
  CHECK(s->reward.use_energy && s->reward.energy_only_if_stable && !s->reward.force_only_if_stable);
  CHECK_CLOSE(s->reward.force_clip_threshold, 2.0, 0, 0);
  CHECK_CLOSE(s->reward.energy_transform_clip, 5.0, 0, 0);
  CHECK_CLOSE(s->reward.energy_transform_offset, 10000.0, 0, 0);
  CHECK_CLOSE(s->reward.energy_transform_scale, 1000.0, 0, 0);
  CHECK_CLOSE(s->reward.stability_weight, 2.0, 0, 0);
  CHECK_CLOSE(grpo_energy_adv_weight(s), 0.05, 0, 0);
  CHECK_CLOSE(grpo_force_adv_weight(s), 1.0, 0, 0);
  CHECK(!s->reward.shaping.enabled && s->reward.shaping.scheduler.mode == GRPO_SCHEDULER_ADAPTIVE);
  CHECK(s->filters.enable_filtering && !s->filters.enable_penalty);
  CHECK_CLOSE(s->filters.invalid_penalty_scale, 2.0, 0, 0);
  CHECK_CLOSE(s->train.clip_range, 0.002, 0, 0);
  CHECK_CLOSE(s->train.kl_penalty_weight, 0.08, 0, 0);
  CHECK(s->train.train_micro_batch_size == 8 && s->train.gradient_accumulation_steps == 1);
  CHECK_CLOSE(grpo_advantage_clip(s), 5.0, 0, 0);
  CHECK(s->reward.oracle_failure == GRPO_FAILURE_MIN_MARGIN && s->train.loss_mean_over_accumulation == 1);
  CHECK_CLOSE(o.lr, 4e-6, 0, 0);
  CHECK(o.hp.amsgrad == 0);
  CHECK_CLOSE(o.hp.weight_decay, 1e-4, 0, 0);
  CHECK(o.sched.kind == LR_SCHEDULE_COSINE && o.sched.warmup_steps == 60 && o.sched.total_steps == 1500);
  CHECK_CLOSE(o.sched.min_lr_ratio, 0.3, 0, 0);
  CHECK(o.max_staleness == 0 && strcmp(o.oracle_backend, "ani") == 0);
}

/* Fall-backs: scheduler.total_steps null → dataloader.epoches; micro_batch_size
 * null → all groups in one block; the [Elign-C] keys reach grpo_settings. */
static void test_defaults_and_keys(void) {
  const char *sets[] = {"train.scheduler.total_steps=null", "dataloader.micro_batch_size=null",
                        "reward.oracle_failure=reference", "reward.oracle_failure_margin=0.25",
                        "train.loss_mean_over_accumulation=false", "train.clip_advantage_value=3"};
  train_options o;
  elign_error err;
  elign_error_clear(&err);
  CHECK(load("configs/qm9.yaml", sets, 6, &o, &err) == ELIGN_OK);
  CHECK(o.sched.total_steps == 200 && o.groups_per_block == 4);
  CHECK(o.s.reward.oracle_failure == GRPO_FAILURE_REFERENCE);
  CHECK_CLOSE(o.s.reward.oracle_failure_margin, 0.25, 0, 0);
  CHECK(o.s.train.loss_mean_over_accumulation == 0);
  CHECK_CLOSE(grpo_advantage_clip(&o.s), 3.0, 0, 0);
  CHECK_CLOSE(grpo_actor_advantage_clip(&o.s), 5.0, 0, 0);
}

static void expect_refused(const char *set, const char *fragment) {
  const char *sets[] = {set};
  train_options o;
  elign_error err;
  elign_error_clear(&err);
  int st = load("configs/qm9.yaml", sets, 1, &o, &err);
  CHECK(st != ELIGN_OK);
  if (!strstr(err.msg, fragment)) printf("'%s': message '%s' lacks '%s'\n", set, err.msg, fragment);
  CHECK(strstr(err.msg, fragment) != NULL);
}

static void test_refused(void) {
  expect_refused("dataloader.micro_batch_size=8", "not a multiple of dataloader.each_prompt_sample"); /* divides B = 24, splits a group */
  expect_refused("model.checkpoint=null", "model.checkpoint");
  expect_refused("dataloader.nodes_dist_focus_min=12", "nodes_dist_focus");
  expect_refused("mpi.gradient_average=false", "mpi.gradient_average");
  expect_refused("reward.energy_atom_refs=omol", "reward.energy_atom_refs");
  expect_refused("oracle.backend=nope", "oracle.backend");
  expect_refused("reward.composition_weight=2", "reward.composition_target is null");
  expect_refused("reward.composition_weight=-1", "reward.composition_weight");
}

/* the element-mix targets: by Z − 1, normalised; a negative fraction names its element */
static void test_composition_target(void) {
  const char *sets[] = {"reward.composition_weight=2", "reward.composition_target=[5, 0, 0, 0, 0, 3, 1, 1]"};
  train_options o;
  elign_error err;
  elign_error_clear(&err);
  CHECK(load("configs/qm9.yaml", sets, 2, &o, &err) == ELIGN_OK);
  CHECK_CLOSE(o.composition_target[1], 0.5, 1e-15, 0);
  CHECK_CLOSE(o.composition_target[6], 0.3, 1e-15, 0);
  CHECK_CLOSE(o.composition_target[8], 0.1, 1e-15, 0);
  CHECK(o.composition_target[9] == 0 && o.s.reward.composition_weight == 2);
  const char *bad[] = {"reward.composition_weight=2", "reward.composition_target=[5, 0, 0, 0, 0, -3]"};
  elign_error_clear(&err);
  CHECK(load("configs/qm9.yaml", bad, 2, &o, &err) != ELIGN_OK && strstr(err.msg, "entry 5 (C)"));
  const char *off[] = {"reward.composition_target=[5, 0, 0, 0, 0, 3]"}; /* weight 0: targets unused */
  elign_error_clear(&err);
  CHECK(load("configs/qm9.yaml", off, 1, &o, &err) == ELIGN_OK && o.composition_target[1] == 0);
}

int main(void) {
  test_shipped_configs();
  test_qm9_preset();
  test_defaults_and_keys();
  test_refused();
  test_composition_target();
  /* force alignment (§4.13): enabled needs weight > 0; null follows the weight; accepted with shaping on or off
   * (whether it acts is the trainer's decision) */
  {
    const char *sets[] = {"train.force_alignment_enabled=true", "reward.shaping.enabled=true",
                          "train.force_alignment_min_force=0.25"};
    train_options o;
    elign_error err;
    elign_error_clear(&err);
    CHECK(load("configs/qm9.yaml", sets, 1, &o, &err) == ELIGN_OK); /* shaping off: inert, as in group4x6 */
    CHECK(o.force_align == 1 && o.fa.weight == 0.5 && o.fa.min_force == 1e-4 && o.fa.min_delta == 1e-4);
    CHECK(load("configs/qm9.yaml", sets, 3, &o, &err) == ELIGN_OK);
    CHECK(o.force_align == 1 && o.fa.min_force == 0.25);
    CHECK(load("configs/qm9.yaml", NULL, 0, &o, &err) == ELIGN_OK && o.force_align == 0); /* enabled: false */
    const char *zero[] = {"train.force_alignment_enabled=true", "train.force_alignment_weight=0"};
    CHECK(load("configs/qm9.yaml", zero, 2, &o, &err) == ELIGN_OK && o.force_align == 0);
    const char *byw[] = {"train.force_alignment_enabled=null", "train.force_alignment_weight=0.3"};
    CHECK(load("configs/qm9.yaml", byw, 2, &o, &err) == ELIGN_OK && o.force_align == 1 && o.fa.weight == 0.3);
  }
  return test_main_result("test_train_options");
}
