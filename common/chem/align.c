/* align.c — Kabsch superposition by the quaternion method (see align.h). */
#include "common/chem/align.h"

#include <math.h>
#include <string.h>

#include "common/base/error.h"

/* ---- symmetric 4×4 eigenproblem (cyclic Jacobi) --------------------------- */

void elign_sym4_eigen(double a[16], double w[4], double v[16]) {
  for (int i = 0; i < 16; i++) v[i] = (i % 5 == 0) ? 1.0 : 0.0;
  for (int sweep = 0; sweep < 64; sweep++) {
    double off = 0, diag = 0;
    for (int p = 0; p < 4; p++) {
      diag += a[5 * p] * a[5 * p];
      for (int q = p + 1; q < 4; q++) off += a[4 * p + q] * a[4 * p + q];
    }
    if (off <= 1e-30 * diag || off == 0) break;
    for (int p = 0; p < 3; p++)
      for (int q = p + 1; q < 4; q++) {
        double apq = a[4 * p + q];
        if (apq == 0) continue;
        /* the rotation angle that zeroes a[p][q]: t = tan θ, the smaller root */
        double theta = (a[5 * q] - a[5 * p]) / (2 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < 4; k++) { /* columns p and q: A ← A J */
          double akp = a[4 * k + p], akq = a[4 * k + q];
          a[4 * k + p] = c * akp - s * akq;
          a[4 * k + q] = s * akp + c * akq;
        }
        for (int k = 0; k < 4; k++) { /* rows p and q: A ← Jᵀ A */
          double apk = a[4 * p + k], aqk = a[4 * q + k];
          a[4 * p + k] = c * apk - s * aqk;
          a[4 * q + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < 4; k++) { /* V ← V J */
          double vkp = v[4 * k + p], vkq = v[4 * k + q];
          v[4 * k + p] = c * vkp - s * vkq;
          v[4 * k + q] = s * vkp + c * vkq;
        }
      }
  }
  /* sort ascending (insertion sort on 4 values, columns move along) */
  for (int i = 0; i < 4; i++) w[i] = a[5 * i];
  for (int i = 1; i < 4; i++)
    for (int j = i; j > 0 && w[j] < w[j - 1]; j--) {
      double tw = w[j];
      w[j] = w[j - 1];
      w[j - 1] = tw;
      for (int k = 0; k < 4; k++) {
        double tv = v[4 * k + j];
        v[4 * k + j] = v[4 * k + j - 1];
        v[4 * k + j - 1] = tv;
      }
    }
}

/* ---- superposition ------------------------------------------------------- */

static int selected(const uint8_t *use, int64_t i) { return use == NULL || use[i] != 0; }

static void centroid(const double *x, int64_t n, const uint8_t *use, double c[3]) {
  double s[3] = {0, 0, 0};
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (selected(use, i)) {
      for (int d = 0; d < 3; d++) s[d] += x[3 * i + d];
      m++;
    }
  for (int d = 0; d < 3; d++) c[d] = m ? s[d] / (double)m : 0.0;
}

/* R of the unit quaternion (q0, q1, q2, q3). */
static void quaternion_rotation(const double q[4], double r[9]) {
  double a = q[0], b = q[1], c = q[2], d = q[3];
  r[0] = a * a + b * b - c * c - d * d;
  r[1] = 2 * (b * c - a * d);
  r[2] = 2 * (b * d + a * c);
  r[3] = 2 * (b * c + a * d);
  r[4] = a * a - b * b + c * c - d * d;
  r[5] = 2 * (c * d - a * b);
  r[6] = 2 * (b * d - a * c);
  r[7] = 2 * (c * d + a * b);
  r[8] = a * a - b * b - c * c + d * d;
}

void elign_alignment_apply(const elign_alignment *a, const double *x, int64_t n, double *out) {
  for (int64_t i = 0; i < n; i++) {
    double p[3] = {x[3 * i] - a->cx[0], x[3 * i + 1] - a->cx[1], x[3 * i + 2] - a->cx[2]};
    for (int r = 0; r < 3; r++)
      out[3 * i + r] = a->rot[3 * r] * p[0] + a->rot[3 * r + 1] * p[1] + a->rot[3 * r + 2] * p[2] + a->cy[r];
  }
}

int64_t elign_align(const double *x, const double *y, int64_t n, const uint8_t *use, elign_alignment *out) {
  memset(out, 0, sizeof *out);
  out->rot[0] = out->rot[4] = out->rot[8] = 1;
  for (int64_t i = 0; i < n; i++) out->n_used += selected(use, i);
  if (out->n_used == 0) return 0;
  centroid(x, n, use, out->cx);
  centroid(y, n, use, out->cy);
  /* S[a][b] = Σ (x_i − cx)_a (y_i − cy)_b */
  double S[3][3] = {{0}};
  for (int64_t i = 0; i < n; i++) {
    if (!selected(use, i)) continue;
    double p[3], q[3];
    for (int d = 0; d < 3; d++) p[d] = x[3 * i + d] - out->cx[d], q[d] = y[3 * i + d] - out->cy[d];
    for (int a = 0; a < 3; a++)
      for (int b = 0; b < 3; b++) S[a][b] += p[a] * q[b];
  }
  /* Horn's matrix: qᵀ N q = Σ_i (R x_i)·y_i for the rotation R of q */
  double N[16] = {
      S[0][0] + S[1][1] + S[2][2], S[1][2] - S[2][1],           S[2][0] - S[0][2],            S[0][1] - S[1][0],
      S[1][2] - S[2][1],           S[0][0] - S[1][1] - S[2][2], S[0][1] + S[1][0],            S[2][0] + S[0][2],
      S[2][0] - S[0][2],           S[0][1] + S[1][0],           -S[0][0] + S[1][1] - S[2][2], S[1][2] + S[2][1],
      S[0][1] - S[1][0],           S[2][0] + S[0][2],           S[1][2] + S[2][1],            -S[0][0] - S[1][1] + S[2][2]};
  int finite = 1;
  for (int k = 0; k < 16; k++) finite &= isfinite(N[k]) != 0;
  if (!finite) {
    out->rmsd = NAN;
    return out->n_used;
  }
  double w[4], v[16];
  elign_sym4_eigen(N, w, v);
  double q[4] = {v[3], v[7], v[11], v[15]}; /* column of the largest eigenvalue */
  double norm = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  for (int k = 0; k < 4; k++) q[k] /= norm;
  quaternion_rotation(q, out->rot);
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!selected(use, i)) continue;
    double p[3];
    elign_alignment_apply(out, x + 3 * i, 1, p);
    for (int d = 0; d < 3; d++) sum += (p[d] - y[3 * i + d]) * (p[d] - y[3 * i + d]);
  }
  out->rmsd = sqrt(sum / (double)out->n_used);
  return out->n_used;
}

double elign_rmsd_aligned(const double *x, const double *y, int64_t n, const uint8_t *use) {
  elign_alignment a;
  elign_align(x, y, n, use, &a);
  return a.rmsd;
}

double elign_rmsd_heavy(const double *x, const double *y, const int32_t *Z, int64_t n) {
  uint8_t *mask = elign_malloc((size_t)(n > 0 ? n : 1), "align:heavy_mask");
  int64_t heavy = 0;
  for (int64_t i = 0; i < n; i++) heavy += (mask[i] = Z[i] > 1);
  double r = heavy ? elign_rmsd_aligned(x, y, n, mask) : NAN;
  elign_free(mask);
  return r;
}

double elign_drms(const double *x, const double *y, int64_t n) {
  if (n < 2) return 0.0;
  double sum = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) {
      double dx = 0, dy = 0;
      for (int d = 0; d < 3; d++) {
        double a = x[3 * i + d] - x[3 * j + d], b = y[3 * i + d] - y[3 * j + d];
        dx += a * a;
        dy += b * b;
      }
      double diff = sqrt(dx) - sqrt(dy);
      sum += diff * diff;
    }
  return sqrt(sum / ((double)n * (double)(n - 1) / 2));
}
