/* test_grpo.c — the FED-GRPO numerics (learner/) on small hand-computed
 * cases: settings, rewards (clip, rms/max, energy transforms, failures,
 * gates, bonus, hard and soft valence), the reward scheduler (the spec's
 * worked examples), delta shaping, the filter (dedup keep-max, penalties,
 * no valid molecule), the three advantage paths, PPO-clip (zero drift →
 * ratio exactly 1), the micro-batch plan, the chemistry adapter to
 * common/chem; and in the double build the whole
 * step gradient dL/dε̂ against central finite differences. The random-input
 * comparison with an independent PyTorch/NumPy version is test_grpo_ref.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learner/advantages.h"
#include "common/chem/elements.h"
#include "common/chem/stability.h"
#include "learner/filter.h"
#include "learner/grpo_chem.h"
#include "learner/grpo_settings.h"
#include "learner/ppo.h"
#include "learner/rewards.h"
#include "learner/shaping.h"
#include "tests/testrng.h"
#include "tests/testutil.h"
#include "tests/testutil_fd.h"

#define EXACT(got, want) CHECK_CLOSE((got), (want), 1e-12, 1e-12)

static grpo_settings base_settings(void) {
  grpo_settings s;
  grpo_settings_defaults(&s);
  s.model.time_step = 1000;
  s.train.clip_range = 0.2;
  s.train.train_micro_batch_size = 8;
  return s;
}

/* ---- settings ---------------------------------------------------------------- */

static void test_settings(void) {
  grpo_settings s;
  elign_error err;
  grpo_settings_defaults(&s);
  CHECK(grpo_settings_validate(&s, &err) == ELIGN_ERR_CONFIG && strstr(err.msg, "model.time_step"));
  CHECK(grpo_settings_set_number(&s, "model.time_step", 1000, &err) == ELIGN_OK);
  CHECK(grpo_settings_set_number(&s, "train.clip_range", 0.002, &err) == ELIGN_OK);
  CHECK(grpo_settings_set_number(&s, "train.train_micro_batch_size", 8, &err) == ELIGN_OK);
  CHECK(grpo_settings_validate(&s, &err) == ELIGN_OK);
  CHECK(s.train.clip_range == 0.002 && s.model.time_step == 1000);

  CHECK(grpo_settings_set_enum(&s, "reward.shaping.mode", "paper", &err) == ELIGN_OK);
  CHECK(s.reward.shaping.mode == GRPO_SHAPING_PBRS_RETURN_TO_GO);
  CHECK(grpo_settings_set_enum(&s, "reward.shaping.mode", "delta", &err) == ELIGN_OK);
  CHECK(s.reward.shaping.mode == GRPO_SHAPING_DELTA);
  CHECK(grpo_settings_set_enum(&s, "reward.shaping.mode", "nonsense", &err) == ELIGN_ERR_CONFIG &&
        strstr(err.msg, "reward.shaping.mode") && strstr(err.msg, "nonsense"));
  CHECK(grpo_settings_set_enum(&s, "reward.energy_atom_refs", "omol", &err) == ELIGN_OK && s.reward.energy_atom_refs);
  CHECK(grpo_settings_set_null(&s, "reward.energy_atom_refs", &err) == ELIGN_OK && !s.reward.energy_atom_refs);
  CHECK(grpo_settings_set_number(&s, "reward.no_such_key", 1, &err) == ELIGN_ERR_CONFIG &&
        strstr(err.msg, "reward.no_such_key"));
  CHECK(grpo_settings_set_number(&s, "model.time_step", 1.5, &err) == ELIGN_ERR_CONFIG &&
        strstr(err.msg, "model.time_step"));
  CHECK(grpo_settings_set_null(&s, "train.clip_range", &err) == ELIGN_ERR_CONFIG);
  CHECK(grpo_settings_set_number(&s, "reward.force_clip_threshold", 2.0, &err) == ELIGN_OK &&
        s.reward.force_clip_threshold == 2.0);
  CHECK(grpo_settings_set_null(&s, "reward.force_clip_threshold", &err) == ELIGN_OK &&
        !grpo_is_set(s.reward.force_clip_threshold));

  /* skip prefix fall-backs (§4.3): model, else scheduler, else shaping */
  s.reward.shaping.skip_prefix = 700;
  CHECK(grpo_rollout_skip_prefix(&s) == 700 && grpo_scheduler_skip_prefix(&s) == 700);
  s.reward.shaping.scheduler.skip_prefix = 600;
  CHECK(grpo_rollout_skip_prefix(&s) == 600);
  s.model.skip_prefix = 900;
  CHECK(grpo_rollout_skip_prefix(&s) == 900 && grpo_scheduler_skip_prefix(&s) == 600);

  /* advantage clamps: 0 or null means 5 on both sides (D6) */
  s.train.adv_clip_max = 0;
  CHECK(grpo_advantage_clip(&s) == 5.0 && grpo_actor_advantage_clip(&s) == 5.0);
  s.train.clip_advantage_value = 3.0;
  CHECK(grpo_advantage_clip(&s) == 3.0 && grpo_actor_advantage_clip(&s) == 5.0);
  s.train.adv_clip_max = 10.0;
  CHECK(grpo_actor_advantage_clip(&s) == 10.0);
  CHECK(grpo_force_adv_weight(&s) == 1.0);
  s.reward.force_weight = 0.3;
  CHECK(grpo_force_adv_weight(&s) == 0.3);
  s.reward.force_adv_weight = 2.0;
  CHECK(grpo_force_adv_weight(&s) == 2.0);
  CHECK(grpo_reward_terminal_weight(&s) == 1.0); /* shaping off */
  s.reward.shaping.enabled = 1;
  CHECK(grpo_reward_terminal_weight(&s) == 1.5);

  grpo_settings t = base_settings();
  t.reward.shaping.scheduler.uniform_stride = 0;
  CHECK(grpo_settings_validate(&t, &err) == ELIGN_ERR_CONFIG && strstr(err.msg, "uniform_stride"));
  t = base_settings();
  t.reward.valence_soft_temperature = 0;
  CHECK(grpo_settings_validate(&t, &err) == ELIGN_ERR_CONFIG && strstr(err.msg, "valence_soft_temperature"));
  t = base_settings();
  t.reward.energy_transform_scale = 0;
  CHECK(grpo_settings_validate(&t, &err) == ELIGN_ERR_CONFIG && strstr(err.msg, "energy_transform_scale"));
}

/* ---- rewards ------------------------------------------------------------------- */

static void test_force_energy(void) {
  grpo_settings s = base_settings();
  double F[6] = {3, 4, 0, 0, 0, 1}; /* |F| = 5 and 1 */
  EXACT(grpo_force_metric(F, 2, &s), sqrt(13.0));
  EXACT(grpo_force_metric(F, 0, &s), 0.0);
  s.reward.force_aggregation = GRPO_FORCE_MAX;
  EXACT(grpo_force_metric(F, 2, &s), 5.0);
  s.reward.force_clip_threshold = 2.0; /* 5 → 2·5/(5 + 1e−12) */
  CHECK_CLOSE(grpo_force_metric(F, 2, &s), 2.0, 1e-11, 0);
  s.reward.force_aggregation = GRPO_FORCE_RMS;
  CHECK_CLOSE(grpo_force_metric(F, 2, &s), sqrt(2.5), 1e-11, 0);

  /* group4x6: offset 1e4, scale 1e3, clip 5 */
  s = base_settings();
  s.reward.energy_transform_clip = 5.0;
  EXACT(grpo_energy_potential(-9500.0, 12, 0.0, &s), -0.5);
  EXACT(grpo_energy_potential(0.0, 12, 0.0, &s), -5.0);
  EXACT(grpo_energy_potential(-20000.0, 12, 0.0, &s), 5.0);
  /* paper config: atom refs, per atom, offset 0, scale 1 */
  s = base_settings();
  s.reward.energy_transform_offset = 0.0;
  s.reward.energy_transform_scale = 1.0;
  s.reward.energy_normalize_by_atoms = 1;
  EXACT(grpo_energy_potential(-1000.0, 5, -990.0, &s), 2.0);
  EXACT(grpo_energy_potential(-1000.0, 0, -990.0, &s), 10.0); /* n = 0 divides by 1 */
  int32_t ty[3] = {0, 1, 1};
  double refs[2] = {-13.6, -1029.5};
  EXACT(grpo_atom_ref_sum(ty, 3, refs), -13.6 - 2 * 1029.5);
}

static grpo_valence_table hcn_table(void) {
  grpo_valence_table vt = {.n_types = 3};
  vt.n_allowed[0] = 1, vt.allowed[0][0] = 1;                        /* H 1 */
  vt.n_allowed[1] = 1, vt.allowed[1][0] = 4;                        /* C 4 */
  vt.n_allowed[2] = 2, vt.allowed[2][0] = 3, vt.allowed[2][1] = 5; /* N {3, 5} */
  return vt;
}

static void test_valence(void) {
  grpo_valence_table vt = hcn_table();
  double miss, exc;
  int32_t ty[3] = {1, 0, 0}, nb[3] = {3, 2, 1}; /* C under by 1, H over by 1, H fine */
  grpo_valence_hard(&miss, &exc, nb, ty, 3, &vt, 1, 1);
  EXACT(miss, 1.0);
  EXACT(exc, 1.0);
  int32_t tn[1] = {2}, n4[1] = {4}, n6[1] = {6}, n1[1] = {1}, n5[1] = {5};
  grpo_valence_hard(&miss, &exc, n4, tn, 1, &vt, 1, 1); /* N with 4: tie → excess */
  CHECK(miss == 0 && exc == 1);
  grpo_valence_hard(&miss, &exc, n4, tn, 1, &vt, 1, 2); /* over costs more → missing */
  CHECK(miss == 1 && exc == 0);
  grpo_valence_hard(&miss, &exc, n4, tn, 1, &vt, 0, 2); /* w_under = 0 → excess */
  CHECK(miss == 0 && exc == 1);
  grpo_valence_hard(&miss, &exc, n4, tn, 1, &vt, 3, 0); /* w_over = 0 → missing */
  CHECK(miss == 1 && exc == 0);
  grpo_valence_hard(&miss, &exc, n6, tn, 1, &vt, 1, 1);
  CHECK(miss == 0 && exc == 1);
  grpo_valence_hard(&miss, &exc, n1, tn, 1, &vt, 1, 1);
  CHECK(miss == 2 && exc == 0);
  grpo_valence_hard(&miss, &exc, n5, tn, 1, &vt, 1, 1);
  CHECK(miss == 0 && exc == 0);

  /* soft: H–H at exactly the single-bond threshold 0.84 Å gives order ½ each */
  grpo_bond_table bt = {.n_types = 3, .margin_pm = {10, 5, 3}};
  bt.length_pm[0][0][0] = 74;
  bt.length_pm[0][1][1] = 154, bt.length_pm[1][1][1] = 134, bt.length_pm[2][1][1] = 120;
  double hh[6] = {0, 0, 0, 0.84, 0, 0};
  int32_t t_hh[2] = {0, 0};
  grpo_valence_soft(&miss, &exc, hh, t_hh, 2, &bt, &vt, 0.02);
  CHECK_CLOSE(miss, 1.0, 1e-7, 0);
  CHECK_CLOSE(exc, 0.0, 1e-12, 0);
  /* C–C at 1.30 Å, τ = 0.05: single + double + triple sigmoids */
  double cc[6] = {0, 0, 0, 0, 1.30, 0};
  int32_t t_cc[2] = {1, 1};
  double tau = 0.05;
  double o = 1 / (1 + exp(-(1.64 - 1.30) / tau)) + 1 / (1 + exp(-(1.39 - 1.30) / tau)) +
             1 / (1 + exp(-(1.23 - 1.30) / tau));
  grpo_valence_soft(&miss, &exc, cc, t_cc, 2, &bt, &vt, tau);
  CHECK_CLOSE(miss, 2 * (4 - (double)(float)o), 1e-6, 0);
  /* H–C has no entry in this table: no bond at all */
  int32_t t_hc[2] = {0, 1};
  grpo_valence_soft(&miss, &exc, hh, t_hc, 2, &bt, &vt, 0.02);
  EXACT(miss, 1.0 + 4.0);
}

static void test_failures(void) {
  grpo_settings s = base_settings();
  s.reward.use_energy = 1;
  s.reward.oracle_failure_margin = 0.5;
  int64_t off[5] = {0, 1, 2, 3, 4};
  double F[12] = {0, 3, 4, 1, 0, 0, 0, 0, 2, 0, 0, 0};
  double E[4] = {-9000, -9500, -9700, -9900};
  uint8_t ok[4] = {1, 0, 1, 1}, failed[4];
  F[9] = NAN; /* molecule 3: a NaN force is a failure too */
  grpo_oracle_frame fr = {F, E, ok};
  double pf[4], pe[4];
  CHECK(grpo_frame_potentials(pf, pe, failed, &fr, 4, off, NULL, &s) == 2);
  CHECK(failed[0] == 0 && failed[1] == 1 && failed[2] == 0 && failed[3] == 1);
  EXACT(pf[0], -5.0);
  EXACT(pf[2], -2.0);
  EXACT(pf[1], -5.5); /* worst evaluated (−5) minus the margin */
  EXACT(pf[3], -5.5);
  EXACT(pe[0], -1.0);
  EXACT(pe[2], -0.3);
  EXACT(pe[1], -1.5);
  /* the public fallback: (5,0,0) per atom (clipped to 2) and E = 0 → −10 */
  s.reward.oracle_failure = GRPO_FAILURE_REFERENCE;
  s.reward.force_clip_threshold = 2.0;
  grpo_frame_potentials(pf, pe, failed, &fr, 4, off, NULL, &s);
  CHECK_CLOSE(pf[1], -2.0, 1e-11, 0);
  EXACT(pe[1], -10.0);
  /* nothing evaluated: all failures at −margin */
  uint8_t none[4] = {0, 0, 0, 0};
  fr.ok = none;
  s.reward.oracle_failure = GRPO_FAILURE_MIN_MARGIN;
  CHECK(grpo_frame_potentials(pf, pe, failed, &fr, 4, off, NULL, &s) == 4);
  CHECK(pf[0] == -0.5 && pf[3] == -0.5 && pe[2] == -0.5);
}

/* group4x6 (Appendix B): f = −rms(clip₂ F) + 2(2st − 1), e = st·(−clamp((E + 1e4)/1e3, ±5)). */
static void test_terminal_rewards(void) {
  grpo_settings s = base_settings();
  s.reward.force_clip_threshold = 2.0;
  s.reward.use_energy = 1;
  s.reward.energy_only_if_stable = 1;
  s.reward.stability_weight = 2.0;
  s.reward.energy_transform_clip = 5.0;
  s.reward.energy_weight = 0.5;
  int64_t off[3] = {0, 2, 3};
  int32_t ty[3] = {0, 1, 0}, grp[2] = {0, 0}, nst[2] = {2, 0};
  uint8_t st[2] = {1, 0};
  double F[9] = {1, 0, 0, 0, 3, 0, 0, 0, 0.5}, E[2] = {-11000, -9000};
  grpo_oracle_frame fr = {F, E, NULL};
  double pf[2], pe[2];
  uint8_t failed[2];
  grpo_frame_potentials(pf, pe, failed, &fr, 2, off, NULL, &s);
  grpo_chem_input chem = {.stable = st, .n_stable_atoms = nst};
  grpo_mol_terms terms[2];
  elign_error err;
  CHECK(grpo_molecule_terms(terms, 2, off, ty, &chem, &s, &err) == ELIGN_OK);
  EXACT(terms[0].bonus, 2.0);
  EXACT(terms[1].bonus, -2.0);
  EXACT(terms[1].atom_stability, 0.0);
  grpo_reward_batch rb;
  grpo_reward_batch_init(&rb, 2, grp);
  grpo_rewards_terminal(&rb, pf, pe, failed, terms, &s);
  double m0 = sqrt((1.0 + 4.0 * (3 / (3 + 1e-12)) * (3 / (3 + 1e-12))) / 2.0); /* 3 clipped to 2 */
  CHECK_CLOSE(rb.force_rewards[0], -m0 + 2.0, 1e-12, 0);
  EXACT(rb.force_rewards[1], -0.5 - 2.0);
  EXACT(rb.energy_rewards[0], 1.0); /* (−11000 + 1e4)/1e3 = −1 → +1 */
  EXACT(rb.energy_rewards[1], 0.0); /* unstable: gated */
  EXACT(rb.weighted_energy_rewards[0], 0.5);
  CHECK_CLOSE(rb.rewards[0], rb.force_rewards[0] + 0.5, 1e-12, 0);
  CHECK(!rb.has_rewards_ts && !rb.has_force_ts && !rb.has_energy_ts);
  grpo_reward_batch_free(&rb);

  /* a missing input named in the error */
  s.reward.valence_underbond_weight = 1.0;
  CHECK(grpo_molecule_terms(terms, 2, off, ty, &chem, &s, &err) == ELIGN_ERR_ARG && strstr(err.msg, "valence"));
  grpo_valence_table vt = hcn_table();
  int32_t nb[3] = {1, 4, 5};
  chem.valence = &vt;
  chem.nr_bonds = nb;
  CHECK(grpo_molecule_terms(terms, 2, off, ty, &chem, &s, &err) == ELIGN_OK);
  EXACT(terms[1].valence_overbond, 4.0);
  EXACT(terms[1].bonus, -2.0); /* over weight 0: only the stability part */
  int32_t bad[3] = {0, 7, 0};
  CHECK(grpo_molecule_terms(terms, 2, off, bad, &chem, &s, &err) == ELIGN_ERR_ARG && strstr(err.msg, "type 7"));
}

/* ---- scheduler and shaping --------------------------------------------------------- */

static void test_schedule(void) {
  int T = 1000, ts[1001];
  grpo_standard_timesteps(ts, T);
  CHECK(ts[0] == 999 && ts[999] == 0 && ts[1000] == 0);
  grpo_settings s = base_settings();
  grpo_schedule sch;
  elign_error err;
  /* base config: adaptive, skip 500 → 500, 510, …, 740 then 750, 752, …, 1000 */
  s.reward.shaping.scheduler.mode = GRPO_SCHEDULER_ADAPTIVE;
  s.reward.shaping.scheduler.skip_prefix = 500;
  CHECK(grpo_schedule_build(&sch, ts, T + 1, &s, &err) == ELIGN_OK);
  CHECK(sch.n == 151);
  int ok = 1;
  for (int j = 0; j < 25; j++) ok &= sch.indices[j] == 500 + 10 * j && !sch.fine[j] && sch.intervals[j] == 10;
  for (int j = 25; j < 151; j++) ok &= sch.indices[j] == 750 + 2 * (j - 25) && sch.fine[j];
  CHECK(ok);
  CHECK(sch.intervals[24] == 10 && sch.intervals[25] == 2 && sch.intervals[150] == 1);
  grpo_schedule_free(&sch);
  /* paper config: uniform stride 1, skip 600 → 600…1000 */
  s = base_settings();
  s.reward.shaping.skip_prefix = 600;
  CHECK(grpo_schedule_build(&sch, ts, T + 1, &s, &err) == ELIGN_OK);
  CHECK(sch.n == 401 && sch.indices[0] == 600 && sch.indices[400] == 1000 && !sch.fine[400]);
  grpo_schedule_free(&sch);
  /* stride 3 over 11 frames: 0 3 6 9, + 10 only with include_terminal */
  int ts10[11];
  grpo_standard_timesteps(ts10, 10);
  s.reward.shaping.skip_prefix = 0;
  s.reward.shaping.scheduler.uniform_stride = 3;
  grpo_schedule_build(&sch, ts10, 11, &s, &err);
  CHECK(sch.n == 5 && sch.indices[3] == 9 && sch.indices[4] == 10 && sch.intervals[3] == 1);
  grpo_schedule_free(&sch);
  s.reward.shaping.scheduler.include_terminal = 0;
  grpo_schedule_build(&sch, ts10, 11, &s, &err);
  CHECK(sch.n == 4 && sch.indices[3] == 9 && sch.intervals[3] == 1);
  grpo_schedule_free(&sch);
  /* a skip past the end starts (and ends) at the decode frame */
  s.reward.shaping.skip_prefix = 50;
  grpo_schedule_build(&sch, ts10, 11, &s, &err);
  CHECK(sch.n == 1 && sch.indices[0] == 10);
  grpo_schedule_free(&sch);
}

/* delta: T = 4, frames 0, 2, 4; Φ_F = −3, −2, −1; tw = 5 → force trace 1, 0, 1, 0, −5. */
static void test_delta_shaping(void) {
  grpo_settings s = base_settings();
  s.reward.shaping.enabled = 1;
  s.reward.shaping.terminal_weight = 5.0;
  s.reward.shaping.scheduler.uniform_stride = 2;
  s.reward.stability_weight = 1.0;
  int ts[5];
  grpo_standard_timesteps(ts, 4);
  grpo_schedule sch;
  elign_error err;
  CHECK(grpo_schedule_build(&sch, ts, 5, &s, &err) == ELIGN_OK && sch.n == 3);
  double phi_f[3] = {-3, -2, -1};
  grpo_mol_terms terms[1] = {{.stability = 1, .bonus = 1.0}};
  grpo_reward_batch rb;
  grpo_reward_batch_init(&rb, 1, NULL);
  CHECK(grpo_rewards_shaped(&rb, &sch, 5, phi_f, NULL, NULL, terms, &s, &err) == ELIGN_OK);
  CHECK(rb.has_rewards_ts && rb.has_force_ts && !rb.has_energy_ts);
  double want[5] = {1, 0, 1, 0, -5 + 5 * 1.0}; /* terminal tw·Φ plus tw·bonus */
  CHECK_ARRAY(rb.force_rewards_ts, want, 5, 1e-12, 0);
  CHECK_ARRAY(rb.rewards_ts, want, 5, 1e-12, 0);
  EXACT(rb.force_rewards[0], -1.0 + 1.0);
  EXACT(rb.rewards[0], 2.0);
  grpo_reward_batch_free(&rb);
  grpo_schedule_free(&sch);
}

/* ---- filter ------------------------------------------------------------------------- */

static void fill_batch(grpo_reward_batch *rb, const double *f, const double *e, int64_t n) {
  for (int64_t b = 0; b < n; b++) {
    rb->force_rewards[b] = f[b];
    rb->energy_rewards[b] = e[b];
    rb->weighted_force_rewards[b] = f[b];
    rb->weighted_energy_rewards[b] = e[b];
    rb->rewards[b] = f[b] + e[b];
  }
}

static void test_filter(void) {
  grpo_settings s = base_settings();
  s.filters.enable_filtering = 1;
  s.filters.duplicate_penalty_scale = 0.1;
  s.filters.invalid_penalty_scale = 2.0;
  const char *smiles[5] = {"CC", "CC", NULL, "CO", "CC"};
  double f[5] = {-1, -0.5, -3, -2, -0.5}, e[5] = {1, 2, 3, 4, 5};
  grpo_reward_batch rb;
  grpo_reward_batch_init(&rb, 5, NULL);
  fill_batch(&rb, f, e, 5);
  grpo_filter_stats st;
  uint8_t valid[5];
  elign_error err;
  CHECK(grpo_filter_apply(&rb, &st, valid, smiles, NULL, &s, &err) == ELIGN_OK);
  EXACT(st.rdkit_validity, 0.8);
  EXACT(st.rdkit_uniqueness, 0.5);
  CHECK(valid[2] == 0 && valid[0] == 1);
  /* CC: keep index 1 (the first of the two −0.5), it pays 0.1·2; invalid kept */
  CHECK(st.n_kept == 3 && rb.n_mol == 3 && rb.source_index[0] == 1 && rb.source_index[1] == 2 &&
        rb.source_index[2] == 3);
  EXACT(rb.force_rewards[0], -0.7);
  EXACT(rb.force_rewards[1], -2.0 - 2.0); /* min over the valid (pre-dedup) batch: −2, minus 2 */
  EXACT(rb.force_rewards[2], -2.0);
  EXACT(rb.energy_rewards[0], 1.8);
  EXACT(rb.energy_rewards[1], 1.0 - 2.0);
  EXACT(rb.weighted_force_rewards[0], -0.5); /* the penalty does not reach the weighted scalars */
  EXACT(rb.weighted_force_rewards[1], -2.0 - 2.0);
  EXACT(st.filter_ratio, 0.6);
  grpo_reward_batch_free(&rb);

  /* novelty penalty alone: invalid and known molecules get −scale; nothing dropped */
  s = base_settings();
  s.filters.enable_penalty = 1;
  uint8_t known[5] = {1, 0, 0, 0, 0};
  grpo_reward_batch_init(&rb, 5, NULL);
  fill_batch(&rb, f, e, 5);
  CHECK(grpo_filter_apply(&rb, &st, NULL, smiles, NULL, &s, &err) == ELIGN_ERR_ARG); /* needs `known` */
  CHECK(grpo_filter_apply(&rb, &st, NULL, smiles, known, &s, &err) == ELIGN_OK);
  CHECK(rb.n_mol == 5);
  EXACT(rb.force_rewards[0], -1.5);
  EXACT(rb.force_rewards[2], -3.5);
  EXACT(rb.force_rewards[1], -0.5);
  EXACT(st.novelty_penalty_ratio, 1.0 - 2.0 / 5.0);
  grpo_reward_batch_free(&rb);

  /* no valid molecule: every channel → min over all − c (all zero after the gate) */
  s = base_settings();
  s.filters.invalid_penalty_scale = 2.0;
  s.filters.enable_filtering = 1;
  const char *none[3] = {NULL, NULL, NULL};
  grpo_reward_batch_init(&rb, 3, NULL);
  fill_batch(&rb, f, e, 3);
  grpo_reward_batch_alloc_traces(&rb, 2, 0, 1, 0);
  for (int k = 0; k < 6; k++) rb.force_rewards_ts[k] = 1.0 + k;
  CHECK(grpo_filter_apply(&rb, &st, NULL, none, NULL, &s, &err) == ELIGN_OK);
  CHECK(rb.n_mol == 3 && st.rdkit_validity == 0 && st.rdkit_uniqueness == 0);
  for (int b = 0; b < 3; b++) {
    EXACT(rb.force_rewards[b], -2.0);
    EXACT(rb.rewards[b], -2.0);
    EXACT(rb.force_rewards_ts[2 * b], 0.0);
    EXACT(rb.force_rewards_ts[2 * b + 1], -2.0);
  }
  grpo_reward_batch_free(&rb);

  /* all switches off: the batch passes unchanged */
  s = base_settings();
  grpo_reward_batch_init(&rb, 5, NULL);
  fill_batch(&rb, f, e, 5);
  CHECK(grpo_filter_apply(&rb, &st, NULL, smiles, NULL, &s, &err) == ELIGN_OK);
  CHECK(rb.n_mol == 5 && rb.force_rewards[2] == -3 && st.filter_ratio == 1.0);
  grpo_reward_batch_free(&rb);
}

/* ---- advantages ------------------------------------------------------------------- */

static void test_advantages_terminal(void) {
  grpo_settings s = base_settings();
  int32_t grp[6] = {0, 0, 1, 2, 2, 2};
  double f[6] = {1, 3, 7, 5, 5, 5}, e[6] = {0, 0, 4, 0.1, 0.1, 0.1};
  grpo_reward_batch rb;
  grpo_reward_batch_init(&rb, 6, grp);
  fill_batch(&rb, f, e, 6);
  grpo_advantages a;
  elign_error err;
  CHECK(grpo_advantages_compute(&a, &rb, 1000, NULL, NULL, &s, &err) == ELIGN_OK);
  CHECK(a.path == GRPO_ADV_TERMINAL && a.cols == 1 && a.n_groups == 3);
  double d = 1.0 / (1.0 + 1e-8);
  EXACT(a.adv[0], -d);
  EXACT(a.adv[1], d);
  CHECK(a.adv[2] == 0.0); /* a group of one */
  CHECK(a.adv[3] == 0.0 && a.adv[4] == 0.0 && a.adv[5] == 0.0); /* constant channels, exactly 0 */
  CHECK(a.n_zero_signal == 2);
  EXACT(grpo_advantage_at(&a, 1, 577), d);
  grpo_advantages_free(&a);

  /* energy weight and the clamp */
  s.reward.energy_adv_weight = 10.0;
  s.train.adv_clip_max = 3.0;
  double e2[6] = {2, 0, 0, 0, 0, 0};
  fill_batch(&rb, f, e2, 6);
  grpo_advantages_compute(&a, &rb, 1000, NULL, NULL, &s, &err);
  EXACT(a.adv[0], 3.0);  /* −d + 10·d clamped */
  EXACT(a.adv[1], -3.0); /* d − 10·d clamped */
  grpo_advantages_free(&a);
  grpo_reward_batch_free(&rb);
}

static void test_advantages_per_step(void) {
  grpo_settings s = base_settings();
  int T = 2, ts[3];
  grpo_standard_timesteps(ts, T);
  int32_t grp[2] = {4, 4};
  grpo_reward_batch rb;
  grpo_reward_batch_init(&rb, 2, grp);
  grpo_advantages a;
  elign_error err;
  double d = 1.0 / (1.0 + 1e-8);

  /* delta, combined trace only: decode column folded into the last transition */
  grpo_reward_batch_alloc_traces(&rb, 3, 1, 0, 0);
  double rts[6] = {1, 2, 10, 3, 1, 0};
  memcpy(rb.rewards_ts, rts, sizeof rts);
  s.reward.shaping.terminal_weight = 1.5;
  CHECK(grpo_advantages_compute(&a, &rb, T, ts, NULL, &s, &err) == ELIGN_OK);
  CHECK(a.path == GRPO_ADV_DELTA && a.cols == 2);
  EXACT(a.adv[0], -d);
  EXACT(a.adv[1], 1.5 * (0.5 * 11) / (0.5 * 11 + 1e-8));
  EXACT(a.adv[2], d);
  EXACT(a.adv[3], -1.5 * (0.5 * 11) / (0.5 * 11 + 1e-8));
  grpo_advantages_free(&a);

  /* PBRS: Ψ₀ = e = (1, 2); Ψ(·,0) = (0.5, 1.0), Ψ(·,1) = (0.2, 0.4); f = (1, 3) */
  s.reward.shaping.mode = GRPO_SHAPING_PBRS_RETURN_TO_GO;
  s.reward.shaping.terminal_weight = 1.0;
  grpo_reward_batch_alloc_traces(&rb, 3, 0, 1, 1);
  double ets[6] = {0.5, 0.2, 9, 1.0, 0.4, 9};
  memcpy(rb.energy_rewards_ts, ets, sizeof ets);
  double f[2] = {1, 3}, e[2] = {1, 2};
  fill_batch(&rb, f, e, 2);
  CHECK(grpo_advantages_compute(&a, &rb, T, ts, NULL, &s, &err) == ELIGN_OK);
  CHECK(a.path == GRPO_ADV_PBRS);
  /* G = Ψ₀ − Ψ_k: column 0 (0.5, 1.0), column 1 (0.8, 1.6) */
  double a0 = -d - 0.25 / (0.25 + 1e-8), a1 = -d - 0.4 / (0.4 + 1e-8);
  EXACT(a.adv[0], a0);
  EXACT(a.adv[1], a1);
  EXACT(a.adv[2], -a0);
  EXACT(a.adv[3], -a1);
  CHECK(a.n_zero_signal == 0);
  grpo_advantages_free(&a);
  /* γ = 0.5: column 0 has t = 2: 0.25·Ψ₀ − Ψ = (−0.25, −0.5) → normalised (+, −) */
  s.reward.shaping.gamma = 0.5;
  s.reward.shaping.terminal_weight = 1.5;
  grpo_schedule sch = {.n = 2, .indices = (int[]){0, 2}};
  CHECK(grpo_advantages_compute(&a, &rb, T, ts, &sch, &s, &err) == ELIGN_OK);
  EXACT(a.adv[0], -d + 0.125 / (0.125 + 1e-8));
  EXACT(a.adv[1], 1.5 * -d); /* column 1 unscheduled: force only, times the terminal weight */
  grpo_advantages_free(&a);
  /* the wrong number of columns is an error */
  CHECK(grpo_advantages_compute(&a, &rb, 5, ts, NULL, &s, &err) == ELIGN_ERR_ARG);
  grpo_reward_batch_free(&rb);
}

/* ---- PPO ----------------------------------------------------------------------------- */

static void test_ppo_clip(void) {
  enum { N = 6 };
  uint64_t st = 7;
  double logp[N], old[N], adv[N], dl[N];
  for (int b = 0; b < N; b++) {
    old[b] = -300.0 + 50 * testrng_normal(&st);
    logp[b] = old[b]; /* zero drift */
    adv[b] = 2 * testrng_normal(&st);
  }
  grpo_ppo_stats ps;
  grpo_ppo_clip_loss(&ps, dl, logp, old, adv, N, 0.002, 5.0, 0.1);
  CHECK(ps.ratio_min == 1.0 && ps.ratio_max == 1.0 && ps.ratio_mean == 1.0);
  CHECK(ps.clipfrac == 0.0);
  double sum = 0;
  for (int b = 0; b < N; b++) {
    EXACT(dl[b], -0.1 * adv[b]);
    sum += -adv[b];
  }
  EXACT(ps.policy_loss, sum / N);
  EXACT(ps.weighted_loss, 0.1 * sum);

  /* the four sides of the clip, ε = 0.1 */
  double lp[5] = {log(1.5), log(1.5), log(0.5), log(0.5), 0.0}, o0[5] = {0, 0, 0, 0, 0};
  double A[5] = {1.0, -1.0, 1.0, -1.0, 7.0};
  grpo_ppo_clip_loss(&ps, dl, lp, o0, A, 5, 0.1, 5.0, 1.0);
  EXACT(dl[0], 0.0);        /* ρ > 1+ε, A > 0: clipped term wins, no gradient */
  EXACT(dl[1], 1.0 * 1.5);  /* ρ > 1+ε, A < 0: −Aρ wins, d/dℓ = −A ρ */
  EXACT(dl[2], -1.0 * 0.5); /* ρ < 1−ε, A > 0: −Aρ wins */
  EXACT(dl[3], 0.0);        /* ρ < 1−ε, A < 0: clipped */
  EXACT(dl[4], -5.0);       /* A clamped to 5 */
  EXACT(ps.clipfrac, 0.8);
  EXACT(ps.adv_clipfrac, 0.2);
  EXACT(ps.policy_loss, (-1.1 + 1.5 - 0.5 + 0.9 - 5.0) / 5);
}

static void test_plan(void) {
  grpo_settings s = base_settings();
  s.train.train_micro_batch_size = 8;
  s.train.gradient_accumulation_steps = 2;
  grpo_microbatch_plan p;
  elign_error err;
  CHECK(grpo_microbatch_plan_build(&p, 17, 300, &s, &err) == ELIGN_OK);
  CHECK(p.n == 3 && p.n_optimizer_steps == 2 && p.T_act == 300);
  CHECK(p.mb[0].begin == 0 && p.mb[0].count == 8 && p.mb[1].begin == 8 && p.mb[2].begin == 16 && p.mb[2].count == 1);
  CHECK(p.mb[0].optimizer_step == 0 && p.mb[1].optimizer_step == 0 && p.mb[2].optimizer_step == 1);
  CHECK(!p.mb[0].step_after && p.mb[1].step_after && p.mb[2].step_after);
  EXACT(p.mb[0].weight, 1.0 / (16 * 300.0));
  EXACT(p.mb[2].weight, 1.0 / (1 * 300.0));
  grpo_microbatch_plan_free(&p);
  s.train.loss_mean_over_accumulation = 0; /* the public scaling */
  grpo_microbatch_plan_build(&p, 17, 300, &s, &err);
  EXACT(p.mb[0].weight, 1.0 / (8 * 2 * 300.0));
  EXACT(p.mb[2].weight, 1.0 / (1 * 2 * 300.0));
  grpo_microbatch_plan_free(&p);
  grpo_microbatch_plan_build(&p, 5, 300, &s, &err); /* m ≥ B′: one micro-batch */
  CHECK(p.n == 1 && p.mb[0].count == 5 && p.mb[0].step_after && p.n_optimizer_steps == 1);
  grpo_microbatch_plan_free(&p);
  grpo_microbatch_plan_build(&p, 0, 300, &s, &err);
  CHECK(p.n == 0 && p.n_optimizer_steps == 0);
  grpo_microbatch_plan_free(&p);

  s.model.share_initial_noise = 0;
  s.reward.shaping.scheduler.skip_prefix = 700;
  CHECK(grpo_trained_start(&s, 1000) == 0);
  s.model.share_initial_noise = 1;
  CHECK(grpo_trained_start(&s, 1000) == 700);
  s.model.skip_prefix = 1200;
  CHECK(grpo_trained_start(&s, 1000) == 1000);
}

/* ---- chemistry from common/chem --------------------------------------------------- */

static void test_chem(void) {
  const int32_t qm9_z[5] = {1, 6, 7, 8, 9};
  grpo_valence_table vt;
  grpo_bond_table bt;
  elign_error err;
  CHECK(grpo_valence_table_init(&vt, qm9_z, 5, &err) == ELIGN_OK);
  int want_v[5] = {1, 4, 3, 2, 1}, ok = 1;
  for (int t = 0; t < 5; t++) ok &= vt.n_allowed[t] == 1 && vt.allowed[t][0] == want_v[t];
  CHECK(ok);
  const int32_t p_z[1] = {15}; /* P: {3, 5} */
  CHECK(grpo_valence_table_init(&vt, p_z, 1, &err) == ELIGN_OK);
  CHECK(vt.n_allowed[0] == 2 && vt.allowed[0][0] == 3 && vt.allowed[0][1] == 5);
  const int32_t bad_z[2] = {1, 2}; /* He is not in EDM's tables */
  CHECK(grpo_valence_table_init(&vt, bad_z, 2, &err) == ELIGN_ERR_ARG && strstr(err.msg, "atomic number 2"));
  CHECK(grpo_bond_table_init(&bt, qm9_z, 5, &err) == ELIGN_OK);
  CHECK(bt.length_pm[0][1][1] == 154 && bt.length_pm[1][1][1] == 134 && bt.length_pm[2][1][1] == 120);
  CHECK(bt.length_pm[0][0][4] == 92 && bt.length_pm[1][1][4] == 0 && bt.length_pm[2][2][2] == 110);
  CHECK(bt.margin_pm[0] == 10 && bt.margin_pm[1] == 5 && bt.margin_pm[2] == 3);

  /* methane (C–H 1.09 Å) and a stretched copy whose H's drift off */
  double a = 1.09 / sqrt(3.0);
  double pos[20 * 3] = {0, 0, 0, a, a, a, -a, -a, a, -a, a, -a, a, -a, -a};
  int32_t ty[10] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0};
  for (int j = 0; j < 15; j++) pos[15 + j] = 1.3 * pos[j];
  int64_t off[3] = {0, 5, 10};
  uint8_t st[2];
  int32_t nst[2], nb[10];
  grpo_chem_stability(st, nst, nb, pos, ty, off, 2, qm9_z, ELIGN_BOND_RULE_QM9);
  CHECK(st[0] == 1 && nst[0] == 5 && nb[0] == 4 && nb[1] == 1 && nb[4] == 1);
  CHECK(st[1] == 0 && nst[1] == 0 && nb[5] == 0);

  /* random molecules: the same verdicts as common/chem's own stability metric */
  uint64_t rs = 5;
  enum { NM = 40, MAXN = 9 };
  double P[NM * MAXN * 3];
  int32_t T[NM * MAXN], Z[NM * MAXN], NB[NM * MAXN], NS[NM];
  int64_t O[NM + 1] = {0};
  uint8_t S[NM];
  for (int m = 0; m < NM; m++) {
    int n = 1 + (int)(testrng_uniform(&rs) * MAXN);
    O[m + 1] = O[m] + n;
    for (int64_t i = O[m]; i < O[m + 1]; i++) {
      T[i] = (int32_t)(testrng_uniform(&rs) * 5);
      Z[i] = qm9_z[T[i]];
      for (int k = 0; k < 3; k++) /* bonded-looking chains: each atom ~1.0–1.6 Å from the last */
        P[3 * i + k] = (i > O[m] ? P[3 * (i - 1) + k] : 0.0) + 0.75 * testrng_normal(&rs);
    }
  }
  grpo_chem_stability(S, NS, NB, P, T, O, NM, qm9_z, ELIGN_BOND_RULE_QM9);
  int agree = 1, n_stable_atoms_total = 0;
  for (int m = 0; m < NM; m++) {
    int64_t ns;
    int s = elign_molecule_stability(P + 3 * O[m], Z + O[m], O[m + 1] - O[m], 0, &ns);
    agree &= s == S[m] && ns == NS[m];
    n_stable_atoms_total += NS[m];
  }
  CHECK(agree);
  CHECK(n_stable_atoms_total > 0); /* the sample is not trivially all-unstable */
}

/* ---- the whole step against finite differences (double build) ---------------------- */

#ifdef ELIGN_DOUBLE
enum { NM = 3, D = 9 };
static const int64_t OFF[NM + 1] = {0, 4, 9, 11};
typedef struct {
  diffusion_step_coef c[NM];
  elign_real z_t[11 * D], z_s[11 * D], mu_ref[11 * D];
  double old[NM], adv[NM];
} step_fixture;

static double step_loss(const step_fixture *f, const elign_real *eps_hat, elign_real *d_eps_hat,
                        const grpo_settings *s, double w) {
  elign_real mu[11 * D], d_mu[11 * D], scratch[11 * D] = {0};
  double logp[NM], dlogp[NM];
  diffusion_reverse_mean(mu, NULL, f->z_t, eps_hat, f->c, OFF, NM, D);
  grpo_step_input in = {NM, OFF, D, f->z_s, mu, f->mu_ref, f->c, f->old, f->adv};
  grpo_ppo_stats st;
  grpo_ppo_step(&st, logp, dlogp, d_mu, d_eps_hat ? d_eps_hat : scratch, &in, w, s);
  return st.weighted_loss;
}

typedef struct {
  const step_fixture *f;
  const grpo_settings *s;
  double w;
} step_loss_ctx;

static double step_loss_at(void *ctx, const elign_real *eps_hat) {
  const step_loss_ctx *c = ctx;
  return step_loss(c->f, eps_hat, NULL, c->s, c->w);
}

static void test_step_fd(void) {
  diffusion_schedule sched;
  elign_error err;
  CHECK(diffusion_schedule_init(&sched, "polynomial_2", 1000, 1e-5, &err) == ELIGN_OK);
  step_fixture f;
  int t[NM] = {300, 120, 17};
  uint64_t st = 11;
  elign_real eps_hat[11 * D], mu[11 * D];
  for (int m = 0; m < NM; m++) diffusion_step_coef_init(&f.c[m], &sched, t[m], t[m] - 1, 1000);
  for (int j = 0; j < 11 * D; j++) {
    f.z_t[j] = testrng_normal(&st);
    eps_hat[j] = testrng_normal(&st);
  }
  diffusion_reverse_mean(mu, NULL, f.z_t, eps_hat, f.c, OFF, NM, D);
  for (int m = 0; m < NM; m++)
    for (int64_t j = OFF[m] * D; j < OFF[m + 1] * D; j++) {
      f.z_s[j] = mu[j] + f.c[m].sigma_step * testrng_normal(&st);
      f.mu_ref[j] = mu[j] + 0.3 * f.c[m].sigma_step * testrng_normal(&st);
    }
  double logp[NM];
  elign_real sg[NM];
  for (int m = 0; m < NM; m++) sg[m] = f.c[m].sigma_step;
  diffusion_step_logp(logp, f.z_s, mu, sg, OFF, NM, D);
  double drift[NM] = {0.03, -0.2, 0.01}; /* inside, below and inside the clip range ε = 0.05 */
  double A[NM] = {1.3, 0.7, -2.1};
  for (int m = 0; m < NM; m++) f.old[m] = logp[m] - drift[m], f.adv[m] = A[m];

  grpo_settings s = base_settings();
  s.train.clip_range = 0.05;
  s.train.kl_penalty_weight = 0.08;
  double w = 1.0 / (NM * 300.0);
  elign_real g[11 * D] = {0};
  step_loss(&f, eps_hat, g, &s, w);
  step_loss_ctx ctx = {&f, &s, w};
  CHECK(test_fd_gradient(step_loss_at, &ctx, eps_hat, g, 11 * D, 2, 1e-6, 1e-9, 1e-6, "step FD") == 0);
  /* the gradient is not trivially zero: both molecules inside the range contribute */
  double norm = 0;
  for (int j = 0; j < 11 * D; j++) norm += g[j] * g[j];
  CHECK(norm > 1e-12);
  diffusion_schedule_free(&sched);
}
#endif

/* ---- the element-mix term ([Elign-C]) --------------------------------------------- */

/* M·KL(p̃ ‖ p*) of element counts n (H, C, O) with the half-atom smoothing,
 * M = Σ (n + ½): the quantity whose derivative the term is. */
static double scaled_kl(const double n[3], const double target[3]) {
  double M = 0, sum = 0;
  for (int k = 0; k < 3; k++) M += n[k] + 0.5;
  for (int k = 0; k < 3; k++) sum += (n[k] + 0.5) * log((n[k] + 0.5) / (M * target[k]));
  return sum;
}

static void test_composition(void) {
  /* C2H6, CH4, H2O: 12 H, 3 C, 1 O; the target has more carbon than the batch */
  const int32_t Z[] = {6, 6, 1, 1, 1, 1, 1, 1, 6, 1, 1, 1, 1, 8, 1, 1};
  const int64_t off[] = {0, 8, 13, 16};
  const int el[3] = {1, 6, 8};
  double target_by_Z[ELIGN_MAX_Z + 1] = {0}, target[3] = {0.5, 0.35, 0.15};
  for (int k = 0; k < 3; k++) target_by_Z[el[k]] = target[k];
  grpo_mol_terms terms[3];
  memset(terms, 0, sizeof terms);
  terms[1].bonus = 1.0; /* an earlier bonus stays */
  const double w = 2.5;
  double kl = grpo_composition_bonus(terms, 3, off, Z, target_by_Z, w, 0.0, NULL);

  /* per atom, the derivative of M·KL with respect to its element's count (central differences) */
  double n[3] = {12, 3, 1}, dkl[3];
  for (int k = 0; k < 3; k++) {
    double h = 1e-4, up[3] = {n[0], n[1], n[2]}, dn[3] = {n[0], n[1], n[2]};
    up[k] += h;
    dn[k] -= h;
    dkl[k] = (scaled_kl(up, target) - scaled_kl(dn, target)) / (2 * h);
  }
  const double atoms_of[3][3] = {{6, 2, 0}, {4, 1, 0}, {2, 0, 1}}; /* H, C, O per molecule */
  for (int b = 0; b < 3; b++) {
    double want = 0, size = 0;
    for (int k = 0; k < 3; k++) want += atoms_of[b][k] * dkl[k], size += atoms_of[b][k];
    CHECK_CLOSE(terms[b].bonus_composition, -w * want / size, 1e-8, 0);
  }
  CHECK(terms[0].bonus_composition > terms[1].bonus_composition); /* more carbon per atom, the batch lacks carbon */
  CHECK_CLOSE(terms[1].bonus, 1.0 + terms[1].bonus_composition, 1e-15, 0);
  CHECK_CLOSE(kl, scaled_kl(n, target) / 17.5, 1e-14, 0);
  CHECK(kl > 0);

  /* a batch that has the target mix (smoothed) is left alone */
  for (int k = 0; k < 3; k++) target_by_Z[el[k]] = (n[k] + 0.5) / 17.5;
  memset(terms, 0, sizeof terms);
  kl = grpo_composition_bonus(terms, 3, off, Z, target_by_Z, w, 0.0, NULL);
  CHECK(fabs(kl) < 1e-15);
  for (int b = 0; b < 3; b++) CHECK(fabs(terms[b].bonus_composition) < 1e-14);

  /* an element of the target that the batch lacks has a finite log (half an atom) */
  target_by_Z[7] = 0.1;
  memset(terms, 0, sizeof terms);
  kl = grpo_composition_bonus(terms, 3, off, Z, target_by_Z, w, 0.0, NULL);
  CHECK(isfinite(kl));
  for (int b = 0; b < 3; b++) CHECK(isfinite(terms[b].bonus_composition));
}

/* The integral gain: the offsets accumulate η · log(p̂/p*) per call and join
 * the log ratio; a batch at the target leaves them where they are and still
 * feels them. */
static void test_composition_integral(void) {
  const int32_t Z[] = {6, 6, 1, 1, 1, 1, 1, 1, 6, 1, 1, 1, 1, 8, 1, 1}; /* C2H6, CH4, H2O */
  const int64_t off[] = {0, 8, 13, 16};
  const int el[3] = {1, 6, 8};
  const double n[3] = {12, 3, 1}, target[3] = {0.5, 0.35, 0.15}, w = 2.5, eta = 0.3;
  double target_by_Z[ELIGN_MAX_Z + 1] = {0}, integral[ELIGN_MAX_Z + 1] = {0}, log_ratio[3];
  for (int k = 0; k < 3; k++) {
    target_by_Z[el[k]] = target[k];
    log_ratio[k] = log((n[k] + 0.5) / 17.5 / target[k]);
  }
  grpo_mol_terms plain[3], terms[3];
  memset(plain, 0, sizeof plain);
  grpo_composition_bonus(plain, 3, off, Z, target_by_Z, w, 0.0, NULL);
  const double atoms_of[3][3] = {{6, 2, 0}, {4, 1, 0}, {2, 0, 1}};
  for (int call = 1; call <= 3; call++) {
    memset(terms, 0, sizeof terms);
    grpo_composition_bonus(terms, 3, off, Z, target_by_Z, w, eta, integral);
    for (int k = 0; k < 3; k++) CHECK_CLOSE(integral[el[k]], call * eta * log_ratio[k], 1e-14, 0);
    CHECK(integral[7] == 0); /* not a target element */
    for (int b = 0; b < 3; b++) {
      double want = 0, size = 0;
      for (int k = 0; k < 3; k++) want += atoms_of[b][k] * (1 + call * eta) * log_ratio[k], size += atoms_of[b][k];
      CHECK_CLOSE(terms[b].bonus_composition, -w * want / size, 1e-12, 0);
    }
    /* the memory strengthens the pull the proportional term has */
    CHECK(terms[0].bonus_composition - terms[1].bonus_composition >
          plain[0].bonus_composition - plain[1].bonus_composition);
  }
  /* at the target: the proportional part is 0, the offsets stay and still act */
  double before[3];
  for (int k = 0; k < 3; k++) target_by_Z[el[k]] = (n[k] + 0.5) / 17.5, before[k] = integral[el[k]];
  memset(terms, 0, sizeof terms);
  grpo_composition_bonus(terms, 3, off, Z, target_by_Z, w, eta, integral);
  for (int k = 0; k < 3; k++) CHECK_CLOSE(integral[el[k]], before[k], 1e-15, 0);
  for (int b = 0; b < 3; b++) {
    double want = 0, size = 0;
    for (int k = 0; k < 3; k++) want += atoms_of[b][k] * before[k], size += atoms_of[b][k];
    CHECK_CLOSE(terms[b].bonus_composition, -w * want / size, 1e-12, 0);
  }
}

/* D10: advantages made blind to the element mix. Two groups of four 6-atom
 * molecules (H, C, O counts); afterwards no centred count correlates with any
 * advantage column; a purely compositional advantage vanishes; a group whose
 * members share one formula keeps its advantages; the clamp still holds. */
static void test_composition_neutral(void) {
  const int E = 3, cols = 2;
  const int32_t grp[8] = {0, 0, 0, 0, 1, 1, 1, 1};
  const double counts[8][3] = {{4, 2, 0}, {3, 2, 1}, {5, 1, 0}, {2, 3, 1},  /* group 0: formulas differ */
                               {4, 1, 1}, {4, 1, 1}, {4, 1, 1}, {4, 1, 1}}; /* group 1: one formula */
  double X[8][3];
  for (int b = 0; b < 8; b++)
    for (int e = 0; e < E; e++) {
      double mean = 0;
      for (int j = 0; j < 4; j++) mean += counts[(b / 4) * 4 + j][e] / 4.0;
      X[b][e] = counts[b][e] - mean;
    }
  grpo_advantages a = {.n_mol = 8, .cols = cols};
  a.adv = calloc(8 * cols, sizeof(double));
  a.adv_sum = calloc(8, sizeof(double));
  const double other[8] = {0.3, -0.7, 0.1, 0.2, 0.9, -0.4, 0.5, -1.0};
  for (int b = 0; b < 8; b++) {
    a.adv[b * cols + 0] = 0.8 * X[b][0] - 0.5 * X[b][2];    /* column 0: composition only */
    a.adv[b * cols + 1] = other[b] + 0.6 * X[b][1];          /* column 1: composition + something else */
  }
  double before1[8];
  for (int b = 0; b < 8; b++) before1[b] = a.adv[b * cols + 1];
  double removed = grpo_advantages_composition_neutral(&a, grp, &counts[0][0], E, 5.0);
  CHECK(removed > 0 && removed < 1);
  for (int k = 0; k < cols; k++)
    for (int e = 0; e < E; e++) {
      double dot = 0;
      for (int b = 0; b < 8; b++) dot += X[b][e] * a.adv[b * cols + k];
      CHECK(fabs(dot) < 1e-7);
    }
  for (int b = 0; b < 8; b++) CHECK(fabs(a.adv[b * cols + 0]) < 1e-7); /* only composition: nothing left */
  for (int b = 4; b < 8; b++) CHECK_CLOSE(a.adv[b * cols + 1], before1[b], 1e-12, 0); /* X = 0 there */
  double moved = 0;
  for (int b = 0; b < 4; b++) moved += fabs(a.adv[b * cols + 1] - before1[b]);
  CHECK(moved > 0.1); /* group 0's compositional part is gone */
  for (int b = 0; b < 8; b++) CHECK_CLOSE(a.adv_sum[b], a.adv[b * cols] + a.adv[b * cols + 1], 1e-15, 0);

  /* the clamp after the fit */
  for (int b = 0; b < 8; b++) a.adv[b * cols + 0] = 0, a.adv[b * cols + 1] = (b == 5 ? 10.0 : 0.0);
  grpo_advantages_composition_neutral(&a, grp, &counts[0][0], E, 3.0);
  CHECK(a.adv[5 * cols + 1] == 3.0);
  grpo_advantages_free(&a);
}

int main(void) {
  test_settings();
  test_force_energy();
  test_valence();
  test_failures();
  test_terminal_rewards();
  test_schedule();
  test_delta_shaping();
  test_filter();
  test_advantages_terminal();
  test_advantages_per_step();
  test_ppo_clip();
  test_plan();
  test_chem();
  test_composition();
  test_composition_integral();
  test_composition_neutral();
#ifdef ELIGN_DOUBLE
  test_step_fd();
#endif
  return test_main_result("test_grpo");
}
