/* filter.c — the RDKit filter of a rollout batch (ALGORITHMS.md §4.7). */
#include "learner/filter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers over every reward channel ------------------------------------- */

static void mask_row(double *row, int S, double v) {
  for (int k = 0; k < S; k++) row[k] *= v;
}

/* Step 2: every channel (scalars and all trace columns) times valid_b. */
static void gate_to_valid(grpo_reward_batch *rb, const uint8_t *valid) {
  int S = rb->S;
  for (int64_t b = 0; b < rb->n_mol; b++) {
    double v = valid[b] ? 1.0 : 0.0;
    rb->force_rewards[b] *= v;
    rb->weighted_force_rewards[b] *= v;
    rb->energy_rewards[b] *= v;
    rb->weighted_energy_rewards[b] *= v;
    rb->rewards[b] *= v;
    if (rb->has_force_ts) mask_row(rb->force_rewards_ts + b * S, S, v);
    if (rb->has_energy_ts) mask_row(rb->energy_rewards_ts + b * S, S, v);
    if (rb->has_rewards_ts) mask_row(rb->rewards_ts + b * S, S, v);
    /* terminal-only: the logged scalar stays the sum of its weighted parts */
    if (!rb->has_rewards_ts) rb->rewards[b] = rb->weighted_force_rewards[b] + rb->weighted_energy_rewards[b];
  }
}

/* Step 8: π_b onto rewards, force and energy rewards and each trace's last column. */
static void add_terminal_penalty(grpo_reward_batch *rb, const double *pen) {
  int S = rb->S;
  for (int64_t b = 0; b < rb->n_mol; b++) {
    rb->rewards[b] += pen[b];
    rb->force_rewards[b] += pen[b];
    rb->energy_rewards[b] += pen[b];
    if (rb->has_rewards_ts) rb->rewards_ts[b * S + S - 1] += pen[b];
    if (rb->has_force_ts) rb->force_rewards_ts[b * S + S - 1] += pen[b];
    if (rb->has_energy_ts) rb->energy_rewards_ts[b * S + S - 1] += pen[b];
  }
}

/* Step 9 on one channel: x[b·stride] of every invalid b ← (min over valid, or
 * over all when none is valid) − c. */
static void invalid_min_margin(double *x, int64_t stride, int64_t n, const uint8_t *valid, int64_t n_valid, double c) {
  double lo = INFINITY;
  for (int64_t b = 0; b < n; b++)
    if ((n_valid == 0 || valid[b]) && x[b * stride] < lo) lo = x[b * stride];
  for (int64_t b = 0; b < n; b++)
    if (!valid[b]) x[b * stride] = lo - c;
}

/* ---- grouping by SMILES ---------------------------------------------------- */

typedef struct {
  const char *smiles;
  int64_t index;
} smiles_entry;

static int by_smiles_then_index(const void *a, const void *b) {
  const smiles_entry *x = a, *y = b;
  int c = strcmp(x->smiles, y->smiles);
  if (c) return c;
  return (x->index > y->index) - (x->index < y->index);
}

/* order[0..n_valid) ← the valid indices sorted by (SMILES, index). */
static void sort_by_smiles(int64_t *order, int64_t n_valid, const char *const *smiles) {
  smiles_entry *e = elign_malloc(sizeof *e * (size_t)(n_valid > 0 ? n_valid : 1), "grpo:filter.sort");
  for (int64_t i = 0; i < n_valid; i++) e[i] = (smiles_entry){smiles[order[i]], order[i]};
  qsort(e, (size_t)n_valid, sizeof *e, by_smiles_then_index);
  for (int64_t i = 0; i < n_valid; i++) order[i] = e[i].index;
  free(e);
}

/* ---- the filter -------------------------------------------------------------- */

elign_status grpo_filter_apply(grpo_reward_batch *rb, grpo_filter_stats *stats, uint8_t *valid_out,
                               const char *const *smiles, const uint8_t *known, const grpo_settings *s,
                               elign_error *err) {
  const grpo_filter_settings *f = &s->filters;
  int64_t n = rb->n_mol;
  memset(stats, 0, sizeof *stats);
  stats->n_total = n;
  stats->novelty_penalty_ratio = 1.0;
  if (f->enable_penalty && !known && n > 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG,
                      "grpo filter: filters.enable_penalty needs the training-set membership of each SMILES");
  size_t nn = (size_t)(n > 0 ? n : 1);
  uint8_t *valid = elign_calloc(nn, 1, "grpo:filter.valid");
  uint8_t *keep = elign_calloc(nn, 1, "grpo:filter.keep");
  int64_t *order = elign_malloc(nn * sizeof(int64_t), "grpo:filter.order");
  double *pen = elign_calloc(nn, sizeof(double), "grpo:filter.penalty");

  /* 1. validity and uniqueness; runs of equal SMILES in `order` (ascending index within a run) */
  int64_t n_valid = 0;
  for (int64_t b = 0; b < n; b++) {
    valid[b] = smiles[b] != NULL;
    if (valid[b]) order[n_valid++] = b;
  }
  sort_by_smiles(order, n_valid, smiles);
  int64_t n_unique = 0;
  for (int64_t i = 0; i < n_valid; i++)
    if (i == 0 || strcmp(smiles[order[i]], smiles[order[i - 1]]) != 0) n_unique++;
  stats->n_valid = n_valid;
  stats->n_unique = n_unique;
  stats->rdkit_validity = n > 0 ? (double)n_valid / (double)n : 0.0;
  stats->rdkit_uniqueness = n_valid > 0 ? (double)n_unique / (double)n_valid : 0.0;
  if (valid_out) memcpy(valid_out, valid, (size_t)n);

  /* 2. invalid molecules earn nothing from any channel */
  if (f->invalid_penalty_scale > 0.0) gate_to_valid(rb, valid);

  /* 3. nothing else switched on: the batch passes unchanged */
  int active = f->enable_filtering || f->enable_penalty || f->invalid_penalty_scale > 0.0 ||
               f->duplicate_penalty_scale > 0.0;

  if (active) {
    /* 5. dedup: per SMILES the largest force reward (first on ties); invalid ones stay */
    for (int64_t b = 0; b < n; b++) keep[b] = f->enable_filtering ? !valid[b] : 1;
    for (int64_t i = 0; i < n_valid;) {
      int64_t j = i;
      while (j < n_valid && strcmp(smiles[order[j]], smiles[order[i]]) == 0) j++;
      int64_t best = order[i];
      for (int64_t k = i + 1; k < j; k++)
        if (rb->force_rewards[order[k]] > rb->force_rewards[best]) best = order[k];
      if (f->enable_filtering) keep[best] = 1;
      /* 6. duplicates: the kept copy pays for all others, or every copy pays its share */
      int64_t count = j - i;
      if (f->duplicate_penalty_scale > 0.0 && count > 1) {
        if (f->enable_filtering)
          pen[best] = -f->duplicate_penalty_scale * (double)(count - 1);
        else
          for (int64_t k = i; k < j; k++) pen[order[k]] = -f->duplicate_penalty_scale * (double)(count - 1) / (double)count;
      }
      i = j;
    }
    if (f->duplicate_penalty_scale > 0.0 && n_valid > 0) add_terminal_penalty(rb, pen);

    /* 4 + 7. novelty: invalid or training-set molecules get −penalty_scale */
    if (f->enable_penalty) {
      double sum = 0.0;
      for (int64_t b = 0; b < n; b++) {
        double nov = (!valid[b] || known[b]) ? -1.0 : 0.0;
        sum += nov;
        pen[b] = f->penalty_scale * nov;
      }
      if (n > 0) stats->novelty_penalty_ratio = 1.0 + sum / (double)n;
      add_terminal_penalty(rb, pen);
    }

    /* 9. invalid: (min over valid) − c in each scalar channel and each trace's last column */
    if (f->invalid_penalty_scale > 0.0 && n_valid < n) {
      double c = f->invalid_penalty_scale;
      int S = rb->S;
      invalid_min_margin(rb->rewards, 1, n, valid, n_valid, c);
      invalid_min_margin(rb->force_rewards, 1, n, valid, n_valid, c);
      invalid_min_margin(rb->energy_rewards, 1, n, valid, n_valid, c);
      invalid_min_margin(rb->weighted_force_rewards, 1, n, valid, n_valid, c);
      invalid_min_margin(rb->weighted_energy_rewards, 1, n, valid, n_valid, c);
      if (rb->has_rewards_ts) invalid_min_margin(rb->rewards_ts + S - 1, S, n, valid, n_valid, c);
      if (rb->has_force_ts) invalid_min_margin(rb->force_rewards_ts + S - 1, S, n, valid, n_valid, c);
      if (rb->has_energy_ts) invalid_min_margin(rb->energy_rewards_ts + S - 1, S, n, valid, n_valid, c);
    }
  } else {
    for (int64_t b = 0; b < n; b++) keep[b] = 1;
  }

  /* 10. the kept molecules, in batch order */
  int64_t n_keep = 0;
  for (int64_t b = 0; b < n; b++)
    if (keep[b]) order[n_keep++] = b;
  if (n_keep < n) grpo_reward_batch_select(rb, order, n_keep);
  stats->n_kept = n_keep;
  stats->filter_ratio = n > 0 ? (double)n_keep / (double)n : 0.0;

  free(valid);
  free(keep);
  free(order);
  free(pen);
  return ELIGN_OK;
}
