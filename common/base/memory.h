/* memory.h — fail early when a request cannot fit in memory.
 *
 * A run that needs more memory than the machine has should say so before it
 * starts, not grow for minutes and then be killed (issue 8: `sample -n
 * 2147483648`). Commands estimate what a request needs and check it here.
 */
#ifndef ELIGN_MEMORY_H
#define ELIGN_MEMORY_H

#include "common/base/error.h"

/* Bytes of memory available to new allocations (Linux MemAvailable, else
 * free physical pages), capped by RLIMIT_AS when one is set; -1 if unknown. */
double elign_memory_available(void);

/* This process's resident set now (Linux VmRSS), bytes; −1 if unknown.
 * The training commands log it (rss_max_mb) so a long run shows whether its
 * memory stays flat. */
double elign_memory_resident(void);

/* ELIGN_ERR_NOMEM if `bytes` exceed `share` × the available memory (share:
 * this process's part of the machine, e.g. 1 / ranks on the node), with the
 * message "<what> needs about X GiB, but about Y GiB are available"; ELIGN_OK
 * when it fits or the available memory is unknown. */
elign_status elign_memory_check(double bytes, double share, const char *what, elign_error *err);

#endif
