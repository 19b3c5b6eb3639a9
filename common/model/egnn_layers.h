/* egnn_layers.h — INTERNAL: the EGNN's layer functions (forward and backward,
 * defined in egnn.c, maths above each backward there) and the packed graph
 * they run on. Not part of the public API (egnn.h); exposed so that
 * tests/test_egnn_layers.c can finite-difference-check each layer alone.
 * Shapes: N atoms, E edges, F hidden; all buffers row-major.
 */
#ifndef ELIGN_EGNN_LAYERS_H
#define ELIGN_EGNN_LAYERS_H

#include <stdint.h>

#include "common/base/real.h"

/* Edges of a packed batch: molecule b's row i (receiver) owns the n_b − 1
 * consecutive edges eoff[b] + (i − off[b])(n_b − 1) + k, k enumerating the
 * neighbours j ≠ i in increasing order. */
typedef struct {
  int64_t n_mol, N, E;
  const int64_t *off;  /* (n_mol+1) atom offsets */
  const int64_t *eoff; /* (n_mol+1) edge offsets */
  const int32_t *mol;  /* (N) molecule of each atom */
} egnn_graph;

/* Fill eoff (n_mol+1) and mol (N) for valid offsets and point g at them. */
void egnn_graph_init(egnn_graph *g, int64_t n_mol, const int64_t *off, int64_t *eoff, int32_t *mol);

/* Receiver atom of edge e. */
int64_t egnn_graph_edge_atom(const egnn_graph *g, int64_t e);

/* Layers (see egnn.c for each one's maths). Gradients w.r.t. parameters
 * accumulate; see each function for which input gradients are overwritten. */
/* Edge-range forms (the block forward pipelines chunks of edges through
 * edge_in → linear → attention / coordinate update while they are in cache).
 * Per-edge (·,F) rows are indexed from e0; per-edge scalars and per-atom
 * arrays are global; rows may span two ranges (accumulation in edge order). */
void egnn_edge_in_project(elign_real *P, const egnn_graph *g, const elign_real *h, const elign_real *W1, int F);
void egnn_edge_in_forward_range(elign_real *Z, elign_real *S, const egnn_graph *g, const elign_real *P,
                                const elign_real *r, const elign_real *d0, const elign_real *W1, const elign_real *b1,
                                int F, int64_t e0, int64_t e1);
void egnn_attention_aggregate_forward_range(elign_real *g_out, elign_real *agg, const egnn_graph *g,
                                            const elign_real *Z2, const elign_real *w, const elign_real *b,
                                            int attention, int F, int64_t e0, int64_t e1);
void egnn_coord_update_forward_range(elign_real *c, elign_real *acc, const egnn_graph *g, const elign_real *Z6,
                                     const elign_real *w7, const elign_real *x, const elign_real *r, int use_tanh,
                                     elign_real kappa, int F, int64_t e0, int64_t e1);
void egnn_edge_sqdist(elign_real *r, const egnn_graph *g, const elign_real *x);
void egnn_edge_diff_scatter(elign_real *dx, const egnn_graph *g, const elign_real *dd);
void egnn_edge_in_forward(elign_real *Z, elign_real *S, elign_real *P, const egnn_graph *g, const elign_real *h,
                          const elign_real *r, const elign_real *d0, const elign_real *W1, const elign_real *b1, int F);
void egnn_edge_in_backward(elign_real *dW1, elign_real *db1, elign_real *dh, elign_real *dr, elign_real *dd0,
                           elign_real *dS, elign_real *dAB, elign_real *dRD, const egnn_graph *g, const elign_real *Z,
                           const elign_real *h, const elign_real *r, const elign_real *d0, const elign_real *W1, int F);
void egnn_linear_forward(elign_real *Z, const elign_real *X, const elign_real *W, const elign_real *b, int64_t M,
                         int F_in, int F_out);
void egnn_linear_backward(elign_real *dX, elign_real *dW, elign_real *db, const elign_real *dZ, const elign_real *X,
                          const elign_real *W, const elign_real *ones, int64_t M, int F_in, int F_out);
void egnn_linear_backward_weights(elign_real *dX, elign_real *dW, const elign_real *dZ, const elign_real *X,
                                  const elign_real *W, int64_t M, int F_in, int F_out);
void egnn_attention_aggregate_forward(elign_real *g_out, elign_real *agg, const egnn_graph *g, const elign_real *Z2,
                                      const elign_real *w, const elign_real *b, int attention, elign_real inv_nf,
                                      int F);
void egnn_attention_aggregate_backward(elign_real *dZ2, elign_real *dZsum, elign_real *dw, elign_real *db, elign_real *M, elign_real *da,
                                       const elign_real *dagg, const egnn_graph *g, const elign_real *Z2,
                                       const elign_real *g_e, const elign_real *w, int attention, elign_real inv_nf,
                                       int F);
void egnn_node_mlp_forward(elign_real *Z3, elign_real *h_mid, elign_real *S3, const elign_real *h,
                           const elign_real *agg, const elign_real *W3, const elign_real *b3, const elign_real *W4,
                           const elign_real *b4, int64_t N, int F);
void egnn_node_mlp_backward(elign_real *dh, elign_real *dagg, elign_real *dW3, elign_real *db3, elign_real *dW4,
                            elign_real *db4, elign_real *S3, elign_real *dZ3, const elign_real *dh_mid,
                            const elign_real *h, const elign_real *agg, const elign_real *Z3, const elign_real *W3,
                            const elign_real *W4, const elign_real *ones, int64_t N, int F);
void egnn_coord_update_forward(elign_real *c, elign_real *x_out, const egnn_graph *g, const elign_real *Z6,
                               const elign_real *w7, const elign_real *x, const elign_real *r, int use_tanh,
                               elign_real coef, elign_real kappa, int F);
void egnn_coord_update_backward(elign_real *dZ6, elign_real *dZsum, elign_real *dd, elign_real *dw7, elign_real *M, elign_real *dc,
                                const elign_real *dx_out, const egnn_graph *g, const elign_real *Z6,
                                const elign_real *w7, const elign_real *c, const elign_real *x, const elign_real *r,
                                int use_tanh, elign_real coef, elign_real kappa, int F);

#endif
