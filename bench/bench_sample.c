/* bench_sample.c — C side of the sampling benchmark (bench_sample.py runs it
 * next to a PyTorch sampler of the same network and prints the ratios).
 *
 *   bench_sample [--model MODEL.h5] STEPS N1 N2 ... : sample one batch of
 *   molecules with the given atom counts through STEPS reverse steps + decode
 *   (default: QM9 architecture, 9 blocks, F = 256, random weights; --model: an
 *   imported model, e.g. the original EDM's random-weight model that
 *   bench_sample.py makes); prints "seconds <s> network_calls <k> cpu_seconds <c>".
 * Threads: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS as set by the caller. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base/launch_env.h"
#include "actor/sampler.h"
#include "common/base/log.h"

/* This process's CPU time: on a shared machine, the time slices other jobs
 * take are not counted (meaningful at 1 thread). */
static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  elign_launch_env_defaults(argv); /* the threads' wait policy `elign` runs with */
  const char *model_path = NULL;
  if (argc > 2 && !strcmp(argv[1], "--model")) model_path = argv[2], argc -= 2, argv += 2;
  if (argc < 3) {
    fprintf(stderr, "usage: bench_sample [--model MODEL.h5] STEPS N1 [N2 ...]\n");
    return 2;
  }
  int steps = atoi(argv[1]), n_mol = argc - 2;
  int *sizes = malloc((size_t)n_mol * sizeof(int));
  for (int i = 0; i < n_mol; i++) sizes[i] = atoi(argv[2 + i]);
  elign_error err;
  edm_model m;
  if (model_path ? edm_model_load(&m, model_path, &err) : edm_model_init_preset(&m, "qm9", 0, 1, &err)) {
    elign_error_print(&err);
    return 1;
  }
  sampler_config cfg = {.model = &m, .T = steps, .steps = steps, .seed = 1, .batch = n_mol};
  sampler_output out;
  /* warm-up: one short run (page faults, BLAS thread start) */
  sampler_config warm = cfg;
  warm.T = warm.steps = 1;
  if (sampler_run(&warm, 0, n_mol, sizes, &out, &err)) {
    elign_error_print(&err);
    return 1;
  }
  sampler_output_free(&out);
  double t0 = elign_wtime(), c0 = cpu_seconds();
  if (sampler_run(&cfg, 0, n_mol, sizes, &out, &err)) {
    elign_error_print(&err);
    return 1;
  }
  double dt = elign_wtime() - t0, dc = cpu_seconds() - c0;
  printf("seconds %.6f network_calls %d cpu_seconds %.6f\n", dt, steps + 1, dc);
  sampler_output_free(&out);
  edm_model_free(&m);
  free(sizes);
  return 0;
}
