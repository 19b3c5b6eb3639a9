/* signal_watch.c — see signal_watch.h. */
#include "learner/signal_watch.h"

#include <math.h>

int grpo_signal_watch_update(grpo_signal_watch *w, double zero_fraction) {
  if (!(isfinite(zero_fraction) && zero_fraction >= w->threshold)) {
    w->run = 0;
    w->warned = 0;
    return 0;
  }
  w->run++;
  if (w->warned || w->run < w->iterations) return 0;
  w->warned = 1;
  return 1;
}
