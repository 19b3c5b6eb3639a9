/* fuzz_common.h — what every Elign-C fuzz harness shares (tests/fuzz/).
 *
 * A harness is a libFuzzer target: LLVMFuzzerTestOneInput(data, size) hands
 * one input to a reader of the library, in process. The readers take file
 * paths, so the input is first written to a file in a private temporary
 * directory (under $TMPDIR, else /dev/shm when it exists). Crashes, hangs (-timeout), leaks
 * and sanitizer reports are libFuzzer's to find; the harness adds the
 * contract of issue 8: a rejected input gives ONE clear message, i.e. the
 * status is an error, the message is a single non-empty line that begins
 * with the file's name, and no HDF5 object is left open. A breach aborts
 * (a "crash" with the message printed).
 *
 * With ELIGN_FUZZ_STATS=FILE the harness counts the messages by class
 * (digits folded into N, the path into FILE) and writes the table to FILE at
 * exit: the campaign's summary of what the rejections said.
 */
#ifndef ELIGN_FUZZ_COMMON_H
#define ELIGN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "common/base/error.h"

/* Write the input to <private dir>/input<suffix>; returns the path (static). */
const char *fuzz_write_input(const uint8_t *data, size_t size, const char *suffix);

/* The one-clear-message contract for a reader's result (what names the
 * reader). ELIGN_OK passes. */
void fuzz_check_result(elign_status st, const elign_error *err, const char *path, const char *what);

/* Abort with a message (a contract breach). */
_Noreturn void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Every HDF5 reader (and `elign info`) on one file, each held to the
 * contract (fuzz_h5.c). */
void fuzz_h5_read_all(const char *path);

/* Count one accepted input (for the statistics). */
void fuzz_count_accepted(const char *what);

#endif
