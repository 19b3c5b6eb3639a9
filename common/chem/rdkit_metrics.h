/* rdkit_metrics.h — RDKit validity, uniqueness and novelty exactly as EDM
 * computes them (ALGORITHMS.md §3.5; EDM qm9/rdkit_functions.py).
 *
 * A molecule (positions in Å, atomic numbers) becomes EDM's bond graph
 * (edm_graph.h: torch.cdist float32 distances, bond orders by the dataset's
 * rule, pairs sorted by type), then an RDKit molecule with those atoms and
 * bonds only; it is valid iff RDKit's SanitizeMol succeeds, and its SMILES is
 * RDKit's canonical SMILES (default options; hydrogens are real atoms and
 * print as [H]). The metrics use the SMILES of the largest fragment; the
 * training-set reference uses whole molecules (tools/train_smiles.py).
 *
 * Typical use:
 *   char **smi = elign_calloc(n, sizeof *smi, "smiles");
 *   elign_rdkit_smiles_molset(&mols, ELIGN_RDKIT_RULE_QM9, 1, smi, &err);
 *   elign_smiles_set *train = elign_smiles_set_new();
 *   elign_smiles_set_load(train, "qm9_train_smiles.txt", NULL, &err);
 *   elign_rdkit_metrics m;
 *   elign_rdkit_metrics_of(smi, n, train, &m);
 *
 * Without RDKit in the build (ELIGN_WITH_RDKIT off) every SMILES call fails
 * with ELIGN_ERR_UNSUPPORTED and "built without RDKit".
 */
#ifndef ELIGN_RDKIT_METRICS_H
#define ELIGN_RDKIT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/base/error.h"
#include "common/chem/molset.h"
#include "common/chem/smiles_set.h"

/* Bond rule of the dataset (the `name` of EDM's dataset_info):
 *   QM9:  H, C, N, O, F only; single, double and triple bonds;
 *   GEOM: the 16 elements of GEOM-Drugs' decoder; every bond single. */
enum { ELIGN_RDKIT_RULE_QM9 = 0, ELIGN_RDKIT_RULE_GEOM = 1 };

/* Outcome of one molecule. */
enum { ELIGN_RDKIT_VALID = 1, ELIGN_RDKIT_INVALID = 0, ELIGN_RDKIT_ERROR = -1 };

/* 1 if this build has RDKit; its version ("2022.09.3", "" without). */
int elign_rdkit_available(void);
const char *elign_rdkit_version(void);

/* Canonical SMILES of one molecule (n atoms; n = 0 is the empty molecule,
 * valid with SMILES ""). geom_rule: ELIGN_RDKIT_RULE_*. largest_fragment: 1
 * for the metrics' SMILES (first fragment with the most atoms), 0 for the
 * whole molecule. Returns
 *   ELIGN_RDKIT_VALID   (1): out holds the SMILES;
 *   ELIGN_RDKIT_INVALID (0): sanitization failed; out = "";
 *   ELIGN_RDKIT_ERROR  (-1): err says why — bad argument, an element the
 *     rule does not know, out too small (the message gives the length),
 *     an unexpected RDKit failure, or a build without RDKit. */
int elign_rdkit_smiles(const double *pos, const int32_t *Z, int64_t n, int geom_rule, int largest_fragment,
                       char *out, size_t cap, elign_error *err);

/* The same with the SMILES returned in *out (elign_malloc'ed; NULL unless valid). */
/* Canonical SMILES of a given molecular graph: atoms Z [n] with formal
 * charges [n] (NULL = none), bond orders [n*n] (symmetric; 1..3, 0 = none),
 * sanitized as elign_rdkit_smiles does (the corrected validity variant builds
 * its graph with elign_molecule_graph_corrected). Same return values. */
int elign_rdkit_smiles_graph(const int32_t *Z, const int8_t *charges, const int8_t *orders, int64_t n,
                             int largest_fragment, char **out, elign_error *err);

int elign_rdkit_smiles_dup(const double *pos, const int32_t *Z, int64_t n, int geom_rule, int largest_fragment,
                           char **out, elign_error *err);

/* SMILES of every molecule of a set: smiles[m] elign_malloc'ed for a valid
 * molecule, NULL for an invalid one (smiles has mols->n_mol entries, written
 * over). Stops at the first error, naming the molecule; entries set so far
 * stay set (free them with elign_rdkit_smiles_free either way). */
elign_status elign_rdkit_smiles_molset(const elign_molset *mols, int geom_rule, int largest_fragment, char **smiles,
                                       elign_error *err);
/* Free smiles[0..n) (entries may be NULL) and set them to NULL. */
void elign_rdkit_smiles_free(char **smiles, int64_t n);

/* EDM's aggregate metrics of a list of per-molecule SMILES (NULL = invalid):
 *   validity   = n_valid / n_total
 *   uniqueness = n_unique / n_valid        (distinct valid SMILES; 0 if none valid)
 *   novelty    = n_novel / n_unique        (distinct SMILES absent from train; 0 if
 *                                           none unique or train is NULL, as EDM) */
typedef struct {
  int64_t n_total, n_valid, n_unique;
  int64_t n_novel; /* -1 when no training set was given */
  double validity, uniqueness, novelty;
} elign_rdkit_metrics;

void elign_rdkit_metrics_of(char *const *smiles, int64_t n, const elign_smiles_set *train, elign_rdkit_metrics *m);

#endif
