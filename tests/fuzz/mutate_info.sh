#!/usr/bin/env bash
# mutate_info.sh — the outside view of corrupt files: N copies of FILE with 1-8 random
# bytes set to random values (seeds 1..N, so the same copies every run), each through
# `ELIGN info` in its own process with a 20 s limit; prints how many were read, rejected
# with one message, rejected with more than one line, crashed (signal) or hung.
#   tests/fuzz/mutate_info.sh ELIGN FILE [N=300]
set -u
E="$1"; F="$2"; N="${3:-300}"
W="$(mktemp -d "${TMPDIR:-/tmp}/mutate_info.XXXXXX")"
trap 'rm -rf "$W"' EXIT
read_ok=0 one=0 multi=0 signal=0 hang=0 other=0
for i in $(seq 1 "$N"); do
  /usr/bin/python3 - "$F" "$W/m.h5" "$i" <<'PY'
import random, sys
r = random.Random(int(sys.argv[3]))
b = bytearray(open(sys.argv[1], 'rb').read())
for _ in range(r.randint(1, 8)):
    b[r.randrange(len(b))] = r.randrange(256)
open(sys.argv[2], 'wb').write(b)
PY
  timeout 20 "$E" info "$W/m.h5" > /dev/null 2> "$W/err.txt"; rc=$?
  lines=$(wc -l < "$W/err.txt")
  if [ $rc -eq 0 ]; then read_ok=$((read_ok + 1))
  elif [ $rc -eq 1 ] && [ "$lines" -eq 1 ]; then one=$((one + 1))
  elif [ $rc -eq 1 ]; then multi=$((multi + 1))
  elif [ $rc -eq 124 ]; then hang=$((hang + 1))
  elif [ $rc -gt 128 ]; then signal=$((signal + 1)); echo "seed $i: signal $((rc - 128))" >&2
  else other=$((other + 1)); echo "seed $i: exit $rc" >&2; fi
done
echo "$F: $N mutated copies: read $read_ok, rejected with one message $one, with several lines $multi," \
     "killed by a signal $signal, hung $hang, other exit $other"
[ $((multi + signal + hang + other)) -eq 0 ]
