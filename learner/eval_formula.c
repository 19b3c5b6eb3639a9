/* eval_formula.c — energies of a model and its baseline compared at equal
 * composition.
 *
 * Post-training can move a model's element mix, and every energy per atom
 * moves with it: the total energy by ~1000 eV per carbon traded for a
 * hydrogen, an atomization energy by the bonds a carbon brings beyond a
 * hydrogen's one — by different amounts under different judges. Molecules
 * with the same formula have neither bias, so this comparison takes every
 * formula found in both sets (the files of each side pooled), the
 * difference of the mean energy per atom of the samples' molecules and of
 * the baseline's, and averages those differences with weight
 * min(n_samples, n_ref) per formula: the molecules that can be paired. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learner/eval.h"

typedef struct {
  char formula[64];
  int side; /* 0 samples, 1 ref */
  double e_atom, frms;
} formula_entry;

static int cmp_entry(const void *a, const void *b) {
  const formula_entry *x = a, *y = b;
  int c = strcmp(x->formula, y->formula);
  return c ? c : x->side - y->side;
}

/* The backend-b single points that succeeded, of every readable file of one side. */
static void collect_side(eval_file *const *files, int n, int side, int b, formula_entry **out, int64_t *count,
                         int64_t *cap) {
  for (int i = 0; i < n; i++) {
    const eval_file *f = files[i];
    if (f->error[0]) continue;
    for (int64_t m = 0; m < f->mols.n_mol; m++) {
      const elign_relax_result *r = &f->oracle[b][m];
      int64_t atoms = elign_molset_natoms(&f->mols, m);
      if (r->status != ELIGN_MOL_OK || atoms == 0) continue;
      if (*count == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        *out = elign_realloc(*out, (size_t)*cap * sizeof **out, "eval:formulas");
      }
      formula_entry *e = &(*out)[(*count)++];
      elign_molset_formula(&f->mols, m, e->formula, sizeof e->formula);
      e->side = side;
      e->e_atom = r->energy / (double)atoms;
      e->frms = r->frms;
    }
  }
}

/* Two-sided sign test: the probability, with no difference between the
 * models, of a split of n formulas at least as uneven as k lower / n − k. */
double eval_sign_test_p(int64_t k, int64_t n) {
  if (n <= 0) return NAN;
  int64_t tail = k < n - k ? k : n - k;
  double p = 0;
  for (int64_t i = 0; i <= tail; i++)
    p += exp(lgamma((double)n + 1) - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) - (double)n * log(2.0));
  p *= 2;
  return p < 1 ? p : 1;
}

typedef struct {
  int64_t n[2];
  double e_sum[2], f_sum[2];
} formula_group;

static void same_formula_backend(eval_file *const *samples, int n_samples, eval_file *const *ref, int n_ref, int b,
                                 eval_section *sec) {
  formula_entry *e = NULL;
  int64_t n = 0, cap = 0;
  collect_side(samples, n_samples, 0, b, &e, &n, &cap);
  collect_side(ref, n_ref, 1, b, &e, &n, &cap);
  if (n > 1) qsort(e, (size_t)n, sizeof *e, cmp_entry);
  double *diffs = elign_malloc((size_t)(n > 0 ? n : 1) * sizeof *diffs, "eval:formula diffs");
  int64_t formulas = 0, pairs = 0, lower = 0, higher = 0, matched_samples = 0, all_samples = 0;
  double e_weighted = 0, f_weighted = 0;
  for (int64_t i = 0; i < n;) {
    formula_group g = {{0, 0}, {0, 0}, {0, 0}};
    int64_t j = i;
    for (; j < n && strcmp(e[j].formula, e[i].formula) == 0; j++) {
      g.n[e[j].side]++;
      g.e_sum[e[j].side] += e[j].e_atom;
      g.f_sum[e[j].side] += e[j].frms;
    }
    all_samples += g.n[0];
    if (g.n[0] > 0 && g.n[1] > 0) {
      double d = g.e_sum[0] / (double)g.n[0] - g.e_sum[1] / (double)g.n[1];
      double df = g.f_sum[0] / (double)g.n[0] - g.f_sum[1] / (double)g.n[1];
      int64_t w = g.n[0] < g.n[1] ? g.n[0] : g.n[1];
      diffs[formulas++] = d;
      pairs += w;
      matched_samples += g.n[0];
      e_weighted += (double)w * d;
      f_weighted += (double)w * df;
      lower += d < 0;
      higher += d > 0;
    }
    i = j;
  }
  eval_section_set(sec, "formulas", (double)formulas);
  eval_section_set(sec, "pairs", (double)pairs);
  eval_section_set(sec, "samples_matched", all_samples ? (double)matched_samples / (double)all_samples : NAN);
  eval_section_set(sec, "energy_per_atom_diff", pairs ? e_weighted / (double)pairs : NAN);
  eval_section_set(sec, "energy_per_atom_diff_median", eval_median(diffs, formulas));
  eval_section_set(sec, "frms_diff", pairs ? f_weighted / (double)pairs : NAN);
  eval_section_set(sec, "formulas_lower", formulas ? (double)lower / (double)formulas : NAN);
  eval_section_set(sec, "sign_test_p", eval_sign_test_p(lower, lower + higher));
  elign_free(diffs);
  elign_free(e);
}

void eval_same_formula(eval_file *const *samples, int n_samples, eval_file *const *ref, int n_ref,
                       const eval_settings *s, eval_summary *out) {
  memset(out, 0, sizeof *out);
  for (int b = 0; b < s->n_backends; b++) {
    char name[64];
    snprintf(name, sizeof name, "same_formula:%s", s->backends[b]);
    same_formula_backend(samples, n_samples, ref, n_ref, b, eval_summary_section(out, name));
  }
}
