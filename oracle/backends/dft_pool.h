/* dft_pool.h — DFT validation of generated molecules (B3LYP/6-31G(d) by default).
 *
 * The computation behind the dedicated DFT ranks of a run (mpi.dft_ranks,
 * common/mpi/roles.h; the MPI loop that feeds them is the generic oracle
 * server, oracle/service/server.h): per
 * molecule the total energy and forces through the "python" oracle backend
 * and a DFT adapter (tools/oracles/psi4_oracle.py by default, or
 * pyscf_oracle.py), and from them
 *
 *   formation energy per atom = (E_total − Σ_i E_atom(Z_i)) / n      (eV/atom)
 *   force RMS                 = sqrt(Σ_i |F_i|² / n)                  (eV/Å)
 *
 * Isolated-atom energies E_atom(Z) are computed once per element at the
 * atom's ground-state spin multiplicity (doublet H, triplet C, quartet N,
 * triplet O, doublet F, triplet S, doublet Cl, ...) with charge 0, and cached
 * on disk as JSON in <scratch_dir>/dft_atom_energies.json keyed by method,
 * basis and element, so later runs and other ranks reuse them.
 *
 * A molecule that exceeds options.time_limit (seconds) is flagged
 * ELIGN_MOL_TIMEOUT (the adapter runs it in a child process it kills) and the
 * pool goes on with the next one.
 *
 * Call sequence (single-process mode):
 *   elign_dft_pool *p; elign_dft_pool_create(&opt, &p, &err);
 *   elign_dft_pool_evaluate(p, &batch, &res, &err);     // repeat
 *   elign_dft_pool_destroy(&p);
 * Defaults for unset options: method "b3lyp", basis "6-31g(d)",
 * python_module "psi4_oracle", python_function "evaluate", python_path the
 * adapters the build copies beside the binary (<bindir>/oracles; CMake
 * -DELIGN_ORACLE_TOOLS_DIR=DIR names another default).
 */
#ifndef ELIGN_DFT_POOL_H
#define ELIGN_DFT_POOL_H

#include <stdint.h>

#include "oracle/oracle.h"

typedef struct elign_dft_pool elign_dft_pool;

/* Per-molecule outputs, allocated by the caller; any pointer but status may be NULL. */
typedef struct {
  double *energy;           /* [n_mol] eV, total DFT energy */
  double *formation_energy; /* [n_mol] eV/atom, (E − Σ E_atom)/n */
  double *force_rms;        /* [n_mol] eV/Å */
  double *forces;           /* [n_atoms][3] eV/Å */
  double *seconds;          /* [n_mol] wall time spent on the molecule */
  elign_mol_status *status; /* [n_mol] (required) */
} elign_dft_result;

elign_status elign_dft_pool_create(const elign_oracle_options *opt, elign_dft_pool **out, elign_error *err);

/* Evaluate molecule by molecule (each under the time limit). Flagged
 * molecules get zeros. A lone neutral atom whose multiplicity is given and
 * equals its ground state's is the reference atom: answered through
 * elign_dft_pool_atom_energy (cached; formation energy 0), so a caller that
 * asks for the atoms itself pays for each element once. Returns non-OK only
 * if the whole backend fails. */
elign_status elign_dft_pool_evaluate(elign_dft_pool *pool, const elign_oracle_batch *batch, elign_dft_result *res,
                                     elign_error *err);

/* E_atom(Z) in eV (cached in memory and on disk; computed on first use). */
elign_status elign_dft_pool_atom_energy(elign_dft_pool *pool, int Z, double *energy_ev, elign_error *err);

/* Frees and clears *pool (accepts NULL). */
void elign_dft_pool_destroy(elign_dft_pool **pool);

/* Path of the on-disk atom-energy cache ("" when no scratch_dir was given). */
const char *elign_dft_pool_cache_path(const elign_dft_pool *pool);

#endif
