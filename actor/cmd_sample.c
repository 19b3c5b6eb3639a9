/* cmd_sample.c — `elign denoise`, `elign sample`, `elign export`.
 *
 *   denoise: one network call + reverse-step quantities on given latents (the
 *            surface for parity checks against PyTorch; docs/formats-diffusion.md)
 *   sample:  unguided ancestral sampling, MPI-parallel, one samples file
 *   export:  samples file → XYZ and/or SDF (SDF atoms only, no bond block)
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/commands.h"
#include "actor/guidance.h"
#include "actor/sampler.h"
#include "common/base/provenance.h"
#include "common/base/cli.h"
#include "common/base/config.h"
#include "common/io/dataset_io.h"
#include "common/io/export.h"
#include "common/io/molset_mpi.h"
#include "common/model/edm_model.h"
#include "common/io/h5io.h"
#include "common/base/interrupt.h"
#include "common/base/watchdog.h"
#include "common/base/log.h"
#include "common/base/memory.h"
#include "common/base/outputs.h"
#include "common/base/parse.h"
#include "common/mpi/runctx.h"
#include "oracle/oracle.h"
#include "oracle/service/client.h"
#include "oracle/service/server.h"

#define DENOISE_STATES_FORMAT "denoise_states"
#define DENOISE_OUTPUT_FORMAT "denoise_output"


/* ---- small argument helpers ---------------------------------------------- */

static int need_value(int argc, char **argv, int i, const char *cmd) {
  if (i + 1 >= argc) {
    fprintf(stderr, "elign %s: option %s needs a value (see --help)\n", cmd, argv[i]);
    return 0;
  }
  return 1;
}

/* ---- export -------------------------------------------------------------- */

int export_main(int argc, char **argv) {
  const char *in = NULL, *xyz = NULL, *sdf = NULL;
  int force = 0;
  for (int i = 1; i < argc; i++) {
    if (elign_cli_is_help(argv[i])) {
      printf("usage: elign export SAMPLES.h5 [--xyz OUT.xyz] [--sdf OUT.sdf] [--force]\n\n"
             "Write the molecules of a samples file as XYZ (one block per molecule,\n"
             "positions in Å) and/or SDF (V2000 atom blocks, no bonds).\n"
             "  --force   replace existing output files (never the input)\n");
      return ELIGN_EXIT_OK;
    } else if (strcmp(argv[i], "--force") == 0) {
      force = 1;
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
  elign_file_arg outs[] = {{xyz, "--xyz"}, {sdf, "--sdf"}}, ins[] = {{in, "SAMPLES"}};
  if (elign_outputs_check(outs, 2, ins, 1, force, &err)) return elign_cli_fail(&err);
  elign_interrupt_install("export");
  elign_interrupt_doing("exporting", "outputs not finished are not written (temporaries removed); the input untouched");
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
  elign_status st = elign_h5_open_read(path, DENOISE_STATES_FORMAT, ELIGN_DENOISE_VERSION, &f, NULL, NULL, err);
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

/* Is every row of molecule m finite in each array given (NULL: skipped)?
 * z: float (N, D); a, b, c: elign_real (N, D); per_mol: elign_real [n_mol]. */
typedef struct {
  const float *z;
  const elign_real *a, *b, *c, *per_mol;
} denoise_arrays;

static int molecule_finite(const denoise_arrays *x, const int64_t *off, int64_t m, int64_t D) {
  if (x->per_mol && !isfinite(x->per_mol[m])) return 0;
  for (int64_t j = off[m] * D; j < off[m + 1] * D; j++)
    if ((x->z && !isfinite(x->z[j])) || (x->a && !isfinite(x->a[j])) || (x->b && !isfinite(x->b[j])) ||
        (x->c && !isfinite(x->c[j])))
      return 0;
  return 1;
}

/* How many molecules hold a NaN or Inf; `list` gets the first few ("1, 4, ..."). */
static int64_t nonfinite_molecules(const denoise_arrays *x, const int64_t *off, int64_t n_mol, int64_t D, char *list,
                                   size_t cap) {
  int64_t bad = 0;
  size_t used = 0;
  list[0] = '\0';
  for (int64_t m = 0; m < n_mol; m++) {
    if (molecule_finite(x, off, m, D)) continue;
    if (used < cap) used += (size_t)snprintf(list + used, cap - used, bad < 8 ? "%s%lld" : "%s...", bad ? ", " : "",
                                             (long long)m);
    if (bad == 8) used = cap; /* the list is complete */
    bad++;
  }
  return bad;
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
  char list[128];
  denoise_arrays inputs = {.z = d.z};
  int64_t n_bad = st ? 0 : nonfinite_molecules(&inputs, d.offsets, d.n_mol, D, list, sizeof list);
  if (n_bad) {
    st = ELIGN_FAIL(err, ELIGN_ERR_NUMERIC, "%s: /z_t of %lld of %lld molecules is not finite (molecules %s); nothing "
                    "written", in, (long long)n_bad, (long long)d.n_mol, list);
    elign_error_hint(err, "drop or fix those molecules' latents");
  }
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
  /* finite inputs and a finite model can still overflow: never write those results */
  denoise_arrays results = {.a = eps, .b = mu, .c = x0, .per_mol = sigma};
  if (!st && (n_bad = nonfinite_molecules(&results, d.offsets, d.n_mol, D, list, sizeof list)) > 0)
    st = ELIGN_FAIL(err, ELIGN_ERR_NUMERIC, "%s: the network's results for %lld of %lld molecules are not finite "
                    "(molecules %s); nothing written", in, (long long)n_bad, (long long)d.n_mol, list);
  if (!st) {
    elign_h5_writer w;
    st = elign_h5_writer_create(&w, out, DENOISE_OUTPUT_FORMAT, ELIGN_DENOISE_VERSION, err);
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
  int force = 0;
  for (int i = 1; i < argc; i++) {
    if (elign_cli_is_help(argv[i])) {
      printf("usage: elign denoise --model M.h5 --in STATES.h5 --out OUT.h5 [--force]\n\n"
             "One network call per molecule on given latents: for each molecule's\n"
             "transition t -> s (s = t-1 unless /s is given; t = 0 is the final decode)\n"
             "writes eps_hat, mu, sigma and zhat0 (layout: docs/formats-diffusion.md).\n"
             "Molecules with non-finite latents or results are named and nothing is written.\n"
             "  --force   replace an existing OUT.h5 (never an input)\n");
      return ELIGN_EXIT_OK;
    }
    if (strcmp(argv[i], "--force") == 0) {
      force = 1;
      continue;
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
  elign_file_arg outs[] = {{out, "--out"}}, ins[] = {{model, "--model"}, {in, "--in"}};
  if (elign_outputs_check(outs, 1, ins, 2, force, &err)) return elign_cli_fail(&err);
  elign_interrupt_install("denoise");
  elign_interrupt_doing("denoising", "the output not written (any temporary removed); inputs untouched");
  if (run_denoise(model, in, out, &err)) return elign_cli_fail(&err);
  return ELIGN_EXIT_OK;
}

/* ---- sample -------------------------------------------------------------- */

/* Molecule indices key the RNG's 32-bit group field (sampler.h) and size
 * int-indexed arrays: one run samples at most 2^31 - 1 molecules. */
#define SAMPLE_MAX_MOLECULES 2147483647LL
#define SAMPLE_MAX_BATCH 100000
#define SAMPLE_MAX_T 65535 /* the RNG's step field */

typedef struct {
  const char *model, *out, *xyz, *sdf, *nodes_from;
  int64_t n, steps, batch, T;
  uint64_t seed;
  double timeout; /* mpi.timeout, s; 0 = the default */
  int force;
  /* run-time guidance (actor/guidance.h) */
  const char *guidance;       /* oracle backend, or NULL: unguided */
  const char *oracle_config;  /* --config: oracle.* settings */
  guidance_options gopt;
  int64_t oracle_ranks, oracle_batch;
  int oracle_batch_given;
  elign_oracle_options opt;   /* --model-dir, --oracle-model, --scratch (flags beat --config) */
} sample_args;

#define SAMPLE_GUIDANCE_SCALE_DEFAULT 0.01 /* Å²/eV */

static void sample_usage(FILE *f) {
  fprintf(f, "usage: elign sample --model M.h5 -n N --out SAMPLES.h5 [--seed S] [--steps K]\n"
             "                    [--T T] [--batch B] [--nodes-from DATASET.h5] [--xyz OUT.xyz] [--sdf OUT.sdf]\n"
             "                    [--guidance BACKEND [--guidance-scale S] ...] [--timeout S] [--force]\n\n"
             "Ancestral sampling (EDM, DDPM updates), unguided unless --guidance. Atom counts are drawn from\n"
             "the model's histogram, or from a dataset file's (--nodes-from). --T sets the chain length (default: the model's\n"
             "diffusion_steps); --steps K < T takes strides of T/K (K must divide T).\n"
             "Under mpirun the molecules are split over ranks in whole batches, balanced by their\n"
             "network cost; the output is bitwise identical for any rank count (same threads per rank).\n"
             "  -n N        1..%lld molecules (checked against the memory available)\n"
             "  --seed S    0..18446744073709551615: the RNG key, stored as is (default %ld, the config key seed)\n"
             "  --batch B   at most B molecules per network batch, 1..%d (default 64); fewer when N < %d B,\n"
             "              so that up to %d ranks get work (the batch follows from N and B only)\n"
             "  --timeout S mpi.timeout: seconds a rank waits for the others before ending the job\n"
             "              naming the silent rank (default %g)\n"
             "  --force     replace existing output files (never an input)\n"
             "A molecule whose latents become non-finite is named and nothing is written.\n\n"
             "Run-time guidance (the MLFF-guided baseline; docs/guidance.md): after every reverse step\n"
             "t -> s the positions move by scale·(1 - σ_t)·F, F the oracle's force (eV/Å) on the state's\n"
             "geometry and argmax atom types, then are re-centred.\n"
             "  --guidance NAME          oracle backend (lj, ani, gfn2-xtb, gfn-ff, python)\n"
             "  --guidance-scale S       Å²/eV, >= 0 (default %g; 0 = exactly the unguided samples)\n"
             "  --guidance-max-sigma X   guide only steps with σ_t <= X (default 1: every step)\n"
             "  --guidance-clip F        cap each atom's force at F eV/Å first (default 0: none)\n"
             "  --oracle-ranks N         under mpirun: N ranks serve the oracle, the rest sample\n"
             "                           (default 0: every rank evaluates its own molecules in-process)\n"
             "  --oracle-batch N         molecules per oracle batch (oracle.batch_size, default %ld);\n"
             "                           the samples depend on it, never on the rank count\n"
             "  --config FILE            oracle.* settings from a config (flags win)\n"
             "  --model-dir DIR  --oracle-model NAME  --scratch DIR   as --model-dir, --model, --scratch\n"
             "                           of `elign oracle`\n",
          SAMPLE_MAX_MOLECULES, elign_config_default_int("seed"), SAMPLE_MAX_BATCH, SAMPLER_SPREAD_BATCHES,
          SAMPLER_SPREAD_BATCHES, ELIGN_MPI_TIMEOUT_DEFAULT,
          SAMPLE_GUIDANCE_SCALE_DEFAULT, elign_config_default_int("oracle.batch_size"));
}

/* One numeric option's value into a; 0 ok, else the message is in err. */
static elign_status sample_number(sample_args *a, const char *o, const char *v, elign_error *err) {
  if (strcmp(o, "-n") == 0) return elign_parse_i64(v, 1, SAMPLE_MAX_MOLECULES, o, &a->n, err);
  if (strcmp(o, "--seed") == 0) return elign_parse_u64(v, 0, UINT64_MAX, o, &a->seed, err);
  if (strcmp(o, "--steps") == 0) return elign_parse_i64(v, 0, SAMPLE_MAX_T, o, &a->steps, err);
  if (strcmp(o, "--batch") == 0) return elign_parse_i64(v, 1, SAMPLE_MAX_BATCH, o, &a->batch, err);
  if (strcmp(o, "--timeout") == 0) return elign_parse_real(v, 1e-3, 1e9, o, &a->timeout, err);
  if (strcmp(o, "--guidance-scale") == 0) return elign_parse_real(v, 0, 1e6, o, &a->gopt.scale, err);
  if (strcmp(o, "--guidance-max-sigma") == 0) return elign_parse_real(v, 1e-9, 1e9, o, &a->gopt.max_sigma, err);
  if (strcmp(o, "--guidance-clip") == 0) return elign_parse_real(v, 0, 1e9, o, &a->gopt.clip, err);
  if (strcmp(o, "--oracle-ranks") == 0) return elign_parse_i64(v, 0, 1000000, o, &a->oracle_ranks, err);
  if (strcmp(o, "--oracle-batch") == 0) {
    a->oracle_batch_given = 1;
    return elign_parse_i64(v, 1, 10000000, o, &a->oracle_batch, err);
  }
  return elign_parse_i64(v, 0, SAMPLE_MAX_T, o, &a->T, err); /* --T */
}

static int is_sample_number(const char *o) {
  static const char *const names[] = {"-n", "--seed", "--steps", "--batch", "--T", "--timeout", "--guidance-scale",
                                      "--guidance-max-sigma", "--guidance-clip", "--oracle-ranks", "--oracle-batch"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
    if (strcmp(o, names[k]) == 0) return 1;
  return 0;
}

static const char **sample_string_slot(sample_args *a, const char *o) {
  return strcmp(o, "--model") == 0           ? &a->model
         : strcmp(o, "--out") == 0          ? &a->out
         : strcmp(o, "--xyz") == 0          ? &a->xyz
         : strcmp(o, "--sdf") == 0          ? &a->sdf
         : strcmp(o, "--nodes-from") == 0   ? &a->nodes_from
         : strcmp(o, "--guidance") == 0     ? &a->guidance
         : strcmp(o, "--config") == 0       ? &a->oracle_config
         : strcmp(o, "--model-dir") == 0    ? &a->opt.model_dir
         : strcmp(o, "--oracle-model") == 0 ? &a->opt.model
         : strcmp(o, "--scratch") == 0      ? &a->opt.scratch_dir
                                            : NULL;
}

/* 0 ok, 1 help, 2 usage error (printed when verbose: only the launcher's rank 0 prints). */
static int parse_sample_args(int argc, char **argv, sample_args *a, int verbose) {
  memset(a, 0, sizeof *a);
  a->seed = (uint64_t)elign_config_default_int("seed");
  a->batch = 64;
  a->gopt.scale = SAMPLE_GUIDANCE_SCALE_DEFAULT;
  a->gopt.max_sigma = 1.0;
  a->oracle_batch = elign_config_default_int("oracle.batch_size");
  elign_oracle_options_init(&a->opt);
  int guidance_flag = 0; /* a --guidance-* or oracle option was given */
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (elign_cli_is_help(o)) return 1;
    if (strcmp(o, "--force") == 0) {
      a->force = 1;
      continue;
    }
    const char **str = sample_string_slot(a, o);
    int num = is_sample_number(o);
    if (!str && !num) {
      if (verbose) fprintf(stderr, "elign sample: unknown option '%s' (see --help)\n", o);
      return 2;
    }
    if (i + 1 >= argc) {
      if (verbose) fprintf(stderr, "elign sample: option %s needs a value (see --help)\n", o);
      return 2;
    }
    const char *v = argv[++i];
    elign_error err;
    elign_error_clear(&err);
    if (strncmp(o, "--guidance-", 11) == 0 || strncmp(o, "--oracle-", 9) == 0 || !strcmp(o, "--config") ||
        !strcmp(o, "--model-dir") || !strcmp(o, "--scratch"))
      guidance_flag = 1;
    if (str) *str = v;
    else if (sample_number(a, o, v, &err)) {
      if (verbose) fprintf(stderr, "elign sample: %s\n", err.msg);
      return 2;
    }
  }
  if (!a->model || !a->out || a->n < 1) {
    if (verbose) fprintf(stderr, "elign sample: need --model, --out and -n N (see --help)\n");
    return 2;
  }
  if (guidance_flag && !a->guidance) {
    if (verbose) fprintf(stderr, "elign sample: the guidance and oracle options need --guidance BACKEND\n");
    return 2;
  }
  a->batch = sampler_batch_for(a->n, a->batch); /* from n and --batch only: the same for any rank count */
  return 0;
}

/* Oracle settings from --config where no flag gave them (as `elign oracle`);
 * cfg owns the strings and must outlive a. */
static elign_status sample_oracle_config(sample_args *a, elign_config **cfg, elign_error *err) {
  elign_status st = elign_config_load(a->oracle_config, NULL, 0, cfg, err);
  if (st) return st;
  elign_oracle_options from_cfg;
  elign_oracle_options_from_config(*cfg, &from_cfg);
  const char **override[][2] = {{&from_cfg.model, &a->opt.model},
                                {&from_cfg.model_dir, &a->opt.model_dir},
                                {&from_cfg.scratch_dir, &a->opt.scratch_dir}};
  for (size_t i = 0; i < sizeof override / sizeof override[0]; i++)
    if (*override[i][1]) *override[i][0] = *override[i][1];
  a->opt = from_cfg;
  if (!a->oracle_batch_given) a->oracle_batch = elign_config_get_int(*cfg, "oracle.batch_size");
  if (a->timeout <= 0) a->timeout = elign_config_get_double(*cfg, "mpi.timeout");
  return ELIGN_OK;
}

/* Molecules with a non-finite position (the decode marks atoms whose latent
 * went NaN/Inf, diffusion.h) are named by global index; nothing is written. */
static elign_status check_finite_samples(const elign_molset *s, elign_error *err) {
  int64_t bad = 0;
  char list[160] = "";
  size_t used = 0;
  for (int64_t m = 0; m < s->n_mol; m++) {
    int finite = 1;
    for (int64_t k = 3 * s->offsets[m]; k < 3 * s->offsets[m + 1] && finite; k++) finite = isfinite(s->pos[k]);
    if (finite) continue;
    if (bad < 8 && used < sizeof list)
      used += (size_t)snprintf(list + used, sizeof list - used, "%s%lld", bad ? ", " : "",
                               (long long)(s->ids ? s->ids[m] : m));
    bad++;
  }
  if (!bad) return ELIGN_OK;
  ELIGN_FAIL(err, ELIGN_ERR_NUMERIC, "%lld of %lld molecules sampled here have non-finite latents (molecules %s%s); "
             "nothing written", (long long)bad, (long long)s->n_mol, list, bad > 8 ? ", ..." : "");
  elign_error_hint(err, "the model's activations overflow: check the model (elign info) or use an earlier checkpoint");
  return ELIGN_ERR_NUMERIC;
}

/* Bytes one molecule of the model's size histogram holds while this command
 * runs: positions (double), types and charges (int32) as sampled, once more
 * while the file is written (or while the molecules move into global order:
 * the sampled copy is freed once sent), plus offsets and ids. */
static double sample_bytes_per_molecule(const edm_model *m) {
  double atoms = 0, total = 0;
  for (int k = 0; k < m->nodes.n; k++) atoms += m->nodes.sizes[k] * m->nodes.counts[k], total += m->nodes.counts[k];
  double mean_atoms = total > 0 ? atoms / total : 0;
  return 2.0 * (mean_atoms * (3 * sizeof(double) + 2 * sizeof(int32_t)) + 2 * sizeof(int64_t));
}

/* Fail early if this rank's share of the molecules cannot fit in memory;
 * ranks on one node share it. Collective over w->comm. */
static elign_status check_sample_memory(const elign_world *w, const edm_model *m, int64_t count, elign_error *err) {
  MPI_Comm node;
  int node_ranks = 1;
  if (MPI_Comm_split_type(w->comm, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    MPI_Comm_size(node, &node_ranks);
    MPI_Comm_free(&node);
  }
  char what[96];
  snprintf(what, sizeof what, "sampling %lld molecules on this rank", (long long)count);
  return elign_memory_check((double)count * sample_bytes_per_molecule(m), 1.0 / node_ranks, what, err);
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

/* ---- guided sampling: the oracle side and the actor's client -------------- */

/* Where the guidance oracle lives: on oracle ranks, or in every actor when
 * there are none (unguided: nowhere). */
static elign_status sample_create_oracle(const elign_world *w, sample_args *a, elign_oracle **oracle,
                                         elign_error *err) {
  if (!a->guidance) return ELIGN_OK;
  a->opt.rank = w->rank;
  if (w->is_oracle || (w->is_actor && w->embedded_oracle)) return elign_oracle_create(a->guidance, &a->opt, oracle, err);
  return ELIGN_OK;
}

/* An oracle rank: serve the actors assigned to it until each said DONE. */
static elign_status sample_serve(const elign_runctx *ctx, const sample_args *a, elign_oracle *oracle,
                                 elign_error *err) {
  const elign_world *w = &ctx->world;
  int *clients = elign_malloc((size_t)w->size * sizeof *clients, "sample:clients");
  int n = elign_world_oracle_clients(w, w->rank, clients, w->size);
  elign_oracle_server_options so = {.batch_size = (int)a->oracle_batch, .n_clients = n, .timeout_s = ctx->timeout_s,
                                    .clients = clients};
  elign_oracle_server_stats stats;
  elign_interrupt_doing("serving the guidance oracle", "nothing written; inputs untouched");
  elign_status st = n > 0 ? elign_oracle_server_run(oracle, w->comm, &so, &stats, err) : ELIGN_OK;
  if (st == ELIGN_ERR_TIMEOUT) elign_world_fail_one(err); /* an actor is silent: end the job from here */
  if (!st && n > 0) elign_oracle_server_stats_log(&stats, so.batch_size);
  elign_free(clients);
  return st;
}

static elign_status sample_client(const elign_runctx *ctx, const sample_args *a, elign_oracle *oracle,
                                  elign_oracle_client **client, elign_error *err) {
  const elign_world *w = &ctx->world;
  elign_status st = w->embedded_oracle
                        ? elign_oracle_client_create_embedded(oracle, (int)a->oracle_batch, client, err)
                        : elign_oracle_client_create_mpi(w->comm, &w->my_oracle, 1, client, err);
  if (!st) elign_oracle_client_set_timeout(*client, ctx->timeout_s);
  return st;
}

/* This actor's molecules (its share's ranges, in order), guided or not. */
static elign_status sample_actor(const elign_runctx *ctx, const sample_args *a, const sampler_config *cfg,
                                 elign_oracle *oracle, const sampler_share *share, sampler_output *out,
                                 guidance_stats *gstats, elign_error *err) {
  if (!a->guidance) return sampler_run_ranges(cfg, share->ranges, share->n_ranges, NULL, out, err);
  elign_oracle_client *client = NULL;
  elign_status st = sample_client(ctx, a, oracle, &client, err);
  if (st) {
    memset(out, 0, sizeof *out);
    return st;
  }
  guidance g;
  guidance_init(&g, cfg->model, client, &a->gopt);
  sampler_adjust adj = guidance_adjust(&g);
  sampler_config gcfg = *cfg;
  gcfg.adjust = &adj;
  st = sampler_run_ranges(&gcfg, share->ranges, share->n_ranges, NULL, out, err);
  if (st == ELIGN_ERR_TIMEOUT) elign_world_fail_one(err); /* an oracle rank is silent: nobody can end cleanly */
  elign_error done_err;
  elign_error_clear(&done_err);
  elign_oracle_client_done(client, &done_err); /* always: the server waits for it */
  elign_oracle_client_destroy(&client);
  *gstats = g.stats;
  guidance_free(&g);
  return st;
}

/* Rank 0's line about the split: its balance is what limits the speed-up
 * with ranks when the batches are few (-n 16: 16 one-molecule batches). */
static void sample_log_share(const sample_args *a, int n_actors, double largest_share) {
  if (n_actors > 1 && !isnan(largest_share))
    elign_info("sharing %lld molecules in batches of %lld over %d ranks: the largest rank's share is %.1f %% of the "
               "network cost (sum of n^2)", (long long)a->n, (long long)a->batch, n_actors, 100 * largest_share);
}

/* Rank 0's line about the guidance (sums over the actors). Collective over w->actors. */
static void sample_log_guidance(const elign_world *w, const sample_args *a, const guidance_stats *g, double all_dt) {
  double loc[4] = {(double)g->molecules, (double)g->flagged, (double)g->steps_guided, g->oracle_s}, sum[4];
  double mx[2] = {g->oracle_s, g->max_force}, allmx[2];
  MPI_Reduce(loc, sum, 4, MPI_DOUBLE, MPI_SUM, 0, w->actors);
  MPI_Reduce(mx, allmx, 2, MPI_DOUBLE, MPI_MAX, 0, w->actors);
  if (w->is_learner)
    elign_info("guidance '%s' scale %g Å²/eV (max σ %g, clip %g eV/Å): %.0f oracle molecule evaluations in %.0f "
               "batch steps, %.0f flagged (no force); oracle wait %.2f s on the slowest actor (%.0f%% of %.2f s); "
               "largest |F| %.3g eV/Å",
               a->guidance, a->gopt.scale, a->gopt.max_sigma, a->gopt.clip, sum[0], sum[2], sum[1], allmx[0],
               all_dt > 0 ? 100 * allmx[0] / all_dt : 0, all_dt, allmx[1]);
}

int sample_main(int argc, char **argv) {
  sample_args a;
  int rc = parse_sample_args(argc, argv, &a, elign_launcher_rank() == 0);
  if (rc == 1) {
    if (elign_launcher_rank() == 0) sample_usage(stdout);
    return ELIGN_EXIT_OK;
  }
  if (rc) return ELIGN_EXIT_USAGE;
  elign_error err;
  elign_error_clear(&err);
  elign_config *ocfg = NULL; /* owns the oracle option strings */
  if ((a.oracle_config && sample_oracle_config(&a, &ocfg, &err)) || (a.guidance && guidance_options_check(&a.gopt, &err))) {
    if (elign_launcher_rank() == 0) elign_error_print(&err); /* every rank found it, before MPI starts */
    elign_config_free(&ocfg);
    return ELIGN_EXIT_FAIL;
  }
  /* Unguided: every rank is an actor. Guided: --oracle-ranks ranks serve the oracle. */
  elign_runctx_options ro = {.oracle_ranks = a.guidance ? (int)a.oracle_ranks : 0, .dft_ranks = 0,
                             .timeout_s = a.timeout};
  elign_runctx ctx;
  edm_model m;
  memset(&m, 0, sizeof m);
  elign_oracle *oracle = NULL;
  const elign_world *w = &ctx.world;
  elign_interrupt_install("sample"); /* before MPI starts: a signal then already says what it stopped */
  elign_interrupt_doing("starting", "nothing written; inputs untouched");
  elign_status st = elign_runctx_init(&ctx, &argc, &argv, &ro, &err);
  elign_interrupt_doing("loading the model", "nothing written; inputs untouched");
  if (!st && w->is_learner) { /* rank 0 publishes every output: it alone checks them */
    elign_file_arg outs[] = {{a.out, "--out"}, {a.xyz, "--xyz"}, {a.sdf, "--sdf"}};
    elign_file_arg ins[] = {{a.model, "--model"}, {a.nodes_from, "--nodes-from"}, {a.oracle_config, "--config"}};
    st = elign_outputs_check(outs, 3, ins, 3, a.force, &err);
  }
  if (!st && w->is_actor) st = edm_model_load(&m, a.model, &err); /* same outcome on every actor */
  if (!st && w->is_actor && a.nodes_from) st = use_dataset_hist(&m, a.nodes_from, &err);
  if (!st) st = sample_create_oracle(w, &a, &oracle, &err);
  sampler_share share;
  memset(&share, 0, sizeof share);
  if (!st) {
    if (w->is_actor) {
      sampler_config draws = {.model = &m, .seed = a.seed, .batch = a.batch}; /* the sizes, as sampling draws them */
      sampler_rank_share(&draws, a.n, w->actor_index, w->n_actors, &share);
    }
    st = check_sample_memory(w, &m, share.count, &err); /* collective over the world: oracle ranks ask for 0 */
  }
  if (elign_runctx_agree(&ctx, &err)) {
    sampler_share_free(&share);
    elign_oracle_destroy(&oracle);
    edm_model_free(&m);
    elign_runctx_free(&ctx);
    elign_config_free(&ocfg);
    return ELIGN_EXIT_FAIL;
  }
  if (w->is_oracle) { /* serve, then take part in the two agreements the actors reach */
    elign_error_clear(&err);
    sample_serve(&ctx, &a, oracle, &err);
    st = elign_runctx_agree(&ctx, &err);
    if (!st) {
      elign_error_clear(&err);
      st = elign_runctx_agree(&ctx, &err);
    }
    elign_oracle_destroy(&oracle);
    elign_runctx_free(&ctx);
    elign_config_free(&ocfg);
    return st ? ELIGN_EXIT_FAIL : ELIGN_EXIT_OK;
  }
  sampler_config cfg = {.model = &m, .T = (int)a.T, .steps = (int)a.steps, .seed = a.seed, .batch = a.batch,
                        .progress_label = w->is_learner ? "sampling (rank 0's share, molecule-steps)" : NULL};
  char doing[300], kept[300];
  snprintf(doing, sizeof doing, "%s %lld molecules", a.guidance ? "guided sampling of" : "sampling", (long long)a.n);
  elign_interrupt_doing(doing, "nothing written; inputs untouched");
  double t0 = elign_wtime();
  sampler_output out;
  guidance_stats gstats;
  memset(&gstats, 0, sizeof gstats);
  if (w->is_learner) sample_log_share(&a, w->n_actors, share.largest_share);
  st = sample_actor(&ctx, &a, &cfg, oracle, &share, &out, &gstats, &err);
  sampler_share_free(&share);
  elign_oracle_destroy(&oracle);
  if (!st && (st = check_finite_samples(&out.mols, &err))) sampler_output_free(&out);
  double dt = elign_wtime() - t0;
  if (elign_runctx_agree(&ctx, &err)) {
    if (!st) sampler_output_free(&out); /* another rank failed */
    edm_model_free(&m);
    elign_runctx_free(&ctx);
    elign_config_free(&ocfg);
    return ELIGN_EXIT_FAIL;
  }
  elign_samples_meta meta;
  memset(&meta, 0, sizeof meta);
  snprintf(meta.model, sizeof meta.model, "%s", a.model);
  meta.seed = a.seed;
  meta.steps = a.steps > 0 ? a.steps : (a.T > 0 ? a.T : m.T0);
  meta.iteration = -1;
  const char *model_hash = elign_provenance_input_sha256(a.model); /* hashed when edm_model_load read it */
  snprintf(meta.model_sha256, sizeof meta.model_sha256, "%s", model_hash ? model_hash : "");
  elign_provenance_set_seed(a.seed);
  snprintf(doing, sizeof doing, "writing %s", a.out);
  snprintf(kept, sizeof kept, "%s not written (its temporary removed); inputs untouched", a.out);
  elign_interrupt_doing(doing, kept);
  /* the redistribution and collective MPI-IO: bounded by the watchdog, not by our own waits */
  snprintf(doing, sizeof doing, "writing %s with every rank", a.out);
  elign_watchdog_arm(ctx.timeout_s, doing, kept);
  elign_free(out.charges); /* not in the file, and not reordered below */
  out.charges = NULL;
  st = elign_molset_redistribute_by_id(w->actors, &out.mols, &err); /* the file needs ordered contiguous slices */
  if (!st) st = elign_samples_write_parallel(w->actors, a.out, &out.mols, NULL, &meta, &err);
  double max_com = out.max_com, all_com = 0, all_dt = 0;
  MPI_Reduce(&max_com, &all_com, 1, MPI_DOUBLE, MPI_MAX, 0, w->actors);
  MPI_Reduce(&dt, &all_dt, 1, MPI_DOUBLE, MPI_MAX, 0, w->actors);
  if (a.guidance) sample_log_guidance(w, &a, &gstats, all_dt);
  elign_watchdog_disarm();
  if (!st && w->is_learner)
    elign_info("sampled %lld molecules on %d rank(s) in %.2f s (%.2f mol/s); max |CoM| %.3g; wrote %s",
               (long long)a.n, w->n_actors, all_dt, (double)a.n / (all_dt > 0 ? all_dt : 1), all_com, a.out);
  sampler_output_free(&out);
  if (!st && w->is_learner && (a.xyz || a.sdf)) {
    snprintf(doing, sizeof doing, "exporting %s", a.out);
    snprintf(kept, sizeof kept, "%s written and kept; the XYZ/SDF export not written", a.out);
    elign_interrupt_doing(doing, kept);
    st = elign_export_samples(a.out, a.xyz, a.sdf, &err);
  }
  st = elign_runctx_agree(&ctx, &err);
  edm_model_free(&m);
  elign_runctx_free(&ctx);
  elign_config_free(&ocfg);
  return st ? ELIGN_EXIT_FAIL : ELIGN_EXIT_OK;
}
