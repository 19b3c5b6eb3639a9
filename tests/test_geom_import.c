/* test_geom_import.c — the streaming dataset writer, the split permutation
 * and the GEOM msgpack reader's robustness: results independent of where
 * reads cut the file, every truncation and random byte damage either
 * rejected with a message naming the file or (at a top-level boundary)
 * read as a shorter file, never a crash and never a partial output.
 * The contents against an independent Python reading: tests/geom_cli.sh. */
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base/rng.h"
#include "common/io/dataset_io.h"
#include "common/io/dataset_stream.h"
#include "common/io/importers.h"
#include "tests/testutil.h"

/* ---- split permutation --------------------------------------------------------------------------------- */

static int is_permutation(uint64_t seed, int64_t n, int64_t *out) {
  char *seen = calloc((size_t)n, 1);
  int ok = 1;
  for (int64_t i = 0; i < n; i++) {
    int64_t p = elign_split_permute(seed, n, i);
    if (p < 0 || p >= n || seen[p]) ok = 0;
    else seen[p] = 1;
    if (out) out[i] = p;
  }
  free(seen);
  return ok;
}

static void test_permute(void) {
  const int64_t sizes[] = {1, 2, 3, 4, 5, 7, 16, 17, 100, 1000, 4097, 65537};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
    for (uint64_t seed = 0; seed < 3; seed++) CHECK(is_permutation(seed * 12345, sizes[k], NULL));
  int64_t *a = malloc(4097 * sizeof *a), *b = malloc(4097 * sizeof *b);
  is_permutation(0, 4097, a);
  is_permutation(0, 4097, b);
  CHECK(memcmp(a, b, 4097 * sizeof *a) == 0); /* deterministic */
  is_permutation(1, 4097, b);
  int64_t same = 0, fixed = 0;
  for (int i = 0; i < 4097; i++) same += a[i] == b[i], fixed += a[i] == i;
  CHECK(same < 20);  /* another seed, another permutation (a random pair agrees at ~1 place) */
  CHECK(fixed < 20); /* not close to the identity */
  free(a);
  free(b);
  /* EDM's cut: the first 10 % of positions are validation. Membership must not
   * depend on where an entry sits in the file: each half gets ~half of them. */
  int64_t n = 100000, first_half = 0, total = 0;
  for (int64_t i = 0; i < n; i++)
    if (elign_split_permute(7, n, i) < n / 10) total++, first_half += i < n / 2;
  CHECK(total == n / 10);
  CHECK(first_half > 4700 && first_half < 5300); /* binomial-like spread, sigma ~ 50 */
}

/* ---- the streaming writer against elign_dataset_write -------------------------------------------------------- */

/* 20000 molecules and ~80000 atoms: more than one chunk of every column. */
static void make_dataset(elign_dataset *ds) {
  elign_dataset_init(ds);
  elign_rng rng = elign_rng_stream(3, 0, 0, 0, 0, ELIGN_RNG_TEST);
  int32_t Z[8];
  double pos[24];
  char smiles[32];
  int64_t n = 20000;
  double *p0 = malloc((size_t)n * sizeof *p0), *p1 = malloc((size_t)n * sizeof *p1);
  for (int64_t m = 0; m < n; m++) {
    int na = 1 + (int)(elign_rng_u32(&rng) % 7);
    for (int a = 0; a < na; a++) Z[a] = 1 + (int)(elign_rng_u32(&rng) % 118);
    for (int k = 0; k < 3 * na; k++) pos[k] = elign_rng_normal(&rng);
    snprintf(smiles, sizeof smiles, "C%lld", (long long)m);
    elign_molset_append(&ds->mols, na, Z, pos, m / 3, m % 5 ? smiles : NULL);
    p0[m] = elign_rng_uniform(&rng);
    p1[m] = m % 7 ? -p0[m] : NAN;
  }
  elign_dataset_add_property(ds, "alpha", "hartree", "first", p0);
  elign_dataset_add_property(ds, "beta", "", "second", p1);
  int64_t *even = malloc((size_t)n * sizeof *even), *odd = malloc((size_t)n * sizeof *odd);
  for (int64_t i = 0; i < n / 2; i++) even[i] = 2 * i, odd[i] = 2 * i + 1;
  elign_dataset_add_split(ds, "even", n / 2, even);
  elign_dataset_add_split(ds, "odd", n / 2, odd);
  snprintf(ds->source, sizeof ds->source, "test source");
  free(p0), free(p1), free(even), free(odd);
}

static elign_status stream_dataset(const elign_dataset *ds, const char *path, elign_error *err) {
  elign_stream_property props[2];
  for (int i = 0; i < 2; i++)
    props[i] = (elign_stream_property){ds->props[i].name, ds->props[i].unit, ds->props[i].description};
  const char *splits[2] = {ds->splits[0].name, ds->splits[1].name};
  elign_stream_layout l = {.with_ids = 1, .with_smiles = 1, .n_props = 2, .props = props, .n_splits = 2,
                           .split_names = splits};
  elign_dataset_stream *s;
  elign_status st = elign_dataset_stream_create(&s, path, &l, err);
  if (st != ELIGN_OK) return st;
  const elign_molset *m = &ds->mols;
  for (int64_t i = 0; i < m->n_mol && st == ELIGN_OK; i++) {
    double pv[2] = {ds->props[0].values[i], ds->props[1].values[i]};
    st = elign_dataset_stream_append(s, (int)elign_molset_natoms(m, i), m->Z + m->offsets[i],
                                     m->pos + 3 * m->offsets[i], m->ids[i], m->smiles[i], pv, err);
  }
  for (int k = 0; k < 2; k++)
    for (int64_t j = 0; j < ds->splits[k].n && st == ELIGN_OK; j++)
      st = elign_dataset_stream_split_push(s, k, ds->splits[k].index[j], err);
  if (st != ELIGN_OK) {
    elign_dataset_stream_abort(s);
    return st;
  }
  return elign_dataset_stream_commit(s, ds->source, err);
}

static int same_double(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* Every field of two datasets read back from files. */
static int datasets_equal(const elign_dataset *a, const elign_dataset *b) {
  const elign_molset *x = &a->mols, *y = &b->mols;
  if (x->n_mol != y->n_mol || x->n_atoms != y->n_atoms) return 0;
  if (memcmp(x->offsets, y->offsets, (size_t)(x->n_mol + 1) * sizeof *x->offsets)) return 0;
  if (memcmp(x->Z, y->Z, (size_t)x->n_atoms * sizeof *x->Z)) return 0;
  if (memcmp(x->pos, y->pos, (size_t)x->n_atoms * 3 * sizeof *x->pos)) return 0;
  if (!x->ids != !y->ids || (x->ids && memcmp(x->ids, y->ids, (size_t)x->n_mol * sizeof *x->ids))) return 0;
  if (!x->smiles != !y->smiles) return 0;
  for (int64_t m = 0; x->smiles && m < x->n_mol; m++)
    if (!x->smiles[m] != !y->smiles[m] || (x->smiles[m] && strcmp(x->smiles[m], y->smiles[m]))) return 0;
  if (a->n_props != b->n_props || a->n_splits != b->n_splits || strcmp(a->source, b->source)) return 0;
  for (int i = 0; i < a->n_props; i++) {
    const elign_mol_property *p = &a->props[i], *q = elign_dataset_find_property(b, p->name);
    if (!q || strcmp(p->unit, q->unit) || strcmp(p->description, q->description)) return 0;
    for (int64_t m = 0; m < x->n_mol; m++)
      if (!same_double(p->values[m], q->values[m])) return 0;
  }
  for (int i = 0; i < a->n_splits; i++) {
    const elign_split *p = &a->splits[i], *q = elign_dataset_find_split(b, p->name);
    if (!q || p->n != q->n || memcmp(p->index, q->index, (size_t)p->n * sizeof *p->index)) return 0;
  }
  return 1;
}

static int hists_equal_in_files(const char *p1, const char *p2) {
  elign_hist a, b;
  elign_error err;
  if (elign_dataset_read_nodes_hist(p1, &a, &err) != ELIGN_OK) return 0;
  if (elign_dataset_read_nodes_hist(p2, &b, &err) != ELIGN_OK) return 0;
  int ok = a.n == b.n && !memcmp(a.key, b.key, (size_t)a.n * 8) && !memcmp(a.count, b.count, (size_t)a.n * 8);
  elign_hist_free(&a);
  elign_hist_free(&b);
  return ok;
}

static void test_stream_writer(void) {
  elign_dataset ds, r1, r2;
  make_dataset(&ds);
  elign_error err;
  CHECK(elign_dataset_write("gs_whole.h5", &ds, &err) == ELIGN_OK);
  CHECK(stream_dataset(&ds, "gs_stream.h5", &err) == ELIGN_OK);
  CHECK(elign_dataset_read("gs_whole.h5", &r1, &err) == ELIGN_OK);
  elign_status st = elign_dataset_read("gs_stream.h5", &r2, &err);
  CHECK(st == ELIGN_OK);
  if (st != ELIGN_OK) printf("  %s\n", err.msg);
  CHECK(datasets_equal(&r1, &r2));
  CHECK(hists_equal_in_files("gs_whole.h5", "gs_stream.h5")); /* histograms counted on the fly */
  elign_dataset_free(&r1);
  elign_dataset_free(&r2);
  /* an abort leaves nothing behind */
  elign_dataset_stream *s;
  elign_stream_layout l = {0};
  CHECK(elign_dataset_stream_create(&s, "gs_abort.h5", &l, &err) == ELIGN_OK);
  int32_t z = 6;
  double p[3] = {0, 0, 0};
  CHECK(elign_dataset_stream_append(s, 1, &z, p, 0, NULL, NULL, &err) == ELIGN_OK);
  elign_dataset_stream_abort(s);
  CHECK(access("gs_abort.h5", F_OK) != 0);
  char tmp[64];
  snprintf(tmp, sizeof tmp, "gs_abort.h5.tmp.%ld", (long)getpid());
  CHECK(access(tmp, F_OK) != 0);
  elign_dataset_free(&ds);
}

/* ---- a GEOM-schema file written with msgpack-c -------------------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s) {
  msgpack_pack_str(pk, strlen(s));
  msgpack_pack_str_body(pk, s, strlen(s));
}

/* One molecule: n_conf conformers of n_atoms atoms, energies e0 + k*de with k
 * visited in a scrambled order. */
static void pack_molecule(msgpack_packer *pk, elign_rng *rng, int n_atoms, int n_conf, double e0) {
  msgpack_pack_map(pk, 2);
  pack_str(pk, "conformers");
  msgpack_pack_array(pk, (size_t)n_conf);
  for (int c = 0; c < n_conf; c++) {
    msgpack_pack_map(pk, 3);
    pack_str(pk, "xyz");
    msgpack_pack_array(pk, (size_t)n_atoms);
    for (int a = 0; a < n_atoms; a++) {
      msgpack_pack_array(pk, 4);
      msgpack_pack_double(pk, a % 3 ? 1.0 : 6.0);
      for (int k = 0; k < 3; k++) msgpack_pack_double(pk, elign_rng_normal(rng));
    }
    pack_str(pk, "totalenergy");
    msgpack_pack_double(pk, e0 - 0.001 * ((c * 11) % n_conf)); /* 11 is prime to every n_conf used */
    pack_str(pk, "geom_id");
    msgpack_pack_int(pk, 1000 + c);
  }
  pack_str(pk, "charge");
  msgpack_pack_int(pk, 0);
}

/* fixmap, map16 and map32 headers and an empty map; boundaries[] receives
 * the byte offsets where a top-level map ends (a file cut there is valid). */
static size_t write_geom_file(const char *path, size_t *boundaries, int *n_boundaries) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  elign_rng rng = elign_rng_stream(5, 0, 0, 0, 0, ELIGN_RNG_TEST);
  int nb = 0;
  boundaries[nb++] = 0;
  const int per_map[4] = {3, 17, 2, 0};
  int mol = 0;
  for (int m = 0; m < 4; m++) {
    if (m == 2) {
      unsigned char h[5] = {0xdf, 0, 0, 0, (unsigned char)per_map[m]};
      msgpack_sbuffer_write(&sb, (const char *)h, 5);
    } else {
      msgpack_pack_map(&pk, (size_t)per_map[m]);
    }
    for (int k = 0; k < per_map[m]; k++, mol++) {
      char smiles[32];
      snprintf(smiles, sizeof smiles, "C%dO", mol);
      pack_str(&pk, smiles);
      pack_molecule(&pk, &rng, 2 + mol % 5, mol == 1 ? 35 : 1 + mol % 4, -10.0 - mol);
    }
    boundaries[nb++] = sb.size;
  }
  FILE *f = fopen(path, "wb");
  fwrite(sb.data, 1, sb.size, f);
  fclose(f);
  size_t size = sb.size;
  msgpack_sbuffer_destroy(&sb);
  *n_boundaries = nb;
  return size;
}

static void test_read_sizes(void) {
  size_t bounds[8];
  int nb;
  write_geom_file("g_small.msgpack", bounds, &nb);
  elign_geom_options o;
  elign_geom_options_default(&o);
  elign_error err;
  elign_geom_report rep;
  CHECK(elign_import_geom_msgpack("g_small.msgpack", "g_ref.h5", &o, &rep, &err) == ELIGN_OK);
  CHECK(rep.molecules_read == 22 && rep.conformers_over_limit == 5); /* molecule 1 has 35 conformers */
  elign_dataset ref;
  CHECK(elign_dataset_read("g_ref.h5", &ref, &err) == ELIGN_OK);
  /* molecule 1: its 30 kept conformers come in increasing energy, the lowest first */
  const elign_mol_property *e = elign_dataset_find_property(&ref, "totalenergy");
  int64_t first = -1, n1 = 0;
  for (int64_t m = 0; m < ref.mols.n_mol; m++)
    if (ref.mols.ids[m] == 1) {
      if (first < 0) first = m;
      n1++;
    }
  CHECK(n1 == 30 && e);
  for (int64_t k = 1; e && k < n1; k++) CHECK(e->values[first + k] > e->values[first + k - 1]);
  if (e) CHECK_CLOSE(e->values[first], -11.0 - 0.034, 1e-12, 0);
  /* the same dataset whatever the read size (objects and map headers cut anywhere) */
  const size_t sizes[] = {1, 2, 3, 7, 64, 1000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    o.read_bytes = sizes[i];
    elign_dataset d;
    CHECK(elign_import_geom_msgpack("g_small.msgpack", "g_cut.h5", &o, NULL, &err) == ELIGN_OK);
    CHECK(elign_dataset_read("g_cut.h5", &d, &err) == ELIGN_OK);
    CHECK(datasets_equal(&ref, &d));
    elign_dataset_free(&d);
  }
  elign_dataset_free(&ref);
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

static int no_temporary(const char *out) {
  char tmp[128];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid());
  return !file_exists(tmp);
}

static void write_bytes(const char *path, const char *data, size_t n) {
  FILE *f = fopen(path, "wb");
  fwrite(data, 1, n, f);
  fclose(f);
}

/* Cut the file at many places: an error naming the file and a byte offset,
 * or (cut at a top-level map boundary) a valid shorter file. */
static void test_truncation(void) {
  size_t bounds[8];
  int nb;
  size_t size = write_geom_file("g_small.msgpack", bounds, &nb);
  char *data = malloc(size);
  FILE *f = fopen("g_small.msgpack", "rb");
  CHECK(fread(data, 1, size, f) == size);
  fclose(f);
  elign_geom_options o;
  elign_geom_options_default(&o);
  int bad_messages = 0, bad_outputs = 0, boundary_ok = 0, cuts = 0;
  size_t step = size / 300 + 1, n_cuts = 0;
  size_t *cut_at = malloc((size + (size_t)nb) * sizeof *cut_at);
  for (size_t cut = 0; cut < size; cut += (cut < 64 ? 1 : step)) cut_at[n_cuts++] = cut;
  for (int b = 1; b + 1 < nb; b++) cut_at[n_cuts++] = bounds[b]; /* whole top-level maps */
  for (size_t i = 0; i < n_cuts; i++) {
    size_t cut = cut_at[i];
    write_bytes("g_trunc.msgpack", data, cut);
    unlink("g_trunc.h5");
    elign_error err;
    elign_error_clear(&err);
    elign_status st = elign_import_geom_msgpack("g_trunc.msgpack", "g_trunc.h5", &o, NULL, &err);
    int at_boundary = 0;
    for (int b = 0; b < nb; b++) at_boundary |= bounds[b] == cut;
    cuts++;
    if (st == ELIGN_OK) {
      boundary_ok += at_boundary;
      bad_outputs += !at_boundary;
    } else {
      int named = strstr(err.msg, "g_trunc.msgpack") != NULL &&
                  (strstr(err.msg, "byte offset") != NULL || strstr(err.msg, "no conformer to keep") != NULL);
      if (!named && bad_messages++ < 3) printf("  cut %zu: %s\n", cut, err.msg);
      bad_outputs += file_exists("g_trunc.h5") || !no_temporary("g_trunc.h5");
    }
  }
  CHECK(cuts > 300);
  CHECK(bad_messages == 0);
  CHECK(bad_outputs == 0);
  CHECK(boundary_ok == nb - 2); /* a cut after whole maps is a whole, shorter file */
  free(cut_at);
  free(data);
}

/* Random single-byte damage: never a crash, an error names the file, and no
 * output is left when the import fails. */
static void test_damage(void) {
  size_t bounds[8];
  int nb;
  size_t size = write_geom_file("g_small.msgpack", bounds, &nb);
  char *data = malloc(size), *bad = malloc(size);
  FILE *f = fopen("g_small.msgpack", "rb");
  CHECK(fread(data, 1, size, f) == size);
  fclose(f);
  elign_geom_options o;
  elign_geom_options_default(&o);
  elign_rng rng = elign_rng_stream(9, 0, 0, 0, 0, ELIGN_RNG_TEST);
  int failed = 0, unnamed = 0, left = 0;
  for (int t = 0; t < 300; t++) {
    memcpy(bad, data, size);
    size_t at = elign_rng_u32(&rng) % size;
    /* half the time a msgpack type byte that changes the structure */
    static const unsigned char types[] = {0xc1, 0xdd, 0xdf, 0xdb, 0xc0, 0x9f, 0x8f, 0xcb};
    bad[at] = (char)(t % 2 ? types[elign_rng_u32(&rng) % 8] : elign_rng_u32(&rng) & 0xff);
    write_bytes("g_bad.msgpack", bad, size);
    unlink("g_bad.h5");
    elign_error err;
    elign_error_clear(&err);
    if (elign_import_geom_msgpack("g_bad.msgpack", "g_bad.h5", &o, NULL, &err) != ELIGN_OK) {
      failed++;
      if (!strstr(err.msg, "g_bad.msgpack") && unnamed++ < 3) printf("  damage at %zu: %s\n", at, err.msg);
      left += file_exists("g_bad.h5") || !no_temporary("g_bad.h5");
    }
  }
  CHECK(failed > 100); /* most damage is detected (some only changes a coordinate) */
  CHECK(unnamed == 0);
  CHECK(left == 0);
  /* the one byte msgpack never uses, at a known place: the message says where */
  memcpy(bad, data, size);
  size_t at = bounds[1] + 3 + 4; /* map16 header, key "C3O": the value of molecule 3 */
  bad[at] = (char)0xc1;
  write_bytes("g_bad.msgpack", bad, size);
  elign_error err;
  CHECK(elign_import_geom_msgpack("g_bad.msgpack", "g_bad.h5", &o, NULL, &err) != ELIGN_OK);
  char want[200];
  snprintf(want, sizeof want,
           "g_bad.msgpack: corrupt msgpack in molecule 3 'C3O' (which starts at byte offset %zu): invalid type byte "
           "0xc1 at byte offset %zu",
           at, at);
  CHECK(strcmp(err.msg, want) == 0);
  if (strcmp(err.msg, want)) printf("  got:  %s\n  want: %s\n", err.msg, want);
  free(data);
  free(bad);
}

int main(void) {
  test_permute();
  test_stream_writer();
  test_read_sizes();
  test_truncation();
  test_damage();
  return test_main_result("test_geom_import");
}
