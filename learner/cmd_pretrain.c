/* cmd_pretrain.c — `elign pretrain CONFIG [--set k=v]... [--resume RUN] [--force]`:
 * argument parsing, the MPI world, then learner/pretrain.c does the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/cli.h"
#include "common/base/config.h"
#include "common/base/log.h"
#include "common/mpi/roles.h"
#include "learner/commands.h"
#include "learner/pretrain.h"
#include "learner/run_dir.h"

static void pretrain_usage(FILE *f) {
  fprintf(f,
          "usage: elign pretrain CONFIG [--set KEY=VALUE]... [--resume RUN_DIR | --resume-if-exists]\n"
          "                      [--force] [--stop-after N]\n"
          "\n"
          "Train an EDM base model (EGNN denoiser, the EDM loss with its t = 0 terms) on the\n"
          "train split of the dataset file data.path; validation loss on data.val_split.\n"
          "AdamW with AMSGrad, EDM's adaptive gradient clipping, EMA of the weights.\n"
          "Keys: pretrain.* (docs/config.md), run.dir for the run directory.\n"
          "\n"
          "Under mpirun the ranks share every batch (data-parallel); 1, 2, 4 ... ranks\n"
          "give bitwise the same checkpoints (same threads per rank).\n"
          "\n"
          "  RUN/config.yaml, RUN/metrics.jsonl, RUN/checkpoints/step_<n>.h5 (training state),\n"
          "  RUN/model.h5 (EMA weights: `elign sample --model RUN/model.h5`)\n"
          "\n"
          "  --set KEY=VALUE   override a config key (repeatable)\n"
          "  --resume RUN_DIR  continue RUN_DIR from its newest checkpoint (bitwise the\n"
          "                    same as a run never interrupted); RUN_DIR is the run directory\n"
          "  --resume-if-exists  resume run.dir if it holds a checkpoint, else start it: the\n"
          "                    same command line starts a batch job and continues it when\n"
          "                    it is requeued (slurm/README.md)\n"
          "  --force           start over in a non-empty run directory (deletes its\n"
          "                    checkpoints, model.h5, metrics.jsonl and config.yaml)\n"
          "  --stop-after N    stop with a checkpoint after N steps of this invocation\n"
          "\n"
          "Signals: SIGTERM, SIGINT, SIGUSR2 and SIGUSR1 (what SLURM sends before a time\n"
          "limit or preemption) let every rank finish its step; rank 0 writes a checkpoint\n"
          "and the job exits 0. With run.sigusr1: checkpoint, SIGUSR1 writes a checkpoint\n"
          "and the run continues. Under mpirun send SIGUSR2 or SIGUSR1 to mpirun (it\n"
          "forwards those; on SIGTERM it kills the ranks at once).\n");
}

/* Config → options (the same outcome on every rank). */
static elign_status load_options(run_args *a, elign_config **cfg, pretrain_options *o, elign_error *err) {
  elign_status st = elign_config_load_for("pretrain", a->config, a->sets, a->n_sets, cfg, err);
  if (!st) st = pretrain_options_from_config(*cfg, o, err);
  if (!st && a->start.resume_dir) snprintf(o->run_dir, sizeof o->run_dir, "%s", a->start.resume_dir);
  if (!st) run_start_resolve(&a->start, o->run_dir, "step_"); /* pretrain.c's checkpoint prefix */
  return st;
}

int pretrain_main(int argc, char **argv) {
  run_args a;
  int rc = run_args_parse("pretrain", argc, argv, &a);
  if (rc == 1) pretrain_usage(stdout);
  if (rc) {
    run_args_free(&a);
    return rc == 1 ? ELIGN_EXIT_OK : ELIGN_EXIT_USAGE;
  }
  elign_error err;
  elign_error_clear(&err);
  if (elign_mpi_init(&argc, &argv, &err)) {
    run_args_free(&a);
    return elign_cli_fail(&err);
  }
  elign_config *cfg = NULL;
  pretrain_options *o = elign_calloc(1, sizeof *o, "pretrain:options");
  elign_world w;
  memset(&w, 0, sizeof w);
  int have_world = 0;
  elign_status st = load_options(&a, &cfg, o, &err);
  if (!st) run_signals_install(cfg);
  /* Pretraining needs no oracle or DFT ranks: every rank is a learner-group rank. */
  if (!st) st = elign_world_init(&w, MPI_COMM_WORLD, 0, 0, &err);
  if (!st) have_world = 1;
  if (!st) st = pretrain_run(w.actors, o, cfg, &a.start, &err);
  if (st) elign_world_fail_all(have_world ? &w : NULL, &err);
  if (have_world) elign_world_free(&w);
  elign_config_free(&cfg);
  free(o);
  run_args_free(&a);
  elign_mpi_finalize();
  return st ? ELIGN_EXIT_FAIL : ELIGN_EXIT_OK;
}
