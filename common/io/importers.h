/* importers.h — molecule sources read into an elign_dataset.
 *
 * Extended XYZ (plain or .gz): count line; comment line of key=value pairs
 * (values may be "quoted"); one `El x y z` line per atom (Å). id= and
 * smiles= are kept; other numeric keys of the first molecule become
 * per-molecule properties (mmff_energy: kcal/mol, as the qm9like README
 * states) if they can name a dataset (1..63 bytes, no '/'; others are skipped).
 *
 * QM9 (Ramakrishnan et al. 2014) tarball dsgdb9nsd.xyz.tar.bz2 (or any tar /
 * compressed tar libarchive reads): one dsgdb9nsd_NNNNNN.xyz member per
 * molecule, read in memory, numbers possibly written with Mathematica `*^`
 * exponents. Keeps the index, the relaxed SMILES and the 15 scalar properties
 * (A B C mu alpha homo lumo gap r2 zpve U0 U H G Cv) in their published units.
 *
 * GEOM-Drugs (Axelrod & Gómez-Bombarelli 2022) drugs_crude.msgpack: a stream
 * of msgpack maps SMILES -> {conformers: [{xyz: [[Z, x, y, z], ...],
 * totalenergy (Hartree), ...}], ...}. Streamed molecule by molecule straight
 * into the dataset file (elign_import_geom_msgpack below); the lowest-energy
 * conformers are kept as EDM's build_geom_dataset.py keeps them.
 *
 * Errors name the file, molecule and line:
 *   "a.xyz: molecule 17 (line 153): bad atom line 'C 0.1 x 0.3'"
 *   "qm9.tar.bz2:dsgdb9nsd_000017.xyz line 4: bad atom line '...'"
 * Molecules are appended to `ds` (so several inputs can be concatenated). On
 * failure ds may hold part of the input: free it, do not write it.
 */
#ifndef ELIGN_IMPORTERS_H
#define ELIGN_IMPORTERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/io/dataset_io.h"
#include "common/base/error.h"

elign_status elign_import_xyz(const char *path, elign_dataset *ds, elign_error *err);
elign_status elign_import_qm9_archive(const char *path, elign_dataset *ds, elign_error *err);
/* Pick by name: *.tar, *.tar.bz2, *.tbz2, *.tar.gz, *.tgz → QM9 archive; else extended XYZ.
 * A *.msgpack (GEOM) is refused: it streams into a file (elign_import_geom_msgpack). */
elign_status elign_import_any(const char *path, elign_dataset *ds, elign_error *err);

/* Molecules from any file that holds them: extended XYZ, a QM9 archive
 * (elign_import_any), or an Elign-C dataset or samples file (*.h5, told apart
 * by its format; any other Elign-C file is refused naming its kind and the
 * option `role` that gave it, e.g. "--in"). No molecules is an error.
 * ds: initialised and empty (read_molecules.c). */
elign_status elign_read_molecules(const char *path, const char *role, elign_dataset *ds, elign_error *err);

/* ---- GEOM-Drugs msgpack ---------------------------------------------------
 * Each kept conformer is one entry ("molecule") of the dataset, as in EDM:
 * /ids = the GEOM molecule's 0-based position in the file (shared by its
 * conformers), /smiles = its SMILES key, /properties totalenergy (Hartree),
 * relativeenergy (kcal/mol), boltzmannweight, geom_id (per conformer) and
 * charge (e, of the molecule), NaN where the source lacks them; /split/train,
 * /split/valid, /split/test. Memory holds one molecule's conformers at a
 * time, whatever the file size. Details and EDM's rules: docs/formats.md
 * ("GEOM-Drugs"). */
#define ELIGN_GEOM_N_TYPES 16
/* EDM's geom_with_h atom types (atomic_nb), in encoder order. */
extern const int elign_geom_atomic_nb[ELIGN_GEOM_N_TYPES];

typedef struct {
  int max_conformers;        /* keep the lowest-totalenergy ones per molecule (EDM: 30) */
  int max_atoms;             /* drop conformers with more atoms (181, GEOM's largest); 0 = no limit */
  int drop_unknown_elements; /* 0: keep conformers with elements outside the 16 types, as EDM does */
  double valid_fraction;     /* EDM: int(0.1 N) validation entries, then int(0.1 N) test ... */
  double test_fraction;
  uint64_t split_seed;       /* the split's pseudo-random permutation (elign_split_permute) */
  int split_by_molecule;     /* 0: permute conformers (EDM); 1: whole molecules go to one split */
  size_t read_bytes;         /* bytes per read (0: 4 MiB); tests use tiny values to cut objects anywhere */
  int progress;              /* log progress lines (INFO) */
} elign_geom_options;

void elign_geom_options_default(elign_geom_options *o);

typedef struct {
  int64_t file_bytes;
  int64_t molecules_read, conformers_read;
  int64_t molecules_without_conformers;
  int64_t conformers_over_limit;       /* beyond the max_conformers lowest of their molecule */
  int64_t conformers_too_large;        /* dropped: more than max_atoms atoms */
  int64_t conformers_unknown_elements; /* with an element outside the 16 types (kept or dropped) */
  int64_t molecules_kept, conformers_kept, atoms_kept;
  int64_t min_atoms, max_atoms;        /* over the kept conformers */
  int64_t split_size[3];               /* train, valid, test entries */
  int64_t largest_molecule_bytes;      /* encoded size of the largest molecule (memory bound) */
} elign_geom_report;

/* Read `path` (drugs_crude.msgpack or the same schema) and write the dataset
 * file `out_path` atomically. rep may be NULL. On failure nothing is left
 * under out_path and the message names the file, the molecule (index and
 * SMILES) and the byte offset. */
elign_status elign_import_geom_msgpack(const char *path, const char *out_path, const elign_geom_options *opt,
                                       elign_geom_report *rep, elign_error *err);

/* True if path names a GEOM msgpack file (*.msgpack). */
int elign_import_is_geom(const char *path);

/* A pseudo-random bijection of [0, n) keyed by seed (a Feistel network with
 * Philox rounds, purpose ELIGN_RNG_DATA_SPLIT): position of entry i in the
 * shuffled order, computed without storing the permutation. */
int64_t elign_split_permute(uint64_t seed, int64_t n, int64_t i);

/* Parse one QM9-format molecule held in memory (text[0..len)); label names
 * it in messages ("ARCHIVE:member"). Exposed for tests. */
elign_status elign_import_qm9_text(const char *text, size_t len, const char *label, elign_dataset *ds,
                                   elign_error *err);

/* Internal to the importers (import_text.c): split s in place at spaces/tabs into tok[];
 * returns the token count, or max + 1 as soon as there are more than max. */
int elign_import_split_ws(char *s, char **tok, int max);

#endif
