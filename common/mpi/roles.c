/* roles.c — MPI start-up, the role split of roles.h, and errors across ranks. */
#include "common/mpi/roles.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base/atomic_file.h"
#include "common/base/interrupt.h"
#include "common/base/log.h"
#include "common/base/watchdog.h"

/* ---- MPI lifetime -------------------------------------------------------- */

static int mpi_started_here = 0; /* only the process-wide fact "we called MPI_Init" */

static void mpi_error_text(int code, char *buf, size_t len) {
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  if (MPI_Error_string(code, text, &n) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error code %d", code);
  snprintf(buf, len, "%s", text);
}

elign_status elign_mpi_init(int *argc, char ***argv, elign_error *err) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized) return ELIGN_FAIL(err, ELIGN_ERR_MPI, "MPI was already finalized; it cannot be started again");
  if (!initialized) {
    int provided = MPI_THREAD_SINGLE;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
      char text[MPI_MAX_ERROR_STRING];
      mpi_error_text(rc, text, sizeof text);
      return ELIGN_FAIL(err, ELIGN_ERR_MPI, "MPI_Init_thread failed: %s", text);
    }
    mpi_started_here = 1;
  }
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  if (level < MPI_THREAD_FUNNELED) {
    ELIGN_FAIL(err, ELIGN_ERR_MPI, "the MPI library provides thread level %d, below MPI_THREAD_FUNNELED (%d)", level,
               MPI_THREAD_FUNNELED);
    elign_error_hint(err, "OpenMP threads run inside each rank; use an MPI built with thread support");
    return ELIGN_ERR_MPI;
  }
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  elign_log_set_rank(rank);
  return ELIGN_OK;
}

void elign_mpi_finalize(void) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized && mpi_started_here) MPI_Finalize();
}

/* ---- the role layout ----------------------------------------------------- */

static void world_zero(elign_world *w) {
  memset(w, 0, sizeof *w);
  w->comm = MPI_COMM_NULL;
  w->actors = MPI_COMM_NULL;
  w->oracles = MPI_COMM_NULL;
  w->dft = MPI_COMM_NULL;
  w->actor_index = w->oracle_index = w->dft_index = -1;
  w->my_oracle = -1;
}

/* The same checks on every rank, from the same numbers, so every rank
 * reaches the same verdict without communicating. */
static elign_status validate_counts(int size, int oracle_ranks, int dft_ranks, elign_error *err) {
  if (oracle_ranks < 0) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "mpi.oracle_ranks=%d must be >= 0", oracle_ranks);
  if (dft_ranks < 0) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "mpi.dft_ranks=%d must be >= 0", dft_ranks);
  if (size == 1) return ELIGN_OK; /* a single process folds every role in */
  if ((long)oracle_ranks + dft_ranks >= size) {
    ELIGN_FAIL(err, ELIGN_ERR_CONFIG,
               "mpi.oracle_ranks=%d + mpi.dft_ranks=%d leave no actor rank in a world of %d (need at least 1)",
               oracle_ranks, dft_ranks, size);
    elign_error_hint(err, "lower mpi.oracle_ranks or mpi.dft_ranks, or start at least %ld ranks (mpirun -np %ld)",
                     (long)oracle_ranks + dft_ranks + 1, (long)oracle_ranks + dft_ranks + 1);
    return ELIGN_ERR_CONFIG;
  }
  return ELIGN_OK;
}

/* Ranks that read different configs would build different layouts and
 * deadlock later; catch it here, on every rank alike. */
static elign_status check_counts_agree(MPI_Comm comm, int oracle_ranks, int dft_ranks, elign_error *err) {
  int local[4] = {oracle_ranks, -oracle_ranks, dft_ranks, -dft_ranks};
  int global[4];
  MPI_Allreduce(local, global, 4, MPI_INT, MPI_MAX, comm);
  if (global[0] != -global[1])
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "mpi.oracle_ranks differs between ranks (from %d to %d)", -global[1],
                      global[0]);
  if (global[2] != -global[3])
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "mpi.dft_ranks differs between ranks (from %d to %d)", -global[3],
                      global[2]);
  return ELIGN_OK;
}

static int *rank_range(int first, int count, const char *label) {
  int *ranks = elign_malloc(sizeof(int) * (size_t)(count > 0 ? count : 1), label);
  for (int i = 0; i < count; i++) ranks[i] = first + i;
  return ranks;
}

/* Fill roles and lists for (size, rank); no communication. */
static void world_layout(elign_world *w, int oracle_ranks, int dft_ranks) {
  int size = w->size, rank = w->rank;
  if (size == 1) {
    if (oracle_ranks > 0 || dft_ranks > 0)
      snprintf(w->note, sizeof w->note,
               "single process: mpi.oracle_ranks=%d and mpi.dft_ranks=%d are evaluated in-process", oracle_ranks,
               dft_ranks);
    oracle_ranks = dft_ranks = 0;
  }
  w->n_actors = size - oracle_ranks - dft_ranks;
  w->n_oracles = oracle_ranks;
  w->n_dft = dft_ranks;
  w->actor_ranks = rank_range(0, w->n_actors, "roles:actor_ranks");
  w->oracle_ranks = rank_range(w->n_actors, w->n_oracles, "roles:oracle_ranks");
  w->dft_ranks = rank_range(w->n_actors + w->n_oracles, w->n_dft, "roles:dft_ranks");
  w->embedded_oracle = w->n_oracles == 0;
  w->embedded_dft = w->n_dft == 0;

  w->is_learner = rank == 0;
  w->is_actor = rank < w->n_actors;
  w->is_oracle = !w->is_actor && rank < w->n_actors + w->n_oracles;
  w->is_dft = rank >= w->n_actors + w->n_oracles;
  w->actor_index = w->is_actor ? rank : -1;
  w->oracle_index = w->is_oracle ? rank - w->n_actors : -1;
  w->dft_index = w->is_dft ? rank - w->n_actors - w->n_oracles : -1;
  w->my_oracle = elign_world_oracle_of(w, rank);
}

static int split_role(MPI_Comm comm, int member, int rank, MPI_Comm *out) {
  return MPI_Comm_split(comm, member ? 0 : MPI_UNDEFINED, rank, out);
}

elign_status elign_world_init(elign_world *w, MPI_Comm parent, int oracle_ranks, int dft_ranks, elign_error *err) {
  world_zero(w);
  int size = 1, rank = 0;
  MPI_Comm_size(parent, &size);
  MPI_Comm_rank(parent, &rank);
  elign_status st = check_counts_agree(parent, oracle_ranks, dft_ranks, err);
  if (st == ELIGN_OK) st = validate_counts(size, oracle_ranks, dft_ranks, err);
  if (st != ELIGN_OK) return st;

  w->size = size;
  w->rank = rank;
  world_layout(w, oracle_ranks, dft_ranks);

  int rc = MPI_Comm_dup(parent, &w->comm);
  if (rc == MPI_SUCCESS) rc = split_role(w->comm, w->is_actor, rank, &w->actors);
  if (rc == MPI_SUCCESS) rc = split_role(w->comm, w->is_oracle, rank, &w->oracles);
  if (rc == MPI_SUCCESS) rc = split_role(w->comm, w->is_dft, rank, &w->dft);
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    mpi_error_text(rc, text, sizeof text);
    elign_world_free(w);
    return ELIGN_FAIL(err, ELIGN_ERR_MPI, "rank %d: cannot build the role communicators: %s", rank, text);
  }
  return ELIGN_OK;
}

void elign_world_free(elign_world *w) {
  if (!w) return;
  MPI_Comm *comms[] = {&w->actors, &w->oracles, &w->dft, &w->comm};
  int finalized = 0;
  MPI_Finalized(&finalized);
  for (size_t i = 0; i < sizeof comms / sizeof comms[0]; i++)
    if (*comms[i] != MPI_COMM_NULL && !finalized) MPI_Comm_free(comms[i]);
  elign_free(w->actor_ranks);
  elign_free(w->oracle_ranks);
  elign_free(w->dft_ranks);
  world_zero(w);
}

int elign_world_oracle_of(const elign_world *w, int actor_rank) {
  if (actor_rank < 0 || actor_rank >= w->n_actors) return -1;
  if (w->n_oracles == 0) return actor_rank;
  /* actor_ranks[i] == i, so the actor's rank is its index */
  return w->oracle_ranks[actor_rank % w->n_oracles];
}

int elign_world_oracle_clients(const elign_world *w, int oracle_rank, int *clients, int max) {
  int count = 0;
  for (int i = 0; i < w->n_actors; i++) {
    if (w->n_oracles == 0 || elign_world_oracle_of(w, w->actor_ranks[i]) != oracle_rank) continue;
    if (count < max) clients[count] = w->actor_ranks[i];
    count++;
  }
  return count;
}

/* Append "r0,r1" or "r4-r9" style lists; runs of three or more collapse. */
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...) {
  if (*pos >= len) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
  va_end(ap);
  if (n > 0) *pos += (size_t)n < len - *pos ? (size_t)n : len - *pos;
}

static void append_ranks(char *buf, size_t len, size_t *pos, const int *ranks, int n) {
  for (int i = 0; i < n;) {
    int j = i;
    while (j + 1 < n && ranks[j + 1] == ranks[j] + 1) j++;
    const char *sep = i > 0 ? "," : "";
    if (j - i >= 2) {
      append(buf, len, pos, "%sr%d-r%d", sep, ranks[i], ranks[j]);
    } else {
      append(buf, len, pos, "%sr%d", sep, ranks[i]);
      if (j > i) append(buf, len, pos, ",r%d", ranks[j]);
    }
    i = j + 1;
  }
}

const char *elign_world_summary(const elign_world *w, char *buf, size_t len) {
  size_t pos = 0;
  if (len == 0) return buf;
  buf[0] = '\0';
  append(buf, len, &pos, "world %d: learner r0; actors ", w->size);
  append_ranks(buf, len, &pos, w->actor_ranks, w->n_actors);
  append(buf, len, &pos, "; oracles ");
  if (w->embedded_oracle)
    append(buf, len, &pos, "embedded");
  else
    append_ranks(buf, len, &pos, w->oracle_ranks, w->n_oracles);
  append(buf, len, &pos, "; dft ");
  if (w->embedded_dft)
    append(buf, len, &pos, "embedded");
  else
    append_ranks(buf, len, &pos, w->dft_ranks, w->n_dft);
  return buf;
}

/* ---- errors across ranks ------------------------------------------------- */

static int mpi_running(void) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

elign_status elign_mpi_agree(MPI_Comm comm, elign_error *err) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int failed = err && err->status != ELIGN_OK;
  int local[2] = {failed ? rank : size, failed};
  int lowest = size, n_failed = 0;
  MPI_Allreduce(&local[0], &lowest, 1, MPI_INT, MPI_MIN, comm);
  MPI_Allreduce(&local[1], &n_failed, 1, MPI_INT, MPI_SUM, comm);
  if (n_failed == 0) return ELIGN_OK;
  if (n_failed == size) return err->status; /* everyone failed: each keeps its own message */

  /* Ship the lowest failing rank's status, message and hint to everyone. */
  int status = failed ? (int)err->status : 0;
  char msg[ELIGN_ERROR_MSG_LEN] = "", hint[ELIGN_ERROR_HINT_LEN] = "";
  if (rank == lowest) {
    memcpy(msg, err->msg, sizeof msg);
    memcpy(hint, err->hint, sizeof hint);
  }
  MPI_Bcast(&status, 1, MPI_INT, lowest, comm);
  MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, lowest, comm);
  MPI_Bcast(hint, (int)sizeof hint, MPI_CHAR, lowest, comm);
  msg[sizeof msg - 1] = hint[sizeof hint - 1] = '\0';
  if (!err) return (elign_status)status;
  if (lowest == 0) /* rank 0's own words: what a single process would have said */
    ELIGN_FAIL(err, (elign_status)status, "%s", msg);
  else
    ELIGN_FAIL(err, (elign_status)status, "rank %d: %s", lowest, msg);
  if (hint[0]) elign_error_hint(err, "%s", hint);
  return (elign_status)status;
}

/* ---- bounded waits --------------------------------------------------------- */

/* Sleep a little longer each time (20 µs .. 1 ms): prompt, but no spinning. */
static void backoff(long *ns) {
  struct timespec t = {0, *ns};
  nanosleep(&t, NULL);
  if (*ns < 1000000) *ns *= 2;
}

int elign_mpi_wait_within(MPI_Request *req, double timeout_s) {
  if (timeout_s <= 0) {
    MPI_Wait(req, MPI_STATUS_IGNORE);
    return 1;
  }
  elign_wait_clock clock; /* counts only time this process ran: a stop of our own blames nobody */
  elign_wait_clock_start(&clock);
  long ns = 20000;
  for (;;) {
    int done = 0;
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (done) return 1;
    if (elign_wait_clock_tick(&clock) > timeout_s) return 0;
    backoff(&ns);
  }
}

/* What every rank tells rank 0, and what rank 0 tells everyone. */
typedef struct {
  int32_t status, lowest, n_failed;
  char msg[ELIGN_ERROR_MSG_LEN];
  char hint[ELIGN_ERROR_HINT_LEN];
} agree_report;

/* Rank 0: receive every rank's report within timeout_s; on a timeout err
 * names the ranks that did not answer. */
static elign_status agree_collect(MPI_Comm comm, int size, double timeout_s, agree_report *reports,
                                  elign_error *err) {
  MPI_Request *req = elign_malloc((size_t)size * sizeof *req, "agree:requests");
  req[0] = MPI_REQUEST_NULL;
  for (int r = 1; r < size; r++)
    MPI_Irecv(&reports[r], (int)sizeof reports[r], MPI_BYTE, r, ELIGN_AGREE_TAG, comm, &req[r]);
  elign_wait_clock clock;
  elign_wait_clock_start(&clock);
  long ns = 20000;
  int all = 0;
  while (!all) {
    MPI_Testall(size, req, &all, MPI_STATUSES_IGNORE);
    if (all || elign_wait_clock_tick(&clock) > timeout_s) break;
    backoff(&ns);
  }
  elign_status st = ELIGN_OK;
  if (!all) {
    char who[256] = "";
    size_t used = 0;
    int n_silent = 0;
    for (int r = 1; r < size; r++) {
      int done = 0;
      if (req[r] != MPI_REQUEST_NULL) MPI_Test(&req[r], &done, MPI_STATUS_IGNORE);
      if (req[r] == MPI_REQUEST_NULL || done) continue;
      if (used < sizeof who) used += (size_t)snprintf(who + used, sizeof who - used, "%s%d", n_silent ? ", " : "", r);
      n_silent++;
    }
    ELIGN_FAIL(err, ELIGN_ERR_TIMEOUT, "rank%s %s did not answer within %g s (mpi.timeout): stopped, hung or too "
               "slow; ending the job", n_silent > 1 ? "s" : "", who, timeout_s);
    elign_error_hint(err, "if the rank was only busy, raise mpi.timeout (--timeout)");
    st = ELIGN_ERR_TIMEOUT; /* the requests stay posted: the job ends */
  }
  free(req);
  return st;
}

elign_status elign_mpi_agree_within(MPI_Comm comm, double timeout_s, elign_error *err) {
  if (timeout_s <= 0) return elign_mpi_agree(comm, err);
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (size == 1) return err ? err->status : ELIGN_OK;
  agree_report mine, verdict;
  memset(&mine, 0, sizeof mine);
  mine.status = err ? (int32_t)err->status : 0;
  if (err && err->status != ELIGN_OK) {
    memcpy(mine.msg, err->msg, sizeof mine.msg);
    memcpy(mine.hint, err->hint, sizeof mine.hint);
  }
  if (rank == 0) {
    agree_report *reports = elign_malloc((size_t)size * sizeof *reports, "agree:reports");
    reports[0] = mine;
    elign_status st = agree_collect(comm, size, timeout_s, reports, err);
    if (st != ELIGN_OK) {
      free(reports);
      return st;
    }
    memset(&verdict, 0, sizeof verdict);
    int n_failed = 0;
    for (int r = 0; r < size; r++) {
      if (reports[r].status == ELIGN_OK) continue;
      if (n_failed++ == 0) { /* the lowest failing rank speaks for all */
        verdict = reports[r];
        verdict.lowest = r;
      }
    }
    verdict.n_failed = n_failed;
    free(reports);
    MPI_Request *req = elign_malloc((size_t)size * sizeof *req, "agree:verdicts");
    for (int r = 1; r < size; r++) MPI_Isend(&verdict, (int)sizeof verdict, MPI_BYTE, r, ELIGN_AGREE_TAG, comm, &req[r]);
    for (int r = 1; r < size; r++) elign_mpi_wait_within(&req[r], timeout_s); /* small: completes at once */
    free(req);
  } else {
    MPI_Request req[2];
    MPI_Isend(&mine, (int)sizeof mine, MPI_BYTE, 0, ELIGN_AGREE_TAG, comm, &req[0]);
    MPI_Irecv(&verdict, (int)sizeof verdict, MPI_BYTE, 0, ELIGN_AGREE_TAG, comm, &req[1]);
    /* twice rank 0's wait (it names a silent rank first), staggered by rank
     * so that one rank, not all, ends the job (simultaneous MPI_Abort calls
     * can hang Open MPI) */
    double wait = timeout_s * (2.0 + 0.25 * (rank % 8));
    if (!elign_mpi_wait_within(&req[1], wait)) {
      ELIGN_FAIL(err, ELIGN_ERR_TIMEOUT, "rank 0 did not answer within %g s (mpi.timeout %g s): stopped, hung or "
                 "too slow; ending the job", wait, timeout_s);
      elign_error_hint(err, "if rank 0 was only busy, raise mpi.timeout (--timeout)");
      return ELIGN_ERR_TIMEOUT;
    }
    elign_mpi_wait_within(&req[0], timeout_s);
  }
  /* the verdict, read as elign_mpi_agree reads its reductions */
  if (verdict.n_failed == 0) return ELIGN_OK;
  if (verdict.n_failed == size) return err->status; /* everyone failed: each keeps its own message */
  verdict.msg[sizeof verdict.msg - 1] = verdict.hint[sizeof verdict.hint - 1] = '\0';
  if (verdict.lowest == 0)
    ELIGN_FAIL(err, (elign_status)verdict.status, "%s", verdict.msg);
  else
    ELIGN_FAIL(err, (elign_status)verdict.status, "rank %d: %s", verdict.lowest, verdict.msg);
  if (verdict.hint[0]) elign_error_hint(err, "%s", verdict.hint);
  return (elign_status)verdict.status;
}

elign_status elign_world_fail_all(const elign_world *w, const elign_error *err) {
  int rank = 0;
  if (w && w->comm != MPI_COMM_NULL)
    rank = w->rank;
  else if (mpi_running())
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    elign_error_print(err);
    fflush(stderr);
  }
  return err ? err->status : ELIGN_OK;
}

_Noreturn void elign_world_fail_one(const elign_error *err) {
  int rank = 0;
  int running = mpi_running();
  if (running) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const char *msg = err && err->msg[0] ? err->msg : elign_status_string(err ? err->status : ELIGN_ERR_MPI);
  fprintf(stderr, "elign: error on rank %d: %s\n", rank, msg);
  if (err && err->hint[0]) fprintf(stderr, "HINT: %s\n", err->hint);
  fflush(stderr);
  elign_atomic_discard_all(); /* no half-written output survives the abort */
  elign_interrupt_silence();   /* the SIGTERM MPI_Abort sends back needs no second line */
  if (running) MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}
