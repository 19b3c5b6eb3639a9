/* cmd_report.c — `elign report RUN_DIR [--eval E.json]... --out report.html`:
 * one self-contained HTML page (training curves, evaluation tables, CDFs,
 * quality versus steps, a 3D viewer of sample molecules).
 *
 * The page is written by tools/elign_report.py, which this command runs with
 * the interpreter CMake pinned (ELIGN_PYTHON_EXECUTABLE). Python because the
 * work is text: reading JSON and HDF5 (h5py), laying out HTML and SVG,
 * embedding a JavaScript library — an order of magnitude less code than in
 * C, with nothing numerical that C would do better, and changed by people
 * who change pages, not kernels. The build copies the script beside the
 * binary (<bindir>/tools/elign_report.py); ELIGN_REPORT_TOOL names another.
 * Options are the script's (`elign report --help`).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base/cli.h"
#include "common/base/error.h"
#include "learner/commands.h"

#ifndef ELIGN_PYTHON_EXECUTABLE
#define ELIGN_PYTHON_EXECUTABLE "python3"
#endif

/* <dir of the running binary>/tools/elign_report.py, or ELIGN_REPORT_TOOL. */
static int find_tool(char *buf, size_t len) {
  const char *env = getenv("ELIGN_REPORT_TOOL");
  if (env && env[0]) {
    snprintf(buf, len, "%s", env);
    return access(buf, R_OK) == 0;
  }
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return 0;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash) *slash = '\0';
  snprintf(buf, len, "%s/tools/elign_report.py", exe);
  return access(buf, R_OK) == 0;
}

int report_main(int argc, char **argv) {
  char tool[4200];
  if (!find_tool(tool, sizeof tool)) {
    fprintf(stderr,
            "elign report: the page writer %s is missing (the build copies tools/elign_report.py beside the "
            "binary; reconfigure with cmake, or set ELIGN_REPORT_TOOL)\n",
            tool);
    return ELIGN_EXIT_FAIL;
  }
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (!args) return ELIGN_EXIT_FAIL;
  args[0] = (char *)ELIGN_PYTHON_EXECUTABLE;
  args[1] = tool;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  args[argc + 1] = NULL;
  fflush(stdout);
  execv(ELIGN_PYTHON_EXECUTABLE, args);
  fprintf(stderr, "elign report: cannot run %s: %s\n", ELIGN_PYTHON_EXECUTABLE, strerror(errno));
  free(args);
  return ELIGN_EXIT_FAIL;
}
