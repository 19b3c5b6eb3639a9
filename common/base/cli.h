/* cli.h — small helpers shared by the subcommands.
 *
 * Each subcommand is `int name_main(int argc, char **argv)` where argv[0] is
 * the subcommand's own name; it returns the process exit code (0 success,
 * 1 failure, 2 usage error). Commands live in the area that owns them and
 * declare their mains in that area's commands.h (common/cmd/, actor/,
 * oracle/, learner/); the table that lists them is in main.c, outside the
 * library. A subcommand appears only once it works.
 */
#ifndef ELIGN_CLI_H
#define ELIGN_CLI_H

#include "common/base/error.h"

/* Exit codes. */
enum { ELIGN_EXIT_OK = 0, ELIGN_EXIT_FAIL = 1, ELIGN_EXIT_USAGE = 2 };

/* Print the error (if set) and return ELIGN_EXIT_FAIL, for `return elign_cli_fail(&err);`. */
int elign_cli_fail(const elign_error *err);

/* End of a command: a table or report that could not be written to
 * standard output (a full disk behind a redirect, /dev/full) makes the
 * command fail with one message, instead of exit code 0 and a truncated
 * output. Returns the exit code to use. */
int elign_cli_finish_stdout(int rc);

/* True if argv[i] is -h or --help. */
int elign_cli_is_help(const char *arg);

#endif
