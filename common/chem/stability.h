/* stability.h — EDM's atom and molecule stability (ALGORITHMS.md §3.4; EDM
 * qm9/analyze.py check_stability and analyze_stability_for_molecules).
 *
 * An atom is stable when the sum of the bond orders to all other atoms
 * (common/chem/bonds.h, from float32 distances) is exactly one of its allowed
 * valences: over- and under-bonded atoms are both unstable, a lone atom is
 * unstable, an element EDM does not know is never stable. A molecule is
 * stable when all its atoms are; an empty molecule is stable (EDM: 0 == 0).
 *
 * Two aggregates, kept apart on purpose:
 *   EDM   atom stability = Σ stable atoms / Σ atoms (pooled over all atoms),
 *         molecule stability = stable molecules / molecules;
 *   Elign atom stability = mean over molecules of (stable atoms / atoms).
 *
 * Agreement with EDM's own code is tested per molecule on the whole qm9like
 * set (tests/stability.cmake; golden file made by tools/edm_stability_golden.py).
 */
#ifndef ELIGN_STABILITY_H
#define ELIGN_STABILITY_H

#include <stdint.h>

#include "common/chem/bonds.h"
#include "common/chem/molset.h"

/* One molecule: pos n x 3 (Å), Z atomic numbers, geom_rule 0 = QM9 rule,
 * 1 = GEOM rule (see elign_bond_rule). Returns 1 if the molecule is stable,
 * else 0; *n_stable_atoms (may be NULL) gets the number of stable atoms.
 * Invariant under rotation, translation and atom permutation up to float32
 * rounding of the distances (so exactly only away from the thresholds). */
int elign_molecule_stability(const double *pos, const int32_t *Z, int64_t n, int geom_rule,
                             int64_t *n_stable_atoms);

/* The rule a dataset of these elements calls for: GEOM if any atom lies
 * outside H, C, N, O, F (for those five both rules give the same orders). */
int elign_stability_rule_for(const int32_t *Z, int64_t n);

/* Counts from which both aggregates follow. Merge partial counts in a fixed
 * order when the per-molecule mean must be reproducible bit for bit. */
typedef struct {
  int64_t n_molecules;
  int64_t n_stable_molecules;
  int64_t n_atoms;
  int64_t n_stable_atoms;
  double sum_atom_fraction; /* Σ over molecules of stable/n (an empty molecule adds 1) */
} elign_stability_stats;

void elign_stability_stats_init(elign_stability_stats *s);
void elign_stability_stats_add(elign_stability_stats *s, int stable, int64_t n_stable_atoms, int64_t n_atoms);
void elign_stability_stats_merge(elign_stability_stats *into, const elign_stability_stats *other);

/* EDM's atm_stable (pooled) and mol_stable; Elign's per-molecule mean atom
 * fraction. Each is 0 when nothing was counted. */
double elign_stability_atom_pooled(const elign_stability_stats *s);
double elign_stability_molecule(const elign_stability_stats *s);
double elign_stability_atom_mean(const elign_stability_stats *s);

/* Every molecule of a set, added to *stats (initialised by the caller).
 * mol_stable [n_mol] and n_stable_atoms [n_mol] receive the per-molecule
 * results when not NULL. */
void elign_molset_stability(const elign_molset *set, int geom_rule, elign_stability_stats *stats,
                            uint8_t *mol_stable, int64_t *n_stable_atoms);

/* The corrected variant (stability_corrected.c; docs/stability.md, "Corrected
 * variant"): EDM's bond orders, then C1 aromatic bonds may take order 1 or 2
 * (the best Kekulé assignment), C2 N+/N-/O-/O+ valences when the formal
 * charges sum to 0, C3 sulfur valences 2, 4 and 6. A molecule stable under
 * EDM's rules is stable here too, unless EDM's own rules would need charges
 * that do not balance (they never do: EDM's valences are all neutral). */
int elign_molecule_stability_corrected(const double *pos, const int32_t *Z, int64_t n, int geom_rule,
                                       int64_t *n_stable_atoms);
void elign_molset_stability_corrected(const elign_molset *set, int geom_rule, elign_stability_stats *stats);
/* The graph behind it: orders [n*n] (symmetric, EDM's full orders with the
 * chosen aromatic assignment) and formal charges [n] (0 where no charged
 * state applies); either may be NULL. Returns the molecule's stability. The
 * corrected validity variant sanitizes this graph (learner/eval.c). */
int elign_molecule_graph_corrected(const double *pos, const int32_t *Z, int64_t n, int geom_rule, int8_t *orders,
                                   int8_t *charges, int64_t *n_stable_atoms);

#endif
