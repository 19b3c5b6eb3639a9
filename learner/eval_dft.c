/* eval_dft.c — the DFT check of `elign eval --dft N` (eval.h, docs/eval.md):
 * which molecules go to DFT, the requests to the DFT ranks (or the
 * in-process dft backend), and per molecule the formation energy per atom
 * and the force RMS the Elign paper validates with (SEEDS_NOTES §1.2).
 *
 * The isolated-atom energies come from the same method and basis: rank 0
 * asks for every element involved as a lone neutral atom at its ground-state
 * multiplicity (oracle/backends/dft_pool.h answers those from its on-disk
 * cache, so each element is computed once per method and basis and scratch
 * directory), and subtracts them itself.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/log.h"
#include "common/base/rng.h"
#include "common/chem/elements.h"
#include "learner/eval.h"
#include "oracle/backends/dft_pool.h"
#include "oracle/service/client.h"

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

void eval_dft_choose(eval_file *f, const eval_settings *s) {
  int64_t n = f->mols.n_mol, k = s->dft_n < n ? s->dft_n : n;
  f->n_dft = k > 0 ? k : 0;
  f->dft_index = elign_malloc((size_t)(f->n_dft > 0 ? f->n_dft : 1) * sizeof *f->dft_index, "eval:dft_index");
  f->dft = elign_malloc((size_t)(f->n_dft > 0 ? f->n_dft : 1) * sizeof *f->dft, "eval:dft");
  if (s->dft_seeded && f->n_dft > 0) {
    /* partial Fisher–Yates over 0..n-1: the first k of a uniform random permutation */
    int64_t *perm = elign_malloc((size_t)n * sizeof *perm, "eval:dft_perm");
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    elign_rng rng = elign_rng_stream(s->dft_seed, 0, 0, 0, 0, ELIGN_RNG_EVAL_CHOICE);
    for (int64_t i = 0; i < f->n_dft; i++) {
      int64_t j = i + (int64_t)(elign_rng_uniform(&rng) * (double)(n - i));
      if (j >= n) j = n - 1;
      int64_t t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    memcpy(f->dft_index, perm, (size_t)f->n_dft * sizeof *perm);
    elign_free(perm);
    qsort(f->dft_index, (size_t)f->n_dft, sizeof *f->dft_index, cmp_i64);
  } else {
    for (int64_t i = 0; i < f->n_dft; i++) f->dft_index[i] = i;
  }
  for (int64_t i = 0; i < f->n_dft; i++)
    f->dft[i] = (eval_dft){.status = -1, .energy = NAN, .formation_energy = NAN, .frms = NAN, .fmax = NAN};
}

int eval_dft_multiplicity(const int32_t *Z, int64_t n) {
  int64_t electrons = 0;
  for (int64_t i = 0; i < n; i++) electrons += Z[i];
  return electrons % 2 ? 2 : 1;
}

void eval_dft_fill(eval_dft *d, elign_mol_status status, double energy, const double *forces, const int32_t *Z,
                   int64_t n, const double *e_atom) {
  *d = (eval_dft){.status = status, .energy = NAN, .formation_energy = NAN, .frms = NAN, .fmax = NAN};
  if (status != ELIGN_MOL_OK || n <= 0) return;
  double e_atoms = 0, sum2 = 0, fmax2 = 0;
  for (int64_t i = 0; i < n; i++) {
    e_atoms += (Z[i] >= 1 && Z[i] <= ELIGN_MAX_Z) ? e_atom[Z[i]] : NAN;
    double f2 = forces[3 * i] * forces[3 * i] + forces[3 * i + 1] * forces[3 * i + 1] +
                forces[3 * i + 2] * forces[3 * i + 2];
    sum2 += f2;
    if (f2 > fmax2) fmax2 = f2;
  }
  d->energy = energy;
  d->formation_energy = (energy - e_atoms) / (double)n; /* NaN when an atom's energy is unknown */
  d->frms = sqrt(sum2 / (double)n);
  d->fmax = sqrt(fmax2);
}

/* Energies of the isolated atoms of every element in the chosen molecules
 * (NaN where the element has no tabulated ground state or the atom failed). */
static elign_status atom_energies(eval_file *files, int n_files, elign_oracle_client *c, double *e_atom,
                                  elign_error *err) {
  uint8_t want[ELIGN_MAX_Z + 1] = {0};
  for (int z = 0; z <= ELIGN_MAX_Z; z++) e_atom[z] = NAN;
  for (int i = 0; i < n_files; i++) {
    eval_file *f = &files[i];
    if (f->error[0]) continue;
    for (int64_t k = 0; k < f->n_dft; k++) {
      if (f->dft[k].status >= 0 && f->dft[k].status != ELIGN_MOL_OK) continue; /* flagged: no formation energy */
      int64_t m = f->dft_index[k], a0 = f->mols.offsets[m], a1 = f->mols.offsets[m + 1];
      for (int64_t a = a0; a < a1; a++)
        if (f->mols.Z[a] >= 1 && f->mols.Z[a] <= ELIGN_MAX_Z) want[f->mols.Z[a]] = 1;
    }
  }
  elign_status st = elign_oracle_isolated_atoms(c, 0, want, e_atom, err);
  for (int z = 1; st == ELIGN_OK && z <= ELIGN_MAX_Z; z++) {
    if (!want[z]) continue;
    if (isfinite(e_atom[z]))
      elign_info("dft: isolated atom Z=%d (2S+1=%d): %.6f eV", z, elign_atom_ground_multiplicity(z), e_atom[z]);
    else
      elign_warn("dft: isolated atom Z=%d: no energy (%s): molecules with it get no formation energy", z,
                 elign_atom_ground_multiplicity(z) ? "the DFT job failed" : "no tabulated ground state");
  }
  return st;
}

typedef struct {
  eval_file *f;
  int64_t k;
  uint64_t id;
  double submitted; /* elign_wtime() at submit */
} dft_job;

/* Wait for one job and record it. */
static elign_status finish(const dft_job *j, elign_oracle_client *c, const double *e_atom, eval_dft_done_fn done,
                           void *ctx, elign_error *err) {
  eval_file *f = j->f;
  int64_t m = f->dft_index[j->k], a0 = f->mols.offsets[m], n = f->mols.offsets[m + 1] - a0;
  double energy = NAN, *forces = elign_calloc((size_t)(3 * n + 3), sizeof *forces, "eval:dft_forces");
  elign_mol_status status = ELIGN_MOL_BACKEND_ERROR;
  elign_oracle_result r = {.energy = &energy, .forces = forces, .status = &status};
  elign_status st = elign_oracle_client_wait(c, j->id, &r, err);
  if (st == ELIGN_OK) {
    eval_dft_fill(&f->dft[j->k], status, energy, forces, f->mols.Z + a0, n, e_atom);
    double dt = elign_wtime() - j->submitted; /* with several in flight: includes the wait in the queue */
    if (status != ELIGN_MOL_OK)
      elign_warn("%s molecule %lld (%lld atoms): DFT %s after %.1f s", f->path, (long long)m, (long long)n,
                 elign_mol_status_string(status), dt);
    else
      elign_info("%s molecule %lld (%lld atoms): formation energy %.4f eV/atom, force RMS %.3f eV/A (%.1f s)", f->path,
                 (long long)m, (long long)n, f->dft[j->k].formation_energy, f->dft[j->k].frms, dt);
    st = done ? done(ctx, f, j->k, err) : ELIGN_OK;
  }
  elign_free(forces);
  return st;
}

/* Formation energies of the molecules read back from the journal, from this
 * run's atom energies: a record made while an atom had failed (NaN) gets its
 * formation energy once the atom is known, and every number on the page
 * comes from one set of atom energies. */
static void refresh_formation(eval_file *files, int n_files, const double *e_atom) {
  for (int i = 0; i < n_files; i++)
    for (int64_t k = 0; !files[i].error[0] && k < files[i].n_dft; k++) {
      eval_dft *d = &files[i].dft[k];
      if (d->status != ELIGN_MOL_OK) continue;
      int64_t m = files[i].dft_index[k], a0 = files[i].mols.offsets[m], n = files[i].mols.offsets[m + 1] - a0;
      double e_atoms = 0;
      for (int64_t a = a0; a < a0 + n; a++) {
        int z = files[i].mols.Z[a];
        e_atoms += (z >= 1 && z <= ELIGN_MAX_Z) ? e_atom[z] : NAN;
      }
      d->formation_energy = n > 0 ? (d->energy - e_atoms) / (double)n : NAN;
    }
}

elign_status eval_dft_run(eval_file *files, int n_files, const eval_settings *s, elign_oracle_client *c, int window,
                          eval_dft_done_fn done, void *ctx, elign_error *err) {
  int64_t todo = 0, any = 0;
  for (int i = 0; i < n_files; i++)
    for (int64_t k = 0; !files[i].error[0] && k < files[i].n_dft; k++) {
      todo += files[i].dft[k].status < 0;
      any++;
    }
  if (any == 0) return ELIGN_OK;
  double e_atom[ELIGN_MAX_Z + 1];
  elign_status st = atom_energies(files, n_files, c, e_atom, err); /* cached on the DFT side after the first run */
  if (st) return st;
  refresh_formation(files, n_files, e_atom);
  if (todo == 0) return ELIGN_OK;
  if (window < 1) window = 1;
  dft_job *ring = elign_calloc((size_t)window, sizeof *ring, "eval:dft_jobs");
  int head = 0, in_flight = 0;
  elign_progress prog;
  elign_progress_start(&prog, "dft", todo, 30.0);
  int64_t finished = 0;
  for (int i = 0; i < n_files && st == ELIGN_OK; i++) {
    eval_file *f = &files[i];
    if (f->error[0]) continue;
    for (int64_t k = 0; k < f->n_dft && st == ELIGN_OK; k++) {
      if (f->dft[k].status >= 0) continue;
      if (in_flight == window) { /* the oldest first: results are recorded in order */
        st = finish(&ring[head], c, e_atom, done, ctx, err);
        head = (head + 1) % window;
        in_flight--;
        elign_progress_update(&prog, ++finished);
        if (st) break;
      }
      int64_t m = f->dft_index[k], a0 = f->mols.offsets[m], n = f->mols.offsets[m + 1] - a0;
      int64_t offsets[2] = {0, n};
      int mult = eval_dft_multiplicity(f->mols.Z + a0, n);
      elign_oracle_batch b = {.n_mol = 1, .offsets = offsets, .Z = f->mols.Z + a0, .pos = f->mols.pos + 3 * a0,
                              .multiplicity = &mult};
      dft_job *j = &ring[(head + in_flight) % window];
      *j = (dft_job){.f = f, .k = k, .submitted = elign_wtime()};
      st = elign_oracle_client_submit(c, &b, 1, &j->id, err);
      if (st == ELIGN_OK) in_flight++;
    }
  }
  /* drain: after an error every outstanding reply is still taken in (the servers wait for it) */
  while (in_flight > 0) {
    elign_error e2;
    elign_error_clear(&e2);
    elign_status s2 = st ? finish(&ring[head], c, e_atom, NULL, NULL, &e2)
                         : finish(&ring[head], c, e_atom, done, ctx, err);
    if (!st) st = s2;
    head = (head + 1) % window;
    in_flight--;
    elign_progress_update(&prog, ++finished);
  }
  elign_progress_finish(&prog);
  elign_free(ring);
  (void)s;
  return st;
}
