/* oracle_backends.h — INTERNAL to oracle/: the backend tables the registry
 * (oracle_backends.c) lists.
 * Each is defined in its own file (oracle_<name>.c). A backend this build
 * lacks (no libxtb, no Python headers, no native ANI engine) still defines its
 * table; its create() fails with "not built: ..." and how to get it. */
#ifndef ELIGN_ORACLE_BACKENDS_H
#define ELIGN_ORACLE_BACKENDS_H

#include "oracle/oracle.h"

extern const elign_oracle_backend elign_oracle_ani_backend;      /* oracle_ani.c */
extern const elign_oracle_backend elign_oracle_gfn2_xtb_backend; /* oracle_xtb.c */
extern const elign_oracle_backend elign_oracle_gfn_ff_backend;   /* oracle_xtb.c */
extern const elign_oracle_backend elign_oracle_python_backend;   /* oracle_python.c */
extern const elign_oracle_backend elign_oracle_dft_backend;      /* dft_pool.c */

#include "oracle/backends/oracle_lj.h" /* elign_oracle_lj_backend */

/* The create() failure of a backend compiled out of this build: sets
 * *state = NULL and an ELIGN_ERR_UNSUPPORTED error "<what> not built:
 * rebuild with <package> installed", with a hint naming the apt package and
 * the line cmake prints once it finds it (cmake_reports). One wording for
 * every optional backend. */
elign_status elign_oracle_fail_not_built(void **state, const char *what, const char *package, const char *cmake_reports,
                                         elign_error *err);

#endif
