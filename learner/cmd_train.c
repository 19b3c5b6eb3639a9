/* cmd_train.c — `elign train CONFIG [--set k=v]... [--resume RUN] [--force]`:
 * argument parsing, the config, the run context with its roles, the oracle
 * (in-process or on the oracle ranks); learner/train_run.c does the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/cli.h"
#include "common/base/config.h"
#include "common/base/log.h"
#include "common/base/trace.h"
#include "common/mpi/runctx.h"
#include "learner/commands.h"
#include "learner/run_dir.h"
#include "learner/train.h"
#include "oracle/service/server.h"

static void train_usage(FILE *f) {
  fprintf(f,
          "usage: elign train CONFIG [--set KEY=VALUE]... [--resume RUN_DIR | --resume-if-exists]\n"
          "                   [--force] [--stop-after N]\n"
          "\n"
          "FED-GRPO post-training of the EDM model model.checkpoint (ALGORITHMS.md §4):\n"
          "shared-prefix rollout groups, energy/force rewards from oracle.backend, the RDKit\n"
          "filter, group-relative two-channel advantages, PPO-clip + KL to the frozen base\n"
          "model, AdamW with the train.scheduler. docs/train.md explains the run.\n"
          "\n"
          "Under mpirun rank 0 is the learner and an actor, the next ranks are actors (they\n"
          "share the rollouts and the gradient work), the last mpi.oracle_ranks ranks serve\n"
          "the oracle (0: every actor evaluates in-process). 1, 2, 4 ... actors give bitwise\n"
          "the same checkpoints (same threads per rank).\n"
          "\n"
          "  RUN/config.yaml, RUN/metrics.jsonl (one line per iteration),\n"
          "  RUN/checkpoints/iter_<n>.h5 (the whole state), RUN/checkpoint.h5 (the newest),\n"
          "  RUN/model.h5 (its weights alone: `elign sample --model RUN/model.h5`),\n"
          "  RUN/checkpoint_best.h5\n"
          "\n"
          "  --set KEY=VALUE   override a config key (repeatable)\n"
          "  --resume RUN_DIR  continue RUN_DIR from its newest checkpoint (bitwise the\n"
          "                    same as a run never interrupted)\n"
          "  --resume-if-exists  resume run.dir if it holds a checkpoint, else start it: the\n"
          "                    same command line starts a batch job and continues it when\n"
          "                    it is requeued (slurm/README.md)\n"
          "  --force           start over in a non-empty run directory (deletes its\n"
          "                    checkpoints, metrics.jsonl and config.yaml)\n"
          "  --stop-after N    stop with a checkpoint after N iterations of this invocation\n"
          "\n"
          "Signals: SIGTERM, SIGINT, SIGUSR2 and SIGUSR1 (what SLURM sends before a time\n"
          "limit or preemption) let every rank finish its iteration; rank 0 writes a\n"
          "checkpoint and the job exits 0. With run.sigusr1: checkpoint, SIGUSR1 writes a\n"
          "checkpoint and the run continues. Under mpirun send SIGUSR2 or SIGUSR1 to mpirun\n"
          "(it forwards those; on SIGTERM it kills the ranks at once); srun and SLURM\n"
          "signal every rank themselves.\n");
}

/* Config → options; the same outcome on every rank (no MPI needed). */
static elign_status load_options(run_args *a, elign_config **cfg, train_options *o, elign_error *err) {
  elign_status st = elign_config_load_for("train", a->config, a->sets, a->n_sets, cfg, err);
  if (!st) st = train_options_from_config(*cfg, o, err);
  if (!st && a->start.resume_dir) snprintf(o->run_dir, sizeof o->run_dir, "%s", a->start.resume_dir);
  if (!st) run_start_resolve(&a->start, o->run_dir, "iter_"); /* train_run.c's checkpoint prefix */
  return st;
}

/* The oracle where this rank evaluates: an oracle rank, or an actor of a
 * run without oracle ranks (not with reward.type dummy). */
static void create_oracle(const elign_world *w, train_options *o, elign_oracle **oracle, elign_error *err) {
  o->oracle.rank = w->rank;
  if (o->dummy_reward) return;
  if (w->is_oracle || (w->is_actor && w->embedded_oracle))
    elign_oracle_create(o->oracle_backend, &o->oracle, oracle, err);
}

/* reward.type dummy: the actors send nothing, but an oracle rank still
 * serves until their DONE; a request would be a bug, answered as failures. */
static elign_status no_oracle(void *ctx, const elign_oracle_batch *batch, elign_oracle_result *result,
                              elign_error *err) {
  (void)ctx, (void)batch, (void)result;
  return ELIGN_FAIL(err, ELIGN_ERR_ARG, "reward.type dummy: the oracle rank has no oracle");
}

/* An oracle rank: serve the actors that send to it until each said DONE.
 * With train.judges the judges are further oracle channels (learner/judges.h). */
static elign_status serve(const elign_world *w, const train_options *o, elign_oracle *oracle, elign_error *err) {
  int clients[4096];
  int n = elign_world_oracle_clients(w, w->rank, clients, 4096);
  elign_oracle_server_options so = {.batch_size = o->oracle_batch, .n_clients = n,
                                    .evaluate = oracle ? NULL : no_oracle};
  train_oracle_set set;
  memset(&set, 0, sizeof set);
  if (o->judges.n > 0) {
    elign_status js = train_oracle_set_create(&set, oracle, &o->judges, &o->oracle, err);
    so.evaluate = train_oracle_set_evaluate; /* even after a failure: the actors must still hear back */
    so.evaluate_ctx = &set;
    if (js) elign_warn("oracle rank %d: the judges are unavailable (their requests fail): %s", w->rank, err->msg);
    elign_error_clear(err);
  }
  elign_oracle_server_stats stats;
  elign_status st = elign_oracle_server_run(oracle, w->comm, &so, &stats, err);
  if (!st) elign_oracle_server_stats_log(&stats, o->oracle_batch);
  train_oracle_set_free(&set);
  return st;
}

int train_main(int argc, char **argv) {
  run_args a;
  int rc = run_args_parse("train", argc, argv, &a);
  if (rc == 1) train_usage(stdout);
  if (rc) {
    run_args_free(&a);
    return rc == 1 ? ELIGN_EXIT_OK : ELIGN_EXIT_USAGE;
  }
  elign_error err;
  elign_error_clear(&err);
  elign_config *cfg = NULL;
  train_options *o = elign_calloc(1, sizeof *o, "train:options");
  if (load_options(&a, &cfg, o, &err)) { /* every rank found it: rank 0 says it, before MPI starts */
    if (elign_launcher_rank() == 0) elign_error_print(&err);
    elign_config_free(&cfg);
    free(o);
    run_args_free(&a);
    return ELIGN_EXIT_FAIL;
  }
  run_signals_install(cfg);
  elign_runctx_options ro;
  elign_runctx_options_from_config(cfg, &ro);
  elign_runctx ctx;
  elign_oracle *oracle = NULL;
  elign_runctx_init(&ctx, &argc, &argv, &ro, &err);
  if (!elign_runctx_agree(&ctx, &err)) {
    const elign_world *w = &ctx.world;
    create_oracle(w, o, &oracle, &err);
    if (!elign_runctx_agree(&ctx, &err)) {
      if (w->is_oracle) {
        run_trace_start(cfg, o->run_dir, w->rank, "oracle", 0);
        serve(w, o, oracle, &err);
        elign_trace_finish();
      }
      else if (w->is_actor)
        train_run(w, o, cfg, &a.start, oracle, &err);
      elign_runctx_agree(&ctx, &err);
    }
  }
  elign_status st = err.status;
  elign_oracle_destroy(&oracle);
  elign_runctx_free(&ctx);
  elign_config_free(&cfg);
  free(o);
  run_args_free(&a);
  return st ? ELIGN_EXIT_FAIL : ELIGN_EXIT_OK;
}
