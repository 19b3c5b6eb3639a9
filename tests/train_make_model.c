/* train_make_model.c — writes a small random EDM model for the `elign train`
 * tests: the QM9 layout (H C N O F + charge, QM9's size histogram) with the
 * test network of edm_model_init_preset (2 layers x 32 features).
 *   train_make_model OUT.h5 [SEED] */
#include <stdio.h>
#include <stdlib.h>

#include "common/model/edm_model.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: train_make_model OUT.h5 [SEED]\n");
    return 2;
  }
  uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 7;
  elign_error err;
  elign_error_clear(&err);
  edm_model m;
  if (edm_model_init_preset(&m, "qm9", 1, seed, &err) || edm_model_save(&m, argv[1], &err)) {
    elign_error_print(&err);
    return 1;
  }
  edm_model_free(&m);
  return 0;
}
