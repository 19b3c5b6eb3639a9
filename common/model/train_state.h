/* train_state.h — the one owner of everything an optimizer step reads or
 * writes: parameters, gradients, AdamW moments (+ the AMSGrad maximum), the
 * EMA of the weights, the frozen reference parameters, the step count and
 * the adaptive-clipping queue. Pretraining (learner/pretrain.c) and FED-GRPO
 * use it alike.
 *
 * Memory (llm.c's ParameterTensors): ONE allocation holding the buffers back
 * to back, each of net->n_params elements in the EGNN's flat state-dict
 * layout (common/model/egnn.h), so the AdamW step is one loop, a broadcast
 * moves one contiguous buffer, and a named tensor of any buffer is
 * `buffer + egnn_model_find(net, name)->offset` (train_state_tensor).
 *
 *   train_state ts;
 *   train_state_init(&ts, &model.net, TRAIN_STATE_AMSGRAD | TRAIN_STATE_EMA);
 *   egnn_params_init_random(&model.net, ts.params, seed);  train_state_reset_ema(&ts);
 *   ... backward into ts.grads ...
 *   train_state_step(&ts, &hp, lr, ema_decay, &clip);     // clip, AdamW, EMA, step++
 *   train_state_to_checkpoint(&ts, &ckpt);  / train_state_from_checkpoint(&ts, &ckpt, &err);
 *   train_state_free(&ts);
 *
 * Checkpoint mapping (docs/formats.md): params → /params/flat, m, v →
 * /optimizer/{m,v}, vmax → /optimizer/vmax, step → /optimizer step and the
 * root optimizer_step, clip queue → /optimizer/clip_queue, ema → /ema/flat,
 * reference → /reference/flat. Gradients are not stored (they are zero
 * between steps).
 */
#ifndef ELIGN_TRAIN_STATE_H
#define ELIGN_TRAIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/base/error.h"
#include "common/base/real.h"
#include "common/io/checkpoint.h"
#include "common/model/egnn.h"
#include "common/nn/adamw.h"

/* Which optional buffers a state holds (params and grads always). */
enum {
  TRAIN_STATE_ADAM = 1,      /* m, v */
  TRAIN_STATE_AMSGRAD = 3,   /* m, v and vmax */
  TRAIN_STATE_EMA = 4,       /* ema */
  TRAIN_STATE_REFERENCE = 8  /* reference */
};

typedef struct {
  const egnn_model *net; /* layout (not owned) */
  size_t n;              /* elements per buffer = net->n_params */
  unsigned flags;
  elign_real *mem;       /* the one allocation */
  /* views into mem, NULL when the flag is off */
  elign_real *params, *grads, *m, *v, *vmax, *ema, *reference;
  int64_t step;          /* optimizer steps taken */
  grad_clip_queue clip;  /* EDM's gradient-norm history */
  double ema_decay;      /* recorded in checkpoints */
} train_state;

/* Allocate (zeroed) for `net`; the clip queue starts as EDM's [3000]. */
void train_state_init(train_state *ts, const egnn_model *net, unsigned flags);
void train_state_free(train_state *ts); /* accepts a zeroed or freed state */

/* Tensor `name` (state-dict name) inside `buffer` (one of ts's views), or NULL. */
elign_real *train_state_tensor(const train_state *ts, elign_real *buffer, const char *name);

/* ema ← params (EDM deep-copies the model at the start); reference likewise. */
void train_state_reset_ema(train_state *ts);
void train_state_reset_reference(train_state *ts);

/* What one optimizer step did. */
typedef struct {
  double grad_norm;  /* before clipping */
  double clip_limit; /* adaptive limit compared with (0 without clipping) */
  int clipped;
  double lr;         /* the learning rate used */
} train_step_info;

/* One step from ts->grads (summed over the whole batch): adaptive clipping
 * if `adaptive_clip`, AdamW (ts->flags must include TRAIN_STATE_ADAM), the
 * EMA with `ema_decay` if the state holds one, ts->step++, grads zeroed.
 * A non-finite gradient norm changes nothing and returns ELIGN_ERR_NUMERIC. */
elign_status train_state_step(train_state *ts, const adamw_hparams *hp, double lr, int adaptive_clip,
                              double ema_decay, train_step_info *info, elign_error *err);

/* Add ts's optimizer, EMA, reference and clip queue to c. c must already
 * hold the parameter layout (edm_model_to_checkpoint) of n_params = ts->n;
 * sets c->optimizer_step = ts->step. */
void train_state_to_checkpoint(const train_state *ts, elign_checkpoint *c);

/* Fill ts (initialised for the architecture) from c: params and every
 * buffer ts holds, copied tensor by tensor by name; step and clip queue.
 * A buffer ts holds but c lacks fails (ELIGN_ERR_FORMAT naming it). */
elign_status train_state_from_checkpoint(train_state *ts, const elign_checkpoint *c, elign_error *err);

#endif
