/* test_oracle_failures.c — failure injection through the real xtb backends.
 *
 * One batch holds good molecules, an element GFN2-xTB/GFN-FF do not
 * parametrise (Fr, Z=87), two overlapping atoms (0.1 Å) and a NaN coordinate.
 * Expect exactly those three flags, zeros for them, and for every good
 * molecule the same energy and forces as when it is evaluated alone.
 * Also: coincident atoms handed to libxtb directly, and an SCC iteration limit
 * too small to converge (NOT_CONVERGED). ANI's version: test_oracle_ani.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/base/error.h"
#include "oracle/oracle.h"
#include "tests/oracle_testmol.h"
#include "tests/testutil.h"

static void inject(const char *backend, const testmol *good) {
  elign_oracle *o = NULL;
  elign_error err;
  elign_error_clear(&err);
  CHECK(elign_oracle_create(backend, NULL, &o, &err) == ELIGN_OK);
  if (!o) return;
  testmol inj[5] = {good[0], good[1], good[1], good[1], good[2]};
  inj[1].Z[0] = 87;                                     /* francium: outside H–Rn */
  memcpy(inj[2].pos[3], inj[2].pos[1], sizeof(double[3])); /* atoms 1 and 3 0.1 Å apart */
  inj[2].pos[3][2] += 0.1;
  inj[3].pos[2][0] = NAN;
  static testbatch b, alone;
  elign_mol_status status[5];
  testbatch_pack(&b, inj, 5);
  CHECK(testbatch_evaluate(o, &b, status));
  testbatch_check_injected_flags(&b, status);
  const int good_idx[2] = {0, 4};
  for (int g = 0; g < 2; g++) {
    int m = good_idx[g];
    elign_mol_status st1;
    testbatch_pack(&alone, &inj[m], 1);
    CHECK(testbatch_evaluate(o, &alone, &st1) && st1 == ELIGN_MOL_OK);
    CHECK_CLOSE(b.energy[m], alone.energy[0], 1e-9, 1e-12);
    CHECK_ARRAY(b.forces + 3 * b.offsets[m], alone.forces, (size_t)(3 * inj[m].n), 1e-8, 1e-10);
    CHECK(b.energy[m] < 0);
  }
  printf("%s: flags %s / %s / %s, good molecules equal to their stand-alone results\n", backend,
         elign_mol_status_string(status[1]), elign_mol_status_string(status[2]), elign_mol_status_string(status[3]));
  elign_oracle_destroy(&o);
}

/* With the registry's overlap check off, xtb itself meets coincident atoms:
 * whatever it does, the process survives and the molecule is flagged or finite. */
static void coincident_without_check(const char *backend, const testmol *good) {
  elign_oracle_options opt;
  elign_oracle_options_init(&opt);
  opt.min_distance = -1;
  elign_oracle *o = NULL;
  elign_error err;
  CHECK(elign_oracle_create(backend, &opt, &o, &err) == ELIGN_OK);
  if (!o) return;
  testmol m[2] = {good[0], good[1]};
  memcpy(m[0].pos[1], m[0].pos[0], sizeof(double[3]));
  static testbatch b;
  elign_mol_status status[2];
  testbatch_pack(&b, m, 2);
  CHECK(testbatch_evaluate(o, &b, status));
  printf("%s, coincident atoms, no registry check: %s (E = %g eV)\n", backend, elign_mol_status_string(status[0]),
         b.energy[0]);
  CHECK(status[0] != ELIGN_MOL_OK || isfinite(b.energy[0]));
  CHECK(status[1] == ELIGN_MOL_OK);
  elign_oracle_destroy(&o);
}

/* GFN2-xTB limited to 2 SCC iterations cannot converge: NOT_CONVERGED, not an abort
 * (the retry ladder off: test_oracle_xtb tests the ladder). */
static void scc_not_converged(const testmol *good) {
  elign_oracle_options opt;
  elign_oracle_options_init(&opt);
  opt.max_iterations = 2;
  opt.xtb_retry = ELIGN_XTB_RETRY_NONE;
  elign_oracle *o = NULL;
  elign_error err;
  CHECK(elign_oracle_create("gfn2-xtb", &opt, &o, &err) == ELIGN_OK);
  if (!o) return;
  static testbatch b;
  elign_mol_status status[2];
  testbatch_pack(&b, good, 2);
  CHECK(testbatch_evaluate(o, &b, status));
  printf("gfn2-xtb with 2 SCC iterations: %s / %s\n", elign_mol_status_string(status[0]),
         elign_mol_status_string(status[1]));
  CHECK(status[0] == ELIGN_MOL_NOT_CONVERGED && status[1] == ELIGN_MOL_NOT_CONVERGED);
  CHECK(b.energy[0] == 0.0 && b.forces[0] == 0.0);
  elign_oracle_destroy(&o);
}

int main(void) {
  testmol good[3];
  CHECK(testmol_read_xyz(test_shared_path("data/qm9like/tiny.xyz"), 3, 3, good) == 3);
  inject("gfn2-xtb", good);
  inject("gfn-ff", good);
  coincident_without_check("gfn2-xtb", good);
  coincident_without_check("gfn-ff", good);
  scc_not_converged(good);
  return test_main_result("test_oracle_failures");
}
