/* test_oracle_server.c — oracle ranks under concurrent actors (run with mpirun).
 *
 * usage: test_oracle_server N_ORACLES BATCH_SIZE [POLL_US [MERGE [BACKEND]]]
 * Ranks 0..N_ORACLES-1 serve BACKEND (default lj; ani reads the model zoo
 * under ELIGN_SHARED_DIR) with batches that mix requests if MERGE (default 1); every other rank is an actor
 * that sends a seeded, rank-dependent number of requests of random sizes
 * with random delays, keeps several outstanding and waits for them in
 * random order. Checked:
 *   - every request is answered exactly once (no reply left over, none
 *     unknown; the servers' request and molecule counts equal the actors');
 *   - results equal in-process evaluation (embedded client with the same
 *     batch size) bit for bit — with lj and ani in either batch mode (an
 *     lj molecule does not interact with its batch; the ANI engine's
 *     fixed-order products give a molecule the same bits in any batch,
 *     common/nn/gemm_fixed.h);
 *   - failing molecules inside server traffic (NaN coordinate, overlapping
 *     atoms, unsupported element, empty) are flagged and their neighbours right;
 *   - a batch the backend fails as a whole (a "poison" helium molecule makes
 *     the server's evaluate return an error) → its molecules flagged
 *     BACKEND_ERROR, the server keeps serving;
 *   - a corrupted request gets a "rejected" reply, garbage is dropped, and
 *     both are counted; serving goes on.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oracle/service/wire.h"
#include "oracle/service/client.h"
#include "oracle/service/server.h"
#include "tests/testutil_mpi.h"

#define POISON_Z 2 /* helium: lj supports it; the injected evaluate refuses any batch containing it */

static int poll_us = 0; /* elign_oracle_mprobe: 0 default polling, < 0 blocking */
static int batch_size = 8, merge = 1;
static const char *backend = "lj";

static elign_oracle_options backend_options(void) {
  elign_oracle_options opt = {0};
  static char model_dir[4096];
  snprintf(model_dir, sizeof model_dir, "%s", test_shared_path("models/ani-model-zoo"));
  opt.model_dir = model_dir;
  return opt;
}


typedef struct {
  uint64_t s;
} rng;
static uint64_t rng_next(rng *r) {
  r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
  return r->s >> 17;
}
static double rng_uniform(rng *r) { return (double)(rng_next(r) & ((1ull << 40) - 1)) / (double)(1ull << 40); }
static int rng_int(rng *r, int n) { return (int)(rng_next(r) % (uint64_t)n); }

/* The server's evaluate: fail the whole batch if it holds a poison atom. */
static elign_status poisoned_evaluate(void *oracle, const elign_oracle_batch *b, elign_oracle_result *r,
                                      elign_error *err) {
  for (int64_t i = 0; i < b->offsets[b->n_mol]; i++)
    if (b->Z[i] == POISON_Z) return ELIGN_FAIL(err, ELIGN_ERR_BACKEND, "injected backend failure (poison atom)");
  return elign_oracle_evaluate(oracle, b, r, err);
}

typedef enum { FAULT_NONE, FAULT_NAN, FAULT_OVERLAP, FAULT_ELEMENT, FAULT_EMPTY, FAULT_POISON } fault;

typedef struct {
  int64_t n_mol, n_atoms;
  int64_t *offsets;
  int32_t *Z;
  double *pos;
  int *charge;
  fault *faults;
  int want_forces;
  uint64_t id;
} request;

static void add_molecule(request *q, rng *r, fault f) {
  int n = f == FAULT_EMPTY ? 0 : 2 + rng_int(r, 8);
  q->offsets = realloc(q->offsets, (q->n_mol + 2) * sizeof *q->offsets);
  q->faults = realloc(q->faults, (q->n_mol + 1) * sizeof *q->faults);
  q->charge = realloc(q->charge, (q->n_mol + 1) * sizeof *q->charge);
  q->Z = realloc(q->Z, (q->n_atoms + n + 1) * sizeof *q->Z);
  q->pos = realloc(q->pos, 3 * (q->n_atoms + n + 1) * sizeof *q->pos);
  static const int32_t pool[] = {1, 6, 7, 8, 9};
  int32_t *Z = q->Z + q->n_atoms;
  double *x = q->pos + 3 * q->n_atoms;
  for (int i = 0; i < n; i++) {
    Z[i] = pool[rng_int(r, 5)];
    for (int tries = 0;; tries++) { /* keep atoms >= 0.9 Å apart */
      for (int k = 0; k < 3; k++) x[3 * i + k] = 4.0 * (rng_uniform(r) - 0.5);
      int ok = 1;
      for (int j = 0; j < i; j++) {
        double d2 = 0;
        for (int k = 0; k < 3; k++) d2 += (x[3 * i + k] - x[3 * j + k]) * (x[3 * i + k] - x[3 * j + k]);
        ok &= d2 >= 0.81;
      }
      if (ok || tries > 500) break;
    }
  }
  if (f == FAULT_NAN) x[3 * rng_int(r, n) + rng_int(r, 3)] = NAN;
  if (f == FAULT_OVERLAP) memcpy(x + 3, x, 3 * sizeof *x); /* atoms 0 and 1 coincide */
  if (f == FAULT_ELEMENT) Z[rng_int(r, n)] = 26;
  if (f == FAULT_POISON) Z[0] = POISON_Z;
  q->charge[q->n_mol] = 0;
  q->faults[q->n_mol] = f;
  q->offsets[0] = 0;
  q->n_atoms += n;
  q->offsets[++q->n_mol] = q->n_atoms;
}

static request make_request(rng *r, int with_poison, int empty_request) {
  request q = {0};
  q.offsets = calloc(1, sizeof *q.offsets);
  q.want_forces = rng_int(r, 4) != 0;
  if (empty_request) return q;
  int n_mol = 1 + rng_int(r, 12);
  for (int m = 0; m < n_mol; m++) {
    int u = rng_int(r, 40);
    fault f = u == 0 ? FAULT_NAN : u == 1 ? FAULT_OVERLAP : u == 2 ? FAULT_ELEMENT : u == 3 ? FAULT_EMPTY : FAULT_NONE;
    add_molecule(&q, r, f);
  }
  if (with_poison) add_molecule(&q, r, FAULT_POISON);
  return q;
}

static void free_request(request *q) {
  free(q->offsets);
  free(q->Z);
  free(q->pos);
  free(q->charge);
  free(q->faults);
}

static elign_oracle_batch as_batch(const request *q) {
  elign_oracle_batch b = {.n_mol = q->n_mol, .offsets = q->offsets, .Z = q->Z, .pos = q->pos, .charge = q->charge};
  return b;
}

static elign_mol_status expected_flag(fault f) {
  switch (f) {
    case FAULT_NAN: return ELIGN_MOL_NONFINITE_INPUT;
    case FAULT_OVERLAP: return ELIGN_MOL_OVERLAP;
    case FAULT_ELEMENT: return ELIGN_MOL_UNSUPPORTED_ELEMENT;
    case FAULT_EMPTY: return ELIGN_MOL_EMPTY;
    case FAULT_POISON: return ELIGN_MOL_BACKEND_ERROR;
    default: return ELIGN_MOL_OK;
  }
}

/* Compare one server answer with the in-process reference. */
static void check_answer(const request *q, const double *e, const double *f, const elign_mol_status *st,
                         elign_oracle_client *reference, int64_t *shared_poison_batch) {
  int64_t n_atoms = q->n_atoms;
  double *re = calloc(q->n_mol + 1, sizeof *re), *rf = calloc(3 * n_atoms + 1, sizeof *rf);
  elign_mol_status *rs = calloc(q->n_mol + 1, sizeof *rs);
  elign_oracle_batch b = as_batch(q);
  uint64_t id;
  elign_error err;
  elign_oracle_result res = {.energy = re, .forces = rf, .status = rs};
  CHECK(elign_oracle_client_submit(reference, &b, 1, &id, &err) == ELIGN_OK);
  CHECK(elign_oracle_client_wait(reference, id, &res, &err) == ELIGN_OK);
  int ok = 1;
  for (int64_t m = 0; m < q->n_mol; m++) {
    int64_t a0 = q->offsets[m], na = q->offsets[m + 1] - a0;
    fault fl = q->faults[m];
    if (fl == FAULT_POISON) { /* the embedded reference has no poison rule: only the server flags it */
      ok &= st[m] == ELIGN_MOL_BACKEND_ERROR && e[m] == 0.0;
      continue;
    }
    if (st[m] == ELIGN_MOL_BACKEND_ERROR) { /* shared a batch with a poison molecule */
      (*shared_poison_batch)++;
      ok &= e[m] == 0.0;
      continue;
    }
    ok &= st[m] == rs[m];
    if (strcmp(backend, "lj") == 0) ok &= rs[m] == expected_flag(fl); /* lj's flags are known exactly */
    else ok &= (fl == FAULT_NONE) == (rs[m] == ELIGN_MOL_OK);
    ok &= memcmp(&e[m], &re[m], sizeof(double)) == 0; /* bit for bit */
    if (q->want_forces) ok &= na == 0 || memcmp(f + 3 * a0, rf + 3 * a0, 3 * na * sizeof(double)) == 0;
  }
  if (!q->want_forces)
    for (int64_t i = 0; i < 3 * n_atoms; i++) ok &= f[i] == -7.0; /* untouched sentinel */
  CHECK(ok);
  free(re);
  free(rf);
  free(rs);
}

/* Send oracle 0 a request whose body is corrupted (its header still names
 * an id: the server must answer "rejected") and a message that is pure
 * garbage (dropped, counted). Runs before this actor's client exists, so no
 * client can pick up the rejected reply. */
static void inject_bad_messages(MPI_Comm comm) {
  int64_t off[2] = {0, 2};
  int32_t Z[2] = {1, 1};
  double pos[6] = {0, 0, 0, 0, 0, 0.74};
  uint8_t *buf;
  size_t len;
  elign_error err;
  CHECK(elign_wire_pack_request(999999, 1, off, Z, pos, NULL, NULL, 1, &buf, &len, &err) == ELIGN_OK);
  buf[len - 3] ^= 0x40; /* a position byte: only the checksum can tell */
  MPI_Send(buf, (int)len, MPI_BYTE, 0, ELIGN_ORACLE_TAG_REQUEST, comm);
  free(buf);
  uint8_t garbage[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  MPI_Send(garbage, 10, MPI_BYTE, 0, ELIGN_ORACLE_TAG_REQUEST, comm);
  MPI_Status st;
  int count;
  MPI_Probe(0, ELIGN_ORACLE_TAG_REPLY, comm, &st);
  MPI_Get_count(&st, MPI_BYTE, &count);
  uint8_t *reply = malloc((size_t)count);
  MPI_Recv(reply, count, MPI_BYTE, 0, ELIGN_ORACLE_TAG_REPLY, comm, MPI_STATUS_IGNORE);
  elign_wire_reply rep;
  CHECK(elign_wire_unpack_reply(reply, (size_t)count, &rep, &err) == ELIGN_OK);
  CHECK(rep.request_id == 999999 && (rep.flags & ELIGN_WIRE_REJECTED) && rep.n_mol == 0);
  elign_wire_reply_free(&rep);
  free(reply);
}

static void run_actor(MPI_Comm comm, int rank, int n_oracles, int64_t counts[2]) {
  if (rank == n_oracles) inject_bad_messages(comm);
  int oracle_ranks[64];
  for (int i = 0; i < n_oracles; i++) oracle_ranks[i] = i;
  elign_error err;
  elign_oracle_client *client = NULL, *reference = NULL;
  elign_oracle *local = NULL;
  elign_oracle_options opt = backend_options();
  CHECK(elign_oracle_client_create_mpi(comm, oracle_ranks, n_oracles, &client, &err) == ELIGN_OK);
  elign_oracle_client_set_poll(client, poll_us);
  CHECK(elign_oracle_create(backend, &opt, &local, &err) == ELIGN_OK);
  CHECK(elign_oracle_client_create_embedded(local, batch_size, &reference, &err) == ELIGN_OK);

  rng r = {0x5EED0000ull + 977ull * (uint64_t)rank};
  int actor = rank - n_oracles;
  int n_requests = 4 + 3 * actor;
  enum { MAX_OUT = 4 };
  request out[MAX_OUT];
  int n_out = 0;
  int64_t shared = 0;
  int submitted = 0;
  while (submitted < n_requests || n_out > 0) {
    /* submit (while fewer than MAX_OUT are outstanding) or wait for a random outstanding one */
    int can_submit = submitted < n_requests && n_out < MAX_OUT;
    if (can_submit && (n_out == 0 || rng_int(&r, 3) != 0)) {
      int poison = actor == 1 && submitted == 2;
      out[n_out] = make_request(&r, poison, submitted == 1);
      elign_oracle_batch b = as_batch(&out[n_out]);
      CHECK(elign_oracle_client_submit(client, &b, out[n_out].want_forces, &out[n_out].id, &err) == ELIGN_OK);
      counts[0]++;
      counts[1] += out[n_out].n_mol;
      n_out++;
      submitted++;
      usleep((useconds_t)rng_int(&r, 2000));
      continue;
    }
    int j = rng_int(&r, n_out);
    request *q = &out[j];
    double *e = calloc(q->n_mol + 1, sizeof *e), *f = malloc((3 * q->n_atoms + 1) * sizeof *f);
    for (int64_t i = 0; i < 3 * q->n_atoms; i++) f[i] = -7.0;
    elign_mol_status *st = calloc(q->n_mol + 1, sizeof *st);
    elign_oracle_result res = {.energy = e, .forces = f, .status = st};
    elign_status s = elign_oracle_client_wait(client, q->id, &res, &err);
    CHECK(s == ELIGN_OK);
    if (s != ELIGN_OK) elign_error_print(&err);
    else check_answer(q, e, f, st, reference, &shared);
    /* a second wait for the same id must fail: answered exactly once */
    CHECK(elign_oracle_client_wait(client, q->id, &res, &err) == ELIGN_ERR_ARG);
    free(e);
    free(f);
    free(st);
    free_request(q);
    out[j] = out[--n_out];
    usleep((useconds_t)rng_int(&r, 1000));
  }
  CHECK(n_out == 0 && elign_oracle_client_outstanding(client) == 0);
  CHECK(elign_oracle_client_done(client, &err) == ELIGN_OK);
  elign_oracle_client_destroy(&client);
  elign_oracle_client_destroy(&reference);
  elign_oracle_destroy(&local);
  if (shared) printf("rank %d: %lld molecules shared a batch with the poison molecule\n", rank, (long long)shared);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int n_oracles = argc > 1 ? atoi(argv[1]) : 1;
  batch_size = argc > 2 ? atoi(argv[2]) : 8;
  poll_us = argc > 3 ? atoi(argv[3]) : 0;
  merge = argc > 4 ? atoi(argv[4]) : 1;
  backend = argc > 5 ? argv[5] : "lj";
  if (n_oracles < 1 || n_oracles >= size) {
    if (rank == 0) fprintf(stderr, "need 1 <= N_ORACLES < ranks (got %d of %d)\n", n_oracles, size);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  int64_t local_counts[4] = {0, 0, 0, 0}; /* submitted requests, submitted molecules, served requests, served molecules */
  elign_error err;
  if (rank < n_oracles) {
    elign_oracle *oracle = NULL;
    elign_oracle_options opt = backend_options();
    if (elign_oracle_create(backend, &opt, &oracle, &err) != ELIGN_OK) {
      elign_error_print(&err);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    elign_oracle_server_options so = {.batch_size = batch_size, .n_clients = size - n_oracles, .poll_us = poll_us,
                                      .merge_requests = merge,
                                      .evaluate = poisoned_evaluate, .evaluate_ctx = oracle};
    elign_oracle_server_stats stats;
    CHECK(elign_oracle_server_run(oracle, comm, &so, &stats, &err) == ELIGN_OK);
    elign_oracle_server_stats_log(&stats, batch_size);
    local_counts[2] = stats.requests;
    local_counts[3] = stats.molecules;
    CHECK(stats.batches > 0 && stats.fill_sum <= stats.batches + 1e-9);
    int64_t mine[2] = {stats.backend_errors, stats.rejected}, total[2];
    MPI_Allreduce(mine, total, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
      CHECK(total[0] == 1); /* exactly one poison molecule was sent */
      CHECK(total[1] == 2); /* one corrupted request, one garbage message */
    }
    elign_oracle_destroy(&oracle);
  } else {
    run_actor(comm, rank, n_oracles, local_counts);
    int64_t zero[2] = {0, 0}, total[2];
    MPI_Allreduce(zero, total, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  }
  /* every server has stopped and completed its sends: nothing may be left */
  MPI_Barrier(MPI_COMM_WORLD);
  int stray = 0;
  MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &stray, MPI_STATUS_IGNORE);
  CHECK(!stray);
  int64_t totals[4];
  MPI_Allreduce(local_counts, totals, 4, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  CHECK(totals[0] == totals[2]); /* requests answered = submitted */
  CHECK(totals[1] == totals[3]); /* molecules evaluated = submitted */
  if (rank == 0)
    printf("%s: %d oracle(s), %d actors, batch %d (%s): %lld requests, %lld molecules\n", backend, n_oracles,
           size - n_oracles, batch_size, merge ? "mixing requests" : "one request per batch", (long long)totals[0],
           (long long)totals[1]);
  int rc = test_mpi_main_result("test_oracle_server", MPI_COMM_WORLD);
  MPI_Comm_free(&comm);
  MPI_Finalize();
  return rc;
}
