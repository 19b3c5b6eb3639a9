#!/usr/bin/env bash
# bench/perf_table.py, the README table of bench/run_all.sh: the machine
# facts name the CPU and its vector extensions; the table has one row per
# BENCH line with its ratio and peak fraction (and bench_egnn's phase shares
# below it when given its output); the README rewrite replaces
# only what lies between the markers, and refuses a README without them.
# Also the BENCH line of bench/sample_ranks.sh on a tiny run (2 ranks vs 1,
# bitwise-identical outputs). Usage: bench_tools.sh ELIGN
set -u
ELIGN="$1"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
PY="${ELIGN_PYTHON:-/usr/bin/python3}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fails=0
ok() { :; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$PY" "$SRC/bench/perf_table.py" machine > "$T/m.json" || bad "machine"
"$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); assert m['cpu'] and isinstance(m['vector_extensions'], list)" \
  "$T/m.json" && ok || bad "machine facts: $(cat "$T/m.json")"
cat > "$T/b.jsonl" <<'EOL'
{"figure": "egnn_fwd_qm9_b32_t1", "what": "EGNN forward", "ours": 12.5, "unit": "ms", "reference": 50.0, "reference_program": "original EDM", "ratio": 4.0, "peak_fraction": 0.64, "peak_gflops": 90.0, "threads": 1, "batch": 32, "target": ">= 0.60 of peak", "pass": true}
{"figure": "x", "what": "no reference", "ours": 3, "unit": "s", "reference": null, "reference_program": "none", "ratio": null, "peak_fraction": null, "peak_gflops": null, "threads": 2, "batch": null, "target": null, "pass": null}
EOL
"$PY" "$SRC/bench/perf_table.py" table "$T/m.json" "$T/b.jsonl" > "$T/t.md" || bad "table"
CPU=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['cpu'])" "$T/m.json")
grep -qF "$CPU" "$T/t.md" && ok || bad "table does not name the CPU"
grep -q "| EGNN forward | 12.5 ms | 50.0 ms (original EDM) | 4.00× | 64 % of 90 GFLOP/s | 1 | >= 0.60 of peak | yes |" "$T/t.md" &&
  ok || bad "table row: $(grep EGNN "$T/t.md")"
[ "$(grep -c '^| ' "$T/t.md")" = 3 ] && ok || bad "rows: $(cat "$T/t.md")"
# with bench_egnn's output: its phase shares per case and pass below the table
cat > "$T/egnn.out" <<'EOL'
== qm9 network (L=9, F=256, H=6), 32 molecules, 624 atoms, 12472 edges, 1 thread, float32
  where the time goes (one pass with the phase timers on, wall clock: 187.4 ms forward, 636.5 ms fwd+bwd):
    phase                 forward             fwd+bwd
    gemm                154.23 ms  82.3%    510.18 ms  80.2%
    other (phi, copies)    0.21 ms   0.1%      0.33 ms   0.1%
EOL
"$PY" "$SRC/bench/perf_table.py" table "$T/m.json" "$T/b.jsonl" "$T/egnn.out" > "$T/tp.md" || bad "table with phases"
grep -qx "| gemm | 82.3% | 80.2% |" "$T/tp.md" && grep -qx "| other (phi, copies) | 0.1% | 0.1% |" "$T/tp.md" &&
  grep -q "| phase | QM9 1 thread fwd | QM9 1 thread fwd+bwd |" "$T/tp.md" && ok || bad "phase table: $(cat "$T/tp.md")"
printf 'intro\n<!-- perf-table:begin -->\nold table\n<!-- perf-table:end -->\nafter\n' > "$T/README.md"
"$PY" "$SRC/bench/perf_table.py" readme "$T/README.md" "$T/t.md" || bad "readme"
head -1 "$T/README.md" | grep -qx intro && tail -1 "$T/README.md" | grep -qx after && ! grep -q "old table" "$T/README.md" &&
  grep -q "EGNN forward" "$T/README.md" && ok || bad "readme rewrite: $(cat "$T/README.md")"
printf 'no markers\n' > "$T/R2.md"
"$PY" "$SRC/bench/perf_table.py" readme "$T/R2.md" "$T/t.md" 2> "$T/err" && bad "README without markers accepted"
grep -q "markers" "$T/err" && ok || bad "no-marker message: $(cat "$T/err")"

# scaling.sh's points → the 2-rank training BENCH line
printf 'kind\tactors\toracles\tranks\twall_s\titeration_s\nstrong\t1\t0\t1\t10\t4.0\nstrong\t2\t0\t2\t6\t2.5\n' > "$T/p.tsv"
"$PY" "$SRC/bench/perf_table.py" train-ranks "$T/p.tsv" | sed 's/^BENCH //' |
  "$PY" -c "import json,sys; r=json.loads(sys.stdin.read()); assert abs(r['ours']-1.6)<1e-12 and r['pass'] is False" &&
  ok || bad "train-ranks line"

# sample_ranks.sh on a tiny model: a BENCH line, outputs identical
MODEL="$SRC/models/demo.h5"
bash "$SRC/bench/sample_ranks.sh" "$ELIGN" "$MODEL" "$T/sr" 5 10 > "$T/sr.out" 2>&1 || bad "sample_ranks: $(tail -3 "$T/sr.out")"
grep '^BENCH ' "$T/sr.out" | sed 's/^BENCH //' | "$PY" -c "import json,sys; r=json.loads(sys.stdin.read()); assert r['figure']=='sample_2r_over_1r' and r['ours']>0" &&
  grep -q "bitwise identical: True" "$T/sr.out" && ok || bad "sample_ranks BENCH line: $(cat "$T/sr.out")"

[ "$fails" = 0 ] && echo "bench_tools: all checks passed" || { echo "bench_tools: $fails failed"; exit 1; }
