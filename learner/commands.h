/* commands.h — the learner commands: pretrain, train, eval, report (main.c lists them). */
#ifndef ELIGN_LEARNER_COMMANDS_H
#define ELIGN_LEARNER_COMMANDS_H

int pretrain_main(int argc, char **argv); /* cmd_pretrain.c: elign pretrain */
int train_main(int argc, char **argv);    /* cmd_train.c: elign train */
int eval_main(int argc, char **argv);     /* cmd_eval.c: elign eval */
int report_main(int argc, char **argv);   /* cmd_report.c: elign report (runs tools/elign_report.py) */

#endif
