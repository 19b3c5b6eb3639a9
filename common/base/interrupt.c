/* interrupt.c — one line and a clean exit on SIGINT / SIGTERM (interrupt.h). */
#include "common/base/interrupt.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base/atomic_file.h"
#include "common/base/watchdog.h"

#define INTERRUPT_TEXT 256

/* Two slots: the setter fills the idle one, then flips `current`, so the
 * handler never reads a half-copied text. */
static struct {
  char doing[INTERRUPT_TEXT], kept[INTERRUPT_TEXT];
} slots[2];
static volatile sig_atomic_t current = 0;
static char command_name[32] = "elign";
static volatile sig_atomic_t quiet_rank = 0; /* a rank other than 0 of an MPI job, or silenced: no line */

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
  quiet_rank = elign_env_rank() != 0;
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

void elign_interrupt_silence(void) { quiet_rank = 1; }
