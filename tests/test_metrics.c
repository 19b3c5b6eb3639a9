/* test_metrics.c — log lines, progress lines and the metrics JSON Lines file.
 *
 * The metrics file is read back by Python's json module line by line (an
 * independent parser), which checks every value, the escapes, null for
 * non-finite doubles, exact round-trip of doubles, and that a reopened file
 * kept the earlier lines. Log and progress output is captured by pointing
 * stderr at a file (so the progress is in its non-terminal mode).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/base/log.h"
#include "common/io/metrics.h"
#include "tests/testutil.h"

/* ---- stderr capture ------------------------------------------------------- */

typedef struct {
  int saved_fd;
  FILE *file;
} capture;

static void capture_begin(capture *c) {
  fflush(stderr);
  c->saved_fd = dup(2);
  c->file = tmpfile();
  ELIGN_ASSERT(c->saved_fd >= 0 && c->file);
  dup2(fileno(c->file), 2);
}

/* Restore stderr and return what was written (caller frees). */
static char *capture_end(capture *c) {
  fflush(stderr);
  dup2(c->saved_fd, 2);
  close(c->saved_fd);
  long size = ftell(c->file);
  rewind(c->file);
  char *text = elign_malloc((size_t)(size > 0 ? size : 0) + 1, "test:capture");
  size_t n = fread(text, 1, (size_t)(size > 0 ? size : 0), c->file);
  text[n] = '\0';
  fclose(c->file);
  return text;
}

static int count_occurrences(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

static void sleep_seconds(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* ---- log ------------------------------------------------------------------ */

static void test_log_lines(void) {
  CHECK(elign_log_level_parse("debug") == ELIGN_LOG_DEBUG);
  CHECK(elign_log_level_parse("warn") == ELIGN_LOG_WARN);
  CHECK(elign_log_level_parse("loud") == -1);

  capture c;
  capture_begin(&c);
  elign_log_set_rank(3);
  elign_log_set_level(ELIGN_LOG_WARN);
  elign_info("hidden info %d", 1);
  elign_debug("hidden debug");
  elign_warn("oracle %s slow", "xtb");
  elign_errorlog("molecule %d: NaN", 17);
  elign_log_set_level(ELIGN_LOG_DEBUG);
  elign_debug("now visible");
  char *text = capture_end(&c);

  CHECK(strstr(text, "hidden") == NULL);
  CHECK(strstr(text, "[elign r3 WARN] oracle xtb slow\n") != NULL);
  CHECK(strstr(text, "[elign r3 ERROR] molecule 17: NaN\n") != NULL);
  CHECK(strstr(text, "[elign r3 DEBUG] now visible\n") != NULL);
  CHECK(count_occurrences(text, "\n") == 3);
  elign_free(text);
  elign_log_set_rank(0);
  elign_log_set_level(ELIGN_LOG_INFO);
}

/* ---- progress ------------------------------------------------------------- */

static void test_progress_plain(void) {
  const double interval = 0.1;
  const long long total = 40;
  capture c;
  capture_begin(&c);
  elign_progress p;
  elign_progress_start(&p, "sampling", total, interval);
  double t0 = elign_wtime();
  for (long long i = 1; i <= total; i++) {
    sleep_seconds(0.01);
    elign_progress_update(&p, i);
  }
  double elapsed = elign_wtime() - t0;
  elign_progress_finish(&p);
  char *text = capture_end(&c);
  CHECK(p.tty == 0); /* stderr is a file here */

  /* Lines like "[elign r0 INFO] sampling: 12/40 (30.0%) 98.1/s ETA 0s". */
  int lines = count_occurrences(text, "[elign r0 INFO] sampling: ");
  int with_eta = count_occurrences(text, " ETA ");
  int with_rate = count_occurrences(text, "/s");
  fprintf(stderr, "progress: %d lines in %.2f s (interval %.2f s):\n%s", lines, elapsed, interval, text);
  CHECK(lines >= 3); /* at least two updates plus the final line in ~0.4 s */
  CHECK(lines - 1 <= (int)(elapsed / interval) + 1); /* at most one line per interval */
  CHECK(with_eta == lines - 1 && with_rate == lines);
  CHECK(strstr(text, "\r") == NULL && strstr(text, "\033") == NULL); /* no terminal codes in a file */
  CHECK(strstr(text, "sampling: 40/40 done in ") != NULL);

  /* Parse the first update line and check its numbers against each other. */
  const char *first = strstr(text, "sampling: ");
  long long done = 0, tot = 0;
  double pct = 0, rate = 0;
  char eta[32] = "";
  int fields = first ? sscanf(first, "sampling: %lld/%lld (%lf%%) %lf/s ETA %31s", &done, &tot, &pct, &rate, eta) : 0;
  CHECK(fields == 5);
  CHECK(tot == total && done > 0 && done < total);
  CHECK_CLOSE(pct, 100.0 * done / total, 0.06, 0);
  CHECK(rate > 0 && rate < 1000); /* 10 ms per unit: about 100/s */
  CHECK(eta[strlen(eta) - 1] == 's');
  elign_free(text);
}

/* A resumed loop (a checkpoint at unit 1000): the rate counts the units of this
 * run only, so neither it nor the ETA is inflated by the work done before. */
static void test_progress_resumed(void) {
  capture c;
  capture_begin(&c);
  elign_progress p;
  elign_progress_start(&p, "resumed", 1040, 0.05);
  elign_progress_resume_at(&p, 1000);
  for (long long i = 1001; i <= 1040; i++) {
    sleep_seconds(0.01);
    elign_progress_update(&p, i);
  }
  elign_progress_finish(&p);
  char *text = capture_end(&c);
  fprintf(stderr, "resumed progress:\n%s", text);
  const char *first = strstr(text, "resumed: ");
  long long done = 0, tot = 0;
  double pct = 0, rate = 0;
  int fields = first ? sscanf(first, "resumed: %lld/%lld (%lf%%) %lf/s", &done, &tot, &pct, &rate) : 0;
  CHECK(fields == 4);
  CHECK(done > 1000 && done < 1040);
  CHECK(rate > 0 && rate < 150); /* 10 ms per unit: at most 100/s, not (done)/elapsed */
  const char *last = strstr(text, "resumed: 1040/1040 done in ");
  double secs = 0, mean = 0;
  CHECK(last != NULL && sscanf(last, "resumed: 1040/1040 done in %lfs (%lf/s)", &secs, &mean) == 2);
  CHECK(mean > 0 && mean < 150);
  elign_free(text);
}

/* ELIGN_PROGRESS_SECONDS replaces the loop's own interval (60 s here, so
 * without it no line before the final one); a malformed value is ignored. */
static void test_progress_interval_from_env(void) {
  setenv("ELIGN_PROGRESS_SECONDS", "0", 1);
  capture c;
  capture_begin(&c);
  elign_progress p;
  elign_progress_start(&p, "env", 3, 60.0);
  for (int i = 1; i <= 3; i++) elign_progress_update(&p, i);
  elign_progress_finish(&p);
  char *text = capture_end(&c);
  CHECK(p.interval == 0.0);
  CHECK(count_occurrences(text, "env: ") == 4); /* three updates and the final line */
  elign_free(text);
  setenv("ELIGN_PROGRESS_SECONDS", "soon", 1);
  elign_progress_start(&p, "env", 3, 60.0);
  CHECK(p.interval == 60.0);
  setenv("ELIGN_PROGRESS_SECONDS", "-1", 1);
  elign_progress_start(&p, "env", 3, 60.0);
  CHECK(p.interval == 60.0);
  unsetenv("ELIGN_PROGRESS_SECONDS");
}

static void test_progress_quiet_and_tty(void) {
  /* Above INFO nothing is printed. */
  capture c;
  capture_begin(&c);
  elign_log_set_level(ELIGN_LOG_WARN);
  elign_progress p;
  elign_progress_start(&p, "quiet", 10, 0.0);
  for (int i = 1; i <= 10; i++) elign_progress_update(&p, i);
  elign_progress_finish(&p);
  elign_log_set_level(ELIGN_LOG_INFO);
  char *text = capture_end(&c);
  CHECK(text[0] == '\0');
  elign_free(text);

  /* Terminal mode (forced): one line rewritten with \r and cleared with ESC[K;
   * a log line in between starts on a fresh line. */
  capture_begin(&c);
  elign_progress_start(&p, "steps", 0, 1.0);
  p.tty = 1;
  p.last_print -= 1.0; /* let the first update print at once */
  elign_progress_update(&p, 5);
  elign_info("between");
  elign_progress_finish(&p);
  text = capture_end(&c);
  CHECK(strstr(text, "\r[elign r0 INFO] steps: 5 ") == text);
  CHECK(strstr(text, "\033[K\n[elign r0 INFO] between\n") != NULL);
  CHECK(strstr(text, "\r[elign r0 INFO] steps: 5 done in ") != NULL);
  CHECK(text[strlen(text) - 1] == '\n');
  elign_free(text);
}

/* ---- metrics -------------------------------------------------------------- */

static void write_record(elign_metrics *m, long long iteration, double reward, const char *phase) {
  elign_error err;
  elign_error_clear(&err);
  elign_metrics_begin(m);
  elign_metrics_int(m, "iteration", iteration);
  elign_metrics_double(m, "reward", reward);
  elign_metrics_string(m, "phase", phase);
  CHECK(elign_metrics_end(m, &err) == ELIGN_OK);
}

static const char *python_check =
    "import json, math, sys\n"
    "lines = open(sys.argv[1], encoding='utf-8').read().split('\\n')\n"
    "assert lines[-1] == '', 'file must end with a newline'\n"
    "recs = []\n"
    "for i, l in enumerate(lines[:-1]):\n"
    "    try: recs.append(json.loads(l))\n"
    "    except ValueError: recs.append(None)\n"
    "assert recs[0] == {'iteration': 1, 'reward': -0.5, 'phase': 'train'}, recs[0]\n"
    "r = recs[1]\n"
    "assert r['iteration'] == -9007199254740993 and r['big'] == 9223372036854775807, r\n"
    "assert r['third'] == 1/3 and r['tiny'] == 5e-324 and r['huge'] == 1.7976931348623157e308, r\n"
    "assert r['tenth'] == 0.1 and r['neg_zero'] == 0.0 and math.copysign(1, r['neg_zero']) < 0, r\n"
    "assert r['two'] == 2 and type(r['two']) is float and type(r['neg_zero']) is float, r\n"
    "assert r['nan'] is None and r['inf'] is None and r['minus_inf'] is None, r\n"
    "assert r['text'] == 'quote \" backslash \\\\ newline \\n tab \\t bell \\x07 del \\x7f \\u00c5ngstr\\u00f6m', "
    "repr(r['text'])\n"
    "assert r['key \"odd\"'] is True and r['flag'] is False and r['none'] is None, r\n"
    "assert list(r) == ['iteration', 'big', 'third', 'tiny', 'huge', 'tenth', 'neg_zero', 'two', 'nan', 'inf',\n"
    "                   'minus_inf', 'text', 'key \"odd\"', 'flag', 'none'], list(r)\n"
    "assert recs[2] == {}, recs[2]\n"
    "assert recs[3] == {'iteration': 3, 'reward': 2.25, 'phase': 'resumed'}, recs[3]\n"
    "assert recs[4] is None and lines[4] == '{\"iteration\": 4, \"rew', lines[4]\n"
    "assert recs[5] == {'iteration': 5, 'reward': None, 'phase': 'after crash'}, recs[5]\n"
    "assert len(recs) == 6, len(recs)\n"
    "print('python json check: ok,', len(recs), 'lines')\n";

static void test_metrics_file(void) {
  char dir[] = "test_metrics_run_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  elign_error err;
  elign_error_clear(&err);

  elign_metrics *m = elign_metrics_open(dir, "metrics.jsonl", &err);
  CHECK(m != NULL);
  if (!m) return;
  CHECK(!elign_metrics_repaired_torn_line(m));
  write_record(m, 1, -0.5, "train");

  elign_metrics_begin(m);
  elign_metrics_int(m, "iteration", -9007199254740993LL); /* 2^53 + 1: not a double */
  elign_metrics_int(m, "big", 9223372036854775807LL);
  elign_metrics_double(m, "third", 1.0 / 3.0);
  elign_metrics_double(m, "tiny", 4.9406564584124654e-324);
  elign_metrics_double(m, "huge", 1.7976931348623157e308);
  elign_metrics_double(m, "tenth", 0.1);
  elign_metrics_double(m, "neg_zero", -0.0);
  elign_metrics_double(m, "two", 2.0);
  elign_metrics_double(m, "nan", NAN);
  elign_metrics_double(m, "inf", INFINITY);
  elign_metrics_double(m, "minus_inf", -INFINITY);
  elign_metrics_string(m, "text", "quote \" backslash \\ newline \n tab \t bell \a del \x7f \xc3\x85ngstr\xc3\xb6m");
  elign_metrics_bool(m, "key \"odd\"", 1);
  elign_metrics_bool(m, "flag", 0);
  elign_metrics_string(m, "none", NULL);
  CHECK(elign_metrics_end(m, &err) == ELIGN_OK);

  elign_metrics_begin(m); /* an empty record is a valid object */
  CHECK(elign_metrics_end(m, &err) == ELIGN_OK);

  /* Flushed at end: another reader sees the lines before close. */
  FILE *peek = fopen(elign_metrics_path(m), "r");
  int newlines = 0;
  for (int ch; peek && (ch = fgetc(peek)) != EOF;) newlines += ch == '\n';
  if (peek) fclose(peek);
  CHECK(newlines == 3);
  elign_metrics_close(&m);
  CHECK(m == NULL);

  /* A resumed run appends. */
  m = elign_metrics_open(dir, "metrics.jsonl", &err);
  CHECK(m != NULL && !elign_metrics_repaired_torn_line(m));
  if (!m) return;
  write_record(m, 3, 2.25, "resumed");
  elign_metrics_close(&m);

  /* A run killed mid-line: the torn bytes stay, new lines start clean. */
  char path[512];
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  FILE *f = fopen(path, "a");
  fputs("{\"iteration\": 4, \"rew", f);
  fclose(f);
  m = elign_metrics_open(dir, "metrics.jsonl", &err);
  CHECK(m != NULL && elign_metrics_repaired_torn_line(m));
  if (!m) return;
  write_record(m, 5, NAN, "after crash");
  elign_metrics_close(&m);

  /* Independent parser. */
  char script[512];
  snprintf(script, sizeof script, "%s/check.py", dir);
  f = fopen(script, "w");
  fputs(python_check, f);
  fclose(f);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "%s %s %s", ELIGN_PYTHON_EXECUTABLE, script, path);
  int rc = system(cmd);
  CHECK(rc == 0);

  /* Errors name the path. */
  elign_error_clear(&err);
  CHECK(elign_metrics_open("no/such/dir", "metrics.jsonl", &err) == NULL);
  CHECK(err.status == ELIGN_ERR_IO && strstr(err.msg, "no/such/dir/metrics.jsonl") != NULL);

  if (rc == 0) { /* keep the files for inspection when the check failed */
    remove(script);
    remove(path);
    rmdir(dir);
  }
}

int main(void) {
  test_log_lines();
  test_progress_plain();
  test_progress_resumed();
  test_progress_interval_from_env();
  test_progress_quiet_and_tty();
  test_metrics_file();
  return test_main_result("test_metrics");
}
