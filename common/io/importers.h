/* importers.h — molecule sources read into an elign_dataset.
 *
 * Extended XYZ (plain or .gz): count line; comment line of key=value pairs
 * (values may be "quoted"); one `El x y z` line per atom (Å). id= and
 * smiles= are kept; other numeric keys of the first molecule become
 * per-molecule properties (mmff_energy: kcal/mol, as the qm9like README states).
 *
 * QM9 (Ramakrishnan et al. 2014) tarball dsgdb9nsd.xyz.tar.bz2 (or any tar /
 * compressed tar libarchive reads): one dsgdb9nsd_NNNNNN.xyz member per
 * molecule, read in memory, numbers possibly written with Mathematica `*^`
 * exponents. Keeps the index, the relaxed SMILES and the 15 scalar properties
 * (A B C mu alpha homo lumo gap r2 zpve U0 U H G Cv) in their published units.
 *
 * Errors name the file, molecule and line:
 *   "a.xyz: molecule 17 (line 153): bad atom line 'C 0.1 x 0.3'"
 *   "qm9.tar.bz2:dsgdb9nsd_000017.xyz line 4: bad atom line '...'"
 * Molecules are appended to `ds` (so several inputs can be concatenated). On
 * failure ds may hold part of the input: free it, do not write it.
 */
#ifndef ELIGN_IMPORTERS_H
#define ELIGN_IMPORTERS_H

#include "common/io/dataset_io.h"
#include "common/base/error.h"

elign_status elign_import_xyz(const char *path, elign_dataset *ds, elign_error *err);
elign_status elign_import_qm9_archive(const char *path, elign_dataset *ds, elign_error *err);
/* Pick by name: *.tar, *.tar.bz2, *.tbz2, *.tar.gz, *.tgz → QM9 archive; else extended XYZ. */
elign_status elign_import_any(const char *path, elign_dataset *ds, elign_error *err);

/* Parse one QM9-format molecule held in memory (text[0..len)); label names
 * it in messages ("ARCHIVE:member"). Exposed for tests. */
elign_status elign_import_qm9_text(const char *text, size_t len, const char *label, elign_dataset *ds,
                                   elign_error *err);

/* Internal to the importers (import_text.c): split s in place at spaces/tabs into tok[];
 * returns the token count, or max + 1 as soon as there are more than max. */
int elign_import_split_ws(char *s, char **tok, int max);

#endif
