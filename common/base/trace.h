/* trace.h — per-rank timeline events as Chrome trace JSON (run.trace).
 *
 * A rank records spans (name, category, start, duration, iteration) of
 * what it does; the file opens in Perfetto (ui.perfetto.dev) or
 * chrome://tracing, and `elign trace summary RUN` turns the files of a run
 * into busy / idle fractions per role and the critical path of an iteration.
 *
 *   elign_trace_start("RUN/trace/rank_00001.json", 1, "actor");  // once; off until called
 *   elign_trace_iteration(it);                                    // label of the next spans
 *   double t = elign_trace_begin();
 *   ... sample ...
 *   elign_trace_end(t, "sample", ELIGN_TRACE_BUSY);
 *   elign_trace_finish();                                         // closes the JSON array
 *
 * Cost when off: one branch per hook. When on, events are buffered and
 * appended to the file at the end of every iteration span (and every 256
 * events), so a killed run keeps its finished iterations; the file is opened at the first flush
 * whose directory exists (an oracle rank can start before the learner has
 * made the run directory). A run killed before elign_trace_finish leaves the
 * array without its closing bracket, which the Chrome trace format allows
 * (and the summary reads). Main thread only; no MPI (timestamps are
 * CLOCK_REALTIME microseconds, comparable across the ranks of a node and,
 * within the clock synchronisation of the cluster, across nodes).
 *
 * Categories: "busy" (computing: sampling, oracle evaluation, gradients, the
 * optimizer, rewards), "wait" (blocked on another rank: oracle answers,
 * reductions, broadcasts), "io" (checkpoints) and "iteration" (the whole
 * iteration on the rank, the frame of the critical path).
 */
#ifndef ELIGN_TRACE_H
#define ELIGN_TRACE_H

#define ELIGN_TRACE_BUSY "busy"
#define ELIGN_TRACE_WAIT "wait"
#define ELIGN_TRACE_IO "io"
#define ELIGN_TRACE_ITERATION "iteration"

/* Start recording for this process (rank `rank`, role "learner", "actor",
 * "oracle" ...) into `path` (copied). A second call is ignored. */
void elign_trace_start(const char *path, int rank, const char *role);
/* Is this process recording? */
int elign_trace_on(void);
/* The iteration (or optimizer step) the following spans belong to. */
void elign_trace_iteration(long long iteration);
/* Now, in microseconds (0 when not recording: the matching end is a no-op). */
double elign_trace_begin(void);
/* Record the span [t0, now) as `name` (a literal: the pointer is kept) of
 * category `cat`. */
void elign_trace_end(double t0, const char *name, const char *cat);
/* Write what is buffered, close the array and the file. Idempotent. */
void elign_trace_finish(void);

#endif
