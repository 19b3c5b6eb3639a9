/* gemm_fixed.c — fixed-order GEMM (see gemm_fixed.h for the contract: one
 * fma chain per output element, k in increasing order).
 *
 * One micro-tile body, instantiated for every (rows ≤ MR, vectors ≤ NV) pair
 * so that the tails of a matrix run the same chain as its body. The vector
 * type is chosen at compile time (the project builds with -march=native):
 * AVX-512F, AVX2+FMA, or plain C with fma()/fmaf() (vector width 1). Every
 * lane, of a full or of a masked partial vector, computes the same chain.
 * Loop order and blocking (k blocks, row panels, column tiles, threads)
 * only decide which thread computes a tile when: no output's chain depends
 * on them. */
#include "common/nn/gemm_fixed.h"

#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))) && !defined(ELIGN_GEMM_FIXED_SCALAR)
#include <immintrin.h>
#endif

#define SFMA(a, b, c) ELIGN_FIXED_MADD(a, b, c)

#if defined(__AVX512F__) && !defined(ELIGN_GEMM_FIXED_SCALAR)
#define ISA_NAME "avx512"
#define MR 6 /* 24 accumulators of 32 registers */
#define NV 4
#ifdef ELIGN_DOUBLE
typedef __m512d vreal;
#define VW 8
#define VZERO() _mm512_setzero_pd()
#define VLOAD(p) _mm512_loadu_pd(p)
#define VSTORE(p, x) _mm512_storeu_pd(p, x)
#define VSET1(x) _mm512_set1_pd(x)
#define VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VMUL(a, b) _mm512_mul_pd(a, b)
typedef __mmask8 vmask;
#define VMASK(cnt) ((__mmask8)((1u << (cnt)) - 1u))
#define VLOADM(p, m) _mm512_maskz_loadu_pd(m, p)
#define VSTOREM(p, x, m) _mm512_mask_storeu_pd(p, m, x)
#define VADD(a, b) _mm512_add_pd(a, b)
#else
typedef __m512 vreal;
#define VW 16
#define VZERO() _mm512_setzero_ps()
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, x) _mm512_storeu_ps(p, x)
#define VSET1(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VMUL(a, b) _mm512_mul_ps(a, b)
typedef __mmask16 vmask;
#define VMASK(cnt) ((__mmask16)((1u << (cnt)) - 1u))
#define VLOADM(p, m) _mm512_maskz_loadu_ps(m, p)
#define VSTOREM(p, x, m) _mm512_mask_storeu_ps(p, m, x)
#define VADD(a, b) _mm512_add_ps(a, b)
#endif
#elif defined(__AVX2__) && defined(__FMA__) && !defined(ELIGN_GEMM_FIXED_SCALAR)
#define ISA_NAME "avx2"
#define MR 6 /* 12 accumulators of 16 registers */
#define NV 2
#ifdef ELIGN_DOUBLE
typedef __m256d vreal;
#define VW 4
#define VZERO() _mm256_setzero_pd()
#define VLOAD(p) _mm256_loadu_pd(p)
#define VSTORE(p, x) _mm256_storeu_pd(p, x)
#define VSET1(x) _mm256_set1_pd(x)
#define VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VMUL(a, b) _mm256_mul_pd(a, b)
typedef __m256i vmask;
#define VMASK(cnt) _mm256_cmpgt_epi64(_mm256_set1_epi64x(cnt), _mm256_setr_epi64x(0, 1, 2, 3))
#define VLOADM(p, m) _mm256_maskload_pd(p, m)
#define VSTOREM(p, x, m) _mm256_maskstore_pd(p, m, x)
#define VADD(a, b) _mm256_add_pd(a, b)
#else
typedef __m256 vreal;
#define VW 8
#define VZERO() _mm256_setzero_ps()
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, x) _mm256_storeu_ps(p, x)
#define VSET1(x) _mm256_set1_ps(x)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VMUL(a, b) _mm256_mul_ps(a, b)
typedef __m256i vmask;
#define VMASK(cnt) _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define VLOADM(p, m) _mm256_maskload_ps(p, m)
#define VSTOREM(p, x, m) _mm256_maskstore_ps(p, m, x)
#define VADD(a, b) _mm256_add_ps(a, b)
#endif
#else
#define ISA_NAME "scalar"
#define MR 4
#define NV 4
typedef elign_real vreal;
#define VW 1
#define VZERO() ((elign_real)0)
#define VLOAD(p) (*(p))
#define VSTORE(p, x) (*(p) = (x))
#define VSET1(x) (x)
#define VFMA(a, b, c) SFMA(a, b, c)
#define VMUL(a, b) ((a) * (b))
typedef int vmask; /* width 1: never a partial vector */
#define VMASK(cnt) (cnt)
#define VLOADM(p, m) (*(p))
#define VSTOREM(p, x, m) (*(p) = (x))
#define VADD(a, b) ((a) + (b))
#endif

/* B's vectors of a k step are loaded once and used by every row of the
 * tile. Left alone, GCC folds them into the fma instructions as memory
 * operands in the smaller tiles (4 × 4, 5 × 4, 6 × 2, 2 × 8, …): one load
 * per fma instead of one per vector, which made those tiles load-bound at
 * half the speed of the 6 × 4 one. An empty asm that "changes" the value
 * keeps it in a register (no instruction is emitted; bits unchanged). */
#if defined(__x86_64__) && defined(__AVX512F__) && !defined(ELIGN_GEMM_FIXED_SCALAR)
#define KEEP_IN_REGISTER(x) __asm__("" : "+v"(x))
#elif defined(__x86_64__) && defined(__AVX2__) && !defined(ELIGN_GEMM_FIXED_SCALAR)
#define KEEP_IN_REGISTER(x) __asm__("" : "+x"(x))
#else
#define KEEP_IN_REGISTER(x) ((void)0)
#endif

#define TILE_MR_MAX 6
#define PF_ROWS 8 /* software prefetch distance in rows of B (no effect on results) */
#define TILE_NV_MAX 8 /* the wide tiles of one or two rows (below); the others have nv ≤ NV */

/* k block: B panel of KC × (NV·VW) stays in L2 while the rows pass over it.
 * The chain continues across blocks through C (exact). */
#define KC 256
/* Row panel: the A rows of one panel (≤ 96 × KC) stay in L2 while every
 * column tile of B passes over them, instead of streaming A from memory once
 * per column tile when M is tall (the EGNN's edge layers: M = edges). */
#define PANEL_ROWS (16 * MR)

const char *elign_gemm_fixed_isa(void) { return ISA_NAME; }

/* One mr × (nv·VW) tile of C over kb steps of k. first: the chain starts
 * at 0; otherwise it continues from C (restart = 0) or a fresh chain is
 * added to C (restart = 1). last: store alpha · chain, or with beta ≠ 0
 * fma(alpha, chain, beta · C) — then C still holds its value from before
 * the call, so beta ≠ 0 comes with a single k block (first = last = 1). */
/* masked (nv = 1 only): the vector holds cnt < VW columns; the other lanes
 * compute on zeros and are neither read from B/C nor stored. a_trans: A is
 * given transposed, element (r, k) at a[k·lda + r] (a weight gradient's dYᵀ;
 * each k step then broadcasts mr consecutive values of one row of dY). */
#define LOADV(p, v) (masked ? VLOADM(p, mask) : VLOAD(p))
static inline __attribute__((always_inline)) void tile_body(const int mr, const int nv, const int masked,
                                                            const int a_trans, int cnt,
                                                            int kb, int first, int restart, int last,
                                                            elign_real alpha, elign_real beta, const elign_real *a,
                                                            int64_t lda, const elign_real *b, int64_t ldb,
                                                            elign_real *c, int64_t ldc, const elign_real *d,
                                                            int64_t ldd, const elign_real *bias) {
  const vmask mask = VMASK(masked ? cnt : 0);
  (void)mask;
  vreal acc[TILE_MR_MAX][TILE_NV_MAX];
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++) acc[r][v] = first || restart ? VZERO() : LOADV(c + r * ldc + v * VW, v);
  for (int k = 0; k < kb; k++) {
    const elign_real *bk = b + (int64_t)k * ldb;
    /* one molecule: the weights stream from L3 once per call; asking for
     * them PF rows ahead keeps more misses in flight (measured 6 %) */
    for (int v = 0; v < nv; v++) __builtin_prefetch(bk + PF_ROWS * ldb + v * VW, 0, 3);
    vreal bv[TILE_NV_MAX];
    for (int v = 0; v < nv; v++) {
      bv[v] = LOADV(bk + v * VW, v);
      KEEP_IN_REGISTER(bv[v]);
    }
    for (int r = 0; r < mr; r++) {
      vreal av = VSET1(a_trans ? a[(int64_t)k * lda + r] : a[r * lda + k]);
      for (int v = 0; v < nv; v++) acc[r][v] = VFMA(av, bv[v], acc[r][v]);
    }
  }
  if (restart && !first)
    for (int r = 0; r < mr; r++)
      for (int v = 0; v < nv; v++) acc[r][v] = VADD(LOADV(c + r * ldc + v * VW, v), acc[r][v]);
  if (last && beta != 0) {
    vreal al = VSET1(alpha), be = VSET1(beta);
    for (int r = 0; r < mr; r++)
      for (int v = 0; v < nv; v++) acc[r][v] = VFMA(al, acc[r][v], VMUL(be, LOADV(c + r * ldc + v * VW, v)));
  } else if (last) {
    vreal al = VSET1(alpha);
    for (int r = 0; r < mr; r++)
      for (int v = 0; v < nv; v++) acc[r][v] = VMUL(acc[r][v], al);
    if (d) /* the element-wise factor, read before C is written (D may be C) */
      for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = VMUL(acc[r][v], LOADV(d + r * ldd + v * VW, v));
    if (bias) /* a row vector added to every row */
      for (int v = 0; v < nv; v++) {
        const vreal bv = LOADV(bias + v * VW, v);
        for (int r = 0; r < mr; r++) acc[r][v] = VADD(acc[r][v], bv);
      }
  }
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++) {
      if (masked) VSTOREM(c + r * ldc + v * VW, acc[r][v], mask);
      else VSTORE(c + r * ldc + v * VW, acc[r][v]);
    }
}

/* The parameters every tile function takes, and their names passed on. */
#define TILE_PARAMS                                                                                          \
  int cnt, int kb, int first, int restart, int last, elign_real alpha, elign_real beta, const elign_real *a, \
      int64_t lda, const elign_real *b, int64_t ldb, elign_real *c, int64_t ldc, const elign_real *d,        \
      int64_t ldd, const elign_real *bias
#define TILE_ARGS cnt, kb, first, restart, last, alpha, beta, a, lda, b, ldb, c, ldc, d, ldd, bias
typedef void (*tile_fn)(TILE_PARAMS);

#define TILE_N(R, V)                                                                                         \
  static void tile_##R##_##V(TILE_PARAMS) { tile_body(R, V, 0, 0, TILE_ARGS); }
#define TILE_T(R, V)                                                                                         \
  static void tile_t_##R##_##V(TILE_PARAMS) { tile_body(R, V, 0, 1, TILE_ARGS); }
#define TILE(R, V) TILE_N(R, V) TILE_T(R, V)
#define TILEM(R)                                                                                             \
  static void tile_##R##_m(TILE_PARAMS) { tile_body(R, 1, 1, 0, TILE_ARGS); }                                \
  static void tile_t_##R##_m(TILE_PARAMS) { tile_body(R, 1, 1, 1, TILE_ARGS); }
#define TILE_ROW(R) TILE(R, 1) TILE(R, 2) TILE(R, 3) TILE(R, 4) TILEM(R)
TILE_ROW(1)
TILE_ROW(2)
TILE_ROW(3)
TILE_ROW(4)
TILE_ROW(5)
TILE_ROW(6)
#define TILE_PTRS(R) {tile_##R##_1, tile_##R##_2, tile_##R##_3, tile_##R##_4}
#define TILE_T_PTRS(R) {tile_t_##R##_1, tile_t_##R##_2, tile_t_##R##_3, tile_t_##R##_4}
/* TILES[mr − 1][nv − 1]; only mr ≤ MR, nv ≤ NV are called (larger shapes
 * would not fit the register file of this build). */
static const tile_fn TILES[TILE_MR_MAX][TILE_NV_MAX] = {
    TILE_PTRS(1), TILE_PTRS(2), TILE_PTRS(3), TILE_PTRS(4), TILE_PTRS(5), TILE_PTRS(6),
};
/* MTILES[mr − 1]: one partial vector of columns (masked loads/stores). */
static const tile_fn MTILES[TILE_MR_MAX] = {tile_1_m, tile_2_m, tile_3_m, tile_4_m, tile_5_m, tile_6_m};
/* The same with A transposed. */
static const tile_fn TILES_T[TILE_MR_MAX][TILE_NV_MAX] = {
    TILE_T_PTRS(1), TILE_T_PTRS(2), TILE_T_PTRS(3), TILE_T_PTRS(4), TILE_T_PTRS(5), TILE_T_PTRS(6),
};
static const tile_fn MTILES_T[TILE_MR_MAX] = {tile_t_1_m, tile_t_2_m, tile_t_3_m, tile_t_4_m, tile_t_5_m, tile_t_6_m};
/* One or two rows (a lone molecule's element with one or two atoms): a
 * tile of NV vectors gives only NV or 2·NV independent chains, fewer than
 * the FMA latency times the FMA units, and the next tile is too far ahead
 * for the out-of-order window, so the chains waited on each other. Twice
 * the columns per tile doubles the chains in flight (same chain per output).
 * Measured: see docs/performance.md. */
#define WIDE_NV 8 /* AVX-512 (NV = 4): 8 or 16 accumulators and 8 B vectors; AVX2 keeps NV */
TILE_N(1, 8)
TILE_N(2, 8)
static const tile_fn WIDE_TILES[2] = {tile_1_8, tile_2_8};

static int min_int(int x, int y) { return x < y ? x : y; }

/* d + off, or NULL without an element-wise factor. */
static inline const elign_real *offset_or_null(const elign_real *d, int64_t off) { return d ? d + off : NULL; }

/* Rows [0, m) × columns [0, n) of one k block: the full-vector column tiles,
 * then the last n mod VW columns as one masked vector (same chain per lane).
 * d (row stride ldd), when not NULL: the last block's results are
 * multiplied element-wise by it; bias (n), when not NULL: then added to
 * every row. a_trans: A given transposed (tile_body). */
static void block_tiles(int m, int n, int kb, int first, int restart, int last, elign_real alpha, elign_real beta,
                        const elign_real *a, int64_t lda, int a_trans, const elign_real *b, int64_t ldb,
                        elign_real *c, int64_t ldc, const elign_real *d, int64_t ldd, const elign_real *bias) {
  const int tile_w = NV * VW, n_vec = n / VW * VW;
  const tile_fn(*tiles)[TILE_NV_MAX] = a_trans ? TILES_T : TILES;
  const tile_fn *mtiles = a_trans ? MTILES_T : MTILES;
  int j_wide = 0;
  if (m <= 2 && NV == 4 && !a_trans)
    for (; j_wide + WIDE_NV * VW <= n_vec; j_wide += WIDE_NV * VW)
      WIDE_TILES[m - 1](0, kb, first, restart, last, alpha, beta, a, lda, b + j_wide, ldb, c + j_wide, ldc,
                        offset_or_null(d, j_wide), ldd, offset_or_null(bias, j_wide));
  for (int j0 = j_wide; j0 < n_vec; j0 += tile_w) {
    const int nv = min_int(n_vec - j0, tile_w) / VW;
    for (int r0 = 0; r0 < m; r0 += MR)
      tiles[min_int(m - r0, MR) - 1][nv - 1](0, kb, first, restart, last, alpha, beta, a + (a_trans ? r0 : r0 * lda),
                                               lda, b + j0, ldb, c + r0 * ldc + j0, ldc,
                                               offset_or_null(d, r0 * ldd + j0), ldd, offset_or_null(bias, j0));
  }
  if (n_vec < n)
    for (int r0 = 0; r0 < m; r0 += MR)
      mtiles[min_int(m - r0, MR) - 1](n - n_vec, kb, first, restart, last, alpha, beta,
                                      a + (a_trans ? r0 : r0 * lda), lda, b + n_vec, ldb, c + r0 * ldc + n_vec, ldc,
                                      offset_or_null(d, r0 * ldd + n_vec), ldd, offset_or_null(bias, n_vec));
}

/* k = 0: the empty chain (+0), so C = beta · C, or zeros (times D's elements
 * with an element-wise factor). */
static void empty_product(int m, int n, elign_real alpha, elign_real beta, elign_real *c, int64_t ldc,
                          const elign_real *d, int64_t ldd, const elign_real *bias) {
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++) {
      elign_real v = beta != 0 ? SFMA(alpha, (elign_real)0, beta * c[r * ldc + j]) : alpha * (elign_real)0;
      v = d ? v * d[r * ldd + j] : v;
      c[r * ldc + j] = bias ? v + bias[j] : v;
    }
}

/* Where blocks only bound the cache footprint, k in equal blocks of at most
 * kc + kc/8: a last block of a few steps (the EGNN's first edge layer has
 * k = 2F + 2 = 258) would pass over all of C to do two multiply-adds per
 * element loaded and stored (k = 258 ran at 176 GFLOP/s, k = 256 at 200). */
static int even_k_block(int k, int kc) {
  const int most = kc + kc / 8, blocks = (k + most - 1) / most;
  return (k + blocks - 1) / blocks;
}

/* kc: k block; restart = 0: blocks only bound the cache footprint (one
 * chain continues through C); restart = 1: each block is a fresh chain and
 * the blocks are added in order — after C's old value when accumulate is
 * set. beta ≠ 0 (never with restart) keeps one block, as C must keep its
 * old value until the chain is complete; so does an element-wise factor d
 * (it may be C itself). a_trans: A given transposed (tile_body). */
static void gemm_blocks(int m, int n, int k, int kc, int restart, int accumulate, elign_real alpha, elign_real beta,
                        const elign_real *a, int64_t lda, int a_trans, const elign_real *b, int64_t ldb,
                        elign_real *c, int64_t ldc, const elign_real *d, int64_t ldd, const elign_real *bias) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) empty_product(m, n, alpha, beta, c, ldc, d, ldd, bias);
    return;
  }
  if (beta != 0 || d) kc = k;
  if (!restart) kc = even_k_block(k, kc);
  for (int k0 = 0; k0 < k; k0 += kc) {
    const int kb = min_int(k - k0, kc), first = k0 == 0 && !accumulate, last = k0 + kb == k;
    const elign_real *ak = a + (a_trans ? (int64_t)k0 * lda : k0);
    for (int p0 = 0; p0 < m; p0 += PANEL_ROWS)
      block_tiles(min_int(m - p0, PANEL_ROWS), n, kb, first, restart, last, alpha, beta,
                  ak + (a_trans ? p0 : p0 * lda), lda, a_trans, b + (int64_t)k0 * ldb, ldb, c + p0 * ldc, ldc,
                  offset_or_null(d, p0 * ldd), ldd, bias);
  }
}

void elign_gemm_fixed(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda, const elign_real *b,
                      int64_t ldb, elign_real beta, elign_real *c, int64_t ldc) {
  gemm_blocks(m, n, k, KC, 0, 0, alpha, beta, a, lda, 0, b, ldb, c, ldc, NULL, 0, NULL);
}

void elign_gemm_fixed_mul(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda,
                          const elign_real *b, int64_t ldb, const elign_real *d, int64_t ldd, elign_real *c,
                          int64_t ldc) {
  gemm_blocks(m, n, k, KC, 0, 0, alpha, 0, a, lda, 0, b, ldb, c, ldc, d, ldd, NULL);
}

void elign_gemm_fixed_blocksum(int m, int n, int k, int kblock, elign_real alpha, const elign_real *a, int64_t lda,
                               const elign_real *b, int64_t ldb, elign_real *c, int64_t ldc) {
  gemm_blocks(m, n, k, kblock > 0 ? kblock : (k > 0 ? k : 1), 1, 0, alpha, 0, a, lda, 0, b, ldb, c, ldc, NULL, 0,
              NULL);
}

/* ---- rows over threads --------------------------------------------------- */

/* Waking a thread team costs ~10–30 µs with the product's passive wait
 * policy (a futex wake and a context switch; common/base/launch_env.h),
 * about what 2M multiply-adds take on one core: below that per thread the
 * split costs more than it saves. (At 2^18, a 2-thread `elign pretrain` of
 * the qm9like network — node products of ~150 rows × 128 × 128 — took
 * 9.3 s against 8.1 s on one thread; at 2^21 7.1 s. The edge products of
 * thousands of rows still split.) */
#define THREAD_MIN_MADDS ((int64_t)1 << 21)

static int row_threads(int m, int n, int k) {
  if (omp_in_parallel()) return 1;
  int t = omp_get_max_threads();
  const int64_t madds = (int64_t)m * n * (k > 0 ? k : 1);
  while (t > 1 && (madds / t < THREAD_MIN_MADDS || m < t * MR)) t--;
  return t;
}

/* gemm_blocks with C's rows split over the threads: whole MR-row blocks,
 * in order, each thread one contiguous range (so no row's chain depends on
 * the thread count). */
static void gemm_rows(int m, int n, int k, int restart, int accumulate, elign_real alpha, elign_real beta,
                      const elign_real *a, int64_t lda, int a_trans, const elign_real *b, int64_t ldb, elign_real *c,
                      int64_t ldc, const elign_real *bias) {
  const int threads = row_threads(m, n, k);
  const int blocks = (m + MR - 1) / MR;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
    const int lo = min_int(m, (int)((int64_t)blocks * t / team) * MR);
    const int hi = min_int(m, (int)((int64_t)blocks * (t + 1) / team) * MR);
    if (hi > lo)
      gemm_blocks(hi - lo, n, k, KC, restart, accumulate, alpha, beta, a + (a_trans ? lo : lo * lda), lda, a_trans, b,
                  ldb, c + lo * ldc, ldc, NULL, 0, bias);
  }
}

void elign_gemm_fixed_rows(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda,
                           const elign_real *b, int64_t ldb, elign_real beta, elign_real *c, int64_t ldc) {
  gemm_rows(m, n, k, 0, 0, alpha, beta, a, lda, 0, b, ldb, c, ldc, NULL);
}

void elign_gemm_fixed_tn_acc(int m, int n, int k, const elign_real *a, int64_t lda, const elign_real *b, int64_t ldb,
                             elign_real *c, int64_t ldc) {
  gemm_rows(m, n, k, 1, 1, 1, 0, a, lda, 1, b, ldb, c, ldc, NULL);
}

/* ---- B given as a Linear's weight W (n, k) ------------------------------- */

void elign_transpose_blocked(elign_real *bt, const elign_real *w, int64_t ldw, int n, int k) {
  enum { TB = 16 };
  for (int j0 = 0; j0 < n; j0 += TB)
    for (int q0 = 0; q0 < k; q0 += TB)
      for (int q = q0; q < min_int(q0 + TB, k); q++)
        for (int j = j0; j < min_int(j0 + TB, n); j++) bt[(int64_t)q * n + j] = w[(int64_t)j * ldw + q];
}

/* The definition read straight from W, one output at a time: only where no
 * memory is left for the packed copy (same bits, slowly). */
static void gemm_bt_unpacked(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda,
                             const elign_real *w, int64_t ldw, elign_real beta, elign_real *c, int64_t ldc) {
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++) {
      elign_real s = 0;
      for (int q = 0; q < k; q++) s = SFMA(a[r * lda + q], w[(int64_t)j * ldw + q], s);
      elign_real *cr = c + r * ldc + j;
      *cr = beta != 0 ? SFMA(alpha, s, beta * *cr) : alpha * s;
    }
}

/* Wᵀ packed per call, then the rows over the threads (gemm_rows). */
static void gemm_bt(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda, const elign_real *w,
                    int64_t ldw, elign_real beta, elign_real *c, int64_t ldc, const elign_real *bias) {
  if (m <= 0 || n <= 0) return;
  elign_real *bt = k > 0 ? malloc(sizeof *bt * (size_t)k * (size_t)n) : NULL;
  if (k > 0 && !bt) {
    if (bias) /* the definition of the bias form: C = bias rows, then the product added (beta = 1) */
      for (int r = 0; r < m; r++) memcpy(c + r * ldc, bias, sizeof *c * (size_t)n);
    gemm_bt_unpacked(m, n, k, alpha, a, lda, w, ldw, bias ? 1 : beta, c, ldc);
    return;
  }
  if (bt) elign_transpose_blocked(bt, w, ldw, n, k);
  gemm_rows(m, n, k, 0, 0, alpha, beta, a, lda, 0, bt, n, c, ldc, bias);
  free(bt);
}

void elign_gemm_fixed_bt(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda,
                         const elign_real *w, int64_t ldw, elign_real beta, elign_real *c, int64_t ldc) {
  gemm_bt(m, n, k, alpha, a, lda, w, ldw, beta, c, ldc, NULL);
}

void elign_gemm_fixed_bt_bias(int m, int n, int k, const elign_real *a, int64_t lda, const elign_real *w,
                              int64_t ldw, const elign_real *bias, elign_real *c, int64_t ldc) {
  gemm_bt(m, n, k, 1, a, lda, w, ldw, 0, c, ldc, bias);
}

/* ---- one output column ------------------------------------------------------ */

/* One row: lane j chains k ≡ j (mod 16), then the fixed pairwise tree
 * lane[j] += lane[j + w], w = 8, 4, 2, 1 (the definition in gemm_fixed.h). */
static elign_real dot_row_lanes(int k, const elign_real *ar, const elign_real *v) {
  enum { LANES = 16 };
  elign_real lane[LANES] = {0};
  int k0 = 0;
  for (; k0 + LANES <= k; k0 += LANES)
    for (int j = 0; j < LANES; j++) lane[j] = SFMA(ar[k0 + j], v[k0 + j], lane[j]);
  for (int j = 0; k0 + j < k; j++) lane[j] = SFMA(ar[k0 + j], v[k0 + j], lane[j]);
  for (int w = LANES / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; j++) lane[j] += lane[j + w];
  return lane[0];
}

#if defined(__AVX512F__) && !defined(ELIGN_DOUBLE) && !defined(ELIGN_GEMM_FIXED_SCALAR)
#define DOT_ROWS_VECTOR 1
/* The 16 lanes as one register; the tree's levels w = 8, 4 as adds of its
 * halves and quarters, w = 2, 1 as shuffles: the same adds as the scalar
 * tree, lane by lane. */
typedef __m512 dot_acc;
static inline dot_acc dot_zero(void) { return _mm512_setzero_ps(); }
static inline dot_acc dot_step(dot_acc acc, const float *a, const float *v) {
  return _mm512_fmadd_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(v), acc);
}
static inline float dot_tree(dot_acc acc) {
  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
  return _mm_cvtss_f32(q);
}
#elif defined(__AVX2__) && defined(__FMA__) && !defined(ELIGN_DOUBLE) && !defined(ELIGN_GEMM_FIXED_SCALAR)
#define DOT_ROWS_VECTOR 1
/* Lanes 0–7 and 8–15 in two registers: level w = 8 is their sum. */
typedef struct {
  __m256 lo, hi;
} dot_acc;
static inline dot_acc dot_zero(void) { return (dot_acc){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
static inline dot_acc dot_step(dot_acc acc, const float *a, const float *v) {
  acc.lo = _mm256_fmadd_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(v), acc.lo);
  acc.hi = _mm256_fmadd_ps(_mm256_loadu_ps(a + 8), _mm256_loadu_ps(v + 8), acc.hi);
  return acc;
}
static inline float dot_tree(dot_acc acc) {
  __m256 h = _mm256_add_ps(acc.lo, acc.hi);
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
  return _mm_cvtss_f32(q);
}
#endif

void elign_dot_rows_fixed(int m, int k, const elign_real *a, int64_t lda, const elign_real *v, elign_real *y) {
  int r = 0;
#ifdef DOT_ROWS_VECTOR
  /* k a multiple of 16 (the ANI output layers): four rows at a time, so
   * four chains are in flight */
  if (k % 16 == 0)
    for (; r + 4 <= m; r += 4) {
      dot_acc acc[4] = {dot_zero(), dot_zero(), dot_zero(), dot_zero()};
      for (int k0 = 0; k0 < k; k0 += 16)
        for (int i = 0; i < 4; i++) acc[i] = dot_step(acc[i], a + (r + i) * lda + k0, v + k0);
      for (int i = 0; i < 4; i++) y[r + i] = dot_tree(acc[i]);
    }
#endif
  for (; r < m; r++) y[r] = dot_row_lanes(k, a + r * lda, v);
}

/* ---- many outputs of 16-lane dots: C = A · Wᵀ ------------------------------ */

/* Every output C[r][j] is dot_row_lanes of row r of A with row j of W: the
 * weights are read along their rows, so neither the forward of a layer
 * (this product) nor its backward (elign_gemm_fixed on the same W, vectors
 * along W's rows) transposes them. A tile keeps one 16-lane accumulator per
 * output and sums each by the tree at the end; the trees of 16 outputs run
 * together as a transpose-and-add network whose every add is one of the
 * tree's own, lane by lane. */
#if (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))) && !defined(ELIGN_DOUBLE) &&                 \
    !defined(ELIGN_GEMM_FIXED_SCALAR)
/* W's rows j0 … j0 + 15 of a block of outputs (past n: the last row again,
 * computed on and not stored) and the next block's (past n: the block's
 * own, prefetched again for nothing). */
static void lanes_block_rows(const float *rows[16], const float *next[16], const float *w, int64_t ldw, int n,
                             int j0) {
  for (int o = 0; o < 16; o++) {
    rows[o] = w + (int64_t)(j0 + o < n ? j0 + o : n - 1) * ldw;
    next[o] = j0 + 16 + o < n ? w + (int64_t)(j0 + 16 + o) * ldw : rows[o];
  }
}
#endif

#if defined(__AVX512F__) && !defined(ELIGN_DOUBLE) && !defined(ELIGN_GEMM_FIXED_SCALAR)
#define LANES_VECTOR 1
/* The tree's levels on pairs of registers, each register holding the
 * partial lanes of several outputs.
 * w = 8: x, y one output each → [x_j + x_j+8 | y_j + y_j+8] (j < 8). */
static inline __m512 lanes_level8(__m512 x, __m512 y) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x44), _mm512_shuffle_f32x4(x, y, 0xEE));
}
/* w = 4: two outputs per register (8 lanes each) → four outputs, 4 lanes each. */
static inline __m512 lanes_level4(__m512 x, __m512 y) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x88), _mm512_shuffle_f32x4(x, y, 0xDD));
}
/* w = 2: four outputs per register (one per 128-bit lane) → eight, 2 lanes each. */
static inline __m512 lanes_level2(__m512 x, __m512 y) {
  const __m512d a = _mm512_castps_pd(x), b = _mm512_castps_pd(y);
  return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
}
/* w = 1: eight outputs → sixteen sums. */
static inline __m512 lanes_level1(__m512 x, __m512 y) {
  return _mm512_add_ps(_mm512_shuffle_ps(x, y, 0x88), _mm512_shuffle_ps(x, y, 0xDD));
}
/* The 16 accumulators' trees; element i of the result is accumulator i's sum
 * (the network leaves accumulator q + 4t in element 4q + t; one permutation
 * puts it back). */
static inline __m512 lanes_trees(const __m512 acc[16]) {
  __m512 s[8], u[4], v[2];
  for (int i = 0; i < 8; i++) s[i] = lanes_level8(acc[2 * i], acc[2 * i + 1]);
  for (int i = 0; i < 4; i++) u[i] = lanes_level4(s[2 * i], s[2 * i + 1]);
  for (int i = 0; i < 2; i++) v[i] = lanes_level2(u[2 * i], u[2 * i + 1]);
  const __m512i back = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(back, lanes_level1(v[0], v[1]));
}

/* Rows [0, tr) × outputs [0, to) (tr · to = 16) of C from tr rows of A and
 * the W rows w_rows[0 … to−1]; k in steps of 16, the last one masked (the
 * lanes past k keep their chain). Outputs ≥ n_valid are computed on a
 * repeated row and not stored. With pf (a constant), the rows next_rows[0 …
 * to−1] (the next block's) are prefetched along. */
static inline __attribute__((always_inline)) void lanes_tile(const int tr, const int to, const int pf, int k,
                                                             const float *a, int64_t lda, const float *const *w_rows,
                                                             const float *const *next_rows, float *c, int64_t ldc,
                                                             int n_valid) {
  __m512 acc[16];
  for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
  int q = 0;
  for (; q + 16 <= k; q += 16) {
    if (pf)
      for (int o = 0; o < to; o++) __builtin_prefetch(next_rows[o] + q, 0, 3);
    __m512 x[4];
    for (int r = 0; r < tr; r++) {
      x[r] = _mm512_loadu_ps(a + r * lda + q);
      KEEP_IN_REGISTER(x[r]);
    }
    for (int o = 0; o < to; o++) {
      __m512 v = _mm512_loadu_ps(w_rows[o] + q);
      if (tr > 1) KEEP_IN_REGISTER(v);
      for (int r = 0; r < tr; r++) acc[r * to + o] = _mm512_fmadd_ps(x[r], v, acc[r * to + o]);
    }
  }
  if (q < k) {
    const __mmask16 km = (__mmask16)((1u << (k - q)) - 1u);
    for (int o = 0; o < to; o++) {
      const __m512 v = _mm512_maskz_loadu_ps(km, w_rows[o] + q);
      for (int r = 0; r < tr; r++)
        acc[r * to + o] = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(km, a + r * lda + q), v, acc[r * to + o], km);
    }
  }
  const __m512 sums = lanes_trees(acc);
  const __mmask16 cm = (__mmask16)((1u << (n_valid < to ? n_valid : to)) - 1u);
  for (int r = 0; r < tr; r++) {
    const __m512i from = _mm512_add_epi32(_mm512_set1_epi32(r * to), /* row r's outputs to the front */
                                          _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    _mm512_mask_storeu_ps(c + r * ldc, cm, _mm512_permutexvar_ps(from, sums));
  }
}

/* The 16 outputs from j0: 4 rows at a time by 4 × 4 tiles (a W block of
 * 16 rows is read by every row group from L1), then pairs (2 × 8), then
 * the last row (1 × 16). The first row group prefetches the next block. */
static void lanes_block(int m, int n, int k, const float *a, int64_t lda, const float *w, int64_t ldw, float *c,
                        int64_t ldc, int j0) {
  const float *rows[16], *next[16];
  lanes_block_rows(rows, next, w, ldw, n, j0);
  const int valid = n - j0;
  int r = 0;
  for (; r + 4 <= m; r += 4)
    for (int o = 0; o < valid && o < 16; o += 4) {
      if (r == 0) lanes_tile(4, 4, 1, k, a, lda, rows + o, next + o, c + j0 + o, ldc, valid - o);
      else lanes_tile(4, 4, 0, k, a + r * lda, lda, rows + o, next + o, c + r * ldc + j0 + o, ldc, valid - o);
    }
  for (; r + 2 <= m; r += 2)
    for (int o = 0; o < valid && o < 16; o += 8) {
      if (r == 0) lanes_tile(2, 8, 1, k, a, lda, rows + o, next + o, c + j0 + o, ldc, valid - o);
      else lanes_tile(2, 8, 0, k, a + r * lda, lda, rows + o, next + o, c + r * ldc + j0 + o, ldc, valid - o);
    }
  if (r < m) {
    if (r == 0) lanes_tile(1, 16, 1, k, a, lda, rows, next, c + j0, ldc, valid);
    else lanes_tile(1, 16, 0, k, a + r * lda, lda, rows, next, c + r * ldc + j0, ldc, valid);
  }
}
#elif defined(__AVX2__) && defined(__FMA__) && !defined(ELIGN_DOUBLE) && !defined(ELIGN_GEMM_FIXED_SCALAR)
#define LANES_VECTOR 1
/* 16 lanes as two registers (lanes 0–7 and 8–15): level w = 8 is their
 * sum. The other levels for four outputs s[0 … 3] (8 lanes each) at once:
 * w = 4 on 128-bit halves, w = 2 on 64-bit pairs, w = 1 on neighbours; the
 * sums land in elements 0, 4, 1, 5 and are put back in order. */
static inline __m256 lanes_trees4(const __m256 s[4]) {
  const __m256 u0 =
      _mm256_add_ps(_mm256_permute2f128_ps(s[0], s[1], 0x20), _mm256_permute2f128_ps(s[0], s[1], 0x31));
  const __m256 u1 =
      _mm256_add_ps(_mm256_permute2f128_ps(s[2], s[3], 0x20), _mm256_permute2f128_ps(s[2], s[3], 0x31));
  const __m256d d0 = _mm256_castps_pd(u0), d1 = _mm256_castps_pd(u1);
  const __m256 v =
      _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(d0, d1)), _mm256_castpd_ps(_mm256_unpackhi_pd(d0, d1)));
  const __m256 t = _mm256_add_ps(_mm256_shuffle_ps(v, v, 0x88), _mm256_shuffle_ps(v, v, 0xDD));
  return _mm256_permutevar8x32_ps(t, _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0));
}

/* One half of the 16 lanes (half 0: lanes 0–7, half 1: lanes 8–15) of rows
 * [0, tr) (tr ≤ 3) × outputs [0, 4): acc[4r + o]. The two halves are
 * separate chains, so a tile runs them one after the other: twelve
 * accumulators instead of 24 leave registers for the three rows of A and
 * W's vector (16 in all), and the second pass re-reads A and W from L1
 * (ANI-2x valine batch 32 against the chains over k with Wᵀ: 3 × 4 on par,
 * 2 × 4 4 % slower, 2 × 2 with both halves at once 19 %, load-bound). The
 * last k step is masked (a blend keeps the lanes past k: fma(0, 0, acc)
 * could flip −0); with pf, the next block's rows are prefetched along
 * (first pass). */
static inline __attribute__((always_inline)) void lanes_half(const int tr, const int half, const int pf, int k,
                                                             const float *a, int64_t lda, const float *const *w_rows,
                                                             const float *const *next_rows, __m256 acc[12]) {
  for (int i = 0; i < 4 * tr; i++) acc[i] = _mm256_setzero_ps();
  int q = 0;
  for (; q + 16 <= k; q += 16) {
    if (pf)
      for (int o = 0; o < 4; o++) __builtin_prefetch(next_rows[o] + q, 0, 3);
    __m256 x[3];
    for (int r = 0; r < tr; r++) {
      x[r] = _mm256_loadu_ps(a + r * lda + q + 8 * half);
      KEEP_IN_REGISTER(x[r]);
    }
    for (int o = 0; o < 4; o++) {
      __m256 v = _mm256_loadu_ps(w_rows[o] + q + 8 * half);
      if (tr > 1) KEEP_IN_REGISTER(v);
      for (int r = 0; r < tr; r++) acc[4 * r + o] = _mm256_fmadd_ps(x[r], v, acc[4 * r + o]);
    }
  }
  const int rest = k - q - 8 * half; /* lanes of this half in the last step */
  if (rest > 0) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(rest), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int o = 0; o < 4; o++) {
      const __m256 v = _mm256_maskload_ps(w_rows[o] + q + 8 * half, m);
      for (int r = 0; r < tr; r++) {
        const __m256 x = _mm256_maskload_ps(a + r * lda + q + 8 * half, m);
        const __m256 next = _mm256_fmadd_ps(x, v, acc[4 * r + o]);
        acc[4 * r + o] = _mm256_blendv_ps(acc[4 * r + o], next, _mm256_castsi256_ps(m));
      }
    }
  }
}

/* Rows [0, tr) (tr ≤ 3) × outputs [0, 4) of C from tr rows of A and the W
 * rows w_rows[0 … 3]: both halves, their sum (level w = 8), the other
 * levels four outputs at a time; outputs ≥ n_valid are not stored. */
static inline __attribute__((always_inline)) void lanes_tile(const int tr, const int pf, int k, const float *a,
                                                             int64_t lda, const float *const *w_rows,
                                                             const float *const *next_rows, float *c, int64_t ldc,
                                                             int n_valid) {
  __m256 lo[12], hi[12];
  lanes_half(tr, 0, pf, k, a, lda, w_rows, next_rows, lo);
  lanes_half(tr, 1, 0, k, a, lda, w_rows, next_rows, hi);
  const __m128i keep = _mm_cmpgt_epi32(_mm_set1_epi32(n_valid), _mm_setr_epi32(0, 1, 2, 3));
  for (int r = 0; r < tr; r++) {
    __m256 s[4];
    for (int o = 0; o < 4; o++) s[o] = _mm256_add_ps(lo[4 * r + o], hi[4 * r + o]);
    _mm_maskstore_ps(c + r * ldc, keep, _mm256_castps256_ps128(lanes_trees4(s)));
  }
}

/* The 16 outputs from j0, three rows by four outputs at a time (the W block
 * of 16 rows read by every row group from L1), then the last one or two
 * rows; the first rows prefetch the next block. */
static void lanes_block(int m, int n, int k, const float *a, int64_t lda, const float *w, int64_t ldw, float *c,
                        int64_t ldc, int j0) {
  const float *rows[16], *next[16];
  lanes_block_rows(rows, next, w, ldw, n, j0);
  const int valid = n - j0;
  for (int r = 0; r < m; r += 3)
    for (int o = 0; o < valid && o < 16; o += 4) {
      float *cr = c + r * ldc + j0 + o;
      if (r + 3 > m) {
        if (m - r == 2) lanes_tile(2, r == 0, k, a + r * lda, lda, rows + o, next + o, cr, ldc, valid - o);
        else lanes_tile(1, r == 0, k, a + r * lda, lda, rows + o, next + o, cr, ldc, valid - o);
      } else if (r == 0) lanes_tile(3, 1, k, a, lda, rows + o, next + o, cr, ldc, valid - o);
      else lanes_tile(3, 0, k, a + r * lda, lda, rows + o, next + o, cr, ldc, valid - o);
    }
}
#endif

/* Rows of A per sweep over all outputs: every 16 outputs re-read the sweep's
 * rows, which then stay in L2 beside W (128 rows × 384 floats = 192 KB;
 * valine batch 32, 352 rows per element, measured the same with and
 * without; larger batches would stream A from L3 once per 16 outputs). */
#define LANES_ROW_BLOCK 128
void elign_gemm_fixed_lanes(int m, int n, int k, const elign_real *a, int64_t lda, const elign_real *w, int64_t ldw,
                            elign_real *c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
#ifdef LANES_VECTOR
  for (int r0 = 0; r0 < m; r0 += LANES_ROW_BLOCK) {
    const int rows = m - r0 < LANES_ROW_BLOCK ? m - r0 : LANES_ROW_BLOCK;
    for (int j0 = 0; j0 < n; j0 += 16)
      lanes_block(rows, n, k, a + (int64_t)r0 * lda, lda, w, ldw, c + (int64_t)r0 * ldc, ldc, j0);
  }
#else
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++) c[(int64_t)r * ldc + j] = dot_row_lanes(k, a + (int64_t)r * lda, w + (int64_t)j * ldw);
#endif
}
