/* rdkit_metrics.c — EDM's graph from geometry (edm_graph.c), RDKit through
 * the C++ shim (rdkit_shim.cpp), and the validity / uniqueness / novelty
 * aggregates. */
#include "common/chem/rdkit_metrics.h"

#include <string.h>

#include "common/chem/edm_graph.h"
#include "common/chem/rdkit_shim.h"

_Static_assert((int)ELIGN_RDKIT_RULE_QM9 == (int)ELIGN_EDM_RULE_QM9 && (int)ELIGN_RDKIT_RULE_GEOM == (int)ELIGN_EDM_RULE_GEOM,
               "the public rule values are edm_graph's");

int elign_rdkit_available(void) { return elign_rdkit_shim_version()[0] != '\0'; }

const char *elign_rdkit_version(void) { return elign_rdkit_shim_version(); }

static const char *rule_name(int rule) { return rule == ELIGN_RDKIT_RULE_QM9 ? "QM9" : "GEOM"; }

int elign_rdkit_smiles_dup(const double *pos, const int32_t *Z, int64_t n, int geom_rule, int largest_fragment,
                           char **out, elign_error *err) {
  if (out) *out = NULL;
  if (!out || n < 0 || (n > 0 && (!pos || !Z))) {
    ELIGN_FAIL(err, ELIGN_ERR_ARG, "elign_rdkit_smiles: bad arguments (n=%lld, pos/Z/out missing)", (long long)n);
    return ELIGN_RDKIT_ERROR;
  }
  if (geom_rule != ELIGN_RDKIT_RULE_QM9 && geom_rule != ELIGN_RDKIT_RULE_GEOM) {
    ELIGN_FAIL(err, ELIGN_ERR_ARG, "elign_rdkit_smiles: unknown bond rule %d (0 QM9, 1 GEOM)", geom_rule);
    return ELIGN_RDKIT_ERROR;
  }
  if (!elign_rdkit_available()) {
    ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "RDKit validity/SMILES: built without RDKit");
    elign_error_hint(err, "install librdkit-dev (./setup.sh) and rebuild with -DELIGN_WITH_RDKIT=ON");
    return ELIGN_RDKIT_ERROR;
  }

  int8_t *orders = elign_malloc((size_t)(n * n), "rdkit:bond_orders");
  int bad = elign_edm_bond_graph(pos, Z, n, geom_rule, orders);
  if (bad < 0) {
    int64_t k = -1 - (int64_t)bad;
    elign_free(orders);
    ELIGN_FAIL(err, ELIGN_ERR_ARG, "atom %lld: element Z=%d is not in the %s atom decoder", (long long)k, (int)Z[k],
               rule_name(geom_rule));
    return ELIGN_RDKIT_ERROR;
  }
  char msg[ELIGN_ERROR_MSG_LEN] = "";
  char *smiles = NULL;
  int rc = elign_rdkit_shim_smiles(n, Z, orders, largest_fragment, &smiles, msg, sizeof msg);
  elign_free(orders);
  if (rc == ELIGN_RDKIT_SHIM_VALID) {
    *out = elign_strdup(smiles, "rdkit:smiles");
    free(smiles); /* malloc'ed by the shim */
    return ELIGN_RDKIT_VALID;
  }
  if (rc == ELIGN_RDKIT_SHIM_INVALID) return ELIGN_RDKIT_INVALID;
  ELIGN_FAIL(err, rc == ELIGN_RDKIT_SHIM_NOT_BUILT ? ELIGN_ERR_UNSUPPORTED : ELIGN_ERR_BACKEND, "%s", msg);
  return ELIGN_RDKIT_ERROR;
}

int elign_rdkit_smiles_graph(const int32_t *Z, const int8_t *charges, const int8_t *orders, int64_t n,
                             int largest_fragment, char **out, elign_error *err) {
  if (out) *out = NULL;
  if (!out || n < 0 || (n > 0 && (!Z || !orders))) {
    ELIGN_FAIL(err, ELIGN_ERR_ARG, "elign_rdkit_smiles_graph: bad arguments (n=%lld)", (long long)n);
    return ELIGN_RDKIT_ERROR;
  }
  if (!elign_rdkit_available()) {
    ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "RDKit validity/SMILES: built without RDKit");
    return ELIGN_RDKIT_ERROR;
  }
  char msg[ELIGN_ERROR_MSG_LEN] = "";
  char *smiles = NULL;
  int rc = elign_rdkit_shim_smiles_charged(n, Z, charges, orders, largest_fragment, &smiles, msg, sizeof msg);
  if (rc == ELIGN_RDKIT_SHIM_VALID) {
    *out = elign_strdup(smiles, "rdkit:smiles");
    free(smiles);
    return ELIGN_RDKIT_VALID;
  }
  if (rc == ELIGN_RDKIT_SHIM_INVALID) return ELIGN_RDKIT_INVALID;
  ELIGN_FAIL(err, rc == ELIGN_RDKIT_SHIM_NOT_BUILT ? ELIGN_ERR_UNSUPPORTED : ELIGN_ERR_BACKEND, "%s", msg);
  return ELIGN_RDKIT_ERROR;
}

int elign_rdkit_smiles(const double *pos, const int32_t *Z, int64_t n, int geom_rule, int largest_fragment,
                       char *out, size_t cap, elign_error *err) {
  if (!out || cap == 0) {
    ELIGN_FAIL(err, ELIGN_ERR_ARG, "elign_rdkit_smiles: no output buffer");
    return ELIGN_RDKIT_ERROR;
  }
  out[0] = '\0';
  char *smiles = NULL;
  int rc = elign_rdkit_smiles_dup(pos, Z, n, geom_rule, largest_fragment, &smiles, err);
  if (rc != ELIGN_RDKIT_VALID) return rc;
  size_t len = strlen(smiles);
  if (len >= cap) {
    elign_free(smiles);
    ELIGN_FAIL(err, ELIGN_ERR_ARG, "elign_rdkit_smiles: SMILES of %zu characters does not fit a buffer of %zu", len,
               cap);
    return ELIGN_RDKIT_ERROR;
  }
  memcpy(out, smiles, len + 1);
  elign_free(smiles);
  return ELIGN_RDKIT_VALID;
}

elign_status elign_rdkit_smiles_molset(const elign_molset *mols, int geom_rule, int largest_fragment, char **smiles,
                                       elign_error *err) {
  elign_error local;
  elign_error *e = err ? err : &local; /* the status must survive a NULL err */
  for (int64_t m = 0; m < mols->n_mol; m++) smiles[m] = NULL;
  for (int64_t m = 0; m < mols->n_mol; m++) {
    int64_t a0 = mols->offsets[m];
    int rc = elign_rdkit_smiles_dup(mols->pos + 3 * a0, mols->Z + a0, elign_molset_natoms(mols, m), geom_rule,
                                    largest_fragment, &smiles[m], e);
    if (rc == ELIGN_RDKIT_ERROR) {
      elign_error_prefix(e, "molecule %lld: ", (long long)m);
      return e->status;
    }
  }
  return ELIGN_OK;
}

void elign_rdkit_smiles_free(char **smiles, int64_t n) {
  if (!smiles) return;
  for (int64_t m = 0; m < n; m++) elign_free(smiles[m]);
}

void elign_rdkit_metrics_of(char *const *smiles, int64_t n, const elign_smiles_set *train, elign_rdkit_metrics *m) {
  memset(m, 0, sizeof *m);
  m->n_total = n;
  m->n_novel = train ? 0 : -1;
  elign_smiles_set *unique = elign_smiles_set_new();
  for (int64_t k = 0; k < n; k++) {
    if (!smiles[k]) continue;
    m->n_valid++;
    int added = 0;
    elign_smiles_set_insert(unique, smiles[k], &added);
    if (added && train && elign_smiles_set_find(train, smiles[k]) < 0) m->n_novel++;
  }
  m->n_unique = elign_smiles_set_size(unique);
  elign_smiles_set_free(&unique);
  m->validity = n ? (double)m->n_valid / (double)n : 0.0;
  m->uniqueness = m->n_valid ? (double)m->n_unique / (double)m->n_valid : 0.0;
  m->novelty = (train && m->n_unique) ? (double)m->n_novel / (double)m->n_unique : 0.0;
}
