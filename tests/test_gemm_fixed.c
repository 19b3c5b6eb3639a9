/* test_gemm_fixed.c — the fixed-order products (common/nn/gemm_fixed.h),
 * built in float (elign_core) and double (gemm_fixed_dbl).
 *
 * 1. Bit for bit equal to their definition written as plain scalar fma
 *    chains, for shapes that hit every tile (rows 1 … 6 and beyond, full and
 *    partial vector groups, scalar column tails, k across the k blocks,
 *    strided operands, alpha ≠ 1, beta = 0 and beta ≠ 0), and the
 *    transposed-weight forms (W packed per call) equal to the plain one on
 *    an explicit transpose. The 16-lane product (elign_gemm_fixed_lanes)
 *    bit for bit its definition (each output the dot of
 *    elign_dot_rows_fixed) at every row count through its tiles, with
 *    output and k tails; aligned groups of zero columns dropped keep it.
 * 2. Close to a double-precision product (the definition is a GEMM).
 * 3. Row independence: any subset of rows, at any position, computed alone
 *    gives the same bits (what makes a molecule's numbers batch-independent).
 * 4. Column compaction: dropping k indices whose A column is exactly zero
 *    does not change a bit (ani_net.c drops AEV columns of absent species).
 * 5. Threads: the row-parallel forms give the serial bits for 1, 2, 3
 *    threads.
 * 6. The row-wise products of common/nn/blas.h that the EGNN layers call
 *    (xwt, xw, gemv_xv), for widths N, K in {32, 64, 128, 129, 256}: the
 *    rows of a call of 1 … 40 or 200 rows, at several positions, have the
 *    bits of the same rows inside a call of 240 (1 and 2 threads), and those
 *    are the bits of the definition and close to a double product. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/nn/blas.h"
#include "common/nn/gemm_fixed.h"
#include "testutil.h"

#define SFMA(a, b, c) ELIGN_FIXED_MADD(a, b, c) /* the kernel's multiply-add (fused where the target has FMA) */
#ifdef ELIGN_DOUBLE
#define TOL_REL 1e-12
#else
#define TOL_REL 2e-5
#endif

static uint64_t rng_state = 0x853c49e6748fea9bULL;
static elign_real urand(void) { /* uniform in [−1, 1) */
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (elign_real)((double)(rng_state >> 11) / 4503599627370496.0 - 1.0);
}

static elign_real *random_matrix(int rows, int64_t ld) {
  elign_real *x = malloc(sizeof(elign_real) * (size_t)(rows ? rows : 1) * (size_t)(ld ? ld : 1));
  for (int64_t i = 0; i < (int64_t)rows * ld; i++) x[i] = urand();
  return x;
}

static elign_real *copy_matrix(const elign_real *x, int rows, int64_t ld) {
  elign_real *y = malloc(sizeof(elign_real) * (size_t)(rows ? rows : 1) * (size_t)(ld ? ld : 1));
  memcpy(y, x, sizeof(elign_real) * (size_t)rows * (size_t)ld);
  return y;
}

/* The store of gemm_fixed.h: alpha · s, or fma(alpha, s, beta · c_old). */
static elign_real store(elign_real alpha, elign_real s, elign_real beta, elign_real old) {
  return beta != 0 ? SFMA(alpha, s, beta * old) : alpha * s;
}

/* Output (r, j)'s k blocks, each an fma chain from 0, added in order after
 * `start` — or, with from_zero, starting from the first block itself. */
static elign_real block_chains(int r, int j, int k, int kblock, const elign_real *a, int64_t lda, const elign_real *b,
                               int64_t ldb, int from_zero, elign_real start) {
  elign_real total = start;
  for (int k0 = 0; k0 < k; k0 += kblock) {
    elign_real acc = 0;
    for (int q = k0; q < k0 + kblock && q < k; q++) acc = SFMA(a[r * lda + q], b[(int64_t)q * ldb + j], acc);
    total = k0 == 0 && from_zero ? acc : total + acc;
  }
  return total;
}

/* The definition: c = store(alpha, chain over each k block with the blocks
 * added in order, beta, c_old). */
static void reference_blocks(int m, int n, int k, int kblock, elign_real alpha, const elign_real *a, int64_t lda,
                             const elign_real *b, int64_t ldb, elign_real beta, elign_real *c, int64_t ldc) {
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++)
      c[r * ldc + j] = store(alpha, block_chains(r, j, k, kblock, a, lda, b, ldb, 1, 0), beta, c[r * ldc + j]);
}

static int same_bits(const elign_real *x, int64_t ldx, const elign_real *y, int64_t ldy, int rows, int cols) {
  for (int r = 0; r < rows; r++)
    if (memcmp(x + r * ldx, y + r * ldy, sizeof(elign_real) * (size_t)cols)) return 0;
  return 1;
}

/* w (n, k) with row stride ldw holding bᵀ, b (k, n) with row stride ldb. */
static elign_real *transposed(const elign_real *b, int64_t ldb, int k, int n, int64_t ldw) {
  elign_real *w = malloc(sizeof(elign_real) * (size_t)(n ? n : 1) * (size_t)(ldw ? ldw : 1));
  for (int j = 0; j < n; j++)
    for (int64_t q = 0; q < ldw; q++) w[j * ldw + q] = q < k ? b[q * ldb + j] : urand();
  return w;
}

/* |c − (alpha·ab + beta·c_old)| ≤ tol · (|alpha| Σ|a||b| + |beta c_old|), worst case over C. */
static double worst_error(int m, int n, int k, elign_real alpha, const elign_real *a, int64_t lda,
                          const elign_real *b, int64_t ldb, elign_real beta, const elign_real *c_old,
                          const elign_real *c, int64_t ldc) {
  double worst = 0;
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++) {
      double s = 0, sa = 0;
      for (int q = 0; q < k; q++) {
        s += (double)a[r * lda + q] * b[(int64_t)q * ldb + j];
        sa += fabs((double)a[r * lda + q] * b[(int64_t)q * ldb + j]);
      }
      double old = beta != 0 ? (double)beta * c_old[r * ldc + j] : 0;
      double d = fabs(c[r * ldc + j] - (alpha * s + old)) / (fabs((double)alpha) * sa + fabs(old) + 1e-300);
      if (d > worst) worst = d;
    }
  return worst;
}

static void check_shape(int m, int n, int k, int pad, elign_real alpha, elign_real beta) {
  const int64_t lda = k + pad, ldb = n + pad, ldc = n + pad, ldw = k + pad;
  elign_real *a = random_matrix(m, lda), *b = random_matrix(k, ldb), *c0 = random_matrix(m, ldc);
  elign_real *c = copy_matrix(c0, m, ldc), *want = copy_matrix(c0, m, ldc);
  /* single chain, then the store */
  elign_gemm_fixed(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  reference_blocks(m, n, k, k > 0 ? k : 1, alpha, a, lda, b, ldb, beta, want, ldc);
  int exact = same_bits(c, ldc, want, ldc, m, n);
  if (!exact)
    fprintf(stderr, "elign_gemm_fixed m=%d n=%d k=%d pad=%d beta=%g: differs from its definition\n", m, n, k, pad,
            (double)beta);
  CHECK(exact);
  CHECK(worst_error(m, n, k, alpha, a, lda, b, ldb, beta, c0, c, ldc) <= TOL_REL);
  /* the weight given as W (n, k) = Bᵀ: the same bits */
  elign_real *w = transposed(b, ldb, k, n, ldw), *ct = copy_matrix(c0, m, ldc);
  elign_gemm_fixed_bt(m, n, k, alpha, a, lda, w, ldw, beta, ct, ldc);
  exact = same_bits(ct, ldc, c, ldc, m, n);
  if (!exact) fprintf(stderr, "elign_gemm_fixed_bt m=%d n=%d k=%d pad=%d beta=%g: differs\n", m, n, k, pad, (double)beta);
  CHECK(exact);
  /* with a bias row (C overwritten): the definition on rows holding the bias, beta = 1 */
  {
    elign_real *bias = random_matrix(1, n > 0 ? n : 1), *cb = copy_matrix(c0, m, ldc), *wantb = copy_matrix(c0, m, ldc);
    for (int r = 0; r < m; r++)
      for (int j = 0; j < n; j++) wantb[r * ldc + j] = bias[j];
    reference_blocks(m, n, k, k > 0 ? k : 1, 1, a, lda, b, ldb, 1, wantb, ldc);
    elign_gemm_fixed_bt_bias(m, n, k, a, lda, w, ldw, bias, cb, ldc);
    exact = same_bits(cb, ldc, wantb, ldc, m, n);
    if (!exact) fprintf(stderr, "elign_gemm_fixed_bt_bias m=%d n=%d k=%d pad=%d: differs from its definition\n", m, n, k, pad);
    CHECK(exact);
    free(bias), free(cb), free(wantb);
  }
  /* times D element-wise (D a separate matrix, then D = C itself): the
   * definition with beta = 0, then one rounded multiply */
  elign_real *d = random_matrix(m, ldc), *cm = copy_matrix(c0, m, ldc), *wantm = copy_matrix(c0, m, ldc);
  reference_blocks(m, n, k, k > 0 ? k : 1, alpha, a, lda, b, ldb, 0, wantm, ldc);
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++) wantm[r * ldc + j] *= d[r * ldc + j];
  elign_gemm_fixed_mul(m, n, k, alpha, a, lda, b, ldb, d, ldc, cm, ldc);
  exact = same_bits(cm, ldc, wantm, ldc, m, n);
  memcpy(cm, d, sizeof(elign_real) * (size_t)m * (size_t)ldc);
  elign_gemm_fixed_mul(m, n, k, alpha, a, lda, b, ldb, cm, ldc, cm, ldc);
  exact = exact && same_bits(cm, ldc, wantm, ldc, m, n);
  if (!exact) fprintf(stderr, "elign_gemm_fixed_mul m=%d n=%d k=%d pad=%d: differs from its definition\n", m, n, k, pad);
  CHECK(exact);
  free(d), free(cm), free(wantm);
  /* Aᵀ · B added to C in k blocks of 256 (a weight gradient): A given as
   * (k, m) — here the transpose of a — against its definition */
  {
    const int64_t ldat = m + pad;
    elign_real *at = malloc(sizeof(elign_real) * (size_t)(k ? k : 1) * (size_t)(ldat ? ldat : 1));
    for (int q = 0; q < k; q++)
      for (int r = 0; r < m; r++) at[(int64_t)q * ldat + r] = a[r * lda + q];
    elign_real *ct2 = copy_matrix(c0, m, ldc), *want2 = copy_matrix(c0, m, ldc);
    elign_gemm_fixed_tn_acc(m, n, k, at, ldat, b, ldb, ct2, ldc);
    for (int r = 0; r < m; r++)
      for (int j = 0; j < n; j++) want2[r * ldc + j] = block_chains(r, j, k, 256, a, lda, b, ldb, 0, want2[r * ldc + j]);
    exact = same_bits(ct2, ldc, want2, ldc, m, n);
    if (!exact) fprintf(stderr, "elign_gemm_fixed_tn_acc m=%d n=%d k=%d pad=%d: differs from its definition\n", m, n, k, pad);
    CHECK(exact);
    free(at), free(ct2), free(want2);
  }
  /* block sums (C overwritten): the definition, for a few block sizes */
  const int blocks[3] = {1, 7, 64};
  for (int t = 0; t < 3; t++) {
    elign_gemm_fixed_blocksum(m, n, k, blocks[t], alpha, a, lda, b, ldb, c, ldc);
    reference_blocks(m, n, k, blocks[t], alpha, a, lda, b, ldb, 0, want, ldc);
    exact = same_bits(c, ldc, want, ldc, m, n);
    if (!exact) fprintf(stderr, "elign_gemm_fixed_blocksum m=%d n=%d k=%d kblock=%d: differs\n", m, n, k, blocks[t]);
    CHECK(exact);
  }
  free(a), free(b), free(c0), free(c), free(want), free(w), free(ct);
}

/* The 16-lane dot of gemm_fixed.h (elign_dot_rows_fixed, elign_gemm_fixed_lanes,
 * the blas.h gemv): lane q mod 16 chains its steps in order, then the
 * pairwise tree. */
static elign_real lanes_dot(int k, const elign_real *x, const elign_real *y) {
  elign_real lane[16] = {0};
  for (int q = 0; q < k; q++) lane[q % 16] = SFMA(x[q], y[q], lane[q % 16]);
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; j++) lane[j] += lane[j + w];
  return lane[0];
}

/* Rows r0 … r0+len−1 computed alone equal the same rows of the full call. */
static void check_row_independence(void) {
  const int m = 40, n = 200, k = 300; /* n: 3 full 64-wide groups + a partial one + no tail (float AVX-512) */
  elign_real *a = random_matrix(m, k), *b = random_matrix(k, n);
  elign_real *full = malloc(sizeof(elign_real) * m * n), *part = malloc(sizeof(elign_real) * m * n);
  elign_real *fb = malloc(sizeof(elign_real) * m * n);
  elign_gemm_fixed(m, n, k, 1, a, k, b, n, 0, full, n);
  elign_gemm_fixed_blocksum(m, n, k, 50, 1, a, k, b, n, fb, n);
  int ok = 1;
  for (int r0 = 0; r0 < m; r0 += 3)
    for (int len = 1; r0 + len <= m && len <= 13; len += 4) {
      elign_gemm_fixed(len, n, k, 1, a + (int64_t)r0 * k, k, b, n, 0, part, n);
      ok &= same_bits(part, n, full + (int64_t)r0 * n, n, len, n);
      elign_gemm_fixed_blocksum(len, n, k, 50, 1, a + (int64_t)r0 * k, k, b, n, part, n);
      ok &= same_bits(part, n, fb + (int64_t)r0 * n, n, len, n);
    }
  CHECK(ok);
  /* elign_dot_rows_fixed: each row alone, and against its definition, for
   * k = 300 (a tail of 12) and k = 160 (whole 16-lane steps, the vector path) */
  elign_real *y = malloc(sizeof(elign_real) * m), y1;
  const elign_real *v = b; /* first row of b as the vector, length k ≤ n·k */
  int dot_ok = 1;
  const int dot_ks[2] = {k, 160};
  for (int t = 0; t < 2; t++) {
    const int kd = dot_ks[t];
    elign_dot_rows_fixed(m, kd, a, k, v, y);
    for (int r = 0; r < m; r++) {
      elign_dot_rows_fixed(1, kd, a + (int64_t)r * k, k, v, &y1);
      const elign_real want = lanes_dot(kd, a + (int64_t)r * k, v);
      dot_ok &= !memcmp(&y1, &y[r], sizeof y1) && !memcmp(&want, &y[r], sizeof y1);
    }
  }
  CHECK(dot_ok);
  printf("row independence: %s; dot rows: %s\n", ok ? "bitwise" : "DIFFERS", dot_ok ? "bitwise" : "DIFFERS");
  free(y), free(a), free(b), free(full), free(part), free(fb);
}

/* elign_gemm_fixed_lanes bitwise its definition at every row count through
 * its 4-, 2- and 1-row tiles, output tails (n mod 16), k tails and padded
 * strides; and aligned groups of zero columns dropped keep the bits. */
static void check_lanes(void) {
  const int ms[] = {1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 40};
  const int ns[] = {1, 3, 16, 17, 33, 64, 100};
  const int ks[] = {1, 5, 16, 37, 160, 300};
  int cases = 0, exact = 1;
  for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
    for (size_t j = 0; j < sizeof ns / sizeof *ns; j++)
      for (size_t q = 0; q < sizeof ks / sizeof *ks; q++) {
        const int m = ms[i], n = ns[j], k = ks[q], pad = (int)((i + j + q) % 3);
        const int64_t lda = k + pad, ldw = k + 2 * pad, ldc = n + pad;
        elign_real *a = random_matrix(m, lda), *w = random_matrix(n, ldw), *c = random_matrix(m, ldc);
        elign_real *before = copy_matrix(c, m, ldc);
        elign_gemm_fixed_lanes(m, n, k, a, lda, w, ldw, c, ldc);
        int ok = 1;
        for (int r = 0; r < m; r++) {
          for (int col = 0; col < n; col++) {
            const elign_real want = lanes_dot(k, a + r * lda, w + col * ldw);
            ok &= !memcmp(&want, &c[r * ldc + col], sizeof want);
          }
          for (int col = n; col < ldc; col++) ok &= c[r * ldc + col] == before[r * ldc + col]; /* padding untouched */
        }
        if (!ok) fprintf(stderr, "elign_gemm_fixed_lanes m=%d n=%d k=%d: differs from its definition\n", m, n, k);
        exact &= ok;
        cases++;
        free(a), free(w), free(c), free(before);
      }
  CHECK(exact);
  /* compaction: every third aligned group of 16 columns zero in A and dropped */
  const int m = 7, n = 40, k = 384;
  elign_real *a = random_matrix(m, k), *w = random_matrix(n, k);
  elign_real *ac = malloc(sizeof(elign_real) * m * k), *wc = malloc(sizeof(elign_real) * n * k);
  int kc = 0;
  for (int q = 0; q < k; q++) {
    if ((q / 16) % 3 == 1) {
      for (int r = 0; r < m; r++) a[(int64_t)r * k + q] = 0;
      continue;
    }
    for (int r = 0; r < m; r++) ac[(int64_t)r * k + kc] = a[(int64_t)r * k + q];
    for (int r = 0; r < n; r++) wc[(int64_t)r * k + kc] = w[(int64_t)r * k + q];
    kc++;
  }
  elign_real *c = malloc(sizeof(elign_real) * m * n), *cc = malloc(sizeof(elign_real) * m * n);
  elign_gemm_fixed_lanes(m, n, k, a, k, w, k, c, n);
  elign_gemm_fixed_lanes(m, n, kc, ac, k, wc, k, cc, n);
  const int compact_ok = same_bits(c, n, cc, n, m, n);
  CHECK(compact_ok);
  printf("lanes product (%d shapes): %s; aligned compaction (%d of %d columns): %s\n", cases,
         exact ? "bitwise its definition" : "DIFFERS", kc, k, compact_ok ? "bitwise" : "DIFFERS");
  free(a), free(w), free(ac), free(wc), free(c), free(cc);
}

/* Zero columns of A (and the matching rows of B) dropped: same bits. */
static void check_compaction(void) {
  const int m = 9, n = 96, k = 384;
  elign_real *a = random_matrix(m, k), *b = random_matrix(k, n);
  int keep[384], kc = 0;
  for (int q = 0; q < k; q++) {
    int dropped = (q / 16) % 3 == 1; /* every third block of 16 columns */
    if (dropped)
      for (int r = 0; r < m; r++) a[(int64_t)r * k + q] = 0;
    else
      keep[kc++] = q;
  }
  elign_real *ac = malloc(sizeof(elign_real) * m * kc), *bc = malloc(sizeof(elign_real) * kc * n);
  for (int r = 0; r < m; r++)
    for (int q = 0; q < kc; q++) ac[(int64_t)r * kc + q] = a[(int64_t)r * k + keep[q]];
  for (int q = 0; q < kc; q++) memcpy(bc + (int64_t)q * n, b + (int64_t)keep[q] * n, sizeof(elign_real) * n);
  elign_real *c = malloc(sizeof(elign_real) * m * n), *cc = malloc(sizeof(elign_real) * m * n);
  elign_gemm_fixed(m, n, k, 1, a, k, b, n, 0, c, n);
  elign_gemm_fixed(m, n, kc, 1, ac, kc, bc, n, 0, cc, n);
  int ok = same_bits(c, n, cc, n, m, n);
  printf("column compaction (%d of %d columns): %s\n", kc, k, ok ? "bitwise" : "DIFFERS");
  CHECK(ok);
  free(a), free(b), free(ac), free(bc), free(c), free(cc);
}

/* The row-parallel forms on a product large enough to be split: the serial
 * bits for every thread count. */
static void check_threads(void) {
  const int m = 500, n = 129, k = 300;
  elign_real *a = random_matrix(m, k), *b = random_matrix(k, n), *c0 = random_matrix(m, n);
  elign_real *w = transposed(b, n, k, n, k);
  elign_real *serial = copy_matrix(c0, m, n), *c = malloc(sizeof(elign_real) * m * n);
  elign_gemm_fixed(m, n, k, 1, a, k, b, n, 1, serial, n);
  /* the weight-gradient form: C (m', n) += Aᵀ B with A (k' = m rows, m' = k) —
   * a tall reduction, its C rows split over the threads */
  elign_real *tn_serial = copy_matrix(w, n, k), *tn = malloc(sizeof(elign_real) * n * k);
  omp_set_num_threads(1);
  elign_gemm_fixed_tn_acc(n, k, m, c0, n, a, k, tn_serial, k);
  int ok = 1;
  for (int threads = 1; threads <= 3; threads++) {
    omp_set_num_threads(threads);
    memcpy(tn, w, sizeof(elign_real) * n * k);
    elign_gemm_fixed_tn_acc(n, k, m, c0, n, a, k, tn, k);
    ok &= same_bits(tn, k, tn_serial, k, n, k);
    omp_set_num_threads(threads);
    memcpy(c, c0, sizeof(elign_real) * m * n);
    elign_gemm_fixed_rows(m, n, k, 1, a, k, b, n, 1, c, n);
    ok &= same_bits(c, n, serial, n, m, n);
    memcpy(c, c0, sizeof(elign_real) * m * n);
    elign_gemm_fixed_bt(m, n, k, 1, a, k, w, k, 1, c, n);
    ok &= same_bits(c, n, serial, n, m, n);
  }
  omp_set_num_threads(1);
  printf("threads 1, 2, 3: %s\n", ok ? "bitwise" : "DIFFERS");
  CHECK(ok);
  free(a), free(b), free(c0), free(w), free(serial), free(c), free(tn_serial), free(tn);
}

/* ---- 6. the row-wise products of blas.h ---------------------------------- */

/* One of them on `rows` rows: in (rows, in_w) → out (rows, out_w), alpha = 1
 * as in the EGNN; w is the weight W (n, k) (gemv_xv: its first row is v). */
typedef struct {
  const char *name;
  int in_is_k; /* input width k (xwt, gemv_xv) or n (xw) */
  int out_w_n; /* output width n (xwt), k (xw) or 1 (gemv_xv) */
  void (*run)(int rows, int n, int k, const elign_real *in, int ldi, const elign_real *w, int ldw, elign_real beta,
              elign_real *out, int ldo);
  /* the definition of output (r, j) before the store */
  elign_real (*chain)(int r, int j, int n, int k, const elign_real *in, int ldi, const elign_real *w, int ldw);
} rowwise_product;

static void run_xwt(int rows, int n, int k, const elign_real *in, int ldi, const elign_real *w, int ldw,
                    elign_real beta, elign_real *out, int ldo) {
  elign_gemm_xwt(rows, n, k, 1, in, ldi, w, ldw, beta, out, ldo);
}
static void run_xw(int rows, int n, int k, const elign_real *in, int ldi, const elign_real *w, int ldw,
                   elign_real beta, elign_real *out, int ldo) {
  elign_gemm_xw(rows, n, k, 1, in, ldi, w, ldw, beta, out, ldo);
}
static void run_xv(int rows, int n, int k, const elign_real *in, int ldi, const elign_real *w, int ldw,
                   elign_real beta, elign_real *out, int ldo) {
  elign_gemv_xv(rows, k, 1, in, ldi, w, beta, out); /* y has stride 1 (ldo = 1) */
}
static elign_real chain_xwt(int r, int j, int n, int k, const elign_real *in, int ldi, const elign_real *w, int ldw) {
  elign_real s = 0;
  for (int q = 0; q < k; q++) s = SFMA(in[(int64_t)r * ldi + q], w[(int64_t)j * ldw + q], s);
  return s;
}
static elign_real chain_xw(int r, int j, int n, int k, const elign_real *in, int ldi, const elign_real *w, int ldw) {
  elign_real s = 0;
  for (int q = 0; q < n; q++) s = SFMA(in[(int64_t)r * ldi + q], w[(int64_t)q * ldw + j], s);
  return s;
}
static elign_real chain_xv(int r, int j, int n, int k, const elign_real *in, int ldi, const elign_real *w, int ldw) {
  return lanes_dot(k, in + (int64_t)r * ldi, w);
}

static const rowwise_product ROWWISE[] = {
    {"elign_gemm_xwt", 1, 1, run_xwt, chain_xwt},
    {"elign_gemm_xw", 0, 0, run_xw, chain_xw},
    {"elign_gemv_xv", 1, -1, run_xv, chain_xv},
};

enum { TALL = 240 };

/* The tall call: bits of the definition, close to double, the same on 2 threads. */
static int check_tall_call(const rowwise_product *p, int n, int k, int in_w, int out_w, const elign_real *in, int ldi,
                           const elign_real *w, int ldw, elign_real beta, const elign_real *out0, int ldo,
                           elign_real *tall) {
  memcpy(tall, out0, sizeof(elign_real) * (size_t)TALL * ldo);
  p->run(TALL, n, k, in, ldi, w, ldw, beta, tall, ldo);
  int exact = 1;
  double worst = 0;
  for (int r = 0; r < TALL; r++)
    for (int j = 0; j < out_w; j++) {
      const elign_real old = out0[r * ldo + j], got = tall[r * ldo + j];
      const elign_real def = store(1, p->chain(r, j, n, k, in, ldi, w, ldw), beta, old);
      exact &= memcmp(&got, &def, sizeof got) == 0;
      double s = beta != 0 ? (double)beta * old : 0, sa = fabs(s);
      for (int q = 0; q < in_w; q++) {
        double wq = p->out_w_n < 0 ? w[q] : p->in_is_k ? w[(int64_t)j * ldw + q] : w[(int64_t)q * ldw + j];
        s += (double)in[(int64_t)r * ldi + q] * wq, sa += fabs((double)in[(int64_t)r * ldi + q] * wq);
      }
      worst = fmax(worst, fabs(got - s) / (sa + 1e-300));
    }
  elign_real *two = copy_matrix(out0, TALL, ldo);
  omp_set_num_threads(2);
  p->run(TALL, n, k, in, ldi, w, ldw, beta, two, ldo);
  omp_set_num_threads(1);
  int threads_same = same_bits(two, ldo, tall, ldo, TALL, out_w);
  free(two);
  if (!exact || worst > TOL_REL || !threads_same)
    fprintf(stderr, "%s n=%d k=%d beta=%g, %d rows: definition %s, worst relative error %.2g, 2 threads %s\n", p->name,
            n, k, (double)beta, TALL, exact ? "bitwise" : "DIFFERS", worst, threads_same ? "bitwise" : "DIFFER");
  return exact && worst <= TOL_REL && threads_same;
}

/* Rows [r0, r0 + len) alone: the bits they have inside the tall call. */
static int check_row_subsets(const rowwise_product *p, int n, int k, int out_w, const elign_real *in, int ldi,
                             const elign_real *w, int ldw, elign_real beta, const elign_real *out0, int ldo,
                             const elign_real *tall) {
  static const int extra_lens[] = {200};
  elign_real *part = malloc(sizeof(elign_real) * (size_t)TALL * ldo);
  int ok = 1;
  for (int li = 0; li < 41; li++) {
    const int len = li < 40 ? li + 1 : extra_lens[0];
    const int starts[3] = {0, (len * 37) % (TALL - len + 1), TALL - len};
    for (int si = 0; si < 3; si++) {
      const int r0 = starts[si];
      memcpy(part, out0 + (int64_t)r0 * ldo, sizeof(elign_real) * (size_t)len * ldo);
      p->run(len, n, k, in + (int64_t)r0 * ldi, ldi, w, ldw, beta, part, ldo);
      if (!same_bits(part, ldo, tall + (int64_t)r0 * ldo, ldo, len, out_w)) {
        fprintf(stderr, "%s n=%d k=%d beta=%g: rows %d..%d alone differ from the same rows of %d\n", p->name, n, k,
                (double)beta, r0, r0 + len - 1, TALL);
        ok = 0;
      }
    }
  }
  free(part);
  return ok;
}

static void check_rowwise_products(void) {
  static const int widths[] = {32, 64, 128, 129, 256};
  const int n_widths = (int)(sizeof widths / sizeof *widths);
  int ok = 1, cases = 0;
  for (size_t pi = 0; pi < sizeof ROWWISE / sizeof *ROWWISE; pi++) {
    const rowwise_product *p = &ROWWISE[pi];
    for (int a = 0; a < n_widths; a++)
      for (int b = 0; b < n_widths; b++) {
        const int n = widths[a], k = widths[b];
        if (p->out_w_n < 0 && a > 0) continue; /* gemv_xv: one output, only k matters */
        const int in_w = p->in_is_k ? k : n, out_w = p->out_w_n < 0 ? 1 : p->out_w_n ? n : k;
        /* strides as in the EGNN: W1's blocks have ldw = 2F + 2, P has ldy = 2F */
        const int ldi = in_w + (a + b) % 2 * 3, ldw = k + (a + 2 * b) % 3, ldo = out_w == 1 ? 1 : out_w + b % 2 * 5;
        elign_real *in = random_matrix(TALL, ldi), *w = random_matrix(n, ldw), *out0 = random_matrix(TALL, ldo);
        elign_real *tall = malloc(sizeof(elign_real) * (size_t)TALL * ldo);
        for (int beta = 0; beta <= 1; beta++) {
          ok &= check_tall_call(p, n, k, in_w, out_w, in, ldi, w, ldw, (elign_real)beta, out0, ldo, tall);
          ok &= check_row_subsets(p, n, k, out_w, in, ldi, w, ldw, (elign_real)beta, out0, ldo, tall);
          cases++;
        }
        free(in), free(w), free(out0), free(tall);
      }
  }
  printf("blas.h row-wise products (%d shapes and betas): %s\n", cases, ok ? "row-independent, bitwise" : "DIFFER");
  CHECK(ok);
}

int main(void) {
  printf("gemm_fixed path: %s, %s\n", elign_gemm_fixed_isa(), sizeof(elign_real) == 4 ? "float32" : "float64");
  const int ms[] = {1, 2, 3, 5, 6, 7, 11, 13, 40};
  const int ns[] = {1, 7, 16, 33, 64, 96, 224, 257};
  const int ks[] = {1, 5, 255, 256, 257, 600};
  /* alpha = −0.3 (not a power of 2) tells a fused store from a multiply and an add */
  const elign_real alphas[] = {1, (elign_real)0.125, (elign_real)-0.3}, betas[] = {0, 1, (elign_real)-0.75};
  for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
    for (size_t j = 0; j < sizeof ns / sizeof *ns; j++)
      for (size_t q = 0; q < sizeof ks / sizeof *ks; q++)
        check_shape(ms[i], ns[j], ks[q], (int)((i + j + q) % 3), alphas[q % 3], betas[(i + 2 * j + q) % 3]);
  check_shape(0, 16, 16, 0, 1, 0); /* empty */
  check_shape(4, 16, 0, 1, 1, 0);  /* k = 0: zeros */
  check_shape(4, 16, 0, 1, 1, 1);  /* k = 0: C kept */
  check_row_independence();
  check_compaction();
  check_lanes();
  check_threads();
  check_rowwise_products();
  return test_main_result("gemm_fixed");
}
