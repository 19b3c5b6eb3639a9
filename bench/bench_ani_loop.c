/* bench_ani_loop.c — ANI-2x energy + forces in a plain loop, for profilers
 * (perf record / perf stat) and for per-call timings that a shared host
 * disturbs less than bench_ani's whole-batch wall times; and a bit probe
 * that prints results exactly (%a) so two builds can be diffed.
 *
 * Usage:
 *   bench_ani_loop ZOO time  b1|b32|e1|e32 CALLS   per-call thread CPU time and wall time:
 *                                            min and median, per molecule (valine)
 *   bench_ani_loop ZOO loop  b1|b32|e1|e32 CALLS   the calls only (for perf record)
 *       (b: energy + forces, e: energy only)
 *   bench_ani_loop ZOO probe [LISINOPRIL.xyz]
 *       energies, forces, member energies and member forces in %a of:
 *       valine ×32 (perturbed as in bench_ani) as one batch and one by one,
 *       a S/F/Cl molecule alone and inside the valine batch, and, given the
 *       xyz, lisinopril ×8 as one batch and one by one.
 * Valine workload: the 32 perturbed copies of bench_ani (σ = 0.05 Å, same
 * generator and seed); b1 cycles through them one per call. 1 thread unless
 * OMP_NUM_THREADS says otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/valine.h"
#include "oracle/ani/ani.h"

enum { BATCH = 32 };

/* tests/test_ani.c's molecule with S, F and Cl */
static const int32_t SFCL_Z[9] = {16, 6, 9, 9, 17, 6, 1, 1, 1};
static const double SFCL_POS[27] = {0.000,  0.000,  0.000,  1.810,  0.000,  0.000,  2.280,  1.260,  0.000,
                                    2.280,  -0.620, 1.080,  -0.450, -1.900, 0.300,  -0.560, 0.850,  -1.480,
                                    -0.140, 1.930,  -1.400, -0.060, 0.480,  -2.380, -1.640, 0.700,  -1.560};

/* A packed batch of copies of one molecule. */
typedef struct {
  int n, count;
  int64_t *off;
  int32_t *Z;
  double *pos;
} batch;

static batch perturbed_copies(int n, const int32_t *Z, const double *pos, int count) {
  batch b = {n, count, malloc(sizeof(int64_t) * (count + 1)), malloc(sizeof(int32_t) * n * count),
             malloc(3 * sizeof(double) * n * count)};
  bench_perturbed_copies(n, Z, pos, count, b.off, b.Z, b.pos);
  return b;
}

static void batch_free(batch *b) {
  free(b->off);
  free(b->Z);
  free(b->pos);
}

static double now(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Molecules [k0, k0 + count) of b in one call: energy + forces (energy only
 * when f is NULL). */
static void run_call(ani_model *m, ani_workspace *ws, const batch *b, int k0, int count, double *e, double *f) {
  int64_t off[BATCH + 1];
  int st[BATCH];
  elign_error err;
  for (int k = 0; k <= count; k++) off[k] = b->off[k0 + k] - b->off[k0];
  if (ani_compute(m, ws, count, off, b->Z + b->off[k0], b->pos + 3 * b->off[k0], e, f, NULL, st, &err) != ELIGN_OK) {
    fprintf(stderr, "ani_compute: %s\n", err.msg);
    exit(1);
  }
}

/* calls of `per_call` molecules (1 or 32); with timing, per-molecule ms. */
static void loop(ani_model *m, const batch *b, int per_call, int with_forces, int calls, int timed) {
  ani_workspace *ws = ani_workspace_create();
  double *e = malloc(sizeof(double) * BATCH), *f = with_forces ? malloc(3 * sizeof(double) * b->n * BATCH) : NULL;
  double *cpu = malloc(sizeof(double) * calls), *wall = malloc(sizeof(double) * calls);
  for (int w = 0; w < 3; w++) run_call(m, ws, b, 0, per_call, e, f);
  for (int c = 0; c < calls; c++) {
    const int k0 = per_call == 1 ? c % BATCH : 0;
    double c0 = now(CLOCK_THREAD_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
    run_call(m, ws, b, k0, per_call, e, f);
    cpu[c] = now(CLOCK_THREAD_CPUTIME_ID) - c0;
    wall[c] = now(CLOCK_MONOTONIC) - w0;
  }
  if (timed) {
    qsort(cpu, calls, sizeof *cpu, cmp_double);
    qsort(wall, calls, sizeof *wall, cmp_double);
    const double to_ms = 1e3 / per_call;
    printf("batch %d, %d calls, ms per molecule: thread CPU min %.4f p10 %.4f median %.4f | wall min %.4f p10 %.4f "
           "median %.4f\n",
           per_call, calls, to_ms * cpu[0], to_ms * cpu[calls / 10], to_ms * cpu[calls / 2], to_ms * wall[0],
           to_ms * wall[calls / 10], to_ms * wall[calls / 2]);
  }
  free(cpu);
  free(wall);
  free(e);
  free(f);
  ani_workspace_free(&ws);
}

/* ---- probe --------------------------------------------------------------- */

static void print_exact(const char *label, const double *v, int64_t count) {
  printf("%s", label);
  for (int64_t i = 0; i < count; i++) printf(" %a", v[i]);
  printf("\n");
}

/* All outputs of one call of molecules [k0, k0 + count) of b, printed per molecule. */
static void probe_call(ani_model *m, ani_workspace *ws, const batch *b, int k0, int count, const char *tag) {
  const int M = ani_model_n_members(m);
  const int64_t atoms = b->off[k0 + count] - b->off[k0];
  double *e = malloc(sizeof(double) * count), *f = malloc(3 * sizeof(double) * atoms);
  double *me = malloc(sizeof(double) * count * M), *mf = malloc(3 * sizeof(double) * atoms * M);
  int64_t *off = malloc(sizeof(int64_t) * (count + 1));
  int *st = malloc(sizeof(int) * count);
  for (int k = 0; k <= count; k++) off[k] = b->off[k0 + k] - b->off[k0];
  ani_outputs out = {.energy = e, .forces = f, .member_energy = me, .member_forces = mf, .mol_status = st};
  elign_error err;
  if (ani_compute_ex(m, ws, count, off, b->Z + b->off[k0], b->pos + 3 * b->off[k0], &out, &err) != ELIGN_OK) {
    fprintf(stderr, "ani_compute_ex: %s\n", err.msg);
    exit(1);
  }
  char label[128];
  for (int k = 0; k < count; k++) {
    const int64_t a0 = off[k], n = off[k + 1] - off[k];
    snprintf(label, sizeof label, "%s mol %d E", tag, k0 + k);
    print_exact(label, e + k, 1);
    snprintf(label, sizeof label, "%s mol %d F", tag, k0 + k);
    print_exact(label, f + 3 * a0, 3 * n);
    snprintf(label, sizeof label, "%s mol %d memberE", tag, k0 + k);
    print_exact(label, me + (int64_t)k * M, M);
    for (int mm = 0; mm < M; mm++) {
      snprintf(label, sizeof label, "%s mol %d memberF %d", tag, k0 + k, mm);
      print_exact(label, mf + (int64_t)mm * atoms * 3 + 3 * a0, 3 * n);
    }
  }
  free(e), free(f), free(me), free(mf), free(off), free(st);
}

static void probe_batch_and_singles(ani_model *m, ani_workspace *ws, const batch *b, const char *name) {
  char tag[64];
  snprintf(tag, sizeof tag, "%s b%d", name, b->count);
  probe_call(m, ws, b, 0, b->count, tag);
  snprintf(tag, sizeof tag, "%s b1", name);
  for (int k = 0; k < b->count; k++) probe_call(m, ws, b, k, 1, tag);
}

static void probe(ani_model *m, const char *lisinopril_xyz) {
  ani_workspace *ws = ani_workspace_create();
  batch val = perturbed_copies(19, BENCH_VALINE_Z, BENCH_VALINE_POS, BATCH);
  probe_batch_and_singles(m, ws, &val, "valine");
  /* S/F/Cl alone, then appended to the valine batch (other species set) */
  batch mixed = {19, BATCH + 1, malloc(sizeof(int64_t) * (BATCH + 2)), malloc(sizeof(int32_t) * (19 * BATCH + 9)),
                 malloc(3 * sizeof(double) * (19 * BATCH + 9))};
  memcpy(mixed.off, val.off, sizeof(int64_t) * (BATCH + 1));
  mixed.off[BATCH + 1] = 19 * BATCH + 9;
  memcpy(mixed.Z, val.Z, sizeof(int32_t) * 19 * BATCH);
  memcpy(mixed.Z + 19 * BATCH, SFCL_Z, sizeof SFCL_Z);
  memcpy(mixed.pos, val.pos, 3 * sizeof(double) * 19 * BATCH);
  memcpy(mixed.pos + 3 * 19 * BATCH, SFCL_POS, sizeof SFCL_POS);
  probe_call(m, ws, &mixed, BATCH, 1, "sfcl b1");
  probe_call(m, ws, &mixed, 0, BATCH + 1, "valine+sfcl b33");
  int lis_n;
  int32_t *lis_Z;
  double *lis_pos;
  if (lisinopril_xyz && bench_read_xyz(lisinopril_xyz, &lis_n, &lis_Z, &lis_pos)) {
    batch lis = perturbed_copies(lis_n, lis_Z, lis_pos, 8);
    probe_batch_and_singles(m, ws, &lis, "lisinopril");
    batch_free(&lis);
    free(lis_Z), free(lis_pos);
  }
  batch_free(&mixed);
  batch_free(&val);
  ani_workspace_free(&ws);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_ani_loop ZOO time|loop b1|b32|e1|e32 CALLS | ZOO probe [lisinopril.xyz]\n");
    return 2;
  }
  ani_model *m = NULL;
  elign_error err;
  if (ani_model_load(argv[1], "ani-2x", &m, &err) != ELIGN_OK) {
    fprintf(stderr, "bench_ani_loop: %s\n", err.msg);
    return 1;
  }
  if (!strcmp(argv[2], "probe")) {
    probe(m, argc > 3 ? argv[3] : NULL);
  } else if (argc >= 5 && (!strcmp(argv[2], "time") || !strcmp(argv[2], "loop"))) {
    batch val = perturbed_copies(19, BENCH_VALINE_Z, BENCH_VALINE_POS, BATCH);
    loop(m, &val, !strcmp(argv[3] + 1, "1") ? 1 : BATCH, argv[3][0] != 'e', atoi(argv[4]), !strcmp(argv[2], "time"));
    batch_free(&val);
  } else {
    fprintf(stderr, "bench_ani_loop: unknown mode\n");
    return 2;
  }
  ani_model_free(&m);
  return 0;
}
