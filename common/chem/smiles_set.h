/* smiles_set.h — a hash set of SMILES strings with dense ids.
 *
 * Serves uniqueness (distinct valid SMILES of a batch), novelty (membership
 * in the training set's SMILES) and the filter's grouping of a rollout batch
 * by SMILES (the id of a string is its group). Ids run 0, 1, 2, ... in
 * insertion order and stay fixed; strings are copied.
 */
#ifndef ELIGN_SMILES_SET_H
#define ELIGN_SMILES_SET_H

#include <stdint.h>

#include "common/base/error.h"

typedef struct elign_smiles_set elign_smiles_set;

elign_smiles_set *elign_smiles_set_new(void);
/* Free the set and clear the pointer; accepts NULL and a pointer to NULL. */
void elign_smiles_set_free(elign_smiles_set **set);

/* Insert s (copied) if absent. Returns its id; *added (may be NULL) = 1 if it
 * was new, 0 if already present. */
int64_t elign_smiles_set_insert(elign_smiles_set *set, const char *s, int *added);
/* Id of s, or -1 if absent. */
int64_t elign_smiles_set_find(const elign_smiles_set *set, const char *s);
/* Number of distinct strings. */
int64_t elign_smiles_set_size(const elign_smiles_set *set);
/* String of an id (0 <= id < size). */
const char *elign_smiles_set_get(const elign_smiles_set *set, int64_t id);

/* Insert every SMILES of a text file, one per line (the format written by
 * tools/train_smiles.py). Lines starting with '#' are comments; a trailing
 * '\r' is dropped. An empty line or one with whitespace in it is an error
 * naming the file and line. *n_lines (may be NULL) gets the number of SMILES
 * lines read (repeats included). */
elign_status elign_smiles_set_load(elign_smiles_set *set, const char *path, int64_t *n_lines, elign_error *err);

#endif
