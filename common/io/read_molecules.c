/* read_molecules.c — any file that holds molecules, by its name or its
 * elign_format attribute (importers.h: elign_read_molecules). */
#include <string.h>

#include "common/io/h5io.h"
#include "common/io/importers.h"

static int is_h5_name(const char *path) {
  size_t n = strlen(path);
  return n >= 3 && strcmp(path + n - 3, ".h5") == 0;
}

/* An Elign-C HDF5 file: a dataset or a samples file, told apart by its format. */
static elign_status read_h5_molecules(const char *path, const char *role, elign_dataset *ds, elign_error *err) {
  hid_t f;
  char format[32];
  int version;
  elign_status st = elign_h5_open_read(path, NULL, 0, &f, format, &version, err);
  if (st != ELIGN_OK) return st;
  H5Fclose(f);
  if (strcmp(format, "dataset") == 0) return elign_dataset_read(path, ds, err);
  if (strcmp(format, "samples") == 0) {
    elign_molset_free(&ds->mols);
    return elign_samples_read(path, &ds->mols, NULL, NULL, err);
  }
  return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                    "%s: %s%s%s: %s takes molecules: extended XYZ, a QM9 archive, or an Elign-C dataset or samples "
                    "file",
                    path, format[0] ? "an Elign-C " : "not an Elign-C file", format, format[0] ? " file" : "", role);
}

elign_status elign_read_molecules(const char *path, const char *role, elign_dataset *ds, elign_error *err) {
  elign_status st = is_h5_name(path) ? read_h5_molecules(path, role, ds, err) : elign_import_any(path, ds, err);
  if (st == ELIGN_OK && ds->mols.n_mol == 0) st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: no molecules", path);
  return st;
}
