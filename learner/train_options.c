/* train_options.c — the config → train_options of `elign train`, including
 * the config → grpo_settings loader (every settable FED-GRPO key read by
 * its public name). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/chem/elements.h"
#include "learner/train.h"

static void copy_string(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

/* One grpo key from the config: by the schema's type, null where allowed. */
static elign_status load_grpo_key(grpo_settings *s, const elign_config *cfg, const char *key, elign_error *err) {
  const elign_config_key *k = elign_config_find_key(key);
  if (!k) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: no such config key (grpo settings and schema disagree)", key);
  if (k->nullable && elign_config_is_null(cfg, key)) return grpo_settings_set_null(s, key, err);
  switch (k->type) {
    case ELIGN_CFG_BOOL: return grpo_settings_set_number(s, key, elign_config_get_bool(cfg, key), err);
    case ELIGN_CFG_INT: return grpo_settings_set_number(s, key, (double)elign_config_get_int(cfg, key), err);
    case ELIGN_CFG_FLOAT: return grpo_settings_set_number(s, key, elign_config_get_double(cfg, key), err);
    case ELIGN_CFG_STRING:
    case ELIGN_CFG_ENUM: return grpo_settings_set_enum(s, key, elign_config_get_string(cfg, key), err);
    case ELIGN_CFG_LIST: break;
  }
  return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: a list where the FED-GRPO settings expect a value", key);
}

static elign_status load_grpo_settings(grpo_settings *s, const elign_config *cfg, elign_error *err) {
  grpo_settings_defaults(s);
  for (int i = 0; grpo_settings_key(i); i++) {
    elign_status st = load_grpo_key(s, cfg, grpo_settings_key(i), err);
    if (st) return st;
  }
  return grpo_settings_validate(s, err);
}

/* A per-element list of the config, indexed by Z − 1 (H first): 1..118 values. */
static elign_status list_by_z(const elign_config *cfg, const char *key, const double **v, int *n, elign_error *err) {
  *v = elign_config_get_list(cfg, key, n);
  if (*n < 1 || *n > 118) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: %d values (1..118, by Z − 1)", key, *n);
  return ELIGN_OK;
}

/* reward.energy_atom_refs: null, oracle, or custom with reward.energy_atom_ref_values. */
static elign_status load_atom_refs(train_options *o, const elign_config *cfg, elign_error *err) {
  o->atom_refs = TRAIN_REF_NONE;
  for (int i = 0; i < 119; i++) o->atom_ref_eV[i] = NAN;
  if (elign_config_is_null(cfg, "reward.energy_atom_refs")) return ELIGN_OK;
  const char *name = elign_config_get_string(cfg, "reward.energy_atom_refs");
  if (strcmp(name, "oracle") == 0) {
    o->atom_refs = TRAIN_REF_ORACLE;
    return ELIGN_OK;
  }
  if (strcmp(name, "custom") != 0) {
    ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.energy_atom_refs: '%s' references are not available in Elign-C", name);
    elign_error_hint(err, "set energy_atom_refs: oracle (the reward oracle's own lone atoms), or custom and give the "
                          "isolated-atom energies (eV, by Z − 1: H first) in reward.energy_atom_ref_values, or null "
                          "for total energies");
    return ELIGN_ERR_CONFIG;
  }
  if (elign_config_is_null(cfg, "reward.energy_atom_ref_values"))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG,
                      "reward.energy_atom_refs is custom but reward.energy_atom_ref_values is null (eV by Z − 1)");
  int n = 0;
  const double *v = NULL;
  elign_status st = list_by_z(cfg, "reward.energy_atom_ref_values", &v, &n, err);
  if (st) return st;
  for (int i = 0; i < n; i++) o->atom_ref_eV[i + 1] = v[i];
  o->atom_refs = TRAIN_REF_CUSTOM;
  return ELIGN_OK;
}

/* reward.composition_target (by Z − 1), normalised to sum 1; needed only
 * when reward.composition_weight > 0. Which elements it must cover is
 * known once the model is read (train_composition_check). */
static elign_status load_composition(train_options *o, const elign_config *cfg, elign_error *err) {
  for (int z = 0; z < 119; z++) o->composition_target[z] = 0;
  if (!(o->s.reward.composition_weight > 0)) return ELIGN_OK;
  if (elign_config_is_null(cfg, "reward.composition_target"))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.composition_weight is %g but reward.composition_target is null "
                      "(element fractions by Z − 1, H first)", o->s.reward.composition_weight);
  int n = 0;
  const double *v = NULL;
  elign_status st = list_by_z(cfg, "reward.composition_target", &v, &n, err);
  if (st) return st;
  double sum = 0;
  for (int i = 0; i < n; i++) {
    if (!(v[i] >= 0) || !isfinite(v[i]))
      return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.composition_target: entry %d (%s) is %g, not a fraction >= 0", i,
                        elign_element_symbol(i + 1), v[i]);
    sum += v[i];
  }
  if (!(sum > 0)) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "reward.composition_target: every fraction is 0");
  for (int i = 0; i < n; i++) o->composition_target[i + 1] = v[i] / sum;
  return ELIGN_OK;
}

/* Keys of the public code that Elign-C does not act on yet: refuse values
 * that would change the result rather than ignore them. */
static elign_status check_unsupported(const elign_config *cfg, elign_error *err) {
  if (!elign_config_is_null(cfg, "dataloader.nodes_dist_focus_min") ||
      !elign_config_is_null(cfg, "dataloader.nodes_dist_focus_max") ||
      elign_config_get_double(cfg, "dataloader.nodes_dist_focus_multiplier") != 1.0)
    return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED,
                      "dataloader.nodes_dist_focus_*: re-weighting the molecule sizes is not implemented (leave "
                      "min/max null and the multiplier 1)");
  if (!elign_config_get_bool(cfg, "mpi.gradient_average"))
    return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED,
                      "mpi.gradient_average = false: elign train always trains ONE model on the global batch (the "
                      "ranks' gradients are summed into its micro-batch mean); independent replicas per rank, as the "
                      "public multi-GPU code ends up with, are not offered");
  return ELIGN_OK;
}

/* train.force_alignment_* (§4.13): on iff enabled (null: iff weight > 0) and
 * weight > 0; whether it acts depends on the shaping (trainer setup). */
static void load_force_alignment(train_options *o, const elign_config *cfg) {
  double w = elign_config_get_double(cfg, "train.force_alignment_weight");
  int enabled = elign_config_is_null(cfg, "train.force_alignment_enabled")
                    ? w > 0
                    : elign_config_get_bool(cfg, "train.force_alignment_enabled");
  o->force_align_enabled = enabled;
  o->force_align = enabled && w > 0;
  o->fa.weight = w;
  o->fa.min_force = elign_config_get_double(cfg, "train.force_alignment_min_force");
  o->fa.min_delta = elign_config_get_double(cfg, "train.force_alignment_min_delta");
}

static elign_status load_rollout_shape(train_options *o, const elign_config *cfg, elign_error *err) {
  o->T = (int)elign_config_get_int(cfg, "model.time_step");
  o->P = (int)elign_config_get_int(cfg, "dataloader.sample_group_size");
  o->K = (int)elign_config_get_int(cfg, "dataloader.each_prompt_sample");
  o->iterations = elign_config_get_int(cfg, "dataloader.epoches");
  if (o->K > 65535) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "dataloader.each_prompt_sample %d: at most 65535", o->K);
  if (o->T > 65535) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "model.time_step %d: at most 65535", o->T);
  o->groups_per_block = o->P;
  if (!elign_config_is_null(cfg, "dataloader.micro_batch_size")) {
    long mb = elign_config_get_int(cfg, "dataloader.micro_batch_size");
    if (mb % o->K != 0) {
      ELIGN_FAIL(err, ELIGN_ERR_CONFIG,
                 "dataloader.micro_batch_size %ld is not a multiple of dataloader.each_prompt_sample %d", mb, o->K);
      elign_error_hint(err, "a rollout chunk holds whole prompt groups (K molecules each)");
      return ELIGN_ERR_CONFIG;
    }
    o->groups_per_block = (int)(mb / o->K);
    if (o->groups_per_block > o->P) o->groups_per_block = o->P;
  }
  return ELIGN_OK;
}

static elign_status load_optimizer(train_options *o, const elign_config *cfg, elign_error *err) {
  o->lr = elign_config_get_double(cfg, "train.learning_rate");
  o->max_grad_norm = elign_config_get_double(cfg, "train.max_grad_norm");
  o->hp.beta1 = elign_config_get_double(cfg, "train.adam_beta1");
  o->hp.beta2 = elign_config_get_double(cfg, "train.adam_beta2");
  o->hp.eps = elign_config_get_double(cfg, "train.adam_epsilon");
  o->hp.weight_decay = elign_config_get_double(cfg, "train.adam_weight_decay");
  o->hp.amsgrad = 0; /* §4.11: torch.optim.AdamW defaults */
  o->epochs_per_rollout = (int)elign_config_get_int(cfg, "train.epoch_per_rollout");
  o->sched.kind = LR_SCHEDULE_CONSTANT;
  if (!elign_config_is_null(cfg, "train.scheduler.name") &&
      !lr_schedule_kind_parse(elign_config_get_string(cfg, "train.scheduler.name"), &o->sched.kind))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "train.scheduler.name '%s' is not a schedule",
                      elign_config_get_string(cfg, "train.scheduler.name"));
  o->sched.warmup_steps = elign_config_get_int(cfg, "train.scheduler.warmup_steps");
  /* §4.11: total = scheduler.total_steps, or dataloader.epoches when null */
  o->sched.total_steps = elign_config_is_null(cfg, "train.scheduler.total_steps")
                             ? o->iterations
                             : elign_config_get_int(cfg, "train.scheduler.total_steps");
  o->sched.min_lr_ratio = elign_config_get_double(cfg, "train.scheduler.min_lr_ratio");
  o->sched.num_cycles = elign_config_get_double(cfg, "train.scheduler.num_cycles");
  o->sched.stable_ratio = elign_config_get_double(cfg, "train.scheduler.stable_ratio");
  return ELIGN_OK;
}

static void load_run(train_options *o, const elign_config *cfg) {
  run_dir_from_config(cfg, o->run_dir, sizeof o->run_dir);
  o->seed = (uint64_t)elign_config_get_int(cfg, "seed");
  o->save_interval = elign_config_get_int(cfg, "save_interval");
  o->keep_checkpoints = elign_config_get_int(cfg, "train.keep_checkpoints");
  o->max_staleness = (int)elign_config_get_int(cfg, "train.max_staleness");
  o->max_time_hours =
      elign_config_is_null(cfg, "train.max_time_hours") ? 0.0 : elign_config_get_double(cfg, "train.max_time_hours");
  o->progress_seconds = elign_config_get_double(cfg, "run.log_every");
  o->threads = (int)elign_config_get_int(cfg, "mpi.threads_per_rank");
  if (!elign_config_is_null(cfg, "dataloader.smiles_path"))
    copy_string(o->smiles_path, sizeof o->smiles_path, elign_config_get_string(cfg, "dataloader.smiles_path"));
}

elign_status train_options_from_config(const elign_config *cfg, train_options *o, elign_error *err) {
  memset(o, 0, sizeof *o);
  if (elign_config_is_null(cfg, "model.checkpoint")) {
    ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "model.checkpoint is null: post-training needs a base model file");
    elign_error_hint(err, "train one with `elign pretrain`, or import EDM's weights with tools/edm_import.py, then set "
                          "model.checkpoint (or --set model.checkpoint=M.h5)");
    return ELIGN_ERR_CONFIG;
  }
  copy_string(o->model_path, sizeof o->model_path, elign_config_get_string(cfg, "model.checkpoint"));
  elign_status st = load_grpo_settings(&o->s, cfg, err);
  if (!st) st = load_rollout_shape(o, cfg, err);
  if (!st) st = load_optimizer(o, cfg, err);
  if (st) return st;
  load_run(o, cfg);
  load_force_alignment(o, cfg);
  o->dummy_reward = strcmp(elign_config_get_string(cfg, "reward.type"), "dummy") == 0;
  st = load_atom_refs(o, cfg, err);
  if (!st) st = load_composition(o, cfg, err);
  if (!st) st = check_unsupported(cfg, err);
  if (st) return st;
  copy_string(o->oracle_backend, sizeof o->oracle_backend, elign_config_get_string(cfg, "oracle.backend"));
  o->oracle_batch = (int)elign_config_get_int(cfg, "oracle.batch_size");
  o->oracle_reply_timeout = elign_config_get_double(cfg, "mpi.timeout");
  o->rank_wait_timeout = elign_config_get_double(cfg, "mpi.timeout");
  elign_oracle_options_from_config(cfg, &o->oracle);
  o->clash_distance = elign_config_is_null(cfg, "reward.clash_distance") ? 0.0
                                                                           : elign_config_get_double(cfg, "reward.clash_distance");
  if (!o->dummy_reward && !elign_oracle_backend_find(o->oracle_backend)) {
    ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "oracle.backend: unknown backend '%s' (valid: %s)", o->oracle_backend,
               elign_oracle_backend_names());
    return ELIGN_ERR_CONFIG;
  }
  return train_judges_config_read(cfg, &o->judges, err);
}
