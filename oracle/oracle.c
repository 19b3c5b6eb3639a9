/* oracle.c — the common input checks and the lifecycle of an oracle (the
 * registry of backends is oracle_backends.c). Every batch passes the same
 * checks here before a backend sees it, so a NaN coordinate or two atoms on
 * top of each other is a flagged molecule, never a crash inside a Fortran SCF
 * or a Python traceback.
 */
#include "oracle/oracle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chem/elements.h"

const char *elign_mol_status_string(elign_mol_status status) {
  switch (status) {
    case ELIGN_MOL_OK: return "ok";
    case ELIGN_MOL_UNSUPPORTED_ELEMENT: return "unsupported element";
    case ELIGN_MOL_OVERLAP: return "overlapping atoms";
    case ELIGN_MOL_NONFINITE_INPUT: return "non-finite coordinate";
    case ELIGN_MOL_NOT_CONVERGED: return "not converged";
    case ELIGN_MOL_TIMEOUT: return "time limit exceeded";
    case ELIGN_MOL_BACKEND_ERROR: return "backend error";
    case ELIGN_MOL_NONFINITE_OUTPUT: return "non-finite result";
    case ELIGN_MOL_EMPTY: return "no atoms";
  }
  return "unknown status";
}

void elign_oracle_options_init(elign_oracle_options *opt) {
  if (opt) memset(opt, 0, sizeof *opt);
}

/* ------------------------------------------------------------- input checks */

elign_mol_status elign_oracle_check_molecule(const elign_oracle_backend *backend, const void *state, int64_t n,
                                             const int32_t *Z, const double *pos, double min_distance) {
  if (n <= 0) return ELIGN_MOL_EMPTY;
  for (int64_t k = 0; k < 3 * n; k++)
    if (!isfinite(pos[k])) return ELIGN_MOL_NONFINITE_INPUT;
  for (int64_t i = 0; i < n; i++) {
    if (!elign_element_valid(Z[i])) return ELIGN_MOL_UNSUPPORTED_ELEMENT;
    if (backend && backend->supports && !backend->supports(state, Z[i])) return ELIGN_MOL_UNSUPPORTED_ELEMENT;
  }
  if (min_distance > 0) {
    /* O(n²) is fine: molecules here have at most a few hundred atoms and the
     * backends behind this check cost far more per molecule. */
    double min2 = min_distance * min_distance;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = i + 1; j < n; j++) {
        double dx = pos[3 * i] - pos[3 * j], dy = pos[3 * i + 1] - pos[3 * j + 1], dz = pos[3 * i + 2] - pos[3 * j + 2];
        if (dx * dx + dy * dy + dz * dz < min2) return ELIGN_MOL_OVERLAP;
      }
  }
  return ELIGN_MOL_OK;
}

int elign_oracle_result_finite(double energy, const double *forces, int64_t n) {
  if (!isfinite(energy)) return 0;
  if (forces)
    for (int64_t k = 0; k < 3 * n; k++)
      if (!isfinite(forces[k])) return 0;
  return 1;
}

/* ---------------------------------------------------------------- lifecycle */

struct elign_oracle {
  const elign_oracle_backend *backend;
  void *state;
  double min_distance; /* Å, resolved (<= 0: no check) */
};

elign_status elign_oracle_create(const char *backend_name, const elign_oracle_options *opt, elign_oracle **out,
                                 elign_error *err) {
  if (!out) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "elign_oracle_create: out is NULL");
  *out = NULL;
  const elign_oracle_backend *b = elign_oracle_backend_find(backend_name);
  if (!b)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "unknown oracle backend '%s' (valid: %s)",
                      backend_name ? backend_name : "(null)", elign_oracle_backend_names());
  elign_oracle_options defaults;
  if (!opt) {
    elign_oracle_options_init(&defaults);
    opt = &defaults;
  }
  void *state = NULL;
  elign_status st = b->create(opt, &state, err);
  if (st != ELIGN_OK) return st;
  elign_oracle *o = elign_calloc(1, sizeof *o, "oracle:instance");
  o->backend = b;
  o->state = state;
  o->min_distance = opt->min_distance != 0 ? opt->min_distance : b->default_min_distance;
  *out = o;
  return ELIGN_OK;
}

void elign_oracle_destroy(elign_oracle **oracle) {
  if (!oracle || !*oracle) return;
  if ((*oracle)->backend->destroy) (*oracle)->backend->destroy((*oracle)->state);
  elign_free(*oracle);
}

static elign_status oracle_validate_batch(const elign_oracle_batch *batch, const elign_oracle_result *result,
                                          elign_error *err) {
  if (!batch || !result) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle evaluate: batch or result is NULL");
  if (batch->n_mol < 0) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle evaluate: n_mol = %lld", (long long)batch->n_mol);
  if (batch->n_mol == 0) return ELIGN_OK;
  if (!batch->offsets || !result->energy || !result->status)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle evaluate: offsets, energy or status is NULL");
  if (batch->offsets[0] != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle evaluate: offsets[0] = %lld, want 0", (long long)batch->offsets[0]);
  for (int64_t m = 0; m < batch->n_mol; m++)
    if (batch->offsets[m + 1] < batch->offsets[m])
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle evaluate: offsets decrease at molecule %lld", (long long)m);
  if (batch->offsets[batch->n_mol] > 0 && (!batch->Z || !batch->pos))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle evaluate: Z or pos is NULL");
  return ELIGN_OK;
}

/* Zero energy and forces of molecule m (the contract for flagged molecules). */
static void oracle_clear_molecule(const elign_oracle_batch *batch, elign_oracle_result *result, int64_t m) {
  result->energy[m] = 0.0;
  if (result->forces) {
    int64_t a0 = batch->offsets[m], a1 = batch->offsets[m + 1];
    memset(result->forces + 3 * a0, 0, (size_t)(3 * (a1 - a0)) * sizeof(double));
  }
}

elign_status elign_oracle_evaluate(elign_oracle *oracle, const elign_oracle_batch *batch,
                                   elign_oracle_result *result, elign_error *err) {
  if (!oracle) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "oracle evaluate: oracle is NULL");
  elign_status st = oracle_validate_batch(batch, result, err);
  if (st != ELIGN_OK || batch->n_mol == 0) return st;
  const int64_t n_mol = batch->n_mol;

  /* 1. Common checks: flagged molecules never reach the backend. */
  int64_t n_ok = 0, n_ok_atoms = 0;
  for (int64_t m = 0; m < n_mol; m++) {
    int64_t a0 = batch->offsets[m], n = batch->offsets[m + 1] - a0;
    result->status[m] = elign_oracle_check_molecule(oracle->backend, oracle->state, n, batch->Z + a0,
                                                    batch->pos + 3 * a0, oracle->min_distance);
    oracle_clear_molecule(batch, result, m);
    if (result->status[m] == ELIGN_MOL_OK) {
      n_ok++;
      n_ok_atoms += n;
    }
  }
  if (n_ok == 0) return ELIGN_OK;

  /* 2. The backend sees a packed sub-batch of the surviving molecules (the
   * whole batch, uncopied, when nothing was flagged). */
  if (n_ok == n_mol) {
    st = oracle->backend->evaluate(oracle->state, batch, result, err);
  } else {
    int64_t *offsets = elign_malloc((size_t)(n_ok + 1) * sizeof *offsets, "oracle:sub_offsets");
    int64_t *origin = elign_malloc((size_t)n_ok * sizeof *origin, "oracle:sub_origin");
    int32_t *Z = elign_malloc((size_t)n_ok_atoms * sizeof *Z, "oracle:sub_Z");
    double *pos = elign_malloc((size_t)(3 * n_ok_atoms) * sizeof *pos, "oracle:sub_pos");
    int *charge = elign_malloc((size_t)n_ok * sizeof *charge, "oracle:sub_charge");
    int *mult = elign_malloc((size_t)n_ok * sizeof *mult, "oracle:sub_mult");
    double *energy = elign_calloc((size_t)n_ok, sizeof *energy, "oracle:sub_energy");
    double *forces = result->forces ? elign_calloc((size_t)(3 * n_ok_atoms), sizeof *forces, "oracle:sub_forces") : NULL;
    elign_mol_status *status = elign_calloc((size_t)n_ok, sizeof *status, "oracle:sub_status");
    int64_t k = 0;
    offsets[0] = 0;
    for (int64_t m = 0; m < n_mol; m++) {
      if (result->status[m] != ELIGN_MOL_OK) continue;
      int64_t a0 = batch->offsets[m], n = batch->offsets[m + 1] - a0;
      memcpy(Z + offsets[k], batch->Z + a0, (size_t)n * sizeof *Z);
      memcpy(pos + 3 * offsets[k], batch->pos + 3 * a0, (size_t)(3 * n) * sizeof *pos);
      charge[k] = batch->charge ? batch->charge[m] : 0;
      mult[k] = batch->multiplicity ? batch->multiplicity[m] : 1;
      origin[k] = m;
      offsets[k + 1] = offsets[k] + n;
      k++;
    }
    elign_oracle_batch sub = {.n_mol = n_ok, .offsets = offsets, .Z = Z, .pos = pos, .charge = charge, .multiplicity = mult};
    elign_oracle_result sub_res = {.energy = energy, .forces = forces, .status = status};
    st = oracle->backend->evaluate(oracle->state, &sub, &sub_res, err);
    if (st == ELIGN_OK)
      for (k = 0; k < n_ok; k++) {
        int64_t m = origin[k];
        result->energy[m] = energy[k];
        result->status[m] = status[k];
        if (forces)
          memcpy(result->forces + 3 * batch->offsets[m], forces + 3 * offsets[k],
                 (size_t)(3 * (offsets[k + 1] - offsets[k])) * sizeof *forces);
      }
    elign_free(offsets);
    elign_free(origin);
    elign_free(Z);
    elign_free(pos);
    elign_free(charge);
    elign_free(mult);
    elign_free(energy);
    elign_free(forces);
    elign_free(status);
  }
  if (st != ELIGN_OK) {
    elign_error_prefix(err, "oracle '%s': ", oracle->backend->name);
    return st;
  }

  /* 3. Outputs: NaN/Inf from a backend becomes a flag, and every flagged
   * molecule carries zeros whatever the backend left there. */
  for (int64_t m = 0; m < n_mol; m++) {
    int64_t a0 = batch->offsets[m], n = batch->offsets[m + 1] - a0;
    if (result->status[m] == ELIGN_MOL_OK &&
        !elign_oracle_result_finite(result->energy[m], result->forces ? result->forces + 3 * a0 : NULL, n))
      result->status[m] = ELIGN_MOL_NONFINITE_OUTPUT;
    if (result->status[m] != ELIGN_MOL_OK) oracle_clear_molecule(batch, result, m);
  }
  return ELIGN_OK;
}
