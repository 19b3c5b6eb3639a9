/* launch_env.c — see launch_env.h for why a program restarts itself. */
#define _GNU_SOURCE
#include "common/base/launch_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

/* OpenBLAS (no header declares it portably). */
char *openblas_get_corename(void);

const char *elign_openblas_core(void) {
  const char *c = openblas_get_corename();
  return c && c[0] ? c : "unknown";
}

/* OpenBLAS x86-64 cores whose sgemm kernels predate AVX2 / AVX-512. */
static int core_in(const char *core, const char *const *list) {
  for (; *list; list++)
    if (strcasecmp(core, *list) == 0) return 1;
  return 0;
}

const char *elign_openblas_better_core(const char *current) {
  static const char *const pre_avx2[] = {"Prescott", "Katmai", "Coppermine", "Northwood", "Banias", "Core2",
                                         "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Atom", "Bulldozer",
                                         "Piledriver", "Steamroller", "Excavator", "Barcelona", "Bobcat", "Opteron",
                                         "Opteron_SSE3", "Nano", "Athlon", "unknown", NULL};
  static const char *const avx2_only[] = {"Haswell", "Zen", NULL};
  __builtin_cpu_init();
  int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx512 && (core_in(current, pre_avx2) || core_in(current, avx2_only))) return "SkylakeX";
  if (avx2 && core_in(current, pre_avx2)) return "Haswell";
  return NULL;
}

/* The next core to try when `core`'s kernels are not row-independent: AVX
 * (Sandybridge) first, then SSE3 (Prescott), both measured row-independent. */
static const char *fallback_core(const char *core) {
  if (strcasecmp(core, "Sandybridge") == 0) return "Prescott";
  if (strcasecmp(core, "Prescott") == 0) return NULL;
  return "Sandybridge";
}

const char *elign_openblas_fallback_from(void) { return getenv("ELIGN_OPENBLAS_FALLBACK_FROM"); }

/* An address-space limit (ulimit -v) below this leaves no room for OpenBLAS's
 * 128 MiB work buffer, and OpenBLAS retries a failed mmap forever: under such
 * a limit the probe is skipped (the run fails or ends in its own checks). */
#define PROBE_MIN_ADDRESS_SPACE ((rlim_t)2 << 30)

static int address_space_limited(void) {
  struct rlimit r;
  return getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < PROBE_MIN_ADDRESS_SPACE;
}

/* Returns 1 if OPENBLAS_CORETYPE was set for a restart. */
static int choose_row_independent_core(int (*rows_independent)(void)) {
  if (!rows_independent || address_space_limited() || rows_independent()) return 0;
  const char *core = elign_openblas_core();
  const char *from = elign_openblas_fallback_from();
  const char *next = fallback_core(core);
  if (getenv("ELIGN_KEEP_OPENBLAS_CORETYPE")) { /* the user's explicit choice over exactness */
    fprintf(stderr, "elign: warning: OpenBLAS core %s gives a row other bits in products of other heights: training "
                    "ratios and batch-independent sampling will not be exact (docs/performance.md)\n",
            core);
    return 0;
  }
  if (!next) {
    fprintf(stderr, "elign: warning: no OpenBLAS core tried (%s, then %s) gives row-independent products: training "
                    "ratios and batch-independent sampling will not be exact (docs/performance.md)\n",
            from ? from : core, core);
    return 0;
  }
  if (!from) setenv("ELIGN_OPENBLAS_FALLBACK_FROM", core, 1);
  return setenv("OPENBLAS_CORETYPE", next, 1) == 0;
}

void elign_launch_env_defaults(char **argv, int (*rows_independent)(void)) {
  int changed = 0;
  if (!getenv("OMP_WAIT_POLICY")) changed |= setenv("OMP_WAIT_POLICY", "passive", 1) == 0;
  if (changed) execv("/proc/self/exe", argv); /* Linux; returns only on failure */
  /* after the wait policy: the probe's BLAS calls start OpenBLAS's threads */
  if (choose_row_independent_core(rows_independent)) execv("/proc/self/exe", argv);
}
