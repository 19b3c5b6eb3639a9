/* config.h — the typed run configuration (YAML, libyaml) and its one schema.
 *
 * Every key a run reads is one row of the schema table (common/base/config_schema.c):
 * dotted name, type, nullable flag, default (or "required"), range and a
 * one-line doc string. Key names follow the public Elign (Hydra) names, e.g.
 * `train.learning_rate`, `dataloader.sample_group_size`,
 * `reward.shaping.scheduler.skip_prefix`, so settings carry over; Elign-C's own
 * keys live under mpi.*, oracle.*, dft.*, run.*, data.*, pretrain.* and
 * model.checkpoint. docs/config.md is generated from the table.
 *
 * Call sequence:
 *   elign_config *cfg = NULL;
 *   if (elign_config_load("configs/qm9.yaml", sets, n_sets, &cfg, &err)) fail;
 *   double lr = elign_config_get_double(cfg, "train.learning_rate");
 *   if (!elign_config_is_null(cfg, "reward.force_clip_threshold")) ...
 *   elign_config_write_resolved(cfg, run_dir, &err);   // run_dir/config.yaml
 *   elign_config_free(&cfg);
 *
 * Bad input (unknown key, wrong type, out of range, YAML syntax, missing
 * required key) returns ELIGN_ERR_CONFIG with "file:line: ..." naming the key;
 * an unknown key suggests the nearest valid one. Asking a getter for a key
 * that is not in the schema, or with the wrong type, or reading a null / unset
 * value is a programming error (ELIGN_ASSERT). A loaded config is read-only,
 * so any number of threads may read it.
 */
#ifndef ELIGN_CONFIG_H
#define ELIGN_CONFIG_H

#include <stdio.h>

#include "common/base/error.h"

typedef enum {
  ELIGN_CFG_BOOL,   /* true/false (also yes/no, on/off) */
  ELIGN_CFG_INT,    /* integer (a float literal with an integral value is accepted: 1e6) */
  ELIGN_CFG_FLOAT,  /* double */
  ELIGN_CFG_STRING, /* any scalar text (paths, metric names) */
  ELIGN_CFG_ENUM,   /* one of `choices` */
  ELIGN_CFG_LIST    /* flow or block list of numbers: [1.0, 2.5] */
} elign_config_type;

/* One schema row. */
typedef struct {
  const char *key;     /* dotted public name, e.g. "train.clip_range" */
  elign_config_type type;
  int nullable;        /* null / ~ accepted */
  const char *def;     /* default as YAML text ("0.5", "null", "true");
                          NULL = required; "=other.key" = the value of other.key */
  const char *range;   /* "[0,1]", "(0,inf)", "[1,inf)" for int/float/list items; NULL = any */
  const char *choices; /* ENUM only: "a|b|c"; "alias>value" entries are accepted aliases */
  const char *doc;     /* one line; the unit where physical (Å, eV, eV/Å, s) */
} elign_config_key;

extern const elign_config_key elign_config_schema[];
extern const int elign_config_schema_len;

/* Accepted old/alternate key names (public Elign aliases), NULL-terminated pairs. */
typedef struct {
  const char *alias, *key;
} elign_config_alias;
extern const elign_config_alias elign_config_key_aliases[];

typedef struct elign_config elign_config;

/* Load `path` (NULL = defaults only), then apply `sets` ("a.b=c", n_sets of
 * them) with the same validation, then derived defaults ("=other.key").
 * Required keys must be given when a path is given; with path == NULL they stay
 * unset (getters assert) — useful for unit tests that set only what they read.
 * On success *out owns a new config; on failure *out is NULL and err names
 * file:line (or the --set) and the key. */
elign_status elign_config_load(const char *path, const char *const *sets, int n_sets,
                               elign_config **out, elign_error *err);
/* The same for one command: a required key is enforced only when `command`
 * reads it. NULL or "train" enforce every required key (today all of them
 * are FED-GRPO keys: dataloader.*, model.time_step, train.*); "pretrain"
 * reads only the top-level keys, run.*, data.*, mpi.* and pretrain.*, none
 * of them required, so a pretraining config sets no FED-GRPO keys. Required
 * keys left unset stay out of the YAML the writers produce. An unknown
 * command is ELIGN_ERR_ARG. */
elign_status elign_config_load_for(const char *command, const char *path, const char *const *sets, int n_sets,
                                   elign_config **out, elign_error *err);
void elign_config_free(elign_config **cfg);

/* Typed getters. The key must be in the schema with the matching type
 * (get_string also serves ENUM keys) and must hold a non-null value. */
long elign_config_get_int(const elign_config *cfg, const char *key);
double elign_config_get_double(const elign_config *cfg, const char *key);
int elign_config_get_bool(const elign_config *cfg, const char *key);
const char *elign_config_get_string(const elign_config *cfg, const char *key);
/* LIST keys: returns the numbers and their count in *n. */
const double *elign_config_get_list(const elign_config *cfg, const char *key, int *n);
/* True if the key holds null (nullable keys only; also true for an unset
 * required key of a defaults-only config). */
int elign_config_is_null(const elign_config *cfg, const char *key);
/* Where the value came from: "default", "configs/qm9.yaml:40", "--set". */
const char *elign_config_origin(const elign_config *cfg, const char *key);
/* How many keys were given explicitly (file or --set); the rest are defaults. */
int elign_config_n_explicit(const elign_config *cfg);

/* Schema lookup (NULL if unknown; aliases are resolved). */
const elign_config_key *elign_config_find_key(const char *key);
/* The schema default of an INT key with a literal default (commands whose
 * flags stand for a key take their defaults from here, never a copy). */
long elign_config_default_int(const char *key);

/* Write the resolved config as YAML that loads back to the same config
 * (for the same command: required keys a command left unset are omitted).
 * flags: ELIGN_CONFIG_WRITE_COMMENTS adds each key's doc line,
 * ELIGN_CONFIG_WRITE_ORIGIN adds "# from FILE:LINE" after explicit values. */
enum { ELIGN_CONFIG_WRITE_COMMENTS = 1, ELIGN_CONFIG_WRITE_ORIGIN = 2 };
void elign_config_write_yaml(const elign_config *cfg, FILE *out, int flags);
/* Write run_dir/config.yaml atomically (temp file + rename); run_dir must exist. */
elign_status elign_config_write_resolved(const elign_config *cfg, const char *run_dir, elign_error *err);

#endif
