/* blas_probe.c — see blas_probe.h. */
#include "common/nn/blas_probe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/nn/blas.h"

enum { PROBE_ROWS = 208, PROBE_WIDTH = 258 };

/* Deterministic values in [-0.5, 0.5) (no library RNG: this runs before anything is set up). */
static void fill(elign_real *x, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = (elign_real)((seed >> 8) & 0xffff) / (elign_real)65536 - (elign_real)0.5;
  }
}

/* The rows of products of height M equal the first M rows of the tallest one. */
static int shape_rows_independent(const elign_real *X, const elign_real *W, elign_real *tall, elign_real *y, int N,
                                  int K, int transposed) {
  static const int heights[] = {16, 32, 48, 80, 112, 160};
  for (int h = -1; h < (int)(sizeof heights / sizeof *heights); h++) {
    int M = h < 0 ? PROBE_ROWS : heights[h];
    elign_real *out = h < 0 ? tall : y;
    if (transposed)
      ELIGN_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, X, K, W, K, 0, out, N);
    else
      ELIGN_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, X, K, W, N, 0, out, N);
    if (h >= 0 && memcmp(y, tall, sizeof *y * (size_t)M * (size_t)N) != 0) return 0;
  }
  return 1;
}

/* One thread: with several, OpenBLAS splits the rows between them and a row's
 * kernel depends on the split on any core; exactness is promised per thread
 * count (blas.h), and what this probe tells apart is the core's kernels. */
int elign_blas_rows_independent(void) {
  int threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  static const int widths_n[] = {32, 128, 129, 256};
  static const int widths_k[] = {64, 130, 258};
  size_t big = (size_t)PROBE_ROWS * PROBE_WIDTH;
  elign_real *X = malloc(sizeof *X * big), *W = malloc(sizeof *W * big);
  elign_real *tall = malloc(sizeof *tall * big), *y = malloc(sizeof *y * big);
  int ok = X && W && tall && y;
  if (ok) {
    fill(X, big, 1u);
    fill(W, big, 2u);
  }
  for (size_t a = 0; ok && a < sizeof widths_n / sizeof *widths_n; a++)
    for (size_t b = 0; ok && b < sizeof widths_k / sizeof *widths_k; b++)
      for (int t = 0; ok && t < 2; t++) ok = shape_rows_independent(X, W, tall, y, widths_n[a], widths_k[b], t);
  free(X);
  free(W);
  free(tall);
  free(y);
  openblas_set_num_threads(threads);
  return ok;
}
