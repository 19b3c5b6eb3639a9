/* cmd_relax.c — `elign relax`: diffusion relaxation of given structures
 * (actor/diffusion_relax.h; paper 004, docs/relax.md).
 *
 * Every rank reads the input and the model and relaxes its share of the
 * molecules (whole batches of the global index, as `elign sample`); the
 * output is one samples file written collectively, identical for any rank
 * count.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/commands.h"
#include "actor/diffusion_relax.h"
#include "common/base/cli.h"
#include "common/base/config.h"
#include "common/base/interrupt.h"
#include "common/base/log.h"
#include "common/base/outputs.h"
#include "common/base/parse.h"
#include "common/base/watchdog.h"
#include "common/chem/align.h"
#include "common/io/dataset_io.h"
#include "common/io/export.h"
#include "common/io/importers.h"
#include "common/model/edm_model.h"
#include "common/mpi/runctx.h"

#define RELAX_MAX_BATCH 100000

typedef struct {
  const char *in, *model, *out, *xyz, *split;
  int64_t steps, T, batch, limit;
  uint64_t seed;
  int noise, force;
  double timeout;
} relax_args;

static void relax_usage(FILE *f) {
  fprintf(f,
          "usage: elign relax IN --model M.h5 --steps s --out OUT.h5 [--seed S] [--T T] [--batch B]\n"
          "                  [--split NAME] [-n N] [--no-noise] [--xyz OUT.xyz] [--timeout S] [--force]\n\n"
          "Diffusion relaxation (paper 004): each molecule of IN is noised to step s of the\n"
          "chain with the forward diffusion (seeded) and the last s reverse steps are run with\n"
          "its atom types held fixed (only positions are denoised). IN: a samples or dataset\n"
          "file (.h5) or extended XYZ (.xyz, .xyz.gz). Elements must be among the model's types.\n"
          "OUT is a samples file (same order, the input's atomic numbers and ids). docs/relax.md.\n"
          "  --steps s    start step, 0..T (0: the input, centred); paper 004 uses 20, 30, 50\n"
          "  --seed S     the RNG key (default %ld)\n"
          "  --T T        chain length (default: the model's diffusion_steps)\n"
          "  --batch B    molecules per network batch, 1..%d (default 64)\n"
          "  --split NAME only this split of a dataset input      -n N  only the first N molecules\n"
          "  --no-noise   start from z_s = α_s·x (no forward noise, as paper 004) instead of\n"
          "               α_s·x + σ_s·ε\n"
          "  --xyz FILE   also write the relaxed molecules as XYZ\n"
          "  --timeout S  mpi.timeout (default %g)      --force  replace existing outputs\n"
          "Under mpirun the molecules are split over ranks; the output does not depend on the\n"
          "rank count.\n",
          elign_config_default_int("seed"), RELAX_MAX_BATCH, ELIGN_MPI_TIMEOUT_DEFAULT);
}

/* 0 ok, 1 help, 2 usage error (printed when verbose). */
static int parse_relax_args(int argc, char **argv, relax_args *a, int verbose) {
  memset(a, 0, sizeof *a);
  a->seed = (uint64_t)elign_config_default_int("seed");
  a->batch = 64;
  a->noise = 1;
  a->steps = -1;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (elign_cli_is_help(o)) return 1;
    if (!strcmp(o, "--force") || !strcmp(o, "--no-noise")) {
      *(!strcmp(o, "--force") ? &a->force : &a->noise) = !strcmp(o, "--force");
      continue;
    }
    if (o[0] != '-') {
      if (a->in) {
        if (verbose) fprintf(stderr, "elign relax: one input only ('%s' and '%s')\n", a->in, o);
        return 2;
      }
      a->in = o;
      continue;
    }
    const char **str = !strcmp(o, "--model") ? &a->model
                       : !strcmp(o, "--out") ? &a->out
                       : !strcmp(o, "--xyz") ? &a->xyz
                       : !strcmp(o, "--split") ? &a->split
                                               : NULL;
    int64_t *num = !strcmp(o, "--steps") ? &a->steps
                   : !strcmp(o, "--T")   ? &a->T
                   : !strcmp(o, "--batch") ? &a->batch
                   : !strcmp(o, "-n")    ? &a->limit
                                         : NULL;
    int real = !strcmp(o, "--seed") || !strcmp(o, "--timeout");
    if (!str && !num && !real) {
      if (verbose) fprintf(stderr, "elign relax: unknown option '%s' (see --help)\n", o);
      return 2;
    }
    if (i + 1 >= argc) {
      if (verbose) fprintf(stderr, "elign relax: option %s needs a value (see --help)\n", o);
      return 2;
    }
    const char *v = argv[++i];
    elign_error err;
    elign_error_clear(&err);
    elign_status st = ELIGN_OK;
    if (str) *str = v;
    else if (!strcmp(o, "--seed")) st = elign_parse_u64(v, 0, UINT64_MAX, o, &a->seed, &err);
    else if (!strcmp(o, "--timeout")) st = elign_parse_real(v, 1e-3, 1e9, o, &a->timeout, &err);
    else if (num == &a->batch) st = elign_parse_i64(v, 1, RELAX_MAX_BATCH, o, num, &err);
    else if (num == &a->limit) st = elign_parse_i64(v, 1, INT64_MAX, o, num, &err);
    else st = elign_parse_i64(v, 0, 65535, o, num, &err); /* --steps, --T */
    if (st) {
      if (verbose) fprintf(stderr, "elign relax: %s\n", err.msg);
      return 2;
    }
  }
  if (!a->in || !a->model || !a->out || a->steps < 0) {
    if (verbose) fprintf(stderr, "elign relax: need IN, --model, --steps and --out (see --help)\n");
    return 2;
  }
  return 0;
}

/* The molecules of `split` of ds (NULL: all), at most `limit` (0: all), into out. */
static elign_status select_molecules(const char *path, elign_dataset *ds, const char *split, int64_t limit,
                                     elign_molset *out, elign_error *err) {
  const elign_split *sp = NULL;
  if (split && !(sp = elign_dataset_find_split(ds, split)))
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: no split '%s'%s", path, split,
                      ds->n_splits ? "" : " (the input has no splits)");
  int64_t n = sp ? sp->n : ds->mols.n_mol;
  if (limit > 0 && limit < n) n = limit;
  elign_molset_init(out);
  for (int64_t k = 0; k < n; k++) {
    int64_t m = sp ? sp->index[k] : k, a0 = ds->mols.offsets[m];
    int64_t id = ds->mols.ids ? ds->mols.ids[m] : m;
    elign_molset_append(out, (int)elign_molset_natoms(&ds->mols, m), ds->mols.Z + a0, ds->mols.pos + 3 * a0, id,
                        NULL);
  }
  if (n == 0) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: no molecules%s%s", path, split ? " in split " : "",
                                split ? split : "");
  return ELIGN_OK;
}

/* Molecules from extended XYZ, a QM9 archive, or an Elign-C dataset or samples file. */
static elign_status read_input(const relax_args *a, elign_molset *out, elign_error *err) {
  elign_dataset ds;
  elign_dataset_init(&ds);
  size_t n = strlen(a->in);
  elign_status st = elign_read_molecules(a->in, "IN", &ds, err);
  if (!st && a->split && strcmp(a->in + (n >= 3 ? n - 3 : 0), ".h5") != 0)
    st = ELIGN_FAIL(err, ELIGN_ERR_ARG, "--split needs a dataset file (%s is not one)", a->in);
  if (!st) st = select_molecules(a->in, &ds, a->split, a->limit, out, err);
  elign_dataset_free(&ds);
  return st;
}

/* Mean and largest Kabsch RMSD (Å) between the inputs and the relaxed molecules of this rank. */
static void displacement(const elign_molset *in, int64_t first, const elign_molset *out, double *sum, double *max) {
  *sum = 0, *max = 0;
  for (int64_t k = 0; k < out->n_mol; k++) {
    int64_t a_in = in->offsets[first + k], a_out = out->offsets[k], n = elign_molset_natoms(out, k);
    double r = elign_rmsd_aligned(in->pos + 3 * a_in, out->pos + 3 * a_out, n, NULL);
    *sum += r;
    if (r > *max) *max = r;
  }
}

int relax_main(int argc, char **argv) {
  relax_args a;
  int rc = parse_relax_args(argc, argv, &a, elign_launcher_rank() == 0);
  if (rc == 1) {
    if (elign_launcher_rank() == 0) relax_usage(stdout);
    return ELIGN_EXIT_OK;
  }
  if (rc) return ELIGN_EXIT_USAGE;
  elign_error err;
  elign_error_clear(&err);
  elign_runctx_options ro = {.oracle_ranks = 0, .dft_ranks = 0, .timeout_s = a.timeout};
  elign_runctx ctx;
  edm_model m;
  memset(&m, 0, sizeof m);
  elign_molset in;
  elign_molset_init(&in);
  const elign_world *w = &ctx.world;
  elign_interrupt_install("relax");
  elign_interrupt_doing("starting", "nothing written; inputs untouched");
  elign_status st = elign_runctx_init(&ctx, &argc, &argv, &ro, &err);
  elign_interrupt_doing("reading the model and the molecules", "nothing written; inputs untouched");
  if (!st && w->is_learner) {
    elign_file_arg outs[] = {{a.out, "--out"}, {a.xyz, "--xyz"}}, ins[] = {{a.in, "IN"}, {a.model, "--model"}};
    st = elign_outputs_check(outs, 2, ins, 2, a.force, &err);
  }
  if (!st) st = edm_model_load(&m, a.model, &err);
  if (!st) st = read_input(&a, &in, &err);
  int T = a.T > 0 ? (int)a.T : m.T0;
  if (!st && a.steps > T)
    st = ELIGN_FAIL(&err, ELIGN_ERR_ARG, "--steps %lld exceeds the chain length T = %d", (long long)a.steps, T);
  int64_t first = 0, count = 0;
  if (!st) sampler_rank_range(in.n_mol, a.batch, w->actor_index, w->n_actors, &first, &count);
  if (elign_runctx_agree(&ctx, &err)) {
    elign_molset_free(&in);
    edm_model_free(&m);
    elign_runctx_free(&ctx);
    return ELIGN_EXIT_FAIL;
  }
  char doing[300], kept[300];
  snprintf(doing, sizeof doing, "relaxing %lld molecules from step %lld", (long long)in.n_mol, (long long)a.steps);
  elign_interrupt_doing(doing, "nothing written; inputs untouched");
  diffusion_relax_options o = {.start_step = (int)a.steps, .T = (int)a.T, .seed = a.seed, .batch = a.batch,
                               .noise = a.noise};
  diffusion_relax_stats stats;
  sampler_output out;
  double t0 = elign_wtime();
  st = diffusion_relax_run(&m, &o, &in, first, count, &out, &stats, &err);
  double dt = elign_wtime() - t0;
  if (elign_runctx_agree(&ctx, &err)) {
    if (!st) sampler_output_free(&out);
    elign_molset_free(&in);
    edm_model_free(&m);
    elign_runctx_free(&ctx);
    return ELIGN_EXIT_FAIL;
  }
  elign_samples_meta meta;
  memset(&meta, 0, sizeof meta);
  snprintf(meta.model, sizeof meta.model, "%s", a.model);
  meta.seed = a.seed;
  meta.steps = a.steps;
  meta.iteration = -1;
  snprintf(doing, sizeof doing, "writing %s with every rank", a.out);
  snprintf(kept, sizeof kept, "%s not written (its temporary removed); inputs untouched", a.out);
  elign_interrupt_doing(doing, kept);
  elign_watchdog_arm(ctx.timeout_s, doing, kept);
  st = elign_samples_write_parallel(w->actors, a.out, &out.mols, NULL, &meta, &err);
  double loc[3], all[3], mx[2], allmx[2];
  displacement(&in, first, &out.mols, &loc[0], &mx[0]);
  loc[1] = (double)stats.type_mismatches, loc[2] = 0, mx[1] = dt;
  MPI_Reduce(loc, all, 3, MPI_DOUBLE, MPI_SUM, 0, w->actors);
  MPI_Reduce(mx, allmx, 2, MPI_DOUBLE, MPI_MAX, 0, w->actors);
  elign_watchdog_disarm();
  if (!st && w->is_learner)
    elign_info("relaxed %lld molecules from step %lld%s on %d rank(s) in %.2f s; Kabsch RMSD to the input mean %.4f "
               "Å, max %.4f Å; %.0f atoms decoded to another type (kept as given); wrote %s",
               (long long)in.n_mol, (long long)a.steps, a.noise ? "" : " (no forward noise)", w->n_actors, allmx[1],
               in.n_mol ? all[0] / (double)in.n_mol : 0, allmx[0], all[1], a.out);
  sampler_output_free(&out);
  if (!st && w->is_learner && a.xyz) st = elign_export_samples(a.out, a.xyz, NULL, &err);
  st = elign_runctx_agree(&ctx, &err);
  elign_molset_free(&in);
  edm_model_free(&m);
  elign_runctx_free(&ctx);
  return st ? ELIGN_EXIT_FAIL : ELIGN_EXIT_OK;
}
