/* molset_mpi.h — molecules moved between ranks.
 *
 * The parallel file writers (dataset_io.h: elign_samples_write_parallel)
 * append the ranks' molecules in rank order, so the file is in global order
 * only if every rank holds a contiguous, ordered slice of it. A run that
 * shares its molecules out by cost instead (actor/sampler.h:
 * sampler_rank_share) puts them back into such slices here first.
 */
#ifndef ELIGN_MOLSET_MPI_H
#define ELIGN_MOLSET_MPI_H

#include <mpi.h>

#include "common/base/error.h"
#include "common/chem/molset.h"

/* Collective over comm. Before: the ranks' molecules together carry the ids
 * 0 .. n_total − 1 (n_total = the sum of their n_mol), each exactly once,
 * each rank's in ascending order. After: rank r holds the molecules with ids
 * [n_total·r/size, n_total·(r+1)/size) in id order — offsets, Z, positions
 * and ids; a set with SMILES, energies or forces is refused (nothing that
 * calls this carries them). *mols is replaced, its old arrays freed as soon
 * as they are sent, so at most two copies of the molecules exist at once.
 * Every rank returns the same status; on an error (ids not as above, or more
 * than INT_MAX molecules or atoms for one rank: MPI's int counts) *mols is
 * unchanged. */
elign_status elign_molset_redistribute_by_id(MPI_Comm comm, elign_molset *mols, elign_error *err);

#endif
