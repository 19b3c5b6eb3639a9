/* bonds.h — EDM's distance-based bond orders and allowed valences
 * (ALGORITHMS.md §3.1–3.3; EDM qm9/bond_analyze.py).
 *
 * Element types are indices into the GEOM-Drugs atom decoder
 *   0 H, 1 B, 2 C, 3 N, 4 O, 5 F, 6 Al, 7 Si, 8 P, 9 S, 10 Cl, 11 As, 12 Br, 13 I, 14 Hg, 15 Bi
 * whose order is also QM9's (H C N O F) restricted to its five elements, so a
 * pair sorted by this index is sorted as EDM sorts it for either dataset.
 *
 * The rule compares a distance in picometres against reference bond lengths
 * (bonds1/2/3) plus margins 10/5/3 pm, strictly (<). How the picometre value
 * is formed decides exact-threshold cases, and EDM forms it two ways:
 *   stability (qm9/analyze.py, numpy 1.x): d is a float32 scalar and 100·d is
 *       promoted to float64, i.e. exact        → elign_bond_pm_exact(d)
 *   RDKit building (torch.cdist, a float32 tensor): 100·d rounded to float32
 *                                                → elign_bond_pm_f32(d)
 * Distances themselves are float32 (elign_bond_distance_f32).
 */
#ifndef ELIGN_BONDS_H
#define ELIGN_BONDS_H

#include <stdint.h>

#define ELIGN_BOND_N_TYPES 16

/* Which dataset's pair rule: QM9 takes each pair as given (atom i, then atom
 * j > i); GEOM orders it by type index and treats a pair absent from the
 * single-bond table as "no bond" (check_exists). For molecules made of H, C,
 * N, O, F only the two rules give identical orders. */
typedef enum { ELIGN_BOND_RULE_QM9 = 0, ELIGN_BOND_RULE_GEOM = 1 } elign_bond_rule;

/* Type index of atomic number z, -1 for an element EDM does not know. */
int elign_bond_type_of_z(int z);
/* Atomic number of a type index (0 ≤ type < ELIGN_BOND_N_TYPES). */
int elign_bond_z_of_type(int type);

/* Reference lengths in pm of the directed pair (t1, t2) from bonds1 / bonds2 /
 * bonds3 (order 1, 2, 3); 0 where the table has no entry. bonds2 is not
 * symmetric: (C, S) = 160 but (S, C) is absent. */
int elign_bond_ref_pm(int order, int t1, int t2);

/* EDM's picometre value of a float32 distance d (Å): exact 100·d (the
 * stability metric) or 100·d rounded to float32 (the RDKit molecule builder). */
double elign_bond_pm_exact(float d);
double elign_bond_pm_f32(float d);

/* EDM's get_bond_order(dec[t1], dec[t2], d) for a distance already in pm:
 * 0 no bond, 1 single, 2 double, 3 triple. A pair absent from bonds1 gives 0:
 * that is GEOM's check_exists; under the QM9 rule EDM would raise KeyError
 * there instead (its five elements have every pair, so only foreign elements
 * reach this). Types outside the decoder give 0. */
int elign_bond_order_pm(int t1, int t2, double dist_pm);

/* Distance between two points exactly as EDM's check_stability computes it:
 * coordinates cast to float32, differences and squares in float32, the three
 * squares summed x, y, z from the left, float32 sqrt. */
float elign_bond_distance_f32(const float *a, const float *b);

/* Bond order of atoms (za at pa, zb at pb) under a dataset rule, as the
 * stability metric sees it (a is the lower atom index for the QM9 rule). */
int elign_bond_order_atoms(int za, const double *pa, int zb, const double *pb, elign_bond_rule rule);

/* Bond orders of every pair of a molecule: orders[i*n + j] = orders[j*n + i],
 * diagonal 0. pos n x 3 (Å), Z atomic numbers.
 *   rdkit = 0: as check_stability counts them (QM9: pair as given, exact pm;
 *              GEOM: pair sorted by type, full orders).
 *   rdkit = 1: as build_xae_molecule builds RDKit graphs (pair sorted by type
 *              for both rules, float32 pm; GEOM bonds all single). Distances
 *              are the stability metric's; torch.cdist's differ by ~1e-6 Å at
 *              most (it switches formula above 25 atoms), so only pairs that
 *              close to a threshold can disagree. */
void elign_bond_orders(const double *pos, const int32_t *Z, int64_t n, elign_bond_rule rule, int rdkit,
                       int8_t *orders);

/* Is nr_bonds an allowed valence of atomic number z (H 1, C 4, N 3, O 2, F 1,
 * B 3, Al 3, Si 4, P 3 or 5, S 4, Cl 1, As 3, Br 1, I 1, Hg 1 or 2, Bi 3 or 5)?
 * Elements outside the decoder have none. */
int elign_valence_allowed(int z, int64_t nr_bonds);

#endif
