/* shaping.c — reward scheduler and shaped rewards (ALGORITHMS.md §4.6). */
#include "learner/shaping.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void grpo_standard_timesteps(int *timesteps, int T) {
  for (int k = 0; k < T; k++) timesteps[k] = T - k - 1;
  timesteps[T] = 0;
}

/* The adaptive threshold θ, or NAN when there is none (uniform mode, or no
 * explicit threshold and max timestep ≤ 0). */
static double adaptive_threshold(const grpo_settings *s, int t_max) {
  const grpo_adaptive_settings *a = &s->reward.shaping.scheduler.adaptive;
  if (s->reward.shaping.scheduler.mode != GRPO_SCHEDULER_ADAPTIVE) return NAN;
  if (grpo_is_set(a->threshold_timestep)) return a->threshold_timestep;
  if (t_max <= 0) return NAN;
  return (double)t_max * a->threshold_fraction;
}

static int stride_at(const grpo_settings *s, int timestep, double theta) {
  const grpo_scheduler_settings *sc = &s->reward.shaping.scheduler;
  if (sc->mode == GRPO_SCHEDULER_UNIFORM) return sc->uniform_stride;
  if (isnan(theta)) return sc->adaptive.fine_stride;
  return timestep > theta ? sc->adaptive.coarse_stride : sc->adaptive.fine_stride;
}

elign_status grpo_schedule_build(grpo_schedule *sch, const int *timesteps, int S, const grpo_settings *s,
                                 elign_error *err) {
  memset(sch, 0, sizeof *sch);
  if (S < 1) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo schedule: a trajectory needs at least one frame (S = %d)", S);
  const grpo_scheduler_settings *sc = &s->reward.shaping.scheduler;
  int end = S - 1;
  int t_max = timesteps[0];
  for (int k = 1; k < S; k++)
    if (timesteps[k] > t_max) t_max = timesteps[k];
  double theta = adaptive_threshold(s, t_max);

  int start = grpo_scheduler_skip_prefix(s);
  if (start > end) start = end;
  sch->indices = elign_malloc(sizeof(int) * (size_t)(S + 1), "grpo:schedule.indices");
  int n = 0;
  for (int k = start; k <= end; k += stride_at(s, timesteps[k], theta)) sch->indices[n++] = k;
  if (sc->include_terminal && sch->indices[n - 1] != end) sch->indices[n++] = end;
  sch->n = n;

  sch->intervals = elign_malloc(sizeof(int) * (size_t)n, "grpo:schedule.intervals");
  sch->fine = elign_malloc((size_t)n, "grpo:schedule.fine");
  for (int j = 0; j < n; j++) {
    sch->intervals[j] = j + 1 < n ? sch->indices[j + 1] - sch->indices[j] : 1;
    sch->fine[j] = (uint8_t)(!isnan(theta) && timesteps[sch->indices[j]] <= theta);
  }
  return ELIGN_OK;
}

void grpo_schedule_free(grpo_schedule *sch) {
  if (!sch) return;
  elign_free(sch->indices);
  elign_free(sch->intervals);
  elign_free(sch->fine);
  sch->n = 0;
}

/* delta traces: shaped[b, k_j] = γ^{Δ_j} Φ(b, j+1) − Φ(b, j) for j < J − 1. */
static void shaped_deltas(double *trace, int S, const grpo_schedule *sch, const double *phi, int64_t n_mol,
                          double gamma) {
  for (int j = 0; j + 1 < sch->n; j++) {
    double g = pow(gamma, (double)(sch->intervals[j] > 1 ? sch->intervals[j] : 1));
    for (int64_t b = 0; b < n_mol; b++)
      trace[b * S + sch->indices[j]] = g * phi[(int64_t)(j + 1) * n_mol + b] - phi[(int64_t)j * n_mol + b];
  }
}

elign_status grpo_rewards_shaped(grpo_reward_batch *rb, const grpo_schedule *sch, int S, const double *phi_force,
                                 const double *phi_energy, const int32_t *fail_count, const grpo_mol_terms *terms,
                                 const grpo_settings *s, elign_error *err) {
  const grpo_reward_settings *r = &s->reward;
  int64_t n = rb->n_mol;
  int J = sch->n;
  if (J < 1 || sch->indices[J - 1] >= S || sch->indices[0] < 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo shaping: the schedule does not fit %d frames", S);
  if (r->use_energy && !phi_energy)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "grpo shaping: reward.use_energy is on but no energy potentials were given");
  int last = sch->indices[J - 1];
  const double *term_f = phi_force + (int64_t)(J - 1) * n;
  const double *term_e = r->use_energy ? phi_energy + (int64_t)(J - 1) * n : NULL;
  double tw = grpo_reward_terminal_weight(s);

  for (int64_t b = 0; b < n; b++) {
    rb->force_rewards[b] = term_f[b];
    rb->energy_rewards[b] = term_e ? term_e[b] : 0.0;
    rb->oracle_failures[b] = fail_count ? fail_count[b] : 0;
  }

  if (r->shaping.mode == GRPO_SHAPING_DELTA) {
    grpo_reward_batch_alloc_traces(rb, S, 1, 1, r->use_energy);
    if (!r->shaping.only_energy_reshape) shaped_deltas(rb->force_rewards_ts, S, sch, phi_force, n, r->shaping.gamma);
    if (r->use_energy) shaped_deltas(rb->energy_rewards_ts, S, sch, phi_energy, n, r->shaping.gamma);
    for (int64_t b = 0; b < n; b++) {
      double *rts = rb->rewards_ts + b * S, *fts = rb->force_rewards_ts + b * S;
      double *ets = r->use_energy ? rb->energy_rewards_ts + b * S : NULL;
      for (int k = 0; k < S; k++) rts[k] = r->force_weight * fts[k] + (ets ? r->energy_weight * ets[k] : 0.0);
      rts[last] = r->force_weight * tw * term_f[b];
      fts[last] = tw * term_f[b];
      if (ets) {
        rts[last] += r->energy_weight * tw * term_e[b];
        ets[last] = tw * term_e[b];
      }
    }
  } else {
    grpo_reward_batch_alloc_traces(rb, S, 0, 1, r->use_energy);
    for (int64_t b = 0; b < n; b++) rb->force_rewards_ts[b * S + last] = term_f[b];
    if (r->use_energy)
      for (int j = 0; j < J; j++)
        for (int64_t b = 0; b < n; b++)
          rb->energy_rewards_ts[b * S + sch->indices[j]] = phi_energy[(int64_t)j * n + b];
  }
  grpo_rewards_finish(rb, last, terms, s);
  return ELIGN_OK;
}
