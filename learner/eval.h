/* eval.h — `elign eval`: how good a set of generated molecules is.
 *
 * Per molecule (docs/eval.md has the exact definitions and sources):
 *   chemistry   EDM's stability (stable, stable atoms), RDKit validity, the
 *               largest fragment's canonical SMILES, the fragment count
 *               (eval_chem_compute; common/chem/stability.h, rdkit_metrics.h);
 *   per oracle  energy, largest and RMS force at the given geometry and,
 *               optionally, a local relaxation (oracle/relax.h): strain
 *               energy, Kabsch RMSD, steps, residual force.
 * Per file, these become a summary of named sections (eval_summary_of_file):
 *   "stability", "rdkit", "oracle:<backend>", "relax:<backend>"
 * each a list of named numbers. Several files of the same model (seeds)
 * give a mean and a spread per number (eval_summary_seeds); a baseline gives
 * differences (eval_summary_diff). Later evaluations (DFT, guidance, step
 * sweeps) add sections of their own and are aggregated the same way.
 *
 * Files are read by rank 0; the chemistry runs there; the oracle work goes
 * through an oracle client (oracle ranks or in-process). Results of each
 * chunk of molecules are appended to a per-file journal (eval_journal.c) the
 * moment they exist, so an interrupted evaluation resumes where it stopped.
 */
#ifndef ELIGN_LEARNER_EVAL_H
#define ELIGN_LEARNER_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "common/base/error.h"
#include "common/chem/elements.h"
#include "common/chem/geomopt.h"
#include "common/chem/molset.h"
#include "common/chem/smiles_set.h"
#include "oracle/oracle.h"
#include "oracle/relax.h"

#define EVAL_MAX_BACKENDS 8
#define EVAL_MAX_SECTIONS 24
#define EVAL_MAX_METRICS 40
#define EVAL_VERSION 1

/* ---- settings ------------------------------------------------------------ */

typedef struct {
  int rule;                                /* ELIGN_RDKIT_RULE_QM9 / _GEOM (same values as stability's geom_rule) */
  int chunk;                               /* molecules per chunk: oracle request, journal record */
  int n_backends;
  char backends[EVAL_MAX_BACKENDS][32];    /* oracle backend names, in the order given */
  char backend_keys[EVAL_MAX_BACKENDS][17];/* hex digest of everything that shapes a backend's numbers */
  int relax;                               /* relax with every backend */
  elign_geomopt_options opt;               /* the optimiser of --relax */
  /* the DFT check (--dft N; eval_dft.c) */
  int64_t dft_n;                           /* molecules per file sent to DFT, 0 = none */
  int dft_seeded;                          /* 1: a seeded choice of dft_n molecules, 0: the first dft_n */
  uint64_t dft_seed;
  char dft_method[64], dft_basis[64], dft_module[64]; /* functional, basis, adapter module */
  double dft_time_limit;                   /* s per molecule (0 = none) */
  char dft_key[17];                        /* digest of what shapes the DFT numbers (journal records) */
} eval_settings;

/* ---- per molecule -------------------------------------------------------- */

/* RDKit outcome of a molecule (the values of elign_rdkit_smiles, plus one). */
enum { EVAL_RDKIT_NOT_RUN = -2 };

typedef struct {
  int8_t stable;          /* EDM molecule stability */
  int8_t valid;           /* ELIGN_RDKIT_VALID 1, INVALID 0, ERROR -1, EVAL_RDKIT_NOT_RUN */
  int32_t n_stable_atoms;
  int32_t n_fragments;    /* fragments of the whole RDKit molecule (valid only; else 0) */
  char *smiles;           /* largest fragment's canonical SMILES (valid only; else NULL) */
} eval_chem;

/* Chemistry of molecules [m0, m1) of a set into out[0 .. m1-m0) (smiles
 * elign_malloc'ed; free with eval_chem_free). RDKit errors (an element the
 * rule does not know) are per molecule (valid = -1), never a failure. */
void eval_chem_compute(const elign_molset *mols, int64_t m0, int64_t m1, int rule, eval_chem *out);
void eval_chem_free(eval_chem *c, int64_t n);

/* DFT single point of one molecule (eval_dft.c). */
typedef struct {
  int32_t status;          /* elign_mol_status; -1 = not evaluated yet */
  double energy;           /* eV, total (NaN unless OK) */
  double formation_energy; /* eV/atom, (E − Σ E_atom)/n (NaN unless OK and every atom's energy is known) */
  double frms, fmax;       /* eV/Å (NaN unless OK) */
} eval_dft;

/* ---- one input file ------------------------------------------------------ */

typedef struct {
  const char *path;            /* as given on the command line */
  const char *role;            /* "samples" or "ref" */
  char error[ELIGN_ERROR_MSG_LEN + 64]; /* why it could not be read, or "" */
  elign_molset mols;
  uint64_t digest;             /* molecules + rule + chunk: names the journal */
  int64_t n_chunks;
  eval_chem *chem;             /* [n_mol] */
  uint8_t *chem_done;          /* [n_chunks] */
  int n_backends;
  elign_relax_result *oracle[EVAL_MAX_BACKENDS]; /* [n_mol] per backend */
  uint8_t *oracle_done[EVAL_MAX_BACKENDS];       /* [n_chunks] */
  double atom_energy[EVAL_MAX_BACKENDS][ELIGN_MAX_Z + 1]; /* lone atoms under each backend, eV (NaN: unknown) */
  int64_t n_dft;               /* molecules chosen for DFT */
  int64_t *dft_index;          /* [n_dft] their indices, ascending */
  eval_dft *dft;               /* [n_dft] */
  /* the journal */
  char journal_path[4096];
  int journal_fd;              /* append-only, -1 when closed */
  int64_t resumed_chunks, resumed_records, bad_records; /* read back at open */
  int64_t evaluated_molecules; /* chem + oracle molecule evaluations done in this run */
} eval_file;

/* Read a samples file (or the `split` of a dataset file, all of it when
 * split is NULL) into f->mols. A file that cannot be read is not an error
 * here: f->error says why and the evaluation goes on without it. */
void eval_file_load(eval_file *f, const char *path, const char *role, const char *split);
/* Allocate the per-molecule arrays for the settings (after rule and chunk
 * are fixed) and compute the digest. */
void eval_file_prepare(eval_file *f, const eval_settings *s);
void eval_file_free(eval_file *f);

/* ---- journal (eval_journal.c) ---------------------------------------------
 * <run_dir>/<basename>.<digest>.jsonl: a header line, then one line per
 * finished chunk and section, each "<crc32 hex> <json>\n", appended with one
 * write() and fsync'ed. Open reads back every intact record whose section
 * (chemistry, or a backend with the same settings key) the run still wants;
 * a torn or corrupt line is skipped (counted in bad_records). restart = 1
 * starts the journal afresh. */
elign_status eval_journal_open(eval_file *f, const eval_settings *s, const char *run_dir, int restart,
                               elign_error *err);
elign_status eval_journal_add_chem(eval_file *f, int64_t chunk, int64_t m0, int64_t m1, elign_error *err);
elign_status eval_journal_add_oracle(eval_file *f, const eval_settings *s, int backend, int64_t chunk, int64_t m0,
                                     int64_t m1, elign_error *err);
/* One DFT molecule: the k-th of f->dft_index (records are per molecule: DFT is slow). */
elign_status eval_journal_add_dft(eval_file *f, const eval_settings *s, int64_t k, elign_error *err);
void eval_journal_close(eval_file *f);

/* ---- the DFT check (eval_dft.c) ------------------------------------------------ */

/* Which molecules of f go to DFT: the first s->dft_n, or a choice of that many
 * drawn without replacement from the Philox stream (dft_seed, purpose
 * ELIGN_RNG_EVAL_CHOICE), ascending. Allocates f->dft* (all not evaluated).
 * Call after eval_file_prepare, before eval_journal_open. */
void eval_dft_choose(eval_file *f, const eval_settings *s);

/* Spin multiplicity sent with a molecule: 1 with an even electron count, 2 with an odd one. */
int eval_dft_multiplicity(const int32_t *Z, int64_t n);

/* Every missing DFT molecule of every file through client c (the DFT ranks,
 * or in-process): first the isolated atoms of the elements involved (lone
 * neutral atoms at their ground-state multiplicity: the dft backend answers
 * them from its per-method cache; the formation energies of molecules read
 * back from the journal are recomputed from them), then the molecules one per request, up to
 * `window` in flight. done(ctx, f, k) is called as each molecule finishes
 * (journal it there); a molecule the backend flags (time limit, SCF, overlap)
 * keeps its status and the run goes on. */
typedef elign_status (*eval_dft_done_fn)(void *ctx, eval_file *f, int64_t k, elign_error *err);
struct elign_oracle_client;
elign_status eval_dft_run(eval_file *files, int n_files, const eval_settings *s, struct elign_oracle_client *c,
                          int window, eval_dft_done_fn done, void *ctx, elign_error *err);

/* Formation energy per atom, force RMS and largest force from a DFT result:
 * e_atom[Z] in eV (NaN where unknown). */
void eval_dft_fill(eval_dft *d, elign_mol_status status, double energy, const double *forces, const int32_t *Z,
                   int64_t n, const double *e_atom);

/* 64-bit FNV-1a, continued from h (start with EVAL_FNV_START). */
#define EVAL_FNV_START 0xcbf29ce484222325ULL
uint64_t eval_fnv1a(uint64_t h, const void *data, size_t n);

/* ---- novelty reference ----------------------------------------------------- */

/* The training-set SMILES EDM compares against (ALGORITHMS.md §3.5): the
 * whole-molecule canonical SMILES of every molecule of `split` of a dataset
 * file, invalid molecules dropped, by the bond rule `rule`. cache_dir (may
 * be NULL): the list is kept there (tools/train_smiles.py's format), keyed by
 * the dataset's size and modification time, and read back next time.
 * *n_molecules / *n_smiles: molecules of the split, SMILES kept. */
elign_status eval_train_smiles_from_dataset(const char *path, const char *split, int rule, const char *cache_dir,
                                            elign_smiles_set *set, int64_t *n_molecules, int64_t *n_smiles,
                                            elign_error *err);

/* Atomization energy per atom of molecule m under backend b, (E − Σ E_atom)/n
 * with f->atom_energy[b]: NaN unless the molecule was evaluated and every
 * element's lone-atom energy is known. */
double eval_atomization_per_atom(const eval_file *f, int b, int64_t m);

/* ---- summaries ------------------------------------------------------------- */

typedef struct {
  char key[48];
  double value; /* NaN = not defined (written as null) */
} eval_metric;

typedef struct {
  char name[64]; /* "stability", "rdkit", "oracle:ani", "relax:ani", ... */
  int n;
  eval_metric m[EVAL_MAX_METRICS];
} eval_section;

typedef struct {
  int n;
  eval_section s[EVAL_MAX_SECTIONS];
} eval_summary;

eval_section *eval_summary_section(eval_summary *sum, const char *name); /* added if absent */
void eval_section_set(eval_section *sec, const char *key, double value);
/* NULL / NaN when absent. */
const eval_section *eval_summary_find(const eval_summary *sum, const char *name);
double eval_section_get(const eval_section *sec, const char *key);

/* The sections of one evaluated file. train may be NULL (novelty undefined). */
void eval_summary_of_file(const eval_file *f, const eval_settings *s, const elign_smiles_set *train,
                          eval_summary *out);

/* Over several files of one model (seeds): per metric the mean and the
 * sample standard deviation (n − 1; NaN for one file) of the finite values,
 * sections and keys in the order of the first summary. */
void eval_summary_seeds(const eval_summary *const *files, int n, eval_summary *mean, eval_summary *std);

/* a − b for every metric both have. */
void eval_summary_diff(const eval_summary *a, const eval_summary *b, eval_summary *out);

/* Median of v[0..n) (v is reordered); NaN for n = 0. */
double eval_median(double *v, int64_t n);

/* ---- energies at equal composition (eval_formula.c) ------------------------
 * A model that moves its element mix moves every energy per atom with it
 * (by different amounts under different judges); molecules of the same
 * formula have no such bias. Per backend a section "same_formula:<backend>":
 * over the formulas found among the successful single points of both sides
 * (files of a side pooled), d = mean energy per atom of the samples' ones −
 * the ref's; formulas, pairs (Σ min(n_samples, n_ref)), samples_matched (the
 * fraction of the samples' molecules in those formulas), energy_per_atom_diff
 * (d averaged with weight min(n_samples, n_ref)), energy_per_atom_diff_median
 * (over formulas), frms_diff (the same for the RMS force), formulas_lower
 * (fraction with d < 0) and sign_test_p (two-sided, formulas with d ≠ 0). */
void eval_same_formula(eval_file *const *samples, int n_samples, eval_file *const *ref, int n_ref,
                       const eval_settings *s, eval_summary *out);
/* Two-sided sign test: P(a split at least as uneven as k of n) with p = 1/2 per formula; NaN for n = 0. */
double eval_sign_test_p(int64_t k, int64_t n);

/* ---- outputs (eval_report.c) ---------------------------------------------- */

typedef struct {
  const eval_settings *settings;
  const char *rdkit_version;
  const char *train_source;       /* "dataset D.h5 split train", "list F", or NULL */
  int64_t train_molecules, train_smiles;
  eval_file **samples;            /* the files of the model under test */
  int n_samples;
  eval_file **ref;                /* the baseline's files (--ref), may be 0 */
  int n_ref;
  const elign_smiles_set *train;
  const elign_oracle_options *oracle_opt; /* the options every backend got (provenance), may be NULL */
} eval_report;

/* The JSON summary (atomic write). */
elign_status eval_write_json(const eval_report *r, const char *path, elign_error *err);
/* The per-molecule table as CSV (atomic write). */
elign_status eval_write_csv(const eval_report *r, const char *path, elign_error *err);
/* The side-by-side table (model, baseline, difference) to out. */
void eval_print_table(const eval_report *r, FILE *out);

#endif
