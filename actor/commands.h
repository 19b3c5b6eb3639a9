/* commands.h — the actor commands: sample, denoise, export (main.c lists them). */
#ifndef ELIGN_ACTOR_COMMANDS_H
#define ELIGN_ACTOR_COMMANDS_H

int sample_main(int argc, char **argv);  /* cmd_sample.c: elign sample */
int denoise_main(int argc, char **argv); /* cmd_sample.c: elign denoise */
int export_main(int argc, char **argv);  /* cmd_sample.c: elign export */

#endif
