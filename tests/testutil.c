#include "tests/testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int test_checks_passed = 0;
int test_checks_failed = 0;

void test_check(int ok, const char *file, int line, const char *what) {
  if (ok) {
    test_checks_passed++;
  } else {
    test_checks_failed++;
    fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
  }
}

int test_check_close(double got, double want, double atol, double rtol, const char *file, int line,
                     const char *what) {
  double tol = atol + rtol * fabs(want);
  int ok = isfinite(got) && fabs(got - want) <= tol;
  if (!ok) fprintf(stderr, "FAIL %s:%d: %s = %.12g, want %.12g (|diff| %.3g > tol %.3g)\n", file, line, what, got,
                   want, fabs(got - want), tol);
  test_check(ok, file, line, what);
  return ok;
}

size_t test_check_array(const double *got, const double *want, size_t n, double atol, double rtol,
                        const char *file, int line, const char *what) {
  size_t bad = 0;
  double max_abs = 0, max_rel = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(want[i])) continue;
    double d = fabs(got[i] - want[i]);
    if (d > max_abs) max_abs = d;
    if (want[i] != 0 && d / fabs(want[i]) > max_rel) max_rel = d / fabs(want[i]);
    if (!(d <= atol + rtol * fabs(want[i]))) {
      if (bad < 10) fprintf(stderr, "  %s[%zu] = %.12g, want %.12g\n", what, i, got[i], want[i]);
      bad++;
    }
  }
  if (bad) fprintf(stderr, "FAIL %s:%d: %s: %zu of %zu mismatches (max abs %.3g, max rel %.3g)\n", file, line, what,
                   bad, n, max_abs, max_rel);
  test_check(bad == 0, file, line, what);
  return bad;
}

/* Every caller needs the file: a missing one ends the test with a message
 * that names it (a clone placed without ../shared beside it), instead of a
 * crash further on in code that trusted the read. */
const char *test_shared_path(const char *relative) {
  static char buf[4096];
  const char *dir = getenv("ELIGN_SHARED_DIR");
  snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "../shared", relative);
  if (access(buf, R_OK) != 0) {
    fprintf(stderr,
            "FAIL: reference data %s: %s\n"
            "  the tests read ../shared beside the source tree; set ELIGN_SHARED_DIR "
            "(cmake -DELIGN_SHARED_DIR=...) to where it is\n",
            buf, strerror(errno));
    exit(2);
  }
  return buf;
}

int test_main_result(const char *test_name) {
  printf("%s: %d passed, %d failed\n", test_name, test_checks_passed, test_checks_failed);
  return test_checks_failed == 0 && test_checks_passed > 0 ? 0 : 1;
}
