/* test_oracle_ani.c — the "ani" adapter over the native ANI engine.
 *
 * The engine itself is checked against TorchANI by tests/test_ani.c; here:
 * the adapter's units (Hartree → eV, Hartree/Å → eV/Å) against direct
 * ani_compute calls, and failure injection (boron: not in ANI-2x; coincident
 * atoms; 0.1 Å overlap with oracle.min_distance = 0.5; NaN) — three or four
 * flags and the good molecules equal to their stand-alone results.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/base/error.h"
#include "oracle/ani/ani.h"
#include "oracle/oracle.h"
#include "tests/oracle_testmol.h"
#include "tests/testutil.h"

/* Float32 networks: a different batch shape changes GEMM rounding (~1e-6 relative). */
#ifdef ELIGN_DOUBLE
#define ANI_BATCH_ETOL 1e-9
#define ANI_BATCH_FTOL 1e-9
#else
#define ANI_BATCH_ETOL 1e-3
#define ANI_BATCH_FTOL 1e-4
#endif

int main(void) {
  char zoo[2048];
  snprintf(zoo, sizeof zoo, "%s", test_shared_path("models/ani-model-zoo"));
  testmol mols[3];
  CHECK(testmol_read_xyz(test_shared_path("data/qm9like/tiny.xyz"), 0, 3, mols) == 3);
  static testbatch b, alone;
  elign_mol_status status[8];

  elign_oracle_options opt;
  elign_oracle_options_init(&opt);
  opt.model_dir = zoo;
  opt.model = "ani-2x";
  elign_oracle *o = NULL;
  elign_error err;
  elign_error_clear(&err);
  CHECK(elign_oracle_create("ani", &opt, &o, &err) == ELIGN_OK);
  if (!o) {
    fprintf(stderr, "%s\n", err.msg);
    return test_main_result("test_oracle_ani");
  }

  /* 1. Units against the engine called directly. */
  testbatch_pack(&b, mols, 3);
  CHECK(testbatch_evaluate(o, &b, status));
  ani_model *m = NULL;
  CHECK(ani_model_load(zoo, "ani-2x", &m, &err) == ELIGN_OK);
  ani_workspace *ws = ani_workspace_create();
  double e_ha[3], f_ha[3 * 3 * TESTMOL_MAX_ATOMS];
  int flags[3];
  CHECK(ani_compute(m, ws, 3, b.offsets, b.Z, b.pos, e_ha, f_ha, NULL, flags, &err) == ELIGN_OK);
  for (int k = 0; k < 3; k++) {
    CHECK(status[k] == ELIGN_MOL_OK && flags[k] == ANI_MOL_OK);
    CHECK_CLOSE(b.energy[k], e_ha[k] * 27.211386024367243, 1e-9, 1e-13);
  }
  for (int64_t k = 0; k < 3 * b.n_atoms; k++) f_ha[k] *= 27.211386024367243;
  CHECK_ARRAY(b.forces, f_ha, (size_t)(3 * b.n_atoms), 1e-9, 1e-12);
  printf("ani-2x via oracle: E[0] = %.6f eV (engine %.10f Ha)\n", b.energy[0], e_ha[0]);
  ani_workspace_free(&ws);
  ani_model_free(&m);

  /* 2. Failure injection with the defaults (engine's own coincident check). */
  testmol inj[5] = {mols[0], mols[1], mols[1], mols[1], mols[2]};
  inj[1].Z[0] = 5;                                          /* boron: not in ANI-2x */
  memcpy(inj[2].pos[3], inj[2].pos[1], sizeof(double[3])); /* coincident atoms */
  inj[3].pos[2][0] = NAN;
  testbatch_pack(&b, inj, 5);
  CHECK(testbatch_evaluate(o, &b, status));
  CHECK(status[0] == ELIGN_MOL_OK && status[4] == ELIGN_MOL_OK);
  CHECK(status[1] == ELIGN_MOL_UNSUPPORTED_ELEMENT);
  CHECK(status[2] == ELIGN_MOL_OVERLAP);
  CHECK(status[3] == ELIGN_MOL_NONFINITE_INPUT);
  for (int k = 1; k <= 3; k++) CHECK(b.energy[k] == 0.0);
  const int good[2] = {0, 4};
  for (int g = 0; g < 2; g++) {
    elign_mol_status st1;
    testbatch_pack(&alone, &inj[good[g]], 1);
    CHECK(testbatch_evaluate(o, &alone, &st1) && st1 == ELIGN_MOL_OK);
    CHECK_CLOSE(b.energy[good[g]], alone.energy[0], ANI_BATCH_ETOL, 0);
    CHECK_ARRAY(b.forces + 3 * b.offsets[good[g]], alone.forces, (size_t)(3 * inj[good[g]].n), ANI_BATCH_FTOL, 0);
    printf("good molecule %d: |dE| batch vs alone = %.2e eV\n", good[g], fabs(b.energy[good[g]] - alone.energy[0]));
  }
  elign_oracle_destroy(&o);

  /* 3. With oracle.min_distance = 0.5 Å a 0.1 Å pair is flagged too. */
  opt.min_distance = 0.5;
  CHECK(elign_oracle_create("ani", &opt, &o, &err) == ELIGN_OK);
  inj[2].pos[3][2] += 0.1;
  testbatch_pack(&b, inj, 5);
  CHECK(o && testbatch_evaluate(o, &b, status));
  CHECK(status[2] == ELIGN_MOL_OVERLAP && status[0] == ELIGN_MOL_OK);
  elign_oracle_destroy(&o);

  /* 4. A missing zoo: a create() error naming the file, not a crash. */
  opt.model_dir = "/nonexistent/zoo";
  CHECK(elign_oracle_create("ani", &opt, &o, &err) != ELIGN_OK && o == NULL);
  CHECK(strstr(err.msg, "ani: ") == err.msg);
  return test_main_result("test_oracle_ani");
}
