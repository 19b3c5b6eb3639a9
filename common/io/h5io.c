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

/* ---- format check ------------------------------------------------------------- */

void elign_h5_get_format(hid_t file, char *format, size_t format_len, int *version) {
  format[0] = '\0';
  *version = 0;
  int64_t v = 0;
  if (elign_h5_get_attr_str(file, "/", "elign_format", format, format_len, "", NULL) != ELIGN_OK) {
    format[0] = '\0';
    return;
  }
  if (elign_h5_get_attr_i64(file, "/", "elign_format_version", &v, "", NULL) == ELIGN_OK) *version = (int)v;
}

elign_status elign_h5_open_read(const char *path, const char *expect_format, int max_version, hid_t *file,
                                char *format_out, int *version_out, elign_error *err) {
  elign_h5_quiet();
  *file = H5I_INVALID_HID;
  /* Distinguish "no such file" from "not HDF5" before HDF5 sees it. */
  FILE *probe = fopen(path, "rb");
  if (!probe) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  fclose(probe);
  /* A truncated file may still show a valid superblock; H5Fopen then fails
   * because the stored end-of-file lies beyond the real one. Both cases get
   * the same message. */
  htri_t is_h5 = H5Fis_hdf5(path);
  hid_t f = is_h5 > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID;
  if (f < 0) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: not an HDF5 file or truncated", path);
  char format[32];
  int version;
  elign_h5_get_format(f, format, sizeof format, &version);
  if (expect_format) {
    if (!format[0]) {
      H5Fclose(f);
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                        "%s: not an Elign-C %s file (it is an HDF5 file without the elign_format attribute)", path,
                        expect_format);
    }
    if (strcmp(format, expect_format) != 0) {
      H5Fclose(f);
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: is an Elign-C %s file, expected a %s file", path, format,
                        expect_format);
    }
    if (version < 1 || version > max_version) {
      H5Fclose(f);
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                        "%s: %s file format version %d is not supported (this build reads versions 1..%d)", path,
                        format, version, max_version);
    }
  }
  if (format_out) snprintf(format_out, 32, "%s", format);
  if (version_out) *version_out = version;
  *file = f;
  return ELIGN_OK;
}

/* ---- atomic writers ----------------------------------------------------------- */

static elign_status writer_stamp(elign_h5_writer *w, const char *format, int version, elign_error *err) {
  elign_status st = elign_h5_set_attr_str(w->file, "/", "elign_format", format, err);
  if (st == ELIGN_OK) st = elign_h5_set_attr_i64(w->file, "/", "elign_format_version", version, err);
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
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG); /* closing the file closes every object in it */
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
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
  H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
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

elign_status elign_h5_write_array(hid_t loc, const char *name, hid_t memtype, int rank, const hsize_t *dims,
                                  const void *data, elign_error *err) {
  ELIGN_ASSERT(rank >= 1 && rank <= 4);
  hsize_t total = 1;
  for (int d = 0; d < rank; d++) total *= dims[d];
  hid_t space = H5Screate_simple(rank, dims, NULL);
  hid_t lcpl = link_create_plist();
  hid_t ds = H5Dcreate2(loc, name, file_type_for(memtype), space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Pclose(lcpl);
  herr_t rc = ds < 0 ? -1 : 0;
  errno = 0;
  if (rc == 0 && total > 0) rc = H5Dwrite(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  /* The close flushes HDF5's sieve buffer: small datasets meet a full disk only here. */
  if (ds >= 0 && H5Dclose(ds) < 0) rc = -1;
  int e = errno;
  H5Sclose(space);
  if (rc < 0) return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot write HDF5 dataset %s: %s", name, write_failure_reason(e));
  return ELIGN_OK;
}

elign_status elign_h5_write_slab(hid_t file, const char *name, hid_t memtype, int rank, const hsize_t *global_dims,
                                 hsize_t row0, hsize_t nrows, const void *data, elign_error *err) {
  ELIGN_ASSERT(rank >= 1 && rank <= 4);
  hid_t fspace = H5Screate_simple(rank, global_dims, NULL);
  hid_t lcpl = link_create_plist();
  hid_t ds = H5Dcreate2(file, name, file_type_for(memtype), fspace, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Pclose(lcpl);
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

static hid_t vl_string_type(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

elign_status elign_h5_write_strings(hid_t loc, const char *name, int64_t n, char *const *strings, elign_error *err) {
  const char **tmp = elign_malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp, "h5:strings");
  for (int64_t i = 0; i < n; i++) tmp[i] = strings && strings[i] ? strings[i] : "";
  hsize_t dims[1] = {(hsize_t)n};
  hid_t t = vl_string_type();
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t lcpl = link_create_plist();
  errno = 0;
  hid_t ds = H5Dcreate2(loc, name, t, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Pclose(lcpl);
  herr_t rc = ds < 0 ? -1 : 0;
  if (rc == 0 && n > 0) rc = H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp);
  if (ds >= 0 && H5Dclose(ds) < 0) rc = -1;
  int e = errno;
  H5Sclose(space);
  H5Tclose(t);
  free(tmp);
  if (rc < 0)
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot write HDF5 string dataset %s: %s", name, write_failure_reason(e));
  return ELIGN_OK;
}

int elign_h5_exists(hid_t loc, const char *name) {
  /* Check each path component so a missing parent group is not an error. */
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", name);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
    *p = '/';
  }
  return H5Lexists(loc, buf, H5P_DEFAULT) > 0;
}

elign_status elign_h5_read_array(hid_t loc, const char *name, hid_t memtype, int rank, hsize_t *dims, void **data,
                                 const char *file_label, elign_error *err) {
  *data = NULL;
  if (!elign_h5_exists(loc, name))
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: missing dataset %s", file_label, name);
  hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
  if (ds < 0) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: cannot open dataset %s", file_label, name);
  hid_t space = H5Dget_space(ds);
  int nd = H5Sget_simple_extent_ndims(space);
  if (nd != rank) {
    H5Sclose(space);
    H5Dclose(ds);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: dataset %s has %d dimensions, expected %d", file_label, name, nd,
                      rank);
  }
  H5Sget_simple_extent_dims(space, dims, NULL);
  H5Sclose(space);
  hsize_t total = 1;
  for (int d = 0; d < rank; d++) total *= dims[d];
  size_t esize = H5Tget_size(memtype);
  *data = elign_malloc((size_t)total * esize, "h5:read");
  herr_t rc = total > 0 ? H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) : 0;
  H5Dclose(ds);
  if (rc < 0) {
    elign_free(*data);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: cannot read dataset %s (damaged file or wrong type)", file_label,
                      name);
  }
  return ELIGN_OK;
}

elign_status elign_h5_read_rows(hid_t loc, const char *name, hid_t memtype, int rank, hsize_t row0, hsize_t nrows,
                                hsize_t *dims, void **data, const char *file_label, elign_error *err) {
  ELIGN_ASSERT(rank >= 1 && rank <= 4);
  *data = NULL;
  if (!elign_h5_exists(loc, name))
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: missing dataset %s", file_label, name);
  hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
  if (ds < 0) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: cannot open dataset %s", file_label, name);
  hid_t fspace = H5Dget_space(ds);
  int nd = H5Sget_simple_extent_ndims(fspace);
  elign_status st = ELIGN_OK;
  if (nd != rank) {
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: dataset %s has %d dimensions, expected %d", file_label, name, nd, rank);
  } else {
    H5Sget_simple_extent_dims(fspace, dims, NULL);
    if (row0 + nrows > dims[0])
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: dataset %s has %llu rows, rows %llu..%llu requested", file_label, name,
                      (unsigned long long)dims[0], (unsigned long long)row0, (unsigned long long)(row0 + nrows));
  }
  if (st == ELIGN_OK) {
    hsize_t start[4] = {row0, 0, 0, 0}, count[4] = {nrows, 0, 0, 0}, row_elems = 1;
    for (int d = 1; d < rank; d++) count[d] = dims[d], row_elems *= dims[d];
    size_t bytes = (size_t)(nrows * row_elems) * H5Tget_size(memtype);
    *data = elign_malloc(bytes ? bytes : 1, "h5:rows");
    if (nrows * row_elems > 0) {
      hid_t mspace = H5Screate_simple(rank, count, NULL);
      herr_t rc = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
      if (rc >= 0) rc = H5Dread(ds, memtype, mspace, fspace, H5P_DEFAULT, *data);
      H5Sclose(mspace);
      if (rc < 0) {
        elign_free(*data);
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: cannot read rows of dataset %s (damaged file or wrong type)",
                        file_label, name);
      }
    }
  }
  H5Sclose(fspace);
  H5Dclose(ds);
  return st;
}

elign_status elign_h5_read_strings(hid_t loc, const char *name, int64_t *n, char ***strings, const char *file_label,
                                   elign_error *err) {
  *strings = NULL;
  *n = 0;
  if (!elign_h5_exists(loc, name))
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: missing dataset %s", file_label, name);
  hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
  hid_t ftype = ds >= 0 ? H5Dget_type(ds) : H5I_INVALID_HID;
  if (ds < 0 || ftype < 0 || H5Tget_class(ftype) != H5T_STRING) {
    if (ftype >= 0) H5Tclose(ftype);
    if (ds >= 0) H5Dclose(ds);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: dataset %s is not a string array", file_label, name);
  }
  hid_t space = H5Dget_space(ds);
  hsize_t dims[1] = {0};
  int nd = H5Sget_simple_extent_ndims(space);
  if (nd == 1) H5Sget_simple_extent_dims(space, dims, NULL);
  int64_t count = (int64_t)dims[0];
  char **out = elign_calloc((size_t)(count > 0 ? count : 1), sizeof *out, "h5:strings");
  herr_t rc = nd == 1 ? 0 : -1;
  if (rc == 0 && count > 0 && H5Tis_variable_str(ftype) > 0) {
    hid_t mt = vl_string_type();
    char **raw = elign_calloc((size_t)count, sizeof *raw, "h5:vlstrings");
    rc = H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
    if (rc >= 0) {
      for (int64_t i = 0; i < count; i++)
        out[i] = raw[i] && raw[i][0] ? elign_strdup(raw[i], "h5:string") : NULL;
      H5Dvlen_reclaim(mt, space, H5P_DEFAULT, raw);
    }
    free(raw);
    H5Tclose(mt);
  } else if (rc == 0 && count > 0) {
    size_t len = H5Tget_size(ftype);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, len);
    char *raw = elign_malloc((size_t)count * len, "h5:fixedstrings");
    rc = H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
    if (rc >= 0)
      for (int64_t i = 0; i < count; i++) {
        size_t l = strnlen(raw + (size_t)i * len, len);
        if (l == 0) continue;
        out[i] = elign_malloc(l + 1, "h5:string");
        memcpy(out[i], raw + (size_t)i * len, l);
        out[i][l] = '\0';
      }
    free(raw);
    H5Tclose(mt);
  }
  H5Sclose(space);
  H5Tclose(ftype);
  H5Dclose(ds);
  if (rc < 0) {
    for (int64_t i = 0; i < count; i++) free(out[i]);
    free(out);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: cannot read string dataset %s", file_label, name);
  }
  *strings = out;
  *n = count;
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
  hid_t t = vl_string_type();
  hid_t space = H5Screate(H5S_SCALAR);
  const char *v = value ? value : "";
  elign_status st = attr_write(loc, obj, name, t, t, space, &v, err);
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
  if (strcmp(obj, "/") != 0 && strcmp(obj, ".") != 0 && !elign_h5_exists(loc, obj)) return 0;
  return H5Aexists_by_name(loc, obj, name, H5P_DEFAULT) > 0;
}

static hid_t attr_open(hid_t loc, const char *obj, const char *name, H5T_class_t want, const char *file_label,
                       elign_error *err) {
  if (!elign_h5_has_attr(loc, obj, name)) {
    ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: missing attribute '%s' of %s", file_label, name, obj);
    return H5I_INVALID_HID;
  }
  hid_t a = H5Aopen_by_name(loc, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
  H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
  if (t >= 0) H5Tclose(t);
  int ok = cls == want || (want == H5T_FLOAT && cls == H5T_INTEGER);
  if (a < 0 || !ok) {
    if (a >= 0) H5Aclose(a);
    ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: attribute '%s' of %s has the wrong type", file_label, name, obj);
    return H5I_INVALID_HID;
  }
  return a;
}

elign_status elign_h5_get_attr_str(hid_t loc, const char *obj, const char *name, char *buf, size_t buflen,
                                   const char *file_label, elign_error *err) {
  hid_t a = attr_open(loc, obj, name, H5T_STRING, file_label, err);
  if (a < 0) return ELIGN_ERR_FORMAT;
  hid_t ft = H5Aget_type(a);
  herr_t rc;
  buf[0] = '\0';
  if (H5Tis_variable_str(ft) > 0) {
    hid_t mt = vl_string_type();
    char *s = NULL;
    rc = H5Aread(a, mt, &s);
    if (rc >= 0 && s) {
      snprintf(buf, buflen, "%s", s);
      H5free_memory(s);
    }
    H5Tclose(mt);
  } else {
    size_t len = H5Tget_size(ft);
    char *tmp = elign_calloc(len + 1, 1, "h5:attr");
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, len);
    rc = H5Aread(a, mt, tmp);
    if (rc >= 0) snprintf(buf, buflen, "%s", tmp);
    H5Tclose(mt);
    free(tmp);
  }
  H5Tclose(ft);
  H5Aclose(a);
  if (rc < 0) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: cannot read attribute '%s' of %s", file_label, name, obj);
  return ELIGN_OK;
}

static elign_status attr_read_scalar(hid_t loc, const char *obj, const char *name, H5T_class_t cls, hid_t mtype,
                                     void *value, const char *file_label, elign_error *err) {
  hid_t a = attr_open(loc, obj, name, cls, file_label, err);
  if (a < 0) return ELIGN_ERR_FORMAT;
  hid_t space = H5Aget_space(a);
  hssize_t npts = H5Sget_simple_extent_npoints(space);
  H5Sclose(space);
  herr_t rc = npts == 1 ? H5Aread(a, mtype, value) : -1;
  H5Aclose(a);
  if (rc < 0)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: attribute '%s' of %s is not a single number", file_label, name, obj);
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
