/* memory.c — available memory and the early check (memory.h). */
#include "common/base/memory.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static double meminfo_available(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  double kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lf kB", &kib) == 1) break;
  fclose(f);
  return kib >= 0 ? kib * 1024.0 : -1;
}

double elign_memory_available(void) {
  double bytes = meminfo_available();
  if (bytes < 0) {
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) bytes = (double)pages * (double)page;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (bytes < 0 || (double)rl.rlim_cur < bytes))
    bytes = (double)rl.rlim_cur;
  return bytes;
}

double elign_memory_resident(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  double kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %lf kB", &kib) == 1) break;
  fclose(f);
  return kib >= 0 ? kib * 1024.0 : -1;
}

elign_status elign_memory_check(double bytes, double share, const char *what, elign_error *err) {
  double avail = elign_memory_available();
  if (avail < 0 || bytes <= avail * share) return ELIGN_OK;
  const double gib = 1024.0 * 1024.0 * 1024.0;
  ELIGN_FAIL(err, ELIGN_ERR_NOMEM, "%s needs about %.3g GiB of memory, but about %.3g GiB are available%s", what,
             bytes / gib, avail * share / gib, share < 1 ? " to this rank" : "");
  elign_error_hint(err, "ask for less, or spread the work over more nodes");
  return ELIGN_ERR_NOMEM;
}
