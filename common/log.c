/* log.c — rank-tagged levelled logging. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int log_rank = 0;
static int log_level = -1; /* -1: not yet read from the environment */

static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "SILENT"};

void elign_log_set_rank(int rank) { log_rank = rank; }

void elign_log_set_level(elign_log_level level) { log_level = (int)level; }

int elign_log_level_parse(const char *name) {
  static const char *lower[] = {"debug", "info", "warn", "error", "silent"};
  for (int i = 0; i < 5; i++)
    if (strcmp(name, lower[i]) == 0) return i;
  return -1;
}

elign_log_level elign_log_get_level(void) {
  if (log_level < 0) {
    const char *env = getenv("ELIGN_LOG_LEVEL");
    int parsed = env ? elign_log_level_parse(env) : -1;
    log_level = parsed >= 0 ? parsed : ELIGN_LOG_INFO;
  }
  return (elign_log_level)log_level;
}

void elign_log(elign_log_level level, const char *fmt, ...) {
  if (level < elign_log_get_level()) return;
  /* Build the whole line first so lines from different ranks do not interleave mid-line. */
  char line[4096];
  int n = snprintf(line, sizeof line, "[elign r%d %s] ", log_rank, level_names[level]);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line);
}

double elign_wtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
