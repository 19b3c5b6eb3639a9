/* ks_test.c — the two-sample Kolmogorov–Smirnov test (ks_test.h). */
#include "learner/ks_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/error.h"

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static double *sorted_copy(const double *v, int64_t n) {
  double *s = elign_malloc((size_t)(n > 0 ? n : 1) * sizeof *s, "ks:sorted");
  if (n > 0) memcpy(s, v, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  return s;
}

/* D·n·m = max over x of |i(x)·m − j(x)·n|, i(x), j(x) the counts <= x. Walking
 * the merged order and evaluating only after a run of equal values keeps
 * ties from counting as a difference. */
static int64_t statistic_nm(const double *a, int64_t n, const double *b, int64_t m) {
  int64_t i = 0, j = 0, best = 0;
  while (i < n || j < m) {
    double x = i < n && (j >= m || a[i] <= b[j]) ? a[i] : b[j];
    while (i < n && a[i] == x) i++;
    while (j < m && b[j] == x) j++;
    int64_t d = i * m - j * n;
    if (d < 0) d = -d;
    if (d > best) best = d;
  }
  return best;
}

double ks_exact_p(int64_t n, int64_t m, int64_t dnm) {
  if (n <= 0 || m <= 0) return NAN;
  if (dnm <= 0) return 1.0;
  /* w[j] holds w(i, j) for the current row i; a point is inside when |i·m − j·n| < dnm */
  double *w = elign_malloc((size_t)(m + 1) * sizeof *w, "ks:w");
  w[0] = 1.0;
  for (int64_t j = 1; j <= m; j++) w[j] = (j * n < dnm) ? w[j - 1] * (double)j / (double)j : 0.0;
  for (int64_t i = 1; i <= n; i++) {
    int64_t d0 = i * m;
    w[0] = d0 < dnm ? w[0] * (double)i / (double)i : 0.0;
    for (int64_t j = 1; j <= m; j++) {
      int64_t d = i * m - j * n;
      if (d < 0) d = -d;
      if (d >= dnm) {
        w[j] = 0.0;
        continue;
      }
      double s = (double)(i + j);
      w[j] = w[j] * (double)i / s + w[j - 1] * (double)j / s;
    }
  }
  double inside = w[m];
  elign_free(w);
  double p = 1.0 - inside;
  return p < 0 ? 0.0 : p > 1 ? 1.0 : p;
}

double ks_kolmogorov_q(double lambda) {
  if (!(lambda > 0)) return 1.0;
  if (lambda < 0.2) return 1.0; /* the series converges badly there; Q(0.2) = 1 − 3e-12 */
  double sum = 0.0;
  for (int k = 1; k <= 200; k++) {
    double t = exp(-2.0 * k * k * lambda * lambda);
    sum += (k % 2 ? 1.0 : -1.0) * t;
    if (t < 1e-17) break;
  }
  double q = 2.0 * sum;
  return q < 0 ? 0.0 : q > 1 ? 1.0 : q;
}

ks_result ks_two_sample(const double *a, int64_t n, const double *b, int64_t m) {
  ks_result r = {.statistic = NAN, .p_value = NAN, .exact = 0, .n = n, .m = m};
  if (n <= 0 || m <= 0) return r;
  double *sa = sorted_copy(a, n), *sb = sorted_copy(b, m);
  int64_t dnm = statistic_nm(sa, n, sb, m);
  elign_free(sa);
  elign_free(sb);
  r.statistic = (double)dnm / ((double)n * (double)m);
  r.exact = (n > m ? n : m) <= KS_EXACT_MAX_N;
  if (r.exact)
    r.p_value = ks_exact_p(n, m, dnm);
  else
    r.p_value = ks_kolmogorov_q(r.statistic * sqrt((double)n * (double)m / (double)(n + m)));
  return r;
}
