/* roles.c — MPI start-up, the role split of roles.h, and errors across ranks. */
#include "common/mpi/roles.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/log.h"

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
  if (running) MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}
