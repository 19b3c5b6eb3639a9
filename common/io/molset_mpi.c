/* molset_mpi.c — molecules moved between ranks (see molset_mpi.h).
 *
 * elign_molset_redistribute_by_id in three exchanges: how many molecules and
 * atoms go where (MPI_Alltoall), each molecule's id and atom count, checked
 * by the receiver before anything large moves, then the atoms themselves
 * (MPI_Alltoallv), placed by id. The ranks agree on a fault after each of
 * the first two, so every rank returns the same status. */
#include "common/io/molset_mpi.h"

#include <limits.h>
#include <string.h>

/* What can be wrong. The largest code found on any rank is the one every
 * rank reports, so a fault a rank finds in its own molecules outranks what
 * the others then see as its consequence (molecules missing). */
enum {
  FAULT_NONE = 0,
  FAULT_TWICE,    /* an id on two ranks (so another on none) */
  FAULT_TOO_MANY, /* molecules or atoms of one rank beyond MPI's int counts */
  FAULT_IDS,      /* ids missing, not ascending, or outside 0 .. n_total − 1 */
  FAULT_FIELDS    /* SMILES, energies or forces: not carried */
};

static elign_status fault_error(int fault, elign_error *err) {
  static const char *const what[] = {
      [FAULT_FIELDS] = "SMILES, energies and forces are not carried",
      [FAULT_IDS] = "every molecule needs an id in 0 .. n_total - 1, ascending on each rank",
      [FAULT_TOO_MANY] = "more than INT_MAX molecules or atoms for one rank (MPI counts are int)",
      [FAULT_TWICE] = "an id is held by two ranks"};
  return ELIGN_FAIL(err, ELIGN_ERR_ARG, "redistributing molecules by id: %s", what[fault]);
}

/* The same fault on every rank: the largest. */
static int agree_fault(MPI_Comm comm, int fault) {
  int all;
  MPI_Allreduce(&fault, &all, 1, MPI_INT, MPI_MAX, comm);
  return all;
}

/* First id of rank r's slice of n_total. */
static int64_t slice_first(int64_t n_total, int r, int size) { return (int64_t)((__int128)n_total * r / size); }

static int local_fault(const elign_molset *m, int64_t n_total) {
  if (m->smiles || m->energy || m->forces) return FAULT_FIELDS;
  if (m->n_mol > 0 && !m->ids) return FAULT_IDS;
  for (int64_t k = 0; k < m->n_mol; k++)
    if (m->ids[k] < 0 || m->ids[k] >= n_total || (k > 0 && m->ids[k] <= m->ids[k - 1])) return FAULT_IDS;
  return m->n_mol > INT_MAX || m->n_atoms > INT_MAX ? FAULT_TOO_MANY : FAULT_NONE;
}

/* Per-rank counts of one exchange, with displacements (int, as MPI wants). */
typedef struct {
  int *send, *send_at, *recv, *recv_at; /* [size] each */
} counts;

typedef struct {
  counts mols, atoms;     /* molecules and atoms to and from each rank */
  int64_t n_recv_mols;    /* sums of the received counts */
  int64_t n_recv_atoms;
  int64_t *recv_ids;      /* [n_recv_mols] in the order received */
  int64_t *recv_natoms;   /* [n_recv_mols] */
  int64_t *slot_source;   /* [slice count]: which received molecule holds id first + slot */
} exchange;

static void counts_init(counts *c, int size) {
  c->send = elign_calloc((size_t)size * 4, sizeof(int), "molset_mpi:counts");
  c->send_at = c->send + size, c->recv = c->send + 2 * size, c->recv_at = c->send + 3 * size;
}

static void exchange_free(exchange *x) {
  elign_free(x->mols.send);
  elign_free(x->atoms.send);
  elign_free(x->recv_ids);
  elign_free(x->recv_natoms);
  elign_free(x->slot_source);
}

/* at[r] = Σ n[< r]; returns the whole sum (int64: it may pass INT_MAX, and
 * the offsets are then clamped, never used: the caller reports it). */
static int64_t displacements(const int *n, int size, int *at) {
  int64_t sum = 0;
  for (int r = 0; r < size; r++) {
    at[r] = sum <= INT_MAX ? (int)sum : INT_MAX;
    sum += n[r];
  }
  return sum;
}

/* Molecules and atoms this rank sends to each rank (ids ascending: one pass). */
static void count_destinations(const elign_molset *m, int64_t n_total, int size, exchange *x) {
  int d = 0;
  for (int64_t k = 0; k < m->n_mol; k++) {
    while (d + 1 < size && m->ids[k] >= slice_first(n_total, d + 1, size)) d++;
    x->mols.send[d]++;
    x->atoms.send[d] += (int)elign_molset_natoms(m, k);
  }
}

/* Step 1: the counts. A fault of this rank (or too much to receive) is
 * agreed before any molecule moves. */
static int exchange_counts(MPI_Comm comm, const elign_molset *m, int64_t n_total, int64_t slice_count, int size,
                           exchange *x) {
  counts_init(&x->mols, size);
  counts_init(&x->atoms, size);
  int fault = local_fault(m, n_total);
  if (!fault) count_destinations(m, n_total, size, x);
  MPI_Alltoall(x->mols.send, 1, MPI_INT, x->mols.recv, 1, MPI_INT, comm);
  MPI_Alltoall(x->atoms.send, 1, MPI_INT, x->atoms.recv, 1, MPI_INT, comm);
  displacements(x->mols.send, size, x->mols.send_at);
  displacements(x->atoms.send, size, x->atoms.send_at);
  x->n_recv_mols = displacements(x->mols.recv, size, x->mols.recv_at);
  x->n_recv_atoms = displacements(x->atoms.recv, size, x->atoms.recv_at);
  if (!fault && (slice_count > INT_MAX || x->n_recv_atoms > INT_MAX)) fault = FAULT_TOO_MANY;
  if (!fault && x->n_recv_mols != slice_count) fault = FAULT_TWICE; /* ids valid on each rank, yet not a partition */
  return agree_fault(comm, fault);
}

/* Step 2: each molecule's id and atom count; the receiver finds each id's
 * slot in its slice (first + slot), and an id that came twice. */
static int exchange_headers(MPI_Comm comm, const elign_molset *m, int64_t first, int64_t slice_count, exchange *x) {
  size_t nr = (size_t)(x->n_recv_mols > 0 ? x->n_recv_mols : 1), nm = (size_t)(m->n_mol > 0 ? m->n_mol : 1);
  int64_t *natoms = elign_malloc(nm * sizeof *natoms, "molset_mpi:natoms");
  for (int64_t k = 0; k < m->n_mol; k++) natoms[k] = elign_molset_natoms(m, k);
  x->recv_ids = elign_malloc(nr * sizeof *x->recv_ids, "molset_mpi:ids");
  x->recv_natoms = elign_malloc(nr * sizeof *x->recv_natoms, "molset_mpi:natoms");
  const counts *c = &x->mols;
  MPI_Alltoallv(m->ids, c->send, c->send_at, MPI_INT64_T, x->recv_ids, c->recv, c->recv_at, MPI_INT64_T, comm);
  MPI_Alltoallv(natoms, c->send, c->send_at, MPI_INT64_T, x->recv_natoms, c->recv, c->recv_at, MPI_INT64_T, comm);
  elign_free(natoms);
  x->slot_source = elign_malloc((size_t)(slice_count > 0 ? slice_count : 1) * sizeof(int64_t), "molset_mpi:slots");
  for (int64_t s = 0; s < slice_count; s++) x->slot_source[s] = -1;
  int fault = FAULT_NONE;
  for (int64_t k = 0; k < x->n_recv_mols && !fault; k++) {
    int64_t s = x->recv_ids[k] - first;
    if (s < 0 || s >= slice_count || x->slot_source[s] >= 0) fault = FAULT_TWICE;
    else x->slot_source[s] = k;
  }
  return agree_fault(comm, fault);
}

/* The slice, in id order, from the atoms received (in the order received). */
static void build_slice(elign_molset *out, const exchange *x, int64_t first, int64_t slice_count, const int32_t *Z,
                        const double *pos) {
  size_t nr = (size_t)x->n_recv_mols, na = (size_t)(x->n_recv_atoms > 0 ? x->n_recv_atoms : 1);
  int64_t *recv_offset = elign_malloc((nr + 1) * sizeof *recv_offset, "molset_mpi:offsets");
  recv_offset[0] = 0;
  for (size_t k = 0; k < nr; k++) recv_offset[k + 1] = recv_offset[k] + x->recv_natoms[k];
  memset(out, 0, sizeof *out);
  out->n_mol = slice_count;
  out->n_atoms = x->n_recv_atoms;
  out->offsets = elign_malloc((size_t)(slice_count + 1) * sizeof *out->offsets, "molset_mpi:offsets");
  out->ids = elign_malloc((size_t)(slice_count > 0 ? slice_count : 1) * sizeof *out->ids, "molset_mpi:ids");
  out->Z = elign_malloc(na * sizeof *out->Z, "molset_mpi:Z");
  out->pos = elign_malloc(na * 3 * sizeof *out->pos, "molset_mpi:pos");
  out->offsets[0] = 0;
  for (int64_t s = 0; s < slice_count; s++) {
    int64_t k = x->slot_source[s], n = x->recv_natoms[k], a = out->offsets[s];
    out->offsets[s + 1] = a + n;
    out->ids[s] = first + s;
    memcpy(out->Z + a, Z + recv_offset[k], (size_t)n * sizeof *Z);
    memcpy(out->pos + 3 * a, pos + 3 * recv_offset[k], (size_t)n * 3 * sizeof *pos);
  }
  elign_free(recv_offset);
}

/* Step 3: the atoms; the old set is freed once sent, then the slice built. */
static void exchange_atoms(MPI_Comm comm, elign_molset *mols, int64_t first, int64_t slice_count, const exchange *x) {
  size_t na = (size_t)(x->n_recv_atoms > 0 ? x->n_recv_atoms : 1);
  int32_t *Z = elign_malloc(na * sizeof *Z, "molset_mpi:Z");
  double *pos = elign_malloc(na * 3 * sizeof *pos, "molset_mpi:pos");
  MPI_Datatype xyz; /* one atom's position: counts stay atom counts, 3x further from INT_MAX */
  MPI_Type_contiguous(3, MPI_DOUBLE, &xyz);
  MPI_Type_commit(&xyz);
  const counts *c = &x->atoms;
  MPI_Alltoallv(mols->Z, c->send, c->send_at, MPI_INT32_T, Z, c->recv, c->recv_at, MPI_INT32_T, comm);
  MPI_Alltoallv(mols->pos, c->send, c->send_at, xyz, pos, c->recv, c->recv_at, xyz, comm);
  MPI_Type_free(&xyz);
  elign_molset_free(mols);
  build_slice(mols, x, first, slice_count, Z, pos);
  elign_free(Z);
  elign_free(pos);
}

elign_status elign_molset_redistribute_by_id(MPI_Comm comm, elign_molset *mols, elign_error *err) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int64_t n_total = 0;
  MPI_Allreduce(&mols->n_mol, &n_total, 1, MPI_INT64_T, MPI_SUM, comm);
  int64_t first = slice_first(n_total, rank, size), slice_count = slice_first(n_total, rank + 1, size) - first;
  exchange x;
  memset(&x, 0, sizeof x);
  int fault = exchange_counts(comm, mols, n_total, slice_count, size, &x);
  if (!fault) fault = exchange_headers(comm, mols, first, slice_count, &x);
  if (!fault) exchange_atoms(comm, mols, first, slice_count, &x);
  exchange_free(&x);
  return fault ? fault_error(fault, err) : ELIGN_OK;
}
