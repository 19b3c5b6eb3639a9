/* cmd_config.c — `elign config show|check|keys`: inspect and validate configs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/cli.h"
#include "common/cmd/commands.h"
#include "common/base/config.h"

static const char *config_usage =
    "usage: elign config show FILE [--set KEY=VALUE]... [--for CMD] [--origin] [--comments]\n"
    "       elign config check FILE [--set KEY=VALUE]... [--for CMD]\n"
    "       elign config keys [--markdown]\n"
    "\n"
    "  show   print the resolved config (every key, defaults included) as YAML that\n"
    "         loads back to the same config; --origin marks where each non-default\n"
    "         value came from (FILE:LINE or --set), --comments adds each key's doc\n"
    "  check  validate FILE (+ overrides): prints 'ok: FILE (N keys set, M defaults)'\n"
    "         or one error naming file:line and key, and exits 1\n"
    "  keys   list every key with type, default, range and doc (--markdown: the\n"
    "         table in docs/config.md)\n"
    "\n"
    "--set KEY=VALUE overrides a key after the file (repeatable), e.g.\n"
    "  elign config check configs/qm9.yaml --set train.learning_rate=2e-6\n"
    "--for CMD checks the file as the command CMD reads it: `train` (the default)\n"
    "requires every FED-GRPO key; `pretrain` requires none of them, e.g.\n"
    "  elign config check configs/pretrain_demo.yaml --for pretrain\n";

static const char *config_type_word(const elign_config_key *row) {
  switch (row->type) {
    case ELIGN_CFG_BOOL: return "bool";
    case ELIGN_CFG_INT: return "int";
    case ELIGN_CFG_FLOAT: return "float";
    case ELIGN_CFG_STRING: return "string";
    case ELIGN_CFG_ENUM: return "enum";
    case ELIGN_CFG_LIST: return "list";
  }
  return "?";
}

/* Enum choices without aliases, joined by `sep`. */
static void config_choices_text(const elign_config_key *row, const char *sep, char *buf, size_t cap) {
  buf[0] = '\0';
  if (row->type != ELIGN_CFG_ENUM) return;
  const char *p = row->choices;
  while (*p) {
    size_t len = strcspn(p, "|");
    if (!memchr(p, '>', len)) {
      size_t used = strlen(buf);
      snprintf(buf + used, cap - used, "%s%.*s", used ? sep : "", (int)len, p);
    }
    p += len + (p[len] == '|');
  }
}

static const char *config_default_text(const elign_config_key *row, char *buf, size_t cap) {
  if (!row->def) return "required";
  if (row->def[0] == '=') {
    snprintf(buf, cap, "= %s", row->def + 1);
    return buf;
  }
  return row->def;
}

static void config_print_keys(FILE *out, int markdown) {
  char choices[256], def[256];
  if (markdown)
    fprintf(out,
            "| key | type | default | range / values | description |\n"
            "|---|---|---|---|---|\n");
  else
    fprintf(out, "# key, type ('?' = nullable), default, range or allowed values; then the description\n");
  for (int k = 0; k < elign_config_schema_len; k++) {
    const elign_config_key *row = &elign_config_schema[k];
    config_choices_text(row, markdown ? " \\| " : "|", choices, sizeof choices);
    const char *range = row->type == ELIGN_CFG_ENUM ? choices : (row->range ? row->range : "");
    const char *d = config_default_text(row, def, sizeof def);
    if (markdown)
      fprintf(out, "| `%s` | %s%s | %s | %s | %s |\n", row->key, config_type_word(row), row->nullable ? ", nullable" : "",
              d, range, row->doc);
    else
      fprintf(out, "%-52s %-6s%s default %s%s%s\n    %s\n", row->key, config_type_word(row), row->nullable ? "?" : " ", d,
              range[0] ? "  " : "", range, row->doc);
  }
  if (markdown) {
    fprintf(out, "\nAccepted aliases:");
    for (const elign_config_alias *a = elign_config_key_aliases; a->alias; a++)
      fprintf(out, " `%s` = `%s`;", a->alias, a->key);
    fprintf(out, "\n");
  }
}

/* Parse `FILE [--set K=V]... [flags]`; returns 0 or a usage exit code. */
typedef struct {
  const char *path;
  const char *command; /* --for CMD, or NULL */
  const char **sets;
  int n_sets;
  int origin, comments, markdown;
} config_args;

static int config_parse_args(int argc, char **argv, int allow_file, config_args *a) {
  memset(a, 0, sizeof *a);
  a->sets = elign_calloc((size_t)argc, sizeof(char *), "config:sets");
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--set") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "elign config: --set needs KEY=VALUE\n");
        return ELIGN_EXIT_USAGE;
      }
      a->sets[a->n_sets++] = argv[++i];
    } else if (strncmp(arg, "--set=", 6) == 0) {
      a->sets[a->n_sets++] = arg + 6;
    } else if (strcmp(arg, "--for") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "elign config: --for needs a command (train, pretrain)\n");
        return ELIGN_EXIT_USAGE;
      }
      a->command = argv[++i];
    } else if (strcmp(arg, "--origin") == 0) {
      a->origin = 1;
    } else if (strcmp(arg, "--comments") == 0) {
      a->comments = 1;
    } else if (strcmp(arg, "--markdown") == 0) {
      a->markdown = 1;
    } else if (arg[0] == '-' && arg[1]) {
      fprintf(stderr, "elign config: unknown option '%s' (see `elign config --help`)\n", arg);
      return ELIGN_EXIT_USAGE;
    } else if (allow_file && !a->path) {
      a->path = arg;
    } else {
      fprintf(stderr, "elign config: unexpected argument '%s' (see `elign config --help`)\n", arg);
      return ELIGN_EXIT_USAGE;
    }
  }
  if (allow_file && !a->path) {
    fprintf(stderr, "elign config %s: missing FILE (see `elign config --help`)\n", argv[0]);
    return ELIGN_EXIT_USAGE;
  }
  return 0;
}

int config_main(int argc, char **argv) {
  if (argc < 2) {
    fputs(config_usage, stderr);
    return ELIGN_EXIT_USAGE;
  }
  const char *sub = argv[1];
  for (int i = 1; i < argc; i++)
    if (elign_cli_is_help(argv[i])) {
      fputs(config_usage, stdout);
      return ELIGN_EXIT_OK;
    }
  int is_show = strcmp(sub, "show") == 0, is_check = strcmp(sub, "check") == 0, is_keys = strcmp(sub, "keys") == 0;
  if (!is_show && !is_check && !is_keys) {
    fprintf(stderr, "elign config: unknown subcommand '%s' (show, check or keys)\n", sub);
    return ELIGN_EXIT_USAGE;
  }
  config_args a;
  int rc = config_parse_args(argc - 1, argv + 1, !is_keys, &a);
  if (rc || is_keys) {
    if (is_keys && !rc) config_print_keys(stdout, a.markdown);
    elign_free(a.sets);
    return rc;
  }

  elign_error err;
  elign_error_clear(&err);
  elign_config *cfg = NULL;
  elign_status st = elign_config_load_for(a.command, a.path, a.sets, a.n_sets, &cfg, &err);
  elign_free(a.sets);
  if (st) return elign_cli_fail(&err);
  if (is_show) {
    int flags = (a.origin ? ELIGN_CONFIG_WRITE_ORIGIN : 0) | (a.comments ? ELIGN_CONFIG_WRITE_COMMENTS : 0);
    elign_config_write_yaml(cfg, stdout, flags);
  } else {
    int n = elign_config_n_explicit(cfg);
    printf("ok: %s (%d keys set, %d defaults)\n", a.path, n, elign_config_schema_len - n);
  }
  elign_config_free(&cfg);
  return ELIGN_EXIT_OK;
}
