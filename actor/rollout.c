/* rollout.c — prompt groups, the noise-sharing cases A/B/C and the compact
 * record (see rollout.h for the keying and layout contract).
 *
 * Structure: rollout_run draws the group sizes, lays out the record, and
 * runs the groups block by block (run_block). A block is one or two chain
 * segments of actor/sampler.c; its per-step callback (record_step) copies
 * what the record keeps from the batch rows into the record's rows — in the
 * case-C prefix a batch row is a group's reference and is written to all K
 * members. */
#include "actor/rollout.h"

#include <math.h>
#include <string.h>

#include "common/base/rng.h"

/* ---- record layout ---------------------------------------------------------------- */

typedef struct {
  uint64_t offsets, frames, logp, latents, zhat0, mu, xh, pos, Z, charges, total;
} record_layout;

static uint64_t align64(uint64_t x) { return (x + 63u) & ~(uint64_t)63u; }

static void layout_of(const rollout_header *h, record_layout *L) {
  uint64_t rb = (uint64_t)h->real_bytes, rows = (uint64_t)h->n_atoms * (uint64_t)h->D;
  int T_act = h->T - h->train_start;
  uint64_t n_latents = T_act > 0 ? (uint64_t)T_act + 1 : 0, at = 0;
#define PLACE(field, bytes) (L->field = at, at = align64(at + (uint64_t)(bytes)))
  PLACE(offsets, ((uint64_t)h->n_mol + 1) * sizeof(int64_t));
  PLACE(frames, (uint64_t)h->n_frames * sizeof(int32_t));
  PLACE(logp, (uint64_t)(T_act > 0 ? T_act : 0) * (uint64_t)h->n_mol * sizeof(double));
  PLACE(latents, n_latents * rows * rb);
  PLACE(zhat0, (uint64_t)h->n_frames * rows * rb);
  PLACE(mu, h->has_mu ? (uint64_t)h->n_frames * rows * rb : 0);
  PLACE(xh, rows * rb);
  PLACE(pos, (uint64_t)h->n_atoms * 3 * sizeof(double));
  PLACE(Z, (uint64_t)h->n_atoms * sizeof(int32_t));
  PLACE(charges, (uint64_t)h->n_atoms * sizeof(int32_t));
#undef PLACE
  L->total = at;
}

uint64_t rollout_data_bytes(rollout_header *h) {
  record_layout L;
  layout_of(h, &L);
  h->data_bytes = L.total;
  return L.total;
}

static void set_views(rollout_batch *r) {
  record_layout L;
  layout_of(&r->h, &L);
  char *d = r->data;
  r->offsets = (int64_t *)(d + L.offsets);
  r->frames = (int32_t *)(d + L.frames);
  r->logp = (double *)(d + L.logp);
  r->latents = (elign_real *)(d + L.latents);
  r->zhat0 = (elign_real *)(d + L.zhat0);
  r->mu = r->h.has_mu ? (elign_real *)(d + L.mu) : NULL;
  r->xh = (elign_real *)(d + L.xh);
  r->pos = (double *)(d + L.pos);
  r->Z = (int32_t *)(d + L.Z);
  r->charges = (int32_t *)(d + L.charges);
}

void rollout_batch_alloc(rollout_batch *r, const rollout_header *h) {
  memset(r, 0, sizeof *r);
  r->h = *h;
  rollout_data_bytes(&r->h);
  /* calloc of the whole block: 64-byte alignment of every view relative to
   * the block start; glibc's 16-byte base alignment is all the arrays need. */
  r->data = elign_calloc(1, (size_t)(r->h.data_bytes > 0 ? r->h.data_bytes : 1), "rollout:record");
  set_views(r);
}

void rollout_batch_free(rollout_batch *r) {
  if (!r) return;
  elign_free(r->data);
  memset(r, 0, sizeof *r);
}

/* ---- groups -------------------------------------------------------------------- */

int rollout_draw_group_size(const rollout_config *cfg, int64_t g) {
  elign_rng r = elign_rng_stream(cfg->seed, cfg->iteration, (uint32_t)g, 0, 0, ELIGN_RNG_NODE_COUNT);
  return diffusion_nodes_sample(&cfg->model->nodes, &r);
}

void rollout_frame_molecules(const edm_model *m, const rollout_frame *f, double *pos, int32_t *Z) {
  int64_t N = f->offsets[f->n_mol];
  if (f->kind == ROLLOUT_FRAME_FINAL) {
    memcpy(pos, f->pos, (size_t)N * 3 * sizeof(double));
    memcpy(Z, f->Z, (size_t)N * sizeof(int32_t));
    return;
  }
  int D = f->D;
  for (int64_t i = 0; i < N; i++) {
    const elign_real *row = f->zhat0 + i * D;
    for (int d = 0; d < 3; d++) pos[3 * i + d] = (double)row[d];
    int best = 0;
    for (int c = 1; c < m->n_types; c++)
      if (row[DIFFUSION_NDIM + c] > row[DIFFUSION_NDIM + best]) best = c;
    Z[i] = m->type_Z[best];
  }
}

static elign_status check_config(const rollout_config *c, int D, int64_t group_first, int64_t n_groups,
                                 const int *group_sizes, elign_error *err) {
  if (!c->model) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: no model");
  if (c->T < 1 || c->T > 65535) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: T = %d outside 1..65535", c->T);
  if (c->K < 1 || c->K > 65535)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: K = %d members per group outside 1..65535", c->K);
  if (c->groups_per_batch < 1) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: groups_per_batch %d < 1", c->groups_per_batch);
  if (c->skip_prefix < 0) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: skip_prefix %d < 0", c->skip_prefix);
  if (c->train_start < 0 || c->train_start > c->T)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: train_start %d outside 0..T = %d", c->train_start, c->T);
  if (c->n_frames < 0 || (c->n_frames > 0 && !c->frames))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: %d frames without an index list", c->n_frames);
  for (int j = 0; j < c->n_frames; j++)
    if (c->frames[j] < 0 || c->frames[j] > c->T || (j > 0 && c->frames[j] <= c->frames[j - 1]))
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: frame %d (index %d) is not ascending inside 0..T = %d", j,
                        c->frames[j], c->T);
  if (group_first < 0 || n_groups < 0 || group_first + n_groups > ((int64_t)1 << 32))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: groups [%lld, %lld) outside the key range",
                      (long long)group_first, (long long)(group_first + n_groups));
  if (group_first % c->groups_per_batch != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG,
                      "rollout: first group %lld is not a multiple of groups_per_batch %d (give each caller whole "
                      "blocks, or the batches — and the bits — depend on the split)",
                      (long long)group_first, c->groups_per_batch);
  if (c->iteration >= ((uint64_t)1 << 32))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: iteration %llu outside the key range (< 2^32)",
                      (unsigned long long)c->iteration);
  if (!group_sizes && c->model->nodes.n == 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: the model has no atom-count histogram; give the sizes");
  if (D < DIFFUSION_NDIM + 1) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: policy with D = %d channels", D);
  return ELIGN_OK;
}

/* ---- one block ----------------------------------------------------------------- */

/* Shared by the blocks of one call. */
typedef struct {
  const rollout_config *cfg;
  sampler_config sc;   /* T, seed, iteration, policy */
  egnn_workspace *ws;  /* the EDM policy's (NULL with a caller policy) */
  rollout_batch *r;
  int *slot_of_frame;  /* [T + 1]: slot j of frame k, or −1 */
  const int *sizes;    /* [n_groups] */
} rollout_run_state;

/* One chain segment's view of the block, for record_step. */
typedef struct {
  rollout_run_state *rs;
  int64_t m0, nm;          /* the block's record molecules */
  const int64_t *rel_off;  /* [nm + 1] block-relative atoms */
  int rep;                 /* K in the case-C prefix (batch row = group), 1 otherwise */
} block_view;

/* Batch row b → record molecules m0 + b·rep .. m0 + b·rep + rep − 1: copy
 * the row block of src (batch-packed by boff) into dst (record-packed). */
static void copy_rows(const block_view *v, elign_real *dst, const elign_real *src, const int64_t *boff,
                      int64_t n_rows) {
  const rollout_batch *r = v->rs->r;
  int D = r->h.D;
  for (int64_t b = 0; b < n_rows; b++) {
    size_t bytes = (size_t)((boff[b + 1] - boff[b]) * D) * sizeof(elign_real);
    for (int j = 0; j < v->rep; j++) memcpy(dst + r->offsets[v->m0 + b * v->rep + j] * D, src + boff[b] * D, bytes);
  }
}

static elign_status check_finite(const block_view *v, const sampler_step *st, elign_error *err) {
  int D = v->rs->r->h.D;
  for (int64_t b = 0; b < st->n_mol; b++)
    for (int64_t q = st->offsets[b] * D; q < st->offsets[b + 1] * D; q++)
      if (!isfinite(st->z_s[q])) {
        elign_status e = ELIGN_FAIL(err, ELIGN_ERR_NUMERIC,
                                    "rollout: non-finite latent at iteration %llu, group %u, member %u, %s t=%d → s=%d",
                                    (unsigned long long)v->rs->cfg->iteration, st->key_group[b],
                                    st->key_member ? st->key_member[b] : 0u, st->decode ? "decode" : "step",
                                    st->t, st->s);
        elign_error_hint(err, "the model produced NaN/Inf; check the weights (and the learning rate of the run)");
        return e;
      }
  return ELIGN_OK;
}

static elign_status record_step(const sampler_step *st, void *user, elign_error *err) {
  const block_view *v = user;
  rollout_run_state *rs = v->rs;
  rollout_batch *r = rs->r;
  int T = r->h.T, k0 = r->h.train_start, D = r->h.D;
  elign_status e = check_finite(v, st, err);
  if (e) return e;
  int k = st->decode ? T : T - st->t; /* frame / transition index */
  if (!st->decode && k >= k0) {
    if (k == k0) copy_rows(v, rollout_latent(r, 0), st->z_t, st->offsets, st->n_mol);
    copy_rows(v, rollout_latent(r, k - k0 + 1), st->z_s, st->offsets, st->n_mol);
    for (int64_t b = 0; b < st->n_mol; b++)
      for (int j = 0; j < v->rep; j++) r->logp[(int64_t)(k - k0) * r->h.n_mol + v->m0 + b * v->rep + j] = st->logp[b];
  }
  if (st->decode) copy_rows(v, r->xh, st->z_s, st->offsets, st->n_mol);
  int slot = rs->slot_of_frame[k];
  if (slot < 0) return ELIGN_OK;
  /* Elign's frame T is the decode sample xh itself (§4.4 table). */
  copy_rows(v, rollout_frame_zhat0(r, slot), st->decode ? st->z_s : st->zhat0, st->offsets, st->n_mol);
  if (r->mu) copy_rows(v, rollout_frame_mu(r, slot), st->mu, st->offsets, st->n_mol);
  if (!rs->cfg->on_frame) return ELIGN_OK;
  rollout_frame f = {.kind = ROLLOUT_FRAME_ZHAT0, .frame = k, .slot = slot, .mol_first = v->m0, .n_mol = v->nm,
                     .copies = v->rep, .offsets = v->rel_off, .D = D,
                     .zhat0 = rollout_frame_zhat0(r, slot) + r->offsets[v->m0] * D};
  return rs->cfg->on_frame(&f, rs->cfg->user, err);
}

/* Groups [b0, b1) of the call (indices into the call's groups). */
static elign_status run_block(rollout_run_state *rs, int64_t b0, int64_t b1, elign_error *err) {
  const rollout_config *c = rs->cfg;
  rollout_batch *r = rs->r;
  int K = r->h.K, D = r->h.D, T = r->h.T, p = r->h.skip_prefix, shared = r->h.share_initial_noise;
  int64_t nb = b1 - b0, nm = nb * K, m0 = b0 * K, atom0 = r->offsets[m0];
  int64_t N = r->offsets[m0 + nm] - atom0;
  int64_t *rel = elign_malloc((size_t)(nm + 1) * sizeof(int64_t), "rollout:offsets");
  int *msize = elign_malloc((size_t)nm * sizeof(int), "rollout:sizes");
  uint32_t *mgroup = elign_malloc((size_t)nm * sizeof(uint32_t), "rollout:keys");
  uint32_t *mmember = elign_malloc((size_t)nm * sizeof(uint32_t), "rollout:keys");
  for (int64_t m = 0; m <= nm; m++) rel[m] = r->offsets[m0 + m] - atom0;
  for (int64_t m = 0; m < nm; m++) {
    msize[m] = (int)(rel[m + 1] - rel[m]);
    mgroup[m] = (uint32_t)(r->h.group_first + b0 + m / K);
    mmember[m] = (uint32_t)(m % K);
  }
  /* z_T of every member (block-packed) */
  elign_real *z = elign_malloc((size_t)(N > 0 ? N : 1) * D * sizeof(elign_real), "rollout:z");
  for (int64_t m = 0; m < nm; m++) {
    if (shared && mmember[m] != 0) {
      memcpy(z + rel[m] * D, z + rel[m - mmember[m]] * D, (size_t)(msize[m] * D) * sizeof(elign_real));
      continue;
    }
    elign_rng rng = elign_rng_stream(c->seed, c->iteration, mgroup[m], shared ? 0 : mmember[m], 0, ELIGN_RNG_PRIOR);
    diffusion_noise_molecule(z + rel[m] * D, &rng, msize[m], D);
  }
  elign_status st = ELIGN_OK;
  sampler_output so;
  memset(&so, 0, sizeof so);
  elign_molset_init(&so.mols);
  block_view members = {.rs = rs, .m0 = m0, .nm = nm, .rel_off = rel, .rep = 1};
  int t_branch = T;
  if (shared && p > 0) {
    /* case C: the references alone through the prefix, then z_{T−p} to every member */
    t_branch = T - p;
    int64_t *goff = elign_malloc((size_t)(nb + 1) * sizeof(int64_t), "rollout:offsets");
    int *gsize = elign_malloc((size_t)nb * sizeof(int), "rollout:sizes");
    uint32_t *ggroup = elign_malloc((size_t)nb * sizeof(uint32_t), "rollout:keys");
    goff[0] = 0;
    for (int64_t g = 0; g < nb; g++) {
      gsize[g] = msize[g * K];
      ggroup[g] = mgroup[g * K];
      goff[g + 1] = goff[g] + gsize[g];
    }
    elign_real *zref = elign_malloc((size_t)(goff[nb] > 0 ? goff[nb] : 1) * D * sizeof(elign_real), "rollout:zref");
    for (int64_t g = 0; g < nb; g++)
      memcpy(zref + goff[g] * D, z + rel[g * K] * D, (size_t)(gsize[g] * D) * sizeof(elign_real));
    block_view refs = {.rs = rs, .m0 = m0, .nm = nm, .rel_off = rel, .rep = K};
    sampler_chain prefix = {.n_mol = nb, .sizes = gsize, .key_group = ggroup, .z_start = zref, .t_start = T,
                            .t_stop = t_branch, .z_stop = zref, .on_step = record_step, .user = &refs};
    st = sampler_run_chain(&rs->sc, &prefix, rs->ws, NULL, err);
    for (int64_t m = 0; m < nm && !st; m++)
      memcpy(z + rel[m] * D, zref + goff[m / K] * D, (size_t)(msize[m] * D) * sizeof(elign_real));
    elign_free(goff);
    elign_free(gsize);
    elign_free(ggroup);
    elign_free(zref);
  }
  if (!st) {
    sampler_chain rest = {.n_mol = nm, .sizes = msize, .key_group = mgroup, .key_member = mmember, .z_start = z,
                          .t_start = t_branch, .t_stop = 0, .decode = 1, .on_step = record_step, .user = &members};
    st = sampler_run_chain(&rs->sc, &rest, rs->ws, &so, err);
  }
  if (!st) {
    ELIGN_ASSERT(so.mols.n_atoms == N);
    memcpy(r->pos + 3 * atom0, so.mols.pos, (size_t)N * 3 * sizeof(double));
    memcpy(r->Z + atom0, so.mols.Z, (size_t)N * sizeof(int32_t));
    memcpy(r->charges + atom0, so.charges, (size_t)N * sizeof(int32_t));
    if (c->on_frame) {
      rollout_frame f = {.kind = ROLLOUT_FRAME_FINAL, .frame = T, .slot = -1, .mol_first = m0, .n_mol = nm,
                         .copies = 1, .offsets = rel, .D = D, .zhat0 = r->xh + atom0 * D, .pos = r->pos + 3 * atom0,
                         .Z = r->Z + atom0, .charges = r->charges + atom0};
      st = c->on_frame(&f, c->user, err);
    }
  }
  sampler_output_free(&so);
  elign_free(rel);
  elign_free(msize);
  elign_free(mgroup);
  elign_free(mmember);
  elign_free(z);
  return st;
}

/* ---- the call -------------------------------------------------------------------- */

/* The forward-only workspace for the largest batch of the call. */
static egnn_workspace *call_workspace(const rollout_config *c, const rollout_batch *r, int64_t n_groups,
                                      const int *sizes) {
  int64_t G = c->groups_per_batch, first = r->h.group_first, max_atoms = 1, max_edges = 1, max_mols = 1;
  for (int64_t b0 = 0; b0 < n_groups;) {
    int64_t b1 = ((first + b0) / G + 1) * G - first;
    if (b1 > n_groups) b1 = n_groups;
    int64_t na = 0, ne = 0;
    for (int64_t g = b0; g < b1; g++) na += sizes[g], ne += (int64_t)sizes[g] * (sizes[g] - 1);
    na *= c->K, ne *= c->K;
    if (na > max_atoms) max_atoms = na;
    if (ne > max_edges) max_edges = ne;
    if ((b1 - b0) * c->K > max_mols) max_mols = (b1 - b0) * c->K;
    b0 = b1;
  }
  return egnn_workspace_create_edges(&c->model->net, max_atoms, max_mols, max_edges, 0);
}

elign_status rollout_run(const rollout_config *cfg, int64_t group_first, int64_t n_groups, const int *group_sizes,
                         rollout_batch *out, elign_error *err) {
  memset(out, 0, sizeof *out);
  int D = cfg->policy ? cfg->policy->D : (cfg->model ? cfg->model->layout.D : 0);
  elign_status st = check_config(cfg, D, group_first, n_groups, group_sizes, err);
  if (st) return st;
  int *sizes = elign_malloc((size_t)(n_groups > 0 ? n_groups : 1) * sizeof(int), "rollout:group_sizes");
  for (int64_t g = 0; g < n_groups; g++) {
    sizes[g] = group_sizes ? group_sizes[g] : rollout_draw_group_size(cfg, group_first + g);
    if (sizes[g] < 1) {
      elign_free(sizes);
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "rollout: group %lld has %d atoms", (long long)(group_first + g), sizes[g]);
    }
  }
  rollout_header h = {.magic = ROLLOUT_MAGIC, .version = ROLLOUT_VERSION, .real_bytes = (int32_t)sizeof(elign_real),
                      .K = cfg->K, .T = cfg->T, .D = D, .share_initial_noise = cfg->share_initial_noise ? 1 : 0,
                      .train_start = cfg->train_start, .n_frames = cfg->n_frames, .has_mu = cfg->keep_mu ? 1 : 0,
                      .seed = cfg->seed, .iteration = cfg->iteration, .policy_version = cfg->policy_version,
                      .group_first = group_first, .n_groups = n_groups, .n_mol = n_groups * cfg->K};
  /* §4.3: the prefix exists only with shared noise; at most the whole chain */
  h.skip_prefix = h.share_initial_noise ? (cfg->skip_prefix < cfg->T ? cfg->skip_prefix : cfg->T) : 0;
  for (int64_t g = 0; g < n_groups; g++) h.n_atoms += (int64_t)sizes[g] * cfg->K;
  rollout_batch_alloc(out, &h);
  for (int64_t m = 0; m < h.n_mol; m++) out->offsets[m + 1] = out->offsets[m] + sizes[m / cfg->K];
  for (int j = 0; j < cfg->n_frames; j++) out->frames[j] = cfg->frames[j];

  rollout_run_state rs = {.cfg = cfg, .r = out, .sizes = sizes};
  rs.sc = (sampler_config){.model = cfg->model, .policy = cfg->policy, .T = cfg->T, .steps = cfg->T,
                           .seed = cfg->seed, .iteration = cfg->iteration, .batch = 1};
  rs.slot_of_frame = elign_malloc((size_t)(cfg->T + 1) * sizeof(int), "rollout:frames");
  for (int k = 0; k <= cfg->T; k++) rs.slot_of_frame[k] = -1;
  for (int j = 0; j < cfg->n_frames; j++) rs.slot_of_frame[cfg->frames[j]] = j;
  if (!cfg->policy) rs.ws = call_workspace(cfg, out, n_groups, sizes);

  int64_t G = cfg->groups_per_batch;
  for (int64_t b0 = 0; b0 < n_groups && !st;) {
    int64_t b1 = ((group_first + b0) / G + 1) * G - group_first; /* next global block boundary */
    if (b1 > n_groups) b1 = n_groups;
    st = run_block(&rs, b0, b1, err);
    b0 = b1;
  }
  egnn_workspace_free(&rs.ws);
  elign_free(rs.slot_of_frame);
  elign_free(sizes);
  return st;
}

/* ---- MPI ------------------------------------------------------------------------- */

#define ROLLOUT_MPI_CHUNK ((uint64_t)1 << 30)

elign_status rollout_batch_send(const rollout_batch *r, int dest, int tag, MPI_Comm comm, elign_error *err) {
  if (MPI_Send(&r->h, (int)sizeof r->h, MPI_BYTE, dest, tag, comm) != MPI_SUCCESS)
    return ELIGN_FAIL(err, ELIGN_ERR_MPI, "rollout record to rank %d: header send failed", dest);
  const char *d = r->data;
  for (uint64_t at = 0; at < r->h.data_bytes; at += ROLLOUT_MPI_CHUNK) {
    uint64_t n = r->h.data_bytes - at < ROLLOUT_MPI_CHUNK ? r->h.data_bytes - at : ROLLOUT_MPI_CHUNK;
    if (MPI_Send(d + at, (int)n, MPI_BYTE, dest, tag + 1, comm) != MPI_SUCCESS)
      return ELIGN_FAIL(err, ELIGN_ERR_MPI, "rollout record to rank %d: data send failed", dest);
  }
  return ELIGN_OK;
}

elign_status rollout_batch_recv(rollout_batch *r, int source, int tag, MPI_Comm comm, elign_error *err) {
  memset(r, 0, sizeof *r);
  rollout_header h;
  if (MPI_Recv(&h, (int)sizeof h, MPI_BYTE, source, tag, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
    return ELIGN_FAIL(err, ELIGN_ERR_MPI, "rollout record from rank %d: header receive failed", source);
  if (h.magic != ROLLOUT_MAGIC || h.version != ROLLOUT_VERSION)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "rollout record from rank %d: magic %08x version %u (want %08x, %d)",
                      source, h.magic, h.version, ROLLOUT_MAGIC, ROLLOUT_VERSION);
  if (h.real_bytes != (int32_t)sizeof(elign_real))
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "rollout record from rank %d: %d-byte reals, this build uses %d", source,
                      h.real_bytes, (int)sizeof(elign_real));
  rollout_header expect = h;
  if (h.K < 1 || h.T < 1 || h.n_mol < 0 || h.n_atoms < 0 || h.n_frames < 0 || h.train_start < 0 ||
      h.train_start > h.T || rollout_data_bytes(&expect) != h.data_bytes)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "rollout record from rank %d: inconsistent header (%llu data bytes)",
                      source, (unsigned long long)h.data_bytes);
  rollout_batch_alloc(r, &h);
  char *d = r->data;
  for (uint64_t at = 0; at < h.data_bytes; at += ROLLOUT_MPI_CHUNK) {
    uint64_t n = h.data_bytes - at < ROLLOUT_MPI_CHUNK ? h.data_bytes - at : ROLLOUT_MPI_CHUNK;
    if (MPI_Recv(d + at, (int)n, MPI_BYTE, source, tag + 1, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      rollout_batch_free(r);
      return ELIGN_FAIL(err, ELIGN_ERR_MPI, "rollout record from rank %d: data receive failed", source);
    }
  }
  return ELIGN_OK;
}
