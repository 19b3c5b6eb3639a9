/* server.h — the oracle rank's batching server loop.
 *
 * An oracle rank owns one elign_oracle and serves energy/force requests from
 * many actor ranks (client.h is the actor side). Messages are oracle/service/wire.h
 * buffers on a communicator reserved for this traffic (MPI_Comm_dup it):
 * requests and DONE on ELIGN_ORACLE_TAG_REQUEST, replies on
 * ELIGN_ORACLE_TAG_REPLY.
 *
 * Policy: molecules of all received requests join one FIFO queue. Whenever
 * the queue is non-empty and no message is waiting, the server evaluates the
 * next batch of at most batch_size molecules, so under load batches fill up
 * by themselves (requests pile up while a batch runs) and when idle a lone
 * request is answered at once. A request larger than batch_size is split at
 * fixed multiples of batch_size. Two batch modes:
 *   merge_requests = 0 (default, deterministic): a batch holds molecules of
 *     one request only. A backend whose per-molecule result depends on the
 *     rest of its batch then answers bit for bit as the embedded client
 *     does, whatever the arrival order or the number of actors.
 *   merge_requests = 1 (throughput): batches take molecules across requests
 *     (fuller batches from small requests); results of batch-sensitive
 *     backends then depend on arrival timing. lj, xtb, per-molecule Python
 *     and ANI (fixed-order products, common/nn/gemm_fixed.h) are not
 *     batch-sensitive: bit for bit in either mode (tested for lj and ani).
 * Each request is answered exactly once, when its last molecule is done, with
 * its molecules in request order (MPI_Isend; the buffer lives until the send
 * completes).
 *
 * Failures: a molecule the backend flags keeps its status; a whole batch the
 * backend fails (error status) has every molecule flagged
 * ELIGN_MOL_BACKEND_ERROR and the server goes on. A message that does not
 * decode is counted as rejected; if its header names a request id, a
 * "rejected" reply lets that actor fail instead of hang.
 *
 * Shutdown: after `n_clients` DONE messages (one per actor) and when every
 * request has been answered and every reply send completed.
 *
 * Silent actors: with timeout_s (mpi.timeout), a server that has waited
 * (2 + (rank mod 8)/4) times that long for any message while actors have
 * not finished returns ELIGN_ERR_TIMEOUT naming them (the caller ends the
 * job). Twice at least: an actor may itself be waiting (timeout_s,
 * client.h) on another, silent oracle rank — that actor then names the
 * culprit first; staggered by rank so that one server, not all together,
 * ends the job (Open MPI can hang when several ranks abort at once).
 *
 *   elign_oracle *o; elign_oracle_create("ani", &opt, &o, &err);
 *   elign_oracle_server_options so = {.batch_size = 64, .n_clients = n_actors};
 *   elign_oracle_server_stats stats;
 *   elign_oracle_server_run(o, oracle_comm, &so, &stats, &err);
 *   elign_oracle_server_stats_log(&stats, so.batch_size);
 */
#ifndef ELIGN_ORACLE_SERVER_H
#define ELIGN_ORACLE_SERVER_H

#include <mpi.h>
#include <stdint.h>

#include "oracle/oracle.h"

#define ELIGN_ORACLE_TAG_REQUEST 7101 /* actor → oracle: requests and DONE */
#define ELIGN_ORACLE_TAG_REPLY 7102   /* oracle → actor: replies */

/* How a batch is evaluated. The default (NULL) is elign_oracle_evaluate on
 * the server's oracle; tests inject failures through this slot. */
typedef elign_status (*elign_oracle_evaluate_fn)(void *ctx, const elign_oracle_batch *batch,
                                                 elign_oracle_result *result, elign_error *err);

/* How a rank waits for its next message: blocking MPI_Mprobe (poll_us < 0)
 * or MPI_Improbe + a sleep of poll_us µs between tries. MPI libraries spin
 * inside blocking calls, so a waiting rank keeps its core busy; with more
 * ranks than cores (a laptop run, an oracle rank sharing a node with actors)
 * the spinning steals time from the ranks doing the work. The polite wait
 * costs at most poll_us of latency per message. */
#define ELIGN_ORACLE_POLL_US_DEFAULT 100

/* Wait for a message matching (source, tag) on comm; poll_us as above
 * (0 = ELIGN_ORACLE_POLL_US_DEFAULT). Returns the MPI error code. */
int elign_oracle_mprobe(int source, int tag, MPI_Comm comm, int poll_us, MPI_Message *msg, MPI_Status *status);

/* The same, giving up after timeout_s seconds (<= 0: no bound; a bound
 * always polls, even with poll_us < 0). *timed_out = 1 when it gave up
 * (then the return is MPI_SUCCESS and msg is not set). */
int elign_oracle_mprobe_within(int source, int tag, MPI_Comm comm, int poll_us, double timeout_s, MPI_Message *msg,
                               MPI_Status *status, int *timed_out);

typedef struct {
  int batch_size;                    /* max molecules per evaluate call (config oracle.batch_size), >= 1 */
  int poll_us;                       /* idle wait: 0 = default polite polling, < 0 = blocking MPI_Mprobe */
  int merge_requests;                /* 1: batches may mix requests (see above); 0: one request per batch */
  int n_clients;                     /* actors that will each send one DONE, >= 1 */
  elign_oracle_evaluate_fn evaluate; /* (optional) NULL = elign_oracle_evaluate(oracle, ...) */
  void *evaluate_ctx;                /* (optional) first argument of `evaluate` */
  double timeout_s;                  /* (optional) mpi.timeout: idle (2 + rank%8 / 4) × this long with actors
                                        unfinished → ELIGN_ERR_TIMEOUT naming them; 0 = wait without bound */
  const int *clients;                /* (optional) the n_clients actor ranks, to name a silent one */
} elign_oracle_server_options;

typedef struct {
  int64_t requests;         /* requests answered (incl. empty ones) */
  int64_t molecules;        /* molecules evaluated */
  int64_t batches;          /* evaluate calls */
  int64_t flagged;          /* molecules answered with a non-OK status */
  int64_t backend_errors;   /* batches the backend failed as a whole */
  int64_t rejected;         /* messages that did not decode */
  int64_t max_queue;        /* most molecules waiting at once */
  double wall_s;            /* seconds from start to shutdown */
  double busy_s;            /* seconds inside evaluate */
  double idle_s;            /* seconds blocked waiting for a message with nothing queued */
  double latency_sum_s;     /* Σ over requests of (reply posted − request received), s */
  double latency_max_s;
  double fill_sum;          /* Σ over batches of (molecules / batch_size) */
} elign_oracle_server_stats;

elign_status elign_oracle_server_run(elign_oracle *oracle, MPI_Comm comm, const elign_oracle_server_options *opt,
                                     elign_oracle_server_stats *stats, elign_error *err);

/* One-line summary ("requests 120, molecules 950 in 31 batches (fill 0.61), ...")
 * into buf; and the same through elign_info. */
void elign_oracle_server_stats_format(const elign_oracle_server_stats *s, int batch_size, char *buf, int buflen);
void elign_oracle_server_stats_log(const elign_oracle_server_stats *s, int batch_size);

/* Evaluate a batch and never fail: a backend error flags every molecule
 * ELIGN_MOL_BACKEND_ERROR (energy 0, forces 0) and returns 1 (0 otherwise);
 * `why` (may be NULL) receives the backend's message. Shared by the server
 * and the embedded client so both answer alike. */
int elign_oracle_evaluate_or_flag(elign_oracle_evaluate_fn evaluate, void *ctx, const elign_oracle_batch *batch,
                                  elign_oracle_result *result, elign_error *why);

/* The default elign_oracle_evaluate_fn: ctx is the elign_oracle. */
elign_status elign_oracle_evaluate_default(void *oracle, const elign_oracle_batch *batch,
                                           elign_oracle_result *result, elign_error *err);

#endif
