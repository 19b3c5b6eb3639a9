/* test_ani.c — the native ANI engine against TorchANI 2.2.4 reference values
 * (spec/ani_reference.json, flattened by tests/ani_ref_convert.py), against
 * finite differences of its own energy, and under symmetry operations.
 *
 * Built twice: `test_ani` (elign_real = float: float32 networks) and
 * `test_ani_double` (the same sources compiled with ELIGN_DOUBLE), so one
 * ctest run covers the product and the tight double-precision checks.
 *
 * Usage: test_ani SECTION [REFERENCE_TXT]
 *   SECTION: ref | fd | symmetry | batch | errors
 * Tolerances (ANI.md §10): float build vs either reference — energy 1e−5 Ha,
 * forces 1e−5 Ha/Å; double build vs float64 — energy 1e−9 Ha, forces 1e−8 Ha/Å. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bzlib.h>
#include <omp.h>

#include "common/base/real.h"
#include "oracle/ani/ani.h"
#include "tests/testutil.h"

#ifdef ELIGN_DOUBLE
#define TOL_E 1e-9   /* Ha */
#define TOL_F 1e-8   /* Ha/Å */
#define TOL_SYM 1e-10
/* CELU has a discontinuous second derivative at 0 (1/α vs 0): a stencil
 * that straddles a neuron's kink errs by O(h), measured 1.8e−7 Ha/Å at
 * h = 1e−4 and 1.3e−8 at h = 4e−5 on valine (roundoff ~1e−9 there). */
#define FD_H 4e-5    /* Å */
#define TOL_FD 5e-8  /* Ha/Å */
#else
#define TOL_E 1e-5
#define TOL_F 1e-5
#define TOL_SYM 3e-6
#define FD_H 5e-3
#define TOL_FD 2e-4
#endif
/* Single molecule vs the same molecule inside a batch: bit-identical. The
 * networks run on gemm_fixed.h's fixed-order products (one fma chain per
 * output element whatever the row count, tile or column compaction), so a
 * molecule's numbers do not depend on what else is in its batch. */
#define TOL_AEV 1e-12

/* ------------------------------------------------------------------------ */
/* reference file                                                            */

#define MAX_MOL 16
typedef struct {
  char key[96];
  int mol;
  long n;
  double *v;
} ref_rec;

typedef struct {
  int n_mol;
  char name[MAX_MOL][64];
  int n_atoms[MAX_MOL];
  int32_t *Z[MAX_MOL];
  double *pos[MAX_MOL];
  ref_rec *rec;
  int n_rec, cap_rec;
} ref_db;

static int ref_load(ref_db *db, const char *path) {
  memset(db, 0, sizeof *db);
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "cannot open reference %s\n", path);
    return 0;
  }
  char key[96];
  while (fscanf(f, "%95s", key) == 1) {
    if (!strcmp(key, "mol")) {
      int k = db->n_mol++;
      if (k >= MAX_MOL || fscanf(f, "%63s %d", db->name[k], &db->n_atoms[k]) != 2) break;
      continue;
    }
    long n;
    if (fscanf(f, "%ld", &n) != 1) break;
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (long i = 0; i < n; i++)
      if (fscanf(f, "%lf", &v[i]) != 1) {
        fclose(f);
        return 0;
      }
    int k = db->n_mol - 1;
    if (!strcmp(key, "Z")) {
      db->Z[k] = malloc((size_t)n * sizeof(int32_t));
      for (long i = 0; i < n; i++) db->Z[k][i] = (int32_t)v[i];
      free(v);
    } else if (!strcmp(key, "pos")) {
      db->pos[k] = v;
    } else {
      if (db->n_rec == db->cap_rec) {
        db->cap_rec = db->cap_rec ? 2 * db->cap_rec : 64;
        db->rec = realloc(db->rec, (size_t)db->cap_rec * sizeof *db->rec);
      }
      ref_rec *r = &db->rec[db->n_rec++];
      snprintf(r->key, sizeof r->key, "%s", key);
      r->mol = k;
      r->n = n;
      r->v = v;
    }
  }
  fclose(f);
  return db->n_mol > 0;
}

static const double *ref_get(const ref_db *db, int mol, const char *model, const char *dtype, const char *field,
                             long expect) {
  char key[96];
  snprintf(key, sizeof key, "%s/%s/%s", model, dtype, field);
  for (int i = 0; i < db->n_rec; i++)
    if (db->rec[i].mol == mol && !strcmp(db->rec[i].key, key)) {
      if (expect >= 0 && db->rec[i].n != expect) {
        fprintf(stderr, "reference %s of %s has %ld values, expected %ld\n", key, db->name[mol], db->rec[i].n, expect);
        return NULL;
      }
      return db->rec[i].v;
    }
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */

static const char *zoo_dir(void) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s", test_shared_path("models/ani-model-zoo"));
  return buf;
}

static ani_model *load_or_fail(const char *name) {
  ani_model *m = NULL;
  elign_error err;
  elign_error_clear(&err);
  if (ani_model_load(zoo_dir(), name, &m, &err) != ELIGN_OK) {
    fprintf(stderr, "load %s: %s\n", name, err.msg);
    CHECK(!"model loads");
    return NULL;
  }
  return m;
}

/* The reference molecules, or a failed check when the file does not load. */
static int ref_load_or_fail(ref_db *db, const char *ref_path) {
  if (ref_load(db, ref_path)) return 1;
  CHECK(!"reference file loads");
  return 0;
}

/* The fixture of the fd, symmetry and batch sections: the reference
 * molecules, ANI-2x and a workspace; 0 (after a failed check) if either
 * file does not load. */
static int ani2x_fixture_open(const char *ref_path, ref_db *db, ani_model **m, ani_workspace **ws) {
  if (!ref_load_or_fail(db, ref_path)) return 0;
  *m = load_or_fail("ani-2x");
  if (!*m) return 0;
  *ws = ani_workspace_create();
  return 1;
}

static void ani2x_fixture_close(ani_model **m, ani_workspace **ws) {
  ani_workspace_free(ws);
  ani_model_free(m);
}

/* Energy (Ha) and optional forces of one molecule. */
static double energy_of(ani_model *m, ani_workspace *ws, int n, const int32_t *Z, const double *pos, double *forces) {
  int64_t off[2] = {0, n};
  double e = NAN;
  int st = -1;
  elign_error err;
  if (ani_compute(m, ws, 1, off, Z, pos, &e, forces, NULL, &st, &err) != ELIGN_OK || st != ANI_MOL_OK) {
    fprintf(stderr, "ani_compute failed: status %d %s\n", st, err.msg);
    return NAN;
  }
  return e;
}

static double max_abs(const double *v, long n) {
  double m = 0;
  for (long i = 0; i < n; i++)
    if (fabs(v[i]) > m) m = fabs(v[i]);
  return m;
}

/* ------------------------------------------------------------------------ */
/* ref: every reference quantity for one model                               */

static void check_model_against_reference(const ref_db *db, const char *model_name, const char *ref_model) {
  ani_model *m = load_or_fail(model_name);
  if (!m) return;
  ani_workspace *ws = ani_workspace_create();
  const int M = ani_model_n_members(m), D = ani_model_aev_length(m);
  for (int k = 0; k < db->n_mol; k++) {
    const int n = db->n_atoms[k];
    const double *e64 = ref_get(db, k, ref_model, "float64", "energy", 1);
    if (!e64) continue; /* this molecule has no values for this model */
    const double *f64 = ref_get(db, k, ref_model, "float64", "forces", 3L * n);
    const double *me64 = ref_get(db, k, ref_model, "float64", "member_energies", M);
    const double *mf64 = ref_get(db, k, ref_model, "float64", "member_forces", 3L * n * M);
    const double *ae64 = ref_get(db, k, ref_model, "float64", "atomic_energies", n);
    const double *sp = ref_get(db, k, ref_model, "float64", "internal_species_index", n);
    const double *aev_ref = ref_get(db, k, ref_model, "float64", "aev", (long)n * D);
    const double *e32 = ref_get(db, k, ref_model, "float32", "energy", 1);
    const double *f32 = ref_get(db, k, ref_model, "float32", "forces", 3L * n);
    const double *me32 = ref_get(db, k, ref_model, "float32", "member_energies", M);
    CHECK(f64 && me64 && mf64 && ae64 && sp && e32 && f32 && me32);
    if (!(f64 && me64 && mf64 && ae64 && sp && e32 && f32 && me32)) continue;
    printf("%s %s (%d atoms)\n", ref_model, db->name[k], n);

    for (int i = 0; i < n; i++) CHECK(ani_model_species_index(m, db->Z[k][i]) == (int)sp[i]);

    if (aev_ref) {
      double *aev = malloc((size_t)n * D * sizeof *aev);
      elign_error err;
      CHECK(ani_compute_aev(m, n, db->Z[k], db->pos[k], aev, &err) == ELIGN_OK);
      CHECK_ARRAY(aev, aev_ref, (size_t)n * D, TOL_AEV, 0);
      free(aev);
    }

    double e, *f = malloc(3 * sizeof(double) * n), *me = malloc(sizeof(double) * M);
    double *mf = malloc(3 * sizeof(double) * n * M), *ae = malloc(sizeof(double) * n);
    int st = -1;
    int64_t off[2] = {0, n};
    ani_outputs out = {.energy = &e, .forces = f, .member_energy = me, .member_forces = mf, .atomic_energy = ae,
                       .mol_status = &st};
    elign_error err;
    CHECK(ani_compute_ex(m, ws, 1, off, db->Z[k], db->pos[k], &out, &err) == ELIGN_OK);
    CHECK(st == ANI_MOL_OK);
    printf("  energy %.12f  ref64 %.12f  |dE| %.2e (ref32 %.2e)\n", e, *e64, fabs(e - *e64), fabs(e - *e32));
    double df = 0, df32 = 0, dmf = 0;
    for (int i = 0; i < 3 * n; i++) {
      df = fmax(df, fabs(f[i] - f64[i]));
      df32 = fmax(df32, fabs(f[i] - f32[i]));
    }
    for (long i = 0; i < 3L * n * M; i++) dmf = fmax(dmf, fabs(mf[i] - mf64[i]));
    printf("  max|dF| %.2e (ref32 %.2e)  member max|dF| %.2e\n", df, df32, dmf);

    CHECK_CLOSE(e, *e64, TOL_E, 0);
    CHECK_ARRAY(f, f64, 3 * (size_t)n, TOL_F, 0);
    CHECK_ARRAY(me, me64, (size_t)M, TOL_E, 0);
    CHECK_ARRAY(mf, mf64, 3 * (size_t)n * M, TOL_F, 0);
    CHECK_ARRAY(ae, ae64, (size_t)n, TOL_E, 0);
    /* the float32 reference differs from float64 by ≤ 1.3e−7 Ha / 1.1e−6 Ha/Å */
    CHECK_CLOSE(e, *e32, TOL_E + 2e-7, 0);
    CHECK_ARRAY(f, f32, 3 * (size_t)n, TOL_F + 2e-6, 0);
    CHECK_ARRAY(me, me32, (size_t)M, TOL_E + 2e-7, 0);
    double sum_ae = 0;
    for (int i = 0; i < n; i++) sum_ae += ae[i];
    CHECK_CLOSE(sum_ae, e, 1e-9, 0);
    free(f);
    free(me);
    free(mf);
    free(ae);
  }

  /* all reference molecules in one batch: the same numbers as one at a time */
  int64_t off[MAX_MOL + 1] = {0};
  for (int k = 0; k < db->n_mol; k++) off[k + 1] = off[k] + db->n_atoms[k];
  int64_t na = off[db->n_mol];
  int32_t *Z = malloc(sizeof(int32_t) * na);
  double *pos = malloc(3 * sizeof(double) * na), *f = malloc(3 * sizeof(double) * na);
  double e[MAX_MOL];
  int st[MAX_MOL];
  for (int k = 0; k < db->n_mol; k++) {
    memcpy(Z + off[k], db->Z[k], sizeof(int32_t) * db->n_atoms[k]);
    memcpy(pos + 3 * off[k], db->pos[k], 3 * sizeof(double) * db->n_atoms[k]);
  }
  elign_error err;
  CHECK(ani_compute(m, ws, db->n_mol, off, Z, pos, e, f, NULL, st, &err) == ELIGN_OK);
  for (int k = 0; k < db->n_mol; k++) {
    const double *e64 = ref_get(db, k, ref_model, "float64", "energy", 1);
    const double *f64 = ref_get(db, k, ref_model, "float64", "forces", 3L * db->n_atoms[k]);
    if (!e64 || !f64) continue;
    CHECK(st[k] == ANI_MOL_OK);
    CHECK_CLOSE(e[k], *e64, TOL_E, 0);
    CHECK_ARRAY(f + 3 * off[k], f64, 3 * (size_t)db->n_atoms[k], TOL_F, 0);
  }
  free(Z);
  free(pos);
  free(f);
  ani_workspace_free(&ws);
  ani_model_free(&m);
  CHECK(m == NULL && ws == NULL);
}

static void section_ref(const char *ref_path) {
  ref_db db;
  if (!ref_load_or_fail(&db, ref_path)) return;
  check_model_against_reference(&db, "ani-2x", "ANI-2x");
  check_model_against_reference(&db, "ani-1ccx", "ANI-1ccx");
  /* ANI-1x: the reference has values, but the shared zoo copy lacks its weights. */
  char info[4200];
  snprintf(info, sizeof info, "%s/resources/ani-1x_8x.info", zoo_dir());
  if (access(info, R_OK) == 0)
    check_model_against_reference(&db, "ani-1x", "ANI-1x");
  else
    printf("ANI-1x: %s absent — not tested against its reference values\n", info);
}

/* ------------------------------------------------------------------------ */
/* fd: forces = −dE/dx by a 4-point central stencil                           */

static void check_fd(ani_model *m, ani_workspace *ws, const char *label, int n, const int32_t *Z,
                     const double *pos0) {
  double *pos = malloc(3 * sizeof(double) * n), *f = malloc(3 * sizeof(double) * n);
  double *fd = malloc(3 * sizeof(double) * n);
  memcpy(pos, pos0, 3 * sizeof(double) * n);
  energy_of(m, ws, n, Z, pos, f);
  const double h = getenv("ANI_TEST_FD_H") ? atof(getenv("ANI_TEST_FD_H")) : FD_H;
  for (int i = 0; i < 3 * n; i++) {
    double x = pos[i], e[4];
    const double step[4] = {-2 * h, -h, h, 2 * h};
    for (int s = 0; s < 4; s++) {
      pos[i] = x + step[s];
      e[s] = energy_of(m, ws, n, Z, pos, NULL);
    }
    pos[i] = x;
    /* dE/dx ≈ (E(−2h) − 8E(−h) + 8E(h) − E(2h)) / 12h */
    fd[i] = -(e[0] - 8 * e[1] + 8 * e[2] - e[3]) / (12 * h);
  }
  double worst = 0;
  for (int i = 0; i < 3 * n; i++) worst = fmax(worst, fabs(f[i] - fd[i]));
  printf("fd %s: max|F − F_fd| = %.2e Ha/Å (max|F| %.3f)\n", label, worst, max_abs(f, 3 * n));
  CHECK_ARRAY(f, fd, 3 * (size_t)n, TOL_FD, 0);
  free(pos);
  free(f);
  free(fd);
}

/* A 9-atom molecule with S, F and Cl (none in the reference file): covers
 * the species pairs of the ANI-2x tables that H/C/N/O molecules never touch. */
static const int32_t SFCL_Z[9] = {16, 6, 9, 9, 17, 6, 1, 1, 1};
static const double SFCL_POS[27] = {0.000,  0.000,  0.000,  1.810,  0.000,  0.000,  2.280,  1.260,  0.000,
                                    2.280,  -0.620, 1.080,  -0.450, -1.900, 0.300,  -0.560, 0.850,  -1.480,
                                    -0.140, 1.930,  -1.400, -0.060, 0.480,  -2.380, -1.640, 0.700,  -1.560};

typedef void (*molecule_check)(ani_model *m, ani_workspace *ws, const char *label, int n, const int32_t *Z,
                               const double *pos);

/* One per-molecule check over every reference molecule and the S/F/Cl one. */
static void check_each_molecule(const ref_db *db, ani_model *m, ani_workspace *ws, molecule_check check) {
  for (int k = 0; k < db->n_mol; k++) check(m, ws, db->name[k], db->n_atoms[k], db->Z[k], db->pos[k]);
  check(m, ws, "S/F/Cl molecule", 9, SFCL_Z, SFCL_POS);
}

static void section_fd(const char *ref_path) {
  ref_db db;
  ani_model *m;
  ani_workspace *ws;
  if (!ani2x_fixture_open(ref_path, &db, &m, &ws)) return;
  check_each_molecule(&db, m, ws, check_fd);
  ani2x_fixture_close(&m, &ws);
}

/* ------------------------------------------------------------------------ */
/* symmetry: rotation, reflection, translation, permutation; Σ F = 0          */

static void random_rotation(double R[9], unsigned seed) {
  srand(seed);
  double q[4], nq = 0;
  for (int i = 0; i < 4; i++) {
    q[i] = (double)rand() / RAND_MAX - 0.5;
    nq += q[i] * q[i];
  }
  nq = sqrt(nq);
  double a = q[0] / nq, b = q[1] / nq, c = q[2] / nq, d = q[3] / nq;
  double r[9] = {a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c),
                 2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b),
                 2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d};
  memcpy(R, r, sizeof r);
}

static void apply(double *out, const double R[9], const double t[3], const double *in, int n) {
  for (int i = 0; i < n; i++)
    for (int x = 0; x < 3; x++)
      out[3 * i + x] = R[3 * x] * in[3 * i] + R[3 * x + 1] * in[3 * i + 1] + R[3 * x + 2] * in[3 * i + 2] + t[x];
}

static void check_symmetry(ani_model *m, ani_workspace *ws, const char *label, int n, const int32_t *Z,
                           const double *pos) {
  double *f0 = malloc(3 * sizeof(double) * n), *f1 = malloc(3 * sizeof(double) * n);
  double *p1 = malloc(3 * sizeof(double) * n), *rf = malloc(3 * sizeof(double) * n);
  int32_t *Z1 = malloc(sizeof(int32_t) * n);
  double e0 = energy_of(m, ws, n, Z, pos, f0);
  double sum[3] = {0, 0, 0};
  for (int i = 0; i < n; i++)
    for (int x = 0; x < 3; x++) sum[x] += f0[3 * i + x];
  printf("symmetry %s: E %.10f, |Σ F| = %.1e\n", label, e0, fabs(sum[0]) + fabs(sum[1]) + fabs(sum[2]));
  CHECK(fabs(sum[0]) + fabs(sum[1]) + fabs(sum[2]) < 1e-12);

  const double zero[3] = {0, 0, 0}, shift[3] = {3.7, -12.25, 101.5};
  double R[9];
  for (int trial = 0; trial < 3; trial++) {
    random_rotation(R, 17u + trial);
    if (trial == 2) /* improper: a reflection composed with the rotation */
      for (int x = 0; x < 3; x++) R[x] = -R[x];
    apply(p1, R, trial == 1 ? shift : zero, pos, n);
    double e1 = energy_of(m, ws, n, Z, p1, f1);
    CHECK_CLOSE(e1, e0, TOL_SYM, 0);
    apply(rf, R, zero, f0, n); /* forces rotate with the molecule */
    CHECK_ARRAY(f1, rf, 3 * (size_t)n, 10 * TOL_SYM, 0);
  }
  /* translation alone */
  const double ident[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  apply(p1, ident, shift, pos, n);
  CHECK_CLOSE(energy_of(m, ws, n, Z, p1, f1), e0, TOL_SYM, 0);
  CHECK_ARRAY(f1, f0, 3 * (size_t)n, 10 * TOL_SYM, 0);
  /* permutation: reverse the atom order */
  for (int i = 0; i < n; i++) {
    Z1[i] = Z[n - 1 - i];
    memcpy(p1 + 3 * i, pos + 3 * (n - 1 - i), 3 * sizeof(double));
  }
  CHECK_CLOSE(energy_of(m, ws, n, Z1, p1, f1), e0, TOL_SYM, 0);
  for (int i = 0; i < n; i++) memcpy(rf + 3 * i, f0 + 3 * (n - 1 - i), 3 * sizeof(double));
  CHECK_ARRAY(f1, rf, 3 * (size_t)n, 10 * TOL_SYM, 0);
  free(f0);
  free(f1);
  free(p1);
  free(rf);
  free(Z1);
}

static void section_symmetry(const char *ref_path) {
  ref_db db;
  ani_model *m;
  ani_workspace *ws;
  if (!ani2x_fixture_open(ref_path, &db, &m, &ws)) return;
  check_each_molecule(&db, m, ws, check_symmetry);
  /* 16 copies of valine 12 Å apart (304 atoms, beyond both cutoffs): the
   * energy is 16 × valine's and every copy has valine's forces. Exercises
   * molecules larger than the 256-atom stack buffers of the AEV. */
  {
    int k = db.n_mol - 1, n = db.n_atoms[k], copies = 16, big = n * copies;
    int32_t *Zb = malloc(sizeof(int32_t) * big);
    double *pb = malloc(3 * sizeof(double) * big), *fb = malloc(3 * sizeof(double) * big);
    double *f1 = malloc(3 * sizeof(double) * n);
    for (int c = 0; c < copies; c++) {
      memcpy(Zb + c * n, db.Z[k], sizeof(int32_t) * n);
      for (int i = 0; i < n; i++)
        for (int x = 0; x < 3; x++) pb[3 * (c * n + i) + x] = db.pos[k][3 * i + x] + 12.0 * (x == 0 ? c % 4 : x == 1 ? c / 4 : 0);
    }
    double e1 = energy_of(m, ws, n, db.Z[k], db.pos[k], f1);
    double eb = energy_of(m, ws, big, Zb, pb, fb);
    printf("symmetry: %d separated copies of %s: E %.10f vs %d × %.10f\n", copies, db.name[k], eb, copies, e1);
    CHECK_CLOSE(eb, copies * e1, copies * TOL_SYM, 0);
    for (int c = 0; c < copies; c++) CHECK_ARRAY(fb + 3 * c * n, f1, 3 * (size_t)n, 10 * TOL_SYM, 0);
    free(Zb);
    free(pb);
    free(fb);
    free(f1);
  }
  /* a lone atom: no neighbours, still evaluated by its network (§6.4, pitfall 12) */
  const int32_t zc = 6;
  const double pc[3] = {0.1, 0.2, 0.3};
  double e1 = energy_of(m, ws, 1, &zc, pc, NULL);
  CHECK(isfinite(e1) && e1 != ani_model_sae(m, ani_model_species_index(m, 6)));
  ani2x_fixture_close(&m, &ws);
}

/* ------------------------------------------------------------------------ */
/* batch: flagged molecules beside good ones                                  */

/* Per-molecule determinism at scale: 70 perturbed copies of valine (so an
 * element has hundreds of rows: full and partial GEMM tiles, several Γ row
 * blocks) interleaved with S/F/Cl molecules (a larger species set: other
 * compact AEV columns), in two orders; every molecule must give the bits it
 * gives alone, including per-member energies and per-member forces. */
static void batch_bitwise_large(ani_model *m, ani_workspace *ws, const ref_db *db) {
  enum { N_VAL = 70, N_SFCL = 3, N_MOL = N_VAL + N_SFCL };
  const int v = 2, nv = db->n_atoms[v]; /* valine in the reference set */
  int64_t off[N_MOL + 1] = {0};
  int n_of[N_MOL];
  for (int k = 0; k < N_MOL; k++) {
    n_of[k] = k % 24 == 5 ? 9 : nv; /* S/F/Cl at 5, 29, 53 */
    off[k + 1] = off[k] + n_of[k];
  }
  CHECK(off[N_MOL] == (int64_t)N_VAL * nv + N_SFCL * 9);
  const int64_t na = off[N_MOL];
  int32_t *Z = malloc(sizeof(int32_t) * na);
  double *pos = malloc(3 * sizeof(double) * na), *f = malloc(3 * sizeof(double) * na);
  uint64_t rng = 12345;
  for (int k = 0; k < N_MOL; k++) {
    const int32_t *z0 = n_of[k] == 9 ? SFCL_Z : db->Z[v];
    const double *p0 = n_of[k] == 9 ? SFCL_POS : db->pos[v];
    memcpy(Z + off[k], z0, sizeof(int32_t) * n_of[k]);
    for (int i = 0; i < 3 * n_of[k]; i++) {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
      pos[3 * off[k] + i] = p0[i] + 0.04 * ((double)(rng >> 11) / 9007199254740992.0 - 0.5);
    }
  }
  double *e = malloc(sizeof(double) * N_MOL), *me = malloc(sizeof(double) * 8 * N_MOL);
  double *mf = malloc(8 * 3 * sizeof(double) * na);
  int *st = malloc(sizeof(int) * N_MOL);
  elign_error err;
  ani_outputs out = {.energy = e, .forces = f, .member_energy = me, .member_forces = mf, .mol_status = st};
  CHECK(ani_compute_ex(m, ws, N_MOL, off, Z, pos, &out, &err) == ELIGN_OK);
  int same_alone = 1, same_reversed = 1;
  for (int k = 0; k < N_MOL; k++) {
    const int n = n_of[k];
    double e1, me1[8], *f1 = malloc(3 * sizeof(double) * n), *mf1 = malloc(8 * 3 * sizeof(double) * n);
    int s1;
    int64_t o1[2] = {0, n};
    ani_outputs o = {.energy = &e1, .forces = f1, .member_energy = me1, .member_forces = mf1, .mol_status = &s1};
    CHECK(ani_compute_ex(m, ws, 1, o1, Z + off[k], pos + 3 * off[k], &o, &err) == ELIGN_OK);
    same_alone &= st[k] == ANI_MOL_OK && s1 == ANI_MOL_OK && e1 == e[k] && !memcmp(me1, me + 8 * k, sizeof me1) &&
                  !memcmp(f1, f + 3 * off[k], 3 * sizeof(double) * n);
    for (int mm = 0; mm < 8; mm++)
      same_alone &= !memcmp(mf1 + 3 * mm * n, mf + 3 * ((int64_t)mm * na + off[k]), 3 * sizeof(double) * n);
    free(f1);
    free(mf1);
  }
  /* the same molecules in reverse order, energies and forces only */
  int64_t roff[N_MOL + 1] = {0};
  int32_t *rZ = malloc(sizeof(int32_t) * na);
  double *rpos = malloc(3 * sizeof(double) * na), *rf = malloc(3 * sizeof(double) * na), re[N_MOL];
  for (int j = 0; j < N_MOL; j++) {
    int k = N_MOL - 1 - j;
    roff[j + 1] = roff[j] + n_of[k];
    memcpy(rZ + roff[j], Z + off[k], sizeof(int32_t) * n_of[k]);
    memcpy(rpos + 3 * roff[j], pos + 3 * off[k], 3 * sizeof(double) * n_of[k]);
  }
  CHECK(ani_compute(m, ws, N_MOL, roff, rZ, rpos, re, rf, NULL, st, &err) == ELIGN_OK);
  for (int j = 0; j < N_MOL; j++) {
    int k = N_MOL - 1 - j;
    same_reversed &= re[j] == e[k] && !memcmp(rf + 3 * roff[j], f + 3 * off[k], 3 * sizeof(double) * n_of[k]);
  }
  printf("%d molecules (%lld atoms): alone == in batch bitwise: %s; reversed batch bitwise: %s\n", N_MOL,
         (long long)na, same_alone ? "yes" : "no", same_reversed ? "yes" : "no");
  CHECK(same_alone);
  CHECK(same_reversed);
  free(rZ);
  free(rpos);
  free(rf);
  free(Z);
  free(pos);
  free(f);
  free(e);
  free(me);
  free(mf);
  free(st);
}

static void section_batch(const char *ref_path) {
  ref_db db;
  ani_model *m;
  ani_workspace *ws;
  if (!ani2x_fixture_open(ref_path, &db, &m, &ws)) return;
  CHECK(ani_model_supports(m, 1) && ani_model_supports(m, 16) && ani_model_supports(m, 9) &&
        ani_model_supports(m, 17) && !ani_model_supports(m, 11) && !ani_model_supports(m, 35) &&
        !ani_model_supports(m, 15) && !ani_model_supports(m, 0) && !ani_model_supports(m, 200));
  CHECK(ani_model_species_index(m, 16) == 4 && ani_model_species_index(m, 9) == 5);

  /* molecules: 0 methane, 1 ethanol with one H → Na (unsupported), 2 valine,
   * 3 ethanol with two coincident atoms, 4 S/F/Cl, 5 methane with a NaN,
   * 6 ethanol with one H → Br (unsupported), 7 ethanol, 8 empty */
  const int src[9] = {0, 1, 2, 1, -1, 0, 1, 1, -2};
  int64_t off[10] = {0};
  for (int k = 0; k < 9; k++) off[k + 1] = off[k] + (src[k] >= 0 ? db.n_atoms[src[k]] : src[k] == -1 ? 9 : 0);
  int64_t na = off[9];
  int32_t *Z = malloc(sizeof(int32_t) * na);
  double *pos = malloc(3 * sizeof(double) * na), *f = malloc(3 * sizeof(double) * na);
  for (int k = 0; k < 9; k++) {
    if (src[k] >= 0) {
      memcpy(Z + off[k], db.Z[src[k]], sizeof(int32_t) * db.n_atoms[src[k]]);
      memcpy(pos + 3 * off[k], db.pos[src[k]], 3 * sizeof(double) * db.n_atoms[src[k]]);
    } else if (src[k] == -1) {
      memcpy(Z + off[k], SFCL_Z, sizeof SFCL_Z);
      memcpy(pos + 3 * off[k], SFCL_POS, sizeof SFCL_POS);
    }
  }
  Z[off[1] + db.n_atoms[1] - 1] = 11;
  memcpy(pos + 3 * (off[3] + 2), pos + 3 * (off[3] + 1), 3 * sizeof(double));
  pos[3 * (off[5] + 2) + 1] = NAN;
  Z[off[6] + db.n_atoms[1] - 1] = 35;
  for (int64_t i = 0; i < 3 * na; i++) f[i] = 99.0;
  double e[9], me[9 * 8];
  int st[9];
  elign_error err;
  CHECK(ani_compute(m, ws, 9, off, Z, pos, e, f, me, st, &err) == ELIGN_OK);
  const int want[9] = {ANI_MOL_OK, ANI_MOL_UNSUPPORTED_ELEMENT, ANI_MOL_OK, ANI_MOL_COINCIDENT, ANI_MOL_OK,
                       ANI_MOL_NONFINITE, ANI_MOL_UNSUPPORTED_ELEMENT, ANI_MOL_OK, ANI_MOL_OK};
  for (int k = 0; k < 9; k++) {
    if (st[k] != want[k]) fprintf(stderr, "molecule %d: status %d, want %d\n", k, st[k], want[k]);
    CHECK(st[k] == want[k]);
    if (want[k] != ANI_MOL_OK) {
      CHECK(e[k] == 0.0);
      for (int64_t i = 3 * off[k]; i < 3 * off[k + 1]; i++) CHECK(f[i] == 0.0);
      for (int j = 0; j < 8; j++) CHECK(me[8 * k + j] == 0.0);
    }
  }
  CHECK(e[8] == 0.0);
  /* the good molecules alone: the same bits (per-molecule determinism) */
  double worst_e = 0, worst_f = 0;
  for (int k = 0; k < 9; k++) {
    if (want[k] != ANI_MOL_OK || off[k + 1] == off[k]) continue;
    int n = (int)(off[k + 1] - off[k]);
    double e1, me1[8], *f1 = malloc(3 * sizeof(double) * n);
    int s1;
    int64_t o1[2] = {0, n};
    CHECK(ani_compute(m, ws, 1, o1, Z + off[k], pos + 3 * off[k], &e1, f1, me1, &s1, &err) == ELIGN_OK);
    CHECK(e[k] == e1);
    CHECK(!memcmp(me + 8 * k, me1, sizeof me1));
    CHECK(!memcmp(f + 3 * off[k], f1, 3 * sizeof(double) * (size_t)n));
    worst_e = fmax(worst_e, fabs(e[k] - e1));
    for (int i = 0; i < 3 * n; i++) worst_f = fmax(worst_f, fabs(f1[i] - f[3 * off[k] + i]));
    free(f1);
  }
  printf("batch vs alone: max|dE| %.2e Ha, max|dF| %.2e Ha/Å\n", worst_e, worst_f);

  /* the flagged molecules leave no trace: the batch without them gives
   * bit-identical numbers (the flagged atoms never enter the GEMM rows) */
  int64_t off2[10] = {0};
  int keep[9], n_keep = 0;
  int32_t *Z2 = malloc(sizeof(int32_t) * na);
  double *pos2 = malloc(3 * sizeof(double) * na), *f2 = malloc(3 * sizeof(double) * na);
  for (int k = 0; k < 9; k++) {
    if (want[k] != ANI_MOL_OK) continue;
    int64_t n = off[k + 1] - off[k];
    memcpy(Z2 + off2[n_keep], Z + off[k], sizeof(int32_t) * n);
    memcpy(pos2 + 3 * off2[n_keep], pos + 3 * off[k], 3 * sizeof(double) * n);
    off2[n_keep + 1] = off2[n_keep] + n;
    keep[n_keep++] = k;
  }
  double e2[9], me2[9 * 8];
  int st2[9];
  CHECK(ani_compute(m, ws, n_keep, off2, Z2, pos2, e2, f2, me2, st2, &err) == ELIGN_OK);
  int same = 1;
  for (int j = 0; j < n_keep; j++) {
    int k = keep[j];
    same &= st2[j] == ANI_MOL_OK && e2[j] == e[k];
    for (int q = 0; q < 8; q++) same &= me2[8 * j + q] == me[8 * k + q];
    for (int64_t i = 0; i < 3 * (off[k + 1] - off[k]); i++) same &= f2[3 * off2[j] + i] == f[3 * off[k] + i];
  }
  CHECK(same);

  /* the thread count does not change a single bit (each work item and row
   * block is computed by one thread in a fixed order) */
  int threads_before = omp_get_max_threads();
  omp_set_num_threads(threads_before == 1 ? 2 : 1);
  double e3[9], *f3 = malloc(3 * sizeof(double) * na);
  int st3[9];
  CHECK(ani_compute(m, ws, n_keep, off2, Z2, pos2, e3, f3, NULL, st3, &err) == ELIGN_OK);
  omp_set_num_threads(threads_before);
  same = 1;
  for (int j = 0; j < n_keep; j++) same &= e3[j] == e2[j];
  for (int64_t i = 0; i < 3 * off2[n_keep]; i++) same &= f3[i] == f2[i];
  CHECK(same);
  free(f3);
  free(Z2);
  free(pos2);
  free(f2);
  batch_bitwise_large(m, ws, &db);
  ani2x_fixture_close(&m, &ws);
  free(Z);
  free(pos);
  free(f);
}

/* ------------------------------------------------------------------------ */
/* errors: bad model directory / files name the path at fault                 */

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* A one-member ANI-2x copy in dir made of symlinks to the real train0 files,
 * except `override` (a file name in networks/) which the caller writes. */
static void make_tree(const char *dir, const char *override) {
  char p[8192], real[8192];
  const char *res = test_shared_path("models/ani-model-zoo/resources/ani-2x_8x");
  char res_dir[4096];
  snprintf(res_dir, sizeof res_dir, "%s", res);
  mkdir(dir, 0755);
  snprintf(p, sizeof p, "%s/m.info", dir);
  write_text(p, "p.params\nsae.dat\ntrain\n1\n");
  snprintf(p, sizeof p, "%s/p.params", dir);
  snprintf(real, sizeof real, "%s/rHCNOSFCl-5.1R_16-3.5A_a8-4.params", res_dir);
  CHECK(symlink(real, p) == 0);
  snprintf(p, sizeof p, "%s/sae.dat", dir);
  snprintf(real, sizeof real, "%s/sae_linfit.dat", res_dir);
  CHECK(symlink(real, p) == 0);
  snprintf(p, sizeof p, "%s/train0", dir);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/train0/networks", dir);
  mkdir(p, 0755);
  char netdir[4200];
  snprintf(netdir, sizeof netdir, "%s/train0/networks", res_dir);
  DIR *d = opendir(netdir);
  CHECK(d != NULL);
  if (!d) return;
  struct dirent *ent;
  while ((ent = readdir(d))) {
    if (ent->d_name[0] == '.' || (override && !strcmp(ent->d_name, override))) continue;
    snprintf(p, sizeof p, "%s/train0/networks/%s", dir, ent->d_name);
    snprintf(real, sizeof real, "%s/%s", netdir, ent->d_name);
    CHECK(symlink(real, p) == 0);
  }
  closedir(d);
}

static void remove_tree(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}

static void expect_load_error(const char *zoo, const char *name, const char *must_contain) {
  ani_model *m = (ani_model *)1;
  elign_error err;
  elign_error_clear(&err);
  elign_status st = ani_model_load(zoo, name, &m, &err);
  printf("load error: %s\n", err.msg);
  CHECK(st != ELIGN_OK && m == NULL);
  if (!strstr(err.msg, must_contain)) fprintf(stderr, "message lacks '%s'\n", must_contain);
  CHECK(strstr(err.msg, must_contain) != NULL);
}

/* Paths of one error case: base/name made by make_tree(…, override); info is
 * its m.info and net the overridden file in train0/networks/ (if any). */
typedef struct {
  char dir[4200], info[4300], net[4400];
} case_tree;

static void make_case_tree(case_tree *c, const char *base, const char *name, const char *override) {
  snprintf(c->dir, sizeof c->dir, "%s/%s", base, name);
  make_tree(c->dir, override);
  snprintf(c->info, sizeof c->info, "%s/m.info", c->dir);
  snprintf(c->net, sizeof c->net, "%s/train0/networks/%s", c->dir, override ? override : "");
}

static void section_errors(void) {
  expect_load_error("/nonexistent/ani-zoo", "ani-2x", "/nonexistent/ani-zoo");
  expect_load_error(zoo_dir(), "ani-3y", "ani-3y");
  expect_load_error(zoo_dir(), "/nonexistent/model.info", "/nonexistent/model.info");

  char tmpl[] = "/tmp/test_ani_XXXXXX";
  char *base = mkdtemp(tmpl);
  CHECK(base != NULL);
  if (!base) return;
  case_tree c;

  /* a working one-member tree first (the harness itself is right) */
  make_case_tree(&c, base, "good", NULL);
  ani_model *m = NULL;
  elign_error err;
  CHECK(ani_model_load(NULL, c.info, &m, &err) == ELIGN_OK && m && ani_model_n_members(m) == 1);
  ani_model_free(&m);

  /* truncated weight file */
  make_case_tree(&c, base, "trunc", "ANN-C.nnf-l2.wparam");
  write_text(c.net, "0123456789ab");
  expect_load_error(NULL, c.info, "ANN-C.nnf-l2.wparam");
  expect_load_error(NULL, c.info, "size");

  /* missing network file */
  make_case_tree(&c, base, "missing", "ANN-Cl.nnf");
  expect_load_error(NULL, c.info, "ANN-Cl.nnf");

  /* unsupported activation (5 = Gaussian) in a crafted .nnf */
  make_case_tree(&c, base, "act", "ANN-N.nnf");
  char text[4096] = "inputsize=1008;\natom_net N $\n";
  const int nodes[4] = {192, 160, 128, 1}, block[4] = {1008, 192, 160, 128}, act[4] = {9, 5, 9, 6};
  for (int l = 0; l < 4; l++) {
    char layer[512];
    snprintf(layer, sizeof layer,
             "layer [\nnodes=%d;\nactivation=%d;\ntype=0;\nblocksize=%d;\nbtchnorm=0;\n"
             "weights=FILE:ANN-N.nnf-l%d.wparam[%d];\nbiases=FILE:ANN-N.nnf-l%d.bparam[%d];\n]\n",
             nodes[l], act[l], block[l], l + 1, nodes[l] * block[l], l + 1, nodes[l]);
    strcat(text, layer);
  }
  strcat(text, "$\n");
  unsigned int text_len = (unsigned int)strlen(text) + 1; /* with its NUL, like NeuroChem */
  char comp[8192];
  unsigned int comp_len = sizeof comp;
  CHECK(BZ2_bzBuffToBuffCompress(comp, &comp_len, text, text_len, 9, 0, 0) == BZ_OK);
  FILE *fp = fopen(c.net, "wb");
  if (fp) {
    fprintf(fp, "%u=\n", text_len);
    fwrite(comp, 1, comp_len, fp);
    fclose(fp);
  }
  expect_load_error(NULL, c.info, "activation 5");
  expect_load_error(NULL, c.info, "ANN-N.nnf");

  /* a non-bzip2 .nnf */
  make_case_tree(&c, base, "nnf", "ANN-O.nnf");
  write_text(c.net, "layer [ nodes=1; ]\n");
  expect_load_error(NULL, c.info, "ANN-O.nnf");
  remove_tree(base);

  /* API argument errors */
  int st;
  int64_t bad_off[2] = {0, -1};
  int32_t z = 1;
  double x[3] = {0, 0, 0}, e;
  ani_model *m2 = load_or_fail("ani-1ccx");
  if (m2) {
    ani_workspace *ws = ani_workspace_create();
    CHECK(ani_compute(m2, ws, 1, bad_off, &z, x, &e, NULL, NULL, &st, &err) == ELIGN_ERR_ARG);
    CHECK(ani_compute(m2, ws, 1, NULL, &z, x, &e, NULL, NULL, &st, &err) == ELIGN_ERR_ARG);
    CHECK(ani_model_supports(m2, 8) && !ani_model_supports(m2, 16) && ani_model_aev_length(m2) == 384);
    ani_workspace_free(&ws);
    ani_model_free(&m2);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s ref|fd|symmetry|batch|errors [reference.txt]\n", argv[0]);
    return 2;
  }
  const char *section = argv[1], *ref = argc > 2 ? argv[2] : "ani_reference.txt";
  printf("test_ani %s (%s networks)\n", section, ELIGN_REAL_NAME);
  if (!strcmp(section, "ref")) section_ref(ref);
  else if (!strcmp(section, "fd")) section_fd(ref);
  else if (!strcmp(section, "symmetry")) section_symmetry(ref);
  else if (!strcmp(section, "batch")) section_batch(ref);
  else if (!strcmp(section, "errors")) section_errors();
  else {
    fprintf(stderr, "unknown section %s\n", section);
    return 2;
  }
  return test_main_result(section);
}
