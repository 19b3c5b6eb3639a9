/* test_egnn_layers.c — each EGNN layer alone against central finite
 * differences (double build: built only as test_egnn_layers_dbl, with the
 * double copy of egnn.c; float FD at this size says nothing).
 *
 * For every layer: L = Σ W ⊙ output with random W; every entry of every
 * input and parameter is perturbed (sizes are tiny: 2 molecules of 3 and 4
 * atoms, 18 edges, F = 5). Layers: separable first edge layer + SiLU,
 * linear (the F×F edge layers, embedding, output), attention gate +
 * aggregation, node MLP with residual, coordinate update (with r = ‖x_i − x_j‖²
 * recomputed from x, so the geometric chain is included). The whole network
 * and the dynamics wrapper are checked in test_egnn_grad.c.
 * The edge-range forms the block forward runs in chunks must equal the
 * whole-range layers bit for bit for any split of the edges, rows spanning
 * two ranges and atoms without edges included (test_ranges).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/egnn_layers.h"
#include "tests/testutil.h"

typedef elign_real real;

static uint64_t rs = 77;
static double nrand(void) {
  double u[2];
  for (int k = 0; k < 2; k++) {
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    u[k] = (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  }
  return sqrt(-2 * log(1 - u[0])) * cos(6.283185307179586 * u[1]);
}
static real *rnd(size_t n, double scale) {
  real *v = malloc(n * sizeof(real));
  for (size_t k = 0; k < n; k++) v[k] = (real)(scale * nrand());
  return v;
}
static real *zeros(size_t n) { return calloc(n, sizeof(real)); }

enum { F = 5, NMOL = 2 };
static const int64_t OFF[NMOL + 1] = {0, 3, 7};
static egnn_graph G;
static int64_t EOFF[NMOL + 1];
static int32_t MOL[7];
static int64_t N, E;
static real ones[64];

/* ---- generic checker ---------------------------------------------------- */

typedef double (*loss_fn)(void);
typedef struct {
  const char *name;
  real *v, *grad; /* array and its analytic gradient */
  size_t n;
} checked;

static void check_layer(const char *layer, loss_fn loss, checked *c, int nc) {
  double worst = 0;
  for (int a = 0; a < nc; a++) {
    int bad = 0;
    for (size_t k = 0; k < c[a].n; k++) {
      real old = c[a].v[k];
      double h = 1e-6 * (fabs(old) > 1 ? fabs(old) : 1);
      c[a].v[k] = (real)(old + h);
      double lp = loss();
      c[a].v[k] = (real)(old - h);
      double lm = loss();
      c[a].v[k] = old;
      double num = (lp - lm) / (2 * h), an = c[a].grad[k];
      double err = fabs(an - num) / (fabs(num) + fabs(an) + 1e-6);
      if (err > worst) worst = err;
      if (!(fabs(an - num) <= 1e-8 + 1e-6 * fmax(fabs(an), fabs(num))) && bad++ < 3)
        fprintf(stderr, "  %s d%s[%zu]: analytic %.12g fd %.12g\n", layer, c[a].name, k, an, num);
    }
    char what[128];
    snprintf(what, sizeof what, "%s: d%s", layer, c[a].name);
    test_check(bad == 0, __FILE__, __LINE__, what);
  }
  printf("%-34s max rel err %.2e\n", layer, worst);
}

static double wsum(const real *w, const real *y, size_t n) {
  double s = 0;
  for (size_t k = 0; k < n; k++) s += (double)w[k] * y[k];
  return s;
}

/* dZsum (N,F) of the attention / coordinate backward: each atom's Σ_j dZ_ij
 * (the edge layer's bias gradient is their sum). */
static int row_sums_match(const real *zs, const real *dZ) {
  for (int64_t i = 0; i < N; i++) {
    int64_t n = OFF[MOL[i] + 1] - OFF[MOL[i]], e0 = EOFF[MOL[i]] + (i - OFF[MOL[i]]) * (n - 1);
    for (int o = 0; o < F; o++) {
      double s = 0;
      for (int64_t k = 0; k < n - 1; k++) s += dZ[(size_t)F * (e0 + k) + o];
      if (fabs(s - zs[(size_t)F * i + o]) > 1e-12 * (1 + fabs(s))) return 0;
    }
  }
  return 1;
}

/* ---- separable first edge layer + SiLU ---------------------------------- */

static real *ei_h, *ei_r, *ei_d0, *ei_W1, *ei_b1, *ei_Z, *ei_S, *ei_P, *ei_w;
static double edge_in_loss(void) {
  egnn_edge_in_forward(ei_Z, ei_S, ei_P, &G, ei_h, ei_r, ei_d0, ei_W1, ei_b1, F);
  return wsum(ei_w, ei_S, (size_t)(E * F));
}
static void test_edge_in(void) {
  ei_h = rnd((size_t)(N * F), 1), ei_r = rnd((size_t)E, 1), ei_d0 = rnd((size_t)E, 1);
  ei_W1 = rnd((size_t)F * (2 * F + 2), 0.5), ei_b1 = rnd(F, 0.5), ei_w = rnd((size_t)(E * F), 1);
  ei_Z = zeros((size_t)(E * F)), ei_S = zeros((size_t)(E * F)), ei_P = zeros((size_t)(N * 2 * F));
  real *dh = zeros((size_t)(N * F)), *dr = zeros((size_t)E), *dd0 = zeros((size_t)E);
  real *dW1 = zeros((size_t)F * (2 * F + 2)), *db1 = zeros(F), *dS = zeros((size_t)(E * F)), *dAB = zeros((size_t)(N * 2 * F));
  edge_in_loss();
  memcpy(dS, ei_w, (size_t)(E * F) * sizeof(real));
  real *dRD = zeros((size_t)(N * 2 * F));
  egnn_edge_in_backward(dW1, db1, dh, dr, dd0, dS, dAB, dRD, &G, ei_Z, ei_h, ei_r, ei_d0, ei_W1, F);
  checked c[] = {{"h", ei_h, dh, (size_t)(N * F)}, {"r", ei_r, dr, (size_t)E}, {"d0", ei_d0, dd0, (size_t)E},
                 {"W1", ei_W1, dW1, (size_t)F * (2 * F + 2)}, {"b1", ei_b1, db1, F}};
  check_layer("edge MLP layer 1 (separable)+SiLU", edge_in_loss, c, 5);
}

/* ---- linear ---------------------------------------------------------------- */

enum { LIN_IN = 4, LIN_OUT = 3 };
static real *li_X, *li_W, *li_b, *li_Z, *li_w;
static double linear_loss(void) {
  egnn_linear_forward(li_Z, li_X, li_W, li_b, E, LIN_IN, LIN_OUT);
  return wsum(li_w, li_Z, (size_t)(E * LIN_OUT));
}
static void test_linear(void) {
  li_X = rnd((size_t)(E * LIN_IN), 1), li_W = rnd(LIN_OUT * LIN_IN, 1), li_b = rnd(LIN_OUT, 1);
  li_w = rnd((size_t)(E * LIN_OUT), 1), li_Z = zeros((size_t)(E * LIN_OUT));
  real *dX = zeros((size_t)(E * LIN_IN)), *dW = zeros(LIN_OUT * LIN_IN), *db = zeros(LIN_OUT);
  linear_loss();
  egnn_linear_backward(dX, dW, db, li_w, li_X, li_W, ones, E, LIN_IN, LIN_OUT);
  checked c[] = {{"X", li_X, dX, (size_t)(E * LIN_IN)}, {"W", li_W, dW, LIN_OUT * LIN_IN}, {"b", li_b, db, LIN_OUT}};
  check_layer("linear (edge F×F, embedding, output)", linear_loss, c, 3);
}

/* ---- attention + aggregation --------------------------------------------- */

static real *at_Z2, *at_wa, *at_ba, *at_g, *at_agg, *at_w;
static const real AT_INV_NF = (real)(1 / 1.7);
static double attention_loss(void) {
  egnn_attention_aggregate_forward(at_g, at_agg, &G, at_Z2, at_wa, at_ba, 1, AT_INV_NF, F);
  return wsum(at_w, at_agg, (size_t)(N * F));
}
static void test_attention(void) {
  at_Z2 = rnd((size_t)(E * F), 1.5), at_wa = rnd(F, 1), at_ba = rnd(1, 1), at_w = rnd((size_t)(N * F), 1);
  at_g = zeros((size_t)E), at_agg = zeros((size_t)(N * F));
  real *dZ2 = zeros((size_t)(E * F)), *dwa = zeros(F), *dba = zeros(1), *M = zeros((size_t)(E * F)), *da = zeros((size_t)E);
  attention_loss();
  real *zs = zeros((size_t)(N * F));
  egnn_attention_aggregate_backward(dZ2, zs, dwa, dba, M, da, at_w, &G, at_Z2, at_g, at_wa, 1, AT_INV_NF, F);
  CHECK(row_sums_match(zs, dZ2));
  checked c[] = {{"Z2", at_Z2, dZ2, (size_t)(E * F)}, {"w_att", at_wa, dwa, F}, {"b_att", at_ba, dba, 1}};
  check_layer("SiLU + attention gate + aggregation", attention_loss, c, 3);
}

/* ---- node MLP ------------------------------------------------------------ */

static real *nm_h, *nm_agg, *nm_W3, *nm_b3, *nm_W4, *nm_b4, *nm_Z3, *nm_hm, *nm_S3, *nm_w;
static double node_loss(void) {
  egnn_node_mlp_forward(nm_Z3, nm_hm, nm_S3, nm_h, nm_agg, nm_W3, nm_b3, nm_W4, nm_b4, N, F);
  return wsum(nm_w, nm_hm, (size_t)(N * F));
}
static void test_node_mlp(void) {
  nm_h = rnd((size_t)(N * F), 1), nm_agg = rnd((size_t)(N * F), 1), nm_W3 = rnd(F * 2 * F, 0.6), nm_b3 = rnd(F, 0.5);
  nm_W4 = rnd(F * F, 0.6), nm_b4 = rnd(F, 0.5), nm_w = rnd((size_t)(N * F), 1);
  nm_Z3 = zeros((size_t)(N * F)), nm_hm = zeros((size_t)(N * F)), nm_S3 = zeros((size_t)(N * F));
  real *dh = zeros((size_t)(N * F)), *dagg = zeros((size_t)(N * F)), *dW3 = zeros(F * 2 * F), *db3 = zeros(F);
  real *dW4 = zeros(F * F), *db4 = zeros(F), *S3 = zeros((size_t)(N * F)), *dZ3 = zeros((size_t)(N * F));
  node_loss();
  egnn_node_mlp_backward(dh, dagg, dW3, db3, dW4, db4, S3, dZ3, nm_w, nm_h, nm_agg, nm_Z3, nm_W3, nm_W4, ones, N, F);
  checked c[] = {{"h", nm_h, dh, (size_t)(N * F)}, {"agg", nm_agg, dagg, (size_t)(N * F)}, {"W3", nm_W3, dW3, F * 2 * F},
                 {"b3", nm_b3, db3, F}, {"W4", nm_W4, dW4, F * F}, {"b4", nm_b4, db4, F}};
  check_layer("node MLP (residual)", node_loss, c, 6);
}

/* ---- coordinate update (r recomputed from x) ----------------------------- */

static real *cu_Z6, *cu_w7, *cu_x, *cu_r, *cu_c, *cu_xo, *cu_w;
static int cu_tanh;
static const real CU_COEF = (real)(15.0 / 1.3), CU_KAPPA = 1;
static double coord_loss(void) {
  egnn_edge_sqdist(cu_r, &G, cu_x);
  egnn_coord_update_forward(cu_c, cu_xo, &G, cu_Z6, cu_w7, cu_x, cu_r, cu_tanh, CU_COEF, CU_KAPPA, F);
  return wsum(cu_w, cu_xo, (size_t)(N * 3));
}
static void test_coord(int use_tanh) {
  cu_tanh = use_tanh;
  cu_Z6 = rnd((size_t)(E * F), 1), cu_w7 = rnd(F, 0.3), cu_x = rnd((size_t)(N * 3), 1.2), cu_w = rnd((size_t)(N * 3), 1);
  cu_r = zeros((size_t)E), cu_c = zeros((size_t)E), cu_xo = zeros((size_t)(N * 3));
  real *dZ6 = zeros((size_t)(E * F)), *dd = zeros((size_t)(E * 3)), *dw7 = zeros(F), *M = zeros((size_t)(E * F));
  real *dc = zeros((size_t)E), *dx = zeros((size_t)(N * 3));
  coord_loss();
  real *zs = zeros((size_t)(N * F));
  egnn_coord_update_backward(dZ6, zs, dd, dw7, M, dc, cu_w, &G, cu_Z6, cu_w7, cu_c, cu_x, cu_r, cu_tanh, CU_COEF,
                             CU_KAPPA, F);
  CHECK(row_sums_match(zs, dZ6));
  memcpy(dx, cu_w, (size_t)(N * 3) * sizeof(real)); /* identity path x_out = x + … */
  egnn_edge_diff_scatter(dx, &G, dd);
  checked c[] = {{"Z6", cu_Z6, dZ6, (size_t)(E * F)}, {"w7", cu_w7, dw7, F}, {"x", cu_x, dx, (size_t)(N * 3)}};
  check_layer(use_tanh ? "coordinate update (tanh)" : "coordinate update (linear)", coord_loss, c, 3);
}

/* ---- edge ranges: any split of the edges gives the whole-range bits ------- */

static void test_ranges(void) {
  enum { RN = 8, RM = 3 };
  static const int64_t roff[RM + 1] = {0, 3, 4, 8}; /* the middle molecule has 1 atom: no edges */
  int64_t reoff[RM + 1];
  int32_t rmol[RN];
  egnn_graph g;
  egnn_graph_init(&g, RM, roff, reoff, rmol);
  int64_t RE = g.E, bad_atom = 0;
  CHECK(RE == 6 + 12);
  for (int64_t i = 0; i < RN; i++) /* receiver of every edge */
    for (int64_t e = reoff[rmol[i]] + (i - roff[rmol[i]]) * (roff[rmol[i] + 1] - roff[rmol[i]] - 1), k = 0;
         k < roff[rmol[i] + 1] - roff[rmol[i]] - 1; k++)
      bad_atom += egnn_graph_edge_atom(&g, e + k) != i;
  CHECK(bad_atom == 0);
  real *h = rnd(RN * F, 1), *x = rnd(RN * 3, 1), *W1 = rnd(F * (2 * F + 2), 0.5), *b1 = rnd(F, 0.5);
  real *w = rnd(F, 0.5), *b = rnd(1, 0.5), *r = zeros(RE), *d0 = rnd(RE, 1), *P = zeros(RN * 2 * F);
  egnn_edge_sqdist(r, &g, x);
  /* whole range */
  real *Z = zeros(RE * F), *S = zeros(RE * F), *gw = zeros(RE), *agg = zeros(RN * F), *c = zeros(RE);
  real *xo = zeros(RN * 3);
  egnn_edge_in_forward(Z, S, P, &g, h, r, d0, W1, b1, F);
  egnn_attention_aggregate_forward(gw, agg, &g, S, w, b, 1, 1, F);
  egnn_coord_update_forward(c, xo, &g, S, w, x, r, 1, 1, 1, F);
  /* every two- and three-way split */
  int mismatches = 0;
  for (int64_t s1 = 1; s1 < RE; s1++)
    for (int64_t s2 = s1; s2 <= RE; s2++) {
      const int64_t cut[4] = {0, s1, s2, RE};
      real *Zr = zeros(RE * F), *Sr = zeros(RE * F), *gr = zeros(RE), *ar = zeros(RN * F), *cr = zeros(RE);
      real *acc = zeros(RN * 3);
      egnn_edge_in_project(P, &g, h, W1, F);
      for (int q = 0; q < 3; q++) {
        int64_t e0 = cut[q], e1 = cut[q + 1];
        egnn_edge_in_forward_range(Zr + e0 * F, Sr + e0 * F, &g, P, r, d0, W1, b1, F, e0, e1);
        egnn_attention_aggregate_forward_range(gr, ar, &g, Sr + e0 * F, w, b, 1, F, e0, e1);
        egnn_coord_update_forward_range(cr, acc, &g, Sr + e0 * F, w, x, r, 1, 1, F, e0, e1);
      }
      int same = !memcmp(Z, Zr, sizeof(real) * RE * F) && !memcmp(S, Sr, sizeof(real) * RE * F) &&
                 !memcmp(gw, gr, sizeof(real) * RE) && !memcmp(agg, ar, sizeof(real) * RN * F) &&
                 !memcmp(c, cr, sizeof(real) * RE);
      for (int k = 0; k < RN * 3; k++) same &= xo[k] == x[k] + acc[k]; /* coef 1 */
      mismatches += !same;
      free(Zr), free(Sr), free(gr), free(ar), free(cr), free(acc);
    }
  CHECK(mismatches == 0);
  printf("%-34s %lld splits, bitwise equal\n", "edge ranges", (long long)(RE * (RE + 1) / 2 - 1));
}

int main(void) {
  egnn_graph_init(&G, NMOL, OFF, EOFF, MOL);
  N = G.N;
  E = G.E;
  CHECK(N == 7 && E == 3 * 2 + 4 * 3);
  for (int k = 0; k < 64; k++) ones[k] = 1;
  test_edge_in();
  test_linear();
  test_attention();
  test_node_mlp();
  test_coord(1);
  test_coord(0);
  test_ranges();
  return test_main_result("test_egnn_layers_dbl"); /* test arrays are left to the OS */
}
