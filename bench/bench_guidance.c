/* bench_guidance.c — what run-time oracle guidance costs at inference:
 * guided vs unguided sampling of molecules with fixed atom counts, timed in
 * the same run (the Elign paper reports guided sampling 8–16× slower over
 * 60–200 atoms, SEEDS_NOTES §1.3).
 *
 * Usage: bench_guidance --model M.h5|edm-qm9 [--oracle ani|gfn2-xtb|gfn-ff|lj] [--model-dir ZOO]
 *                       [--sizes 20,50,100,200] [--T 1000] [--steps 50] [--batch 4] [--scale 0.01]
 *                       [--max-sigma 1]
 *   --model edm-qm9: EDM's QM9 network (9 blocks, 256 features; random weights,
 *   the cost of the released checkpoint); else a model file.
 * Each size: one batch of `batch` molecules of that many atoms through
 * `steps` reverse steps (strided over a T-step chain, so every noise level
 * is visited) + the decode, unguided then guided (the oracle in-process, at
 * every step with σ_t ≤ max-sigma). Prints per molecule-step wall and
 * process-CPU milliseconds, the ratios, and the oracle's share. Keep
 * steps >= 50: a sampler run has a fixed set-up cost (workspaces) that a
 * 10-step run inflates the unguided per-step time with (measured: 4.7 vs
 * 1.3 ms per molecule-step, 18 atoms, demo model). Threads:
 * OMP_NUM_THREADS as set by the caller (printed). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base/launch_env.h"
#include "actor/guidance.h"
#include "common/base/log.h"
#include "oracle/oracle.h"

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "model name" and the vector extensions of /proc/cpuinfo. */
static void print_cpu(void) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[4096], model[256] = "unknown", ext[256] = "";
  int have_flags = 0;
  static const char *const wanted[] = {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni",
                                       "amx_tile"};
  while (f && fgets(line, sizeof line, f)) {
    if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
      snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
      model[strcspn(model, "\n")] = 0;
    } else if (!have_flags && !strncmp(line, "flags", 5)) {
      have_flags = 1;
      for (size_t k = 0; k < sizeof wanted / sizeof wanted[0]; k++) {
        char pat[32];
        snprintf(pat, sizeof pat, " %s", wanted[k]);
        char *p = strstr(line, pat);
        if (p && (p[strlen(pat)] == ' ' || p[strlen(pat)] == '\n'))
          snprintf(ext + strlen(ext), sizeof ext - strlen(ext), "%s%s", ext[0] ? " " : "", wanted[k]);
      }
    }
  }
  if (f) fclose(f);
  const char *omp = getenv("OMP_NUM_THREADS");
  printf("CPU: %s; vector extensions: %s; OMP_NUM_THREADS=%s\n", model, ext[0] ? ext : "none found",
         omp ? omp : "(unset)");
}

typedef struct {
  const char *model, *oracle, *zoo, *sizes;
  int T, steps, batch;
  double scale, max_sigma;
} bench_args;

static int parse(int argc, char **argv, bench_args *a) {
  *a = (bench_args){.model = NULL, .oracle = "ani", .sizes = "20,50,100,200", .T = 1000, .steps = 50, .batch = 4,
                    .scale = 0.01, .max_sigma = 1.0};
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--model")) a->model = v;
    else if (!strcmp(k, "--oracle")) a->oracle = v;
    else if (!strcmp(k, "--model-dir")) a->zoo = v;
    else if (!strcmp(k, "--sizes")) a->sizes = v;
    else if (!strcmp(k, "--T")) a->T = atoi(v);
    else if (!strcmp(k, "--steps")) a->steps = atoi(v);
    else if (!strcmp(k, "--batch")) a->batch = atoi(v);
    else if (!strcmp(k, "--scale")) a->scale = atof(v);
    else if (!strcmp(k, "--max-sigma")) a->max_sigma = atof(v);
    else return 0;
  }
  return a->model && a->T > 0 && a->steps > 0 && a->T % a->steps == 0 && a->batch > 0;
}

/* One timed run: wall and CPU seconds; guidance stats when g != NULL. */
static int timed_run(const sampler_config *cfg, int n_mol, const int *sizes, double *wall, double *cpu) {
  elign_error err;
  sampler_output out;
  double t0 = elign_wtime(), c0 = cpu_seconds();
  if (sampler_run(cfg, 0, n_mol, sizes, &out, &err)) {
    elign_error_print(&err);
    return 0;
  }
  *wall = elign_wtime() - t0, *cpu = cpu_seconds() - c0;
  sampler_output_free(&out);
  return 1;
}

int main(int argc, char **argv) {
  elign_launch_env_defaults(argv); /* the threads' wait policy `elign` runs with */
  bench_args a;
  if (!parse(argc, argv, &a)) {
    fprintf(stderr, "usage: bench_guidance --model M.h5|edm-qm9 [--oracle NAME] [--model-dir ZOO] [--sizes 20,50,...]\n"
                    "                      [--T T] [--steps K (divides T)] [--batch B] [--scale S] [--max-sigma X]\n");
    return 2;
  }
  elign_error err;
  edm_model m;
  if (!strcmp(a.model, "edm-qm9") ? edm_model_init_preset(&m, "qm9", 0, 1, &err) : edm_model_load(&m, a.model, &err)) {
    elign_error_print(&err);
    return 1;
  }
  elign_oracle_options opt;
  elign_oracle_options_init(&opt);
  opt.model_dir = a.zoo;
  elign_oracle *oracle = NULL;
  elign_oracle_client *client = NULL;
  if (elign_oracle_create(a.oracle, &opt, &oracle, &err) ||
      elign_oracle_client_create_embedded(oracle, a.batch, &client, &err)) {
    elign_error_print(&err);
    return 1;
  }
  print_cpu();
  printf("network: %s (%d blocks, %d features); oracle: %s in-process; chain T = %d visited in %d steps; batch %d; "
         "guidance scale %g Å²/eV at steps with σ_t <= %g\n",
         a.model, m.net.cfg.n_layers, m.net.cfg.hidden, a.oracle, a.T, a.steps, a.batch, a.scale, a.max_sigma);
  printf("%6s %14s %14s %8s %14s %14s %8s %12s %8s\n", "atoms", "unguided ms", "guided ms", "ratio", "unguided cpu",
         "guided cpu", "ratio", "oracle share", "flagged");
  printf("%6s %14s %14s %8s %14s %14s %8s %12s %8s\n", "", "(wall/mol-step)", "(wall/mol-step)", "wall", "ms/mol-step",
         "ms/mol-step", "cpu", "of guided", "");
  char *list = strdup(a.sizes);
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    int n = atoi(tok);
    if (n < 1) continue;
    int *sizes = malloc((size_t)a.batch * sizeof *sizes);
    for (int b = 0; b < a.batch; b++) sizes[b] = n;
    sampler_config cfg = {.model = &m, .T = a.T, .steps = a.steps, .seed = (uint64_t)n, .batch = a.batch};
    sampler_config warm = cfg;
    warm.steps = 1; /* page faults, BLAS start-up */
    double w, c, wu, cu, wg, cg;
    if (!timed_run(&warm, a.batch, sizes, &w, &c) || !timed_run(&cfg, a.batch, sizes, &wu, &cu)) return 1;
    guidance_options go = {.scale = a.scale, .max_sigma = a.max_sigma};
    guidance g;
    guidance_init(&g, &m, client, &go);
    sampler_adjust adj = guidance_adjust(&g);
    sampler_config gcfg = cfg;
    gcfg.adjust = &adj;
    if (!timed_run(&gcfg, a.batch, sizes, &wg, &cg)) return 1;
    double ms = 1e3 / ((double)a.batch * (a.steps + 1)); /* per molecule-step (network calls incl. the decode) */
    printf("%6d %14.2f %14.2f %8.2f %14.2f %14.2f %8.2f %11.0f%% %5lld/%lld\n", n, wu * ms, wg * ms, wg / wu, cu * ms,
           cg * ms, cg / cu, 100 * g.stats.oracle_s / wg, (long long)g.stats.flagged, (long long)g.stats.molecules);
    /* for bench/run_all.sh: what post-training saves at inference (guided / unguided) */
    printf("BENCH {\"figure\": \"guidance_cost_%dat\", \"what\": \"guided / unguided sampling time, %d atoms "
           "(%s guidance)\", \"ours\": %.4g, \"unit\": \"ms/mol-step\", \"reference\": %.4g, "
           "\"reference_program\": \"elign sample --guidance %s (ms/mol-step)\", \"ratio\": %.4g, "
           "\"peak_fraction\": null, \"peak_gflops\": null, \"threads\": %d, \"batch\": %d, \"target\": null, "
           "\"pass\": null}\n",
           n, n, a.oracle, wu * ms, wg * ms, a.oracle, wg / wu, omp_get_max_threads(), a.batch);
    fflush(stdout);
    guidance_free(&g);
    free(sizes);
  }
  free(list);
  printf("ratio = guided / unguided time for the same molecules and seed (both measured here). ms per molecule-step\n"
         "counts the %d network calls of a molecule (%d steps + the decode); the oracle is called at the guided steps.\n",
         a.steps + 1, a.steps);
  elign_oracle_client_destroy(&client);
  elign_oracle_destroy(&oracle);
  edm_model_free(&m);
  return 0;
}
