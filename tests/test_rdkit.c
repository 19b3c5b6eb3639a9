/* test_rdkit — RDKit validity / uniqueness / novelty against EDM's own code.
 *
 *   test_rdkit GOLDEN_DIR [--train TRAIN_SMILES_TXT]
 *
 * GOLDEN_DIR (tests/data/rdkit) holds what tests/rdkit_edm_golden.py got by
 * running EDM's qm9/rdkit_functions.py with Debian's torch and RDKit:
 *   cdist.txt          torch.cdist float32 bits      → elign_edm_cdist, bit for bit
 *   bond_grid.txt.gz   EDM bond orders on thresholds → elign_edm_bond_order
 *   edge_cases.txt     hand-made / near-threshold molecules → elign_rdkit_smiles
 *   qm9like_test.tsv.gz  every test-split molecule of ../shared/data/qm9like,
 *                      validity + SMILES (largest fragment and whole), and EDM's
 *                      validity / uniqueness / novelty-vs-tiny numbers.
 * --train: a file written by tools/train_smiles.py from tiny.xyz's molecules;
 * novelty of the test split against it must be EDM's novelty-vs-tiny.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/base/error.h"
#include "common/base/json.h"
#include "common/base/log.h"
#include "common/chem/edm_graph.h"
#include "common/chem/rdkit_metrics.h"
#include "common/chem/smiles_set.h"
#include "common/io/importers.h"
#include "testutil.h"

/* Validity and uniqueness of the qm9like test split under EDM's metric,
 * pinned here as well as in the golden file's header. */
enum { TEST_SPLIT_N = 3000, TEST_SPLIT_VALID = 2645, TEST_SPLIT_UNIQUE = 2645 };

static const char *golden_dir;

/* ---- small readers ------------------------------------------------------------- */

/* Whole file (plain or gzip) as a NUL-terminated string. */
static char *read_text(const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", golden_dir, name);
  gzFile f = gzopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(2);
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = elign_malloc(cap, "test:text");
  int got;
  while ((got = gzread(f, buf + len, (unsigned)(cap - len - 1))) > 0) {
    len += (size_t)got;
    if (cap - len < 2) buf = elign_realloc(buf, cap *= 2, "test:text");
  }
  gzclose(f);
  buf[len] = '\0';
  return buf;
}

/* Next line of *cursor (NUL-terminated in place), skipping '#' lines; NULL at the end. */
static char *next_line(char **cursor) {
  while (**cursor) {
    char *line = *cursor, *nl = strchr(line, '\n');
    if (nl) {
      *nl = '\0';
      *cursor = nl + 1;
    } else {
      *cursor += strlen(line);
    }
    if (line[0] != '#') return line;
  }
  return NULL;
}

/* Split line at '|' into at most max fields, each trimmed of the spaces around it. */
static int split_bars(char *line, char **field, int max) {
  int n = 0;
  for (char *p = line; n < max;) {
    char *bar = strchr(p, '|');
    if (bar) *bar = '\0';
    while (*p == ' ') p++;
    char *end = p + strlen(p);
    while (end > p && end[-1] == ' ') *--end = '\0';
    field[n++] = p;
    if (!bar) break;
    p = bar + 1;
  }
  return n;
}

static float float_of_bits(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static uint32_t bits_of_float(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

/* ---- torch.cdist, bit for bit ---------------------------------------------------- */

static void test_cdist(void) {
  char *text = read_text("cdist.txt"), *cur = text, *line;
  int molecules = 0;
  long pairs = 0, bad = 0;
  while ((line = next_line(&cur))) {
    char *f[3];
    CHECK(split_bars(line, f, 3) == 3);
    int n = atoi(f[0]);
    double *pos = elign_malloc((size_t)n * 3 * sizeof *pos, "test:pos");
    char *p = f[1];
    for (int k = 0; k < 3 * n; k++) pos[k] = strtod(p, &p);
    float *d = elign_malloc((size_t)n * n * sizeof *d, "test:d");
    elign_edm_cdist(pos, n, d);
    p = f[2];
    for (int i = 0; i < n; i++)
      for (int j = 0; j < i; j++) {
        uint32_t want = (uint32_t)strtoul(p, &p, 16), got = bits_of_float(d[i * n + j]);
        pairs++;
        if (got != want && bad++ < 5)
          printf("  cdist n=%d (%d,%d): got %.9g want %.9g\n", n, i, j, d[i * n + j], float_of_bits(want));
      }
    molecules++;
    elign_free(pos);
    elign_free(d);
  }
  printf("cdist: %d molecules, %ld pairs, %ld differ from torch\n", molecules, pairs, bad);
  CHECK(molecules == 12 && pairs > 1000);
  CHECK(bad == 0);
  elign_free(text);
}

/* ---- bond orders on every threshold ---------------------------------------------- */

static void test_bond_grid(void) {
  char *text = read_text("bond_grid.txt.gz"), *cur = text, *line = next_line(&cur);
  CHECK(line && strncmp(line, "distances ", 10) == 0);
  char *p = line + 10;
  int nd = (int)strtol(p, &p, 10);
  float *d = elign_malloc((size_t)nd * sizeof *d, "test:grid");
  for (int k = 0; k < nd; k++) d[k] = float_of_bits((uint32_t)strtoul(p, &p, 16));
  long checked = 0, bad = 0, bonded = 0;
  int pairs = 0;
  while ((line = next_line(&cur))) {
    char rule_name[8], *orders = NULL;
    int z1, z2, used = 0;
    CHECK(sscanf(line, "%7s %d %d %n", rule_name, &z1, &z2, &used) == 3);
    orders = line + used;
    CHECK((int)strlen(orders) == nd);
    int rule = strcmp(rule_name, "qm9") == 0 ? ELIGN_EDM_RULE_QM9 : ELIGN_EDM_RULE_GEOM;
    for (int k = 0; k < nd; k++) {
      int want = orders[k] - '0';
      int got = elign_edm_bond_order(z1, z2, d[k], rule), swapped = elign_edm_bond_order(z2, z1, d[k], rule);
      checked++;
      bonded += want > 0;
      if ((got != want || swapped != want) && bad++ < 5)
        printf("  bond %s %d-%d d=%.9g: got %d/%d want %d\n", rule_name, z1, z2, d[k], got, swapped, want);
    }
    pairs++;
  }
  printf("bond grid: %d pairs x %d distances, %ld bonded, %ld differ from EDM\n", pairs, nd, bonded, bad);
  CHECK(pairs == 15 + 136 && bonded > 1000);
  CHECK(bad == 0);
  /* elements a rule cannot hold */
  CHECK(elign_edm_bond_order(6, 16, 1.5f, ELIGN_EDM_RULE_QM9) == -1);
  CHECK(elign_edm_bond_order(6, 3, 1.5f, ELIGN_EDM_RULE_GEOM) == -1);
  CHECK(elign_edm_bond_order(6, 16, 1.5f, ELIGN_EDM_RULE_GEOM) == 1);
  elign_free(d);
  elign_free(text);
}

/* ---- edge cases ------------------------------------------------------------------- */

typedef struct {
  char *name;
  int rule;
  int n;
  int32_t *Z;
  double *pos;
  int valid;
  const char *largest, *whole;
} edge_case;

static int parse_edge_case(char *line, edge_case *c) {
  char *f[6];
  if (split_bars(line, f, 6) != 6) return 0;
  char name[128], rule[8];
  if (sscanf(f[0], "%127s %7s %d", name, rule, &c->n) != 3) return 0;
  c->name = elign_strdup(name, "test:name");
  c->rule = strcmp(rule, "qm9") == 0 ? ELIGN_RDKIT_RULE_QM9 : ELIGN_RDKIT_RULE_GEOM;
  c->Z = elign_malloc((size_t)c->n * sizeof *c->Z + 1, "test:Z");
  c->pos = elign_malloc((size_t)c->n * 3 * sizeof *c->pos + 1, "test:pos");
  char *p = f[1];
  for (int k = 0; k < c->n; k++) c->Z[k] = (int32_t)strtol(p, &p, 10);
  p = f[2];
  for (int k = 0; k < 3 * c->n; k++) c->pos[k] = strtod(p, &p);
  c->valid = atoi(f[3]);
  c->largest = f[4];
  c->whole = f[5];
  return 1;
}

/* SMILES of one molecule through the public API; returns the outcome. */
static int smiles_of(const edge_case *c, int largest, char *out, size_t cap) {
  elign_error err;
  elign_error_clear(&err);
  int rc = elign_rdkit_smiles(c->pos, c->Z, c->n, c->rule, largest, out, cap, &err);
  if (rc == ELIGN_RDKIT_ERROR) printf("  %s: error: %s\n", c->name, err.msg);
  return rc;
}

static void check_edge_semantics(const edge_case *c, int valid, const char *largest) {
  /* What each hand-made case is there to show (EDM's answers are checked too). */
  if (!strcmp(c->name, "empty")) CHECK(valid == 1 && largest[0] == '\0');
  if (!strcmp(c->name, "lone_6")) CHECK(valid == 1 && !strcmp(largest, "C"));
  if (!strcmp(c->name, "two_fragments_methane_water")) CHECK(!strcmp(largest, "[H]C([H])([H])[H]"));
  if (!strcmp(c->name, "tie_water_first")) CHECK(!strcmp(largest, "[H]O[H]"));
  if (!strcmp(c->name, "tie_hcn_first") || !strcmp(c->name, "tie_interleaved")) CHECK(!strcmp(largest, "[H]C#N"));
  if (!strcmp(c->name, "hypervalent_carbon") || !strcmp(c->name, "hypervalent_nitrogen")) CHECK(valid == 0);
  if (!strcmp(c->name, "acetylene")) CHECK(!strcmp(largest, "[H]C#C[H]"));
  if (!strcmp(c->name, "geom_acetylene_single")) CHECK(valid == 1 && !strchr(largest, '#'));
  if (!strcmp(c->name, "geom_ethene_single")) CHECK(valid == 1 && !strchr(largest, '='));
}

static void test_edge_cases(void) {
  char *text = read_text("edge_cases.txt"), *cur = text, *line;
  int cases = 0, agree = 0, thresholds = 0;
  while ((line = next_line(&cur))) {
    edge_case c;
    CHECK(parse_edge_case(line, &c));
    char largest[4096], whole[4096];
    int v1 = smiles_of(&c, 1, largest, sizeof largest), v0 = smiles_of(&c, 0, whole, sizeof whole);
    int ok = v1 == c.valid && v0 == c.valid && !strcmp(largest, c.largest) && !strcmp(whole, c.whole);
    if (!ok)
      printf("  %s: got %d '%s' / '%s', EDM %d '%s' / '%s'\n", c.name, v1, largest, whole, c.valid, c.largest,
             c.whole);
    check_edge_semantics(&c, v1, largest);
    cases++;
    agree += ok;
    thresholds += strncmp(c.name, "threshold_", 10) == 0;
    elign_free(c.name);
    elign_free(c.Z);
    elign_free(c.pos);
  }
  printf("edge cases: %d/%d agree with EDM (%d near-threshold)\n", agree, cases, thresholds);
  CHECK(cases >= 40 && thresholds >= 20);
  CHECK(agree == cases);
  elign_free(text);
}

/* ---- argument and build errors ----------------------------------------------------- */

static void test_errors(void) {
  const int32_t Z[2] = {6, 16};
  const double pos[6] = {0, 0, 0, 1.8, 0, 0};
  char out[64];
  elign_error err;
  elign_error_clear(&err);
  CHECK(elign_rdkit_smiles(pos, Z, 2, 7, 1, out, sizeof out, &err) == ELIGN_RDKIT_ERROR);
  CHECK(err.status == ELIGN_ERR_ARG && strstr(err.msg, "rule 7"));
  elign_error_clear(&err);
  CHECK(elign_rdkit_smiles(pos, Z, -1, ELIGN_RDKIT_RULE_GEOM, 1, out, sizeof out, &err) == ELIGN_RDKIT_ERROR);
  CHECK(err.status == ELIGN_ERR_ARG);
  /* GEOM knows sulfur: C-S at 1.8 Å is a single bond */
  elign_error_clear(&err);
  int rc = elign_rdkit_smiles(pos, Z, 2, ELIGN_RDKIT_RULE_GEOM, 1, out, sizeof out, &err);
#ifdef ELIGN_WITH_RDKIT
  CHECK(elign_rdkit_available() && !strcmp(elign_rdkit_version(), "2022.09.3"));
  CHECK(rc == ELIGN_RDKIT_VALID && !strcmp(out, "CS"));
  elign_error_clear(&err); /* sulfur is foreign to QM9 */
  CHECK(elign_rdkit_smiles(pos, Z, 2, ELIGN_RDKIT_RULE_QM9, 1, out, sizeof out, &err) == ELIGN_RDKIT_ERROR);
  CHECK(err.status == ELIGN_ERR_ARG && strstr(err.msg, "atom 1") && strstr(err.msg, "Z=16"));
  elign_error_clear(&err);
  CHECK(elign_rdkit_smiles(pos, Z, 2, ELIGN_RDKIT_RULE_GEOM, 1, out, 2, &err) == ELIGN_RDKIT_ERROR);
  CHECK(err.status == ELIGN_ERR_ARG && strstr(err.msg, "does not fit") && out[0] == '\0');
#else
  CHECK(!elign_rdkit_available());
  CHECK(rc == ELIGN_RDKIT_ERROR && err.status == ELIGN_ERR_UNSUPPORTED && strstr(err.msg, "built without RDKit"));
#endif
}

/* ---- the smiles set --------------------------------------------------------------- */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

static void test_smiles_set(void) {
  elign_smiles_set *s = elign_smiles_set_new();
  char buf[32];
  int added = 0;
  for (int k = 0; k < 5000; k++) {
    snprintf(buf, sizeof buf, "C%dO", k);
    CHECK(elign_smiles_set_insert(s, buf, &added) == k && added == 1);
  }
  int all_found = 1;
  for (int k = 0; k < 5000; k++) {
    snprintf(buf, sizeof buf, "C%dO", k);
    all_found &= elign_smiles_set_find(s, buf) == k && !strcmp(elign_smiles_set_get(s, k), buf);
  }
  CHECK(all_found);
  CHECK(elign_smiles_set_insert(s, "C17O", &added) == 17 && added == 0);
  CHECK(elign_smiles_set_find(s, "C5000O") == -1 && elign_smiles_set_find(s, "") == -1);
  CHECK(elign_smiles_set_size(s) == 5000);
  elign_smiles_set_free(&s);
  CHECK(s == NULL);

  elign_error err;
  int64_t lines = 0;
  write_file("smiles_ok.txt", "# comment\nCCO\r\n[H]O[H]\nCCO\n");
  s = elign_smiles_set_new();
  elign_error_clear(&err);
  CHECK(elign_smiles_set_load(s, "smiles_ok.txt", &lines, &err) == ELIGN_OK);
  CHECK(lines == 3 && elign_smiles_set_size(s) == 2 && elign_smiles_set_find(s, "CCO") == 0);
  write_file("smiles_blank.txt", "CCO\n\nCC\n");
  elign_error_clear(&err);
  CHECK(elign_smiles_set_load(s, "smiles_blank.txt", NULL, &err) == ELIGN_ERR_FORMAT);
  CHECK(strstr(err.msg, "smiles_blank.txt:2") != NULL);
  write_file("smiles_space.txt", "CCO\nC C\n");
  elign_error_clear(&err);
  CHECK(elign_smiles_set_load(s, "smiles_space.txt", NULL, &err) == ELIGN_ERR_FORMAT);
  CHECK(strstr(err.msg, "smiles_space.txt:2") != NULL);
  elign_error_clear(&err);
  CHECK(elign_smiles_set_load(s, "no_such_smiles.txt", NULL, &err) == ELIGN_ERR_IO);
  elign_smiles_set_free(&s);
}

/* ---- the qm9like test split ---------------------------------------------------------- */

typedef struct {
  /* EDM's numbers from the header */
  int64_t n_total, n_valid, n_unique, n_novel_tiny, tiny_list;
  double validity, uniqueness, novelty_tiny;
  /* one row per molecule, in split order */
  int64_t n;
  int64_t *id;
  int *valid;
  char **largest, **whole;
} golden_split;

static void header_value(const char *line, golden_split *g) {
  long long v;
  double x;
  if (sscanf(line, "# n_total %lld", &v) == 1) g->n_total = v;
  if (sscanf(line, "# n_valid %lld", &v) == 1) g->n_valid = v;
  if (sscanf(line, "# n_unique %lld", &v) == 1) g->n_unique = v;
  if (sscanf(line, "# n_novel_vs_tiny %lld", &v) == 1) g->n_novel_tiny = v;
  if (sscanf(line, "# tiny_train_list %lld", &v) == 1) g->tiny_list = v;
  if (sscanf(line, "# validity %lf", &x) == 1) g->validity = x;
  if (sscanf(line, "# uniqueness %lf", &x) == 1) g->uniqueness = x;
  if (sscanf(line, "# novelty_vs_tiny %lf", &x) == 1) g->novelty_tiny = x;
}

/* Rows are "id \t valid \t largest-fragment SMILES \t whole SMILES" (SMILES may be empty). */
static void read_golden_split(golden_split *g) {
  memset(g, 0, sizeof *g);
  char *text = read_text("qm9like_test.tsv.gz"), *cur = text;
  int64_t cap = 0;
  while (*cur) {
    char *line = cur, *nl = strchr(cur, '\n');
    if (nl) *nl = '\0';
    cur = nl ? nl + 1 : cur + strlen(cur);
    if (line[0] == '#') header_value(line, g);
    if (line[0] == '#' || !line[0]) continue;
    char *field[4] = {line, NULL, NULL, NULL};
    for (int k = 1; k < 4; k++) {
      field[k] = strchr(field[k - 1], '\t');
      ELIGN_ASSERT(field[k]);
      *field[k]++ = '\0';
    }
    if (g->n == cap) {
      cap = cap ? 2 * cap : 4096;
      g->id = elign_realloc(g->id, (size_t)cap * sizeof *g->id, "golden:id");
      g->valid = elign_realloc(g->valid, (size_t)cap * sizeof *g->valid, "golden:valid");
      g->largest = elign_realloc(g->largest, (size_t)cap * sizeof *g->largest, "golden:largest");
      g->whole = elign_realloc(g->whole, (size_t)cap * sizeof *g->whole, "golden:whole");
    }
    g->id[g->n] = atoll(field[0]);
    g->valid[g->n] = atoi(field[1]);
    g->largest[g->n] = elign_strdup(field[2], "golden:largest");
    g->whole[g->n] = elign_strdup(field[3], "golden:whole");
    g->n++;
  }
  elign_free(text);
}

static void free_golden_split(golden_split *g) {
  elign_rdkit_smiles_free(g->largest, g->n);
  elign_rdkit_smiles_free(g->whole, g->n);
  elign_free(g->largest);
  elign_free(g->whole);
  elign_free(g->id);
  elign_free(g->valid);
}

/* The test split's molecules, in split.json's order, checked against the golden ids.
 * Returns 0 (after failed checks) if the shared data cannot be read. */
static int load_test_split(const golden_split *g, elign_molset *test) {
  elign_error err;
  elign_error_clear(&err);
  elign_json split;
  if (elign_json_parse_file(test_shared_path("data/qm9like/split.json"), &split, &err) != ELIGN_OK) {
    printf("  %s\n", err.msg);
    CHECK(!"split.json readable");
    return 0;
  }
  const elign_json *ids = elign_json_get(&split, "test");
  CHECK(ids && ids->type == ELIGN_JSON_ARRAY && ids->n == g->n);
  int same_ids = ids && ids->n == g->n;
  for (int k = 0; same_ids && k < ids->n; k++) same_ids = (int64_t)ids->items[k].number == g->id[k];
  CHECK(same_ids);
  elign_json_free(&split);
  if (!same_ids) return 0;

  elign_dataset all;
  elign_dataset_init(&all);
  elign_error_clear(&err);
  if (elign_import_xyz(test_shared_path("data/qm9like/qm9like_mmff.xyz.gz"), &all, &err) != ELIGN_OK ||
      !all.mols.ids) {
    printf("  %s\n", err.msg);
    CHECK(!"qm9like_mmff.xyz.gz readable, with ids");
    elign_dataset_free(&all);
    return 0;
  }
  elign_molset_init(test);
  for (int64_t k = 0; k < g->n; k++) {
    int64_t m = g->id[k]; /* ids are file positions (qm9like README) */
    ELIGN_ASSERT(m >= 0 && m < all.mols.n_mol && all.mols.ids[m] == m);
    int64_t a0 = all.mols.offsets[m];
    elign_molset_append(test, (int)elign_molset_natoms(&all.mols, m), all.mols.Z + a0, all.mols.pos + 3 * a0, m,
                        NULL);
  }
  elign_dataset_free(&all);
  return 1;
}

/* Per molecule: validity and both SMILES equal EDM's. Returns the largest-fragment SMILES. */
static char **compare_split(const golden_split *g, const elign_molset *test) {
  elign_error err;
  elign_error_clear(&err);
  char **largest = elign_calloc((size_t)g->n, sizeof *largest, "test:largest");
  char **whole = elign_calloc((size_t)g->n, sizeof *whole, "test:whole");
  double t0 = elign_wtime();
  CHECK(elign_rdkit_smiles_molset(test, ELIGN_RDKIT_RULE_QM9, 1, largest, &err) == ELIGN_OK);
  double t1 = elign_wtime();
  CHECK(elign_rdkit_smiles_molset(test, ELIGN_RDKIT_RULE_QM9, 0, whole, &err) == ELIGN_OK);
  int64_t same_valid = 0, same_largest = 0, same_whole = 0, above25 = 0, shown = 0;
  for (int64_t k = 0; k < g->n; k++) {
    int valid = largest[k] != NULL;
    int ok_v = valid == g->valid[k] && (whole[k] != NULL) == g->valid[k];
    int ok_l = valid ? g->valid[k] && !strcmp(largest[k], g->largest[k]) : !g->valid[k];
    int ok_w = whole[k] ? g->valid[k] && !strcmp(whole[k], g->whole[k]) : !g->valid[k];
    same_valid += ok_v;
    same_largest += ok_l;
    same_whole += ok_w;
    above25 += elign_molset_natoms(test, k) > 25;
    if (!(ok_v && ok_l && ok_w) && shown++ < 10)
      printf("  id %lld: got %d '%s' '%s', EDM %d '%s' '%s'\n", (long long)g->id[k], valid,
             largest[k] ? largest[k] : "", whole[k] ? whole[k] : "", g->valid[k], g->largest[k], g->whole[k]);
  }
  printf("test split: %lld molecules (%lld with > 25 atoms): validity agrees %lld, largest-fragment SMILES %lld, "
         "whole SMILES %lld; %.1f us per molecule\n",
         (long long)g->n, (long long)above25, (long long)same_valid, (long long)same_largest, (long long)same_whole,
         1e6 * (t1 - t0) / (double)(g->n ? g->n : 1));
  CHECK(above25 > 0);
  CHECK(same_valid == g->n && same_largest == g->n && same_whole == g->n);
  elign_rdkit_smiles_free(whole, g->n);
  elign_free(whole);
  return largest;
}

/* EDM's reference list built from tiny.xyz's molecules = the first 64 test ids
 * (qm9like README), whole-molecule SMILES, invalid ones dropped. */
static elign_smiles_set *tiny_train_set(const golden_split *g, int64_t *n_list) {
  elign_smiles_set *set = elign_smiles_set_new();
  *n_list = 0;
  for (int64_t k = 0; k < 64 && k < g->n; k++)
    if (g->valid[k]) {
      elign_smiles_set_insert(set, g->whole[k], NULL);
      (*n_list)++;
    }
  return set;
}

static void test_split(const char *train_path) {
  golden_split g;
  read_golden_split(&g);
  CHECK(g.n == TEST_SPLIT_N && g.n_total == TEST_SPLIT_N);
  CHECK(g.n_valid == TEST_SPLIT_VALID && g.n_unique == TEST_SPLIT_UNIQUE);
  elign_molset test;
  if (!load_test_split(&g, &test)) {
    free_golden_split(&g);
    return;
  }
  char **largest = compare_split(&g, &test);

  elign_rdkit_metrics m;
  elign_rdkit_metrics_of(largest, g.n, NULL, &m);
  printf("metrics: validity %lld/%lld = %.6f, uniqueness %lld/%lld = %.6f (EDM %.6f, %.6f)\n", (long long)m.n_valid,
         (long long)m.n_total, m.validity, (long long)m.n_unique, (long long)m.n_valid, m.uniqueness, g.validity,
         g.uniqueness);
  CHECK(m.n_total == TEST_SPLIT_N && m.n_valid == TEST_SPLIT_VALID && m.n_unique == TEST_SPLIT_UNIQUE);
  CHECK(m.validity == g.validity && m.uniqueness == g.uniqueness); /* the same division as Python's */
  CHECK(m.n_novel == -1 && m.novelty == 0.0);

  int64_t n_list = 0;
  elign_smiles_set *tiny = tiny_train_set(&g, &n_list);
  CHECK(n_list == g.tiny_list);
  elign_rdkit_metrics_of(largest, g.n, tiny, &m);
  printf("novelty vs tiny's %lld SMILES: %lld/%lld = %.6f (EDM %lld, %.6f)\n", (long long)n_list,
         (long long)m.n_novel, (long long)m.n_unique, m.novelty, (long long)g.n_novel_tiny, g.novelty_tiny);
  CHECK(m.n_novel == g.n_novel_tiny && m.novelty == g.novelty_tiny);
  elign_smiles_set_free(&tiny);

  if (train_path) { /* the same reference list, written by tools/train_smiles.py */
    elign_smiles_set *train = elign_smiles_set_new();
    elign_error err;
    elign_error_clear(&err);
    int64_t lines = 0;
    CHECK(elign_smiles_set_load(train, train_path, &lines, &err) == ELIGN_OK);
    elign_rdkit_metrics_of(largest, g.n, train, &m);
    printf("novelty vs %s (%lld lines): %lld/%lld\n", train_path, (long long)lines, (long long)m.n_novel,
           (long long)m.n_unique);
    CHECK(lines == g.tiny_list && m.n_novel == g.n_novel_tiny && m.novelty == g.novelty_tiny);
    elign_smiles_set_free(&train);
  }
  /* duplicates count once in uniqueness and novelty */
  char *dup[4] = {"CC", NULL, "CC", "O"};
  elign_smiles_set *ref = elign_smiles_set_new();
  elign_smiles_set_insert(ref, "O", NULL);
  elign_rdkit_metrics_of(dup, 4, ref, &m);
  CHECK(m.n_valid == 3 && m.n_unique == 2 && m.n_novel == 1 && m.validity == 0.75 && m.novelty == 0.5);
  elign_smiles_set_free(&ref);

  elign_rdkit_smiles_free(largest, g.n);
  elign_free(largest);
  elign_molset_free(&test);
  free_golden_split(&g);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_rdkit GOLDEN_DIR [--train TRAIN_SMILES_TXT]\n");
    return 2;
  }
  golden_dir = argv[1];
  const char *train = argc >= 4 && !strcmp(argv[2], "--train") ? argv[3] : NULL;
  test_errors();
  test_smiles_set();
  test_cdist();
  test_bond_grid();
  if (elign_rdkit_available()) {
    test_edge_cases();
    test_split(train);
  } else {
    printf("built without RDKit: SMILES comparisons skipped\n");
  }
  return test_main_result("test_rdkit");
}
