/* test_oracle_dft.c — psi4 through the python backend, and the DFT validation pool.
 *
 *  1. psi4_oracle HF/STO-3G on water: energy against psi4.energy() run in a
 *     separate interpreter (independent of our embedding and units);
 *     forces against central finite differences of our own energies.
 *  2. Pool: the isolated H atom (doublet, UHF/STO-3G) against the textbook
 *     value −0.46658185 Eh; formation energy per atom and force RMS
 *     recomputed from the parts; the JSON atom-energy cache is written and a
 *     second pool reuses it without recomputing.
 *  3. Time limit: an 18-atom molecule at B3LYP/6-31G(d) with a 15 s limit is
 *     flagged TIMEOUT and the pool goes on with the next molecule (H2).
 *  Also: an SCF iteration limit of 2 → NOT_CONVERGED.
 *  Prints timings (B3LYP/STO-3G on H2O and CH4) for the report.
 * argv[1]: tools/oracles (psi4_oracle.py).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base/error.h"
#include "common/base/log.h"
#include "common/chem/elements.h"
#include "oracle/backends/dft_pool.h"
#include "oracle/oracle.h"
#include "tests/oracle_testmol.h"
#include "tests/testutil.h"

static const int32_t water_Z[3] = {8, 1, 1};
static const double water_R[9] = {0.0, 0.0, 0.117, 0.0, 0.757, -0.467, 0.0, -0.757, -0.467};

static double eval_one(elign_oracle *o, int n, const int32_t *Z, const double *R, double *F, elign_mol_status *st) {
  int64_t off[2] = {0, n};
  double e = 0;
  elign_oracle_batch b = {.n_mol = 1, .offsets = off, .Z = Z, .pos = R};
  elign_oracle_result r = {.energy = &e, .forces = F, .status = st};
  elign_error err;
  elign_error_clear(&err);
  if (elign_oracle_evaluate(o, &b, &r, &err) != ELIGN_OK) fprintf(stderr, "%s\n", err.msg);
  return e;
}

/* psi4.energy in a separate interpreter, same settings as the adapter. */
static double psi4_reference_energy(void) {
  const char *script =
      ELIGN_PYTHON " -c \"import sys; sys.path.append('" ELIGN_PSI4_PYTHONPATH "'); import psi4; "
      "psi4.core.be_quiet(); psi4.geometry('''0 1\\nO 0 0 0.117\\nH 0 0.757 -0.467\\nH 0 -0.757 -0.467\\n"
      "units angstrom\\nno_reorient\\nno_com\\nsymmetry c1'''); "
      "psi4.set_options({'basis': 'sto-3g', 'reference': 'rhf', 'scf_type': 'df', 'e_convergence': 1e-10, "
      "'d_convergence': 1e-10}); print('%.12f' % psi4.energy('scf'))\" 2>/dev/null";
  FILE *p = popen(script, "r");
  if (!p) return NAN;
  double e = NAN;
  if (fscanf(p, "%lf", &e) != 1) e = NAN;
  pclose(p);
  return e;
}

int main(int argc, char **argv) {
  const char *tools = argc > 1 ? argv[1] : "tools/oracles";
  char scratch[] = "/tmp/elign-dfttest-XXXXXX";
  CHECK(mkdtemp(scratch) != NULL);

  /* 1. psi4 adapter, HF/STO-3G water. */
  elign_oracle_options opt;
  elign_oracle_options_init(&opt);
  opt.python_module = "psi4_oracle";
  opt.python_path = tools;
  opt.method = "hf";
  opt.basis = "sto-3g";
  opt.scratch_dir = scratch;
  elign_oracle *o = NULL;
  elign_error err;
  elign_error_clear(&err);
  double t0 = elign_wtime();
  CHECK(elign_oracle_create("python", &opt, &o, &err) == ELIGN_OK);
  if (!o) {
    fprintf(stderr, "%s\n", err.msg);
    return test_main_result("test_oracle_dft");
  }
  printf("python backend + psi4_oracle import: %.2f s\n", elign_wtime() - t0);
  double F[9], Fd[9];
  elign_mol_status st;
  t0 = elign_wtime();
  double e = eval_one(o, 3, water_Z, water_R, F, &st);
  printf("HF/STO-3G H2O energy+gradient: %.2f s, E = %.10f Eh\n", elign_wtime() - t0, e / ELIGN_HARTREE_EV);
  CHECK(st == ELIGN_MOL_OK);
  double e_ref = psi4_reference_energy();
  printf("psi4.energy (separate interpreter): %.10f Eh, |dE| = %.2e Eh\n", e_ref, fabs(e / ELIGN_HARTREE_EV - e_ref));
  CHECK_CLOSE(e / ELIGN_HARTREE_EV, e_ref, 1e-6, 0);
  /* Forces = −dE/dx by central differences on three coordinates (h = 2e-3 Å). */
  const int coords[3] = {2, 4, 5};
  for (int c = 0; c < 3; c++) {
    double R[9];
    memcpy(R, water_R, sizeof R);
    const double h = 2e-3;
    R[coords[c]] += h;
    double ep = eval_one(o, 3, water_Z, R, Fd, &st);
    R[coords[c]] -= 2 * h;
    double em = eval_one(o, 3, water_Z, R, Fd, &st);
    double fd = -(ep - em) / (2 * h);
    printf("force[%d]: analytic %.6f eV/A, finite difference %.6f eV/A\n", coords[c], F[coords[c]], fd);
    CHECK_CLOSE(F[coords[c]], fd, 2e-4, 1e-4);
  }
  elign_oracle_destroy(&o);
  /* psi4's SCFConvergenceError (2 SCF iterations) flags NOT_CONVERGED. */
  opt.max_iterations = 2;
  CHECK(elign_oracle_create("python", &opt, &o, &err) == ELIGN_OK);
  if (o) {
    double e_nc = eval_one(o, 3, water_Z, water_R, Fd, &st);
    CHECK(st == ELIGN_MOL_NOT_CONVERGED && e_nc == 0.0);
    elign_oracle_destroy(&o);
  }
  opt.max_iterations = 0;

  /* 2. The pool at HF/STO-3G: atoms, formation energy, RMS, cache. */
  elign_dft_pool *pool = NULL;
  CHECK(elign_dft_pool_create(&opt, &pool, &err) == ELIGN_OK);
  if (!pool) {
    fprintf(stderr, "%s\n", err.msg);
    return test_main_result("test_oracle_dft");
  }
  CHECK(elign_atom_ground_multiplicity(1) == 2 && elign_atom_ground_multiplicity(6) == 3 &&
        elign_atom_ground_multiplicity(7) == 4 && elign_atom_ground_multiplicity(8) == 3 &&
        elign_atom_ground_multiplicity(9) == 2 && elign_atom_ground_multiplicity(16) == 3 &&
        elign_atom_ground_multiplicity(17) == 2 && elign_atom_ground_multiplicity(35) == 2 &&
        elign_atom_ground_multiplicity(10) == 1 && elign_atom_ground_multiplicity(26) == 0);
  double eH = 0, eO = 0;
  CHECK(elign_dft_pool_atom_energy(pool, 1, &eH, &err) == ELIGN_OK);
  CHECK_CLOSE(eH / ELIGN_HARTREE_EV, -0.46658185, 2e-6, 0);
  int64_t off[2] = {0, 3};
  double energy, form, rms, forces[9], secs;
  elign_mol_status status;
  elign_oracle_batch wb = {.n_mol = 1, .offsets = off, .Z = water_Z, .pos = water_R};
  elign_dft_result res = {.energy = &energy, .formation_energy = &form, .force_rms = &rms, .forces = forces,
                          .seconds = &secs, .status = &status};
  CHECK(elign_dft_pool_evaluate(pool, &wb, &res, &err) == ELIGN_OK && status == ELIGN_MOL_OK);
  CHECK(elign_dft_pool_atom_energy(pool, 8, &eO, &err) == ELIGN_OK);
  CHECK_CLOSE(energy, e, 1e-7, 0);
  CHECK_CLOSE(form, (energy - eO - 2 * eH) / 3, 1e-9, 0);
  double s2 = 0;
  for (int k = 0; k < 9; k++) s2 += forces[k] * forces[k];
  CHECK_CLOSE(rms, sqrt(s2 / 3), 1e-12, 0);
  CHECK(form < 0); /* water is bound */
  printf("pool HF/STO-3G H2O: E_form = %.4f eV/atom, force RMS = %.4f eV/A (%.2f s)\n", form, rms, secs);
  char cache[1200];
  snprintf(cache, sizeof cache, "%s/dft_atom_energies.json", scratch);
  CHECK(strcmp(elign_dft_pool_cache_path(pool), cache) == 0);
  FILE *f = fopen(cache, "r");
  char text[4096] = {0};
  CHECK(f != NULL);
  if (f) {
    CHECK(fread(text, 1, sizeof text - 1, f) > 0);
    fclose(f);
  }
  CHECK(strstr(text, "\"hf/sto-3g/Z=1\"") && strstr(text, "\"hf/sto-3g/Z=8\""));
  elign_dft_pool_destroy(&pool);
  CHECK(pool == NULL);
  /* A later run reuses the cache: no psi4 call, identical value. */
  CHECK(elign_dft_pool_create(&opt, &pool, &err) == ELIGN_OK);
  double eO2 = 0;
  t0 = elign_wtime();
  CHECK(pool && elign_dft_pool_atom_energy(pool, 8, &eO2, &err) == ELIGN_OK);
  CHECK(elign_wtime() - t0 < 0.05);
  CHECK_CLOSE(eO2, eO, 1e-9, 0);
  elign_dft_pool_destroy(&pool);

  /* Timings at B3LYP/STO-3G for the report. */
  opt.method = "b3lyp";
  CHECK(elign_dft_pool_create(&opt, &pool, &err) == ELIGN_OK);
  if (pool) {
    const int32_t ch4_Z[5] = {6, 1, 1, 1, 1};
    const double ch4_R[15] = {0, 0, 0, 0.629, 0.629, 0.629, -0.629, -0.629, 0.629, -0.629, 0.629, -0.629, 0.629, -0.629, -0.629};
    CHECK(elign_dft_pool_evaluate(pool, &wb, &res, &err) == ELIGN_OK && status == ELIGN_MOL_OK);
    printf("pool B3LYP/STO-3G H2O: %.2f s, E_form = %.4f eV/atom, force RMS = %.4f eV/A\n", secs, form, rms);
    int64_t off5[2] = {0, 5};
    double f5[15];
    elign_oracle_batch cb = {.n_mol = 1, .offsets = off5, .Z = ch4_Z, .pos = ch4_R};
    res.forces = f5;
    CHECK(elign_dft_pool_evaluate(pool, &cb, &res, &err) == ELIGN_OK && status == ELIGN_MOL_OK);
    printf("pool B3LYP/STO-3G CH4: %.2f s, E_form = %.4f eV/atom, force RMS = %.4f eV/A\n", secs, form, rms);
    res.forces = forces;
    elign_dft_pool_destroy(&pool);
  }

  /* 3. Time limit: a big molecule at B3LYP/6-31G(d) is cut off, H2 still runs. */
  testmol mols[2];
  CHECK(testmol_read_xyz(test_shared_path("data/qm9like/tiny.xyz"), 0, 1, mols) == 1);
  mols[1].n = 2;
  mols[1].Z[0] = mols[1].Z[1] = 1;
  memset(mols[1].pos, 0, sizeof mols[1].pos);
  mols[1].pos[1][2] = 0.74;
  static testbatch tb;
  testbatch_pack(&tb, mols, 2);
  opt.basis = "6-31g(d)";
  /* the limit includes the child's psi4 import (~1 s quiet, > 6 s on a loaded
   * machine), so it must leave H2 room while the 18-atom B3LYP job needs minutes */
  opt.time_limit = 15.0;
  CHECK(elign_dft_pool_create(&opt, &pool, &err) == ELIGN_OK);
  if (pool) {
    double e2[2], fm2[2], r2[2], s2v[2];
    elign_mol_status st2[2];
    elign_oracle_batch bt = {.n_mol = 2, .offsets = tb.offsets, .Z = tb.Z, .pos = tb.pos};
    elign_dft_result r = {.energy = e2, .formation_energy = fm2, .force_rms = r2, .forces = tb.forces, .seconds = s2v,
                          .status = st2};
    CHECK(elign_dft_pool_evaluate(pool, &bt, &r, &err) == ELIGN_OK);
    printf("time limit 15 s: molecule 0 (18 atoms) %s after %.2f s; H2 %s after %.2f s\n",
           elign_mol_status_string(st2[0]), s2v[0], elign_mol_status_string(st2[1]), s2v[1]);
    CHECK(st2[0] == ELIGN_MOL_TIMEOUT && e2[0] == 0.0);
    CHECK(s2v[0] < 30.0);
    CHECK(st2[1] == ELIGN_MOL_OK && e2[1] < 0);
    elign_dft_pool_destroy(&pool);
  }
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", scratch);
  CHECK(system(cmd) == 0);
  return test_main_result("test_oracle_dft");
}
