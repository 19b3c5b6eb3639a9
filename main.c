/* main.c — the `elign` program: the one table of subcommands and the
 * dispatcher. It sits outside libelign so that no library file points up
 * into the areas that implement the commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/commands.h"
#include "common/base/provenance.h"
#include "common/base/cli.h"
#include "common/base/log.h"
#include "common/base/launch_env.h"
#include "common/cmd/commands.h"
#include "learner/commands.h"
#include "oracle/commands.h"

typedef struct {
  const char *name;
  const char *summary; /* one line for `elign --help` */
  int (*main)(int argc, char **argv);
} elign_command;

static int version_main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  int dirty = elign_provenance_build_dirty();
  const char *core = elign_openblas_core(), *better = elign_openblas_better_core(core);
  printf("elign %s (git %s%s; OpenBLAS core %s, OMP_WAIT_POLICY %s)\n", ELIGN_VERSION,
         elign_provenance_build_commit(), dirty > 0 ? ", modified tree" : "", core,
         getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "unset");
  if (better) /* common/base/launch_env.h */
    printf("note: this CPU's vector units would take OpenBLAS core %s, faster for the weight gradients: "
           "OPENBLAS_CORETYPE=%s; see docs/performance.md\n", better, better);
  return ELIGN_EXIT_OK;
}


static const elign_command elign_commands[] = {
    {"version", "print the version", version_main},
    {"data", "import molecules (extended XYZ, QM9 tarball) into a dataset file", data_main},
    {"info", "describe an Elign-C HDF5 file (dataset, model, samples, oracle results)", info_main},
    {"config", "show, check or list configuration keys", config_main},
    {"denoise", "one network call on given latents: eps_hat, mu, sigma, zhat0 (parity checks)", denoise_main},
    {"sample", "sample molecules from a model (MPI-parallel; --guidance: oracle-guided) into a samples file", sample_main},
    {"relax", "diffusion relaxation: noise given structures to step s, denoise positions (types fixed)", relax_main},
    {"export", "write a samples file as XYZ and/or SDF", export_main},
    {"oracle", "energies and forces of molecules with an oracle backend", oracle_main},
    {"pretrain", "train an EDM base model on a dataset file (MPI data-parallel, resumable)", pretrain_main},
    {"train", "FED-GRPO post-training against an energy/force oracle (MPI: learner, actors, oracles)", train_main},
    {"trace", "summarize a run's run.trace timelines: busy / idle per role, the critical path", trace_main},
    {"eval", "score samples: stability, RDKit validity/uniqueness/novelty, oracle energies, relaxations", eval_main},
    {"report", "one self-contained HTML page: training curves, eval tables, CDFs, steps, 3D molecules", report_main},
    {NULL, NULL, NULL},
};

static void print_usage(FILE *out) {
  fprintf(out,
          "usage: elign <command> [options]\n"
          "\n"
          "Post-train E(3)-equivariant molecular diffusion models (EDM) against\n"
          "force-field physics with FED-GRPO. Commands:\n\n");
  for (const elign_command *c = elign_commands; c->name; c++) fprintf(out, "  %-10s %s\n", c->name, c->summary);
  fprintf(out,
          "\n`elign <command> --help` describes a command. Global options before the\n"
          "command: --verbose (debug log), --quiet (warnings and errors only).\n");
}

static int elign_cli_dispatch(int argc, char **argv) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (elign_cli_is_help(argv[i])) {
      print_usage(stdout);
      return ELIGN_EXIT_OK;
    } else if (strcmp(argv[i], "--verbose") == 0) {
      elign_log_set_level(ELIGN_LOG_DEBUG);
    } else if (strcmp(argv[i], "--quiet") == 0) {
      elign_log_set_level(ELIGN_LOG_WARN);
    } else if (strcmp(argv[i], "--version") == 0) {
      return version_main(0, NULL);
    } else {
      fprintf(stderr, "elign: unknown option '%s'\n\n", argv[i]);
      print_usage(stderr);
      return ELIGN_EXIT_USAGE;
    }
  }
  if (i >= argc) {
    print_usage(stderr);
    return ELIGN_EXIT_USAGE;
  }
  for (const elign_command *c = elign_commands; c->name; c++)
    if (strcmp(c->name, argv[i]) == 0) {
      elign_provenance_set_command(c->name);
      return c->main(argc - i, argv + i);
    }
  fprintf(stderr, "elign: unknown command '%s' (see `elign --help`)\n", argv[i]);
  return ELIGN_EXIT_USAGE;
}

int main(int argc, char **argv) {
  elign_launch_env_defaults(argv);
  return elign_cli_finish_stdout(elign_cli_dispatch(argc, argv));
}
