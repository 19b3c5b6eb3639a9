/* ani_aev.c — the ANI atomic environment vector of one molecule and its
 * backward (ANI.md §6, §9.2, §9.3), in double.
 *
 * Neighbours come from an all-pairs search (O(N²) distance tests), which is
 * cheaper than a cell list below a few hundred atoms — the molecules of a
 * diffusion batch. The angular term uses the factorisation
 * T_pq = 2·A_q·B_p·C so one triple costs n_zeta pow + n_ang exp calls, and
 * cos(θ'−θ_q) is expanded with cos θ' = 0.95 cos θ, sin θ' = √(1−cos²θ')
 * so no arccos/cos/sin is evaluated per triple.
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

/* §6.1 cosine cutoff and its derivative (r ≤ rc assumed). */
static inline double cutoff_value(double r, double rc) { return 0.5 * cos(M_PI * r / rc) + 0.5; }
static inline double cutoff_deriv(double r, double rc) { return -(M_PI / (2.0 * rc)) * sin(M_PI * r / rc); }

/* ln(b) for b > 0 normal: b = m·2^e with m ∈ [√½, √2), ln m = 2 atanh(s),
 * s = (m−1)/(m+1), |s| ≤ 0.172, series to s^23 (truncation < 1e−19). */
static inline double aev_log(double b) {
  uint64_t u;
  memcpy(&u, &b, sizeof u);
  int64_t e = (int64_t)((u >> 52) & 0x7ff) - 1023;
  uint64_t mu = (u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL; /* m ∈ [1, 2) */
  double m;
  memcpy(&m, &mu, sizeof m);
  int64_t big = m > 1.4142135623730951;
  m = big ? 0.5 * m : m;
  e += big;
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
  return 2.0 * s * t + (double)e * 0.69314718055994530942;
}

/* pair(a, b) of §6.4: row-major upper triangle including the diagonal. */
static inline int species_pair(int a, int b, int S) {
  if (a > b) {
    int t = a;
    a = b;
    b = t;
  }
  return a * S - a * (a - 1) / 2 + (b - a);
}

/* One angular neighbour of a centre: v = x_j − x_c. */
typedef struct {
  int j, s;
  double v[3], r, fc, dfc;
} ang_neighbor;

/* Angular neighbours of centre c (r ≤ Rca), into nb (capacity n). */
static int angular_neighbors(ang_neighbor *nb, const ani_aev_params *p, int n, const int *species, const double *pos,
                             int c) {
  int count = 0;
  const double rc = p->rc_ang;
  for (int j = 0; j < n; j++) {
    if (j == c) continue;
    double v[3] = {pos[3 * j] - pos[3 * c], pos[3 * j + 1] - pos[3 * c + 1], pos[3 * j + 2] - pos[3 * c + 2]};
    double r2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
    if (r2 > rc * rc) continue;
    double r = sqrt(r2);
    if (r > rc) continue;
    ang_neighbor *a = &nb[count++];
    a->j = j;
    a->s = species[j];
    memcpy(a->v, v, sizeof v);
    a->r = r;
    a->fc = cutoff_value(r, rc);
    a->dfc = cutoff_deriv(r, rc);
  }
  return count;
}

/* Per-triple quantities shared by forward and backward. */
typedef struct {
  double cos_t;   /* cos θ (unscaled) */
  double base[ANI_MAX_SHELLS];  /* (1 + cos(θ'−θ_q))/2 */
  double sin_d[ANI_MAX_SHELLS]; /* sin(θ'−θ_q) */
  double A[ANI_MAX_SHELLS];     /* base^ζ */
  double B[ANI_MAX_SHELLS];     /* exp(−η_A (r̄ − R_p)²) */
  double rbar_minus[ANI_MAX_SHELLS]; /* r̄ − R_p */
} triple_terms;

/* Per-triple values the backward needs, cached by the forward:
 * A_q, dA_q/dθ', B_p, dB_p/dr (stride ani_aev_cache_stride). */
int ani_aev_cache_stride(const ani_aev_params *p) { return 2 * (p->n_zeta + p->n_ang); }

int64_t ani_aev_triple_count(const ani_aev_params *p, int n, const double *pos) {
  const double rc2 = p->rc_ang * p->rc_ang;
  int64_t total = 0;
  for (int c = 0; c < n; c++) {
    int64_t nn = 0;
    for (int j = 0; j < n; j++) {
      if (j == c) continue;
      double dx = pos[3 * j] - pos[3 * c], dy = pos[3 * j + 1] - pos[3 * c + 1], dz = pos[3 * j + 2] - pos[3 * c + 2];
      double r2 = dx * dx + dy * dy + dz * dz;
      if (r2 <= rc2 && sqrt(r2) <= p->rc_ang) nn++;
    }
    total += nn * (nn - 1) / 2;
  }
  return total;
}

static void triple_compute(triple_terms *t, const ani_aev_params *p, const ang_neighbor *a, const ang_neighbor *b) {
  double dot = a->v[0] * b->v[0] + a->v[1] * b->v[1] + a->v[2] * b->v[2];
  double denom = a->r * b->r;
  if (denom < 1e-10) denom = 1e-10;
  t->cos_t = dot / denom;
  /* θ' = arccos(0.95 cos θ): cos θ' and sin θ' (θ' ∈ (0, π) so sin ≥ 0). */
  double cp = 0.95 * t->cos_t;
  double sp = sqrt(1.0 - cp * cp);
  for (int q = 0; q < p->n_zeta; q++) {
    double cq = p->cos_shf_z[q], sq = p->sin_shf_z[q];
    double cos_d = cp * cq + sp * sq; /* cos(θ' − θ_q) */
    t->sin_d[q] = sp * cq - cp * sq;  /* sin(θ' − θ_q) */
    t->base[q] = 0.5 * (1.0 + cos_d);
  }
  for (int q = 0; q < p->n_zeta; q++) t->A[q] = elign_fast_exp(p->zeta * aev_log(t->base[q])); /* base^ζ, base > 0.06 */
  double rbar = 0.5 * (a->r + b->r);
  for (int k = 0; k < p->n_ang; k++) {
    double d = rbar - p->shf_a[k];
    t->rbar_minus[k] = d;
    t->B[k] = elign_fast_exp(-p->eta_a * d * d);
  }
}

/* ------------------------------------------------------------------------ */
/* forward                                                                   */

void ani_aev_forward(double *aev, double *cache, const ani_aev_params *p, int n, const int *species,
                     const double *pos) {
  const int S = p->n_species, D = p->aev_length, nR = p->n_rad, nA = p->n_ang, nZ = p->n_zeta;
  const int blk = p->angular_block;
  memset(aev, 0, (size_t)n * D * sizeof *aev);

  /* §6.2 radial: each pair {i, j} feeds both atoms, each with the other's species. */
  const double rcr = p->rc_rad;
  for (int i = 0; i < n; i++) {
    for (int j = i + 1; j < n; j++) {
      double dx = pos[3 * i] - pos[3 * j], dy = pos[3 * i + 1] - pos[3 * j + 1], dz = pos[3 * i + 2] - pos[3 * j + 2];
      double r2 = dx * dx + dy * dy + dz * dz;
      if (r2 > rcr * rcr) continue;
      double r = sqrt(r2);
      if (r > rcr) continue;
      double fc = cutoff_value(r, rcr);
      double *gi = aev + (size_t)i * D + species[j] * nR;
      double *gj = aev + (size_t)j * D + species[i] * nR;
      double t[ANI_MAX_SHELLS];
      for (int k = 0; k < nR; k++) {
        double d = r - p->shf_r[k];
        t[k] = 0.25 * elign_fast_exp(-p->eta_r * d * d) * fc;
      }
      for (int k = 0; k < nR; k++) gi[k] += t[k];
      for (int k = 0; k < nR; k++) gj[k] += t[k];
    }
  }

  /* §6.3 angular: every unordered pair {a, b} of neighbours of centre c. */
  ang_neighbor nb_stack[256];
  ang_neighbor *nb = n <= 256 ? nb_stack : elign_malloc((size_t)n * sizeof *nb, "ani:aev_nb");
  triple_terms t;
  for (int c = 0; c < n; c++) {
    int nn = angular_neighbors(nb, p, n, species, pos, c);
    double *gc = aev + (size_t)c * D + p->radial_length;
    for (int ia = 0; ia < nn; ia++) {
      for (int ib = ia + 1; ib < nn; ib++) {
        const ang_neighbor *a = &nb[ia], *b = &nb[ib];
        triple_compute(&t, p, a, b);
        if (cache) {
          for (int q = 0; q < nZ; q++) {
            cache[q] = t.A[q];
            cache[nZ + q] = p->zeta * t.A[q] / t.base[q] * (-0.5 * t.sin_d[q]); /* dA_q/dθ' */
          }
          for (int k = 0; k < nA; k++) {
            cache[2 * nZ + k] = t.B[k];
            cache[2 * nZ + nA + k] = -p->eta_a * t.rbar_minus[k] * t.B[k]; /* dB_p/dr₁ = dB_p/dr₂ */
          }
          cache += 2 * (nZ + nA);
        }
        double two_c = 2.0 * a->fc * b->fc;
        double *g = gc + species_pair(a->s, b->s, S) * blk;
        for (int k = 0; k < nA; k++) {
          double bc = two_c * t.B[k];
          for (int q = 0; q < nZ; q++) g[k * nZ + q] += bc * t.A[q];
        }
      }
    }
  }
  if (nb != nb_stack) elign_free(nb);
}

/* ------------------------------------------------------------------------ */
/* backward                                                                  */

/* Radial (§9.2). Forward: G_i[s_j, k] += t_k(r_ij), G_j[s_i, k] += t_k(r_ij),
 *   t_k(r) = 0.25 exp(−η_R (r − R_k)²) f_c(r).
 * Backward: w = Σ_k (γ_i[s_j,k] + γ_j[s_i,k]) dt_k/dr,
 *   dt_k/dr = 0.25 exp(−η_R (r−R_k)²) [−2η_R (r−R_k) f_c + f_c'],
 *   ∂E/∂x_i += w u, ∂E/∂x_j −= w u with u = (x_i − x_j)/r.
 *
 * Angular (§9.3). Forward: G_c[pair, p, q] += 2 A_q B_p C with
 *   A_q = ((1+cos(θ'−θ_q))/2)^ζ, B_p = exp(−η_A(r̄−R_p)²), C = f_c(r₁) f_c(r₂).
 * Backward with W_pq = γ_c[pair, p, q]:
 *   ∂E/∂cosθ = 2C (Σ W B dA/dθ') dθ'/dcosθ,  dθ'/dcosθ = −0.95/√(1−(0.95cosθ)²)
 *   ∂E/∂r₁  = 2[(Σ W A dB/dr) C + (Σ W A B) ∂C/∂r₁],  dB_p/dr = −η_A (r̄−R_p) B_p
 *   g₁ = ∂E/∂cosθ (v₂/(r₁r₂) − cosθ v₁/r₁²) + ∂E/∂r₁ v₁/r₁   (and 1↔2)
 *   ∂E/∂x_a += g₁, ∂E/∂x_b += g₂, ∂E/∂x_c −= g₁ + g₂. */
void ani_aev_backward(double *dpos, const double *daev, const double *cache, const ani_aev_params *p, int n,
                      const int *species, const double *pos) {
  const int S = p->n_species, D = p->aev_length, nR = p->n_rad, nA = p->n_ang, nZ = p->n_zeta;
  const int blk = p->angular_block;
  const double rcr = p->rc_rad;

  for (int i = 0; i < n; i++) {
    for (int j = i + 1; j < n; j++) {
      double u[3] = {pos[3 * i] - pos[3 * j], pos[3 * i + 1] - pos[3 * j + 1], pos[3 * i + 2] - pos[3 * j + 2]};
      double r2 = u[0] * u[0] + u[1] * u[1] + u[2] * u[2];
      if (r2 > rcr * rcr) continue;
      double r = sqrt(r2);
      if (r > rcr) continue;
      double fc = cutoff_value(r, rcr), dfc = cutoff_deriv(r, rcr);
      const double *gi = daev + (size_t)i * D + species[j] * nR;
      const double *gj = daev + (size_t)j * D + species[i] * nR;
      double dt[ANI_MAX_SHELLS]; /* dt_k/dr; separate loop so the exps vectorise */
      for (int k = 0; k < nR; k++) {
        double d = r - p->shf_r[k];
        dt[k] = 0.25 * elign_fast_exp(-p->eta_r * d * d) * (-2.0 * p->eta_r * d * fc + dfc);
      }
      double w = 0.0;
      for (int k = 0; k < nR; k++) w += (gi[k] + gj[k]) * dt[k];
      w /= r;
      for (int x = 0; x < 3; x++) {
        dpos[3 * i + x] += w * u[x];
        dpos[3 * j + x] -= w * u[x];
      }
    }
  }

  ang_neighbor nb_stack[256];
  ang_neighbor *nb = n <= 256 ? nb_stack : elign_malloc((size_t)n * sizeof *nb, "ani:aev_nb");
  triple_terms t;
  const double zeta = p->zeta, eta_a = p->eta_a;
  double local[4 * ANI_MAX_SHELLS];
  for (int c = 0; c < n; c++) {
    int nn = angular_neighbors(nb, p, n, species, pos, c);
    const double *gc = daev + (size_t)c * D + p->radial_length;
    for (int ia = 0; ia < nn; ia++) {
      for (int ib = ia + 1; ib < nn; ib++) {
        const ang_neighbor *a = &nb[ia], *b = &nb[ib];
        const double *tv; /* A[nZ], dA[nZ], B[nA], dB[nA] of this triple */
        double cos_t;
        if (cache) {
          tv = cache;
          cache += 2 * (nZ + nA);
          double denom = a->r * b->r;
          cos_t = (a->v[0] * b->v[0] + a->v[1] * b->v[1] + a->v[2] * b->v[2]) / (denom < 1e-10 ? 1e-10 : denom);
        } else {
          triple_compute(&t, p, a, b);
          for (int q = 0; q < nZ; q++) {
            local[q] = t.A[q];
            local[nZ + q] = zeta * t.A[q] / t.base[q] * (-0.5 * t.sin_d[q]);
          }
          for (int k = 0; k < nA; k++) {
            local[2 * nZ + k] = t.B[k];
            local[2 * nZ + nA + k] = -eta_a * t.rbar_minus[k] * t.B[k];
          }
          tv = local;
          cos_t = t.cos_t;
        }
        const double *A = tv, *dA = tv + nZ, *Bv = tv + 2 * nZ, *dB = tv + 2 * nZ + nA;
        const double *W = gc + species_pair(a->s, b->s, S) * blk;
        /* contractions over (p, q) */
        double s_dA = 0.0, s_dB = 0.0, s_0 = 0.0;
        for (int k = 0; k < nA; k++) {
          double wa = 0.0, wda = 0.0;
          for (int q = 0; q < nZ; q++) {
            wa += W[k * nZ + q] * A[q];
            wda += W[k * nZ + q] * dA[q];
          }
          s_0 += wa * Bv[k];
          s_dA += wda * Bv[k];
          s_dB += wa * dB[k];
        }
        double C = a->fc * b->fc;
        double cp = 0.95 * cos_t;
        double dtheta_dcos = -0.95 / sqrt(1.0 - cp * cp);
        double dE_dcos = 2.0 * C * s_dA * dtheta_dcos;
        double dE_dr1 = 2.0 * (s_dB * C + s_0 * a->dfc * b->fc);
        double dE_dr2 = 2.0 * (s_dB * C + s_0 * a->fc * b->dfc);
        double r1 = a->r, r2 = b->r, inv12 = 1.0 / (r1 * r2);
        double g1[3], g2[3];
        for (int x = 0; x < 3; x++) {
          double dcos_dv1 = b->v[x] * inv12 - cos_t * a->v[x] / (r1 * r1);
          double dcos_dv2 = a->v[x] * inv12 - cos_t * b->v[x] / (r2 * r2);
          g1[x] = dE_dcos * dcos_dv1 + dE_dr1 * a->v[x] / r1;
          g2[x] = dE_dcos * dcos_dv2 + dE_dr2 * b->v[x] / r2;
          dpos[3 * a->j + x] += g1[x];
          dpos[3 * b->j + x] += g2[x];
          dpos[3 * c + x] -= g1[x] + g2[x];
        }
      }
    }
  }
  if (nb != nb_stack) elign_free(nb);
}
