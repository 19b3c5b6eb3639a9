/* cli.c — small helpers every command uses (exit codes, --help, failure print). */
#include "common/base/cli.h"

#include <stdio.h>
#include <string.h>


int elign_cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

int elign_cli_fail(const elign_error *err) {
  elign_error_print(err);
  return ELIGN_EXIT_FAIL;
}
