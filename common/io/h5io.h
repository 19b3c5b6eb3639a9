/* h5io.h — small HDF5 helpers shared by every Elign-C file kind.
 *
 * Every file we write carries two root attributes: `elign_format` (one of
 * "dataset", "model", "samples", "oracle_results", ...) and
 * `elign_format_version` (int). Readers open through elign_h5_open_read,
 * which checks both and turns HDF5's own failures into one elign_error naming
 * the file:
 *   "X: not an HDF5 file"
 *   "X: truncated (the HDF5 superblock says 48213 bytes, the file has 40960)"
 *   "X: HDF5 file without metadata checksums ..." (Elign-C before format
 *       version 2, or another program's file: tools/h5_upgrade.py converts)
 *   "X: not an Elign-C dataset file (it has no elign_format attribute)"
 *   "X: is an Elign-C model file, expected a dataset file"
 *   "X: corrupted (dataset /positions: data error detected by Fletcher32 checksum)"
 * HDF5's automatic error-stack printing is switched off (elign_h5_quiet) so a
 * bad file gives our message only, never a page of HDF5 internals.
 *
 * Storage (format version 2, docs/formats.md "Integrity"): files are created
 * with the HDF5 1.10 file-format objects (superblock 3, object header 2,
 * checksummed B-trees and heaps), so every metadata block carries a
 * checksum; every dataset is chunked with the Fletcher32 filter, so every
 * byte of data does too; strings are fixed-length, so nothing lives in the
 * (unchecksummed) global heap. The readers check the superblock themselves
 * before HDF5 parses anything, refuse files without checksums, and bound every
 * size read from a file by the file's own size before allocating it.
 *
 * Writers go through elign_h5_writer: the file is created under a temporary
 * name next to the final one ("<final>.tmp.<pid>"), flushed, fsync'ed and
 * renamed on commit, unlinked on abort. The final name therefore never holds
 * a partial file. The parallel variant opens the temporary file with the MPI-IO
 * driver so several ranks write disjoint slabs of one dataset collectively
 * (H5FD_MPIO_COLLECTIVE); rank 0 renames after everyone closed.
 *
 * Write failures (a full disk, EIO) are errors naming the file and the
 * dataset, never a crash and never a file left behind: every close of a
 * written object is checked (HDF5 reports a small dataset's failed write
 * only when it is closed), the space a file's close will flush is reserved
 * before it (HDF5 1.10 crashes on a file whose close failed), a discarded
 * file is emptied before it is closed, and parallel writers agree after
 * every collective step (elign_h5_writer_agree).
 *
 * Call sequence (serial):
 *   elign_h5_writer w;
 *   elign_h5_writer_create(&w, path, "dataset", 2, err);
 *   elign_h5_write_array(w.file, "/offsets", H5T_NATIVE_INT64, 1, dims, data, err); ...
 *   elign_h5_writer_commit(&w, err);   // or elign_h5_writer_abort(&w) on error
 *   (or both in one: elign_h5_writer_finish(&w, st, err))
 */
#ifndef ELIGN_H5IO_H
#define ELIGN_H5IO_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "common/base/atomic_file.h"
#include "common/base/error.h"

/* Largest provenance attribute (bytes) before the config text is left out of it. */
#define ELIGN_H5_PROVENANCE_MAX 60000
#define ELIGN_H5_PATH_MAX 4096
/* The first elign_format_version with checksummed storage; readers refuse
 * older files (tools/h5_upgrade.py converts them). */
#define ELIGN_H5_MIN_FORMAT_VERSION 2
/* Longest string element or attribute a reader accepts (bytes); text
 * datasets (elign_h5_read_text) are bounded by the file size instead. */
#define ELIGN_H5_STRING_MAX 65536
/* Target bytes per chunk of a dataset (whole rows; small arrays get one
 * chunk). Below HDF5's default 1 MiB chunk cache, so range reads that touch
 * one chunk repeatedly do not re-read and re-checksum it. */
#define ELIGN_H5_CHUNK_BYTES ((size_t)1 << 18)

/* Switch off HDF5's automatic error printing (idempotent, cheap). */
void elign_h5_quiet(void);

/* Open `path` read-only. The superblock is checked first (HDF5 signature,
 * a checksummed superblock version, stored end of file within the real one);
 * then, if expect_format is not NULL, the root attribute elign_format must
 * equal it and elign_format_version must lie in
 * ELIGN_H5_MIN_FORMAT_VERSION..max_version. On success *file is an open file
 * id (close with H5Fclose; closing it closes every object still open in it).
 * format_out (may be NULL, >= 32 bytes) receives the format string found,
 * "" for an HDF5 file without elign_format (then *version_out is 0). */
elign_status elign_h5_open_read(const char *path, const char *expect_format, int max_version, hid_t *file,
                                char *format_out, int *version_out, elign_error *err);

/* The format/version of an open file; "" and 0 for a foreign file. Fails
 * (naming label) only when the attributes exist but cannot be read. */
elign_status elign_h5_get_format(hid_t file, char *format, size_t format_len, int *version, const char *label,
                                 elign_error *err);

/* After an HDF5 call failed: the innermost description on HDF5's error
 * stack ("incorrect metadata checksum after all read attempts"), or "" if
 * none. buf of len bytes. */
void elign_h5_failure_reason(char *buf, size_t len);
/* Record "LABEL: corrupted (WHAT: REASON)" with HDF5's reason and return
 * ELIGN_ERR_FORMAT. For reads that HDF5 refused in a file that passed the
 * format check. */
elign_status elign_h5_fail_corrupted(elign_error *err, const char *label, const char *what);

/* ---- atomic writers ------------------------------------------------------ */
typedef struct {
  hid_t file;                             /* the open temporary file */
  elign_atomic_file out;                  /* final and temporary names */
  int parallel;                           /* 1: MPI-IO driver */
  MPI_Comm comm;                          /* parallel only */
  int rank;                               /* parallel only (0 otherwise) */
} elign_h5_writer;

/* Create the temporary file and write the format/version root attributes. */
elign_status elign_h5_writer_create(elign_h5_writer *w, const char *path, const char *format, int version,
                                    elign_error *err);
/* Close, fsync, rename to the final name. Closes w->file in every case. */
elign_status elign_h5_writer_commit(elign_h5_writer *w, elign_error *err);
/* Close and remove the temporary file (after an error). Safe to call twice. */
void elign_h5_writer_abort(elign_h5_writer *w);
/* End of a serial write whose body returned st: commit if st is ELIGN_OK,
 * otherwise abort and prefix err with the final path (the body's messages
 * name datasets, not the file). Returns the status of the whole write. */
elign_status elign_h5_writer_finish(elign_h5_writer *w, elign_status st, elign_error *err);

/* Collective over comm: every rank calls with the same path/format/version.
 * The temporary name is chosen by rank 0 and broadcast. Attributes written
 * here are identical on all ranks (metadata writes are collective). */
elign_status elign_h5_writer_create_parallel(elign_h5_writer *w, MPI_Comm comm, const char *path,
                                             const char *format, int version, elign_error *err);
/* Reserve `bytes` (+ a margin for metadata) on the disk for the temporary
 * file before writing it (fallocate; nothing on file systems without it):
 * a full disk is then an error before anything is written — for a parallel
 * writer before any collective write, which MPI-IO cannot undo on one rank
 * alone. Parallel writers: collective, rank 0 reserves, everyone gets the
 * outcome. On failure the writer is aborted (temporary removed). */
elign_status elign_h5_writer_reserve(elign_h5_writer *w, double bytes, elign_error *err);
/* Parallel writers: make this rank's outcome `st` of a collective step
 * everyone's (elign_mpi_agree over w->comm: the lowest failing rank's
 * message), so all ranks stop at the same step instead of one rank waiting
 * in the next collective call for ranks that gave up. Serial writers:
 * returns st. Call after every collective write. */
elign_status elign_h5_writer_agree(elign_h5_writer *w, elign_status st, elign_error *err);
/* Collective: close on all ranks; the status is agreed (any rank failing
 * fails everyone). commit renames on rank 0 after a barrier. */
elign_status elign_h5_writer_commit_parallel(elign_h5_writer *w, elign_error *err);
void elign_h5_writer_abort_parallel(elign_h5_writer *w);

/* ---- arrays ---------------------------------------------------------------
 * `name` may contain '/' (intermediate groups are created). rank <= 4.
 * Zero-sized dimensions are fine. Every dataset is chunked (whole rows,
 * about ELIGN_H5_CHUNK_BYTES per chunk) with the Fletcher32 filter. */
elign_status elign_h5_write_array(hid_t loc, const char *name, hid_t memtype, int rank, const hsize_t *dims,
                                  const void *data, elign_error *err);

/* Collective write of one slab along the first dimension: this rank's rows
 * [row0, row0 + nrows) of a dataset with global_dims (identical on all
 * ranks). A rank with nrows == 0 still takes part. */
elign_status elign_h5_write_slab(hid_t file, const char *name, hid_t memtype, int rank, const hsize_t *global_dims,
                                 hsize_t row0, hsize_t nrows, const void *data, elign_error *err);

/* A new dataset with the layout above (for writers that fill it in parts,
 * e.g. by hyperslabs); close with H5Dclose. */
hid_t elign_h5_dataset_create(hid_t loc, const char *name, hid_t filetype, int rank, const hsize_t *dims);
/* The fixed-length string type of every string we store: `width` bytes
 * (>= 1), UTF-8, null-padded. Close with H5Tclose. */
hid_t elign_h5_string_type(size_t width);

/* Fixed-length UTF-8 strings, as wide as the longest (at least 1 byte,
 * null-padded); NULL entries are stored as "". A string longer than
 * ELIGN_H5_STRING_MAX is an error (readers would refuse it). */
elign_status elign_h5_write_strings(hid_t loc, const char *name, int64_t n, char *const *strings, elign_error *err);

/* 1 if `name` exists under loc (a group or dataset path), 0 if not, -1 if
 * HDF5 cannot tell (a damaged file: the read that follows then reports it). */
int elign_h5_exists(hid_t loc, const char *name);

/* Read a whole dataset converted to memtype. The rank must equal `rank`, the
 * stored type must be of memtype's class (integer / float), the dataset must
 * carry the Fletcher32 filter, and its size must fit in the file (checked
 * before allocating); dims (rank entries) are returned; *data is
 * elign_malloc'ed (free with elign_free). `file_label` names the file in
 * messages. */
elign_status elign_h5_read_array(hid_t loc, const char *name, hid_t memtype, int rank, hsize_t *dims, void **data,
                                 const char *file_label, elign_error *err);
/* Read rows [row0, row0 + nrows) along the first dimension of a dataset
 * (a hyperslab: only those bytes come off the disk, and their chunks'
 * Fletcher32 checksums are verified). The checks of elign_h5_read_array
 * apply; dims receives the WHOLE dataset's dims; the rows must lie inside
 * it (ELIGN_ERR_FORMAT naming the file and dataset otherwise). *data is
 * elign_malloc'ed: nrows × (product of the other dims) elements. */
elign_status elign_h5_read_rows(hid_t loc, const char *name, hid_t memtype, int rank, hsize_t row0, hsize_t nrows,
                                hsize_t *dims, void **data, const char *file_label, elign_error *err);
/* Read a 1-D fixed-length string dataset (elements up to
 * ELIGN_H5_STRING_MAX bytes); "" → NULL entries. Variable-length strings are
 * refused (they live in HDF5's unchecksummed global heap). */
elign_status elign_h5_read_strings(hid_t loc, const char *name, int64_t *n, char ***strings, const char *file_label,
                                   elign_error *err);

/* One text (e.g. a YAML config) as a [1] fixed-length string dataset, and
 * back; *text is elign_malloc'ed and null-terminated. */
elign_status elign_h5_write_text(hid_t loc, const char *name, const char *text, elign_error *err);
elign_status elign_h5_read_text(hid_t loc, const char *name, char **text, const char *file_label, elign_error *err);

/* ---- attributes (on a file, group or dataset; `obj` may be "/" or a path) */
elign_status elign_h5_set_attr_str(hid_t loc, const char *obj, const char *name, const char *value, elign_error *err);
elign_status elign_h5_set_attr_i64(hid_t loc, const char *obj, const char *name, int64_t value, elign_error *err);
elign_status elign_h5_set_attr_f64(hid_t loc, const char *obj, const char *name, double value, elign_error *err);
elign_status elign_h5_set_attr_f64v(hid_t loc, const char *obj, const char *name, int n, const double *values,
                                    elign_error *err);
/* Strings are stored fixed-length (UTF-8, null-padded). Getters return
 * ELIGN_ERR_FORMAT (message names file, object and attribute) if absent or of
 * the wrong kind. get_attr_str: buf of buflen bytes (longer values are cut). */
elign_status elign_h5_get_attr_str(hid_t loc, const char *obj, const char *name, char *buf, size_t buflen,
                                   const char *file_label, elign_error *err);
/* The whole string (up to ELIGN_H5_STRING_MAX bytes), elign_malloc'ed. */
elign_status elign_h5_get_attr_text(hid_t loc, const char *obj, const char *name, char **value,
                                    const char *file_label, elign_error *err);
elign_status elign_h5_get_attr_i64(hid_t loc, const char *obj, const char *name, int64_t *value,
                                   const char *file_label, elign_error *err);
elign_status elign_h5_get_attr_f64(hid_t loc, const char *obj, const char *name, double *value,
                                   const char *file_label, elign_error *err);
/* 1 / 0 / -1 as elign_h5_exists. */
int elign_h5_has_attr(hid_t loc, const char *obj, const char *name);

#endif
