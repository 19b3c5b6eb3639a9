/* rdkit_shim.h — the one door from C into RDKit's C++ API (rdkit_shim.cpp).
 *
 * Internal to rdkit_metrics.c: plain C types only, so the C++ side includes
 * no project header. Every RDKit exception is caught on the C++ side; nothing
 * but these return codes crosses the boundary.
 */
#ifndef ELIGN_RDKIT_SHIM_H
#define ELIGN_RDKIT_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  ELIGN_RDKIT_SHIM_VALID = 1,    /* *smiles holds the canonical SMILES */
  ELIGN_RDKIT_SHIM_INVALID = 0,  /* sanitization failed; *smiles is NULL */
  ELIGN_RDKIT_SHIM_ERROR = -1,   /* RDKit failed otherwise; msg says how */
  ELIGN_RDKIT_SHIM_NOT_BUILT = -2 /* this build has no RDKit */
};

/* EDM's build_molecule + mol2smiles on a ready bond graph: atoms Z[0..n) in
 * order (no charges, no explicit H counts); a bond (i, j) of order
 * orders[i*n + j] (1, 2 or 3) for every non-zero entry with j < i, added in
 * row-major order; SanitizeMol; canonical MolToSmiles with default options.
 * largest_fragment: then GetMolFrags(asMols), the first fragment with the
 * most atoms (the molecule itself if it has none), sanitized again, its SMILES.
 * *smiles is malloc'ed (release with free). msg gets a message on ERROR. */
int elign_rdkit_shim_smiles(int64_t n, const int32_t *Z, const int8_t *orders, int largest_fragment,
                            char **smiles, char *msg, size_t msg_cap);

/* "2022.09.3" or "" when not built with RDKit. */
const char *elign_rdkit_shim_version(void);
/* The same with formal charges per atom (charges [n], or NULL = none). */
int elign_rdkit_shim_smiles_charged(int64_t n, const int32_t *Z, const int8_t *charges, const int8_t *orders,
                                    int largest_fragment, char **smiles, char *msg, size_t msg_cap);

#ifdef __cplusplus
}
#endif

#endif
