/* filter.h — the RDKit filter of a rollout batch (ALGORITHMS.md §4.7).
 *
 * What this file is: given one canonical largest-fragment SMILES per
 * molecule (NULL when RDKit sanitization fails — the RDKit shim makes them)
 * and whether each SMILES is in the training set, it logs validity and
 * uniqueness, gates every reward channel to valid molecules, deduplicates
 * across the whole batch (keeping the largest force reward), adds the
 * duplicate and novelty penalties, replaces invalid molecules' rewards by
 * (min over valid) − invalid_penalty_scale, and selects the kept molecules.
 * It works in place on a grpo_reward_batch (rewards.h).
 */
#ifndef ELIGN_GRPO_FILTER_H
#define ELIGN_GRPO_FILTER_H

#include <stdint.h>

#include "common/base/error.h"
#include "learner/grpo_settings.h"
#include "learner/rewards.h"

typedef struct {
  int64_t n_total;            /* B before the filter */
  int64_t n_valid;            /* SMILES ≠ NULL */
  int64_t n_unique;           /* distinct valid SMILES */
  int64_t n_kept;             /* B′ after dedup */
  double rdkit_validity;      /* n_valid / B (0 for B = 0) */
  double rdkit_uniqueness;    /* n_unique / n_valid (0 without valid) */
  double filter_ratio;        /* B′ / B */
  double novelty_penalty_ratio; /* 1 + Σ nov_b / B (1 when the novelty penalty is off) */
} grpo_filter_stats;

/* Filter rb in place (steps 1–10 of §4.7): smiles[b] (NULL = invalid),
 * known[b] = 1 if smiles[b] is in the training set (may be NULL unless
 * filters.enable_penalty is on). valid (optional, [n_mol] before the filter)
 * receives the per-molecule validity mask. On return rb holds the kept
 * molecules in ascending batch order (rb->source_index maps them back).
 * Penalties reach the last column of every trace (for S = T + 1 that is the
 * decode column, which the advantages fold into the last transition). */
elign_status grpo_filter_apply(grpo_reward_batch *rb, grpo_filter_stats *stats, uint8_t *valid,
                               const char *const *smiles, const uint8_t *known, const grpo_settings *s,
                               elign_error *err);

#endif
