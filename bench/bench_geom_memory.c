/* bench_geom_memory.c — memory per rank for pretraining the GEOM-Drugs
 * architecture (EDM: L=4, F=256, H=16, no charges) on batches of 181-atom
 * molecules, the largest GEOM has. Run manually (not in ctest):
 *
 *   OMP_NUM_THREADS=2 build/bench/bench_geom_memory [--batches 1,8,32] [--run-max 8] [--atoms 181]
 *        [--mean-edges 2236.8 --mean-atoms 46.64 --mean-batch 64]
 *
 * For each batch size B (molecules of --atoms atoms, E = B·n(n−1) edges):
 *   - egnn_activation_bytes: what the training workspace keeps for backward;
 *   - egnn_workspace_bytes: everything the training workspace allocates
 *     (activations + backward scratch); created for every B, but its pages
 *     are touched only when the batch is run;
 *   - for B <= --run-max: one dynamics forward + backward on random data
 *     (timed) and the process's peak RSS afterwards (getrusage), which
 *     includes the parameters, gradients and the input/output arrays.
 * Then a batch of typical GEOM size (--mean-*: B molecules of the mean atom
 * count and mean n(n−1) of EDM's geom_with_h histogram, ALGORITHMS.md App. A).
 * Per-rank model state (parameters, gradients, AdamW m and v, the AMSGrad
 * maximum, the EMA copy) is
 * printed once: it does not depend on B.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/base/launch_env.h"
#include "common/base/log.h"
#include "common/base/rng.h"
#include "common/model/egnn.h"

typedef elign_real real;

static double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

static double peak_rss_mib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0; /* kB on Linux */
}

/* One dynamics forward + backward of B molecules of n atoms; seconds. */
static double run_batch(const egnn_model *m, const real *params, real *grads, egnn_workspace *ws, int64_t B,
                        int64_t n) {
  int64_t N = B * n, D = 3 + m->cfg.in_node_nf;
  int64_t *off = malloc((size_t)(B + 1) * sizeof *off);
  for (int64_t b = 0; b <= B; b++) off[b] = b * n;
  real *xh = malloc((size_t)(N * D) * sizeof *xh), *eps = malloc((size_t)(N * D) * sizeof *eps);
  real *deps = malloc((size_t)(N * D) * sizeof *deps), *dxh = malloc((size_t)(N * D) * sizeof *dxh);
  real *tau = malloc((size_t)B * sizeof *tau);
  elign_rng rng = elign_rng_stream(1, 0, 0, 0, 0, ELIGN_RNG_TEST);
  for (int64_t k = 0; k < N * D; k++) xh[k] = (real)(2.0 * elign_rng_normal(&rng)), deps[k] = (real)elign_rng_normal(&rng);
  for (int64_t b = 0; b < B; b++) tau[b] = (real)elign_rng_uniform(&rng);
  elign_error err;
  double t0 = elign_wtime();
  if (egnn_dynamics_forward(m, params, ws, B, off, xh, tau, eps, &err) != ELIGN_OK) {
    fprintf(stderr, "forward failed: %s\n", err.msg);
    exit(1);
  }
  egnn_dynamics_backward(m, params, grads, ws, deps, dxh);
  double t = elign_wtime() - t0;
  free(off), free(xh), free(eps), free(deps), free(dxh), free(tau);
  return t;
}

static int parse_list(const char *s, int64_t *out, int max) {
  int n = 0;
  while (*s && n < max) {
    out[n++] = strtoll(s, (char **)&s, 10);
    if (*s == ',') s++;
  }
  return n;
}

int main(int argc, char **argv) {
  elign_launch_env_defaults(argv); /* the threads' wait policy `elign` runs with */
  int64_t batches[16] = {1, 8, 32};
  int n_batches = 3;
  int64_t run_max = 8, atoms = 181, mean_batch = 64;
  double mean_edges = 2236.81, mean_atoms = 46.64; /* EDM geom_with_h n_nodes: E[n(n-1)], E[n] */
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--batches")) n_batches = parse_list(argv[i + 1], batches, 16);
    else if (!strcmp(argv[i], "--run-max")) run_max = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--atoms")) atoms = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--mean-edges")) mean_edges = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--mean-atoms")) mean_atoms = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--mean-batch")) mean_batch = atoll(argv[i + 1]);
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  egnn_model m;
  elign_error err;
  egnn_config cfg = egnn_config_geom();
  if (egnn_model_init(&m, &cfg, &err) != ELIGN_OK) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  real *params = malloc(m.n_params * sizeof *params), *grads = calloc(m.n_params, sizeof *grads);
  egnn_params_init_random(&m, params, 1);
  double state = 6.0 * (double)m.n_params * sizeof(real); /* params, grads, AdamW m, v, AMSGrad max, EMA */
  printf("GEOM architecture: L=%d F=%d H=%d, %zu parameters (%s)\n", cfg.n_layers, cfg.hidden, cfg.in_node_nf,
         m.n_params, sizeof(real) == 4 ? "float32" : "float64");
  printf("model state per rank (params, grads, AdamW m and v, AMSGrad max, EMA): %.1f MiB\n", mib(state));
  printf("peak RSS before any batch: %.1f MiB\n\n", peak_rss_mib());
  printf("%6s %6s %10s %14s %14s %10s %12s\n", "B", "atoms", "edges", "activ. MiB", "workspace MiB", "fwd+bwd s",
         "peak RSS MiB");
  for (int i = 0; i < n_batches; i++) {
    int64_t B = batches[i], N = B * atoms, E = B * atoms * (atoms - 1);
    egnn_workspace *ws = egnn_workspace_create_edges(&m, N, B, E, 1);
    double act = (double)egnn_activation_bytes(&cfg, N, E), wsb = (double)egnn_workspace_bytes(ws);
    if (B <= run_max) {
      double t = run_batch(&m, params, grads, ws, B, atoms);
      printf("%6lld %6lld %10lld %14.1f %14.1f %10.2f %12.1f\n", (long long)B, (long long)N, (long long)E, mib(act),
             mib(wsb), t, peak_rss_mib());
    } else {
      printf("%6lld %6lld %10lld %14.1f %14.1f %10s %12s\n", (long long)B, (long long)N, (long long)E, mib(act),
             mib(wsb), "-", "(not run)");
    }
    fflush(stdout);
    egnn_workspace_free(&ws);
  }
  int64_t N = (int64_t)(mean_batch * mean_atoms + 0.5), E = (int64_t)(mean_batch * mean_edges + 0.5);
  egnn_workspace *ws = egnn_workspace_create_edges(&m, N, mean_batch, E, 1);
  printf("\ntypical GEOM batch: %lld molecules of mean size (%.2f atoms, %.1f edges each): %lld atoms, %lld edges,\n"
         "  activations %.1f MiB, workspace %.1f MiB\n",
         (long long)mean_batch, mean_atoms, mean_edges, (long long)N, (long long)E,
         mib((double)egnn_activation_bytes(&cfg, N, E)), mib((double)egnn_workspace_bytes(ws)));
  double one = (double)egnn_activation_bytes(&cfg, atoms, atoms * (atoms - 1));
  printf("one %lld-atom molecule: activations %.1f MiB, %.2f KiB per edge (the edge terms dominate)\n",
         (long long)atoms, mib(one), one / (double)(atoms * (atoms - 1)) / 1024.0);
  egnn_workspace_free(&ws);
  free(params);
  free(grads);
  egnn_model_free(&m);
  return 0;
}
