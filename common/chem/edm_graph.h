/* edm_graph.h — the bond graph EDM builds before handing a molecule to RDKit
 * (ALGORITHMS.md §3.3 and §3.5; EDM qm9/rdkit_functions.py build_xae_molecule).
 *
 * Internal to the RDKit metrics (rdkit_metrics.h); public only so that tests
 * can check the distances and bond orders on their own.
 *
 * Two details decide the exact-threshold cases and are reproduced bit for bit:
 *  - distances are torch.cdist's float32 values, whose formula changes with
 *    the molecule's size (elign_edm_cdist below);
 *  - the picometre value is 100·d rounded to float32 (a float32 tensor times
 *    a Python int), compared strictly (<) with integer thresholds.
 */
#ifndef ELIGN_EDM_GRAPH_H
#define ELIGN_EDM_GRAPH_H

#include <stdint.h>

/* Which dataset's rule builds the graph: QM9 keeps full bond orders (1, 2, 3)
 * and knows only H, C, N, O, F; GEOM knows the 16 elements of its atom
 * decoder, treats a pair missing from the single-bond table as "no bond" and
 * makes every bond single (limit_bonds_to_one). The values are those of the
 * geom_rule argument of elign_rdkit_smiles. */
enum { ELIGN_EDM_RULE_QM9 = 0, ELIGN_EDM_RULE_GEOM = 1 };

/* Index of atomic number z in GEOM's atom decoder (H B C N O F Al Si P S Cl
 * As Br I Hg Bi); -1 if absent. The order is increasing Z, and QM9's decoder
 * (H C N O F) is its restriction, so sorting a pair by this index sorts it as
 * EDM sorts its type indices for either dataset. */
int elign_edm_geom_type(int z);

/* Pairwise distances as torch.cdist(p, p) gives them for float32 positions p
 * (positions are first rounded to float32). d is n x n, row-major.
 *  - n <= 25: per pair, diff_k = a_k - b_k and acc = fma(diff_k, diff_k, acc)
 *    for k = x, y, z from acc = 0, then sqrtf;
 *  - n > 25: torch's matrix-product form, (-2a)·b + |a|² + |b|² summed in
 *    that order with separately rounded products, |a|² = (a_x² + a_y²) + a_z²,
 *    clamped below at 1e-30, then sqrtf.
 * Both were matched bit for bit against Debian's torch 1.13 (tests/rdkit.cmake). */
void elign_edm_cdist(const double *pos, int64_t n, float *d);

/* Bond order EDM's RDKit builder gives a pair of atomic numbers at float32
 * distance d (Å): 0 none, 1, 2 or 3; the pair is sorted by type first.
 * Returns -1 if an atom is foreign to the rule's decoder (where EDM would
 * fail with a KeyError or could not represent the atom). */
int elign_edm_bond_order(int z1, int z2, float d, int rule);

/* Lower-triangle bond orders of a molecule: orders[i*n + j] for j < i, the
 * rest zero. Returns 0, or -1 - k if atom k is foreign to the rule. */
int elign_edm_bond_graph(const double *pos, const int32_t *Z, int64_t n, int rule, int8_t *orders);

#endif
