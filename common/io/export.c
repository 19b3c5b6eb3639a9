/* export.c — XYZ and SDF writers (export.h). */
#include "common/io/export.h"

#include "common/base/atomic_file.h"
#include "common/chem/elements.h"
#include "common/io/dataset_io.h"

elign_status elign_export_xyz(const char *path, const elign_molset *s, elign_error *err) {
  elign_atomic_file a;
  FILE *f;
  elign_status st = elign_atomic_fopen(&a, path, &f, err);
  if (st != ELIGN_OK) return st;
  for (int64_t m = 0; m < s->n_mol; m++) {
    char formula[128];
    elign_molset_formula(s, m, formula, sizeof formula);
    fprintf(f, "%lld\nmolecule=%lld formula=%s\n", (long long)elign_molset_natoms(s, m), (long long)m, formula);
    for (int64_t i = s->offsets[m]; i < s->offsets[m + 1]; i++)
      fprintf(f, "%-2s %14.8f %14.8f %14.8f\n", elign_element_symbol(s->Z[i]), s->pos[3 * i], s->pos[3 * i + 1],
              s->pos[3 * i + 2]);
  }
  return elign_atomic_fclose(&a, f, err);
}

elign_status elign_export_sdf(const char *path, const elign_molset *s, elign_error *err) {
  for (int64_t m = 0; m < s->n_mol; m++)
    if (elign_molset_natoms(s, m) > 999)
      return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "%s: molecule %lld has %lld atoms (V2000 allows 999)", path,
                        (long long)m, (long long)elign_molset_natoms(s, m));
  elign_atomic_file a;
  FILE *f;
  elign_status st = elign_atomic_fopen(&a, path, &f, err);
  if (st != ELIGN_OK) return st;
  for (int64_t m = 0; m < s->n_mol; m++) {
    int64_t n = elign_molset_natoms(s, m);
    fprintf(f, "molecule_%lld\n  elign\n\n%3lld  0  0  0  0  0  0  0  0  0999 V2000\n", (long long)m, (long long)n);
    for (int64_t i = s->offsets[m]; i < s->offsets[m + 1]; i++)
      fprintf(f, "%10.4f%10.4f%10.4f %-3s 0  0  0  0  0  0  0  0  0  0  0  0\n", s->pos[3 * i], s->pos[3 * i + 1],
              s->pos[3 * i + 2], elign_element_symbol(s->Z[i]));
    fprintf(f, "M  END\n$$$$\n");
  }
  return elign_atomic_fclose(&a, f, err);
}

elign_status elign_export_samples(const char *samples, const char *xyz, const char *sdf, elign_error *err) {
  elign_molset s;
  elign_molset_init(&s);
  elign_status st = elign_samples_read(samples, &s, NULL, NULL, err);
  if (!st && xyz) st = elign_export_xyz(xyz, &s, err);
  if (!st && sdf) st = elign_export_sdf(sdf, &s, err);
  elign_molset_free(&s);
  return st;
}
