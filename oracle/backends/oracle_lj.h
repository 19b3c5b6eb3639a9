/* oracle_lj.h — the "lj" oracle backend table (registered in oracle_backends.c). */
#ifndef ELIGN_ORACLE_LJ_H
#define ELIGN_ORACLE_LJ_H

#include "oracle/oracle.h"

extern const elign_oracle_backend elign_oracle_lj_backend;

/* Parameters of element Z: r_cov (Å) and well depth eps (eV). Returns 0 if
 * the table has no entry for Z. */
int elign_oracle_lj_params(int Z, double *r_cov, double *eps);

#endif
