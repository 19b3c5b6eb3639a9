/* client.c — actor side of the oracle service, MPI or embedded (see client.h). */
#include "oracle/service/client.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chem/elements.h"
#include "oracle/service/wire.h"

typedef struct {
  uint64_t id;
  int oracle;            /* rank it went to (MPI) */
  uint8_t *send_buf;     /* MPI: kept until the Isend completes */
  MPI_Request send_req;
  int64_t n_mol, n_atoms;
  int want_forces;
  int answered;
  elign_wire_reply reply; /* valid once answered */
} client_entry;

struct elign_oracle_client {
  int embedded;
  /* MPI */
  MPI_Comm comm;
  int *oracles;
  int n_oracles, next_oracle;
  int done_sent;
  int poll_us;           /* see elign_oracle_mprobe */
  double timeout_s;      /* mpi.timeout for a reply; <= 0: none */
  /* embedded */
  elign_oracle_evaluate_fn evaluate;
  void *ctx;
  int batch_size;

  uint64_t next_id;
  client_entry *entries;
  int n_entries, cap_entries;
};

static elign_oracle_client *client_new(void) {
  elign_oracle_client *c = elign_calloc(1, sizeof *c, "oracle_client");
  c->next_id = 1;
  return c;
}

elign_status elign_oracle_client_create_mpi(MPI_Comm comm, const int *oracle_ranks, int n_oracles,
                                            elign_oracle_client **out, elign_error *err) {
  int size;
  MPI_Comm_size(comm, &size);
  if (n_oracles < 1) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle client: no oracle ranks");
  for (int i = 0; i < n_oracles; i++)
    if (oracle_ranks[i] < 0 || oracle_ranks[i] >= size)
      return ELIGN_FAIL(err, ELIGN_ERR_MPI, "oracle client: oracle rank %d outside a communicator of %d ranks",
                        oracle_ranks[i], size);
  elign_oracle_client *c = client_new();
  c->comm = comm;
  c->n_oracles = n_oracles;
  c->oracles = elign_malloc((size_t)n_oracles * sizeof *c->oracles, "oracle_client:ranks");
  memcpy(c->oracles, oracle_ranks, (size_t)n_oracles * sizeof *c->oracles);
  *out = c;
  return ELIGN_OK;
}

elign_status elign_oracle_client_create_embedded_fn(elign_oracle_evaluate_fn evaluate, void *ctx, int batch_size,
                                                    elign_oracle_client **out, elign_error *err) {
  if (batch_size < 1) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "oracle.batch_size must be >= 1 (got %d)", batch_size);
  elign_oracle_client *c = client_new();
  c->embedded = 1;
  c->evaluate = evaluate;
  c->ctx = ctx;
  c->batch_size = batch_size;
  *out = c;
  return ELIGN_OK;
}

elign_status elign_oracle_client_create_embedded(elign_oracle *oracle, int batch_size, elign_oracle_client **out,
                                                 elign_error *err) {
  if (!oracle) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle client: no oracle");
  return elign_oracle_client_create_embedded_fn(elign_oracle_evaluate_default, oracle, batch_size, out, err);
}

static client_entry *find_entry(elign_oracle_client *c, uint64_t id) {
  for (int i = 0; i < c->n_entries; i++)
    if (c->entries[i].id == id) return &c->entries[i];
  return NULL;
}

static client_entry *add_entry(elign_oracle_client *c) {
  if (c->n_entries == c->cap_entries) {
    c->cap_entries = c->cap_entries ? 2 * c->cap_entries : 16;
    c->entries = elign_realloc(c->entries, (size_t)c->cap_entries * sizeof *c->entries, "oracle_client:entries");
  }
  client_entry *e = &c->entries[c->n_entries++];
  memset(e, 0, sizeof *e);
  e->id = c->next_id++;
  return e;
}

static void drop_entry(elign_oracle_client *c, client_entry *e) {
  if (e->send_buf) {
    MPI_Wait(&e->send_req, MPI_STATUS_IGNORE);
    free(e->send_buf);
  }
  elign_wire_reply_free(&e->reply);
  *e = c->entries[--c->n_entries];
}

/* Embedded: evaluate now, in chunks of batch_size, into e->reply. */
static void evaluate_embedded(elign_oracle_client *c, client_entry *e, const elign_oracle_batch *batch) {
  elign_wire_reply *r = &e->reply;
  r->request_id = e->id;
  r->n_mol = e->n_mol;
  r->n_atoms = e->n_atoms;
  r->flags = e->want_forces ? ELIGN_WIRE_WANT_FORCES : 0;
  r->offsets = elign_malloc((size_t)(e->n_mol + 1) * sizeof *r->offsets, "oracle_client:offsets");
  memcpy(r->offsets, batch->offsets, (size_t)(e->n_mol + 1) * sizeof *r->offsets);
  r->status = elign_malloc((size_t)e->n_mol * sizeof *r->status, "oracle_client:status");
  r->energy = elign_malloc((size_t)e->n_mol * sizeof *r->energy, "oracle_client:energy");
  /* forces always computed (backends do them together); returned only if wanted */
  r->forces = elign_calloc(3 * (size_t)e->n_atoms, sizeof *r->forces, "oracle_client:forces");
  elign_mol_status *st = elign_malloc((size_t)c->batch_size * sizeof *st, "oracle_client:chunk_status");
  int64_t *off = elign_malloc((size_t)(c->batch_size + 1) * sizeof *off, "oracle_client:chunk_off");
  for (int64_t m0 = 0; m0 < e->n_mol; m0 += c->batch_size) {
    int64_t n = e->n_mol - m0 < c->batch_size ? e->n_mol - m0 : c->batch_size;
    int64_t a0 = batch->offsets[m0];
    for (int64_t i = 0; i <= n; i++) off[i] = batch->offsets[m0 + i] - a0; /* rebase to 0 */
    elign_oracle_batch chunk = {.n_mol = n, .offsets = off, .Z = batch->Z + a0, .pos = batch->pos + 3 * a0,
                                .charge = batch->charge ? batch->charge + m0 : NULL,
                                .multiplicity = batch->multiplicity ? batch->multiplicity + m0 : NULL,
                                .channel = batch->channel};
    elign_oracle_result res = {.energy = r->energy + m0, .forces = r->forces + 3 * a0, .status = st};
    elign_oracle_evaluate_or_flag(c->evaluate, c->ctx, &chunk, &res, NULL);
    for (int64_t i = 0; i < n; i++) r->status[m0 + i] = (int32_t)st[i];
  }
  free(st);
  free(off);
  e->answered = 1;
}

elign_status elign_oracle_client_submit(elign_oracle_client *c, const elign_oracle_batch *batch, int want_forces,
                                        uint64_t *id, elign_error *err) {
  if (!c || !batch || batch->n_mol < 0 || (batch->n_mol > 0 && !batch->offsets))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle client: bad batch");
  if (c->done_sent) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle client: submit after done");
  if (batch->channel < 0 || batch->channel > ELIGN_WIRE_MAX_CHANNEL)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle client: oracle channel %d outside 0..%d", batch->channel,
                      ELIGN_WIRE_MAX_CHANNEL);
  static const int64_t zero_offsets[1] = {0};
  const int64_t *offsets = batch->n_mol > 0 ? batch->offsets : zero_offsets;
  client_entry probe = {0};
  probe.n_mol = batch->n_mol;
  probe.n_atoms = offsets[batch->n_mol];
  if (c->embedded) {
    elign_oracle_batch b = *batch;
    b.offsets = offsets;
    client_entry *e = add_entry(c);
    e->n_mol = probe.n_mol;
    e->n_atoms = probe.n_atoms;
    e->want_forces = want_forces;
    evaluate_embedded(c, e, &b);
    *id = e->id;
    return ELIGN_OK;
  }
  uint8_t *buf;
  size_t len;
  elign_status st = elign_wire_pack_request(c->next_id, batch->n_mol, offsets, batch->Z, batch->pos, batch->charge,
                                            batch->multiplicity, want_forces, &buf, &len, err);
  if (st != ELIGN_OK) return st;
  if (batch->channel) elign_wire_set_channel(buf, len, (uint32_t)batch->channel);
  if (len > (size_t)INT_MAX) { /* MPI counts are int */
    free(buf);
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle client: a batch of %lld molecules / %lld atoms is %zu bytes, over "
                      "one MPI message's 2 GiB; submit it in parts", (long long)batch->n_mol, (long long)probe.n_atoms, len);
  }
  client_entry *e = add_entry(c);
  e->n_mol = probe.n_mol;
  e->n_atoms = probe.n_atoms;
  e->want_forces = want_forces;
  e->oracle = c->oracles[c->next_oracle];
  c->next_oracle = (c->next_oracle + 1) % c->n_oracles;
  e->send_buf = buf;
  if (MPI_Isend(buf, (int)len, MPI_BYTE, e->oracle, ELIGN_ORACLE_TAG_REQUEST, c->comm, &e->send_req) != MPI_SUCCESS) {
    e->send_buf = NULL;
    free(buf);
    drop_entry(c, e);
    return ELIGN_FAIL(err, ELIGN_ERR_MPI, "oracle client: MPI_Isend to oracle rank %d failed", e->oracle);
  }
  *id = e->id;
  return ELIGN_OK;
}

/* No reply within the timeout: name the oracle ranks that owe one. */
static elign_status silent_oracles(const elign_oracle_client *c, elign_error *err) {
  char who[256] = "";
  size_t used = 0;
  int n = 0;
  for (int k = 0; k < c->n_oracles; k++) {
    int owes = 0;
    for (int i = 0; i < c->n_entries && !owes; i++)
      owes = !c->entries[i].answered && c->entries[i].oracle == c->oracles[k];
    if (!owes) continue;
    if (used < sizeof who) used += (size_t)snprintf(who + used, sizeof who - used, "%s%d", n ? ", " : "", c->oracles[k]);
    n++;
  }
  ELIGN_FAIL(err, ELIGN_ERR_TIMEOUT, "oracle client: no reply from oracle rank%s %s within %g s (mpi.timeout): "
             "stopped, hung or too slow; ending the job", n > 1 ? "s" : "", who, c->timeout_s);
  elign_error_hint(err, "if a batch legitimately takes longer (DFT, large molecules), raise mpi.timeout (--timeout)");
  return ELIGN_ERR_TIMEOUT;
}

static elign_status handle_reply(elign_oracle_client *c, MPI_Message *msgp, MPI_Status *statusp, elign_error *err);

/* Receive one reply (blocking, up to the timeout) and file it under its request. */
static elign_status receive_reply(elign_oracle_client *c, elign_error *err) {
  MPI_Message msg;
  MPI_Status status;
  int timed_out = 0;
  if (elign_oracle_mprobe_within(MPI_ANY_SOURCE, ELIGN_ORACLE_TAG_REPLY, c->comm, c->poll_us, c->timeout_s, &msg,
                                 &status, &timed_out) != MPI_SUCCESS)
    return ELIGN_FAIL(err, ELIGN_ERR_MPI, "oracle client: MPI_Mprobe failed");
  if (timed_out) return silent_oracles(c, err);
  return handle_reply(c, &msg, &status, err);
}

/* Receive the probed reply and file it under its request. */
static elign_status handle_reply(elign_oracle_client *c, MPI_Message *msgp, MPI_Status *statusp, elign_error *err) {
  MPI_Message msg = *msgp;
  MPI_Status status = *statusp;
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  uint8_t *buf = elign_malloc((size_t)count + 1, "oracle_client:recv");
  if (MPI_Mrecv(buf, count, MPI_BYTE, &msg, &status) != MPI_SUCCESS) {
    free(buf);
    return ELIGN_FAIL(err, ELIGN_ERR_MPI, "oracle client: MPI_Mrecv from rank %d failed", status.MPI_SOURCE);
  }
  elign_wire_reply rep;
  elign_status st = elign_wire_unpack_reply(buf, (size_t)count, &rep, err);
  free(buf);
  if (st != ELIGN_OK) {
    elign_error_prefix(err, "oracle client: reply from rank %d: ", status.MPI_SOURCE);
    return st;
  }
  client_entry *e = find_entry(c, rep.request_id);
  if (!e || e->answered || e->oracle != status.MPI_SOURCE) {
    st = ELIGN_FAIL(err, ELIGN_ERR_MPI, "oracle client: rank %d answered request %llu, which %s", status.MPI_SOURCE,
                    (unsigned long long)rep.request_id,
                    !e ? "is not outstanding" : e->answered ? "was already answered" : "went to another rank");
    elign_wire_reply_free(&rep);
    return st;
  }
  if (!(rep.flags & ELIGN_WIRE_REJECTED) &&
      (rep.n_mol != e->n_mol || rep.n_atoms != e->n_atoms || (e->want_forces && !rep.forces))) {
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "oracle client: reply %llu has %lld molecules / %lld atoms, sent %lld / %lld",
                    (unsigned long long)rep.request_id, (long long)rep.n_mol, (long long)rep.n_atoms,
                    (long long)e->n_mol, (long long)e->n_atoms);
    elign_wire_reply_free(&rep);
    return st;
  }
  e->reply = rep;
  e->answered = 1;
  return ELIGN_OK;
}

elign_status elign_oracle_client_wait(elign_oracle_client *c, uint64_t id, elign_oracle_result *result,
                                      elign_error *err) {
  client_entry *e = find_entry(c, id);
  if (!e) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle client: request %llu is not outstanding", (unsigned long long)id);
  while (!e->answered) {
    elign_status st = receive_reply(c, err);
    if (st != ELIGN_OK) return st;
    e = find_entry(c, id); /* the entry table does not move during receive, but stay safe */
  }
  elign_status st = ELIGN_OK;
  if (e->reply.flags & ELIGN_WIRE_REJECTED) {
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "oracle client: oracle rank %d rejected request %llu as malformed",
                    e->oracle, (unsigned long long)id);
  } else {
    for (int64_t m = 0; m < e->n_mol; m++) {
      result->energy[m] = e->reply.energy[m];
      result->status[m] = (elign_mol_status)e->reply.status[m];
    }
    if (result->forces && e->want_forces && e->n_atoms)
      memcpy(result->forces, e->reply.forces, 3 * (size_t)e->n_atoms * sizeof(double));
  }
  drop_entry(c, e);
  return st;
}

void elign_oracle_client_set_poll(elign_oracle_client *c, int poll_us) {
  if (c) c->poll_us = poll_us;
}

void elign_oracle_client_set_timeout(elign_oracle_client *c, double timeout_s) {
  if (c) c->timeout_s = timeout_s;
}

int elign_oracle_client_outstanding(const elign_oracle_client *c) { return c ? c->n_entries : 0; }

elign_status elign_oracle_client_poll(elign_oracle_client *c, int64_t *pending_molecules, elign_error *err) {
  if (!c->embedded) {
    for (;;) {
      int flag = 0;
      MPI_Message msg;
      MPI_Status status;
      if (MPI_Improbe(MPI_ANY_SOURCE, ELIGN_ORACLE_TAG_REPLY, c->comm, &flag, &msg, &status) != MPI_SUCCESS)
        return ELIGN_FAIL(err, ELIGN_ERR_MPI, "oracle client: MPI_Improbe failed");
      if (!flag) break;
      elign_status st = handle_reply(c, &msg, &status, err);
      if (st != ELIGN_OK) return st;
    }
  }
  int64_t n = 0;
  for (int i = 0; i < c->n_entries; i++)
    if (!c->entries[i].answered) n += c->entries[i].n_mol;
  if (pending_molecules) *pending_molecules = n;
  return ELIGN_OK;
}

elign_status elign_oracle_client_done(elign_oracle_client *c, elign_error *err) {
  if (!c || c->embedded || c->done_sent) return ELIGN_OK;
  uint8_t *buf;
  size_t len;
  elign_wire_pack_done(&buf, &len, err);
  elign_status st = ELIGN_OK;
  /* Same tag as requests: MPI's non-overtaking rule delivers it after them. */
  for (int i = 0; i < c->n_oracles && st == ELIGN_OK; i++)
    if (MPI_Send(buf, (int)len, MPI_BYTE, c->oracles[i], ELIGN_ORACLE_TAG_REQUEST, c->comm) != MPI_SUCCESS)
      st = ELIGN_FAIL(err, ELIGN_ERR_MPI, "oracle client: sending DONE to oracle rank %d failed", c->oracles[i]);
  free(buf);
  c->done_sent = 1;
  return st;
}

void elign_oracle_client_destroy(elign_oracle_client **cp) {
  if (!cp || !*cp) return;
  elign_oracle_client *c = *cp;
  while (c->n_entries) drop_entry(c, &c->entries[c->n_entries - 1]);
  elign_free(c->entries);
  elign_free(c->oracles);
  elign_free(c);
  *cp = NULL;
}

elign_status elign_oracle_isolated_atoms(elign_oracle_client *c, int channel, const uint8_t *want, double *e_atom,
                                         elign_error *err) {
  int32_t Z[ELIGN_MAX_Z + 1];
  int mult[ELIGN_MAX_Z + 1];
  int64_t offsets[ELIGN_MAX_Z + 2];
  double pos[3 * (ELIGN_MAX_Z + 1)] = {0}, energy[ELIGN_MAX_Z + 1];
  elign_mol_status status[ELIGN_MAX_Z + 1];
  int n = 0;
  offsets[0] = 0;
  for (int z = 1; z <= ELIGN_MAX_Z; z++) {
    if (!want[z]) continue;
    e_atom[z] = NAN;
    if (elign_atom_ground_multiplicity(z) == 0) continue;
    Z[n] = z;
    mult[n] = elign_atom_ground_multiplicity(z);
    offsets[n + 1] = n + 1;
    n++;
  }
  if (n == 0) return ELIGN_OK;
  elign_oracle_batch b = {.n_mol = n, .offsets = offsets, .Z = Z, .pos = pos, .multiplicity = mult, .channel = channel};
  elign_oracle_result r = {.energy = energy, .forces = NULL, .status = status};
  uint64_t id;
  elign_status st = elign_oracle_client_submit(c, &b, 0, &id, err);
  if (st == ELIGN_OK) st = elign_oracle_client_wait(c, id, &r, err);
  for (int i = 0; st == ELIGN_OK && i < n; i++)
    e_atom[Z[i]] = status[i] == ELIGN_MOL_OK && isfinite(energy[i]) ? energy[i] : NAN;
  return st;
}
