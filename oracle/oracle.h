/* oracle.h — energy/force oracles behind one interface ("styles").
 *
 * A backend turns a batch of molecules (atomic numbers, positions in Å) into
 * energies (eV), forces (eV/Å) and one status per molecule. A molecule the
 * backend cannot evaluate (unsupported element, overlapping atoms, NaN
 * coordinate, SCF failure, time limit) is flagged in its status and the rest
 * of the batch is unaffected; only a failure of the whole backend (cannot
 * load the model, Python module missing) returns an error status.
 *
 * Backends are chosen by name from one registry table (oracle_backends.c); an unknown
 * name lists the valid ones. Adding a backend = one file + one table line.
 */
#ifndef ELIGN_ORACLE_H
#define ELIGN_ORACLE_H

#include <stdint.h>

#include "common/base/error.h"

/* Per-molecule outcome. Append only (values go into files and messages). */
typedef enum {
  ELIGN_MOL_OK = 0,
  ELIGN_MOL_UNSUPPORTED_ELEMENT = 1, /* an element the model does not cover */
  ELIGN_MOL_OVERLAP = 2,             /* two atoms closer than the backend's minimum distance */
  ELIGN_MOL_NONFINITE_INPUT = 3,     /* NaN/Inf coordinate */
  ELIGN_MOL_NOT_CONVERGED = 4,       /* SCF / iterative solver did not converge */
  ELIGN_MOL_TIMEOUT = 5,             /* per-molecule time limit exceeded */
  ELIGN_MOL_BACKEND_ERROR = 6,       /* the backend raised for this molecule */
  ELIGN_MOL_NONFINITE_OUTPUT = 7,    /* the backend returned NaN/Inf */
  ELIGN_MOL_EMPTY = 8                /* zero atoms */
} elign_mol_status;

const char *elign_mol_status_string(elign_mol_status status);

/* Input batch, packed without padding (molecule m = atoms offsets[m] .. offsets[m+1]-1). */
typedef struct {
  int64_t n_mol;
  const int64_t *offsets; /* [n_mol + 1] */
  const int32_t *Z;       /* [n_atoms] atomic numbers */
  const double *pos;      /* [n_atoms][3] Å */
  const int *charge;      /* [n_mol] total charge, or NULL = all neutral */
  const int *multiplicity;/* [n_mol] spin multiplicity 2S+1, or NULL = all singlets */
  int channel;            /* which of a server's oracles answers (0 = the primary; `elign train` sends its
                             independent judges on 1, 2, ...: learner/judges.h); backends ignore it */
} elign_oracle_batch;

/* Output, allocated by the caller for the batch's sizes. On a flagged
 * molecule the backend sets energy 0 and forces 0 and the status. */
typedef struct {
  double *energy;            /* [n_mol] eV (total energy as the backend defines it) */
  double *forces;            /* [n_atoms][3] eV/Å, or NULL if not wanted */
  elign_mol_status *status;  /* [n_mol] */
} elign_oracle_result;

/* Settings a backend may read (from the config's oracle.* keys or the CLI).
 * Unused fields are ignored by backends that do not need them. */
typedef struct {
  const char *model_dir;       /* ANI: model-zoo directory (holds resources/…) */
  const char *model;           /* ANI: "ani-2x", "ani-1x", "ani-1ccx"; xtb: unused */
  const char *scratch_dir;     /* per-rank scratch root (xtb topology files, DFT caches) */
  const char *python_module;   /* python backend: module name */
  const char *python_function; /* python backend: function name */
  const char *python_path;     /* python backend: extra sys.path entry (or NULL) */
  const char *method;          /* DFT: e.g. "b3lyp"; python adapters may read it */
  const char *basis;           /* DFT: e.g. "6-31g(d)" */
  double time_limit;           /* seconds per molecule, 0 = none */
  double min_distance;         /* Å: closer pairs are flagged ELIGN_MOL_OVERLAP (0 = backend default, <0 = no check) */
  int threads;                 /* threads the backend may use (0 = OMP_NUM_THREADS) */
  int rank;                    /* MPI world rank (scratch naming) */
  int max_iterations;          /* SCF iteration limit (xtb, DFT adapters); 0 = backend default */
  int xtb_retry;               /* gfn2-xtb after an SCF failure: ELIGN_XTB_RETRY_* (0 = the default ladder) */
  double xtb_retry_etemp;      /* K: the retry's electronic temperature (0 = ELIGN_XTB_RETRY_ETEMP_DEFAULT) */
} elign_oracle_options;

/* The gfn2-xtb retry ladder (oracle.xtb_retry): a molecule whose SCF does not
 * converge is tried again at a higher electronic temperature (Fermi smearing
 * helps a small-gap SCF converge), then with GFN-FF (no SCF at all), each
 * attempt logged. GFN-FF's energies are not on GFN2's scale: an energy reward
 * should stop at the electronic temperature (docs/oracles.md). */
enum {
  ELIGN_XTB_RETRY_DEFAULT = 0,     /* = ELIGN_XTB_RETRY_ETEMP_GFNFF */
  ELIGN_XTB_RETRY_NONE = 1,        /* a failed SCF is flagged at once */
  ELIGN_XTB_RETRY_ETEMP = 2,       /* one retry at xtb_retry_etemp */
  ELIGN_XTB_RETRY_ETEMP_GFNFF = 3  /* ... then GFN-FF */
};
#define ELIGN_XTB_RETRY_ETEMP_DEFAULT 3000.0

typedef struct elign_oracle elign_oracle;

/* The table every backend fills (LAMMPS-style "style"). Optional slots say so. */
typedef struct {
  const char *name;    /* registry name, e.g. "ani", "gfn2-xtb", "gfn-ff", "python" */
  const char *summary; /* one line for listings */
  elign_status (*create)(const elign_oracle_options *opt, void **state, elign_error *err);
  /* (optional) 1 if the backend can evaluate element Z; NULL = every element */
  int (*supports)(const void *state, int Z);
  /* Evaluate a batch. Called only with molecules that passed the common
   * input checks (elign_oracle_evaluate hands the backend a batch of the
   * surviving molecules; a backend called directly should still defend its
   * inputs). Per-molecule failures go into result->status, never the return
   * value, which is reserved for a failure of the whole backend. */
  elign_status (*evaluate)(void *state, const elign_oracle_batch *batch, elign_oracle_result *result,
                           elign_error *err);
  void (*destroy)(void *state); /* accepts NULL */
  /* Å: overlap threshold used by the common checks when options.min_distance
   * is 0. 0 = no overlap check by the registry (the backend does its own). */
  double default_min_distance;
} elign_oracle_backend;

/* Registry. */
const elign_oracle_backend *elign_oracle_backend_find(const char *name);
/* The i-th registered backend (0-based), NULL past the end (for listings). */
const elign_oracle_backend *elign_oracle_backend_at(int i);
/* Comma-separated list of registered names (static buffer) for messages. */
const char *elign_oracle_backend_names(void);

/* Lifecycle of one oracle instance. */
elign_status elign_oracle_create(const char *backend_name, const elign_oracle_options *opt, elign_oracle **out,
                                 elign_error *err);
/* Evaluates after the common input checks (non-finite coordinates, empty,
 * unsupported elements, overlapping atoms): those molecules are flagged and
 * never reach the backend. */
elign_status elign_oracle_evaluate(elign_oracle *oracle, const elign_oracle_batch *batch,
                                   elign_oracle_result *result, elign_error *err);
/* Frees and clears *oracle. Accepts NULL and *oracle == NULL. */
void elign_oracle_destroy(elign_oracle **oracle);

/* All fields zero/NULL (= every default). */
void elign_oracle_options_init(elign_oracle_options *opt);

/* Options from the config's oracle.*, dft.* and mpi.threads_per_rank keys
 * (oracle_config.c); the backend name itself is oracle.backend. String fields
 * point into cfg, which must outlive opt. */
struct elign_config;
void elign_oracle_options_from_config(const struct elign_config *cfg, elign_oracle_options *opt);
/* Command-line flags over config values: every path / name flag given in
 * `flags` (non-NULL) replaces the one in `opt`, and min_distance when
 * min_distance_given (the `--config` + flags rule of oracle and eval). */
void elign_oracle_options_apply_flags(elign_oracle_options *opt, const elign_oracle_options *flags,
                                      int min_distance_given);

/* An oracle named the way users name judges and evaluation oracles: a backend
 * ("gfn2-xtb"), an ANI model ("ani-1ccx": backend ani with that model), or
 * "BACKEND:ARG" ("ani:ani-1x", "python:stretch": the ANI model or the Python
 * function). One parser, so train.judges and `elign eval --oracle` accept the
 * same names. */
typedef struct {
  char spec[64];    /* as written */
  char backend[32]; /* registry name */
  char arg[64];     /* ANI model / Python function; "" = the options' own */
} elign_oracle_spec;
/* Fails naming `what` (e.g. "train.judges", "--oracle") and the entry: too long,
 * not a backend, an unknown ANI model. */
elign_status elign_oracle_spec_parse(const char *text, const char *what, elign_oracle_spec *spec, elign_error *err);
/* 1 if text names an ANI model (ani-2x, ani-1x, ani-1ccx). */
int elign_oracle_is_ani_model(const char *text);
/* The options for this spec: base with the ANI model or Python function of its
 * ARG (pointing into spec, which must outlive the result). */
elign_oracle_options elign_oracle_spec_options(const elign_oracle_spec *spec, const elign_oracle_options *base);

/* The common input checks for one molecule of n atoms, in this order:
 * n == 0 → EMPTY; a NaN/Inf coordinate → NONFINITE_INPUT; supports(state, Z)
 * false (skipped if supports is NULL) → UNSUPPORTED_ELEMENT; a pair closer
 * than min_distance Å (skipped if min_distance <= 0) → OVERLAP; else OK.
 * Z [n], pos [n][3] Å. Exposed so servers and backends can reuse it. */
elign_mol_status elign_oracle_check_molecule(const elign_oracle_backend *backend, const void *state, int64_t n,
                                             const int32_t *Z, const double *pos, double min_distance);

/* 1 if every energy and force of a molecule is finite. forces may be NULL. */
int elign_oracle_result_finite(double energy, const double *forces, int64_t n);

/* Units: CODATA 2014 as ASE/TorchANI use them. */
#define ELIGN_HARTREE_EV 27.211386024367243
#define ELIGN_BOHR_ANGSTROM 0.52917721067

/* Default overlap threshold (Å) for backends without their own. */
#define ELIGN_ORACLE_DEFAULT_MIN_DISTANCE 0.5

#endif
