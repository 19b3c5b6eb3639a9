/* eval.c — per-molecule chemistry, input files, the novelty reference and the
 * summaries of `elign eval` (eval.h; definitions in docs/eval.md). */
#include "learner/eval.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base/atomic_file.h"
#include "common/base/log.h"
#include "common/chem/elements.h"
#include "common/chem/rdkit_metrics.h"
#include "common/chem/stability.h"
#include "common/io/dataset_io.h"
#include "common/io/h5io.h"
#include "oracle/oracle.h"

/* ---- chemistry ------------------------------------------------------------ */

static int32_t count_fragments(const char *smiles) {
  int32_t n = 1;
  for (const char *p = smiles; *p; p++) n += *p == '.';
  return n;
}

void eval_chem_compute(const elign_molset *mols, int64_t m0, int64_t m1, int rule, eval_chem *out) {
  int rdkit = elign_rdkit_available();
  for (int64_t m = m0; m < m1; m++) {
    eval_chem *c = &out[m - m0];
    int64_t a0 = mols->offsets[m], n = mols->offsets[m + 1] - a0, ns = 0;
    const double *pos = mols->pos + 3 * a0;
    const int32_t *Z = mols->Z + a0;
    memset(c, 0, sizeof *c);
    c->stable = (int8_t)elign_molecule_stability(pos, Z, n, rule, &ns);
    c->n_stable_atoms = (int32_t)ns;
    if (!rdkit) {
      c->valid = EVAL_RDKIT_NOT_RUN;
      continue;
    }
    /* EDM: the whole molecule decides validity; the metrics use the SMILES of
     * its largest fragment, which for one fragment is the whole SMILES. */
    char *whole = NULL;
    elign_error err;
    elign_error_clear(&err);
    c->valid = (int8_t)elign_rdkit_smiles_dup(pos, Z, n, rule, 0, &whole, &err);
    if (c->valid == ELIGN_RDKIT_ERROR)
      elign_debug("molecule %lld: RDKit: %s", (long long)m, err.msg);
    if (c->valid != ELIGN_RDKIT_VALID) continue;
    c->n_fragments = n > 0 ? count_fragments(whole) : 0;
    if (c->n_fragments <= 1) {
      c->smiles = whole;
      continue;
    }
    elign_free(whole);
    int rc = elign_rdkit_smiles_dup(pos, Z, n, rule, 1, &c->smiles, &err);
    if (rc != ELIGN_RDKIT_VALID) { /* cannot happen for a valid whole molecule; keep it visible if it does */
      elign_warn("molecule %lld: the whole molecule is valid but its largest fragment is not (%s)", (long long)m,
                 rc == ELIGN_RDKIT_ERROR ? err.msg : "sanitization failed");
      c->valid = (int8_t)(rc == ELIGN_RDKIT_ERROR ? ELIGN_RDKIT_ERROR : ELIGN_RDKIT_INVALID);
      c->n_fragments = 0;
    }
  }
}

void eval_chem_free(eval_chem *c, int64_t n) {
  if (!c) return;
  for (int64_t m = 0; m < n; m++) elign_free(c[m].smiles);
}

/* ---- input files ---------------------------------------------------------- */

uint64_t eval_fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static void read_dataset_split(eval_file *f, const char *split) {
  elign_dataset ds;
  elign_dataset_init(&ds);
  elign_error err;
  elign_error_clear(&err);
  if (elign_dataset_read(f->path, &ds, &err) != ELIGN_OK) {
    snprintf(f->error, sizeof f->error, "%s", err.msg);
  } else if (!split) {
    f->mols = ds.mols;
    elign_molset_init(&ds.mols);
  } else {
    const elign_split *sp = elign_dataset_find_split(&ds, split);
    if (!sp) {
      snprintf(f->error, sizeof f->error, "%s: dataset has no split '%s'", f->path, split);
    } else {
      elign_molset_init(&f->mols);
      for (int64_t k = 0; k < sp->n; k++) {
        int64_t m = sp->index[k], a0 = ds.mols.offsets[m];
        elign_molset_append(&f->mols, (int)elign_molset_natoms(&ds.mols, m), ds.mols.Z + a0, ds.mols.pos + 3 * a0,
                            ds.mols.ids ? ds.mols.ids[m] : -1, NULL);
      }
    }
  }
  elign_dataset_free(&ds);
}

void eval_file_load(eval_file *f, const char *path, const char *role, const char *split) {
  memset(f, 0, sizeof *f);
  f->path = path;
  f->role = role;
  f->journal_fd = -1;
  elign_molset_init(&f->mols);
  elign_error err;
  elign_error_clear(&err);
  hid_t h5;
  char format[64] = "";
  int version = 0;
  if (elign_h5_open_read(path, NULL, 0, &h5, format, &version, &err) != ELIGN_OK) {
    snprintf(f->error, sizeof f->error, "%s", err.msg);
    return;
  }
  H5Fclose(h5);
  if (strcmp(format, "samples") == 0) {
    if (elign_samples_read(path, &f->mols, NULL, NULL, &err) != ELIGN_OK) {
      snprintf(f->error, sizeof f->error, "%s", err.msg);
      elign_molset_free(&f->mols);
    }
  } else if (strcmp(format, "dataset") == 0) {
    read_dataset_split(f, split);
  } else {
    snprintf(f->error, sizeof f->error, "%s: %s%s%s, expected a samples or dataset file", path,
             format[0] ? "is an Elign-C " : "is not an Elign-C file", format, format[0] ? " file" : "");
  }
  if (f->error[0]) elign_molset_free(&f->mols);
}

void eval_file_prepare(eval_file *f, const eval_settings *s) {
  int64_t n = f->mols.n_mol;
  f->n_chunks = (n + s->chunk - 1) / s->chunk;
  size_t nm = (size_t)(n > 0 ? n : 1), nc = (size_t)(f->n_chunks > 0 ? f->n_chunks : 1);
  f->chem = elign_calloc(nm, sizeof *f->chem, "eval:chem");
  f->chem_done = elign_calloc(nc, 1, "eval:chem_done");
  f->n_backends = s->n_backends;
  for (int b = 0; b < s->n_backends; b++) {
    f->oracle[b] = elign_malloc(nm * sizeof *f->oracle[b], "eval:oracle");
    for (int64_t m = 0; m < n; m++) elign_relax_result_clear(&f->oracle[b][m], -1);
    f->oracle_done[b] = elign_calloc(nc, 1, "eval:oracle_done");
    for (int z = 0; z <= ELIGN_MAX_Z; z++) f->atom_energy[b][z] = NAN;
  }
  /* the journal's name: what the numbers depend on besides the backends */
  uint64_t h = EVAL_FNV_START;
  int32_t head[3] = {EVAL_VERSION, s->rule, s->chunk};
  h = eval_fnv1a(h, head, sizeof head);
  h = eval_fnv1a(h, &f->mols.n_mol, sizeof f->mols.n_mol);
  h = eval_fnv1a(h, f->mols.offsets, (size_t)(n + 1) * sizeof *f->mols.offsets);
  h = eval_fnv1a(h, f->mols.Z, (size_t)f->mols.n_atoms * sizeof *f->mols.Z);
  h = eval_fnv1a(h, f->mols.pos, 3 * (size_t)f->mols.n_atoms * sizeof *f->mols.pos);
  f->digest = h;
}

void eval_file_free(eval_file *f) {
  eval_journal_close(f);
  eval_chem_free(f->chem, f->chem ? f->mols.n_mol : 0);
  elign_free(f->chem);
  elign_free(f->chem_done);
  for (int b = 0; b < EVAL_MAX_BACKENDS; b++) {
    elign_free(f->oracle[b]);
    elign_free(f->oracle_done[b]);
  }
  elign_free(f->dft_index);
  elign_free(f->dft);
  elign_molset_free(&f->mols);
}

/* ---- the novelty reference ------------------------------------------------ */

/* SMILES of the split's molecules among [m0, m1) (in_split: bitmap over the file). */
static void train_smiles_block(const elign_molset *block, int64_t m0, const uint8_t *in_split, int rule,
                               elign_smiles_set *set, FILE *cache, int64_t *n_smiles, int64_t *n_errors) {
  for (int64_t k = 0; k < block->n_mol; k++) {
    if (!in_split[m0 + k]) continue;
    int64_t a0 = block->offsets[k], n = block->offsets[k + 1] - a0;
    char *smi = NULL;
    elign_error err;
    elign_error_clear(&err);
    int rc = elign_rdkit_smiles_dup(block->pos + 3 * a0, block->Z + a0, n, rule, 0, &smi, &err);
    if (rc == ELIGN_RDKIT_ERROR && (*n_errors)++ == 0)
      elign_warn("train molecule %lld: %s (left out of the novelty reference)", (long long)(m0 + k), err.msg);
    if (rc != ELIGN_RDKIT_VALID || n == 0) { /* EDM drops what it cannot sanitize; "" is no SMILES */
      elign_free(smi);
      continue;
    }
    elign_smiles_set_insert(set, smi, NULL);
    if (cache) fprintf(cache, "%s\n", smi);
    (*n_smiles)++;
    elign_free(smi);
  }
}

static void train_cache_path(const char *path, const char *split, int rule, const char *dir, char *out, size_t cap) {
  struct stat sb;
  memset(&sb, 0, sizeof sb);
  stat(path, &sb);
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  uint64_t h = EVAL_FNV_START;
  int64_t key[4] = {(int64_t)sb.st_size, (int64_t)sb.st_mtime, rule, EVAL_VERSION};
  h = eval_fnv1a(h, base, strlen(base));
  h = eval_fnv1a(h, split, strlen(split));
  h = eval_fnv1a(h, key, sizeof key);
  snprintf(out, cap, "%s/train_smiles.%016llx.txt", dir, (unsigned long long)h);
}

elign_status eval_train_smiles_from_dataset(const char *path, const char *split, int rule, const char *cache_dir,
                                            elign_smiles_set *set, int64_t *n_molecules, int64_t *n_smiles,
                                            elign_error *err) {
  *n_molecules = *n_smiles = 0;
  elign_dataset_index idx;
  memset(&idx, 0, sizeof idx);
  elign_status st = elign_dataset_read_index(path, &idx, err);
  if (st) return st;
  const elign_split *sp = elign_dataset_index_find_split(&idx, split);
  if (!sp) {
    elign_dataset_index_free(&idx);
    st = ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: no split '%s' for the novelty reference", path, split);
    elign_error_hint(err, "import the dataset with --split SPLIT.json, or give --train-smiles LIST");
    return st;
  }
  *n_molecules = sp->n;
  char cache_path[4096] = "";
  if (cache_dir) {
    train_cache_path(path, split, rule, cache_dir, cache_path, sizeof cache_path);
    int64_t lines = 0;
    elign_error cerr;
    elign_error_clear(&cerr);
    if (access(cache_path, R_OK) == 0 && elign_smiles_set_load(set, cache_path, &lines, &cerr) == ELIGN_OK) {
      *n_smiles = lines;
      elign_info("novelty reference: %lld SMILES of %s split %s (cached in %s)", (long long)lines, path, split,
                 cache_path);
      elign_dataset_index_free(&idx);
      return ELIGN_OK;
    }
  }
  uint8_t *in_split = elign_calloc((size_t)(idx.n_mol > 0 ? idx.n_mol : 1), 1, "eval:in_split");
  int64_t lo = idx.n_mol, hi = 0;
  for (int64_t k = 0; k < sp->n; k++) {
    in_split[sp->index[k]] = 1;
    if (sp->index[k] < lo) lo = sp->index[k];
    if (sp->index[k] + 1 > hi) hi = sp->index[k] + 1;
  }
  elign_atomic_file af;
  FILE *cache = NULL;
  if (cache_path[0] && elign_atomic_fopen(&af, cache_path, &cache, NULL) == ELIGN_OK)
    fprintf(cache, "# training-set SMILES for RDKit novelty (EDM qm9_smiles rule: whole molecules, invalid dropped)\n"
                   "# dataset %s split %s: %lld molecules; %s rule; RDKit %s; written by elign eval\n",
            path, split, (long long)sp->n, rule ? "GEOM" : "QM9", elign_rdkit_version());
  double t0 = elign_wtime();
  int64_t n_errors = 0;
  elign_progress prog;
  elign_progress_start(&prog, "novelty reference (train SMILES)", hi - lo, 10.0);
  for (int64_t m0 = lo; m0 < hi && st == ELIGN_OK; m0 += 65536) { /* bounded memory for large datasets */
    int64_t m1 = m0 + 65536 < hi ? m0 + 65536 : hi;
    elign_molset block;
    st = elign_dataset_read_range(path, m0, m1, &block, err);
    if (st) break;
    train_smiles_block(&block, m0, in_split, rule, set, cache, n_smiles, &n_errors);
    elign_molset_free(&block);
    elign_progress_update(&prog, m1 - lo);
  }
  elign_progress_finish(&prog);
  if (cache) {
    elign_error cerr;
    if (st == ELIGN_OK && elign_atomic_fclose(&af, cache, &cerr) != ELIGN_OK)
      elign_warn("could not keep the novelty reference: %s", cerr.msg);
    else if (st != ELIGN_OK) {
      fclose(cache);
      elign_atomic_discard(&af);
    }
  }
  if (st == ELIGN_OK)
    elign_info("novelty reference: %lld SMILES from %lld molecules of %s split %s in %.1f s (%lld RDKit errors)",
               (long long)*n_smiles, (long long)sp->n, path, split, elign_wtime() - t0, (long long)n_errors);
  elign_free(in_split);
  elign_dataset_index_free(&idx);
  return st;
}

/* ---- summaries ------------------------------------------------------------ */

eval_section *eval_summary_section(eval_summary *sum, const char *name) {
  for (int i = 0; i < sum->n; i++)
    if (strcmp(sum->s[i].name, name) == 0) return &sum->s[i];
  ELIGN_ASSERT(sum->n < EVAL_MAX_SECTIONS);
  eval_section *s = &sum->s[sum->n++];
  memset(s, 0, sizeof *s);
  snprintf(s->name, sizeof s->name, "%s", name);
  return s;
}

void eval_section_set(eval_section *sec, const char *key, double value) {
  for (int i = 0; i < sec->n; i++)
    if (strcmp(sec->m[i].key, key) == 0) {
      sec->m[i].value = value;
      return;
    }
  ELIGN_ASSERT(sec->n < EVAL_MAX_METRICS);
  snprintf(sec->m[sec->n].key, sizeof sec->m[sec->n].key, "%s", key);
  sec->m[sec->n++].value = value;
}

const eval_section *eval_summary_find(const eval_summary *sum, const char *name) {
  for (int i = 0; i < sum->n; i++)
    if (strcmp(sum->s[i].name, name) == 0) return &sum->s[i];
  return NULL;
}

double eval_section_get(const eval_section *sec, const char *key) {
  if (sec)
    for (int i = 0; i < sec->n; i++)
      if (strcmp(sec->m[i].key, key) == 0) return sec->m[i].value;
  return NAN;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double eval_median(double *v, int64_t n) {
  if (n <= 0) return NAN;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

/* mean, median and population std of v[0..n) (v is reordered) as key_mean, ... */
static void put_stats(eval_section *sec, const char *key, double *v, int64_t n, int with_std) {
  double sum = 0, sum2 = 0;
  for (int64_t i = 0; i < n; i++) sum += v[i];
  double mean = n ? sum / (double)n : NAN;
  for (int64_t i = 0; i < n; i++) sum2 += (v[i] - mean) * (v[i] - mean);
  char k[48];
  snprintf(k, sizeof k, "%s_mean", key);
  eval_section_set(sec, k, mean);
  snprintf(k, sizeof k, "%s_median", key);
  eval_section_set(sec, k, eval_median(v, n));
  if (with_std) {
    snprintf(k, sizeof k, "%s_std", key);
    eval_section_set(sec, k, n ? sqrt(sum2 / (double)n) : NAN);
  }
}

static void stability_section(const eval_file *f, int rule, eval_summary *out) {
  elign_stability_stats st;
  elign_stability_stats_init(&st);
  for (int64_t m = 0; m < f->mols.n_mol; m++)
    elign_stability_stats_add(&st, f->chem[m].stable, f->chem[m].n_stable_atoms, elign_molset_natoms(&f->mols, m));
  eval_section *s = eval_summary_section(out, "stability");
  eval_section_set(s, "n_molecules", (double)st.n_molecules);
  eval_section_set(s, "n_atoms", (double)st.n_atoms);
  eval_section_set(s, "n_stable_molecules", (double)st.n_stable_molecules);
  eval_section_set(s, "n_stable_atoms", (double)st.n_stable_atoms);
  eval_section_set(s, "atom_stable", st.n_molecules ? elign_stability_atom_pooled(&st) : NAN);
  eval_section_set(s, "mol_stable", st.n_molecules ? elign_stability_molecule(&st) : NAN);
  eval_section_set(s, "atom_stable_mean", st.n_molecules ? elign_stability_atom_mean(&st) : NAN);
  /* the corrected variant beside it (docs/stability.md): recomputed from the geometry, cheap */
  elign_stability_stats sc;
  elign_stability_stats_init(&sc);
  elign_molset_stability_corrected(&f->mols, rule, &sc);
  eval_section *c = eval_summary_section(out, "stability_corrected");
  eval_section_set(c, "n_stable_molecules", (double)sc.n_stable_molecules);
  eval_section_set(c, "n_stable_atoms", (double)sc.n_stable_atoms);
  eval_section_set(c, "atom_stable", sc.n_molecules ? elign_stability_atom_pooled(&sc) : NAN);
  eval_section_set(c, "mol_stable", sc.n_molecules ? elign_stability_molecule(&sc) : NAN);
  eval_section_set(c, "atom_stable_mean", sc.n_molecules ? elign_stability_atom_mean(&sc) : NAN);
}

static void rdkit_section(const eval_file *f, const elign_smiles_set *train, eval_summary *out) {
  int64_t n = f->mols.n_mol, n_valid = 0, n_errors = 0, n_connected = 0, n_novel = 0, n_stable = 0;
  for (int64_t m = 0; m < n; m++) {
    if (f->chem[m].valid == EVAL_RDKIT_NOT_RUN) return; /* a build without RDKit: no section */
    n_valid += f->chem[m].valid == ELIGN_RDKIT_VALID;
    n_errors += f->chem[m].valid == ELIGN_RDKIT_ERROR;
    n_connected += f->chem[m].valid == ELIGN_RDKIT_VALID && f->chem[m].n_fragments <= 1;
    n_stable += f->chem[m].stable;
  }
  /* EDM: distinct SMILES of the valid molecules; novel = distinct ones not in train */
  elign_smiles_set *uniq = elign_smiles_set_new();
  for (int64_t m = 0; m < n; m++)
    if (f->chem[m].valid == ELIGN_RDKIT_VALID) elign_smiles_set_insert(uniq, f->chem[m].smiles, NULL);
  int64_t n_unique = elign_smiles_set_size(uniq);
  if (train)
    for (int64_t u = 0; u < n_unique; u++) n_novel += elign_smiles_set_find(train, elign_smiles_set_get(uniq, u)) < 0;
  elign_smiles_set_free(&uniq);
  eval_section *s = eval_summary_section(out, "rdkit");
  double validity = ratio((double)n_valid, (double)n), uniqueness = n_valid ? (double)n_unique / (double)n_valid : 0;
  double mol_stable = ratio((double)n_stable, (double)n);
  eval_section_set(s, "n_valid", (double)n_valid);
  eval_section_set(s, "n_unique", (double)n_unique);
  eval_section_set(s, "n_novel", train ? (double)n_novel : NAN);
  eval_section_set(s, "n_connected", (double)n_connected);
  eval_section_set(s, "n_errors", (double)n_errors);
  eval_section_set(s, "validity", validity);
  eval_section_set(s, "uniqueness", n ? uniqueness : NAN);
  eval_section_set(s, "novelty", train ? (n_unique ? (double)n_novel / (double)n_unique : 0) : NAN);
  eval_section_set(s, "connected", ratio((double)n_connected, (double)n));
  eval_section_set(s, "validity_x_uniqueness", n ? validity * uniqueness : NAN);
  eval_section_set(s, "validity_x_uniqueness_x_stability", n ? validity * uniqueness * mol_stable : NAN);
  eval_section_set(s, "validity_x_uniqueness_x_novelty",
                   train && n ? validity * uniqueness * (n_unique ? (double)n_novel / (double)n_unique : 0) : NAN);
}

/* The corrected validity variant (docs/eval.md, docs/stability.md): RDKit
 * sanitizes the corrected graph (full bond orders for every rule, the aromatic
 * assignment, the formal charges) instead of EDM's; validity and uniqueness of
 * the largest fragments, as EDM's. Recomputed here (RDKit once more per molecule). */
static void rdkit_corrected_section(const eval_file *f, int rule, eval_summary *out) {
  if (!elign_rdkit_available()) return;
  int64_t n = f->mols.n_mol, n_valid = 0, n_stable = 0;
  elign_smiles_set *uniq = elign_smiles_set_new();
  for (int64_t m = 0; m < n; m++) {
    int64_t a0 = f->mols.offsets[m], na = f->mols.offsets[m + 1] - a0;
    int8_t *orders = elign_calloc((size_t)(na * na > 0 ? na * na : 1), 1, "eval:corrected_orders");
    int8_t *charges = elign_calloc((size_t)(na > 0 ? na : 1), 1, "eval:corrected_charges");
    n_stable += elign_molecule_graph_corrected(f->mols.pos + 3 * a0, f->mols.Z + a0, na, rule, orders, charges, NULL);
    char *smi = NULL;
    elign_error e;
    elign_error_clear(&e);
    if (elign_rdkit_smiles_graph(f->mols.Z + a0, charges, orders, na, 1, &smi, &e) == ELIGN_RDKIT_VALID) {
      n_valid++;
      elign_smiles_set_insert(uniq, smi, NULL);
    }
    elign_free(smi);
    elign_free(orders);
    elign_free(charges);
  }
  int64_t n_unique = elign_smiles_set_size(uniq);
  elign_smiles_set_free(&uniq);
  eval_section *s = eval_summary_section(out, "rdkit_corrected");
  double validity = ratio((double)n_valid, (double)n), uniqueness = n_valid ? (double)n_unique / (double)n_valid : 0;
  eval_section_set(s, "n_valid", (double)n_valid);
  eval_section_set(s, "n_unique", (double)n_unique);
  eval_section_set(s, "validity", validity);
  eval_section_set(s, "uniqueness", n ? uniqueness : NAN);
  eval_section_set(s, "validity_x_uniqueness", n ? validity * uniqueness : NAN);
  eval_section_set(s, "validity_x_uniqueness_x_stability", n ? validity * uniqueness * ratio((double)n_stable, (double)n) : NAN);
}

double eval_atomization_per_atom(const eval_file *f, int b, int64_t m) {
  const elign_relax_result *r = &f->oracle[b][m];
  int64_t a0 = f->mols.offsets[m], n = f->mols.offsets[m + 1] - a0;
  if (r->status != ELIGN_MOL_OK || n == 0) return NAN;
  double atoms = 0;
  for (int64_t a = a0; a < a0 + n; a++)
    atoms += elign_element_valid(f->mols.Z[a]) ? f->atom_energy[b][f->mols.Z[a]] : NAN;
  return (r->energy - atoms) / (double)n;
}

static void oracle_sections(const eval_file *f, const eval_settings *s, int b, eval_summary *out) {
  int64_t n = f->mols.n_mol, n_ok = 0;
  const elign_relax_result *r = f->oracle[b];
  double *v = elign_malloc((size_t)(n > 0 ? n : 1) * sizeof *v, "eval:stats");
  char name[64];
  snprintf(name, sizeof name, "oracle:%s", s->backends[b]);
  eval_section *sec = eval_summary_section(out, name);
  for (int64_t m = 0; m < n; m++) n_ok += r[m].status == ELIGN_MOL_OK;
  eval_section_set(sec, "n_ok", (double)n_ok);
  eval_section_set(sec, "n_failed", (double)(n - n_ok));
#define COLLECT(cond, expr)                     \
  do {                                          \
    k = 0;                                      \
    for (int64_t m = 0; m < n; m++)             \
      if (cond) v[k++] = (expr);                \
  } while (0)
  int64_t k;
  COLLECT(r[m].status == ELIGN_MOL_OK, r[m].energy);
  put_stats(sec, "energy", v, k, 1);
  COLLECT(r[m].status == ELIGN_MOL_OK && elign_molset_natoms(&f->mols, m) > 0,
          r[m].energy / (double)elign_molset_natoms(&f->mols, m));
  put_stats(sec, "energy_per_atom", v, k, 1);
  /* what the elements do not explain: two models' mean energy per atom differs by
   * ~1000 eV per carbon they trade for a hydrogen, their atomization energy does not */
  k = 0;
  for (int64_t m = 0; m < n; m++) { /* each molecule's sum over its atoms once */
    double x = eval_atomization_per_atom(f, b, m);
    if (isfinite(x)) v[k++] = x;
  }
  put_stats(sec, "atomization_energy_per_atom", v, k, 1);
  COLLECT(r[m].status == ELIGN_MOL_OK, r[m].fmax);
  put_stats(sec, "fmax", v, k, 1);
  COLLECT(r[m].status == ELIGN_MOL_OK, r[m].frms);
  put_stats(sec, "frms", v, k, 1);
  if (s->relax) {
    snprintf(name, sizeof name, "relax:%s", s->backends[b]);
    sec = eval_summary_section(out, name);
    int64_t tried = 0, conv = 0, maxed = 0, failed = 0;
    for (int64_t m = 0; m < n; m++) {
      tried += r[m].outcome != ELIGN_RELAX_NOT_RUN;
      conv += r[m].outcome == ELIGN_RELAX_CONVERGED;
      maxed += r[m].outcome == ELIGN_RELAX_MAX_STEPS;
      failed += r[m].outcome == ELIGN_RELAX_FAILED;
    }
    eval_section_set(sec, "n_relaxed", (double)tried);
    eval_section_set(sec, "n_converged", (double)conv);
    eval_section_set(sec, "n_max_steps", (double)maxed);
    eval_section_set(sec, "n_failed", (double)failed);
    eval_section_set(sec, "converged", ratio((double)conv, (double)tried));
    /* "finished": converged or out of steps, i.e. a final point exists */
#define FINISHED (r[m].outcome == ELIGN_RELAX_CONVERGED || r[m].outcome == ELIGN_RELAX_MAX_STEPS)
    COLLECT(r[m].outcome == ELIGN_RELAX_CONVERGED, (double)r[m].steps);
    put_stats(sec, "steps", v, k, 0);
    COLLECT(FINISHED, r[m].energy - r[m].energy_final);
    put_stats(sec, "strain", v, k, 1);
    COLLECT(FINISHED && elign_molset_natoms(&f->mols, m) > 0,
            (r[m].energy - r[m].energy_final) / (double)elign_molset_natoms(&f->mols, m));
    put_stats(sec, "strain_per_atom", v, k, 1);
    COLLECT(FINISHED, r[m].rmsd);
    put_stats(sec, "rmsd", v, k, 0);
    COLLECT(FINISHED && isfinite(r[m].rmsd_heavy), r[m].rmsd_heavy);
    put_stats(sec, "rmsd_heavy", v, k, 0);
    COLLECT(FINISHED, r[m].drms);
    put_stats(sec, "drms", v, k, 0);
    COLLECT(FINISHED, r[m].fmax_final);
    put_stats(sec, "fmax_final", v, k, 0);
#undef FINISHED
  }
#undef COLLECT
  elign_free(v);
}

/* The DFT check: outcomes, formation energy per atom and forces over the OK molecules. */
static void dft_section(const eval_file *f, eval_summary *out) {
  int64_t n = f->n_dft, n_ok = 0, n_timeout = 0, n_not_run = 0, k = 0;
  double *v = elign_malloc((size_t)(n > 0 ? n : 1) * sizeof *v, "eval:dft_stats");
  for (int64_t i = 0; i < n; i++) {
    n_ok += f->dft[i].status == ELIGN_MOL_OK;
    n_timeout += f->dft[i].status == ELIGN_MOL_TIMEOUT;
    n_not_run += f->dft[i].status < 0;
  }
  eval_section *sec = eval_summary_section(out, "dft");
  eval_section_set(sec, "n_molecules", (double)n);
  eval_section_set(sec, "n_ok", (double)n_ok);
  eval_section_set(sec, "n_failed", (double)(n - n_ok - n_not_run));
  eval_section_set(sec, "n_timeout", (double)n_timeout);
  for (int64_t i = 0; i < n; i++)
    if (f->dft[i].status == ELIGN_MOL_OK && isfinite(f->dft[i].formation_energy)) v[k++] = f->dft[i].formation_energy;
  put_stats(sec, "formation_energy_per_atom", v, k, 1);
  k = 0;
  for (int64_t i = 0; i < n; i++)
    if (f->dft[i].status == ELIGN_MOL_OK) v[k++] = f->dft[i].frms;
  put_stats(sec, "frms", v, k, 1);
  k = 0;
  for (int64_t i = 0; i < n; i++)
    if (f->dft[i].status == ELIGN_MOL_OK) v[k++] = f->dft[i].fmax;
  put_stats(sec, "fmax", v, k, 1);
  elign_free(v);
}

void eval_summary_of_file(const eval_file *f, const eval_settings *s, const elign_smiles_set *train,
                          eval_summary *out) {
  memset(out, 0, sizeof *out);
  stability_section(f, s->rule, out);
  rdkit_section(f, train, out);
  rdkit_corrected_section(f, s->rule, out);
  for (int b = 0; b < s->n_backends; b++) oracle_sections(f, s, b, out);
  if (s->dft_n > 0) dft_section(f, out);
}

void eval_summary_seeds(const eval_summary *const *files, int n, eval_summary *mean, eval_summary *std) {
  memset(mean, 0, sizeof *mean);
  memset(std, 0, sizeof *std);
  if (n <= 0) return;
  const eval_summary *first = files[0];
  for (int i = 0; i < first->n; i++) {
    const eval_section *sec = &first->s[i];
    eval_section *ms = eval_summary_section(mean, sec->name), *ss = eval_summary_section(std, sec->name);
    for (int j = 0; j < sec->n; j++) {
      double sum = 0, sum2 = 0;
      int k = 0;
      for (int f = 0; f < n; f++) {
        double x = eval_section_get(eval_summary_find(files[f], sec->name), sec->m[j].key);
        if (isfinite(x)) sum += x, k++;
      }
      double mu = k ? sum / k : NAN;
      for (int f = 0; f < n; f++) {
        double x = eval_section_get(eval_summary_find(files[f], sec->name), sec->m[j].key);
        if (isfinite(x)) sum2 += (x - mu) * (x - mu);
      }
      eval_section_set(ms, sec->m[j].key, mu);
      eval_section_set(ss, sec->m[j].key, k > 1 ? sqrt(sum2 / (k - 1)) : NAN);
    }
  }
}

void eval_summary_diff(const eval_summary *a, const eval_summary *b, eval_summary *out) {
  memset(out, 0, sizeof *out);
  for (int i = 0; i < a->n; i++) {
    const eval_section *sb = eval_summary_find(b, a->s[i].name);
    if (!sb) continue;
    eval_section *d = eval_summary_section(out, a->s[i].name);
    for (int j = 0; j < a->s[i].n; j++) {
      double y = eval_section_get(sb, a->s[i].m[j].key);
      eval_section_set(d, a->s[i].m[j].key, a->s[i].m[j].value - y);
    }
  }
}
