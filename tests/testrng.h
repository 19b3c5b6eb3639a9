/* testrng.h — a tiny seeded generator (splitmix64) for test and benchmark
 * inputs: reproducible, independent of the product's Philox streams, and the
 * same in every test and benchmark that includes it. Test-only. */
#ifndef ELIGN_TESTRNG_H
#define ELIGN_TESTRNG_H

#include <math.h>
#include <stdint.h>

/* Uniform in [0, 1), advancing *state. */
static inline double testrng_uniform(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* Standard normal by Box–Muller (one of the pair), advancing *state twice. */
static inline double testrng_normal(uint64_t *state) {
  return sqrt(-2 * log(1 - testrng_uniform(state))) * cos(6.283185307179586 * testrng_uniform(state));
}

#endif
