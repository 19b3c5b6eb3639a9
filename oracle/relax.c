/* relax.c — chunked single points and relaxations through a client (relax.h). */
#include "oracle/relax.h"

#include <math.h>
#include <string.h>

#include "common/chem/align.h"

const char *elign_relax_outcome_string(elign_relax_outcome o) {
  switch (o) {
    case ELIGN_RELAX_NOT_RUN: return "not_run";
    case ELIGN_RELAX_CONVERGED: return "converged";
    case ELIGN_RELAX_MAX_STEPS: return "max_steps";
    case ELIGN_RELAX_FAILED: return "failed";
  }
  return "unknown";
}

void elign_relax_result_clear(elign_relax_result *r, int32_t status) {
  r->status = status;
  r->energy = r->fmax = r->frms = NAN;
  r->outcome = ELIGN_RELAX_NOT_RUN;
  r->relax_status = 0;
  r->steps = 0;
  r->energy_final = r->fmax_final = r->frms_final = NAN;
  r->rmsd = r->rmsd_heavy = r->drms = NAN;
}

/* One chunk in flight. */
typedef struct {
  int busy;
  int64_t chunk, m0, m1;
  int step;                 /* requests answered so far */
  int64_t n_active;
  int64_t *active;          /* [m1 - m0] molecule indices still running, ascending */
  int32_t *last_status;     /* [m1 - m0] the oracle's last refusal per molecule */
  elign_geomopt **opt;      /* [m1 - m0] per molecule (relax) */
  uint64_t id;              /* outstanding request */
  /* request and reply buffers, sized for the whole chunk */
  int64_t *off;
  int32_t *Z;
  double *pos, *energy, *forces;
  elign_mol_status *status;
} chunk_slot;

typedef struct {
  elign_oracle_client *c;
  const elign_molset *mols;
  const elign_relax_options *o;
  elign_relax_result *results;
  double *final_pos;
} relax_run;

static void slot_alloc(chunk_slot *s, int chunk, int64_t max_atoms) {
  memset(s, 0, sizeof *s);
  size_t n = (size_t)chunk, a = (size_t)(max_atoms > 0 ? max_atoms : 1);
  s->active = elign_malloc(n * sizeof *s->active, "relax:active");
  s->last_status = elign_malloc(n * sizeof *s->last_status, "relax:last_status");
  s->opt = elign_calloc(n, sizeof *s->opt, "relax:opt");
  s->off = elign_malloc((n + 1) * sizeof *s->off, "relax:off");
  s->Z = elign_malloc(a * sizeof *s->Z, "relax:Z");
  s->pos = elign_malloc(3 * a * sizeof *s->pos, "relax:pos");
  s->energy = elign_malloc(n * sizeof *s->energy, "relax:energy");
  s->forces = elign_malloc(3 * a * sizeof *s->forces, "relax:forces");
  s->status = elign_malloc(n * sizeof *s->status, "relax:status");
}

static void slot_free(chunk_slot *s, int chunk) {
  for (int i = 0; i < chunk; i++) elign_geomopt_free(&s->opt[i]);
  elign_free(s->active);
  elign_free(s->last_status);
  elign_free(s->opt);
  elign_free(s->off);
  elign_free(s->Z);
  elign_free(s->pos);
  elign_free(s->energy);
  elign_free(s->forces);
  elign_free(s->status);
}

/* Pack the active molecules at their current points and submit. */
static elign_status submit(relax_run *r, chunk_slot *s, elign_error *err) {
  const elign_molset *m = r->mols;
  int64_t a = 0;
  s->off[0] = 0;
  for (int64_t k = 0; k < s->n_active; k++) {
    int64_t mol = s->active[k], a0 = m->offsets[mol], n = m->offsets[mol + 1] - a0;
    const double *x = s->step == 0 ? m->pos + 3 * a0 : elign_geomopt_x(s->opt[mol - s->m0]);
    memcpy(s->Z + a, m->Z + a0, (size_t)n * sizeof *s->Z);
    memcpy(s->pos + 3 * a, x, 3 * (size_t)n * sizeof *s->pos);
    a += n;
    s->off[k + 1] = a;
  }
  elign_oracle_batch b = {.n_mol = s->n_active, .offsets = s->off, .Z = s->Z, .pos = s->pos};
  return elign_oracle_client_submit(r->c, &b, 1, &s->id, err);
}

static void finish_relaxation(relax_run *r, chunk_slot *s, int64_t mol, elign_relax_outcome outcome) {
  const elign_molset *m = r->mols;
  elign_relax_result *res = &r->results[mol];
  elign_geomopt *g = s->opt[mol - s->m0];
  int64_t a0 = m->offsets[mol], n = m->offsets[mol + 1] - a0;
  res->outcome = outcome;
  res->steps = elign_geomopt_steps(g);
  if (outcome == ELIGN_RELAX_FAILED) {
    res->relax_status = s->last_status[mol - s->m0];
  } else {
    const double *x = elign_geomopt_final_x(g), *x0 = m->pos + 3 * a0;
    res->energy_final = elign_geomopt_final_energy(g);
    res->fmax_final = elign_geomopt_final_fmax(g);
    res->frms_final = elign_geomopt_final_frms(g);
    res->rmsd = elign_rmsd_aligned(x, x0, n, NULL);
    res->rmsd_heavy = elign_rmsd_heavy(x, x0, m->Z + a0, n);
    res->drms = elign_drms(x, x0, n);
    if (r->final_pos) memcpy(r->final_pos + 3 * a0, x, 3 * (size_t)n * sizeof *x);
  }
  elign_geomopt_free(&s->opt[mol - s->m0]);
}

static elign_relax_outcome outcome_of(elign_geomopt_result g) {
  return g == ELIGN_GEOMOPT_CONVERGED ? ELIGN_RELAX_CONVERGED
         : g == ELIGN_GEOMOPT_MAX_STEPS ? ELIGN_RELAX_MAX_STEPS
                                        : ELIGN_RELAX_FAILED;
}

/* The reply to the chunk's request: single points at step 0, optimiser
 * steps after. Molecules that finish leave the active list. */
static void process_reply(relax_run *r, chunk_slot *s) {
  const elign_molset *m = r->mols;
  int64_t kept = 0;
  for (int64_t k = 0; k < s->n_active; k++) {
    int64_t mol = s->active[k], n = elign_molset_natoms(m, mol), j = mol - s->m0;
    const double *f = s->forces + 3 * s->off[k];
    elign_mol_status st = s->status[k];
    elign_geomopt_result g;
    if (s->step == 0) {
      elign_relax_result *res = &r->results[mol];
      elign_relax_result_clear(res, (int32_t)st);
      if (st != ELIGN_MOL_OK) continue;
      res->energy = s->energy[k];
      res->fmax = elign_forces_max(f, n);
      res->frms = elign_forces_rms(f, n);
      if (!r->o->relax) continue;
      s->opt[j] = elign_geomopt_new(&r->o->opt, n, m->pos + 3 * m->offsets[mol]);
      g = elign_geomopt_feed(s->opt[j], s->energy[k], f);
    } else if (st == ELIGN_MOL_OK) {
      g = elign_geomopt_feed(s->opt[j], s->energy[k], f);
    } else {
      s->last_status[j] = (int32_t)st;
      g = elign_geomopt_reject(s->opt[j]);
    }
    if (g == ELIGN_GEOMOPT_CONTINUE)
      s->active[kept++] = mol;
    else
      finish_relaxation(r, s, mol, outcome_of(g));
  }
  s->n_active = kept;
  s->step++;
}

static elign_status start_chunk(relax_run *r, chunk_slot *s, int64_t chunk, elign_error *err) {
  int64_t n_mol = r->mols->n_mol;
  s->chunk = chunk;
  s->m0 = chunk * r->o->chunk;
  s->m1 = s->m0 + r->o->chunk < n_mol ? s->m0 + r->o->chunk : n_mol;
  s->step = 0;
  s->n_active = s->m1 - s->m0;
  for (int64_t k = 0; k < s->n_active; k++) {
    s->active[k] = s->m0 + k;
    s->last_status[k] = 0;
  }
  s->busy = 1;
  return submit(r, s, err);
}

elign_status elign_relax_run(elign_oracle_client *c, const elign_molset *mols, const int64_t *chunks,
                             int64_t n_chunks, const elign_relax_options *o, elign_relax_result *results,
                             double *final_pos, elign_relax_done_fn done, void *ctx, elign_error *err) {
  if (o->chunk < 1 || o->window < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "relax: chunk (%d) and window (%d) must be >= 1", o->chunk, o->window);
  int64_t n_total = (mols->n_mol + o->chunk - 1) / o->chunk;
  for (int64_t k = 0; k < n_chunks; k++)
    if (chunks[k] < 0 || chunks[k] >= n_total)
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "relax: chunk %lld out of range (the set has %lld)", (long long)chunks[k],
                        (long long)n_total);
  if (final_pos) memcpy(final_pos, mols->pos, 3 * (size_t)mols->n_atoms * sizeof *final_pos);
  if (n_chunks == 0) return ELIGN_OK;

  int64_t max_atoms = 0; /* the most atoms any chunk holds */
  for (int64_t k = 0; k < n_total; k++) {
    int64_t m0 = k * o->chunk, m1 = m0 + o->chunk < mols->n_mol ? m0 + o->chunk : mols->n_mol;
    int64_t a = mols->offsets[m1] - mols->offsets[m0];
    if (a > max_atoms) max_atoms = a;
  }
  int window = o->window < n_chunks ? o->window : (int)n_chunks;
  chunk_slot *slots = elign_calloc((size_t)window, sizeof *slots, "relax:slots");
  int *fifo = elign_malloc((size_t)window * sizeof *fifo, "relax:fifo"); /* slots in submission order */
  for (int i = 0; i < window; i++) slot_alloc(&slots[i], o->chunk, max_atoms);
  relax_run r = {.c = c, .mols = mols, .o = o, .results = results, .final_pos = final_pos};

  elign_status st = ELIGN_OK;
  int head = 0, count = 0;
  int64_t next = 0;
  for (int i = 0; i < window && st == ELIGN_OK; i++) {
    st = start_chunk(&r, &slots[i], chunks[next++], err);
    if (st == ELIGN_OK) fifo[(head + count++) % window] = i;
  }
  while (count > 0) {
    chunk_slot *s = &slots[fifo[head]];
    head = (head + 1) % window;
    count--;
    elign_oracle_result res = {.energy = s->energy, .forces = s->forces, .status = s->status};
    elign_error wait_err;
    elign_error_clear(&wait_err);
    elign_status ws = elign_oracle_client_wait(c, s->id, &res, st == ELIGN_OK ? err : &wait_err);
    if (st != ELIGN_OK) continue; /* draining after an error */
    if ((st = ws) != ELIGN_OK) continue;
    process_reply(&r, s);
    int slot_index = (int)(s - slots);
    if (s->n_active > 0) {
      st = submit(&r, s, err);
    } else {
      s->busy = 0;
      if (done) st = done(ctx, s->chunk, s->m0, s->m1, results + s->m0, err);
      if (st == ELIGN_OK && next < n_chunks) st = start_chunk(&r, s, chunks[next++], err);
    }
    if (st == ELIGN_OK && s->busy) fifo[(head + count++) % window] = slot_index;
  }
  for (int i = 0; i < window; i++) slot_free(&slots[i], o->chunk);
  elign_free(slots);
  elign_free(fifo);
  return st;
}
