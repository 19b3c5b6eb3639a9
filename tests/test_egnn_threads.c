/* test_egnn_threads.c — thread-count (in)dependence of ε̂ and all gradients,
 * QM9-width network:
 *  (a) our OpenMP loops own whole atoms (the block forward: whole receiver
 *      rows per edge chunk, chunks shared dynamically) and the row-wise
 *      products (common/nn/blas.h, fixed order) own whole rows, so 1, 2 and
 *      3 OpenMP threads with BLAS single-threaded give BITWISE identical
 *      results;
 *  (b) the bias gradients are OpenBLAS column sums (gemv), which promise no
 *      order across BLAS thread counts, so there the parameter gradients are
 *      only required close — while ε̂ and dxh stay bitwise;
 *  (c) at a FIXED thread count, repeated runs are bitwise identical.
 * Bitwise-reproducible training therefore fixes the BLAS thread count (the
 * MPI layout uses OMP_NUM_THREADS=1 per rank). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/egnn.h"
#include "tests/testutil.h"

typedef elign_real real;
void openblas_set_num_threads(int);

static void run(const egnn_model *m, const real *p, int threads, int blas_threads, int64_t n_mol, const int64_t *off, const real *xh,
                const real *tau, const real *deps, real *eps, real *g, real *dxh) {
  omp_set_num_threads(threads);
  openblas_set_num_threads(blas_threads);
  elign_error err;
  egnn_workspace *ws = egnn_workspace_create(m, off[n_mol], n_mol, 1);
  CHECK(egnn_dynamics_forward(m, p, ws, n_mol, off, xh, tau, eps, &err) == ELIGN_OK);
  egnn_grads_zero(m, g);
  egnn_dynamics_backward(m, p, g, ws, deps, dxh);
  egnn_workspace_free(&ws);
}

int main(void) {
  egnn_config c = egnn_config_qm9();
  c.n_layers = 2;
  egnn_model m;
  elign_error err;
  CHECK(egnn_model_init(&m, &c, &err) == ELIGN_OK);
  real *p = malloc(m.n_params * sizeof(real));
  egnn_params_init_random(&m, p, 11);
  /* 1930 edges: enough for the block forward to share its edge chunks over
   * the threads (plan_edge_chunks, three chunks of up to 540 rows) */
  enum { NMOL = 6 };
  int64_t off[NMOL + 1] = {0, 9, 23, 35, 47, 72, 101};
  int64_t N = off[NMOL];
  int D = 3 + c.in_node_nf;
  real *xh = malloc((size_t)(N * D) * sizeof(real)), *deps = malloc((size_t)(N * D) * sizeof(real));
  real tau[NMOL] = {(real)0.1, (real)0.5, (real)0.7, (real)1.0, (real)0.3, (real)0.9};
  unsigned s = 1;
  for (int64_t k = 0; k < N * D; k++) {
    s = s * 1103515245u + 12345u;
    xh[k] = (real)((double)(s >> 8) / (1u << 24) * 4 - 2);
    deps[k] = (real)((double)((s * 2654435761u) >> 8) / (1u << 24) - 0.5);
  }
  real *e1 = malloc((size_t)(N * D) * sizeof(real)), *e2 = malloc((size_t)(N * D) * sizeof(real));
  real *d1 = malloc((size_t)(N * D) * sizeof(real)), *d2 = malloc((size_t)(N * D) * sizeof(real));
  real *g1 = malloc(m.n_params * sizeof(real)), *g2 = malloc(m.n_params * sizeof(real));
  /* (a) OpenMP 1 vs 2 threads, BLAS 1 thread: bitwise */
  run(&m, p, 1, 1, NMOL, off, xh, tau, deps, e1, g1, d1);
  run(&m, p, 2, 1, NMOL, off, xh, tau, deps, e2, g2, d2);
  CHECK(memcmp(e1, e2, (size_t)(N * D) * sizeof(real)) == 0);
  CHECK(memcmp(d1, d2, (size_t)(N * D) * sizeof(real)) == 0);
  size_t diff = 0;
  for (size_t k = 0; k < m.n_params; k++) diff += g1[k] != g2[k];
  CHECK(diff == 0);
  run(&m, p, 3, 1, NMOL, off, xh, tau, deps, e2, g2, d2); /* a third thread takes the third chunk */
  CHECK(memcmp(e1, e2, (size_t)(N * D) * sizeof(real)) == 0);
  CHECK(memcmp(d1, d2, (size_t)(N * D) * sizeof(real)) == 0);
  /* (b) BLAS 2 threads: close to (a) (float rounding of a 2-block network) */
  run(&m, p, 2, 2, NMOL, off, xh, tau, deps, e2, g2, d2);
  double gmax = 0, dmax = 0;
  for (size_t k = 0; k < m.n_params; k++) {
    double a = fabs((double)g1[k]);
    if (a > gmax) gmax = a;
    if (fabs((double)g2[k] - g1[k]) > dmax) dmax = fabs((double)g2[k] - g1[k]);
  }
  printf("BLAS 1 vs 2 threads: max |dgrad| / max |grad| = %.2e\n", dmax / gmax);
  CHECK(dmax <= 1e-4 * gmax);
  /* ... while ε̂ and dxh, made of row-wise products only, keep their bits */
  CHECK(memcmp(e1, e2, (size_t)(N * D) * sizeof(real)) == 0);
  CHECK(memcmp(d1, d2, (size_t)(N * D) * sizeof(real)) == 0);
  /* (c) same thread count again: bitwise */
  real *g3 = malloc(m.n_params * sizeof(real)), *e3 = malloc((size_t)(N * D) * sizeof(real));
  run(&m, p, 2, 2, NMOL, off, xh, tau, deps, e3, g3, d1);
  CHECK(memcmp(e2, e3, (size_t)(N * D) * sizeof(real)) == 0);
  CHECK(memcmp(g2, g3, m.n_params * sizeof(real)) == 0);
  free(g3), free(e3);
  free(xh), free(deps), free(e1), free(e2), free(d1), free(d2), free(g1), free(g2), free(p);
  egnn_model_free(&m);
  return test_main_result("test_egnn_threads");
}
