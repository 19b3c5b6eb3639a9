/* blas.h — the GEMM/GEMV wrappers every network uses (EGNN, ANI), written
 * once over elign_real: cblas_s* in the float build, cblas_d* with
 * -DELIGN_DOUBLE=ON. Layers speak of a PyTorch Linear's weight W [out, in]
 * (row-major, row stride ldw), so the three products of y = x Wᵀ + b and its
 * backward each have one name:
 *   elign_gemm_xwt   Y  = α X Wᵀ + β Y      forward
 *   elign_gemm_xw    dX = α dY W + β dX     input gradient
 *   elign_gemm_dw    dW = dYᵀ X + dW        weight gradient (accumulates)
 * and the two matrix-vector forms (a 1-wide output layer, a bias gradient)
 *   elign_gemv_xv    y  = α X v + β y
 *   elign_gemv_xtv   y  = α Xᵀ v + β y.
 * Header-only (static inline): each call is exactly the cblas call it stands
 * for, so results are those of the BLAS, bit for bit. M = 0 is a no-op.
 * Shapes: M rows (atoms, edges), K inputs, N outputs. */
#ifndef ELIGN_NN_BLAS_H
#define ELIGN_NN_BLAS_H

#include <cblas.h>

#include "common/base/real.h"

#ifdef ELIGN_DOUBLE
#define ELIGN_GEMM cblas_dgemm
#define ELIGN_GEMV cblas_dgemv
#else
#define ELIGN_GEMM cblas_sgemm
#define ELIGN_GEMV cblas_sgemv
#endif

/* Y (M,N) = alpha · X (M,K) · Wᵀ + beta · Y, W (N,K). */
static inline void elign_gemm_xwt(int M, int N, int K, elign_real alpha, const elign_real *X, int ldx,
                                  const elign_real *W, int ldw, elign_real beta, elign_real *Y, int ldy) {
  if (M == 0) return;
  ELIGN_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, X, ldx, W, ldw, beta, Y, ldy);
}

/* dX (M,K) = alpha · dY (M,N) · W (N,K) + beta · dX — the input gradient of Y = X Wᵀ. */
static inline void elign_gemm_xw(int M, int N, int K, elign_real alpha, const elign_real *dY, int ldy,
                                 const elign_real *W, int ldw, elign_real beta, elign_real *dX, int ldx) {
  if (M == 0) return;
  ELIGN_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, alpha, dY, ldy, W, ldw, beta, dX, ldx);
}

/* dW (N,K) += dYᵀ (N×M) · X (M,K) — the weight gradient of Y = X Wᵀ. */
static inline void elign_gemm_dw(int M, int N, int K, const elign_real *dY, int ldy, const elign_real *X, int ldx,
                                 elign_real *dW, int ldw) {
  if (M == 0) return;
  ELIGN_GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1, dY, ldy, X, ldx, 1, dW, ldw);
}

/* y (M) = alpha · X (M,K) · v (K) + beta · y. */
static inline void elign_gemv_xv(int M, int K, elign_real alpha, const elign_real *X, int ldx, const elign_real *v,
                                 elign_real beta, elign_real *y) {
  if (M == 0) return;
  ELIGN_GEMV(CblasRowMajor, CblasNoTrans, M, K, alpha, X, ldx, v, 1, beta, y, 1);
}

/* y[k·incy] (K) = alpha · Xᵀ (K×M) · v (M) + beta · y: column sums of X weighted by v. */
static inline void elign_gemv_xtv(int M, int K, elign_real alpha, const elign_real *X, int ldx, const elign_real *v,
                                  elign_real beta, elign_real *y, int incy) {
  if (M == 0) return;
  ELIGN_GEMV(CblasRowMajor, CblasTrans, M, K, alpha, X, ldx, v, 1, beta, y, incy);
}

#endif
