/* bonds.c — EDM's bond tables, bond-order rule and allowed valences.
 *
 * Compiled with -ffp-contract=off (common/CMakeLists.txt): a fused
 * multiply-add in the distance would round differently from numpy's float32
 * arithmetic and flip exact-threshold cases.
 */
#include "common/chem/bonds.h"

#include <math.h>

enum { T_H, T_B, T_C, T_N, T_O, T_F, T_AL, T_SI, T_P, T_S, T_CL, T_AS, T_BR, T_I, T_HG, T_BI };

static const int type_z[ELIGN_BOND_N_TYPES] = {1, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 33, 35, 53, 80, 83};

/* Reference bond lengths in pm, [first atom][second atom], 0 = no entry
 * (ALGORITHMS.md §3.2). Rows are written as the spec lists them. */
static const short bonds1_pm[ELIGN_BOND_N_TYPES][ELIGN_BOND_N_TYPES] = {
    [T_H] = {[T_H] = 74, [T_C] = 109, [T_N] = 101, [T_O] = 96, [T_F] = 92, [T_B] = 119, [T_SI] = 148, [T_P] = 144,
             [T_AS] = 152, [T_S] = 134, [T_CL] = 127, [T_BR] = 141, [T_I] = 161},
    [T_C] = {[T_H] = 109, [T_C] = 154, [T_N] = 147, [T_O] = 143, [T_F] = 135, [T_SI] = 185, [T_P] = 184, [T_S] = 182,
             [T_CL] = 177, [T_BR] = 194, [T_I] = 214},
    [T_N] = {[T_H] = 101, [T_C] = 147, [T_N] = 145, [T_O] = 140, [T_F] = 136, [T_CL] = 175, [T_BR] = 214, [T_S] = 168,
             [T_I] = 222, [T_P] = 177},
    [T_O] = {[T_H] = 96, [T_C] = 143, [T_N] = 140, [T_O] = 148, [T_F] = 142, [T_BR] = 172, [T_S] = 151, [T_P] = 163,
             [T_SI] = 163, [T_CL] = 164, [T_I] = 194},
    [T_F] = {[T_H] = 92, [T_C] = 135, [T_N] = 136, [T_O] = 142, [T_F] = 142, [T_S] = 158, [T_SI] = 160, [T_CL] = 166,
             [T_BR] = 178, [T_P] = 156, [T_I] = 187},
    [T_B] = {[T_H] = 119, [T_CL] = 175},
    [T_SI] = {[T_SI] = 233, [T_H] = 148, [T_C] = 185, [T_O] = 163, [T_S] = 200, [T_F] = 160, [T_CL] = 202,
              [T_BR] = 215, [T_I] = 243},
    [T_CL] = {[T_CL] = 199, [T_H] = 127, [T_C] = 177, [T_N] = 175, [T_O] = 164, [T_P] = 203, [T_S] = 207,
              [T_B] = 175, [T_SI] = 202, [T_F] = 166, [T_BR] = 214},
    [T_S] = {[T_H] = 134, [T_C] = 182, [T_N] = 168, [T_O] = 151, [T_S] = 204, [T_F] = 158, [T_CL] = 207,
             [T_BR] = 225, [T_SI] = 200, [T_P] = 210, [T_I] = 234},
    [T_BR] = {[T_BR] = 228, [T_H] = 141, [T_C] = 194, [T_O] = 172, [T_N] = 214, [T_SI] = 215, [T_S] = 225,
              [T_F] = 178, [T_CL] = 214, [T_P] = 222},
    [T_P] = {[T_P] = 221, [T_H] = 144, [T_C] = 184, [T_O] = 163, [T_CL] = 203, [T_S] = 210, [T_F] = 156,
             [T_N] = 177, [T_BR] = 222},
    [T_I] = {[T_H] = 161, [T_C] = 214, [T_SI] = 243, [T_N] = 222, [T_O] = 194, [T_S] = 234, [T_F] = 187,
             [T_I] = 266},
    [T_AS] = {[T_H] = 152},
};

/* Double bonds. The (S, C) entry is missing on purpose: EDM's table has
 * C→S = 160 but no S→C, and exact agreement keeps that asymmetry. */
static const short bonds2_pm[ELIGN_BOND_N_TYPES][ELIGN_BOND_N_TYPES] = {
    [T_C] = {[T_C] = 134, [T_N] = 129, [T_O] = 120, [T_S] = 160},
    [T_N] = {[T_C] = 129, [T_N] = 125, [T_O] = 121},
    [T_O] = {[T_C] = 120, [T_N] = 121, [T_O] = 121, [T_P] = 150},
    [T_P] = {[T_O] = 150, [T_S] = 186},
    [T_S] = {[T_P] = 186},
};

static const short bonds3_pm[ELIGN_BOND_N_TYPES][ELIGN_BOND_N_TYPES] = {
    [T_C] = {[T_C] = 120, [T_N] = 116, [T_O] = 113},
    [T_N] = {[T_C] = 116, [T_N] = 110},
    [T_O] = {[T_C] = 113},
};

/* Margins added to the reference lengths (pm), tuned by EDM on QM9. */
enum { MARGIN1_PM = 10, MARGIN2_PM = 5, MARGIN3_PM = 3 };

/* Allowed valences as bit masks (bit k set: k bonds allowed). */
static const uint32_t allowed_valences[ELIGN_BOND_N_TYPES] = {
    [T_H] = 1u << 1,  [T_B] = 1u << 3,  [T_C] = 1u << 4,  [T_N] = 1u << 3,
    [T_O] = 1u << 2,  [T_F] = 1u << 1,  [T_AL] = 1u << 3, [T_SI] = 1u << 4,
    [T_P] = (1u << 3) | (1u << 5),      [T_S] = 1u << 4,  [T_CL] = 1u << 1,
    [T_AS] = 1u << 3, [T_BR] = 1u << 1, [T_I] = 1u << 1,  [T_HG] = (1u << 1) | (1u << 2),
    [T_BI] = (1u << 3) | (1u << 5),
};

int elign_bond_type_of_z(int z) {
  for (int t = 0; t < ELIGN_BOND_N_TYPES; t++)
    if (type_z[t] == z) return t;
  return -1;
}

int elign_bond_z_of_type(int type) { return type >= 0 && type < ELIGN_BOND_N_TYPES ? type_z[type] : 0; }

static int valid_type(int t) { return t >= 0 && t < ELIGN_BOND_N_TYPES; }

int elign_bond_ref_pm(int order, int t1, int t2) {
  if (!valid_type(t1) || !valid_type(t2)) return 0;
  switch (order) {
    case 1: return bonds1_pm[t1][t2];
    case 2: return bonds2_pm[t1][t2];
    case 3: return bonds3_pm[t1][t2];
    default: return 0;
  }
}

/* 100·d is exact in double: a float has 24 significant bits, 100 needs 7. */
double elign_bond_pm_exact(float d) { return 100.0 * (double)d; }

double elign_bond_pm_f32(float d) { return (double)(100.0f * d); }

/* Nested as EDM nests it: a double needs the single threshold met, a triple
 * the double one; a pair with no double entry stops at 1 even when short. */
int elign_bond_order_pm(int t1, int t2, double dist_pm) {
  if (!valid_type(t1) || !valid_type(t2)) return 0;
  int b1 = bonds1_pm[t1][t2], b2 = bonds2_pm[t1][t2], b3 = bonds3_pm[t1][t2];
  if (!b1 || !(dist_pm < b1 + MARGIN1_PM)) return 0;
  if (!b2 || !(dist_pm < b2 + MARGIN2_PM)) return 1;
  if (!b3 || !(dist_pm < b3 + MARGIN3_PM)) return 2;
  return 3;
}

float elign_bond_distance_f32(const float *a, const float *b) {
  float dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2];
  float sx = dx * dx, sy = dy * dy, sz = dz * dz;
  float s = sx + sy;
  s = s + sz;
  return sqrtf(s);
}

static void to_f32(const double *p, float *q) {
  q[0] = (float)p[0];
  q[1] = (float)p[1];
  q[2] = (float)p[2];
}

/* Pair order of one dataset rule: QM9 keeps (first, second), GEOM sorts. */
static void rule_pair(elign_bond_rule rule, int sort, int *t1, int *t2) {
  if ((rule == ELIGN_BOND_RULE_GEOM || sort) && *t1 > *t2) {
    int t = *t1;
    *t1 = *t2;
    *t2 = t;
  }
}

int elign_bond_order_atoms(int za, const double *pa, int zb, const double *pb, elign_bond_rule rule) {
  int ta = elign_bond_type_of_z(za), tb = elign_bond_type_of_z(zb);
  if (ta < 0 || tb < 0) return 0;
  float fa[3], fb[3];
  to_f32(pa, fa);
  to_f32(pb, fb);
  rule_pair(rule, 0, &ta, &tb);
  return elign_bond_order_pm(ta, tb, elign_bond_pm_exact(elign_bond_distance_f32(fa, fb)));
}

void elign_bond_orders(const double *pos, const int32_t *Z, int64_t n, elign_bond_rule rule, int rdkit,
                       int8_t *orders) {
  for (int64_t i = 0; i < n; i++) {
    orders[i * n + i] = 0;
    for (int64_t j = i + 1; j < n; j++) {
      int ti = elign_bond_type_of_z(Z[i]), tj = elign_bond_type_of_z(Z[j]);
      int order = 0;
      if (ti >= 0 && tj >= 0) {
        float fi[3], fj[3];
        to_f32(pos + 3 * i, fi);
        to_f32(pos + 3 * j, fj);
        float d = elign_bond_distance_f32(fi, fj);
        rule_pair(rule, rdkit, &ti, &tj);
        order = elign_bond_order_pm(ti, tj, rdkit ? elign_bond_pm_f32(d) : elign_bond_pm_exact(d));
        if (rdkit && rule == ELIGN_BOND_RULE_GEOM && order > 0) order = 1;
      }
      orders[i * n + j] = orders[j * n + i] = (int8_t)order;
    }
  }
}

int elign_valence_allowed(int z, int64_t nr_bonds) {
  int t = elign_bond_type_of_z(z);
  if (t < 0 || nr_bonds < 0 || nr_bonds > 31) return 0;
  return (int)((allowed_valences[t] >> nr_bonds) & 1u);
}
