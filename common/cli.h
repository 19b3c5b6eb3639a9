/* cli.h — the `elign` subcommand table and small helpers shared by commands.
 *
 * Each subcommand is `int name_main(int argc, char **argv)` where argv[0] is
 * the subcommand's own name; it returns the process exit code (0 success,
 * 1 failure, 2 usage error). Commands live in the area that owns them
 * (common/cmd_*.c, oracle/cmd_oracle.c, actor/cmd_sample.c, ...) and are
 * listed once in cli.c. A subcommand appears only once it works.
 */
#ifndef ELIGN_CLI_H
#define ELIGN_CLI_H

#include "common/error.h"

typedef struct {
  const char *name;
  const char *summary; /* one line for `elign --help` */
  int (*main)(int argc, char **argv);
} elign_command;

/* The table (NULL-name terminated) and the dispatcher used by main(). */
extern const elign_command elign_commands[];
int elign_cli_dispatch(int argc, char **argv);

/* Exit codes. */
enum { ELIGN_EXIT_OK = 0, ELIGN_EXIT_FAIL = 1, ELIGN_EXIT_USAGE = 2 };

/* Print the error (if set) and return ELIGN_EXIT_FAIL, for `return elign_cli_fail(&err);`. */
int elign_cli_fail(const elign_error *err);

/* True if argv[i] is -h or --help. */
int elign_cli_is_help(const char *arg);

#endif
