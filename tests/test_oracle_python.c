/* test_oracle_python.c — the embedded-Python backend with a toy function
 * (tests/oracle_toy.py) whose energy and forces this test recomputes in C:
 * array plumbing (Z int32, R (n,3) Å, forces layout), charge/multiplicity/
 * options, per-molecule exception flags (RuntimeError → BACKEND_ERROR,
 * TimeoutError → TIMEOUT, *Convergence* → NOT_CONVERGED), the batched
 * variant, wrong shapes, NaN results, missing module/function messages, and
 * failure injection (unsupported element, overlap, NaN coordinate in one
 * batch: three flags, the rest identical to evaluating them alone).
 * argv[1]: the directory holding oracle_toy.py.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/base/error.h"
#include "oracle/oracle.h"
#include "tests/oracle_testmol.h"
#include "tests/testutil.h"

/* The toy model of oracle_toy.py, written again in C. */
static double toy_energy(int n, const int32_t *Z, const double *R, int charge, int mult, double time_limit, double *F) {
  double E = 0.5 * charge + 0.25 * mult + time_limit;
  for (int k = 0; k < 3 * n; k++) F[k] = 0;
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      double d[3] = {R[3 * i] - R[3 * j], R[3 * i + 1] - R[3 * j + 1], R[3 * i + 2] - R[3 * j + 2]};
      double r = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
      double e = 0.1 * Z[i] * Z[j] / r;
      E += e;
      for (int c = 0; c < 3; c++) {
        F[3 * i + c] += e / (r * r) * d[c];
        F[3 * j + c] -= e / (r * r) * d[c];
      }
    }
  return E;
}

static elign_oracle *make(const char *dir, const char *fn, double time_limit) {
  elign_oracle_options opt;
  elign_oracle_options_init(&opt);
  opt.python_module = "oracle_toy";
  opt.python_function = fn;
  opt.python_path = dir;
  opt.time_limit = time_limit;
  opt.method = "toy";
  elign_oracle *o = NULL;
  elign_error err;
  elign_error_clear(&err);
  if (elign_oracle_create("python", &opt, &o, &err) != ELIGN_OK) fprintf(stderr, "create: %s\n", err.msg);
  return o;
}

/* Compare every OK molecule of b with the C toy. */
static void check_against_toy(const testbatch *b, const elign_mol_status *status, double time_limit) {
  for (int64_t m = 0; m < b->n_mol; m++) {
    if (status[m] != ELIGN_MOL_OK) continue;
    int64_t a0 = b->offsets[m];
    int n = (int)(b->offsets[m + 1] - a0);
    double F[3 * TESTMOL_MAX_ATOMS];
    double E = toy_energy(n, b->Z + a0, b->pos + 3 * a0, b->charge[m], b->mult[m], time_limit, F);
    CHECK_CLOSE(b->energy[m], E, 1e-12, 1e-12);
    CHECK_ARRAY(b->forces + 3 * a0, F, (size_t)(3 * n), 1e-12, 1e-12);
  }
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  testmol mols[4];
  CHECK(testmol_read_xyz(test_shared_path("data/qm9like/tiny.xyz"), 0, 3, mols) == 3);
  static testbatch b, alone;
  elign_mol_status status[64];

  /* 1. Values, charge/multiplicity/options plumbing, per-molecule and batched. */
  const char *fns[2] = {"toy", "toy_batched"};
  for (int v = 0; v < 2; v++) {
    elign_oracle *o = make(dir, fns[v], 0.75);
    CHECK(o != NULL);
    if (!o) return test_main_result("test_oracle_python");
    testbatch_pack(&b, mols, 3);
    b.charge[1] = -1;
    b.mult[2] = 3;
    CHECK(testbatch_evaluate(o, &b, status));
    for (int m = 0; m < 3; m++) CHECK(status[m] == ELIGN_MOL_OK);
    check_against_toy(&b, status, 0.75);

    /* 2. Exceptions flag only their molecule (He, Ne, Ar first atoms). */
    testbatch_pack(&b, mols, 3);
    testmol ex[6] = {mols[0], mols[1], mols[1], mols[1], mols[2], mols[0]};
    ex[1].Z[0] = 2;
    ex[2].Z[0] = 10;
    ex[3].Z[0] = 18;
    testbatch_pack(&b, ex, 6);
    CHECK(testbatch_evaluate(o, &b, status));
    CHECK(status[0] == ELIGN_MOL_OK && status[4] == ELIGN_MOL_OK && status[5] == ELIGN_MOL_OK);
    CHECK(status[1] == ELIGN_MOL_BACKEND_ERROR);
    CHECK(status[2] == ELIGN_MOL_TIMEOUT);
    CHECK(status[3] == ELIGN_MOL_NOT_CONVERGED);
    CHECK(b.energy[1] == 0.0 && b.energy[2] == 0.0 && b.energy[3] == 0.0);
    check_against_toy(&b, status, 0.75);
    elign_oracle_destroy(&o);
  }

  /* 3. Failure injection: unsupported element (Z=0), overlap, NaN. The good
   * molecules must equal their stand-alone results bit for bit. */
  {
    elign_oracle *o = make(dir, "toy", 0.0);
    testmol inj[5] = {mols[0], mols[1], mols[2], mols[1], mols[2]};
    inj[1].Z[3] = 0;                                        /* not an element */
    memcpy(inj[2].pos[4], inj[2].pos[2], sizeof(double[3])); /* atoms 2 and 4 coincide */
    inj[2].pos[4][0] += 0.1;
    inj[3].pos[5][1] = NAN;
    testbatch_pack(&b, inj, 5);
    CHECK(testbatch_evaluate(o, &b, status));
    testbatch_check_injected_flags(&b, status);
    int good[2] = {0, 4};
    for (int g = 0; g < 2; g++) {
      elign_mol_status st1[1];
      testbatch_pack(&alone, &inj[good[g]], 1);
      CHECK(testbatch_evaluate(o, &alone, st1) && st1[0] == ELIGN_MOL_OK);
      CHECK(alone.energy[0] == b.energy[good[g]]);
      CHECK(memcmp(alone.forces, b.forces + 3 * b.offsets[good[g]], sizeof(double) * 3 * (size_t)inj[good[g]].n) == 0);
    }
    /* An empty molecule between two good ones. */
    int64_t off[4] = {0, 2, 2, 4};
    int32_t Z[4] = {1, 1, 1, 1};
    double pos[12] = {0, 0, 0, 0, 0, 0.74, 5, 0, 0, 5, 0, 0.74};
    double e[3], f[12];
    elign_mol_status st[3];
    elign_oracle_batch bb = {.n_mol = 3, .offsets = off, .Z = Z, .pos = pos};
    elign_oracle_result rr = {.energy = e, .forces = f, .status = st};
    elign_error err;
    CHECK(elign_oracle_evaluate(o, &bb, &rr, &err) == ELIGN_OK);
    CHECK(st[0] == ELIGN_MOL_OK && st[1] == ELIGN_MOL_EMPTY && st[2] == ELIGN_MOL_OK);
    CHECK_CLOSE(e[0], 0.1 / 0.74 + 0.25, 1e-12, 0);
    CHECK(e[0] == e[2]);
    elign_oracle_destroy(&o);
  }

  /* 4. Wrong force shape → BACKEND_ERROR; NaN energy → NONFINITE_OUTPUT. */
  {
    elign_oracle *o = make(dir, "bad_shape", 0.0);
    testbatch_pack(&b, mols, 1);
    CHECK(o && testbatch_evaluate(o, &b, status) && status[0] == ELIGN_MOL_BACKEND_ERROR);
    elign_oracle_destroy(&o);
    o = make(dir, "returns_nan", 0.0);
    CHECK(o && testbatch_evaluate(o, &b, status) && status[0] == ELIGN_MOL_NONFINITE_OUTPUT && b.energy[0] == 0.0);
    elign_oracle_destroy(&o);
  }

  /* 5. Whole-backend errors at create: a clear message. */
  {
    elign_oracle_options opt;
    elign_oracle_options_init(&opt);
    opt.python_module = "no_such_oracle_module";
    elign_oracle *o = NULL;
    elign_error err;
    elign_error_clear(&err);
    CHECK(elign_oracle_create("python", &opt, &o, &err) == ELIGN_ERR_BACKEND && o == NULL);
    CHECK(strstr(err.msg, "cannot import module 'no_such_oracle_module' (ModuleNotFoundError") != NULL);
    CHECK(strstr(err.msg, "set oracle.python_path") != NULL);
    opt.python_module = "oracle_toy";
    opt.python_path = dir;
    opt.python_function = "missing";
    CHECK(elign_oracle_create("python", &opt, &o, &err) == ELIGN_ERR_CONFIG && o == NULL);
    CHECK(strstr(err.msg, "has no function 'missing'") != NULL);
  }
  return test_main_result("test_oracle_python");
}
