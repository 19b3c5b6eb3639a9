/* relax.h — single points and local relaxations of many molecules through an
 * oracle client, in fixed chunks.
 *
 * The molecules of a set are cut into chunks of `chunk` consecutive
 * molecules (chunk k = molecules [k·chunk, (k+1)·chunk)). Each chunk is one
 * oracle request at the given geometries (the single point: energy, forces,
 * status); with `relax`, every molecule the oracle accepted then runs its
 * own optimiser (common/chem/geomopt.h) and the chunk sends one request per
 * step holding the molecules still relaxing, until each has converged, run
 * out of steps or failed. Up to `window` chunks are in flight at once, so
 * oracle ranks stay busy while this rank does the optimiser steps.
 *
 * Determinism: a request holds exactly the molecules its chunk has at that
 * step, whatever the number of oracle ranks or the order replies come back,
 * and the server answers a request as one batch (merge_requests = 0), as the
 * embedded client does; so the results are bit for bit the same with any
 * number of oracle ranks (or none) for a given chunk size.
 *
 * A chunk is finished when all its molecules are; `done` is then called once
 * with its results (the unit of resumption for `elign eval`), in the order
 * chunks finish (not necessarily their order in the list).
 *
 * Failures of one molecule are results, never errors: a single point the
 * oracle flags keeps its status and is not relaxed; a point along the
 * relaxation the oracle flags (atoms pushed together, SCF failure) makes the
 * optimiser retry half the step, and a molecule whose step shrinks to
 * nothing is FAILED with that status. Errors are the client's (MPI, a
 * rejected reply) or the callback's; outstanding requests are then drained
 * before returning, so the oracle ranks can still shut down.
 *
 * Units: positions Å, energies eV, forces eV/Å. RMS force = sqrt(Σ_i |F_i|²/n)
 * (per-atom magnitude, as Elign's reward; `elign oracle`'s table prints the
 * RMS over the 3n components, smaller by √3).
 */
#ifndef ELIGN_ORACLE_RELAX_H
#define ELIGN_ORACLE_RELAX_H

#include <stdint.h>

#include "common/chem/geomopt.h"
#include "common/chem/molset.h"
#include "oracle/service/client.h"

typedef enum {
  ELIGN_RELAX_NOT_RUN = 0,   /* no relaxation asked for, or the single point failed */
  ELIGN_RELAX_CONVERGED = 1, /* max |F_i| < fmax */
  ELIGN_RELAX_MAX_STEPS = 2, /* out of steps; the final point is the best accepted one */
  ELIGN_RELAX_FAILED = 3     /* the oracle could not evaluate any shorter step (relax_status says why) */
} elign_relax_outcome;

const char *elign_relax_outcome_string(elign_relax_outcome o); /* "not_run", "converged", ... */

typedef struct {
  /* the single point at the given geometry */
  int32_t status;       /* elign_mol_status */
  double energy;        /* eV (NaN unless status is OK) */
  double fmax, frms;    /* eV/Å: largest atom force, RMS force (NaN unless OK) */
  /* the relaxation (outcome NOT_RUN: every field below is NaN / 0) */
  int32_t outcome;      /* elign_relax_outcome */
  int32_t relax_status; /* FAILED: the oracle's status at the last point it refused */
  int32_t steps;        /* oracle evaluations after the start (refused points included) */
  double energy_final;  /* eV at the final point */
  double fmax_final, frms_final; /* eV/Å at the final point */
  double rmsd;          /* Å, Kabsch-aligned, final vs start, all atoms */
  double rmsd_heavy;    /* Å, the same over atoms with Z > 1 (NaN without any) */
  double drms;          /* Å, distance-matrix RMS, final vs start */
} elign_relax_result;

typedef struct {
  int chunk;                   /* molecules per chunk (>= 1) */
  int window;                  /* chunks in flight (>= 1) */
  int relax;                   /* 0: single points only */
  elign_geomopt_options opt;   /* the optimiser (relax only) */
} elign_relax_options;

/* Called when chunk `chunk` (molecules [m0, m1)) is finished; results points
 * at its m1 − m0 entries. A non-OK return stops the run with that error. */
typedef elign_status (*elign_relax_done_fn)(void *ctx, int64_t chunk, int64_t m0, int64_t m1,
                                            const elign_relax_result *results, elign_error *err);

/* Run the chunks listed in chunks[0..n_chunks) (chunk indices, any order,
 * each < ceil(n_mol / chunk)) of mols through client c. results [n_mol]:
 * the entries of those chunks' molecules are written. final_pos (may be
 * NULL) [n_atoms][3]: those molecules' final positions (the start where
 * nothing ran). done may be NULL. */
elign_status elign_relax_run(elign_oracle_client *c, const elign_molset *mols, const int64_t *chunks,
                             int64_t n_chunks, const elign_relax_options *o, elign_relax_result *results,
                             double *final_pos, elign_relax_done_fn done, void *ctx, elign_error *err);

/* The result of a molecule nothing was computed for (status and outcome as
 * given, every number NaN, steps 0). */
void elign_relax_result_clear(elign_relax_result *r, int32_t status);

#endif
