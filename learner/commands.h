/* commands.h — the learner commands: pretrain (main.c lists them). */
#ifndef ELIGN_LEARNER_COMMANDS_H
#define ELIGN_LEARNER_COMMANDS_H

int pretrain_main(int argc, char **argv); /* cmd_pretrain.c: elign pretrain */

#endif
