/* gemm_fixed.h — matrix products with a fixed summation order, so that an
 * output row's bits depend only on its input row and the weights: never on
 * how many rows share the call, the row's position, the thread count or the
 * CPU's vector width. The EGNN's row-wise products (common/nn/blas.h) and
 * the ANI networks (oracle/ani) run on them; a molecule's numbers are then
 * the same alone as inside a batch of hundreds.
 *
 * The definition. Every output element is ONE fused multiply-add chain over
 * k = 0 … K−1 in increasing order, starting from +0,
 *     s = fma(a_{K−1}, b_{K−1}, … fma(a_1, b_1, fma(a_0, b_0, 0))),
 * then c = alpha · s (beta = 0: C is not read) or
 *      c = fma(alpha, s, beta · c_old) (beta ≠ 0; for alpha = 1, beta = 1
 *      that is the rounded sum c_old + s),
 * whatever the row count, the row's position in its block, the vector width
 * (AVX-512, AVX2 or the scalar fallback) or the thread. This holds on any
 * x86-64 with FMA and in the portable fallback, where fma()/fmaf() are exact
 * by definition.
 *
 * (elign_gemm_fixed_lanes and elign_dot_rows_fixed sum 16 interleaved
 * chains and then a fixed tree instead; their own definitions are below.)
 *
 * Column compaction (oracle/ani/ani_net.c) relies on the chain as well:
 * k indices whose A column is exactly zero can be dropped, since
 * fma(0, w, acc) = acc for finite w (for the 16-lane forms: in whole
 * aligned groups of 16, each lane losing only such steps).
 *
 * Speed: register-blocked micro-tiles (6 rows × 64 columns with AVX-512,
 * 6 × 16 with AVX2) that stream each row of B once per 6 rows of A, and the
 * chain split into k blocks that stay in L1/L2 (the partial sums go through
 * C, which is exact, so the chain is unchanged). Small M — one molecule —
 * streams each weight once; large M reaches most of the FMA peak. Layout is
 * row-major throughout; B is (K, N) — k-major — except in
 * elign_gemm_fixed_bt, which takes a Linear's weight W (N, K) and packs Wᵀ
 * per call (O(NK) copies against O(MNK) multiply-adds). */
#ifndef ELIGN_NN_GEMM_FIXED_H
#define ELIGN_NN_GEMM_FIXED_H

#include <math.h>
#include <stdint.h>

#include "common/base/real.h"

/* The multiply-add of every chain: fused (one rounding) where the target has
 * FMA instructions — every x86-64 the project builds for natively since
 * Haswell — so the AVX-512, AVX2 and scalar paths agree bit for bit. A
 * target without FMA (-DELIGN_NATIVE=OFF gives x86-64-v2) would pay a
 * software fma per step; it multiplies and adds instead: other bits than an
 * FMA build, but still one fixed order per output, so still independent of
 * the batch within that build. */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define ELIGN_GEMM_FIXED_FUSED 1
#ifdef ELIGN_DOUBLE
#define ELIGN_FIXED_MADD(a, b, c) fma(a, b, c)
#else
#define ELIGN_FIXED_MADD(a, b, c) fmaf(a, b, c)
#endif
#else
#define ELIGN_GEMM_FIXED_FUSED 0
#define ELIGN_FIXED_MADD(a, b, c) ((a) * (b) + (c))
#endif

/* C (m, n) = alpha · A (m, k) · B (k, n) + beta · C, row strides lda, ldb,
 * ldc (see the definition above). m, n, k ≥ 0; k = 0 gives beta · C.
 * One thread (the ANI engine calls it inside its own parallel loops). */
void elign_gemm_fixed(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda, const elign_real *b,
                      int64_t ldb, elign_real beta, elign_real *c, int64_t ldc);

/* C (m, n) = (alpha · A (m, k) · B (k, n)) ⊙ D, D (m, n) with row stride
 * ldd: the product's elements (the chain, times alpha, rounded) multiplied
 * by D's, rounded — the bits of elign_gemm_fixed followed by C *= D, in one
 * pass (a layer's backward times its activation's derivative). D may be C
 * itself (same pointer and stride). One thread. */
void elign_gemm_fixed_mul(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda,
                          const elign_real *b, int64_t ldb, const elign_real *d, int64_t ldd, elign_real *c,
                          int64_t ldc);

/* The same with the rows split over the OpenMP threads when the product is
 * large enough and the caller is not inside a parallel region: same bits
 * for any thread count. */
void elign_gemm_fixed_rows(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda,
                           const elign_real *b, int64_t ldb, elign_real beta, elign_real *c, int64_t ldc);

/* C (m, n) = alpha · A (m, k) · Wᵀ + beta · C with W (n, k), row stride ldw
 * (a PyTorch Linear's weight): the same bits as elign_gemm_fixed_rows on an
 * explicit transpose of W. Rows split over threads like _rows. */
void elign_gemm_fixed_bt(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda,
                         const elign_real *w, int64_t ldw, elign_real beta, elign_real *c, int64_t ldc);

/* C (m, n) += Aᵀ · B for A given as (k, m) with row stride lda and B
 * (k, n): the k range in blocks of 256, each its own fma chain from 0, added
 * to C in order, c = ((c + s_0) + s_1) + … — a layer's weight gradient
 * dW += dYᵀ X (k = rows), with the rounding of a blocked BLAS and bits that
 * depend on neither the thread count (C's rows are split over the OpenMP
 * threads, as in _rows) nor the CPU's vector width. */
void elign_gemm_fixed_tn_acc(int m, int n, int k, const elign_real *a, int64_t lda, const elign_real *b, int64_t ldb,
                             elign_real *c, int64_t ldc);

/* C (m, n) = A (m, k) · Wᵀ + bias, bias (n) added to every row: the bits of
 * elign_gemm_fixed_bt with alpha = 1 on a C whose rows hold the bias and
 * beta = 1 (c = s + b, rounded once), without writing and reading C first
 * (a Linear's forward, Y = X Wᵀ + b). Rows split over threads like _rows. */
void elign_gemm_fixed_bt_bias(int m, int n, int k, const elign_real *a, int64_t lda, const elign_real *w,
                              int64_t ldw, const elign_real *bias, elign_real *c, int64_t ldc);

/* The k range cut into blocks of kblock (the last may be shorter): each
 * block is its own fma chain from 0 and the block sums are added in order,
 * c = alpha · (((s_0 + s_1) + s_2) + …); C is overwritten. Used where k runs
 * over ensemble members (k = M·n1, kblock = n1): a shorter chain per member
 * keeps float32 rounding at the level of a blocked BLAS. One thread. */
void elign_gemm_fixed_blocksum(int m, int n, int k, int kblock, elign_real alpha, const elign_real *a, int64_t lda,
                               const elign_real *b, int64_t ldb, elign_real *c, int64_t ldc);

/* y[r] = Σ_k a[r][k] v[k] for r < m (a 1-wide output layer): per row, 16
 * interleaved fma chains (lane j takes k ≡ j mod 16) summed by a fixed
 * pairwise tree — the same for every row, vector width and batch. */
void elign_dot_rows_fixed(int m, int k, const elign_real *a, int64_t lda, const elign_real *v, elign_real *y);

/* C (m, n) = A (m, k) · Wᵀ with W (n, k), row stride ldw; C overwritten:
 * each C[r][j] is the dot of elign_dot_rows_fixed (16 interleaved chains,
 * lane j taking k ≡ j mod 16, then the fixed pairwise tree) of row r of A
 * with row j of W — for every row count, vector width and batch. W is read
 * along its rows, so a layer whose backward reads the same W (chains over
 * its rows, elign_gemm_fixed) never transposes it. Dropping columns of A
 * that are exactly zero (and the matching columns of W) keeps the bits when
 * the dropped columns come in whole aligned groups of 16 (each lane's chain
 * then loses only steps fma(0, w, acc) = acc). One thread. */
void elign_gemm_fixed_lanes(int m, int n, int k, const elign_real *a, int64_t lda, const elign_real *w, int64_t ldw,
                            elign_real *c, int64_t ldc);

/* bt (k, n) = wᵀ for W (n, k) with row stride ldw, in 16 × 16 blocks so
 * that reads and writes both stay in a few cache lines: the Wᵀ copies the
 * kernels above stream (a Linear's weight in elign_gemm_fixed_bt). */
void elign_transpose_blocked(elign_real *bt, const elign_real *w, int64_t ldw, int n, int k);

/* Which code path the kernels use in this build ("avx512", "avx2",
 * "scalar"); for benches, tests and logs. */
const char *elign_gemm_fixed_isa(void);

#endif
