/* pretrain_data.c — the batch plan, a rank's shard of the dataset, and one
 * chunk through the EDM loss (see pretrain_data.h for the determinism rules). */
#include "learner/pretrain_data.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/base/rng.h"

/* ---- the batch plan ------------------------------------------------------ */

elign_status pretrain_plan_init(pretrain_plan *p, int64_t n_train, int64_t batch, int64_t chunk, uint64_t seed,
                                elign_error *err) {
  memset(p, 0, sizeof *p);
  p->cached_epoch = -1;
  if (chunk < 1 || batch < chunk || batch % chunk != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "pretrain.chunk_size = %lld must divide pretrain.batch_size = %lld",
                      (long long)chunk, (long long)batch);
  int64_t C = batch / chunk;
  if (n_train < batch)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "the train split has %lld molecules, fewer than one batch (%lld)",
                      (long long)n_train, (long long)batch);
  p->n_train = n_train;
  p->batch = batch;
  p->chunk = chunk;
  p->n_chunks = C;
  p->seed = seed;
  p->shard_first = elign_malloc((size_t)(C + 1) * sizeof *p->shard_first, "plan:shards");
  for (int64_t k = 0; k <= C; k++) p->shard_first[k] = k * n_train / C;
  /* the smallest shard is ⌊n/C⌋ ≥ c molecules since n ≥ B */
  p->steps_per_epoch = (n_train / C) / chunk;
  p->perm = elign_malloc((size_t)n_train * sizeof *p->perm, "plan:perm");
  return ELIGN_OK;
}

void pretrain_plan_free(pretrain_plan *p) {
  elign_free(p->shard_first);
  elign_free(p->perm);
  memset(p, 0, sizeof *p);
}

/* Fisher–Yates over each shard with its own stream (seed, epoch, shard). */
static void plan_shuffle_epoch(pretrain_plan *p, int64_t epoch) {
  for (int64_t k = 0; k < p->n_chunks; k++) {
    int64_t first = p->shard_first[k], n = p->shard_first[k + 1] - first;
    int64_t *perm = p->perm + first;
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    elign_rng rng = elign_rng_stream(p->seed, (uint64_t)epoch, (uint32_t)k, 0, 0, ELIGN_RNG_SHUFFLE);
    for (int64_t i = n - 1; i > 0; i--) {
      int64_t j = (int64_t)(elign_rng_uniform(&rng) * (double)(i + 1));
      if (j > i) j = i; /* the uniform is < 1, but be safe against rounding */
      int64_t tmp = perm[i];
      perm[i] = perm[j];
      perm[j] = tmp;
    }
  }
  p->cached_epoch = epoch;
}

void pretrain_plan_chunk(pretrain_plan *p, int64_t step, int64_t k, int64_t *positions) {
  ELIGN_ASSERT(step >= 0 && k >= 0 && k < p->n_chunks);
  int64_t epoch = step / p->steps_per_epoch, b = step % p->steps_per_epoch;
  if (epoch != p->cached_epoch) plan_shuffle_epoch(p, epoch);
  const int64_t *perm = p->perm + p->shard_first[k];
  for (int64_t j = 0; j < p->chunk; j++) positions[j] = p->shard_first[k] + perm[b * p->chunk + j];
}

void pretrain_rank_chunks(int64_t n_chunks, int rank, int size, int64_t *k0, int64_t *k1) {
  *k0 = (int64_t)rank * n_chunks / size;
  *k1 = (int64_t)(rank + 1) * n_chunks / size;
}

/* ---- a rank's molecules ------------------------------------------------------- */

static int64_t dataset_id(const elign_molset *mols, int64_t j, int64_t file_index) {
  return mols->ids && mols->ids[j] >= 0 ? mols->ids[j] : file_index;
}

/* One-hot channels of every atom, and finite coordinates. */
static elign_status shard_check(pretrain_shard *s, const char *path, const edm_model *m, elign_error *err) {
  const elign_molset *ms = &s->mols;
  s->type_index = elign_malloc((size_t)(ms->n_atoms ? ms->n_atoms : 1) * sizeof *s->type_index, "shard:types");
  for (int64_t j = 0; j < ms->n_mol; j++) {
    int64_t fi = s->file_index[s->pos0 + j], id = dataset_id(ms, j, fi);
    if (ms->offsets[j + 1] == ms->offsets[j])
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: molecule %lld (id %lld) has no atoms", path, (long long)fi,
                        (long long)id);
    for (int64_t a = ms->offsets[j]; a < ms->offsets[j + 1]; a++) {
      int ti = edm_model_type_index(m, ms->Z[a]);
      if (ti < 0) {
        ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: molecule %lld (id %lld) has element %s, which the '%s' atom types cannot encode",
                   path, (long long)fi, (long long)id, elign_element_symbol(ms->Z[a]), m->dataset);
        elign_error_hint(err, "pretrain.model.atom_types chooses the types (qm9: H C N O F; geom: 16 elements)");
        return ELIGN_ERR_FORMAT;
      }
      s->type_index[a] = ti;
      for (int d = 0; d < 3; d++)
        if (!isfinite(ms->pos[3 * a + d]))
          return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: molecule %lld (id %lld) has a non-finite coordinate", path,
                            (long long)fi, (long long)id);
    }
  }
  return ELIGN_OK;
}

/* Append the split positions [*q, pos1) whose molecules lie in the file
 * window [w0, w1) (read as one hyperslab) to s; *q moves past them. */
static elign_status shard_append_window(pretrain_shard *s, const char *path, const elign_split *split, int64_t *q,
                                        int64_t pos1, int64_t w0, int64_t w1, elign_error *err) {
  elign_molset range;
  elign_status st = elign_dataset_read_range(path, w0, w1, &range, err);
  if (st) return st;
  for (; *q < pos1 && split->index[*q] < w1; (*q)++) {
    int64_t j = split->index[*q] - w0;
    int64_t n = range.offsets[j + 1] - range.offsets[j];
    elign_molset_append(&s->mols, (int)n, range.Z + range.offsets[j], range.pos + 3 * range.offsets[j],
                        range.ids ? range.ids[j] : split->index[*q], NULL);
  }
  elign_molset_free(&range);
  return ELIGN_OK;
}

elign_status pretrain_shard_load_windowed(pretrain_shard *s, const char *path, const elign_split *split, int64_t pos0,
                                          int64_t pos1, const edm_model *m, int64_t window_mol, elign_error *err) {
  memset(s, 0, sizeof *s);
  elign_molset_init(&s->mols);
  s->pos0 = pos0;
  s->pos1 = pos1;
  s->file_index = split->index;
  if (pos1 <= pos0) return ELIGN_OK;
  for (int64_t q = pos0 + 1; q < pos1; q++)
    if (split->index[q] <= split->index[q - 1])
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: split '%s' is not in ascending order at position %lld", path,
                        split->name, (long long)q);
  if (window_mol < 1) window_mol = PRETRAIN_SHARD_WINDOW;
  int64_t end = split->index[pos1 - 1] + 1;
  for (int64_t q = pos0; q < pos1;) {
    int64_t w0 = split->index[q], w1 = w0 + window_mol < end ? w0 + window_mol : end;
    elign_status st = shard_append_window(s, path, split, &q, pos1, w0, w1, err);
    if (st) return st;
  }
  return shard_check(s, path, m, err);
}

elign_status pretrain_shard_load(pretrain_shard *s, const char *path, const elign_split *split, int64_t pos0,
                                 int64_t pos1, const edm_model *m, elign_error *err) {
  return pretrain_shard_load_windowed(s, path, split, pos0, pos1, m, 0, err);
}

void pretrain_shard_free(pretrain_shard *s) {
  elign_molset_free(&s->mols);
  elign_free(s->type_index);
  memset(s, 0, sizeof *s);
}

/* ---- one chunk ---------------------------------------------------------------- */

void pretrain_chunk_init(pretrain_chunk *ch, int64_t cap_mol, int64_t cap_atoms, int D) {
  memset(ch, 0, sizeof *ch);
  ch->cap_mol = cap_mol;
  ch->cap_atoms = cap_atoms;
  size_t nm = (size_t)cap_mol, na = (size_t)cap_atoms, nd = (size_t)cap_atoms * (size_t)D;
  ch->offsets = elign_calloc(nm + 1, sizeof *ch->offsets, "chunk:offsets");
  ch->file_index = elign_calloc(nm, sizeof *ch->file_index, "chunk:index");
  ch->t = elign_calloc(nm, sizeof *ch->t, "chunk:t");
  ch->tau = elign_calloc(nm, sizeof *ch->tau, "chunk:tau");
  ch->alpha = elign_calloc(nm, sizeof *ch->alpha, "chunk:alpha");
  ch->sigma = elign_calloc(nm, sizeof *ch->sigma, "chunk:sigma");
  ch->pos = elign_calloc(na * 3, sizeof *ch->pos, "chunk:pos");
  ch->types = elign_calloc(na, sizeof *ch->types, "chunk:types");
  ch->Z = elign_calloc(na, sizeof *ch->Z, "chunk:Z");
  ch->xh = elign_calloc(nd, sizeof *ch->xh, "chunk:xh");
  ch->eps = elign_calloc(nd, sizeof *ch->eps, "chunk:eps");
  ch->z_t = elign_calloc(nd, sizeof *ch->z_t, "chunk:z_t");
  ch->eps_hat = elign_calloc(nd, sizeof *ch->eps_hat, "chunk:eps_hat");
  ch->d_eps_hat = elign_calloc(nd, sizeof *ch->d_eps_hat, "chunk:d_eps_hat");
}

void pretrain_chunk_free(pretrain_chunk *ch) {
  elign_free(ch->offsets);
  elign_free(ch->file_index);
  elign_free(ch->t);
  elign_free(ch->tau);
  elign_free(ch->alpha);
  elign_free(ch->sigma);
  elign_free(ch->pos);
  elign_free(ch->types);
  elign_free(ch->Z);
  elign_free(ch->xh);
  elign_free(ch->eps);
  elign_free(ch->z_t);
  elign_free(ch->eps_hat);
  elign_free(ch->d_eps_hat);
  memset(ch, 0, sizeof *ch);
}

/* Rotation matrices of EDM's utils.random_rotation, rows as written there. */
static void rotation_x(double R[3][3], double c, double s) {
  double M[3][3] = {{1, 0, 0}, {0, c, s}, {0, -s, c}};
  memcpy(R, M, sizeof M);
}
static void rotation_y(double R[3][3], double c, double s) {
  double M[3][3] = {{c, 0, -s}, {0, 1, 0}, {s, 0, c}};
  memcpy(R, M, sizeof M);
}
static void rotation_z(double R[3][3], double c, double s) {
  double M[3][3] = {{c, s, 0}, {-s, c, 0}, {0, 0, 1}};
  memcpy(R, M, sizeof M);
}

static void apply_rotation(double *pos, int64_t n, double R[3][3]) {
  for (int64_t i = 0; i < n; i++) {
    double *x = pos + 3 * i, y[3];
    for (int r = 0; r < 3; r++) y[r] = R[r][0] * x[0] + R[r][1] * x[1] + R[r][2] * x[2];
    memcpy(x, y, sizeof y);
  }
}

void pretrain_random_rotation(double *pos, int64_t n, elign_rng *rng) {
  const double pi = 3.14159265358979323846;
  void (*make[3])(double[3][3], double, double) = {rotation_x, rotation_y, rotation_z};
  for (int axis = 0; axis < 3; axis++) {
    double theta = elign_rng_uniform(rng) * 2 * pi - pi, R[3][3];
    make[axis](R, cos(theta), sin(theta));
    apply_rotation(pos, n, R);
  }
}

void pretrain_chunk_pack(pretrain_chunk *ch, const pretrain_shard *s, const int64_t *local, int64_t n,
                         const edm_model *m, const pretrain_keys *keys) {
  ELIGN_ASSERT(n <= ch->cap_mol);
  const elign_molset *ms = &s->mols;
  int D = m->layout.D, T = m->T0;
  ch->n_mol = n;
  ch->offsets[0] = 0;
  for (int64_t b = 0; b < n; b++) {
    int64_t j = local[b], na = ms->offsets[j + 1] - ms->offsets[j], a0 = ch->offsets[b];
    ch->offsets[b + 1] = a0 + na;
    ELIGN_ASSERT(ch->offsets[b + 1] <= ch->cap_atoms);
    ch->file_index[b] = s->file_index[s->pos0 + j];
    memcpy(ch->pos + 3 * a0, ms->pos + 3 * ms->offsets[j], (size_t)na * 3 * sizeof(double));
    memcpy(ch->types + a0, s->type_index + ms->offsets[j], (size_t)na * sizeof(int32_t));
    memcpy(ch->Z + a0, ms->Z + ms->offsets[j], (size_t)na * sizeof(int32_t));
    uint32_t g = (uint32_t)ch->file_index[b];
    if (keys->rotate) {
      elign_rng r = elign_rng_stream(keys->seed, keys->iteration, g, keys->member, 0, ELIGN_RNG_ROTATION);
      pretrain_random_rotation(ch->pos + 3 * a0, na, &r);
    }
    /* t ~ U{0, ..., T} (EDM: randint(0, T + 1) in training) */
    elign_rng rt = elign_rng_stream(keys->seed, keys->iteration, g, keys->member, 0, ELIGN_RNG_TRAIN_TIME);
    int t = (int)(elign_rng_uniform(&rt) * (double)(T + 1));
    ch->t[b] = t > T ? T : t;
    elign_real gamma = diffusion_gamma(&m->sched, ch->t[b], T);
    ch->tau[b] = (elign_real)ch->t[b] / (elign_real)T;
    ch->alpha[b] = diffusion_alpha(gamma);
    ch->sigma[b] = diffusion_sigma(gamma);
    elign_rng rn = elign_rng_stream(keys->seed, keys->iteration, g, keys->member, 0, ELIGN_RNG_TRAIN_NOISE);
    diffusion_noise_molecule(ch->eps + a0 * D, &rn, na, D);
  }
  ch->offsets_n = ch->offsets[n];
  diffusion_encode(ch->xh, ch->pos, ch->types, ch->Z, ch->offsets, n, &m->layout);
  diffusion_forward_noise(ch->z_t, ch->xh, ch->eps, ch->alpha, ch->sigma, ch->offsets, n, D);
}

elign_status pretrain_chunk_loss(const edm_model *m, const elign_real *params, egnn_workspace *ws, pretrain_chunk *ch,
                                 int64_t batch_n, int64_t batch_max_atoms, const diffusion_energy_loss *energy,
                                 elign_real *grads, diffusion_loss_terms *terms, elign_error *err) {
  elign_status st =
      egnn_dynamics_forward(&m->net, params, ws, ch->n_mol, ch->offsets, ch->z_t, ch->tau, ch->eps_hat, err);
  if (st) return st;
  diffusion_loss_input in = {ch->xh,   ch->z_t,  ch->eps,     ch->eps_hat, ch->t,   ch->offsets,    ch->n_mol,
                             m->T0,    &m->layout, &m->sched, &m->nodes, batch_n, batch_max_atoms, energy};
  if (m->nodes.n == 0) in.nodes = NULL;
  diffusion_loss_terms L;
  diffusion_train_loss(&L, &in);
  terms->loss += L.loss;
  terms->l2_term += L.l2_term;
  terms->kl_prior += L.kl_prior;
  terms->neg_log_pn += L.neg_log_pn;
  terms->l2_sum_t0 += L.l2_sum_t0;
  terms->l2_sum_t += L.l2_sum_t;
  terms->n_t0 += L.n_t0;
  terms->n_t += L.n_t;
  if (grads) {
    diffusion_train_loss_backward(ch->d_eps_hat, 1.0, &in);
    egnn_dynamics_backward(&m->net, params, grads, ws, ch->d_eps_hat, NULL);
  }
  return ELIGN_OK;
}
