/* commands.h — the actor commands: sample, relax, denoise, export (main.c lists them). */
#ifndef ELIGN_ACTOR_COMMANDS_H
#define ELIGN_ACTOR_COMMANDS_H

int sample_main(int argc, char **argv);  /* cmd_sample.c: elign sample */
int relax_main(int argc, char **argv);   /* cmd_relax.c: elign relax */
int denoise_main(int argc, char **argv); /* cmd_sample.c: elign denoise */
int export_main(int argc, char **argv);  /* cmd_sample.c: elign export */

#endif
