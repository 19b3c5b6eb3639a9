#include "tests/testutil_molset.h"

#include <string.h>

void test_molset_join(elign_molset *dst, const elign_molset *src) {
  for (int64_t m = 0; m < src->n_mol; m++)
    elign_molset_append(dst, (int)elign_molset_natoms(src, m), src->Z + src->offsets[m],
                        src->pos + 3 * src->offsets[m], src->ids[m], NULL);
}

int test_molsets_identical(const elign_molset *a, const elign_molset *b) {
  if (a->n_mol != b->n_mol || a->n_atoms != b->n_atoms) return 0;
  return memcmp(a->offsets, b->offsets, (size_t)(a->n_mol + 1) * sizeof(int64_t)) == 0 &&
         memcmp(a->ids, b->ids, (size_t)a->n_mol * sizeof(int64_t)) == 0 &&
         memcmp(a->Z, b->Z, (size_t)a->n_atoms * sizeof(int32_t)) == 0 &&
         memcmp(a->pos, b->pos, (size_t)a->n_atoms * 3 * sizeof(double)) == 0;
}
