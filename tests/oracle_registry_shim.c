/* oracle_registry_shim.c — TEMPORARY stand-in for oracle/oracle.c (owned by
 * the `oracle` branch) so the server tests link before it is merged. It is
 * compiled only when oracle/oracle.c does not exist (tests/oserver.cmake) and
 * knows only the "lj" backend, without the registry's common input checks
 * (lj performs the same checks itself). Delete once oracle.c has landed. */
#include <stdlib.h>
#include <string.h>

#include "oracle/oracle.h"
#include "oracle/oracle_lj.h"

struct elign_oracle {
  const elign_oracle_backend *backend;
  void *state;
};

const char *elign_mol_status_string(elign_mol_status status) {
  static const char *names[] = {"ok", "unsupported_element", "overlap", "nonfinite_input", "not_converged",
                                "timeout", "backend_error", "nonfinite_output", "empty"};
  return (unsigned)status < sizeof names / sizeof names[0] ? names[status] : "unknown";
}

const elign_oracle_backend *elign_oracle_backend_find(const char *name) {
  return name && strcmp(name, "lj") == 0 ? &elign_oracle_lj_backend : NULL;
}

const char *elign_oracle_backend_names(void) { return "lj"; }

elign_status elign_oracle_create(const char *backend_name, const elign_oracle_options *opt, elign_oracle **out,
                                 elign_error *err) {
  const elign_oracle_backend *b = elign_oracle_backend_find(backend_name);
  if (!b) return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "unknown oracle backend '%s' (valid: %s)", backend_name,
                            elign_oracle_backend_names());
  elign_oracle *o = elign_calloc(1, sizeof *o, "shim:oracle");
  o->backend = b;
  elign_status st = b->create(opt, &o->state, err);
  if (st != ELIGN_OK) {
    free(o);
    return st;
  }
  *out = o;
  return ELIGN_OK;
}

elign_status elign_oracle_evaluate(elign_oracle *o, const elign_oracle_batch *batch, elign_oracle_result *result,
                                   elign_error *err) {
  return o->backend->evaluate(o->state, batch, result, err);
}

const char *elign_oracle_name(const elign_oracle *o) { return o->backend->name; }

void elign_oracle_destroy(elign_oracle **o) {
  if (!o || !*o) return;
  (*o)->backend->destroy((*o)->state);
  free(*o);
  *o = NULL;
}
