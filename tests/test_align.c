/* test_align.c — Kabsch superposition (common/chem/align.h) against rotated,
 * translated, reflected and perturbed copies of a molecule.
 *
 * Exactness: a rotated + translated copy superposes to RMSD ~ 1e-15 and the
 * rotation found is the one applied. Optimality: with noise, no small extra
 * rotation about any axis lowers the RMSD, and the true rotation is never
 * better. Proper rotations only: a mirror image of a chiral molecule keeps a
 * positive RMSD and det R = +1.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/chem/align.h"
#include "testutil.h"

static unsigned long long lcg = 88172645463325252ULL;
static double uniform(void) { /* xorshift64: reproducible, no dependence on the library's RNG */
  lcg ^= lcg << 13;
  lcg ^= lcg >> 7;
  lcg ^= lcg << 17;
  return (double)(lcg >> 11) / 9007199254740992.0;
}

static void random_rotation(double r[9]) {
  double q[4], n = 0;
  for (int k = 0; k < 4; k++) q[k] = uniform() - 0.5, n += q[k] * q[k];
  n = sqrt(n);
  for (int k = 0; k < 4; k++) q[k] /= n;
  double a = q[0], b = q[1], c = q[2], d = q[3];
  double m[9] = {a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c),
                 2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b),
                 2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d};
  memcpy(r, m, sizeof m);
}

static void axis_rotation(int axis, double angle, double r[9]) {
  double c = cos(angle), s = sin(angle);
  memset(r, 0, 9 * sizeof *r);
  int i = (axis + 1) % 3, j = (axis + 2) % 3;
  r[4 * axis] = 1;
  r[3 * i + i] = c, r[3 * i + j] = -s, r[3 * j + i] = s, r[3 * j + j] = c;
}

static void transform(const double r[9], const double t[3], const double *x, int n, double *y) {
  for (int i = 0; i < n; i++)
    for (int a = 0; a < 3; a++)
      y[3 * i + a] = r[3 * a] * x[3 * i] + r[3 * a + 1] * x[3 * i + 1] + r[3 * a + 2] * x[3 * i + 2] + t[a];
}

static double plain_rmsd(const double *x, const double *y, int n) {
  double s = 0;
  for (int k = 0; k < 3 * n; k++) s += (x[k] - y[k]) * (x[k] - y[k]);
  return sqrt(s / n);
}

static double det3(const double r[9]) {
  return r[0] * (r[4] * r[8] - r[5] * r[7]) - r[1] * (r[3] * r[8] - r[5] * r[6]) + r[2] * (r[3] * r[7] - r[4] * r[6]);
}

#define N 14

static void test_sym4_eigen(void) {
  for (int trial = 0; trial < 20; trial++) {
    double a[16], a0[16], w[4], v[16];
    for (int i = 0; i < 4; i++)
      for (int j = i; j < 4; j++) a[4 * i + j] = a[4 * j + i] = 4 * uniform() - 2;
    if (trial == 0) /* a degenerate spectrum: diag(1, 1, 3, 3) */
      for (int k = 0; k < 16; k++) a[k] = k % 5 == 0 ? (k < 8 ? 1 : 3) : 0;
    memcpy(a0, a, sizeof a);
    elign_sym4_eigen(a, w, v);
    double worst = 0, orth = 0;
    for (int c = 0; c < 4; c++) {
      for (int r = 0; r < 4; r++) {
        double av = 0;
        for (int k = 0; k < 4; k++) av += a0[4 * r + k] * v[4 * k + c];
        worst = fmax(worst, fabs(av - w[c] * v[4 * r + c]));
      }
      for (int c2 = 0; c2 < 4; c2++) {
        double d = 0;
        for (int k = 0; k < 4; k++) d += v[4 * k + c] * v[4 * k + c2];
        orth = fmax(orth, fabs(d - (c == c2)));
      }
    }
    CHECK(worst < 1e-12);
    CHECK(orth < 1e-12);
    CHECK(w[0] <= w[1] && w[1] <= w[2] && w[2] <= w[3]);
  }
}

static void random_molecule(double *x, int n) {
  for (int k = 0; k < 3 * n; k++) x[k] = 6 * uniform() - 3;
}

static void test_exact_copies(void) {
  double x[3 * N], y[3 * N], r[9], t[3];
  double worst_rmsd = 0, worst_rot = 0;
  for (int trial = 0; trial < 50; trial++) {
    random_molecule(x, N);
    random_rotation(r);
    for (int a = 0; a < 3; a++) t[a] = 20 * uniform() - 10;
    transform(r, t, x, N, y);
    elign_alignment al;
    CHECK(elign_align(x, y, N, NULL, &al) == N);
    worst_rmsd = fmax(worst_rmsd, al.rmsd);
    for (int k = 0; k < 9; k++) worst_rot = fmax(worst_rot, fabs(al.rot[k] - r[k]));
    CHECK(fabs(det3(al.rot) - 1) < 1e-12);
    /* apply() maps x onto y */
    double z[3 * N];
    elign_alignment_apply(&al, x, N, z);
    CHECK(plain_rmsd(z, y, N) < 1e-12);
  }
  printf("exact copies: max rmsd %.3g Å, max |R - R_true| %.3g\n", worst_rmsd, worst_rot);
  CHECK(worst_rmsd < 1e-12);
  CHECK(worst_rot < 1e-10);
}

static void test_optimality(void) {
  double x[3 * N], y[3 * N], r[9], t[3] = {1, -2, 3}, z[3 * N], z2[3 * N];
  int worse = 0;
  for (int trial = 0; trial < 30; trial++) {
    random_molecule(x, N);
    random_rotation(r);
    transform(r, t, x, N, y);
    for (int k = 0; k < 3 * N; k++) y[k] += 0.3 * (uniform() - 0.5);
    elign_alignment al;
    elign_align(x, y, N, NULL, &al);
    elign_alignment_apply(&al, x, N, z);
    CHECK_CLOSE(al.rmsd, plain_rmsd(z, y, N), 1e-14, 1e-12);
    /* the rotation that made y is no better than the optimum */
    elign_alignment truth = al;
    memcpy(truth.rot, r, sizeof r);
    elign_alignment_apply(&truth, x, N, z2);
    if (plain_rmsd(z2, y, N) < al.rmsd - 1e-12) worse++;
    /* nor is any small extra rotation of the aligned copy about its centroid */
    for (int axis = 0; axis < 3; axis++)
      for (int sign = -1; sign <= 1; sign += 2) {
        double e[9], zero[3] = {0, 0, 0}, c[3 * N], rc[3 * N];
        axis_rotation(axis, sign * 1e-3, e);
        for (int i = 0; i < N; i++)
          for (int a = 0; a < 3; a++) c[3 * i + a] = z[3 * i + a] - al.cy[a];
        transform(e, zero, c, N, rc);
        for (int i = 0; i < N; i++)
          for (int a = 0; a < 3; a++) rc[3 * i + a] += al.cy[a];
        if (plain_rmsd(rc, y, N) < al.rmsd - 1e-12) worse++;
      }
  }
  CHECK(worse == 0);
}

static void test_reflection(void) {
  /* a chiral tetrahedral centre: C with four different substituents */
  double x[15] = {0, 0, 0, 1.1, 0, 0, -0.4, 1.2, 0, -0.3, -0.5, 1.3, -0.5, -0.6, -1.2};
  double m[15];
  for (int i = 0; i < 5; i++) m[3 * i] = -x[3 * i], m[3 * i + 1] = x[3 * i + 1], m[3 * i + 2] = x[3 * i + 2];
  elign_alignment al;
  elign_align(x, m, 5, NULL, &al);
  printf("mirror image: rmsd %.4f Å, det R %.15f\n", al.rmsd, det3(al.rot));
  CHECK(al.rmsd > 0.05);
  CHECK(fabs(det3(al.rot) - 1) < 1e-12);
}

static void test_small_and_degenerate(void) {
  double one[3] = {1, 2, 3}, other[3] = {-4, 5, 6};
  CHECK(elign_rmsd_aligned(one, other, 1, NULL) < 1e-15);
  CHECK(elign_rmsd_aligned(one, other, 0, NULL) == 0);
  /* a dimer of the same length in another orientation */
  double d1[6] = {0, 0, 0, 1.5, 0, 0}, d2[6] = {3, 3, 3, 3, 3 + 1.5 / sqrt(2), 3 + 1.5 / sqrt(2)};
  CHECK(elign_rmsd_aligned(d1, d2, 2, NULL) < 1e-12);
  /* stretched dimer: each atom is off by half the change */
  double d3[6] = {0, 0, 0, 0, 0, 1.9};
  CHECK_CLOSE(elign_rmsd_aligned(d1, d3, 2, NULL), 0.2, 1e-12, 0);
  CHECK_CLOSE(elign_drms(d1, d3, 2), 0.4, 1e-12, 0);
  /* a linear molecule, rotated */
  double l1[9] = {0, 0, 0, 1, 0, 0, 2.5, 0, 0}, l2[9], r[9], t[3] = {0.5, 0.5, 0.5};
  random_rotation(r);
  transform(r, t, l1, 3, l2);
  CHECK(elign_rmsd_aligned(l1, l2, 3, NULL) < 1e-12);
  /* NaN in, NaN out */
  double bad[6] = {0, 0, 0, NAN, 0, 0};
  CHECK(isnan(elign_rmsd_aligned(d1, bad, 2, NULL)));
}

static void test_masks_heavy_drms(void) {
  double x[3 * N], y[3 * N], r[9], t[3] = {-3, 0.5, 2};
  int32_t Z[N];
  random_molecule(x, N);
  for (int i = 0; i < N; i++) Z[i] = i % 3 == 0 ? 1 : 6;
  random_rotation(r);
  transform(r, t, x, N, y);
  for (int i = 0; i < N; i++)
    if (Z[i] == 1) y[3 * i] += 0.5; /* move hydrogens only */
  double heavy = elign_rmsd_heavy(x, y, Z, N), all = elign_rmsd_aligned(x, y, N, NULL);
  printf("hydrogens moved: heavy-atom rmsd %.3g Å, all-atom rmsd %.3f Å\n", heavy, all);
  CHECK(heavy < 1e-12);
  CHECK(all > 0.05);
  int32_t allH[N];
  for (int i = 0; i < N; i++) allH[i] = 1;
  CHECK(isnan(elign_rmsd_heavy(x, y, allH, N)));
  /* drms: rotation-invariant, and it sees the hydrogens */
  double y2[3 * N];
  transform(r, t, x, N, y2);
  CHECK(elign_drms(x, y2, N) < 1e-12);
  CHECK(elign_drms(x, y, N) > 0.01);
  /* a mask selecting every atom equals no mask */
  uint8_t mask[N];
  memset(mask, 1, sizeof mask);
  CHECK(elign_rmsd_aligned(x, y, N, mask) == all);
}

int main(void) {
  test_sym4_eigen();
  test_exact_copies();
  test_optimality();
  test_reflection();
  test_small_and_degenerate();
  test_masks_heavy_drms();
  return test_main_result("test_align");
}
