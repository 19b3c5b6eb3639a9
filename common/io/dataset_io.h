/* dataset_io.h — molecule files on disk: datasets, sample files and oracle
 * results (layouts in docs/formats.md), read into / written from elign_molset.
 *
 * All three kinds share the packed molecule layout: /offsets int64 [n_mol+1],
 * /atomic_numbers int32 [n_atoms], /positions float64 [n_atoms,3] (Å), optional
 * /ids, /smiles, /energy (eV), /forces (eV/Å), plus /nodes_hist (atom-count
 * histogram) and /element_hist. Every write is atomic (temporary name +
 * rename); every read validates the format attribute and array sizes.
 */
#ifndef ELIGN_DATASET_IO_H
#define ELIGN_DATASET_IO_H

#include <mpi.h>
#include <stdint.h>

#include "common/base/provenance.h"
#include "common/base/error.h"
#include "common/chem/elements.h"
#include "common/chem/hist.h"
#include "common/chem/molset.h"

/* Version 2: checksummed storage and fixed-length strings (h5io.h); the
 * layouts are those of version 1, whose files are refused
 * (tools/h5_upgrade.py converts them). */
#define ELIGN_DATASET_VERSION 2
#define ELIGN_SAMPLES_VERSION 2
#define ELIGN_ORACLE_RESULTS_VERSION 2
#define ELIGN_DENOISE_VERSION 2 /* denoise_states and denoise_output (elign denoise) */

/* ---- histograms (computed by common/chem/hist.h) ------------------------ */
/* The stored /nodes_hist and /element_hist of an open dataset/samples/oracle
 * file (label names it in messages). */
elign_status elign_h5_read_hists(int64_t file_id, const char *label, elign_hist *nodes, elign_hist *elements,
                                 elign_error *err);

/* ---- datasets --------------------------------------------------------------- */
/* One per-molecule scalar property stored as /properties/<name> (e.g. QM9's U0
 * in Hartree, or qm9like's mmff_energy in kcal/mol), kept in the source's unit. */
typedef struct {
  char name[64];
  char unit[32];         /* as the source states it, "" if unknown */
  char description[160];
  double *values;        /* [n_mol]; NaN where a molecule lacks it */
  int64_t n;             /* length of values (n_mol of the dataset) */
} elign_mol_property;

/* Named subset: molecule indices (0-based positions in the file, ascending). */
typedef struct {
  char name[64];
  int64_t n;
  int64_t *index;
} elign_split;

typedef struct {
  elign_molset mols;
  char source[512];            /* where the molecules came from (input file names) */
  char energy_description[160];/* what /energy is, if present */
  int n_props;
  elign_mol_property *props;
  int n_splits;
  elign_split *splits;
} elign_dataset;

void elign_dataset_init(elign_dataset *ds);
void elign_dataset_free(elign_dataset *ds);
/* Add a property column (values copied if not NULL, else NaN-filled for
 * n_mol molecules); returns it. */
elign_mol_property *elign_dataset_add_property(elign_dataset *ds, const char *name, const char *unit,
                                               const char *description, const double *values);
/* Fill values[0..n) of property `name` for molecules [first, first+n),
 * creating it if needed; all properties are (re)sized to mols.n_mol, NaN where
 * unknown. For importers that collect a column per input file. */
void elign_dataset_put_property(elign_dataset *ds, const char *name, const char *unit, const char *description,
                                int64_t first, int64_t n, const double *values);
const elign_mol_property *elign_dataset_find_property(const elign_dataset *ds, const char *name);
/* Add a split (index copied). */
void elign_dataset_add_split(elign_dataset *ds, const char *name, int64_t n, const int64_t *index);
const elign_split *elign_dataset_find_split(const elign_dataset *ds, const char *name);

/* Write the dataset file (atomic). Histograms are computed from the molecules. */
elign_status elign_dataset_write(const char *path, const elign_dataset *ds, elign_error *err);
/* Read a whole dataset file. */
elign_status elign_dataset_read(const char *path, elign_dataset *ds, elign_error *err);
/* Read only the stored atom-count histogram (cheap; for the sampler's n_atoms draw). */
elign_status elign_dataset_read_nodes_hist(const char *path, elign_hist *h, elign_error *err);

/* ---- partial reads (data-parallel training: each rank reads its share) ------------ */

/* A dataset's index without its atoms: molecule count, offsets, ids, splits. */
typedef struct {
  int64_t n_mol;
  int64_t *offsets;    /* [n_mol + 1]: molecule m has offsets[m+1] − offsets[m] atoms */
  int64_t *ids;        /* [n_mol] source ids (/ids), or NULL */
  int n_splits;
  elign_split *splits;
} elign_dataset_index;

elign_status elign_dataset_read_index(const char *path, elign_dataset_index *idx, elign_error *err);
void elign_dataset_index_free(elign_dataset_index *idx);
const elign_split *elign_dataset_index_find_split(const elign_dataset_index *idx, const char *name);

/* Molecules [m0, m1) of a dataset file — offsets (rebased to 0), atomic
 * numbers, positions and ids (if stored) — read as HDF5 hyperslabs, so only
 * those molecules' bytes are read. out is initialised by the call. */
elign_status elign_dataset_read_range(const char *path, int64_t m0, int64_t m1, elign_molset *out,
                                      elign_error *err);

/* ---- sample files --------------------------------------------------------------
 * Generated molecules, their rollout group (or -1) and where they came from. */
typedef struct {
  char model[512];   /* checkpoint path the samples came from */
  char model_sha256[ELIGN_SHA256_HEX]; /* and its hash ("" = unknown): names the model file by content */
  uint64_t seed;
  int64_t steps;     /* diffusion steps used */
  int64_t iteration; /* training iteration, -1 if not applicable */
} elign_samples_meta;

/* Serial, atomic. group: [n_mol] or NULL (all -1). */
elign_status elign_samples_write(const char *path, const elign_molset *mols, const int64_t *group,
                                 const elign_samples_meta *meta, elign_error *err);
/* Collective over comm: rank r contributes its local molecules, which land
 * after those of ranks 0..r-1 (global molecule and atom offsets are computed
 * with MPI_Exscan). The datasets are written with collective MPI-IO; the
 * file is identical whatever the number of ranks. SMILES (if any rank has
 * them) are gathered to rank 0. meta must be identical on all ranks.
 * Returns the same status on every rank. */
elign_status elign_samples_write_parallel(MPI_Comm comm, const char *path, const elign_molset *local,
                                          const int64_t *local_group, const elign_samples_meta *meta,
                                          elign_error *err);
/* Read; *group elign_malloc'ed [n_mol] (pass NULL to skip). */
elign_status elign_samples_read(const char *path, elign_molset *mols, int64_t **group, elign_samples_meta *meta,
                                elign_error *err);

/* ---- oracle results ------------------------------------------------------------
 * The molecules plus /energy (eV), /forces (eV/Å) and /status int32 per molecule
 * (0 = ok; other values are the oracle's failure codes). mols->energy and
 * mols->forces must be set. */
elign_status elign_oracle_results_write(const char *path, const elign_molset *mols, const int32_t *status,
                                        const char *oracle_name, elign_error *err);
/* *status elign_malloc'ed [n_mol]; oracle_name (>= 128 bytes) may be NULL. */
elign_status elign_oracle_results_read(const char *path, elign_molset *mols, int32_t **status, char *oracle_name,
                                       elign_error *err);

#endif
