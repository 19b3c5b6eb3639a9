/* energy_loss.c — pairwise-distance energy loss and its gradient (see the header). */
#include "common/model/energy_loss.h"

#include <math.h>
#include <string.h>

static const char *const COEFF_NAMES[] = {"constant", "inv_dist", "inv_dist2", "exp_dist"};

int energy_coeff_from_name(const char *name) {
  for (int k = 0; k < (int)(sizeof COEFF_NAMES / sizeof *COEFF_NAMES); k++)
    if (name && strcmp(name, COEFF_NAMES[k]) == 0) return k;
  return -1;
}

const char *energy_coeff_name(energy_coeff_kind kind) { return COEFF_NAMES[kind]; }

/* The constants are the ones the paper's EDM runs used (SEEDS_NOTES §3(a)). */
double energy_coeff_g(energy_coeff_kind kind, double d) {
  switch (kind) {
  case ENERGY_COEFF_INV_DIST: return 5.0 / (d + 1e-5);
  case ENERGY_COEFF_INV_DIST2: return 16.0 / (d * d + 1e-5);
  case ENERGY_COEFF_EXP_DIST: return 42.0 * exp(-d);
  case ENERGY_COEFF_CONSTANT:
  default: return 1.0;
  }
}

static double distance(const double *a, const double *b) {
  double dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2];
  return sqrt(dx * dx + dy * dy + dz * dz);
}

/* Each unordered pair once, doubled: the ordered-pair sum is symmetric. */
double energy_loss_molecule(const double *xhat, const double *x, int64_t n, int stride, energy_coeff_kind kind,
                            double k0) {
  if (n < 2) return 0.0;
  double kn = k0 / (double)n, e = 0.0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) {
      double d = distance(x + i * stride, x + j * stride);
      double r = d - distance(xhat + i * stride, xhat + j * stride);
      e += kn * energy_coeff_g(kind, d) * r * r; /* 2 · ½ k r² */
    }
  return e;
}

void energy_loss_molecule_backward(double *d_xhat, const double *xhat, const double *x, int64_t n, int stride,
                                   energy_coeff_kind kind, double k0, double scale) {
  if (n < 2) return;
  double kn = k0 / (double)n;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) {
      const double *pi = xhat + i * stride, *pj = xhat + j * stride;
      double d = distance(x + i * stride, x + j * stride);
      double dhat = distance(pi, pj);
      if (dhat < 1e-12) continue; /* no direction to pull along */
      double c = scale * 2.0 * kn * energy_coeff_g(kind, d) * (dhat - d) / dhat;
      for (int a = 0; a < 3; a++) {
        double g = c * (pi[a] - pj[a]);
        d_xhat[i * 3 + a] += g;
        d_xhat[j * 3 + a] -= g;
      }
    }
}
