/* bench_rollout.c — time of one FED-GRPO rollout iteration (actor/rollout.h)
 * against plain sampling of the same molecules. Run manually (not in ctest):
 *
 *   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 build/bench/bench_rollout [--layers 4] [--hidden 64]
 *        [--P 2] [--K 4] [--T 50] [--p 35] [--iters 5]
 *
 * Defaults are the demo-sized case: a QM9-shaped EDM with 4 blocks × 64
 * (random weights; speed does not depend on the values), P = 2 groups of
 * K = 4, T = 50, shared prefix p = 35, trained steps from p, the adaptive
 * reward schedule's frames (coarse 10 / fine 2 after p). Sizes drawn from the
 * QM9 histogram per iteration (the same for every variant). Prints seconds per
 * iteration (mean over --iters iterations) for case C, B, A and for
 * sampler_run on the same P·K molecules (no record), the molecule-steps the
 * network ran, and the record's bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/launch_env.h"
#include "actor/rollout.h"
#include "common/base/log.h"

static int arg_int(int argc, char **argv, const char *name, int def) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return atoi(argv[i + 1]);
  return def;
}


int main(int argc, char **argv) {
  elign_launch_env_defaults(argv); /* the threads' wait policy `elign` runs with */
  int L = arg_int(argc, argv, "--layers", 4), F = arg_int(argc, argv, "--hidden", 64);
  int P = arg_int(argc, argv, "--P", 2), K = arg_int(argc, argv, "--K", 4), T = arg_int(argc, argv, "--T", 50);
  int p = arg_int(argc, argv, "--p", 35), iters = arg_int(argc, argv, "--iters", 5);
  elign_error err;
  edm_model m;
  memset(&m, 0, sizeof m);
  egnn_config cfg = egnn_config_qm9();
  cfg.n_layers = L, cfg.hidden = F;
  if (edm_model_setup(&m, &cfg, "qm9", 5, EDM_QM9_Z, 1, 1000, "polynomial_2", 1e-5, &err)) {
    elign_error_print(&err);
    return 1;
  }
  diffusion_nodes_hist_qm9(&m.nodes);
  egnn_params_init_random(&m.net, m.params, 7);
  /* adaptive frames after p: coarse 10 while s > θ = 0.25·(T−1), fine 2 after, terminal appended */
  int *frames = malloc(sizeof(int) * (T + 2)), J = 0;
  for (int k = p < T ? p : T; k <= T; k += (T - k - 1) > 0.25 * (T - 1) ? 10 : 2) frames[J++] = k;
  if (frames[J - 1] != T) frames[J++] = T;

  const char *names[3] = {"case C (shared z_T, prefix p)", "case B (shared z_T)", "case A (independent)"};
  double secs[4] = {0};
  long long calls[4] = {0};
  uint64_t bytes[3] = {0};
  for (int it = 0; it < iters + 1; it++) { /* iteration 0: warm-up, not timed */
    for (int v = 0; v < 4; v++) {
      rollout_config c = {.model = &m, .T = T, .K = K, .share_initial_noise = v < 2, .skip_prefix = v == 0 ? p : 0,
                          .train_start = v == 0 ? p : 0, .frames = frames, .n_frames = J, .groups_per_batch = P,
                          .seed = 42, .iteration = (uint64_t)it};
      double t0 = elign_wtime();
      if (v < 3) {
        rollout_batch r;
        if (rollout_run(&c, 0, P, NULL, &r, &err)) {
          elign_error_print(&err);
          return 1;
        }
        bytes[v] = r.h.data_bytes;
        rollout_batch_free(&r);
      } else { /* the same P·K molecules through sampler_run, no record */
        int *sizes = malloc(sizeof(int) * P * K);
        for (int g = 0; g < P; g++)
          for (int j = 0; j < K; j++) sizes[g * K + j] = rollout_draw_group_size(&c, g);
        sampler_config sc = {.model = &m, .T = T, .seed = 42, .iteration = (uint64_t)it, .batch = P * K};
        sampler_output so;
        if (sampler_run(&sc, 0, P * K, sizes, &so, &err)) {
          elign_error_print(&err);
          return 1;
        }
        sampler_output_free(&so);
        free(sizes);
      }
      if (it > 0) secs[v] += elign_wtime() - t0;
    }
  }
  calls[0] = (long long)P * p + (long long)P * K * (T - p + 1);
  calls[1] = calls[2] = calls[3] = (long long)P * K * (T + 1);
  printf("EDM %d x %d, P=%d K=%d T=%d p=%d, %d frames, mean of %d iterations, %s threads\n", L, F, P, K, T, p, J,
         iters, getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "default");
  for (int v = 0; v < 4; v++)
    printf("  %-34s %8.3f s/iteration  %5lld molecule-steps  record %8.1f kB\n",
           v < 3 ? names[v] : "sampler_run, same molecules", secs[v] / iters, calls[v], v < 3 ? bytes[v] / 1e3 : 0.0);
  printf("  prefix saving (A / C): %.2fx; record overhead (A / sampler_run): %.3fx\n", secs[2] / secs[0],
         secs[2] / secs[3]);
  free(frames);
  edm_model_free(&m);
  return 0;
}
