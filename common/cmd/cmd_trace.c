/* cmd_trace.c — `elign trace summary RUN_DIR|FILE...`: what the per-rank
 * Chrome trace files of run.trace (common/base/trace.h) say about a run;
 * `elign trace merge`: one file of all ranks for a viewer.
 *
 * Busy / idle: per rank, the union of its "busy" spans (and of its "io"
 * spans) over the window from the first to the last iteration span of the
 * run (so an oracle rank is measured over the actors' iterations); idle is
 * the rest (the "wait" spans are the part of it spent blocked on another
 * rank). A role's fractions are the means over its ranks.
 *
 * Critical path: the loop is bulk-synchronous — its stages end at
 * collectives (the reward gather, the advantage broadcast, the gradient
 * reduction and weight broadcast) — so each stage lasts as long as its last
 * rank to arrive needs; that rank's spans are the critical path through the
 * stage (STAGES below). The table shows their means over the iterations, the
 * rank most often critical, and how much of rank 0's iteration they cover.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/base/atomic_file.h"
#include "common/base/cli.h"
#include "common/base/json.h"
#include "common/base/memory.h"
#include "common/base/outputs.h"
#include "common/cmd/commands.h"

#define TRACE_MAX_FILES 4096
#define TRACE_MAX_RANKS 4096

/* The phases of an iteration in the order they happen (the critical path's
 * order); names as the hooks in learner/ and oracle/ record them. */
static const char *const PHASES[] = {"sample",   "oracle_wait",  "reward_gather", "reward",
                                     "advantage_broadcast", "gradient", "reduce",  "optimizer",
                                     "reduce_agree",        "broadcast", "checkpoint_io"};
#define N_PHASES ((int)(sizeof PHASES / sizeof *PHASES))

typedef struct {
  int rank, phase; /* phase: index into PHASES, −1 other */
  int cat;         /* 0 busy, 1 wait, 2 io, 3 iteration */
  double ts, dur;  /* µs */
  long long iteration;
} ev;

typedef struct {
  ev *e;
  int n, cap;
  char role[TRACE_MAX_RANKS][16];
  int max_rank;
} trace_set;

static const char *trace_usage =
    "usage: elign trace summary RUN_DIR|TRACE.json... [--json]\n"
    "       elign trace merge RUN_DIR|TRACE.json... --out MERGED.json [--force]\n"
    "\n"
    "Reads the per-rank Chrome trace files a run writes with run.trace: true\n"
    "(RUN_DIR/trace/*.json; they open in Perfetto, ui.perfetto.dev) and prints\n"
    "  - per rank and per role (learner, actor, oracle) the busy, I/O, waiting and\n"
    "    idle fractions of the run's wall time;\n"
    "  - the critical path of an iteration: per phase (sampling, oracle wait,\n"
    "    rewards, gradient, reduction, optimizer, broadcast, checkpoint) the time\n"
    "    of the rank that arrived last at the collective ending the stage,\n"
    "    averaged over the iterations.\n"
    "--json prints the same numbers as one JSON object (docs/scaling.md reads it).\n"
    "merge writes every rank's events into one trace file (one track per rank) for\n"
    "viewers that open a single file, such as the Perfetto UI.\n";

static int cat_code(const char *c) {
  if (!c) return 0;
  if (!strcmp(c, "wait")) return 1;
  if (!strcmp(c, "io")) return 2;
  if (!strcmp(c, "iteration")) return 3;
  return 0;
}

static int phase_code(const char *name) {
  for (int i = 0; i < N_PHASES; i++)
    if (!strcmp(name, PHASES[i])) return i;
  return -1;
}

static int ends_with(const char *s, const char *tail) {
  size_t a = strlen(s), b = strlen(tail);
  return a >= b && !strcmp(s + a - b, tail);
}

static double num(const elign_json *o, const char *key, double dflt) {
  const elign_json *v = o ? elign_json_get(o, key) : NULL;
  return v && v->type == ELIGN_JSON_NUMBER ? v->number : dflt;
}
static const char *str(const elign_json *o, const char *key) {
  const elign_json *v = o ? elign_json_get(o, key) : NULL;
  return v && v->type == ELIGN_JSON_STRING ? v->string : NULL;
}

/* One file: a run killed mid-way leaves the array unclosed (allowed by the
 * format): it is closed here before parsing. */
static elign_status load_text(const char *path, char **text, size_t *len, elign_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open", path);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  *text = elign_malloc((size_t)(size > 0 ? size : 0) + 4, "trace:text");
  size_t got = size > 0 ? fread(*text, 1, (size_t)size, f) : 0;
  fclose(f);
  size_t end = got;
  while (end > 0 && (text[0][end - 1] == '\n' || text[0][end - 1] == ' ' || text[0][end - 1] == ',')) end--;
  if (end == 0 || text[0][end - 1] != ']') text[0][end++] = ']';
  text[0][end] = '\0';
  *len = end;
  return ELIGN_OK;
}

static elign_status read_file(trace_set *t, const char *path, elign_error *err) {
  char *text;
  size_t end;
  if (load_text(path, &text, &end, err)) return err->status;
  elign_json root;
  elign_status st = elign_json_parse(text, end, path, &root, err);
  elign_free(text);
  if (st) return st;
  if (root.type != ELIGN_JSON_ARRAY) {
    elign_json_free(&root);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: not a Chrome trace event array", path);
  }
  for (int i = 0; i < root.n; i++) {
    const elign_json *o = &root.items[i];
    const char *ph = str(o, "ph"), *name = str(o, "name");
    int rank = (int)num(o, "pid", -1);
    if (!ph || !name || rank < 0 || rank >= TRACE_MAX_RANKS) continue;
    if (rank > t->max_rank) t->max_rank = rank;
    const elign_json *args = elign_json_get(o, "args");
    if (strcmp(ph, "X") != 0) continue;
    const char *role = str(args, "role");
    if (role) snprintf(t->role[rank], sizeof t->role[rank], "%s", role);
    if (t->n == t->cap) t->e = elign_realloc(t->e, (size_t)(t->cap = t->cap ? 2 * t->cap : 1024) * sizeof *t->e, "trace:ev");
    t->e[t->n++] = (ev){.rank = rank, .phase = phase_code(name), .cat = cat_code(str(o, "cat")), .ts = num(o, "ts", 0),
                        .dur = num(o, "dur", 0), .iteration = (long long)num(args, "iteration", -1)};
  }
  elign_json_free(&root);
  return ELIGN_OK;
}

/* The trace files the arguments name: files as given, directories as DIR/trace/<name>.json
 * (sorted). *paths malloc'ed (free each and the array). */
static elign_status collect_files(int argc, char **argv, char ***paths, int *n, elign_error *err) {
  *paths = NULL;
  *n = 0;
  int cap = 0;
  for (int i = 0; i < argc; i++) {
    struct stat sb;
    if (stat(argv[i], &sb) != 0) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: no such file or directory", argv[i]);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/trace", argv[i]);
    DIR *d = S_ISDIR(sb.st_mode) ? opendir(dir) : NULL;
    if (S_ISDIR(sb.st_mode) && !d) {
      ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: no trace directory", dir);
      elign_error_hint(err, "run with --set run.trace=true to record one");
      return ELIGN_ERR_IO;
    }
    int first = *n;
    struct dirent *de;
    while (1) {
      char path[4500];
      if (d) {
        if (!(de = readdir(d))) break;
        if (!ends_with(de->d_name, ".json")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
      } else {
        snprintf(path, sizeof path, "%s", argv[i]);
      }
      if (*n == cap) *paths = elign_realloc(*paths, (size_t)(cap = cap ? 2 * cap : 16) * sizeof **paths, "trace:paths");
      (*paths)[*n] = elign_malloc(strlen(path) + 1, "trace:path");
      strcpy((*paths)[(*n)++], path);
      if (!d) break;
    }
    if (d) closedir(d);
    if (d && *n == first) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: no trace files (*.json)", dir);
    for (int x = first + 1; x < *n; x++) /* names sort by rank */
      for (int y = x; y > first && strcmp((*paths)[y - 1], (*paths)[y]) > 0; y--) {
        char *t = (*paths)[y];
        (*paths)[y] = (*paths)[y - 1];
        (*paths)[y - 1] = t;
      }
  }
  return ELIGN_OK;
}

static void free_files(char **paths, int n) {
  for (int i = 0; i < n; i++) elign_free(paths[i]);
  elign_free(paths);
}

static elign_status read_inputs(trace_set *t, int argc, char **argv, elign_error *err) {
  char **paths;
  int n;
  elign_status st = collect_files(argc, argv, &paths, &n, err);
  for (int i = 0; !st && i < n; i++) st = read_file(t, paths[i], err);
  free_files(paths, n);
  if (!st && t->n == 0) st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "no trace events in the input");
  return st;
}

static int by_start(const void *a, const void *b) {
  double x = ((const ev *)a)->ts, y = ((const ev *)b)->ts;
  return (x > y) - (x < y);
}

/* Length of the union of [ts, ts+dur) of one rank's events of category cat
 * (events sorted by start), clipped to [w0, w1). */
static double union_time(const trace_set *t, int rank, int cat, double w0, double w1) {
  double total = 0, cur0 = 0, cur1 = -INFINITY;
  for (int i = 0; i < t->n; i++) {
    const ev *e = &t->e[i];
    if (e->rank != rank || e->cat != cat) continue;
    double a = fmax(e->ts, w0), b = fmin(e->ts + e->dur, w1);
    if (b <= a) continue;
    if (a > cur1) {
      if (cur1 > cur0) total += cur1 - cur0;
      cur0 = a, cur1 = b;
    } else if (b > cur1) {
      cur1 = b;
    }
  }
  if (cur1 > cur0) total += cur1 - cur0;
  return total;
}

static const char *role_of(const trace_set *t, int r) { return t->role[r][0] ? t->role[r] : "rank"; }

typedef struct {
  double mean_s[N_PHASES];     /* the critical rank's time, mean over iterations */
  int usual_rank[N_PHASES];    /* the rank most often critical */
  double iteration_s;          /* rank 0's iteration span (learner), mean */
  int n_iter;
  long long first, last;
} crit_path;

/* The stages of an iteration: runs of phases that end at a collective. In a
 * stage every rank ends together, so the rank that arrived last at the
 * collective — the one with the least time in the stage's arrival (wait)
 * phases — is the critical one, and its own spans are the critical path
 * through the stage. An oracle rank's compute appears as the critical
 * actor's oracle_wait. */
typedef struct {
  int first, last;     /* PHASES[first..last] */
  unsigned arrival;    /* bit p: PHASES[p] is a wait at the stage's collective */
} stage;
static const stage STAGES[] = {
    {0, 2, 1u << 2},                       /* sample, oracle_wait | reward_gather */
    {3, 4, 1u << 4},                       /* reward | advantage_broadcast */
    {5, 9, (1u << 6) | (1u << 8) | (1u << 9)}, /* gradient, optimizer | reduce, reduce_agree, broadcast */
    {10, 10, 0},                           /* checkpoint_io (rank 0) */
};
#define N_STAGES ((int)(sizeof STAGES / sizeof *STAGES))

/* The critical rank of stage s in iteration row `per` ([N_PHASES][R] seconds). */
static int critical_rank(const double *per, int R, const stage *s) {
  int best = -1;
  double best_wait = INFINITY, best_busy = -1;
  for (int r = 0; r < R; r++) {
    double wait = 0, total = 0;
    for (int p = s->first; p <= s->last; p++) {
      total += per[p * R + r];
      if (s->arrival & (1u << p)) wait += per[p * R + r];
    }
    if (total <= 0) continue;
    if (wait < best_wait - 1e-9 || (wait <= best_wait + 1e-9 && total - wait > best_busy))
      best = r, best_wait = wait, best_busy = total - wait;
  }
  return best;
}

static void critical_path(const trace_set *t, crit_path *cp) {
  memset(cp, 0, sizeof *cp);
  long long lo = -1, hi = -1;
  for (int i = 0; i < t->n; i++)
    if (t->e[i].cat == 3 && t->e[i].iteration >= 0) {
      if (lo < 0 || t->e[i].iteration < lo) lo = t->e[i].iteration;
      if (t->e[i].iteration > hi) hi = t->e[i].iteration;
    }
  if (lo < 0) return;
  cp->first = lo, cp->last = hi;
  int R = t->max_rank + 1;
  long long n_it = hi - lo + 1;
  double *per = elign_calloc((size_t)(n_it * N_PHASES * R), sizeof(double), "trace:per");
  double *iter_s = elign_calloc((size_t)n_it, sizeof(double), "trace:iter");
  for (int i = 0; i < t->n; i++) {
    const ev *e = &t->e[i];
    if (e->iteration < lo || e->iteration > hi) continue;
    long long k = e->iteration - lo;
    if (e->phase >= 0) per[(k * N_PHASES + e->phase) * R + e->rank] += e->dur * 1e-6;
    if (e->cat == 3 && e->rank == 0) iter_s[k] += e->dur * 1e-6;
  }
  int *wins = elign_calloc((size_t)(N_PHASES * R), sizeof(int), "trace:wins");
  int counted = 0;
  for (long long k = 0; k < n_it; k++) {
    if (iter_s[k] <= 0) continue; /* an iteration rank 0 did not finish in the trace */
    counted++;
    cp->iteration_s += iter_s[k];
    const double *row = per + k * N_PHASES * R;
    for (int s = 0; s < N_STAGES; s++) {
      int r = critical_rank(row, R, &STAGES[s]);
      if (r < 0) continue;
      for (int p = STAGES[s].first; p <= STAGES[s].last; p++) {
        cp->mean_s[p] += row[p * R + r];
        if (row[p * R + r] > 0) wins[p * R + r]++;
      }
    }
  }
  cp->n_iter = counted;
  for (int p = 0; p < N_PHASES; p++) {
    if (counted) cp->mean_s[p] /= counted;
    cp->usual_rank[p] = -1;
    int most = 0;
    for (int r = 0; r < R; r++)
      if (wins[p * R + r] > most) most = wins[p * R + r], cp->usual_rank[p] = r;
  }
  if (counted) cp->iteration_s /= counted;
  free(per);
  free(iter_s);
  free(wins);
}

typedef struct {
  double busy, io, wait, idle; /* fractions of the window */
} rank_use;

static void print_text(const trace_set *t, const rank_use *use, double window_s, const crit_path *cp) {
  int R = t->max_rank + 1;
  printf("trace: %d events from %d rank(s), window %.3f s (first to last iteration span)\n\n", t->n, R, window_s);
  printf("%-6s %-8s %7s %7s %7s %7s\n", "rank", "role", "busy", "io", "wait", "idle");
  for (int r = 0; r < R; r++)
    printf("%-6d %-8s %6.1f%% %6.1f%% %6.1f%% %6.1f%%\n", r, role_of(t, r), 100 * use[r].busy, 100 * use[r].io,
           100 * use[r].wait, 100 * use[r].idle);
  printf("\nper role (mean over its ranks):\n");
  for (int r = 0; r < R; r++) {
    int first = 1;
    for (int q = 0; q < r; q++) first &= strcmp(role_of(t, q), role_of(t, r)) != 0;
    if (!first) continue;
    rank_use s = {0};
    int n = 0;
    for (int q = r; q < R; q++)
      if (!strcmp(role_of(t, q), role_of(t, r))) s.busy += use[q].busy, s.idle += use[q].idle, s.wait += use[q].wait, n++;
    printf("  %-8s %3d rank(s): busy %5.1f%%, idle %5.1f%% (of which waiting on other ranks %5.1f%%)\n", role_of(t, r),
           n, 100 * s.busy / n, 100 * s.idle / n, 100 * s.wait / n);
  }
  if (!cp->n_iter) return;
  double sum = 0;
  for (int p = 0; p < N_PHASES; p++) sum += cp->mean_s[p];
  printf("\ncritical path of an iteration (iterations %lld..%lld, %d complete; rank 0's iteration %.4f s):\n",
         cp->first, cp->last, cp->n_iter, cp->iteration_s);
  printf("  %-20s %10s %7s  %s\n", "phase", "seconds", "share", "critical rank (most often)");
  for (int p = 0; p < N_PHASES; p++) {
    if (cp->mean_s[p] <= 0) continue;
    printf("  %-20s %10.4f %6.1f%%  %d (%s)\n", PHASES[p], cp->mean_s[p],
           cp->iteration_s > 0 ? 100 * cp->mean_s[p] / cp->iteration_s : 0.0, cp->usual_rank[p],
           cp->usual_rank[p] >= 0 ? role_of(t, cp->usual_rank[p]) : "-");
  }
  printf("  %-20s %10.4f %6.1f%%  (the rest: untraced work between the stages)\n", "sum", sum,
         cp->iteration_s > 0 ? 100 * sum / cp->iteration_s : 0.0);
}

static void print_json(const trace_set *t, const rank_use *use, double window_s, const crit_path *cp) {
  int R = t->max_rank + 1;
  printf("{\"window_s\": %.6f, \"ranks\": [", window_s);
  for (int r = 0; r < R; r++)
    printf("%s{\"rank\": %d, \"role\": \"%s\", \"busy\": %.6f, \"io\": %.6f, \"wait\": %.6f, \"idle\": %.6f}", r ? ", " : "",
           r, role_of(t, r), use[r].busy, use[r].io, use[r].wait, use[r].idle);
  printf("], \"iterations\": %d, \"iteration_s\": %.6f, \"critical_path\": {", cp->n_iter, cp->iteration_s);
  for (int p = 0, k = 0; p < N_PHASES; p++)
    if (cp->mean_s[p] > 0) printf("%s\"%s\": {\"s\": %.6f, \"rank\": %d}", k++ ? ", " : "", PHASES[p], cp->mean_s[p], cp->usual_rank[p]);
  printf("}}\n");
}

static int trace_summary(int argc, char **argv) {
  int as_json = 0, n_in = 0;
  char **in = elign_calloc((size_t)argc + 1, sizeof *in, "trace:in");
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) as_json = 1;
    else if (argv[i][0] == '-') {
      fprintf(stderr, "elign trace summary: unknown option '%s' (see --help)\n", argv[i]);
      free(in);
      return ELIGN_EXIT_USAGE;
    } else in[n_in++] = argv[i];
  }
  if (!n_in) {
    fprintf(stderr, "elign trace summary: missing RUN_DIR (see --help)\n");
    free(in);
    return ELIGN_EXIT_USAGE;
  }
  trace_set *t = elign_calloc(1, sizeof *t, "trace:set");
  elign_error err;
  elign_error_clear(&err);
  elign_status st = read_inputs(t, n_in, in, &err);
  free(in);
  if (st) {
    elign_free(t->e);
    elign_free(t);
    return elign_cli_fail(&err);
  }
  qsort(t->e, (size_t)t->n, sizeof *t->e, by_start);
  double w0 = INFINITY, w1 = -INFINITY;
  for (int i = 0; i < t->n; i++)
    if (t->e[i].cat == 3) w0 = fmin(w0, t->e[i].ts), w1 = fmax(w1, t->e[i].ts + t->e[i].dur);
  if (!(w1 > w0)) /* no iteration spans: the whole trace */
    for (int i = 0; i < t->n; i++) w0 = fmin(w0, t->e[i].ts), w1 = fmax(w1, t->e[i].ts + t->e[i].dur);
  int R = t->max_rank + 1;
  rank_use *use = elign_calloc((size_t)R, sizeof *use, "trace:use");
  double win = w1 > w0 ? w1 - w0 : 1;
  for (int r = 0; r < R; r++) {
    use[r].busy = union_time(t, r, 0, w0, w1) / win;
    use[r].wait = union_time(t, r, 1, w0, w1) / win;
    use[r].io = union_time(t, r, 2, w0, w1) / win;
    use[r].idle = fmax(0.0, 1 - use[r].busy - use[r].io);
  }
  crit_path cp;
  critical_path(t, &cp);
  if (as_json) print_json(t, use, win * 1e-6, &cp);
  else print_text(t, use, win * 1e-6, &cp);
  elign_free(use);
  elign_free(t->e);
  elign_free(t);
  return elign_cli_finish_stdout(ELIGN_EXIT_OK);
}

/* `elign trace merge RUN_DIR|FILE... --out M.json [--force]`: one file with
 * every rank's events (a track per rank), for viewers that open one file. */
static int trace_merge(int argc, char **argv) {
  const char *out = NULL;
  int force = 0, n_in = 0;
  char **in = elign_calloc((size_t)argc + 1, sizeof *in, "trace:in");
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--out") || !strcmp(argv[i], "-o")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "elign trace merge: %s needs a value (see --help)\n", argv[i]);
        free(in);
        return ELIGN_EXIT_USAGE;
      }
      out = argv[++i];
    } else if (!strcmp(argv[i], "--force")) {
      force = 1;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "elign trace merge: unknown option '%s' (see --help)\n", argv[i]);
      free(in);
      return ELIGN_EXIT_USAGE;
    } else {
      in[n_in++] = argv[i];
    }
  }
  if (!n_in || !out) {
    fprintf(stderr, "elign trace merge: %s (see --help)\n", !n_in ? "missing RUN_DIR" : "missing --out FILE");
    free(in);
    return ELIGN_EXIT_USAGE;
  }
  elign_error err;
  elign_error_clear(&err);
  char **paths = NULL;
  int n = 0;
  elign_status st = collect_files(n_in, in, &paths, &n, &err);
  free(in);
  elign_file_arg *ins = elign_calloc((size_t)n + 1, sizeof *ins, "trace:ins");
  for (int i = 0; i < n; i++) ins[i] = (elign_file_arg){paths[i], "INPUT"};
  elign_file_arg outs[] = {{out, "--out"}};
  if (!st) st = elign_outputs_check(outs, 1, ins, n, force, &err);
  elign_free(ins);
  elign_atomic_file a;
  FILE *f = NULL;
  if (!st) st = elign_atomic_fopen(&a, out, &f, &err);
  int events = 0;
  for (int i = 0; !st && i < n; i++) {
    char *text;
    size_t len;
    if ((st = load_text(paths[i], &text, &len, &err))) break;
    elign_json root; /* parsed to check it and count, written as the text it is */
    st = elign_json_parse(text, len, paths[i], &root, &err);
    if (!st && root.type != ELIGN_JSON_ARRAY) st = ELIGN_FAIL(&err, ELIGN_ERR_FORMAT, "%s: not a Chrome trace event array", paths[i]);
    if (!st) {
      const char *body = strchr(text, '[') + 1, *close = strrchr(text, ']');
      while (body < close && (*body == '\n' || *body == ' ')) body++;
      if (root.n > 0) fprintf(f, "%s%.*s", events ? ",\n" : "[\n", (int)(close - body), body);
      events += root.n;
    }
    if (!st) elign_json_free(&root);
    elign_free(text);
  }
  if (f && !st) {
    fprintf(f, "%s]\n", events ? "\n" : "[\n");
    st = elign_atomic_fclose(&a, f, &err);
  } else if (f) {
    fclose(f);
    elign_atomic_discard(&a);
  }
  free_files(paths, n);
  if (st) return elign_cli_fail(&err);
  printf("%s: %d events from %d trace file(s)\n", out, events, n);
  return elign_cli_finish_stdout(ELIGN_EXIT_OK);
}

int trace_main(int argc, char **argv) {
  if (argc < 2 || elign_cli_is_help(argv[1])) {
    fputs(trace_usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? ELIGN_EXIT_USAGE : ELIGN_EXIT_OK;
  }
  for (int i = 2; i < argc; i++)
    if (elign_cli_is_help(argv[i])) {
      fputs(trace_usage, stdout);
      return ELIGN_EXIT_OK;
    }
  if (!strcmp(argv[1], "summary")) return trace_summary(argc - 2, argv + 2);
  if (!strcmp(argv[1], "merge")) return trace_merge(argc - 2, argv + 2);
  fprintf(stderr, "elign trace: unknown subcommand '%s' (summary, merge; see --help)\n", argv[1]);
  return ELIGN_EXIT_USAGE;
}
