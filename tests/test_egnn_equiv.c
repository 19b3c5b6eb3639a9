/* test_egnn_equiv.c — symmetries of the dynamics wrapper φ and the packed batch.
 *
 * ε̂ = φ(xh, τ) must satisfy, for each molecule:
 *   rotation R (det +1) and reflection (det −1) of x: ε̂_x → R ε̂_x, ε̂_h unchanged
 *   translation of x: ε̂ unchanged (relative geometry only; the x-part is mean-free)
 *   permutation of a molecule's atoms: ε̂ permuted the same way
 *   packing: a molecule's ε̂ does not depend on the other molecules or their
 *            order, bit for bit (common/nn/blas.h's row-wise products sum
 *            each output in one fixed order, whatever the rows around it)
 * plus: the forward-only workspace gives the same ε̂ as the training one, and a
 * batch larger than the workspace is an error, not a crash.
 *
 * Tolerances (float32 build): |Δ| ≤ 2e-5 + 2e-4·|ε̂| — the network runs L blocks
 * of float sums whose order changes with R (different rounding), nothing more;
 * a broken symmetry gives O(1) differences. The double build uses 1e-10.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/egnn.h"
#include "tests/testrng.h"
#include "tests/testutil.h"

typedef elign_real real;

#ifdef ELIGN_DOUBLE
static const double ATOL = 1e-10, RTOL = 1e-9;
#else
static const double ATOL = 2e-5, RTOL = 2e-4;
#endif

static uint64_t rs = 99;
static double urand(void) { return testrng_uniform(&rs); }
static double nrand(void) { return testrng_normal(&rs); }

/* Random rotation from a random unit quaternion; reflect = 1 flips the z axis after it (det −1). */
static void random_orthogonal(double R[3][3], int reflect) {
  double q[4], n = 0;
  for (int k = 0; k < 4; k++) q[k] = nrand(), n += q[k] * q[k];
  n = sqrt(n);
  double a = q[0] / n, b = q[1] / n, c = q[2] / n, d = q[3] / n;
  double M[3][3] = {{a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)},
                    {2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)},
                    {2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d}};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) R[i][j] = (reflect && i == 2 ? -1 : 1) * M[i][j];
}

static double det3(double R[3][3]) {
  return R[0][0] * (R[1][1] * R[2][2] - R[1][2] * R[2][1]) - R[0][1] * (R[1][0] * R[2][2] - R[1][2] * R[2][0]) +
         R[0][2] * (R[1][0] * R[2][1] - R[1][1] * R[2][0]);
}

static egnn_model M;
static real *P;
static egnn_workspace *WS, *WS_FWD;
static int H, D;

static void phi(int64_t n_mol, const int64_t *off, const real *xh, const real *tau, real *eps) {
  elign_error err;
  elign_status st = egnn_dynamics_forward(&M, P, WS, n_mol, off, xh, tau, eps, &err);
  if (st != ELIGN_OK) fprintf(stderr, "%s\n", err.msg);
  CHECK(st == ELIGN_OK);
}

static void compare(const real *got, const real *want, int64_t n, const char *what) {
  double *g = malloc((size_t)n * sizeof(double)), *w = malloc((size_t)n * sizeof(double));
  for (int64_t k = 0; k < n; k++) g[k] = got[k], w[k] = want[k];
  test_check_array(g, w, (size_t)n, ATOL, RTOL, __FILE__, __LINE__, what);
  free(g);
  free(w);
}

/* Bitwise: the packed batch promises identical bits, not closeness. */
static void compare_exact(const real *got, const real *want, int64_t n, const char *what) {
  int64_t bad = 0, first = -1;
  for (int64_t k = 0; k < n; k++)
    if (memcmp(&got[k], &want[k], sizeof(real)) != 0) bad++, first = first < 0 ? k : first;
  if (bad) fprintf(stderr, "  %s: %lld of %lld values differ in their bits (first at %lld: %.9g vs %.9g)\n", what,
                   (long long)bad, (long long)n, (long long)first, (double)got[first], (double)want[first]);
  test_check(bad == 0, __FILE__, __LINE__, what);
}

int main(void) {
  egnn_config c = egnn_config_qm9();
  c.n_layers = 3;
  c.hidden = 32;
  elign_error err;
  CHECK(egnn_model_init(&M, &c, &err) == ELIGN_OK);
  H = c.in_node_nf;
  D = 3 + H;
  P = malloc(M.n_params * sizeof(real));
  egnn_params_init_random(&M, P, 3);
  for (int t = 0; t < M.n_tensors; t++) /* coordinate updates of O(0.1–1) Å, not EDM's 1e-3 init */
    if (strstr(M.tensors[t].name, "coord_mlp.4.weight"))
      for (size_t k = 0; k < M.tensors[t].size; k++) P[M.tensors[t].offset + k] *= (real)300;

  enum { NMOL = 3 };
  int64_t off[NMOL + 1] = {0, 7, 16, 19}; /* 7, 9, 3 atoms */
  int64_t N = off[NMOL];
  WS = egnn_workspace_create(&M, N, NMOL, 1);
  WS_FWD = egnn_workspace_create(&M, N, NMOL, 0);
  real *xh = malloc((size_t)(N * D) * sizeof(real)), *xh2 = malloc((size_t)(N * D) * sizeof(real));
  real *eps = malloc((size_t)(N * D) * sizeof(real)), *eps2 = malloc((size_t)(N * D) * sizeof(real));
  real *want = malloc((size_t)(N * D) * sizeof(real));
  real tau[NMOL] = {(real)0.9, (real)0.31, (real)0.05};
  for (int64_t i = 0; i < N; i++)
    for (int k = 0; k < D; k++) xh[D * i + k] = (real)(k < 3 ? 1.3 * nrand() : 0.5 * nrand());
  phi(NMOL, off, xh, tau, eps);

  /* sanity: output finite, x-part mean-free per molecule, not trivially zero */
  double mx = 0;
  for (int b = 0; b < NMOL; b++)
    for (int d = 0; d < 3; d++) {
      double s = 0;
      for (int64_t i = off[b]; i < off[b + 1]; i++) s += eps[D * i + d], mx = fmax(mx, fabs(eps[D * i + d]));
      CHECK(fabs(s) < 1e-5);
    }
  printf("max |eps_x| = %.3f\n", mx);
  CHECK(mx > 1e-2);

  /* forward-only workspace: same result */
  CHECK(egnn_dynamics_forward(&M, P, WS_FWD, NMOL, off, xh, tau, eps2, &err) == ELIGN_OK);
  compare(eps2, eps, N * D, "forward-only workspace");

  /* rotations / reflections, each with a per-molecule translation */
  for (int reflect = 0; reflect < 2; reflect++) {
    double R[3][3];
    random_orthogonal(R, reflect);
    CHECK(fabs(det3(R) - (reflect ? -1 : 1)) < 1e-12);
    for (int b = 0; b < NMOL; b++) {
      double t[3] = {5 * nrand(), 5 * nrand(), 5 * nrand()};
      for (int64_t i = off[b]; i < off[b + 1]; i++) {
        for (int d = 0; d < 3; d++) {
          double s = t[d];
          for (int e = 0; e < 3; e++) s += R[d][e] * xh[D * i + e];
          xh2[D * i + d] = (real)s;
        }
        for (int k = 3; k < D; k++) xh2[D * i + k] = xh[D * i + k];
        for (int d = 0; d < 3; d++) {
          double s = 0;
          for (int e = 0; e < 3; e++) s += R[d][e] * eps[D * i + e];
          want[D * i + d] = (real)s;
        }
        for (int k = 3; k < D; k++) want[D * i + k] = eps[D * i + k];
      }
    }
    phi(NMOL, off, xh2, tau, eps2);
    compare(eps2, want, N * D, reflect ? "reflection + translation" : "rotation + translation");
  }

  /* permutation within each molecule: new atom i takes old atom perm[i] */
  int64_t perm[32];
  for (int b = 0; b < NMOL; b++) {
    int64_t o = off[b], n = off[b + 1] - o;
    for (int64_t i = 0; i < n; i++) perm[o + i] = o + i;
    for (int64_t i = n - 1; i > 0; i--) {
      int64_t j = (int64_t)(urand() * (double)(i + 1)), tmp = perm[o + i];
      perm[o + i] = perm[o + j];
      perm[o + j] = tmp;
    }
  }
  for (int64_t i = 0; i < N; i++)
    for (int k = 0; k < D; k++) xh2[D * i + k] = xh[D * perm[i] + k], want[D * i + k] = eps[D * perm[i] + k];
  phi(NMOL, off, xh2, tau, eps2);
  compare(eps2, want, N * D, "permutation");

  /* packing: each molecule alone, and the batch in reverse order */
  for (int b = 0; b < NMOL; b++) {
    int64_t o1[2] = {0, off[b + 1] - off[b]};
    phi(1, o1, xh + D * off[b], &tau[b], eps2);
    compare_exact(eps2, eps + D * off[b], o1[1] * D, "molecule alone");
  }
  int64_t roff[NMOL + 1] = {0};
  real rtau[NMOL];
  for (int b = 0; b < NMOL; b++) {
    int src = NMOL - 1 - b;
    int64_t n = off[src + 1] - off[src];
    roff[b + 1] = roff[b] + n;
    rtau[b] = tau[src];
    memcpy(xh2 + D * roff[b], xh + D * off[src], (size_t)(n * D) * sizeof(real));
    memcpy(want + D * roff[b], eps + D * off[src], (size_t)(n * D) * sizeof(real));
  }
  phi(NMOL, roff, xh2, rtau, eps2);
  compare_exact(eps2, want, N * D, "reversed batch order");

  /* non-finite guard: a huge coordinate makes the update overflow → 0, never NaN */
  memcpy(xh2, xh, (size_t)(N * D) * sizeof(real));
  xh2[0] = (real)INFINITY;
  phi(NMOL, off, xh2, tau, eps2);
  int finite_x = 1;
  for (int64_t i = 0; i < N; i++)
    for (int d = 0; d < 3; d++) finite_x &= isfinite(eps2[D * i + d]) != 0;
  CHECK(finite_x);

  /* capacity: one atom too many is an error naming the sizes */
  int64_t big[2] = {0, N + 1};
  real *xbig = calloc((size_t)((N + 1) * D), sizeof(real));
  CHECK(egnn_dynamics_forward(&M, P, WS, 1, big, xbig, tau, xbig, &err) == ELIGN_ERR_ARG);
  CHECK(strstr(err.msg, "exceeds the workspace") != NULL);
  int64_t dec[4] = {0, 12, 5, 19}; /* decreasing offsets: an error, nothing written */
  CHECK(egnn_dynamics_forward(&M, P, WS, 3, dec, xh, tau, eps2, &err) == ELIGN_ERR_ARG);
  CHECK(strstr(err.msg, "offsets decrease at molecule 1") != NULL);
  egnn_workspace_reserve(WS, N + 1, NMOL, 0);
  real *ebig = malloc((size_t)((N + 1) * D) * sizeof(real));
  CHECK(egnn_dynamics_forward(&M, P, WS, 1, big, xbig, tau, ebig, &err) == ELIGN_OK);
  free(ebig);
  free(xbig);

  free(xh); free(xh2); free(eps); free(eps2); free(want); free(P);
  egnn_workspace_free(&WS);
  egnn_workspace_free(&WS_FWD);
  egnn_model_free(&M);
  return test_main_result("test_egnn_equiv");
}
