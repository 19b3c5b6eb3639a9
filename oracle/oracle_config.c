/* oracle_config.c — the oracle.* / dft.* config keys → elign_oracle_options,
 * and oracle names as users write them (elign_oracle_spec).
 *
 * One mapping shared by `elign oracle --config` and the training roles, so a
 * backend is chosen by name in the config (oracle.backend) the same way
 * everywhere. Strings point into the config, which must outlive the options.
 */
#include <stdio.h>
#include <string.h>

#include "oracle/oracle.h"

#include "common/base/config.h"

static const char *string_or_null(const elign_config *cfg, const char *key) {
  return elign_config_is_null(cfg, key) ? NULL : elign_config_get_string(cfg, key);
}

void elign_oracle_options_from_config(const elign_config *cfg, elign_oracle_options *opt) {
  elign_oracle_options_init(opt);
  opt->model = elign_config_get_string(cfg, "oracle.model");
  opt->model_dir = string_or_null(cfg, "oracle.model_dir");
  opt->scratch_dir = string_or_null(cfg, "oracle.scratch_dir");
  opt->python_module = string_or_null(cfg, "oracle.python_module");
  opt->python_function = string_or_null(cfg, "oracle.python_function");
  opt->python_path = string_or_null(cfg, "oracle.python_path");
  opt->method = elign_config_get_string(cfg, "dft.method");
  opt->basis = elign_config_get_string(cfg, "dft.basis");
  opt->time_limit = elign_config_is_null(cfg, "oracle.time_limit") ? 0.0 : elign_config_get_double(cfg, "oracle.time_limit");
  /* config: null = backend default, 0 = no check; options: 0 = default, < 0 = no check */
  if (!elign_config_is_null(cfg, "oracle.min_distance")) {
    double d = elign_config_get_double(cfg, "oracle.min_distance");
    opt->min_distance = d > 0 ? d : -1.0;
  }
  opt->threads = (int)elign_config_get_int(cfg, "mpi.threads_per_rank");
  const char *retry = elign_config_get_string(cfg, "oracle.xtb_retry");
  opt->xtb_retry = strcmp(retry, "none") == 0    ? ELIGN_XTB_RETRY_NONE
                   : strcmp(retry, "etemp") == 0 ? ELIGN_XTB_RETRY_ETEMP
                                                 : ELIGN_XTB_RETRY_ETEMP_GFNFF;
  opt->xtb_retry_etemp = elign_config_get_double(cfg, "oracle.xtb_retry_etemp");
}

void elign_oracle_options_apply_flags(elign_oracle_options *opt, const elign_oracle_options *flags,
                                      int min_distance_given) {
  const char **dst[] = {&opt->model, &opt->model_dir, &opt->scratch_dir, &opt->python_module, &opt->python_function,
                        &opt->python_path};
  const char *const src[] = {flags->model, flags->model_dir, flags->scratch_dir, flags->python_module,
                             flags->python_function, flags->python_path};
  for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++)
    if (src[i]) *dst[i] = src[i];
  if (min_distance_given) opt->min_distance = flags->min_distance;
}

/* ---- oracle names: "gfn2-xtb", "ani-1ccx", "ani:ani-1x", "python:stretch" ---------- */

int elign_oracle_is_ani_model(const char *text) {
  return text && (strcmp(text, "ani-2x") == 0 || strcmp(text, "ani-1x") == 0 || strcmp(text, "ani-1ccx") == 0);
}

elign_status elign_oracle_spec_parse(const char *text, const char *what, elign_oracle_spec *spec, elign_error *err) {
  memset(spec, 0, sizeof *spec);
  if (strlen(text) >= sizeof spec->spec)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: entry '%s' is too long", what, text);
  snprintf(spec->spec, sizeof spec->spec, "%s", text);
  const char *colon = strchr(text, ':');
  if (elign_oracle_is_ani_model(text)) {
    snprintf(spec->backend, sizeof spec->backend, "ani");
    snprintf(spec->arg, sizeof spec->arg, "%s", text);
  } else if (colon) {
    snprintf(spec->backend, sizeof spec->backend, "%.*s", (int)(colon - text), text);
    snprintf(spec->arg, sizeof spec->arg, "%s", colon + 1);
  } else {
    snprintf(spec->backend, sizeof spec->backend, "%s", text);
  }
  if (!elign_oracle_backend_find(spec->backend))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: '%s' is not an oracle backend (valid: %s; ANI models: "
                      "ani-2x, ani-1x, ani-1ccx; BACKEND:MODEL or python:FUNCTION)", what, text,
                      elign_oracle_backend_names());
  if (strcmp(spec->backend, "ani") == 0 && spec->arg[0] && !elign_oracle_is_ani_model(spec->arg))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: '%s': unknown ANI model '%s' (ani-2x, ani-1x, ani-1ccx)", what, text,
                      spec->arg);
  return ELIGN_OK;
}

elign_oracle_options elign_oracle_spec_options(const elign_oracle_spec *spec, const elign_oracle_options *base) {
  elign_oracle_options opt = *base;
  if (spec->arg[0] && strcmp(spec->backend, "ani") == 0) opt.model = spec->arg;
  if (spec->arg[0] && strcmp(spec->backend, "python") == 0) opt.python_function = spec->arg;
  return opt;
}
