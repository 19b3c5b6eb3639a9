/* oracle_testmol.h — small helpers shared by the oracle tests: read molecules
 * from an extended-XYZ file, pack batches, evaluate them. Test-only. */
#ifndef ELIGN_ORACLE_TESTMOL_H
#define ELIGN_ORACLE_TESTMOL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/error.h"
#include "oracle/oracle.h"
#include "tests/testutil.h"

#define TESTMOL_MAX_ATOMS 64

typedef struct {
  int n;
  int32_t Z[TESTMOL_MAX_ATOMS];
  double pos[TESTMOL_MAX_ATOMS][3]; /* Å */
  char sym[TESTMOL_MAX_ATOMS][4];
} testmol;

static inline int testmol_symbol_Z(const char *s) {
  static const char *const t[] = {"X", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si",
                                  "P", "S", "Cl", "Ar"};
  for (int z = 1; z < (int)(sizeof t / sizeof t[0]); z++)
    if (strcmp(s, t[z]) == 0) return z;
  return 0;
}

/* Read the molecules number first .. first+count-1 (0-based) of an XYZ file.
 * Returns how many were read. */
static inline int testmol_read_xyz(const char *path, int first, int count, testmol *out) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char line[1024];
  int got = 0, index = 0;
  while (got < count && fgets(line, sizeof line, f)) {
    int n = atoi(line);
    if (n <= 0 || n > TESTMOL_MAX_ATOMS) break;
    if (!fgets(line, sizeof line, f)) break;
    testmol *m = index >= first ? &out[got] : NULL;
    for (int i = 0; i < n; i++) {
      if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return got;
      }
      if (m) {
        sscanf(line, "%3s %lf %lf %lf", m->sym[i], &m->pos[i][0], &m->pos[i][1], &m->pos[i][2]);
        m->Z[i] = testmol_symbol_Z(m->sym[i]);
      }
    }
    if (m) {
      m->n = n;
      got++;
    }
    index++;
  }
  fclose(f);
  return got;
}

static inline void testmol_write_xyz(const testmol *m, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return;
  fprintf(f, "%d\n\n", m->n);
  for (int i = 0; i < m->n; i++)
    fprintf(f, "%s %.10f %.10f %.10f\n", m->sym[i], m->pos[i][0], m->pos[i][1], m->pos[i][2]);
  fclose(f);
}

/* A packed batch over `count` molecules (arrays owned by the struct). */
typedef struct {
  int64_t n_mol, n_atoms;
  int64_t offsets[65];
  int32_t Z[64 * TESTMOL_MAX_ATOMS];
  double pos[64 * TESTMOL_MAX_ATOMS * 3];
  int charge[64], mult[64];
  double energy[64];
  double forces[64 * TESTMOL_MAX_ATOMS * 3];
  int status[64];
} testbatch;

static inline void testbatch_pack(testbatch *b, const testmol *mols, int count) {
  memset(b, 0, sizeof *b);
  b->n_mol = count;
  for (int m = 0; m < count; m++) {
    b->offsets[m + 1] = b->offsets[m] + mols[m].n;
    for (int i = 0; i < mols[m].n; i++) {
      b->Z[b->offsets[m] + i] = mols[m].Z[i];
      memcpy(&b->pos[3 * (b->offsets[m] + i)], mols[m].pos[i], sizeof(double[3]));
    }
    b->mult[m] = 1;
  }
  b->n_atoms = b->offsets[count];
}

/* Evaluate a packed batch into its own energy/forces; 1 on success (the
 * error is printed). Charge and multiplicity are always passed: packed ones
 * are neutral singlets unless a test changes them, which is exactly what
 * NULL arrays mean (oracle.h), so tests that never set them lose nothing. */
static inline int testbatch_evaluate(elign_oracle *o, testbatch *b, elign_mol_status *status) {
  elign_oracle_batch batch = {.n_mol = b->n_mol, .offsets = b->offsets, .Z = b->Z, .pos = b->pos, .charge = b->charge,
                              .multiplicity = b->mult};
  elign_oracle_result res = {.energy = b->energy, .forces = b->forces, .status = status};
  elign_error err;
  elign_error_clear(&err);
  elign_status st = elign_oracle_evaluate(o, &batch, &res, &err);
  if (st != ELIGN_OK) fprintf(stderr, "evaluate: %s\n", err.msg);
  return st == ELIGN_OK;
}

/* The failure-injection batch shape shared by the xtb and python tests:
 * molecules 0 and 4 good, 1 an unsupported element, 2 an overlap, 3 a NaN
 * coordinate. Checks those flags and that the flagged ones were zeroed. */
static inline void testbatch_check_injected_flags(const testbatch *b, const elign_mol_status *status) {
  CHECK(status[0] == ELIGN_MOL_OK);
  CHECK(status[1] == ELIGN_MOL_UNSUPPORTED_ELEMENT);
  CHECK(status[2] == ELIGN_MOL_OVERLAP);
  CHECK(status[3] == ELIGN_MOL_NONFINITE_INPUT);
  CHECK(status[4] == ELIGN_MOL_OK);
  for (int m = 1; m <= 3; m++) {
    CHECK(b->energy[m] == 0.0);
    int zero = 1;
    for (int64_t k = 3 * b->offsets[m]; k < 3 * b->offsets[m + 1]; k++) zero &= b->forces[k] == 0.0;
    CHECK(zero);
  }
}

#endif
