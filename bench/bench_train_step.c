/* bench_train_step.c — the learner's work per trained step of `elign train`
 * against the same network in PyTorch (issue 10, "Speed").
 *
 * One trained step of one unit (learner/train_update.c): the current network's
 * forward with activations kept, the frozen reference's forward, PPO-clip + KL
 * (grpo_ppo_step) and the backward into the gradient buffer, over a rollout
 * block of the QM9 preset (4 groups x 6 members; sizes from EDM's QM9
 * histogram) with the released EDM QM9 architecture (9 layers x 256).
 * PyTorch does the same network work as forward (no_grad, the reference) +
 * forward+backward (the policy): bench/egnn_torch.py on the same sizes — the
 * original EDM EGNN_dynamics_QM9 from $EDM_SRC when it is set, else our
 * padded-batch re-implementation tools/egnn_reference.py. Ratios are printed
 * raw and normalised by each side's large-SGEMM speed at that moment (the
 * machine may be shared); the BENCH line train_step_vs_torch_t1 carries the
 * raw one.
 *
 *   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 build/bench/bench_train_step [--reps 5] [--groups 4] [--members 6]
 *       [--torch bench/egnn_torch.py | --no-torch] [--small] [--cpu-clock]     (EDM_SRC=<EDM checkout>: original EDM)
 * --cpu-clock: both sides timed in process CPU time (a machine shared with other jobs).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/launch_env.h"
#include "bench/bench_util.h"
#include "common/base/log.h"
#include "common/base/rng.h"
#include "common/model/edm_model.h"
#include "common/nn/blas.h"
#include "learner/grpo_settings.h"
#include "learner/ppo.h"

int main(int argc, char **argv) {
  elign_launch_env_defaults(argv); /* the threads' wait policy `elign` runs with */
  int reps = 5, groups = 4, members = 6, use_torch = 1, small = 0;
  const char *script = EGNN_TORCH_SCRIPT;
  for (int k = 1; k < argc; k++) {
    if (!strcmp(argv[k], "--reps") && k + 1 < argc) reps = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--groups") && k + 1 < argc) groups = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--members") && k + 1 < argc) members = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--torch") && k + 1 < argc) script = argv[++k];
    else if (!strcmp(argv[k], "--no-torch")) use_torch = 0;
    else if (!strcmp(argv[k], "--small")) small = 1, use_torch = 0;
    else if (!strcmp(argv[k], "--cpu-clock")) bench_use_cpu_clock(1);
    else {
      fprintf(stderr, "usage: bench_train_step [--reps N] [--groups P] [--members K] [--torch script | --no-torch] "
                      "[--small] [--cpu-clock]\n");
      return 2;
    }
  }
  elign_error err;
  elign_error_clear(&err);
  edm_model m;
  if (edm_model_init_preset(&m, "qm9", small, 11, &err)) {
    elign_error_print(&err);
    return 1;
  }
  int D = m.layout.D, T = 1000, n = groups * members;
  int64_t *off = malloc((size_t)(n + 1) * sizeof *off);
  off[0] = 0;
  for (int g = 0; g < groups; g++) {
    elign_rng r = elign_rng_stream(42, 0, (uint32_t)g, 0, 0, ELIGN_RNG_NODE_COUNT);
    int size = diffusion_nodes_sample(&m.nodes, &r);
    for (int j = 0; j < members; j++) off[g * members + j + 1] = off[g * members + j] + size;
  }
  int64_t N = off[n];
  size_t nd = (size_t)N * D;
  elign_real *z_t = malloc(nd * sizeof *z_t), *z_s = malloc(nd * sizeof *z_s), *eps = malloc(nd * sizeof *eps),
             *mu = malloc(nd * sizeof *mu), *eps_ref = malloc(nd * sizeof *eps_ref), *mu_ref = malloc(nd * sizeof *mu_ref),
             *d_eps = malloc(nd * sizeof *d_eps), *d_mu = malloc(nd * sizeof *d_mu);
  elign_rng r = elign_rng_stream(7, 0, 0, 0, 0, ELIGN_RNG_TEST);
  for (int64_t b = 0; b < n; b++) {
    diffusion_noise_molecule(z_t + off[b] * D, &r, off[b + 1] - off[b], D);
    diffusion_noise_molecule(z_s + off[b] * D, &r, off[b + 1] - off[b], D);
  }
  int *t = malloc((size_t)n * sizeof *t), *s = malloc((size_t)n * sizeof *s);
  for (int b = 0; b < n; b++) t[b] = 300, s[b] = 299;
  diffusion_step_coef *coef = malloc((size_t)n * sizeof *coef), *coef_ref = malloc((size_t)n * sizeof *coef_ref);
  double *logp = malloc((size_t)n * sizeof *logp), *dlogp = malloc((size_t)n * sizeof *dlogp),
         *logp_old = malloc((size_t)n * sizeof *logp_old), *adv = malloc((size_t)n * sizeof *adv);
  for (int b = 0; b < n; b++) logp_old[b] = 0, adv[b] = (b % 3) - 1.0;
  elign_real *params = m.params, *reference = malloc(m.net.n_params * sizeof *reference),
             *grads = calloc(m.net.n_params, sizeof *grads);
  memcpy(reference, params, m.net.n_params * sizeof *reference);
  edm_model ref = m;
  ref.params = reference;
  egnn_workspace *ws_train = egnn_workspace_create(&m.net, N, n, 1), *ws_ref = edm_model_workspace_create(&m);
  grpo_settings gs;
  grpo_settings_defaults(&gs);
  gs.train.clip_range = 0.002;
  gs.train.kl_penalty_weight = 0.08;

  double best = 1e30, peak = 0;
  for (int rep = 0; rep <= reps; rep++) {
    if (rep > 0) peak = fmax(peak, bench_sgemm_sample_gflops()); /* between the reps: same machine load */
    double t0 = bench_now();
    if (edm_model_denoise(&m, ws_train, n, off, z_t, t, s, T, eps, mu, NULL, NULL, coef, &err) ||
        edm_model_denoise(&ref, ws_ref, n, off, z_t, t, s, T, eps_ref, mu_ref, NULL, NULL, coef_ref, &err)) {
      elign_error_print(&err);
      return 1;
    }
    memset(d_eps, 0, nd * sizeof *d_eps);
    grpo_step_input in = {.n_mol = n, .offsets = off, .D = D, .z_s = z_s, .mu = mu, .mu_ref = mu_ref, .coef = coef,
                          .logp_old = logp_old, .adv = adv};
    grpo_ppo_stats st;
    grpo_ppo_step(&st, logp, dlogp, d_mu, d_eps, &in, 1.0 / n, &gs);
    egnn_dynamics_backward(&m.net, params, grads, ws_train, d_eps, NULL);
    double dt = bench_now() - t0;
    if (rep > 0 && dt < best) best = dt; /* rep 0 warms up */
  }
  peak = fmax(peak, bench_sgemm_sample_gflops());
  bench_cpu cpu;
  bench_cpu_describe(&cpu);
  bench_cpu_print(&cpu);
  printf("trained step (elign train unit): EDM QM9 %d layers x %d, one block of %d groups x %d = %d molecules, %lld "
         "atoms, %lld edges, 1 thread\n",
         m.net.cfg.n_layers, m.net.cfg.hidden, groups, members, n, (long long)N, (long long)egnn_batch_edges(n, off));
  printf("  elign  forward + reference forward + PPO/KL + backward  %8.2f ms  (sgemm peak %.1f GFLOP/s)\n", 1e3 * best,
         peak);
  bench_torch_times tt;
  int64_t *sizes = malloc((size_t)n * sizeof *sizes);
  for (int b = 0; b < n; b++) sizes[b] = off[b + 1] - off[b];
  int have_torch = use_torch && bench_run_torch(script, bench_edm_src(), "qm9", 1, reps, n, sizes, &tt);
  double torch_ms = have_torch ? tt.fwd_nograd + tt.fwdbwd : -1;
  if (have_torch) {
    printf("  torch  forward (no_grad) + forward+backward           %8.2f ms  (torch.mm peak %.1f GFLOP/s)\n",
           torch_ms, tt.peak);
    printf("  torch: %s\n", tt.label);
    printf("  speed-up elign/torch: %.2fx raw, %.2fx load-normalised\n", torch_ms / (1e3 * best),
           torch_ms / (1e3 * best) * peak / tt.peak);
  } else if (use_torch) {
    printf("  torch: %s did not run\n", script);
  }
  char what[200];
  snprintf(what, sizeof what, "elign train learner step (policy fwd+bwd, reference fwd, PPO/KL), EDM QM9 network, "
           "%d molecules", n);
  bench_line l = {.figure = "train_step_vs_torch_t1", .what = what, .unit = "ms",
                  .reference_program = have_torch ? tt.label : "none", .target = ">= 2x", .ours = 1e3 * best,
                  .reference = torch_ms, .ratio = have_torch ? torch_ms / (1e3 * best) : -1, .peak_fraction = -1,
                  .peak_gflops = peak, .threads = 1, .batch = n,
                  .pass = have_torch ? torch_ms / (1e3 * best) >= 2.0 : -1};
  bench_print_line(&l);
  free(sizes);
  egnn_workspace_free(&ws_train);
  egnn_workspace_free(&ws_ref);
  edm_model_free(&m);
  return 0;
}
