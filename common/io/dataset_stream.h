/* dataset_stream.h — write a dataset file molecule by molecule, for inputs
 * too large to hold (GEOM-Drugs: ~7 M conformers, ~320 M atoms).
 *
 * The file is the same Elign-C dataset as elign_dataset_write produces
 * (docs/formats.md: /offsets, /atomic_numbers, /positions, /ids, /smiles,
 * /properties/<name>, /split/<name>, /nodes_hist, /element_hist, root attrs
 * n_mol, n_atoms, source), and elign_dataset_read reads it back. The arrays
 * are chunked and extendible: each column keeps one chunk of rows in memory
 * and writes it when full, so memory does not grow with the molecule count.
 * The histograms are counted on the fly. The file is created under a
 * temporary name and renamed on commit (h5io.h), so the final name never
 * holds a partial file; abort removes the temporary file.
 *
 * Call sequence:
 *   elign_dataset_stream *s;
 *   elign_dataset_stream_create(&s, path, &layout, err);
 *   for each molecule: elign_dataset_stream_append(s, n, Z, pos, id, smiles, props, err);
 *   for each split k, ascending indices: elign_dataset_stream_split_push(s, k, index, err);
 *   elign_dataset_stream_commit(s, source, err);      // or elign_dataset_stream_abort(s)
 * Both commit and abort free s.
 */
#ifndef ELIGN_DATASET_STREAM_H
#define ELIGN_DATASET_STREAM_H

#include <stdint.h>

#include "common/base/error.h"
#include "common/io/dataset_io.h"

typedef struct elign_dataset_stream elign_dataset_stream;

typedef struct {
  const char *name;        /* /properties/<name> */
  const char *unit;        /* the source's unit, "" if none */
  const char *description;
} elign_stream_property;

/* What the file will hold besides the packed molecules. */
typedef struct {
  int with_ids;                          /* /ids */
  int with_smiles;                       /* /smiles */
  int n_props;
  const elign_stream_property *props;    /* [n_props] per-molecule float64 columns */
  int n_splits;
  const char *const *split_names;        /* [n_splits] /split/<name> */
} elign_stream_layout;

/* Create the temporary file and every dataset of the layout. */
elign_status elign_dataset_stream_create(elign_dataset_stream **out, const char *path,
                                         const elign_stream_layout *layout, elign_error *err);

/* Append one molecule: n atoms, Z [n] (1..118), pos [n][3] Å. id and smiles
 * are ignored unless the layout has them (smiles may be NULL → ""); props
 * [n_props] (NaN where unknown), may be NULL when n_props == 0. */
elign_status elign_dataset_stream_append(elign_dataset_stream *s, int n, const int32_t *Z, const double *pos,
                                         int64_t id, const char *smiles, const double *props, elign_error *err);

/* Molecules and atoms appended so far. */
int64_t elign_dataset_stream_n_mol(const elign_dataset_stream *s);
int64_t elign_dataset_stream_n_atoms(const elign_dataset_stream *s);

/* Add molecule `index` to split k (0 <= k < n_splits). Indices of one split
 * must come in strictly ascending order and be < n_mol (checked). */
elign_status elign_dataset_stream_split_push(elign_dataset_stream *s, int k, int64_t index, elign_error *err);
/* Entries pushed into split k so far. */
int64_t elign_dataset_stream_split_size(const elign_dataset_stream *s, int k);

/* Copies of the histograms counted so far (free with elign_hist_free). */
void elign_dataset_stream_hists(const elign_dataset_stream *s, elign_hist *nodes, elign_hist *elements);

/* Flush, write the histograms, counts and `source`, rename to the final
 * name. Frees s whatever the outcome (on failure nothing is left behind). */
elign_status elign_dataset_stream_commit(elign_dataset_stream *s, const char *source, elign_error *err);
/* Remove the temporary file and free s. Accepts NULL. */
void elign_dataset_stream_abort(elign_dataset_stream *s);

#endif
