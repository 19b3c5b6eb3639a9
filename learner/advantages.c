/* advantages.c — group-relative, two-channel advantages (ALGORITHMS.md §4.8). */
#include "learner/advantages.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void grpo_group_normalize(double *out, const double *r, int64_t n, int64_t stride) {
  int all_equal = 1;
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) {
    sum += r[i * stride];
    if (r[i * stride] != r[0]) all_equal = 0;
  }
  /* A constant channel carries no signal. Exactly 0 here: the public code's
   * (r − mean)/(0 + 1e−8) turns the rounding error of the mean into
   * advantages of up to ±clip (deviation D3). */
  if (all_equal) {
    for (int64_t i = 0; i < n; i++) out[i * stride] = 0.0;
    return;
  }
  double mean = sum / (double)n, var = 0.0;
  for (int64_t i = 0; i < n; i++) var += (r[i * stride] - mean) * (r[i * stride] - mean);
  double denom = sqrt(var / (double)n) + 1e-8;
  for (int64_t i = 0; i < n; i++) out[i * stride] = (r[i * stride] - mean) / denom;
}

/* ---- groups ------------------------------------------------------------------ */

typedef struct {
  int n;               /* groups */
  int64_t *members;    /* batch indices, group by group, ascending within a group */
  int64_t *start;      /* [n + 1] group g = members[start[g] .. start[g+1]) */
} group_list;

typedef struct {
  int32_t group;
  int64_t index;
} group_entry;

static int by_group_then_index(const void *a, const void *b) {
  const group_entry *x = a, *y = b;
  if (x->group != y->group) return (x->group > y->group) - (x->group < y->group);
  return (x->index > y->index) - (x->index < y->index);
}

static void groups_build(group_list *g, const int32_t *group_index, int64_t n) {
  size_t nn = (size_t)(n > 0 ? n : 1);
  group_entry *e = elign_malloc(nn * sizeof *e, "grpo:groups.sort");
  for (int64_t b = 0; b < n; b++) e[b] = (group_entry){group_index[b], b};
  qsort(e, (size_t)n, sizeof *e, by_group_then_index);
  g->members = elign_malloc(nn * sizeof(int64_t), "grpo:groups.members");
  g->start = elign_malloc((nn + 1) * sizeof(int64_t), "grpo:groups.start");
  g->n = 0;
  for (int64_t i = 0; i < n; i++) {
    if (i == 0 || e[i].group != e[i - 1].group) g->start[g->n++] = i;
    g->members[i] = e[i].index;
  }
  g->start[g->n] = n;
  free(e);
}

static void groups_free(group_list *g) {
  elign_free(g->members);
  elign_free(g->start);
}

/* out[b, k] = norm over each group of column k of mat (n_mol, cols), for
 * every column (cols = 1: a per-molecule scalar). */
static void normalize_per_group(double *out, const double *mat, int cols, const group_list *g) {
  int64_t max_n = 0;
  for (int i = 0; i < g->n; i++)
    if (g->start[i + 1] - g->start[i] > max_n) max_n = g->start[i + 1] - g->start[i];
  double *in = elign_malloc(sizeof(double) * (size_t)(max_n > 0 ? max_n : 1), "grpo:normalize.in");
  double *res = elign_malloc(sizeof(double) * (size_t)(max_n > 0 ? max_n : 1), "grpo:normalize.out");
  for (int i = 0; i < g->n; i++) {
    const int64_t *m = g->members + g->start[i];
    int64_t gn = g->start[i + 1] - g->start[i];
    for (int k = 0; k < cols; k++) {
      for (int64_t j = 0; j < gn; j++) in[j] = mat[m[j] * cols + k];
      grpo_group_normalize(res, in, gn, 1);
      for (int64_t j = 0; j < gn; j++) out[m[j] * cols + k] = res[j];
    }
  }
  free(in);
  free(res);
}

/* ---- the three paths ------------------------------------------------------- */

/* The first T columns of an (n, S) trace, with columns ≥ T added into T − 1
 * (the decode frame's terminal reward belongs to the last transition). */
static double *fold_trace(const double *trace, int64_t n, int S, int T) {
  double *out = elign_malloc(sizeof(double) * (size_t)(n > 0 ? n : 1) * (size_t)T, "grpo:advantages.fold");
  for (int64_t b = 0; b < n; b++) {
    memcpy(out + b * T, trace + b * S, sizeof(double) * (size_t)T);
    for (int k = T; k < S; k++) out[b * T + T - 1] += trace[b * S + k];
  }
  return out;
}

/* §4.8.1: the energy return-to-go G_E (n, T). */
static double *pbrs_returns(const grpo_reward_batch *rb, int T, const int *timesteps, const grpo_schedule *sch,
                            double gamma) {
  int64_t n = rb->n_mol;
  int S = rb->S;
  double *G = elign_calloc((size_t)(n > 0 ? n : 1) * (size_t)T, sizeof(double), "grpo:advantages.returns");
  uint8_t *scheduled = elign_calloc((size_t)T, 1, "grpo:advantages.scheduled");
  if (sch && sch->n > 0) {
    for (int j = 0; j < sch->n; j++)
      if (sch->indices[j] >= 0 && sch->indices[j] < T) scheduled[sch->indices[j]] = 1;
  } else { /* no schedule: the columns where some potential is non-zero */
    for (int k = 0; k < T; k++)
      for (int64_t b = 0; b < n; b++)
        if (fabs(rb->energy_rewards_ts[b * S + k]) > 1e-12) scheduled[k] = 1;
  }
  for (int k = 0; k < T; k++) {
    if (!scheduled[k]) continue;
    double g = pow(gamma, (double)(timesteps[k] + 1)); /* γ^t with t = s + 1, the from-time */
    for (int64_t b = 0; b < n; b++) G[b * T + k] = g * rb->energy_rewards[b] - rb->energy_rewards_ts[b * S + k];
  }
  free(scheduled);
  return G;
}

static double clampd(double x, double c) { return x < -c ? -c : (x > c ? c : x); }

elign_status grpo_advantages_compute(grpo_advantages *out, const grpo_reward_batch *rb, int T, const int *timesteps,
                                     const grpo_schedule *sch, const grpo_settings *s, elign_error *err) {
  memset(out, 0, sizeof *out);
  int64_t n = rb->n_mol;
  double wF = grpo_force_adv_weight(s), wE = grpo_energy_adv_weight(s);
  double clip = grpo_advantage_clip(s);
  double twA = s->reward.shaping.terminal_weight;

  if (s->reward.shaping.mode == GRPO_SHAPING_PBRS_RETURN_TO_GO && rb->has_energy_ts)
    out->path = GRPO_ADV_PBRS;
  else if (rb->has_rewards_ts)
    out->path = GRPO_ADV_DELTA;
  else
    out->path = GRPO_ADV_TERMINAL;
  if (out->path != GRPO_ADV_TERMINAL) {
    if (T < 1 || rb->S != T + 1)
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo advantages: per-step rewards have %d columns, expected T + 1 = %d",
                        rb->S, T + 1);
    if (out->path == GRPO_ADV_PBRS && !timesteps)
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo advantages: the PBRS path needs the frame timesteps");
  }
  int cols = out->path == GRPO_ADV_TERMINAL ? 1 : T;
  size_t nn = (size_t)(n > 0 ? n : 1);
  out->n_mol = n;
  out->cols = cols;
  out->adv = elign_calloc(nn * (size_t)cols, sizeof(double), "grpo:advantages");
  out->adv_sum = elign_calloc(nn, sizeof(double), "grpo:advantages.sum");

  group_list g;
  groups_build(&g, rb->group_index, n);
  out->n_groups = g.n;
  double *aF = elign_calloc(nn * (size_t)cols, sizeof(double), "grpo:advantages.force");
  double *aE = elign_calloc(nn * (size_t)cols, sizeof(double), "grpo:advantages.energy");

  if (out->path == GRPO_ADV_PBRS) {
    double *fscalar = elign_calloc(nn, sizeof(double), "grpo:advantages.fscalar");
    normalize_per_group(fscalar, rb->force_rewards, 1, &g);
    for (int64_t b = 0; b < n; b++)
      for (int k = 0; k < T; k++) aF[b * T + k] = fscalar[b];
    free(fscalar);
    double *G = pbrs_returns(rb, T, timesteps, sch, s->reward.shaping.gamma);
    normalize_per_group(aE, G, T, &g);
    free(G);
  } else if (out->path == GRPO_ADV_DELTA) {
    if (rb->has_force_ts && rb->has_energy_ts) {
      double *Fts = fold_trace(rb->force_rewards_ts, n, rb->S, T);
      double *Ets = fold_trace(rb->energy_rewards_ts, n, rb->S, T);
      normalize_per_group(aF, Fts, T, &g);
      normalize_per_group(aE, Ets, T, &g);
      free(Fts);
      free(Ets);
    } else { /* only the combined trace: its normalisation is the whole advantage */
      double *Rts = fold_trace(rb->rewards_ts, n, rb->S, T);
      normalize_per_group(aF, Rts, T, &g);
      free(Rts);
      wF = 1.0;
      wE = 0.0;
    }
  } else {
    normalize_per_group(aF, rb->force_rewards, 1, &g);
    normalize_per_group(aE, rb->energy_rewards, 1, &g);
  }

  for (int64_t b = 0; b < n; b++) {
    double sum = 0.0;
    for (int k = 0; k < cols; k++) {
      double a = wF * aF[b * cols + k] + wE * aE[b * cols + k];
      if (cols > 1 && k == cols - 1 && twA != 1.0) a *= twA; /* the trainer's terminal emphasis */
      a = clampd(a, clip);
      out->adv[b * cols + k] = a;
      sum += a;
    }
    out->adv_sum[b] = clampd(sum, clip);
  }

  for (int i = 0; i < g.n; i++) {
    int zero = 1;
    for (int64_t j = g.start[i]; j < g.start[i + 1] && zero; j++)
      for (int k = 0; k < cols; k++)
        if (out->adv[g.members[j] * cols + k] != 0.0) {
          zero = 0;
          break;
        }
    out->n_zero_signal += zero;
    out->n_zero_single += zero && g.start[i + 1] - g.start[i] == 1;
  }
  free(aF);
  free(aE);
  groups_free(&g);
  return ELIGN_OK;
}

/* ---- [Elign-C] D10: advantages blind to the element mix ---------------------- */

/* Solve (A + ridge·I) x = b in place (b becomes x) for a small symmetric
 * positive semi-definite A (E × E, row-major, overwritten by its Cholesky
 * factor). The ridge keeps a singular A solvable: within a group every
 * molecule has the same atom count, so the centred counts always sum to 0. */
static void solve_ridge(double *A, double *b, int E, double ridge) {
  for (int i = 0; i < E; i++) A[i * E + i] += ridge;
  for (int j = 0; j < E; j++) {
    double d = A[j * E + j];
    for (int k = 0; k < j; k++) d -= A[j * E + k] * A[j * E + k];
    A[j * E + j] = sqrt(d > 0 ? d : ridge);
    for (int i = j + 1; i < E; i++) {
      double v = A[i * E + j];
      for (int k = 0; k < j; k++) v -= A[i * E + k] * A[j * E + k];
      A[i * E + j] = v / A[j * E + j];
    }
  }
  for (int i = 0; i < E; i++) { /* L y = b */
    for (int k = 0; k < i; k++) b[i] -= A[i * E + k] * b[k];
    b[i] /= A[i * E + i];
  }
  for (int i = E - 1; i >= 0; i--) { /* Lᵀ x = y */
    for (int k = i + 1; k < E; k++) b[i] -= A[k * E + i] * b[k];
    b[i] /= A[i * E + i];
  }
}

/* counts (n, E) minus each group's mean, into X. */
static void centre_per_group(double *X, const double *counts, int E, const group_list *g) {
  for (int i = 0; i < g->n; i++) {
    const int64_t *m = g->members + g->start[i];
    int64_t gn = g->start[i + 1] - g->start[i];
    for (int e = 0; e < E; e++) {
      double mean = 0;
      for (int64_t j = 0; j < gn; j++) mean += counts[m[j] * E + e];
      mean /= (double)gn;
      for (int64_t j = 0; j < gn; j++) X[m[j] * E + e] = counts[m[j] * E + e] - mean;
    }
  }
}

double grpo_advantages_composition_neutral(grpo_advantages *a, const int32_t *group_index, const double *counts,
                                           int E, double clip) {
  int64_t n = a->n_mol;
  if (n == 0 || E == 0) return 0.0;
  int cols = a->cols;
  group_list g;
  groups_build(&g, group_index, n);
  double *X = elign_malloc(sizeof(double) * (size_t)n * (size_t)E, "grpo:neutral.X");
  centre_per_group(X, counts, E, &g);
  double *XtX = elign_calloc((size_t)E * (size_t)E, sizeof(double), "grpo:neutral.XtX");
  double *A = elign_malloc(sizeof(double) * (size_t)E * (size_t)E, "grpo:neutral.chol");
  double *beta = elign_malloc(sizeof(double) * (size_t)E, "grpo:neutral.beta");
  double trace = 0;
  for (int64_t b = 0; b < n; b++)
    for (int i = 0; i < E; i++)
      for (int j = 0; j < E; j++) XtX[i * E + j] += X[b * E + i] * X[b * E + j];
  for (int i = 0; i < E; i++) trace += XtX[i * E + i];
  double ridge = 1e-9 * (trace > 0 ? trace / E : 1.0), total = 0, removed = 0;
  for (int k = 0; k < cols; k++) {
    memset(beta, 0, sizeof(double) * (size_t)E);
    for (int64_t b = 0; b < n; b++) {
      double y = a->adv[b * cols + k];
      total += y * y;
      for (int e = 0; e < E; e++) beta[e] += X[b * E + e] * y;
    }
    memcpy(A, XtX, sizeof(double) * (size_t)E * (size_t)E);
    solve_ridge(A, beta, E, ridge);
    for (int64_t b = 0; b < n; b++) {
      double fit = 0;
      for (int e = 0; e < E; e++) fit += X[b * E + e] * beta[e];
      removed += fit * fit;
      a->adv[b * cols + k] = clampd(a->adv[b * cols + k] - fit, clip);
    }
  }
  for (int64_t b = 0; b < n; b++) {
    double sum = 0;
    for (int k = 0; k < cols; k++) sum += a->adv[b * cols + k];
    a->adv_sum[b] = clampd(sum, clip);
  }
  free(X);
  free(XtX);
  free(A);
  free(beta);
  groups_free(&g);
  return total > 0 ? removed / total : 0.0;
}

void grpo_advantages_free(grpo_advantages *a) {
  if (!a) return;
  elign_free(a->adv);
  elign_free(a->adv_sum);
  a->n_mol = 0;
}
