/* ani.h — native ANI-2x / ANI-1x / ANI-1ccx inference with analytic forces.
 *
 * Implements the project's ANI specification, spec/ANI.md (its numbers: AEV, the
 * NeuroChem model-zoo file formats, per-element networks, ensemble of 8).
 * This module is pure maths + file reading: it knows nothing of MPI, config,
 * logging or the oracle interface (oracle/oracle.h); an adapter wraps it and
 * converts Hartree to eV.
 *
 * Units: positions Å; energies Hartree; forces Hartree/Å (F = −∂E/∂x).
 * Inputs are atomic numbers (Z), not internal species indices.
 *
 * Call sequence:
 *   ani_model *m; ani_model_load(zoo_dir, "ani-2x", &m, &err);
 *   ani_workspace *ws = ani_workspace_create();
 *   ani_compute(m, ws, n_mol, offsets, Z, pos, energy, forces, NULL, status, &err);  // repeat
 *   ani_workspace_free(&ws); ani_model_free(&m);
 *
 * Precision: the AEV, its backward, the self atomic energies and every total
 * are double; the networks run in elign_real (float32, or double with
 * -DELIGN_DOUBLE=ON) through the fixed-order products of common/nn/gemm_fixed.h,
 * batched over all atoms of one element across the whole batch.
 *
 * Per-molecule determinism: a molecule's outputs are bit-identical whether
 * it is evaluated alone or inside any batch (any companions, order or
 * size), because every network product sums each output in one fixed order
 * that does not depend on the row count (gemm_fixed.h) and everything else is
 * per molecule or per element.
 *
 * Threads: ani_compute uses up to omp_get_max_threads() OpenMP threads
 * (molecules for the AEV, (member, element) work items for the networks);
 * BLAS runs single-threaded inside them. Results do not depend on the thread
 * count. A model is read-only after loading and may be shared by threads; a
 * workspace belongs to one caller at a time.
 */
#ifndef ELIGN_ANI_H
#define ELIGN_ANI_H

#include <stdint.h>

#include "common/base/error.h"

typedef struct ani_model ani_model;         /* opaque: constants + ensemble weights */
typedef struct ani_workspace ani_workspace; /* opaque: scratch buffers reused between calls */

/* Per-molecule outcome written to mol_status[]. Values equal elign_mol_status
 * of oracle/oracle.h (OK, UNSUPPORTED_ELEMENT, OVERLAP, NONFINITE_INPUT). */
enum {
  ANI_MOL_OK = 0,
  ANI_MOL_UNSUPPORTED_ELEMENT = 1, /* an element outside the model's Atyp list */
  ANI_MOL_COINCIDENT = 2,          /* two atoms closer than ANI_COINCIDENT_DISTANCE */
  ANI_MOL_NONFINITE = 3            /* NaN/Inf coordinate */
};

/* Å. Pairs closer than this are "coincident": the AEV derivative (x_i−x_j)/r
 * is undefined at r = 0. Physically meaningful overlap limits are larger and
 * belong to the caller (the oracle adapter's min_distance). */
#define ANI_COINCIDENT_DISTANCE 1e-6

/* Load a model. zoo_dir: the model-zoo directory, either its root (holding
 * resources/) or resources/ itself. name: "ani-2x", "ani-1x", "ani-1ccx"
 * (→ <zoo>/resources/ani-2x_8x.info, …), or a path to an .info file (then
 * zoo_dir may be NULL). Fails with a message naming the missing or malformed
 * file. *out is NULL on failure. */
elign_status ani_model_load(const char *zoo_dir, const char *name, ani_model **out, elign_error *err);

/* Called with the path of every file the loader reads (the provenance record
 * hashes them: oracle/backends/oracle_ani.c); NULL = nobody. Process-wide. */
typedef void (*ani_file_observer)(const char *path);
void ani_set_file_observer(ani_file_observer fn);

/* Frees and clears *m. Accepts NULL and *m == NULL. */
void ani_model_free(ani_model **m);

/* 1 if the model covers atomic number Z, else 0. */
int ani_model_supports(const ani_model *m, int Z);

/* Model index of atomic number Z in the model's Atyp order (§5), or −1. */
int ani_model_species_index(const ani_model *m, int Z);
int ani_model_n_members(const ani_model *m);  /* ensemble size M (8) */
int ani_model_aev_length(const ani_model *m); /* D: 1008 for ANI-2x, 384 for ANI-1x/1ccx */
/* Self atomic energy of species s, Hartree. */
double ani_model_sae(const ani_model *m, int s);

ani_workspace *ani_workspace_create(void);
/* Frees and clears *ws. Accepts NULL and *ws == NULL. */
void ani_workspace_free(ani_workspace **ws);

/* Evaluate a packed batch: molecule k has atoms offsets[k] .. offsets[k+1]−1
 * (offsets[0] = 0, n_atoms = offsets[n_mol]).
 *   Z              [n_atoms] atomic numbers
 *   pos            [n_atoms][3] Å
 *   energy         [n_mol] Hartree, ensemble mean incl. self atomic energies
 *   forces         [n_atoms][3] Hartree/Å, or NULL (then no backward pass is run)
 *   member_energy  [n_mol][M] Hartree per ensemble member, or NULL
 *   mol_status     [n_mol] ANI_MOL_* (required)
 * A flagged molecule gets energy 0, forces 0, member energies 0; the other
 * molecules of the batch are computed exactly as if they were alone.
 * Returns non-OK only for bad arguments (NULL pointers, bad offsets). */
elign_status ani_compute(ani_model *m, ani_workspace *ws, int64_t n_mol, const int64_t *offsets,
                         const int32_t *Z, const double *pos, double *energy, double *forces,
                         double *member_energy, int *mol_status, elign_error *err);

/* Everything ani_compute can produce; any pointer may be NULL except
 * mol_status. Shapes as above; member_forces costs one AEV backward pass per
 * member (debugging/QBC only). */
typedef struct {
  double *energy;         /* [n_mol] Hartree */
  double *forces;         /* [n_atoms][3] Hartree/Å */
  double *member_energy;  /* [n_mol][M] Hartree */
  double *member_forces;  /* [M][n_atoms][3] Hartree/Å */
  double *atomic_energy;  /* [n_atoms] Hartree, ensemble mean incl. SAE (sums to energy) */
  int *mol_status;        /* [n_mol] ANI_MOL_* */
} ani_outputs;

elign_status ani_compute_ex(ani_model *m, ani_workspace *ws, int64_t n_mol, const int64_t *offsets,
                            const int32_t *Z, const double *pos, const ani_outputs *out, elign_error *err);

/* FLOPs (2 per multiply-add) of the network matrix products one ani_compute
 * call does for these atoms (one batch; unsupported elements skipped): every
 * member's forward and, with_forces, its input-gradient backward, with the
 * first layer over the AEV columns of the species present (column
 * compaction). AEV work is not counted. For benches: flops / sgemm peak is
 * the time limit of the networks. */
double ani_network_flops(const ani_model *m, int64_t n_atoms, const int32_t *Z, int with_forces);

/* AEV of one molecule (tests, descriptors): aev [n_atoms][D] in the model's
 * layout (§6.4). Fails (ELIGN_ERR_UNSUPPORTED) on an element the model lacks. */
elign_status ani_compute_aev(const ani_model *m, int64_t n_atoms, const int32_t *Z, const double *pos,
                             double *aev, elign_error *err);

#endif
