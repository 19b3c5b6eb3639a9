/* test_oracle_lj.c — the "lj" backend against its closed form, finite
 * differences, E(3)/permutation invariance, and the per-molecule flags. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/backends/oracle_lj.h"
#include "tests/testutil.h"

static const elign_oracle_backend *B = &elign_oracle_lj_backend;
static void *state;

static uint64_t rng_state = 12345;
static double uniform(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Evaluate one molecule; returns its status. */
static elign_mol_status eval1(int n, const int32_t *Z, const double *x, double *e, double *f) {
  int64_t off[2] = {0, n};
  elign_oracle_batch b = {.n_mol = 1, .offsets = off, .Z = Z, .pos = x};
  elign_mol_status st;
  elign_oracle_result r = {.energy = e, .forces = f, .status = &st};
  elign_error err;
  CHECK(B->evaluate(state, &b, &r, &err) == ELIGN_OK);
  return st;
}

/* A random "molecule" with all pairs at least 0.9 Å apart. */
static void random_molecule(int n, int32_t *Z, double *x) {
  static const int32_t pool[] = {1, 6, 7, 8, 9, 16, 17};
  for (int i = 0; i < n; i++) {
    Z[i] = pool[(int)(uniform() * 7) % 7];
    for (int tries = 0;; tries++) {
      for (int k = 0; k < 3; k++) x[3 * i + k] = 3.5 * (uniform() - 0.5);
      int ok = 1;
      for (int j = 0; j < i; j++) {
        double d2 = 0;
        for (int k = 0; k < 3; k++) d2 += (x[3 * i + k] - x[3 * j + k]) * (x[3 * i + k] - x[3 * j + k]);
        if (d2 < 0.81) ok = 0;
      }
      if (ok || tries > 1000) break;
    }
  }
}

static void test_pair_closed_form(void) {
  double rc_c, rc_h, eps_c, eps_h;
  CHECK(elign_oracle_lj_params(6, &rc_c, &eps_c) && elign_oracle_lj_params(1, &rc_h, &eps_h));
  /* UFF D_C = 0.105 kcal/mol = 0.004553 eV; independent unit conversion */
  CHECK_CLOSE(eps_c, 0.105 * 4.184 / 96.4853321, 1e-12, 1e-9);
  int32_t Z[2] = {6, 1};
  double rm = rc_c + rc_h, eps = sqrt(eps_c * eps_h);
  double e, f[6];
  double x[6] = {0, 0, 0, rm, 0, 0};
  CHECK(eval1(2, Z, x, &e, f) == ELIGN_MOL_OK);
  CHECK_CLOSE(e, -eps, 1e-15, 1e-12); /* the minimum: depth eps, zero force */
  CHECK_CLOSE(f[0], 0.0, 1e-12, 0);
  x[3] = rm / pow(2.0, 1.0 / 6.0); /* sigma: zero energy */
  CHECK(eval1(2, Z, x, &e, f) == ELIGN_MOL_OK);
  CHECK_CLOSE(e, 0.0, 1e-15, 0);
  x[3] = 1.4; /* hand formula with pow(), and Newton's third law */
  CHECK(eval1(2, Z, x, &e, f) == ELIGN_MOL_OK);
  CHECK_CLOSE(e, eps * (pow(rm / 1.4, 12) - 2 * pow(rm / 1.4, 6)), 1e-15, 1e-12);
  double dEdr = eps * (-12 * pow(rm, 12) / pow(1.4, 13) + 12 * pow(rm, 6) / pow(1.4, 7));
  CHECK_CLOSE(f[3], -dEdr, 1e-14, 1e-12);
  CHECK_CLOSE(f[0], dEdr, 1e-14, 1e-12);
}

static void test_forces_are_minus_fd_gradient(void) {
  enum { N = 9 };
  int32_t Z[N];
  double x[3 * N], f[3 * N], fd[3 * N], e;
  random_molecule(N, Z, x);
  CHECK(eval1(N, Z, x, &e, f) == ELIGN_MOL_OK);
  const double h = 1e-5;
  for (int i = 0; i < 3 * N; i++) {
    double keep = x[i], ep, em, dummy[3 * N];
    x[i] = keep + h;
    eval1(N, Z, x, &ep, dummy);
    x[i] = keep - h;
    eval1(N, Z, x, &em, dummy);
    x[i] = keep;
    fd[i] = -(ep - em) / (2 * h);
  }
  double fmax = 0;
  for (int i = 0; i < 3 * N; i++) fmax = fmax > fabs(f[i]) ? fmax : fabs(f[i]);
  CHECK(fmax > 1e-3); /* the check is not vacuous */
  CHECK_ARRAY(f, fd, 3 * N, 1e-6 * fmax, 1e-6);
}

static void test_invariance(void) {
  enum { N = 8 };
  int32_t Z[N], Zp[N];
  double x[3 * N], y[3 * N], f[3 * N], g[3 * N], e, e2;
  random_molecule(N, Z, x);
  CHECK(eval1(N, Z, x, &e, f) == ELIGN_MOL_OK);
  /* rotation (Rodrigues, random axis/angle) + reflection (z → −z) + translation */
  double ax[3] = {uniform() - 0.5, uniform() - 0.5, uniform() - 0.5}, an = 0;
  for (int k = 0; k < 3; k++) an += ax[k] * ax[k];
  an = sqrt(an);
  for (int k = 0; k < 3; k++) ax[k] /= an;
  double th = 2.1, c = cos(th), s = sin(th), R[3][3];
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++) R[a][b] = (a == b ? c : 0) + (1 - c) * ax[a] * ax[b];
  R[0][1] -= s * ax[2]; R[0][2] += s * ax[1];
  R[1][0] += s * ax[2]; R[1][2] -= s * ax[0];
  R[2][0] -= s * ax[1]; R[2][1] += s * ax[0];
  for (int b = 0; b < 3; b++) R[2][b] = -R[2][b]; /* reflect: improper orthogonal map */
  double t[3] = {10.0, -3.0, 7.5};
  for (int i = 0; i < N; i++)
    for (int a = 0; a < 3; a++) {
      y[3 * i + a] = t[a];
      for (int b = 0; b < 3; b++) y[3 * i + a] += R[a][b] * x[3 * i + b];
    }
  CHECK(eval1(N, Z, y, &e2, g) == ELIGN_MOL_OK);
  CHECK_CLOSE(e2, e, 1e-12, 1e-10);
  double Rf[3 * N];
  for (int i = 0; i < N; i++)
    for (int a = 0; a < 3; a++) {
      Rf[3 * i + a] = 0;
      for (int b = 0; b < 3; b++) Rf[3 * i + a] += R[a][b] * f[3 * i + b];
    }
  CHECK_ARRAY(g, Rf, 3 * N, 1e-10, 1e-9);
  /* permutation: reverse the atom order */
  for (int i = 0; i < N; i++) {
    Zp[i] = Z[N - 1 - i];
    memcpy(y + 3 * i, x + 3 * (N - 1 - i), 3 * sizeof(double));
  }
  CHECK(eval1(N, Zp, y, &e2, g) == ELIGN_MOL_OK);
  CHECK_CLOSE(e2, e, 1e-12, 1e-10);
  double fp[3 * N];
  for (int i = 0; i < N; i++) memcpy(fp + 3 * i, f + 3 * (N - 1 - i), 3 * sizeof(double));
  CHECK_ARRAY(g, fp, 3 * N, 1e-10, 1e-9);
}

/* A batch mixing good and bad molecules: the bad are flagged with zero
 * energy/forces, the good equal their single evaluation bit for bit. */
static void test_flags_in_batch(void) {
  enum { M = 6, NA = 4 };
  int32_t Z[M * NA];
  double x[3 * M * NA];
  int64_t off[M + 1] = {0, 4, 8, 12, 16, 16, 20}; /* molecule 4 is empty */
  for (int m = 0; m < M; m++) random_molecule(NA, Z + NA * m, x + 3 * NA * m);
  x[3 * 4 + 1] = NAN;                                   /* molecule 1: NaN */
  memcpy(x + 3 * 9, x + 3 * 8, 3 * sizeof(double));    /* molecule 2: atoms 8 and 9 coincide */
  x[3 * 9] += 0.1;
  Z[13] = 26;                                           /* molecule 3: iron, not in the table */
  double e[M], f[3 * M * NA];
  elign_mol_status st[M];
  elign_oracle_batch b = {.n_mol = M, .offsets = off, .Z = Z, .pos = x};
  elign_oracle_result r = {.energy = e, .forces = f, .status = st};
  elign_error err;
  for (int i = 0; i < 3 * M * NA; i++) f[i] = 99.0; /* must be overwritten */
  CHECK(B->evaluate(state, &b, &r, &err) == ELIGN_OK);
  CHECK(st[0] == ELIGN_MOL_OK);
  CHECK(st[1] == ELIGN_MOL_NONFINITE_INPUT);
  CHECK(st[2] == ELIGN_MOL_OVERLAP);
  CHECK(st[3] == ELIGN_MOL_UNSUPPORTED_ELEMENT);
  CHECK(st[4] == ELIGN_MOL_EMPTY);
  CHECK(st[5] == ELIGN_MOL_OK);
  for (int m = 1; m <= 3; m++) {
    CHECK(e[m] == 0.0);
    for (int i = 3 * (int)off[m]; i < 3 * (int)off[m + 1]; i++) CHECK(f[i] == 0.0);
  }
  for (int m = 0; m < M; m += 5) {
    double e1, f1[3 * NA];
    eval1(NA, Z + off[m], x + 3 * off[m], &e1, f1);
    CHECK(e1 == e[m] && memcmp(f1, f + 3 * off[m], sizeof f1) == 0);
  }
  /* forces not wanted: NULL is allowed */
  r.forces = NULL;
  CHECK(B->evaluate(state, &b, &r, &err) == ELIGN_OK && st[0] == ELIGN_MOL_OK);
  CHECK(B->supports(state, 6) && B->supports(state, 35) && !B->supports(state, 26) && !B->supports(state, 0));
}

int main(void) {
  elign_oracle_options opt = {0};
  elign_error err;
  CHECK(strcmp(B->name, "lj") == 0);
  CHECK(B->create(&opt, &state, &err) == ELIGN_OK);
  test_pair_closed_form();
  test_forces_are_minus_fd_gradient();
  test_invariance();
  test_flags_in_batch();
  B->destroy(state);
  return test_main_result("test_oracle_lj");
}
