/* main.c — the `elign` program: everything happens in a subcommand. */
#include "common/cli.h"

int main(int argc, char **argv) { return elign_cli_dispatch(argc, argv); }
