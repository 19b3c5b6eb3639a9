/* guidance.h — run-time oracle guidance of the sampler: the "MLFF-guided"
 * baseline Elign compares post-training against (SEEDS_NOTES §1.3, §7.7).
 *
 * After every reverse step t → s the sampled state z_s is handed to an
 * energy/force oracle and its positions move along the force:
 *
 *   x_s ← x_s + scale · (1 − σ_t) · F(x_s, types(z_s)),   then re-centred,
 *
 * with F in eV/Å per atom (optionally capped at `clip` per atom), types the
 * argmax of z_s's one-hot channels (the decode's rule, diffusion.h) and x in
 * EDM's normalised position units (factor 1: Å), so `scale` is in Å²/eV — a
 * steepest-descent step length. The (1 − σ_t) factor lets the force act
 * late in the chain, where z_s is nearly clean; steps with σ_t above
 * `max_sigma` are not guided at all (no oracle call). This is what the
 * public Elign code's guided sampler does (force on the current noisy state
 * after the step, clarity factor 1 − σ_t, optional force clip, noise
 * threshold); docs/guidance.md gives the reasons and the alternatives.
 *
 * A molecule the oracle flags (overlapping atoms early in the chain, an
 * unsupported element) gets no force at that step; it is counted, never an
 * error. scale = 0 changes nothing and calls no oracle: the samples are then
 * bit for bit the unguided ones.
 *
 * Determinism: the oracle sees one request per batch per step holding
 * exactly that batch's molecules; with the server's one-request batches
 * (server.h, merge_requests = 0) and the same oracle batch size, oracle
 * ranks and an in-process oracle give the same bits.
 *
 *   guidance g;
 *   guidance_init(&g, &model, client, &opt);
 *   sampler_adjust adj = guidance_adjust(&g);
 *   sampler_config cfg = {..., .adjust = &adj};
 *   sampler_run(&cfg, ...);
 *   guidance_free(&g);
 */
#ifndef ELIGN_ACTOR_GUIDANCE_H
#define ELIGN_ACTOR_GUIDANCE_H

#include <stdint.h>

#include "actor/sampler.h"
#include "oracle/service/client.h"

typedef struct {
  double scale;     /* Å²/eV: position step per unit force at σ_t = 0 (≥ 0; 0 = unguided) */
  double max_sigma; /* guide only steps with σ_t ≤ this (≥ 1: every step) */
  double clip;      /* eV/Å: per-atom force magnitude cap before scaling; 0 = none */
} guidance_options;

typedef struct {
  int64_t steps_guided;  /* batch steps that called the oracle */
  int64_t steps_skipped; /* batch steps above max_sigma */
  int64_t molecules;     /* molecule evaluations */
  int64_t flagged;       /* of those, flagged by the oracle (no force that step) */
  double oracle_s;       /* wall time spent submitting and waiting for the oracle, s */
  double max_force;      /* largest per-atom |F| seen before the clip, eV/Å */
} guidance_stats;

typedef struct {
  const edm_model *model;
  elign_oracle_client *client; /* not owned */
  guidance_options opt;
  guidance_stats stats;
  /* scratch, grown to the largest batch */
  int64_t cap_atoms, cap_mol;
  double *pos, *forces, *energy; /* (N,3) Å, (N,3) eV/Å, [n_mol] eV */
  int32_t *type, *Z;             /* [N] */
  elign_mol_status *status;      /* [n_mol] */
} guidance;

/* Check the options (a clear message naming the bad one). */
elign_status guidance_options_check(const guidance_options *o, elign_error *err);

void guidance_init(guidance *g, const edm_model *model, elign_oracle_client *client, const guidance_options *opt);
/* The sampler hook (g must outlive the sampling). */
sampler_adjust guidance_adjust(guidance *g);
void guidance_free(guidance *g); /* the scratch; not the client or the model */

/* One guidance update of z_s (N, D) for the transition t → s of a T-step
 * chain (what the hook does; exposed for tests and benches). */
elign_status guidance_apply(guidance *g, int t, int T, int64_t n_mol, const int64_t *offsets, elign_real *z_s,
                            elign_error *err);

#endif
