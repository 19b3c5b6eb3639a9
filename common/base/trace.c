/* trace.c — the Chrome trace JSON recorder of trace.h. */
#include "common/base/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base/memory.h"

#define TRACE_FLUSH_EVENTS 256 /* events buffered before a write to the file */

typedef struct {
  const char *name, *cat;
  double ts, dur; /* microseconds */
  long long iteration;
} trace_event;

static struct {
  int on;
  int rank;
  char role[32];
  char *path;
  FILE *file;
  int written; /* events in the file so far (the comma before the next) */
  long long iteration;
  trace_event *ev;
  int n, cap;
} tr;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

/* The file, once its directory exists: the array's opening and the track's name. */
static int trace_open(void) {
  if (tr.file) return 1;
  tr.file = fopen(tr.path, "w");
  if (!tr.file) return 0;
  fprintf(tr.file,
          "[\n{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"tid\": 0, \"args\": {\"name\": \"rank %d "
          "(%s)\"}},\n{\"name\": \"process_sort_index\", \"ph\": \"M\", \"pid\": %d, \"tid\": 0, \"args\": "
          "{\"sort_index\": %d}}",
          tr.rank, tr.rank, tr.role, tr.rank, tr.rank);
  tr.written = 2;
  return 1;
}

static void trace_flush(void) {
  if (!trace_open()) return; /* keep buffering until the run directory exists */
  for (int i = 0; i < tr.n; i++) {
    const trace_event *e = &tr.ev[i];
    fprintf(tr.file,
            ",\n{\"name\": \"%s\", \"cat\": \"%s\", \"ph\": \"X\", \"ts\": %.1f, \"dur\": %.1f, \"pid\": %d, \"tid\": 0, "
            "\"args\": {\"iteration\": %lld, \"role\": \"%s\"}}",
            e->name, e->cat, e->ts, e->dur, tr.rank, e->iteration, tr.role);
  }
  tr.written += tr.n;
  tr.n = 0;
  fflush(tr.file);
}

void elign_trace_start(const char *path, int rank, const char *role) {
  if (tr.on) return;
  tr.on = 1;
  tr.rank = rank;
  snprintf(tr.role, sizeof tr.role, "%s", role ? role : "rank");
  tr.path = elign_malloc(strlen(path) + 1, "trace:path");
  strcpy(tr.path, path);
  tr.iteration = -1;
}

int elign_trace_on(void) { return tr.on; }

void elign_trace_iteration(long long iteration) { tr.iteration = iteration; }

double elign_trace_begin(void) { return tr.on ? now_us() : 0.0; }

void elign_trace_end(double t0, const char *name, const char *cat) {
  if (!tr.on || t0 == 0.0) return;
  double t1 = now_us();
  if (tr.n == tr.cap) tr.ev = elign_realloc(tr.ev, (size_t)(tr.cap = tr.cap ? 2 * tr.cap : 64) * sizeof *tr.ev, "trace:events");
  tr.ev[tr.n++] = (trace_event){.name = name, .cat = cat, .ts = t0, .dur = t1 - t0, .iteration = tr.iteration};
  /* whole iterations reach the file (a killed run keeps them), in blocks of events otherwise */
  if (tr.n >= TRACE_FLUSH_EVENTS || strcmp(cat, ELIGN_TRACE_ITERATION) == 0) trace_flush();
}

void elign_trace_finish(void) {
  if (!tr.on) return;
  trace_flush();
  if (tr.file) {
    fprintf(tr.file, "\n]\n");
    fclose(tr.file);
  }
  elign_free(tr.ev);
  elign_free(tr.path);
  memset(&tr, 0, sizeof tr);
}
