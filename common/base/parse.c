/* parse.c — strict decimal numbers (parse.h). */
#include "common/base/parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Skip a run of digits; returns how many there were. */
static int skip_digits(const char **p) {
  int n = 0;
  while (is_digit(**p)) (*p)++, n++;
  return n;
}

int elign_is_decimal_int(const char *text) {
  if (!text) return 0;
  const char *p = text;
  if (*p == '+' || *p == '-') p++;
  return skip_digits(&p) > 0 && *p == '\0';
}

int elign_is_decimal_real(const char *text) {
  if (!text) return 0;
  const char *p = text;
  if (*p == '+' || *p == '-') p++;
  int digits = skip_digits(&p);
  if (*p == '.') {
    p++;
    digits += skip_digits(&p);
  }
  if (digits == 0) return 0;
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (skip_digits(&p) == 0) return 0;
  }
  return *p == '\0';
}

elign_scan_result elign_scan_i64(const char *text, int64_t lo, int64_t hi, int64_t *out) {
  if (!elign_is_decimal_int(text)) return ELIGN_SCAN_SYNTAX;
  errno = 0;
  long long v = strtoll(text, NULL, 10);
  if (errno == ERANGE || v < lo || v > hi) return ELIGN_SCAN_RANGE;
  *out = v;
  return ELIGN_SCAN_OK;
}

elign_scan_result elign_scan_u64(const char *text, uint64_t lo, uint64_t hi, uint64_t *out) {
  if (!elign_is_decimal_int(text)) return ELIGN_SCAN_SYNTAX;
  if (text[0] == '-') { /* strtoull would wrap "-1" to 2^64 - 1 */
    const char *p = text + 1;
    while (*p == '0') p++;
    if (*p) return ELIGN_SCAN_RANGE;
  }
  errno = 0;
  unsigned long long v = strtoull(text[0] == '-' ? "0" : text, NULL, 10);
  if (errno == ERANGE || v < lo || v > hi) return ELIGN_SCAN_RANGE;
  *out = v;
  return ELIGN_SCAN_OK;
}

elign_scan_result elign_scan_real(const char *text, double lo, double hi, double *out) {
  if (!elign_is_decimal_real(text)) return ELIGN_SCAN_SYNTAX;
  errno = 0;
  double v = strtod(text, NULL);
  if (errno == ERANGE || !isfinite(v) || v < lo || v > hi) return ELIGN_SCAN_RANGE;
  *out = v;
  return ELIGN_SCAN_OK;
}

elign_status elign_parse_i64(const char *text, int64_t lo, int64_t hi, const char *what, int64_t *out,
                             elign_error *err) {
  int64_t v = 0;
  switch (elign_scan_i64(text, lo, hi, &v)) {
    case ELIGN_SCAN_OK: *out = v; return ELIGN_OK;
    case ELIGN_SCAN_SYNTAX:
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: '%s' is not a decimal integer", what, text ? text : "");
    case ELIGN_SCAN_RANGE: break;
  }
  return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: '%s' is out of range (allowed %lld..%lld)", what, text, (long long)lo,
                    (long long)hi);
}

elign_status elign_parse_u64(const char *text, uint64_t lo, uint64_t hi, const char *what, uint64_t *out,
                             elign_error *err) {
  uint64_t v = 0;
  switch (elign_scan_u64(text, lo, hi, &v)) {
    case ELIGN_SCAN_OK: *out = v; return ELIGN_OK;
    case ELIGN_SCAN_SYNTAX:
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: '%s' is not a decimal integer", what, text ? text : "");
    case ELIGN_SCAN_RANGE: break;
  }
  return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: '%s' is out of range (allowed %llu..%llu)", what, text,
                    (unsigned long long)lo, (unsigned long long)hi);
}

elign_status elign_parse_int(const char *text, int lo, int hi, const char *what, int *out, elign_error *err) {
  int64_t v = 0;
  elign_status st = elign_parse_i64(text, lo, hi, what, &v, err);
  if (st == ELIGN_OK) *out = (int)v;
  return st;
}

elign_status elign_parse_real(const char *text, double lo, double hi, const char *what, double *out,
                              elign_error *err) {
  double v = 0;
  switch (elign_scan_real(text, lo, hi, &v)) {
    case ELIGN_SCAN_OK: *out = v; return ELIGN_OK;
    case ELIGN_SCAN_SYNTAX:
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: '%s' is not a decimal number", what, text ? text : "");
    case ELIGN_SCAN_RANGE: break;
  }
  return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: '%s' is out of range (allowed %g..%g)", what, text, lo, hi);
}
