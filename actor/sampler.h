/* sampler.h — EDM ancestral sampling (ALGORITHMS.md §2.8) over packed batches.
 *
 * Determinism contract. Molecule g of the global index space (0, 1, 2, ...)
 * draws every random number from its own streams, keyed
 *   (seed, iteration, group = g, member = 0, step, purpose):
 *   atom count   step 0, ELIGN_RNG_NODE_COUNT
 *   prior z_T    step 0, ELIGN_RNG_PRIOR
 *   t → s        step s, ELIGN_RNG_STEP_NOISE
 *   decode       step 0, ELIGN_RNG_DECODE_NOISE
 * and batches are fixed in the global index space (batch k = molecules
 * [k·B, (k+1)·B)), so which rank runs a batch changes nothing: a run on 1,
 * 2 or 4 ranks gives bitwise identical molecules (same thread count, same
 * build). With steps K < T the chain visits t = T, T − T/K, ..., 0 (T/K must
 * be an integer) with the same reverse-step maths; K = T is the full sampler.
 */
#ifndef ELIGN_SAMPLER_H
#define ELIGN_SAMPLER_H

#include <stdint.h>

#include "common/model/edm_model.h"
#include "common/base/error.h"
#include "common/chem/molset.h"

typedef struct {
  const edm_model *model;
  int T;              /* chain length (τ = t/T); 0 → model->T0 */
  int steps;          /* reverse steps K (T % K == 0); 0 → T */
  uint64_t seed;
  uint64_t iteration; /* key field; 0 for plain sampling */
  int64_t batch;      /* molecules per network batch (≥ 1) */
  const char *progress_label; /* non-NULL: progress lines (rate, ETA) under this label */
} sampler_config;

/* Output of sampler_run: the decoded molecules (positions Å, Z from the
 * model's atom types), charges as decoded (round(10·z₀[charge]); 0 without a
 * charge channel), and the max |CoM| seen before the optional re-centring. */
typedef struct {
  elign_molset mols;
  int32_t *charges;   /* [mols.n_atoms] */
  double max_com;     /* largest |Σ_i x_i| of a decoded molecule (Å·atoms) */
} sampler_output;

/* Atom count of global molecule g drawn from the model's histogram. */
int sampler_draw_n_atoms(const sampler_config *cfg, int64_t g);

/* Sample global molecules [first, first + count). n_atoms (count entries)
 * fixes the sizes, or NULL draws them (sampler_draw_n_atoms). out is
 * initialised by the call (free with sampler_output_free). */
elign_status sampler_run(const sampler_config *cfg, int64_t first, int64_t count, const int *n_atoms,
                         sampler_output *out, elign_error *err);
void sampler_output_free(sampler_output *out);

/* Batches covering [0, n_total) with batch size B, split into contiguous
 * blocks over `size` ranks: this rank's molecules [*first, *first + *count). */
void sampler_rank_range(int64_t n_total, int64_t batch, int rank, int size, int64_t *first, int64_t *count);

#endif
