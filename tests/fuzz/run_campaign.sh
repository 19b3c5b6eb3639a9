#!/usr/bin/env bash
# run_campaign.sh — fuzz Elign-C's input readers with the libFuzzer harnesses of tests/fuzz.
#
#   tests/fuzz/run_campaign.sh [--build DIR] [--runs N | --seconds S] [--out DIR] [--jobs J] [KIND ...]
#
# KIND: dataset, model, samples (HDF5 files mutated byte by byte; every reader on
# every input: fuzz_h5), values (well-formed HDF5 files whose contents are fuzzed:
# fuzz_h5_values), xyz (fuzz_xyz), qm9 (fuzz_qm9), yaml (fuzz_config); default: all.
# --build  a build configured with -DELIGN_FUZZ=ON (clang; README.md there), default ./build-fuzz
# --runs   inputs per kind (libFuzzer -runs; default 100000), or --seconds per kind
# --out    where scratch corpora, logs, findings and message tables go (default ./fuzz-campaign)
# --jobs   kinds run side by side (default 1; each is one process under `nice`)
#
# Each kind starts from the committed seeds tests/fuzz/corpus/KIND/ (read only) and
# adds what it finds to OUT/corpus/KIND/. A crash, sanitizer report, leak, input
# slower than 10 s (a hang) or a broken message contract (fuzz_common.h) stops that
# kind; the input lands in OUT/findings/KIND/ and the script exits 1. The summary
# line per kind gives the inputs run, the time, and the rejection messages by class
# (OUT/KIND.messages.txt).
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD=build-fuzz RUNS=100000 SECONDS_PER_KIND="" OUT=fuzz-campaign JOBS=1 KINDS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --seconds) SECONDS_PER_KIND="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run_campaign.sh: unknown option $1" >&2; exit 2 ;;
    *) KINDS+=("$1"); shift ;;
  esac
done
[ ${#KINDS[@]} -gt 0 ] || KINDS=(dataset model samples values xyz qm9 yaml)
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

harness_of() {
  case "$1" in
    dataset|model|samples) echo fuzz_h5 ;;
    values) echo fuzz_h5_values ;;
    xyz) echo fuzz_xyz ;;
    qm9) echo fuzz_qm9 ;;
    yaml) echo fuzz_config ;;
    *) return 1 ;;
  esac
}

find_harness() { # the binary, wherever CMake put it
  local b
  for b in "$BUILD/tests/$1" "$BUILD/$1"; do [ -x "$b" ] && { echo "$b"; return 0; }; done
  return 1
}

run_kind() {
  local kind="$1" h bin budget
  h="$(harness_of "$kind")" || { echo "$kind: unknown kind" >&2; return 2; }
  bin="$(find_harness "$h")" || { echo "$kind: no $h in $BUILD (configure with -DELIGN_FUZZ=ON)" >&2; return 2; }
  rm -rf "$OUT/findings/$kind" # findings of an earlier run of this kind would count again
  mkdir -p "$OUT/corpus/$kind" "$OUT/findings/$kind"
  if [ -n "$SECONDS_PER_KIND" ]; then budget="-max_total_time=$SECONDS_PER_KIND"; else budget="-runs=$RUNS"; fi
  local t0 rc
  t0=$(date +%s)
  # ASan: no recovery; LSan on (libFuzzer checks leaks per input); the suppressions
  # cover the MPI and HDF5 libraries' own allocations at exit.
  ELIGN_FUZZ_STATS="$OUT/$kind.messages.txt" \
  ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}" \
  LSAN_OPTIONS="suppressions=$HERE/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    nice -n 10 "$bin" "$budget" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
      -artifact_prefix="$OUT/findings/$kind/" "$OUT/corpus/$kind" "$HERE/corpus/$kind" > "$OUT/$kind.log" 2>&1
  rc=$?
  local runs secs findings
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$kind.log" | grep -o '[0-9]*$' | tail -1)
  secs=$(( $(date +%s) - t0 ))
  findings=$(find "$OUT/findings/$kind" -type f | wc -l)
  local classes accepted
  classes=$(grep -vc '^#' "$OUT/$kind.messages.txt" 2>/dev/null || echo 0)
  accepted=$(grep '(accepted by' "$OUT/$kind.messages.txt" 2>/dev/null | awk '{s += $1} END {print s + 0}')
  printf '%-8s %-12s runs %8s  %5d s  findings %d  rc %d  message classes %s  (accepted-by-reader counts %s)\n' \
    "$kind" "$h" "${runs:-?}" "$secs" "$findings" "$rc" "$classes" "$accepted"
  if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
    echo "  $kind: see $OUT/$kind.log and $OUT/findings/$kind/" >&2
    grep -m3 -E 'ERROR|contract broken|timeout|SUMMARY' "$OUT/$kind.log" | sed 's/^/  /' >&2
    return 1
  fi
  return 0
}

status=0
running=0
for kind in "${KINDS[@]}"; do
  if [ "$JOBS" -le 1 ]; then
    run_kind "$kind" || status=1
  else
    run_kind "$kind" > "$OUT/$kind.summary" 2>&1 &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n || status=1; running=$((running - 1)); fi
  fi
done
if [ "$JOBS" -gt 1 ]; then
  while [ "$running" -gt 0 ]; do wait -n || status=1; running=$((running - 1)); done
  for kind in "${KINDS[@]}"; do cat "$OUT/$kind.summary"; done
fi
exit $status
