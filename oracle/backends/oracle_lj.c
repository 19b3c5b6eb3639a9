/* oracle_lj.c — "lj": a Lennard-Jones oracle, cheap and exact, for tests and demos.
 *
 * Every pair of atoms i<j of a molecule (no bonded exclusions, no cutoff)
 * contributes, in the minimum-form of the 12-6 potential,
 *
 *   E_ij = eps_ij [ (rm_ij / r)^12 − 2 (rm_ij / r)^6 ]        (eV, r in Å)
 *   rm_ij  = r_cov(Z_i) + r_cov(Z_j)      minimum of the pair at the sum of
 *                                         covalent radii (≡ σ_ij = rm_ij / 2^(1/6))
 *   eps_ij = sqrt(eps(Z_i) eps(Z_j))      geometric mean of the well depths
 *
 * and the analytic force on i is  F_i = −dE/dr_i = Σ_j 12 eps_ij (s^12 − s^6)/r² (r_i − r_j),
 * s = rm_ij / r. Placing the minimum at covalent bond lengths (instead of at
 * van der Waals contact) keeps energies and forces of sensible molecular
 * geometries moderate, so the potential rewards bond-like distances — a toy,
 * not a chemistry model; what matters is that it is smooth, element-aware,
 * E(3)- and permutation-invariant and has exact forces, so a server or a
 * training loop can be tested against it bit for bit.
 *
 * Table: r_cov = single-bond covalent radii of Cordero et al., Dalton Trans.
 * 2008, 2832 (C: sp3 value); eps = UFF van der Waals well depths D_i of Rappé
 * et al., JACS 114 (1992) 10024, converted from kcal/mol to eV. Elements
 * H–Ar, Br and I; others are "unsupported".
 *
 * Like every backend it defends its own inputs (the registry's common checks
 * run first, but a direct caller gets the same flags): no atoms → EMPTY,
 * NaN/Inf coordinate → NONFINITE_INPUT, unknown element → UNSUPPORTED_ELEMENT,
 * a pair closer than min_distance (default 0.5 Å) → OVERLAP.
 */
#include "common/chem/elements.h"
#include "oracle/backends/oracle_lj.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LJ_KCALMOL_EV 0.0433641042615 /* 4.184 kJ/mol / 96.4853321 kJ/mol per eV */
#define LJ_DEFAULT_MIN_DISTANCE 0.5   /* Å */

typedef struct {
  int Z;
  double r_cov;    /* Å, Cordero 2008 */
  double d_kcal;   /* kcal/mol, UFF D_i */
} lj_element;

static const lj_element lj_table[] = {
    {1, 0.31, 0.044},  {2, 0.28, 0.056},  {3, 1.28, 0.025},  {4, 0.96, 0.085},  {5, 0.84, 0.180},
    {6, 0.76, 0.105},  {7, 0.71, 0.069},  {8, 0.66, 0.060},  {9, 0.57, 0.050},  {10, 0.58, 0.042},
    {11, 1.66, 0.030}, {12, 1.41, 0.111}, {13, 1.21, 0.505}, {14, 1.11, 0.402}, {15, 1.07, 0.305},
    {16, 1.05, 0.274}, {17, 1.02, 0.227}, {18, 1.06, 0.185}, {35, 1.20, 0.251}, {53, 1.39, 0.339},
};
#define LJ_N_ELEMENTS ((int)(sizeof lj_table / sizeof lj_table[0]))

int elign_oracle_lj_params(int Z, double *r_cov, double *eps) {
  for (int k = 0; k < LJ_N_ELEMENTS; k++)
    if (lj_table[k].Z == Z) {
      if (r_cov) *r_cov = lj_table[k].r_cov;
      if (eps) *eps = lj_table[k].d_kcal * LJ_KCALMOL_EV;
      return 1;
    }
  return 0;
}

typedef struct {
  double min_distance; /* Å */
  double r_cov[ELIGN_MAX_Z + 1];   /* by Z; 0 = unsupported */
  double eps[ELIGN_MAX_Z + 1];    /* eV */
} lj_state;

static elign_status lj_create(const elign_oracle_options *opt, void **state, elign_error *err) {
  lj_state *s = elign_calloc(1, sizeof *s, "oracle_lj:state");
  /* oracle.h: min_distance 0 = the backend's default, < 0 = no overlap check */
  s->min_distance = !opt || opt->min_distance == 0 ? LJ_DEFAULT_MIN_DISTANCE : opt->min_distance > 0 ? opt->min_distance : 0;
  for (int Z = 0; Z <= ELIGN_MAX_Z; Z++) elign_oracle_lj_params(Z, &s->r_cov[Z], &s->eps[Z]);
  *state = s;
  return ELIGN_OK;
}

static int lj_supports(const void *state, int Z) {
  const lj_state *s = state;
  return elign_element_valid(Z) && s->r_cov[Z] > 0;
}

static void lj_destroy(void *state) { elign_free(state); }

/* Inputs a backend must refuse; ELIGN_MOL_OK if the molecule can be evaluated. */
static elign_mol_status lj_check(const lj_state *s, int64_t n, const int32_t *Z, const double *x) {
  if (n == 0) return ELIGN_MOL_EMPTY;
  for (int64_t i = 0; i < 3 * n; i++)
    if (!isfinite(x[i])) return ELIGN_MOL_NONFINITE_INPUT;
  for (int64_t i = 0; i < n; i++)
    if (!lj_supports(s, Z[i])) return ELIGN_MOL_UNSUPPORTED_ELEMENT;
  double dmin2 = s->min_distance * s->min_distance;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) {
      double dx = x[3 * i] - x[3 * j], dy = x[3 * i + 1] - x[3 * j + 1], dz = x[3 * i + 2] - x[3 * j + 2];
      if (dx * dx + dy * dy + dz * dz < dmin2) return ELIGN_MOL_OVERLAP;
    }
  return ELIGN_MOL_OK;
}

/* One molecule: energy (eV) and, if f != NULL, forces (n,3) eV/Å (overwritten). */
static double lj_molecule(const lj_state *s, int64_t n, const int32_t *Z, const double *x, double *f) {
  if (f) memset(f, 0, 3 * (size_t)n * sizeof *f);
  double energy = 0.0;
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = i + 1; j < n; j++) {
      double d[3] = {x[3 * i] - x[3 * j], x[3 * i + 1] - x[3 * j + 1], x[3 * i + 2] - x[3 * j + 2]};
      double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
      double rm = s->r_cov[Z[i]] + s->r_cov[Z[j]];
      double eps = sqrt(s->eps[Z[i]] * s->eps[Z[j]]);
      double s2 = rm * rm / r2, s6 = s2 * s2 * s2, s12 = s6 * s6;
      energy += eps * (s12 - 2.0 * s6);
      if (!f) continue;
      /* dE/dr = eps (−12 s^12 + 12 s^6) / r, so F_i = −dE/dr · d/r = 12 eps (s^12 − s^6) d / r² */
      double g = 12.0 * eps * (s12 - s6) / r2;
      for (int k = 0; k < 3; k++) {
        f[3 * i + k] += g * d[k];
        f[3 * j + k] -= g * d[k];
      }
    }
  }
  return energy;
}

static elign_status lj_evaluate(void *state, const elign_oracle_batch *batch, elign_oracle_result *result,
                                elign_error *err) {
  const lj_state *s = state;
  for (int64_t m = 0; m < batch->n_mol; m++) {
    int64_t a0 = batch->offsets[m], n = batch->offsets[m + 1] - a0;
    const int32_t *Z = batch->Z + a0;
    const double *x = batch->pos + 3 * a0;
    double *f = result->forces ? result->forces + 3 * a0 : NULL;
    elign_mol_status st = lj_check(s, n, Z, x);
    double e = 0.0;
    if (st == ELIGN_MOL_OK) {
      e = lj_molecule(s, n, Z, x, f);
      int finite = isfinite(e);
      for (int64_t i = 0; f && finite && i < 3 * n; i++) finite = isfinite(f[i]);
      if (!finite) st = ELIGN_MOL_NONFINITE_OUTPUT;
    }
    if (st != ELIGN_MOL_OK) {
      e = 0.0;
      if (f) memset(f, 0, 3 * (size_t)n * sizeof *f);
    }
    result->energy[m] = e;
    result->status[m] = st;
  }
  return ELIGN_OK;
}

const elign_oracle_backend elign_oracle_lj_backend = {
    .name = "lj",
    .summary = "Lennard-Jones over all pairs, minima at covalent bond lengths (test/demo force field)",
    .create = lj_create,
    .supports = lj_supports,
    .evaluate = lj_evaluate,
    .destroy = lj_destroy,
    .default_min_distance = LJ_DEFAULT_MIN_DISTANCE, /* the registry's overlap check uses it too */
};
