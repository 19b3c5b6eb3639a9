/* molset.c — packed molecule sets: growth by appending, slicing, formulas. */
#include "common/chem/molset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chem/elements.h"

void elign_molset_init(elign_molset *s) {
  memset(s, 0, sizeof *s);
  s->offsets = elign_calloc(1, sizeof *s->offsets, "molset:offsets");
}

/* Grow the per-molecule arrays to hold at least n_mol molecules. Optional
 * arrays that exist grow along. */
static void molset_reserve_mol(elign_molset *s, int64_t n_mol) {
  if (n_mol <= s->cap_mol) return;
  int64_t cap = s->cap_mol < 16 ? 16 : s->cap_mol;
  while (cap < n_mol) cap *= 2;
  s->offsets = elign_realloc(s->offsets, (size_t)(cap + 1) * sizeof *s->offsets, "molset:offsets");
  if (s->ids) s->ids = elign_realloc(s->ids, (size_t)cap * sizeof *s->ids, "molset:ids");
  if (s->smiles) s->smiles = elign_realloc(s->smiles, (size_t)cap * sizeof *s->smiles, "molset:smiles");
  if (s->energy) s->energy = elign_realloc(s->energy, (size_t)cap * sizeof *s->energy, "molset:energy");
  s->cap_mol = cap;
}

static void molset_reserve_atoms(elign_molset *s, int64_t n_atoms) {
  if (n_atoms <= s->cap_atoms) return;
  int64_t cap = s->cap_atoms < 64 ? 64 : s->cap_atoms;
  while (cap < n_atoms) cap *= 2;
  s->Z = elign_realloc(s->Z, (size_t)cap * sizeof *s->Z, "molset:Z");
  s->pos = elign_realloc(s->pos, (size_t)cap * 3 * sizeof *s->pos, "molset:pos");
  if (s->forces) s->forces = elign_realloc(s->forces, (size_t)cap * 3 * sizeof *s->forces, "molset:forces");
  s->cap_atoms = cap;
}

/* Arrays allocated exactly by a reader (cap 0) become growable here. */
static void molset_make_growable(elign_molset *s) {
  if (s->cap_mol < s->n_mol) {
    int64_t n = s->n_mol;
    s->cap_mol = 0;
    s->offsets = elign_realloc(s->offsets, (size_t)(n + 1) * sizeof *s->offsets, "molset:offsets");
    s->cap_mol = n;
  }
  if (s->cap_atoms < s->n_atoms) s->cap_atoms = s->n_atoms;
}

void elign_molset_append(elign_molset *s, int n, const int32_t *Z, const double *pos, int64_t id,
                         const char *smiles) {
  ELIGN_ASSERT(n >= 0);
  molset_make_growable(s);
  molset_reserve_mol(s, s->n_mol + 1);
  molset_reserve_atoms(s, s->n_atoms + n);
  int64_t m = s->n_mol, a0 = s->n_atoms;
  memcpy(s->Z + a0, Z, (size_t)n * sizeof *Z);
  memcpy(s->pos + 3 * a0, pos, (size_t)n * 3 * sizeof *pos);
  /* Optional arrays appear the first time a molecule has the field; earlier
   * molecules get "none" (-1 / NULL / NaN). */
  if (id >= 0 && !s->ids) {
    s->ids = elign_malloc((size_t)s->cap_mol * sizeof *s->ids, "molset:ids");
    for (int64_t k = 0; k < m; k++) s->ids[k] = -1;
  }
  if (s->ids) s->ids[m] = id;
  if (smiles && !s->smiles) s->smiles = elign_calloc((size_t)s->cap_mol, sizeof *s->smiles, "molset:smiles");
  if (s->smiles) s->smiles[m] = smiles ? elign_strdup(smiles, "molset:smiles") : NULL;
  if (s->energy) s->energy[m] = NAN;
  if (s->forces)
    for (int64_t k = 3 * a0; k < 3 * (a0 + n); k++) s->forces[k] = 0.0;
  s->n_mol = m + 1;
  s->n_atoms = a0 + n;
  s->offsets[m + 1] = s->n_atoms;
}

void elign_molset_slice(elign_molset *dst, const elign_molset *src, int64_t m0, int64_t m1) {
  ELIGN_ASSERT(0 <= m0 && m0 <= m1 && m1 <= src->n_mol);
  memset(dst, 0, sizeof *dst);
  int64_t nm = m1 - m0, a0 = src->offsets[m0], na = src->offsets[m1] - a0;
  dst->n_mol = nm;
  dst->n_atoms = na;
  dst->offsets = elign_malloc((size_t)(nm + 1) * sizeof *dst->offsets, "molset:offsets");
  for (int64_t m = 0; m <= nm; m++) dst->offsets[m] = src->offsets[m0 + m] - a0;
  dst->Z = elign_malloc((size_t)na * sizeof *dst->Z, "molset:Z");
  memcpy(dst->Z, src->Z + a0, (size_t)na * sizeof *dst->Z);
  dst->pos = elign_malloc((size_t)na * 3 * sizeof *dst->pos, "molset:pos");
  memcpy(dst->pos, src->pos + 3 * a0, (size_t)na * 3 * sizeof *dst->pos);
  if (src->forces) {
    dst->forces = elign_malloc((size_t)na * 3 * sizeof *dst->forces, "molset:forces");
    memcpy(dst->forces, src->forces + 3 * a0, (size_t)na * 3 * sizeof *dst->forces);
  }
  if (src->ids) {
    dst->ids = elign_malloc((size_t)nm * sizeof *dst->ids, "molset:ids");
    memcpy(dst->ids, src->ids + m0, (size_t)nm * sizeof *dst->ids);
  }
  if (src->energy) {
    dst->energy = elign_malloc((size_t)nm * sizeof *dst->energy, "molset:energy");
    memcpy(dst->energy, src->energy + m0, (size_t)nm * sizeof *dst->energy);
  }
  if (src->smiles) {
    dst->smiles = elign_calloc((size_t)nm, sizeof *dst->smiles, "molset:smiles");
    for (int64_t m = 0; m < nm; m++)
      if (src->smiles[m0 + m]) dst->smiles[m] = elign_strdup(src->smiles[m0 + m], "molset:smiles");
  }
  dst->cap_mol = nm;
  dst->cap_atoms = na;
}

void elign_molset_free(elign_molset *s) {
  if (s->smiles)
    for (int64_t m = 0; m < s->n_mol; m++) free(s->smiles[m]);
  free(s->offsets);
  free(s->Z);
  free(s->pos);
  free(s->ids);
  free(s->smiles);
  free(s->energy);
  free(s->forces);
  memset(s, 0, sizeof *s);
}

/* Hill order: C, then H, then the rest alphabetically; without carbon all
 * elements (H included) alphabetically. */
void elign_molset_formula(const elign_molset *s, int64_t m, char *buf, int buflen) {
  int64_t count[ELIGN_MAX_Z + 1] = {0};
  elign_count_elements(s->Z + s->offsets[m], elign_molset_natoms(s, m), count);
  int order[ELIGN_MAX_Z], n = 0;
  for (int z = 1; z <= ELIGN_MAX_Z; z++)
    if (count[z] && !(count[6] && (z == 6 || z == 1))) order[n++] = z;
  /* insertion sort by symbol */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && strcmp(elign_element_symbol(order[j - 1]), elign_element_symbol(order[j])) > 0; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  int len = 0;
  buf[0] = '\0';
  int first[2] = {6, 1};
  for (int k = 0; k < 2 && count[6]; k++)
    if (count[first[k]] && len < buflen)
      len += snprintf(buf + len, (size_t)(buflen - len), count[first[k]] > 1 ? "%s%lld" : "%s",
                      elign_element_symbol(first[k]), (long long)count[first[k]]);
  for (int i = 0; i < n && len < buflen; i++)
    len += snprintf(buf + len, (size_t)(buflen - len), count[order[i]] > 1 ? "%s%lld" : "%s",
                    elign_element_symbol(order[i]), (long long)count[order[i]]);
}
