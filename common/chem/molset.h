/* molset.h — a set of molecules packed without padding.
 *
 * Molecule m owns atoms offsets[m] .. offsets[m+1]-1. Positions in Å,
 * energies in eV, forces in eV/Å. Optional arrays are NULL when absent.
 * This is the in-memory form of the dataset / samples HDF5 files
 * (docs/formats.md) and the input of oracles and exporters.
 */
#ifndef ELIGN_MOLSET_H
#define ELIGN_MOLSET_H

#include <stdint.h>

#include "common/base/error.h"

typedef struct {
  int64_t n_mol;
  int64_t n_atoms;   /* offsets[n_mol] */
  int64_t *offsets;  /* [n_mol + 1] */
  int32_t *Z;        /* [n_atoms] atomic numbers */
  double *pos;       /* [n_atoms][3] Å */
  int64_t *ids;      /* [n_mol] source ids (e.g. extended-XYZ id=, QM9 index) or NULL */
  char **smiles;     /* [n_mol] or NULL; an entry may be NULL */
  double *energy;    /* [n_mol] eV, or NULL */
  double *forces;    /* [n_atoms][3] eV/Å, or NULL */
  /* Allocated room (elign_molset_append grows geometrically); 0 for arrays
   * that were allocated exactly by a reader. */
  int64_t cap_mol, cap_atoms;
} elign_molset;

/* Atoms of molecule m. */
static inline int64_t elign_molset_natoms(const elign_molset *s, int64_t m) {
  return s->offsets[m + 1] - s->offsets[m];
}

/* Empty set ready for elign_molset_append. */
void elign_molset_init(elign_molset *s);
/* Append one molecule (copies). smiles may be NULL; id < 0 means "none". */
void elign_molset_append(elign_molset *s, int n, const int32_t *Z, const double *pos, int64_t id,
                         const char *smiles);
/* Deep copy of molecules [m0, m1) of src into dst (dst initialised by the call). */
void elign_molset_slice(elign_molset *dst, const elign_molset *src, int64_t m0, int64_t m1);
/* Free everything and reset to empty. Accepts an already-empty set. */
void elign_molset_free(elign_molset *s);
/* The Hill-order formula of molecule m ("C7H10O2") into buf. */
void elign_molset_formula(const elign_molset *s, int64_t m, char *buf, int buflen);

#endif
