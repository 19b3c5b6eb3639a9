/* elements.h — the periodic table as far as Elign-C needs it: symbol <-> Z
 * and the one bound on Z that every array indexed by Z uses. */
#ifndef ELIGN_ELEMENTS_H
#define ELIGN_ELEMENTS_H

#include <stdint.h>

/* Highest atomic number known (Og). Arrays indexed by Z have
 * ELIGN_MAX_Z + 1 entries; entry 0 is unused. */
#define ELIGN_MAX_Z 118

/* 1 if z names an element (1 .. ELIGN_MAX_Z). */
static inline int elign_element_valid(int z) { return z >= 1 && z <= ELIGN_MAX_Z; }

/* "H" → 1 ... "Og" → 118 (case-sensitive as written in XYZ files, but a
 * lower-case or upper-case whole symbol is accepted too); 0 if unknown. */
int elign_element_z(const char *symbol, int len);
/* Symbol of Z (1..ELIGN_MAX_Z), "?" otherwise. */
const char *elign_element_symbol(int z);
/* Adds the atoms Z[0..n) to counts[Z] (counts: ELIGN_MAX_Z + 1 entries);
 * atoms with an invalid Z are not counted. */
void elign_count_elements(const int32_t *Z, int64_t n, int64_t counts[ELIGN_MAX_Z + 1]);

/* Ground-state spin multiplicity 2S+1 of the neutral atom Z (Hund's rules for
 * the main-group elements H–Xe); 0 if this table has no entry (d-block). The
 * isolated atoms of atomization and formation energies are computed in it. */
int elign_atom_ground_multiplicity(int Z);

#endif
