/* test_wire.c — actor↔oracle message format: round trips of every kind and
 * shape, and corruption (every truncation, every flipped byte, structural
 * edits behind a valid checksum, random garbage) → an error, never a crash. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/service/wire.h"
#include "tests/testutil.h"

/* A small deterministic generator (the test must not depend on rand()). */
static uint64_t lcg_state = 0x9E3779B97F4A7C15ull;
static uint64_t lcg(void) {
  lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
  return lcg_state >> 11;
}
static double uniform(void) { return (double)(lcg() >> 11) / 4503599627370496.0 * 0.5; }

typedef struct {
  int64_t n_mol, n_atoms;
  int64_t *offsets;
  int32_t *Z;
  double *pos;
  int *charge, *mult;
} batch;

/* Molecules of 0..max_atoms atoms (0 allowed: "empty" is the oracle's call, not the wire's). */
static batch make_batch(int64_t n_mol, int max_atoms) {
  batch b = {0};
  b.n_mol = n_mol;
  b.offsets = calloc(n_mol + 1, sizeof *b.offsets);
  for (int64_t m = 0; m < n_mol; m++) b.offsets[m + 1] = b.offsets[m] + (int64_t)(lcg() % (max_atoms + 1));
  b.n_atoms = b.offsets[n_mol];
  b.Z = calloc(b.n_atoms + 1, sizeof *b.Z);
  b.pos = calloc(3 * b.n_atoms + 1, sizeof *b.pos);
  for (int64_t i = 0; i < b.n_atoms; i++) b.Z[i] = 1 + (int32_t)(lcg() % 17);
  for (int64_t i = 0; i < 3 * b.n_atoms; i++) b.pos[i] = (uniform() - 0.25) * 40.0;
  b.charge = calloc(n_mol + 1, sizeof *b.charge);
  b.mult = calloc(n_mol + 1, sizeof *b.mult);
  for (int64_t m = 0; m < n_mol; m++) {
    b.charge[m] = (int)(lcg() % 5) - 2;
    b.mult[m] = 1 + (int)(lcg() % 3);
  }
  return b;
}

static void free_batch(batch *b) {
  free(b->offsets);
  free(b->Z);
  free(b->pos);
  free(b->charge);
  free(b->mult);
}

static int same_bytes(const void *a, const void *b, size_t n) { return n == 0 || memcmp(a, b, n) == 0; }

static void round_trip_request(int64_t n_mol, int max_atoms, int with_charge, int with_mult, int want_forces) {
  batch b = make_batch(n_mol, max_atoms);
  if (n_mol > 0 && b.n_atoms > 0) b.pos[0] = NAN; /* NaN coordinates travel; the oracle flags them */
  uint8_t *buf = NULL;
  size_t len = 0;
  elign_error err;
  elign_error_clear(&err);
  uint64_t id = lcg();
  CHECK(elign_wire_pack_request(id, n_mol, b.offsets, b.Z, b.pos, with_charge ? b.charge : NULL,
                                with_mult ? b.mult : NULL, want_forces, &buf, &len, &err) == ELIGN_OK);
  CHECK(len % 8 == 0);
  uint32_t flags = (with_charge ? ELIGN_WIRE_HAS_CHARGE : 0) | (with_mult ? ELIGN_WIRE_HAS_MULT : 0) |
                   (want_forces ? ELIGN_WIRE_WANT_FORCES : 0);
  CHECK(len == elign_wire_request_bytes(n_mol, b.n_atoms, flags));
  elign_wire_request r;
  CHECK(elign_wire_unpack_request(buf, len, &r, &err) == ELIGN_OK);
  CHECK(r.request_id == id && r.n_mol == n_mol && r.n_atoms == b.n_atoms && r.flags == flags);
  CHECK(same_bytes(r.offsets, b.offsets, 8 * (n_mol + 1)));
  CHECK(same_bytes(r.Z, b.Z, 4 * b.n_atoms));
  CHECK(same_bytes(r.pos, b.pos, 24 * b.n_atoms)); /* bitwise, NaN included */
  CHECK(with_charge ? (r.charge && (n_mol == 0 || memcmp(r.charge, b.charge, 4 * n_mol) == 0)) : r.charge == NULL);
  CHECK(with_mult ? (r.mult && (n_mol == 0 || memcmp(r.mult, b.mult, 4 * n_mol) == 0)) : r.mult == NULL);
  /* a reply must not unpack as a request and vice versa */
  elign_wire_reply rep;
  CHECK(elign_wire_unpack_reply(buf, len, &rep, &err) == ELIGN_ERR_FORMAT);
  elign_wire_request_free(&r);
  free(buf);
  free_batch(&b);
}

static void round_trip_reply(int64_t n_mol, int max_atoms, int with_forces) {
  batch b = make_batch(n_mol, max_atoms);
  int32_t *status = calloc(n_mol + 1, sizeof *status);
  double *energy = calloc(n_mol + 1, sizeof *energy);
  double *forces = calloc(3 * b.n_atoms + 1, sizeof *forces);
  for (int64_t m = 0; m < n_mol; m++) {
    status[m] = (int32_t)(lcg() % 9);
    energy[m] = -1000.0 * uniform();
  }
  for (int64_t i = 0; i < 3 * b.n_atoms; i++) forces[i] = uniform() - 0.25;
  uint8_t *buf = NULL;
  size_t len = 0;
  elign_error err;
  CHECK(elign_wire_pack_reply(77, n_mol, b.offsets, status, energy, with_forces ? forces : NULL, &buf, &len, &err) ==
        ELIGN_OK);
  elign_wire_reply r;
  CHECK(elign_wire_unpack_reply(buf, len, &r, &err) == ELIGN_OK);
  CHECK(r.request_id == 77 && r.n_mol == n_mol && r.n_atoms == b.n_atoms);
  CHECK(same_bytes(r.status, status, 4 * n_mol));
  CHECK(same_bytes(r.energy, energy, 8 * n_mol));
  CHECK(with_forces ? (r.forces && same_bytes(r.forces, forces, 24 * b.n_atoms)) : r.forces == NULL);
  elign_wire_request q;
  CHECK(elign_wire_unpack_request(buf, len, &q, &err) == ELIGN_ERR_FORMAT);
  elign_wire_reply_free(&r);
  free(buf);
  free(status);
  free(energy);
  free(forces);
  free_batch(&b);
}

/* Every strict prefix and every single-byte change of a valid message must be
 * rejected by both unpackers. */
static void corruption_sweep(const uint8_t *good, size_t len) {
  elign_error err;
  elign_wire_request q;
  elign_wire_reply r;
  elign_wire_header h;
  int truncated_ok = 1, flipped_ok = 1;
  for (size_t n = 0; n < len; n++) {
    uint8_t *copy = malloc(n + 1); /* exact-size copy: ASan/valgrind would see an overread */
    memcpy(copy, good, n);
    if (elign_wire_peek(copy, n, &h, &err) == ELIGN_OK) truncated_ok = 0;
    if (elign_wire_unpack_request(copy, n, &q, &err) == ELIGN_OK) truncated_ok = 0;
    if (elign_wire_unpack_reply(copy, n, &r, &err) == ELIGN_OK) truncated_ok = 0;
    free(copy);
  }
  uint8_t *copy = malloc(len);
  for (size_t i = 0; i < len; i++) {
    memcpy(copy, good, len);
    copy[i] ^= (uint8_t)(1u << (i % 8)); /* a different bit each byte */
    if (elign_wire_unpack_request(copy, len, &q, &err) == ELIGN_OK) {
      flipped_ok = 0;
      elign_wire_request_free(&q);
    }
    if (elign_wire_unpack_reply(copy, len, &r, &err) == ELIGN_OK) {
      flipped_ok = 0;
      elign_wire_reply_free(&r);
    }
  }
  free(copy);
  CHECK(truncated_ok);
  CHECK(flipped_ok);
}

/* Edit a field, re-seal (valid checksum), and expect the structural check to catch it. */
static void expect_structural_reject(const uint8_t *good, size_t len, size_t at, const void *value, size_t n,
                                     const char *want_in_msg) {
  uint8_t *copy = malloc(len);
  memcpy(copy, good, len);
  memcpy(copy + at, value, n);
  elign_wire_seal(copy, len);
  elign_error err;
  elign_error_clear(&err);
  elign_wire_request q;
  int rejected = elign_wire_unpack_request(copy, len, &q, &err) == ELIGN_ERR_FORMAT;
  CHECK(rejected);
  if (rejected && !strstr(err.msg, want_in_msg)) {
    fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, want_in_msg);
    CHECK(0);
  }
  if (!rejected) elign_wire_request_free(&q);
  free(copy);
}

int main(void) {
  for (int with_charge = 0; with_charge < 2; with_charge++)
    for (int with_mult = 0; with_mult < 2; with_mult++)
      for (int forces = 0; forces < 2; forces++) {
        round_trip_request(0, 5, with_charge, with_mult, forces);
        round_trip_request(1, 5, with_charge, with_mult, forces);
        round_trip_request(7, 30, with_charge, with_mult, forces); /* odd counts exercise padding */
        round_trip_request(200, 40, with_charge, with_mult, forces);
      }
  for (int forces = 0; forces < 2; forces++) {
    round_trip_reply(0, 3, forces);
    round_trip_reply(3, 9, forces);
    round_trip_reply(150, 30, forces);
  }

  /* done and rejected */
  uint8_t *buf;
  size_t len;
  elign_wire_header h;
  elign_error err;
  CHECK(elign_wire_pack_done(&buf, &len, &err) == ELIGN_OK);
  CHECK(elign_wire_peek(buf, len, &h, &err) == ELIGN_OK && h.kind == ELIGN_WIRE_DONE && len == ELIGN_WIRE_HEADER_BYTES);
  corruption_sweep(buf, len);
  free(buf);
  CHECK(elign_wire_pack_rejected(42, &buf, &len, &err) == ELIGN_OK);
  elign_wire_reply rej;
  CHECK(elign_wire_unpack_reply(buf, len, &rej, &err) == ELIGN_OK && rej.request_id == 42 &&
        (rej.flags & ELIGN_WIRE_REJECTED) && rej.n_mol == 0);
  elign_wire_reply_free(&rej);
  free(buf);

  /* corruption of a real request and reply */
  batch b = make_batch(5, 6);
  CHECK(elign_wire_pack_request(9, b.n_mol, b.offsets, b.Z, b.pos, b.charge, b.mult, 1, &buf, &len, &err) ==
        ELIGN_OK);
  corruption_sweep(buf, len);

  /* structural errors behind a valid checksum */
  int64_t bad64 = -1;
  expect_structural_reject(buf, len, ELIGN_WIRE_HEADER_BYTES, &bad64, 8, "offsets[0]");
  int64_t big = b.n_atoms + 1;
  expect_structural_reject(buf, len, ELIGN_WIRE_HEADER_BYTES + 8 * 5, &big, 8, "offsets"); /* last offset */
  int32_t badZ = 500;
  size_t z_at = ELIGN_WIRE_HEADER_BYTES + 8 * 6;
  if (b.n_atoms > 0) expect_structural_reject(buf, len, z_at, &badZ, 4, "atomic number");
  uint32_t badmagic = 0x12345678u;
  expect_structural_reject(buf, len, 0, &badmagic, 4, "magic");
  uint16_t badver = 99;
  expect_structural_reject(buf, len, 4, &badver, 2, "version");
  int64_t more_mol = 6; /* header count no longer matches the length */
  expect_structural_reject(buf, len, 24, &more_mol, 8, "needs");
  uint64_t badtotal = len + 8;
  expect_structural_reject(buf, len, 40, &badtotal, 8, "truncated");
  uint32_t badflags = 0x100;
  expect_structural_reject(buf, len, 8, &badflags, 4, "flag");
  free(buf);

  int32_t status[5] = {0, 1, 2, 3, 8};
  double energy[5] = {1, 2, 3, 4, 5};
  CHECK(elign_wire_pack_reply(9, b.n_mol, b.offsets, status, energy, b.pos, &buf, &len, &err) == ELIGN_OK);
  corruption_sweep(buf, len);
  free(buf);

  /* pack-side argument checks */
  int64_t decreasing[3] = {0, 3, 2};
  CHECK(elign_wire_pack_request(1, 2, decreasing, b.Z, b.pos, NULL, NULL, 1, &buf, &len, &err) == ELIGN_ERR_ARG);
  CHECK(elign_wire_pack_request(1, -1, b.offsets, b.Z, b.pos, NULL, NULL, 1, &buf, &len, &err) == ELIGN_ERR_ARG);
  free_batch(&b);

  /* random garbage, and garbage behind a valid header of the right length */
  int garbage_ok = 1;
  for (int t = 0; t < 2000; t++) {
    size_t n = (size_t)(lcg() % 400);
    uint8_t *g = malloc(n + 1);
    for (size_t i = 0; i < n; i++) g[i] = (uint8_t)lcg();
    if (n >= ELIGN_WIRE_HEADER_BYTES && (t & 1)) { /* plausible header, random body */
      elign_wire_header gh = {ELIGN_WIRE_MAGIC, ELIGN_WIRE_VERSION, ELIGN_WIRE_REQUEST, 0, 0, 1, 0, 0, n, 0};
      memcpy(g, &gh, sizeof gh);
      elign_wire_seal(g, n);
    }
    elign_wire_request q;
    elign_wire_reply r;
    if (elign_wire_unpack_request(g, n, &q, &err) == ELIGN_OK) {
      /* only a consistent message may pass: recheck its invariants */
      if (q.offsets[0] != 0 || q.offsets[q.n_mol] != q.n_atoms) garbage_ok = 0;
      elign_wire_request_free(&q);
    }
    if (elign_wire_unpack_reply(g, n, &r, &err) == ELIGN_OK) elign_wire_reply_free(&r);
    free(g);
  }
  CHECK(garbage_ok);
  return test_main_result("test_wire");
}
