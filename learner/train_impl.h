/* train_impl.h — the pieces of `elign train` shared by its files (internal).
 *
 *   train_run.c      setup, the iteration loop, checkpoints, resume, metrics
 *   train_rollout.c  the actor's rollout with the oracle fed from its frame
 *                    callback, and the gather of the reward inputs to rank 0
 *   train_reward.c   rank 0: rewards, filter, advantages; the broadcast of
 *                    the kept molecules and their advantages
 *   train_update.c   the PPO update: units of gradient work, their fixed-
 *                    order reduction on rank 0, clipping, AdamW, broadcast
 */
#ifndef ELIGN_TRAIN_IMPL_H
#define ELIGN_TRAIN_IMPL_H

#include <stdint.h>

#include "actor/rollout.h"
#include "common/chem/bonds.h"
#include "common/chem/elements.h"
#include "common/chem/smiles_set.h"
#include "common/io/metrics.h"
#include "common/model/edm_model.h"
#include "common/model/train_state.h"
#include "learner/advantages.h"
#include "learner/filter.h"
#include "learner/ppo.h"
#include "learner/rewards.h"
#include "learner/run_wait.h"
#include "learner/shaping.h"
#include "learner/signal_watch.h"
#include "learner/train.h"
#include "oracle/service/client.h"

#ifdef ELIGN_DOUBLE
#define MPI_ELIGN_REAL MPI_DOUBLE
#else
#define MPI_ELIGN_REAL MPI_FLOAT
#endif

/* Named numbers of one iteration's metrics line, in the order written. */
#define TRAIN_MAX_METRICS 160
typedef struct {
  int n;
  const char *name[TRAIN_MAX_METRICS];
  double value[TRAIN_MAX_METRICS];
} train_metrics;
void train_metric(train_metrics *m, const char *name, double value);
/* NAN if absent. */
double train_metric_get(const train_metrics *m, const char *name);

/* Seconds one actor spent per role in an iteration (gathered to rank 0). */
enum { TM_SAMPLE, TM_ORACLE_SUBMIT, TM_ORACLE_WAIT, TM_UPDATE, TM_REDUCE_WAIT, TM_COUNT };

/* The per-molecule numbers an oracle frame leaves (actor → rank 0). */
enum { FV_METRIC, FV_ENERGY, FV_OK, FV_COUNT };

/* One unit of gradient work: the kept molecules [k0, k1) of micro-batch mb
 * that belong to rollout block `block`. */
typedef struct {
  int mb;
  int64_t block;
  int64_t k0, k1;
  int owner; /* actor rank holding the block */
} train_unit;

/* Per-unit statistics (sums over its trained steps; doubles). */
enum {
  US_MOLSTEPS, US_RATIO_SUM, US_RATIO_MIN, US_RATIO_MAX, US_CLIPPED, US_KL_SUM, US_PG_SUM, US_LOSS_SUM,
  US_WLOSS_SUM, US_ADV_CLIPPED,
  US_FA_LOSS,  /* force alignment (§4.13): Σ of the unit's share of each step's w·Σ(1 − cos)/(count + 1e−8) */
  US_FA_ATOMS, /* qualifying atoms */
  US_FA_COS,   /* Σ cos over them */
  US_FA_STEPS, /* (micro-batch, step) pairs where it acted (counted by the micro-batch's first unit) */
  US_COUNT
};

typedef struct {
  /* world */
  const elign_world *w;
  MPI_Comm comm; /* the learner group (actors) */
  int rank, size;
  const train_options *o;
  const elign_config *cfg;
  char *config_text;

  /* model and state */
  edm_model model;   /* architecture, schedule, histogram; params point into ts */
  train_state ts;    /* rank 0: params, grads, m, v, reference; others: params, grads, reference */
  int D;

  /* the iteration's layout (the same every iteration) */
  int S;             /* T + 1 frames */
  int *timesteps;    /* [S] */
  grpo_schedule sched; /* reward frames (shaping) */
  int shaped;        /* the oracle sees scheduled ẑ₀ frames */
  int n_oracle_frames; /* J (shaped), 1 (terminal), 0 (dummy reward) */
  int train_start;   /* k0 of §4.9 */
  int T_act;
  int64_t n_blocks;  /* rollout blocks of an iteration; block b belongs to actor b mod size */

  /* force alignment (§4.13; learner/force_align.h) */
  int fa_active;       /* on, and the schedule has fine-stage frames at trained steps */
  int n_fa_frames;     /* those frames: their oracle forces are kept */
  int *fa_slot_of_step; /* [T_act] frame slot j of trained step i where it acts, else −1 */
  int *fa_index_of_slot; /* [J] index among the kept-force frames, else −1 */

  /* rank 0 */
  elign_smiles_set *train_smiles; /* dataloader.smiles_path, or NULL */
  grpo_valence_table valence;
  grpo_bond_table bonds;
  int have_bonds;
  elign_bond_rule rule;
  elign_metrics *metrics;

  /* oracle */
  elign_oracle_client *client;
  double atom_ref_eV[119]; /* energy references by Z, every rank (train_reward_setup_atom_refs; NaN = none) */

  /* learner work */
  egnn_workspace *ws_train, *ws_ref;

  /* progress */
  int64_t iteration;       /* iterations done (the next one to run) */
  int64_t policy_version;  /* version of the weights in ts.params */
  double t_run_start;
  double best_metric;      /* best_checkpoint_metric so far (NAN = none) */
  int best_warned;
  double early_best, early_t; /* early stopping: best train.early_stop_metric and when (NAN = none yet) */
  int early_stop;          /* rank 0: patience exhausted (or a judge alarm with train.judge_alarm_stop) */

  int clash_logged;        /* the clash guard has said it once */
  grpo_signal_watch signal_watch; /* rank 0: zero-signal groups (train_reward.c) */
  double composition_integral[ELIGN_MAX_Z + 1]; /* rank 0: the element-mix term's accumulated offsets by Z
                                                   (reward.composition_integral; kept in the checkpoint) */
  struct train_judges *judges; /* rank 0 with train.judges: the judge rounds (train_judges.c) */

  run_wait wait;           /* the deadline of every wait for the other actors (mpi.timeout) */
} trainer;

/* Rollout blocks: block b holds groups [b·G, min((b+1)·G, P)) and belongs
 * to actor b mod size (round robin, so that the consecutive molecules of a
 * PPO micro-batch spread over the actors). */
static inline int train_block_owner(const trainer *tr, int64_t b) { return (int)(b % tr->size); }
static inline int64_t train_block_group0(const trainer *tr, int64_t b) { return b * tr->o->groups_per_block; }
static inline int64_t train_block_groups(const trainer *tr, int64_t b) {
  int64_t g0 = train_block_group0(tr, b), g1 = g0 + tr->o->groups_per_block;
  return (g1 < tr->o->P ? g1 : tr->o->P) - g0;
}
/* Actor r's blocks are r, r + size, r + 2·size, ...: how many. */
static inline int64_t train_rank_blocks(const trainer *tr, int r) {
  return r < tr->n_blocks ? (tr->n_blocks - r + tr->size - 1) / tr->size : 0;
}

/* This iteration's data on one actor. */
typedef struct {
  int64_t it;
  int sampled;             /* the rollouts exist (sampled here, or prefetched by the previous iteration) */
  int64_t n_mine;          /* my blocks: b = rank + j·size, j < n_mine */
  rollout_batch *rec;      /* [n_mine] the rollouts of each */
  double **frame_vals;     /* [n_mine] → [J][rec[j].h.n_mol][FV_COUNT] */
  double **fa_forces;      /* force alignment: [n_mine] → [n_fa_frames][rec[j].h.n_atoms][3] oracle forces (eV/Å;
                              0 where the oracle failed), else NULL */
  int64_t oracle_pending_max; /* molecules still unanswered when sampling ended */
  struct train_request *req;  /* oracle requests submitted while sampling, not yet collected */
  int n_req, cap_req;
  int64_t policy_version;  /* of the weights the rollouts were sampled with */
  double t[TM_COUNT];
  /* rank 0 after the reward stage; every actor after the broadcast */
  int64_t n_total;         /* B */
  int64_t *group_sizes;    /* [P] */
  int64_t n_kept;
  int64_t *kept;           /* [n_kept] global molecule index of each kept molecule */
  int adv_cols;
  double *adv;             /* [n_kept][adv_cols] */
} train_iter;

void train_iter_free(train_iter *it);

/* Group sizes of an iteration (every rank draws the same). */
void train_group_sizes(const trainer *tr, int64_t it, int64_t *sizes);

/* train_rollout.c: sample my blocks with the current weights, submitting
 * their oracle frames as they appear (it->it, it->policy_version set here)... */
elign_status train_rollout_sample(trainer *tr, train_iter *it, elign_error *err);
/* ...then wait for the answers and reduce them (always call it once after
 * sampling, also on an error path: the oracle ranks must deliver every reply). */
elign_status train_rollout_collect(trainer *tr, train_iter *it, elign_error *err);
/* Rank 0: tr->atom_ref_eV from reward.energy_atom_refs (custom: the config's
 * values; oracle: the reward oracle's lone atoms, one request), checked to
 * cover every element of the model and logged. Before the first iteration. */
elign_status train_reward_setup_atom_refs(trainer *tr, elign_error *err);
/* Rank 0, with reward.composition_weight > 0: every element of the model has a
 * positive reward.composition_target fraction; the targets are logged. */
elign_status train_reward_check_composition(const trainer *tr, elign_error *err);

/* train_reward.c: gather to rank 0, rewards/filter/advantages there (metrics
 * into m), broadcast the kept molecules and advantages. Collective. */
elign_status train_reward(trainer *tr, train_iter *it, train_metrics *m, elign_error *err);
/* train_update.c: the PPO epochs over the kept molecules. Collective. */
elign_status train_update(trainer *tr, train_iter *it, train_metrics *m, elign_error *err);

/* train_judges.c (rank 0; no-ops without train.judges): set up the judges
 * (their oracles in process when the run has no oracle ranks)... */
elign_status train_judges_setup(trainer *tr, elign_error *err);
/* ...after each iteration (tr->iteration done): every train.judge_every
 * iterations a judge round, its numbers into m, the alarm... */
elign_status train_judges_after_iteration(trainer *tr, train_metrics *m, elign_error *err);
/* ...and free them. */
void train_judges_free(trainer *tr);

/* train_judges.c (rank 0; no-ops without train.judges): set up the judges
 * (their oracles in process when the run has no oracle ranks)... */
elign_status train_judges_setup(trainer *tr, elign_error *err);
/* ...after each iteration (tr->iteration done): every train.judge_every
 * iterations a judge round, its numbers into m, the alarm... */
elign_status train_judges_after_iteration(trainer *tr, train_metrics *m, elign_error *err);
/* ...and free them. */
void train_judges_free(trainer *tr);

#endif
