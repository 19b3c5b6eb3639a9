/* test_diffusion_grad.c — end-to-end gradients through the EGNN:
 *   d loss / d θ of the EDM training loss (diffusion_train_loss_backward →
 *   egnn_dynamics_backward), and d logp / d θ of the reverse-step log-prob
 *   (diffusion_step_logp_backward → egnn_dynamics_backward), against central
 * finite differences on a few parameters of every kind. Built twice: float
 * (loose) and double (tight; linked against the test-only double library). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/diffusion.h"
#include "common/model/egnn.h"
#include "common/model/energy_loss.h"
#include "tests/testutil.h"
#include "tests/testutil_fd.h"

#ifdef ELIGN_DOUBLE
#define H_FD 1e-5
#define RTOL 1e-5
#define ATOL 1e-9
#define ATOL_LOGP 1e-7 /* logp ~ 1e3 (σ ≈ 0.02): FD roundoff ~ 1e-16·|L|/h */
#else
#define H_FD 1e-2
#define RTOL 6e-2
#define ATOL 2e-4
#define ATOL_LOGP 5e-3
#endif

enum { NMOL = 3 };
static const int64_t OFF[NMOL + 1] = {0, 4, 9, 12};
static egnn_model net;
static egnn_workspace *ws;
static diffusion_schedule sched;
static diffusion_layout lay;
static const diffusion_energy_loss *energy_opt; /* NULL: EDM's l2; else the energy-loss variant */

static void fill_normal(elign_real *a, size_t n, uint32_t g) {
  elign_rng r = elign_rng_stream(5, 0, g, 0, 0, ELIGN_RNG_TEST);
  for (size_t i = 0; i < n; i++) a[i] = (elign_real)elign_rng_normal(&r);
}

/* ---- the two scalar objectives ------------------------------------------- */

typedef struct {
  elign_real xh[12 * 9], eps[12 * 9], z[12 * 9], eh[12 * 9], tau[NMOL];
  int t[NMOL];
  diffusion_step_coef c[NMOL];
  elign_real z_s[12 * 9], mu[12 * 9];
} fixture;

static double loss_of(fixture *f, const elign_real *p, int with_backward, elign_real *grads) {
  elign_error err;
  int D = lay.D;
  ELIGN_ASSERT(egnn_dynamics_forward(&net, p, ws, NMOL, OFF, f->z, f->tau, f->eh, &err) == ELIGN_OK);
  diffusion_loss_input in = {f->xh, f->z, f->eps, f->eh, f->t, OFF, NMOL, 1000, &lay, &sched, NULL, 0, 0, energy_opt};
  diffusion_loss_terms L;
  diffusion_train_loss(&L, &in);
  if (with_backward) {
    elign_real d[12 * 9];
    diffusion_train_loss_backward(d, 1.0, &in);
    egnn_dynamics_backward(&net, p, grads, ws, d, NULL);
  }
  (void)D;
  return L.loss;
}

static double logp_of(fixture *f, const elign_real *p, int with_backward, elign_real *grads) {
  elign_error err;
  int D = lay.D;
  ELIGN_ASSERT(egnn_dynamics_forward(&net, p, ws, NMOL, OFF, f->z, f->tau, f->eh, &err) == ELIGN_OK);
  diffusion_reverse_mean(f->mu, NULL, f->z, f->eh, f->c, OFF, NMOL, D);
  elign_real sg[NMOL];
  double lp[NMOL], w[NMOL] = {0.3, -1.1, 0.8}, L = 0;
  for (int m = 0; m < NMOL; m++) sg[m] = f->c[m].sigma_step;
  diffusion_step_logp(lp, f->z_s, f->mu, sg, OFF, NMOL, D);
  for (int m = 0; m < NMOL; m++) L += w[m] * lp[m];
  if (with_backward) {
    elign_real d[12 * 9] = {0};
    diffusion_step_logp_backward(d, w, f->z_s, f->mu, f->c, OFF, NMOL, D);
    egnn_dynamics_backward(&net, p, grads, ws, d, NULL);
  }
  return L;
}

/* The training loss as a function of ε̂ alone (the network not run). */
static double loss_of_eps_hat(void *in, const elign_real *eps_hat) {
  diffusion_loss_input at = *(const diffusion_loss_input *)in;
  at.eps_hat = eps_hat;
  diffusion_loss_terms L;
  diffusion_train_loss(&L, &at);
  return L.loss;
}

/* d loss / d ε̂ of the loss alone, every entry, against central differences
 * (the energy variant's position channels go through x̂ = (z_t − σ ε̂)/α). */
static void check_eps_hat_gradient(fixture *f, const char *what) {
  const int N = 12 * 9;
  diffusion_loss_input in = {f->xh, f->z, f->eps, f->eh, f->t, OFF, NMOL, 1000, &lay, &sched, NULL, 0, 0, energy_opt};
  elign_real d[12 * 9];
  diffusion_train_loss_backward(d, 1.0, &in);
  CHECK(test_fd_gradient(loss_of_eps_hat, &in, f->eh, d, (size_t)N, 1, H_FD * 0.1, ATOL, RTOL, what) == 0);
}

/* A few parameters of each tensor kind. */
static void check_params(const char *what, double (*fn)(fixture *, const elign_real *, int, elign_real *),
                         fixture *f, elign_real *p, double atol) {
  elign_real *g = calloc(net.n_params, sizeof *g);
  fn(f, p, 1, g);
  double got[64], want[64];
  int n = 0;
  for (int k = 0; k < net.n_tensors && n < 60; k += 3) {
    const egnn_tensor *t = &net.tensors[k];
    size_t j = t->offset + (size_t)(7 * k + 3) % t->size;
    elign_real save = p[j];
    double h = H_FD * (fabs((double)save) + 0.1);
    p[j] = (elign_real)(save + h);
    double lp = fn(f, p, 0, NULL);
    p[j] = (elign_real)(save - h);
    double lm = fn(f, p, 0, NULL);
    p[j] = save;
    want[n] = (lp - lm) / (2 * h);
    got[n] = g[j];
    n++;
  }
  size_t bad = test_check_array(got, want, (size_t)n, atol, RTOL, __FILE__, __LINE__, what);
  if (bad) fprintf(stderr, "  (%s: %d parameters checked)\n", what, n);
  free(g);
}

int main(void) {
  elign_error err;
  egnn_config cfg = egnn_config_qm9();
  cfg.n_layers = 2;
  cfg.hidden = 16;
  CHECK(egnn_model_init(&net, &cfg, &err) == ELIGN_OK);
  CHECK(diffusion_schedule_init(&sched, "polynomial_2", 1000, 1e-5, &err) == ELIGN_OK);
  diffusion_layout_init(&lay, 5, 1);
  elign_real *p = calloc(net.n_params, sizeof *p);
  egnn_params_init_random(&net, p, 99);
  /* larger coordinate weights so the x channels carry real gradients */
  for (int k = 0; k < net.n_tensors; k++)
    if (strstr(net.tensors[k].name, "coord_mlp.4.weight"))
      for (size_t q = 0; q < net.tensors[k].size; q++) p[net.tensors[k].offset + q] *= 300;
  ws = egnn_workspace_create(&net, 12, NMOL, 1);

  static fixture f;
  int D = lay.D;
  double pos[12 * 3];
  int32_t ti[12], Z[12];
  const int32_t zt[5] = {1, 6, 7, 8, 9};
  for (int i = 0; i < 12; i++) {
    for (int d = 0; d < 3; d++) pos[3 * i + d] = 1.5 * sin(0.9 * i + 2.1 * d);
    ti[i] = (i * 2) % 5;
    Z[i] = zt[ti[i]];
  }
  diffusion_encode(f.xh, pos, ti, Z, OFF, NMOL, &lay);
  elign_rng r = elign_rng_stream(1, 0, 0, 0, 0, ELIGN_RNG_TRAIN_NOISE);
  for (int m = 0; m < NMOL; m++) diffusion_noise_molecule(f.eps + OFF[m] * D, &r, OFF[m + 1] - OFF[m], D);
  int ts[NMOL] = {0, 250, 800};
  elign_real a[NMOL], s[NMOL];
  for (int m = 0; m < NMOL; m++) {
    f.t[m] = ts[m];
    elign_real g = diffusion_gamma(&sched, ts[m], 1000);
    a[m] = diffusion_alpha(g), s[m] = diffusion_sigma(g);
    f.tau[m] = (elign_real)((float)ts[m] / 1000.0f);
  }
  diffusion_forward_noise(f.z, f.xh, f.eps, a, s, OFF, NMOL, D);
  check_params("d loss / d theta", loss_of, &f, p, ATOL);

  /* the energy-loss variant (positions by the pairwise-distance energy):
   * its value at ε̂ = ε is the h channels' part only, and its gradients */
  static const diffusion_energy_loss exp_energy = {ENERGY_COEFF_EXP_DIST, 1.0, 0.05};
  energy_opt = &exp_energy;
  ELIGN_ASSERT(egnn_dynamics_forward(&net, p, ws, NMOL, OFF, f.z, f.tau, f.eh, &err) == ELIGN_OK);
  check_eps_hat_gradient(&f, "energy loss: d loss / d eps_hat");
  /* molecule 0 sits at t = 0, where α²/σ² ≈ 1e5 makes the loss large: FD roundoff as for logp */
  check_params("energy loss: d loss / d theta", loss_of, &f, p, ATOL_LOGP);
  {
    elign_real eh_keep[12 * 9];
    memcpy(eh_keep, f.eh, sizeof eh_keep);
    memcpy(f.eh, f.eps, sizeof f.eh); /* perfect prediction: x̂ = x up to rounding */
    diffusion_loss_input in = {f.xh, f.z, f.eps, f.eh, f.t, OFF, NMOL, 1000, &lay, &sched, NULL, 0, 0, &exp_energy};
    diffusion_loss_terms Le, Lm;
    diffusion_train_loss(&Le, &in);
    in.energy = NULL;
    diffusion_train_loss(&Lm, &in);
    /* both losses reduce to the t = 0 likelihood of h (molecule 0) + KL + log p(N) terms */
    CHECK_CLOSE(Le.loss, Lm.loss, 1e-5, 1e-6);
    memcpy(f.eh, eh_keep, sizeof eh_keep);
  }
  energy_opt = NULL;

  /* reverse step log-prob: transitions 40→39, 300→299, 700→690 */
  int tt[NMOL] = {40, 300, 700}, sd[NMOL] = {39, 299, 690};
  for (int m = 0; m < NMOL; m++) {
    diffusion_step_coef_init(&f.c[m], &sched, tt[m], sd[m], 1000);
    f.tau[m] = f.c[m].tau_t;
  }
  /* z_s: the step's own sample from the current parameters plus an offset, so
   * (z_s − μ)/σ is O(1) */
  elign_real noise[12 * 9];
  fill_normal(noise, 108, 8);
  ELIGN_ASSERT(egnn_dynamics_forward(&net, p, ws, NMOL, OFF, f.z, f.tau, f.eh, &err) == ELIGN_OK);
  diffusion_reverse_mean(f.mu, NULL, f.z, f.eh, f.c, OFF, NMOL, D);
  diffusion_reverse_sample(f.z_s, f.mu, noise, f.c, OFF, NMOL, D);
  /* float: logp is a sum of O(100) terms with σ ≈ 0.02, so FD noise is larger */
  check_params("d logp / d theta", logp_of, &f, p, ATOL_LOGP);

  egnn_workspace_free(&ws);
  egnn_model_free(&net);
  diffusion_schedule_free(&sched);
  free(p);
  return test_main_result("test_diffusion_grad");
}
