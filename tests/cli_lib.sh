# shellcheck shell=bash
# cli_lib.sh: the common start of the CLI test scripts (tests/*_cli.sh and the
# like), which ctest runs as `bash tests/X.sh path/to/elign [more arguments]`.
# Sourced as the first thing after `set -u`:   . "$(dirname "$0")/cli_lib.sh"
# It exists so that each script does not repeat (and drift from) the same
# dozen lines; it runs nothing but `cd` and `mktemp`. It defines:
#   ELIGN        argument 1, the elign binary, as an absolute path (scripts cd)
#   PY           the Python of the checks: $ELIGN_PYTHON, else /usr/bin/python3
#   MPIRUN       array: the launcher ($ELIGN_MPIRUN, else mpirun) with what it
#                needs here: root, 2 cores shared by up to 4 ranks, one thread
#                per rank. Use as "${MPIRUN[@]}" -np N ...
#   SRC          the source tree (the parent of tests/)
#   SHARED       the shared reference data ($ELIGN_SHARED_DIR, else
#                SRC/../shared), absolute so that it survives a cd
#   COMPARE      array: tests/h5_compare.py (bitwise), which tells whether
#                checkpoints / model files are bitwise equal
#   passes fails ok bad   the check counters: `CHECK && ok || bad "what"` (ok
#                always succeeds, so that is a safe if-then-else)
#   same WHAT A B...      ok if A B... are bitwise equal (COMPARE), else bad
#                WHAT with COMPARE's report (left in ./cmp.txt)
#   cli_abspath PATH      PATH made absolute (for further binary arguments)
#   cli_tempdir NAME [PARENT]   dir = a new PARENT/NAME.XXXXXX (PARENT: the
#                current directory, where ctest runs the script), removed
#                when the script exits
#   cli_workdir NAME [PARENT]   cli_tempdir, then cd into it
#   cli_wait_line FILE PATTERN [SECONDS] [PID]   wait (10 s by default) until
#                a line of FILE matches the grep PATTERN; fails at the limit
#                or when process PID has ended first. With
#                ELIGN_PROGRESS_SECONDS set small, the first progress line
#                marks a command's work phase (after start-up, whose length
#                varies with the machine and its load)
#   cli_finish [NOUN]     the script's last line: print "NAME: P [NOUN ]passed,
#                F failed" (NAME: the script's, or $CLI_NAME); its status,
#                and so the script's, is 0 only if no check failed and at
#                least one ran. (It returns rather than exits: ShellCheck
#                0.9 takes a script ending in a function that exits for one
#                whose trap handlers never run.)
# and exports OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1, as ctest sets them,
# so that a script run by hand behaves as under ctest.
# The variables are for the scripts that source this file:
# shellcheck disable=SC2034

cli_abspath() { printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")"; }

if [ $# -lt 1 ]; then
  echo "usage: bash $0 path/to/elign [more arguments]" >&2
  exit 2
fi
ELIGN="$(cli_abspath "$1")"
PY="${ELIGN_PYTHON:-/usr/bin/python3}"
MPIRUN=("${ELIGN_MPIRUN:-mpirun}" --oversubscribe --bind-to none --allow-run-as-root
        -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1)
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$(cd "${ELIGN_SHARED_DIR:-$SRC/../shared}" 2> /dev/null && pwd)" ||
  SHARED="${ELIGN_SHARED_DIR:-$SRC/../shared}" # missing: the checks that need it name it
COMPARE=("$PY" "$SRC/tests/h5_compare.py")
CLI_NAME="$(basename "$0" .sh)"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

fails=0; passes=0
ok()  { passes=$((passes+1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails+1)); }

same() {
  local what="$1"; shift
  if "${COMPARE[@]}" "$@" > cmp.txt 2>&1; then ok
  else bad "$what"; cat cmp.txt >&2; fi
}

cli_tempdir() {
  dir="$(mktemp -d "${2:-$PWD}/$1.XXXXXX")" || exit 1
  trap 'rm -rf "$dir"' EXIT
}
cli_workdir() { cli_tempdir "$@"; cd "$dir" || exit 1; }

cli_wait_line() {
  local i
  for i in $(seq 1 $(( ${3:-10} * 20 ))); do
    grep -q -- "$2" "$1" 2> /dev/null && return 0
    [ -n "${4:-}" ] && ! kill -0 "$4" 2> /dev/null && break
    sleep 0.05
  done
  grep -q -- "$2" "$1" 2> /dev/null
}

# shellcheck disable=SC2120 # the noun is optional
cli_finish() {
  echo "$CLI_NAME: $passes ${1:+$1 }passed, $fails failed"
  [ "$fails" -eq 0 ] && [ "$passes" -gt 0 ]
}
