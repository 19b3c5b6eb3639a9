/* grpo_chem.c — FED-GRPO chemistry inputs from common/chem. */
#include "learner/grpo_chem.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_VALENCE_PROBE = 8 }; /* EDM's largest allowed valence is 5 */

static elign_status check_types(const int32_t *type_z, int n_types, elign_error *err) {
  if (n_types < 1 || n_types > GRPO_MAX_TYPES)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo chem: %d atom types (1..%d supported)", n_types, GRPO_MAX_TYPES);
  for (int t = 0; t < n_types; t++)
    if (elign_bond_type_of_z(type_z[t]) < 0)
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo chem: atom type %d has atomic number %d, which EDM's tables lack",
                        t, (int)type_z[t]);
  return ELIGN_OK;
}

elign_status grpo_valence_table_init(grpo_valence_table *vt, const int32_t *type_z, int n_types, elign_error *err) {
  memset(vt, 0, sizeof *vt);
  elign_status st = check_types(type_z, n_types, err);
  if (st) return st;
  vt->n_types = n_types;
  for (int t = 0; t < n_types; t++)
    for (int v = 0; v <= MAX_VALENCE_PROBE; v++)
      if (elign_valence_allowed(type_z[t], v)) {
        ELIGN_ASSERT(vt->n_allowed[t] < GRPO_MAX_VALENCES);
        vt->allowed[t][vt->n_allowed[t]++] = v;
      }
  return ELIGN_OK;
}

elign_status grpo_bond_table_init(grpo_bond_table *bt, const int32_t *type_z, int n_types, elign_error *err) {
  memset(bt, 0, sizeof *bt);
  elign_status st = check_types(type_z, n_types, err);
  if (st) return st;
  bt->n_types = n_types;
  bt->margin_pm[0] = 10, bt->margin_pm[1] = 5, bt->margin_pm[2] = 3;
  for (int o = 0; o < 3; o++)
    for (int a = 0; a < n_types; a++)
      for (int b = 0; b < n_types; b++)
        bt->length_pm[o][a][b] =
            elign_bond_ref_pm(o + 1, elign_bond_type_of_z(type_z[a]), elign_bond_type_of_z(type_z[b]));
  return ELIGN_OK;
}

void grpo_chem_stability(uint8_t *stable, int32_t *n_stable_atoms, int32_t *nr_bonds, const double *pos,
                         const int32_t *type_index, const int64_t *offsets, int64_t n_mol, const int32_t *type_z,
                         elign_bond_rule rule) {
  for (int64_t b = 0; b < n_mol; b++) {
    int64_t o = offsets[b], n = offsets[b + 1] - o;
    int32_t *nb = nr_bonds + o;
    memset(nb, 0, sizeof(int32_t) * (size_t)(n > 0 ? n : 0));
    /* every unordered pair once, the lower index first (the QM9 rule keeps that order) */
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = i + 1; j < n; j++) {
        int order = elign_bond_order_atoms(type_z[type_index[o + i]], pos + 3 * (o + i), type_z[type_index[o + j]],
                                           pos + 3 * (o + j), rule);
        nb[i] += order;
        nb[j] += order;
      }
    int32_t ok = 0;
    for (int64_t i = 0; i < n; i++) ok += elign_valence_allowed(type_z[type_index[o + i]], nb[i]);
    n_stable_atoms[b] = ok;
    stable[b] = (uint8_t)(ok == n);
  }
}
