/* eval_report.c — what `elign eval` writes: the JSON summary, the
 * per-molecule CSV table and the side-by-side table on stdout (eval.h).
 *
 * The JSON (layout in docs/eval.md) holds no timings, host names or rank
 * counts: the same inputs and settings give the same bytes, whether the
 * evaluation ran on one rank or many, at once or resumed.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/base/provenance.h"
#include "common/base/atomic_file.h"
#include "common/base/json_writer.h"
#include "common/chem/rdkit_metrics.h"
#include "learner/eval.h"
#include "learner/ks_test.h"
#include "oracle/oracle.h"

/* ---- JSON ----------------------------------------------------------------- */

static void write_sections(elign_json_writer *w, const char *key, const eval_summary *sum) {
  elign_jw_begin_object(w, key);
  for (int i = 0; i < sum->n; i++) {
    elign_jw_begin_object(w, sum->s[i].name);
    for (int j = 0; j < sum->s[i].n; j++) elign_jw_number(w, sum->s[i].m[j].key, sum->s[i].m[j].value);
    elign_jw_end(w);
  }
  elign_jw_end(w);
}

/* Molecules that failed somewhere, by stage, with the reason. */
static void write_failed(elign_json_writer *w, const eval_file *f, const eval_settings *s) {
  elign_jw_begin_object(w, "failed");
  elign_jw_begin_array(w, "rdkit_errors");
  for (int64_t m = 0; m < f->mols.n_mol; m++)
    if (f->chem[m].valid == ELIGN_RDKIT_ERROR) elign_jw_int(w, NULL, m);
  elign_jw_end(w);
  for (int b = 0; b < s->n_backends; b++) {
    const elign_relax_result *r = f->oracle[b];
    elign_jw_begin_object(w, s->backends[b]);
    elign_jw_begin_array(w, "single_point");
    for (int64_t m = 0; m < f->mols.n_mol; m++)
      if (r[m].status != ELIGN_MOL_OK) {
        elign_jw_begin_object(w, NULL);
        elign_jw_int(w, "index", m);
        elign_jw_string(w, "status", elign_mol_status_string((elign_mol_status)r[m].status));
        elign_jw_end(w);
      }
    elign_jw_end(w);
    if (s->relax) {
      elign_jw_begin_array(w, "relax");
      for (int64_t m = 0; m < f->mols.n_mol; m++)
        if (r[m].outcome == ELIGN_RELAX_FAILED) {
          elign_jw_begin_object(w, NULL);
          elign_jw_int(w, "index", m);
          elign_jw_string(w, "status", elign_mol_status_string((elign_mol_status)r[m].relax_status));
          elign_jw_int(w, "steps", r[m].steps);
          elign_jw_end(w);
        }
      elign_jw_end(w);
    }
    elign_jw_end(w);
  }
  if (s->dft_n > 0) {
    elign_jw_begin_array(w, "dft");
    for (int64_t k = 0; k < f->n_dft; k++)
      if (f->dft[k].status != ELIGN_MOL_OK) {
        elign_jw_begin_object(w, NULL);
        elign_jw_int(w, "index", f->dft_index[k]);
        elign_jw_string(w, "status",
                        f->dft[k].status < 0 ? "not_run" : elign_mol_status_string((elign_mol_status)f->dft[k].status));
        elign_jw_end(w);
      }
    elign_jw_end(w);
  }
  elign_jw_end(w);
}

/* ---- distributions: empirical CDFs and the KS test ------------------------------ */

/* Which per-molecule number a distribution is made of. */
typedef enum { DIST_ORACLE_E_ATOM, DIST_ORACLE_FRMS, DIST_DFT_FORMATION, DIST_DFT_FRMS } dist_kind;

/* The finite values of one kind over every readable file of a group, sorted. */
static double *pooled_values(eval_file *const *files, int n, int backend, dist_kind kind, int64_t *count) {
  int64_t cap = 0;
  for (int i = 0; i < n; i++)
    if (!files[i]->error[0]) cap += files[i]->mols.n_mol;
  double *v = elign_malloc((size_t)(cap > 0 ? cap : 1) * sizeof *v, "eval:dist");
  int64_t k = 0;
  for (int i = 0; i < n; i++) {
    const eval_file *f = files[i];
    if (f->error[0]) continue;
    if (kind == DIST_DFT_FORMATION || kind == DIST_DFT_FRMS) {
      for (int64_t j = 0; j < f->n_dft; j++) {
        if (f->dft[j].status != ELIGN_MOL_OK) continue;
        double x = kind == DIST_DFT_FORMATION ? f->dft[j].formation_energy : f->dft[j].frms;
        if (isfinite(x)) v[k++] = x;
      }
      continue;
    }
    for (int64_t m = 0; m < f->mols.n_mol; m++) {
      const elign_relax_result *r = &f->oracle[backend][m];
      int64_t na = elign_molset_natoms(&f->mols, m);
      if (r->status != ELIGN_MOL_OK || na <= 0) continue;
      double x = kind == DIST_ORACLE_E_ATOM ? r->energy / (double)na : r->frms;
      if (isfinite(x)) v[k++] = x;
    }
  }
  eval_median(v, k); /* sorts */
  *count = k;
  return v;
}

static void write_values(elign_json_writer *w, const char *key, const double *v, int64_t n) {
  elign_jw_begin_array(w, key);
  for (int64_t i = 0; i < n; i++) elign_jw_number(w, NULL, v[i]);
  elign_jw_end(w);
}

/* {"samples": [sorted], "ref": [sorted], "ks": {...}}: the CDF of each group is
 * its sorted values (F(v[i]) = (i+1)/n); the KS test compares them. */
static void write_distribution(elign_json_writer *w, const char *key, const eval_report *r, int backend,
                               dist_kind kind) {
  int64_t ns = 0, nr = 0;
  double *vs = pooled_values(r->samples, r->n_samples, backend, kind, &ns);
  elign_jw_begin_object(w, key);
  write_values(w, "samples", vs, ns);
  if (r->n_ref > 0) {
    double *vr = pooled_values(r->ref, r->n_ref, backend, kind, &nr);
    write_values(w, "ref", vr, nr);
    ks_result ks = ks_two_sample(vs, ns, vr, nr);
    elign_jw_begin_object(w, "ks");
    elign_jw_number(w, "statistic", ks.statistic);
    elign_jw_number(w, "p_value", ks.p_value);
    elign_jw_string(w, "method", ns > 0 && nr > 0 ? (ks.exact ? "exact" : "asymptotic") : NULL);
    elign_jw_int(w, "n_samples", ns);
    elign_jw_int(w, "n_ref", nr);
    elign_jw_end(w);
    elign_free(vr);
  }
  elign_jw_end(w);
  elign_free(vs);
}

static void write_distributions(elign_json_writer *w, const eval_report *r) {
  const eval_settings *s = r->settings;
  if (s->n_backends == 0 && s->dft_n <= 0) return;
  elign_jw_begin_object(w, "distributions");
  for (int b = 0; b < s->n_backends; b++) {
    char name[64];
    snprintf(name, sizeof name, "oracle:%s", s->backends[b]);
    elign_jw_begin_object(w, name);
    write_distribution(w, "energy_per_atom", r, b, DIST_ORACLE_E_ATOM);
    write_distribution(w, "frms", r, b, DIST_ORACLE_FRMS);
    elign_jw_end(w);
  }
  if (s->dft_n > 0) {
    elign_jw_begin_object(w, "dft");
    write_distribution(w, "formation_energy_per_atom", r, -1, DIST_DFT_FORMATION);
    write_distribution(w, "frms", r, -1, DIST_DFT_FRMS);
    elign_jw_end(w);
  }
  elign_jw_end(w);
}

/* The files of one model, each with its sections, then the mean and spread. */
static void write_group(elign_json_writer *w, const char *key, eval_file *const *files, int n,
                        const eval_report *r, eval_summary *mean_out) {
  const eval_settings *s = r->settings;
  eval_summary *sums = elign_calloc((size_t)(n > 0 ? n : 1), sizeof *sums, "eval:summaries");
  const eval_summary **used = elign_calloc((size_t)(n > 0 ? n : 1), sizeof *used, "eval:used");
  int n_used = 0;
  elign_jw_begin_object(w, key);
  elign_jw_begin_array(w, "files");
  for (int i = 0; i < n; i++) {
    const eval_file *f = files[i];
    elign_jw_begin_object(w, NULL);
    elign_jw_string(w, "path", f->path);
    elign_jw_string(w, "error", f->error[0] ? f->error : NULL);
    elign_jw_int(w, "n_molecules", f->mols.n_mol);
    if (!f->error[0]) {
      eval_summary_of_file(f, s, r->train, &sums[i]);
      write_sections(w, "metrics", &sums[i]);
      write_failed(w, f, s);
      if (f->mols.n_mol > 0) used[n_used++] = &sums[i]; /* an empty file has no rates to average */
    }
    elign_jw_end(w);
  }
  elign_jw_end(w);
  elign_jw_int(w, "n_files", n);
  elign_jw_int(w, "n_averaged", n_used);
  eval_summary mean, std;
  eval_summary_seeds(used, n_used, &mean, &std);
  write_sections(w, "mean", &mean);
  write_sections(w, "std", &std);
  elign_jw_end(w);
  if (mean_out) *mean_out = mean;
  elign_free(sums);
  elign_free(used);
}

static const char *rule_name(int rule) { return rule ? "geom" : "qm9"; }

elign_status eval_write_json(const eval_report *r, const char *path, elign_error *err) {
  const eval_settings *s = r->settings;
  elign_atomic_file af;
  FILE *f;
  elign_status st = elign_atomic_fopen(&af, path, &f, err);
  if (st) return st;
  elign_json_writer w;
  elign_jw_init(&w, f, 1);
  elign_jw_begin_object(&w, NULL);
  elign_jw_int(&w, "elign_eval", EVAL_VERSION);
  elign_jw_string(&w, "rdkit_version", r->rdkit_version && r->rdkit_version[0] ? r->rdkit_version : NULL);
  elign_jw_begin_object(&w, "settings");
  elign_jw_string(&w, "rule", rule_name(s->rule));
  elign_jw_int(&w, "chunk", s->chunk);
  elign_jw_begin_array(&w, "oracles");
  for (int b = 0; b < s->n_backends; b++) elign_jw_string(&w, NULL, s->backends[b]);
  elign_jw_end(&w);
  if (r->oracle_opt && s->n_backends > 0) { /* what shapes the numbers (paths left out: they say where, not what) */
    const elign_oracle_options *o = r->oracle_opt;
    elign_jw_begin_object(&w, "oracle_options");
    elign_jw_string(&w, "model", o->model);
    elign_jw_string(&w, "method", o->method);
    elign_jw_string(&w, "basis", o->basis);
    elign_jw_string(&w, "python_module", o->python_module);
    elign_jw_string(&w, "python_function", o->python_function);
    elign_jw_number(&w, "min_distance", o->min_distance);
    elign_jw_number(&w, "time_limit", o->time_limit);
    elign_jw_int(&w, "max_iterations", o->max_iterations);
    elign_jw_end(&w);
  }
  if (s->relax && s->n_backends > 0) {
    elign_jw_begin_object(&w, "relax");
    elign_jw_string(&w, "optimizer", elign_geomopt_method_name(s->opt.method));
    elign_jw_number(&w, "fmax", s->opt.fmax);
    elign_jw_int(&w, "max_steps", s->opt.max_steps);
    elign_jw_number(&w, "max_step", s->opt.max_step);
    elign_jw_end(&w);
  } else {
    elign_jw_null(&w, "relax");
  }
  if (s->dft_n > 0) {
    elign_jw_begin_object(&w, "dft");
    elign_jw_int(&w, "n", s->dft_n);
    if (s->dft_seeded)
      elign_jw_int(&w, "seed", (int64_t)s->dft_seed);
    else
      elign_jw_null(&w, "seed");
    elign_jw_string(&w, "method", s->dft_method);
    elign_jw_string(&w, "basis", s->dft_basis);
    elign_jw_string(&w, "python_module", s->dft_module);
    elign_jw_number(&w, "time_limit", s->dft_time_limit);
    elign_jw_end(&w);
  } else {
    elign_jw_null(&w, "dft");
  }
  if (r->train_source) {
    elign_jw_begin_object(&w, "novelty_reference");
    elign_jw_string(&w, "source", r->train_source);
    elign_jw_int(&w, "molecules", r->train_molecules);
    elign_jw_int(&w, "smiles", r->train_smiles);
    elign_jw_end(&w);
  } else {
    elign_jw_null(&w, "novelty_reference");
  }
  elign_jw_end(&w);
  eval_summary mean_s, mean_r, diff;
  write_group(&w, "samples", r->samples, r->n_samples, r, &mean_s);
  if (r->n_ref > 0) {
    write_group(&w, "ref", r->ref, r->n_ref, r, &mean_r);
    eval_summary_diff(&mean_s, &mean_r, &diff);
    write_sections(&w, "diff", &diff);
    eval_summary same;
    eval_same_formula(r->samples, r->n_samples, r->ref, r->n_ref, s, &same);
    write_sections(&w, "same_formula", &same);
  }
  write_distributions(&w, r);
  elign_provenance_write_json(&w, "provenance"); /* last: comparisons of two summaries can drop it */
  elign_jw_end(&w);
  if (elign_jw_error(&w)) {
    fclose(f);
    elign_atomic_discard(&af);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: write failed", path);
  }
  return elign_atomic_fclose(&af, f, err);
}

/* ---- CSV ------------------------------------------------------------------ */

static void csv_text(FILE *f, const char *s) {
  if (!s) return;
  if (!strpbrk(s, ",\"\n\r")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (const char *p = s; *p; p++) {
    if (*p == '"') fputc('"', f);
    fputc(*p, f);
  }
  fputc('"', f);
}

static void csv_num(FILE *f, double v) {
  fputc(',', f);
  if (!isfinite(v)) return;
  char buf[40];
  elign_json_format_double(v, buf, sizeof buf);
  fputs(buf, f);
}

static void csv_header(FILE *f, const eval_settings *s) {
  fputs("set,file,path,index,id,n_atoms,formula,stable,n_stable_atoms,valid,n_fragments,smiles,novel", f);
  static const char *sp[] = {"status", "energy", "energy_per_atom", "atomization_energy_per_atom", "fmax", "frms"};
  static const char *rx[] = {"relax", "relax_status", "steps", "energy_final", "strain", "strain_per_atom",
                             "fmax_final", "frms_final", "rmsd", "rmsd_heavy", "drms"};
  for (int b = 0; b < s->n_backends; b++) {
    for (size_t k = 0; k < sizeof sp / sizeof *sp; k++) fprintf(f, ",%s.%s", s->backends[b], sp[k]);
    if (s->relax)
      for (size_t k = 0; k < sizeof rx / sizeof *rx; k++) fprintf(f, ",%s.%s", s->backends[b], rx[k]);
  }
  if (s->dft_n > 0) fputs(",dft.status,dft.energy,dft.formation_energy_per_atom,dft.frms,dft.fmax", f);
  fputc('\n', f);
}

static void csv_rows(FILE *out, const eval_file *f, int file_index, const eval_report *r) {
  const eval_settings *s = r->settings;
  for (int64_t m = 0; m < f->mols.n_mol; m++) {
    const eval_chem *c = &f->chem[m];
    int64_t n = elign_molset_natoms(&f->mols, m);
    char formula[128];
    elign_molset_formula(&f->mols, m, formula, sizeof formula);
    fprintf(out, "%s,%d,", f->role, file_index);
    csv_text(out, f->path);
    fprintf(out, ",%lld,", (long long)m);
    if (f->mols.ids && f->mols.ids[m] >= 0) fprintf(out, "%lld", (long long)f->mols.ids[m]);
    fprintf(out, ",%lld,%s,%d,%d,", (long long)n, formula, c->stable, c->n_stable_atoms);
    fputs(c->valid == ELIGN_RDKIT_VALID     ? "1"
          : c->valid == ELIGN_RDKIT_INVALID ? "0"
          : c->valid == ELIGN_RDKIT_ERROR   ? "error"
                                            : "",
          out);
    fprintf(out, ",%d,", c->n_fragments);
    csv_text(out, c->smiles);
    fputc(',', out);
    if (r->train && c->valid == ELIGN_RDKIT_VALID) fputs(elign_smiles_set_find(r->train, c->smiles) < 0 ? "1" : "0", out);
    for (int b = 0; b < s->n_backends; b++) {
      const elign_relax_result *x = &f->oracle[b][m];
      fprintf(out, ",%s", elign_mol_status_string((elign_mol_status)x->status));
      csv_num(out, x->energy);
      csv_num(out, n > 0 ? x->energy / (double)n : NAN);
      csv_num(out, eval_atomization_per_atom(f, b, m));
      csv_num(out, x->fmax);
      csv_num(out, x->frms);
      if (!s->relax) continue;
      fprintf(out, ",%s,", elign_relax_outcome_string((elign_relax_outcome)x->outcome));
      if (x->outcome == ELIGN_RELAX_FAILED) fputs(elign_mol_status_string((elign_mol_status)x->relax_status), out);
      fprintf(out, ",%d", x->steps);
      csv_num(out, x->energy_final);
      csv_num(out, x->energy - x->energy_final);
      csv_num(out, n > 0 ? (x->energy - x->energy_final) / (double)n : NAN);
      csv_num(out, x->fmax_final);
      csv_num(out, x->frms_final);
      csv_num(out, x->rmsd);
      csv_num(out, x->rmsd_heavy);
      csv_num(out, x->drms);
    }
    if (s->dft_n > 0) { /* empty cells for molecules not sent to DFT */
      const int64_t *hit = NULL;
      for (int64_t k = 0; k < f->n_dft && !hit; k++)
        if (f->dft_index[k] == m) hit = &f->dft_index[k];
      const eval_dft *d = hit ? &f->dft[hit - f->dft_index] : NULL;
      fputc(',', out);
      if (d) fputs(d->status < 0 ? "not_run" : elign_mol_status_string((elign_mol_status)d->status), out);
      csv_num(out, d ? d->energy : NAN);
      csv_num(out, d ? d->formation_energy : NAN);
      csv_num(out, d ? d->frms : NAN);
      csv_num(out, d ? d->fmax : NAN);
    }
    fputc('\n', out);
  }
}

elign_status eval_write_csv(const eval_report *r, const char *path, elign_error *err) {
  elign_atomic_file af;
  FILE *f;
  elign_status st = elign_atomic_fopen(&af, path, &f, err);
  if (st) return st;
  csv_header(f, r->settings);
  for (int i = 0; i < r->n_samples; i++)
    if (!r->samples[i]->error[0]) csv_rows(f, r->samples[i], i, r);
  for (int i = 0; i < r->n_ref; i++)
    if (!r->ref[i]->error[0]) csv_rows(f, r->ref[i], i, r);
  return elign_atomic_fclose(&af, f, err);
}

/* ---- the side-by-side table --------------------------------------------------- */

static void group_mean(eval_file *const *files, int n, const eval_report *r, eval_summary *mean, eval_summary *std,
                       int *n_used) {
  eval_summary *sums = elign_calloc((size_t)(n > 0 ? n : 1), sizeof *sums, "eval:summaries");
  const eval_summary **used = elign_calloc((size_t)(n > 0 ? n : 1), sizeof *used, "eval:used");
  *n_used = 0;
  for (int i = 0; i < n; i++)
    if (!files[i]->error[0] && files[i]->mols.n_mol > 0) {
      eval_summary_of_file(files[i], r->settings, r->train, &sums[i]);
      used[(*n_used)++] = &sums[i];
    }
  eval_summary_seeds(used, *n_used, mean, std);
  elign_free(sums);
  elign_free(used);
}

static void cell(FILE *out, double mean, double std, int n) {
  char buf[64];
  if (!isfinite(mean))
    snprintf(buf, sizeof buf, "-");
  else if (n > 1 && isfinite(std))
    snprintf(buf, sizeof buf, "%.6g ± %.2g", mean, std);
  else
    snprintf(buf, sizeof buf, "%.6g", mean);
  fprintf(out, " %22s", buf);
}

/* The energies at equal composition, below the table: one line per backend. */
static void print_same_formula(const eval_report *r, FILE *out) {
  eval_summary same;
  eval_same_formula(r->samples, r->n_samples, r->ref, r->n_ref, r->settings, &same);
  fprintf(out, "\nsame formula in samples and ref (samples - ref, weighted by the molecules that pair up):\n");
  for (int i = 0; i < same.n; i++) {
    const eval_section *sec = &same.s[i];
    fprintf(out, "%-44s formulas %.0f, pairs %.0f (%.1f %% of samples): energy/atom %+.4g eV (median %+.4g), "
                 "RMS force %+.4g eV/A, lower in %.1f %% of formulas, sign test p %.2g\n",
            sec->name, eval_section_get(sec, "formulas"), eval_section_get(sec, "pairs"),
            100 * eval_section_get(sec, "samples_matched"), eval_section_get(sec, "energy_per_atom_diff"),
            eval_section_get(sec, "energy_per_atom_diff_median"), eval_section_get(sec, "frms_diff"),
            100 * eval_section_get(sec, "formulas_lower"), eval_section_get(sec, "sign_test_p"));
  }
}

void eval_print_table(const eval_report *r, FILE *out) {
  eval_summary ms, ss, mr, sr, d;
  int ns = 0, nr = 0;
  group_mean(r->samples, r->n_samples, r, &ms, &ss, &ns);
  if (r->n_ref > 0) {
    group_mean(r->ref, r->n_ref, r, &mr, &sr, &nr);
    eval_summary_diff(&ms, &mr, &d);
  }
  fprintf(out, "%-44s %22s", "metric", ns > 1 ? "samples (mean ± std)" : "samples");
  if (r->n_ref > 0) fprintf(out, " %22s %22s", nr > 1 ? "ref (mean ± std)" : "ref", "samples - ref");
  fputc('\n', out);
  for (int i = 0; i < ms.n; i++)
    for (int j = 0; j < ms.s[i].n; j++) {
      char name[128];
      snprintf(name, sizeof name, "%s.%s", ms.s[i].name, ms.s[i].m[j].key);
      fprintf(out, "%-44s", name);
      cell(out, ms.s[i].m[j].value, eval_section_get(eval_summary_find(&ss, ms.s[i].name), ms.s[i].m[j].key), ns);
      if (r->n_ref > 0) {
        const char *sec = ms.s[i].name, *key = ms.s[i].m[j].key;
        cell(out, eval_section_get(eval_summary_find(&mr, sec), key), eval_section_get(eval_summary_find(&sr, sec), key),
             nr);
        cell(out, eval_section_get(eval_summary_find(&d, sec), key), NAN, 1);
      }
      fputc('\n', out);
    }
  if (r->n_ref > 0 && r->settings->n_backends > 0) print_same_formula(r, out);
}
