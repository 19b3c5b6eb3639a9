#include "tests/testutil_fd.h"

#include <math.h>
#include <stdio.h>

#include "common/base/error.h"

enum { FD_SHOWN = 5 }; /* mismatches printed one by one; the rest only counted */

int test_fd_gradient(test_fd_loss loss, void *ctx, elign_real *x, const elign_real *g, size_t n, size_t stride,
                     double h, double atol, double rtol, const char *label) {
  ELIGN_ASSERT(stride >= 1);
  int bad = 0;
  double worst = 0;
  for (size_t j = 0; j < n; j += stride) {
    elign_real keep = x[j], up = (elign_real)(keep + h), down = (elign_real)(keep - h);
    x[j] = up;
    double lp = loss(ctx, x);
    x[j] = down;
    double lm = loss(ctx, x);
    x[j] = keep;
    /* the step actually taken: in single precision keep ± h rounds */
    double fd = (lp - lm) / ((double)up - (double)down), err = fabs(fd - (double)g[j]);
    if (err > worst || isnan(err)) worst = err; /* once NaN, reported as NaN */
    if (!(err <= atol + rtol * fabs(fd))) { /* written so that a NaN is a mismatch */
      if (bad < FD_SHOWN) fprintf(stderr, "  %s [%zu]: analytic %.12g, fd %.12g\n", label, j, (double)g[j], fd);
      bad++;
    }
  }
  if (bad) fprintf(stderr, "%s: %d mismatches, worst abs %.3g\n", label, bad, worst);
  return bad;
}
