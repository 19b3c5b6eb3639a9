/* ani_net.c — per-element networks, the ensemble, and the batched
 * evaluation of energies and analytic forces (ANI.md §7.4, §8, §9).
 *
 * Data flow of one ani_compute_ex call over a packed batch:
 *   1. validate each molecule (element, finite, coincident) → status
 *   2. AEV of every valid molecule (double, OpenMP over molecules)
 *   3. per species s: gather the AEV rows of all its atoms across the batch
 *      into H0_s (n_s, K) — only the K columns that can be non-zero for the
 *      species present in the batch (see "column compaction" below)
 *   4. work item (member m, species s): forward through the layers with
 *      matrix products, keep celu'(Z_l), then the input-gradient backward
 *      down to Δ1 (§9.1); items run in parallel, one thread each
 *   5. per species: Γ_s = Σ_m Δ1_m W1_m / M as ONE product over the stacked
 *      first layers (n_s, M·n1)·(M·n1, K) — the ensemble-averaged ∂E/∂AEV,
 *      one summation chain per member, members added in order
 *   6. AEV backward per molecule (one pass, §9.1) → forces
 *
 * Every product is a fixed-order kernel of common/nn/gemm_fixed.h (not the
 * BLAS): each output is summed in one fixed order whatever the number of
 * rows, so a molecule gets the same bits alone or in any batch — which the
 * oracle ranks need to batch requests without changing results — and a
 * lone molecule (1 … 11 rows per element) is not left to a BLAS tuned for
 * large matrices. Every layer's W (out, in) is read along its rows, in one
 * layout: the forward Z = H Wᵀ as 16-lane dots of an input row with a row
 * of W (elign_gemm_fixed_lanes: lane j takes the inputs ≡ j mod 16, then a
 * fixed tree), the backward Δ W as one fma chain per input over the rows of
 * W (elign_gemm_fixed). Neither transposes W, and no transposed copy is
 * kept. (Chains over the inputs in the forward, as before, need Wᵀ: the
 * batched path kept a transposed copy of every layer, and a lone molecule
 * transposed W in registers, 16 × 16 blocks at ~10 ns each — a fifth of its
 * call. With the lane form a lone valine takes 0.68 instead of 0.81 ms on
 * the 2-core Zen 5 host, batch 32 the same 0.54 ms per molecule; see
 * docs/performance.md.) Tried and dropped: the backward in transposed
 * form (vectorised over atoms) gives the same bits but runs 60 % slower for
 * one molecule, where each vector holds 1 … 11 atoms.
 *
 * Column compaction: AEV columns of species (radial) or species pairs
 * (angular) absent from the batch are exactly zero for every atom, and their
 * input gradient is never read by the AEV backward. Dropping them shrinks the
 * first layer — the dominant GEMM — by 2.6× for an H/C/N/O batch under
 * ANI-2x (K = 384 of D = 1008). The compact columns keep their order and
 * the dropped terms are exact zeros in whole blocks of 16 and 32 columns
 * that start on multiples of 16 in both layouts, so every kept column stays
 * in its lane and each lane's chain is the full one minus steps
 * fma(0, w, acc) = acc: a molecule gets the same bits whatever species the
 * rest of its batch brings (compaction_keeps_lanes checks the block sizes;
 * other models run on the full AEV). The compact first-layer weights (the
 * stacked compact W1 read by the forward and by Γ) are kept in the
 * workspace for the last species set, made only for the species present.
 *
 * Few atoms (one molecule; ≤ ANI_ONE_PASS_ROWS atoms of a species in the
 * batch, forces wanted): the products then cost what reading the weights
 * costs — 8 members × 4 elements ≈ 19 MB of float32 for H/C/N/O, more than
 * the L2 — so each member adds its own Γ term Δ1_m W1_m right after its
 * backward, while its W1 (≤ 0.4 MB) is still in L2, and the terms are summed
 * in member order afterwards: the weights are read once per call from L3.
 * Every output's order is the one of the batched path, so the bits are the
 * same: a molecule alone and inside a batch still agree.
 *
 * Results do not depend on the thread count: every work item and every row
 * block is computed by one thread in a fixed order. */
#include <math.h>
#include <stdlib.h>
#include <omp.h>
#include <string.h>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "common/nn/fastmath.h"
#include "common/nn/gemm_fixed.h"
#include "oracle/ani/ani_impl.h"

/* Atoms per Γ product task: a multiple of the GEMM's 6-row micro-tile (and
 * of the scalar build's 4), so only a species' last task ends in a shorter,
 * slower tile (64 left a 4-row tile in every task: 5 % of a batch-32 call). */
#define ANI_ROW_BLOCK 96
/* Species with at most this many atoms in the batch take the one-pass path
 * (see "Few atoms" above); its per-member Γ terms cost n_s·K·M floats. */
#define ANI_ONE_PASS_ROWS 32

struct ani_workspace {
  /* per-atom, sized for the largest batch seen */
  int64_t cap_atoms;
  double *aev;     /* (n_atoms, D) */
  double *gamma;   /* (n_atoms, D): ∂E/∂AEV, only compact columns written */
  double *y;       /* (M, n_atoms): member network outputs (Hartree) */
  int *species;    /* [n_atoms], −1 for atoms of flagged molecules */
  int64_t *row_of; /* [n_atoms]: row of the atom in its species' matrices */
  double *dpos;    /* (n_atoms, 3) */
  int64_t *tape_off;               /* [n_mol + 1]: byte offset of each molecule's AEV tape */
  ani_aev_tape_counts *tape_counts; /* [n_mol] */
  int64_t cap_mol;
  void *tape_raw;                   /* the tapes (what the AEV forward keeps for its backward) */
  char *tape;                       /* tape_raw rounded up to 64 bytes */
  int64_t cap_tape;                 /* bytes from tape */
  /* per species, sized by n_s */
  int64_t cap_rows[ANI_MAX_SPECIES];
  int64_t *atoms_of[ANI_MAX_SPECIES]; /* [n_s] atom index of each row */
  elign_real *h0[ANI_MAX_SPECIES];    /* (n_s, K) compact AEV rows */
  elign_real *z1[ANI_MAX_SPECIES];    /* (n_s, M·n1): celu'(Z1) then Δ1/M */
  elign_real *g0[ANI_MAX_SPECIES];    /* (n_s, K): Γ_s */
  elign_real *g_member[ANI_MAX_SPECIES]; /* one-pass species: (M, n_s, K), member m's Δ1_m W1_m */
  int64_t cap_g_member[ANI_MAX_SPECIES]; /* elements */
  /* per thread scratch for layers ≥ 2 */
  int cap_threads;
  size_t cap_scratch;   /* elements per thread */
  elign_real **scratch; /* [cap_threads] */
  /* column compaction */
  int *cols;                               /* [K] AEV column of each compact column */
  ani_aev_layout layout; /* the compact AEV rows of this species set (K = row_length); cols derives from it */
  int *run_start; /* [n_runs + 1]: compact columns that start a run of consecutive AEV columns */
  int n_runs;
  const ani_model *packed_model;           /* cache key: model … */
  unsigned packed_mask;                    /* … and species set */
  unsigned w1_ready;                       /* species whose copy below matches the key */
  elign_real *w1_packed[ANI_MAX_SPECIES];  /* (M·n1, K); unused when K == D */
  int64_t cap_w1[ANI_MAX_SPECIES];         /* elements */
};

ani_workspace *ani_workspace_create(void) { return elign_calloc(1, sizeof(ani_workspace), "ani:workspace"); }

void ani_workspace_free(ani_workspace **wsp) {
  if (!wsp || !*wsp) return;
  ani_workspace *ws = *wsp;
  elign_free(ws->aev);
  elign_free(ws->gamma);
  elign_free(ws->y);
  elign_free(ws->species);
  elign_free(ws->row_of);
  elign_free(ws->dpos);
  elign_free(ws->tape_off);
  elign_free(ws->tape_counts);
  elign_free(ws->tape_raw);
  for (int s = 0; s < ANI_MAX_SPECIES; s++) {
    elign_free(ws->atoms_of[s]);
    elign_free(ws->h0[s]);
    elign_free(ws->z1[s]);
    elign_free(ws->g0[s]);
    elign_free(ws->g_member[s]);
    elign_free(ws->w1_packed[s]);
  }
  for (int t = 0; t < ws->cap_threads; t++) elign_free(ws->scratch[t]);
  elign_free(ws->scratch);
  elign_free(ws->cols);
  elign_free(ws->run_start);
  elign_free(ws);
  *wsp = NULL;
}

/* ------------------------------------------------------------------------ */
/* activation, forward and backward side by side                             */


/* CELU(α) of v = z + b and its derivative: x = max(min(v, 0)/α, −87),
 * e^x − 1 and e^x from elign_fast_expm1f, h = max(v, 0) + α(e^x − 1),
 * act'(v) = e^x (1 for v ≥ 0, as x = 0 there). The tail of a row (and
 * builds without AVX) call elign_fast_expm1f; the vector forms below write
 * its steps out with its constants, each rounded once as the compiler
 * rounds them in the scalar form — so every element gets the same bits
 * whatever its position. (Left to the compiler, the clamps and selects
 * became masked fix-ups: ~40 instructions per 16 elements instead of ~26.) */
static inline void celu_scalar(float z, float bias, float *h, float *d) {
  float v = z + bias;
  float x = (v < 0.0f ? v : 0.0f) * (float)(1.0 / ANI_CELU_ALPHA);
  float em1;
  elign_fast_expm1f(x, &em1, d);
  *h = (v > 0.0f ? v : 0.0f) + (float)ANI_CELU_ALPHA * em1;
}

#if defined(__AVX512F__) && !defined(ELIGN_DOUBLE)
#define CELU_VW 16
typedef __m512 celu_vec;
#define CV_SET1 _mm512_set1_ps
#define CV_ADD _mm512_add_ps
#define CV_SUB _mm512_sub_ps
#define CV_MUL _mm512_mul_ps
#define CV_MIN _mm512_min_ps
#define CV_MAX _mm512_max_ps
#define CV_FMA _mm512_fmadd_ps
#define CV_FNMA _mm512_fnmadd_ps
#define CV_SHIFT23(x) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(x), 23))
#define CV_LOAD _mm512_loadu_ps
#define CV_STORE _mm512_storeu_ps
#elif defined(__AVX2__) && defined(__FMA__) && !defined(ELIGN_DOUBLE)
#define CELU_VW 8
typedef __m256 celu_vec;
#define CV_SET1 _mm256_set1_ps
#define CV_ADD _mm256_add_ps
#define CV_SUB _mm256_sub_ps
#define CV_MUL _mm256_mul_ps
#define CV_MIN _mm256_min_ps
#define CV_MAX _mm256_max_ps
#define CV_FMA _mm256_fmadd_ps
#define CV_FNMA _mm256_fnmadd_ps
#define CV_SHIFT23(x) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(x), 23))
#define CV_LOAD _mm256_loadu_ps
#define CV_STORE _mm256_storeu_ps
#endif

#ifdef CELU_VW
/* CELU_VW elements at once: celu_scalar's operations (min(v, 0) is v < 0 ?
 * v : 0 and max(x, −87) is x > −87 ? x : −87 — x86's min/max return their
 * second operand when the comparison fails). */
static inline void celu_vector(const float *z, const float *bias, float *h, float *d) {
  static const float poly[7] = {ELIGN_EXPM1F_C1, ELIGN_EXPM1F_C2, ELIGN_EXPM1F_C3, ELIGN_EXPM1F_C4,
                                ELIGN_EXPM1F_C5, ELIGN_EXPM1F_C6, ELIGN_EXPM1F_C7};
  const celu_vec zero = CV_SET1(0.0f);
  celu_vec v = CV_ADD(CV_LOAD(z), CV_LOAD(bias));
  celu_vec x = CV_MAX(CV_MUL(CV_MIN(v, zero), CV_SET1((float)(1.0 / ANI_CELU_ALPHA))), CV_SET1(-87.0f));
  celu_vec k = CV_SUB(CV_FMA(x, CV_SET1(ELIGN_LOG2E_F32), CV_SET1(ELIGN_ROUND_MAGIC_F32)),
                      CV_SET1(ELIGN_ROUND_MAGIC_F32));
  celu_vec r = CV_FNMA(k, CV_SET1(ELIGN_EXPM1F_LN2_HI), x);
  r = CV_FNMA(k, CV_SET1(ELIGN_EXPM1F_LN2_LO), r);
  celu_vec p = CV_FMA(r, CV_SET1(poly[6]), CV_SET1(poly[5]));
  for (int j = 4; j >= 0; j--) p = CV_FMA(r, p, CV_SET1(poly[j]));
  celu_vec q = CV_MUL(r, p);
  celu_vec s = CV_SHIFT23(CV_ADD(k, CV_SET1(ELIGN_POW2I_BIAS_F32)));
  celu_vec em1 = CV_FMA(q, s, CV_SUB(s, CV_SET1(1.0f)));
  CV_STORE(d, CV_FMA(q, s, s));
  CV_STORE(h, CV_ADD(CV_MAX(v, zero), CV_MUL(CV_SET1((float)ANI_CELU_ALPHA), em1)));
}
#endif

/* One row of a dense layer after its product: v = z + b, h = act(v), and
 * act'(v) written over z (zd holds z on entry and d on return). Bias,
 * activation and derivative in one pass over the row instead of two. */
static void bias_activation_row(elign_real *restrict h, elign_real *zd, const elign_real *restrict b, int count,
                                int activation) {
  if (activation == ANI_ACT_LINEAR) {
    for (int i = 0; i < count; i++) {
      h[i] = zd[i] + b[i];
      zd[i] = 1;
    }
    return;
  }
#ifdef ELIGN_DOUBLE
  const elign_real alpha = (elign_real)ANI_CELU_ALPHA, inv_alpha = (elign_real)(1.0 / ANI_CELU_ALPHA);
  for (int i = 0; i < count; i++) {
    elign_real v = zd[i] + b[i];
    elign_real x = (v < 0 ? v : 0) * inv_alpha;
    elign_real em1, e;
    elign_expm1_exp_real(x, &em1, &e); /* e^x − 1 without cancellation near 0 */
    h[i] = (v > 0 ? v : 0) + alpha * em1;
    zd[i] = e;
  }
#else
  int i = 0;
#ifdef CELU_VW
  for (; i + CELU_VW <= count; i += CELU_VW) celu_vector(zd + i, b + i, h + i, zd + i);
#endif
  for (; i < count; i++) celu_scalar(zd[i], b[i], &h[i], &zd[i]);
#endif
}

/* Z (n, out) = H (n, in) · Wᵀ (§9.1 batched form; the bias comes with the
 * activation): each output a 16-lane dot of an input row with a row of W
 * (out, in), so the forward reads W along its rows as the backward does. */
static void dense_forward(elign_real *z, int64_t ldz, const elign_real *h, int64_t ldh, const elign_real *w,
                          int64_t ldw, int n, int in, int out) {
  elign_gemm_fixed_lanes(n, out, in, h, ldh, w, ldw, z, ldz);
}

/* Input gradient of z = W h + b: dH (n, in) = α dZ (n, out) · W (out, in).
 * (No weight gradient: only forces are wanted.) */
static void dense_backward(elign_real *dh, int64_t lddh, const elign_real *dz, int64_t lddz, const elign_real *w,
                           int n, int in, int out, elign_real alpha) {
  elign_gemm_fixed(n, in, out, alpha, dz, lddz, w, in, 0, dh, lddh);
}

/* The same times the previous layer's activation derivative, in the
 * product's last pass: dH = (α dZ · W) ⊙ act'(Z_prev) (the bits of the two
 * steps apart). act may be dh itself. */
static void dense_backward_act(elign_real *dh, int64_t lddh, const elign_real *dz, int64_t lddz, const elign_real *w,
                               int n, int in, int out, elign_real alpha, const elign_real *act, int64_t ldact) {
  elign_gemm_fixed_mul(n, in, out, alpha, dz, lddz, w, in, act, ldact, dh, lddh);
}

/* ------------------------------------------------------------------------ */
/* one (member, species) work item                                           */

/* Scratch elements a work item needs per atom row for layers ≥ 2. */
static size_t item_scratch_per_row(const ani_net *net) {
  size_t total = (size_t)net->layer[0].n_out; /* H1 */
  int widest = net->layer[0].n_out;
  for (int l = 1; l < net->n_layers - 1; l++) {
    total += 2 * (size_t)net->layer[l].n_out; /* H_l, D_l */
    if (net->layer[l].n_out > widest) widest = net->layer[l].n_out;
  }
  return total + 2 * (size_t)widest + 1; /* two Δ buffers + y */
}

/* Member m's (possibly column-compacted) first layer W1 (n1, K): both paths
 * read it for the forward; batched, Γ comes later for all members at once;
 * one pass, this member's Γ term goes into g_member (n, K) when forces are
 * wanted. */
typedef struct {
  int one_pass;
  const elign_real *w1; /* (n1, K) */
  elign_real *g_member; /* one pass: (n, K) ← (Δ1_m/M) W1_m */
} first_layer;

/* Forward of member m's network for species s on the n rows of H0 (n, K),
 * writing y (n) and, for forces, Δ1/M into the member's block of z1
 * (row stride ld1 = M·n1).
 *
 * Backward (§9.1), the maths: y = w_L · h_{L−1} + b_L, h_l = act(z_l),
 *   Δ_{L−1} = w_L ⊙ act'(z_{L−1}),  Δ_{l−1} = (Δ_l W_l) ⊙ act'(z_{l−1}),
 * stopping at Δ1; Γ = Δ1 W1 is done later for all members at once. */
static void member_item(double *y, elign_real *z1, int64_t ld1, const ani_net *net, const first_layer *first,
                        const elign_real *h0, int n, int K, int want_grad, elign_real inv_members,
                        elign_real *scratch) {
  const int L = net->n_layers;
  const int n1 = net->layer[0].n_out;
  int widest = n1;
  for (int l = 1; l < L - 1; l++)
    if (net->layer[l].n_out > widest) widest = net->layer[l].n_out;
  elign_real *h_prev = scratch; /* H1 */
  elign_real *cursor = scratch + (size_t)n * n1;
  elign_real *H[ANI_MAX_LAYERS], *Dv[ANI_MAX_LAYERS];
  H[0] = h_prev;
  Dv[0] = z1; /* act'(Z1) kept in the member's block of z1 */

  /* layer 1: Z1 into the z1 block, then H1 and act'(Z1) */
  dense_forward(z1, ld1, h0, K, first->w1, K, n, K, n1);
  for (int r = 0; r < n; r++)
    bias_activation_row(H[0] + (size_t)r * n1, z1 + r * ld1, net->layer[0].b, n1, net->layer[0].activation);

  /* hidden layers 2 … L−1 */
  for (int l = 1; l < L - 1; l++) {
    const ani_layer *Ly = &net->layer[l];
    H[l] = cursor;
    cursor += (size_t)n * Ly->n_out;
    Dv[l] = cursor;
    cursor += (size_t)n * Ly->n_out;
    dense_forward(Dv[l], Ly->n_out, H[l - 1], Ly->n_in, Ly->w, Ly->n_in, n, Ly->n_in, Ly->n_out);
    for (int r = 0; r < n; r++)
      bias_activation_row(H[l] + (size_t)r * Ly->n_out, Dv[l] + (size_t)r * Ly->n_out, Ly->b, Ly->n_out, Ly->activation);
  }

  /* output layer (1 node): y = H_{L−1} w_Lᵀ + b_L, summed in double */
  const ani_layer *Lo = &net->layer[L - 1];
  const elign_real *hl = H[L - 2];
  elign_real *yr = cursor;
  cursor += n;
  elign_dot_rows_fixed(n, Lo->n_in, hl, Lo->n_in, Lo->w, yr);
  for (int r = 0; r < n; r++) y[r] = (double)yr[r] + (double)Lo->b[0];
  if (!want_grad) return;

  /* backward: Δ_{L−1} = w_L ⊙ act'(Z_{L−1}) */
  elign_real *delta = cursor, *delta_next = cursor + (size_t)n * widest;
  {
    int w = Lo->n_in;
    elign_real *dst = (L - 2 == 0) ? NULL : delta;
    for (int r = 0; r < n; r++) {
      if (dst) {
        for (int k = 0; k < w; k++) dst[(size_t)r * w + k] = Lo->w[k] * Dv[L - 2][(size_t)r * w + k];
      } else { /* L == 2: Δ1 directly into the z1 block, scaled by 1/M */
        for (int k = 0; k < w; k++) z1[r * ld1 + k] *= Lo->w[k] * inv_members;
      }
    }
  }
  for (int l = L - 2; l >= 1; l--) {
    const ani_layer *Ly = &net->layer[l];
    if (l == 1) {
      /* Δ1 = (Δ2 W2 / M) ⊙ act'(Z1), over act'(Z1) in the z1 block */
      dense_backward_act(z1, ld1, delta, Ly->n_out, Ly->w, n, Ly->n_in, Ly->n_out, inv_members, z1, ld1);
    } else {
      dense_backward_act(delta_next, Ly->n_in, delta, Ly->n_out, Ly->w, n, Ly->n_in, Ly->n_out, 1, Dv[l - 1],
                         Ly->n_in);
      elign_real *t = delta;
      delta = delta_next;
      delta_next = t;
    }
  }
  /* one pass: this member's Γ term while W1 is still in cache — the chain
   * of its block in elign_gemm_fixed_blocksum (member sums: sum_member_gradients) */
  if (first->one_pass) elign_gemm_fixed(n, K, n1, 1, z1, ld1, first->w1, K, 0, first->g_member, K);
}

/* ------------------------------------------------------------------------ */
/* workspace sizing and column compaction                                     */

static void grow(void **buf, size_t bytes, const char *label) {
  elign_free(*buf);
  *buf = elign_malloc_aligned(bytes, label); /* rows on cache lines: see elign_malloc_aligned */
}

static void ensure_atoms(ani_workspace *ws, const ani_model *m, int64_t n_atoms) {
  if (n_atoms <= ws->cap_atoms) return;
  int64_t cap = n_atoms + n_atoms / 4 + 16;
  const size_t D = (size_t)m->aev.aev_length;
  grow((void **)&ws->aev, (size_t)cap * D * sizeof(double), "ani:aev");
  grow((void **)&ws->gamma, (size_t)cap * D * sizeof(double), "ani:gamma");
  grow((void **)&ws->y, (size_t)cap * ANI_MAX_MEMBERS * sizeof(double), "ani:y");
  grow((void **)&ws->species, (size_t)cap * sizeof(int), "ani:species");
  grow((void **)&ws->row_of, (size_t)cap * sizeof(int64_t), "ani:row_of");
  grow((void **)&ws->dpos, (size_t)cap * 3 * sizeof(double), "ani:dpos");
  ws->cap_atoms = cap;
}

static void ensure_rows(ani_workspace *ws, const ani_model *m, int s, int64_t n_rows, int K) {
  const int64_t D = m->aev.aev_length, n1 = m->nets[s].layer[0].n_out, M = m->n_members;
  if (n_rows <= ws->cap_rows[s]) return;
  int64_t cap = n_rows + n_rows / 4 + 8;
  grow((void **)&ws->atoms_of[s], (size_t)cap * sizeof(int64_t), "ani:atoms_of");
  grow((void **)&ws->h0[s], (size_t)cap * D * sizeof(elign_real), "ani:h0");
  grow((void **)&ws->z1[s], (size_t)cap * M * n1 * sizeof(elign_real), "ani:z1");
  grow((void **)&ws->g0[s], (size_t)cap * D * sizeof(elign_real), "ani:g0");
  ws->cap_rows[s] = cap;
  (void)K;
}

static void ensure_scratch(ani_workspace *ws, int threads, size_t per_thread) {
  if (threads > ws->cap_threads) {
    ws->scratch = elign_realloc(ws->scratch, (size_t)threads * sizeof *ws->scratch, "ani:scratch_list");
    for (int t = ws->cap_threads; t < threads; t++) ws->scratch[t] = NULL;
    ws->cap_threads = threads;
    ws->cap_scratch = 0;
  }
  if (per_thread > ws->cap_scratch) {
    size_t cap = per_thread + per_thread / 4 + 64;
    for (int t = 0; t < ws->cap_threads; t++) grow((void **)&ws->scratch[t], cap * sizeof(elign_real), "ani:scratch");
    ws->cap_scratch = cap;
  }
}

/* Sizes every molecule's AEV tape (a counting pass per molecule) and makes
 * room for them, each at a 64-byte boundary. */
static void ensure_tapes(ani_workspace *ws, const ani_model *m, int64_t n_mol, const int64_t *offsets,
                         const int *status, const double *pos) {
  if (n_mol + 1 > ws->cap_mol) {
    grow((void **)&ws->tape_off, (size_t)(n_mol + 1) * sizeof(int64_t), "ani:tape_off");
    grow((void **)&ws->tape_counts, (size_t)(n_mol + 1) * sizeof(ani_aev_tape_counts), "ani:tape_counts");
    ws->cap_mol = n_mol + 1;
  }
  ws->tape_off[0] = 0;
#pragma omp parallel for schedule(dynamic)
  for (int64_t k = 0; k < n_mol; k++) {
    int64_t a0 = offsets[k], n = offsets[k + 1] - a0;
    ws->tape_counts[k] = (ani_aev_tape_counts){0, 0, 0};
    ws->tape_off[k + 1] =
        status[k] == ANI_MOL_OK ? (int64_t)ani_aev_tape_size(&m->aev, (int)n, pos + 3 * a0, &ws->tape_counts[k]) : 0;
  }
  for (int64_t k = 0; k < n_mol; k++) ws->tape_off[k + 1] += ws->tape_off[k];
  const int64_t need = ws->tape_off[n_mol];
  if (need > ws->cap_tape) {
    int64_t cap = need + need / 4 + 64;
    grow(&ws->tape_raw, (size_t)cap + 64, "ani:tape");
    ws->tape = (char *)(((uintptr_t)ws->tape_raw + 63) & ~(uintptr_t)63);
    ws->cap_tape = cap;
  }
}

/* ws->run_start from ws->cols: the compact columns are a species' radial
 * block or a species pair's angular block at a time, consecutive AEV
 * columns, so the first-layer weights are packed by run (memcpy). */
static void find_column_runs(ani_workspace *ws) {
  const int K = ws->layout.row_length;
  elign_free(ws->run_start);
  ws->run_start = elign_malloc((size_t)(K + 1) * sizeof(int), "ani:run_start");
  int n = 0;
  for (int k = 0; k < K; k++)
    if (k == 0 || ws->cols[k] != ws->cols[k - 1] + 1) ws->run_start[n++] = k;
  ws->run_start[n] = K;
  ws->n_runs = n;
}

/* The engine keeps each atom's AEV and its gradient γ in the compact
 * layout (ws->layout: the blocks of the batch's species only), in double;
 * the networks read and write them as elign_real rows of the same K columns. */
static void narrow_row(elign_real *row, const double *src, int K) {
  for (int c = 0; c < K; c++) row[c] = (elign_real)src[c];
}
static void widen_row(double *dst, const elign_real *row, int K) {
  for (int c = 0; c < K; c++) dst[c] = (double)row[c];
}

/* Column compaction keeps the bits of the first layer's 16-lane dots
 * (elign_gemm_fixed_lanes) only when every AEV block starts at a multiple
 * of 16 in the full and in the compact layout, so that each kept column
 * stays in its lane: radial blocks of n_rad and angular blocks of
 * angular_block columns (16 and 32 in the published ANI models). A model
 * with other block sizes runs on the full AEV. */
static int compaction_keeps_lanes(const ani_model *m) {
  return m->aev.n_rad % 16 == 0 && m->aev.angular_block % 16 == 0;
}

/* Compact AEV columns for the species set `mask` (cached); the first-layer
 * copies for them are made on demand (ensure_first_layers). */
static void prepare_columns(ani_workspace *ws, const ani_model *m, unsigned mask) {
  if (ws->packed_model == m && ws->packed_mask == mask && ws->cols) return;
  const ani_aev_params *p = &m->aev;
  const int S = m->n_species;
  /* the compact layout of the species set, and each compact column's AEV
   * column: a block's place in the full layout */
  ani_aev_layout full;
  ani_aev_layout_init(&full, p, (1u << S) - 1);
  ani_aev_layout_init(&ws->layout, p, mask);
  const ani_aev_layout *lay = &ws->layout;
  elign_free(ws->cols);
  ws->cols = elign_malloc((size_t)(lay->row_length ? lay->row_length : 1) * sizeof(int), "ani:cols");
  for (int s = 0; s < S; s++)
    if (lay->radial_of[s] >= 0)
      for (int k = 0; k < p->n_rad; k++) ws->cols[lay->radial_of[s] + k] = full.radial_of[s] + k;
  for (int a = 0; a < S; a++)
    for (int b = a; b < S; b++)
      if (lay->angular_of[a][b] >= 0)
        for (int k = 0; k < p->angular_block; k++) ws->cols[lay->angular_of[a][b] + k] = full.angular_of[a][b] + k;
  find_column_runs(ws);
  ws->w1_ready = 0;
  ws->packed_model = m;
  ws->packed_mask = mask;
}

/* Member rows of W1 (M·n1, D) of species s restricted to the compact
 * columns: w1_packed[s] (M·n1, K), copied by column runs. */
static void pack_first_layer(ani_workspace *ws, const ani_model *m, int s) {
  const int64_t D = m->aev.aev_length, K = ws->layout.row_length, rows = (int64_t)m->n_members * m->nets[s].layer[0].n_out;
  if (rows * K > ws->cap_w1[s]) {
    grow((void **)&ws->w1_packed[s], (size_t)(rows * K) * sizeof(elign_real), "ani:w1_packed");
    ws->cap_w1[s] = rows * K;
  }
  for (int64_t r = 0; r < rows; r++)
    for (int run = 0; run < ws->n_runs; run++) {
      const int k0 = ws->run_start[run], len = ws->run_start[run + 1] - k0;
      memcpy(ws->w1_packed[s] + r * K + k0, m->w1_stack[s] + r * D + ws->cols[k0], (size_t)len * sizeof(elign_real));
    }
}

/* Species s's stacked first layers (M·n1, K), row stride K, as this call
 * reads them: the compact copy when columns were dropped, else the model's
 * own (K == D). */
static const elign_real *stacked_first_layer(const ani_workspace *ws, const ani_model *m, int s) {
  return ws->layout.row_length < m->aev.aev_length ? ws->w1_packed[s] : m->w1_stack[s];
}

/* The compact W1 of every present species, made when the species set
 * changed since it was made (K < D only: otherwise the model's own W1). */
static void ensure_first_layers(ani_workspace *ws, const ani_model *m, const int64_t *n_s) {
  const int D = m->aev.aev_length, K = ws->layout.row_length;
  if (K == D) return;
  for (int s = 0; s < m->n_species; s++)
    if (n_s[s] && !(ws->w1_ready >> s & 1u)) {
      pack_first_layer(ws, m, s);
      ws->w1_ready |= 1u << s;
    }
}

/* ------------------------------------------------------------------------ */
/* molecule checks                                                           */

static int molecule_status(const ani_model *m, int64_t n, const int32_t *Z, const double *pos) {
  for (int64_t i = 0; i < n; i++)
    if (ani_model_species_index(m, Z[i]) < 0) return ANI_MOL_UNSUPPORTED_ELEMENT;
  for (int64_t i = 0; i < 3 * n; i++)
    if (!isfinite(pos[i])) return ANI_MOL_NONFINITE;
  const double lim2 = ANI_COINCIDENT_DISTANCE * ANI_COINCIDENT_DISTANCE;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) {
      double dx = pos[3 * i] - pos[3 * j], dy = pos[3 * i + 1] - pos[3 * j + 1], dz = pos[3 * i + 2] - pos[3 * j + 2];
      if (dx * dx + dy * dy + dz * dz < lim2) return ANI_MOL_COINCIDENT;
    }
  return ANI_MOL_OK;
}

/* ------------------------------------------------------------------------ */
/* the batch                                                                 */

typedef struct {
  int member, species;
  double cost;
} work_item;

static int cmp_cost_desc(const void *a, const void *b) {
  double ca = ((const work_item *)a)->cost, cb = ((const work_item *)b)->cost;
  return (ca < cb) - (ca > cb);
}

/* Γ rows of a one-pass species from its members' terms (M blocks of
 * member_stride elements), added in member order: the bits of
 * elign_gemm_fixed_blocksum over the stacked members, ((t_0 + t_1) + t_2) + …
 * (its final product by alpha = 1 is exact). One pass per member over all
 * elements: the adds vectorise (element by element over the members, a
 * strided scalar loop, took ~1.5 % of a lone valine's call). */
static void sum_member_gradients(elign_real *g, const elign_real *terms, int64_t member_stride, int64_t count,
                                 int M) {
  memcpy(g, terms, (size_t)count * sizeof *g);
  for (int mm = 1; mm < M; mm++) {
    const elign_real *t = terms + (int64_t)mm * member_stride;
    for (int64_t i = 0; i < count; i++) g[i] = g[i] + t[i];
  }
}

/* Γ for member `only` (or the ensemble mean when only < 0) into ws->gamma,
 * then the AEV backward per molecule; forces_out (n_atoms, 3) = −∂E/∂x. */
static void gradient_to_forces(double *forces_out, ani_workspace *ws, const ani_model *m, int64_t n_mol,
                               const int64_t *offsets, const int *status, const double *pos, const int64_t *n_s,
                               const int *one_pass, int only) {
  const int S = m->n_species, K = ws->layout.row_length, M = m->n_members;
  /* Γ_s = Z1cat_s (n_s, M·n1) · W1stack_s (M·n1, K) in row blocks */
  int64_t n_tasks = 0, task_start[ANI_MAX_SPECIES + 1];
  for (int s = 0; s < S; s++) {
    task_start[s] = n_tasks;
    n_tasks += (n_s[s] + ANI_ROW_BLOCK - 1) / ANI_ROW_BLOCK;
  }
  task_start[S] = n_tasks;
#pragma omp parallel for schedule(dynamic)
  for (int64_t t = 0; t < n_tasks; t++) {
    int s = 0;
    while (t >= task_start[s + 1]) s++;
    int64_t r0 = (t - task_start[s]) * ANI_ROW_BLOCK;
    int rows = (int)(n_s[s] - r0 < ANI_ROW_BLOCK ? n_s[s] - r0 : ANI_ROW_BLOCK);
    const int n1 = m->nets[s].layer[0].n_out;
    const elign_real *w = stacked_first_layer(ws, m, s);
    const int64_t ld1 = (int64_t)M * n1;
    if (only < 0 && one_pass[s]) {
      sum_member_gradients(ws->g0[s] + r0 * K, ws->g_member[s] + r0 * K, n_s[s] * K, (int64_t)rows * K, M);
    } else if (only < 0) {
      /* Σ over members of Δ1_m W1_m, one chain per member, members added in order */
      elign_gemm_fixed_blocksum(rows, K, M * n1, n1, 1, ws->z1[s] + r0 * ld1, ld1, w, K, ws->g0[s] + r0 * K, K);
    } else { /* one member: its block of Δ1/M times M */
      dense_backward(ws->g0[s] + r0 * K, K, ws->z1[s] + r0 * ld1 + (int64_t)only * n1, ld1,
                     w + (int64_t)only * n1 * K, rows, K, n1, (elign_real)M);
    }
    for (int r = 0; r < rows; r++)
      widen_row(ws->gamma + ws->atoms_of[s][r0 + r] * K, ws->g0[s] + (r0 + r) * K, K);
  }
#pragma omp parallel for schedule(dynamic)
  for (int64_t k = 0; k < n_mol; k++) {
    int64_t a0 = offsets[k], n = offsets[k + 1] - a0;
    if (status[k] != ANI_MOL_OK || n == 0) {
      for (int64_t i = 3 * a0; i < 3 * (a0 + n); i++) forces_out[i] = 0.0;
      continue;
    }
    double *dpos = ws->dpos + 3 * a0;
    memset(dpos, 0, (size_t)(3 * n) * sizeof(double));
    ani_aev_backward(dpos, ws->gamma + a0 * K, &ws->layout, ws->tape + ws->tape_off[k], &ws->tape_counts[k],
                     &m->aev, (int)n, ws->species + a0);
    for (int64_t i = 0; i < 3 * n; i++) forces_out[3 * a0 + i] = -dpos[i];
  }
}

elign_status ani_compute_ex(ani_model *m, ani_workspace *ws, int64_t n_mol, const int64_t *offsets,
                            const int32_t *Z, const double *pos, const ani_outputs *out, elign_error *err) {
  if (!m || !ws || !out || !out->mol_status || n_mol < 0 || (n_mol > 0 && (!offsets || !Z || !pos)))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "ani_compute: NULL model, workspace, status array or batch arrays");
  if (n_mol > 0 && offsets[0] != 0) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "ani_compute: offsets[0] must be 0");
  for (int64_t k = 0; k < n_mol; k++)
    if (offsets[k + 1] < offsets[k])
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "ani_compute: offsets decrease at molecule %lld", (long long)k);
  if (n_mol == 0) return ELIGN_OK;
  if (m->n_species > 32) return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "ani_compute: more than 32 species");

  const int64_t n_atoms = offsets[n_mol];
  const int S = m->n_species, M = m->n_members;
  const int want_forces = out->forces || out->member_forces;
  int *status = out->mol_status;
  ensure_atoms(ws, m, n_atoms);

  /* 1. checks, species, species set */
  unsigned mask = 0;
  int64_t n_s[ANI_MAX_SPECIES] = {0};
#pragma omp parallel for schedule(dynamic)
  for (int64_t k = 0; k < n_mol; k++)
    status[k] = molecule_status(m, offsets[k + 1] - offsets[k], Z + offsets[k], pos + 3 * offsets[k]);
  for (int64_t k = 0; k < n_mol; k++) {
    int64_t a0 = offsets[k], n = offsets[k + 1] - a0;
    for (int64_t i = a0; i < a0 + n; i++) {
      int s = status[k] == ANI_MOL_OK ? m->z_to_species[Z[i]] : -1;
      ws->species[i] = s;
      if (s >= 0) {
        ws->row_of[i] = n_s[s]++;
        mask |= 1u << s;
      }
    }
  }
  if (!compaction_keeps_lanes(m)) mask = (1u << S) - 1;
  prepare_columns(ws, m, mask);
  const int K = ws->layout.row_length;
  for (int s = 0; s < S; s++)
    if (n_s[s]) ensure_rows(ws, m, s, n_s[s], K);
  for (int64_t i = 0; i < n_atoms; i++)
    if (ws->species[i] >= 0) ws->atoms_of[ws->species[i]][ws->row_of[i]] = i;

  /* 2. AEVs (keeping a tape for the backward when forces are wanted), and
   * 3. the compact per-species input rows */
  if (want_forces) ensure_tapes(ws, m, n_mol, offsets, status, pos);
#pragma omp parallel for schedule(dynamic)
  for (int64_t k = 0; k < n_mol; k++) {
    int64_t a0 = offsets[k], n = offsets[k + 1] - a0;
    if (status[k] != ANI_MOL_OK || n == 0) continue;
    double *aev = ws->aev + a0 * K;
    void *tape = want_forces ? ws->tape + ws->tape_off[k] : NULL;
    ani_aev_forward(aev, &ws->layout, tape, want_forces ? &ws->tape_counts[k] : NULL, &m->aev, (int)n, ws->species + a0,
                    pos + 3 * a0);
    for (int64_t i = 0; i < n; i++) {
      int s = ws->species[a0 + i];
      narrow_row(ws->h0[s] + ws->row_of[a0 + i] * K, aev + i * K, K);
    }
  }

  /* 4. (member, species) work items, most expensive first; species with
   * few atoms take the one-pass path */
  int one_pass[ANI_MAX_SPECIES] = {0};
  for (int s = 0; s < S; s++) {
    one_pass[s] = out->forces && n_s[s] > 0 && n_s[s] <= ANI_ONE_PASS_ROWS;
    const int64_t need = (int64_t)M * n_s[s] * K;
    if (one_pass[s] && need > ws->cap_g_member[s]) {
      grow((void **)&ws->g_member[s], (size_t)need * sizeof(elign_real), "ani:g_member");
      ws->cap_g_member[s] = need;
    }
  }
  ensure_first_layers(ws, m, n_s);
  work_item items[ANI_MAX_MEMBERS * ANI_MAX_SPECIES];
  int n_items = 0;
  size_t scratch_rows = 0;
  for (int s = 0; s < S; s++) {
    if (!n_s[s]) continue;
    for (int mm = 0; mm < M; mm++) {
      const ani_net *net = &m->nets[mm * S + s];
      size_t need = item_scratch_per_row(net) * (size_t)n_s[s];
      if (need > scratch_rows) scratch_rows = need;
      items[n_items++] = (work_item){mm, s, (double)n_s[s] * net->layer[0].n_out * (K + 8.0 * net->layer[1].n_in)};
    }
  }
  qsort(items, (size_t)n_items, sizeof *items, cmp_cost_desc);
  int threads = omp_get_max_threads();
  ensure_scratch(ws, threads, scratch_rows);
  const elign_real inv_members = (elign_real)(1.0 / M);
#pragma omp parallel for schedule(dynamic, 1)
  for (int it = 0; it < n_items; it++) {
    const int mm = items[it].member, s = items[it].species;
    const ani_net *net = &m->nets[mm * S + s];
    const int n1 = net->layer[0].n_out;
    first_layer first = {.one_pass = one_pass[s], .w1 = stacked_first_layer(ws, m, s) + (int64_t)mm * n1 * K};
    if (first.one_pass) first.g_member = ws->g_member[s] + (int64_t)mm * n_s[s] * K;
    /* member mm's outputs: row r of species s at y[mm·n_atoms + Σ_{s'<s} n_s' + r] */
    int64_t off = 0;
    for (int t = 0; t < s; t++) off += n_s[t];
    member_item(ws->y + (int64_t)mm * n_atoms + off, ws->z1[s] + (int64_t)mm * n1, (int64_t)M * n1, net, &first, ws->h0[s], (int)n_s[s], K,
                want_forces, inv_members, ws->scratch[omp_get_thread_num()]);
  }

  /* energies: per molecule, member sums and the ensemble mean, in double */
  int64_t species_off[ANI_MAX_SPECIES + 1];
  species_off[0] = 0;
  for (int s = 0; s < S; s++) species_off[s + 1] = species_off[s] + n_s[s];
  for (int64_t k = 0; k < n_mol; k++) {
    int64_t a0 = offsets[k], a1 = offsets[k + 1];
    double e_member[ANI_MAX_MEMBERS] = {0}, sae = 0.0;
    int ok = status[k] == ANI_MOL_OK;
    for (int64_t i = a0; i < a1; i++) {
      if (!ok) {
        if (out->atomic_energy) out->atomic_energy[i] = 0.0;
        continue;
      }
      int s = ws->species[i];
      int64_t row = species_off[s] + ws->row_of[i];
      double mean_y = 0.0;
      for (int mm = 0; mm < M; mm++) {
        double yv = ws->y[(int64_t)mm * n_atoms + row];
        e_member[mm] += yv;
        mean_y += yv;
      }
      sae += m->sae[s];
      if (out->atomic_energy) out->atomic_energy[i] = m->sae[s] + mean_y / M;
    }
    double e_sum = 0.0;
    for (int mm = 0; mm < M; mm++) {
      e_member[mm] = ok ? e_member[mm] + sae : 0.0;
      e_sum += e_member[mm];
      if (out->member_energy) out->member_energy[k * M + mm] = e_member[mm];
    }
    if (out->energy) out->energy[k] = ok ? e_sum / M : 0.0;
  }
  if (!want_forces) return ELIGN_OK;

  /* 5.–6. ensemble-averaged input gradient, AEV backward → forces */
  if (out->forces) gradient_to_forces(out->forces, ws, m, n_mol, offsets, status, pos, n_s, one_pass, -1);
  if (out->member_forces)
    for (int mm = 0; mm < M; mm++)
      gradient_to_forces(out->member_forces + (int64_t)mm * n_atoms * 3, ws, m, n_mol, offsets, status, pos, n_s,
                         one_pass, mm);
  return ELIGN_OK;
}

elign_status ani_compute(ani_model *m, ani_workspace *ws, int64_t n_mol, const int64_t *offsets, const int32_t *Z,
                         const double *pos, double *energy, double *forces, double *member_energy, int *mol_status,
                         elign_error *err) {
  ani_outputs out = {.energy = energy, .forces = forces, .member_energy = member_energy, .mol_status = mol_status};
  return ani_compute_ex(m, ws, n_mol, offsets, Z, pos, &out, err);
}

elign_status ani_compute_aev(const ani_model *m, int64_t n_atoms, const int32_t *Z, const double *pos, double *aev,
                             elign_error *err) {
  int *species = elign_malloc((size_t)(n_atoms ? n_atoms : 1) * sizeof(int), "ani:aev_species");
  for (int64_t i = 0; i < n_atoms; i++) {
    species[i] = ani_model_species_index(m, Z[i]);
    if (species[i] < 0) {
      elign_free(species);
      return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "ANI model %s: atom %lld has element Z=%d, not covered", m->name,
                        (long long)i, (int)Z[i]);
    }
  }
  ani_aev_layout full;
  ani_aev_layout_init(&full, &m->aev, (1u << m->n_species) - 1);
  ani_aev_forward(aev, &full, NULL, NULL, &m->aev, (int)n_atoms, species, pos);
  elign_free(species);
  return ELIGN_OK;
}

double ani_network_flops(const ani_model *m, int64_t n_atoms, const int32_t *Z, int with_forces) {
  const ani_aev_params *p = &m->aev;
  int64_t n_s[ANI_MAX_SPECIES] = {0};
  unsigned mask = 0;
  for (int64_t i = 0; i < n_atoms; i++) {
    int s = ani_model_species_index(m, Z[i]);
    if (s < 0) continue;
    n_s[s]++;
    mask |= 1u << s;
  }
  int present = 0, K = 0;
  for (int s = 0; s < m->n_species; s++) present += (int)(mask >> s & 1u);
  K = present * p->n_rad + present * (present + 1) / 2 * p->angular_block;
  double flops = 0.0;
  for (int s = 0; s < m->n_species; s++) {
    if (!n_s[s]) continue;
    for (int mm = 0; mm < m->n_members; mm++) {
      const ani_net *net = &m->nets[mm * m->n_species + s];
      double fwd = (double)K * net->layer[0].n_out, bwd = fwd; /* Z1 = H0 W1ᵀ; Γ = Δ1 W1 */
      for (int l = 1; l < net->n_layers; l++) {
        fwd += (double)net->layer[l].n_in * net->layer[l].n_out;
        if (l < net->n_layers - 1) bwd += (double)net->layer[l].n_in * net->layer[l].n_out; /* Δ_l W_l */
      }
      flops += 2.0 * (double)n_s[s] * (fwd + (with_forces ? bwd : 0.0));
    }
  }
  return flops;
}
