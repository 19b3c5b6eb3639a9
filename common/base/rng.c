/* rng.c — Philox4x32-10 and the keyed streams built on it.
 *
 * Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as
 * easy as 1, 2, 3", SC'11) maps a 128-bit counter and a 64-bit key to 128
 * random bits with ten rounds of a multiply-based Feistel-like network. Each
 * block depends on nothing but its (key, counter) input, so streams are made
 * independent simply by giving them disjoint inputs, and any block can be
 * computed without generating the ones before it.
 *
 * Packing of a stream key (seed, iteration, group, member, step, purpose) and
 * the block counter b into the 192 input bits:
 *
 *   key[0] = seed bits  0..31          ctr[0] = b | purpose << 24
 *   key[1] = seed bits 32..63          ctr[1] = step | member << 16
 *                                      ctr[2] = group
 *                                      ctr[3] = iteration
 *
 * Every field has its own bits and b < 2^24, so two streams whose keys differ
 * in any field (within the ranges of rng.h) never share an input block, and
 * therefore never replay each other's numbers, however far each is drawn.
 * The block counter sits in the low 24 bits of ctr[0]; its last value is
 * never used so that the counter can never carry into the purpose: a stream
 * holds 2^24 - 1 blocks (about 3.3e7 normals) and drawing more aborts.
 *
 * Words of a block are handed out in order 0..3; a stream's state is plain
 * data (rng.h), so a copy continues exactly where the original was.
 */
#include "common/base/rng.h"

#include <math.h>

#include "common/base/error.h"

/* ---- the Philox4x32 bijection -------------------------------------------
 * Round constants from the paper: two multipliers chosen for avalanche, and
 * the key schedule's Weyl increments (golden ratio and sqrt(3) - 1, as
 * 32-bit fractions). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u
#define PHILOX_ROUNDS 10

#define RNG_BLOCK_BITS 24
#define RNG_BLOCKS_PER_STREAM (1u << RNG_BLOCK_BITS)

/* One round: two 32x32->64 products; the high halves are mixed with the
 * other two words and the round key, and the words are permuted. */
static inline void philox_round(uint32_t x[4], uint32_t k0, uint32_t k1) {
  uint64_t p0 = (uint64_t)PHILOX_M0 * x[0];
  uint64_t p1 = (uint64_t)PHILOX_M1 * x[2];
  uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
  uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
  uint32_t y0 = hi1 ^ x[1] ^ k0;
  uint32_t y2 = hi0 ^ x[3] ^ k1;
  x[0] = y0;
  x[1] = lo1;
  x[2] = y2;
  x[3] = lo0;
}

void elign_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t x[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
  uint32_t k0 = key[0], k1 = key[1];
  for (int r = 0; r < PHILOX_ROUNDS; r++) {
    if (r > 0) { /* the key advances by the Weyl increments between rounds */
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    philox_round(x, k0, k1);
  }
  for (int i = 0; i < 4; i++) out[i] = x[i];
}

/* ---- streams ------------------------------------------------------------ */

void elign_rng_init(elign_rng *rng, elign_rng_key key) {
  ELIGN_ASSERT(key.iteration < (UINT64_C(1) << 32));
  ELIGN_ASSERT(key.member < (1u << 16));
  ELIGN_ASSERT(key.step < (1u << 16));
  ELIGN_ASSERT(key.purpose < (1u << 8));
  rng->key[0] = (uint32_t)key.seed;
  rng->key[1] = (uint32_t)(key.seed >> 32);
  rng->ctr[0] = key.purpose << RNG_BLOCK_BITS; /* block counter 0 */
  rng->ctr[1] = key.step | (key.member << 16);
  rng->ctr[2] = key.group;
  rng->ctr[3] = (uint32_t)key.iteration;
  for (int i = 0; i < 4; i++) rng->block[i] = 0;
  rng->used = 4; /* no block generated yet */
  rng->has_spare = 0;
  rng->spare = 0.0;
}

elign_rng elign_rng_stream(uint64_t seed, uint64_t iteration, uint32_t group, uint32_t member, uint32_t step,
                           elign_rng_purpose purpose) {
  elign_rng rng;
  elign_rng_key key = {seed, iteration, group, member, step, (uint32_t)purpose};
  elign_rng_init(&rng, key);
  return rng;
}

/* Generate the block at the current counter and advance the block counter.
 * The counter's low 24 bits must not wrap into the purpose bits. */
static void rng_next_block(elign_rng *rng) {
  uint32_t block_index = rng->ctr[0] & (RNG_BLOCKS_PER_STREAM - 1u);
  if (block_index == RNG_BLOCKS_PER_STREAM - 1u)
    elign_abort(__FILE__, __LINE__, "random stream exhausted (2^24 - 1 blocks drawn from one key)");
  elign_philox4x32_10(rng->ctr, rng->key, rng->block);
  rng->ctr[0]++;
  rng->used = 0;
}

uint32_t elign_rng_u32(elign_rng *rng) {
  if (rng->used >= 4) rng_next_block(rng);
  return rng->block[rng->used++];
}

double elign_rng_uniform(elign_rng *rng) {
  /* 27 + 26 bits of two words make k in [0, 2^53); k = 0 is redrawn (odds
   * 2^-53) so the result k * 2^-53 is never 0, and it is at most 1 - 2^-53. */
  for (;;) {
    uint64_t hi = elign_rng_u32(rng) >> 5;
    uint64_t lo = elign_rng_u32(rng) >> 6;
    uint64_t k = (hi << 26) | lo;
    if (k != 0) return (double)k * 0x1.0p-53;
  }
}

double elign_rng_normal(elign_rng *rng) {
  if (rng->has_spare) {
    rng->has_spare = 0;
    return rng->spare;
  }
  /* Box–Muller: r = sqrt(-2 ln u1) is finite because u1 > 0; the angle
   * 2 pi u2 gives the pair (r cos, r sin). */
  double u1 = elign_rng_uniform(rng);
  double u2 = elign_rng_uniform(rng);
  double r = sqrt(-2.0 * log(u1));
  double theta = 6.283185307179586476925286766559 * u2;
  rng->spare = r * sin(theta);
  rng->has_spare = 1;
  return r * cos(theta);
}

void elign_rng_normal_fill_d(elign_rng *rng, double *out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = elign_rng_normal(rng);
}

void elign_rng_normal_fill_f(elign_rng *rng, float *out, size_t n) {
  /* The same doubles as the _d fill, rounded: float and double builds then
   * draw the same underlying numbers. */
  for (size_t i = 0; i < n; i++) out[i] = (float)elign_rng_normal(rng);
}

size_t elign_rng_categorical(elign_rng *rng, const double *weights, size_t n) {
  ELIGN_ASSERT(n > 0);
  double total = 0.0;
  for (size_t k = 0; k < n; k++) {
    ELIGN_ASSERT(isfinite(weights[k]) && weights[k] >= 0.0);
    total += weights[k];
  }
  ELIGN_ASSERT(total > 0.0 && isfinite(total));
  double target = elign_rng_uniform(rng) * total; /* in (0, total) up to rounding */
  double cumulative = 0.0;
  size_t last_positive = 0;
  for (size_t k = 0; k < n; k++) {
    if (weights[k] <= 0.0) continue;
    cumulative += weights[k];
    last_positive = k;
    if (target < cumulative) return k;
  }
  /* Rounding in the running sum can leave target >= the final cumulative. */
  return last_positive;
}
