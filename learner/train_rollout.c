/* train_rollout.c — one actor's part of an iteration: its blocks of prompt
 * groups through the rollout sampler, each oracle frame submitted from the
 * frame callback as soon as a block produces it (so the oracle ranks work
 * while the sampler runs), then the answers reduced to three numbers per
 * molecule and frame (force metric, energy, ok) for rank 0's rewards. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/log.h"
#include "common/base/trace.h"
#include "common/mpi/roles.h"
#include "learner/train_impl.h"

/* ---- the oracle requests of one rollout -------------------------------------- */

typedef struct train_request {
  uint64_t id;
  int64_t blk;              /* which of my blocks (index into it->rec) */
  int slot;                 /* oracle frame slot j */
  int64_t mol_first, n_mol; /* record molecules */
  int copies;               /* > 1: the request holds each group's first member only; its answer
                               stands for all `copies` members (a frame inside a case-C prefix) */
  uint8_t *clash;           /* [n_mol / copies] 1 = held back by the clash guard (not sent), or NULL = none */
} oracle_request;

typedef struct {
  trainer *tr;
  train_iter *it;           /* its request list grows */
  int64_t blk;              /* the block being sampled */
  double t_submit;
} frame_sink;

/* The clash guard (reward.clash_distance): molecules with two atoms closer
 * than it never reach the oracle — an MLFF's energy there is an
 * extrapolation a policy could exploit; they come back flagged
 * ELIGN_MOL_OVERLAP and the reward counts them as oracle failures (D1).
 * Returns [n] flags, or NULL when the guard is off or nothing clashes. */
static uint8_t *clash_guard(trainer *tr, int64_t n, const int64_t *off, const int32_t *Z, const double *pos) {
  double d = tr->o->clash_distance;
  if (!(d > 0)) return NULL;
  uint8_t *clash = NULL;
  for (int64_t m = 0; m < n; m++) {
    int64_t a0 = off[m];
    if (elign_oracle_check_molecule(NULL, NULL, off[m + 1] - a0, Z + a0, pos + 3 * a0, d) != ELIGN_MOL_OVERLAP) continue;
    if (!clash) clash = elign_calloc((size_t)n, 1, "train:clash");
    clash[m] = 1;
  }
  if (clash && !tr->clash_logged) {
    elign_info("clash guard: a molecule with atoms closer than reward.clash_distance = %g A is not sent to the oracle "
               "(flagged %s, rewarded as an oracle failure; logged once)", d, elign_mol_status_string(ELIGN_MOL_OVERLAP));
    tr->clash_logged = 1;
  }
  return clash;
}

/* Drop the clashing molecules from the packed batch in place; returns the count left. */
static int64_t compact_unclashed(const uint8_t *clash, int64_t n, int64_t *off, int32_t *Z, double *pos) {
  int64_t k = 0, at = 0;
  for (int64_t m = 0; m < n; m++) {
    int64_t a0 = off[m], na = off[m + 1] - a0;
    if (clash[m]) continue;
    memmove(pos + 3 * at, pos + 3 * a0, (size_t)(3 * na) * sizeof(double));
    memmove(Z + at, Z + a0, (size_t)na * sizeof(int32_t));
    off[k++] = at;
    at += na;
  }
  off[k] = at;
  return k;
}

/* The frame callback: scheduled ẑ₀ frames (shaping) or the final molecules
 * (terminal reward) go to the oracle now; everything else is ignored. */
static elign_status submit_frame(const rollout_frame *f, void *user, elign_error *err) {
  frame_sink *fs = user;
  trainer *tr = fs->tr;
  if (tr->n_oracle_frames == 0) return ELIGN_OK;
  if ((f->kind == ROLLOUT_FRAME_FINAL) == tr->shaped) return ELIGN_OK;
  int slot = f->kind == ROLLOUT_FRAME_FINAL ? 0 : f->slot;
  int copies = f->copies > 1 ? f->copies : 1;
  int64_t N = f->offsets[f->n_mol];
  double *pos = elign_malloc((size_t)(N > 0 ? N : 1) * 3 * sizeof(double), "train:frame_pos");
  int32_t *Z = elign_malloc((size_t)(N > 0 ? N : 1) * sizeof(int32_t), "train:frame_Z");
  rollout_frame_molecules(&tr->model, f, pos, Z);
  /* identical members: send each group's first one, packed */
  int64_t n_send = f->n_mol / copies;
  int64_t *off = elign_malloc((size_t)(n_send + 1) * sizeof *off, "train:frame_off");
  off[0] = 0;
  for (int64_t q = 0; q < n_send; q++) {
    int64_t m = q * copies, n = f->offsets[m + 1] - f->offsets[m];
    if (copies > 1) {
      memmove(pos + 3 * off[q], pos + 3 * f->offsets[m], (size_t)(3 * n) * sizeof(double));
      memmove(Z + off[q], Z + f->offsets[m], (size_t)n * sizeof(int32_t));
    }
    off[q + 1] = off[q] + n;
  }
  uint8_t *clash = clash_guard(tr, n_send, off, Z, pos);
  int64_t n_sent = clash ? compact_unclashed(clash, n_send, off, Z, pos) : n_send;
  elign_oracle_batch b = {.n_mol = n_sent, .offsets = off, .Z = Z, .pos = pos};
  uint64_t id = 0;
  double t0 = elign_wtime(), tt = elign_trace_begin();
  elign_status st = elign_oracle_client_submit(tr->client, &b, 1, &id, err);
  fs->t_submit += elign_wtime() - t0;
  elign_trace_end(tt, "oracle_submit", ELIGN_TRACE_BUSY);
  free(pos);
  free(Z);
  free(off);
  if (st) {
    free(clash);
    return st;
  }
  train_iter *it = fs->it;
  if (it->n_req == it->cap_req)
    it->req = elign_realloc(it->req, (size_t)(it->cap_req = it->cap_req ? 2 * it->cap_req : 64) * sizeof *it->req,
                            "train:requests");
  it->req[it->n_req++] =
      (oracle_request){.id = id, .blk = fs->blk, .slot = slot, .mol_first = f->mol_first, .n_mol = f->n_mol,
                       .copies = copies, .clash = clash};
  return ELIGN_OK;
}

/* The answer of a request with held-back molecules came packed: spread it
 * to the full molecule order (from the back, in place) and flag the others. */
static void expand_clashed(const uint8_t *clash, int64_t n, const int64_t *off, double *energy, double *forces,
                           elign_mol_status *status) {
  int64_t k = 0, at = 0;
  for (int64_t m = 0; m < n; m++) k += !clash[m];
  for (int64_t m = 0; m < n; m++) at += clash[m] ? 0 : off[m + 1] - off[m];
  for (int64_t m = n - 1; m >= 0; m--) {
    int64_t na = off[m + 1] - off[m];
    if (clash[m]) {
      status[m] = ELIGN_MOL_OVERLAP;
      energy[m] = 0.0;
      memset(forces + 3 * off[m], 0, (size_t)(3 * na) * sizeof(double));
      continue;
    }
    k--, at -= na;
    status[m] = status[k];
    energy[m] = energy[k];
    memmove(forces + 3 * off[m], forces + 3 * at, (size_t)(3 * na) * sizeof(double));
  }
}

/* Force alignment (§4.13): keep the forces of a fine-stage frame per atom
 * of the record (every copy of a case-C prefix row; zero where not ok). */
static void keep_forces(const trainer *tr, train_iter *it, const oracle_request *q, const int64_t *off,
                        const double *forces, const uint8_t *ok) {
  int fi = tr->fa_active ? tr->fa_index_of_slot[q->slot] : -1;
  const rollout_batch *r = &it->rec[q->blk];
  if (fi < 0 || !it->fa_forces || !it->fa_forces[q->blk] || !r->offsets) return; /* (a failed rollout: only drained) */
  double *dst = it->fa_forces[q->blk] + (int64_t)fi * r->h.n_atoms * 3;
  for (int64_t b = 0; b < q->n_mol / q->copies; b++) {
    if (!ok[b]) continue;
    for (int c = 0; c < q->copies; c++) {
      int64_t m = q->mol_first + b * q->copies + c;
      memcpy(dst + 3 * r->offsets[m], forces + 3 * off[b], (size_t)(3 * (off[b + 1] - off[b])) * sizeof(double));
    }
  }
}

/* Wait for one request and reduce each molecule to (metric, energy, ok). */
static elign_status collect_request(trainer *tr, train_iter *it, const oracle_request *q, elign_error *err) {
  const rollout_batch *r = &it->rec[q->blk];
  int64_t n = q->n_mol / q->copies;
  int64_t *off = elign_malloc((size_t)(n + 1) * sizeof *off, "train:req_off");
  off[0] = 0;
  for (int64_t b = 0; b < n; b++) off[b + 1] = off[b] + rollout_natoms(r, q->mol_first + b * q->copies);
  int64_t N = off[n];
  double *energy = elign_malloc((size_t)(n > 0 ? n : 1) * sizeof *energy, "train:req_energy");
  double *forces = elign_calloc((size_t)(N > 0 ? N : 1) * 3, sizeof *forces, "train:req_forces");
  elign_mol_status *status = elign_malloc((size_t)(n > 0 ? n : 1) * sizeof *status, "train:req_status");
  uint8_t *answered = elign_malloc((size_t)(n > 0 ? n : 1), "train:req_ok");
  elign_oracle_result res = {.energy = energy, .forces = forces, .status = status};
  elign_status st = elign_oracle_client_wait(tr->client, q->id, &res, err);
  if (!st && q->clash) expand_clashed(q->clash, n, off, energy, forces, status);
  if (!st) {
    for (int64_t b = 0; b < n; b++) answered[b] = status[b] == ELIGN_MOL_OK;
    grpo_oracle_frame f = {.forces = forces, .energy = energy, .ok = answered};
    for (int64_t b = 0; b < n; b++) {
      int ok = grpo_frame_molecule_ok(&f, b, off, &tr->o->s);
      answered[b] = (uint8_t)ok;
      double metric = ok ? grpo_force_metric(forces + 3 * off[b], off[b + 1] - off[b], &tr->o->s) : 0.0;
      for (int c = 0; c < q->copies; c++) {
        double *v =
            it->frame_vals[q->blk] + ((int64_t)q->slot * r->h.n_mol + q->mol_first + b * q->copies + c) * FV_COUNT;
        v[FV_OK] = ok;
        v[FV_METRIC] = metric;
        v[FV_ENERGY] = ok ? energy[b] : 0.0;
      }
    }
    keep_forces(tr, it, q, off, forces, answered);
  }
  free(off);
  free(energy);
  free(forces);
  free(status);
  free(answered);
  return st;
}

/* A fault-injection hook for the tests (docs/train.md): ELIGN_TEST_NAN_ITERATION=N
 * poisons one weight of the actor that samples group 0 (block 0: rank 0) in
 * iteration N, so that iteration's rollout meets a NaN. */
static void test_poison(trainer *tr, const train_iter *it) {
  const char *v = getenv("ELIGN_TEST_NAN_ITERATION");
  if (v && *v && atoll(v) == it->it && tr->rank == train_block_owner(tr, 0)) {
    elign_warn("ELIGN_TEST_NAN_ITERATION=%s: poisoning a weight of this actor for the test", v);
    tr->ts.params[0] = NAN;
  }
}

elign_status train_rollout_sample(trainer *tr, train_iter *it, elign_error *err) {
  const train_options *o = tr->o;
  it->n_mine = train_rank_blocks(tr, tr->rank);
  it->policy_version = tr->policy_version;
  size_t nb = (size_t)(it->n_mine > 0 ? it->n_mine : 1);
  it->rec = elign_calloc(nb, sizeof *it->rec, "train:records");
  it->frame_vals = elign_calloc(nb, sizeof *it->frame_vals, "train:frame_vals");
  if (tr->fa_active) it->fa_forces = elign_calloc(nb, sizeof *it->fa_forces, "train:fa_forces");
  test_poison(tr, it);

  frame_sink fs = {.tr = tr, .it = it};
  rollout_config rc = {.model = &tr->model, .T = o->T, .K = o->K, .share_initial_noise = o->s.model.share_initial_noise,
                       .skip_prefix = grpo_rollout_skip_prefix(&o->s), .train_start = tr->train_start,
                       .frames = tr->shaped ? tr->sched.indices : NULL, .n_frames = tr->shaped ? tr->sched.n : 0,
                       .keep_mu = tr->fa_active, .groups_per_batch = o->groups_per_block, .seed = o->seed,
                       .iteration = (uint64_t)it->it, .policy_version = tr->policy_version, .on_frame = submit_frame,
                       .user = &fs};
  double t0 = elign_wtime();
  elign_status st = ELIGN_OK;
  /* every block first (its oracle requests go out as it is sampled), the answers later */
  for (int64_t j = 0; j < it->n_mine && !st; j++) {
    int64_t b = tr->rank + j * tr->size;
    fs.blk = j;
    double tt = elign_trace_begin();
    st = rollout_run(&rc, train_block_group0(tr, b), train_block_groups(tr, b), NULL, &it->rec[j], err);
    elign_trace_end(tt, "sample", ELIGN_TRACE_BUSY);
    int64_t J = tr->n_oracle_frames, nm = it->rec[j].h.n_mol;
    it->frame_vals[j] = elign_calloc((size_t)(J * nm > 0 ? J * nm : 1) * FV_COUNT, sizeof(double), "train:frame_vals");
    if (tr->fa_active) {
      int64_t na = (int64_t)tr->n_fa_frames * it->rec[j].h.n_atoms * 3;
      it->fa_forces[j] = elign_calloc((size_t)(na > 0 ? na : 1), sizeof(double), "train:fa_forces");
    }
  }
  it->t[TM_ORACLE_SUBMIT] = fs.t_submit;
  it->t[TM_SAMPLE] = elign_wtime() - t0 - fs.t_submit;
  if (tr->client) {
    elign_error perr;
    elign_error_clear(&perr);
    if (elign_oracle_client_poll(tr->client, &it->oracle_pending_max, &perr) && !st) {
      *err = perr;
      st = perr.status;
    }
  }
  return st;
}

elign_status train_rollout_collect(trainer *tr, train_iter *it, elign_error *err) {
  double t1 = elign_wtime(), tt = elign_trace_begin();
  elign_status st = ELIGN_OK;
  /* every submitted request is waited for, also after a failure: a server
   * finishes only when its replies are delivered */
  for (int q = 0; q < it->n_req; q++) {
    elign_error qerr;
    elign_error_clear(&qerr);
    elign_status qs = collect_request(tr, it, &it->req[q], &qerr);
    if (qs == ELIGN_ERR_MPI || qs == ELIGN_ERR_TIMEOUT) /* the oracle rank is gone or stuck: nothing collective can follow */
      elign_world_fail_one(&qerr);
    if (qs && !st) {
      *err = qerr;
      st = qs;
    }
  }
  it->t[TM_ORACLE_WAIT] += elign_wtime() - t1;
  elign_trace_end(tt, "oracle_wait", ELIGN_TRACE_WAIT);
  for (int q = 0; q < it->n_req; q++) free(it->req[q].clash);
  free(it->req);
  it->req = NULL;
  it->n_req = it->cap_req = 0;
  return st;
}
