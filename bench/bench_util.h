/* bench_util.h — what the EGNN benches share (bench_egnn, bench_train_step):
 * the machine's sgemm peak measured in the same run, the PyTorch runner
 * (bench/egnn_torch.py: the original EDM code from $EDM_SRC when it is set,
 * else our PyTorch re-implementation tools/egnn_reference.py), the CPU
 * description, and the BENCH result line (docs: the BENCH line format in
 * bench/README or the integrator's notes; one JSON object per figure). */
#ifndef ELIGN_BENCH_UTIL_H
#define ELIGN_BENCH_UTIL_H

#include <stdint.h>

/* The benches' clock: wall (default) or, for 1-thread runs on a shared
 * machine, this process's CPU time (CLOCK_PROCESS_CPUTIME_ID: time slices
 * lost to other processes are not counted; cache sharing still is). */
void bench_use_cpu_clock(int on);
int bench_cpu_clock(void);
double bench_now(void); /* seconds */

/* One large single-precision product (1536³, after a warm-up on first use)
 * through the BLAS sgemm and through the engine's own fixed-order kernel
 * (common/nn/gemm_fixed.h, rows over the same threads): GFLOP/s of the
 * faster. The BLAS alone is no peak when OpenBLAS runs an older core than
 * the CPU has (OPENBLAS_CORETYPE=Haswell on an AVX-512 machine: 121 GFLOP/s
 * where the engine kernel does 215), which put fractions above 100 %.
 * Benches take the best of calls interleaved with their own timings, so the
 * peak and the measured code see the same machine load. */
double bench_sgemm_sample_gflops(void);
/* Its two parts: the BLAS sgemm alone, the engine kernel alone (0 in a
 * double build). */
double bench_blas_sample_gflops(void);
double bench_engine_sample_gflops(void);
/* Best of n calls of one of the samples above. */
double bench_best_gflops(double (*sample)(void), int n);

/* CPU model name, its widest x86 vector extension (cpu: what the CPU has;
 * build: what this binary was compiled for) and OpenBLAS's kernel set. */
typedef struct {
  char model[128];
  char cpu_simd[32];
  char build_simd[32];
  char blas_core[32];
} bench_cpu;
void bench_cpu_describe(bench_cpu *c);
void bench_cpu_print(const bench_cpu *c);

/* $EDM_SRC when it names a checkout of ehoogeboom/e3_diffusion_for_molecules
 * (has egnn/models.py), else NULL. */
const char *bench_edm_src(void);

/* PyTorch side of the EGNN benches: best-of-reps milliseconds and the
 * torch.mm peak it measured. */
typedef struct {
  double fwd_nograd, fwd, fwdbwd; /* ms */
  double peak;                    /* GFLOP/s of torch's large matmul in that process */
  char label[160];                /* reference_program of the BENCH line */
} bench_torch_times;

/* Run `script --arch ARCH --threads T --reps R --sizes n1,n2,... [--edm DIR]`
 * with the Debian interpreter (plus --cpu-clock when the benches' clock is
 * the CPU clock); edm = NULL times our re-implementation.
 * Returns 1 and fills t on success. */
int bench_run_torch(const char *script, const char *edm, const char *arch, int threads, int reps, int n_mol,
                    const int64_t *sizes, bench_torch_times *t);

/* The BENCH line. reference / ratio / peak_fraction / peak_gflops < 0 and
 * batch < 0 print as null; target NULL prints null; pass: -1 null, 0/1. */
typedef struct {
  const char *figure, *what, *unit, *reference_program, *target;
  double ours, reference, ratio, peak_fraction, peak_gflops;
  int threads, batch, pass;
} bench_line;
void bench_print_line(const bench_line *b);

#endif
