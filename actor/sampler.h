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
 *
 * Building blocks for rollouts (actor/rollout.h), below sampler_run: the
 * policy as a Gaussian transition behind function pointers (sampler_policy;
 * EDM implements it), and sampler_run_chain, one segment of the chain for
 * one batch with per-molecule (group, member) keys, a stored start state,
 * an early stop and a per-step callback. sampler_run is sampler_run_chain
 * over its batches with member 0, z_T from the prior and no callback.
 */
#ifndef ELIGN_SAMPLER_H
#define ELIGN_SAMPLER_H

#include <stdint.h>

#include "common/model/edm_model.h"
#include "common/base/error.h"
#include "common/chem/molset.h"

/* ---- the policy: a Gaussian reverse transition ------------------------------ */

/* p(z_s | z_t) = N(μ, σ² I) with one σ per molecule, on latents packed by
 * offsets (rows of D channels: 3 CoM-free positions, then features), plus
 * the final step from z_0 to molecules. The chain samples z_s = μ + σ ε
 * with combined noise ε (CoM-free x part, §2.4) and re-centres x; whatever
 * computes μ and σ is the policy. EDM implements it (sampler_policy_edm);
 * another base model of that kind (an SDE sampler's Gaussian steps, e.g.)
 * fills the same slots. The learner's gradient slot is not here yet. */
typedef struct {
  void *ctx;
  int D; /* latent channels */
  /* μ (N,D), σ [n_mol] and the clean-data prediction ẑ₀ (N,D) of the
   * transitions t[b] → s[b] (0 ≤ s < t ≤ T) of a T-step chain; sigma and
   * zhat0 may be NULL. */
  elign_status (*transition)(void *ctx, int64_t n_mol, const int64_t *offsets, const elign_real *z_t, const int *t,
                             const int *s, int T, elign_real *mu, elign_real *sigma, elign_real *zhat0,
                             elign_error *err);
  /* The decode from z_0: xh = μ_x + σ_x·noise (noise: combined noise, no
   * re-centring); mu_x (N,D) and sigma_x [n_mol] may be NULL. */
  elign_status (*decode)(void *ctx, int64_t n_mol, const int64_t *offsets, const elign_real *z0,
                         const elign_real *noise, int T, elign_real *xh, elign_real *mu_x, elign_real *sigma_x,
                         elign_error *err);
  /* Molecules from the decode: positions (Å, (n,3)) from xh, atomic numbers
   * and charges (0 if none) from z_0, for n_atoms packed rows. */
  void (*molecules)(void *ctx, int64_t n_atoms, const elign_real *xh, const elign_real *z0, double *pos, int32_t *Z,
                    int32_t *charges);
} sampler_policy;

/* EDM's reverse step (§2.6) and decode (§2.7) through edm_model_denoise.
 * ws: a forward-only workspace large enough for every batch it will see. */
typedef struct {
  const edm_model *model;
  egnn_workspace *ws;
  elign_real *eps_hat; /* scratch (grown by the policy); zero-initialise the struct */
  int64_t eps_rows;
} sampler_edm_ctx;
sampler_policy sampler_policy_edm(sampler_edm_ctx *ctx);
void sampler_edm_ctx_free(sampler_edm_ctx *ctx); /* the scratch only, not ws or model */

/* ---- an adjustment of each sampled state ------------------------------------ */

/* Called right after every reverse step's z_s = μ + σ ε (and its re-centring),
 * before the step callback and the next step, never after the decode; it may
 * change z_s in place. Run-time guidance (actor/guidance.h: the oracle's
 * force added to the positions) and diffusion relaxation (actor/relax.h:
 * the atom-type channels clamped to a given molecule) are adjustments. A
 * sampler without one (the default) is bit for bit the plain sampler. */
typedef struct {
  int t, s, T;             /* the transition t → s of a T-step chain */
  int64_t n_mol;
  const int64_t *offsets;  /* [n_mol + 1] atoms of the batch, offsets[0] = 0 */
  const uint32_t *key_group, *key_member; /* [n_mol] stream keys (key_member may be NULL: all 0) */
  const elign_real *noise; /* (N, D) the combined noise ε this step drew */
  int D;                   /* latent channels */
} sampler_adjust_step;
typedef struct {
  void *ctx;
  /* Adjust z_s (N, D) in place; an error stops the chain. */
  elign_status (*apply)(void *ctx, const sampler_adjust_step *step, elign_real *z_s, elign_error *err);
} sampler_adjust;

typedef struct {
  const edm_model *model; /* atom-count histogram, T0, and the policy when `policy` is NULL */
  const sampler_policy *policy; /* NULL: EDM (sampler_policy_edm of model) */
  int T;              /* chain length (τ = t/T); 0 → model->T0 */
  int steps;          /* reverse steps K (T % K == 0); 0 → T */
  uint64_t seed;
  uint64_t iteration; /* key field; 0 for plain sampling */
  int64_t batch;      /* molecules per network batch (≥ 1) */
  const char *progress_label; /* non-NULL: progress lines (rate, ETA) under this label */
  const sampler_adjust *adjust; /* NULL: none (the plain sampler) */
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

/* Global molecules [first, first + count). */
typedef struct {
  int64_t first, count;
} sampler_range;

/* Sample global molecules [first, first + count). n_atoms (count entries)
 * fixes the sizes, or NULL draws them (sampler_draw_n_atoms). out is
 * initialised by the call (free with sampler_output_free). */
elign_status sampler_run(const sampler_config *cfg, int64_t first, int64_t count, const int *n_atoms,
                         sampler_output *out, elign_error *err);
/* The same over several ranges, sampled in the order given (a rank's share,
 * sampler_rank_share); out holds their molecules in that order. n_atoms has
 * one entry per molecule of the ranges in that order, or is NULL (drawn).
 * Each range is cut into the batches of cfg->batch aligned in the global
 * index, so a range list samples exactly what one call per range would. */
elign_status sampler_run_ranges(const sampler_config *cfg, const sampler_range *ranges, int64_t n_ranges,
                                const int *n_atoms, sampler_output *out, elign_error *err);
void sampler_output_free(sampler_output *out);

/* ---- one segment of the chain for one batch --------------------------------- */

/* What one step of a batch hands to a sampler_step_fn (arrays of the batch,
 * packed by offsets, valid during the call only). */
typedef struct {
  int t, s;                /* the transition t → s; the decode has t = s = 0 */
  int decode;              /* 1: the decode: z_t = z_0, z_s = xh (after the CoM check), mu = μ_x, sigma = σ_x, zhat0 = μ_x */
  int64_t n_mol;
  const int64_t *offsets;  /* [n_mol + 1] atoms of the batch, offsets[0] = 0 */
  const uint32_t *key_group, *key_member; /* [n_mol] each molecule's stream keys */
  const elign_real *z_t;   /* (N, D) */
  const elign_real *z_s;   /* (N, D) the sampled next state */
  const elign_real *mu;    /* (N, D) */
  const elign_real *sigma; /* [n_mol] */
  const elign_real *zhat0; /* (N, D) (z_t − σ_t ε̂)/α_t */
  const double *logp;      /* [n_mol] log N(z_s; μ, σ²) (§4.4.1, diffusion_step_logp) */
} sampler_step;
typedef elign_status (*sampler_step_fn)(const sampler_step *step, void *user, elign_error *err);

/* One batch through t_start → t_stop. Molecule b draws from the streams
 * (cfg seed, cfg iteration, key_group[b], key_member[b], step, purpose) with
 * the purposes and steps of the contract above (so key_member = 0 and
 * key_group = global index reproduce sampler_run). */
typedef struct {
  int64_t n_mol;
  const int *sizes;            /* [n_mol] atoms (≥ 1) */
  const uint32_t *key_group;   /* [n_mol] */
  const uint32_t *key_member;  /* [n_mol], or NULL for all 0 */
  const elign_real *z_start;   /* (N, D) the state at t_start, or NULL: z_T from each molecule's PRIOR stream */
  int t_start;                 /* step of the start state (T for z_T; t_start − t_stop a multiple of the stride) */
  int t_stop;                  /* last state reached (0 = z_0) */
  int decode;                  /* 1 (needs t_stop = 0): decode z_0 and append the molecules to out */
  elign_real *z_stop;          /* (N, D) receives z_{t_stop}, or NULL */
  sampler_step_fn on_step;     /* after every reverse step and after the decode; NULL: none (and no
                                  ẑ₀ / log-prob work) */
  void *user;
} sampler_chain;

/* Run one chain segment. ws: the EDM policy's workspace when cfg->policy is
 * NULL (NULL: sized for this batch and freed). out (initialised by the
 * caller, e.g. memset 0 + elign_molset_init) gets the decoded molecules,
 * ids = key_group, when ch->decode. Errors: bad arguments, the policy's or
 * the callback's error (the chain stops there). */
elign_status sampler_run_chain(const sampler_config *cfg, const sampler_chain *ch, egnn_workspace *ws,
                               sampler_output *out, elign_error *err);

/* Batches covering [0, n_total) with batch size B, split into contiguous
 * blocks over `size` ranks: this rank's molecules [*first, *first + *count). */
void sampler_rank_range(int64_t n_total, int64_t batch, int rank, int size, int64_t *first, int64_t *count);

/* Network batch of a sampling run of n_total molecules: at most max_batch,
 * and small enough that the run has SAMPLER_SPREAD_BATCHES batches or more,
 * so that up to that many ranks get work for any n. It depends on n_total
 * and max_batch only, never on the rank count: batches aligned in the global
 * index are what keeps the output bitwise identical across rank counts (a
 * BLAS may sum a row differently in a batch of another size). */
#define SAMPLER_SPREAD_BATCHES 32
int64_t sampler_batch_for(int64_t n_total, int64_t max_batch);

/* Owner rank (owner[nb]) of each of nb batches with network costs cost[nb]
 * (≥ 0) over `size` ranks; returns the largest rank's load. Of two splits
 * it takes the one with the smaller largest load (the contiguous one on a tie):
 *   largest first (LPT): batches by cost, largest first (ties: lower batch
 *     index first), each to the rank with the least load so far (ties: the
 *     lowest rank) — it evens out batches of uneven cost where no cut
 *     between neighbours falls near an equal share (16 one-molecule batches);
 *   contiguous: batch b to the rank whose equal slice of the total holds its
 *     midpoint — sometimes better, e.g. costs 3 3 2 2 2 on 2 ranks (6 | 6,
 *     where LPT gives 7 | 5), so the split is never worse than contiguous.
 * Either way the largest load is at most total / size + the largest batch.
 * Pure arithmetic on the costs: every rank computes the same owners. */
double sampler_split_batches(const double *cost, int64_t nb, int size, int *owner);

/* This rank's share of a sampling run of molecules [0, n_total): whole
 * batches of cfg->batch (aligned in the global index), split over the ranks
 * by sampler_split_batches on their network cost (Σ n², the edges; sizes
 * drawn as sampler_run draws them), as ranges in ascending order (adjacent
 * batches merged). Not contiguous in general: the molecules of all ranks are
 * put back in global order before they are written (common/io/molset_mpi.h).
 * Above SAMPLER_BALANCE_MAX molecules (where counts balance anyway) the
 * split is by count, one contiguous range (sampler_rank_range). */
#define SAMPLER_BALANCE_MAX ((int64_t)1 << 20)
typedef struct {
  sampler_range *ranges; /* [n_ranges], ascending and disjoint */
  int64_t n_ranges;
  int64_t count;         /* molecules in the ranges */
  double largest_share;  /* the most loaded rank's fraction of the total cost; NaN when split by count */
} sampler_share;
void sampler_rank_share(const sampler_config *cfg, int64_t n_total, int rank, int size, sampler_share *share);
void sampler_share_free(sampler_share *share);

#endif
