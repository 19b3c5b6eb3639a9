/* grpo_settings.h — every setting the FED-GRPO numerics read, in one plain
 * struct (ALGORITHMS.md §4.14).
 *
 * Field paths mirror the public Elign config keys: `s.reward.force_clip_threshold`
 * is `reward.force_clip_threshold`, `s.reward.shaping.scheduler.adaptive.fine_stride`
 * is `reward.shaping.scheduler.adaptive.fine_stride`, and so on, so a config
 * loader fills it key by key (grpo_settings_set_* below take the dotted name).
 * Keys marked [Elign-C] are ours (the deliberate deviations of docs/fed-grpo.md).
 *
 * Conventions: an optional real that may be null in the config is NAN when
 * null (GRPO_UNSET; test with grpo_is_set); an optional int is −1 when null.
 * grpo_settings_defaults() gives the public code's defaults for absent keys.
 */
#ifndef ELIGN_GRPO_SETTINGS_H
#define ELIGN_GRPO_SETTINGS_H

#include <math.h>

#include "common/base/error.h"

#define GRPO_UNSET NAN
static inline int grpo_is_set(double v) { return !isnan(v); }

typedef enum { GRPO_FORCE_RMS = 0, GRPO_FORCE_MAX = 1 } grpo_force_aggregation;
typedef enum { GRPO_SHAPING_DELTA = 0, GRPO_SHAPING_PBRS_RETURN_TO_GO = 1 } grpo_shaping_mode;
typedef enum { GRPO_SCHEDULER_UNIFORM = 0, GRPO_SCHEDULER_ADAPTIVE = 1 } grpo_scheduler_mode;
/* What a molecule the oracle could not evaluate gets (§4.5, docs/fed-grpo.md). */
typedef enum {
  GRPO_FAILURE_MIN_MARGIN = 0, /* worst observed value of the batch (same frame) minus a margin */
  GRPO_FAILURE_REFERENCE = 1   /* public code: forces (5,0,0) eV/Å on every atom, energy 0 eV */
} grpo_failure_mode;

typedef struct {
  int time_step;           /* model.time_step: T, reverse steps per rollout */
  int share_initial_noise; /* model.share_initial_noise */
  int skip_prefix;         /* model.skip_prefix: shared prefix p; −1 = null */
} grpo_model_settings;

typedef struct {
  int coarse_stride;         /* ...adaptive.coarse_stride (10) */
  int fine_stride;           /* ...adaptive.fine_stride (2) */
  double threshold_fraction; /* ...adaptive.threshold_fraction (0.25) */
  double threshold_timestep; /* ...adaptive.threshold_timestep; NAN = null */
} grpo_adaptive_settings;

typedef struct {
  grpo_scheduler_mode mode; /* reward.shaping.scheduler.mode (uniform) */
  int skip_prefix;          /* ...scheduler.skip_prefix; −1 = null (→ shaping.skip_prefix) */
  int uniform_stride;       /* ...scheduler.uniform_stride (1) */
  int include_terminal;     /* ...scheduler.include_terminal (true) */
  grpo_adaptive_settings adaptive;
} grpo_scheduler_settings;

typedef struct {
  int enabled;             /* reward.shaping.enabled (false) */
  grpo_shaping_mode mode;  /* reward.shaping.mode (delta) */
  double gamma;            /* reward.shaping.gamma (1.0) */
  int skip_prefix;         /* reward.shaping.skip_prefix (0) */
  int only_energy_reshape; /* reward.shaping.only_energy_reshape (false) */
  double terminal_weight;  /* reward.shaping.terminal_weight (1.5) */
  grpo_scheduler_settings scheduler;
} grpo_shaping_settings;

typedef struct {
  double force_clip_threshold;           /* eV/Å; NAN = null (no clip) */
  grpo_force_aggregation force_aggregation; /* rms */
  int use_energy;                        /* false */
  int energy_only_if_stable;             /* false */
  int force_only_if_stable;              /* false */
  double force_weight, energy_weight;    /* 1, 1: the logged scalar only */
  double force_adv_weight;               /* NAN = force_weight */
  double energy_adv_weight;              /* NAN = energy_weight */
  double stability_weight;               /* 0 */
  double atom_stability_weight;          /* 0 */
  double valence_underbond_weight;       /* 0 */
  double valence_overbond_weight;        /* 0 */
  double valence_underbond_soft_weight;  /* 0 */
  double valence_overbond_soft_weight;   /* 0 */
  double valence_soft_temperature;       /* Å, 0.02 (> 0) */
  double energy_transform_offset;        /* eV, 10000 */
  double energy_transform_scale;         /* eV, 1000 (≠ 0) */
  double energy_transform_clip;          /* NAN = null */
  int energy_normalize_by_atoms;         /* false */
  int energy_atom_refs;                  /* 1: per-element references are subtracted (key holds their name) */
  grpo_failure_mode oracle_failure;      /* [Elign-C] reward.oracle_failure (min_margin) */
  double oracle_failure_margin;          /* [Elign-C] reward.oracle_failure_margin (1.0) */
  double composition_weight;             /* [Elign-C] reward.composition_weight (0: off; targets in train_options) */
  double composition_integral;           /* [Elign-C] reward.composition_integral (0: proportional term only) */
  int composition_neutral;               /* [Elign-C] reward.composition_neutral (D10; false) */
  grpo_shaping_settings shaping;
} grpo_reward_settings;

typedef struct {
  int enable_filtering;           /* filters.enable_filtering (false) */
  int enable_penalty;             /* filters.enable_penalty (false) */
  double penalty_scale;           /* filters.penalty_scale (0.5) */
  double invalid_penalty_scale;   /* filters.invalid_penalty_scale (0) */
  double duplicate_penalty_scale; /* filters.duplicate_penalty_scale (0) */
} grpo_filter_settings;

typedef struct {
  double clip_range;            /* train.clip_range: PPO ε (required) */
  double kl_penalty_weight;     /* train.kl_penalty_weight: β (0) */
  double adv_clip_max;          /* train.adv_clip_max (5; ≤ 0 means 5) */
  double clip_advantage_value;  /* train.clip_advantage_value: NAN = adv_clip_max */
  int train_micro_batch_size;   /* train.train_micro_batch_size (required) */
  int gradient_accumulation_steps; /* train.gradient_accumulation_steps (1) */
  int loss_mean_over_accumulation; /* [Elign-C] train.loss_mean_over_accumulation (true):
                                      each optimizer step's loss is the mean over the
                                      molecules it covers; false = the public code's
                                      per-micro-batch mean / gradient_accumulation_steps */
} grpo_train_settings;

typedef struct {
  grpo_model_settings model;
  grpo_reward_settings reward;
  grpo_filter_settings filters;
  grpo_train_settings train;
} grpo_settings;

/* The public code's defaults for every absent key; required keys
 * (model.time_step, train.clip_range, train.train_micro_batch_size) get
 * placeholders that grpo_settings_validate rejects until they are set. */
void grpo_settings_defaults(grpo_settings *s);

/* Range checks, each error naming the key (ELIGN_ERR_CONFIG). */
elign_status grpo_settings_validate(const grpo_settings *s, elign_error *err);

/* Set one field by its dotted key. set_number serves bool (0/1), int and
 * real fields; set_null serves the nullable ones; set_enum takes the names
 * the config accepts (aliases included, e.g. "pbrs" for pbrs_return_to_go;
 * for energy_atom_refs any name turns references on). Unknown keys, a
 * non-integral value for an int field, or null for a non-nullable field fail
 * with ELIGN_ERR_CONFIG naming the key. */
elign_status grpo_settings_set_number(grpo_settings *s, const char *key, double value, elign_error *err);
elign_status grpo_settings_set_null(grpo_settings *s, const char *key, elign_error *err);
elign_status grpo_settings_set_enum(grpo_settings *s, const char *key, const char *value, elign_error *err);
/* The i-th settable key (0-based; NULL past the end): a loader walks them
 * and reads each from the config. */
const char *grpo_settings_key(int i);

/* ---- resolved values (the public code's fall-backs, in one place) ---- */

/* §4.3: model.skip_prefix, else reward.shaping.scheduler.skip_prefix, else
 * reward.shaping.skip_prefix (≥ 0). */
int grpo_rollout_skip_prefix(const grpo_settings *s);
/* §4.6: scheduler.skip_prefix, else shaping.skip_prefix. */
int grpo_scheduler_skip_prefix(const grpo_settings *s);
double grpo_force_adv_weight(const grpo_settings *s);
double grpo_energy_adv_weight(const grpo_settings *s);
/* The trainer-side clamp of §4.8 (clip_advantage_value, else adv_clip_max). */
double grpo_advantage_clip(const grpo_settings *s);
/* The actor-side clamp of §4.10 item 3: adv_clip_max, ≤ 0 → 5. */
double grpo_actor_advantage_clip(const grpo_settings *s);
/* terminal_weight the rewarder applies: shaping.terminal_weight if shaping is
 * enabled, else 1 (§4.5 item 11). */
double grpo_reward_terminal_weight(const grpo_settings *s);

#endif
