/* oracle_config.c — the oracle.* / dft.* config keys → elign_oracle_options.
 *
 * One mapping shared by `elign oracle --config` and the training roles, so a
 * backend is chosen by name in the config (oracle.backend) the same way
 * everywhere. Strings point into the config, which must outlive the options.
 */
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
