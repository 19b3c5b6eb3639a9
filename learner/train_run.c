/* train_run.c — `elign train`: setup, the iteration loop, checkpoints and
 * resume, the metrics line and the progress line (train.h). The stages of
 * an iteration live in train_rollout.c, train_reward.c and train_update.c. */
#include "learner/train.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base/log.h"
#include "common/base/memory.h"
#include "common/base/trace.h"
#include "common/mpi/roles.h"
#include "learner/grpo_chem.h"
#include "learner/run_dir.h"
#include "learner/train_impl.h"

void openblas_set_num_threads(int); /* OpenBLAS (no header declares it portably) */

#define CKPT_PREFIX "iter_"
static const char *const OWN_FILES[] = {"checkpoint.h5", "checkpoint_best.h5", "model.h5"};

/* ==== small pieces =========================================================== */

void train_iter_free(train_iter *it) {
  for (int64_t j = 0; j < it->n_mine; j++) {
    if (it->rec) rollout_batch_free(&it->rec[j]);
    if (it->frame_vals) free(it->frame_vals[j]);
    if (it->fa_forces) free(it->fa_forces[j]);
  }
  free(it->fa_forces);
  free(it->rec);
  free(it->frame_vals);
  free(it->group_sizes);
  free(it->kept);
  free(it->adv);
  free(it->req);
  memset(it, 0, sizeof *it);
}

void train_group_sizes(const trainer *tr, int64_t it, int64_t *sizes) {
  rollout_config rc = {.model = &tr->model, .seed = tr->o->seed, .iteration = (uint64_t)it};
  for (int64_t g = 0; g < tr->o->P; g++) sizes[g] = rollout_draw_group_size(&rc, g);
}

/* ==== setup =================================================================== */

/* Blocks of groups_per_block groups (owned round robin, train_impl.h). */
static void setup_blocks(trainer *tr) {
  int64_t G = tr->o->groups_per_block;
  tr->n_blocks = (tr->o->P + G - 1) / G;
}

static elign_status setup_model(trainer *tr, elign_error *err) {
  elign_status st = edm_model_load(&tr->model, tr->o->model_path, err);
  if (st) {
    elign_error_prefix(err, "model.checkpoint: ");
    return st;
  }
  if (tr->model.nodes.n == 0)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                      "%s has no atom-count histogram: the prompt groups' sizes are drawn from it (model.checkpoint)",
                      tr->o->model_path);
  tr->D = tr->model.layout.D;
  /* the training state owns the weights: current = reference = the base model (a resume overwrites both) */
  unsigned flags = TRAIN_STATE_REFERENCE | (tr->rank == 0 ? TRAIN_STATE_ADAM : 0);
  train_state_init(&tr->ts, &tr->model.net, flags);
  memcpy(tr->ts.params, tr->model.params, tr->ts.n * sizeof *tr->ts.params);
  train_state_reset_reference(&tr->ts);
  elign_free(tr->model.params);
  tr->model.params = tr->ts.params; /* the rollouts sample the current weights */
  return ELIGN_OK;
}

/* Force alignment (§4.13) acts at the trained steps whose ẑ₀ frame the oracle
 * evaluates in the adaptive scheduler's fine stage; anywhere else (and with
 * no such step at all) it is inert, which rank 0 says once, with the reason. */
static void setup_force_alignment(trainer *tr) {
  const train_options *o = tr->o;
  tr->fa_active = 0;
  tr->n_fa_frames = 0;
  if (!o->force_align_enabled) return;
  const char *why = NULL;
  if (!(o->fa.weight > 0)) why = "train.force_alignment_weight is 0";
  else if (o->dummy_reward) why = "reward.type dummy: no oracle, no force vectors";
  else if (!o->s.reward.shaping.enabled) why = "reward shaping is off: the oracle sees only the final molecules, no per-step force vectors";
  else if (o->s.reward.shaping.scheduler.mode != GRPO_SCHEDULER_ADAPTIVE)
    why = "the reward scheduler is uniform: no fine stage (it needs reward.shaping.scheduler.mode adaptive)";
  int J = tr->sched.n;
  if (!why) {
    tr->fa_slot_of_step = elign_malloc((size_t)(tr->T_act > 0 ? tr->T_act : 1) * sizeof(int), "train:fa_steps");
    tr->fa_index_of_slot = elign_malloc((size_t)(J > 0 ? J : 1) * sizeof(int), "train:fa_slots");
    for (int i = 0; i < tr->T_act; i++) tr->fa_slot_of_step[i] = -1;
    for (int j = 0; j < J; j++) {
      int k = tr->sched.indices[j];
      tr->fa_index_of_slot[j] = -1;
      if (!tr->sched.fine[j] || k < tr->train_start || k >= o->T) continue; /* frame T (decode) is never trained */
      tr->fa_index_of_slot[j] = tr->n_fa_frames++;
      tr->fa_slot_of_step[k - tr->train_start] = j;
    }
    if (tr->n_fa_frames == 0) why = "no fine-stage reward frame falls on a trained step (adaptive threshold below them)";
  }
  tr->fa_active = !why;
  if (tr->rank != 0) return;
  if (why) elign_info("force alignment (train.force_alignment_*, §4.13) is inert: %s", why);
  else
    elign_info("force alignment (§4.13): weight %g at %d fine-stage trained step(s) of %d (|F| > %g, |dmu| > %g)",
               o->fa.weight, tr->n_fa_frames, tr->T_act, o->fa.min_force, o->fa.min_delta);
}

static elign_status setup_schedule(trainer *tr, elign_error *err) {
  const train_options *o = tr->o;
  tr->S = o->T + 1;
  tr->timesteps = elign_malloc((size_t)tr->S * sizeof *tr->timesteps, "train:timesteps");
  grpo_standard_timesteps(tr->timesteps, o->T);
  tr->shaped = o->s.reward.shaping.enabled && !o->dummy_reward;
  if (o->s.reward.shaping.enabled) {
    elign_status st = grpo_schedule_build(&tr->sched, tr->timesteps, tr->S, &o->s, err);
    if (st) return st;
  }
  tr->n_oracle_frames = o->dummy_reward ? 0 : tr->shaped ? tr->sched.n : 1;
  tr->train_start = grpo_trained_start(&o->s, o->T);
  tr->T_act = o->T - tr->train_start;
  setup_force_alignment(tr);
  return ELIGN_OK;
}

/* Rank 0: the chemistry tables and the training-set SMILES. */
static elign_status setup_chemistry(trainer *tr, elign_error *err) {
  int qm9 = strncmp(tr->model.dataset, "qm9", 3) == 0;
  tr->rule = qm9 ? ELIGN_BOND_RULE_QM9 : ELIGN_BOND_RULE_GEOM;
  elign_status st = grpo_valence_table_init(&tr->valence, tr->model.type_Z, tr->model.n_types, err);
  /* D7: the public code has soft valence for QM9 only */
  if (!st && qm9) {
    st = grpo_bond_table_init(&tr->bonds, tr->model.type_Z, tr->model.n_types, err);
    tr->have_bonds = !st;
  }
  if (!st && tr->o->smiles_path[0]) {
    tr->train_smiles = elign_smiles_set_new();
    int64_t n = 0;
    st = elign_smiles_set_load(tr->train_smiles, tr->o->smiles_path, &n, err);
    if (st) elign_error_prefix(err, "dataloader.smiles_path: ");
    else elign_info("novelty reference: %lld SMILES from %s", (long long)n, tr->o->smiles_path);
  }
  return st;
}

static elign_status setup_oracle_client(trainer *tr, elign_oracle *oracle, elign_error *err) {
  if (tr->w->embedded_oracle) {
    if (!oracle) return tr->o->dummy_reward ? ELIGN_OK : ELIGN_FAIL(err, ELIGN_ERR_ARG, "train: no in-process oracle");
    return elign_oracle_client_create_embedded(oracle, tr->o->oracle_batch, &tr->client, err);
  }
  elign_status st = elign_oracle_client_create_mpi(tr->w->comm, &tr->w->my_oracle, 1, &tr->client, err);
  if (!st) elign_oracle_client_set_timeout(tr->client, tr->o->oracle_reply_timeout);
  return st;
}

/* The workspaces of the update, sized for the largest block a group count can make. */
static void setup_workspaces(trainer *tr) {
  int64_t max_n = diffusion_nodes_max(&tr->model.nodes), mols = (int64_t)tr->o->groups_per_block * tr->o->K;
  tr->ws_train = egnn_workspace_create_edges(&tr->model.net, mols * max_n, mols, mols * max_n * (max_n - 1), 1);
  if (tr->o->s.train.kl_penalty_weight > 0) tr->ws_ref = edm_model_workspace_create(&tr->model);
}

/* ==== checkpoints ================================================================= */

/* The policy's weights as a model file (what `elign sample` and a later
 * `elign train` read): no optimizer moments, no frozen reference. */
static elign_status weights_checkpoint(const trainer *tr, elign_checkpoint *c, elign_error *err) {
  elign_checkpoint_init(c);
  elign_status st = edm_model_to_checkpoint(&tr->model, tr->ts.params, c, err);
  if (st) return st;
  elign_checkpoint_set_config(c, tr->config_text);
  uint64_t version = (uint64_t)tr->policy_version;
  elign_checkpoint_set_rng(c, tr->o->seed, 1, &version); /* counter 0: the policy version */
  c->iteration = tr->iteration;
  c->epoch = tr->iteration;
  c->optimizer_step = tr->ts.step;
  return ELIGN_OK;
}

/* The element-mix term's accumulated offsets (reward.composition_integral):
 * an attribute of the state checkpoint, by Z − 1 like the config's lists. */
#define COMPOSITION_INTEGRAL_ATTR "composition_integral"

/* The whole training state: the weights plus what --resume needs. */
static elign_status state_checkpoint(const trainer *tr, elign_checkpoint *c, elign_error *err) {
  elign_status st = weights_checkpoint(tr, c, err);
  if (!st) train_state_to_checkpoint(&tr->ts, c);
  if (!st && tr->o->s.reward.composition_integral > 0)
    elign_checkpoint_set_doubles(c, COMPOSITION_INTEGRAL_ATTR, ELIGN_MAX_Z, tr->composition_integral + 1);
  return st;
}

/* --resume: the offsets where the run left them; a checkpoint of a run
 * without the integral term starts them at 0 (said once). */
static elign_status resume_composition_integral(trainer *tr, const elign_checkpoint *c, const char *path,
                                                elign_error *err) {
  if (!(tr->o->s.reward.composition_integral > 0)) return ELIGN_OK;
  const elign_ckpt_attr *a = elign_checkpoint_find_attr(c, COMPOSITION_INTEGRAL_ATTR);
  if (!a) {
    elign_info("%s has no element-mix offsets (" COMPOSITION_INTEGRAL_ATTR "): they start at 0", path);
    return ELIGN_OK;
  }
  if (a->type != ELIGN_CKPT_DOUBLES || a->n != ELIGN_MAX_Z)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: attribute " COMPOSITION_INTEGRAL_ATTR " is not %d numbers", path,
                      ELIGN_MAX_Z);
  memcpy(tr->composition_integral + 1, a->v, ELIGN_MAX_Z * sizeof(double));
  return ELIGN_OK;
}

/* RUN/<name> becomes another name of `path` (a hard link, else a copy). */
static elign_status publish(const trainer *tr, const char *path, const char *name, const elign_checkpoint *c,
                            elign_error *err) {
  char dst[RUN_PATH_MAX + 64], tmp[RUN_PATH_MAX + 80];
  snprintf(dst, sizeof dst, "%s/%s", tr->o->run_dir, name);
  snprintf(tmp, sizeof tmp, "%s/.%s.link", tr->o->run_dir, name);
  unlink(tmp);
  if (link(path, tmp) == 0 && rename(tmp, dst) == 0) return ELIGN_OK;
  unlink(tmp);
  return elign_checkpoint_write(c, dst, err);
}

/* Rank 0: RUN/checkpoints/iter_<n>.h5 and RUN/checkpoint.h5 (the whole
 * state), RUN/model.h5 (the weights alone: a quarter of the size, the file to
 * keep or share). */
static elign_status write_checkpoint(trainer *tr, elign_error *err) {
  char path[RUN_PATH_MAX + 64], model_path[RUN_PATH_MAX + 64];
  elign_checkpoint c;
  elign_status st = state_checkpoint(tr, &c, err);
  if (!st) {
    run_dir_checkpoint_path(path, sizeof path, tr->o->run_dir, CKPT_PREFIX, tr->iteration);
    st = elign_checkpoint_write(&c, path, err);
  }
  if (!st) st = publish(tr, path, "checkpoint.h5", &c, err);
  elign_checkpoint_free(&c);
  if (!st) st = weights_checkpoint(tr, &c, err);
  if (!st) {
    snprintf(model_path, sizeof model_path, "%s/model.h5", tr->o->run_dir);
    st = elign_checkpoint_write(&c, model_path, err);
  }
  elign_checkpoint_free(&c);
  if (!st) {
    run_dir_prune(tr->o->run_dir, CKPT_PREFIX, tr->o->keep_checkpoints);
    elign_info("checkpoint: iteration %lld (policy version %lld, optimizer step %lld) -> %s", (long long)tr->iteration,
               (long long)tr->policy_version, (long long)tr->ts.step, path);
  }
  return st;
}

static elign_status write_best(trainer *tr, const char *metric, double value, elign_error *err) {
  char path[RUN_PATH_MAX + 64];
  elign_checkpoint c;
  elign_status st = state_checkpoint(tr, &c, err);
  snprintf(path, sizeof path, "%s/checkpoint_best.h5", tr->o->run_dir);
  if (!st) st = elign_checkpoint_write(&c, path, err);
  elign_checkpoint_free(&c);
  if (!st) elign_info("best %s so far (%.6g) at iteration %lld -> %s", metric, value, (long long)tr->iteration, path);
  return st;
}

/* Rank 0: the newest iteration checkpoint of --resume's directory. */
static elign_status read_resume_checkpoint(trainer *tr, elign_error *err) {
  int64_t *nums;
  int n = run_dir_list_checkpoints(tr->o->run_dir, CKPT_PREFIX, &nums);
  if (n == 0) {
    free(nums);
    ELIGN_FAIL(err, ELIGN_ERR_IO, "--resume %s: no checkpoint (checkpoints/iter_*.h5) to resume from", tr->o->run_dir);
    elign_error_hint(err, "a run writes its first checkpoint after save_interval iterations; start it again without "
                          "--resume (with --force)");
    return ELIGN_ERR_IO;
  }
  char path[RUN_PATH_MAX + 64];
  run_dir_checkpoint_path(path, sizeof path, tr->o->run_dir, CKPT_PREFIX, nums[n - 1]);
  free(nums);
  elign_checkpoint c, mine;
  elign_status st = elign_checkpoint_read(&c, path, err);
  if (!st) st = edm_model_to_checkpoint(&tr->model, tr->ts.params, (elign_checkpoint_init(&mine), &mine), err);
  if (!st) st = run_check_architecture(&mine, &c, path, tr->o->run_dir, NULL, err);
  if (!st) {
    st = train_state_from_checkpoint(&tr->ts, &c, err);
    if (st) elign_error_prefix(err, "%s: ", path);
  }
  if (!st && !c.reference)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s holds no reference parameters: not an `elign train` checkpoint", path);
  if (!st) st = resume_composition_integral(tr, &c, path, err);
  if (!st) {
    tr->iteration = c.iteration;
    tr->policy_version = c.n_rng_counters > 0 ? (int64_t)c.rng_counters[0] : c.iteration;
    elign_info("resuming from %s (iteration %lld, policy version %lld, optimizer step %lld)", path,
               (long long)tr->iteration, (long long)tr->policy_version, (long long)tr->ts.step);
    if (c.config_text) run_warn_config_changes(c.config_text, tr->config_text);
    st = run_metrics_rewind(tr->o->run_dir, "iteration", tr->iteration - 1, err); /* lines after the checkpoint */
  }
  elign_checkpoint_free(&mine);
  elign_checkpoint_free(&c);
  return st;
}

/* ==== metrics and progress ========================================================= */

static elign_status write_metrics(trainer *tr, const train_iter *it, const train_metrics *m, elign_error *err) {
  elign_metrics_begin(tr->metrics);
  elign_metrics_int(tr->metrics, "iteration", it->it);
  elign_metrics_int(tr->metrics, "policy_version", it->policy_version);
  for (int i = 0; i < m->n; i++) elign_metrics_double(tr->metrics, m->name[i], m->value[i]);
  return elign_metrics_end(tr->metrics, err);
}

/* Per-role seconds of every actor (max over ranks), the oracle queue and the
 * largest resident set of an actor. */
static void gather_times(trainer *tr, const train_iter *it, train_metrics *m) {
  double mine[TM_COUNT + 2];
  memcpy(mine, it->t, sizeof it->t);
  mine[TM_COUNT] = (double)it->oracle_pending_max;
  mine[TM_COUNT + 1] = elign_memory_resident() / (1024.0 * 1024.0);
  double mx[TM_COUNT + 2];
  run_wait_begin(&tr->wait, it->it, "the timing metrics");
  MPI_Reduce(mine, mx, TM_COUNT + 2, MPI_DOUBLE, MPI_MAX, 0, tr->comm);
  run_wait_end();
  if (tr->rank != 0) return;
  train_metric(m, "time_sample_s", mx[TM_SAMPLE]);
  train_metric(m, "time_oracle_submit_s", mx[TM_ORACLE_SUBMIT]);
  train_metric(m, "time_oracle_wait_s", mx[TM_ORACLE_WAIT]);
  train_metric(m, "time_update_s", mx[TM_UPDATE]);
  train_metric(m, "time_reduce_wait_s", mx[TM_REDUCE_WAIT]);
  train_metric(m, "oracle_queue_molecules", mx[TM_COUNT]);
  train_metric(m, "rss_max_mb", mx[TM_COUNT + 1]);
}

static void log_iteration(const trainer *tr, const train_iter *it, const train_metrics *m) {
  elign_info("iteration %lld (%lld/%lld): reward %.4g (max %.4g), force %.4g, energy %.4g; stable %.0f%%, valid %.0f%%, kept "
             "%.0f/%.0f, zero-signal groups %.0f/%.0f; ratio [%.6g, %.6g] clip %.3f kl %.3g; lr %.3g grad %.3g; "
             "oracle failures %.0f; %.1f s",
             (long long)it->it, (long long)it->it + 1, (long long)tr->o->iterations, train_metric_get(m, "reward_mean"),
             train_metric_get(m, "reward_max"), train_metric_get(m, "force_reward_mean"),
             train_metric_get(m, "energy_reward_mean"), 100 * train_metric_get(m, "molecule_stability"),
             100 * train_metric_get(m, "rdkit_validity"), train_metric_get(m, "kept"), train_metric_get(m, "molecules"),
             train_metric_get(m, "zero_signal_groups"), train_metric_get(m, "groups"),
             train_metric_get(m, "ratio_min"), train_metric_get(m, "ratio_max"), train_metric_get(m, "clipfrac"),
             train_metric_get(m, "kl"), train_metric_get(m, "lr"), train_metric_get(m, "grad_norm"),
             train_metric_get(m, "oracle_failures"), train_metric_get(m, "time_iteration_s"));
}

/* ==== one iteration ================================================================= */

/* Start iteration `index`: its group sizes, then its rollouts with the
 * current weights (their oracle frames go out meanwhile). */
static elign_status begin_iteration(trainer *tr, train_iter *it, int64_t index, elign_error *err) {
  memset(it, 0, sizeof *it);
  it->it = index;
  it->group_sizes = elign_malloc((size_t)tr->o->P * sizeof *it->group_sizes, "train:group_sizes");
  train_group_sizes(tr, index, it->group_sizes);
  it->sampled = 1;
  return train_rollout_sample(tr, it, err);
}

/* Drop a prefetched iteration: its oracle answers are still waited for. */
static void discard_iteration(trainer *tr, train_iter **it) {
  if (!*it) return;
  elign_error e;
  elign_error_clear(&e);
  train_rollout_collect(tr, *it, &e);
  train_iter_free(*it);
  free(*it);
  *it = NULL;
}

/* One iteration. `it` arrives sampled when the previous iteration prefetched
 * it (train.max_staleness ≥ 1): then its rollouts are one policy version
 * behind. With `prefetch`, the next iteration's rollouts are sampled with the
 * current weights between the reward stage and the update, so its oracle
 * frames are evaluated while the actors update (*next). */
static elign_status run_iteration(trainer *tr, train_iter *it, int prefetch, train_iter **next, train_metrics *m,
                                  elign_error *err) {
  double t0 = elign_wtime(), trace_t0 = (elign_trace_iteration(tr->iteration), elign_trace_begin());
  elign_status st = it->sampled ? ELIGN_OK : begin_iteration(tr, it, tr->iteration, err);
  elign_error cerr;
  elign_error_clear(&cerr);
  elign_status cs = train_rollout_collect(tr, it, &cerr);
  if (cs && !st) *err = cerr, st = cs;
  /* the first wait for the others: it ends when the slowest actor has its rollouts and oracle answers */
  st = run_wait_agree(&tr->wait, it->it, "the sampling phase", tr->comm, err);
  if (!st) st = train_reward(tr, it, m, err);
  if (!st && prefetch) {
    *next = elign_calloc(1, sizeof **next, "train:next_iteration");
    begin_iteration(tr, *next, it->it + 1, err);
    st = run_wait_agree(&tr->wait, it->it, "the sampling phase of the next iteration (prefetched)", tr->comm, err);
    if (st) discard_iteration(tr, next);
  }
  int64_t staleness = tr->policy_version - it->policy_version;
  if (!st && (staleness < 0 || staleness > tr->o->max_staleness))
    st = ELIGN_FAIL(err, ELIGN_ERR_ARG, "iteration %lld: rollouts of policy version %lld, weights of version %lld: "
                    "staleness %lld outside 0..train.max_staleness = %d", (long long)it->it,
                    (long long)it->policy_version, (long long)tr->policy_version, (long long)staleness,
                    tr->o->max_staleness);
  if (!st) st = train_update(tr, it, m, err);
  if (st) return st;
  if (tr->rank == 0) {
    train_metric(m, "staleness_max", (double)staleness);
    train_metric(m, "time_iteration_s", elign_wtime() - t0);
    train_metric(m, "wall_s", elign_wtime() - tr->t_run_start);
  }
  gather_times(tr, it, m);
  elign_trace_end(trace_t0, "iteration", ELIGN_TRACE_ITERATION);
  return ELIGN_OK;
}

/* ==== the run ======================================================================== */

static void trainer_free(trainer *tr) {
  train_judges_free(tr);
  elign_metrics_close(&tr->metrics);
  egnn_workspace_free(&tr->ws_train);
  egnn_workspace_free(&tr->ws_ref);
  elign_oracle_client_destroy(&tr->client);
  elign_smiles_set_free(&tr->train_smiles);
  grpo_schedule_free(&tr->sched);
  free(tr->fa_slot_of_step);
  free(tr->fa_index_of_slot);
  free(tr->timesteps);
  tr->model.params = NULL; /* the training state's */
  edm_model_free(&tr->model);
  train_state_free(&tr->ts);
  free(tr->config_text);
}

/* The phase of every wait before the first iteration. */
#define START_UP "the start-up (run directory, model, resume checkpoint, weights to every actor)"

static elign_status setup_agree(trainer *tr, elign_error *err) {
  return run_wait_agree(&tr->wait, -1, START_UP, tr->comm, err);
}

/* Everything before the first iteration; collective over the actors, agreed. */
static elign_status trainer_setup(trainer *tr, const train_start *start, elign_error *err) {
  const train_options *o = tr->o;
  elign_status st = ELIGN_OK;
  if (tr->rank == 0)
    st = run_dir_prepare(o->run_dir, start->resume_dir != NULL, start->force, CKPT_PREFIX, OWN_FILES,
                         (int)(sizeof OWN_FILES / sizeof OWN_FILES[0]), err);
  if (setup_agree(tr, err)) return err->status;
  st = setup_model(tr, err); /* every rank reads the model and finds the same problems */
  if (!st) st = setup_schedule(tr, err);
  if (!st) setup_blocks(tr);
  if (!st && tr->rank == 0) st = setup_chemistry(tr, err);
  if (!st) st = train_reward_setup_atom_refs(tr, err);
  if (!st && tr->rank == 0) st = train_reward_check_composition(tr, err);
  if (setup_agree(tr, err)) return err->status;
  if (tr->rank == 0 && start->resume_dir) st = read_resume_checkpoint(tr, err);
  if (setup_agree(tr, err)) return err->status;
  int64_t head[3] = {tr->iteration, tr->policy_version, tr->ts.step};
  run_wait_begin(&tr->wait, -1, START_UP);
  MPI_Bcast(head, 3, MPI_INT64_T, 0, tr->comm);
  tr->iteration = head[0], tr->policy_version = head[1], tr->ts.step = head[2];
  MPI_Bcast(tr->ts.params, (int)tr->ts.n, MPI_ELIGN_REAL, 0, tr->comm);
  MPI_Bcast(tr->ts.reference, (int)tr->ts.n, MPI_ELIGN_REAL, 0, tr->comm);
  run_wait_end();
  if (start->resume_dir) run_wait_checkpoint_done(&tr->wait, tr->iteration); /* the one resumed from */
  setup_workspaces(tr);
  if (tr->rank == 0) {
    st = elign_config_write_resolved(tr->cfg, o->run_dir, err);
    if (!st) tr->metrics = elign_metrics_open(o->run_dir, "metrics.jsonl", err);
    if (!st && !tr->metrics) st = err->status;
    if (!st) st = train_judges_setup(tr, err);
  }
  return setup_agree(tr, err);
}

static void log_start(const trainer *tr) {
  if (tr->rank != 0) return;
  const train_options *o = tr->o;
  elign_info("FED-GRPO %s: %s (%d layers x %d, %zu parameters), %lld iterations of %d groups x %d rollouts, T = %d "
             "(%d trained steps from k = %d), %lld rollout blocks of %d groups over %d actor(s), %d oracle frame(s) "
             "per molecule, oracle %s",
             o->run_dir, o->model_path, tr->model.net.cfg.n_layers, tr->model.net.cfg.hidden, tr->ts.n,
             (long long)o->iterations, o->P, o->K, o->T, tr->T_act, tr->train_start, (long long)tr->n_blocks,
             o->groups_per_block, tr->size, tr->n_oracle_frames,
             o->dummy_reward ? "none (reward.type dummy)" : tr->w->embedded_oracle ? o->oracle_backend : "ranks");
  if (tr->n_blocks < tr->size)
    elign_warn("%d actors but only %lld rollout blocks: %lld actor(s) idle (lower dataloader.micro_batch_size)",
               tr->size, (long long)tr->n_blocks, (long long)(tr->size - tr->n_blocks));
}

/* The checks at the end of an iteration: signals, time limit, --stop-after. */
static void end_of_iteration_flags(trainer *tr, const train_start *start, int64_t done_this_run, int *stop,
                                   int *checkpoint) {
  int sig_stop, sig_ckpt;
  run_signals_take(&sig_stop, &sig_ckpt);
  int over_time = tr->rank == 0 && tr->o->max_time_hours > 0 &&
                  elign_wtime() - tr->t_run_start > 3600.0 * tr->o->max_time_hours;
  if (over_time) elign_info("train.max_time_hours (%g h) reached: stopping", tr->o->max_time_hours);
  int local[2] = {sig_stop || over_time || tr->early_stop ||
                      (start->stop_after > 0 && done_this_run >= start->stop_after),
                  sig_ckpt};
  int any[2];
  MPI_Allreduce(local, any, 2, MPI_INT, MPI_MAX, tr->comm);
  *stop = any[0];
  *checkpoint = any[1];
}

/* Rank 0: a better best_checkpoint_metric writes RUN/checkpoint_best.h5. */
static elign_status track_best(trainer *tr, const train_metrics *m, elign_error *err) {
  const char *name = elign_config_get_string(tr->cfg, "best_checkpoint_metric");
  double v = train_metric_get(m, name);
  if (isnan(v) && !tr->best_warned) {
    int known = 0;
    for (int i = 0; i < m->n; i++) known |= strcmp(m->name[i], name) == 0;
    if (!known) elign_warn("best_checkpoint_metric '%s' is not a metric of elign train (docs/train.md lists them): no "
                           "checkpoint_best.h5", name);
    tr->best_warned = 1;
  }
  if (!isfinite(v)) return ELIGN_OK;
  int maximize = strcmp(elign_config_get_string(tr->cfg, "best_checkpoint_mode"), "max") == 0;
  if (!isnan(tr->best_metric) && (maximize ? v <= tr->best_metric : v >= tr->best_metric)) return ELIGN_OK;
  tr->best_metric = v;
  return write_best(tr, name, v, err);
}

/* Rank 0: early stopping (§4.12) — stop when train.early_stop_metric has not
 * improved by more than early_stop_min_delta for early_stop_patience_minutes
 * of wall time. */
static void track_early_stop(trainer *tr, const train_metrics *m) {
  const elign_config *cfg = tr->cfg;
  if (elign_config_is_null(cfg, "train.early_stop_metric") ||
      elign_config_is_null(cfg, "train.early_stop_patience_minutes"))
    return;
  const char *name = elign_config_get_string(cfg, "train.early_stop_metric");
  double v = train_metric_get(m, name), now = elign_wtime();
  double delta = elign_config_get_double(cfg, "train.early_stop_min_delta");
  int maximize = strcmp(elign_config_get_string(cfg, "train.early_stop_mode"), "max") == 0;
  if (isfinite(v) && (isnan(tr->early_best) || (maximize ? v > tr->early_best + delta : v < tr->early_best - delta))) {
    tr->early_best = v;
    tr->early_t = now;
    return;
  }
  double patience = 60.0 * elign_config_get_double(cfg, "train.early_stop_patience_minutes");
  if (isnan(tr->early_t)) tr->early_t = now;
  if (now - tr->early_t > patience) {
    elign_info("early stop: %s has not improved by more than %g for %g minutes (best %g)", name, delta,
               patience / 60.0, tr->early_best);
    tr->early_stop = 1;
  }
}

static elign_status train_loop(trainer *tr, const train_start *start, elign_error *err) {
  const train_options *o = tr->o;
  elign_progress progress;
  if (tr->rank == 0) elign_progress_start(&progress, "FED-GRPO iterations", o->iterations, o->progress_seconds);
  if (tr->rank == 0) elign_progress_resume_at(&progress, tr->iteration);
  int64_t done_this_run = 0, last_checkpoint = tr->iteration;
  int stop = 0;
  elign_status st = ELIGN_OK;
  train_iter *next = NULL; /* the next iteration, already sampled (max_staleness ≥ 1) */
  while (!st && tr->iteration < o->iterations && !stop) {
    train_iter it;
    memset(&it, 0, sizeof it);
    if (next) {
      it = *next;
      free(next);
      next = NULL;
    }
    /* Prefetch only where no checkpoint falls: a checkpoint holds no pending rollouts,
     * so --resume from it continues exactly as the run would have. */
    int64_t after = tr->iteration + 1;
    int prefetch = o->max_staleness >= 1 && after < o->iterations && after % o->save_interval != 0 &&
                   !(start->stop_after > 0 && done_this_run + 1 >= start->stop_after);
    train_metrics m = {0};
    st = run_iteration(tr, &it, prefetch, &next, &m, err);
    if (!st) {
      tr->iteration++;
      tr->policy_version = tr->iteration; /* the weights after this iteration's update */
      done_this_run++;
      if (tr->rank == 0) {
        st = train_judges_after_iteration(tr, &m, err);
        if (!st) st = write_metrics(tr, &it, &m, err);
        log_iteration(tr, &it, &m);
        elign_progress_update(&progress, tr->iteration);
        if (!st) st = track_best(tr, &m, err);
        track_early_stop(tr, &m);
      }
    }
    int64_t index = it.it;
    train_iter_free(&it);
    /* the others wait here for rank 0's metrics and judge round */
    run_wait_begin(&tr->wait, index, "the end of the iteration (rank 0's metrics and judges, stop requests)");
    st = elign_mpi_agree(tr->comm, err);
    int want_ckpt = 0;
    if (!st) end_of_iteration_flags(tr, start, done_this_run, &stop, &want_ckpt);
    run_wait_end();
    if (st) break;
    if ((want_ckpt || stop) && next) { /* an unscheduled checkpoint: the prefetched rollouts are sampled again */
      if (tr->rank == 0)
        elign_info("checkpoint outside save_interval: iteration %lld's prefetched rollouts are dropped (sampled again, "
                   "on-policy, after it)", (long long)tr->iteration);
      discard_iteration(tr, &next);
    }
    want_ckpt = want_ckpt || stop || tr->iteration % o->save_interval == 0 || tr->iteration == o->iterations;
    if (want_ckpt) run_wait_checkpoint_pending(&tr->wait, tr->iteration);
    if (want_ckpt && tr->rank == 0) { /* rank 0 alone: its own write does not count against its deadline */
      double tc = elign_trace_begin();
      st = write_checkpoint(tr, err);
      elign_trace_end(tc, "checkpoint_io", ELIGN_TRACE_IO);
      last_checkpoint = tr->iteration;
      if (!st) run_wait_checkpoint_done(&tr->wait, tr->iteration);
    }
    /* the others wait here for rank 0's checkpoint write */
    const char *phase = want_ckpt ? "the agreement on rank 0's checkpoint" : "the end-of-iteration agreement";
    st = run_wait_agree(&tr->wait, index, phase, tr->comm, err);
    if (!st && want_ckpt) run_wait_checkpoint_done(&tr->wait, tr->iteration);
  }
  discard_iteration(tr, &next);
  if (tr->rank == 0) {
    elign_progress_finish(&progress);
    if (!st && stop)
      elign_info("stopped after iteration %lld by request; continue with: elign train CONFIG --resume %s",
                 (long long)tr->iteration, o->run_dir);
    else if (!st)
      elign_info("done: %lld iterations; weights in %s/model.h5 (`elign sample --model %s/model.h5`), last "
                 "checkpoint iteration %lld",
                 (long long)tr->iteration, o->run_dir, o->run_dir, (long long)last_checkpoint);
    else {
      char old[ELIGN_ERROR_HINT_LEN];
      snprintf(old, sizeof old, "%s", err->hint);
      elign_error_hint(err, "%s%sthe last checkpoint (iteration %lld) in %s/checkpoints is intact; --resume %s "
                            "continues from it",
                       old, old[0] ? "; " : "", (long long)last_checkpoint, o->run_dir, o->run_dir);
    }
  }
  return st;
}

elign_status train_run(const elign_world *world, const train_options *o, const elign_config *cfg,
                       const train_start *start, elign_oracle *oracle, elign_error *err) {
  trainer tr;
  memset(&tr, 0, sizeof tr);
  tr.w = world;
  tr.comm = world->actors;
  tr.o = o;
  tr.cfg = cfg;
  tr.best_metric = NAN;
  tr.early_best = tr.early_t = NAN;
  MPI_Comm_rank(tr.comm, &tr.rank);
  MPI_Comm_size(tr.comm, &tr.size);
  if (o->threads > 0) {
    omp_set_num_threads(o->threads);
    openblas_set_num_threads(o->threads);
  }
  tr.config_text = run_config_yaml(cfg);
  tr.t_run_start = elign_wtime();
  run_wait_init(&tr.wait, o->rank_wait_timeout, o->run_dir, "iteration", start->resume_dir ? RUN_WAIT_AS_BEFORE : -1);
  /* the client first: whatever fails later, the oracle ranks must hear DONE */
  setup_oracle_client(&tr, oracle, err);
  elign_status st = setup_agree(&tr, err);
  if (!st) st = trainer_setup(&tr, start, err);
  if (!st) run_trace_start(cfg, o->run_dir, world->rank, world->rank == 0 ? "learner" : "actor", 1);
  if (!st) {
    log_start(&tr);
    st = train_loop(&tr, start, err);
  }
  /* the oracle ranks stop once every actor is done, whatever happened here */
  if (tr.client) {
    elign_error derr;
    elign_error_clear(&derr);
    elign_oracle_client_done(tr.client, &derr);
  }
  trainer_free(&tr);
  elign_trace_finish();
  return st;
}
