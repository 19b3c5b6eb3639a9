/* stability_corrected.c — the corrected stability variant beside EDM's
 * (stability.h; docs/stability.md "Corrected variant" lists every
 * difference with its reason and source).
 *
 * EDM's bond orders (elign_bond_orders, rdkit = 0) are kept, then:
 *   C1 aromatic bonds: a C/N/O–C/N/O bond of order 1 or 2 whose length lies in
 *      the aromatic band of its pair may take either order; the assignment
 *      (a Kekulé structure) that makes the most atoms stable is used.
 *   C2 charged species: N with 4 bonds (N+), N with 2 (N−), O with 1 (O−),
 *      O with 3 (O+) are allowed when the molecule's formal charges sum to 0.
 *   C3 sulfur: valences 2 and 6 besides EDM's 4.
 */
#include "common/chem/stability.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/memory.h"

#define CORR_MAX_FLEX 16 /* larger aromatic systems keep EDM's orders (2^16 assignments at most) */

/* Aromatic band of a pair, Å (0 = none). Aromatic lengths (Allen et al. 1987,
 * J. Chem. Soc. Perkin Trans. 2, S1: benzene C–C 1.380–1.397, pyridine C–N
 * 1.337, furan C–O 1.368, pyridazine N–N 1.30) with room for generated
 * geometries, and short of the plain single bonds (C–C 1.54, C–N 1.47, C–O 1.43). */
static int aromatic_band(int za, int zb, double *lo, double *hi) {
  if (za > zb) {
    int t = za;
    za = zb, zb = t;
  }
  if (za == 6 && zb == 6) return *lo = 1.35, *hi = 1.44, 1;
  if (za == 6 && zb == 7) return *lo = 1.30, *hi = 1.41, 1;
  if (za == 6 && zb == 8) return *lo = 1.31, *hi = 1.40, 1;
  if (za == 7 && zb == 7) return *lo = 1.27, *hi = 1.38, 1;
  return 0;
}

/* The formal charge an atom of valence v has in the corrected table, with
 * *ok = 0 when no state fits. */
static int corrected_state(int z, int64_t v, int *ok) {
  *ok = 1;
  if (z == 16 && (v == 2 || v == 4 || v == 6)) return 0; /* C3 */
  if (elign_valence_allowed(z, v)) return 0;
  if (z == 7 && v == 4) return 1; /* C2: ammonium, nitro, N-oxide N */
  if (z == 7 && v == 2) return -1;
  if (z == 8 && v == 1) return -1; /* carboxylate, nitro, N-oxide O */
  if (z == 8 && v == 3) return 1;
  *ok = 0;
  return 0;
}

/* Stable atoms and the formal charge sum under the valences v. */
static int64_t count_stable(const int32_t *Z, const int64_t *v, int64_t n, int *charge) {
  int64_t s = 0;
  int q = 0, ok;
  for (int64_t i = 0; i < n; i++) {
    q += corrected_state(Z[i], v[i], &ok);
    s += ok;
  }
  *charge = q;
  return s;
}

int elign_molecule_graph_corrected(const double *pos, const int32_t *Z, int64_t n, int geom_rule, int8_t *orders_out,
                                   int8_t *charges_out, int64_t *n_stable_atoms) {
  if (n <= 0) {
    if (n_stable_atoms) *n_stable_atoms = 0;
    return 1; /* as EDM: an empty molecule is stable */
  }
  int8_t *orders = orders_out ? orders_out : elign_malloc((size_t)(n * n), "stability_corrected:orders");
  int64_t *v = elign_calloc((size_t)n, sizeof *v, "stability_corrected:valence");
  elign_bond_orders(pos, Z, n, geom_rule ? ELIGN_BOND_RULE_GEOM : ELIGN_BOND_RULE_QM9, 0, orders);
  int64_t fa[CORR_MAX_FLEX], fb[CORR_MAX_FLEX];
  int nf = 0, too_many = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) {
      int o = orders[i * n + j];
      v[i] += o, v[j] += o;
      double lo, hi;
      if ((o != 1 && o != 2) || !aromatic_band(Z[i], Z[j], &lo, &hi)) continue;
      const double *p = pos + 3 * i, *q = pos + 3 * j;
      double d = sqrt((p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) + (p[2] - q[2]) * (p[2] - q[2]));
      if (d < lo || d > hi) continue;
      if (nf == CORR_MAX_FLEX) {
        too_many = 1;
        continue;
      }
      fa[nf] = i, fb[nf] = j;
      v[i] -= o, v[j] -= o; /* the flexible bonds are added per assignment below */
      nf++;
    }
  if (too_many) { /* keep EDM's orders for every bond */
    for (int k = 0; k < nf; k++) v[fa[k]] += orders[fa[k] * n + fb[k]], v[fb[k]] += orders[fa[k] * n + fb[k]];
    nf = 0;
  }
  /* every assignment of 1 or 2 to the flexible bonds (C1): the best one, a
   * neutral fully stable molecule first, then the most stable atoms */
  int64_t best_atoms = -1;
  int best_stable = 0;
  uint32_t best_mask = 0;
  for (uint32_t mask = 0; mask < (1u << nf); mask++) {
    for (int k = 0; k < nf; k++) {
      int o = 1 + (int)((mask >> k) & 1u);
      v[fa[k]] += o, v[fb[k]] += o;
    }
    int q;
    int64_t s = count_stable(Z, v, n, &q);
    int stable = s == n && q == 0;
    if (stable > best_stable || (stable == best_stable && s > best_atoms))
      best_stable = stable, best_atoms = s, best_mask = mask;
    for (int k = 0; k < nf; k++) {
      int o = 1 + (int)((mask >> k) & 1u);
      v[fa[k]] -= o, v[fb[k]] -= o;
    }
  }
  /* the chosen graph: the flexible bonds' orders and every atom's formal charge */
  for (int k = 0; k < nf; k++) {
    int o = 1 + (int)((best_mask >> k) & 1u);
    orders[fa[k] * n + fb[k]] = orders[fb[k] * n + fa[k]] = (int8_t)o;
    v[fa[k]] += o, v[fb[k]] += o;
  }
  for (int64_t i = 0; charges_out && i < n; i++) {
    int ok;
    charges_out[i] = (int8_t)corrected_state(Z[i], v[i], &ok);
  }
  if (!orders_out) free(orders);
  free(v);
  if (n_stable_atoms) *n_stable_atoms = best_atoms;
  return best_stable;
}

int elign_molecule_stability_corrected(const double *pos, const int32_t *Z, int64_t n, int geom_rule,
                                       int64_t *n_stable_atoms) {
  return elign_molecule_graph_corrected(pos, Z, n, geom_rule, NULL, NULL, n_stable_atoms);
}

void elign_molset_stability_corrected(const elign_molset *set, int geom_rule, elign_stability_stats *stats) {
  for (int64_t m = 0; m < set->n_mol; m++) {
    int64_t a0 = set->offsets[m], n = set->offsets[m + 1] - a0, ns = 0;
    int stable = elign_molecule_stability_corrected(set->pos + 3 * a0, set->Z + a0, n, geom_rule, &ns);
    elign_stability_stats_add(stats, stable, ns, n);
  }
}
