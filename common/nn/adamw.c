/* adamw.c — AdamW (+ AMSGrad), adaptive gradient clipping, EMA, LR schedules.
 * Compiled with -ffp-contract=off (common/CMakeLists.txt): the compiler must
 * not fuse a·b + c where PyTorch rounds twice; the fused operations PyTorch
 * does perform (the two moment updates) are written as fmaf explicitly. */
#include "common/nn/adamw.h"

#include <math.h>
#include <string.h>

#include "common/base/error.h"

#ifdef ELIGN_DOUBLE
#define FMA fma
#define SQRT sqrt
#else
#define FMA fmaf
#define SQRT sqrtf
#endif

/* ---- AdamW ---------------------------------------------------------------- */

/* torch.maximum: NaN if either is NaN. */
static inline elign_real max_nan(elign_real a, elign_real b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }

void adamw_step(const adamw_hparams *h, double lr, int64_t step, size_t n, elign_real *p, const elign_real *g,
                elign_real *m, elign_real *v, elign_real *vmax) {
  ELIGN_ASSERT(step >= 1 && (!h->amsgrad || vmax));
  /* Scalars as Python forms them (double), each rounded once to the tensor type. */
  const elign_real decay = (elign_real)(1.0 - lr * h->weight_decay);
  const elign_real b1 = (elign_real)h->beta1, a1 = (elign_real)(1.0 - h->beta1);
  const elign_real b2 = (elign_real)h->beta2, a2 = (elign_real)(1.0 - h->beta2);
  const double bc1 = 1.0 - pow(h->beta1, (double)step), bc2 = 1.0 - pow(h->beta2, (double)step);
  const elign_real neg_step_size = (elign_real)(-(lr / bc1));
  const elign_real bc2_sqrt = (elign_real)sqrt(bc2), eps = (elign_real)h->eps;
  for (size_t i = 0; i < n; i++) {
    elign_real gi = g[i];
    p[i] = p[i] * decay;                 /* param.mul_(1 - lr*wd) */
    m[i] = FMA(gi, a1, m[i] * b1);       /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
    v[i] = FMA(a2 * gi, gi, v[i] * b2);  /* exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2) */
    elign_real vh = v[i];
    if (h->amsgrad) vh = vmax[i] = max_nan(vmax[i], v[i]);
    elign_real denom = SQRT(vh) / bc2_sqrt + eps;
    p[i] = p[i] + (neg_step_size * m[i]) / denom; /* param.addcdiv_(m, denom, value=-step_size) */
  }
}

/* ---- gradient norm and clipping ----------------------------------------- */

double grad_l2_norm(const elign_real *g, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)g[i] * (double)g[i];
  return sqrt(s);
}

void grad_clip_queue_init(grad_clip_queue *q) {
  memset(q, 0, sizeof *q);
  q->items[0] = GRAD_CLIP_QUEUE_START;
  q->n = 1;
}

double grad_clip_queue_limit(const grad_clip_queue *q) {
  ELIGN_ASSERT(q->n >= 1 && q->n <= GRAD_CLIP_QUEUE_LEN);
  double mean = 0, var = 0;
  for (int i = 0; i < q->n; i++) mean += q->items[i];
  mean /= q->n;
  for (int i = 0; i < q->n; i++) var += (q->items[i] - mean) * (q->items[i] - mean);
  return 1.5 * mean + 2.0 * sqrt(var / q->n);
}

void grad_clip_queue_push(grad_clip_queue *q, double norm) {
  int keep = q->n < GRAD_CLIP_QUEUE_LEN ? q->n : GRAD_CLIP_QUEUE_LEN - 1;
  memmove(q->items + 1, q->items, (size_t)keep * sizeof q->items[0]);
  q->items[0] = norm;
  q->n = keep + 1;
}

double grad_clip_adaptive(grad_clip_queue *q, elign_real *g, size_t n, grad_clip_info *info) {
  grad_clip_info local;
  if (!info) info = &local;
  info->limit = grad_clip_queue_limit(q);
  info->norm = grad_l2_norm(g, n);
  info->clipped = 0;
  if (!isfinite(info->norm)) return info->norm;
  if (info->norm > info->limit) {
    elign_real coef = (elign_real)(info->limit / (info->norm + 1e-6));
    for (size_t i = 0; i < n; i++) g[i] *= coef;
    info->clipped = 1;
  }
  grad_clip_queue_push(q, info->clipped ? info->limit : info->norm);
  return info->norm;
}

/* ---- EMA ---------------------------------------------------------------- */

void ema_update(elign_real *ema, const elign_real *p, size_t n, double decay) {
  const elign_real keep = (elign_real)decay, take = (elign_real)(1.0 - decay);
  for (size_t i = 0; i < n; i++) ema[i] = ema[i] * keep + take * p[i];
}

/* ---- LR schedules ---------------------------------------------------------- */

int lr_schedule_kind_parse(const char *name, lr_schedule_kind *out) {
  static const struct {
    const char *name;
    lr_schedule_kind kind;
  } names[] = {{"none", LR_SCHEDULE_CONSTANT},            {"constant", LR_SCHEDULE_WARMUP},
               {"cosine", LR_SCHEDULE_COSINE},            {"constant_warmup", LR_SCHEDULE_WARMUP},
               {"linear_warmup", LR_SCHEDULE_WARMUP},     {"wsd", LR_SCHEDULE_WSD}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i].name) == 0) {
      *out = names[i].kind;
      return 1;
    }
  return 0;
}

static double max1(int64_t x) { return x > 1 ? (double)x : 1.0; }

double lr_schedule_factor(const lr_schedule *s, int64_t n) {
  const double pi = 3.14159265358979323846, r = s->min_lr_ratio;
  if (s->kind == LR_SCHEDULE_CONSTANT) return 1.0;
  if (n < s->warmup_steps) return (double)n / max1(s->warmup_steps);
  switch (s->kind) {
    case LR_SCHEDULE_WARMUP: return 1.0;
    case LR_SCHEDULE_COSINE: {
      double prog = (double)(n - s->warmup_steps) / max1(s->total_steps - s->warmup_steps);
      double f = cos(2 * pi * s->num_cycles * prog) * (1 - r) / 2 + (1 + r) / 2;
      return f > 0 ? f : 0;
    }
    case LR_SCHEDULE_WSD: {
      int64_t after = s->total_steps - s->warmup_steps;
      int64_t stable = (int64_t)floor((double)(after > 0 ? after : 0) * s->stable_ratio);
      int64_t decay = after - stable;
      int64_t k = n - s->warmup_steps - stable;
      if (k < 0) return 1.0;
      if (k >= decay) return r;
      double prog = (double)k / max1(decay);
      return (1 - r) * 0.5 * (1 + cos(2 * pi * s->num_cycles * prog)) + r;
    }
    default: return 1.0;
  }
}
