/* cli.c — small helpers every command uses (exit codes, --help, failure print). */
#include "common/base/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


int elign_cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

int elign_cli_fail(const elign_error *err) {
  elign_error_print(err);
  return ELIGN_EXIT_FAIL;
}

int elign_cli_finish_stdout(int rc) {
  int flushed = fflush(stdout) == 0, e = errno;
  if (flushed && !ferror(stdout)) return rc;
  fprintf(stderr, "elign: error: cannot write to standard output: %s\n",
          !flushed ? strerror(e) : "a write failed (a full disk or a closed pipe?)");
  return rc == ELIGN_EXIT_OK ? ELIGN_EXIT_FAIL : rc;
}
