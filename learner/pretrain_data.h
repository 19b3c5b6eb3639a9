/* pretrain_data.h — what a pretraining rank computes on: the batch plan, the
 * rank's share of the dataset, and one chunk of molecules packed, noised and
 * pushed through the EDM loss (ALGORITHMS.md §2.10).
 *
 * Determinism (the same bits for 1, 2, 4, ... ranks and after --resume).
 *  - A batch of B molecules is C = B / c chunks of c molecules. Chunk k of
 *    every batch draws from SHARD k, the k-th contiguous slice of the train
 *    split (split positions [shard_first[k], shard_first[k+1])). In epoch e
 *    shard k is visited in the order of a permutation drawn from the Philox
 *    stream (seed, e, k, SHUFFLE); step s = e·S + b (S steps per epoch)
 *    takes positions b·c .. b·c + c − 1 of that order. So a batch is a
 *    stratified sample (one chunk per slice of the split), every molecule is
 *    seen once per epoch (up to the < c + C leftovers of each shard, which
 *    differ from epoch to epoch), and the plan depends on (n_train, B, c,
 *    seed) only.
 *  - Rank r of P computes chunks [r·C/P, (r+1)·C/P) of every batch, so it
 *    only ever needs its shards: a contiguous range of the split, which it
 *    reads from the HDF5 file as one hyperslab (elign_dataset_read_range).
 *  - Each molecule's time t, noise ε and rotation come from streams keyed by
 *    (seed, step, the molecule's index in the dataset file, member, purpose):
 *    member 0 for training, 1 for the (fixed) validation noise.
 *  - Each chunk's gradient is computed into its own buffer; the batch
 *    gradient is the sum over chunks in chunk order (learner/pretrain.c).
 */
#ifndef ELIGN_PRETRAIN_DATA_H
#define ELIGN_PRETRAIN_DATA_H

#include <stdint.h>

#include "common/base/error.h"
#include "common/chem/molset.h"
#include "common/io/dataset_io.h"
#include "common/model/edm_model.h"

/* ---- the batch plan ------------------------------------------------------ */

typedef struct {
  int64_t n_train;         /* molecules in the train split */
  int64_t batch, chunk;    /* B and c (c divides B) */
  int64_t n_chunks;        /* C = B / c = the number of shards */
  int64_t *shard_first;    /* [C + 1] split positions where each shard starts */
  int64_t steps_per_epoch; /* ⌊min shard size / c⌋ */
  uint64_t seed;
  int64_t cached_epoch;    /* epoch whose permutations `perm` holds, −1 none */
  int64_t *perm;           /* [n_train]: shard k's order at perm[shard_first[k] ...] (offsets inside the shard) */
} pretrain_plan;

/* Fails (ELIGN_ERR_CONFIG) if c does not divide B, or the split is too small
 * for one batch. */
elign_status pretrain_plan_init(pretrain_plan *p, int64_t n_train, int64_t batch, int64_t chunk, uint64_t seed,
                                elign_error *err);
void pretrain_plan_free(pretrain_plan *p);
/* Split positions of the c molecules of chunk k of optimizer step `step`. */
void pretrain_plan_chunk(pretrain_plan *p, int64_t step, int64_t k, int64_t *positions);
/* Chunks [*k0, *k1) of `n_chunks` that rank `rank` of `size` computes. */
void pretrain_rank_chunks(int64_t n_chunks, int rank, int size, int64_t *k0, int64_t *k1);

/* ---- a rank's molecules ----------------------------------------------------- */

/* Split positions [pos0, pos1) of one split, read from the dataset file. */
typedef struct {
  int64_t pos0, pos1;
  const int64_t *file_index; /* the split's file indices (not owned) */
  elign_molset mols;         /* molecule j = split position pos0 + j */
  int32_t *type_index;       /* [mols.n_atoms]: one-hot channel of each atom */
} pretrain_shard;

/* Read split positions [pos0, pos1) of `split` from the dataset at `path`
 * and check every atom against the model's types and every coordinate for
 * finiteness (messages name the molecule's dataset id). The file range the
 * positions span is read in windows of at most window_mol molecules (0:
 * PRETRAIN_SHARD_WINDOW), keeping only the split's molecules of each: a
 * random split spans almost the whole file (GEOM: ~9 GB of positions), and
 * one read of that range would hold it all at once on every rank. */
#define PRETRAIN_SHARD_WINDOW ((int64_t)1 << 14)
elign_status pretrain_shard_load_windowed(pretrain_shard *s, const char *path, const elign_split *split, int64_t pos0,
                                          int64_t pos1, const edm_model *m, int64_t window_mol, elign_error *err);
elign_status pretrain_shard_load(pretrain_shard *s, const char *path, const elign_split *split, int64_t pos0,
                                 int64_t pos1, const edm_model *m, elign_error *err);
void pretrain_shard_free(pretrain_shard *s);

/* ---- one chunk ------------------------------------------------------------- */

typedef struct {
  int64_t cap_mol, cap_atoms;
  int64_t n_mol;
  int64_t offsets_n;      /* = offsets[n_mol] */
  int64_t *offsets;       /* [cap_mol + 1] */
  int64_t *file_index;    /* [cap_mol] dataset index (RNG key) */
  int *t;                 /* [cap_mol] diffusion times 0..T0 */
  elign_real *tau, *alpha, *sigma; /* [cap_mol] */
  double *pos;            /* [cap_atoms·3] Å (rotated copy) */
  int32_t *types, *Z;     /* [cap_atoms] */
  elign_real *xh, *eps, *z_t, *eps_hat, *d_eps_hat; /* [cap_atoms·D] */
} pretrain_chunk;

void pretrain_chunk_init(pretrain_chunk *ch, int64_t cap_mol, int64_t cap_atoms, int D);
void pretrain_chunk_free(pretrain_chunk *ch);

/* Keys of a chunk's random draws. */
typedef struct {
  uint64_t seed;
  uint64_t iteration; /* the optimizer step (training) or 0 (validation) */
  uint32_t member;    /* 0 training, 1 validation */
  int rotate;         /* 1: random rotation of each molecule (data augmentation) */
} pretrain_keys;

/* Pack shard molecules `local` (indices into s->mols, n of them) into ch:
 * positions (rotated if keys->rotate), encoded xh, t ~ U{0..T0}, ε, z_t. */
void pretrain_chunk_pack(pretrain_chunk *ch, const pretrain_shard *s, const int64_t *local, int64_t n,
                         const edm_model *m, const pretrain_keys *keys);

/* EDM loss of the packed chunk with params (ε̂ = φ(z_t, t/T0)), normalised as
 * part of a batch of batch_n molecules whose largest has batch_max_atoms;
 * energy != NULL replaces the position channels' l2 by the energy loss;
 * terms += the chunk's share. With grads != NULL the chunk's gradient is
 * ADDED into grads (egnn accumulate rule). */
elign_status pretrain_chunk_loss(const edm_model *m, const elign_real *params, egnn_workspace *ws, pretrain_chunk *ch,
                                 int64_t batch_n, int64_t batch_max_atoms, const diffusion_energy_loss *energy,
                                 elign_real *grads, diffusion_loss_terms *terms, elign_error *err);

/* EDM's random_rotation (utils.py): x ← Rz(γ)·Ry(β)·Rx(α)·x with α, β, γ
 * uniform in [−π, π), drawn in that order; n atoms, pos (n,3) Å, rotated
 * about the origin in place. */
void pretrain_random_rotation(double *pos, int64_t n, elign_rng *rng);

#endif
