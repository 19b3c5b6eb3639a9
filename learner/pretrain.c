/* pretrain.c — the pretraining run: options, setup, the data-parallel
 * optimizer step, evaluation, checkpoints, the loop (pretrain.h). */
#include "learner/pretrain.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/sampler.h"
#include "common/base/log.h"
#include "common/base/memory.h"
#include "common/base/trace.h"
#include "common/chem/stability.h"
#include "common/model/energy_loss.h"
#include "common/io/checkpoint.h"
#include "common/io/dataset_io.h"
#include "common/io/metrics.h"
#include "common/model/edm_model.h"
#include "common/model/train_state.h"
#include "common/mpi/roles.h"
#include "learner/pretrain_data.h"
#include "learner/run_dir.h"
#include "learner/run_wait.h"

void openblas_set_num_threads(int); /* OpenBLAS (no header declares it portably) */

#ifdef ELIGN_DOUBLE
#define MPI_ELIGN_REAL MPI_DOUBLE
#else
#define MPI_ELIGN_REAL MPI_FLOAT
#endif

/* ==== options ============================================================= */

static void copy_string(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

elign_status pretrain_options_from_config(const elign_config *cfg, pretrain_options *o, elign_error *err) {
  memset(o, 0, sizeof *o);
  if (elign_config_is_null(cfg, "data.path")) {
    ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "data.path is null: pretraining needs a dataset file");
    elign_error_hint(err, "make one with `elign data import MOLS.xyz -o D.h5 --split SPLIT.json`, then set data.path "
                          "(or --set data.path=D.h5)");
    return ELIGN_ERR_CONFIG;
  }
  copy_string(o->data_path, sizeof o->data_path, elign_config_get_string(cfg, "data.path"));
  copy_string(o->train_split, sizeof o->train_split, elign_config_get_string(cfg, "data.train_split"));
  if (!elign_config_is_null(cfg, "data.val_split"))
    copy_string(o->val_split, sizeof o->val_split, elign_config_get_string(cfg, "data.val_split"));
  run_dir_from_config(cfg, o->run_dir, sizeof o->run_dir);
  o->seed = (uint64_t)elign_config_get_int(cfg, "seed");
  o->batch = elign_config_get_int(cfg, "pretrain.batch_size");
  o->chunk = elign_config_get_int(cfg, "pretrain.chunk_size");
  o->epochs = elign_config_get_int(cfg, "pretrain.epochs");
  o->max_steps = elign_config_is_null(cfg, "pretrain.max_steps") ? 0 : elign_config_get_int(cfg, "pretrain.max_steps");
  o->lr = elign_config_get_double(cfg, "pretrain.lr");
  o->ema_decay = elign_config_get_double(cfg, "pretrain.ema_decay");
  o->hp.beta1 = elign_config_get_double(cfg, "pretrain.beta1");
  o->hp.beta2 = elign_config_get_double(cfg, "pretrain.beta2");
  o->hp.eps = elign_config_get_double(cfg, "pretrain.adam_epsilon");
  o->hp.weight_decay = elign_config_get_double(cfg, "pretrain.weight_decay");
  o->hp.amsgrad = elign_config_get_bool(cfg, "pretrain.amsgrad");
  o->clip_grad = elign_config_get_bool(cfg, "pretrain.clip_grad");
  o->augment = elign_config_get_bool(cfg, "pretrain.data_augmentation");
  o->energy_loss = strcmp(elign_config_get_string(cfg, "pretrain.loss"), "energy") == 0;
  o->energy.coeff = energy_coeff_from_name(elign_config_get_string(cfg, "pretrain.energy.coeff"));
  o->energy.k0 = elign_config_get_double(cfg, "pretrain.energy.k0");
  o->energy.weight = elign_config_get_double(cfg, "pretrain.energy.weight");
  o->sched.kind = LR_SCHEDULE_CONSTANT;
  if (!elign_config_is_null(cfg, "pretrain.scheduler.name") &&
      !lr_schedule_kind_parse(elign_config_get_string(cfg, "pretrain.scheduler.name"), &o->sched.kind))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "pretrain.scheduler.name '%s' is not a schedule",
                      elign_config_get_string(cfg, "pretrain.scheduler.name"));
  o->sched.warmup_steps = elign_config_get_int(cfg, "pretrain.scheduler.warmup_steps");
  o->sched.total_steps = elign_config_is_null(cfg, "pretrain.scheduler.total_steps")
                             ? 0
                             : elign_config_get_int(cfg, "pretrain.scheduler.total_steps");
  o->sched.min_lr_ratio = elign_config_get_double(cfg, "pretrain.scheduler.min_lr_ratio");
  o->sched.num_cycles = elign_config_get_double(cfg, "pretrain.scheduler.num_cycles");
  o->sched.stable_ratio = elign_config_get_double(cfg, "pretrain.scheduler.stable_ratio");
  o->log_every = elign_config_get_int(cfg, "pretrain.log_every");
  o->checkpoint_every = elign_config_get_int(cfg, "pretrain.checkpoint_every");
  o->keep_checkpoints = elign_config_get_int(cfg, "pretrain.keep_checkpoints");
  o->eval_every = elign_config_get_int(cfg, "pretrain.eval_every");
  o->eval_molecules =
      elign_config_is_null(cfg, "pretrain.eval_molecules") ? 0 : elign_config_get_int(cfg, "pretrain.eval_molecules");
  o->eval_samples = elign_config_get_int(cfg, "pretrain.eval_samples");
  o->eval_sample_steps =
      elign_config_is_null(cfg, "pretrain.eval_sample_steps") ? 0 : elign_config_get_int(cfg, "pretrain.eval_sample_steps");
  o->progress_seconds = elign_config_get_double(cfg, "run.log_every");
  o->threads = (int)elign_config_get_int(cfg, "mpi.threads_per_rank");
  o->rank_wait_timeout = elign_config_get_double(cfg, "mpi.timeout");

  copy_string(o->atom_types, sizeof o->atom_types, elign_config_get_string(cfg, "pretrain.model.atom_types"));
  int qm9 = strcmp(o->atom_types, "qm9") == 0;
  o->arch = qm9 ? egnn_config_qm9() : egnn_config_geom();
  o->arch.n_layers = (int)elign_config_get_int(cfg, "pretrain.model.n_layers");
  o->arch.hidden = (int)elign_config_get_int(cfg, "pretrain.model.nf");
  o->arch.attention = elign_config_get_bool(cfg, "pretrain.model.attention");
  o->arch.tanh = elign_config_get_bool(cfg, "pretrain.model.tanh");
  o->arch.coords_range = elign_config_get_double(cfg, "pretrain.model.coords_range");
  o->arch.norm_constant = elign_config_get_double(cfg, "pretrain.model.norm_constant");
  o->arch.normalization_factor = elign_config_get_double(cfg, "pretrain.model.normalization_factor");
  o->T0 = (int)elign_config_get_int(cfg, "pretrain.model.diffusion_steps");
  copy_string(o->noise_schedule, sizeof o->noise_schedule, elign_config_get_string(cfg, "pretrain.model.noise_schedule"));
  o->noise_precision = elign_config_get_double(cfg, "pretrain.model.noise_precision");
  return ELIGN_OK;
}


/* ==== the trainer ========================================================== */

typedef struct {
  int64_t sums_n;           /* steps summed */
  double loss, l2_t0, l2_t, kl, grad_norm, grad_norm_max;
  int64_t n_t0, n_t, clipped, molecules;
  double t_start;
} train_window;

typedef struct {
  MPI_Comm comm;
  int rank, size;
  const pretrain_options *o;
  const elign_config *cfg;
  char *config_text;           /* resolved YAML stored in checkpoints */

  elign_dataset_index index;   /* offsets + splits of the whole file */
  const elign_split *train, *val;
  int64_t n_val;               /* validation molecules used */

  edm_model model;             /* architecture, schedule, types, histogram; params = NULL (ts owns them) */
  train_state ts;              /* rank 0: everything; others: params and grads */
  elign_real *chunk_grads;     /* rank 0: [n], one chunk at a time (it folds as it goes);
                                  others: [(k1 − k0) · n], kept until sent */
  elign_real *eval_params;     /* ranks ≠ 0: the weights evaluations use */

  pretrain_plan plan;
  int64_t k0, k1;              /* this rank's chunks of every batch */
  pretrain_shard shard, val_shard;
  int64_t q0, q1;              /* this rank's validation chunks */
  pretrain_chunk chunk;
  egnn_workspace *ws;

  int64_t total_steps, step;
  train_window win;
  elign_metrics *metrics;
  double t_run_start;
  int64_t steps_this_run;
  run_wait wait;               /* the deadline of every wait for the other ranks (mpi.timeout) */
} trainer;

/* Per-chunk statistics shipped to rank 0 (doubles). */
enum { ST_LOSS, ST_L2, ST_KL, ST_NLPN, ST_L2_T0, ST_L2_T, ST_N_T0, ST_N_T, ST_BAD_ID, ST_COUNT };

static int64_t mol_size(const trainer *tr, int64_t file_index) {
  return tr->index.offsets[file_index + 1] - tr->index.offsets[file_index];
}

static int64_t mol_id(const trainer *tr, int64_t file_index) {
  return tr->index.ids && tr->index.ids[file_index] >= 0 ? tr->index.ids[file_index] : file_index;
}

/* ---- setup ---------------------------------------------------------------- */

static const int32_t *types_of(const char *atom_types, int *n, int *charges) {
  int qm9 = strcmp(atom_types, "qm9") == 0;
  *n = qm9 ? 5 : 16;
  *charges = qm9;
  return qm9 ? EDM_QM9_Z : EDM_GEOM_Z;
}

/* Atom-count histogram of the train split (ascending sizes) into the model. */
static elign_status set_train_histogram(trainer *tr, elign_error *err) {
  int64_t max_n = 0;
  for (int64_t q = 0; q < tr->train->n; q++)
    if (mol_size(tr, tr->train->index[q]) > max_n) max_n = mol_size(tr, tr->train->index[q]);
  double *dense = elign_calloc((size_t)max_n + 1, sizeof *dense, "pretrain:hist");
  for (int64_t q = 0; q < tr->train->n; q++) dense[mol_size(tr, tr->train->index[q])] += 1;
  int n = 0;
  int *sizes = elign_malloc(((size_t)max_n + 1) * sizeof(int), "pretrain:hist");
  double *counts = elign_malloc(((size_t)max_n + 1) * sizeof(double), "pretrain:hist");
  for (int64_t k = 1; k <= max_n; k++)
    if (dense[k] > 0) sizes[n] = (int)k, counts[n++] = dense[k];
  elign_status st = diffusion_nodes_hist_init(&tr->model.nodes, sizes, counts, n, err);
  elign_free(dense);
  elign_free(sizes);
  elign_free(counts);
  return st;
}

static elign_status setup_model(trainer *tr, elign_error *err) {
  const pretrain_options *o = tr->o;
  int n_types, charges;
  const int32_t *Z = types_of(o->atom_types, &n_types, &charges);
  egnn_config cfg = o->arch;
  cfg.in_node_nf = n_types + charges;
  elign_status st = edm_model_setup(&tr->model, &cfg, o->atom_types, n_types, Z, charges, o->T0, o->noise_schedule,
                                    o->noise_precision, err);
  if (st) return st;
  elign_free(tr->model.params); /* the training state owns the weights */
  return set_train_histogram(tr, err);
}

static elign_status setup_data(trainer *tr, elign_error *err) {
  const pretrain_options *o = tr->o;
  elign_status st = elign_dataset_read_index(o->data_path, &tr->index, err);
  if (st) {
    elign_error_prefix(err, "data.path: ");
    return st;
  }
  tr->train = elign_dataset_index_find_split(&tr->index, o->train_split);
  if (!tr->train) {
    char names[512] = "";
    for (int i = 0; i < tr->index.n_splits; i++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", tr->index.splits[i].name);
    ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s has no split '%s' to train on (data.train_split; splits in the file: %s)",
               o->data_path, o->train_split, names[0] ? names : "none");
    elign_error_hint(err, "import the data with `elign data import ... --split SPLIT.json`, or set data.train_split");
    return ELIGN_ERR_CONFIG;
  }
  if (o->val_split[0]) {
    tr->val = elign_dataset_index_find_split(&tr->index, o->val_split);
    if (!tr->val) {
      ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s has no split '%s' for validation (data.val_split)", o->data_path,
                 o->val_split);
      elign_error_hint(err, "set data.val_split to one of the file's splits, or to null for no validation");
      return ELIGN_ERR_CONFIG;
    }
    tr->n_val = tr->val->n;
    if (o->eval_molecules > 0 && o->eval_molecules < tr->n_val) tr->n_val = o->eval_molecules;
    if (tr->n_val == 0) tr->val = NULL; /* an empty split: nothing to validate on */
  }
  return ELIGN_OK;
}

/* The size of the largest molecule of a split's positions [p0, p1). */
static int64_t max_size(const trainer *tr, const elign_split *s, int64_t p0, int64_t p1) {
  int64_t m = 0;
  for (int64_t q = p0; q < p1; q++)
    if (mol_size(tr, s->index[q]) > m) m = mol_size(tr, s->index[q]);
  return m;
}

static elign_status setup_shards(trainer *tr, elign_error *err) {
  const pretrain_options *o = tr->o;
  if (o->chunk > 4096 || o->batch / (o->chunk > 0 ? o->chunk : 1) > 30000)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "pretrain.chunk_size %lld (at most 4096) or batch_size / chunk_size %lld "
                      "(at most 30000) too large", (long long)o->chunk, (long long)(o->batch / (o->chunk > 0 ? o->chunk : 1)));
  elign_status st = pretrain_plan_init(&tr->plan, tr->train->n, o->batch, o->chunk, o->seed, err);
  if (st) return st;
  if (tr->size > tr->plan.n_chunks)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG,
                      "%d ranks but only %lld chunks per batch (pretrain.batch_size / pretrain.chunk_size): lower "
                      "chunk_size or raise batch_size",
                      tr->size, (long long)tr->plan.n_chunks);
  pretrain_rank_chunks(tr->plan.n_chunks, tr->rank, tr->size, &tr->k0, &tr->k1);
  int64_t p0 = tr->plan.shard_first[tr->k0], p1 = tr->plan.shard_first[tr->k1];
  st = pretrain_shard_load(&tr->shard, o->data_path, tr->train, p0, p1, &tr->model, err);
  int64_t n_atoms_max = max_size(tr, tr->train, 0, tr->train->n);
  if (!st && tr->val) {
    int64_t n_q = (tr->n_val + o->chunk - 1) / o->chunk;
    pretrain_rank_chunks(n_q, tr->rank, tr->size, &tr->q0, &tr->q1);
    int64_t v0 = tr->q0 * o->chunk, v1 = tr->q1 * o->chunk < tr->n_val ? tr->q1 * o->chunk : tr->n_val;
    st = pretrain_shard_load(&tr->val_shard, o->data_path, tr->val, v0, v1 > v0 ? v1 : v0, &tr->model, err);
    int64_t vm = max_size(tr, tr->val, 0, tr->n_val);
    if (vm > n_atoms_max) n_atoms_max = vm;
  }
  if (st) return st;
  int64_t cap_atoms = o->chunk * n_atoms_max;
  pretrain_chunk_init(&tr->chunk, o->chunk, cap_atoms, tr->model.layout.D);
  tr->ws = egnn_workspace_create_edges(&tr->model.net, cap_atoms, o->chunk, o->chunk * n_atoms_max * (n_atoms_max - 1), 1);
  return ELIGN_OK;
}

static elign_status setup_state(trainer *tr) {
  const pretrain_options *o = tr->o;
  unsigned flags = 0;
  if (tr->rank == 0) flags = (o->hp.amsgrad ? TRAIN_STATE_AMSGRAD : TRAIN_STATE_ADAM) | (o->ema_decay > 0 ? TRAIN_STATE_EMA : 0);
  train_state_init(&tr->ts, &tr->model.net, flags);
  size_t n = tr->ts.n, nk = tr->rank == 0 ? 1 : (size_t)(tr->k1 - tr->k0);
  tr->chunk_grads = elign_calloc((nk ? nk : 1) * n, sizeof *tr->chunk_grads, "pretrain:chunk_grads");
  if (tr->rank != 0) tr->eval_params = elign_calloc(n, sizeof *tr->eval_params, "pretrain:eval_params");
  /* Every rank draws the same initial weights from the seed; rank 0's EMA starts there (EDM deep-copies). */
  egnn_params_init_random(&tr->model.net, tr->ts.params, tr->o->seed);
  train_state_reset_ema(&tr->ts);
  tr->ts.ema_decay = o->ema_decay;
  return ELIGN_OK;
}

/* ---- run directory --------------------------------------------------------- */

#define CKPT_PREFIX "step_"
static const char *const OWN_FILES[] = {"model.h5"}; /* deleted by --force besides checkpoints, metrics, config */

static elign_status prepare_run_dir(const char *run_dir, const pretrain_start *start, elign_error *err) {
  return run_dir_prepare(run_dir, start->resume_dir != NULL, start->force, CKPT_PREFIX, OWN_FILES, 1, err);
}

/* ---- checkpoints ------------------------------------------------------------- */

/* The model part of a checkpoint: architecture, weights, histogram, config. */
static elign_status model_checkpoint(const trainer *tr, const elign_real *weights, elign_checkpoint *c,
                                     elign_error *err) {
  elign_checkpoint_init(c);
  elign_status st = edm_model_to_checkpoint(&tr->model, weights, c, err);
  if (st) return st;
  elign_checkpoint_set_config(c, tr->config_text);
  elign_checkpoint_set_rng(c, tr->o->seed, 0, NULL);
  c->iteration = tr->step;
  c->optimizer_step = tr->step;
  c->epoch = tr->step / tr->plan.steps_per_epoch;
  return ELIGN_OK;
}

static void prune_checkpoints(const trainer *tr) { run_dir_prune(tr->o->run_dir, CKPT_PREFIX, tr->o->keep_checkpoints); }

/* Rank 0: RUN/checkpoints/step_<n>.h5 (training state) and RUN/model.h5 (EMA). */
static elign_status write_checkpoint(trainer *tr, elign_error *err) {
  char path[RUN_PATH_MAX + 64];
  elign_checkpoint c;
  elign_status st = model_checkpoint(tr, tr->ts.params, &c, err);
  if (!st) {
    train_state_to_checkpoint(&tr->ts, &c);
    run_dir_checkpoint_path(path, sizeof path, tr->o->run_dir, CKPT_PREFIX, tr->step);
    st = elign_checkpoint_write(&c, path, err);
  }
  elign_checkpoint_free(&c);
  if (!st) st = model_checkpoint(tr, tr->ts.ema ? tr->ts.ema : tr->ts.params, &c, err);
  if (!st) {
    snprintf(path, sizeof path, "%s/model.h5", tr->o->run_dir);
    st = elign_checkpoint_write(&c, path, err);
  }
  elign_checkpoint_free(&c);
  if (!st) {
    prune_checkpoints(tr);
    elign_info("checkpoint: step %lld -> %s/checkpoints/step_%09lld.h5 and %s/model.h5", (long long)tr->step,
               tr->o->run_dir, (long long)tr->step, tr->o->run_dir);
  }
  return st;
}

/* Config key (for messages) of an architecture attribute. */
static const char *arch_key(const char *attr) {
  static const char *map[][2] = {{"n_layers", "pretrain.model.n_layers"},
                                 {"nf", "pretrain.model.nf"},
                                 {"attention", "pretrain.model.attention"},
                                 {"tanh", "pretrain.model.tanh"},
                                 {"coords_range", "pretrain.model.coords_range"},
                                 {"norm_constant", "pretrain.model.norm_constant"},
                                 {"normalization_factor", "pretrain.model.normalization_factor"},
                                 {"diffusion_steps", "pretrain.model.diffusion_steps"},
                                 {"diffusion_noise_schedule", "pretrain.model.noise_schedule"},
                                 {"diffusion_noise_precision", "pretrain.model.noise_precision"},
                                 {"dataset", "pretrain.model.atom_types"},
                                 {"atomic_numbers", "pretrain.model.atom_types"},
                                 {"include_charges", "pretrain.model.atom_types"},
                                 {"gamma_table", "pretrain.model.noise_schedule"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(map[i][0], attr) == 0) return map[i][1];
  return attr;
}

/* The config's architecture must be the checkpoint's. */
static elign_status check_architecture(const trainer *tr, const elign_checkpoint *file, const char *path,
                                       elign_error *err) {
  elign_checkpoint mine;
  elign_status st = model_checkpoint(tr, tr->ts.params, &mine, err);
  if (!st) st = run_check_architecture(&mine, file, path, tr->o->run_dir, arch_key, err);
  elign_checkpoint_free(&mine);
  return st;
}

/* Rank 0: the newest checkpoint of --resume's directory into the state. */
static elign_status read_resume_checkpoint(trainer *tr, elign_error *err) {
  int64_t *steps;
  int n = run_dir_list_checkpoints(tr->o->run_dir, CKPT_PREFIX, &steps);
  if (n == 0) {
    free(steps);
    ELIGN_FAIL(err, ELIGN_ERR_IO, "--resume %s: no checkpoint (checkpoints/step_*.h5) to resume from", tr->o->run_dir);
    elign_error_hint(err, "a run writes its first checkpoint after pretrain.checkpoint_every steps; start it again "
                          "without --resume (with --force)");
    return ELIGN_ERR_IO;
  }
  char path[RUN_PATH_MAX + 64];
  run_dir_checkpoint_path(path, sizeof path, tr->o->run_dir, CKPT_PREFIX, steps[n - 1]);
  free(steps);
  elign_checkpoint c;
  elign_status st = elign_checkpoint_read(&c, path, err);
  if (!st) st = check_architecture(tr, &c, path, err);
  if (!st) {
    st = train_state_from_checkpoint(&tr->ts, &c, err);
    if (st) elign_error_prefix(err, "%s: ", path);
  }
  if (!st && tr->ts.step != c.iteration)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: optimizer step %lld but iteration %lld", path, (long long)tr->ts.step,
                    (long long)c.iteration);
  if (!st) elign_info("resuming from %s (step %lld, epoch %lld)", path, (long long)c.iteration, (long long)c.epoch);
  if (!st && c.config_text) run_warn_config_changes(c.config_text, tr->config_text);
  if (!st) st = run_metrics_rewind(tr->o->run_dir, "step", c.iteration, err); /* lines after the checkpoint */
  elign_checkpoint_free(&c);
  return st;
}

/* ---- one optimizer step --------------------------------------------------- */

/* Largest molecule of the batch of step `step` (every rank knows every size). */
static int64_t batch_max_atoms(trainer *tr, int64_t step) {
  int64_t pos[4096], m = 0;
  ELIGN_ASSERT(tr->plan.chunk <= 4096);
  for (int64_t k = 0; k < tr->plan.n_chunks; k++) {
    pretrain_plan_chunk(&tr->plan, step, k, pos);
    for (int64_t j = 0; j < tr->plan.chunk; j++) {
      int64_t n = mol_size(tr, tr->train->index[pos[j]]);
      if (n > m) m = n;
    }
  }
  return m;
}

/* The dataset id of the first molecule of the packed chunk with a
 * non-finite ε̂, or −1. */
static double first_nonfinite(const trainer *tr, const pretrain_chunk *ch) {
  int D = tr->model.layout.D;
  for (int64_t b = 0; b < ch->n_mol; b++)
    for (int64_t j = ch->offsets[b] * D; j < ch->offsets[b + 1] * D; j++)
      if (!isfinite(ch->eps_hat[j])) return (double)mol_id(tr, ch->file_index[b]);
  return -1;
}

static void terms_to_stats(const diffusion_loss_terms *L, double bad_id, double *st) {
  st[ST_LOSS] = L->loss;
  st[ST_L2] = L->l2_term;
  st[ST_KL] = L->kl_prior;
  st[ST_NLPN] = L->neg_log_pn;
  st[ST_L2_T0] = L->l2_sum_t0;
  st[ST_L2_T] = L->l2_sum_t;
  st[ST_N_T0] = (double)L->n_t0;
  st[ST_N_T] = (double)L->n_t;
  st[ST_BAD_ID] = bad_id;
}

/* This rank's chunks: gradients (rank 0 folds them into ts.grads in order,
 * others keep them for sending) and statistics. */
static elign_status compute_chunks(trainer *tr, int64_t N_batch, double *stats, elign_error *err) {
  size_t n = tr->ts.n;
  int64_t pos[4096], local[4096];
  pretrain_keys keys = {tr->o->seed, (uint64_t)tr->step, 0, tr->o->augment};
  for (int64_t k = tr->k0; k < tr->k1; k++) {
    pretrain_plan_chunk(&tr->plan, tr->step, k, pos);
    for (int64_t j = 0; j < tr->plan.chunk; j++) local[j] = pos[j] - tr->shard.pos0;
    pretrain_chunk_pack(&tr->chunk, &tr->shard, local, tr->plan.chunk, &tr->model, &keys);
    elign_real *g = tr->chunk_grads + (tr->rank == 0 ? 0 : (size_t)(k - tr->k0) * n);
    memset(g, 0, n * sizeof *g);
    diffusion_loss_terms L;
    memset(&L, 0, sizeof L);
    elign_status st =
        pretrain_chunk_loss(&tr->model, tr->ts.params, tr->ws, &tr->chunk, tr->o->batch, N_batch,
                            pretrain_energy_option(tr->o), g, &L, err);
    if (st) return st;
    terms_to_stats(&L, first_nonfinite(tr, &tr->chunk), stats + (k - tr->k0) * ST_COUNT);
    if (tr->rank == 0) /* the fold: ((0 + g_0) + g_1) + ... in chunk order */
      for (size_t i = 0; i < n; i++) tr->ts.grads[i] += g[i];
  }
  return ELIGN_OK;
}

/* Rank 0 receives the other ranks' chunk gradients in chunk order and adds
 * them; the others send theirs. Tags are the chunk numbers. */
static void reduce_chunk_grads(trainer *tr) {
  size_t n = tr->ts.n;
  if (tr->rank == 0) {
    for (int r = 1; r < tr->size; r++) {
      int64_t a, b;
      pretrain_rank_chunks(tr->plan.n_chunks, r, tr->size, &a, &b);
      for (int64_t k = a; k < b; k++) {
        MPI_Recv(tr->chunk_grads, (int)n, MPI_ELIGN_REAL, r, (int)k, tr->comm, MPI_STATUS_IGNORE);
        for (size_t i = 0; i < n; i++) tr->ts.grads[i] += tr->chunk_grads[i];
      }
    }
  } else {
    for (int64_t k = tr->k0; k < tr->k1; k++)
      MPI_Send(tr->chunk_grads + (size_t)(k - tr->k0) * n, (int)n, MPI_ELIGN_REAL, 0, (int)k, tr->comm);
  }
}

/* All chunks' statistics on rank 0, in chunk order (chunk k at all[k·ST_COUNT]). */
static void gather_stats(trainer *tr, const double *mine, int64_t n_mine, double *all, int64_t n_chunks,
                         void (*range)(int64_t, int, int, int64_t *, int64_t *)) {
  int *counts = NULL, *displs = NULL;
  if (tr->rank == 0) {
    counts = elign_malloc((size_t)tr->size * sizeof *counts, "stats");
    displs = elign_malloc((size_t)tr->size * sizeof *displs, "stats");
    for (int r = 0; r < tr->size; r++) {
      int64_t a, b;
      range(n_chunks, r, tr->size, &a, &b);
      counts[r] = (int)((b - a) * ST_COUNT);
      displs[r] = (int)(a * ST_COUNT);
    }
  }
  MPI_Gatherv(mine, (int)(n_mine * ST_COUNT), MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, tr->comm);
  free(counts);
  free(displs);
}

static double learning_rate(const trainer *tr) {
  lr_schedule s = tr->o->sched;
  if (s.total_steps <= 0) s.total_steps = tr->total_steps;
  return tr->o->lr * lr_schedule_factor(&s, tr->step);
}

/* Rank 0: a non-finite loss or gradient stops the run, naming the molecules. */
static elign_status nan_error(trainer *tr, const double *all, double loss, double grad_norm, elign_error *err) {
  char ids[768] = "";
  int64_t pos[4096];
  size_t used = 0;
  for (int64_t k = 0; k < tr->plan.n_chunks && used < sizeof ids - 32; k++) {
    pretrain_plan_chunk(&tr->plan, tr->step, k, pos);
    for (int64_t j = 0; j < tr->plan.chunk && used < sizeof ids - 32; j++)
      used += (size_t)snprintf(ids + used, sizeof ids - used, "%s%lld", used ? " " : "",
                               (long long)mol_id(tr, tr->train->index[pos[j]]));
  }
  if (used >= sizeof ids - 32) snprintf(ids + used, sizeof ids - used, " ...");
  double bad = -1;
  for (int64_t k = 0; k < tr->plan.n_chunks && bad < 0; k++) bad = all[k * ST_COUNT + ST_BAD_ID];
  char first[96] = "";
  if (bad >= 0) snprintf(first, sizeof first, "; the network output is first non-finite for molecule id %.0f", bad);
  ELIGN_FAIL(err, ELIGN_ERR_NUMERIC,
             "%s is %g in optimizer step %lld (epoch %lld)%s; the batch's molecules (dataset ids): %s",
             isfinite(loss) ? "the gradient norm" : "the loss", isfinite(loss) ? grad_norm : loss, (long long)tr->step + 1,
             (long long)(tr->step / tr->plan.steps_per_epoch), first, ids);
  elign_error_hint(err, "the run stopped without writing a checkpoint; the last one in %s/checkpoints is intact "
                        "(check those molecules, lower pretrain.lr, or keep pretrain.clip_grad on)",
                   tr->o->run_dir);
  return ELIGN_ERR_NUMERIC;
}

static void window_reset(train_window *w) {
  memset(w, 0, sizeof *w);
  w->grad_norm_max = 0;
  w->t_start = elign_wtime();
}

static elign_status optimizer_step(trainer *tr, const double *all, elign_error *err) {
  double loss = 0, l2 = 0, kl = 0, l2_t0 = 0, l2_t = 0, n_t0 = 0, n_t = 0;
  for (int64_t k = 0; k < tr->plan.n_chunks; k++) {
    const double *s = all + k * ST_COUNT;
    loss += s[ST_LOSS], l2 += s[ST_L2], kl += s[ST_KL];
    l2_t0 += s[ST_L2_T0], l2_t += s[ST_L2_T], n_t0 += s[ST_N_T0], n_t += s[ST_N_T];
  }
  train_step_info info;
  double lr = learning_rate(tr);
  if (!isfinite(loss)) return nan_error(tr, all, loss, 0, err);
  elign_status st = train_state_step(&tr->ts, &tr->o->hp, lr, tr->o->clip_grad, tr->o->ema_decay, &info, err);
  if (st) return nan_error(tr, all, loss, info.grad_norm, err);
  train_window *w = &tr->win;
  w->sums_n++;
  w->loss += loss;
  w->kl += kl;
  w->l2_t0 += l2_t0, w->n_t0 += (int64_t)n_t0;
  w->l2_t += l2_t, w->n_t += (int64_t)n_t;
  w->grad_norm += info.grad_norm;
  if (info.grad_norm > w->grad_norm_max) w->grad_norm_max = info.grad_norm;
  w->clipped += info.clipped;
  w->molecules += tr->plan.batch;
  return ELIGN_OK;
}

/* One whole step on every rank; tr->step advances. */
static elign_status train_step(trainer *tr, elign_error *err) {
  int64_t nk = tr->k1 - tr->k0;
  double *mine = elign_malloc((size_t)(nk ? nk : 1) * ST_COUNT * sizeof(double), "stats");
  double *all = tr->rank == 0 ? elign_malloc((size_t)tr->plan.n_chunks * ST_COUNT * sizeof(double), "stats") : NULL;
  int64_t N_batch = batch_max_atoms(tr, tr->step);
  elign_trace_iteration(tr->step);
  double t_step = elign_trace_begin(), tt = t_step;
  elign_status st = compute_chunks(tr, N_batch, mine, err);
  elign_trace_end(tt, "gradient", ELIGN_TRACE_BUSY);
  tt = elign_trace_begin();
  /* waits: for the slowest rank's chunks (the reduction), then for rank 0's optimizer step (the broadcast) */
  int64_t number = tr->step + 1; /* as the logs count steps */
  run_wait_begin(&tr->wait, number, "the gradient reduction");
  st = elign_mpi_agree(tr->comm, err);
  if (!st) {
    reduce_chunk_grads(tr);
    gather_stats(tr, mine, nk, all, tr->plan.n_chunks, pretrain_rank_chunks);
    run_wait_end();
    elign_trace_end(tt, "reduce", ELIGN_TRACE_WAIT);
    tt = elign_trace_begin();
    if (tr->rank == 0) st = optimizer_step(tr, all, err);
    if (tr->rank == 0) elign_trace_end(tt, "optimizer", ELIGN_TRACE_BUSY);
    tt = elign_trace_begin();
    run_wait_begin(&tr->wait, number, "the weight broadcast");
    st = elign_mpi_agree(tr->comm, err);
  }
  if (!st) {
    MPI_Bcast(tr->ts.params, (int)tr->ts.n, MPI_ELIGN_REAL, 0, tr->comm);
    tr->step++;
  }
  run_wait_end();
  elign_trace_end(tt, "broadcast", ELIGN_TRACE_WAIT);
  elign_trace_end(t_step, "iteration", ELIGN_TRACE_ITERATION);
  free(mine);
  free(all);
  return st;
}

/* ---- evaluation ------------------------------------------------------------- */

/* Validation loss of the weights w (every rank; the result on rank 0):
 * the validation split's first n_val molecules in order, batches of B in
 * chunks of c, fixed noise (member 1, iteration 0). Returns the mean nll per
 * molecule; *l2 the mean l2 part. */
static elign_status validation_loss(trainer *tr, const elign_real *w, double *nll, double *l2, elign_error *err) {
  const pretrain_options *o = tr->o;
  int64_t c = o->chunk, per_batch = o->batch / c, n_q = (tr->n_val + c - 1) / c, nq = tr->q1 - tr->q0;
  double *mine = elign_calloc((size_t)(nq ? nq : 1) * ST_COUNT, sizeof(double), "val:stats");
  pretrain_keys keys = {o->seed, 0, 1, 0};
  elign_status st = ELIGN_OK;
  for (int64_t q = tr->q0; q < tr->q1 && !st; q++) {
    /* this chunk's batch: chunks [b·per_batch, (b+1)·per_batch) of the split's first n_val molecules */
    int64_t b = q / per_batch, m0 = b * o->batch, m1 = m0 + o->batch < tr->n_val ? m0 + o->batch : tr->n_val;
    int64_t q_lo = q * c, q_hi = q_lo + c < tr->n_val ? q_lo + c : tr->n_val;
    int64_t local[4096];
    for (int64_t j = q_lo; j < q_hi; j++) local[j - q_lo] = j - tr->val_shard.pos0;
    pretrain_chunk_pack(&tr->chunk, &tr->val_shard, local, q_hi - q_lo, &tr->model, &keys);
    diffusion_loss_terms L;
    memset(&L, 0, sizeof L);
    st = pretrain_chunk_loss(&tr->model, w, tr->ws, &tr->chunk, m1 - m0, max_size(tr, tr->val, m0, m1),
                             pretrain_energy_option(tr->o), NULL, &L, err);
    /* the chunk's share of its batch's mean, times the batch size: a per-molecule sum */
    L.loss *= (double)(m1 - m0);
    L.l2_term *= (double)(m1 - m0);
    terms_to_stats(&L, -1, mine + (q - tr->q0) * ST_COUNT);
  }
  run_wait_begin(&tr->wait, tr->step, "the evaluation (the validation loss)");
  st = elign_mpi_agree(tr->comm, err);
  double *all = tr->rank == 0 ? elign_malloc((size_t)(n_q ? n_q : 1) * ST_COUNT * sizeof(double), "val:all") : NULL;
  if (!st) gather_stats(tr, mine, nq, all, n_q, pretrain_rank_chunks);
  run_wait_end();
  if (!st && tr->rank == 0) {
    double s = 0, s2 = 0;
    for (int64_t q = 0; q < n_q; q++) s += all[q * ST_COUNT + ST_LOSS], s2 += all[q * ST_COUNT + ST_L2];
    *nll = s / (double)tr->n_val;
    *l2 = s2 / (double)tr->n_val;
  }
  free(mine);
  free(all);
  return st;
}

/* EDM's atom and molecule stability of o->eval_samples molecules sampled
 * from the weights w (every rank samples its share of the global index space,
 * keyed by index: the result does not depend on the rank count; the counts
 * are merged on rank 0 in rank order = index order). */
static elign_status sample_stability(trainer *tr, elign_real *w, elign_stability_stats *stats, elign_error *err) {
  const pretrain_options *o = tr->o;
  elign_stability_stats_init(stats);
  tr->model.params = w; /* borrowed for the sampler; the training state owns it */
  sampler_config sc = {.model = &tr->model, .T = 0, .steps = (int)o->eval_sample_steps, .seed = o->seed,
                       .iteration = 0, .batch = o->batch, .progress_label = NULL};
  int64_t first, count;
  sampler_rank_range(o->eval_samples, o->batch, tr->rank, tr->size, &first, &count);
  sampler_output out;
  memset(&out, 0, sizeof out);
  elign_status st = sampler_run(&sc, first, count, NULL, &out, err);
  tr->model.params = NULL;
  elign_stability_stats mine;
  elign_stability_stats_init(&mine);
  if (!st) elign_molset_stability(&out.mols, strcmp(o->atom_types, "geom") == 0, &mine, NULL, NULL);
  if (!st) sampler_output_free(&out);
  run_wait_begin(&tr->wait, tr->step, "the evaluation (the stability samples)");
  st = elign_mpi_agree(tr->comm, err);
  if (st) {
    run_wait_end();
    return st;
  }
  double packed[5] = {(double)mine.n_molecules, (double)mine.n_stable_molecules, (double)mine.n_atoms,
                      (double)mine.n_stable_atoms, mine.sum_atom_fraction};
  double *all = tr->rank == 0 ? elign_malloc((size_t)tr->size * sizeof packed, "eval:stab") : NULL;
  MPI_Gather(packed, 5, MPI_DOUBLE, all, 5, MPI_DOUBLE, 0, tr->comm);
  run_wait_end();
  for (int r = 0; tr->rank == 0 && r < tr->size; r++) {
    const double *p = all + 5 * r;
    elign_stability_stats s = {(int64_t)p[0], (int64_t)p[1], (int64_t)p[2], (int64_t)p[3], p[4]};
    elign_stability_stats_merge(stats, &s);
  }
  free(all);
  return ELIGN_OK;
}

static elign_status evaluate(trainer *tr, elign_error *err) {
  double t0 = elign_wtime(), nll = NAN, l2 = NAN;
  /* the weights evaluated: rank 0's EMA (or raw weights without EMA), on every rank */
  elign_real *w = tr->rank == 0 ? (tr->ts.ema ? tr->ts.ema : tr->ts.params) : tr->eval_params;
  run_wait_begin(&tr->wait, tr->step, "the evaluation (the weights to every rank)");
  MPI_Bcast(w, (int)tr->ts.n, MPI_ELIGN_REAL, 0, tr->comm);
  run_wait_end();
  elign_status st = tr->val ? validation_loss(tr, w, &nll, &l2, err) : ELIGN_OK;
  double t1 = elign_wtime();
  elign_stability_stats stab;
  elign_stability_stats_init(&stab);
  if (!st && tr->o->eval_samples > 0) st = sample_stability(tr, w, &stab, err);
  if (!st && tr->rank == 0) {
    elign_metrics_begin(tr->metrics);
    elign_metrics_string(tr->metrics, "phase", "eval");
    elign_metrics_int(tr->metrics, "step", tr->step);
    elign_metrics_int(tr->metrics, "epoch", tr->step / tr->plan.steps_per_epoch);
    elign_metrics_string(tr->metrics, "weights", tr->ts.ema ? "ema" : "raw");
    elign_metrics_double(tr->metrics, "val_loss", nll);
    elign_metrics_double(tr->metrics, "val_l2", l2);
    elign_metrics_int(tr->metrics, "val_molecules", tr->val ? tr->n_val : 0);
    if (tr->o->eval_samples > 0) {
      elign_metrics_int(tr->metrics, "samples", stab.n_molecules);
      elign_metrics_int(tr->metrics, "sample_steps", tr->o->eval_sample_steps > 0 ? tr->o->eval_sample_steps : tr->model.T0);
      elign_metrics_double(tr->metrics, "atom_stability", elign_stability_atom_pooled(&stab));
      elign_metrics_double(tr->metrics, "molecule_stability", elign_stability_molecule(&stab));
      elign_metrics_double(tr->metrics, "sampling_seconds", elign_wtime() - t1);
    }
    elign_metrics_double(tr->metrics, "seconds", elign_wtime() - t0);
    st = elign_metrics_end(tr->metrics, err);
    if (tr->val)
      elign_info("eval: step %lld, validation loss %.5f (l2 part %.5f) of the %s weights on %lld molecules",
                 (long long)tr->step, nll, l2, tr->ts.ema ? "EMA" : "raw", (long long)tr->n_val);
    if (tr->o->eval_samples > 0)
      elign_info("eval: step %lld, %lld samples (%lld steps): atom stability %.2f%%, molecule stability %.2f%% (%.0f s)",
                 (long long)tr->step, (long long)stab.n_molecules,
                 (long long)(tr->o->eval_sample_steps > 0 ? tr->o->eval_sample_steps : tr->model.T0),
                 100 * elign_stability_atom_pooled(&stab), 100 * elign_stability_molecule(&stab), elign_wtime() - t1);
  }
  return st;
}

/* ---- metrics and progress ---------------------------------------------------- */

static elign_status log_window(trainer *tr, elign_error *err) {
  train_window *w = &tr->win;
  if (w->sums_n == 0) return ELIGN_OK;
  double dt = elign_wtime() - w->t_start, n = (double)w->sums_n;
  double loss = w->loss / n, lt0 = w->n_t0 ? w->l2_t0 / (double)w->n_t0 : NAN;
  double lt = w->n_t ? w->l2_t / (double)w->n_t : NAN;
  elign_metrics *m = tr->metrics;
  elign_metrics_begin(m);
  elign_metrics_string(m, "phase", "train");
  elign_metrics_int(m, "step", tr->step);
  elign_metrics_int(m, "epoch", (tr->step - 1) / tr->plan.steps_per_epoch);
  elign_metrics_double(m, "loss", loss);
  elign_metrics_double(m, "loss_t", lt);
  elign_metrics_double(m, "loss_t0", lt0);
  elign_metrics_int(m, "n_t0", w->n_t0);
  elign_metrics_double(m, "kl_prior", w->kl / n);
  elign_metrics_double(m, "grad_norm", w->grad_norm / n);
  elign_metrics_double(m, "grad_norm_max", w->grad_norm_max);
  elign_metrics_double(m, "clipped_fraction", (double)w->clipped / n);
  elign_metrics_double(m, "lr", learning_rate(tr));
  elign_metrics_double(m, "steps_per_s", n / (dt > 0 ? dt : 1e-9));
  elign_metrics_double(m, "molecules_per_s", (double)w->molecules / (dt > 0 ? dt : 1e-9));
  elign_metrics_double(m, "wall_s", elign_wtime() - tr->t_run_start);
  elign_metrics_double(m, "rss_mb", elign_memory_resident() / (1024.0 * 1024.0)); /* rank 0's */
  elign_status st = elign_metrics_end(m, err);
  char t0[32] = "-";
  if (isfinite(lt0)) snprintf(t0, sizeof t0, "%.4f", lt0);
  elign_info("step %lld/%lld epoch %lld: loss %.4f (l2 t>0 %.4f, t=0 %s) grad %.3g%s lr %.3g, %.1f mol/s",
             (long long)tr->step, (long long)tr->total_steps, (long long)((tr->step - 1) / tr->plan.steps_per_epoch),
             loss, lt, t0, w->grad_norm / n, w->clipped ? " (clipped)" : "", learning_rate(tr),
             (double)w->molecules / (dt > 0 ? dt : 1e-9));
  window_reset(w);
  return st;
}

/* ---- the run --------------------------------------------------------------- */

static void trainer_free(trainer *tr) {
  elign_metrics_close(&tr->metrics);
  egnn_workspace_free(&tr->ws);
  pretrain_chunk_free(&tr->chunk);
  pretrain_shard_free(&tr->shard);
  pretrain_shard_free(&tr->val_shard);
  pretrain_plan_free(&tr->plan);
  train_state_free(&tr->ts);
  elign_free(tr->chunk_grads);
  elign_free(tr->eval_params);
  edm_model_free(&tr->model);
  elign_dataset_index_free(&tr->index);
  free(tr->config_text);
}

/* The phase of every wait before the first step. */
#define START_UP "the start-up (run directory, data shards, resume checkpoint, weights to every rank)"

static elign_status setup_agree(trainer *tr, elign_error *err) {
  return run_wait_agree(&tr->wait, -1, START_UP, tr->comm, err);
}

/* Everything before the first step; collective, agreed status. */
static elign_status trainer_setup(trainer *tr, const pretrain_start *start, elign_error *err) {
  const pretrain_options *o = tr->o;
  elign_status st = ELIGN_OK;
  if (tr->rank == 0) st = prepare_run_dir(o->run_dir, start, err);
  if (setup_agree(tr, err)) return err->status;
  st = setup_data(tr, err); /* every rank reads the small index and finds the same problems */
  if (!st) st = setup_model(tr, err);
  if (!st) st = setup_shards(tr, err);
  if (!st) st = setup_state(tr);
  if (setup_agree(tr, err)) return err->status;
  tr->total_steps = o->max_steps > 0 ? o->max_steps : o->epochs * tr->plan.steps_per_epoch;
  if (tr->rank == 0 && start->resume_dir) st = read_resume_checkpoint(tr, err);
  if (setup_agree(tr, err)) return err->status;
  int64_t step = tr->ts.step;
  run_wait_begin(&tr->wait, -1, START_UP);
  MPI_Bcast(&step, 1, MPI_INT64_T, 0, tr->comm);
  MPI_Bcast(tr->ts.params, (int)tr->ts.n, MPI_ELIGN_REAL, 0, tr->comm);
  run_wait_end();
  tr->step = tr->ts.step = step;
  if (start->resume_dir) run_wait_checkpoint_done(&tr->wait, step); /* the one resumed from */
  if (tr->rank == 0) {
    st = elign_config_write_resolved(tr->cfg, o->run_dir, err);
    if (!st) tr->metrics = elign_metrics_open(o->run_dir, "metrics.jsonl", err);
    if (!st && !tr->metrics) st = err->status;
  }
  return setup_agree(tr, err);
}

static void log_start(const trainer *tr) {
  if (tr->rank != 0) return;
  const pretrain_options *o = tr->o;
  elign_info("pretraining %s: %d layers x %d features (%zu parameters), %lld train molecules in %lld chunks of %lld "
             "per batch of %lld, %lld steps per epoch, %lld steps in total, on %d rank(s) (chunks %lld..%lld on rank 0)",
             o->run_dir, o->arch.n_layers, o->arch.hidden, tr->ts.n, (long long)tr->train->n,
             (long long)tr->plan.n_chunks, (long long)o->chunk, (long long)o->batch,
             (long long)tr->plan.steps_per_epoch, (long long)tr->total_steps, tr->size, (long long)tr->k0,
             (long long)tr->k1 - 1);
}

elign_status pretrain_run(MPI_Comm comm, const pretrain_options *o, const elign_config *cfg,
                          const pretrain_start *start, elign_error *err) {
  trainer tr;
  memset(&tr, 0, sizeof tr);
  tr.comm = comm;
  tr.o = o;
  tr.cfg = cfg;
  MPI_Comm_rank(comm, &tr.rank);
  MPI_Comm_size(comm, &tr.size);
  if (o->threads > 0) {
    omp_set_num_threads(o->threads);
    openblas_set_num_threads(o->threads);
  }
  tr.config_text = run_config_yaml(cfg);
  run_wait_init(&tr.wait, o->rank_wait_timeout, o->run_dir, "step", start->resume_dir ? RUN_WAIT_AS_BEFORE : -1);
  elign_status st = trainer_setup(&tr, start, err);
  if (st) {
    trainer_free(&tr);
    return st;
  }
  log_start(&tr);
  run_trace_start(cfg, o->run_dir, tr.rank, tr.rank == 0 ? "learner" : "actor", 1);
  if (tr.step >= tr.total_steps && tr.rank == 0)
    elign_info("the checkpoint is at step %lld of %lld: nothing to train (raise pretrain.max_steps or epochs)",
               (long long)tr.step, (long long)tr.total_steps);
  elign_progress progress;
  if (tr.rank == 0) {
    elign_progress_start(&progress, "pretraining (optimizer steps)", tr.total_steps, o->progress_seconds);
    elign_progress_resume_at(&progress, tr.step);
  }
  tr.t_run_start = elign_wtime();
  window_reset(&tr.win);
  int64_t last_checkpoint = tr.step;
  int stopped = 0;
  while (!st && tr.step < tr.total_steps && !stopped) {
    st = train_step(&tr, err);
    if (st) break;
    tr.steps_this_run++;
    if (tr.rank == 0) {
      elign_progress_update(&progress, tr.step);
      if (tr.step % o->log_every == 0 || tr.step == tr.total_steps) st = log_window(&tr, err);
    }
    int sig_stop, sig_ckpt;
    run_signals_take(&sig_stop, &sig_ckpt);
    int local[2] = {sig_stop || (start->stop_after > 0 && tr.steps_this_run >= start->stop_after), sig_ckpt};
    int any[2];
    /* the others wait here for rank 0's metrics line */
    run_wait_begin(&tr.wait, tr.step, "the end of the step (stop and checkpoint requests)");
    MPI_Allreduce(local, any, 2, MPI_INT, MPI_MAX, comm);
    run_wait_end();
    stopped = any[0];
    int want_ckpt = tr.step % o->checkpoint_every == 0 || tr.step == tr.total_steps || any[0] || any[1];
    if (want_ckpt) run_wait_checkpoint_pending(&tr.wait, tr.step);
    if (!st && want_ckpt && tr.rank == 0) { /* rank 0 alone: its own write does not count against its deadline */
      double tc = elign_trace_begin();
      st = write_checkpoint(&tr, err);
      elign_trace_end(tc, "checkpoint_io", ELIGN_TRACE_IO);
      last_checkpoint = tr.step;
      if (!st) run_wait_checkpoint_done(&tr.wait, tr.step);
    }
    /* the others wait here for rank 0's checkpoint write */
    const char *phase = want_ckpt ? "the agreement on rank 0's checkpoint" : "the end-of-step agreement";
    st = run_wait_agree(&tr.wait, tr.step, phase, comm, err);
    if (!st && want_ckpt) run_wait_checkpoint_done(&tr.wait, tr.step);
    int want_eval = (o->eval_every > 0 && tr.step % o->eval_every == 0) || tr.step == tr.total_steps;
    if (!st && want_eval) st = evaluate(&tr, err);
  }
  if (tr.rank == 0) {
    elign_progress_finish(&progress);
    if (!st && stopped)
      elign_info("stopped at step %lld by request; continue with: elign pretrain CONFIG --resume %s", (long long)tr.step,
                 o->run_dir);
    else if (!st)
      elign_info("done: step %lld, model (EMA weights) in %s/model.h5, last checkpoint step %lld", (long long)tr.step,
                 o->run_dir, (long long)last_checkpoint);
  }
  trainer_free(&tr);
  elign_trace_finish();
  return st;
}
