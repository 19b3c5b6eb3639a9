/* bench_ani.c — ANI-2x energy + forces throughput of the native engine,
 * next to TorchANI's published CPU figures (ANI.md §11.1) and a PyTorch
 * implementation of the same spec (bench/ani_torch.py) timed in this run.
 *
 * Usage: bench_ani ZOO_DIR [--threads 1,2] [--reps 10] [--batch 32] [--no-torch]
 * Workloads: batches of 32 molecules, every copy randomly perturbed
 * (σ = 0.05 Å): valine (19 atoms) and lisinopril (60 atoms, C21H31N3O5,
 * RDKit ETKDG + MMFF94 generated at run time by ani_torch.py geom). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base/real.h"
#include "oracle/ani/ani.h"

#ifndef ANI_TORCH_SCRIPT
#define ANI_TORCH_SCRIPT "bench/ani_torch.py"
#endif
#ifndef ELIGN_PYTHON_EXECUTABLE
#define ELIGN_PYTHON_EXECUTABLE "/usr/bin/python3"
#endif

/* Valine, ETKDG(seed 42) + MMFF94 (the geometry of the reference set). */
static const int32_t VALINE_Z[19] = {6, 6, 6, 6, 7, 6, 8, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const char *LISINOPRIL_SMILES = "NCCCC[C@H](N[C@@H](CCc1ccccc1)C(=O)O)C(=O)N1CCC[C@H]1C(=O)O";

/* TorchANI 2.2.4, 1 thread, float32, batch of 1, energy+force, median ms (§11.1). */
#define TORCHANI_MS_19 21.7
#define TORCHANI_MS_60 33.9

typedef struct {
  const char *name;
  int n;
  int32_t *Z;
  double *pos; /* (n, 3) */
  const char *xyz_path;
  double torchani_ms;
} workload;

static int read_xyz(const char *path, int *n_out, int32_t **Z_out, double **pos_out) {
  static const char *sym[] = {"", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si",
                              "P", "S", "Cl"};
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n;
  char line[512];
  if (fscanf(f, "%d", &n) != 1 || n <= 0) {
    fclose(f);
    return 0;
  }
  if (!fgets(line, sizeof line, f) || !fgets(line, sizeof line, f)) { /* rest of line 1, comment */
    fclose(f);
    return 0;
  }
  int32_t *Z = malloc(sizeof(int32_t) * n);
  double *pos = malloc(3 * sizeof(double) * n);
  for (int i = 0; i < n; i++) {
    char s[8];
    if (fscanf(f, "%7s %lf %lf %lf", s, &pos[3 * i], &pos[3 * i + 1], &pos[3 * i + 2]) != 4) {
      fclose(f);
      return 0;
    }
    Z[i] = 0;
    for (int z = 1; z < (int)(sizeof sym / sizeof sym[0]); z++)
      if (!strcmp(s, sym[z])) Z[i] = z;
  }
  fclose(f);
  *n_out = n;
  *Z_out = Z;
  *pos_out = pos;
  return 1;
}

static void write_xyz(const char *path, int n, const int32_t *Z, const double *pos) {
  static const char *sym[] = {"", "H", "He", "Li", "Be", "B", "C", "N", "O", "F"};
  FILE *f = fopen(path, "w");
  if (!f) return;
  fprintf(f, "%d\nbench\n", n);
  for (int i = 0; i < n; i++) fprintf(f, "%s %.6f %.6f %.6f\n", sym[Z[i]], pos[3 * i], pos[3 * i + 1], pos[3 * i + 2]);
  fclose(f);
}

static double gauss(unsigned long long *state) {
  /* xorshift64* + Box–Muller: reproducible perturbations */
  double u[2];
  for (int k = 0; k < 2; k++) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    u[k] = ((*state * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
  }
  return sqrt(-2.0 * log(u[0] + 1e-300)) * cos(2 * M_PI * u[1]);
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
                         const double *pos, double *e, double *f, int *st, int reps, double *cpu) {
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
  free(t);
  free(c);
  return med;
}

static double torch_ms(const char *zoo, const char *xyz, int batch, int threads, int reps) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd,
           "OMP_NUM_THREADS=%d %s %s time --zoo '%s' --xyz '%s' --batch %d --threads %d --reps %d 2>/dev/null",
           threads, ELIGN_PYTHON_EXECUTABLE, ANI_TORCH_SCRIPT, zoo, xyz, batch, threads, reps);
  FILE *p = popen(cmd, "r");
  if (!p) return NAN;
  char line[256];
  double ms = NAN;
  while (fgets(line, sizeof line, p))
    if (!strncmp(line, "TORCH_MS_PER_MOL", 16)) ms = atof(line + 16);
  pclose(p);
  return ms;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help")) {
    printf("usage: bench_ani ZOO_DIR [--threads 1,2] [--reps N] [--batch B] [--no-torch]\n");
    return argc < 2 ? 2 : 0;
  }
  const char *zoo = argv[1];
  char threads_list[64] = "1,2";
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

  ani_model *m = NULL;
  elign_error err;
  double t0 = omp_get_wtime();
  if (ani_model_load(zoo, "ani-2x", &m, &err) != ELIGN_OK) {
    fprintf(stderr, "bench_ani: %s\n", err.msg);
    return 1;
  }
  printf("ANI-2x loaded in %.2f s; networks in %s\n", omp_get_wtime() - t0, ELIGN_REAL_NAME);

  /* workloads */
  char tmpdir[] = "/tmp/bench_ani_XXXXXX";
  if (!mkdtemp(tmpdir)) return 1;
  workload wl[2];
  static const double valine_pos[57] = {
      -1.295254, 1.072247, -0.101433, -0.553691, -0.193022, -0.548057, -1.488524, -1.403253, -0.448277,
      0.765723, -0.437008, 0.220727, 0.552150, -0.584214, 1.680631, 1.793474, 0.672595, -0.048246,
      2.303893, 1.404198, 0.787423, 2.143658, 0.773942, -1.345244, -0.656372, 1.957215, -0.182412,
      -1.646102, 0.996068, 0.932799, -2.173113, 1.242958, -0.734461, -0.309603, -0.062914, -1.610800,
      -0.984724, -2.312836, -0.791898, -1.830314, -1.569244, 0.578670, -2.374971, -1.257941, -1.075224,
      1.223118, -1.371363, -0.127916, 0.264534, 0.322958, 2.054480, 1.461884, -0.748583, 2.117518,
      2.804235, 1.498196, -1.358281};
  char path19[256], path60[256];
  snprintf(path19, sizeof path19, "%s/valine.xyz", tmpdir);
  snprintf(path60, sizeof path60, "%s/lisinopril.xyz", tmpdir);
  wl[0] = (workload){"valine", 19, (int32_t *)VALINE_Z, (double *)valine_pos, path19, TORCHANI_MS_19};
  write_xyz(path19, 19, VALINE_Z, valine_pos);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s geom --smiles '%s' --out '%s'", ELIGN_PYTHON_EXECUTABLE, ANI_TORCH_SCRIPT,
           LISINOPRIL_SMILES, path60);
  int n_wl = 1;
  if (system(cmd) == 0 && read_xyz(path60, &wl[1].n, &wl[1].Z, &wl[1].pos)) {
    wl[1].name = "lisinopril";
    wl[1].xyz_path = path60;
    wl[1].torchani_ms = TORCHANI_MS_60;
    n_wl = 2;
  } else {
    fprintf(stderr, "bench_ani: could not build the 60-atom geometry with RDKit (%s); skipping it\n", cmd);
  }

  printf("\n%-11s %5s %3s | %9s %8s %9s %9s | %9s %7s | %9s %7s\n", "molecule", "atoms", "thr", "E+F ms/mol",
         "cpu ms", "mol/s", "E ms/mol", "TorchANI*", "ratio", "torch.py", "ratio");
  for (int w = 0; w < n_wl; w++) {
    const int n = wl[w].n;
    int64_t *off = malloc(sizeof(int64_t) * (batch + 1));
    int32_t *Z = malloc(sizeof(int32_t) * n * batch);
    double *pos = malloc(3 * sizeof(double) * n * batch), *f = malloc(3 * sizeof(double) * n * batch);
    double *e = malloc(sizeof(double) * batch);
    int *st = malloc(sizeof(int) * batch);
    unsigned long long rng = 0x9E3779B97F4A7C15ULL;
    for (int k = 0; k <= batch; k++) off[k] = (int64_t)k * n;
    for (int k = 0; k < batch; k++) {
      memcpy(Z + k * n, wl[w].Z, sizeof(int32_t) * n);
      for (int i = 0; i < 3 * n; i++) pos[3 * k * n + i] = wl[w].pos[i] + 0.05 * gauss(&rng);
    }
    char *save = strdup(threads_list);
    for (char *tok = strtok(save, ","); tok; tok = strtok(NULL, ",")) {
      int th = atoi(tok);
      omp_set_num_threads(th);
      ani_workspace *ws = ani_workspace_create();
      double c_ef, c_e;
      double t_ef = time_batch(m, ws, batch, off, Z, pos, e, f, st, reps, &c_ef);
      double t_e = time_batch(m, ws, batch, off, Z, pos, e, NULL, st, reps, &c_e);
      double ms = 1e3 * t_ef / batch;
      double tms = use_torch ? torch_ms(zoo, wl[w].xyz_path, batch, th, reps < 5 ? reps : 5) : NAN;
      printf("%-11s %5d %3d | %9.3f %8.3f %9.1f %9.3f | %9.1f %6.1fx | %9.3f %6.1fx\n", wl[w].name, n, th, ms,
             1e3 * c_ef / batch, batch / t_ef, 1e3 * t_e / batch, wl[w].torchani_ms, wl[w].torchani_ms / ms, tms,
             tms / ms);
      fflush(stdout);
      ani_workspace_free(&ws);
    }
    free(save);
    free(off);
    free(Z);
    free(pos);
    free(f);
    free(e);
    free(st);
  }
  printf("\n* TorchANI 2.2.4 published CPU figures (ANI.md §11.1): 1 thread, float32, batch of 1, ±30 %%.\n"
         "  ms/mol = wall time of a batch call / batch; cpu ms = process CPU time / batch (all threads).\n"
         "  torch.py = bench/ani_torch.py (PyTorch, same spec, batch %d, same thread count), timed in this run.\n"
         "  Targets: ≤ 2 ms per 19-atom and ≤ 5 ms per 60-atom molecule on one core.\n",
         batch);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "bench_ani: could not remove %s\n", tmpdir);
  ani_model_free(&m);
  return 0;
}
