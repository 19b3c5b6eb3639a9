/* test_sampler.c — ancestral sampler: an independent straight-line
 * implementation of §2.8 (one molecule, written from the spec with direct
 * formulas) against sampler_run; splitting the index range as ranks do gives
 * bitwise identical molecules; strided chains; drawn atom counts; the split
 * of the batches over ranks (largest first or contiguous). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/sampler.h"
#include "tests/testutil.h"
#include "tests/testutil_molset.h"

static edm_model model;

/* §2.8 for molecule g alone, with the sampler's stream keys. pos (n,3), types (n). */
static void reference_sample(const sampler_config *cfg, int64_t g, int n, int T, double *pos, int32_t *types) {
  int D = model.layout.D;
  elign_error err;
  elign_real *z = calloc((size_t)n * D, sizeof *z), *e = calloc((size_t)n * D, sizeof *e);
  elign_real *nz = calloc((size_t)n * D, sizeof *nz);
  int64_t off[2] = {0, n};
  egnn_workspace *ws = egnn_workspace_create(&model.net, n, 1, 0);
  elign_rng r = elign_rng_stream(cfg->seed, cfg->iteration, (uint32_t)g, 0, 0, ELIGN_RNG_PRIOR);
  diffusion_noise_molecule(z, &r, n, D);
  for (int t = T; t >= 1; t--) {
    int s = t - 1;
    double gt = diffusion_gamma(&model.sched, t, T), gs = diffusion_gamma(&model.sched, s, T);
    double sig_t = sqrt(1 / (1 + exp(-gt))), sig_s = sqrt(1 / (1 + exp(-gs)));
    double a2t = 1 / (1 + exp(gt)), a2s = 1 / (1 + exp(gs));
    double ats = sqrt(a2t / a2s), s2ts = 1 - a2t / a2s; /* plain definitions, in double */
    elign_real tau = (elign_real)((float)t / (float)T);
    ELIGN_ASSERT(egnn_dynamics_forward(&model.net, model.params, ws, 1, off, z, &tau, e, &err) == ELIGN_OK);
    elign_rng rs = elign_rng_stream(cfg->seed, cfg->iteration, (uint32_t)g, 0, (uint32_t)s, ELIGN_RNG_STEP_NOISE);
    diffusion_noise_molecule(nz, &rs, n, D);
    double sigma = sqrt(s2ts) * sig_s / sig_t;
    for (int j = 0; j < n * D; j++) z[j] = (elign_real)(z[j] / ats - s2ts / ats / sig_t * e[j] + sigma * nz[j]);
    diffusion_remove_mean(z, D, off, 1);
  }
  elign_real tau0 = 0;
  ELIGN_ASSERT(egnn_dynamics_forward(&model.net, model.params, ws, 1, off, z, &tau0, e, &err) == ELIGN_OK);
  elign_rng rd = elign_rng_stream(cfg->seed, cfg->iteration, (uint32_t)g, 0, 0, ELIGN_RNG_DECODE_NOISE);
  diffusion_noise_molecule(nz, &rd, n, D);
  double g0 = model.sched.gamma[0];
  double a0 = sqrt(1 / (1 + exp(g0))), s0 = sqrt(1 / (1 + exp(-g0))), sx = exp(0.5 * g0);
  for (int i = 0; i < n; i++) {
    for (int d = 0; d < 3; d++) {
      int j = i * D + d;
      pos[3 * i + d] = (z[j] - s0 * e[j]) / a0 + sx * nz[j];
    }
    int best = 0;
    for (int k = 1; k < model.n_types; k++)
      if (z[i * D + 3 + k] > z[i * D + 3 + best]) best = k;
    types[i] = model.type_Z[best];
  }
  egnn_workspace_free(&ws);
  free(z);
  free(e);
  free(nz);
}

/* Σ n² of the drawn sizes of molecules [a, b): the network cost the share balances. */
static double drawn_cost(const sampler_config *cfg, int64_t a, int64_t b) {
  double c = 0;
  for (int64_t g = a; g < b; g++) c += (double)sampler_draw_n_atoms(cfg, g) * sampler_draw_n_atoms(cfg, g);
  return c;
}

/* sampler_split_batches on hand-worked costs: the owners LPT gives, and the
 * contiguous split where it is better; then random costs: every batch owned
 * once, the largest load as returned, within total / W + the largest batch,
 * the same owners again. */
static void check_split_batches(void) {
  struct {
    int size, nb;
    double cost[8];
    int owner[8];
    double largest;
  } cases[] = {
      /* LPT: rank 0 gets 5 3 1, rank 1 4 3 2 → 9 | 9; contiguous 4 1 3 | 3 2 5 → 8 | 10 */
      {2, 6, {4, 1, 3, 3, 2, 5}, {1, 0, 1, 0, 1, 0}, 9},
      /* 3 ranks, ties: b2 goes to rank 0 (loads 6 6 6), then b3, b4 in
       * index order; LPT 7 7 7, contiguous 6 | 6 1 1 | 1 6 → largest 8 */
      {3, 6, {6, 6, 1, 1, 1, 6}, {0, 1, 0, 1, 2, 2}, 7},
      /* contiguous better: 3 3 | 2 2 2 → 6 | 6; LPT gives 3 2 2 | 3 2 → 7 | 5 */
      {2, 5, {3, 3, 2, 2, 2}, {0, 0, 1, 1, 1}, 6},
      /* a tie of the two: the contiguous split (LPT: 0 1 2 0 1) */
      {3, 5, {1, 1, 1, 1, 1}, {0, 0, 1, 2, 2}, 2},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int owner[8];
    double largest = sampler_split_batches(cases[c].cost, cases[c].nb, cases[c].size, owner);
    CHECK(largest == cases[c].largest && memcmp(owner, cases[c].owner, (size_t)cases[c].nb * sizeof(int)) == 0);
  }
  unsigned seed = 12345;
  int ok = 1;
  for (int trial = 0; trial < 200; trial++) {
    int nb = 1 + trial % 23, size = 1 + trial % 7, owner[23], again[23];
    double cost[23], total = 0, most = 0, load[7] = {0}, max_load = 0;
    for (int b = 0; b < nb; b++) {
      seed = seed * 1103515245u + 12345u;
      cost[b] = (double)(1 + (seed >> 16) % 400); /* n² of molecules up to 20 atoms */
      total += cost[b];
      if (cost[b] > most) most = cost[b];
    }
    double largest = sampler_split_batches(cost, nb, size, owner);
    for (int b = 0; b < nb; b++) {
      ok &= owner[b] >= 0 && owner[b] < size;
      if (owner[b] >= 0 && owner[b] < size) load[owner[b]] += cost[b];
    }
    for (int r = 0; r < size; r++) max_load = load[r] > max_load ? load[r] : max_load;
    ok &= largest == max_load && largest <= total / size + most;
    sampler_split_batches(cost, nb, size, again);
    ok &= memcmp(owner, again, (size_t)nb * sizeof(int)) == 0;
  }
  CHECK(ok);
}

/* The molecules of several ranks' outputs, in global index order (ids). */
static void join_in_index_order(elign_molset *joined, const elign_molset *parts, int n_parts, int64_t n_total) {
  elign_molset_init(joined);
  for (int64_t g = 0; g < n_total; g++)
    for (int p = 0; p < n_parts; p++)
      for (int64_t m = 0; m < parts[p].n_mol; m++)
        if (parts[p].ids[m] == g) {
          elign_molset part_mol;
          elign_molset_slice(&part_mol, &parts[p], m, m + 1);
          test_molset_join(joined, &part_mol);
          elign_molset_free(&part_mol);
        }
}

/* One rank's share is well formed: ascending disjoint ranges of whole
 * batches, counted right; marks each batch it holds in held[]. */
static int share_well_formed(const sampler_share *sh, int64_t n, int64_t B, int *held) {
  int ok = 1;
  int64_t count = 0, end = 0;
  for (int64_t k = 0; k < sh->n_ranges; k++) {
    sampler_range r = sh->ranges[k];
    ok &= r.count > 0 && r.first >= end && r.first % B == 0 && (r.first + r.count == n || r.count % B == 0);
    for (int64_t b = r.first / B; b * B < r.first + r.count; b++) held[b]++;
    count += r.count;
    end = r.first + r.count;
  }
  return ok && count == sh->count && end <= n;
}

/* sampler_batch_for and sampler_rank_share: the batch depends on n only;
 * over every rank count each batch goes to exactly one rank, the largest
 * rank's cost is the share reported (the same on every rank) and within one
 * batch of an equal share; the ranks' outputs, put in index order, equal
 * the one-rank run bit for bit. */
static void check_rank_share(const sampler_config *base) {
  elign_error share_err;
  CHECK(sampler_batch_for(16, 64) == 1 && sampler_batch_for(1, 64) == 1);
  CHECK(sampler_batch_for(100, 64) == 100 / SAMPLER_SPREAD_BATCHES);
  CHECK(sampler_batch_for(1000000, 64) == 64 && sampler_batch_for(1000000, 5) == 5);
  sampler_config cfg = *base;
  cfg.T = 4; /* short chains: the split, not the chain, is under test */
  for (int64_t n = 1; n <= 40; n += 13)
    for (int64_t B = 1; B <= 4; B += 3)
      for (int W = 1; W <= 5; W++) {
        cfg.batch = B;
        int64_t nb = (n + B - 1) / B;
        int held[40] = {0};
        double total = drawn_cost(&cfg, 0, n), max_batch = 0, largest = 0, share0 = -1;
        for (int64_t b = 0; b < nb; b++) {
          double c = drawn_cost(&cfg, b * B, (b + 1) * B < n ? (b + 1) * B : n);
          if (c > max_batch) max_batch = c;
        }
        int ok = 1;
        for (int r = 0; r < W; r++) {
          sampler_share sh;
          sampler_rank_share(&cfg, n, r, W, &sh);
          ok &= share_well_formed(&sh, n, B, held);
          double mine = 0;
          for (int64_t k = 0; k < sh.n_ranges; k++) mine += drawn_cost(&cfg, sh.ranges[k].first, sh.ranges[k].first + sh.ranges[k].count);
          if (mine > largest) largest = mine;
          if (r == 0) share0 = sh.largest_share;
          ok &= sh.largest_share == share0;
          sampler_share_free(&sh);
        }
        for (int64_t b = 0; b < nb; b++) ok &= held[b] == 1;
        ok &= largest <= total / W + max_batch + 1e-9 && fabs(share0 - largest / total) < 1e-12;
        CHECK(ok);
      }
  /* 11 molecules in batches of 2 over 1, 2 and 3 ranks: the same molecules, bit for bit */
  cfg.batch = 2;
  sampler_output one;
  CHECK(sampler_run(&cfg, 0, 11, NULL, &one, &share_err) == ELIGN_OK);
  for (int W = 2; W <= 3; W++) {
    elign_molset parts[3], joined;
    int scattered = 0;
    for (int r = 0; r < W; r++) {
      sampler_share sh;
      sampler_rank_share(&cfg, 11, r, W, &sh);
      scattered |= sh.n_ranges > 1;
      sampler_output part;
      CHECK(sampler_run_ranges(&cfg, sh.ranges, sh.n_ranges, NULL, &part, &share_err) == ELIGN_OK);
      parts[r] = part.mols;
      elign_free(part.charges);
      sampler_share_free(&sh);
    }
    CHECK(scattered); /* the case this checks: a rank with batches apart */
    join_in_index_order(&joined, parts, W, 11);
    CHECK(test_molsets_identical(&joined, &one.mols));
    elign_molset_free(&joined);
    for (int r = 0; r < W; r++) elign_molset_free(&parts[r]);
  }
  sampler_output_free(&one);
}

int main(void) {
  elign_error err;
  CHECK(edm_model_init_preset(&model, "qm9", 1, 1234, &err) == ELIGN_OK);
  int T = 20;
  sampler_config cfg = {.model = &model, .T = T, .steps = 0, .seed = 77, .iteration = 0, .batch = 3};

  /* atom counts: deterministic per molecule, from the histogram */
  int n0 = sampler_draw_n_atoms(&cfg, 5);
  CHECK(n0 == sampler_draw_n_atoms(&cfg, 5));
  int ok = 1;
  for (int g = 0; g < 50; g++) {
    int n = sampler_draw_n_atoms(&cfg, g);
    ok &= n >= 3 && n <= 29 && n != 28;
  }
  CHECK(ok);

  /* full run over 7 molecules, small sizes to keep it fast */
  int sizes[7] = {5, 9, 3, 12, 7, 4, 10};
  sampler_output all;
  CHECK(sampler_run(&cfg, 0, 7, sizes, &all, &err) == ELIGN_OK);
  CHECK(all.mols.n_mol == 7 && all.mols.n_atoms == 50);
  CHECK(all.max_com < 1e-3);

  /* the same indices split as sampler_rank_range does for 1, 2 and 4 ranks */
  for (int W = 2; W <= 4; W += 2) {
    elign_molset joined;
    elign_molset_init(&joined);
    for (int r = 0; r < W; r++) {
      int64_t first, count;
      sampler_rank_range(7, cfg.batch, r, W, &first, &count);
      sampler_output part;
      CHECK(sampler_run(&cfg, first, count, sizes + first, &part, &err) == ELIGN_OK);
      test_molset_join(&joined, &part.mols);
      sampler_output_free(&part);
    }
    CHECK(test_molsets_identical(&joined, &all.mols));
    elign_molset_free(&joined);
  }

  /* steps = T (stride 1) is the full sampler, bit for bit */
  sampler_config c1 = cfg;
  c1.steps = T;
  sampler_output s1;
  CHECK(sampler_run(&c1, 0, 7, sizes, &s1, &err) == ELIGN_OK);
  CHECK(test_molsets_identical(&s1.mols, &all.mols));
  sampler_output_free(&s1);

  /* independent straight-line reference, molecule by molecule (batch 1) */
  sampler_config cb = cfg;
  cb.batch = 1;
  sampler_output one;
  CHECK(sampler_run(&cb, 0, 7, sizes, &one, &err) == ELIGN_OK);
  double max_dev = 0, max_dev_batch = 0;
  int types_ok = 1;
  for (int g = 0; g < 7; g++) {
    double pos[3 * 12];
    int32_t ty[12];
    reference_sample(&cfg, g, sizes[g], T, pos, ty);
    int64_t a0 = one.mols.offsets[g];
    for (int i = 0; i < sizes[g]; i++) {
      types_ok &= ty[i] == one.mols.Z[a0 + i];
      for (int d = 0; d < 3; d++) {
        double dv = fabs(pos[3 * i + d] - one.mols.pos[3 * (a0 + i) + d]);
        double db = fabs(one.mols.pos[3 * (a0 + i) + d] - all.mols.pos[3 * (a0 + i) + d]);
        if (dv > max_dev) max_dev = dv;
        if (db > max_dev_batch) max_dev_batch = db;
      }
    }
  }
  printf("reference vs sampler max |dx| %.3g Å; batch 1 vs batch 3 %.3g Å\n", max_dev, max_dev_batch);
  CHECK(types_ok);
  CHECK(max_dev < 1e-3);
  CHECK(max_dev_batch < 1e-3);
  sampler_output_free(&one);

  /* strided chain: T = 20, K = 5 (stride 4); finite, centred, different from full */
  sampler_config c5 = cfg;
  c5.steps = 5;
  sampler_output s5;
  CHECK(sampler_run(&c5, 0, 7, sizes, &s5, &err) == ELIGN_OK);
  int finite = 1;
  for (int64_t j = 0; j < 3 * s5.mols.n_atoms; j++) finite &= isfinite(s5.mols.pos[j]);
  CHECK(finite);
  CHECK(s5.max_com < 1e-3);
  CHECK(!test_molsets_identical(&s5.mols, &all.mols));
  sampler_output_free(&s5);
  c5.steps = 3;
  CHECK(sampler_run(&c5, 0, 7, sizes, &s5, &err) == ELIGN_ERR_ARG); /* 3 does not divide 20 */

  sampler_output_free(&all);
  check_split_batches();
  check_rank_share(&cfg);
  edm_model_free(&model);
  return test_main_result("test_sampler");
}
