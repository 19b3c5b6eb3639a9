/* geomopt.h — local geometry optimisation of one molecule (L-BFGS or FIRE),
 * driven from outside: the optimiser never calls an energy function.
 *
 * Reverse communication, so that the caller can batch the evaluations of
 * many molecules into one oracle request (oracle/relax.h does):
 *
 *   elign_geomopt_options o;
 *   elign_geomopt_options_default(&o, ELIGN_GEOMOPT_LBFGS);
 *   elign_geomopt *g = elign_geomopt_new(&o, n, x0);
 *   for (;;) {
 *     evaluate E (eV) and F (eV/Å) at elign_geomopt_x(g);
 *     elign_geomopt_result r = elign_geomopt_feed(g, E, F);
 *     if (r != ELIGN_GEOMOPT_CONTINUE) break;          // converged or out of steps
 *   }
 *   elign_geomopt_final_x(g), _final_energy(g), _final_fmax(g), _steps(g);
 *   elign_geomopt_free(&g);
 *
 * Convergence: every atom's force below `fmax` (max_i |F_i| < fmax, the ASE
 * criterion). `steps` counts evaluations after the starting point, so a
 * molecule that starts converged has 0 steps and max_steps bounds the oracle
 * calls at max_steps + 1. No atom moves more than `max_step` Å in one step:
 * a longer step is scaled down as a whole (its direction kept).
 *
 * L-BFGS (Nocedal, Math. Comp. 35 (1980) 773): two-loop recursion over the
 * last `memory` (s, y) pairs, initial inverse Hessian γI with γ = sᵀy / yᵀy
 * of the newest pair (1/alpha before the first); pairs without positive
 * curvature are skipped; a direction that is not downhill restarts from the
 * steepest descent. A trial point whose energy rose by more than energy_tol
 * is rejected and the step halved (a backtracking line search on the same
 * direction); the accepted point is what "final" reports.
 *
 * FIRE (Bitzek et al., Phys. Rev. Lett. 97 (2006) 170201) with unit masses
 * and the usual parameters (dt 0.1, dt_max 1.0, N_min 5, f_inc 1.1, f_dec
 * 0.5, α_start 0.1, f_α 0.99): velocity mixing towards the force while the
 * power F·v stays positive, a full stop and a smaller time step otherwise.
 * Every evaluated point is accepted; "final" is the last one.
 *
 * Deterministic: plain double arithmetic in a fixed order, no randomness.
 */
#ifndef ELIGN_GEOMOPT_H
#define ELIGN_GEOMOPT_H

#include <stdint.h>

typedef enum { ELIGN_GEOMOPT_LBFGS = 0, ELIGN_GEOMOPT_FIRE = 1 } elign_geomopt_method;

/* "lbfgs" / "fire"; -1 for an unknown name. */
int elign_geomopt_method_parse(const char *name);
const char *elign_geomopt_method_name(elign_geomopt_method m);

typedef struct {
  elign_geomopt_method method;
  double fmax;       /* eV/Å: converged when every atom's |F| < fmax */
  int max_steps;     /* evaluations after the start, >= 0 */
  double max_step;   /* Å: the largest displacement of any atom in one step */
  /* L-BFGS */
  int memory;        /* (s, y) pairs kept */
  double alpha;      /* eV/Å²: curvature of the first step's guess (step = F / alpha) */
  double energy_tol; /* eV: a rise above this rejects a trial point */
  /* FIRE */
  double dt, dt_max, f_inc, f_dec, a_start, f_a;
  int n_min;
} elign_geomopt_options;

/* Defaults: fmax 0.03 eV/Å, max_steps 500, max_step 0.2 Å; L-BFGS memory
 * 20, alpha 70 eV/Å², energy_tol 1e-4 eV; FIRE as above. */
void elign_geomopt_options_default(elign_geomopt_options *o, elign_geomopt_method method);

typedef enum {
  ELIGN_GEOMOPT_CONTINUE = 0,  /* evaluate at elign_geomopt_x and feed again */
  ELIGN_GEOMOPT_CONVERGED = 1, /* the final point meets fmax */
  ELIGN_GEOMOPT_MAX_STEPS = 2, /* max_steps evaluations made without converging */
  ELIGN_GEOMOPT_STUCK = 3      /* (reject only) the step shrank to nothing: no point can be evaluated */
} elign_geomopt_result;

typedef struct elign_geomopt elign_geomopt;

/* n atoms starting at x0 [n][3] (Å, copied). */
elign_geomopt *elign_geomopt_new(const elign_geomopt_options *o, int64_t n, const double *x0);
void elign_geomopt_free(elign_geomopt **g); /* accepts NULL; clears the pointer */

/* The point to evaluate next [n][3] Å (valid until the next feed). */
const double *elign_geomopt_x(const elign_geomopt *g);

/* The energy (eV) and forces (eV/Å, [n][3]) at elign_geomopt_x. Both must
 * be finite (the caller stops on an oracle failure instead). */
elign_geomopt_result elign_geomopt_feed(elign_geomopt *g, double energy, const double *forces);

/* The point handed out could not be evaluated (the oracle flagged it:
 * atoms too close, SCF failure, non-finite result). It counts as a step;
 * the optimiser goes back to the accepted point and tries half the step
 * (L-BFGS: along the same line; FIRE: also halving dt and stopping).
 * Returns CONTINUE with a new point, MAX_STEPS, or STUCK when the step is
 * below 1e-6 Å or the starting point itself failed. */
elign_geomopt_result elign_geomopt_reject(elign_geomopt *g);

/* After CONVERGED or MAX_STEPS: the final point, its energy, its largest
 * atom force (eV/Å) and RMS force sqrt(Σ|F_i|²/n) (eV/Å). */
const double *elign_geomopt_final_x(const elign_geomopt *g);
double elign_geomopt_final_energy(const elign_geomopt *g);
double elign_geomopt_final_fmax(const elign_geomopt *g);
double elign_geomopt_final_frms(const elign_geomopt *g);
/* Evaluations fed after the first (the starting point). */
int elign_geomopt_steps(const elign_geomopt *g);

/* Largest atom force max_i |F_i| and RMS force sqrt(Σ_i |F_i|² / n) of
 * forces [n][3]; both 0 for n = 0. */
double elign_forces_max(const double *forces, int64_t n);
double elign_forces_rms(const double *forces, int64_t n);

#endif
