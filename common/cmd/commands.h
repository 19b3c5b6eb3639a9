/* commands.h — the commands whose work is all in common/: data, info, config, trace (main.c lists them). */
#ifndef ELIGN_COMMON_COMMANDS_H
#define ELIGN_COMMON_COMMANDS_H

int data_main(int argc, char **argv);   /* cmd_data.c: elign data import */
int info_main(int argc, char **argv);   /* cmd_data.c: elign info FILE */
int config_main(int argc, char **argv); /* cmd_config.c: elign config show|check|keys */
int trace_main(int argc, char **argv);  /* cmd_trace.c: elign trace summary RUN_DIR */

#endif
