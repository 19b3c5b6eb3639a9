/* testutil.h — tiny check helpers for ctest executables.
 *
 * Each CHECK prints the failing expression with file:line and counts the
 * failure; test_main_result() prints "N passed, N failed" and returns the exit
 * code, so a mismatch can never pass silently. Tolerances are
 * absolute + relative·|reference| (llm.c validate_result style). */
#ifndef ELIGN_TESTUTIL_H
#define ELIGN_TESTUTIL_H

#include <stddef.h>

extern int test_checks_passed;
extern int test_checks_failed;

void test_check(int ok, const char *file, int line, const char *what);
#define CHECK(cond) test_check(!!(cond), __FILE__, __LINE__, #cond)

/* |got - want| <= atol + rtol*|want|; prints both on failure. Returns ok. */
int test_check_close(double got, double want, double atol, double rtol, const char *file, int line,
                     const char *what);
#define CHECK_CLOSE(got, want, atol, rtol) test_check_close((got), (want), (atol), (rtol), __FILE__, __LINE__, #got)

/* Element-wise comparison of arrays; prints the first 10 mismatches and the
 * max abs/rel error. Returns the number of mismatches. */
size_t test_check_array(const double *got, const double *want, size_t n, double atol, double rtol,
                        const char *file, int line, const char *what);
#define CHECK_ARRAY(got, want, n, atol, rtol) test_check_array((got), (want), (n), (atol), (rtol), __FILE__, __LINE__, #got)

/* Path inside ../shared (ELIGN_SHARED_DIR env var, set by ctest). Returns a static buffer. */
const char *test_shared_path(const char *relative);

/* Print "N passed, N failed" and return 0 if nothing failed, 1 otherwise. */
int test_main_result(const char *test_name);

#endif
