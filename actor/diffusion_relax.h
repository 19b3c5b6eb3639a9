/* diffusion_relax.h — diffusion as a structure relaxer (paper 004,
 * SEEDS_NOTES §5): a given molecule is put at step s of the chain and the
 * last s reverse steps are run with its atom types held fixed, so only the
 * positions are denoised.
 *
 * Start state (molecule g, normalised units, diffusion.h's layout):
 *   xh  = encode(x − mean x, one-hot(types)/4, Z/10)
 *   z_s = α_s xh + σ_s ε,  ε combined noise from the stream
 *         (seed, 0, group = g, member 0, step s, ELIGN_RNG_PRIOR)
 * (noise = 0: z_s = α_s xh, the structure itself at step s's signal level,
 * as paper 004 starts). Then the sampler's reverse steps s → 0 and its
 * decode (sampler.h, same streams and maths), with one change after every
 * step t → s': the atom-type channels (one-hot and charge) are replaced by
 *   z_{s',h} = α_{s'} h + σ_{s'} ε_{s',h}
 * where ε_{s'} is the combined noise that step drew (its h part): the
 * known channels follow the forward process q(z_{s'} | h) exactly, as
 * replacement-based inpainting conditions a diffusion model on known
 * entries, and the network never sees a state it was not trained on. The
 * output molecule keeps the input's atomic numbers (the decode's argmax
 * of the clamped channels agrees; a disagreement is counted). s = 0 is the
 * identity (positions centred, no network call). docs/relax.md says why.
 *
 * Batches are fixed in the global molecule index (batch k = molecules
 * [k·B, (k+1)·B)) as in sampler_run, so the result does not depend on
 * how molecules are split over ranks.
 */
#ifndef ELIGN_ACTOR_DIFFUSION_RELAX_H
#define ELIGN_ACTOR_DIFFUSION_RELAX_H

#include <stdint.h>

#include "actor/sampler.h"
#include "common/chem/molset.h"

typedef struct {
  int start_step;  /* s: reverse steps run (0 ≤ s ≤ T; 0 = identity) */
  int T;           /* chain length (τ = t/T); 0 → the model's T0 */
  uint64_t seed;
  int64_t batch;   /* molecules per network batch (≥ 1) */
  int noise;       /* 1: forward-noised start (default); 0: z_s = α_s xh */
} diffusion_relax_options;

typedef struct {
  int64_t type_mismatches; /* atoms whose decoded type differed from the input's (expected 0) */
} diffusion_relax_stats;

/* Relax molecules [first, first + count) of `in` (positions Å, atomic
 * numbers among the model's types). out (initialised by the call; free with
 * sampler_output_free): the relaxed molecules, CoM-free, with the input's
 * atomic numbers and ids (the input index where `in` has no ids). Errors:
 * bad options, an element the model does not have (naming molecule, atom
 * and element), a network error. stats may be NULL. */
elign_status diffusion_relax_run(const edm_model *m, const diffusion_relax_options *o, const elign_molset *in,
                                 int64_t first, int64_t count, sampler_output *out, diffusion_relax_stats *stats,
                                 elign_error *err);

#endif
