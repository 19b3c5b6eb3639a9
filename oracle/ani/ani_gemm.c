/* ani_gemm.c — fixed-order GEMM for the ANI networks (see ani_gemm.h for the
 * contract: one fma chain per output element, k in increasing order).
 *
 * One micro-tile body, instantiated for every (rows ≤ MR, vectors ≤ NV) pair
 * so that the tails of a matrix run the same chain as its body. The vector
 * type is chosen at compile time (the project builds with -march=native):
 * AVX-512F, AVX2+FMA, or plain C with fma()/fmaf() (vector width 1). Every
 * lane, of a full or of a masked partial vector, computes the same chain. */
#include "oracle/ani/ani_gemm.h"

#include <math.h>
#include <stddef.h>

#if (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))) && !defined(ANI_GEMM_SCALAR)
#include <immintrin.h>
#endif

#define SFMA(a, b, c) ANI_MADD(a, b, c)

#if defined(__AVX512F__) && !defined(ANI_GEMM_SCALAR)
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
#elif defined(__AVX2__) && defined(__FMA__) && !defined(ANI_GEMM_SCALAR)
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

#define TILE_MR_MAX 6
#define PF_ROWS 8 /* software prefetch distance in rows of B (no effect on results) */
#define TILE_NV_MAX 4

/* k block: B panel of KC × (NV·VW) stays in L2 while all row blocks pass
 * over it. The chain continues across blocks through C (exact). */
#define KC 256

const char *ani_gemm_isa(void) { return ISA_NAME; }

/* One mr × (nv·VW) tile of C over kb steps of k. first: the chain starts
 * at 0; otherwise it continues from C (restart = 0) or a fresh chain is
 * added to C (restart = 1). last: multiply by alpha when storing. */
/* masked (nv = 1 only): the vector holds cnt < VW columns; the other lanes
 * compute on zeros and are neither read from B/C nor stored. */
#define LOADV(p, v) (masked ? VLOADM(p, mask) : VLOAD(p))
static inline __attribute__((always_inline)) void tile_body(const int mr, const int nv, const int masked, int cnt,
                                                            int kb, int first, int restart, int last,
                                                            elign_real alpha, const elign_real *a, int64_t lda,
                                                            const elign_real *b, int64_t ldb, elign_real *c,
                                                            int64_t ldc) {
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
    for (int v = 0; v < nv; v++) bv[v] = LOADV(bk + v * VW, v);
    for (int r = 0; r < mr; r++) {
      vreal av = VSET1(a[r * lda + k]);
      for (int v = 0; v < nv; v++) acc[r][v] = VFMA(av, bv[v], acc[r][v]);
    }
  }
  if (restart && !first)
    for (int r = 0; r < mr; r++)
      for (int v = 0; v < nv; v++) acc[r][v] = VADD(LOADV(c + r * ldc + v * VW, v), acc[r][v]);
  if (last) {
    vreal al = VSET1(alpha);
    for (int r = 0; r < mr; r++)
      for (int v = 0; v < nv; v++) acc[r][v] = VMUL(acc[r][v], al);
  }
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++) {
      if (masked) VSTOREM(c + r * ldc + v * VW, acc[r][v], mask);
      else VSTORE(c + r * ldc + v * VW, acc[r][v]);
    }
}

typedef void (*tile_fn)(int cnt, int kb, int first, int restart, int last, elign_real alpha, const elign_real *a, int64_t lda,
                        const elign_real *b, int64_t ldb, elign_real *c, int64_t ldc);

#define TILE(R, V)                                                                                           \
  static void tile_##R##_##V(int cnt, int kb, int first, int restart, int last, elign_real alpha,             \
                             const elign_real *a, int64_t lda, const elign_real *b, int64_t ldb, elign_real *c,  \
                             int64_t ldc) {                                                                   \
    tile_body(R, V, 0, cnt, kb, first, restart, last, alpha, a, lda, b, ldb, c, ldc);                       \
  }
#define TILEM(R)                                                                                             \
  static void tile_##R##_m(int cnt, int kb, int first, int restart, int last, elign_real alpha,                \
                           const elign_real *a, int64_t lda, const elign_real *b, int64_t ldb, elign_real *c,    \
                           int64_t ldc) {                                                                     \
    tile_body(R, 1, 1, cnt, kb, first, restart, last, alpha, a, lda, b, ldb, c, ldc);                       \
  }
#define TILE_ROW(R) TILE(R, 1) TILE(R, 2) TILE(R, 3) TILE(R, 4) TILEM(R)
TILE_ROW(1)
TILE_ROW(2)
TILE_ROW(3)
TILE_ROW(4)
TILE_ROW(5)
TILE_ROW(6)
#define TILE_PTRS(R) {tile_##R##_1, tile_##R##_2, tile_##R##_3, tile_##R##_4}
/* TILES[mr − 1][nv − 1]; only mr ≤ MR, nv ≤ NV are called (larger shapes
 * would not fit the register file of this build). */
static const tile_fn TILES[TILE_MR_MAX][TILE_NV_MAX] = {
    TILE_PTRS(1), TILE_PTRS(2), TILE_PTRS(3), TILE_PTRS(4), TILE_PTRS(5), TILE_PTRS(6),
};
/* MTILES[mr − 1]: one partial vector of columns (masked loads/stores). */
static const tile_fn MTILES[TILE_MR_MAX] = {tile_1_m, tile_2_m, tile_3_m, tile_4_m, tile_5_m, tile_6_m};

/* kc: k block; restart = 0: blocks only bound the cache footprint (one
 * chain continues through C); restart = 1: each block is a fresh chain and
 * the blocks are added in order. */
static void gemm_blocks(int m, int n, int k, int kc, int restart, elign_real alpha, const elign_real *a, int64_t lda,
                        const elign_real *b, int64_t ldb, elign_real *c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int r = 0; r < m; r++)
      for (int j = 0; j < n; j++) c[r * ldc + j] = 0;
    return;
  }
  const int mr_max = MR, tile_w = NV * VW, n_vec = n / VW * VW;
  for (int k0 = 0; k0 < k; k0 += kc) {
    const int kb = k - k0 < kc ? k - k0 : kc, first = k0 == 0, last = k0 + kb == k;
    const elign_real *ak = a + k0, *bk = b + (int64_t)k0 * ldb;
    for (int j0 = 0; j0 < n_vec; j0 += tile_w) {
      const int nv = (n_vec - j0 < tile_w ? n_vec - j0 : tile_w) / VW;
      for (int r0 = 0; r0 < m; r0 += mr_max) {
        const int mr = m - r0 < mr_max ? m - r0 : mr_max;
        TILES[mr - 1][nv - 1](0, kb, first, restart, last, alpha, ak + r0 * lda, lda, bk + j0, ldb,
                              c + r0 * ldc + j0, ldc);
      }
    }
    if (n_vec < n) /* the last n − n_vec < VW columns: one masked vector, same chain per lane */
      for (int r0 = 0; r0 < m; r0 += mr_max) {
        const int mr = m - r0 < mr_max ? m - r0 : mr_max;
        MTILES[mr - 1](n - n_vec, kb, first, restart, last, alpha, ak + r0 * lda, lda, bk + n_vec, ldb,
                       c + r0 * ldc + n_vec, ldc);
      }
  }
}

void ani_gemm_fixed(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda, const elign_real *b,
                    int64_t ldb, elign_real *c, int64_t ldc) {
  gemm_blocks(m, n, k, KC, 0, alpha, a, lda, b, ldb, c, ldc);
}

void ani_gemm_blocksum(int m, int n, int k, int kblock, elign_real alpha, const elign_real *a, int64_t lda,
                       const elign_real *b, int64_t ldb, elign_real *c, int64_t ldc) {
  gemm_blocks(m, n, k, kblock > 0 ? kblock : (k > 0 ? k : 1), 1, alpha, a, lda, b, ldb, c, ldc);
}

void ani_dot_rows(int m, int k, const elign_real *a, int64_t lda, const elign_real *v, elign_real *y) {
  enum { LANES = 16 };
  for (int r = 0; r < m; r++) {
    const elign_real *ar = a + r * lda;
    elign_real lane[LANES] = {0};
    int k0 = 0;
    for (; k0 + LANES <= k; k0 += LANES)
      for (int j = 0; j < LANES; j++) lane[j] = SFMA(ar[k0 + j], v[k0 + j], lane[j]);
    for (int j = 0; k0 + j < k; j++) lane[j] = SFMA(ar[k0 + j], v[k0 + j], lane[j]);
    for (int w = LANES / 2; w >= 1; w /= 2)
      for (int j = 0; j < w; j++) lane[j] += lane[j + w];
    y[r] = lane[0];
  }
}
