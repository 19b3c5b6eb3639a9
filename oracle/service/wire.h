/* wire.h — the MPI message format between actors and oracle ranks.
 *
 * One message = one contiguous byte buffer, sent as MPI_BYTE:
 *
 *   header (56 bytes, fixed)            see elign_wire_header
 *   REQUEST body:
 *     offsets  int64 [n_mol + 1]        molecule m = atoms offsets[m] .. offsets[m+1]-1
 *     Z        int32 [n_atoms]          atomic numbers (padded to 8 bytes)
 *     charge   int32 [n_mol]            if flags & ELIGN_WIRE_HAS_CHARGE (padded to 8)
 *     mult     int32 [n_mol]            if flags & ELIGN_WIRE_HAS_MULT   (padded to 8)
 *     pos      double[n_atoms][3]       Å
 *   REPLY body:
 *     offsets  int64 [n_mol + 1]        echoed, so a reply is self-describing
 *     status   int32 [n_mol]            elign_mol_status values (padded to 8)
 *     energy   double[n_mol]            eV
 *     forces   double[n_atoms][3]       eV/Å, if flags & ELIGN_WIRE_WANT_FORCES
 *   DONE: header only (n_mol = n_atoms = 0): "this actor sends nothing more".
 *
 * Byte order is the sender's native order: every rank of one MPI job runs on
 * the same architecture (x86-64 little endian); the magic number would read
 * byte-swapped on a foreign-endian peer and the message is rejected.
 *
 * The header carries the total length and an FNV-1a 64 checksum of the whole
 * buffer (computed with the checksum field zero), so a truncated or corrupted
 * buffer is an error from elign_wire_unpack_*, never a crash or a silently
 * wrong molecule. Unpacking copies into arrays the decoded struct owns, so
 * the receive buffer can be freed or reused at once.
 */
#ifndef ELIGN_WIRE_H
#define ELIGN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/base/error.h"

#define ELIGN_WIRE_MAGIC 0x31474C45u /* "ELG1" in memory on little-endian */
#define ELIGN_WIRE_VERSION 1
/* Sanity limits: a message larger than this is corrupt, not a real batch. */
#define ELIGN_WIRE_MAX_MOL ((int64_t)1 << 24)
#define ELIGN_WIRE_MAX_ATOMS ((int64_t)1 << 28)

typedef enum {
  ELIGN_WIRE_REQUEST = 1, /* actor → oracle: molecules to evaluate */
  ELIGN_WIRE_REPLY = 2,   /* oracle → actor: energies, forces, statuses */
  ELIGN_WIRE_DONE = 3     /* actor → oracle: no more requests from this actor */
} elign_wire_kind;

/* Flag bits. */
enum {
  ELIGN_WIRE_HAS_CHARGE = 1u << 0, /* request carries per-molecule total charge */
  ELIGN_WIRE_HAS_MULT = 1u << 1,   /* request carries per-molecule spin multiplicity */
  ELIGN_WIRE_WANT_FORCES = 1u << 2,/* request: forces wanted; reply: forces present */
  ELIGN_WIRE_REJECTED = 1u << 3    /* reply: the server could not decode the request (n_mol = 0) */
};
#define ELIGN_WIRE_KNOWN_FLAGS 0xFu

typedef struct {
  uint32_t magic;      /* ELIGN_WIRE_MAGIC */
  uint16_t version;    /* ELIGN_WIRE_VERSION */
  uint16_t kind;       /* elign_wire_kind */
  uint32_t flags;      /* ELIGN_WIRE_* bits */
  uint32_t channel;    /* REQUEST: the server's oracle to ask (0 = primary, <= ELIGN_WIRE_MAX_CHANNEL); else 0 */
  uint64_t request_id; /* chosen by the actor, echoed by the reply */
  int64_t n_mol;
  int64_t n_atoms;
  uint64_t total_bytes;/* length of the whole buffer incl. header */
  uint64_t checksum;   /* FNV-1a 64 over the buffer with this field zero */
} elign_wire_header;

#define ELIGN_WIRE_HEADER_BYTES 56
#define ELIGN_WIRE_MAX_CHANNEL 255

/* A decoded request (arrays owned; free with elign_wire_request_free). */
typedef struct {
  uint64_t request_id;
  uint32_t flags;
  uint32_t channel; /* elign_oracle_batch.channel of the sender */
  int64_t n_mol, n_atoms;
  int64_t *offsets; /* [n_mol + 1] */
  int32_t *Z;       /* [n_atoms] */
  double *pos;      /* [n_atoms][3] Å */
  int32_t *charge;  /* [n_mol] or NULL */
  int32_t *mult;    /* [n_mol] or NULL */
} elign_wire_request;

/* A decoded reply (arrays owned; free with elign_wire_reply_free). */
typedef struct {
  uint64_t request_id;
  uint32_t flags;
  int64_t n_mol, n_atoms;
  int64_t *offsets; /* [n_mol + 1] */
  int32_t *status;  /* [n_mol] elign_mol_status values */
  double *energy;   /* [n_mol] eV */
  double *forces;   /* [n_atoms][3] eV/Å or NULL */
} elign_wire_reply;

/* Exact byte sizes of a message with these counts and flags. */
size_t elign_wire_request_bytes(int64_t n_mol, int64_t n_atoms, uint32_t flags);
size_t elign_wire_reply_bytes(int64_t n_mol, int64_t n_atoms, uint32_t flags);

/* Pack a request into a new buffer (*buf, *len; free with free()).
 * charge/mult may be NULL (then the flag is not set). Offsets must start at 0
 * and not decrease; Z and pos have offsets[n_mol] entries (×3 for pos). */
elign_status elign_wire_pack_request(uint64_t request_id, int64_t n_mol, const int64_t *offsets,
                                     const int32_t *Z, const double *pos, const int *charge,
                                     const int *mult, int want_forces, uint8_t **buf, size_t *len,
                                     elign_error *err);

/* Pack a reply. forces may be NULL (no forces in the reply); status holds
 * elign_mol_status values. */
elign_status elign_wire_pack_reply(uint64_t request_id, int64_t n_mol, const int64_t *offsets,
                                   const int32_t *status, const double *energy, const double *forces,
                                   uint8_t **buf, size_t *len, elign_error *err);

/* A "rejected" reply (flag ELIGN_WIRE_REJECTED, no molecules) for a request
 * whose header named this id but whose body failed validation. */
elign_status elign_wire_pack_rejected(uint64_t request_id, uint8_t **buf, size_t *len, elign_error *err);

/* Address a packed request to oracle channel `channel` (header field, checksum
 * resealed). */
void elign_wire_set_channel(uint8_t *buf, size_t len, uint32_t channel);
/* A DONE message (header only). */
elign_status elign_wire_pack_done(uint8_t **buf, size_t *len, elign_error *err);

/* Validate the header and checksum of any message and return it (copied
 * out: buf need not be aligned). ELIGN_ERR_FORMAT on any inconsistency. */
elign_status elign_wire_peek(const void *buf, size_t len, elign_wire_header *hdr, elign_error *err);

/* Full validation + decode. Never reads outside [buf, buf+len). */
elign_status elign_wire_unpack_request(const void *buf, size_t len, elign_wire_request *req, elign_error *err);
elign_status elign_wire_unpack_reply(const void *buf, size_t len, elign_wire_reply *rep, elign_error *err);

void elign_wire_request_free(elign_wire_request *req);
void elign_wire_reply_free(elign_wire_reply *rep);

const char *elign_wire_kind_string(uint32_t kind);

/* Recompute the checksum of a packed message in place (for tests that edit
 * a message to check the structural validation behind the checksum). */
void elign_wire_seal(uint8_t *buf, size_t len);

#endif
