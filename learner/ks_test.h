/* ks_test.h — the two-sample Kolmogorov–Smirnov test and empirical CDFs.
 *
 * `elign eval --dft N --ref BASE` compares the distributions of the DFT
 * formation energy per atom and force RMS of a post-trained model with its
 * base, as the Elign paper's DFT validation does (SEEDS_NOTES §1.2).
 *
 *   D = sup_x |F_a(x) − F_b(x)|  over the two empirical CDFs (ties: both
 *       CDFs jump together, so equal values never make a difference).
 *   p = P(D' ≥ D) under H0 (both samples from one continuous distribution),
 *       two-sided:
 *       exact     when max(n, m) <= KS_EXACT_MAX_N: the fraction of the
 *                 C(n+m, n) orderings of the pooled sample whose path
 *                 stays strictly inside |i/n − j/m| < D, by the lattice-path
 *                 recursion w(i,j) = w(i−1,j)·i/(i+j) + w(i,j−1)·j/(i+j)
 *                 (w = paths / C(i+j, i), so every value lies in [0, 1]);
 *                 p = 1 − w(n, m), accurate to ~1e-15 absolute.
 *       asymptotic otherwise: Kolmogorov's limit Q(λ) = 2 Σ (−1)^{k−1}
 *                 exp(−2k²λ²) with λ = D·sqrt(nm/(n+m)).
 * The same choice and the same exact null distribution as scipy's
 * ks_2samp(method='auto') for samples up to 10,000 (tests/test_ks.c checks
 * against scipy where /usr/bin/python3 has it, and against enumeration of
 * every ordering for small n, m).
 */
#ifndef ELIGN_LEARNER_KS_TEST_H
#define ELIGN_LEARNER_KS_TEST_H

#include <stdint.h>

#define KS_EXACT_MAX_N 10000

typedef struct {
  double statistic; /* D in [0, 1]; NaN when a sample is empty */
  double p_value;   /* NaN when a sample is empty */
  int exact;        /* 1 exact, 0 asymptotic */
  int64_t n, m;
} ks_result;

/* a [n], b [m] need not be sorted (they are not changed); NaNs are not allowed
 * (filter them first). */
ks_result ks_two_sample(const double *a, int64_t n, const double *b, int64_t m);

/* P(D ≥ d) for the exact null distribution with sizes n, m, where d is given
 * as the integer dnm = D·n·m (exactly representable). */
double ks_exact_p(int64_t n, int64_t m, int64_t dnm);

/* Kolmogorov's limiting survival function Q(λ). */
double ks_kolmogorov_q(double lambda);

#endif
