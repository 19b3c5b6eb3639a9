/* real.h — the tensor scalar type. float32 by default (matches the PyTorch
 * references); -DELIGN_DOUBLE=ON makes it double so finite-difference
 * gradient checks can be tight. Long sums (log-probabilities, rewards,
 * energies, loss accumulation) always use double regardless. */
#ifndef ELIGN_REAL_H
#define ELIGN_REAL_H

#include <cblas.h>

#ifdef ELIGN_DOUBLE
typedef double elign_real;
#define ELIGN_GEMM cblas_dgemm
#define ELIGN_GEMV cblas_dgemv
#define ELIGN_AXPY cblas_daxpy
#define ELIGN_REAL_NAME "float64"
#define ELIGN_REAL_EPS 2.220446049250313e-16
#else
typedef float elign_real;
#define ELIGN_GEMM cblas_sgemm
#define ELIGN_GEMV cblas_sgemv
#define ELIGN_AXPY cblas_saxpy
#define ELIGN_REAL_NAME "float32"
#define ELIGN_REAL_EPS 1.1920929e-07
#endif

#endif
