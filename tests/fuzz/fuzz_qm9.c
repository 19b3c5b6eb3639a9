/* fuzz_qm9.c — libFuzzer target: the QM9 importer. An input that looks like
 * a tar archive (the "ustar" magic at byte 257) goes through
 * elign_import_qm9_archive (libarchive, then each *.xyz member); anything
 * else is one member's text for elign_import_qm9_text, the parser of the
 * Ramakrishnan et al. format (counts, the gdb property line, atom lines with
 * Mulliken charges, frequencies, SMILES, InChI; Mathematica exponents).
 * Seeds: tests/fuzz/corpus/qm9/. */
#include <string.h>

#include "common/io/dataset_io.h"
#include "common/io/importers.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  elign_error err;
  elign_error_clear(&err);
  elign_dataset ds;
  elign_dataset_init(&ds);
  if (size > 262 && memcmp(data + 257, "ustar", 5) == 0) {
    const char *path = fuzz_write_input(data, size, ".tar");
    fuzz_check_result(elign_import_qm9_archive(path, &ds, &err), &err, path, "elign_import_qm9_archive");
  } else {
    /* The member parser reads text[0..len) only: no terminator, so reading past it is caught. */
    const char *label = "fuzz.tar:dsgdb9nsd_000001.xyz";
    fuzz_check_result(elign_import_qm9_text((const char *)data, size, label, &ds, &err), &err, label,
                      "elign_import_qm9_text");
  }
  elign_dataset_free(&ds);
  return 0;
}
