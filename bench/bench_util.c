/* bench_util.c — see bench_util.h. */
#include "bench/bench_util.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/base/log.h"
#include "common/nn/gemm_fixed.h"

char *openblas_get_corename(void);

static int use_cpu_clock;

void bench_use_cpu_clock(int on) { use_cpu_clock = on; }
int bench_cpu_clock(void) { return use_cpu_clock; }

double bench_now(void) {
  if (!use_cpu_clock) return elign_wtime();
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { PEAK_N = 1536 };
static float *peak_a, *peak_b, *peak_c;

static void sgemm_call(void) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, PEAK_N, PEAK_N, PEAK_N, 1, peak_a, PEAK_N, peak_b, PEAK_N, 0,
              peak_c, PEAK_N);
}

/* The engine's kernel on the same product (elign_real is float unless
 * ELIGN_DOUBLE; a double build compares against the BLAS only). */
static void fixed_call(void) {
#ifndef ELIGN_DOUBLE
  elign_gemm_fixed_rows(PEAK_N, PEAK_N, PEAK_N, 1, peak_a, PEAK_N, peak_b, PEAK_N, 0, peak_c, PEAK_N);
#endif
}

static double product_gflops(void (*call)(void)) {
  double t0 = bench_now();
  call();
  return 2.0 * PEAK_N * PEAK_N * (double)PEAK_N / (bench_now() - t0) * 1e-9;
}

static void peak_matrices(void) {
  if (peak_a) return;
  size_t n2 = (size_t)PEAK_N * PEAK_N;
  peak_a = malloc(n2 * sizeof(float)), peak_b = malloc(n2 * sizeof(float)), peak_c = malloc(n2 * sizeof(float));
  for (size_t k = 0; k < n2; k++) peak_a[k] = (float)(k % 7) * 0.1f, peak_b[k] = (float)(k % 5) * 0.1f;
  sgemm_call(); /* warm-up: page faults, BLAS buffers */
  fixed_call();
}

double bench_blas_sample_gflops(void) {
  peak_matrices();
  return product_gflops(sgemm_call);
}

double bench_engine_sample_gflops(void) {
#ifdef ELIGN_DOUBLE
  return 0;
#else
  peak_matrices();
  return product_gflops(fixed_call);
#endif
}

double bench_sgemm_sample_gflops(void) {
  double blas = bench_blas_sample_gflops(), fixed = bench_engine_sample_gflops();
  return blas > fixed ? blas : fixed;
}

double bench_best_gflops(double (*sample)(void), int n) {
  double best = 0;
  for (int r = 0; r < n; r++) {
    double g = sample();
    if (g > best) best = g;
  }
  return best;
}

static int cpu_has_flag(const char *flags, const char *f) {
  size_t n = strlen(f);
  for (const char *p = strstr(flags, f); p; p = strstr(p + 1, f))
    if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == 0)) return 1;
  return 0;
}

void bench_cpu_describe(bench_cpu *c) {
  snprintf(c->model, sizeof c->model, "unknown CPU");
  snprintf(c->cpu_simd, sizeof c->cpu_simd, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[8192];
    int got_model = 0, got_flags = 0;
    while (fgets(line, sizeof line, f) && !(got_model && got_flags)) {
      char *colon = strchr(line, ':');
      if (!colon) continue;
      if (!got_model && !strncmp(line, "model name", 10)) {
        snprintf(c->model, sizeof c->model, "%s", colon + 2);
        c->model[strcspn(c->model, "\n")] = 0;
        got_model = 1;
      } else if (!got_flags && !strncmp(line, "flags", 5)) {
        const char *fl = colon + 1;
        snprintf(c->cpu_simd, sizeof c->cpu_simd, "%s",
                 cpu_has_flag(fl, "avx512f") ? "AVX-512" : cpu_has_flag(fl, "avx2") ? "AVX2" : "SSE");
        got_flags = 1;
      }
    }
    fclose(f);
  }
#if defined(__AVX512F__)
  snprintf(c->build_simd, sizeof c->build_simd, "AVX-512");
#elif defined(__AVX2__) && defined(__FMA__)
  snprintf(c->build_simd, sizeof c->build_simd, "AVX2+FMA");
#elif defined(__AVX2__)
  snprintf(c->build_simd, sizeof c->build_simd, "AVX2");
#else
  snprintf(c->build_simd, sizeof c->build_simd, "SSE");
#endif
  snprintf(c->blas_core, sizeof c->blas_core, "%s", openblas_get_corename());
}

void bench_cpu_print(const bench_cpu *c) {
  printf("CPU: %s (%s); this build: %s; OpenBLAS kernels: %s%s\n", c->model, c->cpu_simd, c->build_simd,
         c->blas_core, getenv("OPENBLAS_CORETYPE") ? " (OPENBLAS_CORETYPE)" : "");
}

const char *bench_edm_src(void) {
  const char *d = getenv("EDM_SRC");
  if (!d || !*d) return NULL;
  char path[4096];
  struct stat st;
  snprintf(path, sizeof path, "%s/egnn/models.py", d);
  if (stat(path, &st) != 0) {
    fprintf(stderr, "EDM_SRC=%s has no egnn/models.py: timing our PyTorch re-implementation instead\n", d);
    return NULL;
  }
  return d;
}

int bench_run_torch(const char *script, const char *edm, const char *arch, int threads, int reps, int n_mol,
                    const int64_t *sizes, bench_torch_times *t) {
  char cmd[8192];
  int len = snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d %s %s --arch %s --threads %d --reps %d%s %s%s --sizes ",
                     threads, ELIGN_PYTHON_EXECUTABLE, script, arch, threads, reps,
                     use_cpu_clock ? " --cpu-clock" : "", edm ? "--edm " : "", edm ? edm : "--no-edm");
  for (int b = 0; b < n_mol && len < (int)sizeof cmd - 16; b++)
    len += snprintf(cmd + len, sizeof cmd - (size_t)len, "%s%lld", b ? "," : "", (long long)sizes[b]);
  FILE *p = popen(cmd, "r");
  if (!p) return 0;
  char line[512];
  int ok = 0;
  snprintf(t->label, sizeof t->label, "%s", edm ? "original EDM" : "our PyTorch re-implementation (tools/egnn_reference.py)");
  while (fgets(line, sizeof line, p)) {
    if (sscanf(line, "TORCH fwd_nograd_ms %lf fwd_ms %lf fwdbwd_ms %lf peak_gflops %lf", &t->fwd_nograd, &t->fwd,
               &t->fwdbwd, &t->peak) == 4)
      ok = 1;
    if (!strncmp(line, "TORCH_LABEL ", 12)) {
      snprintf(t->label, sizeof t->label, "%.159s", line + 12);
      t->label[strcspn(t->label, "\n")] = 0;
    }
  }
  pclose(p);
  return ok;
}

/* A JSON string without quotes or control characters in it (our labels). */
static void put_str(const char *key, const char *v, int last) {
  if (!v) {
    printf("\"%s\": null%s", key, last ? "" : ", ");
    return;
  }
  printf("\"%s\": \"", key);
  for (const char *c = v; *c; c++) {
    if (*c == '"' || *c == '\\') putchar('\\');
    if ((unsigned char)*c >= 0x20) putchar(*c);
  }
  printf("\"%s", last ? "" : ", ");
}

static void put_num(const char *key, double v, int digits) {
  if (v < 0 || v != v) printf("\"%s\": null, ", key);
  else printf("\"%s\": %.*f, ", key, digits, v);
}

void bench_print_line(const bench_line *b) {
  printf("BENCH {");
  put_str("figure", b->figure, 0);
  put_str("what", b->what, 0);
  put_num("ours", b->ours, 3);
  put_str("unit", b->unit, 0);
  put_num("reference", b->reference, 3);
  put_str("reference_program", b->reference_program ? b->reference_program : "none", 0);
  put_num("ratio", b->ratio, 3);
  put_num("peak_fraction", b->peak_fraction, 3);
  put_num("peak_gflops", b->peak_gflops, 1);
  printf("\"threads\": %d, ", b->threads);
  if (b->batch < 0) printf("\"batch\": null, ");
  else printf("\"batch\": %d, ", b->batch);
  put_str("target", b->target, 0);
  printf("\"pass\": %s}\n", b->pass < 0 ? "null" : b->pass ? "true" : "false");
  fflush(stdout);
}
