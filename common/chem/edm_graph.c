/* edm_graph.c — distances and bond orders of EDM's RDKit molecule builder.
 *
 * Compiled with -ffp-contract=off (CMakeLists.txt): every float32 product and
 * sum below must round where torch rounds, and the one fused multiply-add
 * torch uses is written out as fmaf.
 */
#include "common/chem/edm_graph.h"

#include <math.h>
#include <stddef.h>

#include "common/base/error.h"

/* Type indices of GEOM's atom decoder (increasing Z). */
enum { T_H, T_B, T_C, T_N, T_O, T_F, T_AL, T_SI, T_P, T_S, T_CL, T_AS, T_BR, T_I, T_HG, T_BI, N_TYPES };

static const int type_z[N_TYPES] = {1, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 33, 35, 53, 80, 83};

/* Reference lengths in pm (ALGORITHMS.md §3.2), as EDM's tables list them:
 * row = first atom of the (sorted) pair; 0 = no entry. */
static const short bonds1[N_TYPES][N_TYPES] = {
    [T_H] = {[T_H] = 74, [T_C] = 109, [T_N] = 101, [T_O] = 96, [T_F] = 92, [T_B] = 119, [T_SI] = 148,
             [T_P] = 144, [T_AS] = 152, [T_S] = 134, [T_CL] = 127, [T_BR] = 141, [T_I] = 161},
    [T_C] = {[T_H] = 109, [T_C] = 154, [T_N] = 147, [T_O] = 143, [T_F] = 135, [T_SI] = 185, [T_P] = 184,
             [T_S] = 182, [T_CL] = 177, [T_BR] = 194, [T_I] = 214},
    [T_N] = {[T_H] = 101, [T_C] = 147, [T_N] = 145, [T_O] = 140, [T_F] = 136, [T_CL] = 175, [T_BR] = 214,
             [T_S] = 168, [T_I] = 222, [T_P] = 177},
    [T_O] = {[T_H] = 96, [T_C] = 143, [T_N] = 140, [T_O] = 148, [T_F] = 142, [T_BR] = 172, [T_S] = 151,
             [T_P] = 163, [T_SI] = 163, [T_CL] = 164, [T_I] = 194},
    [T_F] = {[T_H] = 92, [T_C] = 135, [T_N] = 136, [T_O] = 142, [T_F] = 142, [T_S] = 158, [T_SI] = 160,
             [T_CL] = 166, [T_BR] = 178, [T_P] = 156, [T_I] = 187},
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
static const short bonds2[N_TYPES][N_TYPES] = {
    [T_C] = {[T_C] = 134, [T_N] = 129, [T_O] = 120, [T_S] = 160},
    [T_N] = {[T_C] = 129, [T_N] = 125, [T_O] = 121},
    [T_O] = {[T_C] = 120, [T_N] = 121, [T_O] = 121, [T_P] = 150},
    [T_P] = {[T_O] = 150, [T_S] = 186},
    [T_S] = {[T_P] = 186},
};
static const short bonds3[N_TYPES][N_TYPES] = {
    [T_C] = {[T_C] = 120, [T_N] = 116, [T_O] = 113},
    [T_N] = {[T_C] = 116, [T_N] = 110},
    [T_O] = {[T_C] = 113},
};
/* Margins (pm) added to the single / double / triple reference lengths. */
enum { MARGIN1 = 10, MARGIN2 = 5, MARGIN3 = 3 };

int elign_edm_geom_type(int z) {
  for (int t = 0; t < N_TYPES; t++)
    if (type_z[t] == z) return t;
  return -1;
}

/* QM9's decoder is H, C, N, O, F. */
static int in_qm9_decoder(int t) { return t == T_H || t == T_C || t == T_N || t == T_O || t == T_F; }

/* Nested thresholds: a double needs the single test, a triple the double. */
static int order_from_tables(int t1, int t2, float pm) {
  if (!bonds1[t1][t2] || !(pm < (float)(bonds1[t1][t2] + MARGIN1))) return 0;
  if (!bonds2[t1][t2] || !(pm < (float)(bonds2[t1][t2] + MARGIN2))) return 1;
  if (!bonds3[t1][t2] || !(pm < (float)(bonds3[t1][t2] + MARGIN3))) return 2;
  return 3;
}

/* Type index of z under the rule's decoder, -1 if the rule cannot hold it. */
static int rule_type(int z, int rule) {
  int t = elign_edm_geom_type(z);
  if (t >= 0 && rule == ELIGN_EDM_RULE_QM9 && !in_qm9_decoder(t)) return -1;
  return t;
}

int elign_edm_bond_order(int z1, int z2, float d, int rule) {
  int t1 = rule_type(z1, rule), t2 = rule_type(z2, rule);
  if (t1 < 0 || t2 < 0) return -1;
  if (t1 > t2) {
    int t = t1;
    t1 = t2;
    t2 = t;
  }
  float pm = 100.0f * d; /* float32 tensor * Python int: rounded to float32 */
  int order = order_from_tables(t1, t2, pm);
  if (rule == ELIGN_EDM_RULE_GEOM && order > 0) order = 1;
  return order;
}

/* torch's per-pair kernel (small molecules): squares accumulated with fused
 * multiply-adds, x then y then z. */
static float cdist_direct(const float *a, const float *b) {
  float acc = 0.0f;
  for (int k = 0; k < 3; k++) {
    float diff = a[k] - b[k];
    acc = fmaf(diff, diff, acc);
  }
  return sqrtf(acc);
}

static float squared_norm(const float *a) {
  float x2 = a[0] * a[0], y2 = a[1] * a[1], z2 = a[2] * a[2];
  return (x2 + y2) + z2;
}

/* torch's matrix-product form (more than 25 rows): the rows [-2a, |a|², 1]
 * and [b, 1, |b|²] multiplied term by term and summed left to right. */
static float cdist_matmul(const float *a, float a_norm, const float *b, float b_norm) {
  float acc = 0.0f;
  for (int k = 0; k < 3; k++) {
    float term = (-2.0f * a[k]) * b[k];
    acc = acc + term;
  }
  acc = acc + a_norm;
  acc = acc + b_norm;
  if (acc < 1e-30f) acc = 1e-30f; /* clamp_min_(1e-30); a NaN stays NaN, as in torch */
  return sqrtf(acc);
}

/* torch.cdist chooses the matrix-product form when either input has more
 * than 25 rows (compute_mode "use_mm_for_euclid_dist_if_necessary"). */
enum { CDIST_MM_ABOVE = 25 };

void elign_edm_cdist(const double *pos, int64_t n, float *d) {
  for (int64_t i = 0; i < n; i++) {
    float a[3] = {(float)pos[3 * i], (float)pos[3 * i + 1], (float)pos[3 * i + 2]};
    float a_norm = squared_norm(a);
    for (int64_t j = 0; j < n; j++) {
      float b[3] = {(float)pos[3 * j], (float)pos[3 * j + 1], (float)pos[3 * j + 2]};
      d[i * n + j] = n > CDIST_MM_ABOVE ? cdist_matmul(a, a_norm, b, squared_norm(b)) : cdist_direct(a, b);
    }
  }
}

int elign_edm_bond_graph(const double *pos, const int32_t *Z, int64_t n, int rule, int8_t *orders) {
  for (int64_t k = 0; k < n * n; k++) orders[k] = 0;
  for (int64_t i = 0; i < n; i++)
    if (rule_type(Z[i], rule) < 0) return (int)(-1 - i);
  if (n < 2) return 0;
  float *d = elign_malloc((size_t)(n * n) * sizeof *d, "edm_graph:distances");
  elign_edm_cdist(pos, n, d);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < i; j++) orders[i * n + j] = (int8_t)elign_edm_bond_order(Z[i], Z[j], d[i * n + j], rule);
  elign_free(d);
  return 0;
}
