/* bench_egnn.c — EGNN forward / forward+backward speed against the PyTorch
 * reference, GEMM efficiency against the machine's sgemm peak, and the
 * activation memory per molecule. Run manually (not in ctest):
 *
 *   OMP_NUM_THREADS=2 build/bench/bench_egnn [--mols 32] [--min 10] [--max 29]
 *        [--reps 5] [--threads 1,2] [--torch bench/egnn_torch.py [--edm DIR] | --no-torch] [--same-size]
 *
 * --edm DIR times the ORIGINAL EDM EGNN_dynamics_QM9 from a local checkout of
 * ehoogeboom/e3_diffusion_for_molecules instead of tools/egnn_reference.py.
 *
 * QM9 architecture (L=9, F=256, H=6). Molecule sizes uniform in [min, max]
 * from a fixed seed (--same-size: all of size (min+max)/2, no padding waste
 * on the PyTorch side). For each thread count: our forward (sampling
 * workspace, no activations kept), forward (training workspace), and
 * forward+backward; the PyTorch reference is run by the Debian interpreter
 * with torch.set_num_threads equal to ours on the same sizes; ratios printed.
 * GFLOP/s count only GEMM FLOPs (egnn_forward_gemm_flops; backward = 2×).
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/egnn.h"
#include "common/nn/blas.h"
#include "common/base/log.h"
#include "tests/testrng.h"

typedef elign_real real;

void openblas_set_num_threads(int);

static uint64_t rs = 2024;
static double urand(void) { return testrng_uniform(&rs); }
static double nrand(void) { return testrng_normal(&rs); }

/* Large SGEMM in the current thread setting: the machine's practical peak
 * (best of 5; the caller takes the best of a measurement before and after). */
static double sgemm_peak_gflops(void) {
  int n = 1536;
  float *a = malloc((size_t)n * n * sizeof(float)), *b = malloc((size_t)n * n * sizeof(float)),
        *c = malloc((size_t)n * n * sizeof(float));
  for (size_t k = 0; k < (size_t)n * n; k++) a[k] = (float)urand(), b[k] = (float)urand(), c[k] = 0;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n); /* warm-up */
  double best = 1e30;
  for (int r = 0; r < 5; r++) {
    double t0 = elign_wtime();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double t = elign_wtime() - t0;
    if (t < best) best = t;
  }
  free(a), free(b), free(c);
  return 2.0 * n * n * (double)n / best * 1e-9;
}

typedef struct {
  double fwd_nograd, fwd, fwdbwd; /* ms */
  double peak;                    /* GFLOP/s of a large sgemm at that moment */
} times;

/* Run the PyTorch reference; returns 1 and fills t on success. */
static int run_torch(const char *script, const char *edm, int threads, int reps, int n_mol, const int64_t *sizes, times *t) {
  char cmd[8192];
  int len = snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d %s %s --threads %d --reps %d %s%s --sizes ", threads,
                     ELIGN_PYTHON_EXECUTABLE, script, threads, reps, edm ? "--edm " : "", edm ? edm : "");
  for (int b = 0; b < n_mol && len < (int)sizeof cmd - 16; b++)
    len += snprintf(cmd + len, sizeof cmd - (size_t)len, "%s%lld", b ? "," : "", (long long)sizes[b]);
  FILE *p = popen(cmd, "r");
  if (!p) return 0;
  char line[512];
  int ok = 0;
  while (fgets(line, sizeof line, p))
    if (sscanf(line, "TORCH fwd_nograd_ms %lf fwd_ms %lf fwdbwd_ms %lf peak_gflops %lf", &t->fwd_nograd, &t->fwd,
               &t->fwdbwd, &t->peak) == 4)
      ok = 1;
  pclose(p);
  return ok;
}

int main(int argc, char **argv) {
  int n_mol = 32, nmin = 10, nmax = 29, reps = 5, same = 0, use_torch = 1;
  const char *script = "bench/egnn_torch.py", *edm = NULL;
  char thread_list[64] = "1,2";
  for (int k = 1; k < argc; k++) {
    if (!strcmp(argv[k], "--mols") && k + 1 < argc) n_mol = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--min") && k + 1 < argc) nmin = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--max") && k + 1 < argc) nmax = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--reps") && k + 1 < argc) reps = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--threads") && k + 1 < argc) snprintf(thread_list, sizeof thread_list, "%s", argv[++k]);
    else if (!strcmp(argv[k], "--torch") && k + 1 < argc) script = argv[++k];
    else if (!strcmp(argv[k], "--edm") && k + 1 < argc) edm = argv[++k];
    else if (!strcmp(argv[k], "--no-torch")) use_torch = 0;
    else if (!strcmp(argv[k], "--same-size")) same = 1;
    else {
      fprintf(stderr, "usage: bench_egnn [--mols B] [--min n] [--max n] [--reps r] [--threads 1,2] "
                      "[--torch script.py [--edm EDM_CHECKOUT] | --no-torch] [--same-size]\n");
      return 2;
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  egnn_config c = egnn_config_qm9();
  egnn_model m;
  elign_error err;
  if (egnn_model_init(&m, &c, &err) != ELIGN_OK) return 1;
  int64_t *sizes = malloc((size_t)n_mol * sizeof(int64_t)), *off = malloc((size_t)(n_mol + 1) * sizeof(int64_t));
  off[0] = 0;
  for (int b = 0; b < n_mol; b++) {
    sizes[b] = same ? (nmin + nmax) / 2 : nmin + (int64_t)(urand() * (nmax - nmin + 1));
    off[b + 1] = off[b] + sizes[b];
  }
  int64_t N = off[n_mol], E = egnn_batch_edges(n_mol, off);
  int D = 3 + c.in_node_nf;
  real *p = malloc(m.n_params * sizeof(real)), *g = calloc(m.n_params, sizeof(real));
  egnn_params_init_random(&m, p, 1);
  real *xh = malloc((size_t)(N * D) * sizeof(real)), *eps = malloc((size_t)(N * D) * sizeof(real));
  real *deps = malloc((size_t)(N * D) * sizeof(real)), *dxh = malloc((size_t)(N * D) * sizeof(real));
  real *tau = malloc((size_t)n_mol * sizeof(real));
  for (int64_t k = 0; k < N * D; k++) xh[k] = (real)nrand(), deps[k] = (real)nrand();
  for (int b = 0; b < n_mol; b++) tau[b] = (real)urand();
  egnn_workspace *ws_train = egnn_workspace_create_edges(&m, N, n_mol, E, 1);
  egnn_workspace *ws_fwd = egnn_workspace_create_edges(&m, N, n_mol, E, 0);
  double flops = egnn_forward_gemm_flops(&c, N, E);
  int64_t padded_pairs = 0;
  for (int b = 0, nm = 0; b < n_mol; b++) nm = sizes[b] > nm ? (int)sizes[b] : nm, padded_pairs = (int64_t)n_mol * nm * nm;
  printf("EGNN QM9 (L=%d, F=%d): %d molecules, %lld atoms, %lld edges (torch padded pairs %lld), %s\n", c.n_layers,
         c.hidden, n_mol, (long long)N, (long long)E, (long long)padded_pairs, ELIGN_REAL_NAME);
  printf("memory: training workspace %.1f MB, forward-only %.1f MB; activations kept per molecule: "
         "n=10 %.2f MB, n=19 %.2f MB, n=29 %.2f MB\n",
         egnn_workspace_bytes(ws_train) / 1e6, egnn_workspace_bytes(ws_fwd) / 1e6,
         egnn_activation_bytes(&c, 10, 90) / 1e6, egnn_activation_bytes(&c, 19, 342) / 1e6,
         egnn_activation_bytes(&c, 29, 812) / 1e6);

  char *save = NULL, *tok;
  for (tok = strtok_r(thread_list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int th = atoi(tok);
    omp_set_num_threads(th);
    openblas_set_num_threads(th);
    double peak = sgemm_peak_gflops();
    times us = {1e30, 1e30, 1e30, 0};
    int our_reps = reps < 5 ? 5 : reps; /* ours are cheap: more reps against a noisy shared machine */
    for (int r = 0; r < our_reps + 1; r++) { /* first rep = warm-up, then best of reps */
      double t0 = elign_wtime();
      egnn_dynamics_forward(&m, p, ws_fwd, n_mol, off, xh, tau, eps, &err);
      double t1 = elign_wtime();
      egnn_dynamics_forward(&m, p, ws_train, n_mol, off, xh, tau, eps, &err);
      double t2 = elign_wtime();
      egnn_dynamics_backward(&m, p, g, ws_train, deps, dxh);
      double t3 = elign_wtime();
      if (r == 0) continue;
      us.fwd_nograd = fmin(us.fwd_nograd, 1e3 * (t1 - t0));
      us.fwd = fmin(us.fwd, 1e3 * (t2 - t1));
      us.fwdbwd = fmin(us.fwdbwd, 1e3 * (t3 - t1));
    }
    peak = fmax(peak, sgemm_peak_gflops()); /* best of before and after */
    double gf_fwd = flops / (us.fwd_nograd * 1e-3) * 1e-9, gf_fb = 3 * flops / (us.fwdbwd * 1e-3) * 1e-9;
    printf("\nthreads %d: sgemm peak %.1f GFLOP/s\n", th, peak);
    printf("  elign  forward (sampling) %8.2f ms  %6.1f GFLOP/s (%4.1f%% of peak)  %.3f ms/molecule\n",
           us.fwd_nograd, gf_fwd, 100 * gf_fwd / peak, us.fwd_nograd / n_mol);
    printf("  elign  forward (training) %8.2f ms\n", us.fwd);
    printf("  elign  forward+backward   %8.2f ms  %6.1f GFLOP/s (%4.1f%% of peak)\n", us.fwdbwd, gf_fb,
           100 * gf_fb / peak);
    times tt;
    if (use_torch && run_torch(script, edm, th, reps, n_mol, sizes, &tt)) {
      printf("  torch (%s)\n", edm ? "original EDM EGNN_dynamics_QM9" : "tools/egnn_reference.py");
      /* load-normalised ratio: each time scaled by the sgemm peak measured
       * around it (the machine is shared; raw ratios swing with its load) */
      double k = tt.peak / peak;
      printf("  torch (its sgemm peak %.1f GFLOP/s)   raw ratio   load-normalised ratio\n", tt.peak);
      printf("  torch  forward (no_grad)  %8.2f ms   elign %5.2fx   %5.2fx\n", tt.fwd_nograd,
             tt.fwd_nograd / us.fwd_nograd, k * tt.fwd_nograd / us.fwd_nograd);
      printf("  torch  forward            %8.2f ms   elign %5.2fx   %5.2fx\n", tt.fwd, tt.fwd / us.fwd,
             k * tt.fwd / us.fwd);
      printf("  torch  forward+backward   %8.2f ms   elign %5.2fx   %5.2fx\n", tt.fwdbwd, tt.fwdbwd / us.fwdbwd,
             k * tt.fwdbwd / us.fwdbwd);
    } else if (use_torch) {
      printf("  torch: reference did not run (%s)\n", script);
    }
  }
  egnn_workspace_free(&ws_train);
  egnn_workspace_free(&ws_fwd);
  free(sizes), free(off), free(p), free(g), free(xh), free(eps), free(deps), free(dxh), free(tau);
  egnn_model_free(&m);
  return 0;
}
