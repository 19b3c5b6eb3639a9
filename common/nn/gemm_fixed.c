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

/* ---- W (n, k) read in place, packed per panel ---------------------------- */

/* Without a caller's panel buffer: k steps per stack panel of KCW × (NV·VW)
 * elements (16 KB in float with AVX-512). */
#define KCW 64
#define WT_TILE_W (NV * VW)
#define WT_PANEL_W ((WT_TILE_W + 15) / 16 * 16)

int64_t elign_gemm_fixed_wt_panel_elems(int k) { return (int64_t)WT_PANEL_W * (k > 0 ? k : 1); }

#if (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))) && !defined(ELIGN_DOUBLE) &&                 \
    !defined(ELIGN_GEMM_FIXED_SCALAR)
/* W is transposed in square blocks of WT_BLOCK rows × WT_BLOCK k steps, one
 * vector per row: 16 × 16 with AVX-512, 8 × 8 with AVX2. */
#define WT_BLOCK VW
#if defined(__AVX512F__)
/* r[0 … 15] (16 rows of 16 floats) → their transpose, in 64 shuffles. */
static inline void transpose_block(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) { /* lane L of r[4i + c]: column 4L + c of rows 4i … 4i + 3 */
    const __m512d t0 = _mm512_castps_pd(t[4 * i]), t1 = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d t2 = _mm512_castps_pd(t[4 * i + 2]), t3 = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
  }
  __m512 out[16];
  for (int c = 0; c < 4; c++) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88), u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
    const __m512 u2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    const __m512 u3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
    out[c] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    out[8 + c] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
    out[4 + c] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    out[12 + c] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
  }
  for (int i = 0; i < 16; i++) r[i] = out[i];
}
#else
/* r[0 … 7] (8 rows of 8 floats) → their transpose, in 24 shuffles. */
static inline void transpose_block(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);     /* a0 b0 a1 b1 | a4 b4 a5 b5 */
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]); /* a2 b2 a3 b3 | a6 b6 a7 b7 */
  }
  for (int i = 0; i < 2; i++) { /* u[4i + c]: column c | column c + 4 of rows 4i … 4i + 3 */
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int c = 0; c < 4; c++) {
    r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    r[c + 4] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}
#endif

/* panel (kb, ldp) = Wᵀ of rows 0 … nw−1 and k steps 0 … kb−1 of w, in
 * WT_BLOCK × WT_BLOCK blocks transposed in registers; rows beyond nw are zeros (their
 * columns are computed on zeros and never stored). W is read WT_BLOCK rows at a
 * time; the next WT_BLOCK rows (pf_rows of them exist beyond the panel's) are
 * prefetched one block row ahead, so that the misses of WT_BLOCK streams overlap. */
static void pack_wt_panel(elign_real *panel, int ldp, const elign_real *w, int64_t ldw, int nw, int kb,
                          int pf_rows) {
  for (int j = 0; j < nw; j += WT_BLOCK) {
    const int ahead = min_int(WT_BLOCK, nw + pf_rows - (j + WT_BLOCK));
    for (int q = 0; q < kb; q += WT_BLOCK) {
      const int qn = min_int(WT_BLOCK, kb - q);
      const vmask km = VMASK(qn);
      for (int i = 0; i < ahead; i++) __builtin_prefetch(w + (int64_t)(j + WT_BLOCK + i) * ldw + q, 0, 3);
      vreal r[WT_BLOCK];
      for (int i = 0; i < WT_BLOCK; i++) r[i] = j + i < nw ? VLOADM(w + (int64_t)(j + i) * ldw + q, km) : VZERO();
      transpose_block(r);
      for (int i = 0; i < qn; i++) VSTORE(panel + (int64_t)(q + i) * ldp + j, r[i]);
    }
  }
}

/* Few rows (one molecule): each WT_BLOCK × WT_BLOCK block of W is used by the rows'
 * chains the moment it is transposed, without the panel. The panel route
 * stores every transposed block and reads it back from L2 (64 columns × k
 * do not fit L1), and its transposes and multiply-adds run one after the
 * other; here the shuffles of one block overlap the fma of the previous
 * one and W is read once, in the same WT_BLOCK-row streams. Measured on the
 * 2-core Zen 5 host (AVX-512, W 192 × 384, best of 200): 1 row 7.7 → 6.7 µs
 * with W in L2, 12.5 → 7.9 µs with W in memory; 11 rows 14.3 → 13.1 /
 * 19.3 → 16.3. An output's chain is the same (+0, fma over k in increasing
 * order, then × alpha), so are the bits.
 * Rows [0, mr) × columns [0, min(nw, WT_BLOCK)) of W's rows 0 … WT_BLOCK−1: one
 * accumulator per row (up to 12 with AVX-512's 32 registers, 6 with AVX2's
 * 16: with the WT_BLOCK columns of a block they fill the register file). The
 * next WT_BLOCK rows of W (pf_rows of them exist) are prefetched as
 * pack_wt_panel does. */
#if defined(__AVX512F__)
#define WT_FUSED_ROWS 12
#else
#define WT_FUSED_ROWS 6
#endif
static inline __attribute__((always_inline)) void wt_fused_block(const int mr, int nw, int k, elign_real alpha,
                                                                 const elign_real *a, int64_t lda,
                                                                 const elign_real *w, int64_t ldw, elign_real *c,
                                                                 int64_t ldc, int pf_rows) {
  vreal acc[WT_FUSED_ROWS];
  for (int r = 0; r < mr; r++) acc[r] = VZERO();
  const int rows = min_int(nw, WT_BLOCK), ahead = min_int(WT_BLOCK, pf_rows);
  for (int q = 0; q < k; q += WT_BLOCK) {
    const int qn = min_int(WT_BLOCK, k - q);
    const vmask km = VMASK(qn);
    for (int i = 0; i < ahead; i++) __builtin_prefetch(w + (int64_t)(WT_BLOCK + i) * ldw + q, 0, 3);
    vreal col[WT_BLOCK];
    for (int i = 0; i < WT_BLOCK; i++) col[i] = i < rows ? VLOADM(w + (int64_t)i * ldw + q, km) : VZERO();
    transpose_block(col); /* col[t]: W[0 … WT_BLOCK−1][q + t] */
    if (qn == WT_BLOCK) { /* a constant trip count keeps col in registers */
#pragma GCC unroll 16
      for (int t = 0; t < WT_BLOCK; t++)
        for (int r = 0; r < mr; r++) acc[r] = VFMA(VSET1(a[r * lda + q + t]), col[t], acc[r]);
    } else {
      for (int t = 0; t < qn; t++)
        for (int r = 0; r < mr; r++) acc[r] = VFMA(VSET1(a[r * lda + q + t]), col[t], acc[r]);
    }
  }
  const vreal al = VSET1(alpha);
  const vmask cm = VMASK(rows);
  for (int r = 0; r < mr; r++) VSTOREM(c + r * ldc, VMUL(acc[r], al), cm);
}

typedef void (*wt_fused_fn)(int nw, int k, elign_real alpha, const elign_real *a, int64_t lda, const elign_real *w,
                            int64_t ldw, elign_real *c, int64_t ldc, int pf_rows);
#define WT_FUSED(R)                                                                                           \
  static void wt_fused_##R(int nw, int k, elign_real alpha, const elign_real *a, int64_t lda,                  \
                           const elign_real *w, int64_t ldw, elign_real *c, int64_t ldc, int pf_rows) {       \
    wt_fused_block(R, nw, k, alpha, a, lda, w, ldw, c, ldc, pf_rows);                                         \
  }
WT_FUSED(1)
WT_FUSED(2)
WT_FUSED(3)
WT_FUSED(4)
WT_FUSED(5)
WT_FUSED(6)
#if WT_FUSED_ROWS > 6
WT_FUSED(7)
WT_FUSED(8)
WT_FUSED(9)
WT_FUSED(10)
WT_FUSED(11)
WT_FUSED(12)
#endif
/* WT_FUSED_BY_ROWS[m − 1] */
static const wt_fused_fn WT_FUSED_BY_ROWS[WT_FUSED_ROWS] = {wt_fused_1, wt_fused_2, wt_fused_3,
                                                            wt_fused_4, wt_fused_5, wt_fused_6,
#if WT_FUSED_ROWS > 6
                                                            wt_fused_7, wt_fused_8, wt_fused_9,
                                                            wt_fused_10, wt_fused_11, wt_fused_12
#endif
};

/* C (m ≤ WT_FUSED_ROWS, n) = alpha · A · Wᵀ by fused blocks of WT_BLOCK columns. */
static void wt_fused(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda, const elign_real *w,
                     int64_t ldw, elign_real *c, int64_t ldc) {
  for (int j = 0; j < n; j += WT_BLOCK)
    WT_FUSED_BY_ROWS[m - 1](n - j, k, alpha, a, lda, w + (int64_t)j * ldw, ldw, c + j, ldc, n - j - WT_BLOCK);
}
#define WT_HAVE_FUSED 1
#else
static void pack_wt_panel(elign_real *panel, int ldp, const elign_real *w, int64_t ldw, int nw, int kb,
                          int pf_rows) {
  (void)pf_rows;
  const int width = (nw + VW - 1) / VW * VW;
  for (int q = 0; q < kb; q++)
    for (int j = 0; j < width; j++) panel[(int64_t)q * ldp + j] = j < nw ? w[(int64_t)j * ldw + q] : 0;
}
#endif

void elign_gemm_fixed_wt(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda,
                         const elign_real *w, int64_t ldw, elign_real *c, int64_t ldc, elign_real *panel) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    empty_product(m, n, alpha, 0, c, ldc, NULL, 0, NULL);
    return;
  }
#ifdef WT_HAVE_FUSED
  if (m <= WT_FUSED_ROWS) {
    wt_fused(m, n, k, alpha, a, lda, w, ldw, c, ldc);
    return;
  }
#endif
  _Alignas(64) elign_real stack_panel[KCW * WT_PANEL_W];
  const int kc = panel ? k : KCW;
  if (!panel) panel = stack_panel;
  for (int j0 = 0; j0 < n; j0 += WT_TILE_W) {
    const int nw = min_int(n - j0, WT_TILE_W);
    for (int k0 = 0; k0 < k; k0 += kc) {
      const int kb = min_int(k - k0, kc), first = k0 == 0, last = k0 + kb == k;
      pack_wt_panel(panel, WT_PANEL_W, w + (int64_t)j0 * ldw + k0, ldw, nw, kb, last ? n - j0 - nw : 0);
      block_tiles(m, nw, kb, first, 0, last, alpha, 0, a + k0, lda, 0, panel, WT_PANEL_W, c + j0, ldc, NULL, 0, NULL);
    }
  }
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
  const __m256 u0 = _mm256_add_ps(_mm256_permute2f128_ps(s[0], s[1], 0x20), _mm256_permute2f128_ps(s[0], s[1], 0x31));
  const __m256 u1 = _mm256_add_ps(_mm256_permute2f128_ps(s[2], s[3], 0x20), _mm256_permute2f128_ps(s[2], s[3], 0x31));
  const __m256d d0 = _mm256_castps_pd(u0), d1 = _mm256_castps_pd(u1);
  const __m256 v = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(d0, d1)), _mm256_castpd_ps(_mm256_unpackhi_pd(d0, d1)));
  const __m256 t = _mm256_add_ps(_mm256_shuffle_ps(v, v, 0x88), _mm256_shuffle_ps(v, v, 0xDD));
  return _mm256_permutevar8x32_ps(t, _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0));
}

/* Rows [0, tr) (tr ≤ 2) × outputs [0, 2) of C from tr rows of A and the W
 * rows w_rows[0], w_rows[1]; as the AVX-512 tile otherwise (masked last k
 * step, outputs ≥ n_valid not stored, pf rows prefetched 16 ahead). */
static inline __attribute__((always_inline)) void lanes_tile(const int tr, const int pf, int k, const float *a,
                                                             int64_t lda, const float *const *w_rows,
                                                             const float *const *next_rows, float *c, int64_t ldc,
                                                             int n_valid) {
  __m256 lo[4], hi[4];
  for (int i = 0; i < 4; i++) lo[i] = hi[i] = _mm256_setzero_ps();
  int q = 0;
  for (; q + 16 <= k; q += 16) {
    if (pf)
      for (int o = 0; o < 2; o++) __builtin_prefetch(next_rows[o] + q, 0, 3);
    __m256 xl[2], xh[2];
    for (int r = 0; r < tr; r++) {
      xl[r] = _mm256_loadu_ps(a + r * lda + q);
      xh[r] = _mm256_loadu_ps(a + r * lda + q + 8);
    }
    for (int o = 0; o < 2; o++) {
      __m256 vl = _mm256_loadu_ps(w_rows[o] + q), vh = _mm256_loadu_ps(w_rows[o] + q + 8);
      if (tr > 1) {
        KEEP_IN_REGISTER(vl);
        KEEP_IN_REGISTER(vh);
      }
      for (int r = 0; r < tr; r++) {
        lo[2 * r + o] = _mm256_fmadd_ps(xl[r], vl, lo[2 * r + o]);
        hi[2 * r + o] = _mm256_fmadd_ps(xh[r], vh, hi[2 * r + o]);
      }
    }
  }
  if (q < k) { /* lanes past k keep their chain (a blend, not fma(0, 0, acc), which could flip −0) */
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i ml = _mm256_cmpgt_epi32(_mm256_set1_epi32(k - q), idx);
    const __m256i mh = _mm256_cmpgt_epi32(_mm256_set1_epi32(k - q - 8), idx);
    for (int o = 0; o < 2; o++) {
      const __m256 vl = _mm256_maskload_ps(w_rows[o] + q, ml), vh = _mm256_maskload_ps(w_rows[o] + q + 8, mh);
      for (int r = 0; r < tr; r++) {
        const int i = 2 * r + o;
        const __m256 xl = _mm256_maskload_ps(a + r * lda + q, ml), xh = _mm256_maskload_ps(a + r * lda + q + 8, mh);
        lo[i] = _mm256_blendv_ps(lo[i], _mm256_fmadd_ps(xl, vl, lo[i]), _mm256_castsi256_ps(ml));
        hi[i] = _mm256_blendv_ps(hi[i], _mm256_fmadd_ps(xh, vh, hi[i]), _mm256_castsi256_ps(mh));
      }
    }
  }
  __m256 s[4];
  for (int i = 0; i < 4; i++) s[i] = _mm256_add_ps(lo[i], hi[i]);
  float sums[8];
  _mm256_storeu_ps(sums, lanes_trees4(s));
  for (int r = 0; r < tr; r++)
    for (int o = 0; o < 2 && o < n_valid; o++) c[r * ldc + o] = sums[2 * r + o];
}

/* The 16 outputs from j0, two rows by two outputs at a time (the W block
 * of 16 rows read by every row pair from L1), then the last row; the first
 * rows prefetch the next block. */
static void lanes_block(int m, int n, int k, const float *a, int64_t lda, const float *w, int64_t ldw, float *c,
                        int64_t ldc, int j0) {
  const float *rows[16], *next[16];
  lanes_block_rows(rows, next, w, ldw, n, j0);
  const int valid = n - j0;
  for (int r = 0; r < m; r += 2)
    for (int o = 0; o < valid && o < 16; o += 2) {
      float *cr = c + r * ldc + j0 + o;
      if (r + 2 > m) lanes_tile(1, r == 0, k, a + r * lda, lda, rows + o, next + o, cr, ldc, valid - o);
      else if (r == 0) lanes_tile(2, 1, k, a, lda, rows + o, next + o, cr, ldc, valid - o);
      else lanes_tile(2, 0, k, a + r * lda, lda, rows + o, next + o, cr, ldc, valid - o);
    }
}
#endif

#ifndef LANES_ROW_BLOCK
#define LANES_ROW_BLOCK 128
#endif
void elign_gemm_fixed_lanes(int m, int n, int k, const elign_real *a, int64_t lda, const elign_real *w, int64_t ldw,
                            elign_real *c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
#ifdef LANES_VECTOR
  /* rows in blocks of LANES_ROW_BLOCK, each swept over all outputs: every
   * 16 outputs re-read the block's rows of A, which then stay in L2 beside W */
  for (int r0 = 0; r0 < m; r0 += LANES_ROW_BLOCK) {
    const int rows = m - r0 < LANES_ROW_BLOCK ? m - r0 : LANES_ROW_BLOCK;
    for (int j0 = 0; j0 < n; j0 += 16) lanes_block(rows, n, k, a + (int64_t)r0 * lda, lda, w, ldw, c + (int64_t)r0 * ldc, ldc, j0);
  }
#else
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++) c[(int64_t)r * ldc + j] = dot_row_lanes(k, a + (int64_t)r * lda, w + (int64_t)j * ldw);
#endif
}
