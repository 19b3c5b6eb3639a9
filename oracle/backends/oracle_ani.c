/* oracle_ani.c — "ani": the native ANI-2x / ANI-1x / ANI-1ccx engine (oracle/ani/ani.h)
 * behind the oracle interface.
 *
 * A thin adapter: load the model named by options.model (default "ani-2x")
 * from options.model_dir, evaluate the whole surviving batch in one
 * ani_compute call, convert Hartree → eV and Hartree/Å → eV/Å. The engine
 * flags unsupported elements, NaN coordinates and coincident atoms itself;
 * its flag values equal elign_mol_status. The registry's overlap check is off
 * by default for ANI (its own coincident-atom check suffices; set
 * oracle.min_distance to flag close pairs as for the other backends).
 */
#include "common/base/provenance.h"
#include "oracle/oracle_backends.h"


#include <stdlib.h>

#include "oracle/ani/ani.h"

typedef struct {
  ani_model *model;
  ani_workspace *ws;
} ani_oracle_state;

/* Every network file read goes into the provenance record with its hash. */
static void record_ani_file(const char *path) { elign_provenance_add_input("ani", path); }

static elign_status ani_oracle_create(const elign_oracle_options *opt, void **state, elign_error *err) {
  ani_set_file_observer(record_ani_file);
  const char *name = opt->model && opt->model[0] ? opt->model : "ani-2x";
  ani_oracle_state *s = elign_calloc(1, sizeof *s, "oracle_ani:state");
  elign_status st = ani_model_load(opt->model_dir, name, &s->model, err);
  if (st != ELIGN_OK) {
    elign_error_prefix(err, "ani: ");
    if (!opt->model_dir) elign_error_hint(err, "set oracle.model_dir to the ANI model-zoo directory");
    free(s);
    return st;
  }
  s->ws = ani_workspace_create();
  *state = s;
  return ELIGN_OK;
}

static int ani_oracle_supports(const void *state, int Z) {
  const ani_oracle_state *s = state;
  return ani_model_supports(s->model, Z);
}

static elign_status ani_oracle_evaluate(void *state, const elign_oracle_batch *batch, elign_oracle_result *result,
                                        elign_error *err) {
  ani_oracle_state *s = state;
  int64_t n_atoms = batch->offsets[batch->n_mol];
  int *flags = elign_malloc((size_t)batch->n_mol * sizeof *flags, "oracle_ani:flags");
  elign_status st = ani_compute(s->model, s->ws, batch->n_mol, batch->offsets, batch->Z, batch->pos, result->energy,
                                result->forces, NULL, flags, err);
  if (st == ELIGN_OK) {
    for (int64_t m = 0; m < batch->n_mol; m++) {
      result->energy[m] *= ELIGN_HARTREE_EV;
      switch (flags[m]) {
        case ANI_MOL_OK: result->status[m] = ELIGN_MOL_OK; break;
        case ANI_MOL_UNSUPPORTED_ELEMENT: result->status[m] = ELIGN_MOL_UNSUPPORTED_ELEMENT; break;
        case ANI_MOL_COINCIDENT: result->status[m] = ELIGN_MOL_OVERLAP; break;
        case ANI_MOL_NONFINITE: result->status[m] = ELIGN_MOL_NONFINITE_INPUT; break;
        default: result->status[m] = ELIGN_MOL_BACKEND_ERROR; break;
      }
    }
    if (result->forces)
      for (int64_t k = 0; k < 3 * n_atoms; k++) result->forces[k] *= ELIGN_HARTREE_EV; /* Ha/Å → eV/Å */
  }
  free(flags);
  return st;
}

static void ani_oracle_destroy(void *state) {
  ani_oracle_state *s = state;
  if (!s) return;
  ani_workspace_free(&s->ws);
  ani_model_free(&s->model);
  free(s);
}

const elign_oracle_backend elign_oracle_ani_backend = {
    .name = "ani",
    .summary = "native ANI-2x/1x/1ccx neural network potential (energy eV, forces eV/A)",
    .create = ani_oracle_create,
    .supports = ani_oracle_supports, /* the model's element list (ANI-2x: H C N O F S Cl) */
    .evaluate = ani_oracle_evaluate,
    .destroy = ani_oracle_destroy,
    .default_min_distance = 0.0, /* the engine flags coincident atoms itself */
};
