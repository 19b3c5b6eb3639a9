/* hist.h — histograms of a molecule set: molecules per atom count (the
 * sampler's n_atoms distribution), atoms per element, molecules per
 * heavy-atom count. Stored in dataset and samples files by common/io. */
#ifndef ELIGN_HIST_H
#define ELIGN_HIST_H

#include <stdint.h>

#include "common/base/error.h"
#include "common/chem/elements.h"
#include "common/chem/molset.h"

/* Only non-empty bins, keys ascending. */
typedef struct {
  int64_t n;       /* number of bins */
  int64_t *key;    /* [n] atom count (nodes_hist) or Z (element_hist) */
  int64_t *count;  /* [n] molecules (nodes_hist) or atoms (element_hist) */
} elign_hist;

void elign_hist_free(elign_hist *h);
/* The non-empty bins of dense[0..n) (dense[k] = count of key k). */
void elign_hist_from_dense(elign_hist *h, const int64_t *dense, int64_t n);
/* Check a histogram read from a file: keys within [key_min, key_max] and
 * strictly ascending (ascending = 1; the files of common/io) or just
 * distinct (ascending = 0; a model's histogram keeps its source's order,
 * which the sampler's draws depend on), every count >= 1 (only non-empty
 * bins are stored) and the counts' sum without overflow. ELIGN_ERR_FORMAT
 * naming `what` (e.g. "F.h5: /nodes_hist") otherwise. */
elign_status elign_hist_check(const elign_hist *h, int64_t key_min, int64_t key_max, int ascending, const char *what,
                              elign_error *err);

/* Largest molecule of s (atoms; 0 for an empty set). */
int64_t elign_molset_max_natoms(const elign_molset *s);
/* Adds one to counts[natoms(m)] for every molecule (counts: max_natoms + 1 entries). */
void elign_count_sizes(const elign_molset *s, int64_t *counts);

/* Molecules per atom count. */
void elign_molset_size_hist(const elign_molset *s, elign_hist *h);
/* Atoms per element (Z). */
void elign_molset_element_hist(const elign_molset *s, elign_hist *h);
/* Molecules per heavy-atom count (Z > 1). */
void elign_molset_heavy_hist(const elign_molset *s, elign_hist *h);

#endif
