/* edm_model.c — the "model file" glue: checkpoint attributes ↔ egnn_config,
 * parameters by state_dict name, the γ table, atom types and histogram; and
 * one denoising call (network + reverse-step maths). */
#include "common/model/edm_model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>


const int32_t EDM_QM9_Z[5] = {1, 6, 7, 8, 9};
const int32_t EDM_GEOM_Z[16] = {1, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 33, 35, 53, 80, 83};

/* ---- construction ---------------------------------------------------------- */

/* Everything but the network parameters, from an architecture. */
elign_status edm_model_setup(edm_model *m, const egnn_config *cfg, const char *dataset, int n_types,
                                const int32_t *type_Z, int include_charges, int T0, const char *schedule,
                                double precision, elign_error *err) {
  if (n_types < 1 || n_types > EDM_MAX_TYPES)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%d atom types (1..%d supported)", n_types, EDM_MAX_TYPES);
  if (cfg->in_node_nf != n_types + include_charges)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "in_node_nf %d != %d atom types + %d charge channel", cfg->in_node_nf,
                      n_types, include_charges);
  elign_status st = egnn_model_init(&m->net, cfg, err);
  if (st) return st;
  m->params = elign_calloc(m->net.n_params, sizeof(elign_real), "edm:params");
  st = diffusion_schedule_init(&m->sched, schedule, T0, precision, err);
  if (st) return st;
  diffusion_layout_init(&m->layout, n_types, include_charges);
  m->T0 = T0;
  snprintf(m->schedule_name, sizeof m->schedule_name, "%s", schedule);
  snprintf(m->dataset, sizeof m->dataset, "%s", dataset);
  m->n_types = n_types;
  memcpy(m->type_Z, type_Z, (size_t)n_types * sizeof(int32_t));
  return ELIGN_OK;
}

elign_status edm_model_init_preset(edm_model *m, const char *dataset, int small, uint64_t seed, elign_error *err) {
  memset(m, 0, sizeof *m);
  int qm9 = strcmp(dataset, "qm9") == 0;
  if (!qm9 && strcmp(dataset, "geom") != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "unknown dataset preset '%s' (qm9, geom)", dataset);
  egnn_config cfg = qm9 ? egnn_config_qm9() : egnn_config_geom();
  if (small) {
    cfg.n_layers = 2;
    cfg.hidden = 32;
  }
  elign_status st = edm_model_setup(m, &cfg, dataset, qm9 ? 5 : 16, qm9 ? EDM_QM9_Z : EDM_GEOM_Z, qm9, 1000, "polynomial_2",
                                1e-5, err);
  if (st) return st;
  if (qm9) diffusion_nodes_hist_qm9(&m->nodes);
  if (seed) egnn_params_init_random(&m->net, m->params, seed);
  return ELIGN_OK;
}

void edm_model_free(edm_model *m) {
  if (!m) return;
  egnn_model_free(&m->net);
  elign_free(m->params);
  diffusion_schedule_free(&m->sched);
  diffusion_nodes_hist_free(&m->nodes);
}

int edm_model_type_index(const edm_model *m, int Z) {
  for (int k = 0; k < m->n_types; k++)
    if (m->type_Z[k] == Z) return k;
  return -1;
}

/* ---- one denoising call ---------------------------------------------------- */

egnn_workspace *edm_model_workspace_create(const edm_model *m) { return egnn_workspace_create(&m->net, 1, 1, 0); }

elign_status edm_model_denoise(const edm_model *m, egnn_workspace *ws, int64_t n_mol, const int64_t *offsets,
                               const elign_real *z_t, const int *t, const int *s, int T, elign_real *eps_hat,
                               elign_real *mu, elign_real *sigma, elign_real *zhat0, diffusion_step_coef *coef,
                               elign_error *err) {
  int D = m->layout.D;
  for (int64_t b = 0; b < n_mol; b++) {
    if (t[b] < 0 || t[b] > T || (t[b] > 0 && (s[b] < 0 || s[b] >= t[b])))
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "molecule %lld: transition t=%d → s=%d outside 0 ≤ s < t ≤ T=%d",
                        (long long)b, t[b], t[b] > 0 ? s[b] : -1, T);
  }
  diffusion_step_coef *c = coef ? coef : elign_malloc((size_t)(n_mol > 0 ? n_mol : 1) * sizeof *c, "edm:coef");
  elign_real *tau = elign_malloc((size_t)(n_mol > 0 ? n_mol : 1) * sizeof *tau, "edm:tau");
  diffusion_decode_coef dc;
  diffusion_decode_coef_init(&dc, &m->sched);
  for (int64_t b = 0; b < n_mol; b++) {
    if (t[b] > 0) {
      diffusion_step_coef_init(&c[b], &m->sched, t[b], s[b], T);
      tau[b] = c[b].tau_t;
    } else {
      memset(&c[b], 0, sizeof c[b]);
      c[b].sigma_step = dc.sigma_x;
      tau[b] = 0;
    }
  }
  egnn_workspace_fit(ws, n_mol, offsets);
  elign_status st = egnn_dynamics_forward(&m->net, m->params, ws, n_mol, offsets, z_t, tau, eps_hat, err);
  if (!st) {
    for (int64_t b = 0; b < n_mol; b++) {
      int64_t one[2] = {0, offsets[b + 1] - offsets[b]};
      const elign_real *zb = z_t + offsets[b] * D;
      elign_real *eb = eps_hat + offsets[b] * D;
      if (t[b] > 0) {
        diffusion_reverse_mean(mu ? mu + offsets[b] * D : NULL, zhat0 ? zhat0 + offsets[b] * D : NULL, zb, eb, &c[b],
                               one, 1, D);
      } else {
        /* decode: μ_x = (1/α₀)(z₀ − σ₀ ε̂); ẑ₀ := μ_x */
        elign_real ia = (elign_real)1 / dc.alpha0;
        for (int64_t j = 0; j < one[1] * D; j++) {
          elign_real v = ia * (zb[j] - dc.sigma0 * eb[j]);
          if (mu) mu[offsets[b] * D + j] = v;
          if (zhat0) zhat0[offsets[b] * D + j] = v;
        }
      }
      if (sigma) sigma[b] = c[b].sigma_step;
    }
  }
  if (!coef) elign_free(c);
  elign_free(tau);
  return st;
}
