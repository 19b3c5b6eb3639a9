/* stability.c — EDM's atom / molecule stability and its two aggregates. */
#include "common/chem/stability.h"

#include <string.h>

#include "common/base/error.h"

/* Room for the bond counts of typical molecules without an allocation. */
#define STABILITY_STACK_ATOMS 256

int elign_molecule_stability(const double *pos, const int32_t *Z, int64_t n, int geom_rule,
                             int64_t *n_stable_atoms) {
  int64_t stack_bonds[STABILITY_STACK_ATOMS];
  int64_t *nr_bonds = n <= STABILITY_STACK_ATOMS ? stack_bonds
                                                 : elign_malloc((size_t)n * sizeof *nr_bonds, "stability:bonds");
  elign_bond_rule rule = geom_rule ? ELIGN_BOND_RULE_GEOM : ELIGN_BOND_RULE_QM9;
  if (n > 0) memset(nr_bonds, 0, (size_t)n * sizeof *nr_bonds);
  /* Every unordered pair once, the lower index first (the QM9 rule keeps that order). */
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) {
      int order = elign_bond_order_atoms(Z[i], pos + 3 * i, Z[j], pos + 3 * j, rule);
      nr_bonds[i] += order;
      nr_bonds[j] += order;
    }
  int64_t stable = 0;
  for (int64_t i = 0; i < n; i++) stable += elign_valence_allowed(Z[i], nr_bonds[i]);
  if (nr_bonds != stack_bonds) free(nr_bonds);
  if (n_stable_atoms) *n_stable_atoms = stable;
  return stable == n;
}

int elign_stability_rule_for(const int32_t *Z, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (Z[i] != 1 && Z[i] != 6 && Z[i] != 7 && Z[i] != 8 && Z[i] != 9) return 1;
  return 0;
}

/* ---- aggregates ---------------------------------------------------------------------------- */

void elign_stability_stats_init(elign_stability_stats *s) { memset(s, 0, sizeof *s); }

void elign_stability_stats_add(elign_stability_stats *s, int stable, int64_t n_stable_atoms, int64_t n_atoms) {
  s->n_molecules++;
  s->n_stable_molecules += stable != 0;
  s->n_atoms += n_atoms;
  s->n_stable_atoms += n_stable_atoms;
  s->sum_atom_fraction += n_atoms > 0 ? (double)n_stable_atoms / (double)n_atoms : 1.0;
}

void elign_stability_stats_merge(elign_stability_stats *into, const elign_stability_stats *other) {
  into->n_molecules += other->n_molecules;
  into->n_stable_molecules += other->n_stable_molecules;
  into->n_atoms += other->n_atoms;
  into->n_stable_atoms += other->n_stable_atoms;
  into->sum_atom_fraction += other->sum_atom_fraction;
}

double elign_stability_atom_pooled(const elign_stability_stats *s) {
  return s->n_atoms ? (double)s->n_stable_atoms / (double)s->n_atoms : 0.0;
}

double elign_stability_molecule(const elign_stability_stats *s) {
  return s->n_molecules ? (double)s->n_stable_molecules / (double)s->n_molecules : 0.0;
}

double elign_stability_atom_mean(const elign_stability_stats *s) {
  return s->n_molecules ? s->sum_atom_fraction / (double)s->n_molecules : 0.0;
}

void elign_molset_stability(const elign_molset *set, int geom_rule, elign_stability_stats *stats,
                            uint8_t *mol_stable, int64_t *n_stable_atoms) {
  for (int64_t m = 0; m < set->n_mol; m++) {
    int64_t a0 = set->offsets[m], n = elign_molset_natoms(set, m), ns = 0;
    int stable = elign_molecule_stability(set->pos + 3 * a0, set->Z + a0, n, geom_rule, &ns);
    if (stats) elign_stability_stats_add(stats, stable, ns, n);
    if (mol_stable) mol_stable[m] = (uint8_t)stable;
    if (n_stable_atoms) n_stable_atoms[m] = ns;
  }
}
