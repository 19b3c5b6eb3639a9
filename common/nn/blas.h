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
 * Header-only (static inline). M = 0 is a no-op.
 * Shapes: M rows (atoms, edges), K inputs, N outputs.
 *
 * Row independence. OpenBLAS computes full blocks of rows with its main
 * micro-kernels and the last M mod (unroll) rows with edge kernels that sum
 * in another order, so a row's bits would depend on how many rows share the
 * call — a molecule's ε̂ on the batch it sits in. The row-wise products (xwt,
 * xw, gemv_xv) therefore run the last M mod 16 rows as a zero-padded block of
 * 16: every row goes through the same kernels, and a molecule's network
 * output is the same alone or in any batch (same build, same thread count).
 * That is what makes a PPO ratio recomputed in other micro-batches exactly 1
 * and lets oracle ranks mix requests. Measured on OpenBLAS 0.3.21's Haswell /
 * SkylakeX kernels (tests/test_egnn_layout.c checks it per build); a BLAS
 * whose small-matrix path picks other kernels by total size would break it. */
#ifndef ELIGN_NN_BLAS_H
#define ELIGN_NN_BLAS_H

#include <cblas.h>
#include <string.h>

#include "common/base/real.h"

#ifdef ELIGN_DOUBLE
#define ELIGN_GEMM cblas_dgemm
#define ELIGN_GEMV cblas_dgemv
#else
#define ELIGN_GEMM cblas_sgemm
#define ELIGN_GEMV cblas_sgemv
#endif

#define ELIGN_BLAS_ROW_BLOCK 16
#define ELIGN_BLAS_PAD_MAX 2048 /* widest row (K or N) padded on the stack; wider rows are left alone */

/* The rows [0, M − M mod 16) that go straight to the BLAS, or all of them
 * when a row is too wide to pad. */
static inline int elign_blas_body_rows(int M, int in_width, int out_width) {
  if (in_width > ELIGN_BLAS_PAD_MAX || out_width > ELIGN_BLAS_PAD_MAX) return M;
  return M - M % ELIGN_BLAS_ROW_BLOCK;
}

/* Copy `rows` rows of width w (stride ld) into a dense zero-padded block. */
static inline void elign_blas_pad_rows(elign_real *dst, const elign_real *src, int ld, int rows, int w) {
  memset(dst, 0, sizeof(elign_real) * (size_t)ELIGN_BLAS_ROW_BLOCK * (size_t)w);
  for (int r = 0; r < rows; r++) memcpy(dst + (size_t)r * w, src + (size_t)r * ld, sizeof(elign_real) * (size_t)w);
}

static inline void elign_blas_unpad_rows(elign_real *dst, int ld, const elign_real *src, int rows, int w) {
  for (int r = 0; r < rows; r++) memcpy(dst + (size_t)r * ld, src + (size_t)r * w, sizeof(elign_real) * (size_t)w);
}

/* One product C (rows, c_w) = alpha · A (rows, a_w) · op(B) + beta · C with
 * B untouched: the tail of the two row-wise GEMMs below, run as 16 rows. */
static inline void elign_blas_gemm_tail(CBLAS_TRANSPOSE tb, int rows, int c_w, int a_w, elign_real alpha,
                                        const elign_real *A, int lda, const elign_real *B, int ldb, elign_real beta,
                                        elign_real *C, int ldc) {
  elign_real a[ELIGN_BLAS_ROW_BLOCK * a_w], c[ELIGN_BLAS_ROW_BLOCK * c_w];
  elign_blas_pad_rows(a, A, lda, rows, a_w);
  elign_blas_pad_rows(c, C, ldc, beta != 0 ? rows : 0, c_w);
  ELIGN_GEMM(CblasRowMajor, CblasNoTrans, tb, ELIGN_BLAS_ROW_BLOCK, c_w, a_w, alpha, a, a_w, B, ldb, beta, c, c_w);
  elign_blas_unpad_rows(C, ldc, c, rows, c_w);
}

/* Y (M,N) = alpha · X (M,K) · Wᵀ + beta · Y, W (N,K). */
static inline void elign_gemm_xwt(int M, int N, int K, elign_real alpha, const elign_real *X, int ldx,
                                  const elign_real *W, int ldw, elign_real beta, elign_real *Y, int ldy) {
  if (M == 0) return;
  int body = elign_blas_body_rows(M, K, N);
  if (body > 0) ELIGN_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, body, N, K, alpha, X, ldx, W, ldw, beta, Y, ldy);
  if (body < M)
    elign_blas_gemm_tail(CblasTrans, M - body, N, K, alpha, X + (size_t)body * ldx, ldx, W, ldw, beta,
                         Y + (size_t)body * ldy, ldy);
}

/* dX (M,K) = alpha · dY (M,N) · W (N,K) + beta · dX — the input gradient of Y = X Wᵀ. */
static inline void elign_gemm_xw(int M, int N, int K, elign_real alpha, const elign_real *dY, int ldy,
                                 const elign_real *W, int ldw, elign_real beta, elign_real *dX, int ldx) {
  if (M == 0) return;
  int body = elign_blas_body_rows(M, N, K);
  if (body > 0)
    ELIGN_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, body, K, N, alpha, dY, ldy, W, ldw, beta, dX, ldx);
  if (body < M)
    elign_blas_gemm_tail(CblasNoTrans, M - body, K, N, alpha, dY + (size_t)body * ldy, ldy, W, ldw, beta,
                         dX + (size_t)body * ldx, ldx);
}

/* dW (N,K) += dYᵀ (N×M) · X (M,K) — the weight gradient of Y = X Wᵀ. */
static inline void elign_gemm_dw(int M, int N, int K, const elign_real *dY, int ldy, const elign_real *X, int ldx,
                                 elign_real *dW, int ldw) {
  if (M == 0) return;
  ELIGN_GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1, dY, ldy, X, ldx, 1, dW, ldw);
}

/* y (M) = alpha · X (M,K) · v (K) + beta · y (row-independent like xwt). */
static inline void elign_gemv_xv(int M, int K, elign_real alpha, const elign_real *X, int ldx, const elign_real *v,
                                 elign_real beta, elign_real *y) {
  if (M == 0) return;
  int body = elign_blas_body_rows(M, K, 1);
  if (body > 0) ELIGN_GEMV(CblasRowMajor, CblasNoTrans, body, K, alpha, X, ldx, v, 1, beta, y, 1);
  if (body < M) {
    int rows = M - body;
    elign_real x[ELIGN_BLAS_ROW_BLOCK * K], yt[ELIGN_BLAS_ROW_BLOCK];
    elign_blas_pad_rows(x, X + (size_t)body * ldx, ldx, rows, K);
    elign_blas_pad_rows(yt, y + body, 1, beta != 0 ? rows : 0, 1);
    ELIGN_GEMV(CblasRowMajor, CblasNoTrans, ELIGN_BLAS_ROW_BLOCK, K, alpha, x, K, v, 1, beta, yt, 1);
    elign_blas_unpad_rows(y + body, 1, yt, rows, 1);
  }
}

/* y[k·incy] (K) = alpha · Xᵀ (K×M) · v (M) + beta · y: column sums of X weighted by v. */
static inline void elign_gemv_xtv(int M, int K, elign_real alpha, const elign_real *X, int ldx, const elign_real *v,
                                  elign_real beta, elign_real *y, int incy) {
  if (M == 0) return;
  ELIGN_GEMV(CblasRowMajor, CblasTrans, M, K, alpha, X, ldx, v, 1, beta, y, incy);
}

#endif
