/* test_grpo_ref.c — the FED-GRPO numerics of learner/ against an
 * independent NumPy/PyTorch re-implementation (tests/grpo_ref.py, written
 * from ALGORITHMS.md §4) on random inputs: rewards (terminal and shaped,
 * failures, valence), schedules, the filter, the three advantage paths,
 * PPO-clip and KL gradients (autograd), the whole step's dL/dε̂, the
 * micro-batch plan, and an Appendix-B pipeline (rewards → filter →
 * advantages), and common/chem's QM9 bond tables against §3.2.
 * usage: test_grpo_ref FIXTURE.json */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/json.h"
#include "learner/advantages.h"
#include "learner/filter.h"
#include "learner/grpo_chem.h"
#include "learner/grpo_settings.h"
#include "learner/ppo.h"
#include "learner/rewards.h"
#include "learner/shaping.h"
#include "tests/testutil.h"

#define TOL 1e-9 /* double vs double */
#ifdef ELIGN_DOUBLE
#define TOL_REAL 1e-9
#else
#define TOL_REAL 2e-4 /* elign_real = float32 (KL and step inputs) */
#endif

/* ---- JSON helpers ------------------------------------------------------------- */

static const elign_json *get(const elign_json *o, const char *k) {
  const elign_json *v = elign_json_get(o, k);
  if (!v) {
    fprintf(stderr, "fixture: missing key '%s'\n", k);
    exit(2);
  }
  return v;
}

static int has(const elign_json *o, const char *k) {
  const elign_json *v = elign_json_get(o, k);
  return v && v->type != ELIGN_JSON_NULL;
}

static double *nums(const elign_json *a) {
  double *x = malloc(sizeof(double) * (size_t)(a->n > 0 ? a->n : 1));
  for (int i = 0; i < a->n; i++) x[i] = a->items[i].number;
  return x;
}

static int32_t *ints(const elign_json *a) {
  int32_t *x = malloc(sizeof(int32_t) * (size_t)(a->n > 0 ? a->n : 1));
  for (int i = 0; i < a->n; i++) x[i] = (int32_t)a->items[i].number;
  return x;
}

static uint8_t *flags(const elign_json *a) {
  uint8_t *x = malloc((size_t)(a->n > 0 ? a->n : 1));
  for (int i = 0; i < a->n; i++) x[i] = (uint8_t)(a->items[i].type == ELIGN_JSON_BOOL ? a->items[i].boolean
                                                                                     : a->items[i].number != 0);
  return x;
}

static elign_real *reals(const elign_json *a) {
  elign_real *x = malloc(sizeof(elign_real) * (size_t)(a->n > 0 ? a->n : 1));
  for (int i = 0; i < a->n; i++) x[i] = (elign_real)a->items[i].number;
  return x;
}

static int64_t *offsets_of(const elign_json *sizes) {
  int64_t *o = malloc(sizeof(int64_t) * (size_t)(sizes->n + 1));
  o[0] = 0;
  for (int i = 0; i < sizes->n; i++) o[i + 1] = o[i] + (int64_t)sizes->items[i].number;
  return o;
}

/* grpo_settings from {key: value} (the fixture's DEFAULTS plus the overrides). */
static grpo_settings settings_of(const elign_json *obj) {
  grpo_settings s;
  grpo_settings_defaults(&s);
  s.model.time_step = 1000;
  s.train.clip_range = 0.2;
  s.train.train_micro_batch_size = 8;
  elign_error err;
  for (int i = 0; i < obj->n; i++) {
    const char *k = obj->keys[i];
    const elign_json *v = &obj->items[i];
    elign_status st = ELIGN_OK;
    if (v->type == ELIGN_JSON_NULL)
      st = grpo_settings_set_null(&s, k, &err);
    else if (v->type == ELIGN_JSON_BOOL)
      st = grpo_settings_set_number(&s, k, v->boolean, &err);
    else if (v->type == ELIGN_JSON_NUMBER)
      st = grpo_settings_set_number(&s, k, v->number, &err);
    else
      st = grpo_settings_set_enum(&s, k, v->string, &err);
    if (st) fprintf(stderr, "fixture settings: %s\n", err.msg);
    CHECK(st == ELIGN_OK);
  }
  CHECK(grpo_settings_validate(&s, &err) == ELIGN_OK);
  return s;
}

static void check_nums(const double *got, const elign_json *want, int64_t n, double tol, const char *what) {
  CHECK(want->n == n);
  double *w = nums(want);
  if (test_check_array(got, w, (size_t)n, tol, tol, __FILE__, __LINE__, what)) fprintf(stderr, "  (%s)\n", what);
  free(w);
}

/* The scalar fields and traces of rb against expect. */
static void check_batch(const grpo_reward_batch *rb, const elign_json *ex, double tol) {
  int64_t n = rb->n_mol;
  check_nums(rb->force_rewards, get(ex, "force_rewards"), n, tol, "force_rewards");
  check_nums(rb->energy_rewards, get(ex, "energy_rewards"), n, tol, "energy_rewards");
  check_nums(rb->rewards, get(ex, "rewards"), n, tol, "rewards");
  check_nums(rb->weighted_force_rewards, get(ex, "weighted_force_rewards"), n, tol, "weighted_force_rewards");
  check_nums(rb->weighted_energy_rewards, get(ex, "weighted_energy_rewards"), n, tol, "weighted_energy_rewards");
  CHECK(rb->has_rewards_ts == has(ex, "rewards_ts"));
  CHECK(rb->has_force_ts == has(ex, "force_rewards_ts"));
  CHECK(rb->has_energy_ts == has(ex, "energy_rewards_ts"));
  if (rb->has_rewards_ts && has(ex, "rewards_ts"))
    check_nums(rb->rewards_ts, get(ex, "rewards_ts"), n * rb->S, tol, "rewards_ts");
  if (rb->has_force_ts && has(ex, "force_rewards_ts"))
    check_nums(rb->force_rewards_ts, get(ex, "force_rewards_ts"), n * rb->S, tol, "force_rewards_ts");
  if (rb->has_energy_ts && has(ex, "energy_rewards_ts"))
    check_nums(rb->energy_rewards_ts, get(ex, "energy_rewards_ts"), n * rb->S, tol, "energy_rewards_ts");
}

/* Fill rb's scalars and traces from an `input` object. */
static void load_batch(grpo_reward_batch *rb, const elign_json *in, int S) {
  struct {
    const char *key;
    double *dst;
  } sc[] = {{"force_rewards", rb->force_rewards}, {"energy_rewards", rb->energy_rewards}, {"rewards", rb->rewards},
            {"weighted_force_rewards", rb->weighted_force_rewards},
            {"weighted_energy_rewards", rb->weighted_energy_rewards}};
  for (int i = 0; i < 5; i++) {
    double *x = nums(get(in, sc[i].key));
    memcpy(sc[i].dst, x, sizeof(double) * (size_t)rb->n_mol);
    free(x);
  }
  grpo_reward_batch_alloc_traces(rb, S, has(in, "rewards_ts"), has(in, "force_rewards_ts"),
                                 has(in, "energy_rewards_ts"));
  if (S == 0) rb->has_rewards_ts = rb->has_force_ts = rb->has_energy_ts = 0;
  double *dst[3] = {rb->rewards_ts, rb->force_rewards_ts, rb->energy_rewards_ts};
  const char *keys[3] = {"rewards_ts", "force_rewards_ts", "energy_rewards_ts"};
  for (int i = 0; i < 3; i++)
    if (dst[i] && has(in, keys[i])) {
      double *x = nums(get(in, keys[i]));
      memcpy(dst[i], x, sizeof(double) * (size_t)(rb->n_mol * S));
      free(x);
    }
}

/* ---- rewards ----------------------------------------------------------------- */

typedef struct {
  grpo_valence_table vt;
  grpo_bond_table bt;
} chem_tables;

static chem_tables tables_of(const elign_json *c) {
  chem_tables t;
  memset(&t, 0, sizeof t);
  const elign_json *val = get(c, "valence"), *bonds = get(c, "bonds"), *marg = get(c, "margins");
  t.vt.n_types = t.bt.n_types = val->n;
  for (int i = 0; i < val->n; i++) {
    t.vt.n_allowed[i] = val->items[i].n;
    for (int k = 0; k < val->items[i].n; k++) t.vt.allowed[i][k] = (int)val->items[i].items[k].number;
  }
  for (int o = 0; o < 3; o++) {
    t.bt.margin_pm[o] = marg->items[o].number;
    for (int a = 0; a < val->n; a++)
      for (int b = 0; b < val->n; b++) t.bt.length_pm[o][a][b] = bonds->items[o].items[a].items[b].number;
  }
  return t;
}

static void run_reward_case(const elign_json *c, int shaped) {
  grpo_settings s = settings_of(get(c, "settings"));
  const elign_json *ex = get(c, "expect");
  int64_t *off = offsets_of(get(c, "sizes"));
  int64_t n = get(c, "sizes")->n, N = off[n];
  int32_t *types = ints(get(c, "types")), *nst = ints(get(c, "n_stable")), *nb = ints(get(c, "nr_bonds"));
  uint8_t *stable = flags(get(c, "stable"));
  double *pos = nums(get(c, "positions"));
  chem_tables tab = tables_of(c);
  double *ref_sum = NULL;
  if (has(c, "ref_by_type")) {
    double *refs = nums(get(c, "ref_by_type"));
    ref_sum = malloc(sizeof(double) * (size_t)n);
    for (int64_t b = 0; b < n; b++) ref_sum[b] = grpo_atom_ref_sum(types + off[b], off[b + 1] - off[b], refs);
    free(refs);
  }

  /* molecule terms */
  grpo_chem_input chem = {stable, nst, nb, pos, &tab.vt, &tab.bt};
  grpo_mol_terms *terms = calloc((size_t)n + 1, sizeof *terms);
  elign_error err;
  CHECK(grpo_molecule_terms(terms, n, off, types, &chem, &s, &err) == ELIGN_OK);
  const elign_json *et = get(ex, "terms");
  double *tmp = malloc(sizeof(double) * (size_t)(n + 1));
  struct {
    const char *key;
    size_t off;
    double tol;
  } tf[] = {{"stability", offsetof(grpo_mol_terms, stability), TOL},
            {"atom_stability", offsetof(grpo_mol_terms, atom_stability), TOL},
            {"vu", offsetof(grpo_mol_terms, valence_underbond), TOL},
            {"vo", offsetof(grpo_mol_terms, valence_overbond), TOL},
            {"vus", offsetof(grpo_mol_terms, valence_underbond_soft), 1e-5},
            {"vos", offsetof(grpo_mol_terms, valence_overbond_soft), 1e-5},
            {"bonus", offsetof(grpo_mol_terms, bonus), 1e-5}};
  for (int i = 0; i < 7; i++) {
    for (int64_t b = 0; b < n; b++) tmp[b] = *(double *)((char *)&terms[b] + tf[i].off);
    check_nums(tmp, get(et, tf[i].key), n, tf[i].tol, tf[i].key);
  }

  /* potentials of every oracle frame */
  const elign_json *frames = get(c, "frames");
  int J = frames->n;
  double *pf = malloc(sizeof(double) * (size_t)(J * n + 1)), *pe = malloc(sizeof(double) * (size_t)(J * n + 1));
  int32_t *fail_count = calloc((size_t)n + 1, sizeof(int32_t));
  uint8_t *failed = malloc((size_t)n + 1);
  double *fl = malloc(sizeof(double) * (size_t)(n + 1));
  for (int j = 0; j < J; j++) {
    const elign_json *fr = &frames->items[j];
    double *F = nums(get(fr, "forces")), *E = nums(get(fr, "energy"));
    uint8_t *ok = flags(get(fr, "ok"));
    const elign_json *ne = get(fr, "nan_energy"), *nf = get(fr, "nan_force_atoms");
    for (int i = 0; i < ne->n; i++) E[(int)ne->items[i].number] = NAN;
    for (int i = 0; i < nf->n; i++) F[3 * (int)nf->items[i].number + 1] = NAN;
    grpo_oracle_frame of = {F, E, ok};
    grpo_frame_potentials(pf + (int64_t)j * n, pe + (int64_t)j * n, failed, &of, n, off, ref_sum, &s);
    check_nums(pf + (int64_t)j * n, &get(ex, "phi_f")->items[j], n, TOL, "phi_f");
    check_nums(pe + (int64_t)j * n, &get(ex, "phi_e")->items[j], n, TOL, "phi_e");
    for (int64_t b = 0; b < n; b++) {
      fl[b] = failed[b];
      fail_count[b] += failed[b];
    }
    check_nums(fl, &get(ex, "failed")->items[j], n, 0, "failed");
    free(F);
    free(E);
    free(ok);
  }
  (void)N;

  grpo_reward_batch rb;
  grpo_reward_batch_init(&rb, n, NULL);
  if (!shaped) {
    grpo_rewards_terminal(&rb, pf, pe, failed, terms, &s);
    check_batch(&rb, ex, 1e-5);
  } else {
    int T = (int)get(c, "T")->number;
    int *ts = malloc(sizeof(int) * (size_t)(T + 1));
    grpo_standard_timesteps(ts, T);
    grpo_schedule sch;
    CHECK(grpo_schedule_build(&sch, ts, T + 1, &s, &err) == ELIGN_OK);
    const elign_json *wi = get(ex, "indices");
    CHECK(sch.n == wi->n && sch.n == J);
    for (int j = 0; j < sch.n && j < wi->n; j++) CHECK(sch.indices[j] == (int)wi->items[j].number);
    CHECK(grpo_rewards_shaped(&rb, &sch, T + 1, pf, pe, fail_count, terms, &s, &err) == ELIGN_OK);
    check_batch(&rb, ex, 1e-5);
    for (int64_t b = 0; b < n; b++) CHECK(rb.oracle_failures[b] == fail_count[b]);
    grpo_schedule_free(&sch);
    free(ts);
  }
  grpo_reward_batch_free(&rb);
  free(off), free(types), free(nst), free(nb), free(stable), free(pos), free(ref_sum), free(terms), free(tmp);
  free(pf), free(pe), free(fail_count), free(failed), free(fl);
}

/* ---- schedule, filter, advantages ------------------------------------------------- */

static void run_schedule_case(const elign_json *c) {
  grpo_settings s = settings_of(get(c, "settings"));
  int T = (int)get(c, "T")->number;
  int *ts = malloc(sizeof(int) * (size_t)(T + 1));
  grpo_standard_timesteps(ts, T);
  grpo_schedule sch;
  elign_error err;
  CHECK(grpo_schedule_build(&sch, ts, T + 1, &s, &err) == ELIGN_OK);
  const elign_json *ex = get(c, "expect");
  const elign_json *wi = get(ex, "indices"), *wv = get(ex, "intervals"), *wf = get(ex, "fine");
  int ok = sch.n == wi->n;
  for (int j = 0; ok && j < sch.n; j++)
    ok = sch.indices[j] == (int)wi->items[j].number && sch.intervals[j] == (int)wv->items[j].number &&
         sch.fine[j] == (uint8_t)wf->items[j].number;
  if (!ok) fprintf(stderr, "schedule T=%d: %d frames, want %d\n", T, sch.n, wi->n);
  CHECK(ok);
  grpo_schedule_free(&sch);
  free(ts);
}

static const char **smiles_of(const elign_json *a) {
  const char **s = malloc(sizeof(char *) * (size_t)(a->n + 1));
  for (int i = 0; i < a->n; i++) s[i] = a->items[i].type == ELIGN_JSON_STRING ? a->items[i].string : NULL;
  return s;
}

static void check_keep(const grpo_reward_batch *rb, const elign_json *keep) {
  int ok = rb->n_mol == keep->n;
  for (int i = 0; ok && i < keep->n; i++) ok = rb->source_index[i] == (int64_t)keep->items[i].number;
  if (!ok) fprintf(stderr, "kept %lld molecules, want %d\n", (long long)rb->n_mol, keep->n);
  CHECK(ok);
}

static void run_filter_case(const elign_json *c) {
  grpo_settings s = settings_of(get(c, "settings"));
  const elign_json *sm = get(c, "smiles"), *ex = get(c, "expect");
  int64_t n = sm->n;
  int S = (int)get(c, "S")->number;
  const char **smiles = smiles_of(sm);
  uint8_t *known = flags(get(c, "known"));
  grpo_reward_batch rb;
  grpo_reward_batch_init(&rb, n, NULL);
  load_batch(&rb, get(c, "input"), S);
  grpo_filter_stats st;
  elign_error err;
  CHECK(grpo_filter_apply(&rb, &st, NULL, smiles, known, &s, &err) == ELIGN_OK);
  check_keep(&rb, get(ex, "keep"));
  if (rb.n_mol == get(ex, "keep")->n) check_batch(&rb, ex, TOL);
  CHECK_CLOSE(st.rdkit_validity, get(ex, "validity")->number, 1e-15, 0);
  CHECK_CLOSE(st.rdkit_uniqueness, get(ex, "uniqueness")->number, 1e-15, 0);
  CHECK_CLOSE(st.novelty_penalty_ratio, get(ex, "nov_ratio")->number, 1e-15, 0);
  grpo_reward_batch_free(&rb);
  free(smiles);
  free(known);
}

static void run_advantage_case(const elign_json *c) {
  grpo_settings s = settings_of(get(c, "settings"));
  const elign_json *ex = get(c, "expect");
  int T = (int)get(c, "T")->number, S = (int)get(c, "S")->number;
  int32_t *grp = ints(get(c, "groups"));
  int64_t n = get(c, "groups")->n;
  grpo_reward_batch rb;
  grpo_reward_batch_init(&rb, n, grp);
  load_batch(&rb, get(c, "input"), S);
  int *ts = malloc(sizeof(int) * (size_t)(T + 1));
  grpo_standard_timesteps(ts, T);
  grpo_schedule sch = {0}, *psch = NULL;
  if (has(c, "schedule")) {
    const elign_json *si = get(c, "schedule");
    sch.n = si->n;
    sch.indices = malloc(sizeof(int) * (size_t)si->n);
    for (int j = 0; j < si->n; j++) sch.indices[j] = (int)si->items[j].number;
    psch = &sch;
  }
  grpo_advantages a;
  elign_error err;
  CHECK(grpo_advantages_compute(&a, &rb, T, ts, psch, &s, &err) == ELIGN_OK);
  CHECK((int)a.path == (int)get(ex, "path")->number);
  check_nums(a.adv, get(ex, "adv"), n * a.cols, TOL, "advantages");
  CHECK(a.n_zero_signal == (int)get(ex, "zero_signal")->number);
  CHECK(a.n_groups == (int)get(ex, "n_groups")->number);
  grpo_advantages_free(&a);
  grpo_reward_batch_free(&rb);
  free(sch.indices);
  free(ts);
  free(grp);
}

/* ---- PPO ----------------------------------------------------------------------------- */

static void run_ppo_case(const elign_json *c) {
  const elign_json *ex = get(c, "expect");
  double *lp = nums(get(c, "logp")), *old = nums(get(c, "old")), *adv = nums(get(c, "adv"));
  int64_t n = get(c, "logp")->n;
  double *dl = malloc(sizeof(double) * (size_t)n);
  grpo_ppo_stats st;
  grpo_ppo_clip_loss(&st, dl, lp, old, adv, n, get(c, "eps")->number, get(c, "c")->number, get(c, "w")->number);
  check_nums(dl, get(ex, "dlogp"), n, 1e-10, "dlogp");
  CHECK_CLOSE(st.policy_loss, get(ex, "policy_loss")->number, 1e-10, 1e-10);
  CHECK_CLOSE(st.weighted_loss, get(ex, "weighted")->number, 1e-10, 1e-10);
  CHECK_CLOSE(st.clipfrac, get(ex, "clipfrac")->number, 1e-15, 0);
  CHECK_CLOSE(st.adv_clipfrac, get(ex, "adv_clipfrac")->number, 1e-15, 0);
  free(lp), free(old), free(adv), free(dl);
}

static void run_kl_case(const elign_json *c) {
  const elign_json *ex = get(c, "expect");
  int64_t *off = offsets_of(get(c, "sizes"));
  int64_t n = get(c, "sizes")->n;
  int D = (int)get(c, "D")->number;
  elign_real *mu = reals(get(c, "mu")), *mr = reals(get(c, "mu_ref")), *sg = reals(get(c, "sigma"));
  double *dkl = nums(get(c, "dkl")), *kl = malloc(sizeof(double) * (size_t)n);
  size_t nd = (size_t)(off[n] * D);
  elign_real *dmu = calloc(nd, sizeof(elign_real));
  double *dmu_d = malloc(sizeof(double) * nd);
  grpo_kl_forward(kl, mu, mr, sg, off, n, D);
  grpo_kl_backward(dmu, dkl, mu, mr, sg, off, n, D);
  for (size_t j = 0; j < nd; j++) dmu_d[j] = dmu[j];
  /* float build: μ − μref of ~0.05 loses ~1e−6 relative when μ is rounded to float */
  check_nums(kl, get(ex, "kl"), n, 1e3 * TOL_REAL, "kl");
  check_nums(dmu_d, get(ex, "d_mu"), (int64_t)nd, 1e3 * TOL_REAL, "d_mu");
  free(off), free(mu), free(mr), free(sg), free(dkl), free(kl), free(dmu), free(dmu_d);
}

static void run_step_case(const elign_json *c) {
  const elign_json *ex = get(c, "expect");
  int64_t *off = offsets_of(get(c, "sizes"));
  int64_t n = get(c, "sizes")->n;
  int D = (int)get(c, "D")->number;
  size_t nd = (size_t)(off[n] * D);
  elign_real *zs = reals(get(c, "z_s")), *mu = reals(get(c, "mu")), *mr = reals(get(c, "mu_ref"));
  double *sg = nums(get(c, "sigma")), *ec = nums(get(c, "eps_coef"));
  double *old = nums(get(c, "old")), *adv = nums(get(c, "adv"));
  diffusion_step_coef *coef = calloc((size_t)n, sizeof *coef);
  for (int64_t b = 0; b < n; b++) {
    coef[b].sigma_step = (elign_real)sg[b];
    coef[b].eps_coef = (elign_real)ec[b];
  }
  grpo_settings s;
  grpo_settings_defaults(&s);
  s.train.clip_range = 0.05;
  s.train.kl_penalty_weight = get(c, "beta")->number;
  grpo_step_input in = {n, off, D, zs, mu, mr, coef, old, adv};
  double *logp = malloc(sizeof(double) * (size_t)n), *dlogp = malloc(sizeof(double) * (size_t)n);
  elign_real *dmu = malloc(sizeof(elign_real) * nd), *de = calloc(nd, sizeof(elign_real));
  grpo_ppo_stats st;
  grpo_ppo_step(&st, logp, dlogp, dmu, de, &in, get(c, "w")->number, &s);
  double *de_d = malloc(sizeof(double) * nd);
  for (size_t j = 0; j < nd; j++) de_d[j] = de[j];
  /* float build: logp sums ~45 squares of (z_s − μ)/σ ~ 1: ~1e−5 absolute */
  check_nums(logp, get(ex, "logp"), n, 1e2 * TOL_REAL, "step logp");
  CHECK_CLOSE(st.weighted_loss, get(ex, "loss")->number, TOL_REAL, 10 * TOL_REAL);
  check_nums(de_d, get(ex, "d_eps_hat"), (int64_t)nd, 10 * TOL_REAL, "step d_eps_hat");
  free(off), free(zs), free(mu), free(mr), free(sg), free(ec), free(old), free(adv), free(coef);
  free(logp), free(dlogp), free(dmu), free(de), free(de_d);
}

static void run_plan_case(const elign_json *c) {
  grpo_settings s = settings_of(get(c, "settings"));
  const elign_json *ex = get(c, "expect");
  grpo_microbatch_plan p;
  elign_error err;
  CHECK(grpo_microbatch_plan_build(&p, (int64_t)get(c, "n_kept")->number, (int)get(c, "T_act")->number, &s, &err) ==
        ELIGN_OK);
  int ok = p.n == ex->n;
  for (int i = 0; ok && i < p.n; i++) {
    const elign_json *r = &ex->items[i];
    ok = p.mb[i].begin == (int64_t)r->items[0].number && p.mb[i].count == (int64_t)r->items[1].number &&
         p.mb[i].optimizer_step == (int)r->items[2].number && p.mb[i].step_after == (int)r->items[3].number &&
         fabs(p.mb[i].weight - r->items[4].number) <= 1e-15 * r->items[4].number;
  }
  CHECK(ok);
  grpo_microbatch_plan_free(&p);
}

/* Appendix B: terminal rewards → filter → advantages. */
static void run_pipeline_case(const elign_json *c) {
  grpo_settings s = settings_of(get(c, "settings"));
  const elign_json *ex = get(c, "expect");
  int64_t *off = offsets_of(get(c, "sizes"));
  int64_t n = get(c, "sizes")->n;
  int32_t *types = ints(get(c, "types")), *nst = ints(get(c, "n_stable")), *grp = ints(get(c, "groups"));
  uint8_t *stable = flags(get(c, "stable")), *ok = flags(get(c, "ok"));
  double *F = nums(get(c, "forces")), *E = nums(get(c, "energy"));
  double *pf = malloc(sizeof(double) * (size_t)n), *pe = malloc(sizeof(double) * (size_t)n);
  uint8_t *failed = malloc((size_t)n);
  grpo_oracle_frame fr = {F, E, ok};
  grpo_frame_potentials(pf, pe, failed, &fr, n, off, NULL, &s);
  grpo_chem_input chem = {.stable = stable, .n_stable_atoms = nst};
  grpo_mol_terms *terms = calloc((size_t)n, sizeof *terms);
  elign_error err;
  CHECK(grpo_molecule_terms(terms, n, off, types, &chem, &s, &err) == ELIGN_OK);
  grpo_reward_batch rb;
  grpo_reward_batch_init(&rb, n, grp);
  grpo_rewards_terminal(&rb, pf, pe, failed, terms, &s);
  const char **smiles = smiles_of(get(c, "smiles"));
  uint8_t *known = calloc((size_t)n, 1);
  grpo_filter_stats st;
  CHECK(grpo_filter_apply(&rb, &st, NULL, smiles, known, &s, &err) == ELIGN_OK);
  check_keep(&rb, get(ex, "keep"));
  if (rb.n_mol == get(ex, "keep")->n) {
    check_batch(&rb, ex, TOL);
    grpo_advantages a;
    CHECK(grpo_advantages_compute(&a, &rb, 1000, NULL, NULL, &s, &err) == ELIGN_OK);
    CHECK(a.path == GRPO_ADV_TERMINAL);
    check_nums(a.adv, get(ex, "adv"), rb.n_mol, TOL, "pipeline advantages");
    CHECK(a.n_zero_signal == (int)get(ex, "zero_signal")->number);
    grpo_advantages_free(&a);
  }
  grpo_reward_batch_free(&rb);
  free(off), free(types), free(nst), free(grp), free(stable), free(ok), free(F), free(E), free(pf), free(pe);
  free(failed), free(terms), free(smiles), free(known);
}

/* common/chem's bond tables (through grpo_bond_table_init) equal §3.2's QM9 rows. */
static void check_qm9_bonds(const elign_json *want) {
  const int32_t qm9_z[5] = {1, 6, 7, 8, 9};
  grpo_bond_table bt;
  elign_error err;
  CHECK(grpo_bond_table_init(&bt, qm9_z, 5, &err) == ELIGN_OK);
  int ok = 1;
  for (int o = 0; o < 3; o++)
    for (int a = 0; a < 5; a++)
      for (int b = 0; b < 5; b++) ok &= bt.length_pm[o][a][b] == want->items[o].items[a].items[b].number;
  CHECK(ok);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_grpo_ref FIXTURE.json\n");
    return 2;
  }
  elign_json fx;
  elign_error err;
  if (elign_json_parse_file(argv[1], &fx, &err) != ELIGN_OK) {
    elign_error_print(&err);
    return 2;
  }
  struct {
    const char *key;
    void (*run)(const elign_json *);
  } kinds[] = {{"schedule", run_schedule_case}, {"filter", run_filter_case},   {"advantages", run_advantage_case},
               {"ppo", run_ppo_case},           {"kl", run_kl_case},           {"step", run_step_case},
               {"plan", run_plan_case},         {"pipeline", run_pipeline_case}};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    const elign_json *a = get(&fx, kinds[k].key);
    int before = test_checks_failed;
    for (int i = 0; i < a->n; i++) kinds[k].run(&a->items[i]);
    printf("%-10s %3d cases%s\n", kinds[k].key, a->n, test_checks_failed > before ? "  FAILED" : "");
  }
  check_qm9_bonds(get(&fx, "qm9_bonds"));
  const elign_json *rw = get(&fx, "rewards"), *sh = get(&fx, "shaped");
  int before = test_checks_failed;
  for (int i = 0; i < rw->n; i++) run_reward_case(&rw->items[i], 0);
  printf("%-10s %3d cases%s\n", "rewards", rw->n, test_checks_failed > before ? "  FAILED" : "");
  before = test_checks_failed;
  for (int i = 0; i < sh->n; i++) run_reward_case(&sh->items[i], 1);
  printf("%-10s %3d cases%s\n", "shaped", sh->n, test_checks_failed > before ? "  FAILED" : "");
  elign_json_free(&fx);
  return test_main_result("test_grpo_ref");
}
