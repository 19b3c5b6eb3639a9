/* bench_oracle_server.c — oracle-rank throughput with 1, 2 and 4 actors feeding it.
 *
 * Run manually, e.g.
 *   mpirun --oversubscribe --allow-run-as-root -np 5 build/bench/bench_oracle_server \
 *       [--backend lj|ani] [--model-dir DIR] [--batch 64] [--requests 300] [--mols 16] [--window 4]
 *       [--poll-us US]   (0: polite polling every 100 µs, -1: blocking MPI_Mprobe)
 *       [--merge 1|0]    (1: batches mix requests, the default here; 0: one request per batch)
 *
 * Rank 0 is the oracle; ranks 1..S-1 are actors. For each actor count k in
 * {1, 2, 4} (capped at S-1) the first k actors each send --requests requests
 * of --mols random QM9-sized molecules (9–21 atoms, H/C/N/O/F) as fast as the
 * window of outstanding requests allows; the others only send DONE. The
 * oracle reports molecules/s, mean batch fill, idle fraction and request
 * latency; the reference is the same backend evaluating as many molecules
 * in-process on rank 0 in full batches of --batch (ratio = served / in-process).
 * Oversubscribed runs (more ranks than cores) measure the scheduler too.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base/launch_env.h"
#include "common/base/log.h"
#include "oracle/service/client.h"
#include "oracle/service/server.h"

typedef struct {
  const char *backend, *model_dir;
  int batch, requests, mols, window, poll_us, merge;
} bench_args;

static uint64_t rng_s;
static double uni(void) {
  rng_s = rng_s * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_s >> 11) / 9007199254740992.0;
}

typedef struct {
  int64_t n_mol, *offsets;
  int32_t *Z;
  double *pos;
} mols;

/* Random molecules: atoms on a jittered grid 1.3 Å apart (no overlaps). */
static mols make_mols(int n_mol) {
  mols m = {n_mol, calloc(n_mol + 1, sizeof(int64_t)), NULL, NULL};
  static const int32_t pool[] = {1, 1, 1, 6, 6, 7, 8, 9};
  int64_t n_atoms = 0;
  for (int i = 0; i < n_mol; i++) m.offsets[i + 1] = n_atoms += 9 + (int)(uni() * 13);
  m.Z = malloc(n_atoms * sizeof *m.Z);
  m.pos = malloc(3 * n_atoms * sizeof *m.pos);
  for (int i = 0; i < n_mol; i++)
    for (int64_t a = m.offsets[i], k = 0; a < m.offsets[i + 1]; a++, k++) {
      m.Z[a] = pool[(int)(uni() * 8) % 8];
      m.pos[3 * a] = 1.3 * (double)(k % 3) + 0.2 * uni();
      m.pos[3 * a + 1] = 1.3 * (double)((k / 3) % 3) + 0.2 * uni();
      m.pos[3 * a + 2] = 1.3 * (double)(k / 9) + 0.2 * uni();
    }
  return m;
}

static void free_mols(mols *m) {
  free(m->offsets);
  free(m->Z);
  free(m->pos);
}

/* A barrier that sleeps instead of spinning (idle ranks must not steal the
 * cores of the ranks being measured). */
static void polite_barrier(MPI_Comm comm) {
  MPI_Request req;
  MPI_Ibarrier(comm, &req);
  struct timespec pause = {0, 500000};
  for (int done = 0;;) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) return;
    nanosleep(&pause, NULL);
  }
}

static void run_actor(MPI_Comm comm, const bench_args *a, int active) {
  elign_error err;
  elign_oracle_client *c;
  int oracle_rank = 0;
  elign_oracle_client_create_mpi(comm, &oracle_rank, 1, &c, &err);
  elign_oracle_client_set_poll(c, a->poll_us);
  if (active) {
    mols m = make_mols(a->mols);
    elign_oracle_batch b = {.n_mol = m.n_mol, .offsets = m.offsets, .Z = m.Z, .pos = m.pos};
    double *e = malloc(m.n_mol * sizeof *e), *f = malloc(3 * m.offsets[m.n_mol] * sizeof *f);
    elign_mol_status *st = malloc(m.n_mol * sizeof *st);
    elign_oracle_result r = {.energy = e, .forces = f, .status = st};
    uint64_t *ids = malloc(a->requests * sizeof *ids);
    int waited = 0;
    for (int k = 0; k < a->requests; k++) {
      elign_oracle_client_submit(c, &b, 1, &ids[k], &err);
      if (k + 1 - waited >= a->window) elign_oracle_client_wait(c, ids[waited++], &r, &err);
    }
    while (waited < a->requests) elign_oracle_client_wait(c, ids[waited++], &r, &err);
    free(ids);
    free(e);
    free(f);
    free(st);
    free_mols(&m);
  }
  elign_oracle_client_done(c, &err);
  elign_oracle_client_destroy(&c);
}

/* In-process reference: the molecules of one actor's run, evaluated directly
 * in full batches of `batch` (the best the server could do: no messages). */
static double inprocess_rate(elign_oracle *o, const bench_args *a) {
  mols m = make_mols(a->batch);
  int calls = (a->requests * a->mols + a->batch - 1) / a->batch;
  elign_oracle_client *c;
  elign_error err;
  elign_oracle_client_create_embedded(o, a->batch, &c, &err);
  double *e = malloc(m.n_mol * sizeof *e), *f = malloc(3 * m.offsets[m.n_mol] * sizeof *f);
  elign_mol_status *st = malloc(m.n_mol * sizeof *st);
  elign_oracle_result r = {.energy = e, .forces = f, .status = st};
  elign_oracle_batch b = {.n_mol = m.n_mol, .offsets = m.offsets, .Z = m.Z, .pos = m.pos};
  uint64_t warm; /* first call pays for workspaces and page faults */
  elign_oracle_client_submit(c, &b, 1, &warm, &err);
  elign_oracle_client_wait(c, warm, &r, &err);
  double t0 = elign_wtime();
  for (int k = 0; k < calls; k++) {
    uint64_t id;
    elign_oracle_client_submit(c, &b, 1, &id, &err);
    elign_oracle_client_wait(c, id, &r, &err);
  }
  double dt = elign_wtime() - t0;
  elign_oracle_client_destroy(&c);
  free(e);
  free(f);
  free(st);
  free_mols(&m);
  return (double)calls * a->batch / dt;
}

int main(int argc, char **argv) {
  elign_launch_env_defaults(argv); /* the threads' wait policy `elign` runs with */
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  elign_log_set_rank(rank);
  elign_log_set_level(ELIGN_LOG_WARN);
  bench_args a = {"lj", NULL, 64, 300, 16, 4, 0, 1};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--backend")) a.backend = argv[i + 1];
    else if (!strcmp(argv[i], "--model-dir")) a.model_dir = argv[i + 1];
    else if (!strcmp(argv[i], "--batch")) a.batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--requests")) a.requests = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--mols")) a.mols = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--window")) a.window = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--poll-us")) a.poll_us = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--merge")) a.merge = atoi(argv[i + 1]);
  }
  if (size < 2) {
    fprintf(stderr, "bench_oracle_server: run under mpirun with >= 2 ranks (1 oracle + actors)\n");
    MPI_Finalize();
    return 2;
  }
  rng_s = 1000 + (uint64_t)rank;
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  elign_oracle *o = NULL;
  elign_error err;
  int ok = 1;
  if (rank == 0) {
    elign_oracle_options opt = {0};
    opt.model_dir = a.model_dir;
    ok = elign_oracle_create(a.backend, &opt, &o, &err) == ELIGN_OK;
    if (!ok) elign_error_print(&err);
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok) {
    MPI_Finalize();
    return 1;
  }
  /* The reference runs on rank 0 while the actors wait for a "go" message
   * politely (a barrier would spin 4 processes against it on a small node). */
  double ref = 0;
  const int go_tag = 7199;
  if (rank != 0) {
    MPI_Message msg;
    MPI_Status status;
    elign_oracle_mprobe(0, go_tag, comm, 1000, &msg, &status);
    MPI_Mrecv(NULL, 0, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
  }
  if (rank == 0) {
    ref = inprocess_rate(o, &a);
    for (int r = 1; r < size; r++) MPI_Send(NULL, 0, MPI_BYTE, r, go_tag, comm);
    printf("oracle server benchmark: backend %s, batch %d, %d requests x %d molecules per actor, window %d, %d ranks, "
           "idle wait %s, %s\n", a.backend, a.batch, a.requests, a.mols, a.window, size,
           a.poll_us < 0 ? "blocking MPI_Mprobe" : "polling", a.merge ? "batches mix requests" : "one request per batch");
    printf("in-process reference: %.1f molecules/s\n\n", ref);
    printf("%6s %9s %10s %8s %12s %7s %10s %7s %12s\n", "actors", "requests", "molecules", "wall/s", "molecules/s",
           "ratio", "mean fill", "idle%", "latency/ms");
  }
  int counts[3] = {1, 2, 4};
  for (int c = 0; c < 3; c++) {
    int k = counts[c] < size - 1 ? counts[c] : size - 1;
    if (c > 0 && k == (counts[c - 1] < size - 1 ? counts[c - 1] : size - 1)) break;
    polite_barrier(comm);
    if (rank == 0) {
      elign_oracle_server_options so = {.batch_size = a.batch, .n_clients = size - 1, .poll_us = a.poll_us,
                                        .merge_requests = a.merge};
      elign_oracle_server_stats s;
      if (elign_oracle_server_run(o, comm, &so, &s, &err) != ELIGN_OK) elign_error_print(&err);
      double rate = s.molecules / s.wall_s;
      printf("%6d %9lld %10lld %8.3f %12.1f %7.2f %10.2f %7.1f %12.2f\n", k, (long long)s.requests,
             (long long)s.molecules, s.wall_s, rate, rate / ref, s.batches ? s.fill_sum / s.batches : 0,
             100 * s.idle_s / s.wall_s, 1e3 * s.latency_sum_s / (s.requests ? s.requests : 1));
    } else {
      run_actor(comm, &a, rank <= k);
    }
  }
  polite_barrier(comm);
  elign_oracle_destroy(&o);
  MPI_Comm_free(&comm);
  MPI_Finalize();
  return 0;
}
