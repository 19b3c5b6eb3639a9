/* test_rng.c — Philox4x32-10 known answers and the keyed streams built on it.
 *
 * References: the three philox4x32 10 lines of Random123's tests/kat_vectors
 * (github DEShawResearch/random123; columns: counter[4], key[2], output[4]).
 * Statistical checks use fixed seeds, so they are deterministic, with bounds
 * of about five standard errors from the exact moments of N(0,1) and U(0,1).
 */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/base/rng.h"
#include "tests/testutil.h"

/* ---- known answers -------------------------------------------------------- */

static void test_known_answers(void) {
  static const struct {
    uint32_t ctr[4], key[2], out[4];
  } kat[] = {
      {{0x00000000, 0x00000000, 0x00000000, 0x00000000},
       {0x00000000, 0x00000000},
       {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (size_t t = 0; t < sizeof kat / sizeof kat[0]; t++) {
    uint32_t out[4];
    elign_philox4x32_10(kat[t].ctr, kat[t].key, out);
    int same = memcmp(out, kat[t].out, sizeof out) == 0;
    if (!same)
      fprintf(stderr, "KAT %zu: got %08x %08x %08x %08x want %08x %08x %08x %08x\n", t, out[0], out[1], out[2], out[3],
              kat[t].out[0], kat[t].out[1], kat[t].out[2], kat[t].out[3]);
    CHECK(same);
  }
}

/* ---- the documented packing (rng.c) reproduced independently ---------------- */

static void test_packing_matches_documentation(void) {
  uint64_t seed = UINT64_C(0x0123456789abcdef);
  elign_rng rng = elign_rng_stream(seed, 77, 123456, 9, 999, ELIGN_RNG_STEP_NOISE);
  uint32_t key[2] = {0x89abcdefu, 0x01234567u};
  for (uint32_t b = 0; b < 3; b++) {
    uint32_t ctr[4] = {b | (2u << 24), 999u | (9u << 16), 123456u, 77u};
    uint32_t want[4];
    elign_philox4x32_10(ctr, key, want);
    for (int i = 0; i < 4; i++) CHECK(elign_rng_u32(&rng) == want[i]);
  }
  /* A uniform is (w0 >> 5) * 2^26 + (w1 >> 6), scaled by 2^-53. */
  elign_rng a = elign_rng_stream(seed, 1, 2, 3, 4, ELIGN_RNG_TEST);
  elign_rng b = a;
  for (int i = 0; i < 10; i++) {
    uint32_t w0 = elign_rng_u32(&a), w1 = elign_rng_u32(&a);
    double want = ldexp((double)(((uint64_t)(w0 >> 5) << 26) | (w1 >> 6)), -53);
    CHECK(elign_rng_uniform(&b) == want);
  }
}

/* ---- stream identity, separation and resumption ---------------------------- */

static int streams_equal(elign_rng a, elign_rng b, int n) {
  for (int i = 0; i < n; i++)
    if (elign_rng_u32(&a) != elign_rng_u32(&b)) return 0;
  return 1;
}

/* Number of equal words at equal positions among the first n: two unrelated
 * streams agree at about n / 2^32 positions, i.e. never for small n. */
static int matching_words(elign_rng a, elign_rng b, int n) {
  int same = 0;
  for (int i = 0; i < n; i++) same += elign_rng_u32(&a) == elign_rng_u32(&b);
  return same;
}

static void test_stream_keys(void) {
  const uint64_t seed = 42;
  elign_rng base = elign_rng_stream(seed, 3, 5, 7, 11, ELIGN_RNG_PRIOR);
  CHECK(streams_equal(base, elign_rng_stream(seed, 3, 5, 7, 11, ELIGN_RNG_PRIOR), 4096));

  /* Change one field at a time, at a low and at the top bit of its range. */
  elign_rng variants[] = {
      elign_rng_stream(seed + 1, 3, 5, 7, 11, ELIGN_RNG_PRIOR),
      elign_rng_stream(seed | (UINT64_C(1) << 63), 3, 5, 7, 11, ELIGN_RNG_PRIOR),
      elign_rng_stream(seed | (UINT64_C(1) << 32), 3, 5, 7, 11, ELIGN_RNG_PRIOR),
      elign_rng_stream(seed, 4, 5, 7, 11, ELIGN_RNG_PRIOR),
      elign_rng_stream(seed, 3 | (UINT64_C(1) << 31), 5, 7, 11, ELIGN_RNG_PRIOR),
      elign_rng_stream(seed, 3, 6, 7, 11, ELIGN_RNG_PRIOR),
      elign_rng_stream(seed, 3, 5 | (1u << 31), 7, 11, ELIGN_RNG_PRIOR),
      elign_rng_stream(seed, 3, 5, 8, 11, ELIGN_RNG_PRIOR),
      elign_rng_stream(seed, 3, 5, 7 | (1u << 15), 11, ELIGN_RNG_PRIOR),
      elign_rng_stream(seed, 3, 5, 7, 12, ELIGN_RNG_PRIOR),
      elign_rng_stream(seed, 3, 5, 7, 11 | (1u << 15), ELIGN_RNG_PRIOR),
      elign_rng_stream(seed, 3, 5, 7, 11, ELIGN_RNG_STEP_NOISE),
      elign_rng_stream(seed, 3, 5, 7, 11, ELIGN_RNG_TEST),
      /* member and step swapped: the packing must not confuse them */
      elign_rng_stream(seed, 3, 5, 11, 7, ELIGN_RNG_PRIOR),
      /* iteration and group swapped */
      elign_rng_stream(seed, 5, 3, 7, 11, ELIGN_RNG_PRIOR),
  };
  const int nv = (int)(sizeof variants / sizeof variants[0]);
  for (int v = 0; v < nv; v++) {
    int same = matching_words(base, variants[v], 4096);
    if (same > 2) fprintf(stderr, "variant %d shares %d of 4096 words with the base stream\n", v, same);
    CHECK(same <= 2);
  }
  /* Pairwise among the variants too. */
  int worst = 0;
  for (int i = 0; i < nv; i++)
    for (int j = i + 1; j < nv; j++) {
      int same = matching_words(variants[i], variants[j], 1024);
      if (same > worst) worst = same;
    }
  CHECK(worst <= 2);
}

/* Streams whose only difference is the purpose differ in the bits above the
 * block counter: the last drawable blocks of one purpose must not be the
 * first blocks of the next (white-box: start near the end of the stream). */
static void test_stream_end_does_not_reach_next_purpose(void) {
  elign_rng near_end = elign_rng_stream(9, 0, 0, 0, 0, ELIGN_RNG_GENERIC);
  near_end.ctr[0] += (1u << 24) - 3; /* block index 2^24 - 3 */
  elign_rng next_purpose = elign_rng_stream(9, 0, 0, 0, 0, ELIGN_RNG_PRIOR);
  CHECK(matching_words(near_end, next_purpose, 8) == 0);
  for (int i = 0; i < 8; i++) elign_rng_u32(&near_end); /* blocks 2^24-3 and 2^24-2: allowed */
  CHECK((near_end.ctr[0] >> 24) == ELIGN_RNG_GENERIC);
}

/* Misuse must abort, not silently reuse numbers: run it in a child process. */
static int aborts_in_child(void (*misuse)(void)) {
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stderr); /* the abort message is expected */
    misuse();
    _exit(0); /* reached only if nothing aborted */
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return 0;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void draw_past_stream_end(void) {
  elign_rng rng = elign_rng_stream(9, 0, 0, 0, 0, ELIGN_RNG_GENERIC);
  rng.ctr[0] += (1u << 24) - 2; /* two blocks left: indices 2^24-2 (allowed) and 2^24-1 (the end) */
  for (int i = 0; i < 8; i++) elign_rng_u32(&rng);
}
static void member_out_of_range(void) { elign_rng_stream(1, 0, 0, 1u << 16, 0, ELIGN_RNG_GENERIC); }
static void step_out_of_range(void) { elign_rng_stream(1, 0, 0, 0, 1u << 16, ELIGN_RNG_GENERIC); }
static void iteration_out_of_range(void) { elign_rng_stream(1, UINT64_C(1) << 32, 0, 0, 0, ELIGN_RNG_GENERIC); }
static void purpose_out_of_range(void) { elign_rng_stream(1, 0, 0, 0, 0, (elign_rng_purpose)256); }
static void negative_weight(void) {
  const double w[] = {1.0, -0.5};
  elign_rng rng = elign_rng_stream(1, 0, 0, 0, 0, ELIGN_RNG_TEST);
  elign_rng_categorical(&rng, w, 2);
}
static void stay_in_range(void) {
  elign_rng rng = elign_rng_stream(~UINT64_C(0), 0xffffffffu, 0xffffffffu, 0xffffu, 0xffffu, ELIGN_RNG_TEST);
  elign_rng_normal(&rng);
}

static void test_misuse_aborts(void) {
  CHECK(aborts_in_child(draw_past_stream_end));
  CHECK(aborts_in_child(member_out_of_range));
  CHECK(aborts_in_child(step_out_of_range));
  CHECK(aborts_in_child(iteration_out_of_range));
  CHECK(aborts_in_child(purpose_out_of_range));
  CHECK(aborts_in_child(negative_weight));
  CHECK(!aborts_in_child(stay_in_range)); /* the largest valid key is fine */
}

static void test_resume_from_copy(void) {
  elign_rng a = elign_rng_stream(2024, 1, 2, 3, 4, ELIGN_RNG_TRAIN_NOISE);
  double head[37];
  for (int i = 0; i < 37; i++) head[i] = elign_rng_normal(&a); /* odd count: a spare is pending */
  CHECK(a.has_spare == 1);
  elign_rng saved = a;                     /* e.g. stored in a checkpoint */
  unsigned char bytes[sizeof saved];       /* ... as raw bytes */
  memcpy(bytes, &saved, sizeof saved);
  elign_rng restored;
  memcpy(&restored, bytes, sizeof restored);
  int same = 1;
  for (int i = 0; i < 1000; i++) {
    double x = elign_rng_normal(&a);
    double y = elign_rng_normal(&restored);
    double u = elign_rng_uniform(&a);
    double v = elign_rng_uniform(&restored);
    uint32_t w = elign_rng_u32(&a), z = elign_rng_u32(&restored);
    same &= x == y && u == v && w == z;
  }
  CHECK(same);
  /* The copy continued the original: replaying from scratch gives the same head. */
  elign_rng fresh = elign_rng_stream(2024, 1, 2, 3, 4, ELIGN_RNG_TRAIN_NOISE);
  int head_same = 1;
  for (int i = 0; i < 37; i++) head_same &= elign_rng_normal(&fresh) == head[i];
  CHECK(head_same);
}

/* ---- distributions ------------------------------------------------------- */

static void test_uniform_moments(void) {
  elign_rng rng = elign_rng_stream(7, 0, 0, 0, 0, ELIGN_RNG_TEST);
  const int n = 1000000;
  double sum = 0, sum2 = 0, lo = 1, hi = 0;
  for (int i = 0; i < n; i++) {
    double u = elign_rng_uniform(&rng);
    sum += u;
    sum2 += u * u;
    if (u < lo) lo = u;
    if (u > hi) hi = u;
  }
  CHECK(lo > 0.0 && hi < 1.0);
  /* Standard errors: sqrt(1/12/n) = 2.9e-4 for the mean; var(u^2) = 4/45 -> 3.0e-4. */
  CHECK_CLOSE(sum / n, 0.5, 1.5e-3, 0);
  CHECK_CLOSE(sum2 / n, 1.0 / 3.0, 1.5e-3, 0);
}

static void test_normal_moments(void) {
  elign_rng rng = elign_rng_stream(12345, 0, 0, 0, 0, ELIGN_RNG_TEST);
  const int n = 1000000;
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  long below_one = 0, all_finite = 1;
  for (int i = 0; i < n; i++) {
    double x = elign_rng_normal(&rng);
    all_finite &= isfinite(x) != 0;
    double x2 = x * x;
    m1 += x;
    m2 += x2;
    m3 += x2 * x;
    m4 += x2 * x2;
    below_one += x < 1.0;
  }
  CHECK(all_finite);
  /* Exact: E x = 0, E x^2 = 1, E x^3 = 0, E x^4 = 3; standard errors for
   * n = 1e6: sqrt(1/n) = 1e-3, sqrt(2/n) = 1.4e-3, sqrt(15/n) = 3.9e-3,
   * sqrt(96/n) = 9.8e-3. Bounds are five standard errors. */
  CHECK_CLOSE(m1 / n, 0.0, 5e-3, 0);
  CHECK_CLOSE(m2 / n, 1.0, 7e-3, 0);
  CHECK_CLOSE(m3 / n, 0.0, 2e-2, 0);
  CHECK_CLOSE(m4 / n, 3.0, 5e-2, 0);
  /* P(x < 1) = Phi(1) = 0.8413447461; standard error sqrt(p(1-p)/n) = 3.7e-4. */
  CHECK_CLOSE((double)below_one / n, 0.8413447460685429, 1.9e-3, 0);
}

/* The extreme uniforms give finite normals: the smallest uniform is 2^-53. */
static void test_normal_extremes_finite(void) {
  double r = sqrt(-2.0 * log(0x1.0p-53));
  CHECK(isfinite(r) && r < 8.6);
  elign_rng rng = elign_rng_stream(1, 0, 0, 0, 0, ELIGN_RNG_TEST);
  /* Force the smallest uniform pair through Box–Muller by forging a block
   * (white-box): words giving k = 1 for u1. */
  rng.block[0] = 0;
  rng.block[1] = 1u << 6;
  rng.block[2] = 0xffffffffu;
  rng.block[3] = 0xffffffffu;
  rng.used = 0;
  double z = elign_rng_normal(&rng);
  double z2 = elign_rng_normal(&rng);
  CHECK(isfinite(z) && isfinite(z2));
  CHECK(fabs(z) <= r && fabs(z2) <= r);
  CHECK(fabs(z * z + z2 * z2 - r * r) < 1e-9); /* the pair lies on the circle of radius r */
}

static void test_fills(void) {
  enum { N = 1001 };
  static double d[N];
  static float f[N];
  elign_rng a = elign_rng_stream(5, 6, 7, 8, 9, ELIGN_RNG_PRIOR);
  elign_rng b = a, c = a;
  elign_rng_normal_fill_d(&a, d, N);
  elign_rng_normal_fill_f(&b, f, N);
  int same = 1;
  for (int i = 0; i < N; i++) {
    same &= f[i] == (float)d[i];
    same &= d[i] == elign_rng_normal(&c);
  }
  CHECK(same);
  /* Fills continue the stream: the state after the fill matches one-by-one draws. */
  CHECK(elign_rng_normal(&a) == elign_rng_normal(&c));
}

static void test_categorical(void) {
  const double weights[] = {1.0, 2.0, 3.0, 4.0, 0.0, 10.0};
  const size_t k = sizeof weights / sizeof weights[0];
  const double total = 20.0;
  long counts[6] = {0};
  const long n = 200000;
  elign_rng rng = elign_rng_stream(99, 0, 0, 0, 0, ELIGN_RNG_NODE_COUNT);
  long out_of_range = 0;
  for (long i = 0; i < n; i++) {
    size_t idx = elign_rng_categorical(&rng, weights, k);
    if (idx < k)
      counts[idx]++;
    else
      out_of_range++;
  }
  CHECK(out_of_range == 0);
  CHECK(counts[4] == 0); /* a zero weight is never picked */
  /* Pearson chi-square over the 5 positive classes (4 degrees of freedom):
   * P(chi2_4 > 23.5) = 1e-4. */
  double chi2 = 0;
  for (size_t i = 0; i < k; i++) {
    if (weights[i] == 0) continue;
    double expect = n * weights[i] / total;
    chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
  }
  fprintf(stderr, "categorical chi2 = %.3f (4 dof)\n", chi2);
  CHECK(chi2 < 23.5);
  /* A single positive weight is always picked, whatever the zeros around it. */
  const double one[] = {0.0, 0.0, 5.0, 0.0};
  int always = 1;
  for (int i = 0; i < 1000; i++) always &= elign_rng_categorical(&rng, one, 4) == 2;
  CHECK(always);
}

int main(void) {
  test_known_answers();
  test_packing_matches_documentation();
  test_stream_keys();
  test_stream_end_does_not_reach_next_purpose();
  test_misuse_aborts();
  test_resume_from_copy();
  test_uniform_moments();
  test_normal_moments();
  test_normal_extremes_finite();
  test_fills();
  test_categorical();
  return test_main_result("test_rng");
}
