/* test_config.c — the config schema, loader, overrides, errors and writer.
 *
 * Independent references: the key list of spec/ALGORITHMS.md §4.14 (read from
 * the shared spec at run time), the spec's code defaults (typed in below from
 * the "Code defaults" paragraph), and hand-written YAML inputs whose line
 * numbers are known. argv[1] = the source tree (for configs/).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/base/config.h"
#include "tests/testutil.h"

static char tmp_dir[256];
static const char *src_dir = "..";

/* The required keys, so a test file is valid apart from what it tests. */
static const char *required_yaml =
    "dataloader:\n"              /* line 1 */
    "  sample_group_size: 4\n"   /* 2 */
    "  each_prompt_sample: 6\n"  /* 3 */
    "  epoches: 200\n"           /* 4 */
    "  smiles_path: null\n"      /* 5 */
    "model:\n"                   /* 6 */
    "  time_step: 1000\n"        /* 7 */
    "train:\n"                   /* 8 */
    "  learning_rate: 4e-6\n"    /* 9 */
    "  adam_beta1: 0.9\n"        /* 10 */
    "  adam_beta2: 0.999\n"      /* 11 */
    "  adam_epsilon: 1e-8\n"     /* 12 */
    "  adam_weight_decay: 1e-4\n" /* 13 */
    "  train_micro_batch_size: 8\n" /* 14 */
    "  max_grad_norm: 1.0\n"     /* 15 */
    "  clip_range: 0.002\n";     /* 16 */

static const char *write_file(const char *name, const char *text) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
  return path;
}

/* Load required_yaml + extra (appended at line 17 on) with optional sets; returns status, message in err. */
static elign_status load_text(const char *extra, const char *const *sets, int n_sets, elign_config **cfg,
                              elign_error *err) {
  char text[8192];
  snprintf(text, sizeof text, "%s%s", required_yaml, extra);
  const char *path = write_file("t.yaml", text);
  elign_error_clear(err);
  return elign_config_load(path, sets, n_sets, cfg, err);
}

/* Expect loading to fail with ELIGN_ERR_CONFIG and a message containing every fragment. */
static void expect_error(const char *extra, const char *set, const char *frag1, const char *frag2) {
  elign_config *cfg = NULL;
  elign_error err;
  const char *sets[1] = {set};
  elign_status st = load_text(extra, sets, set ? 1 : 0, &cfg, &err);
  int ok = st == ELIGN_ERR_CONFIG && cfg == NULL && strstr(err.msg, frag1) && (!frag2 || strstr(err.msg, frag2));
  if (!ok)
    fprintf(stderr, "  input %s%s: got status %d message \"%s\", want \"%s\" and \"%s\"\n", extra,
            set ? set : "", (int)st, err.msg, frag1, frag2 ? frag2 : "");
  CHECK(ok);
  elign_config_free(&cfg);
}

static elign_config *load_ok(const char *extra, const char *const *sets, int n_sets) {
  elign_config *cfg = NULL;
  elign_error err;
  elign_status st = load_text(extra, sets, n_sets, &cfg, &err);
  if (st) fprintf(stderr, "  unexpected error: %s\n", err.msg);
  CHECK(st == ELIGN_OK && cfg);
  return cfg;
}

/* ---- the schema itself */

static void test_schema_consistency(void) {
  for (int k = 0; k < elign_config_schema_len; k++) {
    const elign_config_key *r = &elign_config_schema[k];
    CHECK(r->doc && r->doc[0]);
    CHECK((r->type == ELIGN_CFG_ENUM) == (r->choices != NULL));
    /* A derived default names an existing earlier key of the same type. */
    if (r->def && r->def[0] == '=') {
      const elign_config_key *src = elign_config_find_key(r->def + 1);
      CHECK(src && src->type == r->type && src < r);
    }
    /* No key is a mapping prefix of another ("a" and "a.b" cannot both be leaves). */
    size_t len = strlen(r->key);
    int clash = 0;
    for (int j = 0; j < elign_config_schema_len; j++) {
      const char *o = elign_config_schema[j].key;
      if (j != k && (strcmp(o, r->key) == 0 || (strncmp(o, r->key, len) == 0 && o[len] == '.'))) clash = 1;
    }
    if (clash) fprintf(stderr, "  schema key '%s' is duplicated or is the prefix of another key\n", r->key);
    CHECK(!clash);
    /* Keys sharing a top-level section are contiguous (the writer nests them). */
    const char *dot = strchr(r->key, '.');
    if (dot && k > 0) {
      size_t sec = (size_t)(dot - r->key) + 1;
      int seen_before = 0, contiguous = strncmp(elign_config_schema[k - 1].key, r->key, sec) == 0;
      for (int j = 0; j < k - 1; j++) seen_before |= strncmp(elign_config_schema[j].key, r->key, sec) == 0;
      CHECK(!seen_before || contiguous);
    }
  }
  for (const elign_config_alias *a = elign_config_key_aliases; a->alias; a++)
    CHECK(elign_config_find_key(a->alias) == elign_config_find_key(a->key) && elign_config_find_key(a->key));
}

/* Every key of the §4.14 table must be in the schema (read from the spec itself). */
static void test_spec_keys_present(void) {
  FILE *f = fopen(test_shared_path("spec/ALGORITHMS.md"), "r");
  CHECK(f != NULL);
  if (!f) return;
  char line[4096];
  int in_section = 0, n = 0;
  while (fgets(line, sizeof line, f)) { /* the first table of §4.14 (the preset tables follow) */
    if (strncmp(line, "### 4.14", 8) == 0) in_section = 1;
    if (!in_section) continue;
    if (n > 0 && line[0] != '|') break;
    if (strncmp(line, "| `", 3) != 0) continue;
    char key[256];
    if (sscanf(line + 3, "%255[^`]", key) != 1) continue;
    n++;
    if (!elign_config_find_key(key)) fprintf(stderr, "  spec key '%s' missing from the schema\n", key);
    CHECK(elign_config_find_key(key) != NULL);
  }
  fclose(f);
  CHECK(n >= 85); /* the table has 90 keys: make sure we parsed it */
}

/* ---- defaults (from the spec's "Code defaults" paragraph, typed in by hand) */

static void test_defaults(void) {
  elign_config *cfg = NULL;
  elign_error err;
  CHECK(elign_config_load(NULL, NULL, 0, &cfg, &err) == ELIGN_OK);
  if (!cfg) return;
  CHECK(elign_config_get_int(cfg, "seed") == 42);
  CHECK(strcmp(elign_config_get_string(cfg, "best_checkpoint_metric"), "reward") == 0);
  CHECK(strcmp(elign_config_get_string(cfg, "best_checkpoint_mode"), "max") == 0);
  CHECK(elign_config_get_int(cfg, "save_interval") == 10);
  CHECK(elign_config_get_int(cfg, "queue_size") == 256);
  CHECK(strcmp(elign_config_get_string(cfg, "reward.type"), "uma") == 0);
  CHECK(strcmp(elign_config_get_string(cfg, "reward.mlff_model"), "uma-s-1p1") == 0);
  CHECK(elign_config_is_null(cfg, "reward.force_clip_threshold"));
  CHECK(!elign_config_get_bool(cfg, "reward.use_energy"));
  CHECK(elign_config_get_double(cfg, "reward.force_weight") == 1.0);
  CHECK(elign_config_get_double(cfg, "reward.energy_weight") == 1.0);
  CHECK(elign_config_get_double(cfg, "reward.valence_soft_temperature") == 0.02);
  CHECK(strcmp(elign_config_get_string(cfg, "reward.force_aggregation"), "rms") == 0);
  CHECK(elign_config_get_double(cfg, "reward.energy_transform_offset") == 10000.0);
  CHECK(elign_config_get_double(cfg, "reward.energy_transform_scale") == 1000.0);
  CHECK(elign_config_is_null(cfg, "reward.energy_transform_clip"));
  CHECK(elign_config_is_null(cfg, "reward.energy_atom_refs"));
  CHECK(elign_config_get_double(cfg, "reward.force_adv_weight") == 1.0);
  CHECK(!elign_config_get_bool(cfg, "reward.shaping.enabled"));
  CHECK(strcmp(elign_config_get_string(cfg, "reward.shaping.mode"), "delta") == 0);
  CHECK(elign_config_get_double(cfg, "reward.shaping.gamma") == 1.0);
  CHECK(elign_config_get_int(cfg, "reward.shaping.skip_prefix") == 0);
  CHECK(elign_config_get_int(cfg, "reward.shaping.mlff_batch_size") == 32);
  CHECK(elign_config_get_double(cfg, "reward.shaping.terminal_weight") == 1.5);
  CHECK(strcmp(elign_config_get_string(cfg, "reward.shaping.scheduler.mode"), "uniform") == 0);
  CHECK(elign_config_get_int(cfg, "reward.shaping.scheduler.uniform_stride") == 1);
  CHECK(elign_config_get_bool(cfg, "reward.shaping.scheduler.include_terminal"));
  CHECK(elign_config_get_int(cfg, "reward.shaping.scheduler.adaptive.coarse_stride") == 10);
  CHECK(elign_config_get_int(cfg, "reward.shaping.scheduler.adaptive.fine_stride") == 2);
  CHECK(elign_config_get_double(cfg, "reward.shaping.scheduler.adaptive.threshold_fraction") == 0.25);
  CHECK(elign_config_is_null(cfg, "reward.shaping.scheduler.adaptive.threshold_timestep"));
  CHECK(elign_config_get_int(cfg, "reward.shaping.scheduler.skip_prefix") == 0); /* = shaping.skip_prefix */
  CHECK(elign_config_get_double(cfg, "train.adv_clip_max") == 5.0);
  CHECK(elign_config_get_double(cfg, "train.clip_advantage_value") == 5.0);
  CHECK(elign_config_get_int(cfg, "train.epoch_per_rollout") == 1);
  CHECK(elign_config_get_double(cfg, "train.kl_penalty_weight") == 0.0);
  CHECK(elign_config_get_int(cfg, "train.gradient_accumulation_steps") == 1);
  CHECK(elign_config_get_double(cfg, "train.force_alignment_weight") == 0.0);
  CHECK(elign_config_get_double(cfg, "train.force_alignment_min_force") == 1e-4);
  CHECK(elign_config_get_double(cfg, "train.force_alignment_min_delta") == 1e-4);
  CHECK(elign_config_is_null(cfg, "train.scheduler.name"));
  CHECK(elign_config_is_null(cfg, "train.max_time_hours"));
  CHECK(elign_config_is_null(cfg, "train.early_stop_metric"));
  CHECK(!elign_config_get_bool(cfg, "model.share_initial_noise"));
  CHECK(elign_config_is_null(cfg, "model.skip_prefix"));
  CHECK(!elign_config_get_bool(cfg, "model.return_suffix_only"));
  CHECK(elign_config_is_null(cfg, "dataloader.micro_batch_size"));
  CHECK(!elign_config_get_bool(cfg, "filters.condition"));
  CHECK(!elign_config_get_bool(cfg, "filters.enable_filtering"));
  CHECK(!elign_config_get_bool(cfg, "filters.enable_penalty"));
  CHECK(elign_config_get_double(cfg, "filters.penalty_scale") == 0.5);
  CHECK(elign_config_get_double(cfg, "filters.invalid_penalty_scale") == 0.0);
  CHECK(elign_config_get_double(cfg, "filters.duplicate_penalty_scale") == 0.0);
  /* Elign-C keys of the brief. */
  CHECK(elign_config_get_int(cfg, "mpi.oracle_ranks") == 0);
  CHECK(elign_config_get_bool(cfg, "mpi.gradient_average"));
  CHECK(elign_config_get_int(cfg, "oracle.batch_size") == 32);
  CHECK(strcmp(elign_config_get_string(cfg, "dft.backend"), "psi4") == 0);
  /* Required keys stay unset in a defaults-only config. */
  CHECK(elign_config_is_null(cfg, "train.learning_rate"));
  CHECK(elign_config_is_null(cfg, "model.time_step"));
  CHECK(elign_config_n_explicit(cfg) == 0);
  CHECK(strcmp(elign_config_origin(cfg, "seed"), "default") == 0);
  elign_config_free(&cfg);
  CHECK(cfg == NULL);
}

/* ---- values, types, nulls, ranges, enums, lists, aliases */

static void test_values(void) {
  const char *extra =
      "seed: 7\n"                                   /* 17 */
      "reward:\n"                                   /* 18 */
      "  force_weight: 2\n"                         /* 19: an int literal for a float key */
      "  force_clip_threshold: ~\n"                 /* 20 */
      "  energy_transform_clip: 5.0\n"              /* 21 */
      "  energy_atom_ref_values: [-0.5, -37.8]\n"   /* 22 */
      "  use_energy: yes\n"                         /* 23 */
      "  mlff_model: \"null\"\n"                    /* 24: quoted -> a string */
      "  shaping:\n"                                /* 25 */
      "    mode: paper\n"                           /* 26: alias */
      "    scheduler:\n"                            /* 27 */
      "      stride: 3\n"                           /* 28: key alias */
      "dataloader.micro_batch_size: 12\n"           /* 29: dotted key at top level */
      "train.scheduler.total_steps: 1e3\n";         /* 30: integral float for an int */
  elign_config *cfg = load_ok(extra, NULL, 0);
  if (!cfg) return;
  CHECK(elign_config_get_int(cfg, "seed") == 7);
  CHECK(elign_config_get_double(cfg, "reward.force_weight") == 2.0);
  CHECK(elign_config_get_double(cfg, "reward.force_adv_weight") == 2.0); /* derived after the file */
  CHECK(elign_config_is_null(cfg, "reward.force_clip_threshold"));
  CHECK(elign_config_get_double(cfg, "reward.energy_transform_clip") == 5.0);
  int n = 0;
  const double *refs = elign_config_get_list(cfg, "reward.energy_atom_ref_values", &n);
  CHECK(n == 2 && refs[0] == -0.5 && refs[1] == -37.8);
  CHECK(elign_config_get_bool(cfg, "reward.use_energy") == 1);
  CHECK(strcmp(elign_config_get_string(cfg, "reward.mlff_model"), "null") == 0);
  CHECK(strcmp(elign_config_get_string(cfg, "reward.shaping.mode"), "pbrs_return_to_go") == 0);
  CHECK(elign_config_get_int(cfg, "reward.shaping.scheduler.uniform_stride") == 3);
  CHECK(elign_config_get_int(cfg, "dataloader.micro_batch_size") == 12);
  CHECK(elign_config_get_int(cfg, "train.scheduler.total_steps") == 1000);
  CHECK(elign_config_get_double(cfg, "train.learning_rate") == 4e-6);
  CHECK(strstr(elign_config_origin(cfg, "reward.shaping.mode"), "t.yaml:26") != NULL);
  CHECK(strstr(elign_config_origin(cfg, "train.learning_rate"), "t.yaml:9") != NULL);
  CHECK(elign_config_n_explicit(cfg) == 13 + 11); /* required keys + the 11 above */
  elign_config_free(&cfg);

  /* Block lists too. */
  cfg = load_ok("reward:\n  energy_atom_ref_values:\n    - 1\n    - 2.5\n", NULL, 0);
  if (cfg) {
    refs = elign_config_get_list(cfg, "reward.energy_atom_ref_values", &n);
    CHECK(n == 2 && refs[0] == 1.0 && refs[1] == 2.5);
  }
  elign_config_free(&cfg);
}

/* ---- errors: each names file:line and the key */

static void test_errors(void) {
  char want[600];
  snprintf(want, sizeof want, "%s/t.yaml:18: unknown key 'train.learning_rat'", tmp_dir);
  expect_error("train:\n  learning_rat: 1e-5\n", NULL, want, "(did you mean 'train.learning_rate'?)");
  expect_error("learning_rate: 1e-5\n", NULL, "t.yaml:17: unknown key 'learning_rate'",
               "did you mean 'train.learning_rate'?");
  expect_error("trian:\n  kl_penalty_weight: 0.1\n", NULL, "t.yaml:18: unknown key 'trian.kl_penalty_weight'",
               "did you mean 'train.kl_penalty_weight'?");
  expect_error("reward:\n  shaping:\n    sheduler:\n      mode: adaptive\n", NULL, "t.yaml:20",
               "did you mean 'reward.shaping.scheduler.mode'?");
  expect_error("train:\n", NULL, "t.yaml:17: 'train' is a section, not a value", "'train.learning_rate'");
  expect_error("", "reward.shaping=1", "--set reward.shaping=1: 'reward.shaping' is a section", NULL);
  expect_error("completely_unrelated_thing: 1\n", NULL, "unknown key 'completely_unrelated_thing'", NULL);
  /* wrong type */
  expect_error("train.kl_penalty_weight: abc\n", NULL, "t.yaml:17: key 'train.kl_penalty_weight' expects a float, got 'abc'",
               NULL);
  expect_error("seed: 2.5\n", NULL, "t.yaml:17: key 'seed' expects an int, got '2.5'", NULL);
  expect_error("resume: maybe\n", NULL, "key 'resume' expects a bool", "got 'maybe'");
  expect_error("seed: [1, 2]\n", NULL, "t.yaml:17: key 'seed' expects an int, got a list", NULL);
  expect_error("seed:\n  a: 1\n", NULL, "t.yaml:17: key 'seed' expects an int, got a mapping", NULL);
  expect_error("reward:\n  energy_atom_ref_values: [1, x]\n", NULL, "t.yaml:18", "item 'x'");
  /* null where not allowed, and where allowed */
  expect_error("seed: null\n", NULL, "t.yaml:17: key 'seed' may not be null", NULL);
  expect_error("best_checkpoint_mode: ~\n", NULL, "may not be null (expects one of: max, min)", NULL);
  /* range */
  expect_error("reward:\n  shaping:\n    gamma: 1.5\n", NULL, "t.yaml:19: key 'reward.shaping.gamma' = 1.5 is out of range [0,1]",
               NULL);
  expect_error("reward.valence_soft_temperature: 0\n", NULL, "out of range (0,inf)", NULL);
  expect_error("dataloader.micro_batch_size: 0\n", NULL, "key 'dataloader.micro_batch_size' = 0 is out of range", NULL);
  /* cross-key rules */
  expect_error("dataloader.micro_batch_size: 5\n", NULL, "t.yaml:17: dataloader.micro_batch_size = 5 must divide", "= 24");
  expect_error("", "dataloader.micro_batch_size=7", "--set: dataloader.micro_batch_size = 7 must divide", NULL);
  expect_error("dataloader.nodes_dist_focus_min: 9\ndataloader.nodes_dist_focus_max: 5\n", NULL,
               "t.yaml:17: dataloader.nodes_dist_focus_min = 9 exceeds", NULL);
  /* enum */
  expect_error("reward.force_aggregation: mean\n", NULL,
               "t.yaml:17: key 'reward.force_aggregation' has no value 'mean' (allowed: rms, max)", NULL);
  /* duplicate, Hydra defaults, structure, syntax */
  expect_error("train:\n  clip_range: 0.1\n", NULL, "t.yaml:18: key 'train.clip_range' is set twice (first at line 16)",
               NULL);
  expect_error("defaults:\n  - fed_grpo_config\n", NULL, "t.yaml:17: Hydra 'defaults:' lists are not supported", NULL);
  expect_error("seed: 1\nname: x: y\n", NULL, "t.yaml:18:", "YAML syntax error: mapping values are not allowed");
  expect_error("name: \"unclosed\n", NULL, "YAML syntax error", NULL);
  expect_error("reward.energy_atom_ref_values: [1, 2\n", NULL, "YAML syntax error", NULL);
  /* missing required (the file lacks it) */
  {
    const char *path = write_file("req.yaml", "seed: 1\n");
    elign_config *cfg = NULL;
    elign_error err;
    CHECK(elign_config_load(path, NULL, 0, &cfg, &err) == ELIGN_ERR_CONFIG && !cfg);
    CHECK(strstr(err.msg, "missing required key 'dataloader.sample_group_size'") != NULL);
    CHECK(strstr(err.msg, "req.yaml") != NULL);
  }
  /* missing file; a top level that is not a mapping */
  {
    elign_config *cfg = NULL;
    elign_error err;
    CHECK(elign_config_load("no/such/file.yaml", NULL, 0, &cfg, &err) == ELIGN_ERR_CONFIG);
    CHECK(strstr(err.msg, "no/such/file.yaml: cannot open config") != NULL);
    const char *path = write_file("list.yaml", "- a\n- b\n");
    CHECK(elign_config_load(path, NULL, 0, &cfg, &err) == ELIGN_ERR_CONFIG);
    CHECK(strstr(err.msg, "must be a mapping") != NULL);
  }
}

/* ---- --set */

static void test_overrides(void) {
  const char *sets[] = {"train.learning_rate=2e-6", "reward.force_weight=3", "model.skip_prefix=null",
                        "name='null'", "reward.energy_atom_ref_values=[1,2,3]"};
  elign_config *cfg = load_ok("model:\n  skip_prefix: 600\n", sets, 5);
  if (cfg) {
    CHECK(elign_config_get_double(cfg, "train.learning_rate") == 2e-6); /* after the file */
    CHECK(strcmp(elign_config_origin(cfg, "train.learning_rate"), "--set") == 0);
    CHECK(elign_config_get_double(cfg, "reward.force_adv_weight") == 3.0);
    CHECK(elign_config_is_null(cfg, "model.skip_prefix"));
    CHECK(strcmp(elign_config_get_string(cfg, "name"), "null") == 0);
    int n;
    elign_config_get_list(cfg, "reward.energy_atom_ref_values", &n);
    CHECK(n == 3);
  }
  elign_config_free(&cfg);
  /* An explicit adv weight is not overwritten by the derived default. */
  const char *sets2[] = {"reward.force_adv_weight=0.5", "reward.force_weight=3"};
  cfg = load_ok("", sets2, 2);
  if (cfg) CHECK(elign_config_get_double(cfg, "reward.force_adv_weight") == 0.5);
  elign_config_free(&cfg);
  /* --set can supply a required key. */
  {
    const char *path = write_file("part.yaml", "dataloader: {sample_group_size: 1, each_prompt_sample: 2, epoches: 3, "
                                               "smiles_path: null}\nmodel: {time_step: 10}\n"
                                               "train: {learning_rate: 1e-5, adam_beta1: 0.9, adam_beta2: 0.99, "
                                               "adam_epsilon: 1e-8, adam_weight_decay: 0, train_micro_batch_size: 2,"
                                               " max_grad_norm: 1}\n");
    const char *s[] = {"train.clip_range=0.2"};
    elign_config *c = NULL;
    elign_error err;
    CHECK(elign_config_load(path, s, 1, &c, &err) == ELIGN_OK);
    CHECK(c && elign_config_get_double(c, "train.clip_range") == 0.2);
    elign_config_free(&c);
  }
  expect_error("", "train.learning_rat=1", "--set train.learning_rat=1: unknown key 'train.learning_rat'",
               "did you mean 'train.learning_rate'?");
  expect_error("", "train.clip_range=abc", "--set train.clip_range=abc: key 'train.clip_range' expects a float", NULL);
  expect_error("", "train.clip_range", "--set 'train.clip_range': expected KEY=VALUE", NULL);
  expect_error("", "reward.shaping.mode=bogus", "allowed: delta, pbrs_return_to_go", NULL);
}

/* ---- writer: show -> load gives the same config; write_resolved */

static int configs_equal(const elign_config *a, const elign_config *b) {
  int same = 1;
  for (int k = 0; k < elign_config_schema_len; k++) {
    const elign_config_key *r = &elign_config_schema[k];
    int na = elign_config_is_null(a, r->key), nb = elign_config_is_null(b, r->key);
    int eq = na == nb;
    if (eq && !na) {
      switch (r->type) {
        case ELIGN_CFG_BOOL: eq = elign_config_get_bool(a, r->key) == elign_config_get_bool(b, r->key); break;
        case ELIGN_CFG_INT: eq = elign_config_get_int(a, r->key) == elign_config_get_int(b, r->key); break;
        case ELIGN_CFG_FLOAT: eq = elign_config_get_double(a, r->key) == elign_config_get_double(b, r->key); break;
        case ELIGN_CFG_STRING:
        case ELIGN_CFG_ENUM:
          eq = strcmp(elign_config_get_string(a, r->key), elign_config_get_string(b, r->key)) == 0;
          break;
        case ELIGN_CFG_LIST: {
          int n1, n2;
          const double *l1 = elign_config_get_list(a, r->key, &n1), *l2 = elign_config_get_list(b, r->key, &n2);
          eq = n1 == n2 && (n1 == 0 || memcmp(l1, l2, sizeof(double) * (size_t)n1) == 0);
          break;
        }
      }
    }
    if (!eq) fprintf(stderr, "  round trip changed '%s'\n", r->key);
    same &= eq;
  }
  return same;
}

static void test_round_trip(const char *config_name, const char *const *sets, int n_sets, int flags) {
  char path[1024];
  snprintf(path, sizeof path, "%s/configs/%s", src_dir, config_name);
  elign_config *a = NULL, *b = NULL;
  elign_error err;
  CHECK(elign_config_load(path, sets, n_sets, &a, &err) == ELIGN_OK);
  if (!a) {
    fprintf(stderr, "  %s\n", err.msg);
    return;
  }
  char out_path[512];
  snprintf(out_path, sizeof out_path, "%s/shown.yaml", tmp_dir);
  FILE *f = fopen(out_path, "w");
  elign_config_write_yaml(a, f, flags);
  fclose(f);
  CHECK(elign_config_load(out_path, NULL, 0, &b, &err) == ELIGN_OK);
  if (b) {
    CHECK(configs_equal(a, b));
    CHECK(elign_config_n_explicit(b) == elign_config_schema_len); /* show writes every key */
  } else {
    fprintf(stderr, "  reload of shown %s: %s\n", config_name, err.msg);
  }
  elign_config_free(&a);
  elign_config_free(&b);
}

static void test_write_resolved(void) {
  const char *sets[] = {"train.learning_rate=3.3e-6", "reward.energy_atom_ref_values=[0.1, -1e-9]",
                        "name=a \"quoted\" name: with # chars"};
  char path[1024];
  snprintf(path, sizeof path, "%s/configs/qm9.yaml", src_dir);
  elign_config *a = NULL, *b = NULL;
  elign_error err;
  CHECK(elign_config_load(path, sets, 3, &a, &err) == ELIGN_OK);
  if (!a) return;
  char run_dir[512];
  snprintf(run_dir, sizeof run_dir, "%s/run", tmp_dir);
  mkdir(run_dir, 0755);
  CHECK(elign_config_write_resolved(a, run_dir, &err) == ELIGN_OK);
  char written[600];
  snprintf(written, sizeof written, "%s/config.yaml", run_dir);
  CHECK(elign_config_load(written, NULL, 0, &b, &err) == ELIGN_OK);
  if (b) {
    CHECK(configs_equal(a, b));
    CHECK(strcmp(elign_config_get_string(b, "name"), "a \"quoted\" name: with # chars") == 0);
  }
  /* Only config.yaml is left (the temp file was renamed). */
  char cmd[700];
  snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", run_dir);
  CHECK(system(cmd) == 0);
  /* A missing run directory is an I/O error naming the path. */
  CHECK(elign_config_write_resolved(a, "no/such/dir", &err) == ELIGN_ERR_IO);
  CHECK(strstr(err.msg, "no/such/dir/config.yaml") != NULL);
  elign_config_free(&a);
  elign_config_free(&b);
}

/* ---- getter misuse is a programming error: the process aborts */

typedef enum { MISUSE_UNKNOWN, MISUSE_TYPE, MISUSE_NULL, MISUSE_UNSET_REQUIRED } misuse_kind;

static int aborts(misuse_kind kind) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit no_core = {0, 0}; /* an expected abort leaves no core file */
    setrlimit(RLIMIT_CORE, &no_core);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    elign_config *cfg = NULL;
    elign_error err;
    if (elign_config_load(NULL, NULL, 0, &cfg, &err)) _exit(3);
    switch (kind) {
      case MISUSE_UNKNOWN: elign_config_get_double(cfg, "train.lr"); break;
      case MISUSE_TYPE: elign_config_get_int(cfg, "filters.penalty_scale"); break;
      case MISUSE_NULL: elign_config_get_double(cfg, "reward.force_clip_threshold"); break;
      case MISUSE_UNSET_REQUIRED: elign_config_get_double(cfg, "train.learning_rate"); break;
    }
    _exit(0); /* not reached if the getter aborts */
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void test_getter_misuse(void) {
  CHECK(aborts(MISUSE_UNKNOWN));
  CHECK(aborts(MISUSE_TYPE));
  CHECK(aborts(MISUSE_NULL));
  CHECK(aborts(MISUSE_UNSET_REQUIRED));
}

int main(int argc, char **argv) {
  if (argc > 1) src_dir = argv[1];
  snprintf(tmp_dir, sizeof tmp_dir, "%s", "config_test_XXXXXX");
  CHECK(mkdtemp(tmp_dir) != NULL);

  test_schema_consistency();
  test_spec_keys_present();
  test_defaults();
  test_values();
  test_errors();
  test_overrides();
  test_getter_misuse();
  const char *sets[] = {"seed=123", "reward.energy_atom_ref_values=[-0.6, -38.1, 1e-300, 0.30000000000000004]",
                        "train.learning_rate=3.3333333333333333e-6"};
  test_round_trip("qm9.yaml", NULL, 0, 0);
  test_round_trip("qm9.yaml", sets, 3, ELIGN_CONFIG_WRITE_COMMENTS | ELIGN_CONFIG_WRITE_ORIGIN);
  test_round_trip("geom_drugs.yaml", NULL, 0, ELIGN_CONFIG_WRITE_COMMENTS);
  test_round_trip("demo.yaml", NULL, 0, ELIGN_CONFIG_WRITE_ORIGIN);
  test_write_resolved();

  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
  if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmp_dir);
  return test_main_result("test_config");
}
