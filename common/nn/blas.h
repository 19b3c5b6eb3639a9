/* blas.h — the matrix products every EGNN layer uses, written once over
 * elign_real (float, or double with -DELIGN_DOUBLE=ON). Layers speak of a
 * PyTorch Linear's weight W [out, in] (row-major, row stride ldw), so the
 * three products of y = x Wᵀ + b and its backward each have one name:
 *   elign_gemm_xwt   Y  = α X Wᵀ + β Y      forward (elign_gemm_xwt_bias: Y = X Wᵀ + b)
 *   elign_gemm_xw    dX = α dY W + β dX     input gradient
 *   elign_gemm_dw    dW = dYᵀ X + dW        weight gradient (accumulates)
 * and the two matrix-vector forms (a 1-wide output layer, a bias gradient)
 *   elign_gemv_xv    y  = α X v + β y
 *   elign_gemv_xtv   y  = α Xᵀ v + β y.
 * Header-only (static inline). M = 0 is a no-op.
 * Shapes: M rows (atoms, edges), K inputs, N outputs.
 *
 * Row independence. The row-wise products (xwt, xw, gemv_xv) run on the
 * fixed-order kernel of common/nn/gemm_fixed.h: every output is one fma
 * chain over its inputs in increasing order, then the α/β store, so the bits
 * of output row i depend only on input row i and W — never on how many rows
 * share the call, the row's position, the thread count, the OpenBLAS core or
 * the CPU's vector width (AVX-512, AVX2 and the scalar fallback agree). A
 * molecule's network output is therefore the same alone or in any batch:
 * that is what makes a PPO ratio recomputed in other micro-batches exactly 1
 * and lets oracle ranks and `elign train` on 1/2/4 ranks give the same bits.
 * (OpenBLAS gives no such promise: its edge kernels, and on some CPUs its
 * main kernels too, sum a row in another order depending on the height of
 * the product — docs/performance.md.)
 *
 * The weight gradient (dw), a reduction over rows, runs on the same kernel
 * with A read transposed: blocks of 256 rows summed in order, bits that
 * depend on neither the thread count nor the OpenBLAS core (on a CPU whose
 * OpenBLAS core is held to Haswell, twice as fast as OpenBLAS). The bias
 * gradient (gemv_xtv, a column sum) stays on OpenBLAS (cblas_s* /
 * cblas_d*): deterministic for the same shapes and BLAS thread count. */
#ifndef ELIGN_NN_BLAS_H
#define ELIGN_NN_BLAS_H

#include <cblas.h>

#include "common/base/real.h"
#include "common/nn/gemm_fixed.h"

#ifdef ELIGN_DOUBLE
#define ELIGN_GEMV cblas_dgemv
#else
#define ELIGN_GEMV cblas_sgemv
#endif

/* Y (M,N) = alpha · X (M,K) · Wᵀ + beta · Y, W (N,K). */
static inline void elign_gemm_xwt(int M, int N, int K, elign_real alpha, const elign_real *X, int ldx,
                                  const elign_real *W, int ldw, elign_real beta, elign_real *Y, int ldy) {
  elign_gemm_fixed_bt(M, N, K, alpha, X, ldx, W, ldw, beta, Y, ldy);
}

/* Y (M,N) = X (M,K) · Wᵀ + b: the bits of elign_gemm_xwt with alpha = 1,
 * beta = 1 on rows holding b, in one pass (no fill of Y first). */
static inline void elign_gemm_xwt_bias(int M, int N, int K, const elign_real *X, int ldx, const elign_real *W, int ldw,
                                       const elign_real *b, elign_real *Y, int ldy) {
  elign_gemm_fixed_bt_bias(M, N, K, X, ldx, W, ldw, b, Y, ldy);
}

/* dX (M,K) = alpha · dY (M,N) · W (N,K) + beta · dX — the input gradient of Y = X Wᵀ. */
static inline void elign_gemm_xw(int M, int N, int K, elign_real alpha, const elign_real *dY, int ldy,
                                 const elign_real *W, int ldw, elign_real beta, elign_real *dX, int ldx) {
  elign_gemm_fixed_rows(M, K, N, alpha, dY, ldy, W, ldw, beta, dX, ldx);
}

/* dW (N,K) += dYᵀ (N×M) · X (M,K) — the weight gradient of Y = X Wᵀ: the
 * rows in blocks of 256, each block's sum its own fma chain, the blocks
 * added to dW in order (elign_gemm_fixed_tn_acc). */
static inline void elign_gemm_dw(int M, int N, int K, const elign_real *dY, int ldy, const elign_real *X, int ldx,
                                 elign_real *dW, int ldw) {
  elign_gemm_fixed_tn_acc(N, K, M, dY, ldy, X, ldx, dW, ldw);
}

/* y (M) = alpha · X (M,K) · v (K) + beta · y: per row the fixed-order dot
 * of gemm_fixed.h, then the store of an elign_gemm_fixed product. */
static inline void elign_gemv_xv(int M, int K, elign_real alpha, const elign_real *X, int ldx, const elign_real *v,
                                 elign_real beta, elign_real *y) {
  for (int i = 0; i < M; i++) {
    elign_real dot;
    elign_dot_rows_fixed(1, K, X + (size_t)i * ldx, ldx, v, &dot);
    y[i] = beta != 0 ? ELIGN_FIXED_MADD(alpha, dot, beta * y[i]) : alpha * dot;
  }
}

/* y[k·incy] (K) = alpha · Xᵀ (K×M) · v (M) + beta · y: column sums of X weighted by v. */
static inline void elign_gemv_xtv(int M, int K, elign_real alpha, const elign_real *X, int ldx, const elign_real *v,
                                  elign_real beta, elign_real *y, int incy) {
  if (M == 0) return;
  ELIGN_GEMV(CblasRowMajor, CblasTrans, M, K, alpha, X, ldx, v, 1, beta, y, incy);
}

#endif
