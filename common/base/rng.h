/* rng.h — counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * Every random draw in Elign-C comes from a stream keyed by
 * (seed, iteration, group, member, step, purpose): the same key gives the
 * same numbers on any rank, in any order, after any restart. That is what
 * makes runs bitwise identical for 1, 2 or 4 ranks and after kill-and-resume.
 * Streams with different keys (within the ranges below) never overlap.
 *
 * Key ranges: seed 64 bits; iteration < 2^32; group < 2^32; member < 2^16;
 * step < 2^16; purpose < 2^8 (elign_rng_purpose). Each stream holds 2^24 - 1
 * blocks of four 32-bit words (about 2^25 uniforms or normals), because
 * the five key fields plus the seed already take 168 of Philox's 192 input
 * bits. A key outside these ranges, or a stream drawn past its end, is a bug
 * and aborts (ELIGN_ASSERT) rather than silently reusing numbers. See rng.c
 * for the packing.
 */
#ifndef ELIGN_RNG_H
#define ELIGN_RNG_H

#include <stddef.h>
#include <stdint.h>

/* The raw Philox4x32-10 bijection: out = philox(ctr, key). */
void elign_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* What a stream is for: part of its key, so two purposes at the same
 * (iteration, group, member, step) never share numbers. Append only. */
typedef enum {
  ELIGN_RNG_GENERIC = 0,
  ELIGN_RNG_PRIOR = 1,        /* z_T of a group or molecule */
  ELIGN_RNG_STEP_NOISE = 2,   /* fresh noise of one reverse step */
  ELIGN_RNG_DECODE_NOISE = 3, /* noise of the final decode p(x,h|z0) */
  ELIGN_RNG_NODE_COUNT = 4,   /* atom counts drawn from the size histogram */
  ELIGN_RNG_TRAIN_TIME = 5,   /* pretraining: the diffusion time t of a molecule */
  ELIGN_RNG_TRAIN_NOISE = 6,  /* pretraining: the forward-noise epsilon */
  ELIGN_RNG_SHUFFLE = 7,      /* data order */
  ELIGN_RNG_INIT = 8,         /* parameter initialisation */
  ELIGN_RNG_ROTATION = 9,     /* pretraining: random rotation of a training molecule */
  ELIGN_RNG_DATA_SPLIT = 10,  /* train/valid/test assignment of imported data */
  ELIGN_RNG_EVAL_CHOICE = 11, /* elign eval: which molecules go to DFT (--dft N --dft-seed S) */
  ELIGN_RNG_TEST = 255        /* tests only */
} elign_rng_purpose;

typedef struct {
  uint64_t seed;
  uint64_t iteration; /* < 2^32 */
  uint32_t group;
  uint32_t member;    /* < 2^16 */
  uint32_t step;      /* < 2^16 */
  uint32_t purpose;   /* elign_rng_purpose, < 2^8 */
} elign_rng_key;

/* One stream: position = (block counter, word within the block). Plain data:
 * copy it to fork a stream, store it to resume exactly where it was. */
typedef struct {
  uint32_t key[2];
  uint32_t ctr[4];   /* ctr[0] is the block counter */
  uint32_t block[4]; /* the current output block */
  int used;          /* words of `block` already consumed (4 = need a new one) */
  int has_spare;     /* Box–Muller produces normals in pairs */
  double spare;
} elign_rng;

/* Set up the stream for `key` at its beginning. */
void elign_rng_init(elign_rng *rng, elign_rng_key key);
/* Convenience: elign_rng_init with (seed, iteration, group, member, step, purpose). */
elign_rng elign_rng_stream(uint64_t seed, uint64_t iteration, uint32_t group, uint32_t member, uint32_t step,
                           elign_rng_purpose purpose);

uint32_t elign_rng_u32(elign_rng *rng);
/* Uniform in (0, 1): k / 2^53 for a 53-bit k != 0, so never exactly 0 or 1.
 * Takes two 32-bit words. */
double elign_rng_uniform(elign_rng *rng);
/* Standard normal N(0,1) (Box–Muller on two uniforms; deterministic). Normals
 * come in pairs: every second call returns the stored spare. Always finite
 * (|z| < 8.6, as the uniforms are never 0). */
double elign_rng_normal(elign_rng *rng);
/* Fill n standard normals, in float and double. */
void elign_rng_normal_fill_f(elign_rng *rng, float *out, size_t n);
void elign_rng_normal_fill_d(elign_rng *rng, double *out, size_t n);
/* Index k with probability weights[k]/sum(weights) (inverse CDF in double;
 * one uniform). Weights must be finite and >= 0 with a positive sum (a caller
 * bug otherwise: ELIGN_ASSERT). A zero weight is never picked. */
size_t elign_rng_categorical(elign_rng *rng, const double *weights, size_t n);

#endif
