/* testutil_fd.h — a gradient against central finite differences: the loop
 * the gradient tests shared (perturb one entry by ±h, difference quotient,
 * compare, count, report), written once (link tests/testutil_fd.c). */
#ifndef ELIGN_TESTUTIL_FD_H
#define ELIGN_TESTUTIL_FD_H

#include <stddef.h>

#include "common/base/real.h"

/* The scalar whose gradient is checked, at x; ctx is the test's fixture. */
typedef double (*test_fd_loss)(void *ctx, const elign_real *x);

/* For j = 0, stride, 2·stride, … below n: fd = (L(x + h·e_j) − L(x − h·e_j)) / 2h
 * (2h as rounded to elign_real)
 * against the analytic g[j]. A mismatch is |fd − g[j]| > atol + rtol·|fd|, or
 * a NaN on either side. x is perturbed in place and each entry restored bit
 * for bit. If any mismatch: prints "label: N mismatches, worst abs E" and the
 * first few to stderr. Returns the number of mismatches (the caller CHECKs
 * it, so the failure names the test's line). stride must be ≥ 1. */
int test_fd_gradient(test_fd_loss loss, void *ctx, elign_real *x, const elign_real *g, size_t n, size_t stride,
                     double h, double atol, double rtol, const char *label);

#endif
