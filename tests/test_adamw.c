/* test_adamw.c — common/nn/adamw against PyTorch and EDM's semantics.
 *
 *   1. AdamW(amsgrad=True) over 12 steps, fed the gradients torch saw after
 *      clipping: p, m, v, vmax bit for bit equal to torch.optim.AdamW
 *      (the fixture is written by tests/adamw_torch_ref.py at test time).
 *   2. Adaptive clipping on the raw gradients: the norm, the limit and the
 *      clipped decision of EDM's Queue + clip_grad_norm_; the clipped gradient
 *      within float rounding of torch's (the norm is summed in double here).
 *   3. EMA after each step, bit for bit.
 *   4. Queue semantics by hand: start [3000], newest first, 50 entries, the
 *      limit (not the norm) pushed when clipping, non-finite norms ignored.
 *   5. LR schedules: warm-up starts at 0, cosine reaches min_lr_ratio at
 *      total_steps, wsd's three phases.
 * Usage: test_adamw FIXTURE.bin */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/nn/adamw.h"
#include "tests/testutil.h"

static void read_exact(FILE *f, void *p, size_t bytes) {
  if (fread(p, 1, bytes, f) != bytes) {
    fprintf(stderr, "test_adamw: fixture truncated\n");
    exit(1);
  }
}

/* Count of elements whose bits differ; prints the first few. */
static size_t bit_diffs(const float *got, const float *want, size_t n, const char *what, int step) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++)
    if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      if (bad < 3) fprintf(stderr, "  step %d %s[%zu]: got %.9g want %.9g\n", step, what, i, got[i], want[i]);
      bad++;
    }
  return bad;
}

static void check_against_torch(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "test_adamw: cannot open fixture %s\n", path);
    exit(1);
  }
  int64_t hdr[3];
  double hp[6];
  read_exact(f, hdr, sizeof hdr);
  read_exact(f, hp, sizeof hp);
  size_t n = (size_t)hdr[0];
  int steps = (int)hdr[1];
  adamw_hparams h = {.beta1 = hp[1], .beta2 = hp[2], .eps = hp[3], .weight_decay = hp[4], .amsgrad = (int)hdr[2]};
  double lr = hp[0], ema_decay = hp[5];
  float *p = malloc(n * 4), *m = calloc(n, 4), *v = calloc(n, 4), *vmax = calloc(n, 4), *ema = malloc(n * 4);
  float *g = malloc(n * 4), *gc = malloc(n * 4), *want = malloc(n * 4);
  read_exact(f, p, n * 4);
  memcpy(ema, p, n * 4);
  grad_clip_queue q;
  grad_clip_queue_init(&q);
  size_t adam_bad = 0, ema_bad = 0;
  int clipped_steps = 0;
  for (int s = 0; s < steps; s++) {
    read_exact(f, g, n * 4);
    double tnorm, tlimit;
    int64_t tclipped;
    read_exact(f, &tnorm, 8);
    read_exact(f, &tlimit, 8);
    read_exact(f, &tclipped, 8);
    read_exact(f, gc, n * 4);
    grad_clip_info info;
    grad_clip_adaptive(&q, g, n, &info);
    CHECK_CLOSE(info.norm, tnorm, 0, 1e-6);
    CHECK_CLOSE(info.limit, tlimit, 0, 1e-6);
    CHECK(info.clipped == (int)tclipped);
    clipped_steps += info.clipped;
    double gd[1000], gcd[1000];
    for (size_t i = 0; i < n && i < 1000; i++) gd[i] = g[i], gcd[i] = gc[i];
    CHECK_ARRAY(gd, gcd, n < 1000 ? n : 1000, 1e-37, 1e-6);
    /* AdamW from the exact gradient torch used */
    adamw_step(&h, lr, s + 1, n, p, gc, m, v, vmax);
    ema_update(ema, p, n, ema_decay);
    const char *names[5] = {"p", "m", "v", "vmax", "ema"};
    float *ours[5] = {p, m, v, vmax, ema};
    for (int k = 0; k < 5; k++) {
      read_exact(f, want, n * 4);
      size_t d = bit_diffs(ours[k], want, n, names[k], s + 1);
      if (k < 4) adam_bad += d;
      else ema_bad += d;
      memcpy(ours[k], want, n * 4); /* continue from torch's state: one step's error at a time */
    }
  }
  fclose(f);
  CHECK(adam_bad == 0);
  CHECK(ema_bad == 0);
  CHECK(clipped_steps == 2); /* the fixture spikes steps 3 and 7 */
  free(p), free(m), free(v), free(vmax), free(ema), free(g), free(gc), free(want);
}

static void check_queue(void) {
  grad_clip_queue q;
  grad_clip_queue_init(&q);
  CHECK(q.n == 1 && q.items[0] == 3000.0);
  CHECK_CLOSE(grad_clip_queue_limit(&q), 4500.0, 0, 1e-15); /* std of one value is 0 */
  /* a first small norm passes and enters; the limit then follows mean/std */
  float g[4] = {3, 4, 0, 0};
  grad_clip_info info;
  grad_clip_adaptive(&q, g, 4, &info);
  CHECK(!info.clipped && info.norm == 5.0 && q.n == 2 && q.items[0] == 5.0 && q.items[1] == 3000.0);
  double mean = (3000.0 + 5.0) / 2, sd = (3000.0 - 5.0) / 2;
  CHECK_CLOSE(grad_clip_queue_limit(&q), 1.5 * mean + 2 * sd, 0, 1e-14);
  /* fill with 1.0: the 3000 falls out after 50 pushes in total */
  for (int i = 0; i < 48; i++) grad_clip_queue_push(&q, 1.0);
  CHECK(q.n == 50 && q.items[49] == 3000.0);
  grad_clip_queue_push(&q, 1.0);
  CHECK(q.n == 50 && q.items[49] == 5.0);
  grad_clip_queue_push(&q, 1.0);
  CHECK(q.n == 50 && q.items[49] == 1.0);
  CHECK_CLOSE(grad_clip_queue_limit(&q), 1.5, 0, 1e-15);
  /* an outlier is clipped to the limit, scaled by limit/(norm+1e-6), and the limit is pushed */
  float big[2] = {300, 400};
  grad_clip_adaptive(&q, big, 2, &info);
  CHECK(info.clipped && info.norm == 500.0 && q.items[0] == 1.5);
  CHECK_CLOSE(sqrt((double)big[0] * big[0] + (double)big[1] * big[1]), 1.5 * 500 / (500 + 1e-6), 0, 1e-6);
  /* a non-finite norm touches nothing */
  float bad[2] = {NAN, 1};
  grad_clip_queue before = q;
  grad_clip_adaptive(&q, bad, 2, &info);
  CHECK(!isfinite(info.norm) && !info.clipped && memcmp(&before, &q, sizeof q) == 0);
}

static void check_schedules(void) {
  lr_schedule_kind k;
  CHECK(lr_schedule_kind_parse("cosine", &k) && k == LR_SCHEDULE_COSINE);
  CHECK(lr_schedule_kind_parse("none", &k) && k == LR_SCHEDULE_CONSTANT);
  CHECK(lr_schedule_kind_parse("constant", &k) && k == LR_SCHEDULE_WARMUP);
  CHECK(!lr_schedule_kind_parse("cosin", &k));
  lr_schedule c = {.kind = LR_SCHEDULE_COSINE, .warmup_steps = 10, .total_steps = 110, .min_lr_ratio = 0.1,
                   .num_cycles = 0.5};
  CHECK(lr_schedule_factor(&c, 0) == 0.0);
  CHECK_CLOSE(lr_schedule_factor(&c, 5), 0.5, 0, 1e-15);
  CHECK_CLOSE(lr_schedule_factor(&c, 10), 1.0, 0, 1e-15);
  CHECK_CLOSE(lr_schedule_factor(&c, 60), 0.55, 0, 1e-12); /* half-way: (1 + r)/2 */
  CHECK_CLOSE(lr_schedule_factor(&c, 110), 0.1, 0, 1e-12);
  lr_schedule w = {.kind = LR_SCHEDULE_WSD, .warmup_steps = 10, .total_steps = 110, .min_lr_ratio = 0.0,
                   .num_cycles = 0.5, .stable_ratio = 0.5};
  CHECK(lr_schedule_factor(&w, 59) == 1.0);                    /* stable: steps 10..59 */
  CHECK_CLOSE(lr_schedule_factor(&w, 85), 0.5, 0, 1e-12);      /* decay half-way */
  CHECK(lr_schedule_factor(&w, 200) == 0.0);                   /* r afterwards */
  lr_schedule cst = {.kind = LR_SCHEDULE_CONSTANT, .warmup_steps = 10};
  CHECK(lr_schedule_factor(&cst, 0) == 1.0);
  lr_schedule wu = {.kind = LR_SCHEDULE_WARMUP, .warmup_steps = 4};
  CHECK(lr_schedule_factor(&wu, 1) == 0.25 && lr_schedule_factor(&wu, 4) == 1.0 && lr_schedule_factor(&wu, 99) == 1.0);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_adamw FIXTURE.bin\n");
    return 2;
  }
  check_against_torch(argv[1]);
  check_queue();
  check_schedules();
  return test_main_result("test_adamw");
}
