/* run_dir.c — run directories, checkpoint files, signals and resume checks
 * shared by the training commands (run_dir.h). */
#include "learner/run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/base/atomic_file.h"
#include "common/base/cli.h"
#include "common/base/log.h"
#include "common/base/memory.h"
#include "common/base/parse.h"
#include "common/base/trace.h"

/* ==== the command line ====================================================== */

/* "elign CMD: <what> (see --help)" on stderr; the usage-error code. */
static int usage_error(const char *cmd, const char *what, const char *arg) {
  fprintf(stderr, "elign %s: ", cmd);
  fprintf(stderr, what, arg);
  fprintf(stderr, " (see --help)\n");
  return 2;
}

int run_args_parse(const char *cmd, int argc, char **argv, run_args *a) {
  memset(a, 0, sizeof *a);
  a->sets = elign_calloc((size_t)argc, sizeof *a->sets, "run:sets");
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (elign_cli_is_help(o)) return 1;
    int needs_value = strcmp(o, "--set") == 0 || strcmp(o, "--resume") == 0 || strcmp(o, "--stop-after") == 0;
    if (needs_value && i + 1 >= argc) return usage_error(cmd, "%s needs a value", o);
    if (strcmp(o, "--set") == 0) {
      a->sets[a->n_sets++] = argv[++i];
    } else if (strcmp(o, "--resume") == 0) {
      a->start.resume_dir = argv[++i];
    } else if (strcmp(o, "--stop-after") == 0) {
      elign_error err = {0};
      if (elign_parse_i64(argv[++i], 1, INT64_MAX, "--stop-after", &a->start.stop_after, &err) != ELIGN_OK) {
        fprintf(stderr, "elign %s: %s\n", cmd, err.msg);
        return 2;
      }
    } else if (strcmp(o, "--force") == 0) {
      a->start.force = 1;
    } else if (strcmp(o, "--resume-if-exists") == 0) {
      a->start.resume_if_exists = 1;
    } else if (o[0] == '-' && o[1]) {
      return usage_error(cmd, "unknown option '%s'", o);
    } else if (!a->config) {
      a->config = o;
    } else {
      return usage_error(cmd, "unexpected argument '%s'", o);
    }
  }
  if (!a->config) return usage_error(cmd, "missing CONFIG%s", "");
  if (a->start.resume_dir && a->start.force) return usage_error(cmd, "--resume and --force exclude each other%s", "");
  if (a->start.resume_if_exists && (a->start.resume_dir || a->start.force))
    return usage_error(cmd, "--resume-if-exists excludes --resume and --force%s", "");
  return 0;
}

void run_args_free(run_args *a) {
  free(a->sets);
  a->sets = NULL;
}

/* ==== directories ========================================================== */

void run_start_resolve(run_start *s, const char *run_dir, const char *prefix) {
  if (!s->resume_if_exists || s->resume_dir) return;
  int64_t *nums;
  int n = run_dir_list_checkpoints(run_dir, prefix, &nums);
  free(nums);
  if (n > 0) s->resume_dir = run_dir;
  else s->force = 1;
}

int run_mkdir_p(const char *path) {
  char buf[RUN_PATH_MAX + 64];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

int run_dir_list_checkpoints(const char *run_dir, const char *prefix, int64_t **numbers) {
  char dir[RUN_PATH_MAX + 16];
  snprintf(dir, sizeof dir, "%s/checkpoints", run_dir);
  *numbers = NULL;
  DIR *d = opendir(dir);
  if (!d) return 0;
  size_t plen = strlen(prefix);
  int n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    long long s;
    char tail[8];
    if (strncmp(e->d_name, prefix, plen) != 0) continue;
    if (sscanf(e->d_name + plen, "%lld.h%7s", &s, tail) == 2 && strcmp(tail, "5") == 0) {
      if (n == cap) *numbers = elign_realloc(*numbers, (size_t)(cap = cap ? 2 * cap : 16) * sizeof **numbers, "ckpts");
      (*numbers)[n++] = s;
    }
  }
  closedir(d);
  for (int i = 1; i < n; i++) /* insertion sort: few files */
    for (int j = i; j > 0 && (*numbers)[j - 1] > (*numbers)[j]; j--) {
      int64_t t = (*numbers)[j];
      (*numbers)[j] = (*numbers)[j - 1];
      (*numbers)[j - 1] = t;
    }
  return n;
}

void run_dir_checkpoint_path(char *buf, size_t cap, const char *run_dir, const char *prefix, int64_t n) {
  snprintf(buf, cap, "%s/checkpoints/%s%09lld.h5", run_dir, prefix, (long long)n);
}

void run_dir_prune(const char *run_dir, const char *prefix, int64_t keep) {
  int64_t *nums;
  int n = run_dir_list_checkpoints(run_dir, prefix, &nums);
  char p[RUN_PATH_MAX + 64];
  for (int i = 0; i + keep < n; i++) {
    run_dir_checkpoint_path(p, sizeof p, run_dir, prefix, nums[i]);
    unlink(p);
  }
  free(nums);
}

static int dir_is_empty(const char *path) {
  DIR *d = opendir(path);
  if (!d) return 1;
  struct dirent *e;
  int empty = 1;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
  closedir(d);
  return empty;
}

/* --force: remove what a run writes (and nothing else). */
static void clear_run_dir(const char *run_dir, const char *prefix, const char *const *own, int n_own) {
  int64_t *nums;
  int n = run_dir_list_checkpoints(run_dir, prefix, &nums);
  char p[RUN_PATH_MAX + 64];
  for (int i = 0; i < n; i++) {
    run_dir_checkpoint_path(p, sizeof p, run_dir, prefix, nums[i]);
    unlink(p);
  }
  free(nums);
  const char *files[] = {"metrics.jsonl", "config.yaml", "provenance.json"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", run_dir, files[i]);
    unlink(p);
  }
  for (int i = 0; i < n_own; i++) {
    snprintf(p, sizeof p, "%s/%s", run_dir, own[i]);
    unlink(p);
  }
}

elign_status run_dir_prepare(const char *run_dir, int resume, int force, const char *prefix,
                             const char *const *own, int n_own, elign_error *err) {
  struct stat sb;
  int exists = stat(run_dir, &sb) == 0;
  if (exists && !S_ISDIR(sb.st_mode))
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "run directory %s exists and is not a directory", run_dir);
  if (resume) {
    if (!exists) return ELIGN_FAIL(err, ELIGN_ERR_IO, "--resume %s: no such directory", run_dir);
  } else if (exists && !dir_is_empty(run_dir)) {
    if (!force) {
      ELIGN_FAIL(err, ELIGN_ERR_IO, "run directory %s is not empty", run_dir);
      elign_error_hint(err, "continue it with --resume %s, start over with --force (its checkpoints and metrics are "
                            "deleted), or choose another run.dir",
                       run_dir);
      return ELIGN_ERR_IO;
    }
    clear_run_dir(run_dir, prefix, own, n_own);
  }
  char ck[RUN_PATH_MAX + 16];
  snprintf(ck, sizeof ck, "%s/checkpoints", run_dir);
  if (run_mkdir_p(ck) != 0) return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot create %s: %s", ck, strerror(errno));
  return ELIGN_OK;
}

/* ==== metrics across restarts ================================================ */

/* The integer after "key": in one metrics line (the writer's layout,
 * metrics.h); 0 if absent. */
static int line_int(const char *line, const char *key, long long *v) {
  char pat[80];
  snprintf(pat, sizeof pat, "\"%s\": ", key);
  const char *p = strstr(line, pat);
  return p && sscanf(p + strlen(pat), "%lld", v) == 1;
}

elign_status run_metrics_rewind(const char *run_dir, const char *key, int64_t last_kept, elign_error *err) {
  char path[RUN_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
  FILE *in = fopen(path, "r");
  if (!in) return ELIGN_OK;
  elign_atomic_file a;
  FILE *out;
  if (elign_atomic_fopen(&a, path, &out, err)) {
    fclose(in);
    return err->status;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int dropped = 0;
  while ((len = getline(&line, &cap, in)) > 0) {
    long long v;
    /* a whole record: "{...}\n" (a torn one lacks its end or was cut by a later newline) */
    int whole = len >= 3 && line[0] == '{' && line[len - 1] == '\n' && line[len - 2] == '}';
    if (!whole || (line_int(line, key, &v) && v > last_kept)) {
      dropped++;
      continue;
    }
    fwrite(line, 1, (size_t)len, out);
  }
  free(line);
  fclose(in);
  elign_status st = elign_atomic_fclose(&a, out, err);
  if (!st && dropped)
    elign_info("%s: %d line(s) after %s %lld (or torn) dropped: the resumed run writes them again", path, dropped, key,
               (long long)last_kept);
  return st;
}

/* ==== signals =============================================================== */

static volatile sig_atomic_t signal_stop, signal_checkpoint, signal_usr1;
static int usr1_stops = 1; /* run.sigusr1: stop (SLURM's warning before a kill) or checkpoint */

static void on_stop_signal(int sig) {
  (void)sig;
  signal_stop = 1;
}
static void on_usr1(int sig) {
  (void)sig;
  signal_usr1 = 1;
}

void run_signals_install(const elign_config *cfg) {
  if (cfg) usr1_stops = strcmp(elign_config_get_string(cfg, "run.sigusr1"), "stop") == 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_stop_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
}

void run_signals_take(int *stop, int *checkpoint) {
  if (signal_usr1) {
    signal_usr1 = 0;
    if (usr1_stops) signal_stop = 1;
    else signal_checkpoint = 1;
  }
  *stop = signal_stop;
  *checkpoint = signal_checkpoint;
  signal_checkpoint = 0;
}

/* ==== traces =============================================================== */

void run_trace_start(const elign_config *cfg, const char *run_dir, int world_rank, const char *role, int make_dir) {
  if (!elign_config_get_bool(cfg, "run.trace")) return;
  static long long started; /* one time stamp for this process's file name */
  if (!started) started = (long long)time(NULL);
  char dir[RUN_PATH_MAX + 16], path[RUN_PATH_MAX + 64];
  snprintf(dir, sizeof dir, "%s/trace", run_dir);
  if (make_dir && run_mkdir_p(dir) != 0) elign_warn("run.trace: cannot create %s: %s", dir, strerror(errno));
  snprintf(path, sizeof path, "%s/rank_%05d.%lld.json", dir, world_rank, started);
  elign_trace_start(path, world_rank, role);
}

/* ==== config and resume ====================================================== */

char *run_config_yaml(const elign_config *cfg) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ELIGN_ASSERT(f);
  elign_config_write_yaml(cfg, f, 0);
  fclose(f);
  return buf;
}

/* The "dotted.key: value" lines of a YAML dump written by
 * elign_config_write_yaml (two spaces per level, one key per line). */
static int flatten_config(const char *text, char ***lines) {
  int n = 0, cap = 0;
  char stack[8][64] = {{0}};
  *lines = NULL;
  for (const char *p = text; p && *p;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
    p = eol ? eol + 1 : NULL;
    int indent = 0;
    while (line[indent] == ' ') indent++;
    char *colon = strchr(line + indent, ':');
    if (!line[indent] || line[indent] == '#' || !colon) continue;
    int depth = indent / 2;
    if (depth >= 8) continue;
    *colon = '\0';
    const char *value = colon + 1;
    while (*value == ' ') value++;
    if (!*value) { /* a section header */
      snprintf(stack[depth], sizeof stack[depth], "%s", line + indent);
      continue;
    }
    char key[600] = "";
    for (int d = 0; d < depth; d++) snprintf(key + strlen(key), sizeof key - strlen(key), "%s.", stack[d]);
    if (n == cap) *lines = elign_realloc(*lines, (size_t)(cap = cap ? 2 * cap : 64) * sizeof **lines, "cfg:lines");
    size_t sz = strlen(key) + strlen(line + indent) + strlen(value) + 4;
    (*lines)[n] = elign_malloc(sz, "cfg:line");
    snprintf((*lines)[n++], sz, "%s%s: %s", key, line + indent, value);
  }
  return n;
}

void run_warn_config_changes(const char *before, const char *now) {
  char **a, **b;
  int na = flatten_config(before, &a), nb = flatten_config(now, &b), shown = 0;
  for (int i = 0; i < nb; i++) {
    const char *colon = strstr(b[i], ": ");
    size_t klen = colon ? (size_t)(colon - b[i]) : strlen(b[i]);
    const char *old = NULL;
    for (int j = 0; j < na && !old; j++)
      if (strncmp(a[j], b[i], klen) == 0 && a[j][klen] == ':') old = a[j] + klen + 2;
    if (old && strcmp(old, b[i] + klen + 2) != 0 && strncmp(b[i], "run.dir", 7) != 0 && shown++ < 20)
      elign_warn("--resume: %.*s is %s now, %s in the checkpoint's config", (int)klen, b[i], b[i] + klen + 2, old);
  }
  for (int i = 0; i < na; i++) free(a[i]);
  for (int i = 0; i < nb; i++) free(b[i]);
  free(a);
  free(b);
}

static void attr_text(const elign_ckpt_attr *a, char *buf, size_t cap) {
  switch (a->type) {
    case ELIGN_CKPT_INT: snprintf(buf, cap, "%lld", (long long)a->i); break;
    case ELIGN_CKPT_DOUBLE: snprintf(buf, cap, "%.17g", a->d); break;
    case ELIGN_CKPT_STRING: snprintf(buf, cap, "'%s'", a->s); break;
    case ELIGN_CKPT_DOUBLES: snprintf(buf, cap, "a list of %d numbers%s%g", a->n, a->n ? " starting " : "", a->n ? a->v[0] : 0.0); break;
  }
}

static int attr_equal(const elign_ckpt_attr *a, const elign_ckpt_attr *b) {
  if (a->type != b->type) {
    double x = a->type == ELIGN_CKPT_INT ? (double)a->i : a->d, y = b->type == ELIGN_CKPT_INT ? (double)b->i : b->d;
    int numeric = (a->type == ELIGN_CKPT_INT || a->type == ELIGN_CKPT_DOUBLE) &&
                  (b->type == ELIGN_CKPT_INT || b->type == ELIGN_CKPT_DOUBLE);
    return numeric && x == y;
  }
  switch (a->type) {
    case ELIGN_CKPT_INT: return a->i == b->i;
    case ELIGN_CKPT_DOUBLE: return a->d == b->d;
    case ELIGN_CKPT_STRING: return strcmp(a->s, b->s) == 0;
    case ELIGN_CKPT_DOUBLES: return a->n == b->n && memcmp(a->v, b->v, (size_t)a->n * sizeof(double)) == 0;
  }
  return 0;
}

elign_status run_check_architecture(const elign_checkpoint *mine, const elign_checkpoint *file, const char *path,
                                    const char *run_dir, const char *(*key_of)(const char *attr), elign_error *err) {
  for (int i = 0; i < mine->n_attrs; i++) {
    const elign_ckpt_attr *a = &mine->attrs[i], *b = elign_checkpoint_find_attr(file, a->name);
    if (b && attr_equal(a, b)) continue;
    char va[128], vb[128] = "absent";
    attr_text(a, va, sizeof va);
    if (b) attr_text(b, vb, sizeof vb);
    ELIGN_FAIL(err, ELIGN_ERR_CONFIG,
               "the config's architecture differs from the checkpoint %s: %s is %s in the config (%s) but %s "
               "in the checkpoint",
               path, a->name, va, key_of ? key_of(a->name) : a->name, vb);
    elign_error_hint(err, "--resume continues the same network: use the config the run started with (its resolved "
                          "copy is %s/config.yaml), or start a new run",
                     run_dir);
    return ELIGN_ERR_CONFIG;
  }
  return ELIGN_OK;
}

void run_dir_from_config(const elign_config *cfg, char *buf, size_t cap) {
  if (!elign_config_is_null(cfg, "run.dir"))
    snprintf(buf, cap, "%s", elign_config_get_string(cfg, "run.dir"));
  else if (!elign_config_is_null(cfg, "save_path"))
    snprintf(buf, cap, "%s", elign_config_get_string(cfg, "save_path"));
  else
    snprintf(buf, cap, "runs/%s", elign_config_get_string(cfg, "name"));
}
