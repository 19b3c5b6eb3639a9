/* align.h — optimal superposition of two conformations (Kabsch) and the
 * RMSDs that follow from it.
 *
 * The rotation R minimising Σ_i |R (x_i − x̄) − (y_i − ȳ)|² over proper
 * rotations (det R = +1: a mirror image is not superposed onto its
 * enantiomer) comes from the quaternion form of the problem (Horn, J. Opt.
 * Soc. Am. A 4 (1987) 629; Coutsias, Seok & Dill, J. Comput. Chem. 25 (2004)
 * 1849): with the correlation matrix C = Σ (x_i − x̄)(y_i − ȳ)ᵀ, the unit
 * quaternion of R is the eigenvector of the largest eigenvalue of a symmetric
 * 4×4 matrix built from C. The 4×4 eigenproblem is solved by cyclic Jacobi
 * rotations in double precision, so there is no 3×3 SVD and no reflection
 * case to repair. The RMSD is then computed from the rotated coordinates
 * (not from the eigenvalue, whose formula loses every digit for two nearly
 * equal structures).
 *
 * Positions in Å, [n][3] row-major; RMSDs in Å. Atoms may be selected by a
 * mask (heavy atoms only, say); centroids and rotation then use those atoms.
 */
#ifndef ELIGN_ALIGN_H
#define ELIGN_ALIGN_H

#include <stdint.h>

typedef struct {
  double rot[9];      /* R, row-major: aligned_i = R (x_i − cx) + cy */
  double cx[3], cy[3];/* centroids of the selected atoms of x and y */
  double rmsd;        /* Å, over the selected atoms after alignment (0 if none) */
  int64_t n_used;     /* selected atoms */
} elign_alignment;

/* Superpose x onto y (n atoms each). use[i] != 0 selects atom i; use NULL
 * selects all. Returns the number of selected atoms; with none, R = I and
 * rmsd = 0. Non-finite coordinates give a NaN rmsd. */
int64_t elign_align(const double *x, const double *y, int64_t n, const uint8_t *use, elign_alignment *out);

/* Kabsch RMSD over all atoms (use NULL) or the selected ones. */
double elign_rmsd_aligned(const double *x, const double *y, int64_t n, const uint8_t *use);

/* Kabsch RMSD over the atoms with Z > 1 (heavy atoms); NaN when there are none. */
double elign_rmsd_heavy(const double *x, const double *y, const int32_t *Z, int64_t n);

/* Apply an alignment to x: out_i = R (x_i − cx) + cy (out may not alias x). */
void elign_alignment_apply(const elign_alignment *a, const double *x, int64_t n, double *out);

/* Alignment-free distance-matrix RMS: sqrt(mean over pairs i<j of
 * (|x_i − x_j| − |y_i − y_j|)²), Å; 0 for fewer than two atoms. */
double elign_drms(const double *x, const double *y, int64_t n);

/* Eigen-decomposition of a symmetric 4×4 matrix a (row-major, overwritten)
 * by cyclic Jacobi: eigenvalues in w (ascending), eigenvectors as the
 * columns of v (row-major). Exposed for its test. */
void elign_sym4_eigen(double a[16], double w[4], double v[16]);

#endif
