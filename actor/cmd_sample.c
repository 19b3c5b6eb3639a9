/* cmd_sample.c — `elign denoise`, `elign sample`, `elign export`.
 *
 *   denoise: one network call + reverse-step quantities on given latents (the
 *            surface for parity checks against PyTorch; docs/formats-diffusion.md)
 *   sample:  unguided ancestral sampling, MPI-parallel, one samples file
 *   export:  samples file → XYZ and/or SDF (SDF atoms only, no bond block)
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/commands.h"
#include "actor/sampler.h"
#include "common/base/cli.h"
#include "common/base/config.h"
#include "common/io/dataset_io.h"
#include "common/io/export.h"
#include "common/model/edm_model.h"
#include "common/io/h5io.h"
#include "common/base/log.h"
#include "common/mpi/runctx.h"

#define DENOISE_STATES_FORMAT "denoise_states"
#define DENOISE_OUTPUT_FORMAT "denoise_output"
#define DENOISE_VERSION 2 /* 2: checksummed storage (common/io/h5io.h) */

/* ---- small argument helpers ---------------------------------------------- */

static int need_value(int argc, char **argv, int i, const char *cmd) {
  if (i + 1 >= argc) {
    fprintf(stderr, "elign %s: option %s needs a value (see --help)\n", cmd, argv[i]);
    return 0;
  }
  return 1;
}

static int parse_i64(const char *s, int64_t *out, const char *cmd, const char *opt) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (*s == '\0' || *end != '\0') {
    fprintf(stderr, "elign %s: %s expects an integer, got '%s'\n", cmd, opt, s);
    return 0;
  }
  *out = v;
  return 1;
}

/* ---- export -------------------------------------------------------------- */

int export_main(int argc, char **argv) {
  const char *in = NULL, *xyz = NULL, *sdf = NULL;
  for (int i = 1; i < argc; i++) {
    if (elign_cli_is_help(argv[i])) {
      printf("usage: elign export SAMPLES.h5 [--xyz OUT.xyz] [--sdf OUT.sdf]\n\n"
             "Write the molecules of a samples file as XYZ (one block per molecule,\n"
             "positions in Å) and/or SDF (V2000 atom blocks, no bonds).\n");
      return ELIGN_EXIT_OK;
    } else if (strcmp(argv[i], "--xyz") == 0 || strcmp(argv[i], "--sdf") == 0) {
      if (!need_value(argc, argv, i, "export")) return ELIGN_EXIT_USAGE;
      *(argv[i][2] == 'x' ? &xyz : &sdf) = argv[i + 1];
      i++;
    } else if (argv[i][0] != '-' && !in) {
      in = argv[i];
    } else {
      fprintf(stderr, "elign export: unexpected argument '%s' (see --help)\n", argv[i]);
      return ELIGN_EXIT_USAGE;
    }
  }
  if (!in || (!xyz && !sdf)) {
    fprintf(stderr, "elign export: need a samples file and --xyz and/or --sdf (see --help)\n");
    return ELIGN_EXIT_USAGE;
  }
  elign_error err;
  elign_error_clear(&err);
  if (elign_export_samples(in, xyz, sdf, &err)) return elign_cli_fail(&err);
  return ELIGN_EXIT_OK;
}

/* ---- denoise ------------------------------------------------------------- */

typedef struct {
  int64_t n_mol, n_atoms;
  int64_t *offsets;
  int32_t *t, *s;
  float *z;   /* (N, D) */
  int64_t T, D;
} denoise_states;

static void denoise_states_free(denoise_states *d) {
  elign_free(d->offsets);
  elign_free(d->t);
  elign_free(d->s);
  elign_free(d->z);
}

static elign_status read_states(const char *path, denoise_states *d, elign_error *err) {
  memset(d, 0, sizeof *d);
  hid_t f;
  elign_status st = elign_h5_open_read(path, DENOISE_STATES_FORMAT, DENOISE_VERSION, &f, NULL, NULL, err);
  if (st) return st;
  hsize_t dims[2];
  if (!st) st = elign_h5_get_attr_i64(f, "/", "T", &d->T, path, err);
  if (!st) st = elign_h5_read_array(f, "offsets", H5T_NATIVE_INT64, 1, dims, (void **)&d->offsets, path, err);
  if (!st) {
    d->n_mol = (int64_t)dims[0] - 1;
    if (d->n_mol < 0 || d->offsets[0] != 0)
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /offsets must start with 0 and have n_mol + 1 entries", path);
    for (int64_t m = 0; !st && m < d->n_mol; m++)
      if (d->offsets[m + 1] < d->offsets[m])
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /offsets decrease at molecule %lld", path, (long long)m);
  }
  if (!st) st = elign_h5_read_array(f, "z_t", H5T_NATIVE_FLOAT, 2, dims, (void **)&d->z, path, err);
  if (!st) {
    d->n_atoms = (int64_t)dims[0];
    d->D = (int64_t)dims[1];
    if (d->n_atoms != d->offsets[d->n_mol])
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /z_t has %lld rows but /offsets ends at %lld", path,
                      (long long)d->n_atoms, (long long)d->offsets[d->n_mol]);
  }
  if (!st) st = elign_h5_read_array(f, "t", H5T_NATIVE_INT32, 1, dims, (void **)&d->t, path, err);
  if (!st && (int64_t)dims[0] != d->n_mol)
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /t has %lld entries, expected n_mol = %lld", path,
                    (long long)dims[0], (long long)d->n_mol);
  if (!st && elign_h5_exists(f, "s")) {
    st = elign_h5_read_array(f, "s", H5T_NATIVE_INT32, 1, dims, (void **)&d->s, path, err);
    if (!st && (int64_t)dims[0] != d->n_mol)
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /s has %lld entries, expected n_mol = %lld", path,
                      (long long)dims[0], (long long)d->n_mol);
  } else if (!st) {
    d->s = elign_malloc((size_t)(d->n_mol > 0 ? d->n_mol : 1) * sizeof(int32_t), "denoise:s");
    for (int64_t m = 0; m < d->n_mol; m++) d->s[m] = d->t[m] > 0 ? d->t[m] - 1 : 0;
  }
  H5Fclose(f);
  if (st) denoise_states_free(d);
  return st;
}

static elign_status write_real_2d(hid_t f, const char *name, const elign_real *a, int64_t n, int64_t D,
                                  elign_error *err) {
  float *buf = elign_malloc((size_t)(n * D > 0 ? n * D : 1) * sizeof(float), "denoise:out");
  for (int64_t j = 0; j < n * D; j++) buf[j] = (float)a[j];
  hsize_t dims[2] = {(hsize_t)n, (hsize_t)D};
  elign_status st = elign_h5_write_array(f, name, H5T_NATIVE_FLOAT, D > 0 ? 2 : 1, dims, buf, err);
  elign_free(buf);
  return st;
}

static elign_status run_denoise(const char *model_path, const char *in, const char *out, elign_error *err) {
  edm_model m;
  elign_status st = edm_model_load(&m, model_path, err);
  if (st) return st;
  denoise_states d;
  st = read_states(in, &d, err);
  if (st) {
    edm_model_free(&m);
    return st;
  }
  int D = m.layout.D;
  if (d.D != D) /* before anything reads d.z with the model's row width */
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /z_t has %lld channels, the model %s needs D = %d", in, (long long)d.D,
                    model_path, D);
  if (!st && (d.T < 1 || d.T > 65535))
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: attribute T = %lld out of range 1..65535", in, (long long)d.T);
  if (st) {
    denoise_states_free(&d);
    edm_model_free(&m);
    return st;
  }
  size_t nz = (size_t)(d.n_atoms * D > 0 ? d.n_atoms * D : 1), nm = (size_t)(d.n_mol > 0 ? d.n_mol : 1);
  elign_real *z = elign_malloc(nz * sizeof(elign_real), "denoise:z"), *eps = elign_malloc(nz * sizeof(elign_real), "denoise:eps");
  elign_real *mu = elign_malloc(nz * sizeof(elign_real), "denoise:mu"), *x0 = elign_malloc(nz * sizeof(elign_real), "denoise:x0");
  elign_real *sigma = elign_malloc(nm * sizeof(elign_real), "denoise:sigma");
  int *t = elign_malloc(nm * sizeof(int), "denoise:t"), *s = elign_malloc(nm * sizeof(int), "denoise:s");
  for (size_t j = 0; j < (size_t)(d.n_atoms * D); j++) z[j] = (elign_real)d.z[j];
  for (int64_t b = 0; b < d.n_mol; b++) t[b] = d.t[b], s[b] = d.s[b];
  egnn_workspace *ws = edm_model_workspace_create(&m);
  st = edm_model_denoise(&m, ws, d.n_mol, d.offsets, z, t, s, (int)d.T, eps, mu, sigma, x0, NULL, err);
  if (st) elign_error_prefix(err, "%s: ", in);
  egnn_workspace_free(&ws);
  if (!st) {
    elign_h5_writer w;
    st = elign_h5_writer_create(&w, out, DENOISE_OUTPUT_FORMAT, DENOISE_VERSION, err);
    if (!st) {
      hsize_t no[1] = {(hsize_t)d.n_mol + 1}, nm[1] = {(hsize_t)d.n_mol};
      float *sg = elign_malloc((size_t)(d.n_mol > 0 ? d.n_mol : 1) * sizeof(float), "denoise:sg");
      for (int64_t b = 0; b < d.n_mol; b++) sg[b] = (float)sigma[b];
      if (!st) st = elign_h5_set_attr_i64(w.file, "/", "T", d.T, err);
      if (!st) st = elign_h5_write_array(w.file, "offsets", H5T_NATIVE_INT64, 1, no, d.offsets, err);
      if (!st) st = elign_h5_write_array(w.file, "t", H5T_NATIVE_INT32, 1, nm, d.t, err);
      if (!st) st = elign_h5_write_array(w.file, "s", H5T_NATIVE_INT32, 1, nm, d.s, err);
      if (!st) st = write_real_2d(w.file, "eps_hat", eps, d.n_atoms, D, err);
      if (!st) st = write_real_2d(w.file, "mu", mu, d.n_atoms, D, err);
      if (!st) st = write_real_2d(w.file, "zhat0", x0, d.n_atoms, D, err);
      if (!st) st = elign_h5_write_array(w.file, "sigma", H5T_NATIVE_FLOAT, 1, nm, sg, err);
      elign_free(sg);
      if (st) elign_h5_writer_abort(&w);
      else st = elign_h5_writer_commit(&w, err);
    }
  }
  elign_free(z);
  elign_free(eps);
  elign_free(mu);
  elign_free(x0);
  elign_free(sigma);
  elign_free(t);
  elign_free(s);
  denoise_states_free(&d);
  edm_model_free(&m);
  return st;
}

int denoise_main(int argc, char **argv) {
  const char *model = NULL, *in = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (elign_cli_is_help(argv[i])) {
      printf("usage: elign denoise --model M.h5 --in STATES.h5 --out OUT.h5\n\n"
             "One network call per molecule on given latents: for each molecule's\n"
             "transition t -> s (s = t-1 unless /s is given; t = 0 is the final decode)\n"
             "writes eps_hat, mu, sigma and zhat0 (layout: docs/formats-diffusion.md).\n");
      return ELIGN_EXIT_OK;
    }
    const char **dst = strcmp(argv[i], "--model") == 0 ? &model
                        : strcmp(argv[i], "--in") == 0  ? &in
                        : strcmp(argv[i], "--out") == 0 ? &out
                                                        : NULL;
    if (!dst) {
      fprintf(stderr, "elign denoise: unknown option '%s' (see --help)\n", argv[i]);
      return ELIGN_EXIT_USAGE;
    }
    if (!need_value(argc, argv, i, "denoise")) return ELIGN_EXIT_USAGE;
    *dst = argv[++i];
  }
  if (!model || !in || !out) {
    fprintf(stderr, "elign denoise: --model, --in and --out are required (see --help)\n");
    return ELIGN_EXIT_USAGE;
  }
  elign_error err;
  elign_error_clear(&err);
  if (run_denoise(model, in, out, &err)) return elign_cli_fail(&err);
  return ELIGN_EXIT_OK;
}

/* ---- sample -------------------------------------------------------------- */

typedef struct {
  const char *model, *out, *xyz, *sdf, *nodes_from;
  int64_t n, seed, steps, batch, T;
} sample_args;

static void sample_usage(FILE *f) {
  fprintf(f, "usage: elign sample --model M.h5 -n N --out SAMPLES.h5 [--seed S] [--steps K]\n"
             "                    [--T T] [--batch B] [--nodes-from DATASET.h5] [--xyz OUT.xyz] [--sdf OUT.sdf]\n\n"
             "Unguided ancestral sampling (EDM, DDPM updates). Atom counts are drawn from\n"
             "the model's histogram, or from a dataset file's (--nodes-from). --T sets the chain length (default: the model's\n"
             "diffusion_steps); --steps K < T takes strides of T/K (K must divide T).\n"
             "Under mpirun the molecules are split over ranks in whole batches; the output\n"
             "is bitwise identical for any rank count (same threads per rank).\n"
             "Defaults: --seed %ld (the config key seed), --batch 64.\n",
          elign_config_default_int("seed"));
}

static int parse_sample_args(int argc, char **argv, sample_args *a) {
  memset(a, 0, sizeof *a);
  a->seed = elign_config_default_int("seed");
  a->batch = 64;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (elign_cli_is_help(o)) return 1;
    const char **str = strcmp(o, "--model") == 0 ? &a->model
                       : strcmp(o, "--out") == 0 ? &a->out
                       : strcmp(o, "--xyz") == 0 ? &a->xyz
                       : strcmp(o, "--sdf") == 0 ? &a->sdf
                       : strcmp(o, "--nodes-from") == 0 ? &a->nodes_from
                                                 : NULL;
    int64_t *num = strcmp(o, "-n") == 0 ? &a->n
                   : strcmp(o, "--seed") == 0 ? &a->seed
                   : strcmp(o, "--steps") == 0 ? &a->steps
                   : strcmp(o, "--batch") == 0 ? &a->batch
                   : strcmp(o, "--T") == 0 ? &a->T
                                           : NULL;
    if (!str && !num) {
      fprintf(stderr, "elign sample: unknown option '%s' (see --help)\n", o);
      return 2;
    }
    if (!need_value(argc, argv, i, "sample")) return 2;
    if (str) *str = argv[++i];
    else if (!parse_i64(argv[++i], num, "sample", o)) return 2;
  }
  if (!a->model || !a->out || a->n < 1 || a->batch < 1 || a->steps < 0 || a->T < 0 || a->seed < 0) {
    fprintf(stderr, "elign sample: need --model, --out and -n N >= 1 (batch >= 1, steps/T/seed >= 0; see --help)\n");
    return 2;
  }
  return 0;
}

/* Replace the model's size histogram by a dataset file's (ascending sizes). */
static elign_status use_dataset_hist(edm_model *m, const char *path, elign_error *err) {
  elign_hist h;
  elign_status st = elign_dataset_read_nodes_hist(path, &h, err);
  if (st) return st;
  int *sizes = elign_malloc((size_t)(h.n > 0 ? h.n : 1) * sizeof(int), "sample:hist");
  double *counts = elign_malloc((size_t)(h.n > 0 ? h.n : 1) * sizeof(double), "sample:hist");
  for (int64_t k = 0; k < h.n; k++) sizes[k] = (int)h.key[k], counts[k] = (double)h.count[k];
  diffusion_nodes_hist_free(&m->nodes);
  st = diffusion_nodes_hist_init(&m->nodes, sizes, counts, (int)h.n, err);
  if (st) elign_error_prefix(err, "%s: ", path);
  elign_free(sizes);
  elign_free(counts);
  elign_hist_free(&h);
  return st;
}

int sample_main(int argc, char **argv) {
  sample_args a;
  int rc = parse_sample_args(argc, argv, &a);
  if (rc == 1) {
    sample_usage(stdout);
    return ELIGN_EXIT_OK;
  }
  if (rc) return ELIGN_EXIT_USAGE;
  elign_error err;
  elign_error_clear(&err);
  /* Every rank is an actor: no oracle or DFT ranks for plain sampling. */
  elign_runctx_options ro = {.oracle_ranks = 0, .dft_ranks = 0};
  elign_runctx ctx;
  edm_model m;
  memset(&m, 0, sizeof m);
  elign_status st = elign_runctx_init(&ctx, &argc, &argv, &ro, &err);
  if (!st) st = edm_model_load(&m, a.model, &err); /* same outcome on every rank */
  if (!st && a.nodes_from) st = use_dataset_hist(&m, a.nodes_from, &err);
  if (elign_runctx_agree(&ctx, &err)) {
    edm_model_free(&m);
    elign_runctx_free(&ctx);
    return ELIGN_EXIT_FAIL;
  }
  const elign_world *w = &ctx.world;
  sampler_config cfg = {.model = &m, .T = (int)a.T, .steps = (int)a.steps, .seed = (uint64_t)a.seed, .batch = a.batch,
                        .progress_label = w->is_learner ? "sampling (rank 0's share, molecule-steps)" : NULL};
  int64_t first, count;
  sampler_rank_range(a.n, a.batch, w->actor_index, w->n_actors, &first, &count);
  double t0 = elign_wtime();
  sampler_output out;
  st = sampler_run(&cfg, first, count, NULL, &out, &err);
  double dt = elign_wtime() - t0;
  if (elign_runctx_agree(&ctx, &err)) {
    if (!st) sampler_output_free(&out); /* another rank failed */
    edm_model_free(&m);
    elign_runctx_free(&ctx);
    return ELIGN_EXIT_FAIL;
  }
  elign_samples_meta meta;
  memset(&meta, 0, sizeof meta);
  snprintf(meta.model, sizeof meta.model, "%s", a.model);
  meta.seed = (uint64_t)a.seed;
  meta.steps = a.steps > 0 ? a.steps : (a.T > 0 ? a.T : m.T0);
  meta.iteration = -1;
  st = elign_samples_write_parallel(w->actors, a.out, &out.mols, NULL, &meta, &err);
  double max_com = out.max_com, all_com = 0, all_dt = 0;
  MPI_Reduce(&max_com, &all_com, 1, MPI_DOUBLE, MPI_MAX, 0, w->actors);
  MPI_Reduce(&dt, &all_dt, 1, MPI_DOUBLE, MPI_MAX, 0, w->actors);
  if (!st && w->is_learner)
    elign_info("sampled %lld molecules on %d rank(s) in %.2f s (%.2f mol/s); max |CoM| %.3g; wrote %s",
               (long long)a.n, w->n_actors, all_dt, (double)a.n / (all_dt > 0 ? all_dt : 1), all_com, a.out);
  sampler_output_free(&out);
  if (!st && w->is_learner && (a.xyz || a.sdf)) st = elign_export_samples(a.out, a.xyz, a.sdf, &err);
  st = elign_runctx_agree(&ctx, &err);
  edm_model_free(&m);
  elign_runctx_free(&ctx);
  return st ? ELIGN_EXIT_FAIL : ELIGN_EXIT_OK;
}
