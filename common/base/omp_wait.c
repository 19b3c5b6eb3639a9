/* omp_wait.c — see omp_wait.h for why a program restarts itself. */
#define _GNU_SOURCE
#include "common/base/omp_wait.h"

#include <stdlib.h>
#include <unistd.h>

void elign_omp_wait_policy_default(char **argv) {
  if (getenv("OMP_WAIT_POLICY")) return; /* the user's choice, or our own second start */
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv); /* Linux; returns only on failure */
}
