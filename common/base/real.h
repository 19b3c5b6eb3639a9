/* real.h — the tensor scalar type. float32 by default (matches the PyTorch
 * references); -DELIGN_DOUBLE=ON makes it double so finite-difference
 * gradient checks can be tight. Long sums (log-probabilities, rewards,
 * energies, loss accumulation) always use double regardless. The BLAS
 * calls that follow this type are in common/nn/blas.h. */
#ifndef ELIGN_REAL_H
#define ELIGN_REAL_H

#ifdef ELIGN_DOUBLE
typedef double elign_real;
#define ELIGN_REAL_NAME "float64"
#define ELIGN_REAL_EPS 2.220446049250313e-16
#else
typedef float elign_real;
#define ELIGN_REAL_NAME "float32"
#define ELIGN_REAL_EPS 1.1920929e-07
#endif

#endif
