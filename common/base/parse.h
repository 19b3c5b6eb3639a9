/* parse.h — numbers from text, strictly: the one way every command-line
 * option, config value and file field becomes a number.
 *
 * Accepted: decimal only. Integers are an optional sign and digits ("42",
 * "+7", "-3", "007" = 7); reals add an optional fraction and exponent
 * ("1.5", ".5", "2e-3", "1E+06"). Rejected, never guessed: hex and hex floats
 * ("0x10", "0x1p3" — strtod would read 16 and 8), "inf", "nan", spaces
 * around or inside, empty text, trailing characters. A value beyond the
 * range asked for — including one beyond the type itself, which strtoll
 * would clamp — is an error naming the range, never a clamp.
 *
 *   elign_scan_*   the check alone: a result code, for parsers that word
 *                  their own message (file and line of an XYZ atom line)
 *   elign_parse_*  the check and an error whose message names `what`
 *                  (an option "-n", "config x.yaml line 3: key 'seed'", ...)
 */
#ifndef ELIGN_PARSE_H
#define ELIGN_PARSE_H

#include <stdint.h>

#include "common/base/error.h"

typedef enum {
  ELIGN_SCAN_OK = 0,
  ELIGN_SCAN_SYNTAX, /* not a decimal number of the kind asked for */
  ELIGN_SCAN_RANGE   /* a number, but outside [lo, hi] (or beyond the type, or ±inf) */
} elign_scan_result;

/* True if text is a decimal integer / decimal real by the rules above. */
int elign_is_decimal_int(const char *text);
int elign_is_decimal_real(const char *text);

elign_scan_result elign_scan_i64(const char *text, int64_t lo, int64_t hi, int64_t *out);
elign_scan_result elign_scan_u64(const char *text, uint64_t lo, uint64_t hi, uint64_t *out);
/* A finite double in [lo, hi]; overflow to ±inf (and underflow) is RANGE. */
elign_scan_result elign_scan_real(const char *text, double lo, double hi, double *out);

/* The same with ELIGN_ERR_ARG and a message:
 *   "-n: '18446744073709551617' is out of range (allowed 1..2147483647)"
 *   "--seed: '0x10' is not a decimal integer"
 * *out is written only on success. */
elign_status elign_parse_i64(const char *text, int64_t lo, int64_t hi, const char *what, int64_t *out,
                             elign_error *err);
elign_status elign_parse_u64(const char *text, uint64_t lo, uint64_t hi, const char *what, uint64_t *out,
                             elign_error *err);
elign_status elign_parse_int(const char *text, int lo, int hi, const char *what, int *out, elign_error *err);
elign_status elign_parse_real(const char *text, double lo, double hi, const char *what, double *out,
                              elign_error *err);

#endif
