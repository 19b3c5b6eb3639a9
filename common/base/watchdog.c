/* watchdog.c — one helper thread that ends a stalled step (watchdog.h). */
#include "common/base/watchdog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/base/atomic_file.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int started = 0, armed = 0;
static unsigned generation = 0; /* counts arm calls: a re-arm restarts the clock */
static double armed_timeout;
static char step_text[256], kept_text[1024]; /* kept: may name a run directory twice */

#define WAIT_CLOCK_MAX_GAP 1.0 /* s between ticks beyond which this process was not running */
#define WATCHDOG_TICK_NS 200000000L

static double wall_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void elign_wait_clock_start(elign_wait_clock *c) {
  c->last = wall_s();
  c->elapsed = 0;
}

double elign_wait_clock_tick(elign_wait_clock *c) {
  double now = wall_s(), gap = now - c->last;
  c->last = now;
  if (gap > 0 && gap <= WAIT_CLOCK_MAX_GAP) c->elapsed += gap;
  return c->elapsed;
}

int elign_env_rank(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return atoi(v);
  }
  return 0;
}

static void fire(void) {
  char line[1400];
  int n = snprintf(line, sizeof line,
                   "elign: error on rank %d: %s did not finish within %g s (mpi.timeout): a rank is stopped or hung%s%s\n",
                   elign_env_rank(), step_text, armed_timeout, kept_text[0] ? "; " : "", kept_text);
  if (n > 0 && write(STDERR_FILENO, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1)) < 0) {
    /* nothing more to do: the process ends either way */
  }
  elign_atomic_discard_all();
  _exit(1);
}

/* Wake every 0.2 s; fire once the armed step has run past its timeout in
 * time this process was running (elign_wait_clock). */
static void *watch(void *unused) {
  (void)unused;
  pthread_mutex_lock(&lock);
  unsigned seen = 0;
  elign_wait_clock clock = {0, 0};
  for (;;) {
    if (!armed) {
      pthread_cond_wait(&changed, &lock);
      continue;
    }
    if (seen != generation) { /* a new step: its own clock */
      seen = generation;
      elign_wait_clock_start(&clock);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until); /* pthread_cond_timedwait's clock */
    until.tv_nsec += WATCHDOG_TICK_NS;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&changed, &lock, &until);
    if (armed && seen == generation && elign_wait_clock_tick(&clock) > armed_timeout) fire();
  }
  return NULL;
}

void elign_watchdog_arm(double timeout_s, const char *step, const char *kept) {
  if (timeout_s <= 0) {
    elign_watchdog_disarm();
    return;
  }
  pthread_mutex_lock(&lock);
  if (!started) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    started = pthread_create(&t, &attr, watch, NULL) == 0;
    pthread_attr_destroy(&attr);
  }
  armed_timeout = timeout_s;
  snprintf(step_text, sizeof step_text, "%s", step ? step : "a step with every rank");
  snprintf(kept_text, sizeof kept_text, "%s", kept ? kept : "");
  armed = 1;
  generation++;
  pthread_cond_signal(&changed);
  pthread_mutex_unlock(&lock);
}

void elign_watchdog_disarm(void) {
  pthread_mutex_lock(&lock);
  armed = 0;
  pthread_cond_signal(&changed);
  pthread_mutex_unlock(&lock);
}
