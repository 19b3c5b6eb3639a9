/* ani_gemm.h — the matrix products of the ANI networks with a fixed
 * summation order, so that an atom's numbers do not depend on its batch.
 *
 * Every output element is ONE fused multiply-add chain over k = 0 … K−1 in
 * increasing order, starting from +0, then multiplied by alpha:
 *     c = alpha · fma(a_{K−1}, b_{K−1}, … fma(a_1, b_1, fma(a_0, b_0, 0)))
 * whatever the row count, the row's position in its block, the vector width
 * (AVX-512, AVX2 or the scalar fallback) or the thread. A molecule's rows
 * therefore give the same bits alone (M = 1 … 11 rows per element) as inside
 * a batch of hundreds, on any x86-64 with FMA (and in the portable fallback,
 * where fma()/fmaf() are exact by definition).
 *
 * Column compaction in ani_net.c relies on the chain as well: the AEV
 * columns a batch drops are exact zeros for the molecule, and
 * fma(0, w, acc) = acc for finite w, so the chain over the compact columns
 * equals the chain over all columns.
 *
 * Speed: register-blocked micro-tiles (6 rows × 64 columns with AVX-512,
 * 6 × 16 with AVX2) that stream each row of B once per 6 rows of A, and the
 * chain split into k blocks that stay in L1/L2 (the partial sums go through
 * C, which is exact, so the chain is unchanged). Small M — one molecule —
 * streams each weight once per species; large M reaches most of the FMA peak.
 * Layout is row-major throughout; B is (K, N) — k-major — for every product
 * (ani_net.c keeps transposed copies of the forward weights). */
#ifndef ELIGN_ANI_GEMM_H
#define ELIGN_ANI_GEMM_H

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
#define ANI_GEMM_FUSED 1
#ifdef ELIGN_DOUBLE
#define ANI_MADD(a, b, c) fma(a, b, c)
#else
#define ANI_MADD(a, b, c) fmaf(a, b, c)
#endif
#else
#define ANI_GEMM_FUSED 0
#define ANI_MADD(a, b, c) ((a) * (b) + (c))
#endif

/* C (m, n) = alpha · A (m, k) · B (k, n), row strides lda, ldb, ldc.
 * C is overwritten (not accumulated). m, n, k ≥ 0; k = 0 gives zeros. */
void ani_gemm_fixed(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda, const elign_real *b,
                    int64_t ldb, elign_real *c, int64_t ldc);

/* The same, but the k range is cut into blocks of kblock (the last may be
 * shorter): each block is its own fma chain from 0 and the block sums are
 * added in order, c = alpha · (((s_0 + s_1) + s_2) + …). Used where k runs
 * over ensemble members (k = M·n1, kblock = n1): a shorter chain per member
 * keeps float32 rounding at the level of a blocked BLAS. */
void ani_gemm_blocksum(int m, int n, int k, int kblock, elign_real alpha, const elign_real *a, int64_t lda,
                       const elign_real *b, int64_t ldb, elign_real *c, int64_t ldc);

/* y[r] = Σ_k a[r][k] v[k] for r < m (a 1-wide output layer): per row, 16
 * interleaved fma chains (lane j takes k ≡ j mod 16) summed by a fixed
 * pairwise tree — the same for every row, vector width and batch. */
void ani_dot_rows(int m, int k, const elign_real *a, int64_t lda, const elign_real *v, elign_real *y);

/* Which code path ani_gemm_fixed uses in this build ("avx512", "avx2",
 * "scalar"); for benches and logs. */
const char *ani_gemm_isa(void);

#endif
