/* test_pretrain.c — the pieces of `elign pretrain` below the command:
 *   - the batch plan: chunk k always draws from shard k, no molecule twice in
 *     an epoch, every molecule in some epoch, a new order each epoch, the
 *     same plan for the same seed; rank ranges tile the chunks;
 *   - EDM's random rotation is a proper rotation (orthogonal, det +1) and
 *     leaves distances unchanged;
 *   - the training state: one allocation with named views, train_state_step
 *     = adaptive clipping + AdamW + EMA by hand, and a checkpoint round trip
 *     restoring every buffer, the step and the clipping queue bit for bit;
 *     a model file (no optimizer state) is refused with a clear message;
 *   - chunk losses: the gradient of a batch equals the sum of its chunks'
 *     (each normalised by the whole batch) up to float rounding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/edm_model.h"
#include "common/model/train_state.h"
#include "common/model/energy_loss.h"
#include "learner/pretrain_data.h"
#include "tests/testutil.h"

static void test_plan(void) {
  elign_error err;
  pretrain_plan p;
  CHECK(pretrain_plan_init(&p, 100, 12, 5, 1, &err) == ELIGN_ERR_CONFIG && strstr(err.msg, "must divide"));
  CHECK(pretrain_plan_init(&p, 10, 12, 4, 1, &err) == ELIGN_ERR_CONFIG && strstr(err.msg, "fewer than one batch"));
  const int64_t n = 103, B = 12, c = 4;
  CHECK(pretrain_plan_init(&p, n, B, c, 7, &err) == ELIGN_OK);
  CHECK(p.n_chunks == 3 && p.shard_first[0] == 0 && p.shard_first[3] == n);
  CHECK(p.steps_per_epoch == (n / 3) / c); /* 34 / 4 = 8 */
  int64_t S = p.steps_per_epoch, pos[4];
  int *seen = calloc((size_t)n, sizeof *seen), *ever = calloc((size_t)n, sizeof *ever);
  int64_t first_order[4] = {0};
  int changed = 0;
  for (int64_t e = 0; e < 5; e++) {
    memset(seen, 0, (size_t)n * sizeof *seen);
    for (int64_t b = 0; b < S; b++)
      for (int64_t k = 0; k < 3; k++) {
        pretrain_plan_chunk(&p, e * S + b, k, pos);
        for (int j = 0; j < c; j++) {
          CHECK(pos[j] >= p.shard_first[k] && pos[j] < p.shard_first[k + 1]);
          seen[pos[j]]++;
          ever[pos[j]] = 1;
        }
        if (b == 0 && k == 0) {
          if (e == 0) memcpy(first_order, pos, sizeof pos);
          else changed |= memcmp(first_order, pos, sizeof pos) != 0;
        }
      }
    int twice = 0;
    for (int64_t i = 0; i < n; i++) twice += seen[i] > 1;
    CHECK(twice == 0);
  }
  int never = 0;
  for (int64_t i = 0; i < n; i++) never += !ever[i];
  CHECK(never == 0 && changed);
  /* the plan is a function of (n, B, c, seed) only: a second plan, visited backwards */
  pretrain_plan q;
  CHECK(pretrain_plan_init(&q, n, B, c, 7, &err) == ELIGN_OK);
  int64_t a[4], b2[4];
  pretrain_plan_chunk(&q, 3 * S + 2, 1, a);
  pretrain_plan_chunk(&p, 0, 0, b2);
  pretrain_plan_chunk(&p, 3 * S + 2, 1, b2);
  CHECK(memcmp(a, b2, sizeof a) == 0);
  pretrain_plan_free(&q);
  CHECK(pretrain_plan_init(&q, n, B, c, 8, &err) == ELIGN_OK);
  pretrain_plan_chunk(&q, 3 * S + 2, 1, a);
  CHECK(memcmp(a, b2, sizeof a) != 0); /* another seed, another order */
  pretrain_plan_free(&q);
  pretrain_plan_free(&p);
  free(seen);
  free(ever);
  /* rank ranges tile [0, C) in order */
  for (int size = 1; size <= 5; size++) {
    int64_t next = 0;
    for (int r = 0; r < size; r++) {
      int64_t k0, k1;
      pretrain_rank_chunks(8, r, size, &k0, &k1);
      CHECK(k0 == next && k1 >= k0);
      next = k1;
    }
    CHECK(next == 8);
  }
}

static void test_rotation(void) {
  double e[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  elign_rng r = elign_rng_stream(1, 2, 3, 0, 0, ELIGN_RNG_ROTATION);
  pretrain_random_rotation(e, 3, &r); /* rows = images of the unit vectors = Rᵀ */
  double det = e[0] * (e[4] * e[8] - e[5] * e[7]) - e[1] * (e[3] * e[8] - e[5] * e[6]) + e[2] * (e[3] * e[7] - e[4] * e[6]);
  CHECK_CLOSE(det, 1.0, 1e-12, 0);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      double dot = e[3 * i] * e[3 * j] + e[3 * i + 1] * e[3 * j + 1] + e[3 * i + 2] * e[3 * j + 2];
      CHECK_CLOSE(dot, i == j ? 1.0 : 0.0, 1e-12, 0);
    }
  CHECK(fabs(e[0] - 1) > 1e-3); /* it did rotate */
}

/* A small QM9-type model and its training state. */
static void make_model(edm_model *m) {
  elign_error err;
  CHECK(edm_model_init_preset(m, "qm9", 1, 0, &err) == ELIGN_OK);
}

static void test_train_state(void) {
  elign_error err;
  edm_model m;
  make_model(&m);
  train_state ts;
  train_state_init(&ts, &m.net, TRAIN_STATE_AMSGRAD | TRAIN_STATE_EMA);
  size_t n = ts.n;
  CHECK(ts.params == ts.mem && ts.grads == ts.mem + n && ts.m == ts.mem + 2 * n && ts.vmax == ts.mem + 4 * n &&
        ts.ema == ts.mem + 5 * n && ts.reference == NULL);
  const egnn_tensor *t = egnn_model_find(&m.net, "dynamics.egnn.embedding.weight");
  CHECK(t && train_state_tensor(&ts, ts.v, t->name) == ts.v + t->offset);
  CHECK(train_state_tensor(&ts, ts.v, "no.such.tensor") == NULL);
  egnn_params_init_random(&m.net, ts.params, 5);
  train_state_reset_ema(&ts);
  /* three steps against the kernels by hand */
  elign_real *p = malloc(n * sizeof *p), *mm = calloc(n, sizeof *mm), *v = calloc(n, sizeof *v),
             *vx = calloc(n, sizeof *vx), *ema = malloc(n * sizeof *ema), *g = malloc(n * sizeof *g);
  memcpy(p, ts.params, n * sizeof *p);
  memcpy(ema, p, n * sizeof *p);
  grad_clip_queue q;
  grad_clip_queue_init(&q);
  adamw_hparams hp = {0.9, 0.999, 1e-8, 1e-12, 1};
  for (int s = 0; s < 3; s++) {
    elign_rng r = elign_rng_stream(9, (uint64_t)s, 0, 0, 0, ELIGN_RNG_TEST);
    for (size_t i = 0; i < n; i++) g[i] = ts.grads[i] = (elign_real)(elign_rng_normal(&r) * (s == 1 ? 1e4 : 1.0));
    train_step_info info;
    CHECK(train_state_step(&ts, &hp, 1e-3, 1, 0.9, &info, &err) == ELIGN_OK);
    grad_clip_info ci;
    grad_clip_adaptive(&q, g, n, &ci);
    adamw_step(&hp, 1e-3, s + 1, n, p, g, mm, v, vx);
    ema_update(ema, p, n, 0.9);
    CHECK(info.clipped == ci.clipped && info.grad_norm == ci.norm);
  }
  CHECK(ts.step == 3 && ts.clip.n == 4);
  CHECK(memcmp(p, ts.params, n * sizeof *p) == 0 && memcmp(ema, ts.ema, n * sizeof *p) == 0);
  CHECK(memcmp(vx, ts.vmax, n * sizeof *p) == 0);
  int zero = 1;
  for (size_t i = 0; i < n; i++) zero &= ts.grads[i] == 0;
  CHECK(zero);
  /* a non-finite gradient changes nothing */
  ts.grads[7] = NAN;
  CHECK(train_state_step(&ts, &hp, 1e-3, 1, 0.9, NULL, &err) == ELIGN_ERR_NUMERIC && ts.step == 3);
  ts.grads[7] = 0;
  /* checkpoint round trip */
  elign_checkpoint c;
  elign_checkpoint_init(&c);
  CHECK(edm_model_to_checkpoint(&m, ts.params, &c, &err) == ELIGN_OK);
  train_state_to_checkpoint(&ts, &c);
  CHECK(elign_checkpoint_write(&c, "train_state_rt.h5", &err) == ELIGN_OK);
  elign_checkpoint_free(&c);
  CHECK(elign_checkpoint_read(&c, "train_state_rt.h5", &err) == ELIGN_OK);
  train_state back;
  train_state_init(&back, &m.net, TRAIN_STATE_AMSGRAD | TRAIN_STATE_EMA);
  CHECK(train_state_from_checkpoint(&back, &c, &err) == ELIGN_OK);
  CHECK(memcmp(back.params, ts.params, n * sizeof *p) == 0 && memcmp(back.m, ts.m, n * sizeof *p) == 0 &&
        memcmp(back.v, ts.v, n * sizeof *p) == 0 && memcmp(back.vmax, ts.vmax, n * sizeof *p) == 0 &&
        memcmp(back.ema, ts.ema, n * sizeof *p) == 0);
  CHECK(back.step == 3 && back.clip.n == ts.clip.n && memcmp(back.clip.items, ts.clip.items, sizeof ts.clip.items) == 0);
  elign_checkpoint_free(&c);
  /* a plain model file holds no optimizer state */
  CHECK(edm_model_save(&m, "train_state_model.h5", &err) == ELIGN_OK);
  CHECK(elign_checkpoint_read(&c, "train_state_model.h5", &err) == ELIGN_OK);
  CHECK(train_state_from_checkpoint(&back, &c, &err) == ELIGN_ERR_FORMAT && strstr(err.msg, "AdamW first moments"));
  elign_checkpoint_free(&c);
  train_state_free(&back);
  train_state_free(&ts);
  free(p), free(mm), free(v), free(vx), free(ema), free(g);
  edm_model_free(&m);
}

/* Two chunks normalised by their batch add up to the batch computed at once. */
static void test_chunk_sum(void) {
  elign_error err;
  edm_model m;
  make_model(&m);
  egnn_params_init_random(&m.net, m.params, 11);
  /* eight small molecules of 3..10 atoms written into a shard by hand */
  pretrain_shard s;
  memset(&s, 0, sizeof s);
  elign_molset_init(&s.mols);
  int64_t file_index[8];
  for (int k = 0; k < 8; k++) {
    int na = 3 + k;
    int32_t Z[16];
    double pos[48];
    for (int i = 0; i < na; i++) {
      Z[i] = EDM_QM9_Z[(i + k) % 5];
      for (int d = 0; d < 3; d++) pos[3 * i + d] = 1.4 * sin(0.7 * i + 1.9 * d + k);
    }
    elign_molset_append(&s.mols, na, Z, pos, k, NULL);
    file_index[k] = 100 + k;
  }
  s.file_index = file_index;
  s.type_index = malloc((size_t)s.mols.n_atoms * sizeof *s.type_index);
  for (int64_t a = 0; a < s.mols.n_atoms; a++) s.type_index[a] = edm_model_type_index(&m, s.mols.Z[a]);
  egnn_workspace *ws = egnn_workspace_create(&m.net, 8 * 10, 8, 1);
  pretrain_chunk ch;
  pretrain_chunk_init(&ch, 8, 8 * 10, m.layout.D);
  pretrain_keys keys = {5, 3, 0, 1};
  size_t n = m.net.n_params;
  double *whole = calloc(n, sizeof *whole), *sum = calloc(n, sizeof *sum);
  elign_real *g = calloc(n, sizeof *g);
  int64_t all[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  /* both position losses: EDM's l2 and the pairwise-distance energy loss */
  static const diffusion_energy_loss energy = {ENERGY_COEFF_EXP_DIST, 1.0, 0.05};
  const diffusion_energy_loss *losses[2] = {NULL, &energy};
  for (int variant = 0; variant < 2; variant++) {
    diffusion_loss_terms L1, L2;
    memset(&L1, 0, sizeof L1);
    memset(&L2, 0, sizeof L2);
    memset(g, 0, n * sizeof *g);
    memset(sum, 0, n * sizeof *sum);
    pretrain_chunk_pack(&ch, &s, all, 8, &m, &keys);
    CHECK(pretrain_chunk_loss(&m, m.params, ws, &ch, 8, 10, losses[variant], g, &L1, &err) == ELIGN_OK);
    for (size_t i = 0; i < n; i++) whole[i] = g[i];
    for (int part = 0; part < 2; part++) {
      memset(g, 0, n * sizeof *g);
      pretrain_chunk_pack(&ch, &s, all + 4 * part, 4, &m, &keys);
      CHECK(pretrain_chunk_loss(&m, m.params, ws, &ch, 8, 10, losses[variant], g, &L2, &err) == ELIGN_OK);
      for (size_t i = 0; i < n; i++) sum[i] += g[i];
    }
    CHECK(isfinite(L1.loss) && L1.loss > 0);
    CHECK_CLOSE(L2.loss, L1.loss, 1e-9, 1e-9);
    CHECK(L2.n_t + L2.n_t0 == 8);
    CHECK_ARRAY(sum, whole, n, 1e-6, 1e-4);
  }
  /* the draws depend on the molecule, not on its chunk: same t as packed alone */
  pretrain_chunk_pack(&ch, &s, all + 5, 1, &m, &keys);
  int t_alone = ch.t[0];
  pretrain_chunk_pack(&ch, &s, all, 8, &m, &keys);
  CHECK(ch.t[5] == t_alone);
  free(whole), free(sum), free(g);
  pretrain_chunk_free(&ch);
  egnn_workspace_free(&ws);
  elign_molset_free(&s.mols);
  free(s.type_index);
  edm_model_free(&m);
}

/* A shard read in windows of 1, 2, 3 and 7 molecules holds exactly what one
 * read of its whole file range holds (molecules, ids, order). */
static void test_shard_windows(void) {
  elign_error err;
  edm_model m;
  make_model(&m);
  elign_dataset ds;
  elign_dataset_init(&ds);
  const int32_t Z[4] = {6, 1, 8, 7};
  for (int g = 0; g < 20; g++) {
    double pos[3 * 5];
    int n = 2 + g % 4;
    int32_t z[5];
    for (int i = 0; i < n; i++) {
      z[i] = Z[(g + i) % 4];
      for (int k = 0; k < 3; k++) pos[3 * i + k] = 0.1 * g + 0.7 * i + 0.3 * k;
    }
    elign_molset_append(&ds.mols, n, z, pos, 100 + g, NULL);
  }
  int64_t train[9] = {0, 2, 3, 7, 8, 12, 15, 16, 19};
  elign_dataset_add_split(&ds, "train", 9, train);
  CHECK(elign_dataset_write("shard_windows.h5", &ds, &err) == ELIGN_OK);
  elign_dataset_index idx;
  CHECK(elign_dataset_read_index("shard_windows.h5", &idx, &err) == ELIGN_OK);
  const elign_split *sp = elign_dataset_index_find_split(&idx, "train");
  pretrain_shard whole;
  CHECK(pretrain_shard_load_windowed(&whole, "shard_windows.h5", sp, 1, 8, &m, 1000, &err) == ELIGN_OK);
  CHECK(whole.mols.n_mol == 7 && whole.mols.ids[0] == 102 && whole.mols.ids[6] == 116);
  const int64_t windows[4] = {1, 2, 3, 7};
  for (int w = 0; w < 4; w++) {
    pretrain_shard part;
    CHECK(pretrain_shard_load_windowed(&part, "shard_windows.h5", sp, 1, 8, &m, windows[w], &err) == ELIGN_OK);
    int same = part.mols.n_mol == whole.mols.n_mol && part.mols.n_atoms == whole.mols.n_atoms;
    if (same)
      same = !memcmp(part.mols.ids, whole.mols.ids, (size_t)whole.mols.n_mol * sizeof(int64_t)) &&
             !memcmp(part.mols.Z, whole.mols.Z, (size_t)whole.mols.n_atoms * sizeof(int32_t)) &&
             !memcmp(part.mols.pos, whole.mols.pos, (size_t)whole.mols.n_atoms * 3 * sizeof(double));
    CHECK(same);
    pretrain_shard_free(&part);
  }
  pretrain_shard_free(&whole);
  elign_dataset_index_free(&idx);
  elign_dataset_free(&ds);
  edm_model_free(&m);
}

int main(void) {
  test_plan();
  test_rotation();
  test_train_state();
  test_chunk_sum();
  test_shard_windows();
  return test_main_result("test_pretrain");
}
