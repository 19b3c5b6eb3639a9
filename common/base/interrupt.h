/* interrupt.h — SIGINT and SIGTERM end a command with one line saying what
 * was interrupted and what was kept.
 *
 * A command installs the handlers once and keeps a short account of what it
 * is doing and what a stop now would leave behind:
 *
 *   elign_interrupt_install("sample");
 *   elign_interrupt_doing("sampling 1000 molecules", "nothing written; inputs untouched");
 *   ... elign_interrupt_doing("writing s.h5", "s.h5 not written (its temporary removed); inputs untouched");
 *
 * On a signal the handler removes every temporary file of the atomic writer
 * (atomic_file.h: a half-written output never survives), rank 0 prints
 *   elign sample: interrupted by SIGTERM while sampling 1000 molecules; nothing written; inputs untouched
 * (other ranks of an MPI job stay silent: mpirun signals them all) and the
 * process exits with 128 + the signal number (130 SIGINT, 143 SIGTERM).
 * Under mpirun, SIGTERM or Ctrl-C to mpirun reaches every rank this way.
 *
 * Process-wide by nature (a signal handler has no caller to return to);
 * everything the handler touches is async-signal-safe (write, unlink, _exit).
 */
#ifndef ELIGN_INTERRUPT_H
#define ELIGN_INTERRUPT_H

/* Install the SIGINT/SIGTERM handlers for `command` (copied; <= 31 chars).
 * Call again after MPI_Init if the MPI library replaced them. */
void elign_interrupt_install(const char *command);

/* What the command is doing now and what an interruption now keeps (each
 * copied, truncated to 255 characters). */
void elign_interrupt_doing(const char *doing, const char *kept);

/* No line from here on (this process is ending the job itself and has
 * said why; the signal that MPI_Abort brings back must not add another). */
void elign_interrupt_silence(void);

#endif
