#!/usr/bin/env bash
# CLI basics: --help lists commands, unknown commands fail with a clear message.
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"

"$ELIGN" --help > help.txt && grep -q "usage: elign" help.txt && ok || bad "elign --help"
"$ELIGN" version | grep -q "^elign " && ok || bad "elign version"
"$ELIGN" no-such-command 2> err.txt; rc=$?
[ $rc -ne 0 ] && grep -q "unknown command 'no-such-command'" err.txt && ok || bad "unknown command exit=$rc"
"$ELIGN" > /dev/null 2>&1; [ $? -eq 2 ] && ok || bad "no command should exit 2"
# every listed command answers --help with exit 0
for cmd in $(awk '/^  [a-z]/{print $1}' help.txt); do
  "$ELIGN" "$cmd" --help > /dev/null && ok || bad "elign $cmd --help"
done
cli_finish
