/* server.c — the oracle rank loop: receive, queue, batch, evaluate, answer (see server.h). */
#include "oracle/service/server.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base/log.h"
#include "common/base/trace.h"
#include "common/base/watchdog.h"
#include "common/mpi/roles.h"
#include "oracle/service/wire.h"

/* ------------------------------------------------------------------------
 * Evaluation that never fails (shared with the embedded client). */

elign_status elign_oracle_evaluate_default(void *oracle, const elign_oracle_batch *batch,
                                           elign_oracle_result *result, elign_error *err) {
  return elign_oracle_evaluate((elign_oracle *)oracle, batch, result, err);
}

int elign_oracle_evaluate_or_flag(elign_oracle_evaluate_fn evaluate, void *ctx, const elign_oracle_batch *batch,
                                  elign_oracle_result *result, elign_error *why) {
  elign_error err;
  elign_error_clear(&err);
  elign_status st = evaluate(ctx, batch, result, &err);
  if (st == ELIGN_OK) return 0;
  int64_t n_atoms = batch->offsets[batch->n_mol];
  for (int64_t m = 0; m < batch->n_mol; m++) {
    result->energy[m] = 0.0;
    result->status[m] = ELIGN_MOL_BACKEND_ERROR;
  }
  if (result->forces) memset(result->forces, 0, 3 * (size_t)n_atoms * sizeof(double));
  if (why) *why = err;
  return 1;
}

/* ------------------------------------------------------------------------
 * Waiting for a message without spinning a core. */

int elign_oracle_mprobe_within(int source, int tag, MPI_Comm comm, int poll_us, double timeout_s, MPI_Message *msg,
                               MPI_Status *status, int *timed_out) {
  *timed_out = 0;
  if (timeout_s <= 0) return elign_oracle_mprobe(source, tag, comm, poll_us, msg, status);
  if (poll_us <= 0) poll_us = poll_us < 0 ? 20 : ELIGN_ORACLE_POLL_US_DEFAULT;
  struct timespec pause = {poll_us / 1000000, (long)(poll_us % 1000000) * 1000L};
  elign_wait_clock clock; /* counts only time this process ran: a stop of our own blames nobody */
  elign_wait_clock_start(&clock);
  for (;;) {
    int flag = 0;
    int rc = MPI_Improbe(source, tag, comm, &flag, msg, status);
    if (rc != MPI_SUCCESS || flag) return rc;
    if (elign_wait_clock_tick(&clock) > timeout_s) {
      *timed_out = 1;
      return MPI_SUCCESS;
    }
    nanosleep(&pause, NULL);
  }
}

int elign_oracle_mprobe(int source, int tag, MPI_Comm comm, int poll_us, MPI_Message *msg, MPI_Status *status) {
  if (poll_us < 0) return MPI_Mprobe(source, tag, comm, msg, status);
  if (poll_us == 0) poll_us = ELIGN_ORACLE_POLL_US_DEFAULT;
  struct timespec pause = {poll_us / 1000000, (long)(poll_us % 1000000) * 1000L};
  for (;;) {
    int flag = 0;
    int rc = MPI_Improbe(source, tag, comm, &flag, msg, status);
    if (rc != MPI_SUCCESS || flag) return rc;
    nanosleep(&pause, NULL);
  }
}

/* ------------------------------------------------------------------------
 * Server state. */

typedef struct {
  int active;
  int source;               /* actor rank in comm */
  elign_wire_request req;   /* the decoded request (owns its arrays) */
  double t_received;        /* elign_wtime() */
  int64_t next_mol;         /* first molecule not yet handed to a batch */
  int64_t n_done;           /* molecules with results */
  int32_t *status;          /* [n_mol] */
  double *energy;           /* [n_mol] eV */
  double *forces;           /* [n_atoms][3] eV/Å */
} server_request;

typedef struct {
  uint8_t *buf;
  MPI_Request req;
} pending_send;

typedef struct {
  MPI_Comm comm;
  const elign_oracle_server_options *opt;
  elign_oracle_evaluate_fn evaluate;
  void *ctx;
  elign_oracle_server_stats *stats;

  server_request *reqs; /* slots; inactive ones are reused */
  int n_reqs, cap_reqs;
  int *fifo;            /* request slots with molecules not yet batched, in arrival order */
  int fifo_head, fifo_len, fifo_cap;
  int64_t queued_mols;  /* molecules not yet batched */
  int64_t active_reqs;

  pending_send *sends;
  int n_sends, cap_sends;

  int dones;
  int *done_from;       /* [comm size] DONE count per rank */
  int size, probe_next; /* comm size; the rank improbe_open asks first */

  /* batch scratch, grown as needed */
  int64_t *b_off;
  int32_t *b_Z;
  double *b_pos, *b_energy, *b_forces;
  int *b_charge, *b_mult;
  elign_mol_status *b_status;
  int *b_slot;          /* [batch_size] request slot of each batch molecule */
  int64_t *b_mol;       /* [batch_size] molecule index inside that request */
  int64_t cap_atoms;
} server;

static void fifo_push(server *s, int slot) {
  if (s->fifo_head + s->fifo_len == s->fifo_cap) {
    if (s->fifo_head > 0) { /* compact before growing */
      memmove(s->fifo, s->fifo + s->fifo_head, (size_t)s->fifo_len * sizeof *s->fifo);
      s->fifo_head = 0;
    } else {
      s->fifo_cap = s->fifo_cap ? 2 * s->fifo_cap : 64;
      s->fifo = elign_realloc(s->fifo, (size_t)s->fifo_cap * sizeof *s->fifo, "oracle_server:fifo");
    }
  }
  s->fifo[s->fifo_head + s->fifo_len++] = slot;
}

static int new_slot(server *s) {
  for (int i = 0; i < s->n_reqs; i++)
    if (!s->reqs[i].active) return i;
  if (s->n_reqs == s->cap_reqs) {
    s->cap_reqs = s->cap_reqs ? 2 * s->cap_reqs : 32;
    s->reqs = elign_realloc(s->reqs, (size_t)s->cap_reqs * sizeof *s->reqs, "oracle_server:requests");
  }
  memset(&s->reqs[s->n_reqs], 0, sizeof s->reqs[0]);
  return s->n_reqs++;
}

/* Post a non-blocking send of a packed buffer; the server owns buf until it completes. */
static elign_status post_send(server *s, uint8_t *buf, size_t len, int dest, elign_error *err) {
  if (s->n_sends == s->cap_sends) {
    s->cap_sends = s->cap_sends ? 2 * s->cap_sends : 32;
    s->sends = elign_realloc(s->sends, (size_t)s->cap_sends * sizeof *s->sends, "oracle_server:sends");
  }
  pending_send *p = &s->sends[s->n_sends];
  if (MPI_Isend(buf, (int)len, MPI_BYTE, dest, ELIGN_ORACLE_TAG_REPLY, s->comm, &p->req) != MPI_SUCCESS) {
    free(buf);
    return ELIGN_FAIL(err, ELIGN_ERR_MPI, "oracle server: MPI_Isend of a reply to rank %d failed", dest);
  }
  p->buf = buf;
  s->n_sends++;
  return ELIGN_OK;
}

/* Free the buffers of completed sends (non-blocking). */
static void progress_sends(server *s) {
  int w = 0;
  for (int i = 0; i < s->n_sends; i++) {
    int done = 0;
    MPI_Test(&s->sends[i].req, &done, MPI_STATUS_IGNORE);
    if (done) free(s->sends[i].buf);
    else s->sends[w++] = s->sends[i];
  }
  s->n_sends = w;
}

static elign_status answer(server *s, int slot, elign_error *err) {
  server_request *r = &s->reqs[slot];
  uint8_t *buf;
  size_t len;
  int want_forces = (r->req.flags & ELIGN_WIRE_WANT_FORCES) != 0;
  elign_status st = elign_wire_pack_reply(r->req.request_id, r->req.n_mol, r->req.offsets, r->status, r->energy,
                                          want_forces ? r->forces : NULL, &buf, &len, err);
  if (st != ELIGN_OK) return st;
  st = post_send(s, buf, len, r->source, err);
  double latency = elign_wtime() - r->t_received;
  s->stats->requests++;
  s->stats->latency_sum_s += latency;
  if (latency > s->stats->latency_max_s) s->stats->latency_max_s = latency;
  for (int64_t m = 0; m < r->req.n_mol; m++) s->stats->flagged += r->status[m] != ELIGN_MOL_OK;
  elign_wire_request_free(&r->req);
  elign_free(r->status);
  elign_free(r->energy);
  elign_free(r->forces);
  r->active = 0;
  s->active_reqs--;
  return st;
}

/* Reply "rejected" if the raw header at least names a request id. */
static elign_status reject(server *s, const uint8_t *buf, size_t len, int source, const elign_error *why,
                           elign_error *err) {
  s->stats->rejected++;
  elign_wire_header h;
  if (len >= ELIGN_WIRE_HEADER_BYTES) memcpy(&h, buf, sizeof h);
  if (len < ELIGN_WIRE_HEADER_BYTES || h.magic != ELIGN_WIRE_MAGIC || h.kind != ELIGN_WIRE_REQUEST) {
    elign_warn("oracle server: dropped an undecodable message of %zu bytes from rank %d: %s", len, source, why->msg);
    return ELIGN_OK;
  }
  elign_warn("oracle server: rejected request %llu from rank %d: %s", (unsigned long long)h.request_id, source,
             why->msg);
  uint8_t *out;
  size_t out_len;
  elign_status st = elign_wire_pack_rejected(h.request_id, &out, &out_len, err);
  return st == ELIGN_OK ? post_send(s, out, out_len, source, err) : st;
}

static elign_status receive_one(server *s, MPI_Message *msg, MPI_Status *probe_status, elign_error *err) {
  int count = 0;
  MPI_Get_count(probe_status, MPI_BYTE, &count);
  uint8_t *buf = elign_malloc((size_t)count + 1, "oracle_server:recv");
  MPI_Status status;
  if (MPI_Mrecv(buf, count, MPI_BYTE, msg, &status) != MPI_SUCCESS) {
    free(buf);
    return ELIGN_FAIL(err, ELIGN_ERR_MPI, "oracle server: MPI_Mrecv from rank %d failed", probe_status->MPI_SOURCE);
  }
  int source = status.MPI_SOURCE;
  elign_error why;
  elign_error_clear(&why);
  elign_wire_header h;
  elign_status st = ELIGN_OK;
  if (elign_wire_peek(buf, (size_t)count, &h, &why) == ELIGN_OK && h.kind == ELIGN_WIRE_DONE) {
    if (s->done_from[source]++) elign_warn("oracle server: rank %d sent DONE twice", source);
    else s->dones++;
    free(buf);
    return ELIGN_OK;
  }
  int slot = new_slot(s);
  server_request *r = &s->reqs[slot];
  if (elign_wire_unpack_request(buf, (size_t)count, &r->req, &why) != ELIGN_OK) {
    st = reject(s, buf, (size_t)count, source, &why, err);
    free(buf);
    return st;
  }
  free(buf);
  r->active = 1;
  r->source = source;
  r->t_received = elign_wtime();
  r->next_mol = 0;
  r->n_done = 0;
  r->status = elign_malloc((size_t)r->req.n_mol * sizeof *r->status, "oracle_server:status");
  r->energy = elign_malloc((size_t)r->req.n_mol * sizeof *r->energy, "oracle_server:energy");
  r->forces = elign_malloc(3 * (size_t)r->req.n_atoms * sizeof *r->forces, "oracle_server:forces");
  s->active_reqs++;
  if (r->req.n_mol == 0) return answer(s, slot, err); /* nothing to evaluate: answer at once */
  fifo_push(s, slot);
  s->queued_mols += r->req.n_mol;
  if (s->queued_mols > s->stats->max_queue) s->stats->max_queue = s->queued_mols;
  return ELIGN_OK;
}

static void grow_batch_atoms(server *s, int64_t n_atoms) {
  if (n_atoms <= s->cap_atoms) return;
  s->cap_atoms = n_atoms > 2 * s->cap_atoms ? n_atoms : 2 * s->cap_atoms;
  s->b_Z = elign_realloc(s->b_Z, (size_t)s->cap_atoms * sizeof *s->b_Z, "oracle_server:batch_Z");
  s->b_pos = elign_realloc(s->b_pos, 3 * (size_t)s->cap_atoms * sizeof *s->b_pos, "oracle_server:batch_pos");
  s->b_forces = elign_realloc(s->b_forces, 3 * (size_t)s->cap_atoms * sizeof *s->b_forces, "oracle_server:batch_F");
}

/* Take up to batch_size molecules from the queue head, evaluate, scatter the
 * results back to their requests and answer every request that completed. */
static elign_status run_batch(server *s, elign_error *err) {
  int bs = s->opt->batch_size;
  int64_t n = 0, n_atoms = 0;
  int any_charge = 0, any_mult = 0;
  s->b_off[0] = 0;
  uint32_t channel = s->fifo_len > 0 ? s->reqs[s->fifo[s->fifo_head]].req.channel : 0;
  while (n < bs && s->fifo_len > 0 && (n == 0 || s->opt->merge_requests)) {
    int slot = s->fifo[s->fifo_head];
    server_request *r = &s->reqs[slot];
    if (r->req.channel != channel) break; /* one batch, one oracle */
    while (n < bs && r->next_mol < r->req.n_mol) {
      int64_t m = r->next_mol++;
      int64_t a0 = r->req.offsets[m], na = r->req.offsets[m + 1] - a0;
      grow_batch_atoms(s, n_atoms + na);
      memcpy(s->b_Z + n_atoms, r->req.Z + a0, (size_t)na * sizeof *s->b_Z);
      memcpy(s->b_pos + 3 * n_atoms, r->req.pos + 3 * a0, 3 * (size_t)na * sizeof *s->b_pos);
      s->b_charge[n] = r->req.charge ? r->req.charge[m] : 0;
      s->b_mult[n] = r->req.mult ? r->req.mult[m] : 1;
      any_charge |= r->req.charge != NULL;
      any_mult |= r->req.mult != NULL;
      s->b_slot[n] = slot;
      s->b_mol[n] = m;
      n_atoms += na;
      s->b_off[++n] = n_atoms;
    }
    if (r->next_mol == r->req.n_mol) { /* fully handed out: leave the queue */
      s->fifo_head++;
      s->fifo_len--;
    }
  }
  if (s->fifo_len == 0) s->fifo_head = 0;
  s->queued_mols -= n;

  elign_oracle_batch batch = {.n_mol = n, .offsets = s->b_off, .Z = s->b_Z, .pos = s->b_pos,
                              .charge = any_charge ? s->b_charge : NULL, .multiplicity = any_mult ? s->b_mult : NULL,
                              .channel = (int)channel};
  elign_oracle_result result = {.energy = s->b_energy, .forces = s->b_forces, .status = s->b_status};
  elign_error why;
  double t0 = elign_wtime(), tt = elign_trace_begin();
  if (elign_oracle_evaluate_or_flag(s->evaluate, s->ctx, &batch, &result, &why)) {
    s->stats->backend_errors++;
    elign_warn("oracle server: backend failed a batch of %lld molecules (all flagged): %s", (long long)n, why.msg);
  }
  s->stats->busy_s += elign_wtime() - t0;
  elign_trace_end(tt, "oracle_compute", ELIGN_TRACE_BUSY);
  s->stats->batches++;
  s->stats->molecules += n;
  s->stats->fill_sum += (double)n / bs;

  elign_status st = ELIGN_OK;
  for (int64_t i = 0; i < n; i++) {
    server_request *r = &s->reqs[s->b_slot[i]];
    int64_t m = s->b_mol[i], a0 = r->req.offsets[m], na = r->req.offsets[m + 1] - a0;
    r->status[m] = (int32_t)s->b_status[i];
    r->energy[m] = s->b_energy[i];
    memcpy(r->forces + 3 * a0, s->b_forces + 3 * s->b_off[i], 3 * (size_t)na * sizeof(double));
    if (++r->n_done == r->req.n_mol && st == ELIGN_OK) st = answer(s, s->b_slot[i], err);
  }
  return st;
}

/* Receive everything already waiting, without blocking. */
/* A request or DONE from a rank that has not sent its DONE yet. Once a rank
 * has, its next messages belong to the next server run on the same ranks
 * (eval serves each oracle backend in turn, then the DFT pool): taking them
 * here would answer them with this run's oracle. With no DONE yet, any
 * source; then the open ranks one by one, starting from a rotating rank so
 * that none waits behind the others. */
static int improbe_open(server *s, int *flag, MPI_Message *msg, MPI_Status *status) {
  *flag = 0;
  if (s->dones == 0) return MPI_Improbe(MPI_ANY_SOURCE, ELIGN_ORACLE_TAG_REQUEST, s->comm, flag, msg, status);
  for (int k = 0; k < s->size; k++) {
    int r = (s->probe_next + k) % s->size;
    if (s->done_from[r]) continue;
    int rc = MPI_Improbe(r, ELIGN_ORACLE_TAG_REQUEST, s->comm, flag, msg, status);
    if (rc != MPI_SUCCESS) return rc;
    if (*flag) {
      s->probe_next = (r + 1) % s->size;
      return MPI_SUCCESS;
    }
  }
  return MPI_SUCCESS;
}

/* improbe_open until a message comes or timeout_s of our own running time
 * passes (0: no bound); polls every poll_us (<= 0: the default). */
static int wait_open(server *s, int poll_us, double timeout_s, MPI_Message *msg, MPI_Status *status,
                     int *timed_out) {
  *timed_out = 0;
  if (s->dones == 0) /* the common case: any source, MPI's own wait */
    return elign_oracle_mprobe_within(MPI_ANY_SOURCE, ELIGN_ORACLE_TAG_REQUEST, s->comm, poll_us, timeout_s, msg,
                                      status, timed_out);
  if (poll_us <= 0) poll_us = ELIGN_ORACLE_POLL_US_DEFAULT;
  struct timespec pause = {poll_us / 1000000, (long)(poll_us % 1000000) * 1000L};
  elign_wait_clock clock;
  elign_wait_clock_start(&clock);
  for (;;) {
    int flag = 0, rc = improbe_open(s, &flag, msg, status);
    if (rc != MPI_SUCCESS || flag) return rc;
    if (timeout_s > 0 && elign_wait_clock_tick(&clock) > timeout_s) {
      *timed_out = 1;
      return MPI_SUCCESS;
    }
    nanosleep(&pause, NULL);
  }
}

static elign_status drain(server *s, elign_error *err) {
  for (;;) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status status;
    if (improbe_open(s, &flag, &msg, &status) != MPI_SUCCESS)
      return ELIGN_FAIL(err, ELIGN_ERR_MPI, "oracle server: MPI_Improbe failed");
    if (!flag) return ELIGN_OK;
    elign_status st = receive_one(s, &msg, &status, err);
    if (st != ELIGN_OK) return st;
  }
}

/* Waited mpi.timeout for any message with actors unfinished: name them. */
static elign_status silent_clients(const server *s, double waited, elign_error *err) {
  char who[256] = "";
  size_t used = 0;
  int n = 0;
  for (int i = 0; s->opt->clients && i < s->opt->n_clients; i++) {
    int r = s->opt->clients[i];
    if (s->done_from[r]) continue;
    if (used < sizeof who) used += (size_t)snprintf(who + used, sizeof who - used, "%s%d", n ? ", " : "", r);
    n++;
  }
  if (n)
    ELIGN_FAIL(err, ELIGN_ERR_TIMEOUT, "oracle server: no request or DONE from actor rank%s %s within %g s "
               "(mpi.timeout %g s): stopped, hung or too slow; ending the job", n > 1 ? "s" : "", who, waited,
               s->opt->timeout_s);
  else
    ELIGN_FAIL(err, ELIGN_ERR_TIMEOUT, "oracle server: no message within %g s (mpi.timeout %g s) while %d of %d "
               "actors have not finished; ending the job", waited, s->opt->timeout_s, s->opt->n_clients - s->dones,
               s->opt->n_clients);
  elign_error_hint(err, "if the actors were only busy between requests, raise mpi.timeout (--timeout)");
  return ELIGN_ERR_TIMEOUT;
}

/* wait_s: bound on waiting for the last reply sends (0 = none). A send
 * that does not complete in time (its actor is stopped) is left behind with
 * its buffer: the job is ending. */
static void server_free(server *s, double wait_s) {
  for (int i = 0; i < s->n_reqs; i++)
    if (s->reqs[i].active) {
      elign_wire_request_free(&s->reqs[i].req);
      elign_free(s->reqs[i].status);
      elign_free(s->reqs[i].energy);
      elign_free(s->reqs[i].forces);
    }
  for (int i = 0; i < s->n_sends; i++)
    if (elign_mpi_wait_within(&s->sends[i].req, wait_s)) free(s->sends[i].buf);
  elign_free(s->reqs);
  elign_free(s->fifo);
  elign_free(s->sends);
  elign_free(s->done_from);
  elign_free(s->b_off);
  elign_free(s->b_Z);
  elign_free(s->b_pos);
  elign_free(s->b_energy);
  elign_free(s->b_forces);
  elign_free(s->b_charge);
  elign_free(s->b_mult);
  elign_free(s->b_status);
  elign_free(s->b_slot);
  elign_free(s->b_mol);
}

elign_status elign_oracle_server_run(elign_oracle *oracle, MPI_Comm comm, const elign_oracle_server_options *opt,
                                     elign_oracle_server_stats *stats, elign_error *err) {
  memset(stats, 0, sizeof *stats);
  if (!opt || opt->batch_size < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "oracle.batch_size must be >= 1 (got %d)", opt ? opt->batch_size : 0);
  if (opt->n_clients < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle server: needs at least one actor (n_clients = %d)", opt->n_clients);
  if (!opt->evaluate && !oracle) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle server: no oracle");
  int size;
  MPI_Comm_size(comm, &size);
  server s = {0};
  s.comm = comm;
  s.opt = opt;
  s.evaluate = opt->evaluate ? opt->evaluate : elign_oracle_evaluate_default;
  s.ctx = opt->evaluate ? opt->evaluate_ctx : oracle;
  s.stats = stats;
  s.done_from = elign_calloc((size_t)size, sizeof *s.done_from, "oracle_server:done");
  s.size = size;
  int bs = opt->batch_size;
  s.b_off = elign_malloc((size_t)(bs + 1) * sizeof *s.b_off, "oracle_server:batch_off");
  s.b_energy = elign_malloc((size_t)bs * sizeof *s.b_energy, "oracle_server:batch_E");
  s.b_charge = elign_malloc((size_t)bs * sizeof *s.b_charge, "oracle_server:batch_charge");
  s.b_mult = elign_malloc((size_t)bs * sizeof *s.b_mult, "oracle_server:batch_mult");
  s.b_status = elign_malloc((size_t)bs * sizeof *s.b_status, "oracle_server:batch_status");
  s.b_slot = elign_malloc((size_t)bs * sizeof *s.b_slot, "oracle_server:batch_slot");
  s.b_mol = elign_malloc((size_t)bs * sizeof *s.b_mol, "oracle_server:batch_mol");
  grow_batch_atoms(&s, 1024);

  /* Silent actors: a server waits 2 × mpi.timeout (an actor may itself wait
   * mpi.timeout on another, silent oracle rank and name it first), plus a
   * quarter per rank (mod 8) so that one server, not all at once, ends the
   * job: Open MPI can hang when several ranks call MPI_Abort together. */
  int my_rank = 0;
  MPI_Comm_rank(comm, &my_rank);
  double idle_limit = opt->timeout_s > 0 ? opt->timeout_s * (2.0 + 0.25 * (my_rank % 8)) : 0;
  double t_start = elign_wtime();
  elign_status st = ELIGN_OK;
  for (;;) {
    progress_sends(&s);
    if ((st = drain(&s, err)) != ELIGN_OK) break;
    if (s.queued_mols > 0) {
      if ((st = run_batch(&s, err)) != ELIGN_OK) break;
      continue;
    }
    if (s.dones >= opt->n_clients && s.active_reqs == 0) break;
    /* Nothing to do: wait for the next message (MPI keeps progressing our
     * reply sends meanwhile). This wait is the oracle's idle time. */
    MPI_Message msg;
    MPI_Status status;
    double t0 = elign_wtime(), tt = elign_trace_begin();
    int timed_out = 0;
    if (wait_open(&s, opt->poll_us, idle_limit, &msg, &status, &timed_out) != MPI_SUCCESS) {
      st = ELIGN_FAIL(err, ELIGN_ERR_MPI, "oracle server: MPI_Mprobe failed");
      break;
    }
    if (timed_out) {
      st = silent_clients(&s, idle_limit, err);
      break;
    }
    stats->idle_s += elign_wtime() - t0;
    elign_trace_end(tt, "oracle_idle", ELIGN_TRACE_WAIT);
    if ((st = receive_one(&s, &msg, &status, err)) != ELIGN_OK) break;
  }
  server_free(&s, idle_limit); /* waits for the last replies to leave */
  stats->wall_s = elign_wtime() - t_start;
  return st;
}

void elign_oracle_server_stats_format(const elign_oracle_server_stats *s, int batch_size, char *buf, int buflen) {
  double fill = s->batches ? s->fill_sum / (double)s->batches : 0.0;
  double lat_ms = s->requests ? 1e3 * s->latency_sum_s / (double)s->requests : 0.0;
  double rate = s->wall_s > 0 ? (double)s->molecules / s->wall_s : 0.0;
  snprintf(buf, (size_t)buflen,
           "requests %lld, molecules %lld (%lld flagged) in %lld batches of <= %d (mean fill %.2f, max queue %lld); "
           "latency mean %.2f ms, max %.2f ms; wall %.3f s: busy %.1f%%, idle %.1f%%; %.1f molecules/s; "
           "backend errors %lld, rejected messages %lld",
           (long long)s->requests, (long long)s->molecules, (long long)s->flagged, (long long)s->batches, batch_size,
           fill, (long long)s->max_queue, lat_ms, 1e3 * s->latency_max_s, s->wall_s,
           s->wall_s > 0 ? 100.0 * s->busy_s / s->wall_s : 0.0, s->wall_s > 0 ? 100.0 * s->idle_s / s->wall_s : 0.0,
           rate, (long long)s->backend_errors, (long long)s->rejected);
}

void elign_oracle_server_stats_log(const elign_oracle_server_stats *s, int batch_size) {
  char line[512];
  elign_oracle_server_stats_format(s, batch_size, line, sizeof line);
  elign_info("oracle server: %s", line);
}
