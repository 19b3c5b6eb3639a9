/* atomic_file.h — write a file so that its name never holds half of it.
 *
 * The content goes to a temporary "<path>.tmp.<tag>" beside the final name
 * (same directory, hence same file system); once complete it is fsync'ed,
 * renamed over the final name and the directory is fsync'ed, so a reader —
 * another rank, a resumed run — sees the old file or the new one, never a
 * torn one. Every writer of run state uses it: the resolved config, the HDF5
 * writers (common/io/h5io.h, hence checkpoints, datasets, samples, oracle
 * results) and the DFT atom-energy cache.
 *
 * Call sequence, stdio:
 *   elign_atomic_file a; FILE *f;
 *   if (elign_atomic_fopen(&a, path, &f, err)) return err->status;
 *   fprintf(f, ...);
 *   return elign_atomic_fclose(&a, f, err);       // publishes, or discards on error
 * Another library (HDF5) writes the temporary itself:
 *   elign_atomic_begin(&a, path, tag, err); create a->tmp_path ...;
 *   elign_atomic_publish(&a, err)  or  elign_atomic_discard(&a);
 */
#ifndef ELIGN_ATOMIC_FILE_H
#define ELIGN_ATOMIC_FILE_H

#include <stdio.h>

#include "common/base/error.h"

#define ELIGN_ATOMIC_PATH_MAX 4096

typedef struct {
  char final_path[ELIGN_ATOMIC_PATH_MAX];
  char tmp_path[ELIGN_ATOMIC_PATH_MAX]; /* "" once published or discarded */
} elign_atomic_file;

/* Name the temporary "<path>.tmp.<tag>" (tag: this process's id, or one id
 * shared by the ranks that write the file together). Creates nothing. */
elign_status elign_atomic_begin(elign_atomic_file *a, const char *path, long tag, elign_error *err);
/* elign_atomic_begin with this process's id, then open the temporary for
 * writing with stdio. */
elign_status elign_atomic_fopen(elign_atomic_file *a, const char *path, FILE **f, elign_error *err);
/* fsync the complete temporary, rename it over the final name, fsync the
 * directory (best effort). On failure the temporary is removed. */
elign_status elign_atomic_publish(elign_atomic_file *a, elign_error *err);
/* End a stdio write: flush, check for write errors, fsync, close and
 * publish; on any error the temporary is removed and err names the file. */
elign_status elign_atomic_fclose(elign_atomic_file *a, FILE *f, elign_error *err);
/* Remove the temporary (after an error). Safe to call twice. */
void elign_atomic_discard(elign_atomic_file *a);

/* Let go of the temporary without touching it: another process publishes
 * or removes it (the other ranks of a parallel writer). */
void elign_atomic_forget(elign_atomic_file *a);

/* Remove every temporary not yet published or discarded, in this process:
 * what a signal handler or a fatal exit (interrupt.h, roles.h) calls so a
 * stopped command leaves no "<path>.tmp.<tag>" behind. Async-signal-safe
 * (unlink only). The temporaries of live writers are tracked from
 * elign_atomic_begin to publish/discard (up to 16 at once). */
void elign_atomic_discard_all(void);

#endif
