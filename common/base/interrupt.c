/* interrupt.c — one line and a clean exit on SIGINT / SIGTERM (interrupt.h). */
#include "common/base/interrupt.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base/atomic_file.h"

#define INTERRUPT_TEXT 256

/* Two slots: the setter fills the idle one, then flips `current`, so the
 * handler never reads a half-copied text. */
static struct {
  char doing[INTERRUPT_TEXT], kept[INTERRUPT_TEXT];
} slots[2];
static volatile sig_atomic_t current = 0;
static char command_name[32] = "elign";
static int quiet_rank = 0; /* a rank other than 0 of an MPI job: no line */

/* The launcher's rank, from its environment (known before MPI starts). */
static int launcher_rank(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return atoi(v);
  }
  return 0;
}

static void put(const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w, n -= (size_t)w;
  }
}

static void on_signal(int sig) {
  elign_atomic_discard_all(); /* unlink only: async-signal-safe */
  if (!quiet_rank) {
    int k = current;
    put(command_name);
    put(": interrupted by ");
    put(sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (slots[k].doing[0]) {
      put(" while ");
      put(slots[k].doing);
    }
    if (slots[k].kept[0]) {
      put("; ");
      put(slots[k].kept);
    }
    put("\n");
  }
  _exit(128 + sig);
}

void elign_interrupt_install(const char *command) {
  snprintf(command_name, sizeof command_name, "elign %s", command ? command : "");
  quiet_rank = launcher_rank() != 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGINT);
  sigaddset(&sa.sa_mask, SIGTERM);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

void elign_interrupt_doing(const char *doing, const char *kept) {
  int idle = !current;
  snprintf(slots[idle].doing, INTERRUPT_TEXT, "%s", doing ? doing : "");
  snprintf(slots[idle].kept, INTERRUPT_TEXT, "%s", kept ? kept : "");
  current = idle;
}
