/* testutil_mpi.h — the end of a test that runs on several MPI ranks. */
#ifndef ELIGN_TESTUTIL_MPI_H
#define ELIGN_TESTUTIL_MPI_H

#include <mpi.h>

#include "tests/testutil.h"

/* Sum the failed checks of every rank of comm; rank 0 prints the verdict
 * over all ranks (test_main_result) and every rank returns the same exit
 * code, so mpirun fails when any rank saw a failure. Collective. */
static inline int test_mpi_main_result(const char *test_name, MPI_Comm comm) {
  int rank, failed = test_checks_failed, any_failed = 0, rc = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_SUM, comm);
  if (rank == 0) {
    test_checks_failed = any_failed;
    rc = test_main_result(test_name);
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
  return rc;
}

#endif
