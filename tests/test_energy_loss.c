/* test_energy_loss.c — the pairwise-distance energy loss (SEEDS_NOTES §3):
 * value at hand-computed points, zero at the data and its rigid images,
 * invariance, the analytic gradient against central differences, and the
 * zero-sum (CoM-free) gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/energy_loss.h"
#include "tests/testrng.h"
#include "tests/testutil.h"

enum { N_ATOMS = 11, STRIDE = 9 };

static void random_molecule(double *x, int64_t n, int stride, uint64_t *state) {
  for (int64_t i = 0; i < n * stride; i++) x[i] = 1.6 * (testrng_uniform(state) - 0.5) * 2.0;
}

/* A proper rotation from a unit quaternion, optionally composed with a reflection. */
static void rigid_motion(double *out, const double *in, int64_t n, int stride, int reflect, const double shift[3]) {
  double q[4] = {0.3, -0.5, 0.7, 0.4}, s = 0;
  for (int k = 0; k < 4; k++) s += q[k] * q[k];
  for (int k = 0; k < 4; k++) q[k] /= sqrt(s);
  double w = q[0], a = q[1], b = q[2], c = q[3];
  double R[9] = {1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w),
                 2 * (a * b + c * w),     1 - 2 * (a * a + c * c), 2 * (b * c - a * w),
                 2 * (a * c - b * w),     2 * (b * c + a * w), 1 - 2 * (a * a + b * b)};
  memcpy(out, in, sizeof(double) * (size_t)(n * stride));
  for (int64_t i = 0; i < n; i++)
    for (int r = 0; r < 3; r++) {
      double v = 0;
      for (int k = 0; k < 3; k++) v += R[r * 3 + k] * in[i * stride + k];
      out[i * stride + r] = (reflect && r == 0 ? -v : v) + shift[r];
    }
}

static void test_hand_values(void) {
  /* two atoms 1 Å apart in the data, 1.5 Å in the prediction:
   * Σ_{i≠j} ½ (k0/2) g (0.5)² = 0.125 k0 g(1) */
  double x[6] = {0, 0, 0, 1, 0, 0}, xh[6] = {0, 0, 0, 0, 1.5, 0};
  CHECK_CLOSE(energy_loss_molecule(xh, x, 2, 3, ENERGY_COEFF_CONSTANT, 2.0), 0.25, 1e-15, 0);
  CHECK_CLOSE(energy_loss_molecule(xh, x, 2, 3, ENERGY_COEFF_EXP_DIST, 1.0), 0.125 * 42.0 * exp(-1.0), 1e-14, 1e-14);
  CHECK_CLOSE(energy_loss_molecule(xh, x, 2, 3, ENERGY_COEFF_INV_DIST, 1.0), 0.125 * 5.0 / (1.0 + 1e-5), 1e-14, 1e-14);
  CHECK_CLOSE(energy_loss_molecule(xh, x, 2, 3, ENERGY_COEFF_INV_DIST2, 1.0), 0.125 * 16.0 / (1.0 + 1e-5), 1e-14,
              1e-14);
  CHECK(energy_loss_molecule(xh, x, 1, 3, ENERGY_COEFF_CONSTANT, 1.0) == 0.0);
  CHECK(energy_coeff_from_name("exp_dist") == ENERGY_COEFF_EXP_DIST);
  CHECK(energy_coeff_from_name("inv_dist2") == ENERGY_COEFF_INV_DIST2);
  CHECK(energy_coeff_from_name("exp") == -1);
  CHECK(strcmp(energy_coeff_name(ENERGY_COEFF_INV_DIST), "inv_dist") == 0);
}

static void test_zero_at_data_and_invariance(energy_coeff_kind kind) {
  uint64_t st = 7 + (uint64_t)kind;
  double x[N_ATOMS * STRIDE], xh[N_ATOMS * STRIDE], moved[N_ATOMS * STRIDE], perm_x[N_ATOMS * STRIDE],
      perm_xh[N_ATOMS * STRIDE];
  random_molecule(x, N_ATOMS, STRIDE, &st);
  random_molecule(xh, N_ATOMS, STRIDE, &st);
  const double shift[3] = {3.0, -1.25, 0.5};
  double e = energy_loss_molecule(xh, x, N_ATOMS, STRIDE, kind, 1.0);
  CHECK(e > 0);
  CHECK_CLOSE(energy_loss_molecule(x, x, N_ATOMS, STRIDE, kind, 1.0), 0.0, 1e-28, 0);
  for (int reflect = 0; reflect < 2; reflect++) {
    rigid_motion(moved, x, N_ATOMS, STRIDE, reflect, shift); /* the data's rigid image: a minimiser */
    CHECK_CLOSE(energy_loss_molecule(moved, x, N_ATOMS, STRIDE, kind, 1.0), 0.0, 1e-24, 0);
    rigid_motion(moved, xh, N_ATOMS, STRIDE, reflect, shift); /* either argument moved */
    CHECK_CLOSE(energy_loss_molecule(moved, x, N_ATOMS, STRIDE, kind, 1.0), e, 0, 1e-12);
    rigid_motion(moved, x, N_ATOMS, STRIDE, reflect, shift);
    CHECK_CLOSE(energy_loss_molecule(xh, moved, N_ATOMS, STRIDE, kind, 1.0), e, 0, 1e-12);
  }
  for (int i = 0; i < N_ATOMS; i++) { /* the same permutation of both */
    int p = (i * 4 + 3) % N_ATOMS;
    memcpy(perm_x + p * STRIDE, x + i * STRIDE, sizeof(double) * STRIDE);
    memcpy(perm_xh + p * STRIDE, xh + i * STRIDE, sizeof(double) * STRIDE);
  }
  CHECK_CLOSE(energy_loss_molecule(perm_xh, perm_x, N_ATOMS, STRIDE, kind, 1.0), e, 0, 1e-12);
  /* only the first 3 channels of a row are geometry */
  for (int i = 0; i < N_ATOMS; i++) xh[i * STRIDE + 5] += 10.0;
  CHECK(energy_loss_molecule(xh, x, N_ATOMS, STRIDE, kind, 1.0) == e);
  CHECK_CLOSE(energy_loss_molecule(xh, x, N_ATOMS, STRIDE, kind, 3.0), 3.0 * e, 0, 1e-14);
}

static void test_gradient(energy_coeff_kind kind) {
  uint64_t st = 99 + (uint64_t)kind;
  double x[N_ATOMS * STRIDE], xh[N_ATOMS * STRIDE], grad[N_ATOMS * 3] = {0}, fd[N_ATOMS * 3];
  random_molecule(x, N_ATOMS, STRIDE, &st);
  random_molecule(xh, N_ATOMS, STRIDE, &st);
  const double scale = 0.75, h = 1e-6;
  energy_loss_molecule_backward(grad, xh, x, N_ATOMS, STRIDE, kind, 1.3, scale);
  for (int i = 0; i < N_ATOMS; i++)
    for (int a = 0; a < 3; a++) {
      double keep = xh[i * STRIDE + a];
      xh[i * STRIDE + a] = keep + h;
      double ep = energy_loss_molecule(xh, x, N_ATOMS, STRIDE, kind, 1.3);
      xh[i * STRIDE + a] = keep - h;
      double em = energy_loss_molecule(xh, x, N_ATOMS, STRIDE, kind, 1.3);
      xh[i * STRIDE + a] = keep;
      fd[i * 3 + a] = scale * (ep - em) / (2 * h);
    }
  CHECK_ARRAY(grad, fd, N_ATOMS * 3, 1e-8, 1e-6);
  for (int a = 0; a < 3; a++) {
    double s = 0, mag = 0;
    for (int i = 0; i < N_ATOMS; i++) s += grad[i * 3 + a], mag += fabs(grad[i * 3 + a]);
    CHECK_CLOSE(s, 0.0, 1e-13 * mag, 0);
  }
  /* accumulates, does not overwrite */
  double twice[N_ATOMS * 3];
  memcpy(twice, grad, sizeof grad);
  energy_loss_molecule_backward(twice, xh, x, N_ATOMS, STRIDE, kind, 1.3, scale);
  for (int i = 0; i < N_ATOMS * 3; i++) CHECK_CLOSE(twice[i], 2 * grad[i], 1e-15, 1e-14);
}

static void test_coincident_prediction(void) {
  double x[6] = {0, 0, 0, 1, 0, 0}, xh[6] = {0.2, 0.2, 0.2, 0.2, 0.2, 0.2}, g[6] = {0};
  energy_loss_molecule_backward(g, xh, x, 2, 3, ENERGY_COEFF_EXP_DIST, 1.0, 1.0);
  for (int i = 0; i < 6; i++) CHECK(isfinite(g[i]) && g[i] == 0.0);
  CHECK_CLOSE(energy_loss_molecule(xh, x, 2, 3, ENERGY_COEFF_CONSTANT, 2.0), 1.0, 1e-15, 0);
}

int main(void) {
  test_hand_values();
  for (int k = ENERGY_COEFF_CONSTANT; k <= ENERGY_COEFF_EXP_DIST; k++) {
    test_zero_at_data_and_invariance((energy_coeff_kind)k);
    test_gradient((energy_coeff_kind)k);
  }
  test_coincident_prediction();
  return test_main_result("test_energy_loss");
}
