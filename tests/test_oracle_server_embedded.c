/* test_oracle_server_embedded.c — the client API without oracle ranks
 * (single-process runs) and the server's argument checks: chunking at fixed
 * multiples of batch_size, a failing chunk flagged BACKEND_ERROR while the
 * others are right, forces only when wanted, ids answered once, any wait
 * order. No MPI needed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/service/client.h"
#include "oracle/service/server.h"
#include "tests/testutil.h"

enum { M = 13, BS = 5 };

/* Records the batches it sees; fails any batch holding a helium atom. */
typedef struct {
  elign_oracle *oracle;
  int n_calls;
  int64_t sizes[16];
} spy;

static elign_status spy_evaluate(void *ctx, const elign_oracle_batch *b, elign_oracle_result *r, elign_error *err) {
  spy *s = ctx;
  if (s->n_calls < 16) s->sizes[s->n_calls] = b->n_mol;
  s->n_calls++;
  if (b->offsets[0] != 0) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "chunk offsets not rebased");
  for (int64_t i = 0; i < b->offsets[b->n_mol]; i++)
    if (b->Z[i] == 2) return ELIGN_FAIL(err, ELIGN_ERR_BACKEND, "injected failure");
  return elign_oracle_evaluate(s->oracle, b, r, err);
}

/* M molecules of 3 + m % 4 atoms each, >= 1 Å apart. */
static int64_t build(int64_t *off, int32_t *Z, double *x) {
  static const int32_t pool[] = {1, 6, 7, 8};
  off[0] = 0;
  for (int m = 0; m < M; m++) {
    int n = 3 + m % 4;
    for (int i = 0; i < n; i++) {
      int64_t a = off[m] + i;
      Z[a] = pool[(m + i) % 4];
      x[3 * a] = 1.1 * i + 0.01 * m;
      x[3 * a + 1] = 0.3 * (i % 2);
      x[3 * a + 2] = 0.05 * m;
    }
    off[m + 1] = off[m] + n;
  }
  return off[M];
}

int main(void) {
  elign_error err;
  elign_oracle *lj = NULL;
  elign_oracle_options opt = {0};
  CHECK(elign_oracle_create("lj", &opt, &lj, &err) == ELIGN_OK);

  int64_t off[M + 1];
  int32_t Z[M * 6];
  double x[M * 18];
  int64_t n_atoms = build(off, Z, x);
  elign_oracle_batch batch = {.n_mol = M, .offsets = off, .Z = Z, .pos = x};

  /* reference: one direct call over everything */
  double e_ref[M], f_ref[M * 18];
  elign_mol_status s_ref[M];
  elign_oracle_result ref = {.energy = e_ref, .forces = f_ref, .status = s_ref};
  CHECK(elign_oracle_evaluate(lj, &batch, &ref, &err) == ELIGN_OK);
  for (int m = 0; m < M; m++) CHECK(s_ref[m] == ELIGN_MOL_OK);

  spy sp = {.oracle = lj};
  elign_oracle_client *c = NULL;
  CHECK(elign_oracle_client_create_embedded_fn(spy_evaluate, &sp, BS, &c, &err) == ELIGN_OK);

  /* three requests outstanding, waited for in reverse order */
  uint64_t id[3];
  CHECK(elign_oracle_client_submit(c, &batch, 1, &id[0], &err) == ELIGN_OK);
  CHECK(elign_oracle_client_submit(c, &batch, 0, &id[1], &err) == ELIGN_OK);
  elign_oracle_batch empty = {.n_mol = 0, .offsets = NULL};
  CHECK(elign_oracle_client_submit(c, &empty, 1, &id[2], &err) == ELIGN_OK);
  CHECK(elign_oracle_client_outstanding(c) == 3);
  CHECK(id[0] != id[1] && id[1] != id[2]);
  CHECK(sp.n_calls == 6 && sp.sizes[0] == 5 && sp.sizes[1] == 5 && sp.sizes[2] == 3); /* fixed split 5+5+3 */

  double e[M], f[M * 18];
  elign_mol_status st[M];
  elign_oracle_result res = {.energy = e, .forces = f, .status = st};
  CHECK(elign_oracle_client_wait(c, id[2], &res, &err) == ELIGN_OK);
  for (int i = 0; i < 3 * n_atoms; i++) f[i] = -7.0;
  CHECK(elign_oracle_client_wait(c, id[1], &res, &err) == ELIGN_OK);
  int untouched = 1;
  for (int i = 0; i < 3 * n_atoms; i++) untouched &= f[i] == -7.0;
  CHECK(untouched); /* forces not wanted: not written */
  CHECK(memcmp(e, e_ref, sizeof e) == 0);
  CHECK(elign_oracle_client_wait(c, id[0], &res, &err) == ELIGN_OK);
  CHECK(memcmp(e, e_ref, sizeof e) == 0 && memcmp(f, f_ref, 3 * n_atoms * sizeof(double)) == 0);
  CHECK(memcmp(st, s_ref, sizeof st) == 0);
  CHECK(elign_oracle_client_wait(c, id[0], &res, &err) == ELIGN_ERR_ARG); /* answered once */
  CHECK(strstr(err.msg, "not outstanding") != NULL);
  CHECK(elign_oracle_client_wait(c, 424242, &res, &err) == ELIGN_ERR_ARG);
  CHECK(elign_oracle_client_outstanding(c) == 0);

  /* a helium atom in molecule 7: its chunk (molecules 5..9) is flagged, the rest exact */
  int32_t Zp[M * 6];
  memcpy(Zp, Z, sizeof Zp);
  Zp[off[7]] = 2;
  elign_oracle_batch poisoned = batch;
  poisoned.Z = Zp;
  uint64_t pid;
  CHECK(elign_oracle_client_submit(c, &poisoned, 1, &pid, &err) == ELIGN_OK);
  CHECK(elign_oracle_client_wait(c, pid, &res, &err) == ELIGN_OK);
  int ok = 1;
  for (int m = 0; m < M; m++) {
    int in_bad_chunk = m >= 5 && m < 10;
    if (in_bad_chunk) {
      ok &= st[m] == ELIGN_MOL_BACKEND_ERROR && e[m] == 0.0;
      for (int64_t i = 3 * off[m]; i < 3 * off[m + 1]; i++) ok &= f[i] == 0.0;
    } else {
      ok &= st[m] == ELIGN_MOL_OK && e[m] == e_ref[m];
    }
  }
  CHECK(ok);

  /* done is a no-op without oracle ranks; the client frees what is left */
  CHECK(elign_oracle_client_done(c, &err) == ELIGN_OK);
  CHECK(elign_oracle_client_submit(c, &batch, 1, &pid, &err) == ELIGN_OK); /* embedded: done does not forbid */
  elign_oracle_client_destroy(&c);
  CHECK(c == NULL);
  elign_oracle_client_destroy(&c); /* NULL is fine */

  /* evaluate_or_flag reports the backend's message */
  elign_error why;
  elign_error_clear(&why);
  CHECK(elign_oracle_evaluate_or_flag(spy_evaluate, &sp, &poisoned, &res, &why) == 1);
  CHECK(strstr(why.msg, "injected failure") != NULL);
  for (int m = 0; m < M; m++) CHECK(st[m] == ELIGN_MOL_BACKEND_ERROR);
  CHECK(elign_oracle_evaluate_or_flag(spy_evaluate, &sp, &batch, &res, NULL) == 0);

  /* argument checks */
  CHECK(elign_oracle_client_create_embedded(lj, 0, &c, &err) == ELIGN_ERR_CONFIG);
  CHECK(strstr(err.msg, "oracle.batch_size") != NULL);
  CHECK(elign_oracle_client_create_embedded(NULL, 4, &c, &err) == ELIGN_ERR_ARG);
  elign_oracle_server_stats stats;
  elign_oracle_server_options so = {.batch_size = 0, .n_clients = 1};
  CHECK(elign_oracle_server_run(lj, MPI_COMM_NULL, &so, &stats, &err) == ELIGN_ERR_CONFIG);
  so.batch_size = 4;
  so.n_clients = 0;
  CHECK(elign_oracle_server_run(lj, MPI_COMM_NULL, &so, &stats, &err) == ELIGN_ERR_ARG);

  /* the summary line carries the counters */
  memset(&stats, 0, sizeof stats);
  stats.requests = 12;
  stats.molecules = 96;
  stats.batches = 3;
  stats.fill_sum = 1.5;
  stats.wall_s = 2.0;
  stats.busy_s = 1.0;
  char line[512];
  elign_oracle_server_stats_format(&stats, 64, line, sizeof line);
  CHECK(strstr(line, "requests 12") && strstr(line, "molecules 96") && strstr(line, "mean fill 0.50") &&
        strstr(line, "busy 50.0%") && strstr(line, "48.0 molecules/s"));

  elign_oracle_destroy(&lj);
  return test_main_result("test_oracle_server_embedded");
}
