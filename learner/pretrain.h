/* pretrain.h — `elign pretrain`: EDM score-matching training of a base model
 * (ALGORITHMS.md §2.10), MPI data-parallel, resumable bit for bit.
 *
 * One optimizer step (every rank of the communicator):
 *   1. the batch plan names the B molecules (learner/pretrain_data.h); every
 *      rank knows every molecule's size, hence N_batch, from the index;
 *   2. each rank computes the EDM loss gradient of its chunks, each into its
 *      own buffer (normalised by the whole batch's B and N_batch);
 *   3. rank 0 adds the C chunk gradients in chunk order (its own as it goes,
 *      the others' as they arrive), then clips (EDM's adaptive rule), takes
 *      the AdamW(amsgrad) step, updates the EMA and broadcasts the weights.
 * Float sums therefore happen in the same order whatever the rank count, and
 * 1, 2 or 4 ranks write the same checkpoint bit for bit (same threads per rank).
 *
 * Run directory RUN (run.dir, else save_path, else runs/<name>; --resume RUN):
 *   RUN/config.yaml              the resolved config
 *   RUN/metrics.jsonl            one JSON line per pretrain.log_every steps ("phase": "train")
 *                                and per evaluation ("phase": "eval")
 *   RUN/checkpoints/step_<n>.h5  the whole training state (raw weights, AdamW
 *                                moments, AMSGrad maxima, EMA, clipping queue)
 *                                every pretrain.checkpoint_every steps, at the end and on
 *                                SIGUSR1 (continue) / SIGTERM, SIGINT, SIGUSR2 (stop);
 *                                the newest pretrain.keep_checkpoints are kept
 *   RUN/model.h5                 the deployable model: the EMA weights as parameters
 *                                (`elign sample --model RUN/model.h5`)
 * Rank 0 writes all files; every write is atomic (temporary name + rename).
 */
#ifndef ELIGN_PRETRAIN_H
#define ELIGN_PRETRAIN_H

#include <mpi.h>
#include <stdint.h>

#include "common/base/config.h"
#include "common/base/error.h"
#include "common/model/diffusion.h"
#include "common/model/egnn.h"
#include "common/nn/adamw.h"
#include "learner/run_dir.h"

#define PRETRAIN_PATH_MAX 4096

/* Everything a run reads from the config (pretrain_options_from_config). */
typedef struct {
  char data_path[PRETRAIN_PATH_MAX];
  char train_split[64], val_split[64]; /* val_split "" = no validation */
  char run_dir[PRETRAIN_PATH_MAX];
  uint64_t seed;
  int64_t batch, chunk, epochs, max_steps; /* max_steps 0 = epochs × steps per epoch */
  double lr, ema_decay;
  adamw_hparams hp;
  int clip_grad, augment;
  int energy_loss;                /* pretrain.loss = energy */
  diffusion_energy_loss energy;   /* pretrain.energy.*: coefficient kind, k0, weight */
  lr_schedule sched;          /* total_steps 0 = the run's total */
  int64_t log_every, checkpoint_every, keep_checkpoints, eval_every, eval_molecules; /* eval_molecules 0 = all */
  int64_t eval_samples, eval_sample_steps; /* stability samples (0 = none); reverse steps (0 = T0) */
  double progress_seconds;    /* run.log_every */
  int threads;                /* mpi.threads_per_rank (0 = leave as is) */
  double rank_wait_timeout;   /* mpi.timeout: a rank waits this long for the others in a collective, s (run_wait.h) */
  /* architecture */
  egnn_config arch;
  char atom_types[16];        /* "qm9" or "geom" */
  int T0;
  char noise_schedule[32];
  double noise_precision;
} pretrain_options;

elign_status pretrain_options_from_config(const elign_config *cfg, pretrain_options *o, elign_error *err);

/* The loss option pretrain_chunk_loss takes: NULL for EDM's l2. */
static inline const diffusion_energy_loss *pretrain_energy_option(const pretrain_options *o) {
  return o->energy_loss ? &o->energy : NULL;
}

/* How this run starts (the command line): run_dir.h's run_start. */
typedef run_start pretrain_start;

/* The whole run, collective over comm. cfg is the resolved config (its text
 * goes into every checkpoint). Returns the same status on every rank; the
 * message is complete on rank 0. */
elign_status pretrain_run(MPI_Comm comm, const pretrain_options *o, const elign_config *cfg,
                          const pretrain_start *start, elign_error *err);


#endif
