/* test_eval.c — the pieces of `elign eval` (learner/eval.h, oracle/relax.h,
 * common/base/json_writer.h), and the input files eval_cli.sh runs the
 * command on.
 *
 *   test_eval DATA_DIR        (tests/data: EDM's golden stability and RDKit files)
 *
 * 1. The qm9like test split scored as samples: stability and RDKit validity
 *    / largest-fragment SMILES agree with EDM's own code molecule by molecule
 *    (golden files made by tools/edm_stability_golden.py and
 *    tests/rdkit_edm_golden.py), and the aggregates are the data row pinned
 *    below.
 * 2. Summaries: seeds mean / sample spread, differences, medians.
 * 3. The relaxation driver through an embedded "lj" client: statuses of odd
 *    molecules, results independent of the window, a callback error drains.
 * 4. The journal: records read back bit for bit; a torn last line is cut; a
 *    damaged record is skipped; another backend's settings are ignored.
 * 5. JSON writer: round trip through json.h, bit for bit.
 * Fixture files written to the working directory for eval_cli.sh:
 *   eval_test_split.h5  the 3,000 test-split molecules as a samples file (ids kept)
 *   eval_tiny.h5, eval_tiny_a.h5, eval_tiny_b.h5, eval_tiny4.h5  tiny.xyz: all 64, halves, first 4
 *   eval_odd.h5         a lone C, a lone H, an Fe molecule, two atoms 0.1 Å apart,
 *                       a NaN coordinate, a molecule without atoms, one normal molecule
 *   eval_empty.h5       a samples file with no molecules
 *   eval_dft_post.h5, eval_dft_base.h5   six small molecules, near equilibrium / stretched (eval_dft.sh)
 *   eval_python.h5      molecules tests/oracle_toy.py refuses (time limit, error, no convergence)
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/base/json.h"
#include "common/base/json_writer.h"
#include "common/chem/rdkit_metrics.h"
#include "common/io/dataset_io.h"
#include "common/io/importers.h"
#include "learner/eval.h"
#include "oracle/oracle.h"
#include "testutil.h"

/* The data row of the qm9like test split under EDM's metrics. */
enum { SPLIT_N = 3000, SPLIT_ATOMS = 53345, SPLIT_STABLE_ATOMS = 52126, SPLIT_STABLE_MOLS = 2480, SPLIT_VALID = 2645 };

static const char *data_dir;

static void write_samples(const char *path, const elign_molset *s) {
  elign_samples_meta meta = {.model = "test_eval fixture", .seed = 0, .steps = 0, .iteration = -1};
  elign_error err;
  elign_error_clear(&err);
  elign_status st = elign_samples_write(path, s, NULL, &meta, &err);
  if (st) elign_error_print(&err);
  CHECK(st == ELIGN_OK);
}

static void subset(const elign_molset *s, const int64_t *idx, int64_t n, elign_molset *out) {
  elign_molset_init(out);
  for (int64_t i = 0; i < n; i++) {
    int64_t m = idx ? idx[i] : i, a0 = s->offsets[m];
    elign_molset_append(out, (int)elign_molset_natoms(s, m), s->Z + a0, s->pos + 3 * a0, s->ids ? s->ids[m] : -1,
                        NULL);
  }
}

/* ---- 1. the data row --------------------------------------------------------- */

typedef struct {
  int stable, n_stable, n;
} golden_stab;

/* check_stability per qm9like id (file position). */
static golden_stab *read_stability_golden(int64_t *n_out) {
  char path[4096];
  snprintf(path, sizeof path, "%s/stability_qm9like.txt.gz", data_dir);
  gzFile f = gzopen(path, "rb");
  CHECK(f != NULL);
  if (!f) return NULL;
  golden_stab *g = calloc(40000, sizeof *g);
  char line[512];
  int64_t n = 0;
  while (gzgets(f, line, sizeof line)) {
    long long id;
    int a, b, c;
    if (line[0] == '#' || sscanf(line, "%lld %d %d %d", &id, &a, &b, &c) != 4 || id < 0 || id >= 40000) continue;
    g[id] = (golden_stab){a, b, c};
    if (id + 1 > n) n = id + 1;
  }
  gzclose(f);
  *n_out = n;
  return g;
}

typedef struct {
  long long id;
  int valid;
  char smiles[512];
} golden_rdkit;

static golden_rdkit *read_rdkit_golden(int64_t *n_out) {
  char path[4096];
  snprintf(path, sizeof path, "%s/rdkit/qm9like_test.tsv.gz", data_dir);
  gzFile f = gzopen(path, "rb");
  CHECK(f != NULL);
  if (!f) return NULL;
  golden_rdkit *g = calloc(SPLIT_N + 10, sizeof *g);
  char line[2048];
  int64_t n = 0;
  while (gzgets(f, line, sizeof line) && n < SPLIT_N + 10) {
    if (line[0] == '#') continue;
    line[strcspn(line, "\n")] = '\0';
    char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
    if (!tab1 || !tab2) continue;
    char *tab3 = strchr(tab2 + 1, '\t');
    if (tab3) *tab3 = '\0';
    g[n].id = atoll(line);
    g[n].valid = atoi(tab1 + 1);
    snprintf(g[n].smiles, sizeof g[n].smiles, "%s", tab2 + 1);
    n++;
  }
  gzclose(f);
  *n_out = n;
  return g;
}

static int64_t *split_indices(const char *name, int64_t *n) {
  elign_json root;
  elign_error err;
  CHECK(elign_json_parse_file(test_shared_path("data/qm9like/split.json"), &root, &err) == ELIGN_OK);
  const elign_json *list = elign_json_get(&root, name);
  int64_t *idx = malloc((size_t)(list ? list->n : 1) * sizeof *idx);
  *n = list ? list->n : 0;
  for (int64_t i = 0; i < *n; i++) idx[i] = (int64_t)list->items[i].number;
  elign_json_free(&root);
  return idx;
}

static void test_data_row(void) {
  elign_dataset ds;
  elign_dataset_init(&ds);
  elign_error err;
  elign_error_clear(&err);
  CHECK(elign_import_any(test_shared_path("data/qm9like/qm9like_mmff.xyz.gz"), &ds, &err) == ELIGN_OK);
  int64_t n_idx = 0, *idx = split_indices("test", &n_idx);
  CHECK(n_idx == SPLIT_N);
  elign_molset split;
  subset(&ds.mols, idx, n_idx, &split);
  write_samples("eval_test_split.h5", &split);

  /* read back through the command's own loader, as `elign eval` does */
  eval_file f;
  eval_file_load(&f, "eval_test_split.h5", "samples", NULL);
  CHECK(f.error[0] == '\0');
  CHECK(f.mols.n_mol == SPLIT_N);
  eval_settings s;
  memset(&s, 0, sizeof s);
  s.rule = ELIGN_RDKIT_RULE_QM9;
  s.chunk = 32;
  eval_file_prepare(&f, &s);
  eval_chem_compute(&f.mols, 0, f.mols.n_mol, s.rule, f.chem);

  int64_t n_stab = 0, n_rd = 0, bad_stab = 0, bad_valid = 0, bad_smiles = 0;
  golden_stab *gs = read_stability_golden(&n_stab);
  golden_rdkit *gr = read_rdkit_golden(&n_rd);
  CHECK(n_rd == SPLIT_N);
  for (int64_t m = 0; m < f.mols.n_mol && gs && gr; m++) {
    int64_t id = f.mols.ids[m];
    CHECK(id == idx[m]);
    const golden_stab *g = &gs[id];
    if (g->stable != f.chem[m].stable || g->n_stable != f.chem[m].n_stable_atoms ||
        g->n != elign_molset_natoms(&f.mols, m))
      if (bad_stab++ < 5) printf("  molecule id %lld: stability differs from EDM\n", (long long)id);
    CHECK(gr[m].id == id);
    if (gr[m].valid != (f.chem[m].valid == ELIGN_RDKIT_VALID) && bad_valid++ < 5)
      printf("  molecule id %lld: validity %d, EDM %d\n", (long long)id, f.chem[m].valid, gr[m].valid);
    if (gr[m].valid && (!f.chem[m].smiles || strcmp(gr[m].smiles, f.chem[m].smiles) != 0) && bad_smiles++ < 5)
      printf("  molecule id %lld: SMILES %s, EDM %s\n", (long long)id, f.chem[m].smiles ? f.chem[m].smiles : "(none)",
             gr[m].smiles);
  }
  printf("data row: %lld molecules against EDM: %lld stability, %lld validity, %lld SMILES differences\n",
         (long long)f.mols.n_mol, (long long)bad_stab, (long long)bad_valid, (long long)bad_smiles);
  CHECK(bad_stab == 0 && bad_valid == 0 && bad_smiles == 0);

  eval_summary sum;
  eval_summary_of_file(&f, &s, NULL, &sum);
  const eval_section *st = eval_summary_find(&sum, "stability"), *rd = eval_summary_find(&sum, "rdkit");
  CHECK(eval_section_get(st, "n_atoms") == SPLIT_ATOMS);
  CHECK(eval_section_get(st, "n_stable_atoms") == SPLIT_STABLE_ATOMS);
  CHECK(eval_section_get(st, "n_stable_molecules") == SPLIT_STABLE_MOLS);
  CHECK(eval_section_get(st, "atom_stable") == (double)SPLIT_STABLE_ATOMS / SPLIT_ATOMS); /* 97.71 % */
  CHECK(eval_section_get(st, "mol_stable") == (double)SPLIT_STABLE_MOLS / SPLIT_N);      /* 82.67 % */
  CHECK(eval_section_get(rd, "n_valid") == SPLIT_VALID);
  CHECK(eval_section_get(rd, "validity") == (double)SPLIT_VALID / SPLIT_N); /* 0.8817 */
  CHECK(eval_section_get(rd, "uniqueness") == 1.0);
  CHECK(isnan(eval_section_get(rd, "novelty"))); /* no reference given */
  printf("data row: atom stability %.4f, molecule stability %.4f, validity %.4f, uniqueness %.4f\n",
         eval_section_get(st, "atom_stable"), eval_section_get(st, "mol_stable"), eval_section_get(rd, "validity"),
         eval_section_get(rd, "uniqueness"));
  /* novelty against a reference holding every valid SMILES but one: exactly one novel */
  elign_smiles_set *train = elign_smiles_set_new();
  int skipped = 0;
  for (int64_t m = 0; m < f.mols.n_mol; m++)
    if (f.chem[m].valid == ELIGN_RDKIT_VALID && (skipped++ > 0)) elign_smiles_set_insert(train, f.chem[m].smiles, NULL);
  eval_summary_of_file(&f, &s, train, &sum);
  rd = eval_summary_find(&sum, "rdkit");
  CHECK(eval_section_get(rd, "n_novel") == 1);
  CHECK(eval_section_get(rd, "novelty") == 1.0 / SPLIT_VALID);
  elign_smiles_set_free(&train);

  free(gs);
  free(gr);
  free(idx);
  eval_file_free(&f);
  elign_molset_free(&split);
  elign_dataset_free(&ds);
}

/* ---- fixtures for the command ---------------------------------------------------- */

/* For eval_dft.sh: six small molecules (H2, H2O, NH3, CH4, HF, HCN) near their
 * equilibrium (eval_dft_post.h5) and with every bond stretched by a different
 * amount (eval_dft_base.h5), so DFT sees two distributions. */
static void write_dft_fixtures(void) {
  static const int32_t Zs[] = {1, 1, 8, 1, 1, 7, 1, 1, 1, 6, 1, 1, 1, 1, 9, 1, 1, 6, 7};
  static const int counts[] = {2, 3, 4, 5, 2, 3};
  static const double R[][3] = {
      {0, 0, 0},          {0.74, 0, 0},                                                          /* H2 */
      {0, 0, 0},          {0.757, 0.586, 0},       {-0.757, 0.586, 0},                           /* H2O */
      {0, 0, 0.1},        {0.94, 0, -0.27},        {-0.47, 0.814, -0.27}, {-0.47, -0.814, -0.27}, /* NH3 */
      {0, 0, 0},          {0.629, 0.629, 0.629},   {-0.629, -0.629, 0.629},
      {-0.629, 0.629, -0.629}, {0.629, -0.629, -0.629},                                          /* CH4 */
      {0, 0, 0},          {0.917, 0, 0},                                                         /* HF */
      {0, 0, -1.066},     {0, 0, 0},               {0, 0, 1.156}};                               /* HCN */
  for (int variant = 0; variant < 2; variant++) {
    elign_molset s;
    elign_molset_init(&s);
    int a0 = 0;
    for (int m = 0; m < 6; m++) {
      double pos[3 * 5];
      double stretch = variant ? 1.08 + 0.03 * m : 1.0 + 0.004 * m; /* base: 8–23 % longer bonds */
      for (int i = 0; i < counts[m]; i++)
        for (int d = 0; d < 3; d++) pos[3 * i + d] = R[a0 + i][d] * stretch;
      elign_molset_append(&s, counts[m], Zs + a0, pos, -1, NULL);
      a0 += counts[m];
    }
    write_samples(variant ? "eval_dft_base.h5" : "eval_dft_post.h5", &s);
    elign_molset_free(&s);
  }
}

static void write_fixtures(void) {
  elign_dataset ds;
  elign_dataset_init(&ds);
  elign_error err;
  CHECK(elign_import_any(test_shared_path("data/qm9like/tiny.xyz"), &ds, &err) == ELIGN_OK);
  elign_molset s;
  write_samples("eval_tiny.h5", &ds.mols);
  int64_t half = ds.mols.n_mol / 2, idx[64];
  for (int64_t i = 0; i < 64; i++) idx[i] = i;
  subset(&ds.mols, idx, half, &s);
  write_samples("eval_tiny_a.h5", &s);
  elign_molset_free(&s);
  subset(&ds.mols, idx + half, ds.mols.n_mol - half, &s);
  write_samples("eval_tiny_b.h5", &s);
  elign_molset_free(&s);
  subset(&ds.mols, idx, 4, &s);
  write_samples("eval_tiny4.h5", &s);
  elign_molset_free(&s);

  /* the odd ones */
  elign_molset_init(&s);
  int32_t C[1] = {6}, H[1] = {1}, FeCO[3] = {26, 6, 8}, CC[2] = {6, 6}, CH4[5] = {6, 1, 1, 1, 1};
  double one[3] = {0.5, -0.5, 1.0}, feco[9] = {0, 0, 0, 1.8, 0, 0, 2.95, 0, 0}, close[6] = {0, 0, 0, 0.1, 0, 0},
         nan2[6] = {0, 0, 0, NAN, 0, 0};
  double ch4[15] = {0, 0, 0, 0.83, 0.63, 0.63, -0.63, -0.63, 0.63, -0.63, 0.63, -0.63, 0.63, -0.63, -0.63};
  elign_molset_append(&s, 1, C, one, -1, NULL);    /* 0: lone C */
  elign_molset_append(&s, 1, H, one, -1, NULL);    /* 1: lone H */
  elign_molset_append(&s, 3, FeCO, feco, -1, NULL);/* 2: Fe: the lj table has no Fe, RDKit's QM9 rule neither */
  elign_molset_append(&s, 2, CC, close, -1, NULL); /* 3: 0.1 Å apart */
  elign_molset_append(&s, 2, CC, nan2, -1, NULL);  /* 4: NaN coordinate */
  elign_molset_append(&s, 0, NULL, NULL, -1, NULL);/* 5: no atoms */
  elign_molset_append(&s, 5, CH4, ch4, -1, NULL);  /* 6: methane, one H pulled out */
  write_samples("eval_odd.h5", &s);
  elign_molset_free(&s);
  /* for tests/oracle_toy.py's toy(): a first atom Ne raises TimeoutError, He RuntimeError, Ar a
   * *ConvergenceError*; the oracle flags them (time limit, backend error, not converged) */
  elign_molset_init(&s);
  int32_t NeC[2] = {10, 6}, HeH[2] = {2, 1}, CO[2] = {6, 8}, ArH[2] = {18, 1};
  double pair[6] = {0, 0, 0, 1.2, 0, 0};
  elign_molset_append(&s, 2, NeC, pair, -1, NULL);
  elign_molset_append(&s, 2, HeH, pair, -1, NULL);
  elign_molset_append(&s, 2, CO, pair, -1, NULL);
  elign_molset_append(&s, 2, ArH, pair, -1, NULL);
  write_samples("eval_python.h5", &s);
  elign_molset_free(&s);
  write_dft_fixtures();
  elign_molset_init(&s);
  write_samples("eval_empty.h5", &s);
  elign_molset_free(&s);
  elign_dataset_free(&ds);
}

/* ---- 2. summaries ------------------------------------------------------------------- */

static void test_summaries(void) {
  double v[5] = {3, 1, 4, 1, 5};
  CHECK(eval_median(v, 5) == 3);
  double w[4] = {4, 1, 3, 2};
  CHECK(eval_median(w, 4) == 2.5);
  CHECK(isnan(eval_median(w, 0)));

  eval_summary a, b, c;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  eval_section_set(eval_summary_section(&a, "rdkit"), "validity", 0.90);
  eval_section_set(eval_summary_section(&b, "rdkit"), "validity", 0.92);
  eval_section_set(eval_summary_section(&c, "rdkit"), "validity", 0.97);
  eval_section_set(eval_summary_section(&a, "oracle:x"), "energy_mean", -1.0);
  eval_section_set(eval_summary_section(&b, "oracle:x"), "energy_mean", NAN); /* undefined in one seed */
  eval_section_set(eval_summary_section(&c, "oracle:x"), "energy_mean", -3.0);
  const eval_summary *three[3] = {&a, &b, &c};
  eval_summary mean, std, diff;
  eval_summary_seeds(three, 3, &mean, &std);
  CHECK_CLOSE(eval_section_get(eval_summary_find(&mean, "rdkit"), "validity"), 0.93, 1e-15, 0);
  /* sample std (n - 1): deviations -0.03, -0.01, 0.04 → sqrt(0.0026 / 2) */
  CHECK_CLOSE(eval_section_get(eval_summary_find(&std, "rdkit"), "validity"), sqrt(0.0026 / 2), 1e-15, 0);
  CHECK(eval_section_get(eval_summary_find(&mean, "oracle:x"), "energy_mean") == -2.0); /* the finite ones */
  const eval_summary *one[1] = {&a};
  eval_summary_seeds(one, 1, &mean, &std);
  CHECK(isnan(eval_section_get(eval_summary_find(&std, "rdkit"), "validity")));
  eval_summary_diff(&c, &a, &diff);
  CHECK_CLOSE(eval_section_get(eval_summary_find(&diff, "rdkit"), "validity"), 0.07, 1e-15, 0);
  CHECK(eval_summary_find(&diff, "nothing") == NULL);
  CHECK(isnan(eval_section_get(NULL, "validity")));
}

/* ---- 3. the relaxation driver --------------------------------------------------------- */

typedef struct {
  int calls;
  int64_t order[64];
  int fail_at; /* return an error at this call (0 = never) */
} done_log;

static elign_status log_done(void *ctx, int64_t chunk, int64_t m0, int64_t m1, const elign_relax_result *r,
                             elign_error *err) {
  (void)m0;
  (void)m1;
  (void)r;
  done_log *d = ctx;
  d->order[d->calls++] = chunk;
  if (d->fail_at && d->calls == d->fail_at) return ELIGN_FAIL(err, ELIGN_ERR_IO, "injected: chunk %lld", (long long)chunk);
  return ELIGN_OK;
}

static int same_result(const elign_relax_result *a, const elign_relax_result *b) {
  return memcmp(a, b, sizeof *a) == 0 || (a->status == b->status && a->outcome == b->outcome && a->steps == b->steps &&
                                          (a->energy == b->energy || (isnan(a->energy) && isnan(b->energy))) &&
                                          (a->energy_final == b->energy_final ||
                                           (isnan(a->energy_final) && isnan(b->energy_final))));
}

/* lj, except that a 5-atom molecule away from its start (x0) is refused. */
typedef struct {
  elign_oracle *lj;
  const double *x0;
} refuse_ctx;

static elign_status refuse_moved(void *ctx, const elign_oracle_batch *b, elign_oracle_result *r, elign_error *err) {
  refuse_ctx *c = ctx;
  elign_status st = elign_oracle_evaluate(c->lj, b, r, err);
  for (int64_t m = 0; m < b->n_mol; m++) {
    int64_t a0 = b->offsets[m], n = b->offsets[m + 1] - a0;
    if (n == 5 && memcmp(b->pos + 3 * a0, c->x0, 15 * sizeof(double)) != 0) {
      r->status[m] = ELIGN_MOL_NOT_CONVERGED;
      r->energy[m] = 0;
    }
  }
  return st;
}

static void test_relax_driver(void) {
  elign_oracle *lj = NULL;
  elign_oracle_options opt;
  elign_oracle_options_init(&opt);
  elign_error err;
  elign_error_clear(&err);
  CHECK(elign_oracle_create("lj", &opt, &lj, &err) == ELIGN_OK);
  elign_samples_meta meta;
  elign_molset odd, tiny;
  CHECK(elign_samples_read("eval_odd.h5", &odd, NULL, &meta, &err) == ELIGN_OK);
  CHECK(elign_samples_read("eval_tiny.h5", &tiny, NULL, &meta, &err) == ELIGN_OK);

  /* odd molecules: statuses, and only the good ones relax */
  elign_oracle_client *c = NULL;
  CHECK(elign_oracle_client_create_embedded(lj, 4, &c, &err) == ELIGN_OK);
  elign_relax_options ro = {.chunk = 3, .window = 2, .relax = 1};
  elign_geomopt_options_default(&ro.opt, ELIGN_GEOMOPT_LBFGS);
  ro.opt.fmax = 1e-4; /* lj forces are small: make methane work for it */
  elign_relax_result r[7];
  int64_t all[3] = {0, 1, 2};
  double *final_pos = malloc(3 * (size_t)odd.n_atoms * sizeof *final_pos);
  done_log log = {0};
  CHECK(elign_relax_run(c, &odd, all, 3, &ro, r, final_pos, log_done, &log, &err) == ELIGN_OK);
  CHECK(log.calls == 3);
  static const int want[7] = {ELIGN_MOL_OK, ELIGN_MOL_OK, ELIGN_MOL_UNSUPPORTED_ELEMENT, ELIGN_MOL_OVERLAP,
                              ELIGN_MOL_NONFINITE_INPUT, ELIGN_MOL_EMPTY, ELIGN_MOL_OK};
  for (int m = 0; m < 7; m++) {
    CHECK(r[m].status == want[m]);
    if (want[m] == ELIGN_MOL_OK) {
      CHECK(r[m].outcome == ELIGN_RELAX_CONVERGED);
      CHECK(isfinite(r[m].energy) && isfinite(r[m].energy_final) && r[m].energy_final <= r[m].energy + 1e-12);
    } else {
      CHECK(r[m].outcome == ELIGN_RELAX_NOT_RUN && isnan(r[m].energy));
    }
  }
  CHECK(r[0].energy == 0 && r[0].steps == 0 && r[0].rmsd == 0); /* a lone atom: nothing to do */
  CHECK(isnan(r[1].rmsd_heavy));                                /* a lone H has no heavy atom */
  int moved = 0;
  for (int64_t k = 3 * odd.offsets[6]; k < 3 * odd.offsets[7]; k++) moved += final_pos[k] != odd.pos[k];
  CHECK(r[6].steps > 0 && moved > 0 && r[6].rmsd > 0); /* methane relaxed, and final_pos says where to */
  CHECK(final_pos[3 * odd.offsets[3] + 3] == odd.pos[3 * odd.offsets[3] + 3]); /* an unrelaxed one did not */
  elign_oracle_client_destroy(&c);
  free(final_pos);

  /* an oracle that refuses every point but the start: the optimiser halves its step until
   * nothing is left, and the molecule is FAILED with the oracle's status */
  refuse_ctx rc = {.lj = lj, .x0 = odd.pos + 3 * odd.offsets[6]};
  CHECK(elign_oracle_client_create_embedded_fn(refuse_moved, &rc, 4, &c, &err) == ELIGN_OK);
  int64_t last[1] = {2};
  CHECK(elign_relax_run(c, &odd, last, 1, &ro, r, NULL, NULL, NULL, &err) == ELIGN_OK);
  printf("relax driver: a molecule refused after its start: %s (%s) after %d steps\n",
         elign_relax_outcome_string((elign_relax_outcome)r[6].outcome),
         elign_mol_status_string((elign_mol_status)r[6].relax_status), r[6].steps);
  CHECK(r[6].status == ELIGN_MOL_OK && r[6].outcome == ELIGN_RELAX_FAILED);
  CHECK(r[6].relax_status == ELIGN_MOL_NOT_CONVERGED);
  CHECK(r[6].steps >= 3 && r[6].steps < 40 && isnan(r[6].energy_final)); /* halvings of a small first step */
  elign_oracle_client_destroy(&c);

  /* the same molecules in any window and chunk order give the same numbers */
  int64_t n_chunks = (tiny.n_mol + 7) / 8, fwd[16], rev[16];
  for (int64_t k = 0; k < n_chunks; k++) fwd[k] = k, rev[k] = n_chunks - 1 - k;
  elign_relax_result *r1 = calloc((size_t)tiny.n_mol, sizeof *r1), *r2 = calloc((size_t)tiny.n_mol, sizeof *r2);
  ro.chunk = 8;
  ro.window = 1;
  ro.opt.fmax = 0.03;
  CHECK(elign_oracle_client_create_embedded(lj, 8, &c, &err) == ELIGN_OK);
  CHECK(elign_relax_run(c, &tiny, fwd, n_chunks, &ro, r1, NULL, NULL, NULL, &err) == ELIGN_OK);
  elign_oracle_client_destroy(&c);
  ro.window = 3;
  CHECK(elign_oracle_client_create_embedded(lj, 8, &c, &err) == ELIGN_OK);
  CHECK(elign_relax_run(c, &tiny, rev, n_chunks, &ro, r2, NULL, NULL, NULL, &err) == ELIGN_OK);
  elign_oracle_client_destroy(&c);
  int differ = 0, converged = 0;
  for (int64_t m = 0; m < tiny.n_mol; m++) {
    differ += !same_result(&r1[m], &r2[m]);
    converged += r1[m].outcome == ELIGN_RELAX_CONVERGED;
  }
  printf("relax driver: %d of %lld tiny molecules converged under lj; %d differ between window 1 and 3\n", converged,
         (long long)tiny.n_mol, differ);
  CHECK(differ == 0);
  CHECK(converged == tiny.n_mol);

  /* a callback error stops the run, drains what is in flight, and is returned */
  done_log fail = {.fail_at = 2};
  ro.window = 3;
  CHECK(elign_oracle_client_create_embedded(lj, 8, &c, &err) == ELIGN_OK);
  elign_error_clear(&err);
  CHECK(elign_relax_run(c, &tiny, fwd, n_chunks, &ro, r2, NULL, log_done, &fail, &err) == ELIGN_ERR_IO);
  CHECK(strstr(err.msg, "injected") != NULL);
  CHECK(fail.calls == 2);
  CHECK(elign_oracle_client_outstanding(c) == 0);
  elign_oracle_client_destroy(&c);
  /* bad arguments */
  int64_t bad[1] = {n_chunks};
  CHECK(elign_oracle_client_create_embedded(lj, 8, &c, &err) == ELIGN_OK);
  CHECK(elign_relax_run(c, &tiny, bad, 1, &ro, r2, NULL, NULL, NULL, &err) == ELIGN_ERR_ARG);
  elign_oracle_client_destroy(&c);

  free(r1);
  free(r2);
  elign_molset_free(&odd);
  elign_molset_free(&tiny);
  elign_oracle_destroy(&lj);
}

/* ---- 4. the journal -------------------------------------------------------------------- */

static void fill_file(eval_file *f, const eval_settings *s, double seed) {
  eval_chem_compute(&f->mols, 0, f->mols.n_mol, s->rule, f->chem);
  for (int b = 0; b < s->n_backends; b++)
    for (int64_t m = 0; m < f->mols.n_mol; m++) {
      elign_relax_result *x = &f->oracle[b][m];
      elign_relax_result_clear(x, m % 5 == 3 ? ELIGN_MOL_OVERLAP : ELIGN_MOL_OK);
      if (x->status != ELIGN_MOL_OK) continue;
      x->energy = -seed * (double)m / 3.0 - 1e-17 * (double)m; /* digits that need 17 places */
      x->fmax = 0.1 / (double)(m + 1);
      x->frms = 1.0 / 7.0;
      x->outcome = m % 3 == 0 ? ELIGN_RELAX_FAILED : ELIGN_RELAX_CONVERGED;
      x->relax_status = m % 3 == 0 ? ELIGN_MOL_OVERLAP : 0;
      x->steps = (int32_t)m;
      if (x->outcome == ELIGN_RELAX_CONVERGED) {
        x->energy_final = x->energy - M_PI;
        x->rmsd = sqrt(2.0) * (double)m;
        x->drms = 1e-300;
      }
    }
}

static int files_equal(const eval_file *a, const eval_file *b, const eval_settings *s) {
  int same = 1;
  for (int64_t m = 0; m < a->mols.n_mol; m++) {
    const eval_chem *x = &a->chem[m], *y = &b->chem[m];
    same &= x->stable == y->stable && x->valid == y->valid && x->n_stable_atoms == y->n_stable_atoms &&
            x->n_fragments == y->n_fragments && (x->smiles == NULL) == (y->smiles == NULL) &&
            (!x->smiles || strcmp(x->smiles, y->smiles) == 0);
    for (int bk = 0; bk < s->n_backends; bk++) same &= same_result(&a->oracle[bk][m], &b->oracle[bk][m]);
  }
  return same;
}

static void test_journal(void) {
  const char *dir = "eval_journal_test";
  eval_settings s;
  memset(&s, 0, sizeof s);
  s.rule = 0;
  s.chunk = 5;
  s.n_backends = 2;
  snprintf(s.backends[0], sizeof s.backends[0], "lj");
  snprintf(s.backends[1], sizeof s.backends[1], "ani");
  snprintf(s.backend_keys[0], 17, "00000000000000aa");
  snprintf(s.backend_keys[1], 17, "00000000000000bb");
  elign_error err;
  elign_error_clear(&err);

  eval_file a;
  eval_file_load(&a, "eval_tiny_a.h5", "samples", NULL);
  CHECK(a.error[0] == '\0');
  eval_file_prepare(&a, &s);
  CHECK(eval_journal_open(&a, &s, dir, 1, &err) == ELIGN_OK);
  fill_file(&a, &s, 1.0);
  for (int64_t k = 0; k < a.n_chunks; k++) {
    int64_t m0 = k * s.chunk, m1 = m0 + s.chunk < a.mols.n_mol ? m0 + s.chunk : a.mols.n_mol;
    CHECK(eval_journal_add_chem(&a, k, m0, m1, &err) == ELIGN_OK);
    CHECK(eval_journal_add_oracle(&a, &s, 0, k, m0, m1, &err) == ELIGN_OK);
    if (k % 2 == 0) CHECK(eval_journal_add_oracle(&a, &s, 1, k, m0, m1, &err) == ELIGN_OK);
  }
  eval_journal_close(&a);

  /* read back: everything written, bit for bit */
  eval_file b;
  eval_file_load(&b, "eval_tiny_a.h5", "samples", NULL);
  eval_file_prepare(&b, &s);
  CHECK(eval_journal_open(&b, &s, dir, 0, &err) == ELIGN_OK);
  int64_t chem = 0, ora0 = 0, ora1 = 0;
  for (int64_t k = 0; k < b.n_chunks; k++) chem += b.chem_done[k], ora0 += b.oracle_done[0][k], ora1 += b.oracle_done[1][k];
  CHECK(chem == a.n_chunks && ora0 == a.n_chunks && ora1 == (a.n_chunks + 1) / 2);
  CHECK(b.resumed_chunks == (a.n_chunks + 1) / 2 && b.bad_records == 0);
  for (int64_t m = 0; m < a.mols.n_mol; m++) /* backend 1 of odd chunks was not written */
    if ((m / s.chunk) % 2) elign_relax_result_clear(&a.oracle[1][m], -1);
  CHECK(files_equal(&a, &b, &s));
  CHECK(b.oracle[0][1].energy == a.oracle[0][1].energy && b.oracle[0][1].drms == 1e-300);
  eval_journal_close(&b);
  eval_file_free(&b);

  /* a torn last line and a damaged record in the middle */
  char path[4096];
  snprintf(path, sizeof path, "%s", a.journal_path);
  FILE *j = fopen(path, "r+");
  CHECK(j != NULL);
  fseek(j, 0, SEEK_END);
  long size = ftell(j);
  fprintf(j, "deadbeef {\"section\": \"chem\", \"chu");
  fseek(j, size / 2, SEEK_SET); /* flip one byte inside some record */
  int ch = fgetc(j);
  fseek(j, size / 2, SEEK_SET);
  fputc(ch == 'x' ? 'y' : 'x', j);
  fclose(j);
  eval_file_load(&b, "eval_tiny_a.h5", "samples", NULL);
  eval_file_prepare(&b, &s);
  CHECK(eval_journal_open(&b, &s, dir, 0, &err) == ELIGN_OK);
  printf("journal: %lld records back, %lld damaged skipped after a byte flip and a torn line\n",
         (long long)b.resumed_records, (long long)b.bad_records);
  CHECK(b.bad_records == 1);
  FILE *chk = fopen(path, "r");
  fseek(chk, 0, SEEK_END);
  CHECK(ftell(chk) == size); /* the torn line is gone */
  fclose(chk);
  eval_journal_close(&b);
  eval_file_free(&b);

  /* another backend setting: its records are not ours */
  snprintf(s.backend_keys[0], 17, "00000000000000cc");
  eval_file_load(&b, "eval_tiny_a.h5", "samples", NULL);
  eval_file_prepare(&b, &s);
  CHECK(eval_journal_open(&b, &s, dir, 0, &err) == ELIGN_OK);
  int64_t ora = 0;
  for (int64_t k = 0; k < b.n_chunks; k++) ora += b.oracle_done[0][k];
  CHECK(ora == 0);
  CHECK(b.bad_records == 1);
  eval_journal_close(&b);
  eval_file_free(&b);

  /* --restart forgets everything */
  snprintf(s.backend_keys[0], 17, "00000000000000aa");
  eval_file_load(&b, "eval_tiny_a.h5", "samples", NULL);
  eval_file_prepare(&b, &s);
  CHECK(eval_journal_open(&b, &s, dir, 1, &err) == ELIGN_OK);
  CHECK(b.resumed_records == 0);
  eval_file_free(&b);
  eval_file_free(&a);
}

/* ---- 5. the JSON writer ----------------------------------------------------------------- */

static void test_json_writer(void) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  elign_json_writer w;
  elign_jw_init(&w, f, 1);
  double vals[6] = {0.1, 1.0 / 3.0, -0.0, 1e-300, 6.02214076e23, 5e-324};
  elign_jw_begin_object(&w, NULL);
  elign_jw_string(&w, "text", "quote \" backslash \\ tab \t newline \n ctrl \x01 end");
  elign_jw_begin_array(&w, "values");
  for (int i = 0; i < 6; i++) elign_jw_number(&w, NULL, vals[i]);
  elign_jw_number(&w, NULL, NAN);
  elign_jw_end(&w);
  elign_jw_begin_object(&w, "empty");
  elign_jw_end(&w);
  elign_jw_int(&w, "big", 9007199254740993LL);
  elign_jw_bool(&w, "yes", 1);
  elign_jw_null(&w, "nothing");
  elign_jw_end(&w);
  fclose(f);
  CHECK(!elign_jw_error(&w));
  elign_json v;
  elign_error err;
  CHECK(elign_json_parse(buf, len, "writer", &v, &err) == ELIGN_OK);
  const elign_json *t = elign_json_get(&v, "text"), *a = elign_json_get(&v, "values");
  CHECK(t && strcmp(t->string, "quote \" backslash \\ tab \t newline \n ctrl \x01 end") == 0);
  CHECK(a && a->n == 7);
  for (int i = 0; a && i < 6; i++) CHECK(memcmp(&a->items[i].number, &vals[i], sizeof(double)) == 0);
  CHECK(a && a->items[6].type == ELIGN_JSON_NULL);
  CHECK(elign_json_get(&v, "empty")->n == 0);
  CHECK(elign_json_get(&v, "yes")->boolean == 1);
  CHECK(strstr(buf, "9007199254740993") != NULL);
  elign_json_free(&v);
  free(buf);
  char d[40];
  elign_json_format_double(3.0, d, sizeof d);
  CHECK(strcmp(d, "3.0") == 0);
  elign_json_format_double(0.1, d, sizeof d);
  CHECK(strcmp(d, "0.1") == 0);
}

/* ---- 5. energies at equal composition ------------------------------------------------ */

/* Every molecule of f evaluated by backend 0: energy e0(m) + shift·n_atoms, RMS force frms. */
static void set_single_points(eval_file *f, double shift, double frms) {
  for (int64_t m = 0; m < f->mols.n_mol; m++) {
    elign_relax_result *x = &f->oracle[0][m];
    elign_relax_result_clear(x, ELIGN_MOL_OK);
    x->energy = -100.0 - 7.0 * (double)(m % 4) + shift * (double)elign_molset_natoms(&f->mols, m);
    x->frms = frms;
  }
}

static int64_t distinct_formulas(const elign_molset *s) {
  int64_t distinct = 0;
  for (int64_t m = 0; m < s->n_mol; m++) {
    char a[64], b[64];
    int seen = 0;
    elign_molset_formula(s, m, a, sizeof a);
    for (int64_t k = 0; k < m && !seen; k++) {
      elign_molset_formula(s, k, b, sizeof b);
      seen = strcmp(a, b) == 0;
    }
    distinct += !seen;
  }
  return distinct;
}

static void test_same_formula(void) {
  /* the sign test against scipy.stats.binomtest(k, n).pvalue */
  CHECK(eval_sign_test_p(0, 1) == 1);
  CHECK(eval_sign_test_p(5, 10) == 1);
  CHECK_CLOSE(eval_sign_test_p(0, 10), 2.0 / 1024, 1e-15, 1e-12);
  CHECK_CLOSE(eval_sign_test_p(178, 271), 2.6987384799864957e-07, 0, 1e-9);
  CHECK_CLOSE(eval_sign_test_p(93, 271), 2.6987384799864957e-07, 0, 1e-9);
  CHECK(isnan(eval_sign_test_p(0, 0)));

  eval_settings s;
  memset(&s, 0, sizeof s);
  s.chunk = 5;
  s.n_backends = 1;
  snprintf(s.backends[0], sizeof s.backends[0], "x");
  eval_file a, b;
  eval_file_load(&a, "eval_tiny_a.h5", "samples", NULL);
  eval_file_load(&b, "eval_tiny_a.h5", "ref", NULL);
  eval_file_prepare(&a, &s);
  eval_file_prepare(&b, &s);
  int64_t n = a.mols.n_mol, formulas = distinct_formulas(&a.mols);
  CHECK(n >= 4 && formulas >= 2 && formulas < n); /* the fixture has repeated formulas */
  set_single_points(&a, -0.5, 1.0);
  set_single_points(&b, 0.0, 1.25);

  /* every molecule 0.5 eV/atom lower: d = -0.5 for each formula */
  eval_file *pa[2] = {&a, &a}, *pb[1] = {&b};
  eval_summary same;
  eval_same_formula(pa, 1, pb, 1, &s, &same);
  const eval_section *sec = eval_summary_find(&same, "same_formula:x");
  CHECK(sec != NULL);
  CHECK(eval_section_get(sec, "formulas") == (double)formulas);
  CHECK(eval_section_get(sec, "pairs") == (double)n);
  CHECK(eval_section_get(sec, "samples_matched") == 1);
  CHECK_CLOSE(eval_section_get(sec, "energy_per_atom_diff"), -0.5, 1e-12, 0);
  CHECK_CLOSE(eval_section_get(sec, "energy_per_atom_diff_median"), -0.5, 1e-12, 0);
  CHECK_CLOSE(eval_section_get(sec, "frms_diff"), -0.25, 1e-15, 0);
  CHECK(eval_section_get(sec, "formulas_lower") == 1);
  CHECK_CLOSE(eval_section_get(sec, "sign_test_p"), fmin(1, 2 * pow(0.5, (double)formulas)), 0, 1e-12);

  /* the samples twice: a formula pairs min(2k, k) = k molecules, the means do not move */
  eval_same_formula(pa, 2, pb, 1, &s, &same);
  sec = eval_summary_find(&same, "same_formula:x");
  CHECK(eval_section_get(sec, "pairs") == (double)n);
  CHECK_CLOSE(eval_section_get(sec, "energy_per_atom_diff"), -0.5, 1e-12, 0);

  /* a formula the baseline never produced (its single points failed) is left out, not compared */
  char first[64], other[64];
  elign_molset_formula(&b.mols, 0, first, sizeof first);
  int64_t dropped = 0;
  for (int64_t m = 0; m < n; m++) {
    elign_molset_formula(&b.mols, m, other, sizeof other);
    if (strcmp(first, other) == 0) elign_relax_result_clear(&b.oracle[0][m], ELIGN_MOL_OVERLAP), dropped++;
  }
  eval_same_formula(pa, 1, pb, 1, &s, &same);
  sec = eval_summary_find(&same, "same_formula:x");
  CHECK(eval_section_get(sec, "formulas") == (double)(formulas - 1));
  CHECK(eval_section_get(sec, "pairs") == (double)(n - dropped));
  CHECK_CLOSE(eval_section_get(sec, "samples_matched"), (double)(n - dropped) / (double)n, 1e-15, 0);

  /* a mixed verdict: the baseline lower for one formula */
  for (int64_t m = 0; m < n; m++) {
    elign_molset_formula(&a.mols, m, other, sizeof other);
    if (strcmp(first, other) != 0 && a.oracle[0][m].energy < 0) {
      char mine[64];
      snprintf(mine, sizeof mine, "%s", other);
      for (int64_t k = 0; k < n; k++) { /* every molecule of that formula 1 eV/atom higher */
        elign_molset_formula(&a.mols, k, other, sizeof other);
        if (strcmp(mine, other) == 0) a.oracle[0][k].energy += (double)elign_molset_natoms(&a.mols, k);
      }
      break;
    }
  }
  eval_same_formula(pa, 1, pb, 1, &s, &same);
  sec = eval_summary_find(&same, "same_formula:x");
  CHECK_CLOSE(eval_section_get(sec, "formulas_lower"), (double)(formulas - 2) / (double)(formulas - 1), 1e-15, 0);
  CHECK(eval_section_get(sec, "energy_per_atom_diff") > -0.5);
  eval_file_free(&a);
  eval_file_free(&b);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_eval DATA_DIR\n");
    return 2;
  }
  data_dir = argv[1];
  test_json_writer();
  test_summaries();
  write_fixtures();
  test_data_row();
  test_relax_driver();
  test_journal();
  test_same_formula();
  return test_main_result("test_eval");
}
