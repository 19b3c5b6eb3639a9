/* test_ani_gemm.c — the fixed-order products of the ANI networks
 * (oracle/ani/ani_gemm.h), built in float (elign_core) and double
 * (ani_double).
 *
 * 1. Bit for bit equal to their definition written as plain scalar fma
 *    chains, for shapes that hit every tile (rows 1 … 6 and beyond, full and
 *    partial vector groups, scalar column tails, k across the k blocks,
 *    strided operands, alpha ≠ 1).
 * 2. Close to a double-precision product (the definition is a GEMM).
 * 3. Row independence: any subset of rows, at any position, computed alone
 *    gives the same bits (what makes a molecule's numbers batch-independent).
 * 4. Column compaction: dropping k indices whose A column is exactly zero
 *    does not change a bit (ani_net.c drops AEV columns of absent species). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/ani/ani_gemm.h"
#include "testutil.h"

#define SFMA(a, b, c) ANI_MADD(a, b, c) /* the kernel's multiply-add (fused where the target has FMA) */
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

static elign_real *random_matrix(int rows, int cols, int64_t ld) {
  elign_real *x = malloc(sizeof(elign_real) * (size_t)(rows ? rows : 1) * (size_t)(ld ? ld : 1));
  for (int64_t i = 0; i < (int64_t)rows * ld; i++) x[i] = urand();
  (void)cols;
  return x;
}

/* The definition: c = alpha · (chain over each k block, blocks added in order). */
static void reference_blocks(int m, int n, int k, int kblock, elign_real alpha, const elign_real *a, int64_t lda,
                             const elign_real *b, int64_t ldb, elign_real *c, int64_t ldc) {
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++) {
      elign_real total = 0;
      for (int k0 = 0; k0 < k; k0 += kblock) {
        elign_real acc = 0;
        for (int q = k0; q < k0 + kblock && q < k; q++) acc = SFMA(a[r * lda + q], b[(int64_t)q * ldb + j], acc);
        total = k0 == 0 ? acc : total + acc;
      }
      c[r * ldc + j] = alpha * total;
    }
}

static int same_bits(const elign_real *x, int64_t ldx, const elign_real *y, int64_t ldy, int rows, int cols) {
  for (int r = 0; r < rows; r++)
    if (memcmp(x + r * ldx, y + r * ldy, sizeof(elign_real) * (size_t)cols)) return 0;
  return 1;
}

static void check_shape(int m, int n, int k, int pad, elign_real alpha) {
  const int64_t lda = k + pad, ldb = n + pad, ldc = n + pad;
  elign_real *a = random_matrix(m, k, lda), *b = random_matrix(k, n, ldb);
  elign_real *c = malloc(sizeof(elign_real) * (size_t)(m ? m : 1) * ldc);
  elign_real *want = malloc(sizeof(elign_real) * (size_t)(m ? m : 1) * ldc);
  /* single chain */
  ani_gemm_fixed(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  reference_blocks(m, n, k, k > 0 ? k : 1, alpha, a, lda, b, ldb, want, ldc);
  int exact = same_bits(c, ldc, want, ldc, m, n);
  if (!exact) fprintf(stderr, "ani_gemm_fixed m=%d n=%d k=%d pad=%d: differs from its definition\n", m, n, k, pad);
  CHECK(exact);
  /* against a double product: |c − ab| ≤ tol · Σ|a||b| */
  double worst = 0;
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++) {
      double s = 0, sa = 0;
      for (int q = 0; q < k; q++) {
        s += (double)a[r * lda + q] * b[(int64_t)q * ldb + j];
        sa += fabs((double)a[r * lda + q] * b[(int64_t)q * ldb + j]);
      }
      double d = fabs(c[r * ldc + j] - alpha * s) / (fabs((double)alpha) * sa + 1e-300);
      if (d > worst) worst = d;
    }
  CHECK(worst <= TOL_REL);
  /* block sums: the definition, for a few block sizes */
  const int blocks[3] = {1, 7, 64};
  for (int t = 0; t < 3; t++) {
    ani_gemm_blocksum(m, n, k, blocks[t], alpha, a, lda, b, ldb, c, ldc);
    reference_blocks(m, n, k, blocks[t], alpha, a, lda, b, ldb, want, ldc);
    exact = same_bits(c, ldc, want, ldc, m, n);
    if (!exact) fprintf(stderr, "ani_gemm_blocksum m=%d n=%d k=%d kblock=%d: differs\n", m, n, k, blocks[t]);
    CHECK(exact);
  }
  free(a);
  free(b);
  free(c);
  free(want);
}

/* Rows r0 … r0+len−1 computed alone equal the same rows of the full call. */
static void check_row_independence(void) {
  const int m = 40, n = 200, k = 300; /* n: 3 full 64-wide groups + a partial one + no tail (float AVX-512) */
  elign_real *a = random_matrix(m, k, k), *b = random_matrix(k, n, n);
  elign_real *full = malloc(sizeof(elign_real) * m * n), *part = malloc(sizeof(elign_real) * m * n);
  ani_gemm_fixed(m, n, k, 1, a, k, b, n, full, n);
  int ok = 1;
  for (int r0 = 0; r0 < m; r0 += 3)
    for (int len = 1; r0 + len <= m && len <= 13; len += 4) {
      ani_gemm_fixed(len, n, k, 1, a + (int64_t)r0 * k, k, b, n, part, n);
      ok &= same_bits(part, n, full + (int64_t)r0 * n, n, len, n);
      ani_gemm_blocksum(len, n, k, 50, 1, a + (int64_t)r0 * k, k, b, n, part, n);
      elign_real *fb = malloc(sizeof(elign_real) * m * n);
      ani_gemm_blocksum(m, n, k, 50, 1, a, k, b, n, fb, n);
      ok &= same_bits(part, n, fb + (int64_t)r0 * n, n, len, n);
      free(fb);
    }
  CHECK(ok);
  /* ani_dot_rows: each row alone, and against its definition */
  elign_real *y = malloc(sizeof(elign_real) * m), y1;
  const elign_real *v = b; /* first row of b as the vector, length k ≤ n·k */
  ani_dot_rows(m, k, a, k, v, y);
  int dot_ok = 1;
  for (int r = 0; r < m; r++) {
    ani_dot_rows(1, k, a + (int64_t)r * k, k, v, &y1);
    elign_real lane[16] = {0};
    for (int q = 0; q < k; q++) lane[q % 16] = SFMA(a[(int64_t)r * k + q], v[q], lane[q % 16]);
    for (int w = 8; w >= 1; w /= 2)
      for (int j = 0; j < w; j++) lane[j] += lane[j + w];
    dot_ok &= y1 == y[r] && lane[0] == y[r];
  }
  CHECK(dot_ok);
  printf("row independence: %s; dot rows: %s\n", ok ? "bitwise" : "DIFFERS", dot_ok ? "bitwise" : "DIFFERS");
  free(y);
  free(a);
  free(b);
  free(full);
  free(part);
}

/* Zero columns of A (and the matching rows of B) dropped: same bits. */
static void check_compaction(void) {
  const int m = 9, n = 96, k = 384;
  elign_real *a = random_matrix(m, k, k), *b = random_matrix(k, n, n);
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
  ani_gemm_fixed(m, n, k, 1, a, k, b, n, c, n);
  ani_gemm_fixed(m, n, kc, 1, ac, kc, bc, n, cc, n);
  int ok = same_bits(c, n, cc, n, m, n);
  printf("column compaction (%d of %d columns): %s\n", kc, k, ok ? "bitwise" : "DIFFERS");
  CHECK(ok);
  free(a);
  free(b);
  free(ac);
  free(bc);
  free(c);
  free(cc);
}

int main(void) {
  printf("ani_gemm path: %s, %s\n", ani_gemm_isa(), sizeof(elign_real) == 4 ? "float32" : "float64");
  const int ms[] = {1, 2, 3, 5, 6, 7, 11, 13, 40};
  const int ns[] = {1, 7, 16, 33, 64, 96, 224, 257};
  const int ks[] = {1, 5, 255, 256, 257, 600};
  for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
    for (size_t j = 0; j < sizeof ns / sizeof *ns; j++)
      for (size_t q = 0; q < sizeof ks / sizeof *ks; q++)
        check_shape(ms[i], ns[j], ks[q], (int)((i + j + q) % 3), (q % 2) ? (elign_real)0.125 : (elign_real)1);
  check_shape(0, 16, 16, 0, 1); /* empty */
  check_shape(4, 16, 0, 1, 1);  /* k = 0: zeros */
  check_row_independence();
  check_compaction();
  return test_main_result("ani_gemm");
}
