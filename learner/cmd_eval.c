/* cmd_eval.c — `elign eval`: stability, RDKit metrics, oracle energies,
 * forces and relaxations of generated molecules; seeds averaged; a baseline
 * side by side. The metrics themselves are in eval.c (docs/eval.md).
 *
 * The run context (common/mpi/runctx.h) as `elign oracle` uses it: rank 0
 * reads every input, computes the chemistry, drives the oracle work through
 * the client and writes everything; under mpirun with S ranks, ranks 1..S-1
 * are oracle ranks serving one backend after the other (one server run per
 * --oracle); alone, the oracles run in-process. Results depend on the chunk
 * size (--batch) only, never on the rank count (oracle/relax.h).
 *
 * Resumption: every finished chunk of every section is in the file's journal
 * under --run-dir before the next one is reported; running the same command
 * again evaluates only what is missing (eval_journal.c).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base/cli.h"
#include "common/base/config.h"
#include "common/base/log.h"
#include "common/base/outputs.h"
#include "common/base/parse.h"
#include "common/chem/elements.h"
#include "common/chem/rdkit_metrics.h"
#include "common/chem/stability.h"
#include "common/mpi/runctx.h"
#include "learner/commands.h"
#include "learner/eval.h"
#include "oracle/backends/dft_pool.h"
#include "oracle/oracle.h"
#include "oracle/relax.h"
#include "oracle/service/client.h"
#include "oracle/service/server.h"

#define EVAL_MAX_FILES 64
#define EVAL_MAX_SETS 64

static void usage(FILE *out) {
  fprintf(out,
          "usage: elign eval SAMPLES.h5 [SAMPLES2.h5 ...] [--ref BASE.h5]... [--dataset D.h5]\n"
          "                  [--oracle NAME]... [--relax] [--out E.json] [--table T.csv] [options]\n"
          "\n"
          "Score generated molecules: EDM's atom / molecule stability, RDKit validity,\n"
          "uniqueness, novelty and connectivity; with --oracle, energy and forces under each\n"
          "backend; with --relax, a local relaxation per molecule and backend (strain energy,\n"
          "Kabsch RMSD, steps, residual force). Several SAMPLES files are seeds of one model:\n"
          "the summary gives each file, their mean and their spread. --ref files (repeatable)\n"
          "are the baseline, printed side by side with the differences. Definitions:\n"
          "docs/eval.md.\n"
          "\n"
          "Inputs: samples files, or dataset files (all molecules, or --split NAME).\n"
          "  --ref FILE              baseline samples (repeatable: its seeds)\n"
          "  --dataset D.h5          novelty against the whole-molecule SMILES of D's train split\n"
          "                          (computed once, kept in the run directory)\n"
          "  --train-split NAME      that split (default train)\n"
          "  --train-smiles LIST     novelty against a list (tools/train_smiles.py) instead\n"
          "  --split NAME            evaluate only this split of dataset inputs\n"
          "  --rule auto|qm9|geom    bond rule (default auto: QM9 when every atom is H C N O F)\n"
          "Oracles:\n"
          "  --oracle NAME           backend (repeatable): lj, ani, gfn2-xtb, gfn-ff, python, dft;\n"
          "                          or an ANI model (ani-2x, ani-1x, ani-1ccx), ani:MODEL, python:FUNCTION\n"
          "  --config FILE           oracle.* settings from a config (flags win); without --oracle\n"
          "                          its oracle.backend\n"
          "  --set KEY=VALUE         override a config key (repeatable; needs --config)\n"
          "  --model-dir DIR --model NAME --scratch DIR --min-distance D\n"
          "  --python-module M --python-function F --python-path DIR   as in `elign oracle`\n"
          "  --batch N               molecules per oracle request and per journal record\n"
          "                          (oracle.batch_size, default %ld); results depend on it\n"
          "Relaxation:\n"
          "  --relax                 relax every molecule with every oracle\n"
          "  --optimizer lbfgs|fire  (default lbfgs)   --fmax F   eV/Å (default 0.03)\n"
          "  --max-steps N           (default 500)     --max-step A  Å per atom and step (default 0.2)\n"
          "DFT check (formation energy per atom and force RMS; with --ref the CDFs and a KS test):\n"
          "  --dft N                 send N molecules of every file to DFT (the first N, or\n"
          "  --dft-seed S            a seeded choice of N)\n"
          "  --dft-method M --dft-basis B   (dft.method, dft.basis: b3lyp, 6-31g(d))\n"
          "  --dft-program psi4|pyscf       (dft.backend)   --dft-time-limit T  s per molecule (dft.time_limit, 600)\n"
          "  --dft-ranks D           the last D ranks serve DFT only (default 0: the oracle ranks\n"
          "                          serve it after the oracles; alone: in-process)\n"
          "Outputs:\n"
          "  --out E.json            the summary        --table T.csv  one row per molecule\n"
          "  --run-dir DIR           journals for resuming (default: E.json.d, T.csv.d or eval.d)\n"
          "  --restart               forget the journals: evaluate everything again\n"
          "  --force                 replace existing --out / --table files\n"
          "  --no-print              do not print the side-by-side table\n"
          "\n"
          "Under mpirun -np S (S >= 2), rank 0 reads, scores and writes while ranks 1..S-1 serve\n"
          "the oracles. Exit status 1 when an input file could not be read (the others are\n"
          "still evaluated and the summary names it).\n",
          elign_config_default_int("oracle.batch_size"));
}

typedef struct {
  const char *inputs[EVAL_MAX_FILES];
  int n_inputs;
  const char *refs[EVAL_MAX_FILES];
  int n_refs;
  const char *dataset, *train_split, *train_smiles, *split, *rule;
  const char *oracles[EVAL_MAX_BACKENDS];
  elign_oracle_spec specs[EVAL_MAX_BACKENDS]; /* oracles[] parsed: backend + ANI model / Python function */
  int n_oracles;
  int relax;
  const char *optimizer;
  double fmax, max_step;
  int max_steps;
  const char *out, *table, *run_dir;
  int force, restart, print;
  int batch, batch_given, min_distance_given;
  int64_t dft_n, dft_seed;
  int dft_seeded, dft_ranks;
  const char *dft_method, *dft_basis, *dft_program;
  double dft_time_limit;
  int dft_time_limit_given;
  elign_oracle_options opt;
  const char *config;
  const char *sets[EVAL_MAX_SETS];
  int n_sets;
  char run_dir_buf[4096];
} eval_args;

static int number(const char *cmd_opt, const char *v, double lo, double hi, int integer, double *out, int verbose) {
  elign_error err = {0};
  int64_t i = 0;
  elign_status st = integer ? elign_parse_i64(v, (int64_t)lo, (int64_t)hi, cmd_opt, &i, &err)
                            : elign_parse_real(v, lo, hi, cmd_opt, out, &err);
  if (st != ELIGN_OK) {
    if (verbose) fprintf(stderr, "elign eval: %s\n", err.msg);
    return 0;
  }
  if (integer) *out = (double)i;
  return 1;
}

/* 0 ok, 1 help shown, 2 usage error (printed on rank 0 only). */
static int parse_args(int argc, char **argv, eval_args *a, int verbose) {
  memset(a, 0, sizeof *a);
  a->batch = (int)elign_config_default_int("oracle.batch_size");
  a->train_split = "train";
  a->rule = "auto";
  a->optimizer = "lbfgs";
  a->print = 1;
  { /* the schema's dft.time_limit: every molecule in a child process killed on time (the adapter) */
    const elign_config_key *key = elign_config_find_key("dft.time_limit");
    elign_error e = {0};
    if (!key || elign_parse_real(key->def, 0, 1e9, "dft.time_limit", &a->dft_time_limit, &e) != ELIGN_OK)
      a->dft_time_limit = 600.0;
  }
  elign_geomopt_options d;
  elign_geomopt_options_default(&d, ELIGN_GEOMOPT_LBFGS);
  a->fmax = d.fmax;
  a->max_steps = d.max_steps;
  a->max_step = d.max_step;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (elign_cli_is_help(k)) {
      if (verbose) usage(stdout);
      return 1;
    }
    int *flag = strcmp(k, "--relax") == 0      ? &a->relax
                : strcmp(k, "--force") == 0    ? &a->force
                : strcmp(k, "--restart") == 0  ? &a->restart
                                               : NULL;
    if (flag) {
      *flag = 1;
      continue;
    }
    if (strcmp(k, "--no-print") == 0) {
      a->print = 0;
      continue;
    }
    if (k[0] != '-') {
      if (a->n_inputs == EVAL_MAX_FILES) {
        if (verbose) fprintf(stderr, "elign eval: more than %d input files\n", EVAL_MAX_FILES);
        return 2;
      }
      a->inputs[a->n_inputs++] = k;
      continue;
    }
    if (i + 1 >= argc) {
      if (verbose) fprintf(stderr, "elign eval: %s needs a value (see `elign eval --help`)\n", k);
      return 2;
    }
    const char *v = argv[++i];
    int full = (strcmp(k, "--ref") == 0 && a->n_refs == EVAL_MAX_FILES) ||
               (strcmp(k, "--oracle") == 0 && a->n_oracles == EVAL_MAX_BACKENDS) ||
               (strcmp(k, "--set") == 0 && a->n_sets == EVAL_MAX_SETS);
    if (full) {
      if (verbose) fprintf(stderr, "elign eval: too many %s options\n", k);
      return 2;
    }
    const char **slot = strcmp(k, "--ref") == 0               ? &a->refs[a->n_refs++]
                        : strcmp(k, "--oracle") == 0          ? &a->oracles[a->n_oracles++]
                        : strcmp(k, "--set") == 0             ? &a->sets[a->n_sets++]
                        : strcmp(k, "--config") == 0          ? &a->config
                        : strcmp(k, "--dataset") == 0         ? &a->dataset
                        : strcmp(k, "--train-split") == 0     ? &a->train_split
                        : strcmp(k, "--train-smiles") == 0    ? &a->train_smiles
                        : strcmp(k, "--split") == 0           ? &a->split
                        : strcmp(k, "--rule") == 0            ? &a->rule
                        : strcmp(k, "--optimizer") == 0       ? &a->optimizer
                        : strcmp(k, "--out") == 0             ? &a->out
                        : strcmp(k, "--table") == 0           ? &a->table
                        : strcmp(k, "--run-dir") == 0         ? &a->run_dir
                        : strcmp(k, "--model-dir") == 0       ? &a->opt.model_dir
                        : strcmp(k, "--model") == 0           ? &a->opt.model
                        : strcmp(k, "--scratch") == 0         ? &a->opt.scratch_dir
                        : strcmp(k, "--python-module") == 0   ? &a->opt.python_module
                        : strcmp(k, "--python-function") == 0 ? &a->opt.python_function
                        : strcmp(k, "--python-path") == 0     ? &a->opt.python_path
                        : strcmp(k, "--dft-method") == 0      ? &a->dft_method
                        : strcmp(k, "--dft-basis") == 0       ? &a->dft_basis
                        : strcmp(k, "--dft-program") == 0     ? &a->dft_program
                                                              : NULL;
    if (slot) {
      *slot = v;
      continue;
    }
    double x;
    if (strcmp(k, "--batch") == 0) {
      if (!number(k, v, 1, 1e6, 1, &x, verbose)) return 2;
      a->batch = (int)x;
      a->batch_given = 1;
    } else if (strcmp(k, "--fmax") == 0) {
      if (!number(k, v, 1e-8, 1e3, 0, &x, verbose) || x <= 0) return 2;
      a->fmax = x;
    } else if (strcmp(k, "--max-steps") == 0) {
      if (!number(k, v, 0, 1e7, 1, &x, verbose)) return 2;
      a->max_steps = (int)x;
    } else if (strcmp(k, "--max-step") == 0) {
      if (!number(k, v, 1e-6, 10, 0, &x, verbose)) return 2;
      a->max_step = x;
    } else if (strcmp(k, "--dft") == 0) {
      if (!number(k, v, 0, 1e9, 1, &x, verbose)) return 2;
      a->dft_n = (int64_t)x;
    } else if (strcmp(k, "--dft-seed") == 0) {
      if (!number(k, v, 0, 9.007199254740992e15, 1, &x, verbose)) return 2;
      a->dft_seed = (int64_t)x;
      a->dft_seeded = 1;
    } else if (strcmp(k, "--dft-ranks") == 0) {
      if (!number(k, v, 0, 4096, 1, &x, verbose)) return 2;
      a->dft_ranks = (int)x;
    } else if (strcmp(k, "--dft-time-limit") == 0) {
      if (!number(k, v, 0, 1e9, 0, &x, verbose)) return 2;
      a->dft_time_limit = x;
      a->dft_time_limit_given = 1;
    } else if (strcmp(k, "--min-distance") == 0) {
      if (!number(k, v, -1e3, 1e3, 0, &x, verbose)) return 2;
      a->opt.min_distance = x;
      a->min_distance_given = 1;
    } else {
      if (verbose) fprintf(stderr, "elign eval: unknown option '%s' (see `elign eval --help`)\n", k);
      return 2;
    }
  }
  const char *why = a->n_inputs == 0                                  ? "give at least one samples file"
                    : a->n_sets > 0 && !a->config                     ? "--set needs --config FILE"
                    : a->dataset && a->train_smiles                   ? "--dataset and --train-smiles exclude each other"
                    : elign_geomopt_method_parse(a->optimizer) < 0    ? "--optimizer: want lbfgs or fire"
                    : strcmp(a->rule, "auto") && strcmp(a->rule, "qm9") && strcmp(a->rule, "geom")
                        ? "--rule: want auto, qm9 or geom"
                    : a->relax && a->n_oracles == 0 && !a->config     ? "--relax needs an --oracle"
                    : a->dft_program && strcmp(a->dft_program, "psi4") && strcmp(a->dft_program, "pyscf")
                        ? "--dft-program: want psi4 or pyscf"
                    : a->dft_n == 0 && (a->dft_seeded || a->dft_ranks || a->dft_method || a->dft_basis ||
                                        a->dft_program || a->dft_time_limit_given)
                        ? "the --dft-* options need --dft N"
                                                                      : NULL;
  if (why) {
    if (verbose) fprintf(stderr, "elign eval: %s (see `elign eval --help`)\n", why);
    return 2;
  }
  for (int b = 0; b < a->n_oracles; b++) {
    elign_error serr = {0};
    if (elign_oracle_spec_parse(a->oracles[b], "--oracle", &a->specs[b], &serr) != ELIGN_OK) {
      if (verbose) fprintf(stderr, "elign eval: %s\n", serr.msg);
      return 2;
    }
    for (int c = 0; c < b; c++)
      if (strcmp(a->oracles[b], a->oracles[c]) == 0) {
        if (verbose) fprintf(stderr, "elign eval: --oracle %s given twice\n", a->oracles[b]);
        return 2;
      }
  }
  elign_file_arg outs[] = {{a->out, "--out"}, {a->table, "--table"}};
  elign_file_arg ins[EVAL_MAX_FILES * 2 + 2];
  int n_ins = 0;
  for (int i = 0; i < a->n_inputs; i++) ins[n_ins++] = (elign_file_arg){a->inputs[i], "SAMPLES"};
  for (int i = 0; i < a->n_refs; i++) ins[n_ins++] = (elign_file_arg){a->refs[i], "--ref"};
  ins[n_ins++] = (elign_file_arg){a->dataset, "--dataset"};
  ins[n_ins++] = (elign_file_arg){a->train_smiles, "--train-smiles"};
  elign_error err = {0};
  if (elign_outputs_check(outs, 2, ins, n_ins, a->force, &err) != ELIGN_OK) {
    if (verbose) elign_error_print(&err);
    return 2;
  }
  if (!a->run_dir) {
    const char *base = a->out ? a->out : a->table;
    if (base)
      snprintf(a->run_dir_buf, sizeof a->run_dir_buf, "%s.d", base);
    else
      snprintf(a->run_dir_buf, sizeof a->run_dir_buf, "eval.d");
    a->run_dir = a->run_dir_buf;
  }
  return 0;
}

/* Settings from --config (+ --set) where no flag gave them (as `elign oracle`). */
static elign_status apply_config(eval_args *a, elign_config **cfg, elign_error *err) {
  elign_status st = elign_config_load(a->config, a->sets, a->n_sets, cfg, err);
  if (st != ELIGN_OK) return st;
  elign_oracle_options from_cfg;
  elign_oracle_options_from_config(*cfg, &from_cfg);
  elign_oracle_options_apply_flags(&from_cfg, &a->opt, a->min_distance_given);
  a->opt = from_cfg;
  if (a->n_oracles == 0) {
    a->oracles[a->n_oracles++] = elign_config_get_string(*cfg, "oracle.backend");
    if (!elign_oracle_backend_find(a->oracles[0]))
      return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "%s: oracle.backend '%s' is not a backend (valid: %s)", a->config,
                        a->oracles[0], elign_oracle_backend_names());
    elign_status st = elign_oracle_spec_parse(a->oracles[0], "oracle.backend", &a->specs[0], err);
    if (st) return st;
  }
  if (!a->batch_given) a->batch = (int)elign_config_get_int(*cfg, "oracle.batch_size");
  if (!a->dft_method) a->dft_method = elign_config_get_string(*cfg, "dft.method");
  if (!a->dft_basis) a->dft_basis = elign_config_get_string(*cfg, "dft.basis");
  if (!a->dft_program) a->dft_program = elign_config_get_string(*cfg, "dft.backend");
  if (!a->dft_time_limit_given) a->dft_time_limit = elign_config_get_double(*cfg, "dft.time_limit");
  return ELIGN_OK;
}

/* ---- settings ------------------------------------------------------------- */

static uint64_t hash_str(uint64_t h, const char *s) {
  const char *t = s ? s : "(null)";
  return eval_fnv1a(h, t, strlen(t) + 1);
}

static void make_settings(const eval_args *a, eval_settings *s) {
  memset(s, 0, sizeof *s);
  s->chunk = a->batch;
  s->relax = a->relax;
  elign_geomopt_options_default(&s->opt, (elign_geomopt_method)elign_geomopt_method_parse(a->optimizer));
  s->opt.fmax = a->fmax;
  s->opt.max_steps = a->max_steps;
  s->opt.max_step = a->max_step;
  s->n_backends = a->n_oracles;
  for (int b = 0; b < a->n_oracles; b++) {
    snprintf(s->backends[b], sizeof s->backends[b], "%s", a->oracles[b]);
    /* everything that can change this backend's numbers; not paths that only say where files are */
    elign_oracle_options o = elign_oracle_spec_options(&a->specs[b], &a->opt);
    uint64_t h = EVAL_FNV_START;
    h = hash_str(h, a->oracles[b]);
    h = hash_str(h, o.model);
    h = hash_str(h, o.python_module);
    h = hash_str(h, o.python_function);
    h = hash_str(h, o.method);
    h = hash_str(h, o.basis);
    double nums[9] = {o.min_distance, o.time_limit, (double)o.max_iterations, (double)a->batch,
                      (double)a->relax, s->opt.fmax, (double)s->opt.max_steps, s->opt.max_step,
                      (double)s->opt.method};
    h = eval_fnv1a(h, nums, sizeof nums);
    if (a->relax) {
      double more[3] = {(double)s->opt.memory, s->opt.alpha, s->opt.energy_tol};
      h = eval_fnv1a(h, more, sizeof more);
    }
    snprintf(s->backend_keys[b], sizeof s->backend_keys[b], "%016llx", (unsigned long long)h);
  }
  s->dft_n = a->dft_n;
  s->dft_seeded = a->dft_seeded;
  s->dft_seed = (uint64_t)a->dft_seed;
  snprintf(s->dft_method, sizeof s->dft_method, "%s", a->dft_method ? a->dft_method : "b3lyp");
  snprintf(s->dft_basis, sizeof s->dft_basis, "%s", a->dft_basis ? a->dft_basis : "6-31g(d)");
  snprintf(s->dft_module, sizeof s->dft_module, "%s",
           a->dft_program && strcmp(a->dft_program, "pyscf") == 0 ? "pyscf_oracle" : "psi4_oracle");
  s->dft_time_limit = a->dft_time_limit;
  /* what shapes a molecule's DFT numbers (not which molecules: --dft N and the seed pick, records are per molecule) */
  uint64_t h = EVAL_FNV_START;
  h = hash_str(h, "dft/1");
  h = hash_str(h, s->dft_method);
  h = hash_str(h, s->dft_basis);
  h = hash_str(h, s->dft_module);
  h = eval_fnv1a(h, &s->dft_time_limit, sizeof s->dft_time_limit);
  snprintf(s->dft_key, sizeof s->dft_key, "%016llx", (unsigned long long)h);
}

/* The options of the dft backend: the oracle options with the DFT method,
 * basis, adapter and time limit; the atom-energy cache under --scratch or
 * <run dir>/dft, so it survives with the journals. */
static void dft_options(const eval_args *a, const eval_settings *s, char *scratch, size_t cap,
                        elign_oracle_options *o) {
  *o = a->opt;
  o->method = s->dft_method;
  o->basis = s->dft_basis;
  o->python_module = s->dft_module;
  o->python_function = "evaluate";
  o->time_limit = s->dft_time_limit;
  o->max_iterations = 0;
  if (a->opt.scratch_dir)
    snprintf(scratch, cap, "%s", a->opt.scratch_dir);
  else
    snprintf(scratch, cap, "%s/dft", a->run_dir);
  o->scratch_dir = scratch;
}

/* ---- rank 0: inputs, chemistry, oracle phases ---------------------------- */

typedef struct {
  eval_args *a;
  eval_settings s;
  eval_file *files; /* samples first, then refs */
  int n_files;
  elign_smiles_set *train;
  char train_source[4200];
  int64_t train_molecules, train_smiles;
  int64_t records_this_run; /* journal records appended (the test hook counts them) */
  long kill_after;          /* ELIGN_EVAL_TEST_KILL_AFTER: SIGKILL after that many records (tests) */
  elign_progress prog;
} eval_run;

/* Test hook: die like a killed job after N journal records, to test resumption. */
static void maybe_die(eval_run *r) {
  r->records_this_run++;
  if (r->kill_after > 0 && r->records_this_run >= r->kill_after) {
    fprintf(stderr, "elign eval: ELIGN_EVAL_TEST_KILL_AFTER=%ld reached: killing myself\n", r->kill_after);
    fflush(stderr);
    raise(SIGKILL);
  }
}

static int detect_rule(const eval_args *a, eval_file *files, int n) {
  if (strcmp(a->rule, "qm9") == 0) return ELIGN_RDKIT_RULE_QM9;
  if (strcmp(a->rule, "geom") == 0) return ELIGN_RDKIT_RULE_GEOM;
  for (int i = 0; i < n; i++)
    if (!files[i].error[0] && elign_stability_rule_for(files[i].mols.Z, files[i].mols.n_atoms))
      return ELIGN_RDKIT_RULE_GEOM;
  return ELIGN_RDKIT_RULE_QM9;
}

static elign_status load_inputs(eval_run *r, elign_error *err) {
  eval_args *a = r->a;
  r->n_files = a->n_inputs + a->n_refs;
  r->files = elign_calloc((size_t)r->n_files, sizeof *r->files, "eval:files");
  for (int i = 0; i < r->n_files; i++) {
    eval_file *f = &r->files[i];
    int is_ref = i >= a->n_inputs;
    eval_file_load(f, is_ref ? a->refs[i - a->n_inputs] : a->inputs[i], is_ref ? "ref" : "samples", a->split);
    if (f->error[0])
      elign_errorlog("%s: not evaluated: %s", f->path, f->error);
    else if (f->mols.n_mol == 0)
      elign_warn("%s: no molecules", f->path);
  }
  r->s.rule = detect_rule(a, r->files, r->n_files);
  for (int i = 0; i < r->n_files; i++) {
    eval_file *f = &r->files[i];
    if (f->error[0]) continue;
    eval_file_prepare(f, &r->s);
    eval_dft_choose(f, &r->s);
    elign_status st = eval_journal_open(f, &r->s, a->run_dir, a->restart, err);
    if (st) return st;
    if (f->resumed_records > 0)
      elign_info("%s: resuming from %s (%lld records; %lld of %lld chunks complete)", f->path, f->journal_path,
                 (long long)f->resumed_records, (long long)f->resumed_chunks, (long long)f->n_chunks);
  }
  if (a->train_smiles) {
    r->train = elign_smiles_set_new();
    elign_status st = elign_smiles_set_load(r->train, a->train_smiles, &r->train_smiles, err);
    if (st) return st;
    snprintf(r->train_source, sizeof r->train_source, "list %s", a->train_smiles);
    r->train_molecules = -1;
  } else if (a->dataset) {
    r->train = elign_smiles_set_new();
    elign_status st = eval_train_smiles_from_dataset(a->dataset, a->train_split, r->s.rule, a->run_dir, r->train,
                                                     &r->train_molecules, &r->train_smiles, err);
    if (st) return st;
    snprintf(r->train_source, sizeof r->train_source, "dataset %s split %s", a->dataset, a->train_split);
  }
  return ELIGN_OK;
}

static elign_status chemistry(eval_run *r, elign_error *err) {
  for (int i = 0; i < r->n_files; i++) {
    eval_file *f = &r->files[i];
    if (f->error[0]) continue;
    int64_t todo = 0;
    for (int64_t k = 0; k < f->n_chunks; k++) todo += !f->chem_done[k];
    if (todo == 0) continue;
    char label[64];
    snprintf(label, sizeof label, "chemistry, %s %d", f->role, i < r->a->n_inputs ? i : i - r->a->n_inputs);
    elign_progress_start(&r->prog, label, f->mols.n_mol, 10.0);
    for (int64_t k = 0; k < f->n_chunks; k++) {
      int64_t m0 = k * r->s.chunk, m1 = m0 + r->s.chunk < f->mols.n_mol ? m0 + r->s.chunk : f->mols.n_mol;
      if (f->chem_done[k]) continue;
      eval_chem_compute(&f->mols, m0, m1, r->s.rule, f->chem + m0);
      elign_status st = eval_journal_add_chem(f, k, m0, m1, err);
      if (st) return st;
      f->chem_done[k] = 1;
      f->evaluated_molecules += m1 - m0;
      maybe_die(r);
      elign_progress_update(&r->prog, m1);
    }
    elign_progress_finish(&r->prog);
  }
  return ELIGN_OK;
}

typedef struct {
  eval_run *r;
  eval_file *f;
  int backend;
  int64_t done_molecules;
} chunk_ctx;

static elign_status on_chunk(void *ctx, int64_t chunk, int64_t m0, int64_t m1, const elign_relax_result *res,
                             elign_error *err) {
  (void)res; /* already in f->oracle[b] */
  chunk_ctx *c = ctx;
  elign_status st = eval_journal_add_oracle(c->f, &c->r->s, c->backend, chunk, m0, m1, err);
  if (st) return st;
  c->f->oracle_done[c->backend][chunk] = 1;
  c->f->evaluated_molecules += m1 - m0;
  c->done_molecules += m1 - m0;
  maybe_die(c->r);
  elign_progress_update(&c->r->prog, c->done_molecules);
  return ELIGN_OK;
}

/* The lone atoms of every element in the files under backend b (for the
 * atomization energies; a few atoms, asked again on a resumed run). */
static elign_status isolated_atoms(eval_run *r, int b, elign_oracle_client *c, elign_error *err) {
  uint8_t want[ELIGN_MAX_Z + 1] = {0};
  double e_atom[ELIGN_MAX_Z + 1];
  for (int i = 0; i < r->n_files; i++)
    for (int64_t a = 0; !r->files[i].error[0] && a < r->files[i].mols.n_atoms; a++)
      if (elign_element_valid(r->files[i].mols.Z[a])) want[r->files[i].mols.Z[a]] = 1;
  elign_status st = elign_oracle_isolated_atoms(c, 0, want, e_atom, err);
  for (int z = 1; st == ELIGN_OK && z <= ELIGN_MAX_Z; z++) {
    if (!want[z]) continue;
    if (!isfinite(e_atom[z]))
      elign_warn("%s: no energy of a lone atom of Z = %d: molecules with it get no atomization energy",
                 r->s.backends[b], z);
    for (int i = 0; i < r->n_files; i++) r->files[i].atom_energy[b][z] = e_atom[z];
  }
  return st;
}

/* Every file's missing chunks of backend b through client c. */
static elign_status oracle_phase(eval_run *r, int b, elign_oracle_client *c, int window, elign_error *err) {
  elign_relax_options ro = {.chunk = r->s.chunk, .window = window, .relax = r->s.relax, .opt = r->s.opt};
  for (int i = 0; i < r->n_files; i++) {
    eval_file *f = &r->files[i];
    if (f->error[0]) continue;
    int64_t *todo = elign_malloc((size_t)(f->n_chunks > 0 ? f->n_chunks : 1) * sizeof *todo, "eval:todo");
    int64_t n_todo = 0, n_mol = 0;
    for (int64_t k = 0; k < f->n_chunks; k++)
      if (!f->oracle_done[b][k]) {
        todo[n_todo++] = k;
        int64_t m0 = k * r->s.chunk;
        n_mol += (m0 + r->s.chunk < f->mols.n_mol ? r->s.chunk : f->mols.n_mol - m0);
      }
    elign_status st = ELIGN_OK;
    if (n_todo > 0) {
      char label[96];
      snprintf(label, sizeof label, "%s %s, %s %d", r->s.relax ? "relax" : "oracle", r->s.backends[b], f->role,
               i < r->a->n_inputs ? i : i - r->a->n_inputs);
      elign_progress_start(&r->prog, label, n_mol, 10.0);
      chunk_ctx ctx = {.r = r, .f = f, .backend = b};
      st = elign_relax_run(c, &f->mols, todo, n_todo, &ro, f->oracle[b], NULL, on_chunk, &ctx, err);
      elign_progress_finish(&r->prog);
    }
    elign_free(todo);
    if (st) return st;
  }
  return isolated_atoms(r, b, c, err);
}

static elign_status on_dft(void *ctx, eval_file *f, int64_t k, elign_error *err) {
  eval_run *r = ctx;
  elign_status st = eval_journal_add_dft(f, &r->s, k, err);
  if (st) return st;
  f->evaluated_molecules++;
  maybe_die(r);
  return ELIGN_OK;
}

static int write_outputs(eval_run *r, elign_error *err) {
  eval_args *a = r->a;
  eval_file **samples = elign_malloc((size_t)r->n_files * sizeof *samples, "eval:ptrs");
  for (int i = 0; i < r->n_files; i++) samples[i] = &r->files[i];
  eval_report rep = {.settings = &r->s,
                     .rdkit_version = elign_rdkit_version(),
                     .train_source = r->train ? r->train_source : NULL,
                     .train_molecules = r->train_molecules,
                     .train_smiles = r->train_smiles,
                     .samples = samples,
                     .n_samples = a->n_inputs,
                     .ref = samples + a->n_inputs,
                     .n_ref = a->n_refs,
                     .train = r->train,
                     .oracle_opt = &a->opt};
  elign_status st = ELIGN_OK;
  if (a->out && (st = eval_write_json(&rep, a->out, err)) == ELIGN_OK) elign_info("wrote %s", a->out);
  if (!st && a->table && (st = eval_write_csv(&rep, a->table, err)) == ELIGN_OK) elign_info("wrote %s", a->table);
  if (!st && a->print) {
    eval_print_table(&rep, stdout);
    fflush(stdout);
  }
  elign_free(samples);
  return st;
}

static void log_counts(const eval_run *r) {
  int64_t evaluated = 0, resumed = 0, total = 0;
  for (int i = 0; i < r->n_files; i++) {
    const eval_file *f = &r->files[i];
    if (f->error[0]) continue;
    int64_t units = f->mols.n_mol * (1 + r->s.n_backends) + f->n_dft; /* chemistry + each backend + DFT */
    total += units;
    evaluated += f->evaluated_molecules;
    resumed += units - f->evaluated_molecules;
  }
  elign_info("molecule evaluations: %lld done in this run, %lld taken from journals (of %lld: chemistry + %d "
             "backend(s) per molecule, and the DFT molecules)",
             (long long)evaluated, (long long)resumed, (long long)total, r->s.n_backends);
}

/* ---- the command ---------------------------------------------------------- */

static int eval_run_all(eval_args *a, int *argc, char ***argv) {
  elign_error err;
  elign_error_clear(&err);
  elign_runctx_options ro = {.oracle_ranks = ELIGN_RANKS_REST, .dft_ranks = a->dft_ranks};
  elign_runctx ctx;
  eval_run r;
  memset(&r, 0, sizeof r);
  r.a = a;
  const char *kill = getenv("ELIGN_EVAL_TEST_KILL_AFTER");
  r.kill_after = kill ? strtol(kill, NULL, 10) : 0;
  make_settings(a, &r.s);
  elign_oracle *oracles[EVAL_MAX_BACKENDS] = {NULL}, *dft_oracle = NULL;
  char dft_scratch[4200];
  int rc = ELIGN_EXIT_FAIL;
  const elign_world *w = &ctx.world;

  /* 1. the world; rank 0 reads the inputs and the novelty reference */
  if (elign_runctx_init(&ctx, argc, argv, &ro, &err) == ELIGN_OK && w->is_learner) load_inputs(&r, &err);
  if (elign_runctx_agree(&ctx, &err)) goto out;
  /* 2. the oracles where they run */
  if (w->is_oracle || w->embedded_oracle) {
    a->opt.rank = w->rank;
    for (int b = 0; b < r.s.n_backends && err.status == ELIGN_OK; b++) {
      elign_oracle_options o = elign_oracle_spec_options(&a->specs[b], &a->opt);
      elign_oracle_create(a->specs[b].backend, &o, &oracles[b], &err);
    }
  }
  /* the DFT servers: the DFT ranks, else the oracle ranks, else rank 0 in-process */
  const int *dft_servers = w->n_dft > 0 ? w->dft_ranks : w->oracle_ranks;
  int n_dft_servers = w->n_dft > 0 ? w->n_dft : w->n_oracles;
  int serves_dft = w->n_dft > 0 ? w->is_dft : w->n_oracles > 0 ? w->is_oracle : w->is_learner;
  if (r.s.dft_n > 0 && serves_dft && err.status == ELIGN_OK) {
    elign_oracle_options dopt;
    dft_options(a, &r.s, dft_scratch, sizeof dft_scratch, &dopt);
    dopt.rank = w->rank;
    elign_oracle_create("dft", &dopt, &dft_oracle, &err);
  }
  if (elign_runctx_agree(&ctx, &err)) goto out;

  /* 3. chemistry on rank 0, then one server run per backend */
  elign_status st = ELIGN_OK;
  double t0 = elign_wtime();
  if (w->is_learner) st = chemistry(&r, &err);
  for (int b = 0; b < r.s.n_backends; b++) {
    if (w->is_oracle) {
      elign_oracle_server_options so = {.batch_size = r.s.chunk, .n_clients = 1};
      elign_oracle_server_stats stats;
      if (elign_oracle_server_run(oracles[b], w->comm, &so, &stats, &err) == ELIGN_OK)
        elign_oracle_server_stats_log(&stats, r.s.chunk);
      else
        st = err.status;
      if (st) break; /* a server that failed cannot serve the next phase either: the agreement tells rank 0 */
      continue;
    }
    if (!w->is_learner) continue;
    elign_oracle_client *client = NULL;
    elign_error cerr;
    elign_error_clear(&cerr);
    elign_status cs = w->embedded_oracle
                          ? elign_oracle_client_create_embedded(oracles[b], r.s.chunk, &client, &cerr)
                          : elign_oracle_client_create_mpi(w->comm, w->oracle_ranks, w->n_oracles, &client, &cerr);
    if (cs == ELIGN_OK && st == ELIGN_OK) /* after an error: only tell the servers we are done */
      st = oracle_phase(&r, b, client, w->embedded_oracle ? 1 : 2 * w->n_oracles, &err);
    else if (cs != ELIGN_OK && st == ELIGN_OK)
      err = cerr, st = cs;
    elign_error done_err;
    if (client) elign_oracle_client_done(client, &done_err); /* always: the servers wait for it */
    elign_oracle_client_destroy(&client);
  }
  /* 4. the DFT check, one molecule per request */
  if (r.s.dft_n > 0 && n_dft_servers > 0 && !w->is_learner && serves_dft && st == ELIGN_OK) {
    elign_oracle_server_options so = {.batch_size = 1, .n_clients = 1};
    elign_oracle_server_stats stats;
    if (elign_oracle_server_run(dft_oracle, w->comm, &so, &stats, &err) == ELIGN_OK)
      elign_oracle_server_stats_log(&stats, 1);
    else
      st = err.status;
  } else if (r.s.dft_n > 0 && w->is_learner) {
    elign_oracle_client *client = NULL;
    elign_error cerr;
    elign_error_clear(&cerr);
    elign_status cs = n_dft_servers > 0
                          ? elign_oracle_client_create_mpi(w->comm, dft_servers, n_dft_servers, &client, &cerr)
                          : elign_oracle_client_create_embedded(dft_oracle, 1, &client, &cerr);
    if (cs == ELIGN_OK && st == ELIGN_OK)
      st = eval_dft_run(r.files, r.n_files, &r.s, client, n_dft_servers > 0 ? 2 * n_dft_servers : 1, on_dft, &r,
                        &err);
    else if (cs != ELIGN_OK && st == ELIGN_OK)
      err = cerr, st = cs;
    elign_error done_err;
    if (client) elign_oracle_client_done(client, &done_err);
    elign_oracle_client_destroy(&client);
  }
  if (w->is_learner && st == ELIGN_OK) elign_info("evaluated in %.2f s", elign_wtime() - t0);
  if (elign_runctx_agree(&ctx, &err)) goto out;

  /* 5. rank 0 writes */
  int unreadable = 0;
  if (w->is_learner) {
    log_counts(&r);
    write_outputs(&r, &err);
    for (int i = 0; i < r.n_files; i++) unreadable += r.files[i].error[0] != '\0';
  }
  if (elign_runctx_agree(&ctx, &err)) goto out;
  rc = unreadable ? ELIGN_EXIT_FAIL : ELIGN_EXIT_OK;
  if (unreadable) elign_errorlog("%d input file(s) could not be read (named in the summary)", unreadable);

out:
  for (int b = 0; b < EVAL_MAX_BACKENDS; b++) elign_oracle_destroy(&oracles[b]);
  elign_oracle_destroy(&dft_oracle);
  for (int i = 0; i < r.n_files; i++) eval_file_free(&r.files[i]);
  elign_free(r.files);
  elign_smiles_set_free(&r.train);
  elign_runctx_free(&ctx);
  return rc;
}

int eval_main(int argc, char **argv) {
  eval_args a;
  int usage_rc = parse_args(argc, argv, &a, elign_launcher_rank() == 0);
  if (usage_rc == 1) return ELIGN_EXIT_OK;
  if (usage_rc == 2) return ELIGN_EXIT_USAGE;
  elign_error err;
  elign_error_clear(&err);
  elign_config *cfg = NULL; /* owns the strings the options point to */
  if (a.config && apply_config(&a, &cfg, &err) != ELIGN_OK) {
    if (elign_launcher_rank() == 0) elign_error_print(&err);
    return ELIGN_EXIT_FAIL;
  }
  int rc = eval_run_all(&a, &argc, &argv);
  elign_config_free(&cfg);
  return rc;
}
