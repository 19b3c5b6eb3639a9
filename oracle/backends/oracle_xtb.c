/* oracle_xtb.c — "gfn2-xtb" and "gfn-ff": GFN2-xTB and GFN-FF through libxtb's C API.
 *
 * One xtb environment per backend instance (xtb collects errors in it instead
 * of ending the process); per molecule a fresh molecule, calculator and
 * results object, because parametrisation (GFN2) and topology (GFN-FF) both
 * depend on the molecule. Units at the boundary: libxtb takes Bohr and returns
 * Hartree and Hartree/Bohr; we take Å and return eV and eV/Å (F = −gradient).
 *
 * GFN-FF writes topology files (gfnff_topo, gfnff_charges, ...) into the
 * current working directory, so every call runs inside a per-rank scratch
 * directory <scratch_dir>/rank<r>/ (a private mkdtemp directory when no
 * scratch_dir is configured) and the previous working directory is restored
 * afterwards. chdir is process-wide: one instance must not be evaluated from
 * two threads at once (the oracle ranks call it from one thread).
 *
 * Non-convergence, unparametrised elements or any other xtb error flag the
 * molecule (ELIGN_MOL_NOT_CONVERGED / ELIGN_MOL_BACKEND_ERROR) and are logged
 * once per instance; the batch goes on.
 */
#include "oracle/oracle_backends.h"

#ifdef ELIGN_WITH_XTB

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <omp.h>
#include <xtb.h>

#include "common/base/log.h"

typedef enum { XTB_METHOD_GFN2, XTB_METHOD_GFNFF } xtb_method;

typedef struct {
  xtb_method method;
  const char *name;       /* registry name, for messages */
  xtb_TEnvironment env;
  char workdir[PATH_MAX]; /* per-rank scratch directory the calls run in */
  int owns_workdir;       /* 1: a private mkdtemp directory we remove at destroy */
  int warned;             /* first xtb error message already logged */
  char outfile[PATH_MAX + 64]; /* xtb's output (GFN-FF prints even when muted); truncated per batch */
  int max_iterations;     /* SCC iteration limit, 0 = libxtb's default */
  int retry;              /* ELIGN_XTB_RETRY_* (gfn2-xtb only) */
  double retry_etemp;     /* K */
  int64_t retries[3];     /* molecules rescued by: the higher temperature, GFN-FF; and lost after every rung */
  int threads;            /* OpenMP threads inside libxtb, 0 = the caller's setting */
} xtb_state;

/* GFN2-xTB and GFN-FF are parametrised for H–Rn. */
#define XTB_MAX_Z 86

/* Make every missing component of `path` (mkdir -p). */
static int xtb_mkdir_p(const char *path) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return ENAMETOOLONG;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0775) != 0 && errno != EEXIST) return errno;
    *p = '/';
  }
  if (mkdir(buf, 0775) != 0 && errno != EEXIST) return errno;
  return 0;
}

static elign_status xtb_prepare_workdir(xtb_state *s, const elign_oracle_options *opt, elign_error *err) {
  if (opt->scratch_dir && opt->scratch_dir[0]) {
    if (snprintf(s->workdir, sizeof s->workdir, "%s/rank%d", opt->scratch_dir, opt->rank) >= (int)sizeof s->workdir)
      return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: scratch_dir path too long: %s", s->name, opt->scratch_dir);
    int e = xtb_mkdir_p(s->workdir);
    if (e) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot create scratch directory %s: %s", s->name, s->workdir, strerror(e));
    return ELIGN_OK;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(s->workdir, sizeof s->workdir, "%s/elign-xtb-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  if (!mkdtemp(s->workdir))
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot create a scratch directory under %s: %s", s->name,
                      tmp && tmp[0] ? tmp : "/tmp", strerror(errno));
  s->owns_workdir = 1;
  return ELIGN_OK;
}

static void xtb_remove_private_workdir(xtb_state *s) {
  if (!s->owns_workdir) return;
  /* Only the files GFN-FF leaves behind live here (flat directory). */
  static const char *const files[] = {"gfnff_topo", "gfnff_charges", "gfnff_adjacency", "charges", "wbo",
                                      "xtbrestart", "xtbtopo.mol", ".sccnotconverged", "gfnff_lists.json"};
  char path[PATH_MAX + 64];
  for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
    snprintf(path, sizeof path, "%s/%s", s->workdir, files[k]);
    unlink(path);
  }
  rmdir(s->workdir);
}

static elign_status xtb_create_common(xtb_method method, const char *name, const elign_oracle_options *opt,
                                      void **state, elign_error *err) {
  xtb_state *s = elign_calloc(1, sizeof *s, "oracle_xtb:state");
  s->method = method;
  s->name = name;
  s->max_iterations = opt->max_iterations > 0 ? opt->max_iterations : 0;
  s->retry = method == XTB_METHOD_GFN2 && opt->xtb_retry ? opt->xtb_retry : ELIGN_XTB_RETRY_ETEMP_GFNFF;
  if (method != XTB_METHOD_GFN2) s->retry = ELIGN_XTB_RETRY_NONE;
  s->retry_etemp = opt->xtb_retry_etemp > 0 ? opt->xtb_retry_etemp : ELIGN_XTB_RETRY_ETEMP_DEFAULT;
  s->threads = opt->threads > 0 ? opt->threads : 0;
  elign_status st = xtb_prepare_workdir(s, opt, err);
  if (st != ELIGN_OK) {
    elign_free(s);
    return st;
  }
  s->env = xtb_newEnvironment();
  if (!s->env) {
    xtb_remove_private_workdir(s);
    elign_free(s);
    return ELIGN_FAIL(err, ELIGN_ERR_BACKEND, "%s: xtb_newEnvironment failed", name);
  }
  /* Muted: an oracle rank's stdout belongs to the run. (No xtb_setOutput to
   * /dev/null: Fortran refuses to open one file in two units, so a second
   * instance would fail; muted output writes nothing.) */
  xtb_setVerbosity(s->env, XTB_VERBOSITY_MUTED);
  /* GFN-FF's setup prints to the environment's unit even when muted; bind it
   * to a per-instance file (one file per unit: Fortran refuses to open one
   * path twice, so not /dev/null) that each batch starts afresh. */
  static int instance = 0;
  snprintf(s->outfile, sizeof s->outfile, "%s/xtb-%ld-%d.out", s->workdir, (long)getpid(), instance++);
  xtb_setOutput(s->env, s->outfile);
  if (xtb_checkEnvironment(s->env)) {
    char buf[512] = {0};
    int len = (int)sizeof buf - 1;
    xtb_getError(s->env, buf, &len);
    xtb_delEnvironment(&s->env);
    xtb_remove_private_workdir(s);
    elign_free(s);
    return ELIGN_FAIL(err, ELIGN_ERR_BACKEND, "%s: cannot set up the xtb environment: %s", name, buf);
  }
  *state = s;
  return ELIGN_OK;
}

static elign_status xtb_gfn2_create(const elign_oracle_options *opt, void **state, elign_error *err) {
  return xtb_create_common(XTB_METHOD_GFN2, "gfn2-xtb", opt, state, err);
}

static elign_status xtb_gfnff_create(const elign_oracle_options *opt, void **state, elign_error *err) {
  return xtb_create_common(XTB_METHOD_GFNFF, "gfn-ff", opt, state, err);
}

static int xtb_supports(const void *state, int Z) { return Z >= 1 && Z <= XTB_MAX_Z; }

static void xtb_destroy(void *state) {
  xtb_state *s = state;
  if (!s) return;
  if (s->retries[0] + s->retries[1] + s->retries[2] > 0)
    elign_info("%s: retry ladder: %lld molecule(s) converged at %g K, %lld evaluated with GFN-FF, %lld failed every "
               "attempt", s->name, (long long)s->retries[0], s->retry_etemp, (long long)s->retries[1],
               (long long)s->retries[2]);
  if (s->env) {
    xtb_releaseOutput(s->env);
    xtb_delEnvironment(&s->env);
  }
  unlink(s->outfile);
  xtb_remove_private_workdir(s);
  free(s);
}

/* If the environment holds an error: take it (clears the stack), classify it,
 * log the first one of this instance, and return the flag; else OK. */
static elign_mol_status xtb_take_error(xtb_state *s, int64_t mol, const char *stage) {
  if (!xtb_checkEnvironment(s->env)) return ELIGN_MOL_OK;
  char buf[1024];
  memset(buf, 0, sizeof buf); /* the Fortran side does not always terminate the string */
  int len = (int)sizeof buf - 1;
  xtb_getError(s->env, buf, &len);
  buf[sizeof buf - 1] = '\0';
  for (char *p = buf; *p; p++)
    if (*p == '\n') *p = ' ';
  elign_mol_status flag = (strstr(buf, "converge") || strstr(buf, "SCC") || strstr(buf, "SCF"))
                              ? ELIGN_MOL_NOT_CONVERGED
                              : ELIGN_MOL_BACKEND_ERROR;
  if (!s->warned) {
    elign_warn("%s: molecule %lld flagged (%s) at %s: %s (further xtb errors of this oracle logged at debug level)",
               s->name, (long long)mol, elign_mol_status_string(flag), stage, buf);
    s->warned = 1;
  } else {
    elign_debug("%s: molecule %lld: %s: %s", s->name, (long long)mol, stage, buf);
  }
  return flag;
}

/* One molecule with one method: n atoms, Z [n], pos [n][3] Å → energy eV,
 * forces [n][3] eV/Å (may be NULL). etemp: electronic temperature in K (GFN2;
 * 0 = xtb's default). */
static elign_mol_status xtb_attempt(xtb_state *s, xtb_method method, double etemp, int64_t mol, int n,
                                    const int32_t *Z, const double *pos, int charge, int multiplicity, double *energy,
                                    double *forces) {
  int *numbers = elign_malloc((size_t)n * sizeof *numbers, "oracle_xtb:numbers");
  double *xyz = elign_malloc((size_t)(3 * n) * sizeof *xyz, "oracle_xtb:bohr");
  double *grad = elign_calloc((size_t)(3 * n), sizeof *grad, "oracle_xtb:gradient");
  for (int i = 0; i < n; i++) numbers[i] = Z[i];
  for (int k = 0; k < 3 * n; k++) xyz[k] = pos[k] / ELIGN_BOHR_ANGSTROM;
  double q = charge;
  int uhf = multiplicity > 0 ? multiplicity - 1 : 0;

  xtb_TMolecule xmol = NULL;
  xtb_TCalculator calc = NULL;
  xtb_TResults res = NULL;
  elign_mol_status flag = ELIGN_MOL_OK;
  double e_ha = 0.0;

  xmol = xtb_newMolecule(s->env, &n, numbers, xyz, &q, &uhf, NULL, NULL);
  if ((flag = xtb_take_error(s, mol, "molecule setup")) != ELIGN_MOL_OK || !xmol) {
    if (flag == ELIGN_MOL_OK) flag = ELIGN_MOL_BACKEND_ERROR;
    goto done;
  }
  calc = xtb_newCalculator();
  res = xtb_newResults();
  if (method == XTB_METHOD_GFN2)
    xtb_loadGFN2xTB(s->env, xmol, calc, NULL);
  else
    xtb_loadGFNFF(s->env, xmol, calc, NULL);
  if ((flag = xtb_take_error(s, mol, "loading the parametrisation")) != ELIGN_MOL_OK) goto done;
  if (s->max_iterations > 0 && method == XTB_METHOD_GFN2) xtb_setMaxIter(s->env, calc, s->max_iterations);
  if (etemp > 0 && method == XTB_METHOD_GFN2) xtb_setElectronicTemp(s->env, calc, etemp);
  xtb_singlepoint(s->env, xmol, calc, res);
  if ((flag = xtb_take_error(s, mol, "singlepoint")) != ELIGN_MOL_OK) goto done;
  xtb_getEnergy(s->env, res, &e_ha);
  xtb_getGradient(s->env, res, grad);
  if ((flag = xtb_take_error(s, mol, "reading results")) != ELIGN_MOL_OK) goto done;

  *energy = e_ha * ELIGN_HARTREE_EV;
  if (forces)
    for (int k = 0; k < 3 * n; k++) forces[k] = -grad[k] * (ELIGN_HARTREE_EV / ELIGN_BOHR_ANGSTROM);

done:
  if (res) xtb_delResults(&res);
  if (calc) xtb_delCalculator(&calc);
  if (xmol) xtb_delMolecule(&xmol);
  free(numbers);
  free(xyz);
  free(grad);
  return flag;
}

/* The retry ladder (oracle.h, ELIGN_XTB_RETRY_*): only an SCF that did not
 * converge is retried; every attempt after the first is logged. */
static elign_mol_status xtb_evaluate_one(xtb_state *s, int64_t mol, int n, const int32_t *Z, const double *pos,
                                         int charge, int multiplicity, double *energy, double *forces) {
  elign_mol_status flag = xtb_attempt(s, s->method, 0.0, mol, n, Z, pos, charge, multiplicity, energy, forces);
  if (flag != ELIGN_MOL_NOT_CONVERGED || s->retry == ELIGN_XTB_RETRY_NONE) return flag;
  elign_info("%s: molecule %lld (%d atoms): SCF not converged at 300 K; attempt 2 at an electronic temperature of %g K",
             s->name, (long long)mol, n, s->retry_etemp);
  flag = xtb_attempt(s, XTB_METHOD_GFN2, s->retry_etemp, mol, n, Z, pos, charge, multiplicity, energy, forces);
  if (flag == ELIGN_MOL_OK) {
    s->retries[0]++;
    elign_info("%s: molecule %lld: converged at %g K", s->name, (long long)mol, s->retry_etemp);
    return flag;
  }
  if (flag == ELIGN_MOL_NOT_CONVERGED && s->retry == ELIGN_XTB_RETRY_ETEMP_GFNFF) {
    elign_info("%s: molecule %lld: not converged at %g K either; attempt 3 with GFN-FF (its energy is not on GFN2's "
               "scale)", s->name, (long long)mol, s->retry_etemp);
    flag = xtb_attempt(s, XTB_METHOD_GFNFF, 0.0, mol, n, Z, pos, charge, multiplicity, energy, forces);
    if (flag == ELIGN_MOL_OK) {
      s->retries[1]++;
      elign_info("%s: molecule %lld: evaluated with GFN-FF", s->name, (long long)mol);
      return flag;
    }
  }
  s->retries[2]++;
  elign_info("%s: molecule %lld: every attempt failed (%s)", s->name, (long long)mol, elign_mol_status_string(flag));
  return flag;
}

static elign_status xtb_evaluate(void *state, const elign_oracle_batch *batch, elign_oracle_result *result,
                                 elign_error *err) {
  xtb_state *s = state;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd))
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot read the working directory: %s", s->name, strerror(errno));
  if (chdir(s->workdir) != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot enter scratch directory %s: %s", s->name, s->workdir,
                      strerror(errno));
  /* libxtb's OpenMP regions start from this thread: its setting applies. */
  int threads_before = omp_get_max_threads();
  if (s->threads > 0) omp_set_num_threads(s->threads);
  for (int64_t m = 0; m < batch->n_mol; m++) {
    int64_t a0 = batch->offsets[m], n = batch->offsets[m + 1] - a0;
    result->energy[m] = 0.0;
    if (result->forces) memset(result->forces + 3 * a0, 0, (size_t)(3 * n) * sizeof(double));
    elign_mol_status flag = elign_oracle_check_molecule(NULL, NULL, n, batch->Z + a0, batch->pos + 3 * a0, 0.0);
    for (int64_t i = 0; flag == ELIGN_MOL_OK && i < n; i++)
      if (!xtb_supports(s, batch->Z[a0 + i])) flag = ELIGN_MOL_UNSUPPORTED_ELEMENT;
    if (flag == ELIGN_MOL_OK && n > INT_MAX) flag = ELIGN_MOL_BACKEND_ERROR;
    if (flag == ELIGN_MOL_OK)
      flag = xtb_evaluate_one(s, m, (int)n, batch->Z + a0, batch->pos + 3 * a0, batch->charge ? batch->charge[m] : 0,
                              batch->multiplicity ? batch->multiplicity[m] : 1, &result->energy[m],
                              result->forces ? result->forces + 3 * a0 : NULL);
    result->status[m] = flag;
    if (flag != ELIGN_MOL_OK) {
      result->energy[m] = 0.0;
      if (result->forces) memset(result->forces + 3 * a0, 0, (size_t)(3 * n) * sizeof(double));
    }
  }
  /* Keep the log from growing over a long run: start it afresh per batch. */
  xtb_releaseOutput(s->env);
  unlink(s->outfile);
  xtb_setOutput(s->env, s->outfile);
  xtb_take_error(s, -1, "rebinding the output file");
  if (s->threads > 0) omp_set_num_threads(threads_before);
  if (chdir(cwd) != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot return to %s: %s", s->name, cwd, strerror(errno));
  return ELIGN_OK;
}

#define XTB_CREATE_GFN2 xtb_gfn2_create
#define XTB_CREATE_GFNFF xtb_gfnff_create
#define XTB_SUPPORTS xtb_supports
#define XTB_EVALUATE xtb_evaluate
#define XTB_DESTROY xtb_destroy

#else /* !ELIGN_WITH_XTB: listed, but create() says how to get it */

static elign_status xtb_not_built(const elign_oracle_options *opt, void **state, elign_error *err) {
  return elign_oracle_fail_not_built(state, "xtb oracle backends", "libxtb-dev", "libxtb ... found", err);
}
static elign_status xtb_unavailable_evaluate(void *state, const elign_oracle_batch *batch,
                                             elign_oracle_result *result, elign_error *err) {
  return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "xtb oracle backends not built");
}
#define XTB_CREATE_GFN2 xtb_not_built
#define XTB_CREATE_GFNFF xtb_not_built
#define XTB_SUPPORTS NULL
#define XTB_EVALUATE xtb_unavailable_evaluate
#define XTB_DESTROY NULL

#endif

const elign_oracle_backend elign_oracle_gfn2_xtb_backend = {
    .name = "gfn2-xtb",
    .summary = "GFN2-xTB semiempirical tight binding via libxtb (H-Rn; energy eV, forces eV/A)",
    .create = XTB_CREATE_GFN2,
    .supports = XTB_SUPPORTS, /* H–Rn */
    .evaluate = XTB_EVALUATE,
    .destroy = XTB_DESTROY,
    .default_min_distance = ELIGN_ORACLE_DEFAULT_MIN_DISTANCE,
};

const elign_oracle_backend elign_oracle_gfn_ff_backend = {
    .name = "gfn-ff",
    .summary = "GFN-FF generic force field via libxtb (H-Rn; energy eV, forces eV/A)",
    .create = XTB_CREATE_GFNFF,
    .supports = XTB_SUPPORTS, /* H–Rn */
    .evaluate = XTB_EVALUATE,
    .destroy = XTB_DESTROY,
    .default_min_distance = ELIGN_ORACLE_DEFAULT_MIN_DISTANCE,
};
