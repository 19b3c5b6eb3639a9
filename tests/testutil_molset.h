/* testutil_molset.h — molecule-set helpers of the tests that compare runs
 * split over ranks with one-rank runs (link tests/testutil_molset.c). */
#ifndef ELIGN_TESTUTIL_MOLSET_H
#define ELIGN_TESTUTIL_MOLSET_H

#include "common/chem/molset.h"

/* Append every molecule of src (atoms, positions, id) to dst: the parts of a
 * run split over ranks, joined in rank order. */
void test_molset_join(elign_molset *dst, const elign_molset *src);

/* The same molecules, ids, atoms and positions, bit for bit. */
int test_molsets_identical(const elign_molset *a, const elign_molset *b);

#endif
