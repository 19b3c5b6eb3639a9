/* train_state.c — one allocation for the training buffers; the optimizer
 * step; the round trip through a checkpoint. */
#include "common/model/train_state.h"

#include <math.h>
#include <string.h>

#include "common/model/edm_model.h"

/* ---- lifecycle ---------------------------------------------------------- */

void train_state_init(train_state *ts, const egnn_model *net, unsigned flags) {
  memset(ts, 0, sizeof *ts);
  ts->net = net;
  ts->n = net->n_params;
  ts->flags = flags;
  int nbuf = 2 + ((flags & TRAIN_STATE_ADAM) ? 2 : 0) + ((flags & TRAIN_STATE_AMSGRAD) == TRAIN_STATE_AMSGRAD) +
             !!(flags & TRAIN_STATE_EMA) + !!(flags & TRAIN_STATE_REFERENCE);
  ts->mem = elign_calloc((size_t)nbuf * ts->n, sizeof(elign_real), "train_state");
  elign_real *next = ts->mem;
#define TAKE(field, cond)  \
  if (cond) {              \
    ts->field = next;      \
    next += ts->n;         \
  }
  TAKE(params, 1);
  TAKE(grads, 1);
  TAKE(m, flags & TRAIN_STATE_ADAM);
  TAKE(v, flags & TRAIN_STATE_ADAM);
  TAKE(vmax, (flags & TRAIN_STATE_AMSGRAD) == TRAIN_STATE_AMSGRAD);
  TAKE(ema, flags & TRAIN_STATE_EMA);
  TAKE(reference, flags & TRAIN_STATE_REFERENCE);
#undef TAKE
  grad_clip_queue_init(&ts->clip);
}

void train_state_free(train_state *ts) {
  if (!ts) return;
  elign_free(ts->mem);
  memset(ts, 0, sizeof *ts);
}

elign_real *train_state_tensor(const train_state *ts, elign_real *buffer, const char *name) {
  const egnn_tensor *t = egnn_model_find(ts->net, name);
  return t && buffer ? buffer + t->offset : NULL;
}

void train_state_reset_ema(train_state *ts) {
  if (ts->ema) memcpy(ts->ema, ts->params, ts->n * sizeof *ts->ema);
}

void train_state_reset_reference(train_state *ts) {
  if (ts->reference) memcpy(ts->reference, ts->params, ts->n * sizeof *ts->reference);
}

/* ---- one optimizer step ----------------------------------------------------- */

elign_status train_state_step(train_state *ts, const adamw_hparams *hp, double lr, int adaptive_clip,
                              double ema_decay, train_step_info *info, elign_error *err) {
  ELIGN_ASSERT(ts->m && ts->v && (!hp->amsgrad || ts->vmax));
  train_step_info local;
  if (!info) info = &local;
  memset(info, 0, sizeof *info);
  info->lr = lr;
  if (adaptive_clip) {
    grad_clip_info ci;
    grad_clip_adaptive(&ts->clip, ts->grads, ts->n, &ci);
    info->grad_norm = ci.norm;
    info->clip_limit = ci.limit;
    info->clipped = ci.clipped;
  } else {
    info->grad_norm = grad_l2_norm(ts->grads, ts->n);
  }
  if (!isfinite(info->grad_norm))
    return ELIGN_FAIL(err, ELIGN_ERR_NUMERIC, "gradient norm is %g at optimizer step %lld", info->grad_norm,
                      (long long)ts->step);
  adamw_step(hp, lr, ts->step + 1, ts->n, ts->params, ts->grads, ts->m, ts->v, ts->vmax);
  if (ts->ema) ema_update(ts->ema, ts->params, ts->n, ema_decay);
  ts->ema_decay = ema_decay;
  ts->step++;
  memset(ts->grads, 0, ts->n * sizeof *ts->grads);
  return ELIGN_OK;
}

/* ---- checkpoints ------------------------------------------------------------- */

static float *to_float(const elign_real *src, size_t n) {
  float *f = elign_malloc((n ? n : 1) * sizeof *f, "train_state:f32");
  for (size_t i = 0; i < n; i++) f[i] = (float)src[i];
  return f;
}

void train_state_to_checkpoint(const train_state *ts, elign_checkpoint *c) {
  ELIGN_ASSERT(c->n_params == (int64_t)ts->n);
  /* The checkpoint's flat layout is the network's (edm_model_to_checkpoint
   * writes the views at the tensors' offsets), so buffers copy as a whole. */
  if (ts->m) {
    float *m = to_float(ts->m, ts->n), *v = to_float(ts->v, ts->n);
    elign_checkpoint_set_optimizer(c, "adamw", ts->step, m, v);
    elign_free(m);
    elign_free(v);
    if (ts->vmax) {
      float *vm = to_float(ts->vmax, ts->n);
      elign_checkpoint_set_optimizer_vmax(c, vm);
      elign_free(vm);
    }
    elign_checkpoint_set_clip_queue(c, ts->clip.n, ts->clip.items);
  }
  if (ts->ema) {
    float *e = to_float(ts->ema, ts->n);
    elign_checkpoint_set_ema(c, e, ts->ema_decay);
    elign_free(e);
  }
  if (ts->reference) {
    float *r = to_float(ts->reference, ts->n);
    elign_checkpoint_set_reference(c, r);
    elign_free(r);
  }
  c->optimizer_step = ts->step;
}

/* One buffer by name, or a message saying which part of the state is missing. */
static elign_status load_buffer(const train_state *ts, elign_real *dst, const elign_checkpoint *c, const float *src,
                                const char *what, elign_error *err) {
  if (!dst) return ELIGN_OK;
  if (!src)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "holds no %s (a model file, not a training checkpoint?)", what);
  elign_status st = edm_model_copy_by_name(ts->net, dst, c, src, err);
  if (st) elign_error_prefix(err, "%s: ", what);
  return st;
}

elign_status train_state_from_checkpoint(train_state *ts, const elign_checkpoint *c, elign_error *err) {
  elign_status st = load_buffer(ts, ts->params, c, c->params, "parameters", err);
  if (!st) st = load_buffer(ts, ts->m, c, c->opt_m, "AdamW first moments", err);
  if (!st) st = load_buffer(ts, ts->v, c, c->opt_v, "AdamW second moments", err);
  if (!st) st = load_buffer(ts, ts->vmax, c, c->opt_vmax, "AMSGrad maxima (/optimizer/vmax)", err);
  if (!st) st = load_buffer(ts, ts->ema, c, c->ema, "EMA of the parameters (/ema/flat)", err);
  if (!st) st = load_buffer(ts, ts->reference, c, c->reference, "reference parameters", err);
  if (st) return st;
  if (ts->m) {
    if (c->n_clip < 1 || c->n_clip > GRAD_CLIP_QUEUE_LEN)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "holds %d gradient norms in /optimizer/clip_queue (1..%d expected)",
                        c->n_clip, GRAD_CLIP_QUEUE_LEN);
    ts->clip.n = c->n_clip;
    memcpy(ts->clip.items, c->clip_queue, (size_t)c->n_clip * sizeof(double));
    ts->step = c->opt_step;
  } else {
    ts->step = c->optimizer_step;
  }
  ts->ema_decay = c->ema_decay;
  memset(ts->grads, 0, ts->n * sizeof *ts->grads);
  return ELIGN_OK;
}
