/* adamw.h — the optimizer kernels every trainer shares: AdamW (with AMSGrad),
 * EDM's adaptive gradient clipping, the EMA of the weights and the learning-
 * rate schedules of ALGORITHMS.md §4.11.
 *
 * What this file is: loops over one flat buffer (the layout of
 * common/model/train_state.h). What it is not: the owner of those buffers,
 * or anything that knows about MPI (rank 0 of a trainer calls these).
 *
 * Numerics. adamw_step reproduces PyTorch 1.13's torch.optim.AdamW
 * (single-tensor path, the CPU default) bit for bit in float32: the scalar
 * coefficients are formed in double as Python does and rounded to float
 * once; the two moment updates end in one fused multiply-add each, as ATen's
 * vectorised add(alpha) and addcmul kernels do on an FMA machine; the
 * denominator and the update round after every operation, as div and
 * addcdiv do. tests/test_adamw.c compares every step with torch.
 *
 * Call sequence of one optimizer step (rank 0):
 *   double norm = grad_clip_adaptive(&queue, g, n, &info);   // or grad_l2_norm
 *   adamw_step(&hp, lr_schedule_factor(&sched, step) * hp.lr, step + 1, n, p, g, m, v, vmax);
 *   ema_update(ema, p, n, decay);
 */
#ifndef ELIGN_ADAMW_H
#define ELIGN_ADAMW_H

#include <stddef.h>
#include <stdint.h>

#include "common/base/real.h"

/* ---- AdamW ---------------------------------------------------------------- */

typedef struct {
  double beta1, beta2; /* moment decays (0.9, 0.999) */
  double eps;          /* added to the denominator (1e-8) */
  double weight_decay; /* decoupled: p ← p·(1 − lr·wd) before the update (EDM 1e-12) */
  int amsgrad;         /* 1: normalise by the running maximum of v (EDM) */
} adamw_hparams;

/* One AdamW step over n parameters, `step` = the number of this step counting
 * from 1 (bias corrections 1 − β^step), `lr` the learning rate of this step:
 *   p ← p·(1 − lr·wd);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
 *   v̂ ← max(v̂, v) (amsgrad; else v̂ = v);
 *   p ← p − lr/(1−β₁^step) · m / (sqrt(v̂)/sqrt(1−β₂^step) + eps).
 * vmax may be NULL when amsgrad = 0. */
void adamw_step(const adamw_hparams *h, double lr, int64_t step, size_t n, elign_real *p, const elign_real *g,
                elign_real *m, elign_real *v, elign_real *vmax);

/* ---- gradient norm and clipping ----------------------------------------- */

/* sqrt(Σ g²) accumulated in double, in index order (the same bits on every rank). */
double grad_l2_norm(const elign_real *g, size_t n);

/* EDM's adaptive clipping (utils.py gradient_clipping): the limit is
 * 1.5·mean + 2·std (population std) of the last GRAD_CLIP_QUEUE_LEN norms,
 * the queue starting as the single value 3000 (a large value that the first
 * norms flush out). A norm above the limit scales the gradient by
 * limit/(norm + 1e−6) as torch.nn.utils.clip_grad_norm_ does, and the limit,
 * not the norm, enters the queue (so one outlier cannot raise the limit). */
#define GRAD_CLIP_QUEUE_LEN 50
#define GRAD_CLIP_QUEUE_START 3000.0

typedef struct {
  int n;                             /* entries in use (1..GRAD_CLIP_QUEUE_LEN) */
  double items[GRAD_CLIP_QUEUE_LEN]; /* items[0] is the newest */
} grad_clip_queue;

void grad_clip_queue_init(grad_clip_queue *q); /* {3000} */
double grad_clip_queue_limit(const grad_clip_queue *q);
/* Newest first; the oldest falls out beyond GRAD_CLIP_QUEUE_LEN entries. */
void grad_clip_queue_push(grad_clip_queue *q, double norm);

typedef struct {
  double norm;  /* ‖g‖ before clipping */
  double limit; /* the limit it was compared with */
  int clipped;  /* 1 if g was scaled */
} grad_clip_info;

/* Norm, compare, scale if needed, push min(norm, limit). Returns the norm.
 * A non-finite norm leaves g and the queue untouched (the caller stops). */
double grad_clip_adaptive(grad_clip_queue *q, elign_real *g, size_t n, grad_clip_info *info);

/* ---- EMA of the weights ------------------------------------------------- */

/* ema ← ema·decay + (1 − decay)·p, in PyTorch's float order (EDM
 * equivariant_diffusion/utils.py EMA.update_average). */
void ema_update(elign_real *ema, const elign_real *p, size_t n, double decay);

/* ---- learning-rate schedules (ALGORITHMS.md §4.11) ------------------------ */

typedef enum {
  LR_SCHEDULE_CONSTANT = 0, /* "none": λ = 1, no warm-up */
  LR_SCHEDULE_COSINE,       /* linear warm-up, then half cosine down to min_lr_ratio */
  LR_SCHEDULE_WARMUP,       /* linear warm-up, then λ = 1 ("constant", "constant_warmup", "linear_warmup") */
  LR_SCHEDULE_WSD           /* warm-up, stable, cosine decay */
} lr_schedule_kind;

typedef struct {
  lr_schedule_kind kind;
  int64_t warmup_steps; /* λ(n) = n / max(1, warmup) for n < warmup (λ(0) = 0) */
  int64_t total_steps;  /* schedule length in optimizer steps */
  double min_lr_ratio;  /* r: the floor of the decay */
  double num_cycles;    /* cosine cycles over the decay (0.5 = half cosine) */
  double stable_ratio;  /* wsd: fraction of post-warm-up steps at λ = 1 */
} lr_schedule;

/* Parse "none", "constant", "cosine", "constant_warmup", "linear_warmup",
 * "wsd" (the names of train.scheduler.name; as in the reference, "constant"
 * still warms up when warmup_steps > 0); returns 0 if unknown. */
int lr_schedule_kind_parse(const char *name, lr_schedule_kind *out);

/* λ(n), the multiplier of the base lr at optimizer step n (0-based). As in
 * the reference, cosine's progress is not clamped at total_steps. */
double lr_schedule_factor(const lr_schedule *s, int64_t n);

#endif
