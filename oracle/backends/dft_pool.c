/* dft_pool.c — DFT validation pool: total energy, formation energy per atom and
 * force RMS per molecule through the python oracle backend + a DFT adapter
 * (see dft_pool.h). Also registers "dft" in the oracle registry: the same
 * computation as a plain energy/force oracle, for the generic server loop.
 */
#include "oracle/backends/dft_pool.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base/atomic_file.h"
#include "common/base/log.h"
#include "common/chem/elements.h"
#include "oracle/oracle_backends.h"


#define DFT_CACHE_FILE "dft_atom_energies.json"

struct elign_dft_pool {
  elign_oracle *oracle;      /* "python" backend running the DFT adapter */
  char method[64], basis[64];
  char cache_path[1024];     /* "" = memory only */
  double atom_energy[ELIGN_MAX_Z + 1]; /* eV; valid where have_atom[Z] */
  int have_atom[ELIGN_MAX_Z + 1];
};

/* -------------------------------------------------------- on-disk cache */

/* Cache format: one flat JSON object {"<method>/<basis>/Z=<Z>": energy_eV, ...}
 * (written by us, so a small scanner suffices to read it back). */
static void dft_cache_key(const elign_dft_pool *p, int Z, char *key, size_t size) {
  snprintf(key, size, "%s/%s/Z=%d", p->method, p->basis, Z);
}

static void dft_cache_load(elign_dft_pool *p) {
  if (!p->cache_path[0]) return;
  FILE *f = fopen(p->cache_path, "r");
  if (!f) return;
  char line[512], prefix[160];
  snprintf(prefix, sizeof prefix, "%s/%s/Z=", p->method, p->basis);
  size_t plen = strlen(prefix);
  while (fgets(line, sizeof line, f)) {
    char *q = strchr(line, '"');
    if (!q || strncmp(q + 1, prefix, plen) != 0) continue;
    char *end = NULL;
    long Z = strtol(q + 1 + plen, &end, 10);
    if (!end || *end != '"' || !elign_element_valid(Z)) continue;
    char *colon = strchr(end, ':');
    if (!colon) continue;
    double e = strtod(colon + 1, &end);
    if (end == colon + 1 || !isfinite(e)) continue;
    p->atom_energy[Z] = e;
    p->have_atom[Z] = 1;
  }
  fclose(f);
}

/* Rewrite the cache: entries already on disk for other method/basis pairs are
 * kept, ours are replaced. Written to a temporary name and renamed so a
 * reader (another rank) never sees half a file. */
static void dft_cache_store(const elign_dft_pool *p) {
  if (!p->cache_path[0]) return;
  char line[512], prefix[160];
  snprintf(prefix, sizeof prefix, "%s/%s/Z=", p->method, p->basis);
  elign_atomic_file a;
  FILE *out;
  elign_error err;
  elign_error_clear(&err);
  if (elign_atomic_fopen(&a, p->cache_path, &out, &err) != ELIGN_OK) {
    elign_warn("dft pool: cannot write atom-energy cache: %s", err.msg);
    return;
  }
  fprintf(out, "{\n");
  int first = 1;
  FILE *in = fopen(p->cache_path, "r");
  if (in) {
    while (fgets(line, sizeof line, in)) {
      char *q = strchr(line, '"');
      if (!q || strncmp(q + 1, prefix, strlen(prefix)) == 0) continue; /* ours: rewritten below */
      char *end = strchr(line, '\n');
      if (end) *end = '\0';
      size_t len = strlen(line);
      if (len && line[len - 1] == ',') line[len - 1] = '\0';
      fprintf(out, "%s%s", first ? "" : ",\n", line);
      first = 0;
    }
    fclose(in);
  }
  for (int Z = 1; Z <= ELIGN_MAX_Z; Z++) {
    if (!p->have_atom[Z]) continue;
    char key[200];
    dft_cache_key(p, Z, key, sizeof key);
    fprintf(out, "%s  \"%s\": %.17g", first ? "" : ",\n", key, p->atom_energy[Z]); /* round trip */
    first = 0;
  }
  fprintf(out, "\n}\n");
  if (elign_atomic_fclose(&a, out, &err) != ELIGN_OK)
    elign_warn("dft pool: cannot write atom-energy cache: %s", err.msg);
}

/* ------------------------------------------------------------ lifecycle */

/* Where the adapters are when oracle.python_path is not set: the configure-time
 * ELIGN_ORACLE_TOOLS_DIR if one was given, else "oracles" beside the running
 * binary (the build copies the adapters of tools/oracles there). */
static const char *default_tools_dir(char *buf, size_t len) {
#ifdef ELIGN_ORACLE_TOOLS_DIR
  snprintf(buf, len, "%s", ELIGN_ORACLE_TOOLS_DIR);
#else
  char exe[1024];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    snprintf(buf, len, "oracles");
    return buf;
  }
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash) *slash = '\0';
  snprintf(buf, len, "%s/oracles", exe);
#endif
  return buf;
}

elign_status elign_dft_pool_create(const elign_oracle_options *opt_in, elign_dft_pool **out, elign_error *err) {
  if (!out) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "dft pool: out is NULL");
  *out = NULL;
  elign_oracle_options opt;
  if (opt_in)
    opt = *opt_in;
  else
    elign_oracle_options_init(&opt);
  if (!opt.method || !opt.method[0]) opt.method = "b3lyp";
  if (!opt.basis || !opt.basis[0]) opt.basis = "6-31g(d)";
  if (!opt.python_module || !opt.python_module[0]) opt.python_module = "psi4_oracle";
  if (!opt.python_function || !opt.python_function[0]) opt.python_function = "evaluate";
  char tools[1100];
  if (!opt.python_path || !opt.python_path[0]) opt.python_path = default_tools_dir(tools, sizeof tools);

  elign_dft_pool *p = elign_calloc(1, sizeof *p, "dft_pool:pool");
  snprintf(p->method, sizeof p->method, "%s", opt.method);
  snprintf(p->basis, sizeof p->basis, "%s", opt.basis);
  if (opt.scratch_dir && opt.scratch_dir[0]) {
    if (mkdir(opt.scratch_dir, 0775) != 0 && errno != EEXIST) {
      elign_free(p);
      return ELIGN_FAIL(err, ELIGN_ERR_IO, "dft pool: cannot create scratch directory %s: %s", opt.scratch_dir,
                        strerror(errno));
    }
    snprintf(p->cache_path, sizeof p->cache_path, "%s/%s", opt.scratch_dir, DFT_CACHE_FILE);
  }
  elign_status st = elign_oracle_create("python", &opt, &p->oracle, err);
  if (st != ELIGN_OK) {
    elign_error_prefix(err, "dft pool (%s/%s): ", p->method, p->basis);
    elign_free(p);
    return st;
  }
  dft_cache_load(p);
  *out = p;
  return ELIGN_OK;
}

void elign_dft_pool_destroy(elign_dft_pool **pool) {
  if (!pool || !*pool) return;
  elign_oracle_destroy(&(*pool)->oracle);
  elign_free(*pool);
}

const char *elign_dft_pool_cache_path(const elign_dft_pool *pool) { return pool ? pool->cache_path : ""; }

/* ----------------------------------------------------------- evaluation */

elign_status elign_dft_pool_atom_energy(elign_dft_pool *p, int Z, double *energy_ev, elign_error *err) {
  if (!elign_element_valid(Z)) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "dft pool: atomic number %d out of range", Z);
  if (p->have_atom[Z]) {
    *energy_ev = p->atom_energy[Z];
    return ELIGN_OK;
  }
  int mult = elign_atom_ground_multiplicity(Z);
  if (mult == 0)
    return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "dft pool: no ground-state multiplicity tabulated for Z=%d", Z);
  int64_t offsets[2] = {0, 1};
  int32_t z = Z;
  double pos[3] = {0, 0, 0}, energy = 0, forces[3];
  int charge = 0;
  elign_mol_status status;
  elign_oracle_batch b = {.n_mol = 1, .offsets = offsets, .Z = &z, .pos = pos, .charge = &charge, .multiplicity = &mult};
  elign_oracle_result r = {.energy = &energy, .forces = forces, .status = &status};
  double t0 = elign_wtime();
  elign_status st = elign_oracle_evaluate(p->oracle, &b, &r, err);
  if (st != ELIGN_OK) return st;
  if (status != ELIGN_MOL_OK)
    return ELIGN_FAIL(err, ELIGN_ERR_BACKEND, "dft pool: isolated atom Z=%d (multiplicity %d, %s/%s) failed: %s", Z,
                      mult, p->method, p->basis, elign_mol_status_string(status));
  elign_info("dft pool: isolated atom Z=%d (2S+1=%d) %s/%s: %.6f eV (%.1f s)", Z, mult, p->method, p->basis, energy,
             elign_wtime() - t0);
  /* Another rank may have added elements meanwhile: merge before rewriting. */
  dft_cache_load(p);
  p->atom_energy[Z] = energy;
  p->have_atom[Z] = 1;
  dft_cache_store(p);
  *energy_ev = energy;
  return ELIGN_OK;
}

/* A lone neutral atom at its ground-state multiplicity is exactly the
 * reference atom of the formation energy: answered from the atom cache. */
static int lone_reference_atom(const elign_oracle_batch *b, int64_t m, int64_t n) {
  if (n != 1 || !b->multiplicity) return 0;
  int64_t a = b->offsets[m];
  int z = b->Z[a];
  int charge = b->charge ? b->charge[m] : 0;
  return charge == 0 && elign_element_valid(z) && b->multiplicity[m] == elign_atom_ground_multiplicity(z) &&
         isfinite(b->pos[3 * a]) && isfinite(b->pos[3 * a + 1]) && isfinite(b->pos[3 * a + 2]);
}

elign_status elign_dft_pool_evaluate(elign_dft_pool *p, const elign_oracle_batch *batch, elign_dft_result *res,
                                     elign_error *err) {
  if (!p || !batch || !res || !res->status) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "dft pool evaluate: NULL argument");
  for (int64_t m = 0; m < batch->n_mol; m++) {
    int64_t a0 = batch->offsets[m], n = batch->offsets[m + 1] - a0;
    if (n < 0) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "dft pool evaluate: offsets decrease at molecule %lld", (long long)m);
    if (lone_reference_atom(batch, m, n)) { /* the cached reference: computed once per element */
      double t0 = elign_wtime(), e = 0.0;
      elign_error aerr;
      elign_error_clear(&aerr);
      int z = batch->Z[a0];
      int ok = elign_dft_pool_atom_energy(p, z, &e, &aerr) == ELIGN_OK;
      if (!ok) elign_warn("dft pool: molecule %lld: %s", (long long)m, aerr.msg);
      res->status[m] = ok ? ELIGN_MOL_OK : ELIGN_MOL_BACKEND_ERROR;
      if (res->energy) res->energy[m] = ok ? e : 0.0;
      if (res->formation_energy) res->formation_energy[m] = 0.0;
      if (res->force_rms) res->force_rms[m] = 0.0;
      if (res->forces) memset(res->forces + 3 * a0, 0, 3 * sizeof *res->forces);
      if (res->seconds) res->seconds[m] = elign_wtime() - t0;
      continue;
    }
    /* One molecule per call: each gets its own time limit and timing. */
    int64_t offsets[2] = {0, n};
    double energy = 0.0;
    double *forces = elign_calloc((size_t)(3 * n + 1), sizeof *forces, "dft_pool:forces");
    elign_mol_status status = ELIGN_MOL_OK;
    elign_oracle_batch one = {.n_mol = 1, .offsets = offsets, .Z = batch->Z + a0, .pos = batch->pos + 3 * a0,
                              .charge = batch->charge ? batch->charge + m : NULL,
                              .multiplicity = batch->multiplicity ? batch->multiplicity + m : NULL};
    elign_oracle_result r = {.energy = &energy, .forces = forces, .status = &status};
    double t0 = elign_wtime();
    elign_status st = elign_oracle_evaluate(p->oracle, &one, &r, err);
    double dt = elign_wtime() - t0;
    if (st != ELIGN_OK) {
      free(forces);
      return st;
    }
    /* Reference atoms (cached after the first molecule that needs them). */
    double e_atoms = 0.0;
    for (int64_t i = 0; status == ELIGN_MOL_OK && i < n; i++) {
      double ea = 0.0;
      elign_error aerr;
      elign_error_clear(&aerr);
      if (elign_dft_pool_atom_energy(p, batch->Z[a0 + i], &ea, &aerr) != ELIGN_OK) {
        elign_warn("dft pool: molecule %lld: %s", (long long)m, aerr.msg);
        status = ELIGN_MOL_BACKEND_ERROR;
      }
      e_atoms += ea;
    }
    double sum_f2 = 0.0;
    for (int64_t k = 0; k < 3 * n; k++) sum_f2 += forces[k] * forces[k];
    int ok = status == ELIGN_MOL_OK;
    res->status[m] = status;
    if (res->energy) res->energy[m] = ok ? energy : 0.0;
    if (res->formation_energy) res->formation_energy[m] = ok ? (energy - e_atoms) / (double)n : 0.0;
    if (res->force_rms) res->force_rms[m] = ok ? sqrt(sum_f2 / (double)n) : 0.0;
    if (res->forces) {
      if (ok)
        memcpy(res->forces + 3 * a0, forces, (size_t)(3 * n) * sizeof *forces);
      else
        memset(res->forces + 3 * a0, 0, (size_t)(3 * n) * sizeof *forces);
    }
    if (res->seconds) res->seconds[m] = dt;
    free(forces);
  }
  return ELIGN_OK;
}

/* ------------------------------------------- "dft" as a registry backend */

static elign_status dft_backend_create(const elign_oracle_options *opt, void **state, elign_error *err) {
  elign_dft_pool *p = NULL;
  elign_status st = elign_dft_pool_create(opt, &p, err);
  *state = p;
  return st;
}

static elign_status dft_backend_evaluate(void *state, const elign_oracle_batch *batch, elign_oracle_result *result,
                                         elign_error *err) {
  elign_dft_result r = {.energy = result->energy, .forces = result->forces, .status = result->status};
  return elign_dft_pool_evaluate(state, batch, &r, err);
}

static void dft_backend_destroy(void *state) {
  elign_dft_pool *p = state;
  elign_dft_pool_destroy(&p);
}

const elign_oracle_backend elign_oracle_dft_backend = {
    .name = "dft",
    .summary = "DFT validation (default B3LYP/6-31G(d) via psi4 in embedded Python; total energy eV, forces eV/A)",
    .create = dft_backend_create,
    .supports = NULL, /* whatever the adapter's basis covers; failures are flagged */
    .evaluate = dft_backend_evaluate,
    .destroy = dft_backend_destroy,
    .default_min_distance = ELIGN_ORACLE_DEFAULT_MIN_DISTANCE,
};
