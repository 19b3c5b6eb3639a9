/* bench_ani.c — ANI-2x energy + forces of the native engine against
 * TorchANI itself, timed in the same run on the same geometries, and
 * against the FLOP limit of the networks (FLOPs / sgemm peak measured in
 * the same run).
 *
 * Usage: bench_ani ZOO_DIR [--threads 1,2] [--reps 10] [--batch 32] [--no-torch]
 * TorchANI: the source checkout named by the environment variable
 * TORCHANI_SRC (e.g. tag 2.2.4 exported from its git repository; needs
 * Debian's python3-lark and python3-importlib-metadata), run through
 * bench/ani_torch.py --torchani. Without it the reference is our PyTorch
 * re-implementation of the spec (bench/ani_torch.py), labelled as such.
 *
 * Workloads: 32 copies of valine (19 atoms) and of lisinopril (60 atoms,
 * C21H31N3O5, RDKit ETKDG + MMFF94 generated at run time by ani_torch.py
 * geom), every copy randomly perturbed (σ = 0.05 Å), evaluated as one batch
 * of 32 and as 32 calls of one molecule ("batch 1"); the reference gets the
 * same geometries (a multi-frame xyz file). Prints a table and BENCH lines
 * (notes/bench_line format): ani2x_b32_19at_t1, ani2x_b1_19at_t1,
 * ani2x_b1_over_b32, ani2x_b32_60at_t1, ani2x_b1_60at_t1. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "bench/bench_util.h"
#include "bench/valine.h"
#include "common/base/launch_env.h"
#include "common/base/real.h"
#include "oracle/ani/ani.h"
#include "common/nn/gemm_fixed.h"

#ifndef ANI_TORCH_SCRIPT
#define ANI_TORCH_SCRIPT "bench/ani_torch.py"
#endif
#ifndef ELIGN_PYTHON_EXECUTABLE
#define ELIGN_PYTHON_EXECUTABLE "/usr/bin/python3"
#endif

/* The second workload: lisinopril, 60 atoms (RDKit embeds it at run time). */
static const char *LISINOPRIL_SMILES = "NCCCC[C@H](N[C@@H](CCc1ccccc1)C(=O)O)C(=O)N1CCC[C@H]1C(=O)O";


typedef struct {
  const char *name;
  int n;
  int32_t *Z;
  double *pos; /* (n, 3) */
  const char *xyz_path;
} workload;

static void write_xyz(const char *path, int n, const int32_t *Z, const double *pos) {
  static const char *sym[] = {"", "H", "He", "Li", "Be", "B", "C", "N", "O", "F"};
  FILE *f = fopen(path, "w");
  if (!f) return;
  fprintf(f, "%d\nbench\n", n);
  for (int i = 0; i < n; i++) fprintf(f, "%s %.6f %.6f %.6f\n", sym[Z[i]], pos[3 * i], pos[3 * i + 1], pos[3 * i + 2]);
  fclose(f);
}

static double cmp_double(const void *a, const void *b) { return *(const double *)a - *(const double *)b; }
static int cmp_d(const void *a, const void *b) {
  double d = cmp_double(a, b);
  return (d > 0) - (d < 0);
}

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Median wall seconds of one batch call (energy + forces, or energy only
 * when f is NULL); *cpu gets the median process CPU seconds — on a shared,
 * oversubscribed host the CPU time of a 1-thread run is the steadier number. */
static double time_batch(ani_model *m, ani_workspace *ws, int batch, const int64_t *off, const int32_t *Z,
                         const double *pos, double *e, double *f, int *st, int reps, double *cpu, double *best) {
  elign_error err;
  double *t = malloc(sizeof(double) * reps), *c = malloc(sizeof(double) * reps);
  for (int w = 0; w < 2; w++) ani_compute(m, ws, batch, off, Z, pos, e, f, NULL, st, &err);
  for (int r = 0; r < reps; r++) {
    double t0 = omp_get_wtime(), c0 = cpu_seconds();
    if (ani_compute(m, ws, batch, off, Z, pos, e, f, NULL, st, &err) != ELIGN_OK) {
      fprintf(stderr, "ani_compute: %s\n", err.msg);
      exit(1);
    }
    t[r] = omp_get_wtime() - t0;
    c[r] = cpu_seconds() - c0;
  }
  qsort(t, reps, sizeof *t, cmp_d);
  qsort(c, reps, sizeof *c, cmp_d);
  double med = t[reps / 2];
  if (cpu) *cpu = c[reps / 2];
  if (best) *best = t[0];
  free(t);
  free(c);
  return med;
}

/* Median wall seconds of evaluating the batch one molecule per call (the
 * whole batch, so the work equals one batch call). e1/f1 receive the
 * per-molecule results for the bitwise comparison with the batch call. */
static double time_singles(ani_model *m, ani_workspace *ws, int batch, const int64_t *off, const int32_t *Z,
                           const double *pos, double *e1, double *f1, int reps, double *best, double *cpu) {
  elign_error err;
  double *t = malloc(sizeof(double) * reps), *c = malloc(sizeof(double) * reps);
  for (int r = -1; r < reps; r++) { /* r = −1: warm-up */
    double t0 = omp_get_wtime(), c0 = cpu_seconds();
    for (int k = 0; k < batch; k++) {
      int64_t o[2] = {0, off[k + 1] - off[k]};
      int st;
      if (ani_compute(m, ws, 1, o, Z + off[k], pos + 3 * off[k], e1 + k, f1 + 3 * off[k], NULL, &st, &err) !=
          ELIGN_OK) {
        fprintf(stderr, "ani_compute: %s\n", err.msg);
        exit(1);
      }
    }
    if (r >= 0) t[r] = omp_get_wtime() - t0, c[r] = cpu_seconds() - c0;
  }
  qsort(t, reps, sizeof *t, cmp_d);
  qsort(c, reps, sizeof *c, cmp_d);
  double med = t[reps / 2];
  *best = t[0];
  *cpu = c[reps / 2];
  free(t);
  free(c);
  return med;
}

/* "model name" and the vector extensions of /proc/cpuinfo. */
static void cpu_description(char *out, size_t cap) {
  snprintf(out, cap, "unknown CPU");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[8192], model[256] = "unknown CPU", ext[512] = "";
  int have_model = 0, have_flags = 0;
  while (fgets(line, sizeof line, f) && !(have_model && have_flags)) {
    if (!have_model && !strncmp(line, "model name", 10) && strchr(line, ':')) {
      snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
      model[strcspn(model, "\n")] = 0;
      have_model = 1;
    } else if (!have_flags && !strncmp(line, "flags", 5)) {
      static const char *want[] = {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16",
                                   "avx512_fp16", "amx_tile"};
      for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        char pat[40];
        snprintf(pat, sizeof pat, " %s ", want[w]);
        line[strcspn(line, "\n")] = ' ';
        if (strstr(line, pat)) {
          strncat(ext, ext[0] ? "," : "", sizeof ext - strlen(ext) - 1);
          strncat(ext, want[w], sizeof ext - strlen(ext) - 1);
        }
      }
      have_flags = 1;
    }
  }
  fclose(f);
  snprintf(out, cap, "%s [%s]", model, ext);
}

typedef struct {
  double ms_per_mol; /* median; NaN when it did not run */
  double best_ms;    /* best of the repetitions */
  double e_max_diff; /* max |E_ref(float64) − E_ours| over the batch, Ha; NaN if not printed */
} torch_result;

/* Time the reference on the first `batch` frames of frames_xyz; with
 * TorchANI also compare its float64 energies with ours (e[]). */
static torch_result torch_run(const char *torchani_src, const char *zoo, const char *xyz, const char *frames_xyz,
                              int batch, int reps, const double *e) {
  char cmd[8192], opt[4200] = "";
  if (torchani_src) snprintf(opt, sizeof opt, "--torchani '%s'", torchani_src);
  snprintf(cmd, sizeof cmd,
           "OMP_NUM_THREADS=1 %s %s time --zoo '%s' --xyz '%s' --frames '%s' --batch %d --threads 1 --reps %d %s "
           "2>/dev/null",
           ELIGN_PYTHON_EXECUTABLE, ANI_TORCH_SCRIPT, zoo, xyz, frames_xyz, batch, reps, opt);
  torch_result res = {NAN, NAN, NAN};
  FILE *p = popen(cmd, "r");
  if (!p) return res;
  char line[512];
  double worst = -1;
  while (fgets(line, sizeof line, p)) {
    int k;
    double v;
    if (!strncmp(line, "TORCH_MS_PER_MOL_BEST", 21)) res.best_ms = atof(line + 21);
    else if (!strncmp(line, "TORCH_MS_PER_MOL", 16)) res.ms_per_mol = atof(line + 16);
    else if (sscanf(line, "TORCH_E_F64 %d %lf", &k, &v) == 2 && k >= 0 && k < batch && fabs(v - e[k]) > worst)
      worst = fabs(v - e[k]);
  }
  if (pclose(p) != 0) fprintf(stderr, "bench_ani: the reference failed: %s\n", cmd);
  if (worst >= 0) res.e_max_diff = worst;
  return res;
}

static void json_num(char *buf, size_t cap, double v, const char *fmt) {
  if (isfinite(v)) snprintf(buf, cap, fmt, v);
  else snprintf(buf, cap, "null");
}

static void emit_bench_line(const char *figure, const char *what, double ours, const char *unit, double ref,
                            const char *ref_program, double ratio, double peak_fraction, double peak, int batch,
                            const char *target, int pass) {
  char s_ours[32], s_ref[32], s_ratio[32], s_pf[32], s_peak[32];
  json_num(s_ours, sizeof s_ours, ours, "%.4g");
  json_num(s_ref, sizeof s_ref, ref, "%.4g");
  json_num(s_ratio, sizeof s_ratio, ratio, "%.3g");
  json_num(s_pf, sizeof s_pf, peak_fraction, "%.3f");
  json_num(s_peak, sizeof s_peak, peak, "%.1f");
  printf("BENCH {\"figure\": \"%s\", \"what\": \"%s\", \"ours\": %s, \"unit\": \"%s\", \"reference\": %s, "
         "\"reference_program\": \"%s\", \"ratio\": %s, \"peak_fraction\": %s, \"peak_gflops\": %s, \"threads\": 1, "
         "\"batch\": %d, \"target\": %s%s%s, \"pass\": %s}\n",
         figure, what, s_ours, unit, s_ref, ref_program, s_ratio, s_pf, s_peak, batch, target ? "\"" : "",
         target ? target : "null", target ? "\"" : "", pass < 0 ? "null" : pass ? "true" : "false");
}

static void write_frames(const char *path, int n, const int32_t *Z, const double *pos, int count) {
  static const char *sym[] = {"", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si",
                              "P", "S", "Cl"};
  FILE *f = fopen(path, "w");
  if (!f) return;
  for (int k = 0; k < count; k++) {
    fprintf(f, "%d\nframe %d\n", n, k);
    for (int i = 0; i < n; i++)
      fprintf(f, "%s %.10f %.10f %.10f\n", sym[Z[i]], pos[3 * (k * n + i)], pos[3 * (k * n + i) + 1],
              pos[3 * (k * n + i) + 2]);
  }
  fclose(f);
}

int main(int argc, char **argv) {
  elign_launch_env_defaults(argv); /* the threads' wait policy `elign` runs with */
  if (argc < 2 || !strcmp(argv[1], "--help")) {
    printf("usage: bench_ani ZOO_DIR [--threads 1,2] [--reps N] [--batch B] [--no-torch]\n"
           "  TorchANI: set TORCHANI_SRC to its source checkout (else our PyTorch re-implementation)\n");
    return argc < 2 ? 2 : 0;
  }
  const char *zoo = argv[1];
  char threads_list[64] = "1";
  int reps = 10, batch = 32, use_torch = 1;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) snprintf(threads_list, sizeof threads_list, "%s", argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--no-torch")) use_torch = 0;
    else {
      fprintf(stderr, "bench_ani: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (reps < 1 || batch < 1) {
    fprintf(stderr, "bench_ani: --reps and --batch must be positive\n");
    return 2;
  }
  const char *torchani_src = getenv("TORCHANI_SRC");
  if (torchani_src && !torchani_src[0]) torchani_src = NULL;
  const char *ref_label = torchani_src ? "TorchANI 2.2.4 (source, $TORCHANI_SRC)"
                                       : "our PyTorch re-implementation (bench/ani_torch.py)";
  if (!use_torch) ref_label = "none";

  ani_model *m = NULL;
  elign_error err;
  double t0 = omp_get_wtime();
  if (ani_model_load(zoo, "ani-2x", &m, &err) != ELIGN_OK) {
    fprintf(stderr, "bench_ani: %s\n", err.msg);
    return 1;
  }
  char cpu[1024];
  cpu_description(cpu, sizeof cpu);
  omp_set_num_threads(1);
  /* The peak: the faster of the BLAS sgemm and the engine's own kernel on
   * a large product (OpenBLAS may not know the CPU and fall back to old
   * kernels — Prescott on some VMs — which would flatter every fraction). */
  double blas_peak = bench_best_gflops(bench_blas_sample_gflops, 5);
  double fixed_peak = bench_best_gflops(bench_engine_sample_gflops, 4);
  double peak = blas_peak > fixed_peak ? blas_peak : fixed_peak;
  printf("CPU: %s\n", cpu);
  printf("ANI-2x loaded in %.2f s; networks in %s; engine GEMM path: %s\n", omp_get_wtime() - t0, ELIGN_REAL_NAME,
         elign_gemm_fixed_isa());
  printf("1-thread 1536^3 product: BLAS sgemm %.1f GFLOP/s (OpenBLAS core %s), engine kernel %.1f GFLOP/s; "
         "peak = the faster\n",
         blas_peak, openblas_get_corename(), fixed_peak);
  printf("reference: %s\n", ref_label);

  /* workloads */
  char tmpdir[] = "/tmp/bench_ani_XXXXXX";
  if (!mkdtemp(tmpdir)) return 1;
  workload wl[2];
  char path19[256], path60[256], frames[256];
  snprintf(path19, sizeof path19, "%s/valine.xyz", tmpdir);
  snprintf(path60, sizeof path60, "%s/lisinopril.xyz", tmpdir);
  snprintf(frames, sizeof frames, "%s/frames.xyz", tmpdir);
  wl[0] = (workload){"valine", 19, (int32_t *)BENCH_VALINE_Z, (double *)BENCH_VALINE_POS, path19};
  write_xyz(path19, 19, BENCH_VALINE_Z, BENCH_VALINE_POS);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s geom --smiles '%s' --out '%s'", ELIGN_PYTHON_EXECUTABLE, ANI_TORCH_SCRIPT,
           LISINOPRIL_SMILES, path60);
  int n_wl = 1;
  if (system(cmd) == 0 && bench_read_xyz(path60, &wl[1].n, &wl[1].Z, &wl[1].pos)) {
    wl[1].name = "lisinopril";
    wl[1].xyz_path = path60;
    n_wl = 2;
  } else {
    fprintf(stderr, "bench_ani: could not build the 60-atom geometry with RDKit (%s); skipping it\n", cmd);
  }

  printf("\nenergy + forces, 1 thread unless stated; ms/mol = best wall time of %d repetitions / molecules\n"
         "(cpu ms: median process CPU time; E: energy only)\n",
         reps);
  printf("%-11s %5s %3s | %9s %8s %9s | %9s %7s | %9s %7s | %7s | %6s %6s\n", "molecule", "atoms", "thr",
         "b32 ms/mol", "cpu ms", "E ms/mol", "b1 ms/mol", "b1/b32", "ref b32", "ratio", "ref b1", "ratio",
         "FLOP lim");
  for (int w = 0; w < n_wl; w++) {
    const int n = wl[w].n;
    int64_t *off = malloc(sizeof(int64_t) * (batch + 1));
    int32_t *Z = malloc(sizeof(int32_t) * n * batch);
    double *pos = malloc(3 * sizeof(double) * n * batch), *f = malloc(3 * sizeof(double) * n * batch);
    double *f1 = malloc(3 * sizeof(double) * n * batch);
    double *e = malloc(sizeof(double) * batch), *e1 = malloc(sizeof(double) * batch);
    int *st = malloc(sizeof(int) * batch);
    bench_perturbed_copies(n, wl[w].Z, wl[w].pos, batch, off, Z, pos);
    const double flops_mol = ani_network_flops(m, n, Z, 1);
    char *save = strdup(threads_list);
    for (char *tok = strtok(save, ","); tok; tok = strtok(NULL, ",")) {
      int th = atoi(tok);
      if (th < 1) continue;
      omp_set_num_threads(th);
      ani_workspace *ws = ani_workspace_create();
      double c_ef, c_e, c_1, b_ef, b_e, b_1;
      time_batch(m, ws, batch, off, Z, pos, e, NULL, st, reps, &c_e, &b_e);
      double t_ef = time_batch(m, ws, batch, off, Z, pos, e, f, st, reps, &c_ef, &b_ef); /* leaves e, f */
      double t_1 = time_singles(m, ws, batch, off, Z, pos, e1, f1, reps, &b_1, &c_1);
      int same = !memcmp(e, e1, sizeof(double) * batch) && !memcmp(f, f1, 3 * sizeof(double) * n * batch);
      /* best of the repetitions: the steadiest figure on a shared host, and
       * the statistic of the peak it is compared with; medians printed too */
      double ms32 = 1e3 * b_ef / batch, ms1 = 1e3 * b_1 / batch;
      double limit_ms = flops_mol / (peak * 1e9) * 1e3; /* the networks at the GEMM peak */
      torch_result r32 = {NAN, NAN, NAN}, r1 = {NAN, NAN, NAN};
      if (use_torch && th == 1) {
        write_frames(frames, n, Z, pos, batch);
        r32 = torch_run(torchani_src, zoo, wl[w].xyz_path, frames, batch, reps < 5 ? reps : 5, e);
        r1 = torch_run(torchani_src, zoo, wl[w].xyz_path, frames, 1, reps, e);
      }
      printf("%-11s %5d %3d | %9.3f %8.3f %9.3f | %9.3f %6.2fx | %9.2f %6.1fx | %7.2f %6.1fx | %5.0f%% %5.0f%%\n",
             wl[w].name, n, th, ms32, 1e3 * c_ef / batch, 1e3 * b_e / batch, ms1, ms1 / ms32, r32.best_ms,
             r32.best_ms / ms32, r1.best_ms, r1.best_ms / ms1, 100 * limit_ms / ms32, 100 * limit_ms / ms1);
      printf("  medians: b32 %.3f ms/mol, b1 %.3f (%.2fx); reference b32 %.2f, b1 %.2f; "
             "process CPU time: b32 %.3f, b1 %.3f ms/mol (%.2fx)\n",
             1e3 * t_ef / batch, 1e3 * t_1 / batch, t_1 / t_ef, r32.ms_per_mol, r1.ms_per_mol, 1e3 * c_ef / batch,
             1e3 * c_1 / batch, c_1 / c_ef);
      printf("  %s: batch-1 results bit-identical to the batch of %d: %s; network FLOPs %.1f M/molecule "
             "(limit %.3f ms at %.1f GFLOP/s)",
             wl[w].name, batch, same ? "yes" : "NO", flops_mol * 1e-6, limit_ms, peak);
      if (isfinite(r32.e_max_diff)) printf("; max |E_TorchANI(float64) - E_ours| %.2e Ha", r32.e_max_diff);
      printf("\n");
      fflush(stdout);
      if (th == 1) {
        char fig[64], what[256];
        const int is19 = n == 19;
        snprintf(fig, sizeof fig, "ani2x_b%d_%dat_t1", batch, n);
        snprintf(what, sizeof what, "ANI-2x energy+forces, %s (%d atoms), batch of %d, per molecule (best of %d)",
                 wl[w].name, n, batch, reps);
        double fr32 = limit_ms / ms32, fr1 = limit_ms / ms1;
        emit_bench_line(fig, what, ms32, "ms/mol", r32.best_ms, ref_label, r32.best_ms / ms32, fr32, peak, batch,
                        is19 ? ">= 0.80 of the FLOP limit" : NULL, is19 ? fr32 >= 0.80 : -1);
        snprintf(fig, sizeof fig, "ani2x_b1_%dat_t1", n);
        snprintf(what, sizeof what, "ANI-2x energy+forces, %s (%d atoms), one molecule per call (best of %d)",
                 wl[w].name, n, reps);
        double ratio1 = r1.best_ms / ms1;
        emit_bench_line(fig, what, ms1, "ms/mol", r1.best_ms, ref_label, ratio1, fr1, peak, 1,
                        is19 ? ">= 6x TorchANI at batch 1" : NULL,
                        is19 && torchani_src && isfinite(ratio1) ? ratio1 >= 6.0 : -1);
        if (is19)
          emit_bench_line("ani2x_b1_over_b32", "ANI-2x valine: per-molecule cost alone / inside a batch of 32",
                          ms1 / ms32, "x", NAN, "none", NAN, NAN, peak, 1, "<= 1.5", ms1 / ms32 <= 1.5);
      }
      ani_workspace_free(&ws);
    }
    free(save);
    free(off);
    free(Z);
    free(pos);
    free(f);
    free(f1);
    free(e);
    free(e1);
    free(st);
  }
  printf("\nFLOP lim = time the network GEMMs need at the single-thread GEMM peak measured above / measured time\n"
         "(AEV work not counted). ref = %s, float32, 1 thread, energy+forces by autograd, same geometries.\n",
         ref_label);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "bench_ani: could not remove %s\n", tmpdir);
  ani_model_free(&m);
  return 0;
}
