#!/usr/bin/env bash
# run.trace and `elign trace summary` (common/base/trace.h, common/cmd/cmd_trace.c):
#   - a hand-made 3-rank trace with known spans: the busy / io / wait / idle
#     fractions and the critical path (which rank, how long, per phase) come
#     out as computed by hand, also from files whose array was never closed;
#   - a real run (the tiny model of tests/train_cli.sh, 2 actors + 1 oracle
#     rank, 2 iterations, run.trace true): one file per rank that Python's
#     json reads (as Perfetto's importer does), with every span kind of each
#     role, and a critical path that accounts for rank 0's iteration;
#   - elign pretrain: its steps traced on 2 ranks (gradient, reduce, broadcast, checkpoint);
#   - `elign trace merge`: one file holding every rank's events, whose summary
#     equals the run's; an existing output needs --force;
#   - bad input: no trace directory, an unknown option.
#   bash tests/trace_cli.sh path/to/elign
# ok() always succeeds, so `A && ok || bad` is a safe if-then-else
# shellcheck disable=SC2015
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
cli_workdir trace_cli

# ---- a hand-made trace (seconds; one iteration of 10 s) -------------------------------
# rank 0 learner: sample 0-3, oracle_wait 3-4, reward_gather 4-4.5, reward 4.5-6,
#   advantage_broadcast 6-6.1, gradient 6.1-8, reduce 8-8.2, optimizer 8.2-9,
#   broadcast 9-9.5, checkpoint_io 9.5-10
# rank 1 actor: sample 0-4.4, reward_gather 4.4-4.5, advantage_broadcast 4.5-6.1,
#   gradient 6.1-7, reduce 7-9, broadcast 9-9.5
# rank 2 oracle: oracle_idle 0-1, oracle_compute 1-3.8, oracle_idle 3.8-10
mkdir -p hand/trace
"$PY" - <<'EOF'
import json
spans = {
    0: ("learner", [("iteration", "iteration", 0, 10), ("sample", "busy", 0, 3), ("oracle_wait", "wait", 3, 4),
                    ("reward_gather", "wait", 4, 4.5), ("reward", "busy", 4.5, 6), ("advantage_broadcast", "wait", 6, 6.1),
                    ("gradient", "busy", 6.1, 8), ("reduce", "wait", 8, 8.2), ("optimizer", "busy", 8.2, 9),
                    ("broadcast", "wait", 9, 9.5), ("checkpoint_io", "io", 9.5, 10)]),
    1: ("actor", [("iteration", "iteration", 0, 9.5), ("sample", "busy", 0, 4.4), ("reward_gather", "wait", 4.4, 4.5),
                  ("advantage_broadcast", "wait", 4.5, 6.1), ("gradient", "busy", 6.1, 7), ("reduce", "wait", 7, 9),
                  ("broadcast", "wait", 9, 9.5)]),
    2: ("oracle", [("oracle_idle", "wait", 0, 1), ("oracle_compute", "busy", 1, 3.8), ("oracle_idle", "wait", 3.8, 10)]),
}
t0 = 1.7e15
for rank, (role, ev) in spans.items():
    events = [{"name": "process_name", "ph": "M", "pid": rank, "tid": 0, "args": {"name": f"rank {rank}"}}]
    events += [{"name": n, "cat": c, "ph": "X", "ts": t0 + a * 1e6, "dur": (b - a) * 1e6, "pid": rank, "tid": 0,
                "args": {"iteration": 0, "role": role}} for n, c, a, b in ev]
    text = json.dumps(events, indent=0)
    if rank == 2:
        text = text.rstrip().rstrip("]")  # a run killed before it closed the array
    open(f"hand/trace/rank_{rank:05d}.1.json", "w").write(text)
EOF
"$ELIGN" trace summary hand > hand.txt 2>&1 && ok || bad "summary of the hand-made trace: $(cat hand.txt)"
"$ELIGN" trace summary hand --json > hand.json 2>&1 && ok || bad "--json: $(cat hand.json)"
"$PY" - <<'EOF' && ok || bad "hand-made trace: wrong numbers: $(cat hand.json)"
import json, sys
d = json.load(open("hand.json"))
want_use = {0: (0.72, 0.05, 0.23, 0.23), 1: (0.53, 0.0, 0.42, 0.47), 2: (0.28, 0.0, 0.72, 0.72)}
for r in d["ranks"]:
    got = (r["busy"], r["io"], r["wait"], r["idle"])
    if any(abs(g - w) > 1e-6 for g, w in zip(got, want_use[r["rank"]])):
        sys.exit(f"rank {r['rank']}: {got} != {want_use[r['rank']]}")
# stage 1: rank 1 arrives last at the reward gather; stage 2 and 3: rank 0
want_cp = {"sample": (4.4, 1), "reward_gather": (0.1, 1), "reward": (1.5, 0), "advantage_broadcast": (0.1, 0),
           "gradient": (1.9, 0), "reduce": (0.2, 0), "optimizer": (0.8, 0), "broadcast": (0.5, 0), "checkpoint_io": (0.5, 0)}
cp = d["critical_path"]
if set(cp) != set(want_cp):
    sys.exit(f"phases {sorted(cp)}")
for k, (s, r) in want_cp.items():
    if abs(cp[k]["s"] - s) > 1e-6 or cp[k]["rank"] != r:
        sys.exit(f"{k}: {cp[k]} != {s} s on rank {r}")
if abs(d["iteration_s"] - 10) > 1e-6 or abs(d["window_s"] - 10) > 1e-6 or d["iterations"] != 1:
    sys.exit("iteration / window")
print("hand-made trace: fractions and critical path as computed by hand")
EOF
grep -Eq "oracle +1 rank\(s\): busy +28.0%" hand.txt && ok || bad "per-role line: $(grep oracle hand.txt)"

# ---- a real run ---------------------------------------------------------------------
"$(dirname "$ELIGN")/tests/train_make_model" tiny.h5 7 > /dev/null 2>&1 || bad "make model"
. "$SRC/tests/tiny_train_config.sh"
tiny_train_config base.yaml tiny.h5 3 1
"${MPIRUN[@]}" -np 3 "$ELIGN" --quiet train base.yaml --set run.dir=run --set run.trace=true --set mpi.oracle_ranks=1 \
  --set dataloader.epoches=2 > run.txt 2>&1 || bad "traced run: $(tail -3 run.txt)"
"$PY" - <<'EOF' && ok || bad "trace files of the run"
import glob, json, sys
files = sorted(glob.glob("run/trace/rank_*.json"))
if len(files) != 3:
    sys.exit(f"{len(files)} trace files")
want = {0: {"iteration", "sample", "oracle_submit", "oracle_wait", "reward_gather", "reward", "advantage_broadcast",
            "gradient", "reduce", "optimizer", "reduce_agree", "broadcast", "checkpoint_io"},
        1: {"iteration", "sample", "oracle_wait", "gradient", "reduce", "broadcast"},
        2: {"oracle_compute", "oracle_idle"}}
for f in files:
    ev = json.load(open(f))  # a complete, closed JSON array
    pid = {e["pid"] for e in ev}
    if len(pid) != 1:
        sys.exit(f"{f}: pids {pid}")
    r = pid.pop()
    names = {e["name"] for e in ev if e["ph"] == "X"}
    if not want[r] <= names:
        sys.exit(f"{f}: missing {want[r] - names}")
    if any(e["dur"] < 0 for e in ev if e["ph"] == "X"):
        sys.exit(f"{f}: negative duration")
    its = {e["args"]["iteration"] for e in ev if e["ph"] == "X" and e["name"] == "iteration"}
    if r < 2 and its != {0, 1}:
        sys.exit(f"{f}: iterations {its}")
print("run trace: 3 files, every span kind of each role")
EOF
"$ELIGN" trace summary run --json > run.json 2> run.err || bad "summary of the run: $(cat run.err)"
"$PY" - <<'EOF' && ok || bad "run summary: $(cat run.json)"
import json, sys
d = json.load(open("run.json"))
roles = [r["role"] for r in d["ranks"]]
total = sum(p["s"] for p in d["critical_path"].values())
print(f"run: roles {roles}, critical path {total:.4f} s of an iteration of {d['iteration_s']:.4f} s")
sys.exit(0 if roles == ["learner", "actor", "oracle"] and d["iterations"] == 2 and 0.7 < total / d["iteration_s"] < 1.2 else 1)
EOF

# merge: one file with every rank's events (the Perfetto UI opens one file); its summary is the run's
"$ELIGN" trace merge run --out merged.json > merge.txt 2>&1 || bad "merge: $(cat merge.txt)"
"$ELIGN" trace summary merged.json --json > merged_summary.json 2>&1 || bad "summary of the merged file"
"$PY" - <<'EOF' && ok || bad "merged file: $(head -c 300 merged.json)"
import glob, json, sys
merged = json.load(open("merged.json"))
parts = sum(len(json.load(open(f))) for f in glob.glob("run/trace/*.json"))
same = json.load(open("merged_summary.json")) == json.load(open("run.json"))
sys.exit(0 if len(merged) == parts and {e["pid"] for e in merged} == {0, 1, 2} and same else 1)
EOF
"$ELIGN" trace merge run --out merged.json > /dev/null 2> e4.txt; rc=$?
[ $rc -eq 1 ] && grep -q "exists" e4.txt && ok || bad "merge over an existing file without --force: exit $rc"

# elign pretrain records its steps too: 2 ranks, 4 optimizer steps
"$PY" -c "import json,re,sys; ids=[int(m) for m in re.findall(r' id=(\d+)', open(sys.argv[1]).read())]; json.dump({'train': ids}, open('split.json','w'))" \
  "$SHARED/data/qm9like/tiny.xyz" && "$ELIGN" --quiet data import "$SHARED/data/qm9like/tiny.xyz" -o tinyd.h5 --split split.json > /dev/null ||
  bad "pretrain data"
printf 'seed: 3\nrun:\n  dir: pre\n  trace: true\ndata:\n  path: tinyd.h5\n  val_split: null\npretrain:\n  batch_size: 8\n  chunk_size: 4\n  max_steps: 4\n  checkpoint_every: 2\n  eval_every: 0\n  model:\n    n_layers: 2\n    nf: 16\n' > pre.yaml
"${MPIRUN[@]}" -np 2 "$ELIGN" --quiet pretrain pre.yaml > pre.txt 2>&1 || bad "traced pretrain: $(tail -3 pre.txt)"
"$ELIGN" trace summary pre --json > pre.json 2> pre.err || bad "pretrain summary: $(cat pre.err)"
"$PY" - <<'EOF' && ok || bad "pretrain trace: $(cat pre.json)"
import json, sys
d = json.load(open("pre.json"))
sys.exit(0 if d["iterations"] == 4 and len(d["ranks"]) == 2 and {"gradient", "reduce", "broadcast", "checkpoint_io"} <= set(d["critical_path"]) else 1)
EOF

# ---- bad input ----------------------------------------------------------------------
"$ELIGN" trace summary base.yaml > /dev/null 2> e1.txt; rc=$?
[ $rc -eq 1 ] && grep -q "base.yaml" e1.txt && ok || bad "not a trace: exit $rc, $(cat e1.txt)"
mkdir -p empty && "$ELIGN" trace summary empty > /dev/null 2> e2.txt; rc=$?
[ $rc -eq 1 ] && grep -q "no trace directory" e2.txt && grep -q "run.trace=true" e2.txt && ok || bad "no trace dir: exit $rc, $(cat e2.txt)"
"$ELIGN" trace summary run --bogus > /dev/null 2> e3.txt; rc=$?
[ $rc -eq 2 ] && ok || bad "unknown option: exit $rc"

cli_finish checks
