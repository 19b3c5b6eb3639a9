/* provenance.h — where a number came from (docs/trust.md).
 *
 * One process-wide record, filled as the program runs and written into every
 * file it produces: every HDF5 file (the root attribute "provenance", written
 * by the h5 writers, common/io/h5io.c), RUN/provenance.json beside a metrics
 * log, the "provenance" object of `elign eval --out`. `elign info FILE` prints
 * it. The record is JSON:
 *
 *   elign_c     version, git commit and dirty flag of the source tree the
 *               binary was built from (captured at build time by
 *               cmake/build_info.cmake; "unknown" outside a git checkout),
 *               build type
 *   command     the elign command (train, sample, eval, ...)
 *   config      sha256 of the resolved config text and the text itself
 *   seed        the run's base seed
 *   layout      ranks (world, actors, oracle, dft) and threads per rank
 *               (OpenMP, OpenBLAS) at the time of writing
 *   libraries   Open MPI, OpenBLAS, HDF5, libxtb, RDKit (those built in), and
 *               whatever a backend registered when it ran (the DFT adapter's
 *               psi4, for example)
 *   inputs      [role, path, sha256, bytes] of every model file read: the base
 *               model, ANI networks, ...
 *
 * Nothing here depends on the rank: ranks that read the same files write the
 * same record (parallel HDF5 writes the attribute collectively). No time
 * stamp either, so two identical runs write identical files.
 */
#ifndef ELIGN_PROVENANCE_H
#define ELIGN_PROVENANCE_H

#include <stddef.h>
#include <stdint.h>

#include "common/base/error.h"
#include "common/base/json_writer.h"

#define ELIGN_SHA256_HEX 65 /* 64 hex digits + NUL */

void elign_provenance_set_command(const char *command);
/* The resolved config (copied; NULL clears). */
void elign_provenance_set_config(const char *resolved_text);
void elign_provenance_set_seed(uint64_t seed);
void elign_provenance_set_layout(int world, int actors, int oracle_ranks, int dft_ranks);
/* A library version found at run time ("psi4", "1.9.1"); replaces an earlier one. */
void elign_provenance_set_version(const char *library, const char *version);
/* Record a model file read: hashed now (sha256; a file read twice is hashed
 * once). An unreadable file is recorded with the reason instead of a hash. */
void elign_provenance_add_input(const char *role, const char *path);
/* The sha256 of an input recorded above, or NULL. */
const char *elign_provenance_input_sha256(const char *path);

/* sha256 of a file's bytes as 64 hex digits (OpenSSL; without it FNV-1a 64,
 * prefixed "fnv1a64:"); *bytes its size (may be NULL). */
elign_status elign_provenance_file_sha256(const char *path, char hex[ELIGN_SHA256_HEX], int64_t *bytes,
                                          elign_error *err);
/* The same over a string. */
void elign_provenance_text_sha256(const char *text, char hex[ELIGN_SHA256_HEX]);

/* The record as a JSON object under `key` of an open writer (NULL key: a top-level object)... */
void elign_provenance_write_json(elign_json_writer *w, const char *key);

/* The git commit this binary was built from ("unknown" outside a checkout)
 * and whether tracked files differed from it: 1, 0, or -1 unknown. */
const char *elign_provenance_build_commit(void);
int elign_provenance_build_dirty(void);
/* ...or as a string (one line, malloc'ed; the caller frees). */
char *elign_provenance_json(void);

/* The same, leaving the config text out when the record would reach max_bytes
 * (an HDF5 attribute must stay under 64 KiB); its sha256 stays. */
char *elign_provenance_json_max(size_t max_bytes);

/* Forget everything (tests). */
void elign_provenance_reset(void);

#endif
