/* edm_model.h — an EDM model as one object: the EGNN dynamics (architecture +
 * flat parameters), the noise schedule's γ table, the latent layout, the atom
 * types and the atom-count histogram; loaded from / saved to the generic
 * HDF5 checkpoint of common/io/checkpoint.h.
 *
 * Checkpoint attributes this file reads and writes (docs/formats-diffusion.md):
 *   model "egnn_dynamics", n_layers, inv_sublayers (must be 1), nf,
 *   attention, tanh, coords_range, norm_constant, normalization_factor,
 *   aggregation_method "sum", condition_time, include_charges,
 *   diffusion_steps, diffusion_noise_schedule "polynomial_<p>",
 *   diffusion_noise_precision, diffusion_loss_type, normalize_factors [3],
 *   dataset ("qm9", "geom", ...), atomic_numbers [n_types] (the one-hot
 *   channels' elements, in channel order), gamma_table [diffusion_steps + 1]
 *   (optional: recomputed from the schedule if absent).
 * Parameter views carry the EDM state_dict names `dynamics.egnn.*` (§1.8).
 *
 * Call sequence:
 *   edm_model m; edm_model_load(&m, "model.h5", &err);
 *   egnn_workspace *ws = edm_model_workspace_create(&m);
 *   edm_model_denoise(&m, ws, ...);        // ε̂, μ, σ, ẑ₀ of one transition (ws grows to fit)
 *   egnn_workspace_free(&ws); edm_model_free(&m);
 */
#ifndef ELIGN_EDM_MODEL_H
#define ELIGN_EDM_MODEL_H

#include <stdint.h>

#include "common/io/checkpoint.h"
#include "common/model/diffusion.h"
#include "common/model/egnn.h"
#include "common/base/error.h"
#include "common/base/real.h"

#define EDM_MAX_TYPES 32

typedef struct {
  egnn_model net;                /* layout of the flat parameter buffer */
  elign_real *params;            /* [net.n_params] */
  diffusion_schedule sched;      /* γ table (float32) */
  diffusion_layout layout;       /* D = 3 + n_types + include_charges */
  int T0;                        /* diffusion_steps */
  char schedule_name[32];        /* "polynomial_2" */
  char dataset[32];              /* "qm9", "geom" */
  int n_types;
  int32_t type_Z[EDM_MAX_TYPES]; /* atomic number of each one-hot channel */
  diffusion_nodes_hist nodes;    /* atom-count histogram (n = 0 if none) */
} edm_model;

/* QM9 (H, C, N, O, F; charges; histogram §3.1) and GEOM-Drugs (16 types, no
 * charges) architectures of the released checkpoints with zero parameters,
 * or with a deterministic random init when seed != 0. `small` != 0 shrinks
 * the network (n_layers 2, nf 32) for tests. */
elign_status edm_model_init_preset(edm_model *m, const char *dataset, int small, uint64_t seed, elign_error *err);
void edm_model_free(edm_model *m);

/* Everything but the parameter values (allocated, zero) from an architecture;
 * type_Z: atomic number of each of the n_types one-hot channels. */
elign_status edm_model_setup(edm_model *m, const egnn_config *cfg, const char *dataset, int n_types,
                             const int32_t *type_Z, int include_charges, int T0, const char *schedule,
                             double precision, elign_error *err);
extern const int32_t EDM_QM9_Z[5];   /* H C N O F */
extern const int32_t EDM_GEOM_Z[16]; /* H B C N O F Al Si P S Cl As Br I Hg Bi */

/* Load/save via common/io/checkpoint.h (edm_model_io.c). Load validates every attribute and
 * that every parameter view exists with the shape the architecture needs;
 * messages name the file and the attribute or tensor. */
elign_status edm_model_load(edm_model *m, const char *path, elign_error *err);
elign_status edm_model_save(const edm_model *m, const char *path, elign_error *err);

/* The same, to and from an elign_checkpoint in memory (a trainer adds its
 * optimizer state before writing; common/model/train_state.h). to_checkpoint
 * fills an initialised, empty c with the architecture, the parameters taken
 * from `params` (NULL: m->params) and the histogram. from_checkpoint sets m
 * up from c (m needs no init; freed again on failure). */
elign_status edm_model_to_checkpoint(const edm_model *m, const elign_real *params, elign_checkpoint *c,
                                     elign_error *err);
elign_status edm_model_from_checkpoint(edm_model *m, const elign_checkpoint *c, elign_error *err);
/* dst (laid out as net) ← the checkpoint buffer src (laid out as c's views),
 * tensor by tensor by state-dict name; every tensor must exist in c with its
 * shape (the message names the first that does not). src is c->params or
 * one of c's buffers of the same length (moments, EMA, reference). */
elign_status edm_model_copy_by_name(const egnn_model *net, elign_real *dst, const elign_checkpoint *c,
                                    const float *src, elign_error *err);

/* Index of atomic number Z among the one-hot channels, or −1. */
int edm_model_type_index(const edm_model *m, int Z);

/* A forward-only workspace for edm_model_denoise, which grows it to each
 * batch it is given (callers never size it). Free with egnn_workspace_free. */
egnn_workspace *edm_model_workspace_create(const edm_model *m);

/* One network call and the reverse-step quantities for a packed batch of
 * latents (normalized units), per molecule transition t[m] → s[m] of a
 * T-step chain (0 ≤ s < t ≤ T), or the decode when t[m] = 0 (then s is
 * ignored, ε̂ = φ(z₀, 0), μ = μ_x, σ = σ_x, ẑ₀ = μ_x):
 *   eps_hat (N,D) = φ(z_t, t/T);  mu (N,D);  sigma [n_mol];  zhat0 (N,D).
 * Any of mu / sigma / zhat0 may be NULL. coef (optional, [n_mol]) receives the
 * step coefficients (decode rows: zeros except sigma_step = σ_x). ws grows
 * to hold the batch if it is too small (egnn_workspace_fit). */
elign_status edm_model_denoise(const edm_model *m, egnn_workspace *ws, int64_t n_mol, const int64_t *offsets,
                               const elign_real *z_t, const int *t, const int *s, int T, elign_real *eps_hat,
                               elign_real *mu, elign_real *sigma, elign_real *zhat0, diffusion_step_coef *coef,
                               elign_error *err);

#endif
