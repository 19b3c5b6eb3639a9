/* run_dir.h — what every training command does with its run directory, its
 * checkpoints and its signals, written once (elign pretrain and elign train).
 *
 * A run directory RUN holds RUN/config.yaml, RUN/metrics.jsonl, the
 * checkpoints RUN/checkpoints/<prefix><n>.h5 (n = optimizer step for
 * pretraining, iteration for FED-GRPO; zero-padded so names sort) and the
 * command's own top-level files. Only rank 0 touches it.
 *
 *   run_dir_prepare(dir, resume, force, "step_", own_files, n_own, &err);  // create / check / --force
 *   run_dir_checkpoint_path(buf, cap, dir, "step_", n);
 *   run_dir_prune(dir, "step_", keep);                                  // keep the newest `keep`
 *   n = run_dir_list_checkpoints(dir, "step_", &numbers);                // ascending
 *
 * Signals: run_signals_install(cfg) once; the loop calls run_signals_take()
 * once per step/iteration (SIGTERM, SIGINT, SIGUSR2: checkpoint and stop;
 * SIGUSR1: the same with run.sigusr1 = stop, the default — SLURM's warning
 * before a time limit or preemption —, checkpoint and continue with
 * run.sigusr1 = checkpoint) and agrees on it across ranks. A requested stop
 * ends the command with exit code 0; `--resume-if-exists` lets a requeued
 * job given the same command line continue where it stopped.
 *
 * Resuming: run_check_architecture compares the architecture attributes a
 * config makes with a checkpoint's (naming the first that differs and its
 * config key), run_warn_config_changes warns about every key whose value
 * changed since the checkpoint was written.
 */
#ifndef ELIGN_RUN_DIR_H
#define ELIGN_RUN_DIR_H

#include <stdint.h>

#include "common/base/config.h"
#include "common/base/error.h"
#include "common/io/checkpoint.h"

#define RUN_PATH_MAX 4096

/* ---- the command line ------------------------------------------------------- */

/* How a run starts: the options `pretrain` and `train` share. */
typedef struct {
  const char *resume_dir; /* --resume RUN: continue from RUN's newest checkpoint */
  int force;              /* --force: a non-empty run directory is cleared first */
  int64_t stop_after;     /* > 0: stop (with a checkpoint) after this many steps / iterations of this invocation */
  int resume_if_exists;   /* --resume-if-exists: resume run.dir if it holds a checkpoint, else start it afresh */
} run_start;

typedef struct {
  const char *config;
  const char **sets; /* the --set KEY=VALUE texts (malloc'ed: run_args_free) */
  int n_sets;
  run_start start;
} run_args;

/* `elign CMD CONFIG [--set KEY=VALUE]... [--resume RUN | --resume-if-exists]
 * [--force] [--stop-after N]`: 0 parsed, 1 help asked for, 2 usage error (printed
 * as "elign CMD: ..." naming the option). Call run_args_free in every case. */
int run_args_parse(const char *cmd, int argc, char **argv, run_args *a);
void run_args_free(run_args *a);

/* --resume-if-exists, once run.dir is known (every rank may call it): a
 * run directory holding a checkpoint <prefix>*.h5 is resumed (s->resume_dir
 * = run_dir, which must outlive s); otherwise the run starts afresh, and the
 * files of an attempt that died before its first checkpoint (config.yaml,
 * metrics.jsonl, the command's own files) are cleared as by --force. This is
 * what makes a requeued batch job with an unchanged command line continue. */
void run_start_resolve(run_start *s, const char *run_dir, const char *prefix);

/* Resuming: drop from RUN/metrics.jsonl every line whose integer `key` is
 * greater than last_kept (iterations a killed run did after its newest
 * checkpoint: the resumed run writes them again) and every torn line, so the
 * file holds each step once. Atomic (the old file or the new one); a missing
 * file is no error. */
elign_status run_metrics_rewind(const char *run_dir, const char *key, int64_t last_kept, elign_error *err);

/* mkdir -p; 0 on success, −1 (errno set) otherwise. */
int run_mkdir_p(const char *path);

/* Rank 0: create RUN and RUN/checkpoints. Without resume a non-empty RUN is
 * an error unless force, which deletes the checkpoints <prefix>*.h5,
 * config.yaml, metrics.jsonl and the command's own files own[0..n_own)
 * (names relative to RUN) — nothing else. With resume RUN must exist. */
elign_status run_dir_prepare(const char *run_dir, int resume, int force, const char *prefix,
                             const char *const *own, int n_own, elign_error *err);

/* The numbers n of RUN/checkpoints/<prefix><n>.h5, ascending (*numbers
 * malloc'ed, free it); returns their count. */
int run_dir_list_checkpoints(const char *run_dir, const char *prefix, int64_t **numbers);
void run_dir_checkpoint_path(char *buf, size_t cap, const char *run_dir, const char *prefix, int64_t n);
/* Delete all but the newest `keep` checkpoints of that prefix. */
void run_dir_prune(const char *run_dir, const char *prefix, int64_t keep);

/* ---- signals --------------------------------------------------------------- */

/* SIGTERM, SIGINT, SIGUSR2 → stop (after a checkpoint); SIGUSR1 → stop
 * or checkpoint and continue, as the config's run.sigusr1 says (cfg NULL:
 * stop). */
void run_signals_install(const elign_config *cfg);
/* This process's pending requests; the checkpoint request is cleared. */
void run_signals_take(int *stop, int *checkpoint);

/* ---- traces ------------------------------------------------------------------ */

/* With run.trace true: record this process's spans (common/base/trace.h)
 * into RUN/trace/rank_<world rank>.<unix time>.json. make_dir: create
 * RUN/trace (ranks that know RUN exists; an oracle rank passes 0 and its
 * file opens once the directory is there). */
void run_trace_start(const elign_config *cfg, const char *run_dir, int world_rank, const char *role, int make_dir);

/* ---- config and resume ------------------------------------------------------ */

/* The run directory a config names: run.dir, else the public code's
 * save_path, else runs/<name>. */
void run_dir_from_config(const elign_config *cfg, char *buf, size_t cap);

/* The resolved config as YAML text (malloc'ed). */
char *run_config_yaml(const elign_config *cfg);

/* Warn (elign_warn, at most 20 lines) about every dotted key whose value in
 * `now` differs from `before` (YAML dumps of elign_config_write_yaml);
 * run.dir is not reported. */
void run_warn_config_changes(const char *before, const char *now);

/* Every attribute of `mine` (an architecture the config builds) must equal
 * the one in `file`, read from `path`; else ELIGN_ERR_CONFIG naming the
 * attribute, both values and the config key key_of(attribute) (key_of may
 * be NULL: the attribute name is shown). */
elign_status run_check_architecture(const elign_checkpoint *mine, const elign_checkpoint *file, const char *path,
                                    const char *run_dir, const char *(*key_of)(const char *attr), elign_error *err);

#endif
