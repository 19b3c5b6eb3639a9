/* commands.h — the oracle command (main.c lists it). */
#ifndef ELIGN_ORACLE_COMMANDS_H
#define ELIGN_ORACLE_COMMANDS_H

int oracle_main(int argc, char **argv); /* cmd_oracle.c: elign oracle */

#endif
