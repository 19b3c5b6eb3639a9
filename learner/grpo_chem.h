/* grpo_chem.h — the chemistry inputs of the FED-GRPO rewards, from
 * common/chem (EDM's bond orders, valences and stability, §3.2–3.4).
 *
 * The rewards (rewards.h) index their tables by the DATASET's atom type
 * (QM9: 0 H, 1 C, 2 N, 3 O, 4 F); type_z[t] gives the atomic number of type
 * t, so the same code serves QM9 and GEOM.
 */
#ifndef ELIGN_GRPO_CHEM_H
#define ELIGN_GRPO_CHEM_H

#include <stdint.h>

#include "common/base/error.h"
#include "common/chem/bonds.h"
#include "learner/rewards.h"

/* Allowed valences of each dataset type (EDM's allowed_bonds, ascending);
 * ELIGN_ERR_ARG for more than GRPO_MAX_TYPES types or an element EDM does
 * not know. */
elign_status grpo_valence_table_init(grpo_valence_table *vt, const int32_t *type_z, int n_types, elign_error *err);

/* Directed single/double/triple reference lengths (pm) of every pair of
 * dataset types and EDM's margins 10/5/3 pm (the soft valence's table). */
elign_status grpo_bond_table_init(grpo_bond_table *bt, const int32_t *type_z, int n_types, elign_error *err);

/* Stability of the final molecules of a packed batch, as the stability
 * metric computes it (float32 distances, the dataset's pair rule):
 * stable[b], n_stable_atoms[b] and the per-atom bond-order sums nr_bonds[N]
 * the hard valence counts need. type_index: dataset types; pos (N, 3) Å. */
void grpo_chem_stability(uint8_t *stable, int32_t *n_stable_atoms, int32_t *nr_bonds, const double *pos,
                         const int32_t *type_index, const int64_t *offsets, int64_t n_mol, const int32_t *type_z,
                         elign_bond_rule rule);

#endif
