/* hist.c — histograms of a molecule set (hist.h). */
#include "common/chem/hist.h"

#include <stdlib.h>
#include <string.h>

void elign_hist_free(elign_hist *h) {
  free(h->key);
  free(h->count);
  memset(h, 0, sizeof *h);
}

void elign_hist_from_dense(elign_hist *h, const int64_t *dense, int64_t n) {
  h->n = 0;
  for (int64_t k = 0; k < n; k++) h->n += dense[k] > 0;
  h->key = elign_malloc((size_t)(h->n ? h->n : 1) * sizeof *h->key, "hist:key");
  h->count = elign_malloc((size_t)(h->n ? h->n : 1) * sizeof *h->count, "hist:count");
  int64_t j = 0;
  for (int64_t k = 0; k < n; k++)
    if (dense[k] > 0) h->key[j] = k, h->count[j++] = dense[k];
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

elign_status elign_hist_check(const elign_hist *h, int64_t key_min, int64_t key_max, int ascending, const char *what,
                              elign_error *err) {
  int64_t sum = 0;
  for (int64_t i = 0; i < h->n; i++) {
    if (h->key[i] < key_min || h->key[i] > key_max)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: key %lld (bin %lld) outside %lld..%lld", what,
                        (long long)h->key[i], (long long)i, (long long)key_min, (long long)key_max);
    if (ascending && i > 0 && h->key[i] <= h->key[i - 1])
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: keys not strictly ascending at bin %lld", what, (long long)i);
    if (h->count[i] < 1 || h->count[i] > INT64_MAX - sum)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: count %lld for key %lld (bins hold 1 or more, 2^63 in all)", what,
                        (long long)h->count[i], (long long)h->key[i]);
    sum += h->count[i];
  }
  if (ascending || h->n < 2) return ELIGN_OK;
  int64_t *keys = elign_malloc((size_t)h->n * sizeof *keys, "hist:check");
  memcpy(keys, h->key, (size_t)h->n * sizeof *keys);
  qsort(keys, (size_t)h->n, sizeof *keys, cmp_i64);
  elign_status st = ELIGN_OK;
  for (int64_t i = 1; i < h->n && st == ELIGN_OK; i++)
    if (keys[i] == keys[i - 1]) st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: key %lld twice", what, (long long)keys[i]);
  free(keys);
  return st;
}

int64_t elign_molset_max_natoms(const elign_molset *s) {
  int64_t maxn = 0;
  for (int64_t m = 0; m < s->n_mol; m++)
    if (elign_molset_natoms(s, m) > maxn) maxn = elign_molset_natoms(s, m);
  return maxn;
}

void elign_count_sizes(const elign_molset *s, int64_t *counts) {
  for (int64_t m = 0; m < s->n_mol; m++) counts[elign_molset_natoms(s, m)]++;
}

void elign_molset_size_hist(const elign_molset *s, elign_hist *h) {
  int64_t maxn = elign_molset_max_natoms(s);
  int64_t *dense = elign_calloc((size_t)maxn + 1, sizeof *dense, "hist:dense");
  elign_count_sizes(s, dense);
  elign_hist_from_dense(h, dense, maxn + 1);
  free(dense);
}

void elign_molset_element_hist(const elign_molset *s, elign_hist *h) {
  int64_t dense[ELIGN_MAX_Z + 1] = {0};
  elign_count_elements(s->Z, s->n_atoms, dense);
  elign_hist_from_dense(h, dense, ELIGN_MAX_Z + 1);
}

void elign_molset_heavy_hist(const elign_molset *s, elign_hist *h) {
  int64_t maxn = elign_molset_max_natoms(s);
  int64_t *dense = elign_calloc((size_t)maxn + 1, sizeof *dense, "hist:dense");
  for (int64_t m = 0; m < s->n_mol; m++) {
    int64_t heavy = 0;
    for (int64_t a = s->offsets[m]; a < s->offsets[m + 1]; a++) heavy += s->Z[a] > 1;
    dense[heavy]++;
  }
  elign_hist_from_dense(h, dense, maxn + 1);
  free(dense);
}
