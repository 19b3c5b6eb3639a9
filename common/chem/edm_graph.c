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
#include "common/chem/bonds.h"

/* QM9's decoder is H, C, N, O, F: the first type indices of GEOM's except B. */
static int in_qm9_decoder(int z) { return z == 1 || z == 6 || z == 7 || z == 8 || z == 9; }

int elign_edm_geom_type(int z) { return elign_bond_type_of_z(z); }

/* Type index of z under the rule's decoder, -1 if the rule cannot hold it. */
static int rule_type(int z, int rule) {
  if (rule == ELIGN_EDM_RULE_QM9 && !in_qm9_decoder(z)) return -1;
  return elign_bond_type_of_z(z);
}

/* The tables and the nested-threshold rule are the stability metric's
 * (bonds.c); what differs here is only how the picometre value is formed:
 * a float32 tensor times a Python int, i.e. 100·d rounded to float32. */
int elign_edm_bond_order(int z1, int z2, float d, int rule) {
  int t1 = rule_type(z1, rule), t2 = rule_type(z2, rule);
  if (t1 < 0 || t2 < 0) return -1;
  int order = t1 <= t2 ? elign_bond_order_pm(t1, t2, elign_bond_pm_f32(d))
                       : elign_bond_order_pm(t2, t1, elign_bond_pm_f32(d));
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
