/* test_drelax.c — diffusion relaxation (actor/diffusion_relax.h).
 *
 * An independent straight-line implementation for one molecule (forward
 * noise to step s, the reverse steps with direct formulas in double, the
 * type channels replaced by α h + σ ε after each step, the decode) against
 * diffusion_relax_run; s = 0 is the input centred; atom types and ids kept
 * (a random network would scramble unclamped types); splitting molecules as
 * ranks do gives the same bits; the no-noise start differs from the noised
 * one; an element outside the model is named.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/diffusion_relax.h"
#include "common/io/importers.h"
#include "tests/testutil.h"
#include "tests/testutil_molset.h"

static edm_model model;

static int type_index_of(int32_t Z) {
  for (int k = 0; k < model.n_types; k++)
    if (model.type_Z[k] == Z) return k;
  return -1;
}

/* The relaxation of molecule g (n atoms, positions x Å, Z) from step s of a
 * T-step chain, written out. pos (n,3) receives the result. */
static void reference_relax(uint64_t seed, int64_t g, int n, const double *x, const int32_t *Z, int s, int T,
                            double *pos) {
  int D = model.layout.D;
  elign_error err;
  elign_real *xh = calloc((size_t)n * D, sizeof *xh), *z = calloc((size_t)n * D, sizeof *z);
  elign_real *e = calloc((size_t)n * D, sizeof *e), *nz = calloc((size_t)n * D, sizeof *nz);
  int32_t *ty = calloc((size_t)n, sizeof *ty);
  int64_t off[2] = {0, n};
  for (int i = 0; i < n; i++) ty[i] = type_index_of(Z[i]);
  diffusion_encode(xh, x, ty, Z, off, 1, &model.layout);
  egnn_workspace *ws = egnn_workspace_create(&model.net, n, 1, 0);
  elign_rng r = elign_rng_stream(seed, 0, (uint32_t)g, 0, (uint32_t)s, ELIGN_RNG_PRIOR);
  diffusion_noise_molecule(nz, &r, n, D);
  double g_s = diffusion_gamma(&model.sched, s, T);
  double a_s = sqrt(1 / (1 + exp(g_s))), sg_s = sqrt(1 / (1 + exp(-g_s)));
  for (int j = 0; j < n * D; j++) z[j] = (elign_real)(a_s * xh[j] + sg_s * nz[j]);
  for (int t = s; t >= 1; t--) {
    int u = t - 1;
    double gt = diffusion_gamma(&model.sched, t, T), gu = diffusion_gamma(&model.sched, u, T);
    double sig_t = sqrt(1 / (1 + exp(-gt))), sig_u = sqrt(1 / (1 + exp(-gu)));
    double a2t = 1 / (1 + exp(gt)), a2u = 1 / (1 + exp(gu)), a_u = sqrt(a2u);
    double atu = sqrt(a2t / a2u), s2tu = 1 - a2t / a2u;
    elign_real tau = (elign_real)((float)t / (float)T);
    ELIGN_ASSERT(egnn_dynamics_forward(&model.net, model.params, ws, 1, off, z, &tau, e, &err) == ELIGN_OK);
    elign_rng ru = elign_rng_stream(seed, 0, (uint32_t)g, 0, (uint32_t)u, ELIGN_RNG_STEP_NOISE);
    diffusion_noise_molecule(nz, &ru, n, D);
    double sigma = sqrt(s2tu) * sig_u / sig_t;
    for (int j = 0; j < n * D; j++) z[j] = (elign_real)(z[j] / atu - s2tu / atu / sig_t * e[j] + sigma * nz[j]);
    diffusion_remove_mean(z, D, off, 1);
    for (int i = 0; i < n; i++) /* the known types at step u's signal level */
      for (int c = 3; c < D; c++) z[i * D + c] = (elign_real)(a_u * xh[i * D + c] + sig_u * nz[i * D + c]);
  }
  elign_real tau0 = 0;
  ELIGN_ASSERT(egnn_dynamics_forward(&model.net, model.params, ws, 1, off, z, &tau0, e, &err) == ELIGN_OK);
  elign_rng rd = elign_rng_stream(seed, 0, (uint32_t)g, 0, 0, ELIGN_RNG_DECODE_NOISE);
  diffusion_noise_molecule(nz, &rd, n, D);
  double g0 = model.sched.gamma[0];
  double a0 = sqrt(1 / (1 + exp(g0))), s0 = sqrt(1 / (1 + exp(-g0))), sx = exp(0.5 * g0);
  for (int i = 0; i < n; i++)
    for (int d = 0; d < 3; d++) {
      int j = i * D + d;
      pos[3 * i + d] = (z[j] - s0 * e[j]) / a0 + sx * nz[j];
    }
  egnn_workspace_free(&ws);
  free(xh);
  free(z);
  free(e);
  free(nz);
  free(ty);
}

int main(void) {
  elign_error err;
  CHECK(edm_model_init_preset(&model, "qm9", 1, 4321, &err) == ELIGN_OK);
  elign_dataset ds;
  elign_dataset_init(&ds);
  CHECK(elign_import_any(test_shared_path("data/qm9like/tiny.xyz"), &ds, &err) == ELIGN_OK);
  elign_molset in;
  elign_molset_slice(&in, &ds.mols, 0, 7);
  int T = 40, s = 6;
  diffusion_relax_options o = {.start_step = s, .T = T, .seed = 99, .batch = 3, .noise = 1};

  /* the whole set, types and ids kept */
  sampler_output all;
  diffusion_relax_stats st;
  CHECK(diffusion_relax_run(&model, &o, &in, 0, 7, &all, &st, &err) == ELIGN_OK);
  CHECK(all.mols.n_mol == 7 && all.mols.n_atoms == in.n_atoms);
  CHECK(memcmp(all.mols.Z, in.Z, (size_t)in.n_atoms * sizeof(int32_t)) == 0);
  CHECK(memcmp(all.mols.ids, in.ids, 7 * sizeof(int64_t)) == 0);
  CHECK(st.type_mismatches == 0); /* the clamp holds the decode's argmax on the input's types */
  CHECK(all.max_com < 1e-3);

  /* against the straight-line reference, molecule by molecule (batch 1) */
  diffusion_relax_options o1 = o;
  o1.batch = 1;
  sampler_output one;
  CHECK(diffusion_relax_run(&model, &o1, &in, 0, 7, &one, NULL, &err) == ELIGN_OK);
  double max_dev = 0, max_move = 0;
  for (int64_t g = 0; g < 7; g++) {
    int64_t a0 = in.offsets[g];
    int n = (int)elign_molset_natoms(&in, g);
    double *pos = malloc((size_t)n * 3 * sizeof *pos), c[3] = {0, 0, 0};
    reference_relax(o.seed, g, n, in.pos + 3 * a0, in.Z + a0, s, T, pos);
    for (int i = 0; i < n; i++)
      for (int d = 0; d < 3; d++) c[d] += in.pos[3 * (a0 + i) + d] / n;
    for (int i = 0; i < n; i++)
      for (int d = 0; d < 3; d++) {
        max_dev = fmax(max_dev, fabs(pos[3 * i + d] - one.mols.pos[3 * (a0 + i) + d]));
        max_move = fmax(max_move, fabs(one.mols.pos[3 * (a0 + i) + d] - (in.pos[3 * (a0 + i) + d] - c[d])));
      }
    free(pos);
  }
  printf("reference vs diffusion_relax_run max |dx| %.3g Å; largest move from the input %.3g Å\n", max_dev, max_move);
  CHECK(max_dev < 1e-3);
  CHECK(max_move > 1e-3 && max_move < 2.0); /* it moved, and stayed a perturbation */
  sampler_output_free(&one);

  /* split as ranks split it: the same bits */
  for (int W = 2; W <= 3; W++) {
    elign_molset joined;
    elign_molset_init(&joined);
    for (int r = 0; r < W; r++) {
      int64_t first, count;
      sampler_rank_range(7, o.batch, r, W, &first, &count);
      sampler_output part;
      CHECK(diffusion_relax_run(&model, &o, &in, first, count, &part, NULL, &err) == ELIGN_OK);
      test_molset_join(&joined, &part.mols);
      sampler_output_free(&part);
    }
    CHECK(test_molsets_identical(&joined, &all.mols));
    elign_molset_free(&joined);
  }

  /* s = 0: the input, centred */
  diffusion_relax_options o0 = o;
  o0.start_step = 0;
  sampler_output id;
  CHECK(diffusion_relax_run(&model, &o0, &in, 0, 7, &id, NULL, &err) == ELIGN_OK);
  double dev0 = 0;
  for (int64_t g = 0; g < 7; g++) {
    int64_t a0 = in.offsets[g], n = elign_molset_natoms(&in, g);
    double c[3] = {0, 0, 0};
    for (int64_t i = 0; i < n; i++)
      for (int d = 0; d < 3; d++) c[d] += in.pos[3 * (a0 + i) + d] / (double)n;
    for (int64_t i = 0; i < n; i++)
      for (int d = 0; d < 3; d++) dev0 = fmax(dev0, fabs(id.mols.pos[3 * (a0 + i) + d] - (in.pos[3 * (a0 + i) + d] - c[d])));
  }
  CHECK(dev0 < 1e-12);
  CHECK(memcmp(id.mols.Z, in.Z, (size_t)in.n_atoms * sizeof(int32_t)) == 0);
  sampler_output_free(&id);

  /* the no-noise start is another state */
  diffusion_relax_options on = o;
  on.noise = 0;
  sampler_output nn;
  CHECK(diffusion_relax_run(&model, &on, &in, 0, 7, &nn, NULL, &err) == ELIGN_OK);
  CHECK(!test_molsets_identical(&nn.mols, &all.mols));
  sampler_output_free(&nn);

  /* bad input: an element the model lacks; a start step past T */
  in.Z[in.offsets[2] + 1] = 16;
  sampler_output bad;
  CHECK(diffusion_relax_run(&model, &o, &in, 0, 7, &bad, NULL, &err) == ELIGN_ERR_UNSUPPORTED);
  CHECK(strstr(err.msg, "molecule 2, atom 1: element Z = 16") != NULL);
  in.Z[in.offsets[2] + 1] = 6;
  diffusion_relax_options ob = o;
  ob.start_step = T + 1;
  CHECK(diffusion_relax_run(&model, &ob, &in, 0, 7, &bad, NULL, &err) == ELIGN_ERR_ARG);

  sampler_output_free(&all);
  elign_molset_free(&in);
  elign_dataset_free(&ds);
  edm_model_free(&model);
  return test_main_result("test_drelax");
}
