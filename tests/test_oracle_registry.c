/* test_oracle_registry.c — registry lookup, messages, and the common input checks. */
#include <math.h>
#include <string.h>

#include "common/base/error.h"
#include "oracle/oracle.h"
#include "tests/testutil.h"

static int only_hcno(const void *state, int Z) { return Z == 1 || Z == 6 || Z == 7 || Z == 8; }

int main(void) {
  /* Every documented name is registered, listed and findable. */
  const char *names = elign_oracle_backend_names();
  const char *expected[] = {"ani", "gfn2-xtb", "gfn-ff", "python", "dft"};
  for (size_t k = 0; k < sizeof expected / sizeof expected[0]; k++) {
    CHECK(strstr(names, expected[k]) != NULL);
    const elign_oracle_backend *b = elign_oracle_backend_find(expected[k]);
    CHECK(b != NULL && strcmp(b->name, expected[k]) == 0 && b->create && b->evaluate && b->summary);
  }
  int count = 0;
  while (elign_oracle_backend_at(count)) count++;
  CHECK(count >= 5);
  CHECK(elign_oracle_backend_at(-1) == NULL);
  CHECK(elign_oracle_backend_find("no-such") == NULL);
  CHECK(elign_oracle_backend_find(NULL) == NULL);

  /* Unknown name: a config error that lists the valid names. */
  elign_error err;
  elign_error_clear(&err);
  elign_oracle *o = (elign_oracle *)&err; /* must be reset to NULL */
  CHECK(elign_oracle_create("uma", NULL, &o, &err) == ELIGN_ERR_CONFIG);
  CHECK(o == NULL);
  CHECK(strstr(err.msg, "unknown oracle backend 'uma'") != NULL);
  CHECK(strstr(err.msg, "gfn2-xtb") != NULL && strstr(err.msg, "python") != NULL);

#ifndef ELIGN_WITH_XTB
  elign_error_clear(&err);
  CHECK(elign_oracle_create("gfn2-xtb", NULL, &o, &err) == ELIGN_ERR_UNSUPPORTED);
  CHECK(strstr(err.msg, "not built: rebuild with libxtb-dev installed") != NULL);
#endif
  elign_error_clear(&err);
  CHECK(elign_oracle_create("python", NULL, &o, &err) != ELIGN_OK); /* no module configured */
  CHECK(o == NULL && err.msg[0] != '\0');

  elign_oracle_destroy(NULL);
  o = NULL;
  elign_oracle_destroy(&o);

  /* Status strings: every value has its own text. */
  for (int s = 0; s <= ELIGN_MOL_EMPTY; s++) {
    CHECK(strcmp(elign_mol_status_string((elign_mol_status)s), "unknown status") != 0);
    for (int t = 0; t < s; t++)
      CHECK(strcmp(elign_mol_status_string((elign_mol_status)s), elign_mol_status_string((elign_mol_status)t)) != 0);
  }

  /* The common checks, in their documented order. */
  elign_oracle_backend fake = {.name = "fake", .supports = only_hcno};
  int32_t Z[3] = {8, 1, 1};
  double pos[9] = {0, 0, 0, 0.96, 0, 0, -0.24, 0.93, 0};
  CHECK(elign_oracle_check_molecule(&fake, NULL, 3, Z, pos, 0.5) == ELIGN_MOL_OK);
  CHECK(elign_oracle_check_molecule(&fake, NULL, 0, Z, pos, 0.5) == ELIGN_MOL_EMPTY);
  CHECK(elign_oracle_check_molecule(&fake, NULL, 3, Z, pos, 0.97) == ELIGN_MOL_OVERLAP);
  CHECK(elign_oracle_check_molecule(&fake, NULL, 3, Z, pos, -1) == ELIGN_MOL_OK);
  Z[1] = 9; /* F: not in the fake's list */
  CHECK(elign_oracle_check_molecule(&fake, NULL, 3, Z, pos, 0.5) == ELIGN_MOL_UNSUPPORTED_ELEMENT);
  CHECK(elign_oracle_check_molecule(NULL, NULL, 3, Z, pos, 0.5) == ELIGN_MOL_OK);
  Z[1] = 0; /* not an element at all */
  CHECK(elign_oracle_check_molecule(NULL, NULL, 3, Z, pos, 0.5) == ELIGN_MOL_UNSUPPORTED_ELEMENT);
  pos[4] = NAN; /* non-finite wins over the element check */
  CHECK(elign_oracle_check_molecule(&fake, NULL, 3, Z, pos, 0.5) == ELIGN_MOL_NONFINITE_INPUT);
  pos[4] = INFINITY;
  CHECK(elign_oracle_check_molecule(&fake, NULL, 3, Z, pos, 0.5) == ELIGN_MOL_NONFINITE_INPUT);

  double f[6] = {0, 1, 2, 3, 4, 5};
  CHECK(elign_oracle_result_finite(1.0, f, 2));
  f[5] = NAN;
  CHECK(!elign_oracle_result_finite(1.0, f, 2));
  CHECK(elign_oracle_result_finite(1.0, NULL, 2));
  CHECK(!elign_oracle_result_finite(INFINITY, NULL, 0));
  return test_main_result("test_oracle_registry");
}
