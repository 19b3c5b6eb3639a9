/* train_metrics.c — the named numbers of one iteration's metrics line
 * (train_impl.h): filled by the reward, update, judge and run stages, read
 * back by the progress line. Apart from train_run.c so that the stages need
 * not reach into the loop that calls them. */
#include <math.h>
#include <string.h>

#include "common/base/error.h"
#include "learner/train_impl.h"

void train_metric(train_metrics *m, const char *name, double value) {
  ELIGN_ASSERT(m->n < TRAIN_MAX_METRICS);
  m->name[m->n] = name;
  m->value[m->n++] = value;
}

double train_metric_get(const train_metrics *m, const char *name) {
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->name[i], name) == 0) return m->value[i];
  return NAN;
}
