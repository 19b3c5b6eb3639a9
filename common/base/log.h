/* log.h — rank-tagged logging to stderr.
 *
 * Lines look like "[elign r0 INFO] message". The rank tag is set once after
 * MPI_Init (elign_log_set_rank); the level from --verbose/--quiet or
 * ELIGN_LOG_LEVEL (debug, info, warn, error). Each line is written with one
 * call, so lines of different ranks do not interleave mid-line. Progress
 * lines (below) go through the same tag and level; metrics JSON lines for
 * the run directory live in metrics.h.
 */
#ifndef ELIGN_LOG_H
#define ELIGN_LOG_H

typedef enum {
  ELIGN_LOG_DEBUG = 0,
  ELIGN_LOG_INFO = 1,
  ELIGN_LOG_WARN = 2,
  ELIGN_LOG_ERROR = 3,
  ELIGN_LOG_SILENT = 4
} elign_log_level;

void elign_log_set_rank(int rank);
void elign_log_set_level(elign_log_level level);
elign_log_level elign_log_get_level(void);
/* Parse "debug"/"info"/"warn"/"error"/"silent"; returns -1 if unknown. */
int elign_log_level_parse(const char *name);

void elign_log(elign_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define elign_debug(...) elign_log(ELIGN_LOG_DEBUG, __VA_ARGS__)
#define elign_info(...) elign_log(ELIGN_LOG_INFO, __VA_ARGS__)
#define elign_warn(...) elign_log(ELIGN_LOG_WARN, __VA_ARGS__)
#define elign_errorlog(...) elign_log(ELIGN_LOG_ERROR, __VA_ARGS__)

/* Wall-clock seconds from a monotonic clock (for rates, ETAs and timings). */
double elign_wtime(void);

/* ---- progress ------------------------------------------------------------
 * A long loop's progress, at INFO level:
 *
 *   elign_progress p;
 *   elign_progress_start(&p, "sampling", n_molecules, 10.0);
 *   for (...) { ...; elign_progress_update(&p, done); }
 *   elign_progress_finish(&p);
 *
 * On a terminal (stderr isatty) one line is rewritten in place (at most ten
 * times a second); otherwise (batch jobs, log files) a plain log line is
 * written at most every `interval` seconds (ELIGN_PROGRESS_SECONDS in the
 * environment overrides every interval):
 *
 *   [elign r0 INFO] sampling: 120/1000 (12.0%) 45.3/s ETA 19s
 *
 * finish prints the total and the mean rate once. Usually called on rank 0
 * only. Plain data: no allocation, nothing to free. */
typedef struct {
  char label[64];
  long long total;   /* units expected; 0 if unknown (no percentage or ETA) */
  long long done;    /* units done at the last update */
  long long resumed; /* units done before this run (a resumed loop): not counted in the rate */
  double start;      /* elign_wtime() at start */
  double last_print; /* elign_wtime() of the last line written */
  double interval;   /* seconds between plain lines */
  int tty;           /* rewrite one line in place (stderr is a terminal) */
  int line_open;     /* a tty line was written and awaits its newline */
} elign_progress;

void elign_progress_start(elign_progress *p, const char *label, long long total, double interval);
void elign_progress_update(elign_progress *p, long long done);
/* A loop resumed at `done` units: the rate and ETA count only the units done since. */
void elign_progress_resume_at(elign_progress *p, long long done);
void elign_progress_finish(elign_progress *p);

#endif
