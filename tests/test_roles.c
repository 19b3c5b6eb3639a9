/* test_roles.c — the MPI role split, on 1, 2 and 4 ranks (and without mpirun).
 *
 * For each (mpi.oracle_ranks, mpi.dft_ranks) combination, every rank checks
 * its own roles, the rank lists, the communicators and its oracle against
 * the layout of roles.h recomputed here, then the ranks exchange real
 * messages: each actor asks its oracle (or itself, when embedded) and the
 * learner asks each DFT rank. Bad combinations must give the same config
 * error on every rank, printed by rank 0 only.
 *
 * `test_roles --fail-one` instead makes the last rank die through
 * elign_world_fail_one (a ctest checks the printed rank and message).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mpi/roles.h"
#include "tests/testutil.h"

static int world_size = 1, world_rank = 0;

/* All ranks agree that `ok` held everywhere (so one rank's failure shows on rank 0 too). */
static int all_ranks(int ok) {
  int all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all;
}

static int layout_valid(int size, int oracle, int dft) {
  return oracle >= 0 && dft >= 0 && (size == 1 || oracle + dft < size);
}

/* ---- layout ------------------------------------------------------------- */

static int comm_size_or_zero(MPI_Comm comm) {
  int n = 0;
  if (comm != MPI_COMM_NULL) MPI_Comm_size(comm, &n);
  return n;
}

static void check_layout(const elign_world *w, int oracle, int dft) {
  const int size = world_size, r = world_rank;
  if (size == 1) oracle = dft = 0; /* a single process folds every role in */
  const int na = size - oracle - dft;
  int ok = 1;
  ok &= w->size == size && w->rank == r;
  ok &= w->is_learner == (r == 0);
  ok &= w->is_actor == (r < na);
  ok &= w->is_oracle == (r >= na && r < na + oracle);
  ok &= w->is_dft == (r >= na + oracle);
  ok &= w->is_actor + w->is_oracle + w->is_dft == 1;
  ok &= w->embedded_oracle == (oracle == 0) && w->embedded_dft == (dft == 0);
  ok &= w->n_actors == na && w->n_oracles == oracle && w->n_dft == dft;
  for (int i = 0; i < na; i++) ok &= w->actor_ranks[i] == i;
  for (int i = 0; i < oracle; i++) ok &= w->oracle_ranks[i] == na + i;
  for (int i = 0; i < dft; i++) ok &= w->dft_ranks[i] == na + oracle + i;
  ok &= w->actor_index == (r < na ? r : -1);
  ok &= w->oracle_index == (w->is_oracle ? r - na : -1);
  ok &= w->dft_index == (w->is_dft ? r - na - oracle : -1);
  int want_oracle = r < na ? (oracle ? na + r % oracle : r) : -1; /* round-robin over oracle ranks */
  ok &= w->my_oracle == want_oracle;
  if (!ok) fprintf(stderr, "rank %d: layout mismatch for oracle=%d dft=%d\n", r, oracle, dft);
  CHECK(all_ranks(ok));

  /* Communicators: members only, ordered by world rank (learner first). */
  int comm_ok = comm_size_or_zero(w->actors) == (w->is_actor ? na : 0);
  comm_ok &= comm_size_or_zero(w->oracles) == (w->is_oracle ? oracle : 0);
  comm_ok &= comm_size_or_zero(w->dft) == (w->is_dft ? dft : 0);
  comm_ok &= comm_size_or_zero(w->comm) == size;
  if (w->is_actor) {
    int actor_rank = -1;
    MPI_Comm_rank(w->actors, &actor_rank);
    comm_ok &= actor_rank == r;
  }
  CHECK(all_ranks(comm_ok));

  /* Every actor is served by exactly one oracle: the clients lists partition the actors. */
  int served = 0, clients_ok = 1;
  for (int k = 0; k < oracle; k++) {
    int clients[64];
    int n = elign_world_oracle_clients(w, w->oracle_ranks[k], clients, 64);
    served += n;
    for (int i = 0; i < n && i < 64; i++) clients_ok &= clients[i] % oracle == k && clients[i] < na;
  }
  CHECK(oracle == 0 || served == na);
  CHECK(clients_ok);
  CHECK(elign_world_oracle_clients(w, -5, NULL, 0) == 0);
}

/* ---- a real exchange ---------------------------------------------------- */

enum { TAG_ORACLE = 11, TAG_DFT = 12 };

/* What an "oracle" computes for a request; the same function runs in-process
 * when the oracle is embedded. */
static int serve(int request) { return 3 * request + 1; }

static void check_exchange(const elign_world *w, int round) {
  int ok = 1;
  if (w->is_actor) {
    int request = 1000 * round + w->rank;
    int answer[2] = {-1, -1}; /* {served by, value} */
    if (w->embedded_oracle) {
      answer[0] = w->rank;
      answer[1] = serve(request);
    } else {
      MPI_Sendrecv(&request, 1, MPI_INT, w->my_oracle, TAG_ORACLE, answer, 2, MPI_INT, w->my_oracle, TAG_ORACLE,
                   w->comm, MPI_STATUS_IGNORE);
    }
    ok &= answer[0] == w->my_oracle && answer[1] == serve(request);
  }
  if (w->is_oracle) {
    int clients[64];
    int n = elign_world_oracle_clients(w, w->rank, clients, 64);
    int seen[64] = {0};
    for (int i = 0; i < n; i++) { /* clients arrive in any order */
      int request;
      MPI_Status status;
      MPI_Recv(&request, 1, MPI_INT, MPI_ANY_SOURCE, TAG_ORACLE, w->comm, &status);
      int from = status.MPI_SOURCE, known = 0;
      for (int k = 0; k < n; k++)
        if (clients[k] == from) known = 1, seen[k]++;
      ok &= known && request == 1000 * round + from;
      int answer[2] = {w->rank, serve(request)};
      MPI_Send(answer, 2, MPI_INT, from, TAG_ORACLE, w->comm);
    }
    for (int k = 0; k < n; k++) ok &= seen[k] == 1;
  }
  /* The learner asks each DFT rank in turn. */
  if (w->is_learner) {
    for (int k = 0; k < w->n_dft; k++) {
      int request = 7 * round + k, answer = -1;
      MPI_Sendrecv(&request, 1, MPI_INT, w->dft_ranks[k], TAG_DFT, &answer, 1, MPI_INT, w->dft_ranks[k], TAG_DFT,
                   w->comm, MPI_STATUS_IGNORE);
      ok &= answer == serve(request);
    }
  }
  if (w->is_dft) {
    int request;
    MPI_Recv(&request, 1, MPI_INT, 0, TAG_DFT, w->comm, MPI_STATUS_IGNORE);
    ok &= request == 7 * round + w->dft_index;
    int answer = serve(request);
    MPI_Send(&answer, 1, MPI_INT, 0, TAG_DFT, w->comm);
  }
  /* Collectives inside each role communicator. */
  MPI_Comm comms[3] = {w->actors, w->oracles, w->dft};
  const int *lists[3] = {w->actor_ranks, w->oracle_ranks, w->dft_ranks};
  const int counts[3] = {w->n_actors, w->n_oracles, w->n_dft};
  for (int c = 0; c < 3; c++) {
    if (comms[c] == MPI_COMM_NULL) continue;
    int sum = 0, want = 0;
    MPI_Allreduce(&w->rank, &sum, 1, MPI_INT, MPI_SUM, comms[c]);
    for (int i = 0; i < counts[c]; i++) want += lists[c][i];
    ok &= sum == want;
  }
  if (!ok) fprintf(stderr, "rank %d: exchange failed in round %d\n", w->rank, round);
  CHECK(all_ranks(ok));
}

/* ---- errors ------------------------------------------------------------- */

/* Run elign_world_fail_all with this rank's stderr captured; return what it printed. */
static void capture_fail_all(const elign_world *w, const elign_error *err, char *out, size_t len) {
  char path[256];
  snprintf(path, sizeof path, "test_roles_stderr_r%d_%d.txt", world_rank, (int)getpid());
  fflush(stderr);
  int saved = dup(2);
  FILE *f = fopen(path, "w+");
  ELIGN_ASSERT(f && saved >= 0);
  dup2(fileno(f), 2);
  elign_status st = elign_world_fail_all(w, err);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(f);
  size_t n = fread(out, 1, len - 1, f);
  out[n] = '\0';
  fclose(f);
  remove(path);
  CHECK(st == err->status);
}

static void check_bad_combo(int oracle, int dft) {
  elign_world w;
  elign_error err;
  elign_error_clear(&err);
  elign_status st = elign_world_init(&w, MPI_COMM_WORLD, oracle, dft, &err);
  int ok = st == ELIGN_ERR_CONFIG && err.status == ELIGN_ERR_CONFIG;
  ok &= w.comm == MPI_COMM_NULL && w.actor_ranks == NULL;
  if (oracle < 0) ok &= strstr(err.msg, "mpi.oracle_ranks") != NULL && strstr(err.msg, ">= 0") != NULL;
  if (oracle >= 0 && dft < 0) ok &= strstr(err.msg, "mpi.dft_ranks") != NULL;
  if (oracle >= 0 && dft >= 0) {
    char want[256];
    snprintf(want, sizeof want,
             "mpi.oracle_ranks=%d + mpi.dft_ranks=%d leave no actor rank in a world of %d (need at least 1)", oracle,
             dft, world_size);
    ok &= strcmp(err.msg, want) == 0 && err.hint[0] != '\0';
  }
  if (!ok) fprintf(stderr, "rank %d: oracle=%d dft=%d: status %d, message '%s'\n", world_rank, oracle, dft, st, err.msg);
  CHECK(all_ranks(ok));

  /* Found alike everywhere: agreeing changes nothing, rank 0 alone prints. */
  CHECK(all_ranks(elign_mpi_agree(MPI_COMM_WORLD, &err) == ELIGN_ERR_CONFIG));
  char printed[2048];
  capture_fail_all(&w, &err, printed, sizeof printed);
  int print_ok = world_rank == 0 ? strstr(printed, "elign: error: mpi.") == printed : printed[0] == '\0';
  CHECK(all_ranks(print_ok));
  elign_world_free(&w); /* safe on a failed world */
}

/* A fault on one rank becomes the error of every rank. */
static void check_agree(void) {
  elign_error err;
  elign_error_clear(&err);
  CHECK(all_ranks(elign_mpi_agree(MPI_COMM_WORLD, &err) == ELIGN_OK));
  CHECK(all_ranks(elign_mpi_agree(MPI_COMM_WORLD, NULL) == ELIGN_OK));
  int faulty = world_size - 1;
  if (world_rank == faulty) {
    ELIGN_FAIL(&err, ELIGN_ERR_IO, "shard_%d.h5: cannot open", faulty);
    elign_error_hint(&err, "check the run directory");
  }
  elign_status st = elign_mpi_agree(MPI_COMM_WORLD, &err);
  char want[128];
  if (world_size == 1)
    snprintf(want, sizeof want, "shard_0.h5: cannot open"); /* the only rank failed: its own message */
  else
    snprintf(want, sizeof want, "rank %d: shard_%d.h5: cannot open", faulty, faulty);
  int ok = st == ELIGN_ERR_IO && err.status == ELIGN_ERR_IO && strcmp(err.msg, want) == 0 &&
           strcmp(err.hint, "check the run directory") == 0;
  if (!ok) fprintf(stderr, "rank %d: agree gave '%s'\n", world_rank, err.msg);
  CHECK(all_ranks(ok));
}

/* Ranks that were given different counts must all refuse. */
static void check_disagreeing_counts(void) {
  if (world_size < 2) return;
  elign_world w;
  elign_error err;
  elign_error_clear(&err);
  int oracle = world_rank == 1 ? 1 : 0;
  elign_status st = elign_world_init(&w, MPI_COMM_WORLD, oracle, 0, &err);
  int ok = st == ELIGN_ERR_CONFIG && strstr(err.msg, "mpi.oracle_ranks differs between ranks") != NULL;
  CHECK(all_ranks(ok));
  elign_world_free(&w);
}

/* ---- summary line ------------------------------------------------------- */

static void check_summary(const elign_world *w, int oracle, int dft) {
  char line[256];
  elign_world_summary(w, line, sizeof line);
  const char *want = NULL;
  if (world_size == 1) want = "world 1: learner r0; actors r0; oracles embedded; dft embedded";
  if (world_size == 2 && oracle == 1 && dft == 0) want = "world 2: learner r0; actors r0; oracles r1; dft embedded";
  if (world_size == 4 && oracle == 1 && dft == 1) want = "world 4: learner r0; actors r0,r1; oracles r2; dft r3";
  if (world_size == 4 && oracle == 0 && dft == 0) want = "world 4: learner r0; actors r0-r3; oracles embedded; dft embedded";
  if (world_size == 4 && oracle == 0 && dft == 3) want = "world 4: learner r0; actors r0; oracles embedded; dft r1-r3";
  if (want && strcmp(line, want) != 0) fprintf(stderr, "summary '%s'\n   want '%s'\n", line, want);
  if (want) CHECK(strcmp(line, want) == 0);
  /* Truncation is safe. */
  char small[12];
  elign_world_summary(w, small, sizeof small);
  CHECK(strlen(small) == sizeof small - 1 && strncmp(small, line, sizeof small - 1) == 0);
}

/* Run compression on a made-up list (no MPI needed). */
static void check_summary_ranges(void) {
  int actors[] = {0, 1, 2, 3, 4, 7, 9, 10};
  int oracles[] = {11, 12, 13};
  elign_world w;
  memset(&w, 0, sizeof w);
  w.size = 20;
  w.n_actors = 8;
  w.actor_ranks = actors;
  w.n_oracles = 3;
  w.oracle_ranks = oracles;
  w.embedded_dft = 1;
  char line[256];
  CHECK(strcmp(elign_world_summary(&w, line, sizeof line),
               "world 20: learner r0; actors r0-r4,r7,r9,r10; oracles r11-r13; dft embedded") == 0);
}

int main(int argc, char **argv) {
  elign_error err;
  elign_error_clear(&err);
  if (elign_mpi_init(&argc, &argv, &err) != ELIGN_OK) {
    elign_error_print(&err);
    return 1;
  }
  CHECK(elign_mpi_init(&argc, &argv, &err) == ELIGN_OK); /* idempotent */
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);

  if (argc > 1 && strcmp(argv[1], "--fail-one") == 0) {
    if (world_rank == world_size - 1) {
      ELIGN_FAIL(&err, ELIGN_ERR_NUMERIC, "injected fault: NaN in oracle reply");
      elign_world_fail_one(&err);
    }
    MPI_Barrier(MPI_COMM_WORLD); /* the others wait here until the abort takes them down */
    elign_mpi_finalize();
    return 0;
  }

  const int combos[][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}, {2, 0}, {2, 1}, {1, 2}, {3, 0},
                           {0, 3}, {3, 1}, {2, 2}, {4, 0}, {-1, 0}, {0, -2}, {5, 5}};
  const int n_combos = (int)(sizeof combos / sizeof combos[0]);
  int n_valid = 0;
  for (int c = 0; c < n_combos; c++) {
    int oracle = combos[c][0], dft = combos[c][1];
    if (!layout_valid(world_size, oracle, dft)) {
      check_bad_combo(oracle, dft);
      continue;
    }
    elign_world w;
    elign_error_clear(&err);
    elign_status st = elign_world_init(&w, MPI_COMM_WORLD, oracle, dft, &err);
    if (st != ELIGN_OK) fprintf(stderr, "rank %d: oracle=%d dft=%d: %s\n", world_rank, oracle, dft, err.msg);
    CHECK(all_ranks(st == ELIGN_OK));
    if (st != ELIGN_OK) continue;
    n_valid++;
    int folded = world_size == 1 && (oracle > 0 || dft > 0);
    CHECK(folded ? strstr(w.note, "mpi.oracle_ranks") != NULL : w.note[0] == '\0');
    check_layout(&w, oracle, dft);
    check_exchange(&w, c);
    check_summary(&w, oracle, dft);
    if (world_rank == 0) {
      char line[256];
      fprintf(stderr, "ok  oracle_ranks=%d dft_ranks=%d  %s\n", oracle, dft, elign_world_summary(&w, line, sizeof line));
    }
    elign_world_free(&w);
    CHECK(w.comm == MPI_COMM_NULL && w.actor_ranks == NULL);
  }
  CHECK(n_valid >= 3); /* every world size has at least three valid combinations above */
  check_agree();
  check_disagreeing_counts();
  check_summary_ranges();

  int result = test_main_result("test_roles");
  int all_ok = all_ranks(result == 0);
  elign_mpi_finalize();
  elign_mpi_finalize(); /* idempotent */
  return all_ok ? 0 : 1;
}
