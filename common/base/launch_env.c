/* launch_env.c — see launch_env.h for why a program restarts itself. */
#define _GNU_SOURCE
#include "common/base/launch_env.h"

#include <stdlib.h>
#include <strings.h>
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

void elign_launch_env_defaults(char **argv) {
  if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return; /* the user chose */
  if (setenv("OMP_WAIT_POLICY", "passive", 1) == 0) execv("/proc/self/exe", argv); /* Linux; returns only on failure */
}
