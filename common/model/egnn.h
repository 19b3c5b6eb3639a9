/* egnn.h — the EDM EGNN denoiser (ALGORITHMS.md §1): forward and hand-written
 * backward over packed molecule batches, plus the dynamics wrapper φ (§1.3)
 * that the diffusion and sampling code calls.
 *
 * Call sequence (ggml-alloc style: reserve once, then reuse):
 *
 *   egnn_model m;  egnn_model_init(&m, egnn_config_qm9(), &err);   // layout only
 *   elign_real *p = elign_calloc(m.n_params, sizeof *p, "egnn:params");
 *   elign_real *g = elign_calloc(m.n_params, sizeof *g, "egnn:grads");
 *   egnn_params_init_random(&m, p, seed);            // or copy a checkpoint by name
 *   egnn_workspace *ws = egnn_workspace_create(&m, max_atoms, max_mols, 1);
 *   egnn_dynamics_forward(&m, p, ws, n_mol, offsets, xh, tau, eps, &err);
 *   egnn_dynamics_backward(&m, p, g, ws, deps, dxh);  // same batch as the last forward
 *   ...
 *   egnn_workspace_free(&ws);  egnn_model_free(&m);
 *
 * Parameters: ONE flat buffer of m.n_params elign_real. Its tensors are the
 * PyTorch state_dict entries of EDM's dynamics (§1.8, keys `dynamics.egnn.*`,
 * without `buffer` and `gamma.gamma`), in state-dict order and PyTorch
 * [out, in] row-major layout, so a checkpoint import is a name-by-name copy
 * (egnn_model_find). Gradients, AdamW moments and the frozen reference policy
 * use the same layout: every function takes the parameter buffer explicitly.
 *
 * ACCUMULATE-OR-OVERWRITE RULE (the one place it is stated): every backward
 * ADDS its parameter gradients into the caller's gradient buffer (zero it once
 * per optimizer step, egnn_grads_zero); gradients w.r.t. INPUTS (dxh, dh_in,
 * dx_in) are OVERWRITTEN.
 *
 * Batches: n_mol molecules packed without padding; molecule b owns atoms
 * offsets[b] .. offsets[b+1]-1 (offsets[0] = 0, N = offsets[n_mol]). Edges are
 * all ordered pairs (i, j), i ≠ j, inside a molecule (receiver i, neighbour j);
 * this equals EDM's masked padded graph exactly (§1.2). Positions in the
 * diffusion's normalized units (= Å, normalize factor 1).
 *
 * Threading: per-edge / per-node elementwise loops use OpenMP; BLAS calls are
 * made OUTSIDE OpenMP regions and may use OpenBLAS's own threads (set with
 * OMP_NUM_THREADS / openblas_set_num_threads). Our loops give bitwise the
 * same results for any OpenMP thread count; multi-threaded OpenBLAS GEMM
 * rounds differently from single-threaded (~1e-7 relative), so bitwise
 * reproducibility needs a fixed BLAS thread count (tests/test_egnn_threads.c).
 */
#ifndef ELIGN_EGNN_H
#define ELIGN_EGNN_H

#include <stddef.h>
#include <stdint.h>

#include "common/base/error.h"
#include "common/base/real.h"

/* ---- architecture ------------------------------------------------------ */

typedef struct {
  int n_layers;                /* L equivariant blocks (1 GCL each, inv_sublayers = 1) */
  int hidden;                  /* F hidden width */
  int in_node_nf;              /* H: h channels of the diffusion latent (without time) */
  int include_time;            /* 1: append τ = t/T as the last input channel (condition_time) */
  int attention;               /* 1: sigmoid attention gate on messages (att_mlp) */
  int tanh;                    /* 1: coordinate step u·tanh(c)·coords_range; 0: u·c */
  double coords_range;         /* 15.0, applied in EVERY block (pitfall §7.1) */
  double norm_constant;        /* 1: u = d / (sqrt(r + 1e-8) + norm_constant) */
  double normalization_factor; /* 1: aggregation sum divided by this */
} egnn_config;

/* EDM QM9: L=9, F=256, H=6 (5 one-hot + charge) → dynamics input width 7. */
egnn_config egnn_config_qm9(void);
/* EDM GEOM-Drugs: L=4, F=256, H=16 → dynamics input width 17. */
egnn_config egnn_config_geom(void);

/* Width of the EGNN's h input/output: H + include_time. */
static inline int egnn_config_node_nf(const egnn_config *c) { return c->in_node_nf + (c->include_time ? 1 : 0); }

/* ---- parameter layout -------------------------------------------------- */

#define EGNN_TENSOR_NAME_LEN 96

/* One named view into the flat parameter buffer. 1-D tensors have cols = 0
 * (shape [rows]); 2-D are [rows, cols] = PyTorch [out, in], row-major. */
typedef struct {
  char name[EGNN_TENSOR_NAME_LEN]; /* e.g. "dynamics.egnn.e_block_0.gcl_0.edge_mlp.0.weight" */
  size_t offset;                   /* first element in the flat buffer */
  size_t size;                     /* elements */
  int rows, cols;
} egnn_tensor;

typedef struct {
  egnn_config cfg;
  size_t n_params;     /* elements of the flat buffer */
  int n_tensors;
  egnn_tensor *tensors; /* [n_tensors], state-dict order */
} egnn_model;

/* Build the layout for cfg (no parameter memory). Fails (ELIGN_ERR_CONFIG)
 * on non-positive sizes or an unsupported option. */
elign_status egnn_model_init(egnn_model *m, const egnn_config *cfg, elign_error *err);
void egnn_model_free(egnn_model *m); /* accepts an already-freed model */

/* Tensor by full state-dict name ("dynamics.egnn.embedding.weight"), or NULL. */
const egnn_tensor *egnn_model_find(const egnn_model *m, const char *name);

/* Parameters per equivariant block (592,897 for F=256) and in total. */
size_t egnn_block_param_count(const egnn_config *c);

/* Deterministic initialisation from a seed (elign_rng stream, purpose
 * ELIGN_RNG_INIT): PyTorch-Linear-like uniform
 * ±1/sqrt(fan_in) for weights and biases, coord_mlp.4 scaled by 1e-3 like
 * EDM's Xavier gain 0.001 (values differ from PyTorch's stream; for tests and
 * pretraining from scratch). */
void egnn_params_init_random(const egnn_model *m, elign_real *params, uint64_t seed);
/* grads[0 .. n_params) = 0 */
void egnn_grads_zero(const egnn_model *m, elign_real *grads);

/* ---- workspace ----------------------------------------------------------- */

/* Activations kept for backward plus scratch, sized for the largest batch.
 * keep_activations = 0 gives a forward-only (sampling) workspace: one block's
 * buffers, reused by every block; egnn_*_backward then refuses (abort). */
typedef struct egnn_workspace egnn_workspace;

/* Capacity: at most max_atoms atoms in at most max_mols molecules per batch;
 * the edge capacity is the worst case for that (one molecule of max_atoms
 * atoms, max_atoms·(max_atoms−1) edges) unless max_edges > 0 is given. */
egnn_workspace *egnn_workspace_create(const egnn_model *m, int64_t max_atoms, int64_t max_mols,
                                      int keep_activations);
/* Same, with an explicit edge capacity (Σ_b n_b(n_b−1) of the largest batch). */
egnn_workspace *egnn_workspace_create_edges(const egnn_model *m, int64_t max_atoms, int64_t max_mols,
                                            int64_t max_edges, int keep_activations);
/* Grow (never shrink) the capacity explicitly; contents are lost. */
void egnn_workspace_reserve(egnn_workspace *ws, int64_t max_atoms, int64_t max_mols, int64_t max_edges);
/* Grow (never shrink) the capacity to hold one batch of n_mol molecules
 * packed by offsets (atoms, molecules, edges); contents are lost when it
 * grows. Call it before a forward, never between a forward and its backward.
 * Malformed offsets are left for egnn_forward to report. */
void egnn_workspace_fit(egnn_workspace *ws, int64_t n_mol, const int64_t *offsets);
void egnn_workspace_free(egnn_workspace **ws); /* accepts NULL / *ws == NULL; clears *ws */
/* Bytes held by the workspace. */
size_t egnn_workspace_bytes(const egnn_workspace *ws);
/* Bytes of activations kept for backward for a batch of n_atoms atoms and
 * n_edges edges (the per-molecule memory: n_atoms = n, n_edges = n(n−1)). */
size_t egnn_activation_bytes(const egnn_config *c, int64_t n_atoms, int64_t n_edges);

/* Activations of the last forward, for tests and debugging: h (N,F) and
 * x (N,3) entering block l (l = 0: after the embedding; l = L: after the last
 * block). NULL when the workspace keeps no activations (l < L−1). */
const elign_real *egnn_workspace_h(const egnn_workspace *ws, int l);
const elign_real *egnn_workspace_x(const egnn_workspace *ws, int l);

/* Edges of a packed batch: Σ_b n_b (n_b − 1). */
int64_t egnn_batch_edges(int64_t n_mol, const int64_t *offsets);

/* ---- the raw EGNN (§1.4–1.7) ------------------------------------------- */

/* h_in (N, Hn) with Hn = egnn_config_node_nf; x_in (N,3).
 * Output h_out (N, Hn), x_out (N,3). Keeps activations in ws for
 * egnn_backward. Errors: batch larger than the workspace (ELIGN_ERR_ARG),
 * malformed offsets (ELIGN_ERR_ARG). */
elign_status egnn_forward(const egnn_model *m, const elign_real *params, egnn_workspace *ws, int64_t n_mol,
                          const int64_t *offsets, const elign_real *h_in, const elign_real *x_in,
                          elign_real *h_out, elign_real *x_out, elign_error *err);
/* Backward of the last egnn_forward on ws. grads += dL/dθ; dh_in (N,Hn) and
 * dx_in (N,3) are overwritten (either may be NULL). */
void egnn_backward(const egnn_model *m, const elign_real *params, elign_real *grads, egnn_workspace *ws,
                   const elign_real *dh_out, const elign_real *dx_out, elign_real *dh_in, elign_real *dx_in);

/* ---- the dynamics wrapper φ (§1.3) ------------------------------------- */

/* xh (N, 3+H): noisy latent in normalized units, [x | h]. tau (n_mol): t/T
 * of each molecule (ignored when include_time = 0; may then be NULL).
 * eps (N, 3+H): ε̂ = [v − mean_b(v) | h_out[:, :H]], v = x_out − x_in with
 * non-finite entries set to 0 (Elign's elementwise guard). */
elign_status egnn_dynamics_forward(const egnn_model *m, const elign_real *params, egnn_workspace *ws,
                                   int64_t n_mol, const int64_t *offsets, const elign_real *xh,
                                   const elign_real *tau, elign_real *eps, elign_error *err);
/* Backward of the last egnn_dynamics_forward on ws: grads += dL/dθ given
 * deps = dL/dε̂ (N, 3+H); dxh = dL/dxh (N, 3+H) overwritten (may be NULL).
 * No gradient flows to tau. */
void egnn_dynamics_backward(const egnn_model *m, const elign_real *params, elign_real *grads,
                            egnn_workspace *ws, const elign_real *deps, elign_real *dxh);

/* ---- where the time goes (benchmarks) ------------------------------------ */

/* Phases of a forward / backward. GEMM is every BLAS call; each other phase
 * is the element-wise work of one layer kind (its own GEMMs excluded). */
typedef enum {
  EGNN_PHASE_GEMM,          /* all GEMM/GEMV calls */
  EGNN_PHASE_EDGE_IN,       /* first edge/coord-MLP layer: per-edge sum of node projections + SiLU (bwd: SiLU', row/column sums) */
  EGNN_PHASE_SILU_RECOMPUTE, /* backward: SiLU of the kept pre-activations, the input of the F×F weight gradients */
  EGNN_PHASE_ATTENTION,     /* SiLU + attention gate + message aggregation */
  EGNN_PHASE_NODE,          /* node MLP's SiLU, biases, residual; embedding/output biases */
  EGNN_PHASE_COORD,         /* SiLU + coordinate head + equivariant coordinate update */
  EGNN_PHASE_GEOMETRY,      /* squared distances, displacement gradients and their scatter to atoms */
  EGNN_PHASE_COUNT
} egnn_phase;

/* Accumulate per-phase wall seconds into acc[EGNN_PHASE_COUNT] from now on
 * (acc = NULL: off, the default). A process-wide switch for benchmarks: off,
 * it costs one pointer test per layer call; on, the caller owns acc and must
 * not run two EGNN calls at once. Inside the forward's per-thread edge
 * chunks only OpenMP thread 0 times its own share; the other threads' work
 * shows as "other" only where thread 0 waits for them. */
void egnn_phase_timing(double *acc);
/* Short name of a phase ("gemm", "edge_in", ...). */
const char *egnn_phase_name(int phase);

/* ---- GEMM FLOP count (for benchmarks) ---------------------------------- */

/* Multiply-add FLOPs (2 per MAC) of the GEMMs of one forward over a batch. */
double egnn_forward_gemm_flops(const egnn_config *c, int64_t n_atoms, int64_t n_edges);

#endif
