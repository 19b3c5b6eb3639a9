/* fastmath.h — the exponentials of the networks (EGNN, ANI), in one place.
 *
 * glibc's exp/expf/expm1f are not inlined without -ffast-math, so a loop
 * that calls them does not vectorise: SiLU/σ over E×F edge values cost up to
 * a third of the EGNN's GEMM time, CELU a quarter of an ANI call, the AEV's
 * exp/pow ~10 % of an ANI energy+force call. Every exponential here is
 * branch-free and built the same way:
 *
 *   k = round(x / ln2)                         elign_round_f32 / _f64 (magic-number rounding)
 *   r = x − k·ln2_hi − k·ln2_lo                Cody–Waite split, |r| ≤ ln2/2
 *   exp(r) from a polynomial in r
 *   × 2^k from its exponent bits               elign_pow2i_f32 / _f64
 *
 * Three polynomials serve three needs (accuracy, range, e^x − 1 without
 * cancellation); each keeps the exact operation order it was validated with,
 * so changing code around them does not move the EGNN's samples or the ANI
 * energies by a bit:
 *
 *   elign_fast_expf     float, −87 ≤ x ≤ 88 (clamped outside): Cephes
 *                       degree-6 minimax, ≤ 2 ulp. σ and SiLU in the EGNN
 *                       (through elign_fast_expf_in_range, the same
 *                       polynomial for a caller that has clamped already).
 *   elign_fast_expm1f   float, x ≤ 0: e^x − 1 and e^x from one degree-7
 *                       Taylor polynomial, ~2 ulp; e^x − 1 = q·2^k + (2^k − 1)
 *                       is exact q at k = 0. ANI's CELU.
 *   elign_fast_exp      double, −700 ≤ x ≤ 0: degree-13 Taylor (truncation
 *                       < 5e−18 relative), a few ulp. ANI's AEV (always double).
 *
 * elign_exp_real / elign_expm1_exp_real dispatch on elign_real: the float
 * build takes the fast float kernels, the double build (tight
 * finite-difference checks) takes libm's exp / expm1. */
#ifndef ELIGN_NN_FASTMATH_H
#define ELIGN_NN_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/base/real.h"

/* ---- building blocks ------------------------------------------------------ */

/* The float constants of the kernels below, named so that a hand-vectorised
 * copy (oracle/ani/ani_net.c's CELU) takes the very same values. */
#define ELIGN_LOG2E_F32 1.44269504088896341f
#define ELIGN_ROUND_MAGIC_F32 12582912.0f          /* 1.5·2^23: adding it rounds to an integer */
#define ELIGN_POW2I_BIAS_F32 (127.0f + 8388608.0f) /* 2^23 + exponent bias */
#define ELIGN_EXPM1F_LN2_HI 0.693145751953125f
#define ELIGN_EXPM1F_LN2_LO 1.42860682030941723e-6f
/* e^r − 1 = r (C1 + r (C2 + … + r C7)), the Taylor coefficients 1/j! */
#define ELIGN_EXPM1F_C1 1.0f
#define ELIGN_EXPM1F_C2 0.5f
#define ELIGN_EXPM1F_C3 1.66666667e-1f
#define ELIGN_EXPM1F_C4 4.16666667e-2f
#define ELIGN_EXPM1F_C5 8.33333333e-3f
#define ELIGN_EXPM1F_C6 1.38888889e-3f
#define ELIGN_EXPM1F_C7 1.98412698e-4f

/* Nearest integer of x·log2(e), as a float (|x| < 2^22 ln2). */
static inline float elign_round_log2e_f32(float x) {
  return (x * ELIGN_LOG2E_F32 + ELIGN_ROUND_MAGIC_F32) - ELIGN_ROUND_MAGIC_F32;
}
static inline double elign_round_log2e_f64(double x) {
  const double magic = 6755399441055744.0; /* 1.5·2^52 */
  return (x * 1.4426950408889634 + magic) - magic;
}

/* 2^k for an integer-valued k with a normal result (−126 ≤ k ≤ 127), from
 * its exponent bits: k + 127 + 2^23 holds k + 127 in its low mantissa bits,
 * shifted into the exponent field as an unsigned integer. No conversion to
 * int and no clamp: every kernel below keeps finite k in range, and a NaN
 * or Inf k (from a NaN input) gives some finite or NaN value without
 * undefined behaviour — the kernel still returns NaN, as its polynomial in
 * r = x − k·ln2 is NaN already. Written this way (the clamps it had were
 * compares and blends the compiler could not drop) the kernels vectorise to
 * a handful of instructions. */
static inline float elign_pow2i_f32(float k) {
  float biased = k + ELIGN_POW2I_BIAS_F32;
  uint32_t bits;
  memcpy(&bits, &biased, sizeof bits);
  bits <<= 23; /* k + 127 < 2^8: only the exponent field remains */
  float s;
  memcpy(&s, &bits, sizeof s);
  return s;
}
/* The double version gets k + 1023 into the low mantissa bits by adding
 * 2^52 (exact for these k) instead of converting to an integer: AVX2 has no
 * packed double → int64 conversion, and this form vectorises there too. */
static inline double elign_pow2i_f64(double k) {
  k = k > -1023.0 ? (k < 1024.0 ? k : 1023.0) : -1022.0;
  double biased = k + (1023.0 + 4503599627370496.0);
  uint64_t bits;
  memcpy(&bits, &biased, sizeof bits);
  bits <<= 52; /* k + 1023 < 2^11: only the exponent field remains */
  double s;
  memcpy(&s, &bits, sizeof s);
  return s;
}

/* ---- the kernels ------------------------------------------------------------ */

/* e^u for −87 ≤ u ≤ 88 (the caller keeps u there), float, Cephes-style
 * minimax polynomial (the EGNN's σ and SiLU). */
static inline float elign_fast_expf_in_range(float u) {
  float k = elign_round_log2e_f32(u);
  float r = u - k * 0.693359375f; /* ln2 = 0.693359375 − 2.12194440e−4 */
  r = r + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  return y * elign_pow2i_f32(k);
}

/* e^u, float, clamped to [−87, 88] first. */
static inline float elign_fast_expf(float u) {
  u = u < -87.0f ? -87.0f : u;
  u = u > 88.0f ? 88.0f : u;
  return elign_fast_expf_in_range(u);
}

/* e^x − 1 and e^x for x ≤ 0, float (ANI's CELU). */
static inline void elign_fast_expm1f(float x, float *em1, float *e) {
  x = x < -87.0f ? -87.0f : x; /* 2^k stays a normal float */
  float kf = elign_round_log2e_f32(x);
  float r = x - kf * ELIGN_EXPM1F_LN2_HI;
  r = r - kf * ELIGN_EXPM1F_LN2_LO;
  float q = r * (ELIGN_EXPM1F_C1 +
                 r * (ELIGN_EXPM1F_C2 +
                      r * (ELIGN_EXPM1F_C3 +
                           r * (ELIGN_EXPM1F_C4 + r * (ELIGN_EXPM1F_C5 + r * (ELIGN_EXPM1F_C6 + r * ELIGN_EXPM1F_C7))))));
  float s = elign_pow2i_f32(kf);
  *em1 = q * s + (s - 1.0f);
  *e = q * s + s;
}

/* e^x for −700 ≤ x ≤ 0 (clamped below), double (ANI's AEV). */
static inline double elign_fast_exp(double x) {
  x = x < -700.0 ? -700.0 : x;
  double kf = elign_round_log2e_f64(x);
  double r = x - kf * 6.93147180369123816490e-01;
  r = r - kf * 1.90821492927058770002e-10;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  return p * elign_pow2i_f64(kf);
}

/* ---- elign_real dispatch ----------------------------------------------------- */

#ifdef ELIGN_DOUBLE
static inline elign_real elign_exp_real(elign_real u) { return exp(u); }
static inline void elign_expm1_exp_real(elign_real x, elign_real *em1, elign_real *e) {
  *em1 = expm1(x);
  *e = exp(x);
}
#else
static inline elign_real elign_exp_real(elign_real u) { return elign_fast_expf(u); }
static inline void elign_expm1_exp_real(elign_real x, elign_real *em1, elign_real *e) { elign_fast_expm1f(x, em1, e); }
#endif

/* σ(u) = 1 / (1 + e^−u). The float build takes σ(−87) = 1.65e−38 for every
 * u < −87: below, 1/(1 + e^−u) is a subnormal float, and x86 cores take a
 * microcode assist of ~100 cycles for each subnormal result — a handful of
 * large negative pre-activations in an edge block (common in sampling)
 * tripled the EGNN's element-wise time. The value changes by < 2e−38. */
#ifdef ELIGN_DOUBLE
static inline elign_real elign_sigmoid_real(elign_real u) { return (elign_real)1 / ((elign_real)1 + elign_exp_real(-u)); }
#else
static inline elign_real elign_sigmoid_real(elign_real u) {
  /* σ's clamp below and e^x's clamps, folded into one [−87, 87] (the same
   * argument reaches the polynomial, the same bits): written as the two
   * clamp pairs one after the other, GCC turned them into compare-and-blend
   * chains, and SiLU cost 1.2 ns per element with AVX2 (0.63 with
   * AVX-512) instead of 0.43 (0.22). */
  u = u < -87.0f ? -87.0f : u;
  u = u > 87.0f ? 87.0f : u;
  return 1.0f / (1.0f + elign_fast_expf_in_range(-u));
}
#endif

#endif
