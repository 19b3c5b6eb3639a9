/* fuzz_xyz.c — libFuzzer target: the extended-XYZ importer (elign_import_xyz)
 * on one (mutated) text file; what it accepts must also survive the dataset
 * writer and come back through the reader with the same molecules.
 * Seeds: tests/fuzz/corpus/xyz/. */
#include <stdio.h>
#include <string.h>

#include "common/io/dataset_io.h"
#include "common/io/importers.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_write_input(data, size, ".xyz");
  elign_error err;
  elign_error_clear(&err);
  elign_dataset ds;
  elign_dataset_init(&ds);
  elign_status st = elign_import_xyz(path, &ds, &err);
  fuzz_check_result(st, &err, path, "elign_import_xyz");
  if (st == ELIGN_OK) {
    /* Round trip: an accepted input is a dataset we can write and read back. */
    char out[400];
    snprintf(out, sizeof out, "%s.h5", path);
    elign_error_clear(&err);
    st = elign_dataset_write(out, &ds, &err);
    if (st != ELIGN_OK) fuzz_fail("an imported XYZ file cannot be written: %s", err.msg);
    elign_dataset back;
    st = elign_dataset_read(out, &back, &err);
    if (st != ELIGN_OK) fuzz_fail("an imported XYZ file does not read back: %s", err.msg);
    int same = back.mols.n_mol == ds.mols.n_mol && back.mols.n_atoms == ds.mols.n_atoms &&
               memcmp(back.mols.Z, ds.mols.Z, (size_t)ds.mols.n_atoms * sizeof *ds.mols.Z) == 0 &&
               memcmp(back.mols.pos, ds.mols.pos, (size_t)ds.mols.n_atoms * 3 * sizeof *ds.mols.pos) == 0;
    if (!same) fuzz_fail("an imported XYZ file reads back different molecules");
    elign_dataset_free(&back);
    remove(out);
  }
  elign_dataset_free(&ds);
  return 0;
}
