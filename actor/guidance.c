/* guidance.c — the oracle's force added to each sampled state (guidance.h). */
#include "actor/guidance.h"

#include <math.h>
#include <string.h>

#include "common/base/log.h"

elign_status guidance_options_check(const guidance_options *o, elign_error *err) {
  if (!(o->scale >= 0) || !isfinite(o->scale))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "--guidance-scale %g: need a finite value >= 0 (Å²/eV)", o->scale);
  if (!(o->max_sigma > 0))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "--guidance-max-sigma %g: need a value > 0 (1 = every step)", o->max_sigma);
  if (!(o->clip >= 0) || !isfinite(o->clip))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "--guidance-clip %g: need a finite value >= 0 (eV/Å; 0 = none)", o->clip);
  return ELIGN_OK;
}

void guidance_init(guidance *g, const edm_model *model, elign_oracle_client *client, const guidance_options *opt) {
  memset(g, 0, sizeof *g);
  g->model = model;
  g->client = client;
  g->opt = *opt;
}

void guidance_free(guidance *g) {
  if (!g) return;
  elign_free(g->pos);
  elign_free(g->forces);
  elign_free(g->energy);
  elign_free(g->type);
  elign_free(g->Z);
  elign_free(g->status);
  g->pos = g->forces = g->energy = NULL;
  g->type = g->Z = NULL;
  g->status = NULL;
  g->cap_atoms = g->cap_mol = 0;
}

static void grow_scratch(guidance *g, int64_t n_atoms, int64_t n_mol) {
  if (n_atoms > g->cap_atoms) {
    size_t n = (size_t)n_atoms;
    g->pos = elign_realloc(g->pos, 3 * n * sizeof(double), "guidance:pos");
    g->forces = elign_realloc(g->forces, 3 * n * sizeof(double), "guidance:forces");
    g->type = elign_realloc(g->type, n * sizeof(int32_t), "guidance:type");
    g->Z = elign_realloc(g->Z, n * sizeof(int32_t), "guidance:Z");
    g->cap_atoms = n_atoms;
  }
  if (n_mol > g->cap_mol) {
    g->energy = elign_realloc(g->energy, (size_t)n_mol * sizeof(double), "guidance:energy");
    g->status = elign_realloc(g->status, (size_t)n_mol * sizeof(elign_mol_status), "guidance:status");
    g->cap_mol = n_mol;
  }
}

/* Energies and forces of the batch's molecules as z_s decodes them. */
static elign_status evaluate_state(guidance *g, int64_t n_mol, const int64_t *off, const elign_real *z_s,
                                   elign_error *err) {
  const edm_model *m = g->model;
  int64_t N = off[n_mol];
  /* the decode's rule for positions (x part, Å) and types (first argmax of
   * the one-hot channels); a non-finite row becomes NaN positions, which the
   * oracle flags */
  diffusion_decode_molecules(g->pos, g->type, NULL, z_s, z_s, N, &m->layout);
  for (int64_t i = 0; i < N; i++) g->Z[i] = m->type_Z[g->type[i]];
  elign_oracle_batch batch = {.n_mol = n_mol, .offsets = off, .Z = g->Z, .pos = g->pos};
  elign_oracle_result res = {.energy = g->energy, .forces = g->forces, .status = g->status};
  double t0 = elign_wtime();
  uint64_t id;
  elign_status st = elign_oracle_client_submit(g->client, &batch, 1, &id, err);
  if (!st) st = elign_oracle_client_wait(g->client, id, &res, err);
  g->stats.oracle_s += elign_wtime() - t0;
  return st;
}

/* x_i += coef · clip(F_i) over molecule rows [a0, a1) of z (row stride D). */
static void push_molecule(guidance *g, elign_real *z, int D, int64_t a0, int64_t a1, double coef) {
  for (int64_t i = a0; i < a1; i++) {
    const double *f = g->forces + 3 * i;
    double mag = sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]);
    if (mag > g->stats.max_force) g->stats.max_force = mag;
    double k = coef;
    if (g->opt.clip > 0 && mag > g->opt.clip) k *= g->opt.clip / mag;
    for (int d = 0; d < 3; d++) z[i * D + d] += (elign_real)(k * f[d]);
  }
}

elign_status guidance_apply(guidance *g, int t, int T, int64_t n_mol, const int64_t *off, elign_real *z_s,
                            elign_error *err) {
  if (g->opt.scale == 0 || n_mol == 0) return ELIGN_OK; /* the unguided sampler, bit for bit */
  const edm_model *m = g->model;
  double sigma_t = (double)diffusion_sigma((elign_real)diffusion_gamma(&m->sched, t, T));
  if (sigma_t > g->opt.max_sigma) {
    g->stats.steps_skipped++;
    return ELIGN_OK;
  }
  grow_scratch(g, off[n_mol] > 0 ? off[n_mol] : 1, n_mol);
  elign_status st = evaluate_state(g, n_mol, off, z_s, err);
  if (st) return st;
  g->stats.steps_guided++;
  g->stats.molecules += n_mol;
  int D = m->layout.D;
  double coef = g->opt.scale * (1.0 - sigma_t);
  for (int64_t b = 0; b < n_mol; b++) {
    if (g->status[b] != ELIGN_MOL_OK || !elign_oracle_result_finite(g->energy[b], g->forces + 3 * off[b],
                                                                     off[b + 1] - off[b])) {
      g->stats.flagged++;
      continue; /* no force for this molecule at this step */
    }
    push_molecule(g, z_s, D, off[b], off[b + 1], coef);
    /* the clip breaks Σ F = 0, and rounding drifts: keep the x part CoM-free */
    int64_t one[2] = {0, off[b + 1] - off[b]};
    diffusion_remove_mean(z_s + off[b] * D, D, one, 1);
  }
  return ELIGN_OK;
}

static elign_status guidance_hook(void *ctx, const sampler_adjust_step *step, elign_real *z_s, elign_error *err) {
  return guidance_apply(ctx, step->t, step->T, step->n_mol, step->offsets, z_s, err);
}

sampler_adjust guidance_adjust(guidance *g) {
  sampler_adjust a = {.ctx = g, .apply = guidance_hook};
  return a;
}
