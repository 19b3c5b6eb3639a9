/* checkpoint.h — a generic model checkpoint (HDF5, elign_format = "model").
 *
 * Knows nothing of the EGNN: it holds named architecture attributes, one flat
 * float32 parameter buffer with named views into it (PyTorch state_dict names
 * such as "dynamics.egnn.e_block_0.gcl_0.edge_mlp.0.weight"), optional AdamW
 * moments (and the AMSGrad maximum), the EMA of the weights and frozen
 * reference parameters of the same length, the adaptive-clipping queue,
 * iteration counters, RNG seed and stream counters, the resolved config text
 * and the atom-count histogram. Layout in docs/formats.md.
 *
 * Call sequence (writer):
 *   elign_checkpoint c; elign_checkpoint_init(&c);
 *   elign_checkpoint_set_int(&c, "n_layers", 9); ...
 *   elign_checkpoint_set_params(&c, n, NULL);            // zeroed buffer of n floats
 *   elign_checkpoint_add_view(&c, "a.weight", off, 2, (int64_t[]){256, 6}, err);
 *   ... fill c.params ...
 *   elign_checkpoint_write(&c, "model.h5", err);         // temp + fsync + rename
 *   elign_checkpoint_free(&c);
 * Reader: elign_checkpoint_read(&c, path, err) then elign_checkpoint_find_view.
 */
#ifndef ELIGN_CHECKPOINT_H
#define ELIGN_CHECKPOINT_H

#include <stdint.h>

#include "common/base/error.h"

#define ELIGN_CHECKPOINT_VERSION 2 /* 2: checksummed storage (h5io.h); version 1 files are refused */
#define ELIGN_CKPT_MAX_DIMS 4
#define ELIGN_CKPT_NAME_MAX 64

typedef enum {
  ELIGN_CKPT_INT = 0,     /* int64 */
  ELIGN_CKPT_DOUBLE = 1,  /* one float64 */
  ELIGN_CKPT_DOUBLES = 2, /* float64 vector (e.g. normalize_factors) */
  ELIGN_CKPT_STRING = 3
} elign_ckpt_attr_type;

typedef struct {
  char name[ELIGN_CKPT_NAME_MAX];
  elign_ckpt_attr_type type;
  int64_t i;
  double d;
  int n;           /* DOUBLES: length of v */
  double *v;       /* DOUBLES */
  char *s;         /* STRING */
} elign_ckpt_attr;

/* A named tensor inside the flat buffer: elements [offset, offset + size). */
typedef struct {
  char *name;
  int64_t offset;
  int ndim;                            /* 0..ELIGN_CKPT_MAX_DIMS (0 = scalar) */
  int64_t shape[ELIGN_CKPT_MAX_DIMS];
  int64_t size;                        /* product of shape (1 for a scalar) */
} elign_ckpt_view;

typedef struct {
  /* architecture (stored as attributes of /arch) */
  int n_attrs;
  elign_ckpt_attr *attrs;
  /* parameters: /params/flat [n_params] float32 and the views */
  int64_t n_params;
  float *params;
  int n_views;
  elign_ckpt_view *views;
  /* optimizer (optional: opt_m == NULL when absent) */
  char opt_kind[16];     /* "adamw" */
  int64_t opt_step;
  float *opt_m, *opt_v;  /* [n_params] */
  float *opt_vmax;       /* [n_params] AMSGrad running max of v, or NULL */
  int n_clip;            /* adaptive-clipping queue (newest first), 0 if absent */
  double *clip_queue;    /* [n_clip] */
  /* EMA of the weights (optional) */
  float *ema;            /* [n_params] or NULL */
  double ema_decay;
  /* frozen reference policy (optional) */
  float *reference;      /* [n_params] or NULL */
  /* progress */
  int64_t iteration, optimizer_step, epoch;
  /* randomness: the base seed and named stream counters */
  uint64_t rng_seed;
  int n_rng_counters;
  uint64_t *rng_counters;
  /* the resolved config (YAML text) or NULL */
  char *config_text;
  /* atom-count histogram of the training data (optional, n_hist = 0 if absent) */
  int64_t n_hist;
  int64_t *hist_n_atoms, *hist_count;
} elign_checkpoint;

void elign_checkpoint_init(elign_checkpoint *c);
void elign_checkpoint_free(elign_checkpoint *c);

/* Architecture attributes (replace an existing one of the same name). */
void elign_checkpoint_set_int(elign_checkpoint *c, const char *name, int64_t value);
void elign_checkpoint_set_double(elign_checkpoint *c, const char *name, double value);
void elign_checkpoint_set_doubles(elign_checkpoint *c, const char *name, int n, const double *values);
void elign_checkpoint_set_string(elign_checkpoint *c, const char *name, const char *value);
const elign_ckpt_attr *elign_checkpoint_find_attr(const elign_checkpoint *c, const char *name);
/* Getters fail (ELIGN_ERR_FORMAT, naming the attribute) when absent or of
 * another type; get_double also accepts an INT attribute. */
elign_status elign_checkpoint_get_int(const elign_checkpoint *c, const char *name, int64_t *out, elign_error *err);
elign_status elign_checkpoint_get_double(const elign_checkpoint *c, const char *name, double *out, elign_error *err);
elign_status elign_checkpoint_get_doubles(const elign_checkpoint *c, const char *name, int n, double *out,
                                          elign_error *err);
elign_status elign_checkpoint_get_string(const elign_checkpoint *c, const char *name, const char **out,
                                         elign_error *err);

/* Allocate the parameter buffer (n floats, copied from src or zeroed). */
void elign_checkpoint_set_params(elign_checkpoint *c, int64_t n, const float *src);
/* Optional buffers of the same length (copied; src NULL → zeros). */
void elign_checkpoint_set_optimizer(elign_checkpoint *c, const char *kind, int64_t step, const float *m,
                                    const float *v);
void elign_checkpoint_set_reference(elign_checkpoint *c, const float *src);
/* After set_optimizer: the AMSGrad maximum (copied; NULL → zeros). */
void elign_checkpoint_set_optimizer_vmax(elign_checkpoint *c, const float *vmax);
/* The gradient-norm queue of adaptive clipping (copied, newest first). */
void elign_checkpoint_set_clip_queue(elign_checkpoint *c, int n, const double *items);
void elign_checkpoint_set_ema(elign_checkpoint *c, const float *src, double decay);
void elign_checkpoint_set_rng(elign_checkpoint *c, uint64_t seed, int n_counters, const uint64_t *counters);
void elign_checkpoint_set_config(elign_checkpoint *c, const char *text);
void elign_checkpoint_set_nodes_hist(elign_checkpoint *c, int64_t n, const int64_t *n_atoms, const int64_t *count);

/* Add a view; fails (ELIGN_ERR_ARG) if it leaves the buffer, has a bad
 * shape or a duplicate name. Call after set_params. */
elign_status elign_checkpoint_add_view(elign_checkpoint *c, const char *name, int64_t offset, int ndim,
                                       const int64_t *shape, elign_error *err);
/* Append a view right after the last one (offset = end of the last view). */
elign_status elign_checkpoint_append_view(elign_checkpoint *c, const char *name, int ndim, const int64_t *shape,
                                          elign_error *err);
/* NULL if absent. */
const elign_ckpt_view *elign_checkpoint_find_view(const elign_checkpoint *c, const char *name);

/* Atomic write: temporary name, fsync, rename. */
elign_status elign_checkpoint_write(const elign_checkpoint *c, const char *path, elign_error *err);
/* Read and validate (format, version, views inside the buffer, optimizer and
 * reference lengths). c is initialised by the call; free it afterwards even
 * on failure. */
elign_status elign_checkpoint_read(elign_checkpoint *c, const char *path, elign_error *err);

#endif
