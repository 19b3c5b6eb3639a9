/* train_update.c — the PPO update of an iteration (ALGORITHMS.md §4.9–4.11)
 * over the ranks that hold the rollouts.
 *
 * The micro-batch plan over the kept molecules (grpo_microbatch_plan_build)
 * is the same on every rank. A micro-batch is cut where its molecules change
 * rollout block; each piece is a UNIT of gradient work, computed by the actor
 * holding that block, over all trained steps, into a buffer of its own:
 *   for each trained step k (ascending):
 *     μθ   = reverse-step mean of the current weights at (z_t, t)   [training workspace]
 *     μref = the same for the frozen reference (when β > 0)          [forward-only workspace]
 *     grpo_ppo_step → dL/dε̂ (PPO-clip on ρ = exp(ℓθ − ℓold) and β·KL)
 *     force alignment (§4.13, fine-stage steps only) → dL/dμθ → dL/dε̂ +=
 *     egnn_dynamics_backward → the unit's buffer += dL/dθ
 * The network sees the unit's molecules in rollout order, a sub-batch of the
 * block the sampler ran: a whole block is the very batch of the rollout, so
 * without drift its ratios are exactly 1.
 *
 * Blocks belong to the actors round robin (train_impl.h), so the units of one
 * micro-batch — consecutive molecules, consecutive blocks — run on different
 * actors at once. Units are ordered by micro-batch, then block; rank 0 adds
 * the unit gradients of an optimizer step in that order — its own from the
 * buffers it computed them into, the others' as they arrive — so the float
 * sums are the same for any rank count. Then the
 * global-norm clip to train.max_grad_norm (torch's clip_grad_norm_ rule),
 * AdamW (amsgrad off) at lr·λ(step), and the weights go out to every actor.
 * Force alignment divides by the qualifying atoms of the whole micro-batch:
 * for micro-batches of several units a forward-only pre-pass counts them
 * before the gradient pass (fa_count_pass).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/log.h"
#include "common/base/trace.h"
#include "common/mpi/roles.h"
#include "learner/train_impl.h"

/* ---- units --------------------------------------------------------------------- */

static int64_t block_of(const trainer *tr, int64_t mol) {
  return mol / tr->o->K / tr->o->groups_per_block;
}

/* The units of the plan in reduction order: by micro-batch, then block
 * (the order they are built in). */
static train_unit *build_units(const trainer *tr, const train_iter *it, const grpo_microbatch_plan *plan, int *n_out) {
  int n = 0, cap = 16;
  train_unit *u = elign_malloc((size_t)cap * sizeof *u, "train:units");
  for (int mb = 0; mb < plan->n; mb++) {
    int64_t k = plan->mb[mb].begin, end = k + plan->mb[mb].count;
    while (k < end) {
      int64_t blk = block_of(tr, it->kept[k]), k1 = k + 1;
      while (k1 < end && block_of(tr, it->kept[k1]) == blk) k1++;
      if (n == cap) u = elign_realloc(u, (size_t)(cap *= 2) * sizeof *u, "train:units");
      u[n++] = (train_unit){.mb = mb, .block = blk, .k0 = k, .k1 = k1, .owner = train_block_owner(tr, blk)};
      k = k1;
    }
  }
  *n_out = n;
  return u;
}

/* ---- one unit -------------------------------------------------------------------- */

/* Scratch of one unit, sized for its atoms. */
typedef struct {
  int64_t n, N;
  int64_t *rec;            /* [n] record molecule of each unit molecule */
  int64_t *off;            /* [n + 1] */
  int *t, *s;              /* [n] */
  elign_real *z_t, *z_s, *eps, *mu, *eps_ref, *mu_ref, *d_eps, *d_mu; /* (N, D) */
  elign_real *mu_old;      /* (N, D) force alignment: the rollout's μ at the step */
  double *fa_F;            /* (N, 3) force alignment: the oracle's forces on the step's ẑ₀ */
  diffusion_step_coef *coef, *coef_ref; /* [n] */
  double *logp, *dlogp, *logp_old, *adv; /* [n] */
} unit_scratch;

static void scratch_free(unit_scratch *sc) {
  free(sc->rec), free(sc->off), free(sc->t), free(sc->s);
  free(sc->z_t), free(sc->z_s), free(sc->eps), free(sc->mu), free(sc->eps_ref), free(sc->mu_ref);
  free(sc->d_eps), free(sc->d_mu), free(sc->coef), free(sc->coef_ref);
  free(sc->mu_old), free(sc->fa_F);
  free(sc->logp), free(sc->dlogp), free(sc->logp_old), free(sc->adv);
  memset(sc, 0, sizeof *sc);
}

/* My record of the unit's block. */
static const rollout_batch *unit_record(const trainer *tr, const train_iter *it, const train_unit *u) {
  int64_t j = (u->block - tr->rank) / tr->size;
  ELIGN_ASSERT(u->owner == tr->rank && j >= 0 && j < it->n_mine);
  return &it->rec[j];
}

static void scratch_init(unit_scratch *sc, const trainer *tr, const train_iter *it, const train_unit *u) {
  const rollout_batch *r = unit_record(tr, it, u);
  int64_t mol0 = train_block_group0(tr, u->block) * tr->o->K;
  memset(sc, 0, sizeof *sc);
  sc->n = u->k1 - u->k0;
  size_t n = (size_t)(sc->n > 0 ? sc->n : 1);
  sc->rec = elign_malloc(n * sizeof *sc->rec, "unit:rec");
  sc->off = elign_malloc((n + 1) * sizeof *sc->off, "unit:off");
  sc->off[0] = 0;
  for (int64_t b = 0; b < sc->n; b++) {
    sc->rec[b] = it->kept[u->k0 + b] - mol0;
    ELIGN_ASSERT(sc->rec[b] >= 0 && sc->rec[b] < r->h.n_mol);
    sc->off[b + 1] = sc->off[b] + rollout_natoms(r, sc->rec[b]);
  }
  sc->N = sc->off[sc->n];
  size_t nd = (size_t)(sc->N > 0 ? sc->N : 1) * (size_t)tr->D * sizeof(elign_real);
  sc->t = elign_malloc(n * sizeof(int), "unit:t");
  sc->s = elign_malloc(n * sizeof(int), "unit:s");
  sc->z_t = elign_malloc(nd, "unit:z_t");
  sc->z_s = elign_malloc(nd, "unit:z_s");
  sc->eps = elign_malloc(nd, "unit:eps");
  sc->mu = elign_malloc(nd, "unit:mu");
  sc->eps_ref = elign_malloc(nd, "unit:eps_ref");
  sc->mu_ref = elign_malloc(nd, "unit:mu_ref");
  sc->d_eps = elign_malloc(nd, "unit:d_eps");
  sc->d_mu = elign_malloc(nd, "unit:d_mu");
  if (tr->fa_active) {
    sc->mu_old = elign_malloc(nd, "unit:mu_old");
    sc->fa_F = elign_malloc((size_t)(sc->N > 0 ? sc->N : 1) * 3 * sizeof(double), "unit:fa_F");
  }
  sc->coef = elign_malloc(n * sizeof *sc->coef, "unit:coef");
  sc->coef_ref = elign_malloc(n * sizeof *sc->coef_ref, "unit:coef_ref");
  sc->logp = elign_malloc(n * sizeof(double), "unit:logp");
  sc->dlogp = elign_malloc(n * sizeof(double), "unit:dlogp");
  sc->logp_old = elign_malloc(n * sizeof(double), "unit:logp_old");
  sc->adv = elign_malloc(n * sizeof(double), "unit:adv");
}

/* Rows of latent i of the record for the unit's molecules, packed. */
static void gather_latent(const unit_scratch *sc, const rollout_batch *r, int i, elign_real *dst) {
  const elign_real *src = rollout_latent(r, i);
  int D = r->h.D;
  for (int64_t b = 0; b < sc->n; b++)
    memcpy(dst + sc->off[b] * D, src + r->offsets[sc->rec[b]] * D,
           (size_t)((sc->off[b + 1] - sc->off[b]) * D) * sizeof(elign_real));
}

/* Force alignment at trained step i (frame slot j): the rollout's μ and the
 * kept oracle forces of the unit's molecules, packed. */
static void gather_force_alignment(const trainer *tr, const train_iter *it, const train_unit *u, unit_scratch *sc,
                                   const rollout_batch *r, int j) {
  int D = r->h.D;
  const elign_real *mu = rollout_frame_mu(r, j);
  const double *F = it->fa_forces[(u->block - tr->rank) / tr->size] + (int64_t)tr->fa_index_of_slot[j] * r->h.n_atoms * 3;
  for (int64_t b = 0; b < sc->n; b++) {
    int64_t na = sc->off[b + 1] - sc->off[b], a = r->offsets[sc->rec[b]];
    memcpy(sc->mu_old + sc->off[b] * D, mu + a * D, (size_t)(na * D) * sizeof(elign_real));
    memcpy(sc->fa_F + sc->off[b] * 3, F + a * 3, (size_t)(na * 3) * sizeof(double));
  }
}

/* The inputs of trained step i for the unit's molecules. */
static void step_inputs(const train_iter *it, const train_unit *u, unit_scratch *sc, const rollout_batch *r, int i) {
  rollout_step v0 = rollout_step_view(r, 0, i);
  for (int64_t b = 0; b < sc->n; b++) {
    sc->t[b] = v0.t;
    sc->s[b] = v0.s;
    sc->logp_old[b] = rollout_logp_old(r, sc->rec[b], i);
    int64_t kept = u->k0 + b;
    sc->adv[b] = it->adv_cols == 1 ? it->adv[kept] : it->adv[kept * it->adv_cols + v0.k];
  }
  gather_latent(sc, r, i, sc->z_t);
  gather_latent(sc, r, i + 1, sc->z_s);
}

static void stats_add_step(double *us, const grpo_ppo_stats *st) {
  double n = (double)st->n;
  us[US_MOLSTEPS] += n;
  us[US_RATIO_SUM] += n * st->ratio_mean;
  if (st->ratio_min < us[US_RATIO_MIN]) us[US_RATIO_MIN] = st->ratio_min;
  if (st->ratio_max > us[US_RATIO_MAX]) us[US_RATIO_MAX] = st->ratio_max;
  us[US_CLIPPED] += n * st->clipfrac;
  us[US_KL_SUM] += n * st->kl;
  us[US_PG_SUM] += n * st->policy_loss;
  us[US_LOSS_SUM] += n * st->loss;
  us[US_WLOSS_SUM] += st->weighted_loss;
  us[US_ADV_CLIPPED] += n * st->adv_clipfrac;
}

/* Force alignment (§4.13) at trained step i (frame slot j), after the PPO
 * term: its loss into the stats, dL/dμθ through μ → ε̂ into d_eps. The
 * micro-batch's qualifying-atom count is fa_counts[mb · T_act + i] when the
 * micro-batch has several units (the pre-pass), else this unit's own. The
 * step's term counts with the micro-batch's share of the optimizer step
 * (w_mb · count: 1/(grad_accum · T_act) in the public weighting), as its
 * mean PPO loss does. */
static void add_force_alignment(const trainer *tr, const train_iter *it, const train_unit *u, const grpo_microbatch *mb,
                                unit_scratch *sc, const rollout_batch *r, int i, int j, const int64_t *fa_counts,
                                double *us) {
  const grpo_force_align_settings *fs = &tr->o->fa;
  int D = tr->D;
  gather_force_alignment(tr, it, u, sc, r, j);
  int64_t total = fa_counts && fa_counts[(int64_t)u->mb * tr->T_act + i] >= 0
                      ? fa_counts[(int64_t)u->mb * tr->T_act + i]
                      : grpo_force_align_count(sc->mu, sc->mu_old, sc->fa_F, sc->N, D, fs);
  if (total <= 0) return; /* count 0: no contribution */
  double per_sum = fs->weight / ((double)total + GRPO_FORCE_ALIGN_EPS);
  double dS = per_sum * mb->weight * (double)mb->count;
  memset(sc->d_mu, 0, (size_t)(sc->N * D) * sizeof(elign_real));
  grpo_force_align_result fr;
  grpo_force_align_step(&fr, sc->d_mu, sc->mu, sc->mu_old, sc->fa_F, sc->N, D, fs, dS);
  grpo_mu_backward_eps_hat(sc->d_eps, sc->d_mu, sc->coef, sc->off, sc->n, D);
  us[US_FA_LOSS] += per_sum * fr.sum_one_minus_cos;
  us[US_FA_ATOMS] += (double)fr.count;
  us[US_FA_COS] += fr.sum_cos;
  us[US_FA_STEPS] += u->k0 == mb->begin;
}

/* The gradient of one unit over all trained steps into g (zeroed here). */
static elign_status compute_unit(trainer *tr, const train_iter *it, const train_unit *u, const grpo_microbatch *mb,
                                 const int64_t *fa_counts, elign_real *g, double *us, elign_error *err) {
  const train_options *o = tr->o;
  const rollout_batch *r = unit_record(tr, it, u);
  int D = tr->D, T = o->T;
  memset(g, 0, tr->ts.n * sizeof *g);
  for (int q = 0; q < US_COUNT; q++) us[q] = 0;
  us[US_RATIO_MIN] = INFINITY;
  us[US_RATIO_MAX] = -INFINITY;
  unit_scratch sc;
  scratch_init(&sc, tr, it, u);
  edm_model theta = tr->model, ref = tr->model;
  theta.params = tr->ts.params;
  ref.params = tr->ts.reference;
  int use_ref = o->s.train.kl_penalty_weight > 0;
  elign_status st = ELIGN_OK;
  for (int i = 0; i < tr->T_act && !st; i++) {
    step_inputs(it, u, &sc, r, i);
    st = edm_model_denoise(&theta, tr->ws_train, sc.n, sc.off, sc.z_t, sc.t, sc.s, T, sc.eps, sc.mu, NULL, NULL,
                           sc.coef, err);
    if (!st && use_ref)
      st = edm_model_denoise(&ref, tr->ws_ref, sc.n, sc.off, sc.z_t, sc.t, sc.s, T, sc.eps_ref, sc.mu_ref, NULL, NULL,
                             sc.coef_ref, err);
    if (st) break;
    memset(sc.d_eps, 0, (size_t)(sc.N * D) * sizeof(elign_real));
    grpo_step_input in = {.n_mol = sc.n, .offsets = sc.off, .D = D, .z_s = sc.z_s, .mu = sc.mu,
                          .mu_ref = use_ref ? sc.mu_ref : NULL, .coef = sc.coef, .logp_old = sc.logp_old,
                          .adv = sc.adv};
    grpo_ppo_stats ps;
    memset(&ps, 0, sizeof ps);
    grpo_ppo_step(&ps, sc.logp, sc.dlogp, sc.d_mu, sc.d_eps, &in, mb->weight, &o->s);
    ps.n = sc.n;
    stats_add_step(us, &ps);
    int j = tr->fa_active ? tr->fa_slot_of_step[i] : -1;
    if (j >= 0) add_force_alignment(tr, it, u, mb, &sc, r, i, j, fa_counts, us);
    egnn_dynamics_backward(&tr->model.net, tr->ts.params, g, tr->ws_train, sc.d_eps, NULL);
  }
  scratch_free(&sc);
  if (st) elign_error_prefix(err, "iteration %lld, update: ", (long long)it->it);
  return st;
}

/* ---- force alignment: the micro-batch's atom count ------------------------------- */

/* §4.13 divides by the qualifying atoms of the WHOLE micro-batch, which may
 * be cut into units on several actors. For the micro-batches of optimizer
 * step `step` that are, every owner runs the forward of its units at the
 * fine-stage steps (the same sub-batch and weights as the gradient pass
 * after, so the same μθ bit for bit) and counts; an MPI sum of integers
 * (exact in any order) gives counts[mb · T_act + i]. Single-unit
 * micro-batches get −1: the unit counts its own atoms in the gradient pass
 * (no extra forward). *out = NULL when no micro-batch of the step needs a
 * count (the same decision on every rank: units do not depend on them).
 * Collective whenever force alignment acts. */
static elign_status fa_count_pass(trainer *tr, const train_iter *it, const grpo_microbatch_plan *plan,
                                  const train_unit *units, int n_units, int step, int64_t **out, elign_error *err) {
  *out = NULL;
  if (!tr->fa_active || plan->n == 0) return ELIGN_OK;
  int *per_mb = elign_calloc((size_t)plan->n, sizeof(int), "train:fa_units");
  for (int u = 0; u < n_units; u++) per_mb[units[u].mb]++;
  int any = 0;
  for (int mb = 0; mb < plan->n; mb++) any |= per_mb[mb] > 1 && plan->mb[mb].optimizer_step == step;
  if (!any) {
    free(per_mb);
    return ELIGN_OK;
  }
  int64_t n = (int64_t)plan->n * tr->T_act;
  int64_t *counts = elign_calloc((size_t)n, sizeof *counts, "train:fa_counts");
  edm_model theta = tr->model;
  theta.params = tr->ts.params;
  elign_status st = ELIGN_OK;
  for (int u = 0; u < n_units && !st; u++) {
    const train_unit *un = &units[u];
    if (un->owner != tr->rank || plan->mb[un->mb].optimizer_step != step || per_mb[un->mb] < 2) continue;
    const rollout_batch *r = unit_record(tr, it, un);
    unit_scratch sc;
    scratch_init(&sc, tr, it, un);
    for (int i = 0; i < tr->T_act && !st; i++) {
      int j = tr->fa_slot_of_step[i];
      if (j < 0) continue;
      step_inputs(it, un, &sc, r, i);
      st = edm_model_denoise(&theta, tr->ws_train, sc.n, sc.off, sc.z_t, sc.t, sc.s, tr->o->T, sc.eps, sc.mu, NULL,
                             NULL, sc.coef, err);
      if (st) break;
      gather_force_alignment(tr, it, un, &sc, r, j);
      counts[(int64_t)un->mb * tr->T_act + i] += grpo_force_align_count(sc.mu, sc.mu_old, sc.fa_F, sc.N, tr->D, &tr->o->fa);
    }
    scratch_free(&sc);
  }
  if (st) elign_error_prefix(err, "iteration %lld, force-alignment count: ", (long long)it->it);
  run_wait_begin(&tr->wait, it->it, "the force-alignment count");
  st = elign_mpi_agree(tr->comm, err);
  if (!st) MPI_Allreduce(MPI_IN_PLACE, counts, (int)n, MPI_INT64_T, MPI_SUM, tr->comm);
  run_wait_end();
  for (int mb = 0; mb < plan->n; mb++)
    if (per_mb[mb] < 2)
      for (int i = 0; i < tr->T_act; i++) counts[(int64_t)mb * tr->T_act + i] = -1;
  free(per_mb);
  if (st) {
    free(counts);
    return st;
  }
  *out = counts;
  return ELIGN_OK;
}

/* ---- one optimizer step ---------------------------------------------------------- */

/* What the update adds up for the metrics (rank 0). */
typedef struct {
  double us[US_COUNT];      /* all units */
  double first_min, first_max; /* ratios of the first optimizer step of the first epoch */
  double grad_norm_sum, grad_norm_max, lr_first, lr_last;
  int steps;
} update_totals;

static void totals_add_unit(update_totals *t, const double *us, int first) {
  for (int q = 0; q < US_COUNT; q++) {
    if (q == US_RATIO_MIN) t->us[q] = fmin(t->us[q], us[q]);
    else if (q == US_RATIO_MAX) t->us[q] = fmax(t->us[q], us[q]);
    else t->us[q] += us[q];
  }
  if (first) {
    t->first_min = fmin(t->first_min, us[US_RATIO_MIN]);
    t->first_max = fmax(t->first_max, us[US_RATIO_MAX]);
  }
}

static double learning_rate(const trainer *tr) { return tr->o->lr * lr_schedule_factor(&tr->o->sched, tr->ts.step); }

/* Rank 0: clip the global norm (torch.nn.utils.clip_grad_norm_: scale by
 * max_norm/(‖g‖ + 1e−6) when that is below 1), AdamW, step++. */
static elign_status optimizer_step(trainer *tr, const train_iter *it, update_totals *tot, elign_error *err) {
  double norm = grad_l2_norm(tr->ts.grads, tr->ts.n);
  if (!isfinite(norm)) {
    ELIGN_FAIL(err, ELIGN_ERR_NUMERIC, "the gradient norm is %g in iteration %lld (optimizer step %lld): a NaN or Inf "
               "in the loss or the network", norm, (long long)it->it, (long long)tr->ts.step + 1);
    elign_error_hint(err, "the run stopped without a checkpoint of this iteration; the last one in %s/checkpoints is "
                          "intact (lower train.learning_rate, or check the rollouts' metrics)",
                     tr->o->run_dir);
    return ELIGN_ERR_NUMERIC;
  }
  double coef = tr->o->max_grad_norm / (norm + 1e-6);
  if (coef < 1.0) {
    elign_real c = (elign_real)coef;
    for (size_t q = 0; q < tr->ts.n; q++) tr->ts.grads[q] *= c;
  }
  double lr = learning_rate(tr);
  if (tot->steps == 0) tot->lr_first = lr;
  tot->lr_last = lr;
  train_step_info info;
  elign_status st = train_state_step(&tr->ts, &tr->o->hp, lr, 0, 0.0, &info, err);
  if (st) return st;
  tot->grad_norm_sum += norm;
  tot->grad_norm_max = fmax(tot->grad_norm_max, norm);
  tot->steps++;
  return ELIGN_OK;
}

/* The units of optimizer step `step` of one pass: computed by their owners,
 * summed on rank 0 in unit order, applied, broadcast. */
static elign_status update_step(trainer *tr, train_iter *it, const grpo_microbatch_plan *plan, const train_unit *units,
                                int n_units, int step, int first, update_totals *tot, elign_error *err) {
  size_t n = tr->ts.n;
  int n_mine = 0;
  for (int u = 0; u < n_units; u++) n_mine += units[u].owner == tr->rank && plan->mb[units[u].mb].optimizer_step == step;
  /* every actor keeps its units' gradients until they are added (rank 0) or sent;
   * rank 0 has one more buffer to receive into */
  int n_buf = n_mine + (tr->rank == 0);
  elign_real *buf = elign_malloc((size_t)n_buf * n * sizeof *buf, "train:unit_grads");
  double *stats = elign_malloc((size_t)(n_mine > 0 ? n_mine : 1) * US_COUNT * sizeof(double), "train:unit_stats");
  double t0 = elign_wtime(), tt = elign_trace_begin();
  elign_status st = ELIGN_OK;
  if (tr->rank == 0) memset(tr->ts.grads, 0, n * sizeof *tr->ts.grads);
  int64_t *fa_counts = NULL;
  st = fa_count_pass(tr, it, plan, units, n_units, step, &fa_counts, err);
  int j = 0;
  for (int u = 0; u < n_units && !st; u++) {
    if (units[u].owner != tr->rank || plan->mb[units[u].mb].optimizer_step != step) continue;
    st = compute_unit(tr, it, &units[u], &plan->mb[units[u].mb], fa_counts, buf + (size_t)j * n,
                      stats + j * US_COUNT, err);
    j++;
  }
  free(fa_counts);
  it->t[TM_UPDATE] += elign_wtime() - t0;
  elign_trace_end(tt, "gradient", ELIGN_TRACE_BUSY);
  double t1 = elign_wtime();
  tt = elign_trace_begin();
  /* waits: for the slowest actor's units (the reduction), then for rank 0's fold and optimizer step (the broadcast) */
  run_wait_begin(&tr->wait, it->it, "the gradient reduction");
  st = elign_mpi_agree(tr->comm, err);
  if (!st) {
    if (tr->rank == 0) {
      /* the fold: ((0 + g_0) + g_1) + ... in unit order, whoever computed g_u */
      double us[US_COUNT];
      elign_real *recv = buf + (size_t)n_mine * n;
      j = 0;
      for (int u = 0; u < n_units; u++) {
        if (plan->mb[units[u].mb].optimizer_step != step) continue;
        const elign_real *g = recv;
        const double *s = us;
        if (units[u].owner == 0) {
          g = buf + (size_t)j * n;
          s = stats + j * US_COUNT;
          j++;
        } else {
          MPI_Recv(recv, (int)n, MPI_ELIGN_REAL, units[u].owner, 2 * u, tr->comm, MPI_STATUS_IGNORE);
          MPI_Recv(us, US_COUNT, MPI_DOUBLE, units[u].owner, 2 * u + 1, tr->comm, MPI_STATUS_IGNORE);
        }
        for (size_t q = 0; q < n; q++) tr->ts.grads[q] += g[q];
        totals_add_unit(tot, s, first);
      }
      elign_trace_end(tt, "reduce", ELIGN_TRACE_WAIT);
      run_wait_end(); /* rank 0 alone */
      tt = elign_trace_begin();
      st = optimizer_step(tr, it, tot, err);
      elign_trace_end(tt, "optimizer", ELIGN_TRACE_BUSY);
      tt = elign_trace_begin();
    } else {
      j = 0;
      for (int u = 0; u < n_units; u++) {
        if (units[u].owner != tr->rank || plan->mb[units[u].mb].optimizer_step != step) continue;
        MPI_Send(buf + (size_t)j * n, (int)n, MPI_ELIGN_REAL, 0, 2 * u, tr->comm);
        MPI_Send(stats + j * US_COUNT, US_COUNT, MPI_DOUBLE, 0, 2 * u + 1, tr->comm);
        j++;
      }
    }
    run_wait_begin(&tr->wait, it->it, "the weight broadcast");
    st = elign_mpi_agree(tr->comm, err);
  }
  elign_trace_end(tt, tr->rank == 0 ? "reduce_agree" : "reduce", ELIGN_TRACE_WAIT);
  tt = elign_trace_begin();
  if (!st) MPI_Bcast(tr->ts.params, (int)n, MPI_ELIGN_REAL, 0, tr->comm);
  run_wait_end();
  elign_trace_end(tt, "broadcast", ELIGN_TRACE_WAIT);
  it->t[TM_REDUCE_WAIT] += elign_wtime() - t1;
  free(buf);
  free(stats);
  return st;
}

elign_status train_update(trainer *tr, train_iter *it, train_metrics *m, elign_error *err) {
  grpo_microbatch_plan plan;
  memset(&plan, 0, sizeof plan);
  elign_status st = grpo_microbatch_plan_build(&plan, it->n_kept, tr->T_act, &tr->o->s, err);
  if (st) return st;
  int n_units = 0;
  train_unit *units = build_units(tr, it, &plan, &n_units);
  update_totals tot;
  memset(&tot, 0, sizeof tot);
  tot.us[US_RATIO_MIN] = tot.first_min = INFINITY;
  tot.us[US_RATIO_MAX] = tot.first_max = -INFINITY;
  for (int e = 0; e < tr->o->epochs_per_rollout && !st; e++)
    for (int step = 0; step < plan.n_optimizer_steps && !st; step++)
      st = update_step(tr, it, &plan, units, n_units, step, e == 0 && step == 0, &tot, err);
  if (!st && tr->rank == 0) {
    double ms = tot.us[US_MOLSTEPS];
    train_metric(m, "optimizer_steps", tot.steps);
    train_metric(m, "units", n_units);
    train_metric(m, "ratio_mean", ms > 0 ? tot.us[US_RATIO_SUM] / ms : NAN);
    train_metric(m, "ratio_min", ms > 0 ? tot.us[US_RATIO_MIN] : NAN);
    train_metric(m, "ratio_max", ms > 0 ? tot.us[US_RATIO_MAX] : NAN);
    train_metric(m, "ratio_first_step_min", ms > 0 ? tot.first_min : NAN);
    train_metric(m, "ratio_first_step_max", ms > 0 ? tot.first_max : NAN);
    train_metric(m, "clipfrac", ms > 0 ? tot.us[US_CLIPPED] / ms : NAN);
    train_metric(m, "adv_clipfrac", ms > 0 ? tot.us[US_ADV_CLIPPED] / ms : NAN);
    train_metric(m, "kl", ms > 0 ? tot.us[US_KL_SUM] / ms : NAN);
    train_metric(m, "policy_loss", ms > 0 ? tot.us[US_PG_SUM] / ms : NAN);
    train_metric(m, "loss", ms > 0 ? tot.us[US_LOSS_SUM] / ms : NAN);
    train_metric(m, "lr", tot.steps ? tot.lr_first : learning_rate(tr));
    train_metric(m, "lr_last", tot.steps ? tot.lr_last : learning_rate(tr));
    train_metric(m, "grad_norm", tot.steps ? tot.grad_norm_sum / tot.steps : NAN);
    train_metric(m, "grad_norm_max", tot.steps ? tot.grad_norm_max : NAN);
    if (tr->fa_active) {
      double fa_atoms = tot.us[US_FA_ATOMS], fa_steps = tot.us[US_FA_STEPS];
      /* the mean over the (micro-batch, step) pairs where it acted, as the public ForceAlignPenalty */
      train_metric(m, "force_align_loss", fa_steps > 0 ? tot.us[US_FA_LOSS] / fa_steps : 0.0);
      train_metric(m, "force_align_atoms", fa_atoms);
      train_metric(m, "force_align_steps", fa_steps);
      train_metric(m, "force_align_cos", fa_atoms > 0 ? tot.us[US_FA_COS] / fa_atoms : NAN);
    }
  }
  free(units);
  grpo_microbatch_plan_free(&plan);
  return st;
}
