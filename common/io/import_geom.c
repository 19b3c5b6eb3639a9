/* import_geom.c — GEOM-Drugs drugs_crude.msgpack → dataset file, streaming.
 *
 * The file (Axelrod & Gómez-Bombarelli 2022) is a sequence of top-level
 * msgpack maps, each holding about a thousand molecules:
 *   SMILES -> {"conformers": [{"xyz": [[Z, x, y, z], ...] (Å),
 *                              "totalenergy": E (Hartree), "relativeenergy",
 *                              "boltzmannweight", "geom_id", ...}, ...],
 *              "charge", "totalconfs", ... (molecule-level)}
 * A msgpack_unpacker returns whole top-level objects, and one top-level map
 * unpacks to hundreds of MB. So the outer map headers are read here, off the
 * unpacker's own buffer (its public fields buffer/used/off), and the
 * unpacker returns each SMILES key and each molecule as one object: memory
 * holds one molecule's conformers (encoded bytes plus the object tree) and a
 * fixed read buffer, whatever the file size. The kept conformers go straight
 * into an elign_dataset_stream.
 *
 * Selection, as EDM's build_geom_dataset.py (extract_conformers, then
 * load_split_data) does it:
 *   - per molecule, the conformers sorted by totalenergy, the first
 *     max_conformers (30) kept in that order (ties keep file order, NaN last:
 *     numpy's argsort for up to 16 conformers, kind='stable' always);
 *   - every kept conformer is one dataset entry;
 *   - entries with more than max_atoms atoms are dropped (EDM's
 *     --filter_molecule_size; GEOM's largest molecule has 181 atoms, so the
 *     default 181 drops nothing from the real file);
 *   - elements outside EDM's 16 types are kept (EDM's one-hot gives them an
 *     all-zero row), unless drop_unknown_elements;
 *   - split: EDM permutes the entries randomly, the first int(0.1 N) are
 *     validation, the next int(0.1 N) test, the rest train. Here the
 *     permutation is elign_split_permute(split_seed, N, ·), reproducible.
 */
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/base/log.h"
#include "common/base/rng.h"
#include "common/io/dataset_stream.h"
#include "common/io/importers.h"

const int elign_geom_atomic_nb[ELIGN_GEOM_N_TYPES] = {1, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 33, 35, 53, 80, 83};

void elign_geom_options_default(elign_geom_options *o) {
  memset(o, 0, sizeof *o);
  o->max_conformers = 30;
  o->max_atoms = 181;
  o->valid_fraction = 0.1;
  o->test_fraction = 0.1;
  o->split_seed = 0;
}

int elign_import_is_geom(const char *path) {
  size_t n = strlen(path);
  return n >= 8 && strcmp(path + n - 8, ".msgpack") == 0;
}

/* ---- the split permutation ------------------------------------------------------------------------------- */

#define FEISTEL_ROUNDS 6

int64_t elign_split_permute(uint64_t seed, int64_t n, int64_t i) {
  ELIGN_ASSERT(n > 0 && i >= 0 && i < n && n <= ((int64_t)1 << 62));
  int bits = 2;
  while (((int64_t)1 << bits) < n) bits++;
  bits += bits & 1; /* balanced halves */
  int half = bits / 2;
  uint64_t mask = (UINT64_C(1) << half) - 1;
  uint64_t x = (uint64_t)i;
  /* The Feistel network permutes [0, 2^bits); walking the cycle of i until it
   * re-enters [0, n) restricts it to a permutation of [0, n). */
  do {
    uint64_t l = x >> half, r = x & mask;
    for (uint32_t round = 0; round < FEISTEL_ROUNDS; round++) {
      elign_rng rng = elign_rng_stream(seed, round, (uint32_t)r, 0, 0, ELIGN_RNG_DATA_SPLIT);
      uint64_t f = elign_rng_u32(&rng) & mask;
      uint64_t t = l ^ f;
      l = r;
      r = t;
    }
    x = (l << half) | r;
  } while (x >= (uint64_t)n);
  return (int64_t)x;
}

/* ---- msgpack reader: outer map headers here, objects from msgpack-c ------------------------------------------ */

typedef struct {
  const char *path;
  FILE *fp;
  msgpack_unpacker up;
  int up_ready;
  size_t read_bytes;
  int64_t fed;         /* file bytes handed to the unpacker */
  int64_t file_bytes;
  int eof;
  int64_t n_maps;      /* top-level maps opened */
  uint64_t pairs_left; /* molecules left in the current top-level map */
} geom_reader;

/* File offset of the next byte the unpacker has not parsed. */
static int64_t reader_offset(const geom_reader *r) { return r->fed - (int64_t)(r->up.used - r->up.off); }
static size_t reader_avail(const geom_reader *r) { return r->up.used - r->up.off; }

static elign_status reader_fill(geom_reader *r, elign_error *err) {
  if (!msgpack_unpacker_reserve_buffer(&r->up, r->read_bytes))
    return ELIGN_FAIL(err, ELIGN_ERR_NOMEM, "%s: out of memory growing the msgpack buffer", r->path);
  size_t want = msgpack_unpacker_buffer_capacity(&r->up);
  if (want > r->read_bytes) want = r->read_bytes;
  size_t got = fread(msgpack_unpacker_buffer(&r->up), 1, want, r->fp);
  if (got == 0) {
    if (ferror(r->fp))
      return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: read error at byte offset %lld: %s", r->path, (long long)r->fed,
                        strerror(errno));
    r->eof = 1;
  }
  msgpack_unpacker_buffer_consumed(&r->up, got);
  r->fed += (int64_t)got;
  return ELIGN_OK;
}

/* Open the next non-empty top-level map (its header is consumed here, so
 * the unpacker sees only its keys and values). *done = 1 at a clean end. */
static elign_status reader_open_map(geom_reader *r, int *done, elign_error *err) {
  *done = 0;
  for (;;) {
    elign_status st = ELIGN_OK;
    while (st == ELIGN_OK && reader_avail(r) < 5 && !r->eof) st = reader_fill(r, err);
    if (st != ELIGN_OK) return st;
    size_t avail = reader_avail(r);
    if (avail == 0) {
      *done = 1;
      return ELIGN_OK;
    }
    const unsigned char *p = (const unsigned char *)r->up.buffer + r->up.off;
    size_t len = p[0] >= 0x80 && p[0] <= 0x8f ? 1 : p[0] == 0xde ? 3 : p[0] == 0xdf ? 5 : 0;
    if (len == 0)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                        "%s: byte offset %lld: top-level object %lld is not a map of SMILES -> molecule "
                        "(msgpack type byte 0x%02x); not a GEOM drugs_crude.msgpack file?",
                        r->path, (long long)reader_offset(r), (long long)r->n_maps, p[0]);
    if (avail < len)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: truncated: the file ends inside the header of top-level map %lld at byte offset %lld",
                        r->path, (long long)r->n_maps, (long long)reader_offset(r));
    uint64_t n = len == 1 ? (uint64_t)(p[0] & 0x0f)
                 : len == 3 ? (uint64_t)p[1] << 8 | p[2]
                            : (uint64_t)p[1] << 24 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 8 | p[4];
    r->up.off += len;
    r->n_maps++;
    if (n > 0) {
      r->pairs_left = n;
      return ELIGN_OK;
    }
  }
}

/* Unpack the next object; `what` names it in messages ("molecule 17 'CCO'"). */
static elign_status reader_next(geom_reader *r, msgpack_unpacked *res, const char *what, int64_t *start,
                                elign_error *err) {
  msgpack_unpacked_destroy(res);
  *start = reader_offset(r);
  for (;;) {
    msgpack_unpack_return ret = msgpack_unpacker_next(&r->up, res);
    if (ret == MSGPACK_UNPACK_SUCCESS) return ELIGN_OK;
    /* On a parse error msgpack-c leaves `off` at the offending byte. */
    if (ret == MSGPACK_UNPACK_PARSE_ERROR)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                        "%s: corrupt msgpack in %s (which starts at byte offset %lld): invalid type byte 0x%02x at byte "
                        "offset %lld",
                        r->path, what, (long long)*start, (unsigned char)r->up.buffer[r->up.off],
                        (long long)reader_offset(r));
    if (ret != MSGPACK_UNPACK_CONTINUE)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                        "%s: cannot unpack %s (which starts at byte offset %lld): it claims more elements than memory "
                        "holds (a corrupt length?)",
                        r->path, what, (long long)*start);
    if (r->eof)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                        "%s: truncated: the file ends (at byte offset %lld) inside %s, which starts at byte offset %lld",
                        r->path, (long long)r->fed, what, (long long)*start);
    elign_status st = reader_fill(r, err);
    if (st != ELIGN_OK) return st;
  }
}

/* ---- msgpack object helpers ------------------------------------------------------------------------------------ */

static int obj_is_text(const msgpack_object *o) { return o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_BIN; }

static const char *obj_text(const msgpack_object *o, uint32_t *len) {
  if (o->type == MSGPACK_OBJECT_STR) return *len = o->via.str.size, o->via.str.ptr;
  return *len = o->via.bin.size, o->via.bin.ptr;
}

/* The value of key `name` in map m, or NULL. */
static const msgpack_object *map_get(const msgpack_object *m, const char *name) {
  size_t n = strlen(name);
  for (uint32_t i = 0; i < m->via.map.size; i++) {
    const msgpack_object *k = &m->via.map.ptr[i].key;
    uint32_t len;
    if (!obj_is_text(k)) continue;
    const char *s = obj_text(k, &len);
    if (len == n && memcmp(s, name, n) == 0) return &m->via.map.ptr[i].val;
  }
  return NULL;
}

/* A msgpack number as double; 0 if o is not a number. */
static int obj_number(const msgpack_object *o, double *v) {
  switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *v = (double)o->via.u64; return 1;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *v = (double)o->via.i64; return 1;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *v = o->via.f64; return 1;
    default: return 0;
  }
}

/* Optional numeric field: NaN if absent or not a number. */
static double map_number_or_nan(const msgpack_object *m, const char *name) {
  const msgpack_object *v = map_get(m, name);
  double x;
  return v && obj_number(v, &x) ? x : NAN;
}

/* ---- one molecule ------------------------------------------------------------------------------------------------ */

enum { PROP_TOTALENERGY, PROP_RELATIVEENERGY, PROP_BOLTZMANNWEIGHT, PROP_GEOM_ID, PROP_CHARGE, N_PROPS };

static const elign_stream_property geom_props[N_PROPS] = {
    {"totalenergy", "hartree", "GFN2-xTB total energy of the conformer (GEOM 'totalenergy')"},
    {"relativeenergy", "kcal/mol", "energy above the molecule's lowest conformer (GEOM 'relativeenergy')"},
    {"boltzmannweight", "", "statistical weight of the conformer in its ensemble (GEOM 'boltzmannweight')"},
    {"geom_id", "", "GEOM's unique id of the geometry (GEOM 'geom_id')"},
    {"charge", "e", "net charge of the molecule (GEOM 'charge')"},
};

enum { SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST, N_SPLITS };
static const char *const geom_split_names[N_SPLITS] = {"train", "valid", "test"};

typedef struct {
  double energy; /* totalenergy, Hartree */
  int64_t index; /* position in the molecule's conformer list */
} ranked_conformer;

typedef struct {
  const elign_geom_options *opt;
  elign_dataset_stream *out;
  elign_geom_report rep;
  /* per-molecule scratch, grown as needed */
  ranked_conformer *rank; /* the molecule's conformers, lowest totalenergy first */
  int64_t cap_conf;
  int32_t *Z;
  double *pos;
  int64_t cap_atoms;
  /* kept conformers per kept molecule, for split_by_molecule */
  int32_t *kept_per_mol;
  int64_t cap_mols;
} geom_import;

/* Ascending energy, NaN last, ties in file order: a stable argsort. */
static int cmp_ranked(const void *a, const void *b) {
  const ranked_conformer *p = a, *q = b;
  int pn = isnan(p->energy), qn = isnan(q->energy);
  if (pn != qn) return pn - qn;
  if (!pn && p->energy != q->energy) return p->energy < q->energy ? -1 : 1;
  return (p->index > q->index) - (p->index < q->index);
}

static int is_geom_type(int z) {
  for (int k = 0; k < ELIGN_GEOM_N_TYPES; k++)
    if (elign_geom_atomic_nb[k] == z) return 1;
  return 0;
}

/* Conformer c's xyz into g->Z / g->pos; *n its atom count. */
static elign_status read_xyz(geom_import *g, const msgpack_object *conf, int64_t c, const char *what, int *n,
                             elign_error *err) {
  const msgpack_object *xyz = map_get(conf, "xyz");
  if (!xyz || xyz->type != MSGPACK_OBJECT_ARRAY)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: conformer %lld has no 'xyz' array", what, (long long)c);
  uint32_t na = xyz->via.array.size;
  if (na == 0) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: conformer %lld has no atoms", what, (long long)c);
  if (na > 1000000) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: conformer %lld claims %u atoms", what, (long long)c, na);
  if ((int64_t)na > g->cap_atoms) {
    g->cap_atoms = na;
    g->Z = elign_realloc(g->Z, (size_t)na * sizeof *g->Z, "geom:Z");
    g->pos = elign_realloc(g->pos, (size_t)na * 3 * sizeof *g->pos, "geom:pos");
  }
  for (uint32_t a = 0; a < na; a++) {
    const msgpack_object *row = &xyz->via.array.ptr[a];
    double v[4];
    int ok = row->type == MSGPACK_OBJECT_ARRAY && row->via.array.size == 4;
    for (int k = 0; k < 4 && ok; k++) ok = obj_number(&row->via.array.ptr[k], &v[k]) && isfinite(v[k]);
    if (!ok)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: conformer %lld atom %u: expected [Z, x, y, z] (four finite numbers)",
                        what, (long long)c, a);
    if (v[0] != floor(v[0]) || v[0] < 1 || v[0] > 118)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: conformer %lld atom %u: atomic number %g is not an integer in 1..118",
                        what, (long long)c, a, v[0]);
    g->Z[a] = (int32_t)v[0];
    memcpy(g->pos + 3 * a, v + 1, 3 * sizeof *v);
  }
  *n = (int)na;
  return ELIGN_OK;
}

/* The conformer indices of this molecule in EDM's order (lowest totalenergy first). */
static elign_status rank_conformers(geom_import *g, const msgpack_object *confs, const char *what, elign_error *err) {
  int64_t n = confs->via.array.size;
  if (n > g->cap_conf) {
    g->cap_conf = n;
    g->rank = elign_realloc(g->rank, (size_t)n * sizeof *g->rank, "geom:rank");
  }
  for (int64_t c = 0; c < n; c++) {
    const msgpack_object *conf = &confs->via.array.ptr[c];
    if (conf->type != MSGPACK_OBJECT_MAP)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: conformer %lld is not a map", what, (long long)c);
    const msgpack_object *e = map_get(conf, "totalenergy");
    if (!e || !obj_number(e, &g->rank[c].energy))
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: conformer %lld has no numeric 'totalenergy' (EDM sorts by it)", what,
                        (long long)c);
    g->rank[c].index = c;
  }
  qsort(g->rank, (size_t)n, sizeof *g->rank, cmp_ranked);
  return ELIGN_OK;
}

static elign_status import_molecule(geom_import *g, const msgpack_object *mol, int64_t mol_index, const char *smiles,
                                    const char *what, elign_error *err) {
  const elign_geom_options *o = g->opt;
  elign_geom_report *rep = &g->rep;
  if (mol->type != MSGPACK_OBJECT_MAP)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: the value is not a map", what);
  const msgpack_object *confs = map_get(mol, "conformers");
  if (!confs || confs->type != MSGPACK_OBJECT_ARRAY)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: no 'conformers' array", what);
  rep->molecules_read++;
  rep->conformers_read += confs->via.array.size;
  if (confs->via.array.size == 0) {
    rep->molecules_without_conformers++;
    return ELIGN_OK;
  }
  elign_status st = rank_conformers(g, confs, what, err);
  if (st != ELIGN_OK) return st;
  int64_t n_conf = confs->via.array.size;
  int64_t keep = n_conf < o->max_conformers ? n_conf : o->max_conformers;
  rep->conformers_over_limit += n_conf - keep;
  double props[N_PROPS];
  props[PROP_CHARGE] = map_number_or_nan(mol, "charge");
  int32_t kept = 0;
  for (int64_t k = 0; k < keep; k++) {
    int64_t c = g->rank[k].index;
    const msgpack_object *conf = &confs->via.array.ptr[c];
    int n = 0;
    st = read_xyz(g, conf, c, what, &n, err);
    if (st != ELIGN_OK) return st;
    if (o->max_atoms > 0 && n > o->max_atoms) {
      rep->conformers_too_large++;
      continue;
    }
    int unknown = 0;
    for (int a = 0; a < n && !unknown; a++) unknown = !is_geom_type(g->Z[a]);
    rep->conformers_unknown_elements += unknown;
    if (unknown && o->drop_unknown_elements) continue;
    props[PROP_TOTALENERGY] = g->rank[k].energy;
    props[PROP_RELATIVEENERGY] = map_number_or_nan(conf, "relativeenergy");
    props[PROP_BOLTZMANNWEIGHT] = map_number_or_nan(conf, "boltzmannweight");
    props[PROP_GEOM_ID] = map_number_or_nan(conf, "geom_id");
    st = elign_dataset_stream_append(g->out, n, g->Z, g->pos, mol_index, smiles, props, err);
    if (st != ELIGN_OK) return st;
    kept++;
    rep->conformers_kept++;
    rep->atoms_kept += n;
    if (rep->min_atoms == 0 || n < rep->min_atoms) rep->min_atoms = n;
    if (n > rep->max_atoms) rep->max_atoms = n;
  }
  if (kept > 0) {
    if (rep->molecules_kept == g->cap_mols) {
      g->cap_mols = g->cap_mols ? 2 * g->cap_mols : 4096;
      g->kept_per_mol = elign_realloc(g->kept_per_mol, (size_t)g->cap_mols * sizeof *g->kept_per_mol, "geom:kept");
    }
    g->kept_per_mol[rep->molecules_kept++] = kept;
  }
  return ELIGN_OK;
}

/* ---- the split ------------------------------------------------------------------------------------------------------ */

/* EDM's cut of the permuted order: [0, nv) valid, [nv, nv+nt) test, the rest train. */
static int split_of(int64_t position, int64_t nv, int64_t nt) {
  return position < nv ? SPLIT_VALID : position < nv + nt ? SPLIT_TEST : SPLIT_TRAIN;
}

static elign_status write_splits(geom_import *g, elign_error *err) {
  const elign_geom_options *o = g->opt;
  int64_t units = o->split_by_molecule ? g->rep.molecules_kept : g->rep.conformers_kept;
  /* int(N * fraction), as Python's int() of the float product */
  int64_t nv = (int64_t)((double)units * o->valid_fraction), nt = (int64_t)((double)units * o->test_fraction);
  elign_status st = ELIGN_OK;
  int64_t entry = 0;
  for (int64_t u = 0; u < units && st == ELIGN_OK; u++) {
    int k = split_of(elign_split_permute(o->split_seed, units, u), nv, nt);
    int64_t count = o->split_by_molecule ? g->kept_per_mol[u] : 1;
    for (int64_t c = 0; c < count && st == ELIGN_OK; c++) st = elign_dataset_stream_split_push(g->out, k, entry++, err);
  }
  for (int k = 0; k < N_SPLITS; k++) g->rep.split_size[k] = elign_dataset_stream_split_size(g->out, k);
  return st;
}

/* ---- the whole file --------------------------------------------------------------------------------------------------- */

static elign_status check_options(const elign_geom_options *o, elign_error *err) {
  if (o->max_conformers < 1) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "GEOM import: conformers per molecule must be >= 1");
  if (o->max_atoms < 0) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "GEOM import: the atom limit must be >= 0 (0 = none)");
  if (!(o->valid_fraction >= 0 && o->test_fraction >= 0 && o->valid_fraction + o->test_fraction <= 1))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "GEOM import: valid and test fractions must be >= 0 with a sum <= 1 (got %g, %g)",
                      o->valid_fraction, o->test_fraction);
  return ELIGN_OK;
}

/* The molecules of the file, one pair (SMILES, molecule) at a time. */
static elign_status import_stream(geom_import *g, geom_reader *r, elign_error *err) {
  msgpack_unpacked key, val;
  msgpack_unpacked_init(&key);
  msgpack_unpacked_init(&val);
  char *smiles = NULL;
  elign_progress prog;
  int progress = g->opt->progress && r->file_bytes >= ((int64_t)64 << 20); /* not for small files */
  if (progress) elign_progress_start(&prog, "GEOM import (MiB read)", (long long)(r->file_bytes >> 20), 30.0);
  elign_status st = ELIGN_OK;
  for (int64_t m = 0; st == ELIGN_OK; m++) {
    if (r->pairs_left == 0) {
      int done;
      st = reader_open_map(r, &done, err);
      if (st != ELIGN_OK || done) break;
    }
    char what[320];
    int64_t start;
    snprintf(what, sizeof what, "the SMILES key of molecule %lld", (long long)m);
    st = reader_next(r, &key, what, &start, err);
    if (st == ELIGN_OK && !obj_is_text(&key.data))
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: byte offset %lld: the key of molecule %lld is not a SMILES string",
                      r->path, (long long)start, (long long)m);
    if (st != ELIGN_OK) break;
    uint32_t len;
    const char *s = obj_text(&key.data, &len);
    free(smiles);
    smiles = elign_malloc((size_t)len + 1, "geom:smiles");
    memcpy(smiles, s, len);
    smiles[len] = '\0';
    snprintf(what, sizeof what, "molecule %lld '%.200s'", (long long)m, smiles);
    st = reader_next(r, &val, what, &start, err);
    if (st != ELIGN_OK) break;
    int64_t bytes = reader_offset(r) - start;
    if (bytes > g->rep.largest_molecule_bytes) g->rep.largest_molecule_bytes = bytes;
    char where[400];
    snprintf(where, sizeof where, "%s: %s (byte offset %lld)", r->path, what, (long long)start);
    st = import_molecule(g, &val.data, m, smiles, where, err);
    r->pairs_left--;
    msgpack_unpacked_destroy(&key);
    msgpack_unpacked_destroy(&val);
    if (progress) elign_progress_update(&prog, (long long)(reader_offset(r) >> 20));
  }
  if (progress) elign_progress_finish(&prog);
  free(smiles);
  msgpack_unpacked_destroy(&key);
  msgpack_unpacked_destroy(&val);
  if (st == ELIGN_OK && g->rep.conformers_kept == 0)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: no conformer to keep (%lld molecules read)", r->path,
                    (long long)g->rep.molecules_read);
  return st;
}

elign_status elign_import_geom_msgpack(const char *path, const char *out_path, const elign_geom_options *opt,
                                       elign_geom_report *rep, elign_error *err) {
  elign_status st = check_options(opt, err);
  if (st != ELIGN_OK) return st;
  geom_reader r = {.path = path, .read_bytes = opt->read_bytes ? opt->read_bytes : ((size_t)4 << 20)};
  r.fp = fopen(path, "rb");
  if (!r.fp) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  r.file_bytes = fstat(fileno(r.fp), &sb) == 0 ? (int64_t)sb.st_size : 0;
  if (!msgpack_unpacker_init(&r.up, r.read_bytes + 64)) {
    fclose(r.fp);
    return ELIGN_FAIL(err, ELIGN_ERR_NOMEM, "%s: cannot allocate the msgpack buffer", path);
  }
  geom_import g = {.opt = opt};
  g.rep.file_bytes = r.file_bytes;
  elign_stream_layout layout = {.with_ids = 1, .with_smiles = 1, .n_props = N_PROPS, .props = geom_props,
                                .n_splits = N_SPLITS, .split_names = geom_split_names};
  st = elign_dataset_stream_create(&g.out, out_path, &layout, err);
  if (st == ELIGN_OK) st = import_stream(&g, &r, err);
  if (st == ELIGN_OK) st = write_splits(&g, err);
  if (st == ELIGN_OK) {
    char source[600], limit[48] = "no atom limit";
    if (opt->max_atoms > 0) snprintf(limit, sizeof limit, "<= %d atoms", opt->max_atoms);
    snprintf(source, sizeof source, "%.400s (GEOM msgpack; %d lowest-energy conformers per molecule, %s)", path,
             opt->max_conformers, limit);
    st = elign_dataset_stream_commit(g.out, source, err);
  } else {
    elign_dataset_stream_abort(g.out);
  }
  msgpack_unpacker_destroy(&r.up);
  fclose(r.fp);
  free(g.rank);
  free(g.Z);
  free(g.pos);
  free(g.kept_per_mol);
  if (rep) *rep = g.rep;
  return st;
}
