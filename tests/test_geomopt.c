/* test_geomopt.c — L-BFGS and FIRE (common/chem/geomopt.h) on surfaces whose
 * minimum is known: an anisotropic quadratic bowl, the Rosenbrock valley,
 * the Lennard-Jones dimer of the "lj" oracle (minimum at the sum of the
 * covalent radii, depth eps) and a small LJ cluster (rotated copies must
 * relax to rotated results in the same number of steps).
 * Also: the step cap, max_steps, a converged start, the L-BFGS line search
 * never accepting a rise, and the force helpers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/chem/geomopt.h"
#include "oracle/backends/oracle_lj.h"
#include "testutil.h"

/* Energy and forces at x; 0 if the point cannot be evaluated (atoms too close). */
typedef int (*surface_fn)(const double *x, int64_t n, double *e, double *f);

/* E = Σ_k k_k (x_k − c_k)² / 2 with stiffness 1..30 eV/Å² */
static int bowl(const double *x, int64_t n, double *e, double *f) {
  *e = 0;
  for (int64_t k = 0; k < 3 * n; k++) {
    double kk = 1.0 + (double)(k % 7) * 29.0 / 6.0, c = 0.1 * (double)k;
    *e += 0.5 * kk * (x[k] - c) * (x[k] - c);
    f[k] = -kk * (x[k] - c);
  }
  return 1;
}

/* Rosenbrock in (x, y) plus z² on one atom: minimum 0 at (1, 1, 0). */
static int rosenbrock(const double *x, int64_t n, double *e, double *f) {
  (void)n;
  double a = x[0], b = x[1], c = x[2];
  *e = (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a) + c * c;
  f[0] = 2 * (1 - a) + 400 * a * (b - a * a);
  f[1] = -200 * (b - a * a);
  f[2] = -2 * c;
  return 1;
}

static void *lj_state;
static const int32_t *lj_Z;
static int lj(const double *x, int64_t n, double *e, double *f) {
  int64_t off[2] = {0, n};
  elign_oracle_batch b = {.n_mol = 1, .offsets = off, .Z = lj_Z, .pos = x};
  elign_mol_status st;
  elign_oracle_result r = {.energy = e, .forces = f, .status = &st};
  elign_error err;
  CHECK(elign_oracle_lj_backend.evaluate(lj_state, &b, &r, &err) == ELIGN_OK);
  return st == ELIGN_MOL_OK;
}

typedef struct {
  elign_geomopt_result result;
  int steps;
  double e, fmax, max_move;
  double x[3 * 16];
  int energy_rose; /* the accepted energy went up (L-BFGS must never do that) */
  int rejected;    /* points the surface could not evaluate */
} run_out;

static run_out run(surface_fn fn, const elign_geomopt_options *o, int64_t n, const double *x0) {
  run_out out;
  memset(&out, 0, sizeof out);
  elign_geomopt *g = elign_geomopt_new(o, n, x0);
  double e, f[3 * 16], prev[3 * 16], last_acc = INFINITY;
  memcpy(prev, x0, (size_t)(3 * n) * sizeof(double));
  for (;;) {
    const double *x = elign_geomopt_x(g);
    for (int64_t i = 0; i < n; i++) { /* no atom moves further than the cap */
      double d2 = 0;
      for (int a = 0; a < 3; a++) d2 += (x[3 * i + a] - prev[3 * i + a]) * (x[3 * i + a] - prev[3 * i + a]);
      out.max_move = fmax(out.max_move, sqrt(d2));
    }
    memcpy(prev, x, (size_t)(3 * n) * sizeof(double));
    if (fn(x, n, &e, f)) {
      out.result = elign_geomopt_feed(g, e, f);
    } else {
      out.rejected++;
      out.result = elign_geomopt_reject(g);
    }
    if (out.result != ELIGN_GEOMOPT_CONTINUE) break;
    double acc = elign_geomopt_final_energy(g);
    if (acc > last_acc + o->energy_tol) out.energy_rose = 1;
    last_acc = acc;
  }
  out.steps = elign_geomopt_steps(g);
  out.e = elign_geomopt_final_energy(g);
  out.fmax = elign_geomopt_final_fmax(g);
  memcpy(out.x, elign_geomopt_final_x(g), (size_t)(3 * n) * sizeof(double));
  elign_geomopt_free(&g);
  CHECK(g == NULL);
  return out;
}

static void test_bowl(void) {
  double x0[12];
  for (int k = 0; k < 12; k++) x0[k] = 0.3 * sin(1.7 * k) + 0.1 * k;
  for (int m = 0; m < 2; m++) {
    elign_geomopt_options o;
    elign_geomopt_options_default(&o, (elign_geomopt_method)m);
    o.fmax = 1e-6;
    o.max_steps = 5000;
    run_out r = run(bowl, &o, 4, x0);
    double worst = 0;
    for (int k = 0; k < 12; k++) worst = fmax(worst, fabs(r.x[k] - 0.1 * k));
    printf("bowl, %s: %s in %d steps, |x - x*| %.2g Å, E %.3g\n", elign_geomopt_method_name(o.method),
           r.result == ELIGN_GEOMOPT_CONVERGED ? "converged" : "NOT converged", r.steps, worst, r.e);
    CHECK(r.result == ELIGN_GEOMOPT_CONVERGED);
    CHECK(r.fmax < 1e-6);
    CHECK(worst < 1e-6);
    CHECK(r.max_move <= o.max_step + 1e-12);
    if (m == ELIGN_GEOMOPT_LBFGS) CHECK(!r.energy_rose);
  }
}

static void test_rosenbrock(void) {
  double x0[3] = {-1.2, 1.0, 0.5};
  int steps[2];
  for (int m = 0; m < 2; m++) {
    elign_geomopt_options o;
    elign_geomopt_options_default(&o, (elign_geomopt_method)m);
    o.fmax = 1e-5;
    o.max_steps = 20000;
    o.energy_tol = 0;
    run_out r = run(rosenbrock, &o, 1, x0);
    printf("rosenbrock, %s: %s in %d steps at (%.6f, %.6f, %.2g)\n", elign_geomopt_method_name(o.method),
           r.result == ELIGN_GEOMOPT_CONVERGED ? "converged" : "NOT converged", r.steps, r.x[0], r.x[1], r.x[2]);
    CHECK(r.result == ELIGN_GEOMOPT_CONVERGED);
    CHECK(fabs(r.x[0] - 1) < 1e-4 && fabs(r.x[1] - 1) < 1e-4 && fabs(r.x[2]) < 1e-5);
    CHECK(r.max_move <= o.max_step + 1e-12);
    if (m == ELIGN_GEOMOPT_LBFGS) CHECK(!r.energy_rose);
    steps[m] = r.steps;
  }
  CHECK(steps[ELIGN_GEOMOPT_LBFGS] < steps[ELIGN_GEOMOPT_FIRE]);
}

static void test_lj_dimer(void) {
  double rc, eps;
  CHECK(elign_oracle_lj_params(6, &rc, &eps));
  static const int32_t Z[2] = {6, 6};
  lj_Z = Z;
  for (int m = 0; m < 2; m++) {
    double x0[6] = {0, 0, 0, 1.1, 0.2, -0.1}; /* compressed: 1.12 Å against rm = 1.52 Å */
    elign_geomopt_options o;
    elign_geomopt_options_default(&o, (elign_geomopt_method)m);
    o.fmax = 1e-7;
    o.max_steps = 2000;
    run_out r = run(lj, &o, 2, x0);
    double d = sqrt(pow(r.x[3] - r.x[0], 2) + pow(r.x[4] - r.x[1], 2) + pow(r.x[5] - r.x[2], 2));
    printf("LJ C2, %s: %d steps, d = %.8f Å (rm %.2f), E = %.10f eV (-eps %.10f)\n",
           elign_geomopt_method_name(o.method), r.steps, d, 2 * rc, r.e, -eps);
    CHECK(r.result == ELIGN_GEOMOPT_CONVERGED);
    CHECK_CLOSE(d, 2 * rc, 1e-5, 0);
    CHECK_CLOSE(r.e, -eps, 1e-10, 0);
    CHECK(r.max_move <= o.max_step + 1e-12);
  }
}

/* A 7-atom LJ cluster and rotated + translated copies of its start. */
static void test_lj_cluster_equivariance(void) {
  static const int32_t Z[7] = {6, 6, 8, 7, 1, 1, 6};
  lj_Z = Z;
  double x0[21], x1[21];
  for (int k = 0; k < 21; k++) x0[k] = 1.6 * sin(2.3 * k + 0.4) + 0.4 * (k % 3);
  double c = cos(0.7), s = sin(0.7), t[3] = {3, -1, 2};
  for (int i = 0; i < 7; i++) { /* rotation about z, then a shift */
    x1[3 * i] = c * x0[3 * i] - s * x0[3 * i + 1] + t[0];
    x1[3 * i + 1] = s * x0[3 * i] + c * x0[3 * i + 1] + t[1];
    x1[3 * i + 2] = x0[3 * i + 2] + t[2];
  }
  for (int m = 0; m < 2; m++) {
    elign_geomopt_options o;
    elign_geomopt_options_default(&o, (elign_geomopt_method)m);
    o.fmax = 1e-4;
    o.max_steps = 3000;
    run_out a = run(lj, &o, 7, x0), b = run(lj, &o, 7, x1);
    double worst = 0;
    for (int i = 0; i < 7; i++) {
      double want[3] = {c * a.x[3 * i] - s * a.x[3 * i + 1] + t[0], s * a.x[3 * i] + c * a.x[3 * i + 1] + t[1],
                        a.x[3 * i + 2] + t[2]};
      for (int d = 0; d < 3; d++) worst = fmax(worst, fabs(want[d] - b.x[3 * i + d]));
    }
    printf("LJ cluster, %s: %d / %d steps (%d rejected), E %.8f / %.8f eV, max |R x_a - x_b| %.2g Å\n",
           elign_geomopt_method_name(o.method), a.steps, b.steps, a.rejected, a.e, b.e, worst);
    CHECK(a.result == ELIGN_GEOMOPT_CONVERGED && b.result == ELIGN_GEOMOPT_CONVERGED);
    CHECK(a.steps == b.steps);
    CHECK(worst < 1e-7);
    CHECK_CLOSE(a.e, b.e, 1e-12, 1e-10);
  }
}

static void test_limits(void) {
  double x0[6] = {0, 0, 0, 1.1, 0, 0};
  static const int32_t Z[2] = {6, 6};
  lj_Z = Z;
  elign_geomopt_options o;
  elign_geomopt_options_default(&o, ELIGN_GEOMOPT_LBFGS);
  o.fmax = 1e-9;
  o.max_steps = 3;
  run_out r = run(lj, &o, 2, x0);
  CHECK(r.result == ELIGN_GEOMOPT_MAX_STEPS);
  CHECK(r.steps == 3);
  o.max_steps = 0; /* only the starting point */
  r = run(lj, &o, 2, x0);
  CHECK(r.result == ELIGN_GEOMOPT_MAX_STEPS && r.steps == 0);
  CHECK(r.x[3] == 1.1);
  /* a converged start: no step at all */
  double rc;
  elign_oracle_lj_params(6, &rc, NULL);
  double xm[6] = {0, 0, 0, 2 * rc, 0, 0};
  o.fmax = 0.03;
  o.max_steps = 100;
  r = run(lj, &o, 2, xm);
  CHECK(r.result == ELIGN_GEOMOPT_CONVERGED && r.steps == 0);
  /* a tight step cap is honoured by both methods */
  for (int m = 0; m < 2; m++) {
    elign_geomopt_options_default(&o, (elign_geomopt_method)m);
    o.max_step = 0.01;
    o.fmax = 1e-5;
    o.max_steps = 1000;
    double xc[6] = {0, 0, 0, 1.1, 0, 0};
    r = run(lj, &o, 2, xc);
    CHECK(r.result == ELIGN_GEOMOPT_CONVERGED);
    CHECK(r.max_move <= 0.01 + 1e-12);
    CHECK(r.steps >= 20); /* 0.42 Å to go at most 0.01 Å per atom and step */
  }
  /* a lone atom: no force, converged at once */
  double one[3] = {1, 2, 3};
  static const int32_t Z1[1] = {8};
  lj_Z = Z1;
  r = run(lj, &o, 1, one);
  CHECK(r.result == ELIGN_GEOMOPT_CONVERGED && r.steps == 0 && r.e == 0);
}

static void test_force_helpers(void) {
  double f[6] = {3, 4, 0, 0, 0, 1};
  CHECK_CLOSE(elign_forces_max(f, 2), 5.0, 1e-15, 0);
  CHECK_CLOSE(elign_forces_rms(f, 2), sqrt(26.0 / 2.0), 1e-15, 0);
  CHECK(elign_forces_rms(f, 0) == 0 && elign_forces_max(f, 0) == 0);
  CHECK(elign_geomopt_method_parse("fire") == ELIGN_GEOMOPT_FIRE);
  CHECK(elign_geomopt_method_parse("lbfgs") == ELIGN_GEOMOPT_LBFGS);
  CHECK(elign_geomopt_method_parse("bfgs") == -1);
}

int main(void) {
  elign_oracle_options opt;
  elign_oracle_options_init(&opt);
  elign_error err;
  CHECK(elign_oracle_lj_backend.create(&opt, &lj_state, &err) == ELIGN_OK);
  test_force_helpers();
  test_bowl();
  test_rosenbrock();
  test_lj_dimer();
  test_lj_cluster_equivariance();
  test_limits();
  elign_oracle_lj_backend.destroy(lj_state);
  return test_main_result("test_geomopt");
}
