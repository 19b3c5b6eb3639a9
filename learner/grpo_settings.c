/* grpo_settings.c — defaults, checks and the key → field table of grpo_settings. */
#include "learner/grpo_settings.h"

#include <stddef.h>
#include <string.h>

void grpo_settings_defaults(grpo_settings *s) {
  memset(s, 0, sizeof *s);
  s->model.time_step = 0; /* required */
  s->model.share_initial_noise = 0;
  s->model.skip_prefix = -1;

  grpo_reward_settings *r = &s->reward;
  r->force_clip_threshold = GRPO_UNSET;
  r->force_aggregation = GRPO_FORCE_RMS;
  r->force_weight = 1.0;
  r->energy_weight = 1.0;
  r->force_adv_weight = GRPO_UNSET;
  r->energy_adv_weight = GRPO_UNSET;
  r->valence_soft_temperature = 0.02;
  r->energy_transform_offset = 10000.0;
  r->energy_transform_scale = 1000.0;
  r->energy_transform_clip = GRPO_UNSET;
  r->oracle_failure = GRPO_FAILURE_MIN_MARGIN;
  r->oracle_failure_margin = 1.0;

  grpo_shaping_settings *sh = &r->shaping;
  sh->mode = GRPO_SHAPING_DELTA;
  sh->gamma = 1.0;
  sh->terminal_weight = 1.5;
  sh->scheduler.mode = GRPO_SCHEDULER_UNIFORM;
  sh->scheduler.skip_prefix = -1;
  sh->scheduler.uniform_stride = 1;
  sh->scheduler.include_terminal = 1;
  sh->scheduler.adaptive.coarse_stride = 10;
  sh->scheduler.adaptive.fine_stride = 2;
  sh->scheduler.adaptive.threshold_fraction = 0.25;
  sh->scheduler.adaptive.threshold_timestep = GRPO_UNSET;

  s->filters.penalty_scale = 0.5;

  s->train.clip_range = GRPO_UNSET; /* required */
  s->train.adv_clip_max = 5.0;
  s->train.clip_advantage_value = GRPO_UNSET;
  s->train.train_micro_batch_size = 0; /* required */
  s->train.gradient_accumulation_steps = 1;
  s->train.loss_mean_over_accumulation = 1;
}

/* ---- the key table ---------------------------------------------------------- */

typedef enum { K_BOOL, K_INT, K_OPT_INT, K_REAL, K_OPT_REAL, K_ENUM } key_kind;

typedef struct {
  const char *key;
  key_kind kind;
  size_t offset;
  const char *choices; /* K_ENUM: "name=value|..." (aliases share a value) */
} key_row;

#define F(field) offsetof(grpo_settings, field)
static const key_row KEYS[] = {
    {"model.time_step", K_INT, F(model.time_step), NULL},
    {"model.share_initial_noise", K_BOOL, F(model.share_initial_noise), NULL},
    {"model.skip_prefix", K_OPT_INT, F(model.skip_prefix), NULL},
    {"reward.force_clip_threshold", K_OPT_REAL, F(reward.force_clip_threshold), NULL},
    {"reward.force_aggregation", K_ENUM, F(reward.force_aggregation), "rms=0|max=1"},
    {"reward.use_energy", K_BOOL, F(reward.use_energy), NULL},
    {"reward.energy_only_if_stable", K_BOOL, F(reward.energy_only_if_stable), NULL},
    {"reward.force_only_if_stable", K_BOOL, F(reward.force_only_if_stable), NULL},
    {"reward.force_weight", K_REAL, F(reward.force_weight), NULL},
    {"reward.energy_weight", K_REAL, F(reward.energy_weight), NULL},
    {"reward.force_adv_weight", K_OPT_REAL, F(reward.force_adv_weight), NULL},
    {"reward.energy_adv_weight", K_OPT_REAL, F(reward.energy_adv_weight), NULL},
    {"reward.stability_weight", K_REAL, F(reward.stability_weight), NULL},
    {"reward.atom_stability_weight", K_REAL, F(reward.atom_stability_weight), NULL},
    {"reward.valence_underbond_weight", K_REAL, F(reward.valence_underbond_weight), NULL},
    {"reward.valence_overbond_weight", K_REAL, F(reward.valence_overbond_weight), NULL},
    {"reward.valence_underbond_soft_weight", K_REAL, F(reward.valence_underbond_soft_weight), NULL},
    {"reward.valence_overbond_soft_weight", K_REAL, F(reward.valence_overbond_soft_weight), NULL},
    {"reward.valence_soft_temperature", K_REAL, F(reward.valence_soft_temperature), NULL},
    {"reward.energy_transform_offset", K_REAL, F(reward.energy_transform_offset), NULL},
    {"reward.energy_transform_scale", K_REAL, F(reward.energy_transform_scale), NULL},
    {"reward.energy_transform_clip", K_OPT_REAL, F(reward.energy_transform_clip), NULL},
    {"reward.energy_normalize_by_atoms", K_BOOL, F(reward.energy_normalize_by_atoms), NULL},
    {"reward.energy_atom_refs", K_ENUM, F(reward.energy_atom_refs), "*=1"},
    {"reward.oracle_failure", K_ENUM, F(reward.oracle_failure), "min_margin=0|reference=1"},
    {"reward.oracle_failure_margin", K_REAL, F(reward.oracle_failure_margin), NULL},
    {"reward.composition_weight", K_REAL, F(reward.composition_weight), NULL},
    {"reward.composition_integral", K_REAL, F(reward.composition_integral), NULL},
    {"reward.composition_neutral", K_BOOL, F(reward.composition_neutral), NULL},
    {"reward.shaping.enabled", K_BOOL, F(reward.shaping.enabled), NULL},
    {"reward.shaping.mode", K_ENUM, F(reward.shaping.mode),
     "delta=0|pbrs_return_to_go=1|pbrs=1|return_to_go=1|paper=1"},
    {"reward.shaping.gamma", K_REAL, F(reward.shaping.gamma), NULL},
    {"reward.shaping.skip_prefix", K_INT, F(reward.shaping.skip_prefix), NULL},
    {"reward.shaping.only_energy_reshape", K_BOOL, F(reward.shaping.only_energy_reshape), NULL},
    {"reward.shaping.terminal_weight", K_REAL, F(reward.shaping.terminal_weight), NULL},
    {"reward.shaping.scheduler.mode", K_ENUM, F(reward.shaping.scheduler.mode), "uniform=0|adaptive=1"},
    {"reward.shaping.scheduler.skip_prefix", K_OPT_INT, F(reward.shaping.scheduler.skip_prefix), NULL},
    {"reward.shaping.scheduler.uniform_stride", K_INT, F(reward.shaping.scheduler.uniform_stride), NULL},
    {"reward.shaping.scheduler.include_terminal", K_BOOL, F(reward.shaping.scheduler.include_terminal), NULL},
    {"reward.shaping.scheduler.adaptive.coarse_stride", K_INT, F(reward.shaping.scheduler.adaptive.coarse_stride),
     NULL},
    {"reward.shaping.scheduler.adaptive.fine_stride", K_INT, F(reward.shaping.scheduler.adaptive.fine_stride), NULL},
    {"reward.shaping.scheduler.adaptive.threshold_fraction", K_REAL,
     F(reward.shaping.scheduler.adaptive.threshold_fraction), NULL},
    {"reward.shaping.scheduler.adaptive.threshold_timestep", K_OPT_REAL,
     F(reward.shaping.scheduler.adaptive.threshold_timestep), NULL},
    {"filters.enable_filtering", K_BOOL, F(filters.enable_filtering), NULL},
    {"filters.enable_penalty", K_BOOL, F(filters.enable_penalty), NULL},
    {"filters.penalty_scale", K_REAL, F(filters.penalty_scale), NULL},
    {"filters.invalid_penalty_scale", K_REAL, F(filters.invalid_penalty_scale), NULL},
    {"filters.duplicate_penalty_scale", K_REAL, F(filters.duplicate_penalty_scale), NULL},
    {"train.clip_range", K_REAL, F(train.clip_range), NULL},
    {"train.kl_penalty_weight", K_REAL, F(train.kl_penalty_weight), NULL},
    {"train.adv_clip_max", K_OPT_REAL, F(train.adv_clip_max), NULL},
    {"train.clip_advantage_value", K_OPT_REAL, F(train.clip_advantage_value), NULL},
    {"train.train_micro_batch_size", K_INT, F(train.train_micro_batch_size), NULL},
    {"train.gradient_accumulation_steps", K_INT, F(train.gradient_accumulation_steps), NULL},
    {"train.loss_mean_over_accumulation", K_BOOL, F(train.loss_mean_over_accumulation), NULL},
};
#undef F
enum { N_KEYS = (int)(sizeof KEYS / sizeof KEYS[0]) };

const char *grpo_settings_key(int i) { return i >= 0 && i < N_KEYS ? KEYS[i].key : NULL; }

static const key_row *find_key(const char *key, elign_error *err) {
  for (int i = 0; i < N_KEYS; i++)
    if (strcmp(KEYS[i].key, key) == 0) return &KEYS[i];
  ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "grpo settings: unknown key '%s'", key);
  return NULL;
}

static int *int_field(grpo_settings *s, const key_row *k) { return (int *)((char *)s + k->offset); }
static double *real_field(grpo_settings *s, const key_row *k) { return (double *)((char *)s + k->offset); }

elign_status grpo_settings_set_number(grpo_settings *s, const char *key, double value, elign_error *err) {
  const key_row *k = find_key(key, err);
  if (!k) return ELIGN_ERR_CONFIG;
  switch (k->kind) {
  case K_REAL:
  case K_OPT_REAL:
    if (!isfinite(value)) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: value must be finite", key);
    *real_field(s, k) = value;
    return ELIGN_OK;
  case K_BOOL:
    if (value != 0 && value != 1) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: expected true/false (1/0)", key);
    *int_field(s, k) = (int)value;
    return ELIGN_OK;
  case K_INT:
  case K_OPT_INT:
    if (!isfinite(value) || value != floor(value) || fabs(value) > 2147483647.0)
      return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: expected an integer, got %g", key, value);
    *int_field(s, k) = (int)value;
    return ELIGN_OK;
  case K_ENUM:
    break;
  }
  return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: expected one of the names (%s), got a number", key, k->choices);
}

elign_status grpo_settings_set_null(grpo_settings *s, const char *key, elign_error *err) {
  const key_row *k = find_key(key, err);
  if (!k) return ELIGN_ERR_CONFIG;
  if (k->kind == K_OPT_REAL) {
    *real_field(s, k) = GRPO_UNSET;
    return ELIGN_OK;
  }
  if (k->kind == K_OPT_INT) {
    *int_field(s, k) = -1;
    return ELIGN_OK;
  }
  if (strcmp(key, "reward.energy_atom_refs") == 0) {
    *int_field(s, k) = 0;
    return ELIGN_OK;
  }
  return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: may not be null", key);
}

elign_status grpo_settings_set_enum(grpo_settings *s, const char *key, const char *value, elign_error *err) {
  const key_row *k = find_key(key, err);
  if (!k) return ELIGN_ERR_CONFIG;
  if (k->kind != K_ENUM) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: expected a number or bool, got '%s'", key, value);
  /* choices: "name=value|name=value"; "*" matches any non-empty name. */
  const char *p = k->choices;
  while (*p) {
    const char *eq = strchr(p, '=');
    size_t len = (size_t)(eq - p);
    int v = (int)(eq[1] - '0');
    if ((len == 1 && p[0] == '*' && value[0]) || (strlen(value) == len && strncmp(p, value, len) == 0)) {
      *int_field(s, k) = v;
      return ELIGN_OK;
    }
    p = eq + 2;
    if (*p == '|') p++;
  }
  return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: unknown value '%s' (choices: %s)", key, value, k->choices);
}

/* ---- checks ----------------------------------------------------------------- */

elign_status grpo_settings_validate(const grpo_settings *s, elign_error *err) {
  const grpo_reward_settings *r = &s->reward;
  const grpo_scheduler_settings *sc = &r->shaping.scheduler;
  if (s->model.time_step < 1) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "model.time_step must be >= 1 (required)");
  if (s->model.skip_prefix < -1) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "model.skip_prefix must be >= 0 or null");
  if (grpo_is_set(r->force_clip_threshold) && !(r->force_clip_threshold > 0))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.force_clip_threshold must be > 0 or null");
  if (!(r->valence_soft_temperature > 0))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.valence_soft_temperature must be > 0");
  if (r->energy_transform_scale == 0 || !isfinite(r->energy_transform_scale))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.energy_transform_scale must be finite and non-zero");
  if (grpo_is_set(r->energy_transform_clip) && !(r->energy_transform_clip > 0))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.energy_transform_clip must be > 0 or null");
  if (!(r->oracle_failure_margin >= 0))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.oracle_failure_margin must be >= 0");
  if (r->shaping.skip_prefix < 0) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.shaping.skip_prefix must be >= 0");
  if (!(r->shaping.terminal_weight >= 0))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.shaping.terminal_weight must be >= 0");
  if (!(r->shaping.gamma >= 0 && r->shaping.gamma <= 1))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.shaping.gamma must be in [0, 1]");
  if (sc->skip_prefix < -1)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.shaping.scheduler.skip_prefix must be >= 0 or null");
  if (sc->uniform_stride < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.shaping.scheduler.uniform_stride must be >= 1");
  if (sc->adaptive.coarse_stride < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.shaping.scheduler.adaptive.coarse_stride must be >= 1");
  if (sc->adaptive.fine_stride < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.shaping.scheduler.adaptive.fine_stride must be >= 1");
  if (!(s->filters.penalty_scale >= 0) || !(s->filters.invalid_penalty_scale >= 0) ||
      !(s->filters.duplicate_penalty_scale >= 0))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG,
                      "filters.penalty_scale, invalid_penalty_scale and duplicate_penalty_scale must be >= 0");
  if (!(s->train.clip_range >= 0)) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "train.clip_range must be >= 0 (required)");
  if (!(s->train.kl_penalty_weight >= 0))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "train.kl_penalty_weight must be >= 0");
  if (s->train.train_micro_batch_size < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "train.train_micro_batch_size must be >= 1 (required)");
  if (s->train.gradient_accumulation_steps < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "train.gradient_accumulation_steps must be >= 1");
  return ELIGN_OK;
}

/* ---- resolved values ------------------------------------------------------- */

int grpo_scheduler_skip_prefix(const grpo_settings *s) {
  int v = s->reward.shaping.scheduler.skip_prefix;
  if (v < 0) v = s->reward.shaping.skip_prefix;
  return v < 0 ? 0 : v;
}

int grpo_rollout_skip_prefix(const grpo_settings *s) {
  if (s->model.skip_prefix >= 0) return s->model.skip_prefix;
  return grpo_scheduler_skip_prefix(s);
}

double grpo_force_adv_weight(const grpo_settings *s) {
  return grpo_is_set(s->reward.force_adv_weight) ? s->reward.force_adv_weight : s->reward.force_weight;
}

double grpo_energy_adv_weight(const grpo_settings *s) {
  return grpo_is_set(s->reward.energy_adv_weight) ? s->reward.energy_adv_weight : s->reward.energy_weight;
}

double grpo_actor_advantage_clip(const grpo_settings *s) {
  double c = s->train.adv_clip_max;
  return (grpo_is_set(c) && c > 0) ? c : 5.0;
}

/* The public trainer clamps with clip_advantage_value, else adv_clip_max, and
 * a configured 0 there zeroes every advantage; we read ≤ 0 as 5 on both sides
 * (docs/fed-grpo.md, deviation D4). */
double grpo_advantage_clip(const grpo_settings *s) {
  double c = s->train.clip_advantage_value;
  if (!grpo_is_set(c)) c = s->train.adv_clip_max;
  return (grpo_is_set(c) && c > 0) ? c : 5.0;
}

double grpo_reward_terminal_weight(const grpo_settings *s) {
  if (!s->reward.shaping.enabled) return 1.0;
  double tw = s->reward.shaping.terminal_weight;
  return tw > 0 ? tw : 0.0;
}
