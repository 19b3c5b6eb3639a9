/* test_nonfinite.c — non-finite values stay visible and well defined
 * (issue 8): the fast exponentials take NaN/Inf without undefined behaviour
 * (a NaN input used to shift a negative value into the exponent bits — a
 * UBSan error; run this test in the sanitizer build) and return NaN for NaN;
 * a decoded atom whose latent is not finite gets NaN positions instead of a
 * finite-looking argmax over NaNs; the sampler's rank split does not
 * overflow for any molecule count. */
#include <math.h>
#include <stdint.h>

#include "actor/sampler.h"
#include "common/model/diffusion.h"
#include "common/nn/fastmath.h"
#include "testutil.h"

static void test_fast_exp(void) {
  volatile float nanf_ = NAN, inff = INFINITY;
  volatile double nand = NAN, infd = INFINITY;
  float em1 = 0, e = 0;
  CHECK(isnan(elign_fast_expf(nanf_)));
  CHECK(elign_fast_expf(inff) == elign_fast_expf(88.0f));  /* clamped, as documented */
  CHECK(elign_fast_expf(-inff) == elign_fast_expf(-87.0f));
  elign_fast_expm1f(nanf_, &em1, &e);
  CHECK(isnan(em1) && isnan(e));
  elign_fast_expm1f(-inff, &em1, &e);
  CHECK(em1 == -1.0f + e && e < 1e-37f);
  CHECK(isnan(elign_fast_exp(nand)));
  CHECK(elign_fast_exp(-infd) == elign_fast_exp(-700.0));
  CHECK(!(elign_fast_exp(infd) < 1.0)); /* outside its domain (x <= 0), but defined: no UB */
  /* finite inputs: the documented accuracy still holds at the edges */
  CHECK_CLOSE(elign_fast_expf(88.0f), expf(88.0f), 0, 3e-7);
  CHECK_CLOSE(elign_fast_expf(-87.0f), expf(-87.0f), 0, 3e-7);
  CHECK_CLOSE(elign_fast_exp(-700.0), exp(-700.0), 0, 1e-14);
}

static void test_decode_marks_nonfinite(void) {
  diffusion_layout l;
  diffusion_layout_init(&l, 5, 1); /* QM9: D = 9 */
  enum { N = 3, D = 9 };
  elign_real xh[N * D], z0[N * D];
  for (int i = 0; i < N * D; i++) xh[i] = z0[i] = (elign_real)(0.1 * (i % 7));
  z0[1 * D + 4] = NAN; /* atom 1: a NaN type channel (positions finite) */
  xh[2 * D + 0] = INFINITY; /* atom 2: an infinite coordinate */
  double pos[N * 3];
  int32_t type[N], charge[N];
  diffusion_decode_molecules(pos, type, charge, xh, z0, N, &l);
  CHECK(isfinite(pos[0]) && isfinite(pos[1]) && isfinite(pos[2]));
  CHECK(isnan(pos[3]) && isnan(pos[4]) && isnan(pos[5]) && type[1] == 0 && charge[1] == 0);
  CHECK(isnan(pos[6]) && type[2] == 0 && charge[2] == 0);
}

static void test_rank_range(void) {
  /* every molecule once, in order, for counts up to INT64_MAX */
  const int64_t totals[] = {1, 10, 1000003, INT64_MAX - 1, INT64_MAX};
  const int64_t batches[] = {1, 3, 64, 100000};
  for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++)
    for (size_t j = 0; j < sizeof batches / sizeof batches[0]; j++)
      for (int size = 1; size <= 5; size += 2) {
        int64_t next = 0;
        int ok = 1;
        for (int r = 0; r < size; r++) {
          int64_t first, count;
          sampler_rank_range(totals[i], batches[j], r, size, &first, &count);
          ok &= first == next && count >= 0;
          next = first + count;
        }
        CHECK(ok && next == totals[i]);
      }
}

int main(void) {
  test_fast_exp();
  test_decode_marks_nonfinite();
  test_rank_range();
  return test_main_result("test_nonfinite");
}
