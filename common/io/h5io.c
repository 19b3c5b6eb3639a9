/* h5io.c — HDF5 helpers: quiet errors, format checks, atomic (and parallel)
 * writers, whole-array and slab I/O, attributes. */
#define _GNU_SOURCE /* fallocate(FALLOC_FL_KEEP_SIZE): reserve the space a close will write */
#include "common/io/h5io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/base/provenance.h"
#include "common/chem/rdkit_metrics.h"
#include "common/mpi/roles.h"

void elign_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* HDF5 1.10 cannot recover from an H5Fclose that failed (a disk so full that
 * not even an emptied file's metadata fits): the file stays half-closed and
 * the library's own clean-up crashes on it — at exit, or inside
 * MPI_Finalize, where HDF5 hooks its clean-up when MPI was started first —
 * with SIGSEGV after the command printed its error. Every file this program
 * writes is closed explicitly and checked, so that clean-up has nothing to
 * do: before main (H5dont_atexit must precede every other HDF5 call) it is
 * switched off and the library started while MPI is not, so neither hook
 * is installed. */
__attribute__((constructor)) static void elign_h5_no_exit_cleanup(void) {
  H5dont_atexit();
  H5open();
}

/* ---- HDF5 failures and the format check ------------------------------------------ */

typedef struct {
  char *buf;
  size_t len;
} reason_sink;

static herr_t keep_innermost(unsigned n, const H5E_error2_t *e, void *data) {
  reason_sink *r = data;
  /* Walking upward, entry 0 is where HDF5 first saw the problem: the most
   * specific description ("incorrect metadata checksum ..."). */
  if (n == 0 && e->desc) snprintf(r->buf, r->len, "%s", e->desc);
  return 0;
}

void elign_h5_failure_reason(char *buf, size_t len) {
  buf[0] = '\0';
  reason_sink r = {buf, len};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &r);
  /* One line whatever HDF5 wrote. */
  for (char *p = buf; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
}

elign_status elign_h5_fail_corrupted(elign_error *err, const char *label, const char *what) {
  char reason[256];
  elign_h5_failure_reason(reason, sizeof reason);
  if (reason[0]) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: corrupted (%s: %s)", label, what, reason);
  return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: corrupted (%s)", label, what);
}

/* The HDF5 superblock, read and checked by us before libhdf5 parses the file:
 * HDF5 looks for its signature at 0, 512, 1024, 2048, ...; versions 2 and 3
 * carry a checksum (verified by HDF5 itself when it opens the file), 0 and 1
 * do not. With 8-byte addresses, versions 2/3 hold: signature (8), version,
 * sizeof offsets, sizeof lengths, flags, base address, extension address,
 * end-of-file address, root object header address (8 each), checksum (4). */
static const unsigned char h5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static uint64_t le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static elign_status check_superblock(const char *path, elign_error *err) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  unsigned char sb[48];
  int64_t size = -1, at = -1;
  if (fseeko(fp, 0, SEEK_END) == 0) size = (int64_t)ftello(fp);
  for (int64_t off = 0; size >= 0 && off + (int64_t)sizeof sb <= size; off = off ? 2 * off : 512) {
    if (fseeko(fp, (off_t)off, SEEK_SET) != 0 || fread(sb, 1, sizeof sb, fp) != sizeof sb) break;
    if (memcmp(sb, h5_signature, sizeof h5_signature) == 0) {
      at = off;
      break;
    }
  }
  fclose(fp);
  if (size < 0) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot read", path);
  if (at < 0) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: not an HDF5 file", path);
  int version = sb[8];
  if (version < 2)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                      "%s: HDF5 file without metadata checksums (superblock version %d): written by Elign-C before "
                      "format version 2, or not by Elign-C; `python3 tools/h5_upgrade.py %s NEW.h5` converts an "
                      "older Elign-C file",
                      path, version, path);
  if (version > 3 || sb[9] != 8 || sb[10] != 8)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                      "%s: corrupted (HDF5 superblock version %d with %d-byte addresses and %d-byte lengths; "
                      "Elign-C writes version 3 with 8 and 8)",
                      path, version, sb[9], sb[10]);
  uint64_t base = le64(sb + 12), eof = le64(sb + 28), root = le64(sb + 36);
  /* Stored addresses are relative to the base address (the signature's offset). */
  if (base != (uint64_t)at || eof > (uint64_t)INT64_MAX - base || root >= eof)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: corrupted (HDF5 superblock addresses out of range)", path);
  if ((int64_t)(base + eof) > size)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: truncated (the HDF5 superblock says %llu bytes, the file has %lld)",
                      path, (unsigned long long)(base + eof), (long long)size);
  return ELIGN_OK;
}

/* File access for readers and writers alike: the HDF5 1.10 object versions
 * (every metadata block checksummed), and closing the file closes every
 * object still open in it (no id survives a failed read). */
static hid_t file_access_plist(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
  H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
  return fapl;
}

elign_status elign_h5_get_format(hid_t file, char *format, size_t format_len, int *version, const char *label,
                                 elign_error *err) {
  format[0] = '\0';
  *version = 0;
  int has = elign_h5_has_attr(file, "/", "elign_format");
  if (has < 0) return elign_h5_fail_corrupted(err, label, "root attributes");
  if (!has) return ELIGN_OK;
  elign_status st = elign_h5_get_attr_str(file, "/", "elign_format", format, format_len, label, err);
  int64_t v = 0;
  if (st == ELIGN_OK) st = elign_h5_get_attr_i64(file, "/", "elign_format_version", &v, label, err);
  if (st != ELIGN_OK) {
    format[0] = '\0';
    return st;
  }
  *version = v < 0 || v > 1000000 ? -1 : (int)v;
  return ELIGN_OK;
}

elign_status elign_h5_open_read(const char *path, const char *expect_format, int max_version, hid_t *file,
                                char *format_out, int *version_out, elign_error *err) {
  elign_h5_quiet();
  *file = H5I_INVALID_HID;
  elign_status st = check_superblock(path, err);
  if (st != ELIGN_OK) return st;
  hid_t fapl = file_access_plist();
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (f < 0) elign_h5_fail_corrupted(err, path, "cannot open"); /* before any other call clears HDF5's reason */
  H5Pclose(fapl);
  if (f < 0) return ELIGN_ERR_FORMAT;
  char format[32];
  int version;
  st = elign_h5_get_format(f, format, sizeof format, &version, path, err);
  if (st != ELIGN_OK) {
    H5Fclose(f);
    return st;
  }
  if (expect_format) {
    if (!format[0]) {
      H5Fclose(f);
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                        "%s: not an Elign-C %s file (it is an HDF5 file without the elign_format attribute)", path,
                        expect_format);
    }
    if (strcmp(format, expect_format) != 0) {
      H5Fclose(f);
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: is an Elign-C %s file, expected %s %s file", path, format,
                        strchr("aeiou", expect_format[0]) ? "an" : "a", expect_format);
    }
    if (version < ELIGN_H5_MIN_FORMAT_VERSION || version > max_version) {
      H5Fclose(f);
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                        "%s: %s file format version %d is not supported (this build reads versions %d..%d)", path,
                        format, version, ELIGN_H5_MIN_FORMAT_VERSION, max_version);
    }
  }
  if (format_out) snprintf(format_out, 32, "%s", format);
  if (version_out) *version_out = version;
  *file = f;
  return ELIGN_OK;
}

/* ---- atomic writers ----------------------------------------------------------- */

/* The format stamp and the provenance record (common/base/provenance.h) of every file. */
static elign_status writer_stamp(elign_h5_writer *w, const char *format, int version, elign_error *err) {
  elign_status st = elign_h5_set_attr_str(w->file, "/", "elign_format", format, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(w->file, "/", "elign_format_version", version, err);
#ifdef ELIGN_WITH_RDKIT
  elign_provenance_set_version("rdkit", elign_rdkit_version());
#endif
  char *prov = elign_provenance_json_max(ELIGN_H5_PROVENANCE_MAX);
  if (st == ELIGN_OK) st = elign_h5_set_attr_str(w->file, "/", "provenance", prov, err);
  free(prov);
  return st;
}

/* A disk with less room than the metadata of an empty file: refused before
 * HDF5 writes anything, because the close of such a file fails whatever
 * we do (and the parallel close then deadlocks inside HDF5). 0 or ENOSPC. */
#define H5IO_CLOSE_MARGIN (64 * 1024)
static int check_free_space(const char *tmp_path) {
  char dir[ELIGN_H5_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", tmp_path);
  struct statvfs fs;
  if (statvfs(dirname(dir), &fs) != 0) return 0; /* unknown: let the writes tell */
  return (double)fs.f_bavail * (double)fs.f_frsize < H5IO_CLOSE_MARGIN ? ENOSPC : 0;
}

elign_status elign_h5_writer_create(elign_h5_writer *w, const char *path, const char *format, int version,
                                    elign_error *err) {
  elign_h5_quiet();
  memset(w, 0, sizeof *w);
  w->file = H5I_INVALID_HID;
  w->comm = MPI_COMM_NULL;
  elign_status st = elign_atomic_begin(&w->out, path, (long)getpid(), err);
  if (st != ELIGN_OK) return st;
  int e = check_free_space(w->out.tmp_path);
  if (e) {
    elign_atomic_forget(&w->out); /* nothing was created */
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot write: %s (nothing written)", path, strerror(e));
  }
  hid_t fapl = file_access_plist();
  errno = 0;
  w->file = H5Fcreate(w->out.tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  e = errno;
  H5Pclose(fapl);
  if (w->file < 0) {
    ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot create (temporary %s): %s", path, w->out.tmp_path,
               e ? strerror(e) : "HDF5 create failed");
    elign_atomic_discard(&w->out); /* H5Fcreate may have left an empty file behind */
    return ELIGN_ERR_IO;
  }
  st = writer_stamp(w, format, version, err);
  if (st != ELIGN_OK) elign_h5_writer_abort(w);
  return st;
}

/* Why a write failed: errno if it holds a write error (HDF5 and MPI-IO may
 * leave an unrelated errno behind), else HDF5's word. */
static const char *write_failure_reason(int e) {
  if (e == ENOSPC || e == EDQUOT || e == EIO || e == EFBIG || e == EROFS) return strerror(e);
  return "the HDF5 library reported a write error (disk full?)";
}

/* Before the close flushes the metadata cache: reserve every block up to the
 * file's end (+ a margin), so that flush cannot meet a full disk. HDF5
 * 1.10 cannot recover from a failed H5Fclose — the half-closed file crashes
 * the library's own clean-up at exit — so a disk that is full must be seen
 * here, while the file can still be discarded cleanly. File systems without
 * fallocate: nothing reserved (the close's own check remains). Returns 0 or
 * an errno. */
static int reserve_space(const char *tmp_path, double bytes);
static int reserve_close_space(const char *tmp_path, hid_t file) {
  hsize_t size = 0;
  if (H5Fget_filesize(file, &size) < 0) return 0;
  return reserve_space(tmp_path, (double)size + H5IO_CLOSE_MARGIN);
}

/* Close a file whose content is discarded: empty the temporary first, so the
 * metadata the close still flushes has room (a failed close would crash at
 * exit, see reserve_close_space). */
static void close_discarded(hid_t file, const char *tmp_path, int truncate_here) {
  if (file < 0) return;
  if (truncate_here && tmp_path[0] && truncate(tmp_path, 0) != 0) { /* best effort */
  }
  H5Fclose(file);
}

elign_status elign_h5_writer_commit(elign_h5_writer *w, elign_error *err) {
  int e = reserve_close_space(w->out.tmp_path, w->file);
  if (e) {
    elign_h5_writer_abort(w);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot write: %s (nothing written)", w->out.final_path, strerror(e));
  }
  errno = 0;
  herr_t rc = H5Fclose(w->file);
  e = errno;
  w->file = H5I_INVALID_HID;
  if (rc < 0) {
    elign_atomic_discard(&w->out);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: closing the HDF5 file failed: %s (nothing written)", w->out.final_path,
                      write_failure_reason(e));
  }
  return elign_atomic_publish(&w->out, err);
}

void elign_h5_writer_abort(elign_h5_writer *w) {
  close_discarded(w->file, w->out.tmp_path, 1);
  w->file = H5I_INVALID_HID;
  elign_atomic_discard(&w->out);
}

elign_status elign_h5_writer_finish(elign_h5_writer *w, elign_status st, elign_error *err) {
  if (st == ELIGN_OK) return elign_h5_writer_commit(w, err);
  elign_h5_writer_abort(w);
  elign_error_prefix(err, "%s: ", w->out.final_path);
  return st;
}

elign_status elign_h5_writer_create_parallel(elign_h5_writer *w, MPI_Comm comm, const char *path,
                                             const char *format, int version, elign_error *err) {
  elign_h5_quiet();
  memset(w, 0, sizeof *w);
  w->file = H5I_INVALID_HID;
  w->parallel = 1;
  w->comm = comm;
  MPI_Comm_rank(comm, &w->rank);
  long tag = (long)getpid();
  MPI_Bcast(&tag, 1, MPI_LONG, 0, comm); /* one temporary name for everyone */
  elign_status st = elign_atomic_begin(&w->out, path, tag, err);
  if (st != ELIGN_OK) return st;
  int e = w->rank == 0 ? check_free_space(w->out.tmp_path) : 0;
  MPI_Bcast(&e, 1, MPI_INT, 0, comm);
  if (e) {
    elign_atomic_forget(&w->out); /* nothing was created */
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot write: %s (nothing written)", path, strerror(e));
  }
  hid_t fapl = file_access_plist();
  H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
  w->file = H5Fcreate(w->out.tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  int ok = w->file >= 0, all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
  if (!all_ok) {
    elign_h5_writer_abort_parallel(w);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot create (temporary %s) with MPI-IO", path, w->out.tmp_path);
  }
  st = writer_stamp(w, format, version, err);
  if (st != ELIGN_OK) elign_h5_writer_abort_parallel(w);
  return st;
}

/* Reserve [0, bytes) of the temporary (KEEP_SIZE: the file's size is
 * unchanged). 0 or the errno of a full disk; unsupported: 0. */
static int reserve_space(const char *tmp_path, double bytes) {
  /* ELIGN_NO_FALLOCATE=1 acts as a file system without fallocate (Lustre,
   * NFS): the tests use it to reach the failure paths behind the reservation. */
  const char *off = getenv("ELIGN_NO_FALLOCATE");
  if (off && strcmp(off, "1") == 0) return 0;
  int fd = open(tmp_path, O_WRONLY);
  if (fd < 0) return errno;
  int e = 0;
  if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)bytes) != 0) e = errno;
  close(fd);
  return e == ENOSPC || e == EDQUOT || e == EIO || e == EFBIG ? e : 0; /* EOPNOTSUPP etc.: no reservation */
}

elign_status elign_h5_writer_reserve(elign_h5_writer *w, double bytes, elign_error *err) {
  int e = w->rank == 0 ? reserve_space(w->out.tmp_path, bytes + H5IO_CLOSE_MARGIN) : 0;
  if (w->parallel) MPI_Bcast(&e, 1, MPI_INT, 0, w->comm);
  if (!e) return ELIGN_OK;
  ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot write %.3g MB: %s (nothing written)", w->out.final_path, bytes / 1e6,
             strerror(e));
  if (w->parallel) elign_h5_writer_abort_parallel(w);
  else elign_h5_writer_abort(w);
  return ELIGN_ERR_IO;
}

elign_status elign_h5_writer_agree(elign_h5_writer *w, elign_status st, elign_error *err) {
  if (!w->parallel) return st;
  elign_error mine;
  elign_error_clear(&mine);
  if (st != ELIGN_OK) mine = *err;
  st = elign_mpi_agree(w->comm, &mine);
  if (st != ELIGN_OK) *err = mine;
  return st;
}

elign_status elign_h5_writer_commit_parallel(elign_h5_writer *w, elign_error *err) {
  /* rank 0 reserves the space the collective close will write, for everyone */
  int e = w->rank == 0 ? reserve_close_space(w->out.tmp_path, w->file) : 0;
  MPI_Bcast(&e, 1, MPI_INT, 0, w->comm);
  if (e) {
    elign_h5_writer_abort_parallel(w);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot write: %s (nothing written)", w->out.final_path, strerror(e));
  }
  errno = 0;
  int ok = H5Fclose(w->file) >= 0, all_ok = 0;
  e = errno;
  w->file = H5I_INVALID_HID;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, w->comm);
  if (!all_ok) {
    if (w->rank == 0) elign_atomic_discard(&w->out);
    elign_atomic_forget(&w->out);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: closing the parallel HDF5 file failed: %s (nothing written)",
                      w->out.final_path, ok ? "on another rank" : write_failure_reason(e));
  }
  elign_status st = ELIGN_OK;
  int published = 1;
  if (w->rank == 0) {
    st = elign_atomic_publish(&w->out, err);
    published = st == ELIGN_OK;
  }
  elign_atomic_forget(&w->out); /* rank 0 published or removed it */
  MPI_Bcast(&published, 1, MPI_INT, 0, w->comm);
  if (!published && w->rank != 0)
    st = ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: rank 0 could not publish the file", w->out.final_path);
  return st;
}

void elign_h5_writer_abort_parallel(elign_h5_writer *w) {
  if (w->file >= 0 && w->rank == 0 && w->out.tmp_path[0] && truncate(w->out.tmp_path, 0) != 0) {
    /* best effort, see close_discarded */
  }
  MPI_Barrier(w->comm); /* emptied before any rank's part of the collective close */
  close_discarded(w->file, w->out.tmp_path, 0);
  w->file = H5I_INVALID_HID;
  MPI_Barrier(w->comm);
  if (w->rank == 0) elign_atomic_discard(&w->out);
  elign_atomic_forget(&w->out);
}

/* ---- arrays -------------------------------------------------------------------- */

static hid_t file_type_for(hid_t memtype) {
  /* Store little-endian standard types so files read the same everywhere. */
  if (H5Tequal(memtype, H5T_NATIVE_INT64) > 0) return H5T_STD_I64LE;
  if (H5Tequal(memtype, H5T_NATIVE_INT32) > 0) return H5T_STD_I32LE;
  if (H5Tequal(memtype, H5T_NATIVE_UINT64) > 0) return H5T_STD_U64LE;
  if (H5Tequal(memtype, H5T_NATIVE_DOUBLE) > 0) return H5T_IEEE_F64LE;
  if (H5Tequal(memtype, H5T_NATIVE_FLOAT) > 0) return H5T_IEEE_F32LE;
  return memtype;
}

static hid_t link_create_plist(void) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  return lcpl;
}

/* Chunked with Fletcher32: every stored byte is checksummed. Chunks are
 * whole rows, a power of two of them, about ELIGN_H5_CHUNK_BYTES (one chunk
 * for a small array); they depend on the global dims only, so every rank of
 * a parallel write creates the same dataset. A zero-sized dimension is
 * extendible (a fixed one could not hold a chunk), with maxdims_out set so. */
static hid_t dataset_create_plist(size_t elem_bytes, int rank, const hsize_t *dims, hsize_t *maxdims_out) {
  hsize_t chunk[4];
  size_t row_bytes = elem_bytes;
  for (int d = 0; d < rank; d++) {
    maxdims_out[d] = dims[d] == 0 ? H5S_UNLIMITED : dims[d];
    chunk[d] = dims[d] == 0 ? 1 : dims[d];
    if (d > 0) row_bytes *= (size_t)chunk[d];
  }
  hsize_t rows = 1;
  while (rows * 2 * row_bytes <= ELIGN_H5_CHUNK_BYTES) rows *= 2;
  if (rows < chunk[0]) chunk[0] = rows;
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, rank, chunk);
  H5Pset_fletcher32(dcpl);
  return dcpl;
}

hid_t elign_h5_dataset_create(hid_t loc, const char *name, hid_t filetype, int rank, const hsize_t *dims) {
  hsize_t maxdims[4];
  hid_t dcpl = dataset_create_plist(H5Tget_size(filetype), rank, dims, maxdims);
  hid_t space = H5Screate_simple(rank, dims, maxdims);
  hid_t lcpl = link_create_plist();
  hid_t ds = H5Dcreate2(loc, name, filetype, space, lcpl, dcpl, H5P_DEFAULT);
  H5Pclose(lcpl);
  H5Sclose(space);
  H5Pclose(dcpl);
  return ds;
}

elign_status elign_h5_write_array(hid_t loc, const char *name, hid_t memtype, int rank, const hsize_t *dims,
                                  const void *data, elign_error *err) {
  ELIGN_ASSERT(rank >= 1 && rank <= 4);
  hsize_t total = 1;
  for (int d = 0; d < rank; d++) total *= dims[d];
  errno = 0;
  hid_t ds = elign_h5_dataset_create(loc, name, file_type_for(memtype), rank, dims);
  herr_t rc = ds < 0 ? -1 : 0;
  if (rc == 0 && total > 0) rc = H5Dwrite(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  /* The close flushes HDF5's sieve buffer: small datasets meet a full disk only here. */
  if (ds >= 0 && H5Dclose(ds) < 0) rc = -1;
  int e = errno;
  if (rc < 0) return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot write HDF5 dataset %s: %s", name, write_failure_reason(e));
  return ELIGN_OK;
}

elign_status elign_h5_write_slab(hid_t file, const char *name, hid_t memtype, int rank, const hsize_t *global_dims,
                                 hsize_t row0, hsize_t nrows, const void *data, elign_error *err) {
  ELIGN_ASSERT(rank >= 1 && rank <= 4);
  hid_t ds = elign_h5_dataset_create(file, name, file_type_for(memtype), rank, global_dims);
  hid_t fspace = H5Screate_simple(rank, global_dims, NULL);
  herr_t rc = ds < 0 ? -1 : 0;
  hsize_t start[4] = {row0, 0, 0, 0}, count[4], one[4] = {1, 1, 1, 1};
  count[0] = nrows;
  hsize_t row_elems = 1;
  for (int d = 1; d < rank; d++) count[d] = global_dims[d], row_elems *= global_dims[d];
  hid_t mspace;
  if (nrows > 0 && row_elems > 0) {
    mspace = H5Screate_simple(rank, count, NULL);
    if (rc == 0) rc = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
  } else {
    /* Nothing to write here, but the collective call still needs this rank. */
    mspace = H5Screate_simple(rank, one, NULL);
    H5Sselect_none(mspace);
    H5Sselect_none(fspace);
  }
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  static const char dummy[64];
  int have_any = 1;
  for (int d = 0; d < rank; d++)
    if (global_dims[d] == 0) have_any = 0;
  errno = 0;
  if (rc == 0 && have_any) rc = H5Dwrite(ds, memtype, mspace, fspace, dxpl, nrows > 0 && row_elems > 0 ? data : dummy);
  H5Pclose(dxpl);
  H5Sclose(mspace);
  H5Sclose(fspace);
  if (ds >= 0 && H5Dclose(ds) < 0) rc = -1;
  int e = errno;
  if (rc < 0)
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot write HDF5 dataset %s collectively: %s", name, write_failure_reason(e));
  return ELIGN_OK;
}

hid_t elign_h5_string_type(size_t width) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, width ? width : 1);
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

/* n strings packed into one buffer of fixed-width rows. */
static char *pack_strings(int64_t n, char *const *strings, size_t *width) {
  size_t w = 1;
  for (int64_t i = 0; i < n; i++) {
    size_t l = strings && strings[i] ? strlen(strings[i]) : 0;
    if (l > w) w = l;
  }
  char *buf = elign_calloc((size_t)(n > 0 ? n : 1), w, "h5:strings");
  for (int64_t i = 0; i < n; i++)
    if (strings && strings[i]) memcpy(buf + (size_t)i * w, strings[i], strlen(strings[i]));
  *width = w;
  return buf;
}

static elign_status write_strings(hid_t loc, const char *name, int64_t n, char *const *strings, size_t max_width,
                                  elign_error *err) {
  size_t width;
  char *buf = pack_strings(n, strings, &width);
  if (width > max_width) {
    free(buf);
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "cannot write HDF5 string dataset %s: a string of %zu bytes (at most %zu)",
                      name, width, max_width);
  }
  hsize_t dims[1] = {(hsize_t)n};
  hid_t t = elign_h5_string_type(width);
  errno = 0;
  hid_t ds = elign_h5_dataset_create(loc, name, t, 1, dims);
  herr_t rc = ds < 0 ? -1 : 0;
  if (rc == 0 && n > 0) rc = H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  if (ds >= 0 && H5Dclose(ds) < 0) rc = -1;
  int e = errno;
  H5Tclose(t);
  free(buf);
  if (rc < 0)
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot write HDF5 string dataset %s: %s", name, write_failure_reason(e));
  return ELIGN_OK;
}

elign_status elign_h5_write_strings(hid_t loc, const char *name, int64_t n, char *const *strings, elign_error *err) {
  return write_strings(loc, name, n, strings, ELIGN_H5_STRING_MAX, err);
}

elign_status elign_h5_write_text(hid_t loc, const char *name, const char *text, elign_error *err) {
  char *one[1] = {(char *)(text ? text : "")};
  return write_strings(loc, name, 1, one, SIZE_MAX, err);
}

int elign_h5_exists(hid_t loc, const char *name) {
  /* Check each path component so a missing parent group is not an error. */
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", name);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    htri_t r = H5Lexists(loc, buf, H5P_DEFAULT);
    if (r <= 0) return r < 0 ? -1 : 0;
    *p = '/';
  }
  htri_t r = H5Lexists(loc, buf, H5P_DEFAULT);
  return r < 0 ? -1 : r > 0;
}

/* ---- checked reads ---------------------------------------------------------------
 * Everything a reader takes from the file is checked before it is used: the
 * dataset carries the Fletcher32 filter (and no other, so its bytes in the
 * file are its bytes in memory), its element class is the one asked for, the
 * product of its dims does not overflow, and the data it claims fits in the
 * file and is all there (stored bytes >= elements × element size), so no
 * allocation is ever larger than the file and no missing chunk reads as
 * fill values. */

static int64_t file_size_of(hid_t loc) {
  hid_t f = H5Iget_file_id(loc);
  hsize_t size = 0;
  herr_t rc = f >= 0 ? H5Fget_filesize(f, &size) : -1;
  if (f >= 0) H5Fclose(f);
  return rc < 0 || size > (hsize_t)INT64_MAX ? -1 : (int64_t)size;
}

/* Open dataset `name`: missing, unreadable and unchecksummed are errors. */
static elign_status dataset_open(hid_t loc, const char *name, const char *label, hid_t *out, elign_error *err) {
  *out = H5I_INVALID_HID;
  char what[600];
  snprintf(what, sizeof what, "dataset %s", name);
  int e = elign_h5_exists(loc, name);
  if (e == 0) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: missing dataset %s", label, name);
  hid_t ds = e > 0 ? H5Dopen2(loc, name, H5P_DEFAULT) : H5I_INVALID_HID;
  if (ds < 0) return elign_h5_fail_corrupted(err, label, what);
  hid_t dcpl = H5Dget_create_plist(ds);
  int n_filters = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED ? H5Pget_nfilters(dcpl) : -1;
  int fletcher = 0, others = 0;
  for (int i = 0; i < n_filters; i++) {
    unsigned flags, cd[8];
    size_t n_cd = 8;
    char fname[64];
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &n_cd, cd, sizeof fname, fname, NULL);
    if (id == H5Z_FILTER_FLETCHER32) fletcher = 1;
    else others = 1;
  }
  if (dcpl >= 0) H5Pclose(dcpl);
  if (!fletcher || others) {
    H5Dclose(ds);
    if (n_filters < 0 && dcpl < 0) return elign_h5_fail_corrupted(err, label, what);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                      "%s: dataset %s is not stored with the Fletcher32 checksum alone (written before Elign-C "
                      "format version 2, or by another program?)",
                      label, name);
  }
  *out = ds;
  return ELIGN_OK;
}

/* The dims of an open dataset, which must have `rank` dimensions; *total
 * is their product (overflow is an error). */
static elign_status dataset_dims(hid_t ds, const char *name, int rank, hsize_t *dims, hsize_t *total,
                                 const char *label, elign_error *err) {
  hid_t space = H5Dget_space(ds);
  int nd = space >= 0 && H5Sget_simple_extent_type(space) == H5S_SIMPLE ? H5Sget_simple_extent_ndims(space) : -1;
  if (nd == rank && H5Sget_simple_extent_dims(space, dims, NULL) < 0) nd = -1;
  if (space >= 0) H5Sclose(space);
  if (nd != rank)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: dataset %s has %d dimensions, expected %d", label, name, nd, rank);
  *total = 1;
  for (int d = 0; d < rank; d++) {
    if (dims[d] != 0 && *total > (hsize_t)INT64_MAX / dims[d])
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: corrupted (dataset %s has impossible dimensions)", label, name);
    *total *= dims[d];
  }
  return ELIGN_OK;
}

/* total elements of elem_bytes each: no more than the file holds, and all
 * of them stored. */
static elign_status dataset_fits(hid_t loc, hid_t ds, const char *name, hsize_t total, size_t elem_bytes,
                                 const char *label, elign_error *err) {
  if (total == 0) return ELIGN_OK;
  int64_t fsize = file_size_of(loc);
  if (fsize < 0) return elign_h5_fail_corrupted(err, label, "file size");
  if (elem_bytes == 0 || total > (hsize_t)fsize / elem_bytes)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                      "%s: corrupted (dataset %s claims %llu elements of %zu bytes; the file has %lld bytes)", label,
                      name, (unsigned long long)total, elem_bytes, (long long)fsize);
  hsize_t stored = H5Dget_storage_size(ds);
  if (stored < total * elem_bytes)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                      "%s: corrupted (dataset %s stores %llu bytes of its %llu; chunks are missing)", label, name,
                      (unsigned long long)stored, (unsigned long long)(total * elem_bytes));
  return ELIGN_OK;
}

/* Open a numeric dataset for reading into memtype with every check above;
 * dims and *total (elements) of the whole dataset. */
static elign_status numeric_open(hid_t loc, const char *name, hid_t memtype, int rank, hsize_t *dims, hsize_t *total,
                                 hid_t *ds_out, const char *label, elign_error *err) {
  hid_t ds;
  *ds_out = H5I_INVALID_HID;
  elign_status st = dataset_open(loc, name, label, &ds, err);
  if (st != ELIGN_OK) return st;
  hid_t ftype = H5Dget_type(ds);
  H5T_class_t cls = ftype >= 0 ? H5Tget_class(ftype) : H5T_NO_CLASS;
  size_t fsize = ftype >= 0 ? H5Tget_size(ftype) : 0;
  if (ftype >= 0) H5Tclose(ftype);
  if (cls != H5Tget_class(memtype) || fsize < 1 || fsize > 8)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: dataset %s has the wrong type (expected %s)", label, name,
                    H5Tget_class(memtype) == H5T_FLOAT ? "floating point" : "integer");
  if (st == ELIGN_OK) st = dataset_dims(ds, name, rank, dims, total, label, err);
  if (st == ELIGN_OK) st = dataset_fits(loc, ds, name, *total, fsize, label, err);
  if (st != ELIGN_OK) {
    H5Dclose(ds);
    return st;
  }
  *ds_out = ds;
  return ELIGN_OK;
}

elign_status elign_h5_read_array(hid_t loc, const char *name, hid_t memtype, int rank, hsize_t *dims, void **data,
                                 const char *file_label, elign_error *err) {
  *data = NULL;
  hid_t ds;
  hsize_t total;
  elign_status st = numeric_open(loc, name, memtype, rank, dims, &total, &ds, file_label, err);
  if (st != ELIGN_OK) return st;
  *data = elign_malloc((size_t)total * H5Tget_size(memtype), "h5:read");
  herr_t rc = total > 0 ? H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) : 0;
  if (rc < 0) {
    char what[600];
    snprintf(what, sizeof what, "dataset %s", name);
    st = elign_h5_fail_corrupted(err, file_label, what);
    elign_free(*data);
  }
  H5Dclose(ds);
  return st;
}

/* Open a 1-D fixed-length string dataset; *ftype (to close) and *width. */
static elign_status strings_open(hid_t loc, const char *name, size_t max_width, hid_t *ds_out, hid_t *ftype_out,
                                 size_t *width, hsize_t *count, const char *label, elign_error *err) {
  hid_t ds;
  *ds_out = *ftype_out = H5I_INVALID_HID;
  elign_status st = dataset_open(loc, name, label, &ds, err);
  if (st != ELIGN_OK) return st;
  hid_t ftype = H5Dget_type(ds);
  int is_string = ftype >= 0 && H5Tget_class(ftype) == H5T_STRING;
  htri_t is_vl = is_string ? H5Tis_variable_str(ftype) : -1;
  *width = is_vl == 0 ? H5Tget_size(ftype) : 0;
  if (!is_string || is_vl != 0)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: dataset %s is not a fixed-length string array%s", label, name,
                    is_vl > 0 ? " (variable-length strings: written before Elign-C format version 2?)" : "");
  else if (*width < 1 || *width > max_width)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: corrupted (dataset %s holds %zu-byte strings, at most %zu allowed)",
                    label, name, *width, max_width);
  hsize_t dims[1];
  if (st == ELIGN_OK) st = dataset_dims(ds, name, 1, dims, count, label, err);
  if (st == ELIGN_OK) st = dataset_fits(loc, ds, name, *count, *width, label, err);
  if (st != ELIGN_OK) {
    if (ftype >= 0) H5Tclose(ftype);
    H5Dclose(ds);
    return st;
  }
  *ds_out = ds;
  *ftype_out = ftype;
  return ELIGN_OK;
}

elign_status elign_h5_read_rows(hid_t loc, const char *name, hid_t memtype, int rank, hsize_t row0, hsize_t nrows,
                                hsize_t *dims, void **data, const char *file_label, elign_error *err) {
  ELIGN_ASSERT(rank >= 1 && rank <= 4);
  *data = NULL;
  hid_t ds;
  hsize_t total;
  elign_status st = numeric_open(loc, name, memtype, rank, dims, &total, &ds, file_label, err);
  if (st != ELIGN_OK) return st;
  if (row0 > dims[0] || nrows > dims[0] - row0) {
    H5Dclose(ds);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: dataset %s has %llu rows, rows %llu..%llu requested", file_label,
                      name, (unsigned long long)dims[0], (unsigned long long)row0,
                      (unsigned long long)(row0 + nrows));
  }
  /* Inside the whole dataset, which numeric_open bounded by the file size. */
  hsize_t start[4] = {row0, 0, 0, 0}, count[4] = {nrows, 0, 0, 0}, row_elems = 1;
  for (int d = 1; d < rank; d++) count[d] = dims[d], row_elems *= dims[d];
  size_t bytes = (size_t)(nrows * row_elems) * H5Tget_size(memtype);
  *data = elign_malloc(bytes ? bytes : 1, "h5:rows");
  if (nrows * row_elems > 0) {
    hid_t fspace = H5Dget_space(ds);
    hid_t mspace = H5Screate_simple(rank, count, NULL);
    herr_t rc = fspace < 0 ? -1 : H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    if (rc >= 0) rc = H5Dread(ds, memtype, mspace, fspace, H5P_DEFAULT, *data);
    if (rc < 0) {
      char what[600];
      snprintf(what, sizeof what, "rows %llu..%llu of dataset %s", (unsigned long long)row0,
               (unsigned long long)(row0 + nrows), name);
      st = elign_h5_fail_corrupted(err, file_label, what);
      elign_free(*data);
    }
    H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
  }
  H5Dclose(ds);
  return st;
}

elign_status elign_h5_read_strings(hid_t loc, const char *name, int64_t *n, char ***strings, const char *file_label,
                                   elign_error *err) {
  *strings = NULL;
  *n = 0;
  hid_t ds, ftype;
  size_t width;
  hsize_t count;
  elign_status st = strings_open(loc, name, ELIGN_H5_STRING_MAX, &ds, &ftype, &width, &count, file_label, err);
  if (st != ELIGN_OK) return st;
  char **out = elign_calloc((size_t)(count > 0 ? count : 1), sizeof *out, "h5:strings");
  /* The file type itself as the memory type: no conversion at all. */
  char *raw = elign_malloc((size_t)(count > 0 ? count : 1) * width, "h5:fixedstrings");
  herr_t rc = count > 0 ? H5Dread(ds, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) : 0;
  if (rc < 0) {
    char what[600];
    snprintf(what, sizeof what, "dataset %s", name);
    st = elign_h5_fail_corrupted(err, file_label, what);
  }
  if (rc >= 0)
    for (hsize_t i = 0; i < count; i++) {
      size_t l = strnlen(raw + (size_t)i * width, width);
      if (l == 0) continue;
      out[i] = elign_malloc(l + 1, "h5:string");
      memcpy(out[i], raw + (size_t)i * width, l);
      out[i][l] = '\0';
    }
  free(raw);
  H5Tclose(ftype);
  if (rc < 0) free(out);
  H5Dclose(ds);
  if (st != ELIGN_OK) return st;
  *strings = out;
  *n = (int64_t)count;
  return ELIGN_OK;
}

elign_status elign_h5_read_text(hid_t loc, const char *name, char **text, const char *file_label, elign_error *err) {
  *text = NULL;
  hid_t ds, ftype;
  size_t width;
  hsize_t count;
  /* One string as long as the file allows (dataset_fits bounds it). */
  elign_status st = strings_open(loc, name, SIZE_MAX / 2, &ds, &ftype, &width, &count, file_label, err);
  if (st != ELIGN_OK) return st;
  if (count != 1) {
    H5Tclose(ftype);
    H5Dclose(ds);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: dataset %s holds %llu texts, expected 1", file_label, name,
                      (unsigned long long)count);
  }
  char *raw = elign_malloc(width + 1, "h5:text");
  herr_t rc = H5Dread(ds, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
  if (rc < 0) {
    char what[600];
    snprintf(what, sizeof what, "dataset %s", name);
    st = elign_h5_fail_corrupted(err, file_label, what);
  }
  H5Tclose(ftype);
  H5Dclose(ds);
  if (rc < 0) {
    free(raw);
    return st;
  }
  raw[width] = '\0';
  *text = raw;
  return ELIGN_OK;
}

/* ---- attributes ------------------------------------------------------------------ */

static elign_status attr_write(hid_t loc, const char *obj, const char *name, hid_t ftype, hid_t mtype, hid_t space,
                               const void *value, elign_error *err) {
  if (H5Aexists_by_name(loc, obj, name, H5P_DEFAULT) > 0) H5Adelete_by_name(loc, obj, name, H5P_DEFAULT);
  hid_t a = H5Acreate_by_name(loc, obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, mtype, value);
  if (a >= 0 && H5Aclose(a) < 0) rc = -1;
  if (rc < 0) return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot write HDF5 attribute %s of %s", name, obj);
  return ELIGN_OK;
}

elign_status elign_h5_set_attr_str(hid_t loc, const char *obj, const char *name, const char *value,
                                   elign_error *err) {
  const char *v = value ? value : "";
  size_t len = strlen(v);
  hid_t t = elign_h5_string_type(len);
  hid_t space = H5Screate(H5S_SCALAR);
  char *buf = elign_calloc(len ? len : 1, 1, "h5:attr");
  memcpy(buf, v, len);
  elign_status st = attr_write(loc, obj, name, t, t, space, buf, err);
  free(buf);
  H5Sclose(space);
  H5Tclose(t);
  return st;
}

elign_status elign_h5_set_attr_i64(hid_t loc, const char *obj, const char *name, int64_t value, elign_error *err) {
  hid_t space = H5Screate(H5S_SCALAR);
  elign_status st = attr_write(loc, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, space, &value, err);
  H5Sclose(space);
  return st;
}

elign_status elign_h5_set_attr_f64(hid_t loc, const char *obj, const char *name, double value, elign_error *err) {
  hid_t space = H5Screate(H5S_SCALAR);
  elign_status st = attr_write(loc, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, space, &value, err);
  H5Sclose(space);
  return st;
}

elign_status elign_h5_set_attr_f64v(hid_t loc, const char *obj, const char *name, int n, const double *values,
                                    elign_error *err) {
  hsize_t dims[1] = {(hsize_t)n};
  hid_t space = H5Screate_simple(1, dims, NULL);
  elign_status st = attr_write(loc, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, space, values, err);
  H5Sclose(space);
  return st;
}

int elign_h5_has_attr(hid_t loc, const char *obj, const char *name) {
  if (strcmp(obj, "/") != 0 && strcmp(obj, ".") != 0) {
    int e = elign_h5_exists(loc, obj);
    if (e <= 0) return e;
  }
  htri_t r = H5Aexists_by_name(loc, obj, name, H5P_DEFAULT);
  return r < 0 ? -1 : r > 0;
}

static hid_t attr_open(hid_t loc, const char *obj, const char *name, H5T_class_t want, const char *file_label,
                       elign_error *err) {
  char what[600];
  snprintf(what, sizeof what, "attribute '%s' of %s", name, obj);
  int has = elign_h5_has_attr(loc, obj, name);
  if (has <= 0) {
    if (has < 0) elign_h5_fail_corrupted(err, file_label, what);
    else ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: missing attribute '%s' of %s", file_label, name, obj);
    return H5I_INVALID_HID;
  }
  hid_t a = H5Aopen_by_name(loc, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) {
    elign_h5_fail_corrupted(err, file_label, what);
    return H5I_INVALID_HID;
  }
  hid_t t = H5Aget_type(a);
  H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
  if (t >= 0) H5Tclose(t);
  int ok = cls == want || (want == H5T_FLOAT && cls == H5T_INTEGER);
  if (!ok) {
    H5Aclose(a);
    ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: attribute '%s' of %s has the wrong type", file_label, name, obj);
    return H5I_INVALID_HID;
  }
  return a;
}

elign_status elign_h5_get_attr_text(hid_t loc, const char *obj, const char *name, char **value,
                                    const char *file_label, elign_error *err) {
  *value = NULL;
  hid_t a = attr_open(loc, obj, name, H5T_STRING, file_label, err);
  if (a < 0) return ELIGN_ERR_FORMAT;
  hid_t ft = H5Aget_type(a), space = H5Aget_space(a);
  htri_t is_vl = ft >= 0 ? H5Tis_variable_str(ft) : -1;
  size_t len = is_vl == 0 ? H5Tget_size(ft) : 0;
  hssize_t npts = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  if (space >= 0) H5Sclose(space);
  elign_status st = ELIGN_OK;
  if (is_vl != 0)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: attribute '%s' of %s is not a fixed-length string%s", file_label, name,
                    obj, is_vl > 0 ? " (variable-length: written before Elign-C format version 2?)" : "");
  else if (len < 1 || len > ELIGN_H5_STRING_MAX || npts != 1)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: corrupted (attribute '%s' of %s: %lld strings of %zu bytes)",
                    file_label, name, obj, (long long)npts, len);
  if (st == ELIGN_OK) {
    /* Read in the file's own type: no conversion. */
    char *tmp = elign_calloc(len + 1, 1, "h5:attr");
    if (H5Aread(a, ft, tmp) < 0) {
      char what[600];
      snprintf(what, sizeof what, "attribute '%s' of %s", name, obj);
      st = elign_h5_fail_corrupted(err, file_label, what);
      free(tmp);
    } else {
      *value = tmp;
    }
  }
  if (ft >= 0) H5Tclose(ft);
  H5Aclose(a);
  return st;
}

elign_status elign_h5_get_attr_str(hid_t loc, const char *obj, const char *name, char *buf, size_t buflen,
                                   const char *file_label, elign_error *err) {
  buf[0] = '\0';
  char *value;
  elign_status st = elign_h5_get_attr_text(loc, obj, name, &value, file_label, err);
  if (st != ELIGN_OK) return st;
  snprintf(buf, buflen, "%s", value);
  free(value);
  return ELIGN_OK;
}

static elign_status attr_read_scalar(hid_t loc, const char *obj, const char *name, H5T_class_t cls, hid_t mtype,
                                     void *value, const char *file_label, elign_error *err) {
  hid_t a = attr_open(loc, obj, name, cls, file_label, err);
  if (a < 0) return ELIGN_ERR_FORMAT;
  hid_t space = H5Aget_space(a), ft = H5Aget_type(a);
  hssize_t npts = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  size_t fsize = ft >= 0 ? H5Tget_size(ft) : 0;
  if (space >= 0) H5Sclose(space);
  if (ft >= 0) H5Tclose(ft);
  if (npts != 1 || fsize < 1 || fsize > 8) {
    H5Aclose(a);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: attribute '%s' of %s is not a single number", file_label, name, obj);
  }
  herr_t rc = H5Aread(a, mtype, value);
  H5Aclose(a);
  if (rc < 0) {
    char what[600];
    snprintf(what, sizeof what, "attribute '%s' of %s", name, obj);
    return elign_h5_fail_corrupted(err, file_label, what);
  }
  return ELIGN_OK;
}

elign_status elign_h5_get_attr_i64(hid_t loc, const char *obj, const char *name, int64_t *value,
                                   const char *file_label, elign_error *err) {
  return attr_read_scalar(loc, obj, name, H5T_INTEGER, H5T_NATIVE_INT64, value, file_label, err);
}

elign_status elign_h5_get_attr_f64(hid_t loc, const char *obj, const char *name, double *value,
                                   const char *file_label, elign_error *err) {
  return attr_read_scalar(loc, obj, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, value, file_label, err);
}
