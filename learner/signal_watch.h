/* signal_watch.h — group-signal accounting (docs/train.md "Zero-signal groups").
 *
 * A prompt group whose members all get the same reward (a group of one, the
 * members all failed at the oracle, all beyond reward.force_clip_threshold,
 * or the dedup filter left one member) has all-zero advantages: it costs a
 * rollout and teaches nothing. The learner logs the fraction of such groups
 * every iteration (zero_signal_fraction) and warns once when it stays at or
 * above train.zero_signal_warn_fraction for train.zero_signal_warn_iterations
 * iterations in a row (again after it has fallen below and come back).
 */
#ifndef ELIGN_SIGNAL_WATCH_H
#define ELIGN_SIGNAL_WATCH_H

typedef struct {
  double threshold; /* fraction of groups */
  int iterations;   /* in a row */
  int run;          /* current run of high iterations */
  int warned;       /* this run was reported */
} grpo_signal_watch;

/* 1 exactly when this iteration completes a run of `iterations` high ones. */
int grpo_signal_watch_update(grpo_signal_watch *w, double zero_fraction);

#endif
