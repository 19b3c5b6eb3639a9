/* geomopt.c — L-BFGS and FIRE with reverse communication (see geomopt.h). */
#include "common/chem/geomopt.h"

#include <math.h>
#include <string.h>

#include "common/base/error.h"

struct elign_geomopt {
  elign_geomopt_options o;
  int64_t n, dim;     /* atoms, 3n */
  double *x;          /* [dim] the point handed out for evaluation */
  int evaluations;    /* feeds so far */
  elign_geomopt_result done;
  /* the accepted point: L-BFGS's current iterate, FIRE's last point */
  int have_acc;
  double *x_acc, *f_acc, e_acc;
  /* L-BFGS: ring of (s, y) pairs */
  double *s, *y, *rho, *alpha_tmp, *d;
  int hist_n, hist_head;
  /* FIRE */
  double *v;
  double dt, a;
  int n_pos;
};

int elign_geomopt_method_parse(const char *name) {
  if (strcmp(name, "lbfgs") == 0) return ELIGN_GEOMOPT_LBFGS;
  if (strcmp(name, "fire") == 0) return ELIGN_GEOMOPT_FIRE;
  return -1;
}

const char *elign_geomopt_method_name(elign_geomopt_method m) { return m == ELIGN_GEOMOPT_FIRE ? "fire" : "lbfgs"; }

void elign_geomopt_options_default(elign_geomopt_options *o, elign_geomopt_method method) {
  memset(o, 0, sizeof *o);
  o->method = method;
  o->fmax = 0.03;
  o->max_steps = 500;
  o->max_step = 0.2;
  o->memory = 20;
  o->alpha = 70.0;
  o->energy_tol = 1e-4;
  o->dt = 0.1;
  o->dt_max = 1.0;
  o->n_min = 5;
  o->f_inc = 1.1;
  o->f_dec = 0.5;
  o->a_start = 0.1;
  o->f_a = 0.99;
}

double elign_forces_max(const double *f, int64_t n) {
  double m2 = 0;
  for (int64_t i = 0; i < n; i++) {
    double f2 = f[3 * i] * f[3 * i] + f[3 * i + 1] * f[3 * i + 1] + f[3 * i + 2] * f[3 * i + 2];
    if (f2 > m2) m2 = f2;
  }
  return sqrt(m2);
}

double elign_forces_rms(const double *f, int64_t n) {
  if (n <= 0) return 0.0;
  double s = 0;
  for (int64_t k = 0; k < 3 * n; k++) s += f[k] * f[k];
  return sqrt(s / (double)n);
}

static double dot(const double *a, const double *b, int64_t dim) {
  double s = 0;
  for (int64_t k = 0; k < dim; k++) s += a[k] * b[k];
  return s;
}

/* Scale step d [dim] so that no atom moves more than max_step. */
static void cap_step(double *d, int64_t n, double max_step) {
  double m = elign_forces_max(d, n); /* the same norm: largest per-atom length */
  if (m > max_step && m > 0)
    for (int64_t k = 0; k < 3 * n; k++) d[k] *= max_step / m;
}

elign_geomopt *elign_geomopt_new(const elign_geomopt_options *o, int64_t n, const double *x0) {
  elign_geomopt *g = elign_calloc(1, sizeof *g, "geomopt");
  g->o = *o;
  if (g->o.memory < 1) g->o.memory = 1;
  g->n = n;
  g->dim = 3 * n;
  size_t dim = (size_t)(g->dim > 0 ? g->dim : 1), m = (size_t)g->o.memory;
  g->x = elign_malloc(dim * sizeof(double), "geomopt:x");
  memcpy(g->x, x0, (size_t)g->dim * sizeof(double));
  g->x_acc = elign_calloc(dim, sizeof(double), "geomopt:x_acc");
  g->f_acc = elign_calloc(dim, sizeof(double), "geomopt:f_acc");
  g->d = elign_calloc(dim, sizeof(double), "geomopt:d");
  if (o->method == ELIGN_GEOMOPT_LBFGS) {
    g->s = elign_calloc(m * dim, sizeof(double), "geomopt:s");
    g->y = elign_calloc(m * dim, sizeof(double), "geomopt:y");
    g->rho = elign_calloc(m, sizeof(double), "geomopt:rho");
    g->alpha_tmp = elign_calloc(m, sizeof(double), "geomopt:alpha");
  } else {
    g->v = elign_calloc(dim, sizeof(double), "geomopt:v");
    g->dt = o->dt;
    g->a = o->a_start;
  }
  return g;
}

void elign_geomopt_free(elign_geomopt **gp) {
  if (!gp || !*gp) return;
  elign_geomopt *g = *gp;
  elign_free(g->x);
  elign_free(g->x_acc);
  elign_free(g->f_acc);
  elign_free(g->d);
  elign_free(g->s);
  elign_free(g->y);
  elign_free(g->rho);
  elign_free(g->alpha_tmp);
  elign_free(g->v);
  elign_free(g);
  *gp = NULL;
}

const double *elign_geomopt_x(const elign_geomopt *g) { return g->x; }
const double *elign_geomopt_final_x(const elign_geomopt *g) { return g->x_acc; }
double elign_geomopt_final_energy(const elign_geomopt *g) { return g->e_acc; }
double elign_geomopt_final_fmax(const elign_geomopt *g) { return elign_forces_max(g->f_acc, g->n); }
double elign_geomopt_final_frms(const elign_geomopt *g) { return elign_forces_rms(g->f_acc, g->n); }
int elign_geomopt_steps(const elign_geomopt *g) { return g->evaluations > 0 ? g->evaluations - 1 : 0; }

static void accept(elign_geomopt *g, double energy, const double *forces) {
  memcpy(g->x_acc, g->x, (size_t)g->dim * sizeof(double));
  memcpy(g->f_acc, forces, (size_t)g->dim * sizeof(double));
  g->e_acc = energy;
  g->have_acc = 1;
}

/* ---- L-BFGS -------------------------------------------------------------- */

/* Store s = x − x_acc, y = g − g_acc = −(F − F_acc) when sᵀy > 0 (else
 * the pair carries no usable curvature and is skipped). */
static void lbfgs_push(elign_geomopt *g, const double *forces) {
  int64_t dim = g->dim;
  double sy = 0, ss = 0, yy = 0;
  for (int64_t k = 0; k < dim; k++) {
    double sk = g->x[k] - g->x_acc[k], yk = -(forces[k] - g->f_acc[k]);
    sy += sk * yk;
    ss += sk * sk;
    yy += yk * yk;
  }
  if (!(sy > 1e-12 * sqrt(ss * yy))) return;
  int slot;
  if (g->hist_n == g->o.memory) { /* full: overwrite the oldest */
    slot = g->hist_head;
    g->hist_head = (g->hist_head + 1) % g->o.memory;
  } else {
    slot = (g->hist_head + g->hist_n) % g->o.memory;
    g->hist_n++;
  }
  double *s = g->s + (size_t)slot * dim, *y = g->y + (size_t)slot * dim;
  for (int64_t k = 0; k < dim; k++) {
    s[k] = g->x[k] - g->x_acc[k];
    y[k] = -(forces[k] - g->f_acc[k]);
  }
  g->rho[slot] = 1.0 / sy;
}

/* d = −H g_acc by the two-loop recursion (g = −F_acc). */
static void lbfgs_direction(elign_geomopt *g) {
  int64_t dim = g->dim;
  int m = g->o.memory;
  double *q = g->d;
  for (int64_t k = 0; k < dim; k++) q[k] = -g->f_acc[k]; /* gradient */
  for (int j = g->hist_n - 1; j >= 0; j--) {
    int slot = (g->hist_head + j) % m;
    const double *s = g->s + (size_t)slot * dim, *y = g->y + (size_t)slot * dim;
    double a = g->rho[slot] * dot(s, q, dim);
    g->alpha_tmp[slot] = a;
    for (int64_t k = 0; k < dim; k++) q[k] -= a * y[k];
  }
  double gamma = 1.0 / g->o.alpha;
  if (g->hist_n > 0) {
    int newest = (g->hist_head + g->hist_n - 1) % m;
    const double *y = g->y + (size_t)newest * dim;
    gamma = 1.0 / (g->rho[newest] * dot(y, y, dim));
  }
  for (int64_t k = 0; k < dim; k++) q[k] *= gamma;
  for (int j = 0; j < g->hist_n; j++) {
    int slot = (g->hist_head + j) % m;
    const double *s = g->s + (size_t)slot * dim, *y = g->y + (size_t)slot * dim;
    double b = g->rho[slot] * dot(y, q, dim);
    for (int64_t k = 0; k < dim; k++) q[k] += (g->alpha_tmp[slot] - b) * s[k];
  }
  for (int64_t k = 0; k < dim; k++) q[k] = -q[k];
  if (dot(q, g->f_acc, dim) <= 0) { /* not downhill: forget the history */
    g->hist_n = 0;
    for (int64_t k = 0; k < dim; k++) q[k] = g->f_acc[k] / g->o.alpha;
  }
  cap_step(q, g->n, g->o.max_step);
}

static void lbfgs_feed(elign_geomopt *g, double energy, const double *forces) {
  int64_t dim = g->dim;
  if (g->have_acc && energy > g->e_acc + g->o.energy_tol) {
    /* rejected: halve the step from the accepted point along the same line */
    for (int64_t k = 0; k < dim; k++) g->d[k] = 0.5 * (g->x[k] - g->x_acc[k]);
    if (elign_forces_max(g->d, g->n) > 1e-6) {
      for (int64_t k = 0; k < dim; k++) g->x[k] = g->x_acc[k] + g->d[k];
      return;
    }
    g->hist_n = 0; /* the line is exhausted: take the point, restart the model */
  } else if (g->have_acc) {
    lbfgs_push(g, forces);
  }
  accept(g, energy, forces);
  lbfgs_direction(g);
  for (int64_t k = 0; k < dim; k++) g->x[k] = g->x_acc[k] + g->d[k];
}

/* ---- FIRE ---------------------------------------------------------------- */

static void fire_feed(elign_geomopt *g, double energy, const double *forces) {
  int64_t dim = g->dim;
  const elign_geomopt_options *o = &g->o;
  if (g->have_acc) { /* not the first point: mix or stop */
    double power = dot(forces, g->v, dim);
    if (power > 0) {
      double vn = sqrt(dot(g->v, g->v, dim)), fn = sqrt(dot(forces, forces, dim));
      for (int64_t k = 0; k < dim; k++) g->v[k] = (1 - g->a) * g->v[k] + (fn > 0 ? g->a * vn * forces[k] / fn : 0);
      if (g->n_pos > o->n_min) {
        g->dt = fmin(g->dt * o->f_inc, o->dt_max);
        g->a *= o->f_a;
      }
      g->n_pos++;
    } else {
      memset(g->v, 0, (size_t)dim * sizeof(double));
      g->a = o->a_start;
      g->dt *= o->f_dec;
      g->n_pos = 0;
    }
  }
  accept(g, energy, forces);
  for (int64_t k = 0; k < dim; k++) {
    g->v[k] += g->dt * forces[k];
    g->d[k] = g->dt * g->v[k];
  }
  cap_step(g->d, g->n, o->max_step);
  for (int64_t k = 0; k < dim; k++) g->x[k] = g->x_acc[k] + g->d[k];
}

/* ---- the common loop ----------------------------------------------------- */

elign_geomopt_result elign_geomopt_feed(elign_geomopt *g, double energy, const double *forces) {
  ELIGN_ASSERT(g->done == ELIGN_GEOMOPT_CONTINUE);
  g->evaluations++;
  if (elign_forces_max(forces, g->n) < g->o.fmax) { /* this point is the answer, whatever came before */
    accept(g, energy, forces);
    return g->done = ELIGN_GEOMOPT_CONVERGED;
  }
  if (g->evaluations - 1 >= g->o.max_steps) {
    if (!g->have_acc || g->o.method == ELIGN_GEOMOPT_FIRE || energy <= g->e_acc + g->o.energy_tol)
      accept(g, energy, forces);
    return g->done = ELIGN_GEOMOPT_MAX_STEPS;
  }
  if (g->o.method == ELIGN_GEOMOPT_FIRE)
    fire_feed(g, energy, forces);
  else
    lbfgs_feed(g, energy, forces);
  return ELIGN_GEOMOPT_CONTINUE;
}

elign_geomopt_result elign_geomopt_reject(elign_geomopt *g) {
  ELIGN_ASSERT(g->done == ELIGN_GEOMOPT_CONTINUE);
  g->evaluations++;
  if (!g->have_acc) return g->done = ELIGN_GEOMOPT_STUCK;
  if (g->evaluations - 1 >= g->o.max_steps) return g->done = ELIGN_GEOMOPT_MAX_STEPS;
  for (int64_t k = 0; k < g->dim; k++) g->d[k] = 0.5 * (g->x[k] - g->x_acc[k]);
  if (elign_forces_max(g->d, g->n) < 1e-6) return g->done = ELIGN_GEOMOPT_STUCK;
  if (g->o.method == ELIGN_GEOMOPT_FIRE) {
    memset(g->v, 0, (size_t)g->dim * sizeof(double));
    g->a = g->o.a_start;
    g->dt *= g->o.f_dec;
    g->n_pos = 0;
  }
  for (int64_t k = 0; k < g->dim; k++) g->x[k] = g->x_acc[k] + g->d[k];
  return ELIGN_GEOMOPT_CONTINUE;
}
