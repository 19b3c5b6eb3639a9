/* cmd_oracle.c — `elign oracle`: energies and forces of molecules from a file.
 *
 * The run context (common/mpi/runctx.h) with one actor: rank 0 (the learner)
 * reads the input and is the only client; under mpirun with S ranks the
 * other S-1 are oracle ranks running the batching server
 * (oracle/service/server.h), fed chunks of --batch molecules round-robin;
 * with one process the oracle is embedded. Both paths go through the same
 * client API (oracle/service/client.h); rank 0 prints the table and writes
 * the file. The world is always this one (ELIGN_RANKS_REST, no DFT ranks):
 * a config's mpi.oracle_ranks / mpi.dft_ranks describe a training run's
 * world and are not used here.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/base/cli.h"
#include "oracle/commands.h"
#include "common/base/config.h"
#include "common/io/dataset_io.h"
#include "common/io/importers.h"
#include "common/base/interrupt.h"
#include "common/base/log.h"
#include "common/base/outputs.h"
#include "common/base/parse.h"
#include "common/chem/molset.h"
#include "common/mpi/runctx.h"
#include "oracle/service/client.h"
#include "oracle/oracle.h"
#include "oracle/service/server.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: elign oracle --backend NAME --in MOLS [--out RESULTS.h5] [options]\n"
          "\n"
          "Evaluate energies (eV) and forces (eV/Å) of every molecule in MOLS with an\n"
          "oracle backend; print a table (index, formula, energy, max |F|, RMS F, status)\n"
          "and optionally write an HDF5 oracle_results file (energy, forces, status).\n"
          "\n"
          "  --config FILE           take oracle.* / dft.* settings from a config (flags win)\n"
          "  --set KEY=VALUE         override a config key (repeatable; needs --config)\n"
          "  --backend NAME          oracle backend (e.g. lj, ani, gfn2-xtb, gfn-ff, python);\n"
          "                          default: the config's oracle.backend\n"
          "  --in PATH               molecules: extended XYZ (.xyz, .xyz.gz), QM9 tarball, or an\n"
          "                          Elign-C dataset / samples file (.h5)\n"
          "  --out PATH              write results here (HDF5); omitted: table only\n"
          "  --force                 replace an existing --out file (never an input)\n"
          "  --batch N               molecules per oracle batch (as oracle.batch_size; default %ld)\n"
          "  --model-dir DIR         ANI: the model-zoo directory (holds resources/...)\n"
          "  --model NAME            ANI: ani-2x (default), ani-1x, ani-1ccx\n"
          "  --scratch DIR           per-rank scratch directory (xtb, DFT)\n"
          "  --python-module M       python backend: module name\n"
          "  --python-function F     python backend: function name\n"
          "  --python-path DIR       python backend: extra sys.path entry\n"
          "  --min-distance D        Å: closer atom pairs are flagged 'overlap' (0 = backend default)\n"
          "  --no-table              do not print the per-molecule table\n"
          "  --timeout S             mpi.timeout: seconds to wait for another rank (a reply, a\n"
          "                          request) before ending the job naming it (default %g)\n"
          "\n"
          "Under mpirun -np S (S >= 2), rank 0 reads and distributes and ranks 1..S-1\n"
          "serve as oracle ranks; with one process the oracle runs in-process.\n",
          elign_config_default_int("oracle.batch_size"), ELIGN_MPI_TIMEOUT_DEFAULT);
}

#define ORACLE_MAX_SETS 64

typedef struct {
  const char *backend, *in, *out;
  int batch;
  int table;
  elign_oracle_options opt;
  const char *config;                  /* --config FILE, or NULL */
  const char *sets[ORACLE_MAX_SETS];   /* --set KEY=VALUE */
  int n_sets;
  int batch_given, min_distance_given; /* flags beat the config */
  int force;                           /* --force: replace an existing --out */
  double timeout;                      /* --timeout / mpi.timeout, s; 0 = default */
} oracle_args;

/* 0 ok, 1 help shown, 2 usage error (message printed on rank 0 only). */
static int parse_args(int argc, char **argv, oracle_args *a, int verbose) {
  memset(a, 0, sizeof *a);
  a->batch = (int)elign_config_default_int("oracle.batch_size");
  a->table = 1;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (elign_cli_is_help(k)) {
      if (verbose) usage(stdout);
      return 1;
    }
    if (strcmp(k, "--no-table") == 0) {
      a->table = 0;
      continue;
    }
    if (strcmp(k, "--force") == 0) {
      a->force = 1;
      continue;
    }
    if (strcmp(k, "--set") == 0 && a->n_sets == ORACLE_MAX_SETS) {
      if (verbose) fprintf(stderr, "elign oracle: more than %d --set options\n", ORACLE_MAX_SETS);
      return 2;
    }
    const char **slot = strcmp(k, "--backend") == 0           ? &a->backend
                        : strcmp(k, "--config") == 0          ? &a->config
                        : strcmp(k, "--set") == 0             ? &a->sets[a->n_sets++]
                        : strcmp(k, "--in") == 0              ? &a->in
                        : strcmp(k, "--out") == 0             ? &a->out
                        : strcmp(k, "--model-dir") == 0       ? &a->opt.model_dir
                        : strcmp(k, "--model") == 0           ? &a->opt.model
                        : strcmp(k, "--scratch") == 0         ? &a->opt.scratch_dir
                        : strcmp(k, "--python-module") == 0   ? &a->opt.python_module
                        : strcmp(k, "--python-function") == 0 ? &a->opt.python_function
                        : strcmp(k, "--python-path") == 0     ? &a->opt.python_path
                                                              : NULL;
    int is_number = strcmp(k, "--batch") == 0 || strcmp(k, "--min-distance") == 0 || strcmp(k, "--timeout") == 0;
    if (!slot && !is_number) {
      if (verbose) fprintf(stderr, "elign oracle: unknown option '%s' (see `elign oracle --help`)\n", k);
      return 2;
    }
    if (i + 1 >= argc) {
      if (verbose) fprintf(stderr, "elign oracle: %s needs a value\n", k);
      return 2;
    }
    const char *v = argv[++i];
    if (slot) {
      *slot = v;
      continue;
    }
    elign_error perr;
    elign_error_clear(&perr);
    if (strcmp(k, "--batch") == 0     ? elign_parse_int(v, 1, 10000000, k, &a->batch, &perr)
        : strcmp(k, "--timeout") == 0 ? elign_parse_real(v, 1e-3, 1e9, k, &a->timeout, &perr)
                                      : elign_parse_real(v, -1e6, 1e6, k, &a->opt.min_distance, &perr)) {
      if (verbose) fprintf(stderr, "elign oracle: %s\n", perr.msg);
      return 2;
    }
    if (strcmp(k, "--batch") == 0) a->batch_given = 1;
    else if (strcmp(k, "--min-distance") == 0) a->min_distance_given = 1;
  }
  if (a->n_sets > 0 && !a->config) {
    if (verbose) fprintf(stderr, "elign oracle: --set needs --config FILE\n");
    return 2;
  }
  if ((!a->backend && !a->config) || !a->in) {
    if (verbose)
      fprintf(stderr, "elign oracle: --in and one of --backend or --config are required (see `elign oracle --help`)\n");
    return 2;
  }
  return 0;
}

/* Send every molecule through the client in chunks of `batch`, keeping at
 * most `window` requests in flight; results land in s->energy / s->forces. */
static elign_status evaluate_all(elign_oracle_client *c, elign_molset *s, int32_t *status, int batch, int window,
                                 elign_error *err) {
  int64_t n_chunks = (s->n_mol + batch - 1) / batch;
  uint64_t *ids = elign_malloc((size_t)n_chunks * sizeof *ids + 1, "cmd_oracle:ids");
  int64_t *off = elign_malloc((size_t)(batch + 1) * sizeof *off, "cmd_oracle:chunk_off");
  elign_mol_status *st = elign_malloc((size_t)batch * sizeof *st, "cmd_oracle:chunk_status");
  elign_status rc = ELIGN_OK;
  int64_t waited = 0;
  elign_progress progress;
  elign_progress_start(&progress, "oracle (molecules)", (long long)s->n_mol, 10.0);
  for (int64_t k = 0; k <= n_chunks && rc == ELIGN_OK; k++) {
    /* wait for the oldest chunk when the window is full or everything is sent */
    while (rc == ELIGN_OK && waited < k && (k - waited >= window || k == n_chunks)) {
      int64_t m0 = waited * batch, n = s->n_mol - m0 < batch ? s->n_mol - m0 : batch;
      elign_oracle_result res = {.energy = s->energy + m0, .forces = s->forces + 3 * s->offsets[m0], .status = st};
      rc = elign_oracle_client_wait(c, ids[waited], &res, err);
      for (int64_t i = 0; i < n; i++) status[m0 + i] = (int32_t)st[i];
      waited++;
      elign_progress_update(&progress, (long long)(m0 + n));
    }
    if (k == n_chunks || rc != ELIGN_OK) break;
    int64_t m0 = k * batch, n = s->n_mol - m0 < batch ? s->n_mol - m0 : batch, a0 = s->offsets[m0];
    for (int64_t i = 0; i <= n; i++) off[i] = s->offsets[m0 + i] - a0;
    elign_oracle_batch b = {.n_mol = n, .offsets = off, .Z = s->Z + a0, .pos = s->pos + 3 * a0};
    rc = elign_oracle_client_submit(c, &b, 1, &ids[k], err);
  }
  free(ids);
  free(off);
  free(st);
  return rc;
}

static void print_table(const elign_molset *s, const int32_t *status) {
  printf("%6s  %-16s %16s %14s %14s  %s\n", "index", "formula", "energy/eV", "max|F|/eV/Å", "rms F/eV/Å", "status");
  for (int64_t m = 0; m < s->n_mol; m++) {
    char formula[64];
    elign_molset_formula(s, m, formula, sizeof formula);
    int64_t a0 = s->offsets[m], n = s->offsets[m + 1] - a0;
    double fmax = 0, sum2 = 0;
    for (int64_t i = 0; i < n; i++) {
      const double *f = s->forces + 3 * (a0 + i);
      double f2 = f[0] * f[0] + f[1] * f[1] + f[2] * f[2];
      sum2 += f2;
      if (sqrt(f2) > fmax) fmax = sqrt(f2);
    }
    double rms = n ? sqrt(sum2 / (3.0 * (double)n)) : 0.0; /* RMS over the 3N force components */
    if (status[m] == ELIGN_MOL_OK)
      printf("%6lld  %-16s %16.6f %14.6f %14.6f  %s\n", (long long)m, formula, s->energy[m], fmax, rms,
             elign_mol_status_string((elign_mol_status)status[m]));
    else
      printf("%6lld  %-16s %16s %14s %14s  %s\n", (long long)m, formula, "-", "-", "-",
             elign_mol_status_string((elign_mol_status)status[m]));
  }
}

/* Settings from --config (+ --set) where no flag gave them. */
static elign_status apply_config(oracle_args *a, elign_config **cfg, elign_error *err) {
  elign_status st = elign_config_load(a->config, a->sets, a->n_sets, cfg, err);
  if (st != ELIGN_OK) return st;
  elign_oracle_options from_cfg;
  elign_oracle_options_from_config(*cfg, &from_cfg);
  elign_oracle_options_apply_flags(&from_cfg, &a->opt, a->min_distance_given);
  a->opt = from_cfg;
  if (!a->backend) a->backend = elign_config_get_string(*cfg, "oracle.backend");
  if (!a->batch_given) a->batch = (int)elign_config_get_int(*cfg, "oracle.batch_size");
  if (a->timeout <= 0) a->timeout = elign_config_get_double(*cfg, "mpi.timeout");
  return ELIGN_OK;
}

static int oracle_run(oracle_args *args, int *argc, char ***argv);

int oracle_main(int argc, char **argv) {
  oracle_args a;
  int usage_rc = parse_args(argc, argv, &a, elign_launcher_rank() == 0);
  if (usage_rc == 1) return ELIGN_EXIT_OK;
  if (usage_rc == 2) return ELIGN_EXIT_USAGE;

  elign_error err;
  elign_error_clear(&err);
  elign_config *cfg = NULL; /* owns the strings the options point to: freed at exit */
  if (a.config && apply_config(&a, &cfg, &err) != ELIGN_OK) {
    if (elign_launcher_rank() == 0) elign_error_print(&err);
    return ELIGN_EXIT_FAIL;
  }
  int rc = oracle_run(&a, &argc, &argv);
  elign_config_free(&cfg);
  return rc;
}

/* In-process when alone, else on the oracle ranks only (rank 0 never
 * evaluates, so it does not load a model, but it names an unknown backend
 * once, without a rank prefix). */
static void create_oracle(const elign_world *w, oracle_args *a, elign_oracle **oracle, elign_error *err) {
  a->opt.rank = w->rank;
  if (w->embedded_oracle || w->is_oracle)
    elign_oracle_create(a->backend, &a->opt, oracle, err);
  else if (!elign_oracle_backend_find(a->backend))
    ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "unknown oracle backend '%s' (valid: %s)", a->backend,
               elign_oracle_backend_names());
}

/* Rank 0: evaluate through the client, print, write. */
static elign_status run_client(const elign_runctx *ctx, const oracle_args *a, elign_oracle *oracle,
                               elign_molset *mols, elign_error *err) {
  const elign_world *w = &ctx->world;
  elign_oracle_client *client = NULL;
  if (w->embedded_oracle)
    elign_oracle_client_create_embedded(oracle, a->batch, &client, err);
  else /* the one actor feeds every oracle rank */
    elign_oracle_client_create_mpi(w->comm, w->oracle_ranks, w->n_oracles, &client, err);
  elign_oracle_client_set_timeout(client, ctx->timeout_s);
  elign_free(mols->energy); /* a dataset's stored reference values are not ours */
  elign_free(mols->forces);
  mols->energy = elign_calloc((size_t)mols->n_mol, sizeof *mols->energy, "cmd_oracle:energy");
  mols->forces = elign_calloc(3 * (size_t)mols->n_atoms, sizeof *mols->forces, "cmd_oracle:forces");
  int32_t *status = elign_calloc((size_t)mols->n_mol, sizeof *status, "cmd_oracle:status");
  char doing[300], kept[300];
  snprintf(doing, sizeof doing, "evaluating %lld molecules with '%s'", (long long)mols->n_mol, a->backend);
  elign_interrupt_doing(doing, "no results written; inputs untouched");
  double t0 = elign_wtime();
  elign_status st = evaluate_all(client, mols, status, a->batch, w->embedded_oracle ? 1 : 2 * w->n_oracles, err);
  double dt = elign_wtime() - t0;
  if (st == ELIGN_ERR_TIMEOUT) elign_world_fail_one(err); /* an oracle rank is silent: nobody can end cleanly */
  elign_error done_err;
  elign_oracle_client_done(client, &done_err); /* always: the servers wait for it */
  elign_oracle_client_destroy(&client);
  if (st == ELIGN_OK) {
    if (a->table) print_table(mols, status);
    int64_t n_ok = 0;
    for (int64_t m = 0; m < mols->n_mol; m++) n_ok += status[m] == ELIGN_MOL_OK;
    elign_info("%s: %lld molecules (%lld ok, %lld flagged) with '%s' in %.3f s on %s", a->in, (long long)mols->n_mol,
               (long long)n_ok, (long long)(mols->n_mol - n_ok), a->backend, dt,
               w->embedded_oracle ? "this process" : "oracle ranks");
  }
  if (st == ELIGN_OK && a->out) {
    snprintf(doing, sizeof doing, "writing %s", a->out);
    snprintf(kept, sizeof kept, "%s not written (its temporary removed); inputs untouched", a->out);
    elign_interrupt_doing(doing, kept);
    st = elign_oracle_results_write(a->out, mols, status, a->backend, err);
    if (st == ELIGN_OK) elign_info("wrote %s", a->out);
  }
  elign_free(status);
  return st;
}

static int oracle_run(oracle_args *args, int *argc, char ***argv) {
  oracle_args a = *args;
  elign_error err;
  elign_error_clear(&err);
  elign_runctx_options ro = {.oracle_ranks = ELIGN_RANKS_REST, .dft_ranks = 0, .timeout_s = a.timeout};
  elign_runctx ctx;
  elign_dataset ds;
  elign_dataset_init(&ds);
  elign_oracle *oracle = NULL;
  int rc = ELIGN_EXIT_FAIL;
  const elign_world *w = &ctx.world;

  /* 1. the world; rank 0 reads; everyone learns whether that worked */
  elign_interrupt_install("oracle"); /* before MPI starts: a signal then already says what it stopped */
  elign_interrupt_doing("starting", "nothing written; inputs untouched");
  elign_status init = elign_runctx_init(&ctx, argc, argv, &ro, &err);
  elign_interrupt_doing("reading the molecules", "nothing written; inputs untouched");
  if (init == ELIGN_OK && w->is_learner) {
    elign_file_arg outs[] = {{a.out, "--out"}}, ins[] = {{a.in, "--in"}, {a.config, "--config"}};
    if (elign_outputs_check(outs, 1, ins, 2, a.force, &err) == ELIGN_OK) elign_read_molecules(a.in, "--in", &ds, &err);
  }
  if (elign_runctx_agree(&ctx, &err)) goto out;
  /* 2. the oracle, failures agreed on */
  create_oracle(w, &a, &oracle, &err);
  if (elign_runctx_agree(&ctx, &err)) goto out;
  /* 3. oracle ranks serve until rank 0 is done; rank 0 evaluates */
  if (w->is_oracle) {
    static const int client_rank[1] = {0}; /* rank 0 is the one actor */
    elign_oracle_server_options so = {
        .batch_size = a.batch, .n_clients = 1, .timeout_s = ctx.timeout_s, .clients = client_rank};
    elign_oracle_server_stats stats;
    elign_status st = elign_oracle_server_run(oracle, w->comm, &so, &stats, &err);
    if (st == ELIGN_ERR_TIMEOUT) elign_world_fail_one(&err); /* rank 0 is silent: end the job from here */
    rc = st == ELIGN_OK ? ELIGN_EXIT_OK : elign_cli_fail(&err);
    if (rc == ELIGN_EXIT_OK) elign_oracle_server_stats_log(&stats, a.batch);
    goto out;
  }
  rc = run_client(&ctx, &a, oracle, &ds.mols, &err) == ELIGN_OK ? ELIGN_EXIT_OK : elign_cli_fail(&err);

out:
  elign_oracle_destroy(&oracle);
  elign_dataset_free(&ds);
  elign_runctx_free(&ctx);
  return rc;
}
