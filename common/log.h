/* log.h — rank-tagged logging to stderr.
 *
 * Lines look like "[elign r0 INFO] message". The rank tag is set once after
 * MPI_Init (elign_log_set_rank); the level from --verbose/--quiet or
 * ELIGN_LOG_LEVEL (debug, info, warn, error). Progress lines and metrics
 * JSON lines live in progress.h / metrics.h.
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

#endif
