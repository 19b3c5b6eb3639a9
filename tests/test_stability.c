/* test_stability.c — EDM's stability metric (common/chem/stability.h) against
 * EDM's own code and against hand-built molecules.
 *
 *   test_stability DATA_DIR
 * DATA_DIR holds the golden files made by tools/edm_stability_golden.py:
 *   stability_qm9like.txt.gz   check_stability of every qm9like molecule (+ split aggregates)
 *   bond_orders_golden.txt.gz  get_bond_order / geom_predictor on 5,194 (pair, distance) queries
 * The molecules themselves are read from ../shared/data/qm9like with the
 * project's extended-XYZ importer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/base/json.h"
#include "common/chem/stability.h"
#include "common/io/importers.h"
#include "testutil.h"

static const char *data_dir;

static char *data_path(const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", data_dir, name);
  return buf;
}

/* ---- golden bond orders from EDM's bond_analyze.py ----------------------------------------- */

static void test_bond_golden(void) {
  gzFile f = gzopen(data_path("bond_orders_golden.txt.gz"), "rb");
  CHECK(f != NULL);
  if (!f) return;
  char line[256];
  long n = 0, bad = 0, per_rule[5] = {0};
  const char *rules[5] = {"qm9", "qm9t", "geom", "geom1", "geomt"};
  while (gzgets(f, line, sizeof line)) {
    if (line[0] == '#') continue;
    char rule[16];
    int t1, t2, want;
    char dtext[64];
    if (sscanf(line, "%15s %d %d %63s %d", rule, &t1, &t2, dtext, &want) != 5) {
      CHECK(!"malformed golden line");
      break;
    }
    float d = strtof(dtext, NULL);
    int got = -1, r = -1;
    for (int k = 0; k < 5; k++)
      if (!strcmp(rule, rules[k])) r = k;
    switch (r) {
      case 0: case 2: got = elign_bond_order_pm(t1, t2, elign_bond_pm_exact(d)); break;
      case 1: case 4: got = elign_bond_order_pm(t1, t2, elign_bond_pm_f32(d)); break;
      case 3: got = elign_bond_order_pm(t1, t2, elign_bond_pm_exact(d)) > 0; break;
      default: CHECK(!"unknown rule in golden file");
    }
    if (r >= 0) per_rule[r]++;
    if (got != want && bad++ < 10)
      fprintf(stderr, "bond golden: %s %d %d d=%s: got %d, EDM %d\n", rule, t1, t2, dtext, got, want);
    n++;
  }
  gzclose(f);
  printf("bond golden: %ld queries (qm9 %ld, qm9t %ld, geom %ld, geom1 %ld, geomt %ld), %ld mismatches\n", n,
         per_rule[0], per_rule[1], per_rule[2], per_rule[3], per_rule[4], bad);
  CHECK(n > 5000);
  CHECK(bad == 0);
}

/* ---- qm9like: every molecule against EDM's check_stability --------------------------------- */

typedef struct {
  int64_t id, stable, n_stable, n;
} golden_mol;

typedef struct {
  char name[16];
  int64_t n_mol, stable_mol, atoms, stable_atoms;
} golden_split;

static int read_mol_golden(golden_mol **out, int64_t *n_out, golden_split *splits, int *n_splits) {
  gzFile f = gzopen(data_path("stability_qm9like.txt.gz"), "rb");
  if (!f) return 0;
  int64_t cap = 1024, n = 0;
  golden_mol *g = malloc((size_t)cap * sizeof *g);
  char line[512];
  *n_splits = 0;
  while (gzgets(f, line, sizeof line)) {
    if (line[0] == '#') {
      golden_split *s = &splits[*n_splits];
      long long a, b, c, d;
      if (*n_splits < 3 && sscanf(line, "# split %15[a-z]: molecules %lld stable_molecules %lld atoms %lld stable_atoms %lld",
                                  s->name, &a, &b, &c, &d) == 5) {
        s->n_mol = a, s->stable_mol = b, s->atoms = c, s->stable_atoms = d;
        (*n_splits)++;
      }
      continue;
    }
    if (n == cap) g = realloc(g, (size_t)(cap *= 2) * sizeof *g);
    long long a, b, c, d;
    if (sscanf(line, "%lld %lld %lld %lld", &a, &b, &c, &d) != 4) break;
    g[n++] = (golden_mol){a, b, c, d};
  }
  gzclose(f);
  *out = g;
  *n_out = n;
  return 1;
}

/* Molecule indices of one split (ids = file positions in qm9like). */
static int64_t *read_split(const elign_json *root, const char *name, int64_t *n) {
  const elign_json *list = elign_json_get(root, name);
  if (!list || list->type != ELIGN_JSON_ARRAY) return NULL;
  int64_t *idx = malloc((size_t)(list->n ? list->n : 1) * sizeof *idx);
  for (int i = 0; i < list->n; i++) idx[i] = (int64_t)list->items[i].number;
  *n = list->n;
  return idx;
}

/* The smallest |100·d − threshold| (pm) over all pairs and thresholds of a
 * molecule: how far it is from any case float32 rounding could flip. */
static double threshold_clearance(const elign_molset *s, int64_t m) {
  double best = INFINITY;
  int64_t a0 = s->offsets[m], n = elign_molset_natoms(s, m);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) {
      int ti = elign_bond_type_of_z(s->Z[a0 + i]), tj = elign_bond_type_of_z(s->Z[a0 + j]);
      const double *p = s->pos + 3 * (a0 + i), *q = s->pos + 3 * (a0 + j);
      double d = 100.0 * sqrt((p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) + (p[2] - q[2]) * (p[2] - q[2]));
      static const int margin[4] = {0, 10, 5, 3};
      for (int k = 1; k <= 3; k++) {
        int r = elign_bond_ref_pm(k, ti, tj);
        if (r && fabs(d - (r + margin[k])) < best) best = fabs(d - (r + margin[k]));
      }
    }
  return best;
}

/* Random proper rotation (via a unit quaternion), translation and atom
 * permutation of molecule m; results must not change. */
static int transformed_matches(const elign_molset *s, int64_t m, unsigned *seed, int want_stable, int64_t want_ns) {
  int64_t a0 = s->offsets[m], n = elign_molset_natoms(s, m);
  double q[4], norm = 0;
  for (int k = 0; k < 4; k++) {
    q[k] = (double)rand_r(seed) / RAND_MAX - 0.5;
    norm += q[k] * q[k];
  }
  norm = sqrt(norm);
  for (int k = 0; k < 4; k++) q[k] /= norm;
  double w = q[0], x = q[1], y = q[2], z = q[3];
  double R[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)},
                    {2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)},
                    {2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)}};
  double t[3];
  for (int k = 0; k < 3; k++) t[k] = 20.0 * ((double)rand_r(seed) / RAND_MAX - 0.5);
  int64_t *perm = malloc((size_t)n * sizeof *perm);
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = rand_r(seed) % (i + 1), tmp = perm[i];
    perm[i] = perm[j];
    perm[j] = tmp;
  }
  double *pos = malloc((size_t)n * 3 * sizeof *pos);
  int32_t *Z = malloc((size_t)n * sizeof *Z);
  for (int64_t i = 0; i < n; i++) {
    const double *p = s->pos + 3 * (a0 + perm[i]);
    for (int r = 0; r < 3; r++) pos[3 * i + r] = R[r][0] * p[0] + R[r][1] * p[1] + R[r][2] * p[2] + t[r];
    Z[i] = s->Z[a0 + perm[i]];
  }
  int64_t ns;
  int stable = elign_molecule_stability(pos, Z, n, 0, &ns);
  free(perm);
  free(pos);
  free(Z);
  return stable == want_stable && ns == want_ns;
}

/* The test split as a samples file, for the `elign info` check in stability_info.sh. */
static void write_split_samples(const elign_molset *s, const int64_t *idx, int64_t n_idx, const char *path) {
  elign_molset sub;
  elign_molset_init(&sub);
  for (int64_t i = 0; i < n_idx; i++) {
    int64_t m = idx[i], a0 = s->offsets[m];
    elign_molset_append(&sub, (int)elign_molset_natoms(s, m), s->Z + a0, s->pos + 3 * a0, s->ids[m], NULL);
  }
  elign_samples_meta meta = {.model = "qm9like test split", .seed = 0, .steps = 0, .iteration = -1};
  elign_error err;
  elign_error_clear(&err);
  elign_status st = elign_samples_write(path, &sub, NULL, &meta, &err);
  if (st != ELIGN_OK) elign_error_print(&err);
  CHECK(st == ELIGN_OK);
  elign_molset_free(&sub);
}

static void test_qm9like(void) {
  golden_mol *g = NULL;
  int64_t n_golden = 0;
  golden_split gs[3];
  int n_gs = 0;
  CHECK(read_mol_golden(&g, &n_golden, gs, &n_gs));
  CHECK(n_gs == 3);

  elign_dataset ds;
  elign_dataset_init(&ds);
  elign_error err;
  elign_error_clear(&err);
  const char *xyz = test_shared_path("data/qm9like/qm9like_mmff.xyz.gz");
  elign_status st = elign_import_xyz(xyz, &ds, &err);
  if (st != ELIGN_OK) elign_error_print(&err);
  CHECK(st == ELIGN_OK);
  const elign_molset *s = &ds.mols;
  CHECK(s->n_mol == n_golden);
  if (st != ELIGN_OK || s->n_mol != n_golden) {
    elign_dataset_free(&ds);
    free(g);
    return;
  }

  /* Per molecule, both rules (identical for H C N O F). */
  uint8_t *stable = malloc((size_t)s->n_mol);
  int64_t *ns = malloc((size_t)s->n_mol * sizeof *ns);
  elign_stability_stats all;
  elign_stability_stats_init(&all);
  elign_molset_stability(s, 0, &all, stable, ns);
  int64_t agree = 0, bad = 0, geom_agree = 0, qm9_rule = 0;
  for (int64_t m = 0; m < s->n_mol; m++) {
    int64_t a0 = s->offsets[m], n = elign_molset_natoms(s, m), ns_geom;
    int ok = g[m].id == s->ids[m] && g[m].stable == stable[m] && g[m].n_stable == ns[m] && g[m].n == n;
    agree += ok;
    if (!ok && bad++ < 10)
      fprintf(stderr, "molecule id %lld: C stable %d n_stable %lld n %lld; EDM stable %lld n_stable %lld n %lld\n",
              (long long)s->ids[m], stable[m], (long long)ns[m], (long long)n, (long long)g[m].stable,
              (long long)g[m].n_stable, (long long)g[m].n);
    int sg = elign_molecule_stability(s->pos + 3 * a0, s->Z + a0, n, 1, &ns_geom);
    geom_agree += sg == stable[m] && ns_geom == ns[m];
    qm9_rule += elign_stability_rule_for(s->Z + a0, n) == 0;
  }
  printf("qm9like: %lld of %lld molecules agree with EDM's check_stability (GEOM rule agrees on %lld)\n",
         (long long)agree, (long long)s->n_mol, (long long)geom_agree);
  CHECK(agree == s->n_mol);
  CHECK(geom_agree == s->n_mol);
  CHECK(qm9_rule == s->n_mol); /* H C N O F only: the QM9 rule is the one to pick */

  /* Per split: the pooled aggregate must equal EDM's analyze_stability_for_molecules. */
  elign_json root;
  st = elign_json_parse_file(test_shared_path("data/qm9like/split.json"), &root, &err);
  CHECK(st == ELIGN_OK);
  for (int k = 0; st == ELIGN_OK && k < n_gs; k++) {
    int64_t n_idx = 0, *idx = read_split(&root, gs[k].name, &n_idx);
    CHECK(idx != NULL);
    if (!idx) continue;
    elign_stability_stats sp;
    elign_stability_stats_init(&sp);
    double mean_ref = 0;
    for (int64_t i = 0; i < n_idx; i++) {
      int64_t m = idx[i];
      elign_stability_stats_add(&sp, stable[m], ns[m], elign_molset_natoms(s, m));
      mean_ref += (double)g[m].n_stable / (double)g[m].n;
    }
    mean_ref /= (double)n_idx;
    printf("split %-5s: %lld molecules, atom stability %.4f%% (pooled, EDM), %.4f%% (per-molecule mean, Elign), "
           "molecule stability %.4f%%\n", gs[k].name, (long long)sp.n_molecules,
           100 * elign_stability_atom_pooled(&sp), 100 * elign_stability_atom_mean(&sp),
           100 * elign_stability_molecule(&sp));
    CHECK(sp.n_molecules == gs[k].n_mol);
    CHECK(sp.n_stable_molecules == gs[k].stable_mol);
    CHECK(sp.n_atoms == gs[k].atoms);
    CHECK(sp.n_stable_atoms == gs[k].stable_atoms);
    CHECK_CLOSE(elign_stability_atom_mean(&sp), mean_ref, 1e-12, 1e-12);
    if (!strcmp(gs[k].name, "test")) write_split_samples(s, idx, n_idx, "stability_test_split.h5");
    free(idx);
  }
  if (st == ELIGN_OK) elign_json_free(&root);

  /* Rotation, translation and permutation leave every result unchanged (the
   * molecules sit far from the thresholds, so float32 rounding cannot flip one). */
  unsigned seed = 12345;
  int64_t invariant = 0, tried = 0;
  double clearance = INFINITY;
  for (int64_t m = 0; m < s->n_mol; m += 97) {
    double c = threshold_clearance(s, m);
    if (c < clearance) clearance = c;
    invariant += transformed_matches(s, m, &seed, stable[m], ns[m]);
    tried++;
  }
  printf("invariance: %lld of %lld transformed molecules unchanged (closest pair to a threshold: %.4f pm)\n",
         (long long)invariant, (long long)tried, clearance);
  CHECK(clearance > 1e-3);
  CHECK(invariant == tried);

  free(stable);
  free(ns);
  free(g);
  elign_dataset_free(&ds);
}

/* ---- hand-built molecules ------------------------------------------------------------------ */

/* Distance of two atoms on the x axis is exactly d (sqrt(fl(d²)) = d in float32). */
static int pair_order(int z1, int z2, float d, int geom) {
  double pos[6] = {0, 0, 0, d, 0, 0};
  int32_t Z[2] = {z1, z2};
  int8_t o[4];
  elign_bond_orders(pos, Z, 2, geom ? ELIGN_BOND_RULE_GEOM : ELIGN_BOND_RULE_QM9, 0, o);
  CHECK(o[1] == o[2] && o[0] == 0 && o[3] == 0);
  return o[1];
}

/* Largest float32 d with 100·d < thr_pm (exact product), and the next float32. */
static void threshold_neighbours(int thr_pm, float *below, float *above) {
  float d = (float)(thr_pm / 100.0);
  while (100.0 * (double)d >= thr_pm) d = nextafterf(d, 0.0f);
  while (100.0 * (double)nextafterf(d, 10.0f) < thr_pm) d = nextafterf(d, 10.0f);
  *below = d;
  *above = nextafterf(d, 10.0f);
}

static void test_thresholds(void) {
  static const int margin[4] = {0, 10, 5, 3};
  int checked = 0;
  for (int t1 = 0; t1 < ELIGN_BOND_N_TYPES; t1++)
    for (int t2 = 0; t2 < ELIGN_BOND_N_TYPES; t2++)
      for (int k = 1; k <= 3; k++) {
        int r = elign_bond_ref_pm(k, t1, t2);
        if (!r) continue;
        float lo, hi;
        threshold_neighbours(r + margin[k], &lo, &hi);
        int z1 = elign_bond_z_of_type(t1), z2 = elign_bond_z_of_type(t2);
        /* QM9 rule keeps (t1, t2) as given: exactly the table entry under test. */
        int below = pair_order(z1, z2, lo, 0), above = pair_order(z1, z2, hi, 0);
        if (!(below >= k && above == k - 1))
          fprintf(stderr, "threshold %d %d order %d (%d pm): below %d above %d\n", t1, t2, k, r + margin[k], below,
                  above);
        CHECK(below >= k);
        CHECK(above == k - 1);
        /* The float32-product form used by the RDKit builder may round 100·d up to the threshold. */
        CHECK(elign_bond_order_pm(t1, t2, elign_bond_pm_f32(hi)) == k - 1);
        checked++;
      }
  printf("thresholds: %d table entries checked just below / above\n", checked);
  CHECK(checked == 137); /* entries of bonds1 + bonds2 + bonds3 in EDM's bond_analyze.py */
  /* Spec values: C–H single below 1.19 Å, C≡C below 1.23 Å (ALGORITHMS.md §3.3). */
  CHECK(pair_order(6, 1, 1.1899f, 0) == 1 && pair_order(6, 1, 1.19f, 0) == 0);
  CHECK(pair_order(6, 6, 1.2299f, 0) == 3 && pair_order(6, 6, 1.2301f, 0) == 2);
}

/* Contraction to fused multiply-add would change these float32 distances. */
static void test_distance_rounding(void) {
  unsigned seed = 7;
  int same = 0, n = 20000;
  for (int i = 0; i < n; i++) {
    float a[3], b[3];
    for (int k = 0; k < 3; k++) {
      a[k] = (float)(4.0 * rand_r(&seed) / RAND_MAX - 2.0);
      b[k] = (float)(4.0 * rand_r(&seed) / RAND_MAX - 2.0);
    }
    volatile float dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2];
    volatile float sx = dx * dx, sy = dy * dy, sz = dz * dz;
    volatile float s = sx + sy;
    volatile float s2 = s + sz;
    same += elign_bond_distance_f32(a, b) == sqrtf(s2);
  }
  CHECK(same == n);
}

static void test_geom_rule(void) {
  /* C=S: EDM's double table has C→S but not S→C. */
  CHECK(elign_bond_ref_pm(2, 2, 9) == 160 && elign_bond_ref_pm(2, 9, 2) == 0);
  CHECK(pair_order(6, 16, 1.62f, 1) == 2 && pair_order(16, 6, 1.62f, 1) == 2); /* GEOM sorts: C first */
  CHECK(pair_order(6, 16, 1.62f, 0) == 2 && pair_order(16, 6, 1.62f, 0) == 1); /* QM9 keeps the given order */
  /* H2C=SH2: C 2 H + double = 4, S double + 2 H = 4. Stable under GEOM in any atom order. */
  double ch2sh2[] = {0, 0, 0, 1.62, 0, 0, -0.55, 0.93, 0, -0.55, -0.93, 0, 2.12, 1.24, 0, 2.12, -1.24, 0};
  int32_t z_cs[] = {6, 16, 1, 1, 1, 1}, z_sc[] = {16, 6, 1, 1, 1, 1};
  double sc_pos[18];
  memcpy(sc_pos, ch2sh2, sizeof sc_pos);
  memcpy(sc_pos, ch2sh2 + 3, 3 * sizeof(double));
  memcpy(sc_pos + 3, ch2sh2, 3 * sizeof(double));
  int64_t ns;
  CHECK(elign_molecule_stability(ch2sh2, z_cs, 6, 1, &ns) == 1 && ns == 6);
  CHECK(elign_molecule_stability(sc_pos, z_sc, 6, 1, &ns) == 1 && ns == 6);
  CHECK(elign_molecule_stability(ch2sh2, z_cs, 6, 0, &ns) == 1 && ns == 6);
  CHECK(elign_molecule_stability(sc_pos, z_sc, 6, 0, &ns) == 0 && ns == 4); /* S–C counted single: C and S at 3 */
  CHECK(elign_stability_rule_for(z_cs, 6) == 1);

  /* Absent pairs (check_exists): B–C has no single-bond entry, Hg and Bi none at all. */
  CHECK(pair_order(5, 6, 1.50f, 1) == 0);
  CHECK(pair_order(6, 5, 1.50f, 1) == 0);
  CHECK(pair_order(5, 1, 1.19f, 1) == 1); /* B–H exists: 119 + 10 pm */
  CHECK(pair_order(80, 6, 2.0f, 1) == 0 && pair_order(6, 83, 2.2f, 1) == 0);
  CHECK(pair_order(13, 8, 1.7f, 1) == 0); /* Al–O absent */

  /* Allowed valences, including the lists. */
  CHECK(elign_valence_allowed(15, 3) && elign_valence_allowed(15, 5) && !elign_valence_allowed(15, 4));
  CHECK(elign_valence_allowed(80, 1) && elign_valence_allowed(80, 2) && !elign_valence_allowed(80, 0) &&
        !elign_valence_allowed(80, 3));
  CHECK(elign_valence_allowed(83, 3) && elign_valence_allowed(83, 5) && !elign_valence_allowed(83, 4));
  CHECK(elign_valence_allowed(1, 1) && !elign_valence_allowed(1, 0) && !elign_valence_allowed(1, 2));
  CHECK(elign_valence_allowed(16, 4) && !elign_valence_allowed(16, 2) && !elign_valence_allowed(16, 6));
  CHECK(!elign_valence_allowed(2, 0) && !elign_valence_allowed(6, 100) && !elign_valence_allowed(6, -1));

  /* PF5 (trigonal bipyramid, P–F 1.58 Å < 1.66): P has 5 bonds, stable. */
  double a = 1.58, c = cos(2 * M_PI / 3), s = sin(2 * M_PI / 3);
  double pf5[] = {0, 0, 0, 0, 0, a, 0, 0, -a, a, 0, 0, a * c, a * s, 0, a * c, -a * s, 0};
  int32_t z_pf5[] = {15, 9, 9, 9, 9, 9};
  CHECK(elign_molecule_stability(pf5, z_pf5, 6, 1, &ns) == 1 && ns == 6);
  CHECK(elign_molecule_stability(pf5, z_pf5, 5, 1, &ns) == 0 && ns == 4); /* PF4: P at 4 */
  /* O=PF3: P 3 + 2 (P=O 1.50 Å < 1.55) = 5, O 2. */
  double opf3[] = {0, 0, 0, 0, 0, 1.50, a * 0.94, 0, -a * 0.34, a * 0.94 * c, a * 0.94 * s, -a * 0.34,
                   a * 0.94 * c, -a * 0.94 * s, -a * 0.34};
  int32_t z_opf3[] = {15, 8, 9, 9, 9};
  CHECK(elign_molecule_stability(opf3, z_opf3, 5, 1, &ns) == 1 && ns == 5);

  /* HgCl2 at 2.3 Å: no Hg entries, so Hg has 0 bonds (unstable) and so do both Cl. */
  double hgcl2[] = {0, 0, 0, 2.3, 0, 0, -2.3, 0, 0};
  int32_t z_hg[] = {80, 17, 17};
  CHECK(elign_molecule_stability(hgcl2, z_hg, 3, 1, &ns) == 0 && ns == 0);
  /* An element EDM does not know (Na): no bonds, never stable, others unaffected. */
  double nah[] = {0, 0, 0, 1.0, 0, 0};
  int32_t z_na[] = {11, 1};
  CHECK(elign_molecule_stability(nah, z_na, 2, 1, &ns) == 0 && ns == 0);
  CHECK(elign_bond_type_of_z(11) == -1 && elign_bond_type_of_z(83) == 15 && elign_bond_z_of_type(9) == 16);
}

static void test_small_and_aggregates(void) {
  int64_t ns = -1;
  CHECK(elign_molecule_stability(NULL, NULL, 0, 0, &ns) == 1 && ns == 0); /* EDM: 0 == 0 stable atoms */
  double p1[3] = {0.1, 0.2, 0.3};
  int32_t zh = 1, zc = 6;
  CHECK(elign_molecule_stability(p1, &zh, 1, 0, &ns) == 0 && ns == 0);
  CHECK(elign_molecule_stability(p1, &zc, 1, 1, &ns) == 0 && ns == 0);
  CHECK(elign_molecule_stability(p1, &zc, 1, 1, NULL) == 0);
  /* H2 at 0.74 Å: both H have one bond. */
  double h2[] = {0, 0, 0, 0.74, 0, 0};
  int32_t zh2[] = {1, 1};
  CHECK(elign_molecule_stability(h2, zh2, 2, 0, &ns) == 1 && ns == 2);
  /* A molecule larger than the stack buffer: 150 separated H2 (300 atoms). */
  int nbig = 300;
  double *pb = malloc((size_t)nbig * 3 * sizeof *pb);
  int32_t *zb = malloc((size_t)nbig * sizeof *zb);
  for (int i = 0; i < nbig; i++) {
    pb[3 * i] = (i % 2) * 0.74;
    pb[3 * i + 1] = 3.0 * (i / 2);
    pb[3 * i + 2] = 0;
    zb[i] = 1;
  }
  CHECK(elign_molecule_stability(pb, zb, nbig, 0, &ns) == 1 && ns == nbig);
  pb[3 * 299] = 0.9; /* last H2 stretched to 0.9 Å: two atoms lose their bond */
  CHECK(elign_molecule_stability(pb, zb, nbig, 0, &ns) == 0 && ns == nbig - 2);
  free(pb);
  free(zb);

  /* Aggregates: pooled vs per-molecule mean differ when sizes differ. */
  elign_stability_stats a, b;
  elign_stability_stats_init(&a);
  elign_stability_stats_init(&b);
  CHECK(elign_stability_atom_pooled(&a) == 0 && elign_stability_molecule(&a) == 0 && elign_stability_atom_mean(&a) == 0);
  elign_stability_stats_add(&a, 1, 2, 2);   /* 2 of 2 */
  elign_stability_stats_add(&a, 0, 1, 8);   /* 1 of 8 */
  elign_stability_stats_add(&b, 0, 3, 10);  /* 3 of 10 */
  elign_stability_stats_merge(&a, &b);
  CHECK(a.n_molecules == 3 && a.n_stable_molecules == 1 && a.n_atoms == 20 && a.n_stable_atoms == 6);
  CHECK_CLOSE(elign_stability_atom_pooled(&a), 6.0 / 20.0, 0, 1e-15);
  CHECK_CLOSE(elign_stability_atom_mean(&a), (1.0 + 0.125 + 0.3) / 3.0, 0, 1e-15);
  CHECK_CLOSE(elign_stability_molecule(&a), 1.0 / 3.0, 0, 1e-15);

  /* Bond-order matrix, RDKit flavour: GEOM bonds limited to one, pairs sorted. */
  double cs[] = {0, 0, 0, 1.62, 0, 0};
  int32_t zsc[] = {16, 6};
  int8_t o[4];
  elign_bond_orders(cs, zsc, 2, ELIGN_BOND_RULE_GEOM, 1, o);
  CHECK(o[1] == 1 && o[2] == 1);
  elign_bond_orders(cs, zsc, 2, ELIGN_BOND_RULE_QM9, 1, o); /* build_xae_molecule sorts QM9 pairs too */
  CHECK(o[1] == 2);
  elign_bond_orders(cs, zsc, 2, ELIGN_BOND_RULE_QM9, 0, o);
  CHECK(o[1] == 1);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_stability DATA_DIR\n");
    return 2;
  }
  data_dir = argv[1];
  test_small_and_aggregates();
  test_geom_rule();
  test_thresholds();
  test_distance_rounding();
  test_bond_golden();
  test_qm9like();
  return test_main_result("test_stability");
}
