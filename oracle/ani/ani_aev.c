/* ani_aev.c — the ANI atomic environment vector of one molecule and its
 * backward (ANI.md §6, §9.2, §9.3), in double.
 *
 * Neighbours come from an all-pairs search (O(N²) distance tests), which is
 * cheaper than a cell list below a few hundred atoms — the molecules of a
 * diffusion batch. The angular term uses the factorisation
 * T_pq = 2·A_q·B_p·C so one triple costs n_zeta pow + n_ang exp, and
 * cos(θ'−θ_q) is expanded with cos θ' = 0.95 cos θ, sin θ' = √(1−cos²θ')
 * so no arccos/cos/sin is evaluated per triple. Triples are computed in
 * blocks, one SIMD lane per triple (see triple_block).
 *
 * Callers guarantee that no two atoms coincide (r > 0) and that every
 * species index is valid. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/nn/fastmath.h"
#include "oracle/ani/ani_impl.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* sin(πu) and cos(πu) for |u| ≤ 1/2: their Taylor series in u² to u²¹
 * (coefficients ±π^j/j!; truncation below 3e−16 for |πu| ≤ π/2). A few
 * fma per neighbour instead of libm's range reduction, which cost ~1 % of
 * a batched ANI call. */
static inline double sin_pi(double u) {
  static const double c[11] = {3.141592653589793,       -5.167712780049969,      2.550164039877345,
                               -0.5992645293207919,     0.08214588661112819,     -0.007370430945714348,
                               0.00046630280576761234,  -2.1915353447830204e-05, 7.952054001475508e-07,
                               -2.2948428997269856e-08, 5.392664662608125e-10};
  double u2 = u * u, p = c[10];
  for (int k = 9; k >= 0; k--) p = p * u2 + c[k];
  return u * p;
}
static inline double cos_pi(double u) {
  static const double c[11] = {1.0,                     -4.934802200544679,     4.058712126416768,
                               -1.3352627688545893,     0.23533063035889312,    -0.02580689139001405,
                               0.001929574309403922,    -0.00010463810492484565, 4.303069587032944e-06,
                               -1.387895246221376e-07,  3.6047307974624982e-09};
  double u2 = u * u, p = c[10];
  for (int k = 9; k >= 0; k--) p = p * u2 + c[k];
  return p;
}

/* §6.1 cosine cutoff f_c = 0.5 cos(πr/rc) + 0.5 and its derivative
 * −(π/2rc) sin(πr/rc) (0 ≤ r ≤ rc assumed), through u = r/rc − 1/2:
 * cos(πr/rc) = −sin(πu), sin(πr/rc) = cos(πu). */
static inline double cutoff_value(double r, double rc) { return 0.5 - 0.5 * sin_pi(r / rc - 0.5); }
static inline double cutoff_deriv(double r, double rc) { return -(M_PI / (2.0 * rc)) * cos_pi(r / rc - 0.5); }

/* ln(b) for b > 0 normal: b = m·2^e with m ∈ [√½, √2), ln m = 2 atanh(s),
 * s = (m−1)/(m+1), |s| ≤ 0.172, series to s^23 (truncation < 1e−19).
 * e is formed as an exact double from the exponent bits (2^52 + bits − 2^52)
 * rather than through an integer conversion, so the function vectorises
 * across the lanes of a triple block on AVX2 as well as on AVX-512. */
static inline double aev_log(double b) {
  uint64_t u;
  memcpy(&u, &b, sizeof u);
  uint64_t e_bits = ((u >> 52) & 0x7ff) | 0x4330000000000000ULL; /* the double 2^52 + biased exponent */
  double e;
  memcpy(&e, &e_bits, sizeof e);
  e = (e - 4503599627370496.0) - 1023.0;
  uint64_t mu = (u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL; /* m ∈ [1, 2) */
  double m;
  memcpy(&m, &mu, sizeof m);
  int big = m > 1.4142135623730951;
  m = big ? 0.5 * m : m;
  e = big ? e + 1.0 : e;
  double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double t = 1.0 / 23;
  t = t * s2 + 1.0 / 21;
  t = t * s2 + 1.0 / 19;
  t = t * s2 + 1.0 / 17;
  t = t * s2 + 1.0 / 15;
  t = t * s2 + 1.0 / 13;
  t = t * s2 + 1.0 / 11;
  t = t * s2 + 1.0 / 9;
  t = t * s2 + 1.0 / 7;
  t = t * s2 + 1.0 / 5;
  t = t * s2 + 1.0 / 3;
  t = t * s2 + 1.0;
  return 2.0 * s * t + e * 0.69314718055994530942;
}

void ani_aev_layout_init(ani_aev_layout *lay, const ani_aev_params *p, unsigned mask) {
  const int S = p->n_species;
  int col = 0;
  for (int s = 0; s < ANI_MAX_SPECIES; s++) {
    const int in_set = s < S && (mask >> s & 1u);
    lay->radial_of[s] = in_set ? col : -1;
    col += in_set ? p->n_rad : 0;
  }
  lay->angular_start = col;
  for (int a = 0; a < ANI_MAX_SPECIES; a++)
    for (int b = 0; b < ANI_MAX_SPECIES; b++) lay->angular_of[a][b] = -1;
  for (int a = 0; a < S; a++) /* pair order: row-major upper triangle */
    for (int b = a; b < S; b++)
      if ((mask >> a & 1u) && (mask >> b & 1u)) {
        lay->angular_of[a][b] = lay->angular_of[b][a] = col;
        col += p->angular_block;
      }
  lay->row_length = col;
}

/* r = |v| when v lies within the cutoff rc (r ≤ rc), else −1: the one
 * test the counting pass and the searches share, so they agree exactly. */
static inline double distance_within(const double v[3], double rc) {
  double r2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
  if (r2 > rc * rc) return -1.0;
  double r = sqrt(r2);
  return r > rc ? -1.0 : r;
}

/* One angular neighbour of a centre: v = x_j − x_c. */
typedef struct {
  int j, s;
  double v[3], r, fc, dfc;
} ang_neighbor;

/* Angular neighbours of centre c (r ≤ Rca), into nb (capacity n); the
 * cutoff's derivative only when with_deriv (for the backward: the energy
 * alone would pay a sine per neighbour for nothing). */
static int angular_neighbors(ang_neighbor *nb, const ani_aev_params *p, int n, const int *species, const double *pos,
                             int c, int with_deriv) {
  int count = 0;
  const double rc = p->rc_ang;
  for (int j = 0; j < n; j++) {
    if (j == c) continue;
    double v[3] = {pos[3 * j] - pos[3 * c], pos[3 * j + 1] - pos[3 * c + 1], pos[3 * j + 2] - pos[3 * c + 2]};
    double r = distance_within(v, rc);
    if (r < 0) continue;
    ang_neighbor *a = &nb[count++];
    a->j = j;
    a->s = species[j];
    memcpy(a->v, v, sizeof v);
    a->r = r;
    a->fc = cutoff_value(r, rc);
    a->dfc = with_deriv ? cutoff_deriv(r, rc) : 0.0;
  }
  return count;
}

/* Per-triple values the backward needs, one row per triple:
 * A_q, dA_q/dθ', B_p, dB_p/dr. */
static int row_stride(const ani_aev_params *p) { return 2 * (p->n_zeta + p->n_ang); }

/* The tape's sections (see ani_impl.h), each starting at a 64-byte
 * boundary, in this order. */
typedef struct {
  double *rows;       /* triples × row_stride */
  int *ang_count;     /* [n] angular neighbours of each centre */
  ang_neighbor *ang;  /* the neighbours, centre after centre */
  int *pair_ij;       /* [2 · rad_pairs] i < j */
  double *pair_u;     /* [3 · rad_pairs] (x_i − x_j)/r */
  double *pair_dt;    /* [n_rad · rad_pairs] dt_k/dr */
} tape_view;

static size_t align64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

/* Bytes of the tape; with base, also the section pointers into it. */
static size_t tape_layout(tape_view *v, void *base, const ani_aev_tape_counts *c, const ani_aev_params *p, int n) {
  const size_t sizes[6] = {
      (size_t)c->triples * row_stride(p) * sizeof(double), (size_t)n * sizeof(int),
      (size_t)c->ang_neighbors * sizeof(ang_neighbor),      (size_t)c->rad_pairs * 2 * sizeof(int),
      (size_t)c->rad_pairs * 3 * sizeof(double),            (size_t)c->rad_pairs * p->n_rad * sizeof(double)};
  void *start[6];
  size_t off = 0;
  for (int k = 0; k < 6; k++) {
    start[k] = base ? (char *)base + off : NULL;
    off += align64(sizes[k]);
  }
  if (v) *v = (tape_view){start[0], start[1], start[2], start[3], start[4], start[5]};
  return off;
}

size_t ani_aev_tape_size(const ani_aev_params *p, int n, const double *pos, ani_aev_tape_counts *counts) {
  ani_aev_tape_counts c = {0, 0, 0};
  for (int i = 0; i < n; i++) {
    int64_t nn = 0;
    for (int j = 0; j < n; j++) {
      if (j == i) continue;
      double v[3] = {pos[3 * j] - pos[3 * i], pos[3 * j + 1] - pos[3 * i + 1], pos[3 * j + 2] - pos[3 * i + 2]};
      nn += distance_within(v, p->rc_ang) >= 0;
      if (j > i) {
        double u[3] = {-v[0], -v[1], -v[2]}; /* x_i − x_j, as the radial loops form it */
        c.rad_pairs += distance_within(u, p->rc_rad) >= 0;
      }
    }
    c.triples += nn * (nn - 1) / 2;
    c.ang_neighbors += nn;
  }
  *counts = c;
  return tape_layout(NULL, NULL, &c, p, n);
}

/* ------------------------------------------------------------------------ */
/* angular triples, a block at a time                                        */

/* Up to TRIPLE_LANES triples (centre c, neighbours a and b) in the order the
 * loops visit them, one lane each. A triple's cost is its n_zeta pow and
 * n_ang exp; laid out as shell rows × lanes they vectorise across triples. A
 * partly filled block is padded with a harmless triple and always computed
 * at full width, so every lane runs the same instructions and a triple's
 * bits do not depend on its lane. The sums into the AEV and the forces stay
 * in triple order, lane after lane, and blocks follow the molecule's own
 * triple order: a molecule gets the same bits alone or in any batch. */
enum { TRIPLE_LANES = 16 };

typedef struct {
  int count;
  int centre[TRIPLE_LANES], j1[TRIPLE_LANES], j2[TRIPLE_LANES];
  int64_t block[TRIPLE_LANES]; /* offset of the triple's angular block: centre row, species pair */
  double v1[3][TRIPLE_LANES], v2[3][TRIPLE_LANES]; /* x_a − x_c, x_b − x_c */
  double r1[TRIPLE_LANES], r2[TRIPLE_LANES];
  double fc1[TRIPLE_LANES], fc2[TRIPLE_LANES], dfc1[TRIPLE_LANES], dfc2[TRIPLE_LANES];
  double cos_t[TRIPLE_LANES];               /* cos θ (unscaled) */
  double A[ANI_MAX_SHELLS][TRIPLE_LANES];  /* ((1 + cos(θ'−θ_q))/2)^ζ */
  double dA[ANI_MAX_SHELLS][TRIPLE_LANES]; /* dA_q/dθ' */
  double B[ANI_MAX_SHELLS][TRIPLE_LANES];  /* exp(−η_A (r̄ − R_p)²) */
  double dB[ANI_MAX_SHELLS][TRIPLE_LANES]; /* dB_p/dr₁ = dB_p/dr₂ */
} triple_block;

static void block_push(triple_block *tb, int c, const ani_aev_layout *lay, const ang_neighbor *a,
                       const ang_neighbor *b) {
  int l = tb->count++;
  tb->centre[l] = c;
  tb->j1[l] = a->j;
  tb->j2[l] = b->j;
  tb->block[l] = (int64_t)c * lay->row_length + lay->angular_of[a->s][b->s];
  for (int x = 0; x < 3; x++) {
    tb->v1[x][l] = a->v[x];
    tb->v2[x][l] = b->v[x];
  }
  tb->r1[l] = a->r;
  tb->r2[l] = b->r;
  tb->fc1[l] = a->fc;
  tb->fc2[l] = b->fc;
  tb->dfc1[l] = a->dfc;
  tb->dfc2[l] = b->dfc;
}

/* Unused lanes: unit vectors at right angles, zero cutoff — finite
 * everywhere and contributing nothing (their results are never read). */
static void block_pad(triple_block *tb) {
  for (int l = tb->count; l < TRIPLE_LANES; l++) {
    tb->centre[l] = tb->j1[l] = tb->j2[l] = 0;
    tb->block[l] = 0;
    for (int x = 0; x < 3; x++) tb->v1[x][l] = tb->v2[x][l] = 0.0;
    tb->v1[0][l] = tb->v2[1][l] = 1.0;
    tb->r1[l] = tb->r2[l] = 1.0;
    tb->fc1[l] = tb->fc2[l] = tb->dfc1[l] = tb->dfc2[l] = 0.0;
  }
}

static void block_angles(triple_block *tb) {
  for (int l = 0; l < TRIPLE_LANES; l++) {
    double dot = tb->v1[0][l] * tb->v2[0][l] + tb->v1[1][l] * tb->v2[1][l] + tb->v1[2][l] * tb->v2[2][l];
    double denom = tb->r1[l] * tb->r2[l];
    denom = denom < 1e-10 ? 1e-10 : denom;
    tb->cos_t[l] = dot / denom;
  }
}

/* A_q and B_p of every lane, and dA_q/dθ', dB_p/dr when derivs (the
 * backward's needs). θ' = arccos(0.95 cos θ) enters through cos θ' and
 * sin θ' = √(1 − cos²θ') (θ' ∈ (0, π)); base_q = (1 + cos(θ'−θ_q))/2 > 0.06. */
static void block_terms(triple_block *tb, const ani_aev_params *p, int derivs) {
  const double zeta = p->zeta, eta_a = p->eta_a;
  double cp[TRIPLE_LANES], sp[TRIPLE_LANES];
  for (int l = 0; l < TRIPLE_LANES; l++) {
    cp[l] = 0.95 * tb->cos_t[l];
    sp[l] = sqrt(1.0 - cp[l] * cp[l]);
  }
  for (int q = 0; q < p->n_zeta; q++) {
    const double cq = p->cos_shf_z[q], sq = p->sin_shf_z[q];
    double base[TRIPLE_LANES];
    for (int l = 0; l < TRIPLE_LANES; l++) {
      base[l] = 0.5 * (1.0 + (cp[l] * cq + sp[l] * sq)); /* cos(θ' − θ_q) inside */
      tb->A[q][l] = elign_fast_exp(zeta * aev_log(base[l]));
    }
    if (!derivs) continue;
    for (int l = 0; l < TRIPLE_LANES; l++) {
      double sin_d = sp[l] * cq - cp[l] * sq; /* sin(θ' − θ_q) */
      tb->dA[q][l] = zeta * tb->A[q][l] / base[l] * (-0.5 * sin_d);
    }
  }
  for (int k = 0; k < p->n_ang; k++) {
    double d[TRIPLE_LANES]; /* r̄ − R_p */
    for (int l = 0; l < TRIPLE_LANES; l++) {
      d[l] = 0.5 * (tb->r1[l] + tb->r2[l]) - p->shf_a[k];
      tb->B[k][l] = elign_fast_exp(-eta_a * d[l] * d[l]);
    }
    if (!derivs) continue;
    for (int l = 0; l < TRIPLE_LANES; l++) tb->dB[k][l] = -eta_a * d[l] * tb->B[k][l];
  }
}

/* The filled lanes' values as per-triple rows A[nZ], dA[nZ], B[nA], dB[nA]
 * (the cache layout, stride ani_aev_cache_stride), one triple after another:
 * the sums over shells then read each triple's values contiguously. Without
 * derivs the dA and dB slots are left untouched. */
static void block_store_rows(const triple_block *tb, const ani_aev_params *p, int derivs, double *rows) {
  const int nZ = p->n_zeta, nA = p->n_ang;
  for (int l = 0; l < tb->count; l++, rows += 2 * (nZ + nA)) {
    for (int q = 0; q < nZ; q++) rows[q] = tb->A[q][l];
    for (int k = 0; k < nA; k++) rows[2 * nZ + k] = tb->B[k][l];
    if (!derivs) continue;
    for (int q = 0; q < nZ; q++) rows[nZ + q] = tb->dA[q][l];
    for (int k = 0; k < nA; k++) rows[2 * nZ + nA + k] = tb->dB[k][l];
  }
}

/* ------------------------------------------------------------------------ */
/* forward                                                                   */

/* g[p, q] += two_c · B_p · A_q for one triple; inlined with constant shapes
 * like contract_triple. */
static inline __attribute__((always_inline)) void accumulate_triple(double *restrict g, const double *restrict A,
                                                                    const double *restrict B, double two_c, int nA,
                                                                    int nZ) {
  for (int k = 0; k < nA; k++) {
    double bc = two_c * B[k];
    for (int q = 0; q < nZ; q++) g[k * nZ + q] += bc * A[q];
  }
}

/* §6.3: G_c[pair, p, q] += 2 A_q B_p f_c(r₁) f_c(r₂) for the block's
 * triples, in order, from their rows. */
static void block_accumulate(const triple_block *tb, const ani_aev_params *p, const double *rows, double *aev) {
  const int nA = p->n_ang, nZ = p->n_zeta;
  for (int l = 0; l < tb->count; l++, rows += 2 * (nZ + nA)) {
    const double *A = rows, *B = rows + 2 * nZ;
    double *g = aev + tb->block[l];
    double two_c = 2.0 * tb->fc1[l] * tb->fc2[l];
    if (nZ == 4 && nA == 8)
      accumulate_triple(g, A, B, two_c, 8, 4); /* ANI-2x */
    else if (nZ == 8 && nA == 4)
      accumulate_triple(g, A, B, two_c, 4, 8); /* ANI-1x, ANI-1ccx */
    else
      accumulate_triple(g, A, B, two_c, nA, nZ);
  }
}

/* Computes and adds a filled block; with a tape, writes its rows there
 * (with the derivatives) and returns the next row, else works in a scratch
 * block and returns NULL. Empties the block. */
static double *forward_block(triple_block *tb, const ani_aev_params *p, double *aev, double *tape_rows) {
  double scratch[TRIPLE_LANES * 2 * ANI_MAX_SHELLS * 2];
  double *rows = tape_rows ? tape_rows : scratch;
  block_pad(tb);
  block_angles(tb);
  block_terms(tb, p, tape_rows != NULL);
  block_store_rows(tb, p, tape_rows != NULL, rows);
  block_accumulate(tb, p, rows, aev);
  if (tape_rows) tape_rows += (size_t)tb->count * row_stride(p);
  tb->count = 0;
  return tape_rows;
}

/* §6.2 radial: each pair {i, j} feeds both atoms, each with the other's
 * species, t_k(r) = 0.25 exp(−η_R (r − R_k)²) f_c(r). With a tape, also
 * the pair's unit vector and dt_k/dr = 0.25 exp(−η_R (r−R_k)²) [−2η_R (r−R_k) f_c + f_c']
 * for the backward (same exp). */
static void radial_forward(double *aev, const ani_aev_layout *lay, tape_view *tape, const ani_aev_params *p, int n,
                           const int *species, const double *pos) {
  const int L = lay->row_length, nR = p->n_rad;
  const double rcr = p->rc_rad;
  int64_t pair = 0;
  for (int i = 0; i < n; i++) {
    for (int j = i + 1; j < n; j++) {
      double u[3] = {pos[3 * i] - pos[3 * j], pos[3 * i + 1] - pos[3 * j + 1], pos[3 * i + 2] - pos[3 * j + 2]};
      double r = distance_within(u, rcr);
      if (r < 0) continue;
      double fc = cutoff_value(r, rcr);
      double *gi = aev + (size_t)i * L + lay->radial_of[species[j]];
      double *gj = aev + (size_t)j * L + lay->radial_of[species[i]];
      double e[ANI_MAX_SHELLS], t[ANI_MAX_SHELLS];
      for (int k = 0; k < nR; k++) {
        double d = r - p->shf_r[k];
        e[k] = 0.25 * elign_fast_exp(-p->eta_r * d * d);
        t[k] = e[k] * fc;
      }
      for (int k = 0; k < nR; k++) gi[k] += t[k];
      for (int k = 0; k < nR; k++) gj[k] += t[k];
      if (!tape) continue;
      double dfc = cutoff_deriv(r, rcr), *dt = tape->pair_dt + pair * nR;
      for (int k = 0; k < nR; k++) dt[k] = e[k] * (-2.0 * p->eta_r * (r - p->shf_r[k]) * fc + dfc);
      tape->pair_ij[2 * pair] = i;
      tape->pair_ij[2 * pair + 1] = j;
      for (int x = 0; x < 3; x++) tape->pair_u[3 * pair + x] = u[x] / r;
      pair++;
    }
  }
}

void ani_aev_forward(double *aev, const ani_aev_layout *lay, void *tape, const ani_aev_tape_counts *counts,
                     const ani_aev_params *p, int n, const int *species, const double *pos) {
  tape_view view;
  if (tape) tape_layout(&view, tape, counts, p, n);
  memset(aev, 0, (size_t)n * lay->row_length * sizeof *aev);
  radial_forward(aev, lay, tape ? &view : NULL, p, n, species, pos);

  /* §6.3 angular: every unordered pair {a, b} of neighbours of centre c;
   * with a tape the neighbours are kept there for the backward. */
  ang_neighbor nb_stack[256], *nb_scratch = NULL;
  if (!tape && n > 256) nb_scratch = elign_malloc((size_t)n * sizeof *nb_scratch, "ani:aev_nb");
  ang_neighbor *nb = tape ? view.ang : n <= 256 ? nb_stack : nb_scratch;
  double *rows = tape ? view.rows : NULL;
  triple_block tb;
  tb.count = 0;
  for (int c = 0; c < n; c++) {
    int nn = angular_neighbors(nb, p, n, species, pos, c, tape != NULL);
    for (int ia = 0; ia < nn; ia++) {
      for (int ib = ia + 1; ib < nn; ib++) {
        block_push(&tb, c, lay, &nb[ia], &nb[ib]);
        if (tb.count == TRIPLE_LANES) rows = forward_block(&tb, p, aev, rows);
      }
    }
    if (tape) {
      view.ang_count[c] = nn;
      nb += nn;
    }
  }
  if (tb.count) forward_block(&tb, p, aev, rows);
  elign_free(nb_scratch);
}

/* ------------------------------------------------------------------------ */
/* backward                                                                  */

/* Four doubles as one value, for the backward's sums over shells (n_rad 16,
 * n_zeta 4 or 8 in the published models) as four partial sums: one fixed
 * order on every ISA (GCC/Clang vector extensions: AVX2 and AVX-512 give one
 * register, other targets two or four). */
typedef double v4d __attribute__((vector_size(32)));
static inline v4d load4(const double *p) {
  v4d v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline double hsum4(v4d v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/* Σ_k (γ_i[k] + γ_j[k]) dt_k: as four partial sums (k mod 4) added
 * pairwise when n_rad is a multiple of 4 (the published models' 16), so
 * the adds are not one serial chain; in order otherwise. */
static inline double radial_weight(const double *gi, const double *gj, const double *dt, int nR) {
  if (nR % 4 == 0) {
    v4d w = {0};
    for (int k = 0; k < nR; k += 4) w += (load4(gi + k) + load4(gj + k)) * load4(dt + k);
    return hsum4(w);
  }
  double w = 0.0;
  for (int k = 0; k < nR; k++) w += (gi[k] + gj[k]) * dt[k];
  return w;
}

/* Radial (§9.2), from the tape's pairs: w = Σ_k (γ_i[s_j,k] + γ_j[s_i,k]) dt_k/dr,
 *   ∂E/∂x_i += w u, ∂E/∂x_j −= w u with u = (x_i − x_j)/r. */
static void radial_backward(double *dpos, const double *daev, const ani_aev_layout *lay, const tape_view *tape,
                            int64_t n_pairs, const ani_aev_params *p, const int *species) {
  const int L = lay->row_length, nR = p->n_rad;
  for (int64_t pair = 0; pair < n_pairs; pair++) {
    const int i = tape->pair_ij[2 * pair], j = tape->pair_ij[2 * pair + 1];
    const double *gi = daev + (size_t)i * L + lay->radial_of[species[j]];
    const double *gj = daev + (size_t)j * L + lay->radial_of[species[i]];
    const double *dt = tape->pair_dt + pair * nR, *u = tape->pair_u + 3 * pair;
    const double w = radial_weight(gi, gj, dt, nR);
    for (int x = 0; x < 3; x++) {
      dpos[3 * i + x] += w * u[x];
      dpos[3 * j + x] -= w * u[x];
    }
  }
}

/* Angular (§9.3). Forward: G_c[pair, p, q] += 2 A_q B_p C with
 *   A_q = ((1+cos(θ'−θ_q))/2)^ζ, B_p = exp(−η_A(r̄−R_p)²), C = f_c(r₁) f_c(r₂).
 * Backward with W_pq = γ_c[pair, p, q], per triple:
 *   s_0 = Σ W A B, s_dA = Σ W dA B, s_dB = Σ W A dB (over p, then q);
 *   ∂E/∂cosθ = 2C s_dA dθ'/dcosθ,  dθ'/dcosθ = −0.95/√(1−(0.95cosθ)²)
 *   ∂E/∂r₁  = 2[s_dB C + s_0 ∂C/∂r₁],  dB_p/dr = −η_A (r̄−R_p) B_p
 *   g₁ = ∂E/∂cosθ (v₂/(r₁r₂) − cosθ v₁/r₁²) + ∂E/∂r₁ v₁/r₁   (and 1↔2)
 *   ∂E/∂x_a += g₁, ∂E/∂x_b += g₂, ∂E/∂x_c −= g₁ + g₂. */
typedef struct {
  double s_0[TRIPLE_LANES], s_dA[TRIPLE_LANES], s_dB[TRIPLE_LANES];
  double g1[3][TRIPLE_LANES], g2[3][TRIPLE_LANES];
} block_grads;

/* s_0, s_dA, s_dB of one triple from its row and its γ block W (n_ang × nZ),
 * any shape: first over p into per-q sums, then over q. */
static void contract_triple_any(double s[3], const double *row, const double *W, int nA, int nZ) {
  const double *A = row, *dA = row + nZ, *B = row + 2 * nZ, *dB = row + 2 * nZ + nA;
  double wB[ANI_MAX_SHELLS] = {0}, wdB[ANI_MAX_SHELLS] = {0}; /* Σ_p W_pq B_p, Σ_p W_pq dB_p */
  for (int k = 0; k < nA; k++) {
    for (int q = 0; q < nZ; q++) {
      wB[q] += W[k * nZ + q] * B[k];
      wdB[q] += W[k * nZ + q] * dB[k];
    }
  }
  double s_0 = 0.0, s_dA = 0.0, s_dB = 0.0;
  for (int q = 0; q < nZ; q++) {
    s_0 += wB[q] * A[q];
    s_dA += wB[q] * dA[q];
    s_dB += wdB[q] * A[q];
  }
  s[0] = s_0;
  s[1] = s_dA;
  s[2] = s_dB;
}


/* The same for n_zeta a multiple of 4, the q sums kept as 4-wide partial
 * sums and reduced once: written per scalar q, the compiler had broken the
 * three final dot products into chains of scalar adds, the costliest part
 * of the backward. Inlined with the shapes constant. */
static inline __attribute__((always_inline)) void contract_triple_4(double s[3], const double *row, const double *W,
                                                                    int nA, int nZ) {
  const double *A = row, *dA = row + nZ, *B = row + 2 * nZ, *dB = row + 2 * nZ + nA;
  v4d s_0 = {0}, s_dA = {0}, s_dB = {0};
  for (int q = 0; q < nZ; q += 4) {
    v4d wB = {0}, wdB = {0}; /* Σ_p W_pq B_p, Σ_p W_pq dB_p for four q */
    for (int k = 0; k < nA; k++) {
      v4d w = load4(W + k * nZ + q);
      wB += w * B[k];
      wdB += w * dB[k];
    }
    v4d a = load4(A + q);
    s_0 += wB * a;
    s_dA += wB * load4(dA + q);
    s_dB += wdB * a;
  }
  s[0] = hsum4(s_0);
  s[1] = hsum4(s_dA);
  s[2] = hsum4(s_dB);
}

/* The contractions of each filled lane's row with its centre's and pair's γ
 * block (contiguous per triple). Padding lanes get zeros. The shapes of the
 * published models get their own inlined copies. */
static void block_contract(block_grads *bg, const triple_block *tb, const ani_aev_params *p, const double *daev,
                           const double *rows) {
  const int nA = p->n_ang, nZ = p->n_zeta, stride = 2 * (nZ + nA);
  for (int l = 0; l < TRIPLE_LANES; l++) bg->s_0[l] = bg->s_dA[l] = bg->s_dB[l] = 0.0;
  for (int l = 0; l < tb->count; l++, rows += stride) {
    const double *W = daev + tb->block[l];
    double s[3];
    if (nZ == 4 && nA == 8)
      contract_triple_4(s, rows, W, 8, 4); /* ANI-2x */
    else if (nZ == 8 && nA == 4)
      contract_triple_4(s, rows, W, 4, 8); /* ANI-1x, ANI-1ccx */
    else if (nZ % 4 == 0)
      contract_triple_4(s, rows, W, nA, nZ);
    else
      contract_triple_any(s, rows, W, nA, nZ);
    bg->s_0[l] = s[0];
    bg->s_dA[l] = s[1];
    bg->s_dB[l] = s[2];
  }
}

/* g₁, g₂ of every lane from the contractions and the geometry, written as
 *   g₁ = b v₂ + a₁ v₁,  b = ∂E/∂cosθ /(r₁r₂),  a₁ = (∂E/∂r₁ − ∂E/∂cosθ cosθ/r₁)/r₁
 * (and 1↔2): two reciprocals per lane instead of a division per component. */
static void block_gradients(block_grads *bg, const triple_block *tb) {
  for (int l = 0; l < TRIPLE_LANES; l++) {
    double fc1 = tb->fc1[l], fc2 = tb->fc2[l], C = fc1 * fc2;
    double cos_t = tb->cos_t[l], cp = 0.95 * cos_t;
    double dtheta_dcos = -0.95 / sqrt(1.0 - cp * cp);
    double dE_dcos = 2.0 * C * bg->s_dA[l] * dtheta_dcos;
    double dE_dr1 = 2.0 * (bg->s_dB[l] * C + bg->s_0[l] * tb->dfc1[l] * fc2);
    double dE_dr2 = 2.0 * (bg->s_dB[l] * C + bg->s_0[l] * fc1 * tb->dfc2[l]);
    double inv1 = 1.0 / tb->r1[l], inv2 = 1.0 / tb->r2[l];
    double b = dE_dcos * inv1 * inv2;
    double a1 = (dE_dr1 - dE_dcos * cos_t * inv1) * inv1;
    double a2 = (dE_dr2 - dE_dcos * cos_t * inv2) * inv2;
    for (int x = 0; x < 3; x++) {
      double v1 = tb->v1[x][l], v2 = tb->v2[x][l];
      bg->g1[x][l] = b * v2 + a1 * v1;
      bg->g2[x][l] = b * v1 + a2 * v2;
    }
  }
}

/* Adds a filled block's gradients to dpos, triple after triple, from its
 * tape rows; returns the next row and empties the block. */
static const double *backward_block(triple_block *tb, const ani_aev_params *p, const double *daev,
                                    const double *rows, double *dpos) {
  block_pad(tb);
  block_angles(tb);
  block_grads bg;
  block_contract(&bg, tb, p, daev, rows);
  block_gradients(&bg, tb);
  for (int l = 0; l < tb->count; l++) {
    int a = tb->j1[l], b = tb->j2[l], c = tb->centre[l];
    for (int x = 0; x < 3; x++) {
      dpos[3 * a + x] += bg.g1[x][l];
      dpos[3 * b + x] += bg.g2[x][l];
      dpos[3 * c + x] -= bg.g1[x][l] + bg.g2[x][l];
    }
  }
  rows += (size_t)tb->count * row_stride(p);
  tb->count = 0;
  return rows;
}

/* The γ of a centre's angular part is read in pair blocks scattered over a
 * few KB, first touched here (the network's backward wrote it for the whole
 * batch): fetch the next centre's while this one's triples run. */
static void prefetch_angular_gamma(const double *row, const ani_aev_layout *lay) {
  for (int i = lay->angular_start; i < lay->row_length; i += 8) __builtin_prefetch(row + i, 0, 3);
}

void ani_aev_backward(double *dpos, const double *daev, const ani_aev_layout *lay, const void *tape,
                      const ani_aev_tape_counts *counts, const ani_aev_params *p, int n, const int *species) {
  tape_view view;
  tape_layout(&view, (void *)tape, counts, p, n);
  radial_backward(dpos, daev, lay, &view, counts->rad_pairs, p, species);

  const ang_neighbor *nb = view.ang;
  const double *rows = view.rows;
  triple_block tb;
  tb.count = 0;
  for (int c = 0; c < n; c++) {
    if (c + 1 < n) prefetch_angular_gamma(daev + (size_t)(c + 1) * lay->row_length, lay);
    const int nn = view.ang_count[c];
    for (int ia = 0; ia < nn; ia++) {
      for (int ib = ia + 1; ib < nn; ib++) {
        block_push(&tb, c, lay, &nb[ia], &nb[ib]);
        if (tb.count == TRIPLE_LANES) rows = backward_block(&tb, p, daev, rows, dpos);
      }
    }
    nb += nn;
  }
  if (tb.count) backward_block(&tb, p, daev, rows, dpos);
}
