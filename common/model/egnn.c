/* egnn.c — EDM's EGNN denoiser (ALGORITHMS.md §1) in plain C: forward and
 * hand-written backward over packed molecule batches, then the dynamics
 * wrapper φ. No autograd: every layer's forward keeps what its backward
 * needs, and the backward follows right after it with its maths on top.
 *
 * Reading order (as llm.c's train_gpt2.c): small helpers, the layers
 * (each forward followed by its backward), the parameter layout, the
 * workspace (activations), the model forward/backward, the dynamics wrapper.
 *
 * Not here: the diffusion process (common/model/diffusion.c), checkpoint I/O,
 * optimizers. Sizes: N atoms, E edges, F hidden width, Hn = node_nf.
 *
 * The first linear of the edge and coordinate MLPs is separable (§1.9):
 * W [h_i | h_j | r | d0] = Wa h_i + Wb h_j + wr r + wd d0, so per-node GEMMs
 * (N×F×F) plus per-edge adds replace an E×(2F+2)×F GEMM. The two F×F edge
 * layers are ONE GEMM each over all E edges of the batch.
 */
#include "common/model/egnn.h"
#include "common/model/egnn_layers.h"

#include "common/base/rng.h"
#include "common/nn/blas.h"
#include "common/nn/fastmath.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef elign_real real;

/* Edges per chunk of the block forward (a multiple of the BLAS row block, 16):
 * 512 rows × F = 256 floats = 512 KB per (E,F) array, so the chunk's SiLU
 * output and GEMM result stay in L2 (or close) between the passes. Measured
 * on the QM9 network, 32 molecules, 1 thread, AVX-512: 256 → 61.8 %, 512 →
 * 64.3 %, 1024 → 61.7 % of the sgemm peak (smaller chunks repack the F×F
 * weight more often, larger ones fall out of L2). */
#define EDGE_CHUNK 512

/* ======================================================================= */
/* helpers                                                                  */
/* ======================================================================= */

#ifdef ELIGN_DOUBLE
#define R_TANH tanh
#define R_SQRT sqrt
#else
#define R_TANH tanhf
#define R_SQRT sqrtf
#endif


/* Phase timing (egnn_phase_timing): off unless a benchmark asks. GEMM(call)
 * books a BLAS call to the GEMM phase; PHASE(p, call) books a layer call to p
 * minus the GEMM time booked inside it. Both sit outside OpenMP regions. */
static double *phase_acc;

/* Monotonic wall seconds (here rather than common/base/log.h so that the
 * double-precision test copies of this file link without the logger). */
static double phase_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void egnn_phase_timing(double *acc) { phase_acc = acc; }

const char *egnn_phase_name(int phase) {
  static const char *const names[EGNN_PHASE_COUNT] = {"gemm", "edge_in", "silu_recompute", "attention",
                                                      "node", "coord", "geometry"};
  return phase >= 0 && phase < EGNN_PHASE_COUNT ? names[phase] : "?";
}

#define GEMM(call)                                                                                                 \
  do {                                                                                                             \
    const int timed_ = phase_acc && omp_get_thread_num() == 0;                                                    \
    double gemm_t0_ = timed_ ? phase_now() : 0;                                                                    \
    call;                                                                                                          \
    if (timed_) phase_acc[EGNN_PHASE_GEMM] += phase_now() - gemm_t0_;                                         \
  } while (0)

#define PHASE(p, call)                                                                                             \
  do {                                                                                                             \
    const int timed_ = phase_acc && omp_get_thread_num() == 0;                                                    \
    double phase_t0_ = 0, phase_g0_ = 0;                                                                           \
    if (timed_) phase_t0_ = phase_now(), phase_g0_ = phase_acc[EGNN_PHASE_GEMM];                                  \
    call;                                                                                                          \
    if (timed_) phase_acc[p] += phase_now() - phase_t0_ - (phase_acc[EGNN_PHASE_GEMM] - phase_g0_);           \
  } while (0)

/* Σ_o a[o] b[o] with 8 partial sums: acc[q] += a[o+q] b[o+q] over blocks of
 * 8, then the tail and the 8 sums in order. Written on an 8-wide vector type
 * so that every build keeps exactly that order in one register (left to the
 * auto-vectoriser, the AVX-512 build shuffled 8-sum halves of 16-wide
 * registers, a third of the coordinate update's time). */
typedef real vec8 __attribute__((vector_size(8 * sizeof(real))));
static inline real dot_r(const real *a, const real *b, int n) {
  vec8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
  int o = 0;
  for (; o + 8 <= n; o += 8) {
    vec8 x, y;
    memcpy(&x, a + o, sizeof x);
    memcpy(&y, b + o, sizeof y);
    acc += x * y;
  }
  real s = 0;
  for (; o < n; o++) s += a[o] * b[o];
  for (int q = 0; q < 8; q++) s += acc[q];
  return s;
}

/* dst[o·inc] += Σ_i rows[i·ld + o] over n rows of width F: the fixed-order
 * end of a weight gradient summed per atom first (no GEMV over (E,F) rows).
 * The sum is formed first and added once, so a second backward adds exactly
 * the same gradient (the accumulate rule). */
static void add_row_sums_strided(real *dst, int inc, const real *rows, int ld, int64_t n, int F) {
  real *sum = (real *)calloc((size_t)F, sizeof(real));
  for (int64_t i = 0; i < n; i++)
    for (int o = 0; o < F; o++) sum[o] += rows[(size_t)ld * i + o];
  for (int o = 0; o < F; o++) dst[(size_t)inc * o] += sum[o];
  free(sum);
}
static void add_row_sums(real *dst, const real *rows, int64_t n, int F) { add_row_sums_strided(dst, 1, rows, F, n, F); }

/* S = SiLU(Z) elementwise over n values. */
static void silu_fwd(real *S, const real *Z, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < n; k++) S[k] = Z[k] * elign_sigmoid_real(Z[k]);
}
/* dZ = dS ⊙ SiLU'(Z), SiLU'(z) = σ(z)(1 + z(1 − σ(z))); dZ may alias dS. */
static void silu_bwd(real *dZ, const real *dS, const real *Z, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < n; k++) {
    real s = elign_sigmoid_real(Z[k]);
    dZ[k] = dS[k] * s * ((real)1 + Z[k] * ((real)1 - s));
  }
}

/* ======================================================================= */
/* the packed graph                                                          */
/* ======================================================================= */


static inline int64_t edge_first(const egnn_graph *g, int64_t i) {
  int64_t b = g->mol[i], o = g->off[b], n = g->off[b + 1] - o;
  return g->eoff[b] + (i - o) * (n - 1);
}
/* Edge index of (i, j), i ≠ j, same molecule. */
static inline int64_t edge_index(const egnn_graph *g, int64_t i, int64_t j) {
  int64_t b = g->mol[i], o = g->off[b], n = g->off[b + 1] - o;
  int64_t jl = j - o, il = i - o;
  return g->eoff[b] + il * (n - 1) + (jl < il ? jl : jl - 1);
}
/* Neighbour j of the k-th edge of row i. */
static inline int64_t edge_neighbour(const egnn_graph *g, int64_t i, int64_t k) {
  int64_t o = g->off[g->mol[i]];
  return o + (k < i - o ? k : k + 1);
}
static inline int64_t row_degree(const egnn_graph *g, int64_t i) {
  int64_t b = g->mol[i];
  return g->off[b + 1] - g->off[b] - 1;
}

void egnn_graph_init(egnn_graph *g, int64_t n_mol, const int64_t *off, int64_t *eoff, int32_t *mol) {
  eoff[0] = 0;
  for (int64_t b = 0; b < n_mol; b++) {
    int64_t n = off[b + 1] - off[b];
    eoff[b + 1] = eoff[b] + (n > 1 ? n * (n - 1) : 0);
    for (int64_t i = off[b]; i < off[b + 1]; i++) mol[i] = (int32_t)b;
  }
  g->n_mol = n_mol;
  g->N = off[n_mol];
  g->E = eoff[n_mol];
  g->off = off;
  g->eoff = eoff;
  g->mol = mol;
}

/* Receiver atom of edge e (0 ≤ e < E): the molecule by binary search over
 * the edge offsets, then the row inside it. */
int64_t egnn_graph_edge_atom(const egnn_graph *g, int64_t e) {
  int64_t lo = 0, hi = g->n_mol - 1; /* the last b with eoff[b] ≤ e and edges in b */
  while (lo < hi) {
    int64_t mid = (lo + hi + 1) / 2;
    if (g->eoff[mid] <= e) lo = mid;
    else hi = mid - 1;
  }
  while (g->eoff[lo + 1] <= e) lo++; /* skip molecules without edges (eoff[b] == eoff[b+1]) */
  int64_t n = g->off[lo + 1] - g->off[lo];
  return g->off[lo] + (e - g->eoff[lo]) / (n - 1);
}

/* r_e = ‖x_i − x_j‖² for every edge (squared, §7.2). */
void egnn_edge_sqdist(real *r, const egnn_graph *g, const real *x) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < g->N; i++) {
    int64_t e0 = edge_first(g, i), deg = row_degree(g, i);
    for (int64_t k = 0; k < deg; k++) {
      int64_t j = edge_neighbour(g, i, k);
      real d0 = x[3 * i] - x[3 * j], d1 = x[3 * i + 1] - x[3 * j + 1], d2 = x[3 * i + 2] - x[3 * j + 2];
      r[e0 + k] = d0 * d0 + d1 * d1 + d2 * d2;
    }
  }
}

/* Scatter per-edge displacement gradients dd_e = dL/d(x_i − x_j), (E,3), to
 * the atoms: dx_i += Σ_j dd_ij, dx_j −= Σ_i dd_ij. Each node gathers its own
 * terms (no atomics; fixed order). */
void egnn_edge_diff_scatter(real *dx, const egnn_graph *g, const real *dd) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < g->N; i++) {
    int64_t e0 = edge_first(g, i), deg = row_degree(g, i);
    int64_t o = g->off[g->mol[i]];
    real s[3] = {0, 0, 0};
    for (int64_t k = 0; k < deg; k++)
      for (int c = 0; c < 3; c++) s[c] += dd[3 * (e0 + k) + c];
    for (int64_t jl = 0; jl <= deg; jl++) { /* edges (j, i): i as the neighbour */
      int64_t j = o + jl;
      if (j == i) continue;
      int64_t e = edge_index(g, j, i);
      for (int c = 0; c < 3; c++) s[c] -= dd[3 * e + c];
    }
    for (int c = 0; c < 3; c++) dx[3 * i + c] += s[c];
  }
}

/* ======================================================================= */
/* layer: separable first linear of an edge MLP, followed by SiLU            */
/* ======================================================================= */

/* The r and d0 columns of W1 [F, 2F+2] copied to one contiguous (2,F) block
 * [wr | wd], so the per-edge loops read them with stride 1. Plain malloc,
 * one per OpenMP thread (free with free()). */
static real *copy_geometry_columns(const real *W1, int F) {
  int ldw = 2 * F + 2;
  real *wr = (real *)malloc(2 * (size_t)F * sizeof(real));
  for (int o = 0; o < F; o++) {
    wr[o] = W1[(size_t)o * ldw + 2 * F];
    wr[F + o] = W1[(size_t)o * ldw + 2 * F + 1];
  }
  return wr;
}

/* Per-node projections P (N,2F) = [h Waᵀ | h Wbᵀ] of the first edge layer's
 * h_i and h_j columns (W1 [F, 2F+2], columns [h_i | h_j | r | d0]). */
void egnn_edge_in_project(real *P, const egnn_graph *g, const real *h, const real *W1, int F) {
  int ldw = 2 * F + 2;
  GEMM(elign_gemm_xwt((int)g->N, F, F, 1, h, F, W1, ldw, 0, P, 2 * F));         /* h_i · Waᵀ */
  GEMM(elign_gemm_xwt((int)g->N, F, F, 1, h, F, W1 + F, ldw, 0, P + F, 2 * F)); /* h_j · Wbᵀ */
}

/* Forward over the edges [e0, e1): Z_e = Pa_i + Pb_j + wr r_e + wd d0_e + b1,
 * S_e = SiLU(Z_e). Z and S are indexed from e0 (row e − e0: a chunk buffer
 * or the full array + e0·F); Z may be NULL (sampling: not kept). r, d0 (E). */
void egnn_edge_in_forward_range(real *Z, real *S, const egnn_graph *g, const real *P, const real *r,
                                const real *d0, const real *W1, const real *b1, int F, int64_t e0, int64_t e1) {
  if (e1 <= e0) return;
  int64_t ia = egnn_graph_edge_atom(g, e0), ib = egnn_graph_edge_atom(g, e1 - 1);
#pragma omp parallel if (!omp_in_parallel()) /* one thread inside edge_mlp_forward's chunks */
  {
    real *wr = copy_geometry_columns(W1, F);
    real *wd = wr + F;
#pragma omp for schedule(static)
    for (int64_t i = ia; i <= ib; i++) {
      int64_t ef = edge_first(g, i), deg = row_degree(g, i);
      int64_t k0 = e0 > ef ? e0 - ef : 0, k1 = e1 - ef < deg ? e1 - ef : deg;
      const real *pa = P + 2 * F * i;
      for (int64_t k = k0; k < k1; k++) {
        int64_t e = ef + k, j = edge_neighbour(g, i, k);
        const real *pb = P + 2 * F * j + F;
        real re = r[e], de = d0[e];
        real *s = S + (size_t)F * (e - e0);
        if (Z) {
          real *z = Z + (size_t)F * (e - e0);
          for (int o = 0; o < F; o++) {
            real v = pa[o] + pb[o] + wr[o] * re + wd[o] * de + b1[o];
            z[o] = v;
            s[o] = v * elign_sigmoid_real(v);
          }
        } else {
          for (int o = 0; o < F; o++) {
            real v = pa[o] + pb[o] + wr[o] * re + wd[o] * de + b1[o];
            s[o] = v * elign_sigmoid_real(v);
          }
        }
      }
    }
    free(wr);
  }
}

/* Forward over all edges. h (N,F); r, d0 (E). Out: Z (E,F) pre-activation,
 * S (E,F) = SiLU(Z). P (N,2F) scratch: the per-node projections. */
void egnn_edge_in_forward(real *Z, real *S, real *P, const egnn_graph *g, const real *h, const real *r,
                          const real *d0, const real *W1, const real *b1, int F) {
  egnn_edge_in_project(P, g, h, W1, F);
  egnn_edge_in_forward_range(Z, S, g, P, r, d0, W1, b1, F, 0, g->E);
}

/* Backward. Given dS (E,F) = dL/dSiLU(Z) (overwritten with dZ):
 *   dZ   = dS ⊙ SiLU'(Z)
 *   db1 += Σ_e dZ_e
 *   dWa += Σ_i (Σ_j dZ_ij) ⊗ h_i          = dAᵀ h,  dA_i = Σ_j dZ_ij
 *   dWb += Σ_j (Σ_i dZ_ij) ⊗ h_j          = dBᵀ h,  dB_j = Σ_i dZ_ij
 *   dwr += Σ_e dZ_e r_e,  dwd += Σ_e dZ_e d0_e
 *   dh  += dA Wa + dB Wb                   (accumulated into dh)
 *   dr_e += dZ_e · wr,  dd0_e += dZ_e · wd
 * dAB (N,2F) scratch; dRD (N,2F) scratch: each atom's Σ_j dZ_ij r_ij and
 * Σ_j dZ_ij d0_ij, summed over atoms in order into dwr, dwd (no GEMV pass
 * over dZ). */
/* One receiver row of the backward: dZ_ij = dS_ij ⊙ SiLU'(Z_ij) in place,
 * dA_i, the per-atom r/d⁰ sums and dr, dd0 of its edges. With scatter, also
 * dB_j += dZ_ij for each neighbour j (the caller zeroed dB and runs the rows
 * in increasing i: the order of the column gather). */
static inline void edge_in_backward_row(int64_t i, int scatter, real *dZ, real *dAB, real *dRD, real *dr, real *dd0,
                                        const egnn_graph *g, const real *Z, const real *r, const real *d0,
                                        const real *wr, const real *wd, int F) {
  int64_t e0 = edge_first(g, i), deg = row_degree(g, i);
  real *da = dAB + 2 * F * i, *pr = dRD + 2 * F * i, *pd = pr + F;
  for (int o = 0; o < F; o++) da[o] = pr[o] = pd[o] = 0;
  for (int64_t k = 0; k < deg; k++) {
    int64_t e = e0 + k;
    real *z = dZ + (size_t)F * e;
    const real *zp = Z + (size_t)F * e;
    real re = r[e], de = d0[e];
    for (int o = 0; o < F; o++) {
      real sg = elign_sigmoid_real(zp[o]);
      z[o] = z[o] * sg * ((real)1 + zp[o] * ((real)1 - sg));
      da[o] += z[o];
      pr[o] += z[o] * re;
      pd[o] += z[o] * de;
    }
    if (scatter) {
      real *db = dAB + 2 * F * edge_neighbour(g, i, k) + F;
      for (int o = 0; o < F; o++) db[o] += z[o];
    }
    dr[e] += dot_r(z, wr, F);
    dd0[e] += dot_r(z, wd, F);
  }
}

void egnn_edge_in_backward(real *dW1, real *db1, real *dh, real *dr, real *dd0, real *dS, real *dAB, real *dRD,
                             const egnn_graph *g, const real *Z, const real *h, const real *r, const real *d0,
                             const real *W1, int F) {
  int ldw = 2 * F + 2;
  real *dZ = dS;
  if (omp_get_max_threads() == 1) {
    /* one thread: the column sums dB ride along in the row pass (dZ rows are
     * in cache there); same order, same bits as the gather below */
    real *wr = copy_geometry_columns(W1, F);
    for (int64_t i = 0; i < g->N; i++)
      for (int o = 0; o < F; o++) dAB[2 * F * i + F + o] = 0;
    for (int64_t i = 0; i < g->N; i++) edge_in_backward_row(i, 1, dZ, dAB, dRD, dr, dd0, g, Z, r, d0, wr, wr + F, F);
    free(wr);
  } else {
#pragma omp parallel
    {
      real *wr = copy_geometry_columns(W1, F);
#pragma omp for schedule(static)
      for (int64_t i = 0; i < g->N; i++) /* rows: i receives; dZ = dS ⊙ SiLU'(Z) made here, in cache */
        edge_in_backward_row(i, 0, dZ, dAB, dRD, dr, dd0, g, Z, r, d0, wr, wr + F, F);
#pragma omp for schedule(static)
      for (int64_t i = 0; i < g->N; i++) {
        int64_t deg = row_degree(g, i), o0 = g->off[g->mol[i]];
        real *db = dAB + 2 * F * i + F;
        for (int o = 0; o < F; o++) db[o] = 0;
        for (int64_t jl = 0; jl <= deg; jl++) { /* columns: i as neighbour of j */
          int64_t j = o0 + jl;
          if (j == i) continue;
          const real *z = dZ + (size_t)F * edge_index(g, j, i);
          for (int o = 0; o < F; o++) db[o] += z[o];
        }
      }
      free(wr);
    }
  }
  /* edge-attribute columns: Σ_e dZ_e r_e and Σ_e dZ_e d0_e, atom by atom */
  add_row_sums_strided(dW1 + 2 * F, ldw, dRD, 2 * F, g->N, F);
  add_row_sums_strided(dW1 + 2 * F + 1, ldw, dRD + F, 2 * F, g->N, F);
  /* bias: Σ_e dZ_e = Σ_i dA_i (fixed order) */
  for (int64_t i = 0; i < g->N; i++)
    for (int o = 0; o < F; o++) db1[o] += dAB[2 * F * i + o];
  GEMM(elign_gemm_dw((int)g->N, F, F, dAB, 2 * F, h, F, dW1, ldw));              /* dWa += dAᵀ h */
  GEMM(elign_gemm_dw((int)g->N, F, F, dAB + F, 2 * F, h, F, dW1 + F, ldw));      /* dWb += dBᵀ h */
  GEMM(elign_gemm_xw((int)g->N, F, F, 1, dAB, 2 * F, W1, ldw, 1, dh, F));        /* dh += dA Wa */
  GEMM(elign_gemm_xw((int)g->N, F, F, 1, dAB + F, 2 * F, W1 + F, ldw, 1, dh, F)); /* dh += dB Wb */
}

/* ======================================================================= */
/* layer: an F×F linear over all edges (one GEMM)                            */
/* ======================================================================= */

/* Forward: Z (M,F) = X (M,F) · Wᵀ + b. */
void egnn_linear_forward(real *Z, const real *X, const real *W, const real *b, int64_t M, int F_in, int F_out) {
  GEMM(elign_gemm_xwt_bias((int)M, F_out, F_in, X, F_in, W, F_in, b, Z, F_out));
}
/* Backward of Z = X Wᵀ + b given dZ (M,F_out):
 *   db += Σ_m dZ_m  (GEMV with a ones vector: fixed order)
 *   dW += dZᵀ X
 *   dX  = dZ W      (overwritten; skipped when dX is NULL) */
void egnn_linear_backward(real *dX, real *dW, real *db, const real *dZ, const real *X, const real *W,
                            const real *ones, int64_t M, int F_in, int F_out) {
  GEMM(elign_gemv_xtv((int)M, F_out, 1, dZ, F_out, ones, 1, db, 1));
  egnn_linear_backward_weights(dX, dW, dZ, X, W, M, F_in, F_out);
}

/* The same without the bias: dW += dZᵀ X, dX = dZ W (the F×F edge layers,
 * whose bias gradient the layer above sums per atom). */
void egnn_linear_backward_weights(real *dX, real *dW, const real *dZ, const real *X, const real *W, int64_t M,
                                  int F_in, int F_out) {
  GEMM(elign_gemm_dw((int)M, F_out, F_in, dZ, F_out, X, F_in, dW, F_in));
  if (dX) GEMM(elign_gemm_xw((int)M, F_out, F_in, 1, dZ, F_out, W, F_in, 0, dX, F_in));
}

/* ======================================================================= */
/* layer: attention gate and aggregation of messages (§1.6)                  */
/* ======================================================================= */

/* Forward over the edges [e0, e1). Z2 (rows from e0): pre-activation of the
 * edge MLP's 2nd layer.
 *   μ_e = SiLU(Z2_e), g_e = σ(w·μ_e + b) (1 without attention),
 *   agg_i += Σ_j μ_ij g_ij   (in edge order; a row may span two ranges)
 * Out: g (E, global index), agg (N,F) accumulated: the caller zeroes it
 * before the first range and scales by 1/nf after the last. */
void egnn_attention_aggregate_forward_range(real *g_out, real *agg, const egnn_graph *g, const real *Z2,
                                            const real *w, const real *b, int attention, int F, int64_t e0,
                                            int64_t e1) {
  if (e1 <= e0) return;
  int64_t ia = egnn_graph_edge_atom(g, e0), ib = egnn_graph_edge_atom(g, e1 - 1);
#pragma omp parallel if (!omp_in_parallel()) /* one thread inside edge_mlp_forward's chunks */
  {
    real *mu = (real *)malloc((size_t)F * sizeof(real));
#pragma omp for schedule(static)
    for (int64_t i = ia; i <= ib; i++) {
      int64_t ef = edge_first(g, i), deg = row_degree(g, i);
      int64_t k0 = e0 > ef ? e0 - ef : 0, k1 = e1 - ef < deg ? e1 - ef : deg;
      real *a = agg + (size_t)F * i;
      for (int64_t k = k0; k < k1; k++) {
        const real *z = Z2 + (size_t)F * (ef + k - e0);
        for (int o = 0; o < F; o++) mu[o] = z[o] * elign_sigmoid_real(z[o]);
        real ge = attention ? elign_sigmoid_real(b[0] + dot_r(w, mu, F)) : 1;
        g_out[ef + k] = ge;
        for (int o = 0; o < F; o++) a[o] += mu[o] * ge;
      }
    }
    free(mu);
  }
}

/* agg (N,F) *= 1/nf: the end of the aggregation. */
static void scale_rows(real *agg, int64_t N, int F, real inv_nf) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < N; i++)
    for (int o = 0; o < F; o++) agg[(size_t)F * i + o] *= inv_nf;
}

/* Forward over all edges: agg_i = (1/nf) Σ_j μ_ij g_ij. Out: g (E), agg (N,F). */
void egnn_attention_aggregate_forward(real *g_out, real *agg, const egnn_graph *g, const real *Z2, const real *w,
                                      const real *b, int attention, real inv_nf, int F) {
  memset(agg, 0, (size_t)g->N * F * sizeof(real));
  egnn_attention_aggregate_forward_range(g_out, agg, g, Z2, w, b, attention, F, 0, g->E);
  scale_rows(agg, g->N, F, inv_nf);
}


/* Backward, given dagg (N,F). With m_ij = dagg_i / nf:
 *   dg_ij = m_ij · μ_ij,  da_ij = dg_ij g_ij (1 − g_ij)        (a = logit)
 *   dw   += Σ_e da_e μ_e,  db += Σ_e da_e
 *   dμ_ij = m_ij g_ij + da_ij w
 *   dZ2   = dμ ⊙ SiLU'(Z2)
 * Out: dZ2 (E,F) overwritten; dZsum (N,F, may be NULL) = Σ_j dZ2_ij per atom
 * (the next layer's bias gradient without another pass over dZ2). Scratch:
 * M (N,F) holds each atom's Σ_j da_ij μ_ij (summed over atoms in order into
 * dw), da (E). */
void egnn_attention_aggregate_backward(real *dZ2, real *dZsum, real *dw, real *db, real *M, real *da,
                                       const real *dagg, const egnn_graph *g, const real *Z2, const real *g_e,
                                       const real *w, int attention, real inv_nf, int F) {
#pragma omp parallel
  {
    real *mu = (real *)malloc((size_t)F * sizeof(real));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < g->N; i++) {
      int64_t e0 = edge_first(g, i), deg = row_degree(g, i);
      const real *dA = dagg + (size_t)F * i;
      real *pw = M + (size_t)F * i;
      for (int o = 0; o < F; o++) pw[o] = 0;
      if (dZsum)
        for (int o = 0; o < F; o++) dZsum[(size_t)F * i + o] = 0;
      for (int64_t k = 0; k < deg; k++) {
        int64_t e = e0 + k;
        const real *z = Z2 + (size_t)F * e;
        real *dz = dZ2 + (size_t)F * e;
        real ge = g_e[e];
        for (int o = 0; o < F; o++) {
          real s = elign_sigmoid_real(z[o]);
          mu[o] = z[o] * s;
          dz[o] = s * ((real)1 + z[o] * ((real)1 - s)); /* SiLU'(z), scaled below */
        }
        real dg = dot_r(dA, mu, F) * inv_nf;
        real dae = attention ? dg * ge * ((real)1 - ge) : 0;
        da[e] = dae;
        real gs = inv_nf * ge;
        if (attention) {
          for (int o = 0; o < F; o++) dz[o] *= dA[o] * gs + dae * w[o];
          for (int o = 0; o < F; o++) pw[o] += dae * mu[o];
        } else {
          for (int o = 0; o < F; o++) dz[o] *= dA[o] * gs;
        }
        if (dZsum)
          for (int o = 0; o < F; o++) dZsum[(size_t)F * i + o] += dz[o];
      }
    }
    free(mu);
  }
  if (attention) {
    add_row_sums(dw, M, g->N, F);
    double s = 0;
    for (int64_t e = 0; e < g->E; e++) s += da[e];
    db[0] += (real)s;
  }
}

/* ======================================================================= */
/* layer: node MLP with residual (§1.6)                                      */
/* ======================================================================= */

/* Forward: Z3 = W3 [h | agg] + b3, h_mid = h + W4 SiLU(Z3) + b4.
 * W3 [F, 2F], W4 [F, F]. S3 (N,F) scratch. */
void egnn_node_mlp_forward(real *Z3, real *h_mid, real *S3, const real *h, const real *agg, const real *W3,
                             const real *b3, const real *W4, const real *b4, int64_t N, int F) {
  GEMM(elign_gemm_xwt_bias((int)N, F, F, h, F, W3, 2 * F, b3, Z3, F));
  GEMM(elign_gemm_xwt((int)N, F, F, 1, agg, F, W3 + F, 2 * F, 1, Z3, F));
  silu_fwd(S3, Z3, N * F);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < N; i++)
    for (int o = 0; o < F; o++) h_mid[(size_t)F * i + o] = h[(size_t)F * i + o] + b4[o];
  GEMM(elign_gemm_xwt((int)N, F, F, 1, S3, F, W4, F, 1, h_mid, F));
}

/* Backward given dh_mid (N,F):
 *   db4 += Σ dh_mid,  dW4 += dh_midᵀ SiLU(Z3),  dS3 = dh_mid W4
 *   dZ3 = dS3 ⊙ SiLU'(Z3);  db3 += Σ dZ3;  dW3 += dZ3ᵀ [h | agg]
 *   dh  = dh_mid + dZ3 W3[:, :F]   (overwritten),  dagg = dZ3 W3[:, F:] (overwritten)
 * S3, dZ3 (N,F) scratch. */
void egnn_node_mlp_backward(real *dh, real *dagg, real *dW3, real *db3, real *dW4, real *db4, real *S3, real *dZ3,
                              const real *dh_mid, const real *h, const real *agg, const real *Z3, const real *W3,
                              const real *W4, const real *ones, int64_t N, int F) {
  silu_fwd(S3, Z3, N * F);
  egnn_linear_backward(dZ3, dW4, db4, dh_mid, S3, W4, ones, N, F, F);
  silu_bwd(dZ3, dZ3, Z3, N * F);
  GEMM(elign_gemv_xtv((int)N, F, 1, dZ3, F, ones, 1, db3, 1));
  GEMM(elign_gemm_dw((int)N, F, F, dZ3, F, h, F, dW3, 2 * F));
  GEMM(elign_gemm_dw((int)N, F, F, dZ3, F, agg, F, dW3 + F, 2 * F));
  memcpy(dh, dh_mid, (size_t)N * F * sizeof(real));
  GEMM(elign_gemm_xw((int)N, F, F, 1, dZ3, F, W3, 2 * F, 1, dh, F));
  GEMM(elign_gemm_xw((int)N, F, F, 1, dZ3, F, W3 + F, 2 * F, 0, dagg, F));
}

/* ======================================================================= */
/* layer: equivariant coordinate update (§1.7)                               */
/* ======================================================================= */

/* Forward over the edges [e0, e1). Z6 (rows from e0): pre-activation of
 * coord_mlp.2; w7 [1,F] (coord_mlp.4).
 *   c_e = w7 · SiLU(Z6_e)
 *   u_ij = (x_i − x_j) / (sqrt(r_ij + 1e-8) + κ)
 *   acc_i += Σ_j u_ij f(c_ij),  f = tanh or identity (in edge order)
 * Out: c (E, global index), acc (N,3) accumulated (zeroed by the caller). */
void egnn_coord_update_forward_range(real *c, real *acc, const egnn_graph *g, const real *Z6, const real *w7,
                                     const real *x, const real *r, int use_tanh, real kappa, int F, int64_t e0,
                                     int64_t e1) {
  if (e1 <= e0) return;
  int64_t ia = egnn_graph_edge_atom(g, e0), ib = egnn_graph_edge_atom(g, e1 - 1);
#pragma omp parallel if (!omp_in_parallel()) /* one thread inside edge_mlp_forward's chunks */
  {
    real *s6 = (real *)malloc((size_t)F * sizeof(real));
#pragma omp for schedule(static)
    for (int64_t i = ia; i <= ib; i++) {
      int64_t ef = edge_first(g, i), deg = row_degree(g, i);
      int64_t k0 = e0 > ef ? e0 - ef : 0, k1 = e1 - ef < deg ? e1 - ef : deg;
      real a[3] = {acc[3 * i], acc[3 * i + 1], acc[3 * i + 2]};
      for (int64_t k = k0; k < k1; k++) {
        int64_t e = ef + k, j = edge_neighbour(g, i, k);
        const real *z = Z6 + (size_t)F * (e - e0);
        for (int o = 0; o < F; o++) s6[o] = z[o] * elign_sigmoid_real(z[o]);
        real ce = dot_r(w7, s6, F);
        c[e] = ce;
        real f = use_tanh ? R_TANH(ce) : ce;
        real q = R_SQRT(r[e] + (real)1e-8) + kappa;
        for (int d = 0; d < 3; d++) a[d] += (x[3 * i + d] - x[3 * j + d]) / q * f;
      }
      for (int d = 0; d < 3; d++) acc[3 * i + d] = a[d];
    }
    free(s6);
  }
}

/* x_out_i = x_i + coef acc_i: the end of the coordinate update. */
static void coord_update_finish(real *x_out, const real *x, const real *acc, int64_t N, real coef) {
  for (int64_t k = 0; k < 3 * N; k++) x_out[k] = x[k] + coef * acc[k];
}

/* Forward over all edges: x_out_i = x_i + coef Σ_j u_ij f(c_ij), coef =
 * range/nf with tanh, 1/nf without. Out: c (E), x_out (N,3). */
void egnn_coord_update_forward(real *c, real *x_out, const egnn_graph *g, const real *Z6, const real *w7,
                               const real *x, const real *r, int use_tanh, real coef, real kappa, int F) {
  real *acc = (real *)calloc(3 * (size_t)g->N + 1, sizeof(real));
  egnn_coord_update_forward_range(c, acc, g, Z6, w7, x, r, use_tanh, kappa, F, 0, g->E);
  coord_update_finish(x_out, x, acc, g->N, coef);
  free(acc);
}

/* Backward given dx_out (N,3). The identity path (dx_in += dx_out) is the
 * caller's. With D = x_i − x_j, s = sqrt(r + 1e-8), q = s + κ, u = D/q:
 *   dc_ij = coef f'(c_ij) (dx_out_i · u_ij)
 *   du_ij = coef f(c_ij) dx_out_i
 *   dD_ij = du/q − D (D·du) / (q² s)          → dd (E,3), overwritten
 *   dw7  += Σ_e dc_e SiLU(Z6_e),  dS6_e = dc_e w7,  dZ6 = dS6 ⊙ SiLU'(Z6)
 * Out: dZ6 (E,F) overwritten; dZsum (N,F, may be NULL) = Σ_j dZ6_ij per atom;
 * dd (E,3) overwritten; dc (E). M (N,F) scratch:
 * each atom's Σ_j dc_ij SiLU(Z6_ij), summed over atoms in order into dw7. */
void egnn_coord_update_backward(real *dZ6, real *dZsum, real *dd, real *dw7, real *M, real *dc, const real *dx_out,
                                  const egnn_graph *g, const real *Z6, const real *w7, const real *c, const real *x,
                                  const real *r, int use_tanh, real coef, real kappa, int F) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < g->N; i++) {
    int64_t e0 = edge_first(g, i), deg = row_degree(g, i);
    const real *gx = dx_out + 3 * i;
    real *pw = M + (size_t)F * i, *zs = dZsum ? dZsum + (size_t)F * i : NULL;
    for (int o = 0; o < F; o++) pw[o] = 0;
    if (zs)
      for (int o = 0; o < F; o++) zs[o] = 0;
    for (int64_t k = 0; k < deg; k++) {
      int64_t e = e0 + k, j = edge_neighbour(g, i, k);
      real D[3], du[3];
      for (int d = 0; d < 3; d++) D[d] = x[3 * i + d] - x[3 * j + d];
      real s = R_SQRT(r[e] + (real)1e-8), q = s + kappa;
      real f = use_tanh ? R_TANH(c[e]) : c[e];
      real fp = use_tanh ? (real)1 - f * f : 1;
      real gu = (gx[0] * D[0] + gx[1] * D[1] + gx[2] * D[2]) / q;
      real dce = coef * fp * gu;
      dc[e] = dce;
      real Ddu = 0;
      for (int d = 0; d < 3; d++) {
        du[d] = coef * f * gx[d];
        Ddu += D[d] * du[d];
      }
      for (int d = 0; d < 3; d++) dd[3 * e + d] = du[d] / q - D[d] * Ddu / (q * q * s);
      const real *z = Z6 + (size_t)F * e;
      real *dz = dZ6 + (size_t)F * e;
      for (int o = 0; o < F; o++) {
        real sg = elign_sigmoid_real(z[o]);
        pw[o] += dce * (z[o] * sg);
        dz[o] = dce * w7[o] * sg * ((real)1 + z[o] * ((real)1 - sg));
      }
      if (zs)
        for (int o = 0; o < F; o++) zs[o] += dz[o];
    }
  }
  add_row_sums(dw7, M, g->N, F);
}

/* ======================================================================= */
/* parameter layout (§1.8)                                                   */
/* ======================================================================= */

egnn_config egnn_config_qm9(void) {
  egnn_config c = {.n_layers = 9, .hidden = 256, .in_node_nf = 6, .include_time = 1, .attention = 1, .tanh = 1,
                   .coords_range = 15.0, .norm_constant = 1.0, .normalization_factor = 1.0};
  return c;
}

egnn_config egnn_config_geom(void) {
  egnn_config c = egnn_config_qm9();
  c.n_layers = 4;
  c.in_node_nf = 16;
  return c;
}

/* Per-block tensors in state-dict order; the index names the role. */
enum {
  B_EW1, B_EB1, B_EW2, B_EB2, B_NW1, B_NB1, B_NW2, B_NB2, B_AW, B_AB, B_CW1, B_CB1, B_CW2, B_CB2, B_CW3, B_COUNT
};
static const char *const block_tensor_suffix[B_COUNT] = {
    "gcl_0.edge_mlp.0.weight",    "gcl_0.edge_mlp.0.bias",      "gcl_0.edge_mlp.2.weight",
    "gcl_0.edge_mlp.2.bias",      "gcl_0.node_mlp.0.weight",    "gcl_0.node_mlp.0.bias",
    "gcl_0.node_mlp.2.weight",    "gcl_0.node_mlp.2.bias",      "gcl_0.att_mlp.0.weight",
    "gcl_0.att_mlp.0.bias",       "gcl_equiv.coord_mlp.0.weight", "gcl_equiv.coord_mlp.0.bias",
    "gcl_equiv.coord_mlp.2.weight", "gcl_equiv.coord_mlp.2.bias", "gcl_equiv.coord_mlp.4.weight"};

static void block_tensor_shape(const egnn_config *c, int k, int *rows, int *cols) {
  int F = c->hidden;
  switch (k) {
  case B_EW1: case B_CW1: *rows = F; *cols = 2 * F + 2; break;
  case B_NW1: *rows = F; *cols = 2 * F; break;
  case B_EW2: case B_NW2: case B_CW2: *rows = F; *cols = F; break;
  case B_AW: case B_CW3: *rows = 1; *cols = F; break;
  case B_AB: *rows = 1; *cols = 0; break;
  default: *rows = F; *cols = 0; break; /* biases [F] */
  }
}

size_t egnn_block_param_count(const egnn_config *c) {
  size_t n = 0;
  for (int k = 0; k < B_COUNT; k++) {
    if (!c->attention && (k == B_AW || k == B_AB)) continue;
    int rows, cols;
    block_tensor_shape(c, k, &rows, &cols);
    n += (size_t)rows * (size_t)(cols ? cols : 1);
  }
  return n;
}

static void add_tensor(egnn_model *m, int *cap, const char *name, int rows, int cols) {
  if (m->n_tensors == *cap) {
    *cap = *cap ? 2 * *cap : 64;
    m->tensors = elign_realloc(m->tensors, (size_t)*cap * sizeof *m->tensors, "egnn:tensors");
  }
  egnn_tensor *t = &m->tensors[m->n_tensors++];
  snprintf(t->name, sizeof t->name, "dynamics.egnn.%s", name);
  t->rows = rows;
  t->cols = cols;
  t->size = (size_t)rows * (size_t)(cols ? cols : 1);
  t->offset = m->n_params;
  m->n_params += t->size;
}

elign_status egnn_model_init(egnn_model *m, const egnn_config *cfg, elign_error *err) {
  memset(m, 0, sizeof *m);
  if (cfg->n_layers < 1 || cfg->hidden < 1 || cfg->in_node_nf < 0 || egnn_config_node_nf(cfg) < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "egnn: bad architecture (n_layers %d, hidden %d, in_node_nf %d)",
                      cfg->n_layers, cfg->hidden, cfg->in_node_nf);
  if (!(cfg->normalization_factor > 0) || !(cfg->norm_constant >= 0) || !(cfg->coords_range > 0))
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG,
                      "egnn: normalization_factor %g, norm_constant %g, coords_range %g out of range",
                      cfg->normalization_factor, cfg->norm_constant, cfg->coords_range);
  m->cfg = *cfg;
  int cap = 0, F = cfg->hidden, Hn = egnn_config_node_nf(cfg);
  add_tensor(m, &cap, "embedding.weight", F, Hn);
  add_tensor(m, &cap, "embedding.bias", F, 0);
  add_tensor(m, &cap, "embedding_out.weight", Hn, F);
  add_tensor(m, &cap, "embedding_out.bias", Hn, 0);
  for (int l = 0; l < cfg->n_layers; l++)
    for (int k = 0; k < B_COUNT; k++) {
      if (!cfg->attention && (k == B_AW || k == B_AB)) continue;
      char name[64];
      int rows, cols;
      block_tensor_shape(cfg, k, &rows, &cols);
      snprintf(name, sizeof name, "e_block_%d.%s", l, block_tensor_suffix[k]);
      add_tensor(m, &cap, name, rows, cols);
    }
  return ELIGN_OK;
}

void egnn_model_free(egnn_model *m) {
  if (!m) return;
  elign_free(m->tensors);
  m->n_tensors = 0;
  m->n_params = 0;
}

const egnn_tensor *egnn_model_find(const egnn_model *m, const char *name) {
  for (int k = 0; k < m->n_tensors; k++)
    if (strcmp(m->tensors[k].name, name) == 0) return &m->tensors[k];
  return NULL;
}

/* Offsets of block l's tensors by role (attention tensors 0 when absent). */
static void block_offsets(const egnn_model *m, int l, size_t off[B_COUNT]) {
  int per = m->cfg.attention ? B_COUNT : B_COUNT - 2;
  int t = 4 + l * per;
  for (int k = 0; k < B_COUNT; k++) {
    if (!m->cfg.attention && (k == B_AW || k == B_AB)) {
      off[k] = 0;
      continue;
    }
    off[k] = m->tensors[t++].offset;
  }
}

void egnn_params_init_random(const egnn_model *m, elign_real *params, uint64_t seed) {
  /* one counter-based stream, purpose INIT: the same seed gives the same
   * parameters on every rank and platform */
  elign_rng rng = elign_rng_stream(seed, 0, 0, 0, 0, ELIGN_RNG_INIT);
  for (int k = 0; k < m->n_tensors; k++) {
    const egnn_tensor *t = &m->tensors[k];
    /* fan_in of the Linear this tensor belongs to: a weight's cols; a bias
     * takes the preceding weight's */
    int fan_in = t->cols ? t->cols : (k > 0 && m->tensors[k - 1].cols ? m->tensors[k - 1].cols : 1);
    double bound = 1.0 / sqrt((double)fan_in);
    if (strstr(t->name, "coord_mlp.4.weight")) bound *= 1e-3;
    for (size_t q = 0; q < t->size; q++) {
      double u = elign_rng_uniform(&rng);
      params[t->offset + q] = (real)((2 * u - 1) * bound);
    }
  }
}

void egnn_grads_zero(const egnn_model *m, elign_real *grads) { memset(grads, 0, m->n_params * sizeof *grads); }

double egnn_forward_gemm_flops(const egnn_config *c, int64_t n_atoms, int64_t n_edges) {
  double F = c->hidden, Hn = egnn_config_node_nf(c), N = (double)n_atoms, E = (double)n_edges;
  /* per block: node projections 2+2 (edge, coord first layers), node MLP 2+1,
   * edge layers 2 of E×F×F */
  double macs_block = 7 * N * F * F + 2 * E * F * F;
  return 2.0 * (c->n_layers * macs_block + 2 * N * Hn * F);
}

int64_t egnn_batch_edges(int64_t n_mol, const int64_t *offsets) {
  int64_t E = 0;
  for (int64_t b = 0; b < n_mol; b++) {
    int64_t n = offsets[b + 1] - offsets[b];
    if (n > 1) E += n * (n - 1);
  }
  return E;
}

/* ======================================================================= */
/* workspace: activations kept for backward + scratch                        */
/* ======================================================================= */

struct egnn_workspace {
  egnn_config cfg;
  int keep;                                 /* activations of every block kept (training) */
  int64_t cap_atoms, cap_mols, cap_edges;
  size_t bytes;
  /* the batch of the last forward */
  int64_t n_mol, N, E;
  int have_egnn, have_dyn;
  int64_t *off, *eoff; /* (cap_mols+1) */
  int32_t *mol;        /* (cap_atoms) */
  real *ones;          /* (cap_edges) all 1: column sums as GEMV */
  /* kept by egnn_forward */
  real *h_raw;                 /* (N,Hn) input h */
  real *d0;                    /* (E) initial squared distances */
  real *h, *x;                 /* (L+1 | 2) × (N,F), (N,3): block inputs; [L] the output */
  real *r, *g, *c;             /* (L | 1) × (E) */
  real *Z1, *Z2, *Z5, *Z6;     /* (L | 1) × (E,F) pre-activations */
  real *agg, *Z3;              /* (L | 1) × (N,F) */
  /* scratch */
  real *S, *D1, *D2;           /* (E,F) */
  real *P, *dRD;               /* (N,2F) */
  real *S3, *dh, *dh2, *dagg;  /* (N,F) */
  real *dd;                    /* (E,3) */
  real *dr, *dd0, *dc;         /* (E) */
  real *dx, *dx2, *xacc;       /* (N,3) */
  /* kept by egnn_dynamics_forward */
  real *dyn_x, *dyn_hin, *dyn_hout, *dyn_xout; /* (N,3), (N,Hn), (N,Hn), (N,3) */
  real *dyn_dh, *dyn_dhin, *dyn_dx;            /* (N,Hn), (N,Hn), (N,3) */
};

static void *ws_alloc(egnn_workspace *ws, size_t count, size_t size, const char *label) {
  ws->bytes += count * size;
  return elign_malloc_aligned(count * size, label); /* rows on cache lines: see elign_malloc_aligned */
}

static void ws_release(egnn_workspace *ws) {
  void **ptrs[] = {(void **)&ws->off, (void **)&ws->eoff, (void **)&ws->mol, (void **)&ws->ones,
                   (void **)&ws->h_raw, (void **)&ws->d0, (void **)&ws->h, (void **)&ws->x, (void **)&ws->r,
                   (void **)&ws->g, (void **)&ws->c, (void **)&ws->Z1, (void **)&ws->Z2, (void **)&ws->Z5,
                   (void **)&ws->Z6, (void **)&ws->agg, (void **)&ws->Z3, (void **)&ws->S, (void **)&ws->D1,
                   (void **)&ws->D2, (void **)&ws->P, (void **)&ws->dRD, (void **)&ws->S3, (void **)&ws->dh, (void **)&ws->dh2,
                   (void **)&ws->dagg, (void **)&ws->dd, (void **)&ws->dr, (void **)&ws->dd0, (void **)&ws->dc,
                   (void **)&ws->dx, (void **)&ws->dx2, (void **)&ws->xacc, (void **)&ws->dyn_x, (void **)&ws->dyn_hin,
                   (void **)&ws->dyn_hout, (void **)&ws->dyn_xout, (void **)&ws->dyn_dh, (void **)&ws->dyn_dhin,
                   (void **)&ws->dyn_dx};
  for (size_t k = 0; k < sizeof ptrs / sizeof ptrs[0]; k++) {
    free(*ptrs[k]);
    *ptrs[k] = NULL;
  }
  ws->bytes = 0;
}

static void ws_allocate(egnn_workspace *ws) {
  const egnn_config *c = &ws->cfg;
  size_t A = (size_t)(ws->cap_atoms > 0 ? ws->cap_atoms : 1), M = (size_t)(ws->cap_mols > 0 ? ws->cap_mols : 1);
  size_t E = (size_t)(ws->cap_edges > 0 ? ws->cap_edges : 1), F = (size_t)c->hidden;
  size_t Hn = (size_t)egnn_config_node_nf(c), L = (size_t)c->n_layers;
  size_t nb = ws->keep ? L : 1, nh = ws->keep ? L + 1 : 2, sz = sizeof(real);
  ws->bytes = 0;
  ws->off = ws_alloc(ws, M + 1, sizeof(int64_t), "egnn:off");
  ws->eoff = ws_alloc(ws, M + 1, sizeof(int64_t), "egnn:eoff");
  ws->mol = ws_alloc(ws, A, sizeof(int32_t), "egnn:mol");
  ws->ones = ws_alloc(ws, E > A ? E : A, sz, "egnn:ones");
  for (size_t k = 0; k < (E > A ? E : A); k++) ws->ones[k] = 1;
  ws->h_raw = ws_alloc(ws, A * Hn, sz, "egnn:h_raw");
  ws->d0 = ws_alloc(ws, E, sz, "egnn:d0");
  ws->h = ws_alloc(ws, nh * A * F, sz, "egnn:h");
  ws->x = ws_alloc(ws, nh * A * 3, sz, "egnn:x");
  ws->r = ws_alloc(ws, nb * E, sz, "egnn:r");
  ws->g = ws_alloc(ws, nb * E, sz, "egnn:g");
  ws->c = ws_alloc(ws, nb * E, sz, "egnn:c");
  /* Sampling keeps no per-edge activation: Z1 and Z5 are not written; Z2,
   * Z6 and S are scratch for one chunk of edges per thread (plan_edge_chunks:
   * as many threads as E rows hold chunks). Training keeps all four; its
   * backward uses S over all edges. */
  ws->Z1 = ws->keep ? ws_alloc(ws, nb * E * F, sz, "egnn:Z1") : NULL;
  ws->Z2 = ws_alloc(ws, nb * E * F, sz, "egnn:Z2");
  ws->Z5 = ws->keep ? ws_alloc(ws, nb * E * F, sz, "egnn:Z5") : NULL;
  ws->Z6 = ws_alloc(ws, nb * E * F, sz, "egnn:Z6");
  ws->agg = ws_alloc(ws, nb * A * F, sz, "egnn:agg");
  ws->Z3 = ws_alloc(ws, nb * A * F, sz, "egnn:Z3");
  ws->S = ws_alloc(ws, E * F, sz, "egnn:S");
  ws->xacc = ws_alloc(ws, A * 3, sz, "egnn:xacc");
  ws->P = ws_alloc(ws, A * 2 * F, sz, "egnn:P");
  ws->S3 = ws_alloc(ws, A * F, sz, "egnn:S3");
  ws->dyn_x = ws_alloc(ws, A * 3, sz, "egnn:dyn_x");
  ws->dyn_hin = ws_alloc(ws, A * Hn, sz, "egnn:dyn_hin");
  ws->dyn_hout = ws_alloc(ws, A * Hn, sz, "egnn:dyn_hout");
  ws->dyn_xout = ws_alloc(ws, A * 3, sz, "egnn:dyn_xout");
  if (ws->keep) { /* backward scratch */
    ws->D1 = ws_alloc(ws, E * F, sz, "egnn:D1");
    ws->D2 = ws_alloc(ws, E * F, sz, "egnn:D2");
    ws->dRD = ws_alloc(ws, A * 2 * F, sz, "egnn:dRD");
    ws->dh = ws_alloc(ws, A * F, sz, "egnn:dh");
    ws->dh2 = ws_alloc(ws, A * F, sz, "egnn:dh2");
    ws->dagg = ws_alloc(ws, A * F, sz, "egnn:dagg");
    ws->dd = ws_alloc(ws, E * 3, sz, "egnn:dd");
    ws->dr = ws_alloc(ws, E, sz, "egnn:dr");
    ws->dd0 = ws_alloc(ws, E, sz, "egnn:dd0");
    ws->dc = ws_alloc(ws, E, sz, "egnn:dc");
    ws->dx = ws_alloc(ws, A * 3, sz, "egnn:dx");
    ws->dx2 = ws_alloc(ws, A * 3, sz, "egnn:dx2");
    ws->dyn_dh = ws_alloc(ws, A * Hn, sz, "egnn:dyn_dh");
    ws->dyn_dhin = ws_alloc(ws, A * Hn, sz, "egnn:dyn_dhin");
    ws->dyn_dx = ws_alloc(ws, A * 3, sz, "egnn:dyn_dx");
  }
  ws->have_egnn = ws->have_dyn = 0;
}

egnn_workspace *egnn_workspace_create_edges(const egnn_model *m, int64_t max_atoms, int64_t max_mols,
                                            int64_t max_edges, int keep_activations) {
  egnn_workspace *ws = elign_calloc(1, sizeof *ws, "egnn:workspace");
  ws->cfg = m->cfg;
  ws->keep = keep_activations ? 1 : 0;
  ws->cap_atoms = max_atoms;
  ws->cap_mols = max_mols;
  ws->cap_edges = max_edges > 0 ? max_edges : max_atoms * (max_atoms - 1);
  ws_allocate(ws);
  return ws;
}

egnn_workspace *egnn_workspace_create(const egnn_model *m, int64_t max_atoms, int64_t max_mols,
                                      int keep_activations) {
  return egnn_workspace_create_edges(m, max_atoms, max_mols, 0, keep_activations);
}

void egnn_workspace_reserve(egnn_workspace *ws, int64_t max_atoms, int64_t max_mols, int64_t max_edges) {
  if (max_edges <= 0) max_edges = max_atoms * (max_atoms - 1);
  if (max_atoms <= ws->cap_atoms && max_mols <= ws->cap_mols && max_edges <= ws->cap_edges) return;
  if (max_atoms > ws->cap_atoms) ws->cap_atoms = max_atoms;
  if (max_mols > ws->cap_mols) ws->cap_mols = max_mols;
  if (max_edges > ws->cap_edges) ws->cap_edges = max_edges;
  ws_release(ws);
  ws_allocate(ws);
}

void egnn_workspace_fit(egnn_workspace *ws, int64_t n_mol, const int64_t *offsets) {
  if (n_mol < 0 || !offsets || offsets[0] != 0) return;
  for (int64_t b = 0; b < n_mol; b++)
    if (offsets[b + 1] < offsets[b]) return;
  int64_t E = egnn_batch_edges(n_mol, offsets);
  egnn_workspace_reserve(ws, offsets[n_mol], n_mol, E > 0 ? E : 1);
}

void egnn_workspace_free(egnn_workspace **ws) {
  if (!ws || !*ws) return;
  ws_release(*ws);
  free(*ws);
  *ws = NULL;
}

size_t egnn_workspace_bytes(const egnn_workspace *ws) { return ws->bytes; }

size_t egnn_activation_bytes(const egnn_config *c, int64_t n_atoms, int64_t n_edges) {
  size_t N = (size_t)n_atoms, E = (size_t)n_edges, F = (size_t)c->hidden, L = (size_t)c->n_layers;
  size_t Hn = (size_t)egnn_config_node_nf(c);
  size_t per_block = 4 * E * F + 3 * E + 2 * N * F;   /* Z1 Z2 Z5 Z6, r g c, agg Z3 */
  size_t once = (L + 1) * (N * F + 3 * N) + N * Hn + E /* h, x per block, h_raw, d0 */
                + 3 * N + 2 * N * Hn + 3 * N;           /* dynamics: x, h in/out, x out */
  return (L * per_block + once) * sizeof(real) + N * sizeof(int32_t);
}

/* Check a batch against the workspace capacity (no side effects). */
static elign_status ws_check_batch(const egnn_workspace *ws, int64_t n_mol, const int64_t *offsets,
                                   elign_error *err) {
  if (n_mol < 0 || !offsets || offsets[0] != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "egnn: bad batch (n_mol %lld, offsets[0] must be 0)", (long long)n_mol);
  for (int64_t b = 0; b < n_mol; b++)
    if (offsets[b + 1] < offsets[b])
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "egnn: offsets decrease at molecule %lld", (long long)b);
  int64_t N = offsets[n_mol], E = egnn_batch_edges(n_mol, offsets);
  if (N > ws->cap_atoms || n_mol > ws->cap_mols || E > ws->cap_edges) {
    ELIGN_FAIL(err, ELIGN_ERR_ARG,
               "egnn: batch (%lld atoms, %lld molecules, %lld edges) exceeds the workspace (%lld, %lld, %lld)",
               (long long)N, (long long)n_mol, (long long)E, (long long)ws->cap_atoms, (long long)ws->cap_mols,
               (long long)ws->cap_edges);
    elign_error_hint(err, "size the workspace for the largest batch or call egnn_workspace_reserve");
    return ELIGN_ERR_ARG;
  }
  return ELIGN_OK;
}

/* Check and record the batch; build the per-atom molecule index and edge offsets. */
static elign_status ws_set_batch(egnn_workspace *ws, egnn_graph *g, int64_t n_mol, const int64_t *offsets,
                                 elign_error *err) {
  ws->have_egnn = ws->have_dyn = 0;
  elign_status st = ws_check_batch(ws, n_mol, offsets, err);
  if (st != ELIGN_OK) return st;
  for (int64_t b = 0; b <= n_mol; b++) ws->off[b] = offsets[b];
  egnn_graph_init(g, n_mol, ws->off, ws->eoff, ws->mol);
  ws->n_mol = n_mol;
  ws->N = g->N;
  ws->E = g->E;
  return ELIGN_OK;
}

static void ws_graph(const egnn_workspace *ws, egnn_graph *g) {
  g->n_mol = ws->n_mol;
  g->N = ws->N;
  g->E = ws->E;
  g->off = ws->off;
  g->eoff = ws->eoff;
  g->mol = ws->mol;
}

/* Per-block views into the workspace. */
typedef struct {
  real *h_in, *x_in, *h_out, *x_out; /* (N,F) (N,3) */
  real *r, *g, *c;                   /* (E) */
  real *Z1, *Z2, *Z5, *Z6;           /* (E,F) */
  real *agg, *Z3;                    /* (N,F) */
} block_acts;

static block_acts ws_block(const egnn_workspace *ws, int l) {
  size_t A = (size_t)ws->cap_atoms, E = (size_t)ws->cap_edges, F = (size_t)ws->cfg.hidden;
  size_t hi = ws->keep ? (size_t)l : (size_t)(l & 1), ho = ws->keep ? (size_t)l + 1 : (size_t)((l + 1) & 1);
  size_t bl = ws->keep ? (size_t)l : 0;
  block_acts a = {
      .h_in = ws->h + hi * A * F, .x_in = ws->x + hi * A * 3, .h_out = ws->h + ho * A * F, .x_out = ws->x + ho * A * 3,
      .r = ws->r + bl * E, .g = ws->g + bl * E, .c = ws->c + bl * E,
      .Z1 = ws->keep ? ws->Z1 + bl * E * F : NULL, .Z2 = ws->Z2 + bl * E * F,
      .Z5 = ws->keep ? ws->Z5 + bl * E * F : NULL, .Z6 = ws->Z6 + bl * E * F,
      .agg = ws->agg + bl * A * F, .Z3 = ws->Z3 + bl * A * F};
  return a;
}

const elign_real *egnn_workspace_h(const egnn_workspace *ws, int l) {
  if (l < 0 || l > ws->cfg.n_layers || (!ws->keep && l < ws->cfg.n_layers - 1)) return NULL;
  return l == ws->cfg.n_layers ? ws_block(ws, l - 1).h_out : ws_block(ws, l).h_in;
}

const elign_real *egnn_workspace_x(const egnn_workspace *ws, int l) {
  if (l < 0 || l > ws->cfg.n_layers || (!ws->keep && l < ws->cfg.n_layers - 1)) return NULL;
  return l == ws->cfg.n_layers ? ws_block(ws, l - 1).x_out : ws_block(ws, l).x_in;
}

/* ======================================================================= */
/* the equivariant block (§1.5) and the whole EGNN (§1.4)                    */
/* ======================================================================= */

/* Gradient through a squared distance r_ij = ‖x_i − x_j‖²: 2 D_ij dr_ij into
 * the displacement gradients dd (E,3) — added to them (a block's r_ij, whose
 * D_ij already carry gradient) or overwriting them (the network input's
 * d⁰_ij) — then scattered to the atoms' dx. */
static void squared_distance_backward(real *dx, real *dd, const egnn_graph *g, const real *x, const real *dr,
                                      int accumulate) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < g->N; i++) {
    int64_t e0 = edge_first(g, i), deg = row_degree(g, i);
    for (int64_t k = 0; k < deg; k++) {
      int64_t e = e0 + k, j = edge_neighbour(g, i, k);
      for (int d = 0; d < 3; d++) {
        real v = 2 * (x[3 * i + d] - x[3 * j + d]) * dr[e];
        dd[3 * e + d] = accumulate ? dd[3 * e + d] + v : v;
      }
    }
  }
  egnn_edge_diff_scatter(dx, g, dd);
}

/* The first edge of the row that holds edge e (E when e ≥ E). */
static int64_t row_start_at(const egnn_graph *g, int64_t e) {
  return e >= g->E ? g->E : edge_first(g, egnn_graph_edge_atom(g, e));
}

/* The largest row degree of the graph (atoms of its largest molecule − 1). */
static int64_t max_row_degree(const egnn_graph *g) {
  int64_t most = 0;
  for (int64_t b = 0; b < g->n_mol; b++)
    if (g->off[b + 1] - g->off[b] - 1 > most) most = g->off[b + 1] - g->off[b] - 1;
  return most;
}

/* The block forward's edge chunks: chunk k is the rows that start in
 * [k·EDGE_CHUNK, (k+1)·EDGE_CHUNK) — whole receiver rows, so each row's sums
 * (aggregation, coordinate update) run in edge order inside one chunk. The
 * chunks are shared out dynamically over the threads, each passing over a
 * chunk with one-thread kernels into its own scratch rows: SiLU(Z1), Z2 and
 * the messages of a chunk stay in that core's L2, a sub-layer costs one
 * parallel region instead of three barriers per chunk (each of which, with
 * more threads than free cores, can cost a scheduler time slice:
 * docs/egnn.md, Performance), and a core slowed by other work takes fewer
 * chunks. A GEMM row's bits do not depend on the chunk (common/nn/blas.h),
 * so the bits do not depend on the thread count or schedule. */
typedef struct {
  int64_t count;   /* chunks */
  int64_t rows;    /* scratch rows per thread: a chunk's edges at most */
  int threads;     /* threads with scratch rows in ws->S (and ws->Z2, ws->Z6) */
} edge_chunks;

static edge_chunks plan_edge_chunks(const egnn_graph *g) {
  edge_chunks ch = {.count = (g->E + EDGE_CHUNK - 1) / EDGE_CHUNK, .rows = EDGE_CHUNK + max_row_degree(g)};
  int64_t slots = g->E / ch.rows; /* the scratch arrays hold E rows */
  ch.threads = (int)(slots < omp_get_max_threads() ? slots : omp_get_max_threads());
  if (ch.threads < 1) ch.threads = 1;
  return ch;
}

/* Edges [*e0, *e1) of chunk k. */
static void edge_chunk_range(const egnn_graph *g, int64_t k, int64_t *e0, int64_t *e1) {
  *e0 = row_start_at(g, k * EDGE_CHUNK);
  *e1 = row_start_at(g, (k + 1) * EDGE_CHUNK);
}

/* One edge MLP of a block (the GCL's or the coordinate head's) over the
 * edges in chunks (plan_edge_chunks): first layer + SiLU into the thread's
 * scratch rows of ws->S, the second layer into Z_b, then the head's own pass
 * over Z_b (`head`). Training keeps Z_a and Z_b where they belong (za, zb
 * set); sampling keeps neither (zb_scratch: the thread's rows there). */
typedef struct {
  real *za, *zb, *zb_scratch;
  const real *w1, *b1, *w2, *b2;
  int head_phase;
  void (*head)(const void *ctx, const real *zb, int64_t e0, int64_t e1);
  const void *ctx;
} edge_mlp;

static void edge_mlp_forward(egnn_workspace *ws, const egnn_graph *g, const real *r, int F, const edge_mlp *mlp) {
  const edge_chunks ch = plan_edge_chunks(g);
#pragma omp parallel num_threads(ch.threads) if (ch.threads > 1)
  {
    const size_t slot = (size_t)F * ch.rows * (ch.threads > 1 ? omp_get_thread_num() : 0);
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < ch.count; k++) {
      int64_t e0, e1;
      edge_chunk_range(g, k, &e0, &e1);
      real *s = ws->S + slot;
      real *za = mlp->za ? mlp->za + (size_t)F * e0 : NULL;
      real *zb = mlp->zb ? mlp->zb + (size_t)F * e0 : mlp->zb_scratch + slot;
      PHASE(EGNN_PHASE_EDGE_IN, egnn_edge_in_forward_range(za, s, g, ws->P, r, ws->d0, mlp->w1, mlp->b1, F, e0, e1));
      PHASE(EGNN_PHASE_NODE, egnn_linear_forward(zb, s, mlp->w2, mlp->b2, e1 - e0, F, F));
      PHASE(mlp->head_phase, mlp->head(mlp->ctx, zb, e0, e1));
    }
  }
}

/* The heads of the two edge MLPs, as edge_mlp_forward calls them. */
typedef struct {
  const egnn_graph *g;
  const block_acts *a;
  real *acc;         /* accumulated per receiver: agg (N,F) or xacc (N,3) */
  const real *w, *b; /* attention: w, b; coordinates: w7 */
  const egnn_config *c;
} edge_head;

static void attention_head(const void *ctx, const real *z2, int64_t e0, int64_t e1) {
  const edge_head *h = ctx;
  egnn_attention_aggregate_forward_range(h->a->g, h->acc, h->g, z2, h->w, h->b, h->c->attention, h->c->hidden,
                                         e0, e1);
}

static void coord_head(const void *ctx, const real *z6, int64_t e0, int64_t e1) {
  const edge_head *h = ctx;
  egnn_coord_update_forward_range(h->a->c, h->acc, h->g, z6, h->w, h->a->x_in, h->a->r, h->c->tanh,
                                  (real)h->c->norm_constant, h->c->hidden, e0, e1);
}

/* Block l: (h_in, x_in) → (h_out, x_out) with the block's activations kept. */
static void block_forward(const egnn_model *m, const real *params, egnn_workspace *ws, const egnn_graph *g, int l) {
  const egnn_config *c = &m->cfg;
  int F = c->hidden;
  size_t off[B_COUNT];
  block_offsets(m, l, off);
  const real *p = params;
  block_acts a = ws_block(ws, l);
  real inv_nf = (real)(1.0 / c->normalization_factor);
  real coef = (real)((c->tanh ? c->coords_range : 1.0) / c->normalization_factor);

  PHASE(EGNN_PHASE_GEOMETRY, egnn_edge_sqdist(a.r, g, a.x_in));
  /* GCL (§1.6): edge MLP → attention → aggregation → node MLP */
  PHASE(EGNN_PHASE_GEMM, egnn_edge_in_project(ws->P, g, a.h_in, p + off[B_EW1], F));
  memset(a.agg, 0, (size_t)g->N * F * sizeof(real));
  const edge_head att = {g, &a, a.agg, p + off[B_AW], p + off[B_AB], c};
  edge_mlp_forward(ws, g, a.r, F,
                   &(edge_mlp){ws->keep ? a.Z1 : NULL, ws->keep ? a.Z2 : NULL, ws->Z2, p + off[B_EW1], p + off[B_EB1],
                               p + off[B_EW2], p + off[B_EB2], EGNN_PHASE_ATTENTION, attention_head, &att});
  PHASE(EGNN_PHASE_ATTENTION, scale_rows(a.agg, g->N, F, inv_nf));
  PHASE(EGNN_PHASE_NODE, egnn_node_mlp_forward(a.Z3, a.h_out, ws->S3, a.h_in, a.agg, p + off[B_NW1], p + off[B_NB1],
                                               p + off[B_NW2], p + off[B_NB2], g->N, F));
  /* coordinate update (§1.7) with the post-GCL h */
  PHASE(EGNN_PHASE_GEMM, egnn_edge_in_project(ws->P, g, a.h_out, p + off[B_CW1], F));
  memset(ws->xacc, 0, 3 * (size_t)g->N * sizeof(real));
  const edge_head crd = {g, &a, ws->xacc, p + off[B_CW3], NULL, c};
  edge_mlp_forward(ws, g, a.r, F,
                   &(edge_mlp){ws->keep ? a.Z5 : NULL, ws->keep ? a.Z6 : NULL, ws->Z6, p + off[B_CW1], p + off[B_CB1],
                               p + off[B_CW2], p + off[B_CB2], EGNN_PHASE_COORD, coord_head, &crd});
  PHASE(EGNN_PHASE_COORD, coord_update_finish(a.x_out, a.x_in, ws->xacc, g->N, coef));
}

/* Backward of block l. In: ws->dh = dL/dh_out, ws->dx = dL/dx_out.
 * Out: ws->dh = dL/dh_in, ws->dx = dL/dx_in; ws->dd0 accumulates dL/dd0. */
static void block_backward(const egnn_model *m, const real *params, real *grads, egnn_workspace *ws,
                           const egnn_graph *g, int l) {
  const egnn_config *c = &m->cfg;
  int F = c->hidden;
  size_t off[B_COUNT];
  block_offsets(m, l, off);
  const real *p = params;
  real *gr = grads;
  block_acts a = ws_block(ws, l);
  real inv_nf = (real)(1.0 / c->normalization_factor);
  real coef = (real)((c->tanh ? c->coords_range : 1.0) / c->normalization_factor);
  int64_t N = g->N, E = g->E;
  real *dh_out = ws->dh, *dh_in = ws->dh2;

  /* coordinate update: x_out = x_in + coef Σ_j u f(c), c = w7·SiLU(Z6) */
  real *dZsum = ws->P + (size_t)N * F; /* (N,F): the second half of P, free until edge_in_backward */
  PHASE(EGNN_PHASE_COORD,
        egnn_coord_update_backward(ws->D1, dZsum, ws->dd, gr + off[B_CW3], ws->P, ws->dc, ws->dx, g, a.Z6,
                                   p + off[B_CW3], a.c, a.x_in, a.r, c->tanh, coef, (real)c->norm_constant, F));
  /* Z6 = SiLU(Z5) W6ᵀ + b6 */
  PHASE(EGNN_PHASE_SILU_RECOMPUTE, silu_fwd(ws->S, a.Z5, E * F));
  PHASE(EGNN_PHASE_NODE, add_row_sums(gr + off[B_CB2], dZsum, N, F));
  PHASE(EGNN_PHASE_NODE, egnn_linear_backward_weights(ws->D2, gr + off[B_CW2], ws->D1, ws->S, p + off[B_CW2], E, F, F));
  /* Z5 = Wa h_out_i + Wb h_out_j + wr r + wd d0 + b5 */
  memset(ws->dr, 0, (size_t)E * sizeof(real));
  PHASE(EGNN_PHASE_EDGE_IN, egnn_edge_in_backward(gr + off[B_CW1], gr + off[B_CB1], dh_out, ws->dr, ws->dd0, ws->D2,
                                                  ws->P, ws->dRD, g, a.Z5, a.h_out, a.r, ws->d0, p + off[B_CW1], F));
  /* node MLP: h_out = h_in + W4 SiLU(W3 [h_in | agg] + b3) + b4 */
  PHASE(EGNN_PHASE_NODE, egnn_node_mlp_backward(dh_in, ws->dagg, gr + off[B_NW1], gr + off[B_NB1], gr + off[B_NW2],
                                                gr + off[B_NB2], ws->S3, ws->P, dh_out, a.h_in, a.agg, a.Z3,
                                                p + off[B_NW1], p + off[B_NW2], ws->ones, N, F));
  /* attention + aggregation: agg_i = Σ_j SiLU(Z2_ij) g_ij / nf */
  PHASE(EGNN_PHASE_ATTENTION,
        egnn_attention_aggregate_backward(ws->D1, dZsum, gr + off[B_AW], gr + off[B_AB], ws->P, ws->dc, ws->dagg, g,
                                          a.Z2, a.g, p + off[B_AW], c->attention, inv_nf, F));
  /* Z2 = SiLU(Z1) W2ᵀ + b2 */
  PHASE(EGNN_PHASE_SILU_RECOMPUTE, silu_fwd(ws->S, a.Z1, E * F));
  PHASE(EGNN_PHASE_NODE, add_row_sums(gr + off[B_EB2], dZsum, N, F));
  PHASE(EGNN_PHASE_NODE, egnn_linear_backward_weights(ws->D2, gr + off[B_EW2], ws->D1, ws->S, p + off[B_EW2], E, F, F));
  /* Z1 = Wa h_in_i + Wb h_in_j + wr r + wd d0 + b1 */
  PHASE(EGNN_PHASE_EDGE_IN, egnn_edge_in_backward(gr + off[B_EW1], gr + off[B_EB1], dh_in, ws->dr, ws->dd0, ws->D2,
                                                  ws->P, ws->dRD, g, a.Z1, a.h_in, a.r, ws->d0, p + off[B_EW1], F));
  /* geometry: dD_ij += 2 D_ij dr_ij (r = ‖D‖²), then scatter to atoms;
   * dx_in = dx_out (identity path) + Σ geometric terms */
  PHASE(EGNN_PHASE_GEOMETRY, squared_distance_backward(ws->dx, ws->dd, g, a.x_in, ws->dr, 1));
  /* block input gradient becomes the next (earlier) block's output gradient */
  ws->dh = dh_in;
  ws->dh2 = dh_out;
}

elign_status egnn_forward(const egnn_model *m, const elign_real *params, egnn_workspace *ws, int64_t n_mol,
                          const int64_t *offsets, const elign_real *h_in, const elign_real *x_in,
                          elign_real *h_out, elign_real *x_out, elign_error *err) {
  egnn_graph g;
  ws->have_egnn = ws->have_dyn = 0;
  elign_status st = ws_set_batch(ws, &g, n_mol, offsets, err);
  if (st != ELIGN_OK) return st;
  const egnn_config *c = &m->cfg;
  int F = c->hidden, Hn = egnn_config_node_nf(c), L = c->n_layers;
  int64_t N = g.N;
  const egnn_tensor *t = m->tensors;
  memcpy(ws->h_raw, h_in, (size_t)N * Hn * sizeof(real));
  block_acts a0 = ws_block(ws, 0);
  memcpy(a0.x_in, x_in, (size_t)N * 3 * sizeof(real));
  PHASE(EGNN_PHASE_GEOMETRY, egnn_edge_sqdist(ws->d0, &g, x_in)); /* d⁰ from the network input (§7.2) */
  /* embedding: h = W_emb h_in + b_emb (no activation) */
  PHASE(EGNN_PHASE_NODE, egnn_linear_forward(a0.h_in, h_in, params + t[0].offset, params + t[1].offset, N, Hn, F));
  for (int l = 0; l < L; l++) block_forward(m, params, ws, &g, l);
  block_acts aL = ws_block(ws, L - 1);
  /* output: h_out = W_out h + b_out */
  PHASE(EGNN_PHASE_NODE, egnn_linear_forward(h_out, aL.h_out, params + t[2].offset, params + t[3].offset, N, F, Hn));
  memcpy(x_out, aL.x_out, (size_t)N * 3 * sizeof(real));
  ws->have_egnn = 1;
  return ELIGN_OK;
}

void egnn_backward(const egnn_model *m, const elign_real *params, elign_real *grads, egnn_workspace *ws,
                   const elign_real *dh_out, const elign_real *dx_out, elign_real *dh_in, elign_real *dx_in) {
  ELIGN_ASSERT(ws->keep && "egnn_backward needs a workspace created with keep_activations = 1");
  ELIGN_ASSERT(ws->have_egnn);
  egnn_graph g;
  ws_graph(ws, &g);
  const egnn_config *c = &m->cfg;
  int F = c->hidden, Hn = egnn_config_node_nf(c), L = c->n_layers;
  int64_t N = g.N, E = g.E;
  const egnn_tensor *t = m->tensors;
  block_acts aL = ws_block(ws, L - 1);
  /* output layer */
  PHASE(EGNN_PHASE_NODE, egnn_linear_backward(ws->dh, grads + t[2].offset, grads + t[3].offset, dh_out, aL.h_out,
                                              params + t[2].offset, ws->ones, N, F, Hn));
  memcpy(ws->dx, dx_out, (size_t)N * 3 * sizeof(real));
  memset(ws->dd0, 0, (size_t)E * sizeof(real));
  for (int l = L - 1; l >= 0; l--) block_backward(m, params, grads, ws, &g, l);
  /* embedding */
  PHASE(EGNN_PHASE_NODE, egnn_linear_backward(dh_in, grads + t[0].offset, grads + t[1].offset, ws->dh, ws->h_raw,
                                              params + t[0].offset, ws->ones, N, Hn, F));
  /* d⁰_ij = ‖x⁰_i − x⁰_j‖²: dD⁰ = 2 D⁰ dd0 */
  if (dx_in) {
    PHASE(EGNN_PHASE_GEOMETRY, squared_distance_backward(ws->dx, ws->dd, &g, ws_block(ws, 0).x_in, ws->dd0, 0));
    memcpy(dx_in, ws->dx, (size_t)N * 3 * sizeof(real));
  }
}

/* ======================================================================= */
/* the dynamics wrapper φ (§1.3)                                             */
/* ======================================================================= */

elign_status egnn_dynamics_forward(const egnn_model *m, const elign_real *params, egnn_workspace *ws,
                                   int64_t n_mol, const int64_t *offsets, const elign_real *xh,
                                   const elign_real *tau, elign_real *eps, elign_error *err) {
  const egnn_config *c = &m->cfg;
  int H = c->in_node_nf, Hn = egnn_config_node_nf(c), D = 3 + H;
  if (c->include_time && !tau) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "egnn: time-conditioned model needs tau");
  elign_status st = ws_check_batch(ws, n_mol, offsets, err);
  if (st != ELIGN_OK) return st;
  int64_t N = offsets[n_mol];
  /* 1–3: split xh into x and h, append τ_b as the last h channel */
  for (int64_t b = 0; b < n_mol; b++)
    for (int64_t i = offsets[b]; i < offsets[b + 1]; i++) {
      for (int d = 0; d < 3; d++) ws->dyn_x[3 * i + d] = xh[D * i + d];
      for (int k = 0; k < H; k++) ws->dyn_hin[Hn * i + k] = xh[D * i + 3 + k];
      if (c->include_time) ws->dyn_hin[Hn * i + H] = tau[b];
    }
  /* 5: the EGNN */
  st = egnn_forward(m, params, ws, n_mol, offsets, ws->dyn_hin, ws->dyn_x, ws->dyn_hout,
                                 ws->dyn_xout, err);
  if (st != ELIGN_OK) return st;
  /* 6, 8, 9: v = x_out − x_in, non-finite → 0, minus the molecule's mean */
  for (int64_t b = 0; b < n_mol; b++) {
    int64_t o = offsets[b], n = offsets[b + 1] - o;
    double sum[3] = {0, 0, 0};
    for (int64_t i = o; i < o + n; i++)
      for (int d = 0; d < 3; d++) {
        real v = ws->dyn_xout[3 * i + d] - ws->dyn_x[3 * i + d];
        if (!isfinite(v)) v = 0;
        eps[D * i + d] = v;
        sum[d] += v;
      }
    for (int64_t i = o; i < o + n; i++)
      for (int d = 0; d < 3; d++) eps[D * i + d] -= (real)(sum[d] / (double)n);
  }
  /* 7, 10: h part = h_out without the time channel */
  for (int64_t i = 0; i < N; i++)
    for (int k = 0; k < H; k++) eps[D * i + 3 + k] = ws->dyn_hout[Hn * i + k];
  ws->have_dyn = 1;
  return ELIGN_OK;
}

/* Backward of φ. With P_b the mean removal over molecule b (P = I − 11ᵀ/n,
 * symmetric, so its backward is itself) and G the non-finite guard mask:
 *   dv      = G ⊙ P(dε̂_x)
 *   dx_out  = dv,  dh_out = [dε̂_h | 0 (time channel)]
 *   EGNN backward → dx_in', dh_in'
 *   dxh     = [dx_in' − dv | dh_in'[:, :H]]     (v = x_out − x_in) */
void egnn_dynamics_backward(const egnn_model *m, const elign_real *params, elign_real *grads,
                            egnn_workspace *ws, const elign_real *deps, elign_real *dxh) {
  ELIGN_ASSERT(ws->have_dyn);
  const egnn_config *c = &m->cfg;
  int H = c->in_node_nf, Hn = egnn_config_node_nf(c), D = 3 + H;
  int64_t n_mol = ws->n_mol, N = ws->N;
  real *dv = ws->dx2; /* (N,3); egnn_backward leaves ws->dx2 alone */
  for (int64_t b = 0; b < n_mol; b++) {
    int64_t o = ws->off[b], n = ws->off[b + 1] - o;
    double sum[3] = {0, 0, 0};
    for (int64_t i = o; i < o + n; i++)
      for (int d = 0; d < 3; d++) sum[d] += deps[D * i + d];
    for (int64_t i = o; i < o + n; i++)
      for (int d = 0; d < 3; d++) {
        real v = ws->dyn_xout[3 * i + d] - ws->dyn_x[3 * i + d];
        dv[3 * i + d] = isfinite(v) ? deps[D * i + d] - (real)(sum[d] / (double)n) : 0;
      }
  }
  for (int64_t i = 0; i < N; i++) {
    for (int k = 0; k < H; k++) ws->dyn_dh[Hn * i + k] = deps[D * i + 3 + k];
    for (int k = H; k < Hn; k++) ws->dyn_dh[Hn * i + k] = 0;
  }
  egnn_backward(m, params, grads, ws, ws->dyn_dh, dv, ws->dyn_dhin, ws->dyn_dx);
  if (dxh)
    for (int64_t i = 0; i < N; i++) {
      for (int d = 0; d < 3; d++) dxh[D * i + d] = ws->dyn_dx[3 * i + d] - dv[3 * i + d];
      for (int k = 0; k < H; k++) dxh[D * i + 3 + k] = ws->dyn_dhin[Hn * i + k];
    }
}
