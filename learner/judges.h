/* judges.h — independent judges and the reward-hacking alarm of `elign train`
 * (docs/trust.md, docs/train.md "Judges").
 *
 * A policy trained on one oracle can learn that oracle's holes: geometries
 * where the reward's energy drops although the chemistry gets worse. Judges
 * are oracle backends that are NOT the reward (train.judges, e.g. ani-1ccx and
 * gfn2-xtb when the reward is ANI-2x). Every train.judge_every iterations
 * rank 0 samples a FIXED set of train.judge_samples molecules with the current
 * weights — the same noise every round (train.judge_seed, its own key space:
 * the training streams are never touched, so a run with judges gives the same
 * checkpoints as one without) — and has every judge, and the reward oracle,
 * score them: on the oracle ranks when the run has some (each judge is one
 * oracle channel of the server, elign_oracle_batch.channel = 1, 2, ...), in
 * process otherwise. The numbers go into that iteration's metrics line.
 *
 * The alarm compares round r with round r − train.judge_window: it fires when
 * the reward (the mean reward_mean of the iterations since the previous round)
 * rose by more than train.judge_reward_min_rise while a judge's mean atomization
 * energy per atom (E minus the judge's own isolated-atom energies, so that a
 * change of composition is not read as a change of chemistry) rose by more than train.judge_energy_tolerance eV/atom, its mean RMS
 * force rose by more than the fraction train.judge_force_tolerance, or the
 * fraction of molecules it could not evaluate rose by more than
 * train.judge_failure_rise; and, whatever the reward did, when the fixed set's
 * molecule stability or uniqueness fell by more than train.judge_stability_drop
 * / train.judge_uniqueness_drop. A change of a fraction (failures, stability,
 * uniqueness) must also exceed twice its binomial standard error over the set
 * (sqrt(p1(1-p1)/n + p2(1-p2)/n)): with 16 molecules, one or two molecules
 * changing their mind is noise, not an alarm. A firing alarm logs a warning naming every
 * cause, sets judge_alarm = 1 in the metrics line and, with
 * train.judge_alarm_stop, stops the run with a checkpoint.
 */
#ifndef ELIGN_JUDGES_H
#define ELIGN_JUDGES_H

#include <stdint.h>

#include "common/base/config.h"
#include "common/base/error.h"
#include "oracle/oracle.h"

#define TRAIN_MAX_JUDGES 8

/* One judge: a backend and its model (ANI) or function (python). */
typedef struct {
  elign_oracle_spec oracle; /* as written in train.judges, e.g. "ani-1ccx", "gfn2-xtb", "python:stretch";
                               arg "" = the oracle.* setting */
  char label[48];           /* metric-name form of the spec: [a-z0-9_] */
} train_judge_spec;

typedef struct {
  int n;                            /* judges (0 = off) */
  train_judge_spec judge[TRAIN_MAX_JUDGES];
  int64_t every;                    /* train.judge_every */
  int samples;                      /* train.judge_samples */
  uint64_t seed;                    /* train.judge_seed */
  int window;                       /* train.judge_window (rounds) */
  double reward_min_rise;           /* train.judge_reward_min_rise */
  double energy_tol;                /* train.judge_energy_tolerance, eV/atom */
  double force_tol;                 /* train.judge_force_tolerance, fraction */
  double failure_rise;              /* train.judge_failure_rise, fraction of the set */
  double stability_drop;            /* train.judge_stability_drop */
  double uniqueness_drop;           /* train.judge_uniqueness_drop */
  int stop;                         /* train.judge_alarm_stop */
} train_judges_config;

/* Read and check the train.judge* keys (errors name the key and the bad entry). */
elign_status train_judges_config_read(const elign_config *cfg, train_judges_config *jc, elign_error *err);

/* The oracles one rank serves: channel 0 = the reward oracle (may be NULL:
 * reward.type dummy), channel c = judge c − 1. */
typedef struct {
  elign_oracle *primary; /* not owned */
  int n;
  elign_oracle *judge[TRAIN_MAX_JUDGES]; /* owned */
} train_oracle_set;

/* Create the judges' oracles with `base` (the oracle.* options) and each
 * judge's backend/model/function. */
elign_status train_oracle_set_create(train_oracle_set *set, elign_oracle *primary, const train_judges_config *jc,
                                     const elign_oracle_options *base, elign_error *err);
void train_oracle_set_free(train_oracle_set *set);
/* An elign_oracle_evaluate_fn: ctx = train_oracle_set; batch->channel picks the oracle. */
elign_status train_oracle_set_evaluate(void *ctx, const elign_oracle_batch *batch, elign_oracle_result *result,
                                       elign_error *err);

/* ---- the alarm, pure (tested on its own) ---------------------------------------------- */

/* The fixed set's numbers of one round. NAN = not measured. */
typedef struct {
  int64_t iteration;                    /* iterations done */
  double reward;                        /* mean reward_mean since the previous round */
  double energy[TRAIN_MAX_JUDGES];      /* mean E/atom over evaluated molecules, eV */
  double rms_force[TRAIN_MAX_JUDGES];   /* mean per-molecule RMS force, eV/Å */
  double failed[TRAIN_MAX_JUDGES];      /* fraction not evaluated */
  double stability, uniqueness;         /* molecule stability; unique valid SMILES / molecules */
  int n_samples;                        /* molecules in the set (0: no significance test) */
} train_judge_round;

/* Compare `now` with `then` (train.judge_window rounds earlier): 1 if the
 * alarm fires; `why` (len bytes) names every cause. */
int train_judges_alarm(const train_judges_config *jc, const train_judge_round *then, const train_judge_round *now,
                       char *why, int len);

#endif
