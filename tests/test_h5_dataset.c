/* test_h5_dataset.c — packed molecule sets, dataset / sample / oracle-result
 * files, the JSON reader and the importers (against facts stated in the
 * qm9like README, not against our own output). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/io/dataset_io.h"
#include "common/io/importers.h"
#include "common/base/json.h"
#include "tests/testutil.h"

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

/* Three molecules: water (with SMILES), HCl (without), methanol-like CH4O. */
static void make_molset(elign_molset *s) {
  elign_molset_init(s);
  int32_t zw[3] = {8, 1, 1}, zh[2] = {17, 1}, zm[6] = {6, 8, 1, 1, 1, 1};
  double pw[9] = {0, 0, 0.1, 0.76, 0, -0.5, -0.76, 0, -0.5}, ph[6] = {0, 0, 0, 0, 0, 1.27};
  double pm[18];
  for (int i = 0; i < 18; i++) pm[i] = 0.1 * i - 0.7;
  elign_molset_append(s, 3, zw, pw, 10, "O");
  elign_molset_append(s, 2, zh, ph, -1, NULL);
  elign_molset_append(s, 6, zm, pm, 12, "CO");
}

static void test_molset(void) {
  elign_molset s;
  make_molset(&s);
  CHECK(s.n_mol == 3 && s.n_atoms == 11);
  CHECK(s.offsets[0] == 0 && s.offsets[1] == 3 && s.offsets[2] == 5 && s.offsets[3] == 11);
  CHECK(s.ids && s.ids[0] == 10 && s.ids[1] == -1 && s.ids[2] == 12);
  CHECK(s.smiles && strcmp(s.smiles[0], "O") == 0 && s.smiles[1] == NULL && strcmp(s.smiles[2], "CO") == 0);
  char buf[64];
  elign_molset_formula(&s, 0, buf, sizeof buf);
  CHECK(strcmp(buf, "H2O") == 0);
  elign_molset_formula(&s, 1, buf, sizeof buf);
  CHECK(strcmp(buf, "ClH") == 0); /* Hill order without carbon: alphabetical */
  elign_molset_formula(&s, 2, buf, sizeof buf);
  CHECK(strcmp(buf, "CH4O") == 0);
  elign_molset sl;
  elign_molset_slice(&sl, &s, 1, 3);
  CHECK(sl.n_mol == 2 && sl.n_atoms == 8 && sl.offsets[1] == 2 && sl.Z[2] == 6 && sl.pos[6] == s.pos[15]);
  CHECK(sl.ids[1] == 12 && sl.smiles[0] == NULL);
  /* a sliced (exactly sized) set keeps growing correctly */
  int32_t z1 = 1;
  double p1[3] = {1, 2, 3};
  elign_molset_append(&sl, 1, &z1, p1, 99, "[H]");
  CHECK(sl.n_mol == 3 && sl.offsets[3] == 9 && sl.ids[2] == 99 && strcmp(sl.smiles[2], "[H]") == 0);
  elign_molset_free(&sl);
  elign_hist h;
  elign_molset_size_hist(&s, &h);
  CHECK(h.n == 3 && h.key[0] == 2 && h.count[0] == 1 && h.key[2] == 6);
  elign_hist_free(&h);
  elign_molset_element_hist(&s, &h);
  CHECK(h.n == 4 && h.key[0] == 1 && h.count[0] == 7 && h.key[3] == 17 && h.count[3] == 1);
  elign_hist_free(&h);
  elign_molset_free(&s);
}

static void test_elements(void) {
  int ok = 1;
  for (int z = 1; z <= 118; z++) {
    const char *sym = elign_element_symbol(z);
    if (elign_element_z(sym, (int)strlen(sym)) != z) ok = 0;
  }
  CHECK(ok);
  CHECK(elign_element_z("Rn", 2) == 86 && elign_element_z("Br", 2) == 35 && elign_element_z("cl", 2) == 17);
  CHECK(elign_element_z("Xx", 2) == 0 && elign_element_z("", 0) == 0 && elign_element_z("Cl1", 3) == 0);
}

static void test_dataset_round_trip(void) {
  elign_dataset ds, back;
  elign_error err;
  elign_dataset_init(&ds);
  elign_molset_free(&ds.mols);
  make_molset(&ds.mols);
  snprintf(ds.source, sizeof ds.source, "hand-made");
  double e[3] = {-1.5, NAN, 2.25};
  elign_dataset_add_property(&ds, "U0", "Hartree", "internal energy at 0 K", e);
  int64_t tr[2] = {0, 2}, te[1] = {1};
  elign_dataset_add_split(&ds, "train", 2, tr);
  elign_dataset_add_split(&ds, "test", 1, te);
  ds.mols.energy = malloc(3 * sizeof(double));
  ds.mols.forces = malloc(33 * sizeof(double));
  for (int i = 0; i < 3; i++) ds.mols.energy[i] = -100.0 * i;
  for (int i = 0; i < 33; i++) ds.mols.forces[i] = 0.01 * i;
  snprintf(ds.energy_description, sizeof ds.energy_description, "test energy");
  CHECK(elign_dataset_write("ds_rt.h5", &ds, &err) == ELIGN_OK);
  elign_status st = elign_dataset_read("ds_rt.h5", &back, &err);
  CHECK(st == ELIGN_OK);
  if (st != ELIGN_OK) fprintf(stderr, "%s\n", err.msg);
  const elign_molset *a = &ds.mols, *b = &back.mols;
  CHECK(b->n_mol == 3 && b->n_atoms == 11);
  CHECK(memcmp(a->offsets, b->offsets, 4 * sizeof(int64_t)) == 0);
  CHECK(memcmp(a->Z, b->Z, 11 * sizeof(int32_t)) == 0);
  CHECK(memcmp(a->pos, b->pos, 33 * sizeof(double)) == 0);
  CHECK(memcmp(a->ids, b->ids, 3 * sizeof(int64_t)) == 0);
  CHECK(memcmp(a->forces, b->forces, 33 * sizeof(double)) == 0);
  CHECK(memcmp(a->energy, b->energy, 3 * sizeof(double)) == 0);
  CHECK(b->smiles && strcmp(b->smiles[0], "O") == 0 && b->smiles[1] == NULL && strcmp(b->smiles[2], "CO") == 0);
  CHECK(strcmp(back.source, "hand-made") == 0 && strcmp(back.energy_description, "test energy") == 0);
  const elign_mol_property *p = elign_dataset_find_property(&back, "U0");
  CHECK(p && strcmp(p->unit, "Hartree") == 0 && p->values[0] == -1.5 && isnan(p->values[1]) && p->values[2] == 2.25);
  const elign_split *sp = elign_dataset_find_split(&back, "train");
  CHECK(sp && sp->n == 2 && sp->index[1] == 2);
  sp = elign_dataset_find_split(&back, "test");
  CHECK(sp && sp->n == 1 && sp->index[0] == 1);
  elign_hist h;
  CHECK(elign_dataset_read_nodes_hist("ds_rt.h5", &h, &err) == ELIGN_OK && h.n == 3 && h.key[1] == 3);
  elign_hist_free(&h);
  /* partial reads: the index alone, and molecules [1, 3) as hyperslabs */
  elign_dataset_index idx;
  CHECK(elign_dataset_read_index("ds_rt.h5", &idx, &err) == ELIGN_OK);
  CHECK(idx.n_mol == 3 && idx.offsets[3] == 11 && idx.n_splits == 2);
  const elign_split *it = elign_dataset_index_find_split(&idx, "train");
  CHECK(it && it->n == 2 && it->index[0] == 0 && it->index[1] == 2 && !elign_dataset_index_find_split(&idx, "x"));
  elign_dataset_index_free(&idx);
  elign_molset r;
  CHECK(elign_dataset_read_range("ds_rt.h5", 1, 3, &r, &err) == ELIGN_OK);
  CHECK(r.n_mol == 2 && r.n_atoms == 8 && r.offsets[0] == 0 && r.offsets[1] == 2 && r.offsets[2] == 8);
  CHECK(memcmp(r.Z, a->Z + 3, 8 * sizeof(int32_t)) == 0 && memcmp(r.pos, a->pos + 9, 24 * sizeof(double)) == 0);
  CHECK(r.ids && r.ids[0] == a->ids[1] && r.ids[1] == 12);
  elign_molset_free(&r);
  CHECK(elign_dataset_read_range("ds_rt.h5", 3, 3, &r, &err) == ELIGN_OK && r.n_mol == 0 && r.n_atoms == 0);
  elign_molset_free(&r);
  CHECK(elign_dataset_read_range("ds_rt.h5", 2, 4, &r, &err) == ELIGN_ERR_FORMAT && strstr(err.msg, "/offsets"));
  /* a dataset is not a sample file */
  elign_molset m;
  CHECK(elign_samples_read("ds_rt.h5", &m, NULL, NULL, &err) == ELIGN_ERR_FORMAT &&
        strstr(err.msg, "is an Elign-C dataset file, expected a samples file"));
  elign_molset_free(&m);
  elign_dataset_free(&ds);
  elign_dataset_free(&back);
}

static void test_samples_and_oracle(void) {
  elign_molset s, r;
  elign_error err;
  make_molset(&s);
  int64_t group[3] = {0, 0, 5}, *g = NULL;
  elign_samples_meta meta = {.model = "model.h5", .seed = UINT64_C(18446744073709551615), .steps = 1000,
                             .iteration = 3},
                     mb;
  CHECK(elign_samples_write("samples_rt.h5", &s, group, &meta, &err) == ELIGN_OK);
  CHECK(elign_samples_read("samples_rt.h5", &r, &g, &mb, &err) == ELIGN_OK);
  CHECK(r.n_mol == 3 && g && g[2] == 5 && mb.seed == meta.seed && mb.steps == 1000 && mb.iteration == 3 &&
        strcmp(mb.model, "model.h5") == 0);
  CHECK(memcmp(r.pos, s.pos, 33 * sizeof(double)) == 0);
  free(g);
  elign_molset_free(&r);
  /* oracle results need energies and forces */
  int32_t status[3] = {0, 2, 0}, *stat_back = NULL;
  CHECK(elign_oracle_results_write("oracle_rt.h5", &s, status, "ani2x", &err) == ELIGN_ERR_ARG);
  s.energy = malloc(3 * sizeof(double));
  s.forces = calloc(33, sizeof(double));
  s.energy[0] = -2079.5, s.energy[1] = NAN, s.energy[2] = -3133.25;
  s.forces[4] = -0.5;
  char name[128];
  CHECK(elign_oracle_results_write("oracle_rt.h5", &s, status, "ani2x", &err) == ELIGN_OK);
  CHECK(elign_oracle_results_read("oracle_rt.h5", &r, &stat_back, name, &err) == ELIGN_OK);
  CHECK(stat_back && stat_back[1] == 2 && strcmp(name, "ani2x") == 0 && r.energy[0] == -2079.5 &&
        isnan(r.energy[1]) && r.forces[4] == -0.5);
  free(stat_back);
  elign_molset_free(&r);
  elign_molset_free(&s);
}

static void test_json(void) {
  elign_json v;
  elign_error err;
  const char *ok = "{\"seed\": 12345, \"train\": [0, 1, 2], \"name\": \"caf\\u00e9\\n\", \"t\": true,\n"
                   "\"n\": null, \"x\": -0.5e+3, \"nested\": {\"a\": []}}";
  CHECK(elign_json_parse(ok, strlen(ok), "ok.json", &v, &err) == ELIGN_OK);
  CHECK(v.type == ELIGN_JSON_OBJECT && v.n == 7);
  const elign_json *t = elign_json_get(&v, "train");
  CHECK(t && t->type == ELIGN_JSON_ARRAY && t->n == 3 && t->items[2].number == 2.0);
  CHECK(elign_json_get(&v, "seed")->number == 12345.0);
  CHECK(strcmp(elign_json_get(&v, "name")->string, "caf\xc3\xa9\n") == 0);
  CHECK(elign_json_get(&v, "t")->boolean == 1 && elign_json_get(&v, "n")->type == ELIGN_JSON_NULL);
  CHECK(elign_json_get(&v, "x")->number == -500.0 && elign_json_get(&v, "x")->line == 2);
  CHECK(elign_json_get(&v, "nested")->items[0].type == ELIGN_JSON_ARRAY);
  elign_json_free(&v);
  struct {
    const char *text, *want;
  } bad[] = {
      {"{\"a\": [1,\n 2,,3]}", "bad.json line 2: expected a value"},
      {"{\"a\": 1, \"a\": 2}", "duplicate key \"a\""},
      {"[01]", "expected ',' or ']'"},
      {"[1.]", "digits expected after '.'"},
      {"{\"a\" 1}", "expected ':'"},
      {"[1] x", "unexpected text"},
      {"\"abc", "unterminated string"},
      {"[tru]", "expected a value"},
      {"\n\n{\"a\": [1, 2}", "bad.json line 3: expected ',' or ']'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    elign_error_clear(&err);
    elign_status st = elign_json_parse(bad[i].text, strlen(bad[i].text), "bad.json", &v, &err);
    CHECK(st == ELIGN_ERR_FORMAT && strstr(err.msg, bad[i].want));
    if (!(st == ELIGN_ERR_FORMAT && strstr(err.msg, bad[i].want)))
      fprintf(stderr, "  case %zu: got '%s', want '%s'\n", i, err.msg, bad[i].want);
  }
}

static char *replace_once(const char *s, const char *old, const char *new_text) {
  const char *at = strstr(s, old);
  size_t n = strlen(s) - strlen(old) + strlen(new_text);
  char *out = malloc(n + 1);
  size_t head = (size_t)(at - s);
  memcpy(out, s, head);
  strcpy(out + head, new_text);
  strcat(out, at + strlen(old));
  return out;
}

/* QM9 text with Mathematica exponents and the real layout (methane, gdb 1). */
static void test_qm9_text(void) {
  const char *text =
      "5\n"
      "gdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t0.044749\t-40.47893\t"
      "-40.476062\t-40.475117\t-40.498597\t6.469\t\n"
      "C\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689\n"
      "H\t 0.002150416\t-0.0060313176\t 0.0019761204\t 0.133921\n"
      "H\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922\n"
      "H\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923\n"
      "H\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923*^-1\n"
      "1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t3151.7078\n"
      "C\tC\t\n"
      "InChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4\n";
  elign_dataset ds;
  elign_error err;
  elign_dataset_init(&ds);
  elign_status st = elign_import_qm9_text(text, strlen(text), "t.tar:dsgdb9nsd_000001.xyz", &ds, &err);
  CHECK(st == ELIGN_OK);
  if (st != ELIGN_OK) fprintf(stderr, "%s\n", err.msg);
  CHECK(ds.mols.n_mol == 1 && ds.mols.n_atoms == 5 && ds.mols.ids[0] == 1 && strcmp(ds.mols.smiles[0], "C") == 0);
  CHECK(ds.mols.Z[0] == 6 && ds.mols.Z[4] == 1 && ds.mols.pos[1] == 1.0858041578);
  const elign_mol_property *u0 = elign_dataset_find_property(&ds, "U0");
  CHECK(u0 && u0->values[0] == -40.47893 && strcmp(u0->unit, "Hartree") == 0);
  CHECK(elign_dataset_find_property(&ds, "Cv")->values[0] == 6.469);
  /* a bad atom line: message with member and line */
  char *broken = strdup(text);
  char *p = strstr(broken, "1.4637511618");
  p[3] = 'x';
  st = elign_import_qm9_text(broken, strlen(broken), "t.tar:dsgdb9nsd_000001.xyz", &ds, &err);
  CHECK(st == ELIGN_ERR_FORMAT && strstr(err.msg, "t.tar:dsgdb9nsd_000001.xyz line 5: bad atom line 'H"));
  free(broken);
  /* "*^" exponent on a coordinate */
  broken = replace_once(text, "-0.0126981359", "-1.26981359*^-2");
  st = elign_import_qm9_text(broken, strlen(broken), "x", &ds, &err);
  CHECK(st == ELIGN_OK && fabs(ds.mols.pos[15] - (-1.26981359e-2)) < 1e-15);
  free(broken);
  elign_dataset_free(&ds);
}

static void test_xyz_tiny(void) {
  elign_dataset ds;
  elign_error err;
  elign_dataset_init(&ds);
  elign_status st = elign_import_xyz(test_shared_path("data/qm9like/tiny.xyz"), &ds, &err);
  CHECK(st == ELIGN_OK);
  if (st != ELIGN_OK) {
    fprintf(stderr, "%s\n", err.msg);
    return;
  }
  CHECK(ds.mols.n_mol == 64);
  /* README: tiny.xyz holds the first 64 ids of the test list, in that order. */
  elign_json split;
  CHECK(elign_json_parse_file(test_shared_path("data/qm9like/split.json"), &split, &err) == ELIGN_OK);
  const elign_json *test = elign_json_get(&split, "test");
  int same = test && test->n >= 64;
  for (int m = 0; same && m < 64; m++) same = ds.mols.ids[m] == (int64_t)test->items[m].number;
  CHECK(same);
  CHECK(test && test->n == 3000 && elign_json_get(&split, "train")->n == 24000);
  elign_json_free(&split);
  /* README: 59 molecules with 9 heavy atoms and 5 with 8. */
  elign_hist h;
  elign_molset_heavy_hist(&ds.mols, &h);
  CHECK(h.n == 2 && h.key[0] == 8 && h.count[0] == 5 && h.key[1] == 9 && h.count[1] == 59);
  elign_hist_free(&h);
  const elign_mol_property *e = elign_dataset_find_property(&ds, "mmff_energy");
  CHECK(e && strcmp(e->unit, "kcal/mol") == 0 && e->values[0] > -326.2 && e->values[0] < 174.4);
  CHECK(ds.mols.smiles && ds.mols.smiles[0] && strlen(ds.mols.smiles[0]) > 0);
  elign_dataset_free(&ds);
}

static void test_xyz_errors(void) {
  struct {
    const char *text, *want;
  } cases[] = {
      {"1\nc\nH 0 0 0\n2\nc\nC 0.1 x 0.3\nH 0 0 1\n", "bad.xyz: molecule 1 (line 6): bad atom line 'C 0.1 x 0.3'"},
      {"1\nc\nXq 0 0 0\n", "bad.xyz: molecule 0 (line 3): bad atom line 'Xq 0 0 0' (unknown element symbol)"},
      {"1\nc\nH 0 0\n", "bad.xyz: molecule 0 (line 3): bad atom line 'H 0 0'"},
      {"2\nc\nH 0 0 0\n", "bad.xyz: molecule 0 (line 4): file ends after 1 of 2 atoms"},
      {"two\nc\n", "bad.xyz: molecule 0 (line 1): expected the atom count, found 'two'"},
      {"1\nc\nH 0 0 0 7\n", "bad atom line 'H 0 0 0 7'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_text("bad.xyz", cases[i].text);
    elign_dataset ds;
    elign_error err;
    elign_dataset_init(&ds);
    elign_status st = elign_import_xyz("bad.xyz", &ds, &err);
    int ok = st == ELIGN_ERR_FORMAT && strstr(err.msg, cases[i].want);
    CHECK(ok);
    if (!ok) fprintf(stderr, "  case %zu: got '%s'\n", i, err.msg);
    elign_dataset_free(&ds);
  }
  /* extra columns are fine when Properties declares them */
  write_text("extra.xyz", "1\nProperties=species:S:1:pos:R:3:forces:R:3 id=7 energy=-1.5\nH 0 0 0 1 2 3\n");
  elign_dataset ds;
  elign_error err;
  elign_dataset_init(&ds);
  CHECK(elign_import_xyz("extra.xyz", &ds, &err) == ELIGN_OK && ds.mols.ids[0] == 7 &&
        elign_dataset_find_property(&ds, "energy")->values[0] == -1.5);
  elign_dataset_free(&ds);
  unlink("bad.xyz");
  unlink("extra.xyz");
}

int main(void) {
  test_molset();
  test_elements();
  test_dataset_round_trip();
  test_samples_and_oracle();
  test_json();
  test_qm9_text();
  test_xyz_tiny();
  test_xyz_errors();
  return test_main_result("test_h5_dataset");
}
