/* oracle_backends.c — the registry: one table lists every backend (LAMMPS
 * "styles", ggml backend tables). Adding a backend is one file that defines an
 * elign_oracle_backend and one line below. Backends that this build lacks stay
 * listed; their create() explains how to get them (elign_oracle_fail_not_built). */
#include "oracle/oracle_backends.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ registry */

static const elign_oracle_backend *const oracle_registry[] = {
    &elign_oracle_ani_backend,
    &elign_oracle_gfn2_xtb_backend,
    &elign_oracle_gfn_ff_backend,
    &elign_oracle_python_backend,
    &elign_oracle_dft_backend,
    &elign_oracle_lj_backend,
};
#define ORACLE_N_BACKENDS ((int)(sizeof oracle_registry / sizeof oracle_registry[0]))

const elign_oracle_backend *elign_oracle_backend_at(int i) {
  return i >= 0 && i < ORACLE_N_BACKENDS ? oracle_registry[i] : NULL;
}

const elign_oracle_backend *elign_oracle_backend_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < ORACLE_N_BACKENDS; i++)
    if (strcmp(oracle_registry[i]->name, name) == 0) return oracle_registry[i];
  return NULL;
}

const char *elign_oracle_backend_names(void) {
  static char names[512];
  size_t used = 0;
  names[0] = '\0';
  for (int i = 0; i < ORACLE_N_BACKENDS; i++) {
    int w = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", oracle_registry[i]->name);
    if (w < 0 || (size_t)w >= sizeof names - used) break;
    used += (size_t)w;
  }
  return names;
}

elign_status elign_oracle_fail_not_built(void **state, const char *what, const char *package, const char *cmake_reports,
                                         elign_error *err) {
  *state = NULL;
  ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "%s not built: rebuild with %s installed", what, package);
  elign_error_hint(err, "apt-get install %s, then re-run cmake (it reports '%s')", package, cmake_reports);
  return ELIGN_ERR_UNSUPPORTED;
}
