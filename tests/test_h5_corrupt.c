/* test_h5_corrupt.c — damaged and hostile HDF5 files (issue 8): every reader
 * returns one clear message, never a crash, a hang or a huge allocation.
 *
 *  1. The classes seen on format-version-1 files (tests/fuzz/regress/, found
 *     by mutating a 2-molecule dataset): a SIGSEGV in libhdf5 reading a
 *     variable-length string from the global heap, an allocation of 4e17
 *     bytes taken from the file, a read that never ends. Now refused before
 *     HDF5 parses them (no metadata checksums).
 *  2. The same classes built into well-formed version-2 files, where only
 *     the reader's own cross-checks can stop them: a dataset claiming 10^12
 *     elements that were never written, one whose chunks are missing, a
 *     variable-length format attribute, a dataset without the Fletcher32
 *     filter or with compression.
 *  3. Damage under the checksums: a byte of a data chunk, a byte of the
 *     metadata, the superblock's version and end of file.
 *  4. 150 random byte mutations of each committed seed (tests/fuzz/corpus),
 *     through every reader and `elign info` (tests/fuzz/fuzz_h5.c): the
 *     one-message contract, no HDF5 object left open; any breach aborts.
 * usage: test_h5_corrupt TESTS_FUZZ_DIR */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/io/checkpoint.h"
#include "common/io/dataset_io.h"
#include "common/io/h5io.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/testutil.h"

/* elign_dataset_read on path: must fail with one line naming the file and containing `want`. */
static void expect_dataset_error(const char *path, const char *want) {
  elign_dataset ds;
  elign_error err;
  elign_error_clear(&err);
  elign_status st = elign_dataset_read(path, &ds, &err);
  elign_dataset_free(&ds);
  int ok = st != ELIGN_OK && strncmp(err.msg, path, strlen(path)) == 0 && !strchr(err.msg, '\n') &&
           strstr(err.msg, want) != NULL;
  CHECK(ok);
  if (!ok) fprintf(stderr, "  %s: status %d, message '%s' (want '%s')\n", path, st, err.msg, want);
  CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
}

/* ---- 1. the version-1 files that crashed, hung or allocated 4e17 bytes ------------------------ */

static void test_version1_regressions(const char *dir) {
  const char *names[] = {"v1_global_heap_segv.h5", "v1_huge_allocation.h5", "v1_hang.h5"};
  for (int i = 0; i < 3; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/regress/%s", dir, names[i]);
    expect_dataset_error(path, "HDF5 file without metadata checksums (superblock version 0)");
    fuzz_h5_read_all(path);
  }
}

/* ---- 2. version-2 files whose claims do not hold ------------------------------------------------ */

/* A dataset file with everything but /offsets, which `make_offsets` creates. */
typedef void (*offsets_maker)(hid_t f);

static void write_file(const char *path, offsets_maker make_offsets) {
  elign_h5_writer w;
  elign_error err;
  CHECK(elign_h5_writer_create(&w, path, "dataset", ELIGN_DATASET_VERSION, &err) == ELIGN_OK);
  make_offsets(w.file);
  CHECK(elign_h5_writer_commit(&w, &err) == ELIGN_OK);
}

static hid_t chunked_plist(hsize_t chunk, int fletcher, int deflate) {
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, &chunk);
  if (deflate) H5Pset_deflate(dcpl, 6);
  if (fletcher) H5Pset_fletcher32(dcpl);
  return dcpl;
}

/* 10^12 offsets in chunks of one, none written: reading it used to mean a
 * 8 TB allocation and 10^12 fill values. */
static void huge_unwritten(hid_t f) {
  hsize_t dims = 1000000000000ULL;
  hid_t space = H5Screate_simple(1, &dims, NULL), dcpl = chunked_plist(1, 1, 0);
  H5Dclose(H5Dcreate2(f, "/offsets", H5T_STD_I64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  H5Pclose(dcpl);
  H5Sclose(space);
}

/* 100,000 offsets, only the first chunk written; a 1 MB pad makes the claim
 * fit in the file, so only the stored-bytes check can see the hole. */
static void missing_chunks(hid_t f) {
  hsize_t dims = 100000, pad = 1 << 17, rows = 1024;
  hid_t space = H5Screate_simple(1, &dims, NULL), dcpl = chunked_plist(rows, 1, 0);
  hid_t ds = H5Dcreate2(f, "/offsets", H5T_STD_I64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  int64_t *v = calloc(pad, sizeof *v);
  hsize_t start = 0;
  hid_t mspace = H5Screate_simple(1, &rows, NULL);
  H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, NULL, &rows, NULL);
  H5Dwrite(ds, H5T_NATIVE_INT64, mspace, space, H5P_DEFAULT, v);
  H5Sclose(mspace);
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
  elign_error err;
  CHECK(elign_h5_write_array(f, "/pad", H5T_NATIVE_INT64, 1, &pad, v, &err) == ELIGN_OK);
  free(v);
}

static void plain_offsets(hid_t f, int fletcher, int deflate) {
  hsize_t dims = 3;
  int64_t v[3] = {0, 1, 2};
  hid_t space = H5Screate_simple(1, &dims, NULL);
  hid_t dcpl = fletcher || deflate ? chunked_plist(3, fletcher, deflate) : H5Pcreate(H5P_DATASET_CREATE);
  hid_t ds = H5Dcreate2(f, "/offsets", H5T_STD_I64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
}
static void contiguous_offsets(hid_t f) { plain_offsets(f, 0, 0); }
static void deflated_offsets(hid_t f) { plain_offsets(f, 1, 1); }

/* The format attribute as a variable-length string (in the global heap). */
static void vlen_format(hid_t f) {
  H5Adelete(f, "elign_format");
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, "elign_format", t, space, H5P_DEFAULT, H5P_DEFAULT);
  const char *v = "dataset";
  H5Awrite(a, t, &v);
  H5Aclose(a);
  H5Sclose(space);
  H5Tclose(t);
}

static void test_false_claims(void) {
  write_file("corrupt_huge.h5", huge_unwritten);
  expect_dataset_error("corrupt_huge.h5", "corrupted (dataset /offsets claims 1000000000000 elements of 8 bytes");
  write_file("corrupt_holes.h5", missing_chunks);
  expect_dataset_error("corrupt_holes.h5", "corrupted (dataset /offsets stores 8196 bytes of its 800000; chunks");
  write_file("corrupt_contiguous.h5", contiguous_offsets);
  expect_dataset_error("corrupt_contiguous.h5", "dataset /offsets is not stored with the Fletcher32 checksum alone");
  write_file("corrupt_deflate.h5", deflated_offsets);
  expect_dataset_error("corrupt_deflate.h5", "dataset /offsets is not stored with the Fletcher32 checksum alone");
  write_file("corrupt_vlen.h5", vlen_format);
  expect_dataset_error("corrupt_vlen.h5", "attribute 'elign_format' of / is not a fixed-length string");
  const char *all[] = {"corrupt_huge.h5", "corrupt_holes.h5", "corrupt_contiguous.h5", "corrupt_deflate.h5",
                       "corrupt_vlen.h5"};
  for (int i = 0; i < 5; i++) fuzz_h5_read_all(all[i]);
}

/* ---- 3. damage under the checksums -------------------------------------------------------------- */

static long file_size(const char *path) {
  FILE *f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}

static void poke(const char *src, const char *dst, long at, int xor_mask, long truncate_to) {
  FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
  long n = file_size(src);
  char *b = malloc((size_t)n);
  CHECK(fread(b, 1, (size_t)n, in) == (size_t)n);
  if (at >= 0) b[at] ^= (char)xor_mask;
  fwrite(b, 1, (size_t)(truncate_to >= 0 ? truncate_to : n), out);
  free(b);
  fclose(in);
  fclose(out);
}

static void test_damage(void) {
  elign_dataset ds;
  elign_dataset_init(&ds);
  int32_t Z[3] = {8, 1, 1};
  double pos[9] = {0, 0, 0.12, 0, 0.76, -0.47, 0, -0.76, -0.47};
  for (int m = 0; m < 4; m++) elign_molset_append(&ds.mols, 3, Z, pos, m, "O");
  elign_error err;
  CHECK(elign_dataset_write("damage.h5", &ds, &err) == ELIGN_OK);
  elign_dataset_free(&ds);
  /* where /positions' one chunk lies */
  hid_t f = H5Fopen("damage.h5", H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "/positions", H5P_DEFAULT);
  hid_t space = H5Dget_space(d);
  hsize_t off[2], size = 0;
  haddr_t addr = 0;
  unsigned mask;
  CHECK(H5Dget_chunk_info(d, space, 0, off, &mask, &addr, &size) >= 0 && size > 0);
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
  poke("damage.h5", "damage_data.h5", (long)addr + 5, 0x10, -1);
  expect_dataset_error("damage_data.h5", "corrupted (dataset /positions: data error detected by Fletcher32 checksum)");
  poke("damage.h5", "damage_super.h5", 20, 0x01, -1); /* a superblock field (under its checksum) */
  expect_dataset_error("damage_super.h5", "damage_super.h5: corrupted (");
  poke("damage.h5", "damage_version.h5", 8, 3, -1); /* superblock version 3 -> 0: no checksums */
  expect_dataset_error("damage_version.h5", "HDF5 file without metadata checksums (superblock version 0)");
  poke("damage.h5", "damage_cut.h5", -1, 0, file_size("damage.h5") - 100);
  expect_dataset_error("damage_cut.h5", "damage_cut.h5: truncated (the HDF5 superblock says ");
  /* every byte of the first 600 (superblock, root object header and its attributes) flipped in turn */
  int rejected = 0, total = 0;
  for (long at = 0; at < 600 && at < file_size("damage.h5"); at++, total++) {
    poke("damage.h5", "damage_byte.h5", at, 0x5a, -1);
    elign_error_clear(&err);
    elign_status st = elign_dataset_read("damage_byte.h5", &ds, &err);
    elign_dataset_free(&ds);
    rejected += st != ELIGN_OK;
    if (st != ELIGN_OK && (strncmp(err.msg, "damage_byte.h5: ", 16) != 0 || strchr(err.msg, '\n'))) {
      CHECK(0);
      fprintf(stderr, "  byte %ld: '%s'\n", at, err.msg);
    }
  }
  CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
  printf("flipped each of the first %d bytes of a dataset file: %d rejected with one message, %d still read "
         "(bytes HDF5 does not use)\n",
         total, rejected, total - rejected);
  CHECK(rejected > total / 2);
}

/* ---- 4. random mutations of the committed seeds -------------------------------------------------- */

static void test_mutations(const char *dir) {
  const char *seeds[] = {"dataset/small.h5", "dataset/oracle.h5", "samples/small.h5", "model/edm_tiny.h5",
                         "model/train_state.h5"};
  uint64_t x = 0x9e3779b97f4a7c15ULL; /* xorshift: the same mutations every run */
  int n_runs = 0;
  for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus/%s", dir, seeds[s]);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) continue;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *orig = malloc((size_t)n), *b = malloc((size_t)n);
    CHECK(fread(orig, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    for (int k = 0; k < 150; k++, n_runs++) {
      memcpy(b, orig, (size_t)n);
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      int flips = 1 + (int)(x % 8);
      for (int j = 0; j < flips; j++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b[(x >> 8) % (uint64_t)n] = (unsigned char)x;
      }
      fuzz_h5_read_all(fuzz_write_input(b, (size_t)n, ".h5")); /* aborts on a broken contract */
    }
    free(orig);
    free(b);
  }
  printf("%d mutated seed files through every reader: contract kept\n", n_runs);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_h5_corrupt TESTS_FUZZ_DIR\n");
    return 2;
  }
  elign_h5_quiet();
  test_version1_regressions(argv[1]);
  test_false_claims();
  test_damage();
  test_mutations(argv[1]);
  return test_main_result("test_h5_corrupt");
}
