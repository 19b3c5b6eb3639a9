/* valine.h — the ANI benches' workload (bench_ani, bench_ani_loop): their
 * molecule, L-valine, 19 atoms, atomic numbers and positions in Å (ETKDG,
 * seed 42, + MMFF94: the geometry of the reference set); the perturbed
 * copies both benches time (same generator and seed, so both see the same
 * geometries); and the xyz reader for RDKit's lisinopril. */
#ifndef ELIGN_BENCH_VALINE_H
#define ELIGN_BENCH_VALINE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int32_t BENCH_VALINE_Z[19] = {6, 6, 6, 6, 7, 6, 8, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const double BENCH_VALINE_POS[57] = {
    -1.295254, 1.072247,  -0.101433, -0.553691, -0.193022, -0.548057, -1.488524, -1.403253, -0.448277,
    0.765723,  -0.437008, 0.220727,  0.552150,  -0.584214, 1.680631,  1.793474,  0.672595,  -0.048246,
    2.303893,  1.404198,  0.787423,  2.143658,  0.773942,  -1.345244, -0.656372, 1.957215,  -0.182412,
    -1.646102, 0.996068,  0.932799,  -2.173113, 1.242958,  -0.734461, -0.309603, -0.062914, -1.610800,
    -0.984724, -2.312836, -0.791898, -1.830314, -1.569244, 0.578670,  -2.374971, -1.257941, -1.075224,
    1.223118,  -1.371363, -0.127916, 0.264534,  0.322958,  2.054480,  1.461884,  -0.748583, 2.117518,
    2.804235,  1.498196,  -1.358281};


#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* xorshift64* + Box–Muller: reproducible perturbations */
static inline double bench_gauss(unsigned long long *state) {
  double u[2];
  for (int k = 0; k < 2; k++) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    u[k] = ((*state * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
  }
  return sqrt(-2.0 * log(u[0] + 1e-300)) * cos(2 * M_PI * u[1]);
}

/* count copies of one molecule (n atoms), packed: offsets off[count + 1],
 * Z_out (count·n), pos_out (count·n, 3) = pos + N(0, 0.05² Å²) per coordinate. */
static inline void bench_perturbed_copies(int n, const int32_t *Z, const double *pos, int count, int64_t *off,
                                          int32_t *Z_out, double *pos_out) {
  unsigned long long rng = 0x9E3779B97F4A7C15ULL;
  for (int k = 0; k <= count; k++) off[k] = (int64_t)k * n;
  for (int k = 0; k < count; k++) {
    memcpy(Z_out + k * n, Z, sizeof(int32_t) * n);
    for (int i = 0; i < 3 * n; i++) pos_out[3 * k * n + i] = pos[i] + 0.05 * bench_gauss(&rng);
  }
}

/* An xyz file of H … Cl (one frame) into fresh arrays; 0 when it cannot be read. */
static inline int bench_read_xyz(const char *path, int *n_out, int32_t **Z_out, double **pos_out) {
  static const char *sym[] = {"", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si",
                              "P", "S", "Cl"};
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n;
  char line[512];
  if (fscanf(f, "%d", &n) != 1 || n <= 0 || !fgets(line, sizeof line, f) || !fgets(line, sizeof line, f)) {
    fclose(f); /* count, rest of line 1, comment */
    return 0;
  }
  int32_t *Z = malloc(sizeof(int32_t) * n);
  double *pos = malloc(3 * sizeof(double) * n);
  for (int i = 0; i < n; i++) {
    char s[8];
    if (fscanf(f, "%7s %lf %lf %lf", s, &pos[3 * i], &pos[3 * i + 1], &pos[3 * i + 2]) != 4) {
      fclose(f);
      free(Z), free(pos);
      return 0;
    }
    Z[i] = 0;
    for (int z = 1; z < (int)(sizeof sym / sizeof sym[0]); z++)
      if (!strcmp(s, sym[z])) Z[i] = z;
  }
  fclose(f);
  *n_out = n, *Z_out = Z, *pos_out = pos;
  return 1;
}

#endif
