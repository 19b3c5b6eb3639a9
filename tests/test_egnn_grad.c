/* test_egnn_grad.c — finite-difference checks of every EGNN backward.
 *
 * Built twice (tests/egnn.cmake): test_egnn_grad_dbl compiles common/model/egnn.c
 * with ELIGN_DOUBLE (tight: central differences, relative error < 1e-6), and
 * test_egnn_grad in the normal precision of the build (float: loose
 * tolerances, only a smoke check that gradients have the right size/sign).
 *
 * The scalar loss is L = Σ w ⊙ output with fixed random weights w, so the
 * upstream gradient is w. Every parameter tensor (a random subset of its
 * entries) and every input entry is checked; a tensor belongs to exactly one
 * layer (embedding, GCL edge MLP, attention, node MLP, coordinate MLP/update,
 * output), so a failure names the layer. Three losses isolate the paths:
 *   raw EGNN, loss on h_out only / on x_out only / both, and the dynamics
 *   wrapper φ (time channel, velocity, guard, mean removal).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/egnn.h"
#include "tests/testutil.h"

typedef elign_real real;

#ifdef ELIGN_DOUBLE
static const double FD_STEP = 1e-5, RTOL = 1e-6, ATOL = 1e-8;
#else
static const double FD_STEP = 2e-3, RTOL = 8e-2, ATOL = 2e-3;
#endif

static uint64_t rng_state = 12345;
static double urand(void) { /* splitmix64 → [0,1) */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}
static double nrand(void) { return sqrt(-2 * log(1 - urand())) * cos(6.283185307179586 * urand()); }

typedef struct {
  egnn_model m;
  egnn_workspace *ws;
  real *p, *gr;
  int64_t n_mol, offsets[8];
  int64_t N;
  int Hn, H;
  real *h, *x, *xh, *tau;   /* inputs */
  real *wh, *wx, *weps;     /* loss weights */
  real *ho, *xo, *eps;      /* outputs */
  int mode;                 /* 0 raw h+x, 1 raw h only, 2 raw x only, 3 dynamics */
} fixture;

static double loss(fixture *f) {
  elign_error err;
  double L = 0;
  if (f->mode < 3) {
    ELIGN_ASSERT(egnn_forward(&f->m, f->p, f->ws, f->n_mol, f->offsets, f->h, f->x, f->ho, f->xo, &err) == ELIGN_OK);
    if (f->mode != 2)
      for (int64_t k = 0; k < f->N * f->Hn; k++) L += (double)f->wh[k] * f->ho[k];
    if (f->mode != 1)
      for (int64_t k = 0; k < f->N * 3; k++) L += (double)f->wx[k] * f->xo[k];
  } else {
    ELIGN_ASSERT(egnn_dynamics_forward(&f->m, f->p, f->ws, f->n_mol, f->offsets, f->xh, f->tau, f->eps, &err) ==
                 ELIGN_OK);
    for (int64_t k = 0; k < f->N * (3 + f->H); k++) L += (double)f->weps[k] * f->eps[k];
  }
  return L;
}

/* Analytic gradients: params into f->gr (zeroed first), inputs into din (h or xh) and dxin. */
static void analytic(fixture *f, real *dhin, real *dxin) {
  egnn_grads_zero(&f->m, f->gr);
  loss(f);
  if (f->mode < 3) {
    real *dh = calloc((size_t)(f->N * f->Hn), sizeof(real)), *dx = calloc((size_t)(f->N * 3), sizeof(real));
    if (f->mode != 2) memcpy(dh, f->wh, (size_t)(f->N * f->Hn) * sizeof(real));
    if (f->mode != 1) memcpy(dx, f->wx, (size_t)(f->N * 3) * sizeof(real));
    egnn_backward(&f->m, f->p, f->gr, f->ws, dh, dx, dhin, dxin);
    free(dh);
    free(dx);
  } else {
    egnn_dynamics_backward(&f->m, f->p, f->gr, f->ws, f->weps, dhin);
  }
}

static double fd(fixture *f, real *v) {
  real old = *v;
  double hstep = FD_STEP * (fabs((double)old) > 1 ? fabs((double)old) : 1);
  *v = (real)(old + hstep);
  double lp = loss(f);
  *v = (real)(old - hstep);
  double lm = loss(f);
  *v = old;
  return (lp - lm) / (2 * hstep);
}

static int close_enough(double an, double num) {
  double scale = fabs(an) > fabs(num) ? fabs(an) : fabs(num);
  return fabs(an - num) <= ATOL + RTOL * scale;
}

/* Check `count` random entries of each parameter tensor; returns the max relative error. */
static double check_params(fixture *f, int per_tensor, const char *label) {
  double worst = 0;
  for (int t = 0; t < f->m.n_tensors; t++) {
    const egnn_tensor *T = &f->m.tensors[t];
    int bad = 0;
    for (int s = 0; s < per_tensor; s++) {
      size_t k = T->offset + (size_t)(urand() * (double)T->size);
      double an = f->gr[k], num = fd(f, &f->p[k]);
      double rel = fabs(an - num) / (fabs(num) + 1e-6);
      if (rel > worst && fabs(num) > 1e-7) worst = rel;
      if (!close_enough(an, num)) {
        if (bad++ < 3)
          fprintf(stderr, "  %s: %s[%zu] analytic %.10g fd %.10g\n", label, T->name, k - T->offset, an, num);
      }
    }
    char what[300];
    snprintf(what, sizeof what, "%s: grad %s", label, T->name);
    test_check(bad == 0, __FILE__, __LINE__, what);
  }
  return worst;
}

static double check_inputs(fixture *f, real *v, const real *an, int64_t n, const char *label) {
  int bad = 0;
  double worst = 0;
  for (int64_t k = 0; k < n; k++) {
    double num = fd(f, &v[k]);
    double rel = fabs(an[k] - num) / (fabs(num) + 1e-6);
    if (rel > worst && fabs(num) > 1e-7) worst = rel;
    if (!close_enough(an[k], num) && bad++ < 5)
      fprintf(stderr, "  %s[%lld] analytic %.10g fd %.10g\n", label, (long long)k, (double)an[k], num);
  }
  test_check(bad == 0, __FILE__, __LINE__, label);
  return worst;
}

static void run(const egnn_config *cfg, const char *name) {
  fixture f;
  memset(&f, 0, sizeof f);
  elign_error err;
  CHECK(egnn_model_init(&f.m, cfg, &err) == ELIGN_OK);
  int sizes[] = {4, 1, 3, 5};
  f.n_mol = 4;
  f.offsets[0] = 0;
  for (int b = 0; b < f.n_mol; b++) f.offsets[b + 1] = f.offsets[b] + sizes[b];
  f.N = f.offsets[f.n_mol];
  f.H = cfg->in_node_nf;
  f.Hn = egnn_config_node_nf(cfg);
  f.ws = egnn_workspace_create(&f.m, f.N, f.n_mol, 1);
  f.p = malloc(f.m.n_params * sizeof(real));
  f.gr = malloc(f.m.n_params * sizeof(real));
  egnn_params_init_random(&f.m, f.p, 7);
  /* make the coordinate path matter: coord_mlp.4 at unit scale, not EDM's 1e-3 gain */
  for (int t = 0; t < f.m.n_tensors; t++)
    if (strstr(f.m.tensors[t].name, "coord_mlp.4.weight"))
      for (size_t k = 0; k < f.m.tensors[t].size; k++) f.p[f.m.tensors[t].offset + k] *= (real)300;
  int D = 3 + f.H;
  f.h = malloc((size_t)(f.N * f.Hn) * sizeof(real));
  f.x = malloc((size_t)(f.N * 3) * sizeof(real));
  f.xh = malloc((size_t)(f.N * D) * sizeof(real));
  f.tau = malloc((size_t)f.n_mol * sizeof(real));
  f.wh = malloc((size_t)(f.N * f.Hn) * sizeof(real));
  f.wx = malloc((size_t)(f.N * 3) * sizeof(real));
  f.weps = malloc((size_t)(f.N * D) * sizeof(real));
  f.ho = malloc((size_t)(f.N * f.Hn) * sizeof(real));
  f.xo = malloc((size_t)(f.N * 3) * sizeof(real));
  f.eps = malloc((size_t)(f.N * D) * sizeof(real));
  for (int64_t k = 0; k < f.N * f.Hn; k++) f.h[k] = (real)nrand(), f.wh[k] = (real)nrand();
  for (int64_t k = 0; k < f.N * 3; k++) f.x[k] = (real)(1.2 * nrand()), f.wx[k] = (real)nrand();
  for (int64_t k = 0; k < f.N * D; k++) f.xh[k] = (real)nrand(), f.weps[k] = (real)nrand();
  for (int b = 0; b < f.n_mol; b++) f.tau[b] = (real)urand();

  real *dh = malloc((size_t)(f.N * (f.Hn > D ? f.Hn : D)) * sizeof(real));
  real *dx = malloc((size_t)(f.N * 3) * sizeof(real));
  static const char *mode_name[] = {"egnn h+x", "egnn h only", "egnn x only", "dynamics"};
  for (f.mode = 0; f.mode < 4; f.mode++) {
    char label[128];
    snprintf(label, sizeof label, "%s/%s", name, mode_name[f.mode]);
    analytic(&f, dh, dx);
    double wp = check_params(&f, 4, label);
    double wi;
    if (f.mode < 3) {
      char l2[160];
      snprintf(l2, sizeof l2, "%s: d h_in", label);
      wi = check_inputs(&f, f.h, dh, f.N * f.Hn, l2);
      snprintf(l2, sizeof l2, "%s: d x_in", label);
      double wx = check_inputs(&f, f.x, dx, f.N * 3, l2);
      if (wx > wi) wi = wx;
    } else {
      wi = check_inputs(&f, f.xh, dh, f.N * D, "dynamics: d xh");
    }
    printf("%-28s max rel err: params %.2e, inputs %.2e\n", label, wp, wi);
  }
  /* accumulate rule: a second backward adds the same gradient again */
  f.mode = 3;
  analytic(&f, dh, dx);
  real *g1 = malloc(f.m.n_params * sizeof(real));
  memcpy(g1, f.gr, f.m.n_params * sizeof(real));
  loss(&f);
  egnn_dynamics_backward(&f.m, f.p, f.gr, f.ws, f.weps, NULL);
  size_t bad = 0;
  for (size_t k = 0; k < f.m.n_params; k++)
    if (fabs((double)f.gr[k] - 2.0 * g1[k]) > 1e-5 * (fabs((double)g1[k]) + 1e-6)) bad++;
  CHECK(bad == 0);
  free(g1);
  free(dh); free(dx); free(f.h); free(f.x); free(f.xh); free(f.tau); free(f.wh); free(f.wx); free(f.weps);
  free(f.ho); free(f.xo); free(f.eps); free(f.p); free(f.gr);
  egnn_workspace_free(&f.ws);
  CHECK(f.ws == NULL);
  egnn_model_free(&f.m);
}

int main(void) {
  egnn_config c = egnn_config_qm9();
  c.n_layers = 2;
  c.hidden = 12;
  c.in_node_nf = 4;
  run(&c, "attn+tanh");
  c.attention = 0;
  c.tanh = 0;
  c.normalization_factor = 2.5;
  c.n_layers = 1;
  run(&c, "plain,nf=2.5");
#ifdef ELIGN_DOUBLE
  return test_main_result("test_egnn_grad_dbl");
#else
  return test_main_result("test_egnn_grad");
#endif
}
