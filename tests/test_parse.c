/* test_parse.c — strict decimal parsing (common/base/parse.h): hex, inf/nan,
 * spaces and trailing text are syntax errors; values beyond the type or the
 * asked range are range errors, never clamps (issue 8: `-n 18446744073709551617`
 * became INT64_MAX, XYZ coordinates `0x10` were read as 16). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/base/parse.h"
#include "testutil.h"

static void test_integers(void) {
  int64_t v = -1;
  CHECK(elign_scan_i64("42", 0, 100, &v) == ELIGN_SCAN_OK && v == 42);
  CHECK(elign_scan_i64("+7", 0, 100, &v) == ELIGN_SCAN_OK && v == 7);
  CHECK(elign_scan_i64("007", 0, 100, &v) == ELIGN_SCAN_OK && v == 7); /* decimal, not octal */
  CHECK(elign_scan_i64("-3", -5, 5, &v) == ELIGN_SCAN_OK && v == -3);
  CHECK(elign_scan_i64("9223372036854775807", 0, INT64_MAX, &v) == ELIGN_SCAN_OK && v == INT64_MAX);
  CHECK(elign_scan_i64("-9223372036854775808", INT64_MIN, 0, &v) == ELIGN_SCAN_OK && v == INT64_MIN);
  v = 5;
  const char *syntax[] = {"", " 1", "1 ", "0x10", "1e3", "1.0", "12a", "--1", "+", "inf", "nan", "١"};
  for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++)
    CHECK(elign_scan_i64(syntax[i], INT64_MIN, INT64_MAX, &v) == ELIGN_SCAN_SYNTAX);
  CHECK(elign_scan_i64(NULL, 0, 1, &v) == ELIGN_SCAN_SYNTAX);
  CHECK(elign_scan_i64("18446744073709551617", INT64_MIN, INT64_MAX, &v) == ELIGN_SCAN_RANGE);
  CHECK(elign_scan_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v) == ELIGN_SCAN_RANGE);
  CHECK(elign_scan_i64("-9223372036854775809", INT64_MIN, INT64_MAX, &v) == ELIGN_SCAN_RANGE);
  CHECK(elign_scan_i64("2147483648", 1, 2147483647, &v) == ELIGN_SCAN_RANGE);
  CHECK(elign_scan_i64("0", 1, 10, &v) == ELIGN_SCAN_RANGE);
  CHECK(v == 5); /* untouched on failure */

  uint64_t u = 0;
  CHECK(elign_scan_u64("18446744073709551615", 0, UINT64_MAX, &u) == ELIGN_SCAN_OK && u == UINT64_MAX);
  CHECK(elign_scan_u64("9223372036854775808", 0, UINT64_MAX, &u) == ELIGN_SCAN_OK && u == 9223372036854775808ULL);
  CHECK(elign_scan_u64("18446744073709551616", 0, UINT64_MAX, &u) == ELIGN_SCAN_RANGE);
  CHECK(elign_scan_u64("-1", 0, UINT64_MAX, &u) == ELIGN_SCAN_RANGE); /* strtoull would wrap it */
  CHECK(elign_scan_u64("-0", 0, UINT64_MAX, &u) == ELIGN_SCAN_OK && u == 0);
  CHECK(elign_scan_u64("0x10", 0, UINT64_MAX, &u) == ELIGN_SCAN_SYNTAX);
}

static void test_reals(void) {
  double d = 0;
  CHECK(elign_scan_real("1.5", -10, 10, &d) == ELIGN_SCAN_OK && d == 1.5);
  CHECK(elign_scan_real(".5", -10, 10, &d) == ELIGN_SCAN_OK && d == 0.5);
  CHECK(elign_scan_real("5.", -10, 10, &d) == ELIGN_SCAN_OK && d == 5.0);
  CHECK(elign_scan_real("-2e-3", -10, 10, &d) == ELIGN_SCAN_OK && d == -2e-3);
  CHECK(elign_scan_real("1E+06", 0, 1e7, &d) == ELIGN_SCAN_OK && d == 1e6);
  d = 7;
  const char *syntax[] = {"0x10", "0x1p3", "0X1.8P1", "inf", "-inf", "nan", "NaN", "infinity", "1e", "e5", ".",
                          "1.2.3", " 1", "1 ", "1,5", "", "+-1", "1e+"};
  for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++)
    CHECK(elign_scan_real(syntax[i], -INFINITY, INFINITY, &d) == ELIGN_SCAN_SYNTAX);
  CHECK(elign_scan_real("1e400", -INFINITY, INFINITY, &d) == ELIGN_SCAN_RANGE);
  CHECK(elign_scan_real("-1e400", -INFINITY, INFINITY, &d) == ELIGN_SCAN_RANGE);
  CHECK(elign_scan_real("11", 0, 10, &d) == ELIGN_SCAN_RANGE);
  CHECK(d == 7);
}

static void test_messages(void) {
  elign_error err;
  elign_error_clear(&err);
  int64_t v;
  CHECK(elign_parse_i64("18446744073709551617", 1, 2147483647, "-n", &v, &err) == ELIGN_ERR_ARG);
  CHECK(strstr(err.msg, "-n") && strstr(err.msg, "out of range") && strstr(err.msg, "1..2147483647"));
  elign_error_clear(&err);
  CHECK(elign_parse_i64("0x10", 0, 100, "--seed", &v, &err) == ELIGN_ERR_ARG);
  CHECK(strstr(err.msg, "--seed: '0x10' is not a decimal integer") != NULL);
  elign_error_clear(&err);
  int i = 0;
  CHECK(elign_parse_int("3000000000", 1, 2147483647, "--batch", &i, &err) == ELIGN_ERR_ARG && i == 0);
  elign_error_clear(&err);
  CHECK(elign_parse_int("12", 1, 100, "--batch", &i, &err) == ELIGN_OK && i == 12);
  double d;
  CHECK(elign_parse_real("0x10", 0, 100, "--min-distance", &d, &err) == ELIGN_ERR_ARG);
  CHECK(strstr(err.msg, "not a decimal number") != NULL);
}

int main(void) {
  test_integers();
  test_reals();
  test_messages();
  return test_main_result("test_parse");
}
