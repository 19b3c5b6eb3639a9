/* test_molset_mpi.c — elign_molset_redistribute_by_id on 1, 2 and 3 ranks.
 * Every rank rebuilds the same global set; each holds a scattered subset of
 * it (ascending ids, not contiguous; with 3 ranks the last holds none) and
 * after the call must hold exactly its contiguous slice, bit for bit. Faults
 * (SMILES, ids out of order, an id on two ranks) fail on every rank with the
 * same message and leave the sets as they were.
 * usage: test_molset_mpi */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "common/io/molset_mpi.h"
#include "tests/testutil_mpi.h"
#include "tests/testutil_molset.h"

#define N_MOL 37

static int rank, size;

/* Molecule m of the global set: 1..11 atoms, Z 1..9, smooth positions. */
static void append_global(elign_molset *s, int m, const char *smiles) {
  int32_t Z[11];
  double pos[33];
  int n = 1 + (m * 5) % 11;
  for (int a = 0; a < n; a++) {
    Z[a] = 1 + (m + 2 * a) % 9;
    for (int k = 0; k < 3; k++) pos[3 * a + k] = sin(0.3 * (m * 40 + a * 3 + k));
  }
  elign_molset_append(s, n, Z, pos, m, smiles);
}

/* The rank holding molecule m: scattered, none on the last of 3 or more ranks. */
static int holder(int m) {
  int holders = size >= 3 ? size - 1 : size;
  return (m * 7 + m / 3) % holders;
}

static void make_local(elign_molset *s) {
  elign_molset_init(s);
  for (int m = 0; m < N_MOL; m++)
    if (holder(m) == rank) append_global(s, m, NULL);
}

/* The call fails on every rank with `text` in the message and leaves s as it was. */
static void check_refused(elign_molset *s, const char *text) {
  elign_error err;
  elign_error_clear(&err);
  int64_t n_mol = s->n_mol;
  const double *pos = s->pos;
  elign_status st = elign_molset_redistribute_by_id(MPI_COMM_WORLD, s, &err);
  CHECK(st == ELIGN_ERR_ARG && strstr(err.msg, text));
  if (st == ELIGN_OK || !strstr(err.msg, text)) fprintf(stderr, "rank %d: want '%s', got '%s'\n", rank, text, err.msg);
  CHECK(s->n_mol == n_mol && s->pos == pos);
}

static void check_slices(void) {
  elign_molset global, local, want;
  elign_molset_init(&global);
  for (int m = 0; m < N_MOL; m++) append_global(&global, m, NULL);
  make_local(&local);
  elign_error err;
  elign_error_clear(&err);
  CHECK(elign_molset_redistribute_by_id(MPI_COMM_WORLD, &local, &err) == ELIGN_OK);
  elign_molset_slice(&want, &global, (int64_t)N_MOL * rank / size, (int64_t)N_MOL * (rank + 1) / size);
  CHECK(test_molsets_identical(&local, &want));
  /* ordered slices stay as they are */
  CHECK(elign_molset_redistribute_by_id(MPI_COMM_WORLD, &local, &err) == ELIGN_OK);
  CHECK(test_molsets_identical(&local, &want));
  elign_molset_free(&want);
  elign_molset_free(&local);
  elign_molset_free(&global);
}

static void check_faults(void) {
  elign_molset s;
  make_local(&s); /* rank 0 holds several molecules on any rank count */
  if (rank == 0) append_global(&s, N_MOL + 5, "C"); /* its SMILES, and an id past the end: the SMILES win */
  check_refused(&s, "SMILES");
  elign_molset_free(&s);

  make_local(&s);
  if (rank == 0) { /* ids 1, 0, ...: not ascending */
    int64_t t = s.ids[0];
    s.ids[0] = s.ids[1], s.ids[1] = t;
  }
  check_refused(&s, "ascending");
  elign_molset_free(&s);

  if (size >= 2) { /* every rank but 0 also holds molecule 0 (ids ascending and in range: N_MOL + size − 1 in all) */
    elign_molset_init(&s);
    if (rank > 0) append_global(&s, 0, NULL);
    for (int m = rank > 0 ? 1 : 0; m < N_MOL; m++)
      if (holder(m) == rank) append_global(&s, m, NULL);
    check_refused(&s, "two ranks");
    elign_molset_free(&s);
  }

  elign_molset_init(&s); /* no molecules anywhere: nothing to do */
  elign_error err;
  CHECK(elign_molset_redistribute_by_id(MPI_COMM_WORLD, &s, &err) == ELIGN_OK && s.n_mol == 0);
  elign_molset_free(&s);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  check_slices();
  check_faults();
  int rc = test_mpi_main_result("test_molset_mpi", MPI_COMM_WORLD);
  MPI_Finalize();
  return rc;
}
