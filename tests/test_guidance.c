/* test_guidance.c — run-time oracle guidance (actor/guidance.h).
 *
 * One update against the formula written out here (harmonic pair oracle,
 * forces in double): x ← x + scale·(1 − σ_t)·F, re-centred, type channels
 * untouched, a flagged molecule untouched, the per-atom clip, the σ
 * threshold (no oracle call). Whole chains: scale 0 is the unguided sampler
 * bit for bit with no oracle call; a positive scale lowers the oracle's
 * energy of the final samples (harmonic oracle; the lj backend in
 * guidance_cli.sh);
 * splitting the molecules as ranks do changes nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/guidance.h"
#include "tests/testutil.h"
#include "tests/testutil_molset.h"

static edm_model model;

/* ---- a harmonic pair oracle: E = ½k Σ_{i<j} (r_ij − r0)², eV and Å ---------- */

#define HARM_K 1.0  /* eV/Å² */
#define HARM_R0 1.5 /* Å */

typedef struct {
  int calls;
  int64_t flag_mol; /* molecule index (in every batch) to flag, or −1 */
} harmonic;

static double harmonic_energy(const double *x, int64_t n, double *f) {
  double e = 0;
  if (f) memset(f, 0, (size_t)(3 * n) * sizeof *f);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) {
      double d[3], r = 0;
      for (int c = 0; c < 3; c++) d[c] = x[3 * i + c] - x[3 * j + c], r += d[c] * d[c];
      r = sqrt(r);
      e += 0.5 * HARM_K * (r - HARM_R0) * (r - HARM_R0);
      if (f && r > 0)
        for (int c = 0; c < 3; c++) {
          double g = HARM_K * (r - HARM_R0) * d[c] / r; /* dE/dx_i */
          f[3 * i + c] -= g;
          f[3 * j + c] += g;
        }
    }
  return e;
}

static elign_status harmonic_eval(void *ctx, const elign_oracle_batch *b, elign_oracle_result *r, elign_error *err) {
  (void)err;
  harmonic *h = ctx;
  h->calls++;
  for (int64_t m = 0; m < b->n_mol; m++) {
    int64_t a0 = b->offsets[m], n = b->offsets[m + 1] - a0;
    double *f = r->forces ? r->forces + 3 * a0 : NULL;
    if (m == h->flag_mol) {
      r->energy[m] = 0;
      if (f) memset(f, 0, (size_t)(3 * n) * sizeof *f);
      r->status[m] = ELIGN_MOL_OVERLAP;
      continue;
    }
    r->energy[m] = harmonic_energy(b->pos + 3 * a0, n, f);
    r->status[m] = ELIGN_MOL_OK;
  }
  return ELIGN_OK;
}

static double mean_energy(const elign_molset *s) {
  double sum = 0;
  for (int64_t m = 0; m < s->n_mol; m++)
    sum += harmonic_energy(s->pos + 3 * s->offsets[m], elign_molset_natoms(s, m), NULL);
  return sum / (double)s->n_mol;
}

/* ---- one update against the formula ----------------------------------------- */

static void test_one_update(void) {
  int D = model.layout.D, T = 50, t = 10;
  int64_t off[3] = {0, 5, 9}, N = 9;
  elign_real *z = malloc((size_t)N * D * sizeof *z), *z0 = malloc((size_t)N * D * sizeof *z0);
  elign_rng r = elign_rng_stream(5, 0, 0, 0, 0, ELIGN_RNG_TEST);
  for (int m = 0; m < 2; m++) diffusion_noise_molecule(z + off[m] * D, &r, off[m + 1] - off[m], D);
  for (int64_t j = 0; j < N * D; j++) z[j] *= 1.2f; /* spread the atoms a little */
  memcpy(z0, z, (size_t)N * D * sizeof *z);
  harmonic h = {.flag_mol = 1};
  elign_error err;
  elign_oracle_client *c = NULL;
  CHECK(elign_oracle_client_create_embedded_fn(harmonic_eval, &h, 4, &c, &err) == ELIGN_OK);
  for (int clip = 0; clip <= 1; clip++) {
    guidance_options o = {.scale = 0.05, .max_sigma = 1.0, .clip = clip ? 0.3 : 0};
    guidance g;
    guidance_init(&g, &model, c, &o);
    memcpy(z, z0, (size_t)N * D * sizeof *z);
    CHECK(guidance_apply(&g, t, T, 2, off, z, &err) == ELIGN_OK);
    /* expected: molecule 0 moved along its clipped harmonic force, re-centred */
    double sig = (double)diffusion_sigma((elign_real)diffusion_gamma(&model.sched, t, T)), coef = 0.05 * (1 - sig);
    double x[3 * 5], f[3 * 5], want[3 * 5], mean[3] = {0, 0, 0};
    for (int i = 0; i < 5; i++)
      for (int d = 0; d < 3; d++) x[3 * i + d] = z0[i * D + d];
    harmonic_energy(x, 5, f);
    for (int i = 0; i < 5; i++) {
      double mag = sqrt(f[3 * i] * f[3 * i] + f[3 * i + 1] * f[3 * i + 1] + f[3 * i + 2] * f[3 * i + 2]);
      double k = clip && mag > 0.3 ? coef * 0.3 / mag : coef;
      for (int d = 0; d < 3; d++) want[3 * i + d] = x[3 * i + d] + k * f[3 * i + d], mean[d] += want[3 * i + d] / 5;
    }
    double dev = 0, moved = 0;
    for (int i = 0; i < 5; i++)
      for (int d = 0; d < 3; d++) {
        dev = fmax(dev, fabs(z[i * D + d] - (want[3 * i + d] - mean[d])));
        moved = fmax(moved, fabs(z[i * D + d] - z0[i * D + d]));
      }
    printf("update (clip %d): max |x - formula| %.3g, max move %.3g (σ_t %.4f)\n", clip, dev, moved, sig);
    CHECK(dev < 2e-6);
    CHECK(moved > 1e-3);
    int h_same = 1;
    for (int64_t i = 0; i < N; i++)
      h_same &= memcmp(z + i * D + 3, z0 + i * D + 3, (size_t)(D - 3) * sizeof *z) == 0;
    CHECK(h_same); /* type channels untouched */
    CHECK(memcmp(z + off[1] * D, z0 + off[1] * D, (size_t)(off[2] - off[1]) * D * sizeof *z) == 0); /* flagged */
    CHECK(g.stats.flagged == 1 && g.stats.molecules == 2 && g.stats.steps_guided == 1);
    guidance_free(&g);
  }
  /* σ threshold: t = T (σ ≈ 1) is above 0.5: no oracle call, nothing moves */
  guidance_options o = {.scale = 0.05, .max_sigma = 0.5};
  guidance g;
  guidance_init(&g, &model, c, &o);
  memcpy(z, z0, (size_t)N * D * sizeof *z);
  int calls = h.calls;
  CHECK(guidance_apply(&g, T, T, 2, off, z, &err) == ELIGN_OK);
  CHECK(h.calls == calls && g.stats.steps_skipped == 1);
  CHECK(memcmp(z, z0, (size_t)N * D * sizeof *z) == 0);
  guidance_free(&g);
  /* bad options are named */
  guidance_options bad = {.scale = -1, .max_sigma = 1};
  CHECK(guidance_options_check(&bad, &err) == ELIGN_ERR_ARG && strstr(err.msg, "--guidance-scale"));
  elign_oracle_client_destroy(&c);
  free(z);
  free(z0);
}

/* ---- whole chains ------------------------------------------------------------- */

/* Guided samples of molecules [first, first + count) through the client c. */
static void guided_run(const sampler_config *base, elign_oracle_client *c, const guidance_options *o, int64_t first,
                       int64_t count, const int *sizes, sampler_output *out, guidance_stats *stats) {
  guidance g;
  guidance_init(&g, &model, c, o);
  sampler_adjust adj = guidance_adjust(&g);
  sampler_config cfg = *base;
  cfg.adjust = &adj;
  elign_error err;
  CHECK(sampler_run(&cfg, first, count, sizes, out, &err) == ELIGN_OK);
  if (stats) *stats = g.stats;
  guidance_free(&g);
}

static void test_chains(void) {
  int sizes[8] = {6, 9, 4, 12, 7, 5, 10, 8};
  sampler_config cfg = {.model = &model, .T = 20, .seed = 31, .batch = 3};
  elign_error err;
  sampler_output plain;
  CHECK(sampler_run(&cfg, 0, 8, sizes, &plain, &err) == ELIGN_OK);
  harmonic h = {.flag_mol = -1};
  elign_oracle_client *c = NULL;
  CHECK(elign_oracle_client_create_embedded_fn(harmonic_eval, &h, 2, &c, &err) == ELIGN_OK);

  /* scale 0: the unguided samples, bit for bit, and no oracle call */
  guidance_options o0 = {.scale = 0, .max_sigma = 1};
  sampler_output s0;
  guided_run(&cfg, c, &o0, 0, 8, sizes, &s0, NULL);
  CHECK(test_molsets_identical(&s0.mols, &plain.mols));
  CHECK(h.calls == 0);
  sampler_output_free(&s0);

  /* a positive scale lowers the oracle's energy */
  guidance_options o = {.scale = 0.05, .max_sigma = 1};
  sampler_output sg;
  guidance_stats st;
  guided_run(&cfg, c, &o, 0, 8, sizes, &sg, &st);
  double e_plain = mean_energy(&plain.mols), e_guided = mean_energy(&sg.mols);
  int lower = 0;
  for (int64_t m = 0; m < 8; m++)
    lower += harmonic_energy(sg.mols.pos + 3 * sg.mols.offsets[m], sizes[m], NULL) <
             harmonic_energy(plain.mols.pos + 3 * plain.mols.offsets[m], sizes[m], NULL);
  printf("harmonic oracle: mean E unguided %.4f eV, guided %.4f eV; %d of 8 lower; %lld evaluations\n", e_plain,
         e_guided, lower, (long long)st.molecules);
  CHECK(e_guided < 0.5 * e_plain);
  CHECK(lower == 8);
  CHECK(st.molecules == 8 * 20 && st.steps_guided == 3 * 20); /* 3 batches × 20 steps */
  CHECK(sg.max_com < 1e-3);

  /* the molecules split as ranks split them: the same bits */
  elign_molset joined;
  elign_molset_init(&joined);
  for (int r = 0; r < 3; r++) {
    int64_t first, count;
    sampler_rank_range(8, cfg.batch, r, 3, &first, &count);
    sampler_output part;
    guided_run(&cfg, c, &o, first, count, sizes + first, &part, NULL);
    test_molset_join(&joined, &part.mols);
    sampler_output_free(&part);
  }
  CHECK(test_molsets_identical(&joined, &sg.mols));
  elign_molset_free(&joined);
  sampler_output_free(&sg);
  elign_oracle_client_destroy(&c);

  sampler_output_free(&plain);
}

int main(void) {
  elign_error err;
  CHECK(edm_model_init_preset(&model, "qm9", 1, 1234, &err) == ELIGN_OK);
  test_one_update();
  test_chains();
  edm_model_free(&model);
  return test_main_result("test_guidance");
}
