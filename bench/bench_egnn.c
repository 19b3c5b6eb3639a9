/* bench_egnn.c — EGNN forward / forward+backward: fraction of the machine's
 * sgemm peak, where the time goes (GEMMs vs each element-wise pass), and the
 * speed against PyTorch on the same molecules. Run manually (not in ctest):
 *
 *   OPENBLAS_CORETYPE=SkylakeX build/bench/bench_egnn [--mols 32] [--min 10] [--max 29]
 *        [--reps 5] [--cases qm9:1,qm9:2,geom:1] [--torch bench/egnn_torch.py | --no-torch] [--same-size]
 *        [--cpu-clock]
 *
 * Cases arch:threads — qm9: EDM's QM9 network (L=9, F=256, H=6); geom: its
 * GEOM-Drugs network (L=4, F=256, H=16); both on the same batch of molecule
 * sizes uniform in [min, max] (fixed seed; --same-size: all (min+max)/2).
 * For each case: our forward (sampling workspace, no activations kept),
 * forward (training workspace) and forward+backward, best of --reps; the
 * sgemm peak is sampled between our reps (best sample), so both see the same
 * machine load; then one more pass with the phase timers on
 * (egnn_phase_timing). --cpu-clock times ours and the peak in process CPU
 * time instead of wall time: on a machine shared with other jobs the time
 * slices they take are then not counted (1-thread cases only; the PyTorch
 * script is then told to use its process CPU time too). GFLOP/s count GEMM FLOPs only
 * (egnn_forward_gemm_flops; forward+backward = 3×).
 *
 * PyTorch: bench/egnn_torch.py on the same sizes with torch threads = ours —
 * the original EDM EGNN_dynamics_QM9 from $EDM_SRC (a local checkout of
 * ehoogeboom/e3_diffusion_for_molecules, never part of this repository) when
 * it is set, else our re-implementation tools/egnn_reference.py; the label
 * says which. Ratios are raw and normalised by the two peaks.
 * Every figure is also printed as a BENCH line (egnn_fwd_qm9_b32_t1, ...).
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/launch_env.h"
#include "bench/bench_util.h"
#include "common/base/log.h"
#include "common/model/egnn.h"
#include "tests/testrng.h"

typedef elign_real real;

void openblas_set_num_threads(int);

static uint64_t rs = 2024;
static double urand(void) { return testrng_uniform(&rs); }
static double nrand(void) { return testrng_normal(&rs); }

typedef struct {
  double fwd_nograd, fwd, fwdbwd; /* ms, best of reps */
  double peak;                    /* GFLOP/s, best sgemm sample between the reps */
  double ph_fwd[EGNN_PHASE_COUNT], ph_fwdbwd[EGNN_PHASE_COUNT]; /* ms per phase, one timed pass each */
  double ph_total_fwd, ph_total_fwdbwd;                           /* wall ms of those passes */
} our_times;

typedef struct {
  egnn_config cfg;
  egnn_model m;
  real *p, *g, *xh, *eps, *deps, *dxh, *tau;
  egnn_workspace *ws_train, *ws_fwd;
} bench_net;

static int net_setup(bench_net *b, const char *arch, int n_mol, const int64_t *off) {
  b->cfg = !strcmp(arch, "geom") ? egnn_config_geom() : egnn_config_qm9();
  elign_error err;
  if (egnn_model_init(&b->m, &b->cfg, &err) != ELIGN_OK) return 0;
  int64_t N = off[n_mol], E = egnn_batch_edges(n_mol, off);
  int D = 3 + b->cfg.in_node_nf;
  b->p = malloc(b->m.n_params * sizeof(real)), b->g = calloc(b->m.n_params, sizeof(real));
  egnn_params_init_random(&b->m, b->p, 1);
  b->xh = malloc((size_t)(N * D) * sizeof(real)), b->eps = malloc((size_t)(N * D) * sizeof(real));
  b->deps = malloc((size_t)(N * D) * sizeof(real)), b->dxh = malloc((size_t)(N * D) * sizeof(real));
  b->tau = malloc((size_t)n_mol * sizeof(real));
  for (int64_t k = 0; k < N * D; k++) b->xh[k] = (real)nrand(), b->deps[k] = (real)nrand();
  for (int i = 0; i < n_mol; i++) b->tau[i] = (real)urand();
  b->ws_train = egnn_workspace_create_edges(&b->m, N, n_mol, E, 1);
  b->ws_fwd = egnn_workspace_create_edges(&b->m, N, n_mol, E, 0);
  return 1;
}

static void net_free(bench_net *b) {
  egnn_workspace_free(&b->ws_train);
  egnn_workspace_free(&b->ws_fwd);
  free(b->p), free(b->g), free(b->xh), free(b->eps), free(b->deps), free(b->dxh), free(b->tau);
  egnn_model_free(&b->m);
}

/* One forward (sampling workspace) and one forward+backward (training); ms. */
static void run_once(bench_net *b, int n_mol, const int64_t *off, double *fwd_nograd, double *fwd, double *fwdbwd) {
  elign_error err;
  double t0 = bench_now();
  egnn_dynamics_forward(&b->m, b->p, b->ws_fwd, n_mol, off, b->xh, b->tau, b->eps, &err);
  double t1 = bench_now();
  egnn_dynamics_forward(&b->m, b->p, b->ws_train, n_mol, off, b->xh, b->tau, b->eps, &err);
  double t2 = bench_now();
  egnn_dynamics_backward(&b->m, b->p, b->g, b->ws_train, b->deps, b->dxh);
  double t3 = bench_now();
  *fwd_nograd = 1e3 * (t1 - t0), *fwd = 1e3 * (t2 - t1), *fwdbwd = 1e3 * (t3 - t1);
}

static our_times time_ours(bench_net *b, int n_mol, const int64_t *off, int reps) {
  our_times us = {1e30, 1e30, 1e30, 0, {0}, {0}, 0, 0};
  double a, f, fb;
  run_once(b, n_mol, off, &a, &f, &fb); /* warm-up */
  for (int r = 0; r < reps; r++) {
    us.peak = fmax(us.peak, bench_sgemm_sample_gflops());
    run_once(b, n_mol, off, &a, &f, &fb);
    us.fwd_nograd = fmin(us.fwd_nograd, a), us.fwd = fmin(us.fwd, f), us.fwdbwd = fmin(us.fwdbwd, fb);
  }
  us.peak = fmax(us.peak, bench_sgemm_sample_gflops());
  /* phases: best of 2 passes each (timers on; not part of the figures above) */
  double best_f = 1e30, best_fb = 1e30;
  for (int r = 0; r < 2; r++) {
    double acc_f[EGNN_PHASE_COUNT] = {0}, acc_fb[EGNN_PHASE_COUNT] = {0};
    elign_error err;
    egnn_phase_timing(acc_f);
    double t0 = elign_wtime();
    egnn_dynamics_forward(&b->m, b->p, b->ws_fwd, n_mol, off, b->xh, b->tau, b->eps, &err);
    double t1 = elign_wtime();
    egnn_phase_timing(acc_fb);
    egnn_dynamics_forward(&b->m, b->p, b->ws_train, n_mol, off, b->xh, b->tau, b->eps, &err);
    egnn_dynamics_backward(&b->m, b->p, b->g, b->ws_train, b->deps, b->dxh);
    double t2 = elign_wtime();
    egnn_phase_timing(NULL);
    if (t1 - t0 < best_f) {
      best_f = t1 - t0, us.ph_total_fwd = 1e3 * best_f;
      for (int k = 0; k < EGNN_PHASE_COUNT; k++) us.ph_fwd[k] = 1e3 * acc_f[k];
    }
    if (t2 - t1 < best_fb) {
      best_fb = t2 - t1, us.ph_total_fwdbwd = 1e3 * best_fb;
      for (int k = 0; k < EGNN_PHASE_COUNT; k++) us.ph_fwdbwd[k] = 1e3 * acc_fb[k];
    }
  }
  return us;
}

/* Per-phase table: ms and share of that timed pass (wall clock: the phase
 * timers are wall timers); "other" = the pass's total − its phases. */
static void print_phases(const our_times *us) {
  double tf = 0, tfb = 0, Tf = us->ph_total_fwd, Tfb = us->ph_total_fwdbwd;
  for (int k = 0; k < EGNN_PHASE_COUNT; k++) tf += us->ph_fwd[k], tfb += us->ph_fwdbwd[k];
  printf("  where the time goes (one pass with the phase timers on, wall clock: %.1f ms forward, %.1f ms fwd+bwd):\n",
         Tf, Tfb);
  printf("    %-18s %10s %6s %12s %6s\n", "phase", "forward", "", "fwd+bwd", "");
  for (int k = 0; k < EGNN_PHASE_COUNT; k++)
    printf("    %-18s %7.2f ms %5.1f%% %9.2f ms %5.1f%%\n", egnn_phase_name(k), us->ph_fwd[k], 100 * us->ph_fwd[k] / Tf,
           us->ph_fwdbwd[k], 100 * us->ph_fwdbwd[k] / Tfb);
  printf("    %-18s %7.2f ms %5.1f%% %9.2f ms %5.1f%%\n", "other (phi, copies)", fmax(0, Tf - tf),
         100 * fmax(0, Tf - tf) / Tf, fmax(0, Tfb - tfb), 100 * fmax(0, Tfb - tfb) / Tfb);
}

static void print_bench(const char *kind, const char *arch, int n_mol, int th, double ours_ms, double gflops,
                        double peak, const bench_torch_times *tt, double ref_ms) {
  char figure[64], what[256];
  if (!strcmp(arch, "qm9")) snprintf(figure, sizeof figure, "egnn_%s_qm9_b%d_t%d", kind, n_mol, th);
  else snprintf(figure, sizeof figure, "egnn_%s_%s_t%d", kind, arch, th);
  snprintf(what, sizeof what, "EGNN %s, EDM %s network (%s layers x 256), %d molecules of QM9 sizes",
           !strcmp(kind, "fwd") ? "forward (sampling)" : "forward+backward", !strcmp(arch, "qm9") ? "QM9" : "GEOM",
           !strcmp(arch, "qm9") ? "9" : "4", n_mol);
  double pf = gflops / peak;
  bench_line l = {.figure = figure, .what = what, .unit = "ms", .reference_program = tt ? tt->label : "none",
                  .target = ">= 0.60 of peak", .ours = ours_ms, .reference = tt ? ref_ms : -1,
                  .ratio = tt ? ref_ms / ours_ms : -1, .peak_fraction = pf, .peak_gflops = peak, .threads = th,
                  .batch = n_mol, .pass = pf >= 0.60};
  bench_print_line(&l);
}

static void run_case(const char *arch, int th, int n_mol, const int64_t *sizes, const int64_t *off, int reps,
                     const char *script, const char *edm, int cpu_clock) {
  bench_net b;
  if (!net_setup(&b, arch, n_mol, off)) return;
  bench_use_cpu_clock(cpu_clock && th == 1); /* CPU time of 2 threads would add up: wall clock there */
  omp_set_num_threads(th);
  openblas_set_num_threads(th);
  int64_t N = off[n_mol], E = egnn_batch_edges(n_mol, off);
  double flops = egnn_forward_gemm_flops(&b.cfg, N, E);
  printf("\n== %s network (L=%d, F=%d, H=%d), %d molecules, %lld atoms, %lld edges, %d thread%s, %s\n", arch,
         b.cfg.n_layers, b.cfg.hidden, b.cfg.in_node_nf, n_mol, (long long)N, (long long)E, th, th > 1 ? "s" : "",
         ELIGN_REAL_NAME);
  our_times us = time_ours(&b, n_mol, off, reps);
  double gf_fwd = flops / (us.fwd_nograd * 1e-3) * 1e-9, gf_fb = 3 * flops / (us.fwdbwd * 1e-3) * 1e-9;
  printf("  sgemm peak %.1f GFLOP/s (best 1536^3 sample between the reps; %s)\n", us.peak,
         bench_cpu_clock() ? "process CPU time" : "wall clock");
  printf("  elign  forward (sampling) %8.2f ms  %6.1f GFLOP/s (%4.1f%% of peak)  %.3f ms/molecule\n", us.fwd_nograd,
         gf_fwd, 100 * gf_fwd / us.peak, us.fwd_nograd / n_mol);
  printf("  elign  forward (training) %8.2f ms\n", us.fwd);
  printf("  elign  forward+backward   %8.2f ms  %6.1f GFLOP/s (%4.1f%% of peak)\n", us.fwdbwd, gf_fb,
         100 * gf_fb / us.peak);
  print_phases(&us);
  bench_torch_times tt;
  int have_torch = script && bench_run_torch(script, edm, arch, th, reps < 3 ? reps : 3, n_mol, sizes, &tt);
  if (have_torch) {
    double k = tt.peak / us.peak; /* load-normalised: each time scaled by the peak measured around it */
    printf("  torch: %s (its torch.mm peak %.1f GFLOP/s)   raw ratio   load-normalised ratio\n", tt.label, tt.peak);
    printf("  torch  forward (no_grad)  %8.2f ms   elign %5.2fx   %5.2fx\n", tt.fwd_nograd,
           tt.fwd_nograd / us.fwd_nograd, k * tt.fwd_nograd / us.fwd_nograd);
    printf("  torch  forward            %8.2f ms   elign %5.2fx   %5.2fx\n", tt.fwd, tt.fwd / us.fwd,
           k * tt.fwd / us.fwd);
    printf("  torch  forward+backward   %8.2f ms   elign %5.2fx   %5.2fx\n", tt.fwdbwd, tt.fwdbwd / us.fwdbwd,
           k * tt.fwdbwd / us.fwdbwd);
  } else if (script) {
    printf("  torch: %s did not run\n", script);
  }
  print_bench("fwd", arch, n_mol, th, us.fwd_nograd, gf_fwd, us.peak, have_torch ? &tt : NULL, tt.fwd_nograd);
  print_bench("fwdbwd", arch, n_mol, th, us.fwdbwd, gf_fb, us.peak, have_torch ? &tt : NULL, tt.fwdbwd);
  net_free(&b);
}

int main(int argc, char **argv) {
  elign_launch_env_defaults(argv); /* the threads' wait policy `elign` runs with */
  int n_mol = 32, nmin = 10, nmax = 29, reps = 5, same = 0, use_torch = 1, cpu_clock = 0;
  const char *script = EGNN_TORCH_SCRIPT;
  char cases[128] = "qm9:1,qm9:2,geom:1";
  for (int k = 1; k < argc; k++) {
    if (!strcmp(argv[k], "--mols") && k + 1 < argc) n_mol = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--min") && k + 1 < argc) nmin = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--max") && k + 1 < argc) nmax = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--reps") && k + 1 < argc) reps = atoi(argv[++k]);
    else if (!strcmp(argv[k], "--cases") && k + 1 < argc) snprintf(cases, sizeof cases, "%s", argv[++k]);
    else if (!strcmp(argv[k], "--torch") && k + 1 < argc) script = argv[++k];
    else if (!strcmp(argv[k], "--no-torch")) use_torch = 0;
    else if (!strcmp(argv[k], "--same-size")) same = 1;
    else if (!strcmp(argv[k], "--cpu-clock")) cpu_clock = 1;
    else {
      fprintf(stderr, "usage: bench_egnn [--mols B] [--min n] [--max n] [--reps r] [--cases qm9:1,qm9:2,geom:1] "
                      "[--torch script.py | --no-torch] [--same-size] [--cpu-clock]   (EDM_SRC=<EDM checkout>: original EDM)\n");
      return 2;
    }
  }
  if (n_mol < 1 || nmin < 1 || nmax < nmin || reps < 1) {
    fprintf(stderr, "bench_egnn: need --mols >= 1, 1 <= --min <= --max, --reps >= 1\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  bench_cpu cpu;
  bench_cpu_describe(&cpu);
  bench_cpu_print(&cpu);
  int64_t *sizes = malloc((size_t)n_mol * sizeof(int64_t)), *off = malloc((size_t)(n_mol + 1) * sizeof(int64_t));
  off[0] = 0;
  for (int b = 0; b < n_mol; b++) {
    sizes[b] = same ? (nmin + nmax) / 2 : nmin + (int64_t)(urand() * (nmax - nmin + 1));
    off[b + 1] = off[b] + sizes[b];
  }
  const char *edm = use_torch ? bench_edm_src() : NULL;
  egnn_config qm9 = egnn_config_qm9();
  printf("memory (QM9 network): activations kept per molecule for backward: n=10 %.2f MB, n=19 %.2f MB, "
         "n=29 %.2f MB\n",
         egnn_activation_bytes(&qm9, 10, 90) / 1e6, egnn_activation_bytes(&qm9, 19, 342) / 1e6,
         egnn_activation_bytes(&qm9, 29, 812) / 1e6);
  char *save = NULL;
  for (char *tok = strtok_r(cases, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char arch[16];
    int th = 1;
    if (sscanf(tok, "%15[a-z0-9]:%d", arch, &th) < 1 || (strcmp(arch, "qm9") && strcmp(arch, "geom")) || th < 1) {
      fprintf(stderr, "bench_egnn: bad case '%s' (arch:threads, arch qm9 or geom)\n", tok);
      return 2;
    }
    run_case(arch, th, n_mol, sizes, off, reps, use_torch ? script : NULL, edm, cpu_clock);
  }
  free(sizes), free(off);
  return 0;
}
