/* outputs.h — outputs never destroy inputs.
 *
 * Every command that writes files calls elign_outputs_check once, before any
 * work, with every file it will write and every file it reads. It refuses,
 * with a message naming both files and the options that named them:
 *   - an output that is the same file as an input: same device and inode
 *     (hard links, symlinks, "./x" vs "x"), or — for an output that does not
 *     exist yet — the same path once its directory is resolved;
 *   - two outputs that are the same file (`sample --out X --xyz X`);
 *   - an output that exists, unless `force` (the command's --force); an
 *     existing output that is not a regular file (a directory, /dev/full, a
 *     FIFO) is refused even with force: the atomic writer would rename a
 *     regular file over it;
 *   - an output whose directory does not exist (the writer would fail only
 *     after the work).
 * Outputs are then written through the atomic writer (atomic_file.h), so an
 * existing file is replaced only once its successor is complete.
 *
 * Run directories (`train`, `pretrain`): elign_run_dir_check refuses a
 * directory that holds anything unless the run resumes it or --force.
 *
 *   elign_file_arg outs[] = {{a.out, "--out"}, {a.xyz, "--xyz"}};      // NULL paths are skipped
 *   elign_file_arg ins[] = {{a.model, "--model"}};
 *   if (elign_outputs_check(outs, 2, ins, 1, a.force, &err)) ...
 */
#ifndef ELIGN_OUTPUTS_H
#define ELIGN_OUTPUTS_H

#include "common/base/error.h"

typedef struct {
  const char *path; /* NULL: this optional file is not used */
  const char *role; /* how the user named it: "--out", "-o", "INPUT", "--args" */
} elign_file_arg;

/* The rules above; ELIGN_ERR_ARG on a refusal. Touches nothing. */
elign_status elign_outputs_check(const elign_file_arg *outputs, int n_outputs, const elign_file_arg *inputs,
                                 int n_inputs, int force, elign_error *err);

/* 1 if a and b name the same file (device + inode when both exist, else the
 * same resolved path), 0 otherwise. */
int elign_same_file(const char *a, const char *b);

/* A run directory about to be written: fine if it does not exist or is
 * empty; a non-empty one only with resume (continue it) or force (write
 * over it). `role` names the option or key ("--run-dir", "run.dir"). */
elign_status elign_run_dir_check(const char *dir, const char *role, int resume, int force, elign_error *err);

#endif
