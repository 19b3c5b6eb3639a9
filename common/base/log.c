/* log.c — rank-tagged levelled logging and progress lines. */
#include "common/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_rank = 0;
static int log_level = -1; /* -1: not yet read from the environment */

static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "SILENT"};

/* A terminal progress line is being rewritten in place: the next log line
 * must start on a fresh line instead of being glued to it. */
static int tty_line_open = 0;

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
  fprintf(stderr, "%s%s\n", tty_line_open ? "\n" : "", line);
  tty_line_open = 0;
}

double elign_wtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- progress ------------------------------------------------------------ */

#define PROGRESS_TTY_GAP 0.1 /* seconds between rewrites of a terminal line */

static void format_duration(double seconds, char *buf, size_t len) {
  if (!(seconds >= 0.0) || seconds > 1e8) { /* unknown, or rate still ~0 */
    snprintf(buf, len, "--");
    return;
  }
  long t = (long)(seconds + 0.5);
  if (t >= 3600)
    snprintf(buf, len, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60)
    snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
  else
    snprintf(buf, len, "%lds", t);
}

static void format_rate(double rate, char *buf, size_t len) {
  if (rate >= 100.0)
    snprintf(buf, len, "%.0f/s", rate);
  else if (rate >= 1.0)
    snprintf(buf, len, "%.1f/s", rate);
  else
    snprintf(buf, len, "%.3g/s", rate);
}

/* "label: 120/1000 (12.0%) 45.3/s ETA 19s" */
static void progress_body(const elign_progress *p, double now, char *buf, size_t len) {
  double elapsed = now - p->start;
  double rate = elapsed > 0.0 ? (double)(p->done - p->resumed) / elapsed : 0.0;
  char rate_text[32], eta_text[32];
  format_rate(rate, rate_text, sizeof rate_text);
  if (p->total > 0) {
    double eta = rate > 0.0 ? (double)(p->total - p->done) / rate : -1.0;
    format_duration(eta, eta_text, sizeof eta_text);
    snprintf(buf, len, "%s: %lld/%lld (%.1f%%) %s ETA %s", p->label, p->done, p->total,
             100.0 * (double)p->done / (double)p->total, rate_text, eta_text);
  } else {
    snprintf(buf, len, "%s: %lld %s", p->label, p->done, rate_text);
  }
}

static void progress_write(elign_progress *p, const char *body, int final) {
  if (p->tty) {
    /* \r returns to the line start, ESC[K clears what a longer line left. */
    fprintf(stderr, "\r[elign r%d %s] %s\033[K%s", log_rank, level_names[ELIGN_LOG_INFO], body, final ? "\n" : "");
    fflush(stderr);
    tty_line_open = !final;
    p->line_open = !final;
  } else {
    elign_log(ELIGN_LOG_INFO, "%s", body);
  }
}

/* ELIGN_PROGRESS_SECONDS, when set to a number >= 0, replaces every loop's
 * own interval: a batch log that wants one line a minute, or a script that
 * waits for the first line to know a command reached its work phase. */
static double progress_interval(double own) {
  const char *env = getenv("ELIGN_PROGRESS_SECONDS");
  char *end = NULL;
  double v = env && *env ? strtod(env, &end) : -1.0;
  if (end && *end == '\0' && v >= 0.0 && v <= 1e9) return v;
  return own > 0.0 ? own : 0.0;
}

void elign_progress_start(elign_progress *p, const char *label, long long total, double interval) {
  memset(p, 0, sizeof *p);
  snprintf(p->label, sizeof p->label, "%s", label ? label : "progress");
  p->total = total > 0 ? total : 0;
  p->interval = progress_interval(interval);
  p->start = elign_wtime();
  p->last_print = p->start;
  p->tty = isatty(STDERR_FILENO);
}

void elign_progress_update(elign_progress *p, long long done) {
  p->done = done;
  if (elign_log_get_level() > ELIGN_LOG_INFO) return;
  double now = elign_wtime();
  double gap = p->tty ? PROGRESS_TTY_GAP : p->interval;
  if (now - p->last_print < gap) return;
  p->last_print = now;
  char body[256];
  progress_body(p, now, body, sizeof body);
  progress_write(p, body, 0);
}

void elign_progress_resume_at(elign_progress *p, long long done) {
  p->resumed = done;
  p->done = done;
}

void elign_progress_finish(elign_progress *p) {
  if (elign_log_get_level() > ELIGN_LOG_INFO) return;
  double now = elign_wtime();
  double elapsed = now - p->start;
  char rate_text[32], time_text[32], body[256];
  format_rate(elapsed > 0.0 ? (double)(p->done - p->resumed) / elapsed : 0.0, rate_text, sizeof rate_text);
  snprintf(time_text, sizeof time_text, "%.1fs", elapsed);
  if (p->total > 0)
    snprintf(body, sizeof body, "%s: %lld/%lld done in %s (%s)", p->label, p->done, p->total, time_text, rate_text);
  else
    snprintf(body, sizeof body, "%s: %lld done in %s (%s)", p->label, p->done, time_text, rate_text);
  progress_write(p, body, 1);
  p->last_print = now;
}
