/* rollout.h — FED-GRPO rollouts (ALGORITHMS.md §4.1–4.4, §4.9): the prompt
 * groups of one iteration, the three noise-sharing cases, and the compact
 * record the learner trains on.
 *
 * What this file is: per global group g an atom count n_g and (shared noise)
 * one z_T; K members per group sampled through the policy's Gaussian reverse
 * steps (actor/sampler.h); per molecule only what the learner and the reward
 * need — the latents of the TRAINED transitions, their rollout log-probs,
 * ẑ₀ (and μ, for force alignment) at the scheduled reward frames, and the
 * final molecules. What it is not: rewards, advantages or the loss
 * (learner/), or MPI placement (which rank runs which groups: the caller;
 * sampler_rank_range over groups in blocks of groups_per_batch).
 *
 * Noise sharing (§4.3), with p = skip_prefix:
 *   A  share_initial_noise = 0: own z_T and own noise per member (p ignored).
 *   B  shared, p = 0: one z_T per group, own noise per member.
 *   C  shared, p > 0: one z_T per group; the group's reference (member 0)
 *      runs the first p transitions ONCE (a batch of the references only);
 *      all K members then continue from that stored z_{T−p} with their own
 *      noise (the reference with its own streams, so it simply goes on).
 *      The prefix's records are copied to every member, as Elign does.
 *
 * Keying (common/base/rng.h): g the GLOBAL group id, j the member:
 *   atom count n_g            (seed, iteration, g, 0, 0, NODE_COUNT)
 *   z_T, shared (B, C)        (seed, iteration, g, 0, 0, PRIOR)
 *   z_T, case A               (seed, iteration, g, j, 0, PRIOR)
 *   transition t → s          (seed, iteration, g, j, s, STEP_NOISE)   case-C prefix: j = 0
 *   decode                    (seed, iteration, g, j, 0, DECODE_NOISE)
 * Member 0 of group g uses exactly the keys sampler_run gives molecule g, so
 * a case-A or B rollout with K = 1 equals sampler_run over molecules = groups
 * (same seed and iteration, sampler batch = groups_per_batch) bit for bit.
 *
 * Batches: groups go through the network in blocks of groups_per_batch,
 * aligned in the GLOBAL group index (block b = groups [b·G, (b+1)·G)), all
 * K members of a block's groups in one batch (the case-C prefix: their
 * references). A call on any range of groups therefore runs the same
 * batches as a call on all of them — OpenBLAS GEMM rounds a row differently
 * in batches of other sizes, so this is what makes a rollout independent of
 * the rank count. Give each rank whole blocks.
 *
 * The record (rollout_batch): one header and ONE contiguous data block, so
 * MPI moves it as two messages and a receiver rebuilds the views. Molecule m
 * = (g − group_first)·K + j (group-major). Latents are step-major: latent i
 * (i = 0..T_act) is z at t = T − k0 − i for every atom of the record, so a
 * run of molecules at one trained step is one contiguous (N, D) slice —
 * z_s of step i is z_t of step i + 1, each latent stored once. Frames are
 * frame-major the same way. Units: the diffusion's normalized latent units
 * (positions Å); pos in Å; log-probs in nats (double).
 *
 * Call sequence:
 *   rollout_config c = {.model = &m, .T = 1000, .K = 6, .share_initial_noise = 1,
 *                       .skip_prefix = 700, .train_start = 700, .groups_per_batch = 4,
 *                       .frames = sch.indices, .n_frames = sch.n, .seed = 42, .iteration = it};
 *   rollout_batch r;
 *   rollout_run(&c, group_first, n_groups, NULL, &r, &err);   // on_frame fires meanwhile
 *   for m, i: rollout_step v = rollout_step_view(&r, m, i); ... v.z_t, v.z_s, v.t, v.s, v.logp_old
 *   rollout_batch_free(&r);
 */
#ifndef ELIGN_ROLLOUT_H
#define ELIGN_ROLLOUT_H

#include <mpi.h>
#include <stdint.h>

#include "actor/sampler.h"
#include "common/base/error.h"
#include "common/base/real.h"
#include "common/model/edm_model.h"

/* ---- frames handed out while sampling ---------------------------------------- */

typedef enum {
  ROLLOUT_FRAME_ZHAT0 = 0, /* a scheduled reward frame's ẑ₀ (frame T: xh) */
  ROLLOUT_FRAME_FINAL = 1  /* the decoded molecules */
} rollout_frame_kind;

/* One block's molecules at one frame. zhat0 / pos / Z / charges point into
 * the record being built (valid until rollout_batch_free); offsets only
 * during the call. Scheduled frames inside a case-C prefix come once per
 * block with the reference's rows copied to every member. */
typedef struct {
  rollout_frame_kind kind;
  int frame;                  /* ZHAT0: frame index k (0..T; k < T: ẑ₀ of transition k, from z_{T−k}); FINAL: T */
  int slot;                   /* ZHAT0: index j in cfg->frames; FINAL: −1 */
  int64_t mol_first, n_mol;   /* record molecules [mol_first, mol_first + n_mol): whole groups */
  int copies;                 /* K for a frame inside a case-C prefix (each group's K members hold the same
                                 rows: evaluate one per group), else 1 */
  const int64_t *offsets;     /* [n_mol + 1] atoms, relative (offsets[0] = 0) */
  int D;
  const elign_real *zhat0;    /* ZHAT0: (N, D) ẑ₀ rows; FINAL: (N, D) xh */
  const double *pos;          /* FINAL: (N, 3) Å */
  const int32_t *Z, *charges; /* FINAL: (N) atomic numbers, decoded charges */
} rollout_frame;

/* Called in a deterministic order: blocks in ascending group order; within a
 * block the scheduled frames in ascending k as they are produced, then the
 * FINAL molecules. A non-OK return stops the rollout with that error. */
typedef elign_status (*rollout_frame_fn)(const rollout_frame *f, void *user, elign_error *err);

/* Molecules of a ZHAT0 frame for the oracle (§4.6): positions ẑ₀[:, 0:3]
 * (Å; position scale 1) and Z = atomic number of the first argmax over ALL
 * n_types one-hot channels (unlike the decode, GEOM's last type included).
 * pos (N, 3), Z (N). */
void rollout_frame_molecules(const edm_model *m, const rollout_frame *f, double *pos, int32_t *Z);

/* ---- configuration -------------------------------------------------------------- */

typedef struct {
  const edm_model *model;       /* atom-count histogram; the policy when `policy` is NULL */
  const sampler_policy *policy; /* NULL: EDM of model (its own workspace) */
  int T;                        /* model.time_step (reverse steps; τ = t/T) */
  int K;                        /* dataloader.each_prompt_sample: members per group (1..65535) */
  int share_initial_noise;      /* model.share_initial_noise */
  int skip_prefix;              /* resolved p (learner: grpo_rollout_skip_prefix); used only when shared;
                                   clipped to T */
  int train_start;              /* first trained transition k0 (learner: grpo_trained_start), 0..T */
  const int *frames;            /* [n_frames] ascending, distinct frame indices in 0..T
                                   (learner: grpo_schedule.indices); NULL / 0 = none */
  int n_frames;
  int keep_mu;                  /* 1 (force alignment on): keep μ at the scheduled frames */
  int groups_per_batch;         /* G ≥ 1: groups per network batch, aligned in the global group index */
  uint64_t seed, iteration;
  int64_t policy_version;       /* version of the weights; copied into the record */
  rollout_frame_fn on_frame;    /* optional */
  void *user;
} rollout_config;

/* Atom count of global group g (the NODE_COUNT stream above). */
int rollout_draw_group_size(const rollout_config *cfg, int64_t g);

/* ---- the record --------------------------------------------------------------- */

#define ROLLOUT_MAGIC 0x4f524c45u /* "ELRO" */
#define ROLLOUT_VERSION 1

/* Plain data, sent as bytes. */
typedef struct {
  uint32_t magic, version;
  int32_t real_bytes;           /* sizeof(elign_real) of the writer (4; 8 in the double build) */
  int32_t K, T, D;
  int32_t share_initial_noise;
  int32_t skip_prefix;          /* as run: 0 unless shared, ≤ T */
  int32_t train_start;          /* k0; T_act = T − k0 trained transitions */
  int32_t n_frames;             /* J */
  int32_t has_mu;
  int32_t pad_;
  uint64_t seed, iteration;
  int64_t policy_version;
  int64_t group_first, n_groups; /* global groups [group_first, group_first + n_groups) */
  int64_t n_mol;                 /* n_groups · K */
  int64_t n_atoms;               /* Σ atoms of all molecules */
  uint64_t data_bytes;           /* size of the data block */
} rollout_header;

/* The header plus named views into one data block (64-byte aligned arrays,
 * in this order). */
typedef struct {
  rollout_header h;
  void *data;
  int64_t *offsets;     /* [n_mol + 1] atoms of molecule m: offsets[m] .. offsets[m+1]−1 */
  int32_t *frames;      /* [J] frame indices */
  double *logp;         /* [T_act][n_mol] rollout log-probs of the trained transitions */
  elign_real *latents;  /* [T_act + 1][n_atoms][D] (none when T_act = 0) */
  elign_real *zhat0;    /* [J][n_atoms][D]; frame T: xh */
  elign_real *mu;       /* [J][n_atoms][D] if has_mu (frame T: μ_x), else NULL */
  elign_real *xh;       /* [n_atoms][D] the decode sample */
  double *pos;          /* [n_atoms][3] Å, final positions */
  int32_t *Z;           /* [n_atoms] atomic numbers */
  int32_t *charges;     /* [n_atoms] decoded charges */
} rollout_batch;

static inline int rollout_T_act(const rollout_batch *r) { return r->h.T - r->h.train_start; }
static inline int rollout_n_latents(const rollout_batch *r) { return rollout_T_act(r) > 0 ? rollout_T_act(r) + 1 : 0; }
static inline int64_t rollout_group(const rollout_batch *r, int64_t m) { return r->h.group_first + m / r->h.K; }
static inline int rollout_member(const rollout_batch *r, int64_t m) { return (int)(m % r->h.K); }
static inline int64_t rollout_natoms(const rollout_batch *r, int64_t m) { return r->offsets[m + 1] - r->offsets[m]; }
/* Latent i (0..T_act) of every atom: (n_atoms, D), z at t = T − k0 − i. */
static inline elign_real *rollout_latent(const rollout_batch *r, int i) {
  return r->latents + (int64_t)i * r->h.n_atoms * r->h.D;
}
/* Trained step i (0..T_act−1) is transition k = k0 + i: t = T − k → s = t − 1. */
static inline int rollout_step_t(const rollout_batch *r, int i) { return r->h.T - r->h.train_start - i; }
static inline double rollout_logp_old(const rollout_batch *r, int64_t m, int i) { return r->logp[(int64_t)i * r->h.n_mol + m]; }
/* ẑ₀ (or μ) of frame slot j: (n_atoms, D). */
static inline elign_real *rollout_frame_zhat0(const rollout_batch *r, int j) {
  return r->zhat0 + (int64_t)j * r->h.n_atoms * r->h.D;
}
static inline elign_real *rollout_frame_mu(const rollout_batch *r, int j) {
  return r->mu ? r->mu + (int64_t)j * r->h.n_atoms * r->h.D : NULL;
}

/* What the learner needs of (molecule m, trained step i). */
typedef struct {
  int k;                 /* transition index (schedule index) k0 + i */
  int t, s;              /* t = T − k, s = t − 1 */
  const elign_real *z_t; /* (n_m, D) */
  const elign_real *z_s; /* (n_m, D) */
  double logp_old;       /* log N(z_s; μ_old, σ²) at rollout time */
} rollout_step;

static inline rollout_step rollout_step_view(const rollout_batch *r, int64_t m, int i) {
  rollout_step v;
  v.k = r->h.train_start + i;
  v.t = r->h.T - v.k;
  v.s = v.t - 1;
  v.z_t = rollout_latent(r, i) + r->offsets[m] * r->h.D;
  v.z_s = rollout_latent(r, i + 1) + r->offsets[m] * r->h.D;
  v.logp_old = rollout_logp_old(r, m, i);
  return v;
}

/* Sample global groups [group_first, group_first + n_groups) of the
 * iteration; group_first must be a multiple of groups_per_batch (whole
 * blocks per caller: sampler_rank_range(P, groups_per_batch, rank, size, …)). group_sizes ([n_groups] atom counts) fixes the sizes, NULL
 * draws them (rollout_draw_group_size). out is initialised by the call
 * (free with rollout_batch_free, also after an error). Errors: bad settings
 * (ELIGN_ERR_ARG), the policy's or on_frame's error, a non-finite latent
 * (ELIGN_ERR_NUMERIC naming iteration, group, member and step). */
elign_status rollout_run(const rollout_config *cfg, int64_t group_first, int64_t n_groups, const int *group_sizes,
                         rollout_batch *out, elign_error *err);
void rollout_batch_free(rollout_batch *r); /* accepts a zeroed or freed record */

/* Bytes of the data block for a header's shape (fills h->data_bytes too). */
uint64_t rollout_data_bytes(rollout_header *h);
/* Allocate the data block for h (data_bytes recomputed) and set the views;
 * contents zero. */
void rollout_batch_alloc(rollout_batch *r, const rollout_header *h);

/* MPI: the header, then the data block (in chunks below 2^31 bytes), tag
 * and tag + 1 on comm. The receiver checks magic, version, element size and
 * the block size against the header (ELIGN_ERR_FORMAT). */
elign_status rollout_batch_send(const rollout_batch *r, int dest, int tag, MPI_Comm comm, elign_error *err);
elign_status rollout_batch_recv(rollout_batch *r, int source, int tag, MPI_Comm comm, elign_error *err);

#endif
