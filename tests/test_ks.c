/* test_ks.c — the two-sample Kolmogorov–Smirnov test (learner/ks_test.h).
 *
 *   test_ks [PYTHON]
 *
 * 1. Hand-computed cases: the statistic with and without ties, and exact
 *    p-values counted on paper (C(4,2) = 6 and C(5,2) = 10 orderings).
 * 2. The exact p-value against enumeration of every ordering of the pooled
 *    sample (n + m <= 14), for every attainable D.
 * 3. The asymptotic branch: Q(λ) against its known values, and exact vs
 *    asymptotic for n = m = 400 (they approach each other).
 * 4. With PYTHON given and scipy importable there: D and p of eight data
 *    sets (sizes 3..10,001, ties included) against scipy.stats.ks_2samp;
 *    without scipy the comparison is skipped with a message.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learner/ks_test.h"
#include "testutil.h"

/* ---- 1. hand cases ---------------------------------------------------------------- */

static void hand_cases(void) {
  double a[] = {1, 2}, b[] = {3, 4};
  ks_result r = ks_two_sample(a, 2, b, 2);
  CHECK(r.statistic == 1.0);
  /* orderings of xxyy: only xxyy and yyxx reach D = 1 → 2/6 */
  CHECK_CLOSE(r.p_value, 1.0 / 3.0, 1e-15, 0);
  CHECK(r.exact == 1);
  double c[] = {1, 3}, d[] = {2, 4};
  r = ks_two_sample(c, 2, d, 2);
  CHECK(r.statistic == 0.5); /* xyxy: after x1 F_a = 1/2, F_b = 0 */
  CHECK_CLOSE(r.p_value, 1.0, 1e-15, 0); /* every ordering has D >= 1/2 */
  /* n = 2, m = 3, a below all of b: D = 1; orderings with D = 1: xxyyy, yyyxx → 2/10 */
  double e[] = {0, 0.5}, f[] = {1, 2, 3};
  r = ks_two_sample(e, 2, f, 3);
  CHECK(r.statistic == 1.0);
  CHECK_CLOSE(r.p_value, 0.2, 1e-15, 0);
  /* ties: identical samples give D = 0, p = 1 */
  double g[] = {1, 1, 2}, h[] = {2, 1, 1};
  r = ks_two_sample(g, 3, h, 3);
  CHECK(r.statistic == 0.0);
  CHECK(r.p_value == 1.0);
  /* a tie across the samples: a = {1, 2}, b = {2, 3}: after x = 1: 1/2 − 0; after 2: 1 − 1/2 → D = 1/2 */
  double t1[] = {1, 2}, t2[] = {2, 3};
  r = ks_two_sample(t1, 2, t2, 2);
  CHECK(r.statistic == 0.5);
  /* empty sample */
  r = ks_two_sample(a, 2, b, 0);
  CHECK(isnan(r.statistic) && isnan(r.p_value));
  /* symmetric in its arguments */
  double u[] = {0.1, 0.7, 0.3, 0.9, 0.5}, v[] = {0.2, 0.25, 0.6};
  ks_result r1 = ks_two_sample(u, 5, v, 3), r2 = ks_two_sample(v, 3, u, 5);
  CHECK(r1.statistic == r2.statistic && r1.p_value == r2.p_value);
}

/* ---- 2. enumeration ------------------------------------------------------------------ */

/* D·n·m of an ordering given as a bit mask (bit k set = position k holds an a-value). */
static long long ordering_dnm(unsigned mask, int n, int m) {
  long long i = 0, j = 0, best = 0;
  for (int k = 0; k < n + m; k++) {
    if (mask >> k & 1u)
      i++;
    else
      j++;
    long long d = i * m - j * n;
    if (d < 0) d = -d;
    if (d > best) best = d;
  }
  return best;
}

static void enumeration(void) {
  int cases = 0;
  double worst = 0;
  for (int n = 1; n <= 7; n++)
    for (int m = 1; m <= 7; m++) {
      int total = n + m;
      long long count_all = 0;
      long long *hist = calloc((size_t)n * m + 1, sizeof *hist);
      for (unsigned mask = 0; mask < 1u << total; mask++) {
        if (__builtin_popcount(mask) != n) continue;
        hist[ordering_dnm(mask, n, m)]++;
        count_all++;
      }
      long long at_least = 0;
      for (long long dnm = (long long)n * m; dnm >= 1; dnm--) {
        at_least += hist[dnm];
        if (!hist[dnm]) continue; /* only attainable values */
        double want = (double)at_least / (double)count_all, got = ks_exact_p(n, m, dnm);
        if (fabs(got - want) > worst) worst = fabs(got - want);
        CHECK_CLOSE(got, want, 1e-13, 0);
        cases++;
      }
      free(hist);
    }
  printf("enumeration: %d (n, m, D) cases with n, m <= 7, worst |p - count| %.2g\n", cases, worst);
}

/* ---- 3. asymptotic -------------------------------------------------------------------- */

static void asymptotic(void) {
  /* Q(λ) at the classic critical values: 0.10 at 1.2238, 0.05 at 1.3581, 0.01 at 1.6276 */
  CHECK_CLOSE(ks_kolmogorov_q(1.2238), 0.10, 2e-4, 0);
  CHECK_CLOSE(ks_kolmogorov_q(1.3581), 0.05, 2e-4, 0);
  CHECK_CLOSE(ks_kolmogorov_q(1.6276), 0.01, 1e-4, 0);
  CHECK(ks_kolmogorov_q(0.0) == 1.0);
  /* exact vs limit for n = m = 400 at D = 0.1 (λ = 1.414): within a few percent */
  double pe = ks_exact_p(400, 400, 40 * 400), pa = ks_kolmogorov_q(0.1 * sqrt(200.0));
  printf("n = m = 400, D = 0.1: exact p %.6f, asymptotic %.6f\n", pe, pa);
  CHECK_CLOSE(pe, pa, 0, 0.15);
  /* past KS_EXACT_MAX_N the asymptotic branch is used */
  int64_t n = KS_EXACT_MAX_N + 1;
  double *a = malloc((size_t)n * sizeof *a), b[3] = {0.25, 0.5, 0.75};
  for (int64_t i = 0; i < n; i++) a[i] = (double)i / (double)n;
  ks_result r = ks_two_sample(a, n, b, 3);
  CHECK(r.exact == 0 && r.p_value > 0.9);
  free(a);
}

/* ---- 4. scipy ---------------------------------------------------------------------------- */

/* Deterministic data: a linear congruential stream, rounded for ties in some sets. */
static double lcg(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0;
}

static void against_scipy(const char *python) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s -c 'import scipy.stats' 2>/dev/null", python);
  if (system(cmd) != 0) {
    printf("scipy is not importable by %s: the scipy comparison is skipped (hand cases and enumeration ran)\n",
           python);
    return;
  }
  const int sizes[][2] = {{3, 4}, {8, 8}, {20, 13}, {50, 70}, {200, 150}, {333, 1000}, {1500, 1200}, {10001, 40}};
  const double shift[] = {0.5, 0.0, 0.2, 0.1, 0.05, 0.02, 0.01, 0.0};
  const double round_to[] = {0, 0, 0.1, 0, 0.05, 0, 0.001, 0};
  FILE *in = fopen("ks_cases.txt", "w");
  ks_result mine[8];
  unsigned long long s = 12345;
  for (int c = 0; c < 8; c++) {
    int n = sizes[c][0], m = sizes[c][1];
    double *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)m * sizeof *b);
    for (int i = 0; i < n; i++) a[i] = lcg(&s);
    for (int j = 0; j < m; j++) b[j] = lcg(&s) * (1.0 + shift[c]) + shift[c];
    if (round_to[c] > 0) {
      for (int i = 0; i < n; i++) a[i] = round(a[i] / round_to[c]) * round_to[c];
      for (int j = 0; j < m; j++) b[j] = round(b[j] / round_to[c]) * round_to[c];
    }
    mine[c] = ks_two_sample(a, n, b, m);
    for (int i = 0; i < n; i++) fprintf(in, "%s%.17g", i ? " " : "", a[i]);
    fputc('\n', in);
    for (int j = 0; j < m; j++) fprintf(in, "%s%.17g", j ? " " : "", b[j]);
    fputc('\n', in);
    free(a);
    free(b);
  }
  fclose(in);
  snprintf(cmd, sizeof cmd,
           "%s -c 'import scipy, scipy.stats as st\n"
           "L = open(\"ks_cases.txt\").read().split(\"\\n\")\n"
           "for k in range(8):\n"
           "    a = [float(x) for x in L[2*k].split()]; b = [float(x) for x in L[2*k+1].split()]\n"
           "    r = st.ks_2samp(a, b)\n"
           "    print(repr(float(r.statistic)), repr(float(r.pvalue)))\n'",
           python);
  FILE *out = popen(cmd, "r");
  CHECK(out != NULL);
  if (!out) return;
  for (int c = 0; c < 8; c++) {
    double d, p;
    if (fscanf(out, "%lf %lf", &d, &p) != 2) {
      CHECK(!"scipy output");
      break;
    }
    printf("case %d (n %d, m %d): D %.6f (scipy %.6f), p %.6g (scipy %.6g) %s\n", c, sizes[c][0], sizes[c][1],
           mine[c].statistic, d, mine[c].p_value, p, mine[c].exact ? "exact" : "asymptotic");
    CHECK_CLOSE(mine[c].statistic, d, 1e-14, 0);
    /* exact: the same null distribution; asymptotic: scipy uses a finite-n correction */
    CHECK_CLOSE(mine[c].p_value, p, mine[c].exact ? 1e-9 : 0.02, mine[c].exact ? 1e-7 : 0.1);
  }
  CHECK(pclose(out) == 0);
}

int main(int argc, char **argv) {
  hand_cases();
  enumeration();
  asymptotic();
  if (argc > 1) against_scipy(argv[1]);
  return test_main_result("test_ks");
}
