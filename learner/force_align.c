/* force_align.c — the force-alignment regularizer (ALGORITHMS.md §4.13),
 * forward and backward side by side. */
#include "learner/force_align.h"

#include <math.h>
#include <string.h>

static double norm3(const double *v) { return sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }

static void delta_mu(double *d, const elign_real *mu, const elign_real *mu_old) {
  for (int c = 0; c < 3; c++) d[c] = (double)mu[c] - (double)mu_old[c];
}

int grpo_force_align_atom_qualifies(const elign_real *mu, const elign_real *mu_old, const double *F,
                                    const grpo_force_align_settings *fs) {
  double d[3];
  delta_mu(d, mu, mu_old);
  return norm3(F) > fs->min_force && norm3(d) > fs->min_delta;
}

int64_t grpo_force_align_count(const elign_real *mu, const elign_real *mu_old, const double *F, int64_t n_atoms, int D,
                               const grpo_force_align_settings *fs) {
  int64_t n = 0;
  for (int64_t i = 0; i < n_atoms; i++)
    n += grpo_force_align_atom_qualifies(mu + i * D, mu_old + i * D, F + 3 * i, fs);
  return n;
}

void grpo_force_align_step(grpo_force_align_result *r, elign_real *d_mu, const elign_real *mu,
                           const elign_real *mu_old, const double *F, int64_t n_atoms, int D,
                           const grpo_force_align_settings *fs, double dS) {
  memset(r, 0, sizeof *r);
  for (int64_t i = 0; i < n_atoms; i++) {
    const double *f = F + 3 * i;
    double d[3];
    delta_mu(d, mu + i * D, mu_old + i * D);
    double nf = norm3(f), nd = norm3(d);
    if (!(nf > fs->min_force && nd > fs->min_delta)) continue;
    /* cos = u·Δ / (‖Δ‖ + ε), u = F / (‖F‖ + ε) a constant */
    double u[3], dot = 0.0;
    for (int c = 0; c < 3; c++) {
      u[c] = f[c] / (nf + GRPO_FORCE_ALIGN_EPS);
      dot += u[c] * d[c];
    }
    double den = nd + GRPO_FORCE_ALIGN_EPS;
    double raw = dot / den;
    double cosv = raw < -1.0 ? -1.0 : (raw > 1.0 ? 1.0 : raw);
    r->count++;
    r->sum_one_minus_cos += 1.0 - cosv;
    r->sum_cos += cosv;
    if (!d_mu || raw < -1.0 || raw > 1.0) continue;
    /* ∂cos/∂Δ = u/den − dot · Δ / (den² ‖Δ‖); the loss term is −cos */
    elign_real *g = d_mu + i * D;
    for (int c = 0; c < 3; c++) {
      double dcos = u[c] / den - dot * d[c] / (den * den * nd);
      g[c] += (elign_real)(-dS * dcos);
    }
  }
}
