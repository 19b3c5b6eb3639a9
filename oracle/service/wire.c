/* wire.c — pack / validate / unpack actor↔oracle messages (format in wire.h). */
#include "common/chem/elements.h"
#include "oracle/service/wire.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(elign_wire_header) == ELIGN_WIRE_HEADER_BYTES, "wire header must be 56 bytes, no padding");

#define WIRE_MAX_STATUS 1023

/* ------------------------------------------------------------------------
 * Section layout: every section starts on an 8-byte boundary so the doubles
 * are aligned when the buffer is (malloc'd buffers are). */

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

typedef struct {
  size_t offsets, Z, charge, mult, pos, total; /* request byte offsets */
} request_layout;

typedef struct {
  size_t offsets, status, energy, forces, total; /* reply byte offsets */
} reply_layout;

static request_layout layout_request(int64_t n_mol, int64_t n_atoms, uint32_t flags) {
  request_layout L;
  size_t at = ELIGN_WIRE_HEADER_BYTES;
  L.offsets = at;
  at += pad8(8 * (size_t)(n_mol + 1));
  L.Z = at;
  at += pad8(4 * (size_t)n_atoms);
  L.charge = at;
  if (flags & ELIGN_WIRE_HAS_CHARGE) at += pad8(4 * (size_t)n_mol);
  L.mult = at;
  if (flags & ELIGN_WIRE_HAS_MULT) at += pad8(4 * (size_t)n_mol);
  L.pos = at;
  at += 24 * (size_t)n_atoms;
  L.total = at;
  return L;
}

static reply_layout layout_reply(int64_t n_mol, int64_t n_atoms, uint32_t flags) {
  reply_layout L;
  size_t at = ELIGN_WIRE_HEADER_BYTES;
  L.offsets = at;
  at += pad8(8 * (size_t)(n_mol + 1));
  L.status = at;
  at += pad8(4 * (size_t)n_mol);
  L.energy = at;
  at += 8 * (size_t)n_mol;
  L.forces = at;
  if (flags & ELIGN_WIRE_WANT_FORCES) at += 24 * (size_t)n_atoms;
  L.total = at;
  return L;
}

size_t elign_wire_request_bytes(int64_t n_mol, int64_t n_atoms, uint32_t flags) {
  return layout_request(n_mol, n_atoms, flags).total;
}

size_t elign_wire_reply_bytes(int64_t n_mol, int64_t n_atoms, uint32_t flags) {
  return layout_reply(n_mol, n_atoms, flags).total;
}

/* ------------------------------------------------------------------------
 * Checksum: FNV-1a over 64-bit words (then any tail bytes). Each step is a
 * bijection of the state, so changing any single word always changes the
 * result; that is the corruption we must catch (truncation is caught by the
 * length fields). Word-wise because byte-wise FNV costs ~8x more. */

static uint64_t wire_checksum(const uint8_t *buf, size_t len) {
  const uint64_t prime = 0x100000001b3ull;
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, buf + i, 8);
    if (i == offsetof(elign_wire_header, checksum)) w = 0; /* the field itself counts as zero */
    h = (h ^ w) * prime;
  }
  for (; i < len; i++) h = (h ^ buf[i]) * prime;
  return h;
}

void elign_wire_seal(uint8_t *buf, size_t len) {
  if (len < ELIGN_WIRE_HEADER_BYTES) return;
  uint64_t c = wire_checksum(buf, len);
  memcpy(buf + offsetof(elign_wire_header, checksum), &c, 8);
}

void elign_wire_set_channel(uint8_t *buf, size_t len, uint32_t channel) {
  if (len < ELIGN_WIRE_HEADER_BYTES) return;
  memcpy(buf + offsetof(elign_wire_header, channel), &channel, sizeof channel);
  elign_wire_seal(buf, len);
}

static uint8_t *start_message(elign_wire_kind kind, uint32_t flags, uint64_t id, int64_t n_mol, int64_t n_atoms,
                              size_t total) {
  uint8_t *buf = elign_calloc(1, total, "wire:message"); /* zeroed: padding is deterministic */
  elign_wire_header h = {0};
  h.magic = ELIGN_WIRE_MAGIC;
  h.version = ELIGN_WIRE_VERSION;
  h.kind = (uint16_t)kind;
  h.flags = flags;
  h.request_id = id;
  h.n_mol = n_mol;
  h.n_atoms = n_atoms;
  h.total_bytes = total;
  memcpy(buf, &h, sizeof h);
  return buf;
}

/* Last step of every packer: checksum the finished bytes, then hand them over. */
static elign_status finish_message(uint8_t *b, size_t total, uint8_t **buf, size_t *len) {
  elign_wire_seal(b, total);
  *buf = b;
  *len = total;
  return ELIGN_OK;
}

/* Offsets supplied by a caller (pack side): same rules as on unpack. */
static elign_status check_offsets(int64_t n_mol, const int64_t *offsets, elign_error *err) {
  if (n_mol < 0 || n_mol > ELIGN_WIRE_MAX_MOL) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "wire: n_mol %lld out of range", (long long)n_mol);
  if (!offsets) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "wire: offsets missing");
  if (offsets[0] != 0) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "wire: offsets[0] = %lld, want 0", (long long)offsets[0]);
  for (int64_t m = 0; m < n_mol; m++)
    if (offsets[m + 1] < offsets[m])
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "wire: offsets decrease at molecule %lld", (long long)m);
  if (offsets[n_mol] > ELIGN_WIRE_MAX_ATOMS)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "wire: %lld atoms exceed the message limit", (long long)offsets[n_mol]);
  return ELIGN_OK;
}

/* ------------------------------------------------------------------------ pack */

elign_status elign_wire_pack_request(uint64_t request_id, int64_t n_mol, const int64_t *offsets,
                                     const int32_t *Z, const double *pos, const int *charge,
                                     const int *mult, int want_forces, uint8_t **buf, size_t *len,
                                     elign_error *err) {
  elign_status st = check_offsets(n_mol, offsets, err);
  if (st != ELIGN_OK) return st;
  int64_t n_atoms = offsets[n_mol];
  if (n_atoms > 0 && (!Z || !pos)) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "wire: Z or positions missing");
  uint32_t flags = (charge ? ELIGN_WIRE_HAS_CHARGE : 0) | (mult ? ELIGN_WIRE_HAS_MULT : 0) |
                   (want_forces ? ELIGN_WIRE_WANT_FORCES : 0);
  request_layout L = layout_request(n_mol, n_atoms, flags);
  uint8_t *b = start_message(ELIGN_WIRE_REQUEST, flags, request_id, n_mol, n_atoms, L.total);
  memcpy(b + L.offsets, offsets, 8 * (size_t)(n_mol + 1));
  if (n_atoms) memcpy(b + L.Z, Z, 4 * (size_t)n_atoms);
  /* int → int32 one by one: the API takes the oracle's `int` arrays */
  for (int64_t m = 0; charge && m < n_mol; m++) {
    int32_t c = (int32_t)charge[m];
    memcpy(b + L.charge + 4 * m, &c, 4);
  }
  for (int64_t m = 0; mult && m < n_mol; m++) {
    int32_t c = (int32_t)mult[m];
    memcpy(b + L.mult + 4 * m, &c, 4);
  }
  if (n_atoms) memcpy(b + L.pos, pos, 24 * (size_t)n_atoms);
  return finish_message(b, L.total, buf, len);
}

elign_status elign_wire_pack_reply(uint64_t request_id, int64_t n_mol, const int64_t *offsets,
                                   const int32_t *status, const double *energy, const double *forces,
                                   uint8_t **buf, size_t *len, elign_error *err) {
  elign_status st = check_offsets(n_mol, offsets, err);
  if (st != ELIGN_OK) return st;
  if (n_mol > 0 && (!status || !energy)) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "wire: reply status or energy missing");
  int64_t n_atoms = offsets[n_mol];
  uint32_t flags = forces ? ELIGN_WIRE_WANT_FORCES : 0;
  reply_layout L = layout_reply(n_mol, n_atoms, flags);
  uint8_t *b = start_message(ELIGN_WIRE_REPLY, flags, request_id, n_mol, n_atoms, L.total);
  memcpy(b + L.offsets, offsets, 8 * (size_t)(n_mol + 1));
  if (n_mol) {
    memcpy(b + L.status, status, 4 * (size_t)n_mol);
    memcpy(b + L.energy, energy, 8 * (size_t)n_mol);
  }
  if (forces && n_atoms) memcpy(b + L.forces, forces, 24 * (size_t)n_atoms);
  return finish_message(b, L.total, buf, len);
}

elign_status elign_wire_pack_rejected(uint64_t request_id, uint8_t **buf, size_t *len, elign_error *err) {
  reply_layout L = layout_reply(0, 0, ELIGN_WIRE_REJECTED);
  uint8_t *b = start_message(ELIGN_WIRE_REPLY, ELIGN_WIRE_REJECTED, request_id, 0, 0, L.total);
  return finish_message(b, L.total, buf, len);
}

elign_status elign_wire_pack_done(uint8_t **buf, size_t *len, elign_error *err) {
  uint8_t *b = start_message(ELIGN_WIRE_DONE, 0, 0, 0, 0, ELIGN_WIRE_HEADER_BYTES);
  return finish_message(b, ELIGN_WIRE_HEADER_BYTES, buf, len);
}

/* ------------------------------------------------------------------------ validate */

const char *elign_wire_kind_string(uint32_t kind) {
  switch (kind) {
    case ELIGN_WIRE_REQUEST: return "request";
    case ELIGN_WIRE_REPLY: return "reply";
    case ELIGN_WIRE_DONE: return "done";
    default: return "unknown";
  }
}

elign_status elign_wire_peek(const void *buf, size_t len, elign_wire_header *hdr, elign_error *err) {
  if (!buf || len < ELIGN_WIRE_HEADER_BYTES)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: message of %zu bytes is shorter than the %d-byte header", len,
                      ELIGN_WIRE_HEADER_BYTES);
  elign_wire_header h;
  memcpy(&h, buf, sizeof h);
  if (h.magic != ELIGN_WIRE_MAGIC)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: bad magic 0x%08x (not an Elign-C message, or foreign byte order)",
                      h.magic);
  if (h.version != ELIGN_WIRE_VERSION)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: version %u, this build speaks %d", h.version, ELIGN_WIRE_VERSION);
  if (h.kind < ELIGN_WIRE_REQUEST || h.kind > ELIGN_WIRE_DONE)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: unknown message kind %u", h.kind);
  if (h.total_bytes != len)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: %s says %llu bytes but %zu arrived (truncated?)",
                      elign_wire_kind_string(h.kind), (unsigned long long)h.total_bytes, len);
  if (wire_checksum(buf, len) != h.checksum)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: %s %llu: checksum mismatch (corrupted message)",
                      elign_wire_kind_string(h.kind), (unsigned long long)h.request_id);
  if (h.flags & ~ELIGN_WIRE_KNOWN_FLAGS)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: unknown flag bits 0x%x", h.flags);
  if (h.channel > (h.kind == ELIGN_WIRE_REQUEST ? ELIGN_WIRE_MAX_CHANNEL : 0))
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: %s addressed to oracle channel %u (requests only, at most %d)",
                      elign_wire_kind_string(h.kind), h.channel, ELIGN_WIRE_MAX_CHANNEL);
  if (h.n_mol < 0 || h.n_mol > ELIGN_WIRE_MAX_MOL || h.n_atoms < 0 || h.n_atoms > ELIGN_WIRE_MAX_ATOMS)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: counts out of range (n_mol %lld, n_atoms %lld)",
                      (long long)h.n_mol, (long long)h.n_atoms);
  size_t want = h.kind == ELIGN_WIRE_REQUEST ? elign_wire_request_bytes(h.n_mol, h.n_atoms, h.flags)
                : h.kind == ELIGN_WIRE_REPLY ? elign_wire_reply_bytes(h.n_mol, h.n_atoms, h.flags)
                                             : ELIGN_WIRE_HEADER_BYTES;
  if (h.kind == ELIGN_WIRE_DONE && (h.n_mol || h.n_atoms))
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: done message with molecules");
  if (want != len)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: %s of %lld molecules / %lld atoms needs %zu bytes, got %zu",
                      elign_wire_kind_string(h.kind), (long long)h.n_mol, (long long)h.n_atoms, want, len);
  *hdr = h;
  return ELIGN_OK;
}

static elign_status read_offsets(const uint8_t *b, size_t at, const elign_wire_header *h, int64_t **out,
                                 elign_error *err) {
  int64_t *off = elign_malloc(8 * (size_t)(h->n_mol + 1), "wire:offsets");
  memcpy(off, b + at, 8 * (size_t)(h->n_mol + 1));
  elign_status st = ELIGN_OK;
  if (off[0] != 0) st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: offsets[0] = %lld, want 0", (long long)off[0]);
  for (int64_t m = 0; st == ELIGN_OK && m < h->n_mol; m++)
    if (off[m + 1] < off[m])
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: offsets decrease at molecule %lld", (long long)m);
  if (st == ELIGN_OK && off[h->n_mol] != h->n_atoms)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: offsets end at %lld but header says %lld atoms",
                    (long long)off[h->n_mol], (long long)h->n_atoms);
  if (st != ELIGN_OK) {
    elign_free(off);
    return st;
  }
  *out = off;
  return ELIGN_OK;
}

static int32_t *read_i32(const uint8_t *b, size_t at, int64_t n, const char *label) {
  int32_t *a = elign_malloc(4 * (size_t)n, label);
  if (n) memcpy(a, b + at, 4 * (size_t)n);
  return a;
}

static double *read_f64(const uint8_t *b, size_t at, int64_t n, const char *label) {
  double *a = elign_malloc(8 * (size_t)n, label);
  if (n) memcpy(a, b + at, 8 * (size_t)n);
  return a;
}

/* Validate the message and insist on its kind: an unpacker handed the other
 * kind would read its sections with the wrong layout. */
static elign_status peek_expecting(const void *buf, size_t len, elign_wire_kind want, elign_wire_header *h,
                                   elign_error *err) {
  elign_status st = elign_wire_peek(buf, len, h, err);
  if (st != ELIGN_OK) return st;
  if (h->kind != want)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: expected a %s, got a %s", elign_wire_kind_string(want),
                      elign_wire_kind_string(h->kind));
  return ELIGN_OK;
}

/* Index of the first value outside [lo, hi], or −1: the checks a peer's
 * numbers need before anyone indexes a table with them. */
static int64_t first_outside(const int32_t *v, int64_t n, int32_t lo, int32_t hi) {
  for (int64_t i = 0; i < n; i++)
    if (v[i] < lo || v[i] > hi) return i;
  return -1;
}

elign_status elign_wire_unpack_request(const void *buf, size_t len, elign_wire_request *req, elign_error *err) {
  memset(req, 0, sizeof *req);
  elign_wire_header h;
  elign_status st = peek_expecting(buf, len, ELIGN_WIRE_REQUEST, &h, err);
  if (st != ELIGN_OK) return st;
  const uint8_t *b = buf;
  request_layout L = layout_request(h.n_mol, h.n_atoms, h.flags);
  req->request_id = h.request_id;
  req->flags = h.flags;
  req->channel = h.channel;
  req->n_mol = h.n_mol;
  req->n_atoms = h.n_atoms;
  st = read_offsets(b, L.offsets, &h, &req->offsets, err);
  if (st != ELIGN_OK) return st;
  req->Z = read_i32(b, L.Z, h.n_atoms, "wire:Z");
  int64_t bad = first_outside(req->Z, h.n_atoms, 0, ELIGN_MAX_Z);
  if (bad >= 0)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: request %llu: atomic number %d at atom %lld",
                    (unsigned long long)h.request_id, req->Z[bad], (long long)bad);
  if (!st && (h.flags & ELIGN_WIRE_HAS_CHARGE)) req->charge = read_i32(b, L.charge, h.n_mol, "wire:charge");
  if (!st && (h.flags & ELIGN_WIRE_HAS_MULT)) {
    req->mult = read_i32(b, L.mult, h.n_mol, "wire:mult");
    bad = first_outside(req->mult, h.n_mol, 1, INT32_MAX);
    if (bad >= 0)
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: request %llu: multiplicity %d of molecule %lld",
                      (unsigned long long)h.request_id, req->mult[bad], (long long)bad);
  }
  if (st) {
    elign_wire_request_free(req);
    return st;
  }
  req->pos = read_f64(b, L.pos, 3 * h.n_atoms, "wire:pos"); /* NaN allowed: the oracle flags it */
  return ELIGN_OK;
}

elign_status elign_wire_unpack_reply(const void *buf, size_t len, elign_wire_reply *rep, elign_error *err) {
  memset(rep, 0, sizeof *rep);
  elign_wire_header h;
  elign_status st = peek_expecting(buf, len, ELIGN_WIRE_REPLY, &h, err);
  if (st != ELIGN_OK) return st;
  const uint8_t *b = buf;
  reply_layout L = layout_reply(h.n_mol, h.n_atoms, h.flags);
  rep->request_id = h.request_id;
  rep->flags = h.flags;
  rep->n_mol = h.n_mol;
  rep->n_atoms = h.n_atoms;
  st = read_offsets(b, L.offsets, &h, &rep->offsets, err);
  if (st != ELIGN_OK) return st;
  rep->status = read_i32(b, L.status, h.n_mol, "wire:status");
  int64_t bad = first_outside(rep->status, h.n_mol, 0, WIRE_MAX_STATUS);
  if (bad >= 0) {
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "wire: reply %llu: status %d of molecule %lld",
                    (unsigned long long)h.request_id, rep->status[bad], (long long)bad);
    elign_wire_reply_free(rep);
    return st;
  }
  rep->energy = read_f64(b, L.energy, h.n_mol, "wire:energy");
  if (h.flags & ELIGN_WIRE_WANT_FORCES) rep->forces = read_f64(b, L.forces, 3 * h.n_atoms, "wire:forces");
  return ELIGN_OK;
}

void elign_wire_request_free(elign_wire_request *req) {
  if (!req) return;
  elign_free(req->offsets);
  elign_free(req->Z);
  elign_free(req->pos);
  elign_free(req->charge);
  elign_free(req->mult);
}

void elign_wire_reply_free(elign_wire_reply *rep) {
  if (!rep) return;
  elign_free(rep->offsets);
  elign_free(rep->status);
  elign_free(rep->energy);
  elign_free(rep->forces);
}
