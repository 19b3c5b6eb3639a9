/* train.h — `elign train`: FED-GRPO post-training of an EDM model
 * (ALGORITHMS.md §4), distributed over MPI as DESIGN.md lays it out.
 *
 * Roles (common/mpi/roles.h): rank 0 is the learner and an actor; the
 * actors (the learner group, communicator world.actors) sample rollouts and
 * share the gradient work; oracle ranks serve energy/force queries (or every
 * actor evaluates in-process when mpi.oracle_ranks = 0). One process holds
 * every role.
 *
 * One iteration it (policy version v = it: the weights after it updates):
 *   1. every actor holds the same weights (broadcast after each optimizer step);
 *   2. the P prompt groups of the iteration go through the network in blocks
 *      of G = dataloader.micro_batch_size / K groups, aligned in the global
 *      group index; actor a runs a contiguous range of whole blocks
 *      (actor/rollout.h), so no molecule depends on the rank count;
 *   3. while a block is sampled, its scheduled ẑ₀ frames (shaping) or final
 *      molecules (terminal reward) go to the oracle as they appear (the
 *      rollout's frame callback → the oracle client), so the oracle works
 *      while the sampler runs; the actor reduces each answer to (force
 *      metric, energy, ok) per molecule and frame;
 *   4. rank 0 gathers those numbers and the final molecules (in global
 *      molecule order) and computes the rewards (§4.5–4.6), the RDKit filter
 *      across the whole batch (§4.7) and the advantages (§4.8), then
 *      broadcasts the kept molecules and their advantages;
 *   5. PPO (§4.9–4.10): the micro-batch plan over the kept molecules is the
 *      same on every rank. A unit of gradient work is (micro-batch ∩ rollout
 *      block): it runs on the actor that holds the block, over every trained
 *      step (forward of the current and the frozen reference network, PPO-clip
 *      + KL, backward), into its own gradient buffer, in the batch
 *      composition of the rollout (so with no drift and whole blocks every
 *      ratio is exactly 1). Rank 0 sums the unit gradients of an optimizer
 *      step in unit order (block-major), clips the global norm, steps AdamW
 *      with the LR schedule and broadcasts the weights. The sum is the
 *      gradient of the global micro-batch mean, i.e. the average over ranks
 *      (the public code never averages, §6.1);
 *   6. rank 0 writes the metrics line and, when due, a checkpoint.
 * With train.max_staleness ≥ 1 the next iteration is sampled (current
 * weights, oracle frames submitted) between steps 4 and 5, so the oracle
 * works while the actors update; it then trains one policy version behind.
 * No prefetch crosses a scheduled checkpoint.
 *
 * Run directory RUN (run.dir, else save_path, else runs/<name>):
 *   RUN/config.yaml                 the resolved config
 *   RUN/metrics.jsonl               one line per iteration (docs/train.md lists the fields)
 *   RUN/checkpoints/iter_<n>.h5     the whole state after n iterations: weights, AdamW
 *                                   moments and step, the frozen reference, the policy
 *                                   version; every save_interval iterations, at the end,
 *                                   on SIGTERM/SIGINT/SIGUSR2/SIGUSR1 (stop; run.sigusr1);
 *                                   the newest train.keep_checkpoints are kept
 *   RUN/checkpoint.h5               the newest of them (`elign sample --model RUN/checkpoint.h5`)
 * All written by rank 0, atomically.
 */
#ifndef ELIGN_TRAIN_H
#define ELIGN_TRAIN_H

#include <mpi.h>
#include <stdint.h>

#include "common/base/config.h"
#include "common/base/error.h"
#include "common/mpi/roles.h"
#include "common/nn/adamw.h"
#include "learner/force_align.h"
#include "learner/grpo_settings.h"
#include "learner/judges.h"
#include "learner/run_dir.h"
#include "oracle/oracle.h"

#define TRAIN_PATH_MAX 4096

/* reward.energy_atom_refs: total energies; the config's values; the reward
 * oracle's own lone atoms, asked once at start-up. */
typedef enum { TRAIN_REF_NONE = 0, TRAIN_REF_CUSTOM = 1, TRAIN_REF_ORACLE = 2 } train_atom_refs;

/* Everything a run reads from the config (train_options_from_config). */
typedef struct {
  grpo_settings s;               /* the FED-GRPO numerics' keys */
  char model_path[TRAIN_PATH_MAX]; /* model.checkpoint */
  char run_dir[TRAIN_PATH_MAX];
  char smiles_path[TRAIN_PATH_MAX]; /* dataloader.smiles_path ("" = none) */
  uint64_t seed;
  int T;                         /* model.time_step */
  int P, K;                      /* dataloader.sample_group_size, each_prompt_sample */
  int groups_per_block;          /* dataloader.micro_batch_size / K (P when null) */
  int64_t iterations;            /* dataloader.epoches */
  int epochs_per_rollout;        /* train.epoch_per_rollout */
  double lr, max_grad_norm;
  adamw_hparams hp;              /* amsgrad off (§4.11) */
  lr_schedule sched;             /* total_steps 0 → dataloader.epoches */
  int max_staleness;             /* train.max_staleness (0: on-policy; ≥ 1: prefetch one iteration) */
  int64_t save_interval, keep_checkpoints;
  double max_time_hours;         /* 0 = no limit */
  double progress_seconds;       /* run.log_every */
  int threads;                   /* mpi.threads_per_rank */
  int dummy_reward;              /* reward.type = dummy: every potential 0, no oracle */
  train_atom_refs atom_refs;
  double atom_ref_eV[119];       /* by Z (custom references; NaN elsewhere) */
  double composition_target[119];/* reward.composition_target by Z, summing to 1 (0 elsewhere; all 0 when off) */
  char oracle_backend[64];
  int oracle_batch;              /* oracle.batch_size */
  double oracle_reply_timeout;   /* mpi.timeout: an actor waits this long for its oracle rank, s */
  double rank_wait_timeout;      /* mpi.timeout: an actor waits this long for the others (run_wait.h), s */
  elign_oracle_options oracle;   /* strings point into the config */
  train_judges_config judges;    /* train.judge* (learner/judges.h) */
  int force_align_enabled;       /* train.force_alignment_enabled (null: weight > 0) */
  int force_align;               /* train.force_alignment_* on (enabled, weight > 0); it acts only with
                                    adaptive shaping's fine-stage frames (§4.13, the trainer decides) */
  grpo_force_align_settings fa;  /* its weight and thresholds */
  double clash_distance;         /* reward.clash_distance, Å (0 = off): closer pairs never reach the oracle */
} train_options;

/* Read and check every key `elign train` uses; errors name the key. */
elign_status train_options_from_config(const elign_config *cfg, train_options *o, elign_error *err);

/* How this run starts (the command line): run_dir.h's run_start. */
typedef run_start train_start;

/* The learner group's side of the run, collective over world->actors (every
 * actor calls it; oracle ranks run the server instead, see cmd_train.c).
 * `oracle`: this rank's in-process oracle when world->embedded_oracle (not
 * owned), else NULL. Returns the same status on every actor; the message is
 * complete on rank 0. Every actor has told its oracle ranks it is done when
 * this returns, whatever the outcome. */
elign_status train_run(const elign_world *world, const train_options *o, const elign_config *cfg,
                       const train_start *start, elign_oracle *oracle, elign_error *err);

#endif
