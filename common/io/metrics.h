/* metrics.h — one JSON object per line (JSON Lines) in the run directory.
 *
 * The learner (rank 0) writes one line per iteration, e.g.
 *
 *   {"iteration": 12, "reward_mean": -0.4213, "kl": null, "phase": "train"}
 *
 * Call sequence:
 *   elign_metrics *m = elign_metrics_open(run_dir, "metrics.jsonl", &err);
 *   elign_metrics_begin(m);
 *   elign_metrics_int(m, "iteration", it);
 *   elign_metrics_double(m, "reward_mean", r);   non-finite -> null
 *   elign_metrics_string(m, "phase", "train");   escaped as JSON
 *   elign_metrics_end(m, &err);                  writes the line, flushes
 *   elign_metrics_close(&m);
 *
 * The file is opened for appending, so a resumed run keeps the lines of the
 * run before it; each line is written by one call and flushed at once, so a
 * killed run loses at most the line being written. If the previous run died
 * mid-line, open ends that torn line with a newline (its bytes are kept;
 * line readers should skip a line that does not parse) so new lines start
 * clean. Doubles are written with the fewest digits that read back exactly.
 */
#ifndef ELIGN_METRICS_H
#define ELIGN_METRICS_H

#include "common/base/error.h"

typedef struct elign_metrics elign_metrics;

/* Open (create or append to) run_dir/file_name; the directory must exist.
 * Returns NULL with ELIGN_ERR_IO (naming the path) on failure. */
elign_metrics *elign_metrics_open(const char *run_dir, const char *file_name, elign_error *err);

/* The full path of the file (valid until close). */
const char *elign_metrics_path(const elign_metrics *m);

/* 1 if open found and terminated a torn last line of an earlier run. */
int elign_metrics_repaired_torn_line(const elign_metrics *m);

/* Start a record; fields follow in the order they are added. Keys are
 * escaped like strings. A field outside begin/end is a bug (ELIGN_ASSERT). */
void elign_metrics_begin(elign_metrics *m);
void elign_metrics_int(elign_metrics *m, const char *key, long long value);
void elign_metrics_double(elign_metrics *m, const char *key, double value);
void elign_metrics_bool(elign_metrics *m, const char *key, int value);
void elign_metrics_string(elign_metrics *m, const char *key, const char *value); /* NULL -> null */

/* Write the record as one line and flush it. ELIGN_ERR_IO (naming the file)
 * if the write fails (disk full, ...). */
elign_status elign_metrics_end(elign_metrics *m, elign_error *err);

/* Close the file and free; accepts NULL and clears the pointer. */
void elign_metrics_close(elign_metrics **m);

#endif
