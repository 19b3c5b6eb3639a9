/* client.h — the actor side of the oracle service.
 *
 * One API whether the oracle runs on other ranks (MPI: requests go to the
 * batching servers of server.h) or inside this process (embedded: no oracle
 * ranks, single-process runs), so callers never care:
 *
 *   elign_oracle_client *c;
 *   elign_oracle_client_create_mpi(oracle_comm, oracle_ranks, n_oracles, &c, &err);
 *      or elign_oracle_client_create_embedded(oracle, batch_size, &c, &err);
 *   uint64_t id;
 *   elign_oracle_client_submit(c, &batch, 1, &id, &err);   // returns at once
 *   ... other work ...
 *   elign_oracle_client_wait(c, id, &result, &err);        // result arrays sized for batch
 *   elign_oracle_client_done(c, &err);                     // once, before the servers can stop
 *   elign_oracle_client_destroy(&c);
 *
 * Requests may be waited for in any order; several may be outstanding. The
 * submitted batch is copied at submit, so the caller may reuse its arrays.
 * MPI mode spreads requests round-robin over the oracle ranks; replies are
 * matched by request id. Embedded mode evaluates at submit in chunks of
 * batch_size, with the server's failure rules (a backend error flags the
 * chunk's molecules ELIGN_MOL_BACKEND_ERROR).
 *
 * Units: positions Å, energies eV, forces eV/Å (as oracle.h).
 */
#ifndef ELIGN_ORACLE_CLIENT_H
#define ELIGN_ORACLE_CLIENT_H

#include <mpi.h>
#include <stdint.h>

#include "oracle/oracle.h"
#include "oracle/service/server.h"

typedef struct elign_oracle_client elign_oracle_client;

/* comm: the communicator the servers listen on (see server.h); oracle_ranks:
 * their ranks in it [n_oracles] (copied). */
elign_status elign_oracle_client_create_mpi(MPI_Comm comm, const int *oracle_ranks, int n_oracles,
                                            elign_oracle_client **out, elign_error *err);

/* In-process evaluation through `oracle` (not owned). */
elign_status elign_oracle_client_create_embedded(elign_oracle *oracle, int batch_size, elign_oracle_client **out,
                                                 elign_error *err);

/* Embedded mode with an explicit evaluate function (tests, fault injection). */
elign_status elign_oracle_client_create_embedded_fn(elign_oracle_evaluate_fn evaluate, void *ctx, int batch_size,
                                                    elign_oracle_client **out, elign_error *err);

/* Queue a batch; *id identifies it for wait. want_forces = 0 skips forces. */
elign_status elign_oracle_client_submit(elign_oracle_client *c, const elign_oracle_batch *batch, int want_forces,
                                        uint64_t *id, elign_error *err);

/* Block until request `id` is answered; fill result (energy [n_mol], status
 * [n_mol], forces [n_atoms][3] if non-NULL and forces were requested).
 * Errors: unknown id, a malformed or rejected reply, an MPI failure. */
elign_status elign_oracle_client_wait(elign_oracle_client *c, uint64_t id, elign_oracle_result *result,
                                      elign_error *err);

/* How wait() waits for replies (MPI mode): see elign_oracle_mprobe in
 * server.h; 0 = the default polite polling, < 0 = blocking MPI_Mprobe. */
void elign_oracle_client_set_poll(elign_oracle_client *c, int poll_us);

/* Bound every wait for a reply (MPI mode) to timeout_s seconds without any
 * reply (mpi.timeout; <= 0: no bound, the default). Past it, wait returns
 * ELIGN_ERR_TIMEOUT naming the oracle ranks that owe replies; the job
 * cannot go on (the caller ends it, elign_world_fail_one). */
void elign_oracle_client_set_timeout(elign_oracle_client *c, double timeout_s);

/* Requests submitted and not yet waited for. */
int elign_oracle_client_outstanding(const elign_oracle_client *c);

/* Take in every reply that has already arrived (never blocks) and report
 * the molecules of submitted requests still unanswered (*pending_molecules,
 * may be NULL): the actor's view of the oracle queue. Embedded: 0. */
elign_status elign_oracle_client_poll(elign_oracle_client *c, int64_t *pending_molecules, elign_error *err);

/* Tell every oracle rank this actor is finished (MPI mode; embedded: no-op).
 * Outstanding requests may still be waited for afterwards — and must be: a
 * server finishes only when its replies have been delivered. */
elign_status elign_oracle_client_done(elign_oracle_client *c, elign_error *err);

/* The energies of lone neutral atoms, one per element z with want[z] != 0
 * (z = 1 … ELIGN_MAX_Z), at the element's ground-state spin multiplicity, in
 * one request of `channel` (as a batch's): e_atom[z] = the energy in eV, NaN
 * where the element has no tabulated ground state or the oracle flagged the
 * atom; entries not wanted are left as they are. What atomization and
 * formation energies, E − Σ E_atom, subtract: a total energy mostly counts
 * the elements, not how they are bound. */
elign_status elign_oracle_isolated_atoms(elign_oracle_client *c, int channel, const uint8_t *want, double *e_atom,
                                         elign_error *err);

/* Frees the client (accepts NULL, clears the pointer). Outstanding sends are completed first. */
void elign_oracle_client_destroy(elign_oracle_client **c);

#endif
