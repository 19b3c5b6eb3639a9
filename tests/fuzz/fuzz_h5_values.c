/* fuzz_h5_values.c — libFuzzer target: well-formed HDF5 files with
 * fuzzer-chosen CONTENTS, read by every reader (fuzz_h5_read_all).
 *
 * Byte mutations of a real file (fuzz_h5.c) almost always hit a Fletcher32
 * or metadata checksum and stop there, so they rarely reach the checks
 * behind them: offsets that decrease or leave the atom count, dims that
 * disagree, histograms out of order, split indices out of range, views
 * outside the parameter buffer, architectures larger than the parameters...
 * This harness reads the input as a recipe instead: for each dataset and
 * attribute a reader may look for (of the dataset, samples, oracle-result
 * and model kinds), whether it exists, its rank, dims, type and values
 * (raw bytes, small numbers or running sums of small numbers, so sizes
 * are often consistent and the deeper checks are reached). The file is
 * written through the library's own checksummed writers, so every reader
 * sees valid storage holding arbitrary values.
 * Seeds: tests/fuzz/corpus/values/ (a few random recipes). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/io/h5io.h"
#include "tests/fuzz/fuzz_common.h"

typedef struct {
  const uint8_t *p;
  size_t n;
} recipe;

static uint8_t u8(recipe *r) {
  if (r->n == 0) return 0;
  r->n--;
  return *r->p++;
}

static uint64_t u64(recipe *r) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | u8(r);
  return v;
}

/* An integer: raw 64 bits, small (0..39), or a plausible size (0..1023). */
static int64_t int_value(recipe *r) {
  switch (u8(r) % 4) {
    case 0: return (int64_t)u64(r);
    case 1: return u8(r) % 40;
    case 2: return (int64_t)(u8(r) % 4) << 8 | u8(r);
    default: return (int64_t)u8(r) - 128;
  }
}

static double real_value(recipe *r) {
  if (u8(r) % 3 == 0) {
    uint64_t bits = u64(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
  }
  return (double)int_value(r) / 4;
}

static const char *const words[] = {"dataset", "samples", "oracle_results", "model", "egnn_dynamics", "sum",
                                    "polynomial_2", "qm9", "geom", "adamw", "angstrom", "eV", "", "cosine"};

static char *string_value(recipe *r) {
  uint8_t c = u8(r);
  if (c % 2 == 0) return strdup(words[(c / 2) % (sizeof words / sizeof words[0])]);
  size_t len = u8(r) % 24;
  char *s = calloc(len + 1, 1);
  for (size_t i = 0; i < len; i++) s[i] = (char)(u8(r) | 1);
  return s;
}

typedef enum { T_I64, T_I32, T_U64, T_F64, T_F32, T_STR } kind_t;

static hid_t memtype_of(kind_t t) {
  switch (t) {
    case T_I64: return H5T_NATIVE_INT64;
    case T_I32: return H5T_NATIVE_INT32;
    case T_U64: return H5T_NATIVE_UINT64;
    case T_F64: return H5T_NATIVE_DOUBLE;
    case T_F32: return H5T_NATIVE_FLOAT;
    default: return H5I_INVALID_HID;
  }
}

/* One dataset as the recipe says: present or not; usually the expected type
 * and rank, sometimes another; dims 0..40 (the second 0..5, usually 3 or 4);
 * values in one of the modes (cumulative sums make plausible offsets). */
static void put_dataset(hid_t f, const char *name, kind_t want, int want_rank, recipe *r) {
  uint8_t how = u8(r);
  if (how % 4 == 0) return; /* absent */
  kind_t t = how % 16 == 1 ? (kind_t)(u8(r) % 6) : want;
  int rank = how % 32 == 3 ? 1 + u8(r) % 3 : want_rank;
  hsize_t dims[3] = {u8(r) % 41, 1, 1};
  for (int d = 1; d < rank; d++) {
    uint8_t b = u8(r);
    dims[d] = b % 4 == 0 ? b % 6 : (want_rank == 2 && strstr(name, "shapes") ? 4 : 3);
  }
  size_t total = 1;
  for (int d = 0; d < rank; d++) total *= dims[d];
  elign_error err;
  if (t == T_STR) { /* 1-D only */
    total = dims[0];
    char **s = calloc(total ? total : 1, sizeof *s);
    for (size_t i = 0; i < total; i++) s[i] = string_value(r);
    elign_h5_write_strings(f, name, (int64_t)dims[0], s, &err); /* rank 1 only */
    for (size_t i = 0; i < total; i++) free(s[i]);
    free(s);
    return;
  }
  uint8_t mode = u8(r) % 3;
  size_t esize = H5Tget_size(memtype_of(t));
  char *buf = calloc(total ? total : 1, esize);
  int64_t run = 0;
  for (size_t i = 0; i < total; i++) {
    int64_t iv = mode == 2 ? (run += u8(r) % 5) : int_value(r);
    if (mode == 2 && i == 0) iv = run = 0;
    double dv = mode == 0 ? real_value(r) : (double)iv;
    switch (t) {
      case T_I64: memcpy(buf + i * esize, &iv, esize); break;
      case T_U64: memcpy(buf + i * esize, &iv, esize); break;
      case T_I32: { int32_t v = (int32_t)iv; memcpy(buf + i * esize, &v, esize); break; }
      case T_F64: memcpy(buf + i * esize, &dv, esize); break;
      case T_F32: { float v = (float)dv; memcpy(buf + i * esize, &v, esize); break; }
      default: break;
    }
  }
  elign_h5_write_array(f, name, memtype_of(t), rank, dims, buf, &err);
  free(buf);
}

/* One attribute: absent, or an int, a real, a vector of reals or a string
 * (usually the expected kind). */
static void put_attr(hid_t f, const char *obj, const char *name, char want, recipe *r) {
  uint8_t how = u8(r);
  if (how % 5 == 0) return;
  char t = how % 13 == 1 ? "idvs"[u8(r) % 4] : want;
  if (strcmp(obj, "/") != 0 && !elign_h5_exists(f, obj)) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(f, obj, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0) return;
    H5Gclose(g);
  }
  elign_error err;
  if (t == 'i') {
    elign_h5_set_attr_i64(f, obj, name, int_value(r), &err);
  } else if (t == 'd') {
    elign_h5_set_attr_f64(f, obj, name, real_value(r), &err);
  } else if (t == 'v') {
    double v[40];
    int n = 1 + u8(r) % 40;
    for (int i = 0; i < n; i++) v[i] = u8(r) % 2 ? (double)(u8(r) % 20) : real_value(r);
    elign_h5_set_attr_f64v(f, obj, name, n, v, &err);
  } else {
    char *s = string_value(r);
    elign_h5_set_attr_str(f, obj, name, s, &err);
    free(s);
  }
}

typedef struct {
  const char *name;
  kind_t type;
  int rank;
} dataset_item;

typedef struct {
  const char *obj, *name;
  char type; /* i, d, v (vector of reals), s */
} attr_item;

static const dataset_item datasets[] = {
    {"/offsets", T_I64, 1},          {"/atomic_numbers", T_I32, 1},   {"/positions", T_F64, 2},
    {"/ids", T_I64, 1},              {"/smiles", T_STR, 1},           {"/energy", T_F64, 1},
    {"/forces", T_F64, 2},           {"/group", T_I64, 1},            {"/status", T_I32, 1},
    {"/nodes_hist/n_atoms", T_I64, 1}, {"/nodes_hist/count", T_I64, 1}, {"/element_hist/Z", T_I64, 1},
    {"/element_hist/count", T_I64, 1}, {"/properties/U0", T_F64, 1},  {"/split/train", T_I64, 1},
    {"/split/test", T_I64, 1},       {"/params/flat", T_F32, 1},      {"/params/names", T_STR, 1},
    {"/params/offsets", T_I64, 1},   {"/params/shapes", T_I64, 2},    {"/optimizer/m", T_F32, 1},
    {"/optimizer/v", T_F32, 1},      {"/optimizer/vmax", T_F32, 1},   {"/optimizer/clip_queue", T_F64, 1},
    {"/ema/flat", T_F32, 1},         {"/reference/flat", T_F32, 1},   {"/rng/counters", T_U64, 1},
    {"/config", T_STR, 1}};

static const attr_item attrs[] = {
    {"/", "n_mol", 'i'},          {"/", "n_atoms", 'i'},          {"/", "source", 's'},
    {"/", "model", 's'},          {"/", "seed", 'i'},             {"/", "steps", 'i'},
    {"/", "iteration", 'i'},      {"/", "oracle", 's'},           {"/", "optimizer_step", 'i'},
    {"/", "epoch", 'i'},          {"/", "n_params", 'i'},         {"/arch", "model", 's'},
    {"/arch", "n_layers", 'i'},   {"/arch", "nf", 'i'},           {"/arch", "inv_sublayers", 'i'},
    {"/arch", "attention", 'i'},  {"/arch", "tanh", 'i'},         {"/arch", "condition_time", 'i'},
    {"/arch", "coords_range", 'd'}, {"/arch", "norm_constant", 'd'}, {"/arch", "normalization_factor", 'd'},
    {"/arch", "aggregation_method", 's'}, {"/arch", "include_charges", 'i'}, {"/arch", "diffusion_steps", 'i'},
    {"/arch", "diffusion_noise_schedule", 's'}, {"/arch", "diffusion_noise_precision", 'd'},
    {"/arch", "normalize_factors", 'v'}, {"/arch", "dataset", 's'}, {"/arch", "atomic_numbers", 'v'},
    {"/arch", "gamma_table", 'v'},  {"/optimizer", "kind", 's'},    {"/optimizer", "step", 'i'},
    {"/ema", "decay", 'd'},         {"/rng", "seed", 'i'},          {"/positions", "unit", 's'}};

static const char *const formats[] = {"dataset", "samples", "oracle_results", "model"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  recipe r = {data, size};
  uint8_t k = u8(&r), v = u8(&r);
  const char *format = formats[k % 4];
  int version = v % 16 == 0 ? (int)(v / 16) : 2; /* usually the current version */
  const char *path = fuzz_write_input(NULL, 0, ".h5");
  elign_h5_writer w;
  elign_error err;
  if (elign_h5_writer_create(&w, path, format, version, &err) != ELIGN_OK) fuzz_fail("cannot create %s", path);
  for (size_t i = 0; i < sizeof datasets / sizeof datasets[0]; i++)
    put_dataset(w.file, datasets[i].name, datasets[i].type, datasets[i].rank, &r);
  for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) put_attr(w.file, attrs[i].obj, attrs[i].name, attrs[i].type, &r);
  if (elign_h5_writer_commit(&w, &err) != ELIGN_OK) fuzz_fail("cannot write %s: %s", path, err.msg);
  fuzz_h5_read_all(path);
  return 0;
}
