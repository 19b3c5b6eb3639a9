#!/usr/bin/env bash
# `elign pretrain` end to end on the shared tiny.xyz (64 molecules) with a
# 2-layer, 16-feature network (seconds):
#   - 1, 2 and 4 ranks write bitwise identical checkpoints and model files;
#   - --stop-after + --resume (on another rank count), --force, and kill -9
#     + --resume all end bitwise equal to an uninterrupted run;
#   - a rank stopped (SIGSTOP) ends the 2-rank job within mpi.timeout + 20 s,
#     naming phase, step and checkpoint; --resume then ends bitwise equal;
#   - the loss of 8 molecules falls clearly when the network overfits them;
#   - bad inputs each give one clear message and exit 1: no train split, a
#     model file as dataset, an architecture that disagrees with --resume's
#     checkpoint, a NaN loss (naming the step and molecules, earlier
#     checkpoints intact), chunk_size not dividing batch_size, more ranks
#     than chunks, no data.path, a non-empty run directory.
#   bash tests/pretrain_cli.sh path/to/elign
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
cli_workdir pretrain_cli
. "$SRC/tests/stopped_rank.sh"

# expect_fail "description" "fragment" elign-args... : exit 1, one error line (+ HINT), the fragment in it
expect_fail() {
  local what="$1" frag="$2"; shift 2
  "$@" > out.txt 2> err.txt; local rc=$?
  local lines; lines=$(grep -vc '^HINT: ' err.txt)
  if [ $rc -eq 1 ] && [ "$lines" -eq 1 ] && grep -qF -- "$frag" err.txt; then ok
  else bad "$what: exit $rc, stderr: $(cat err.txt)"; fi
}

# ---- data: tiny.xyz with 48 train / 16 valid molecules; 8 train molecules; one far-away atom
"$PY" - "$SHARED/data/qm9like/tiny.xyz" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
ids = [int(m) for m in re.findall(r" id=(\d+)", text)]
json.dump({"train": ids[:48], "valid": ids[48:]}, open("split.json", "w"))
json.dump({"train": ids[:8], "valid": ids[48:]}, open("split8.json", "w"))
lines, out, i, k = text.split("\n"), [], 0, 0
while i < len(lines) and lines[i].strip():
    n = int(lines[i]); block = lines[i:i + 2 + n]
    if k == 5:  # molecule id ids[5]: one atom 1e25 Å away overflows float32 distances
        p = block[2].split(); p[1] = "1e25"; block[2] = " ".join(p)
    out += block; i += 2 + n; k += 1
open("far.xyz", "w").write("\n".join(out) + "\n")
open("far_id.txt", "w").write(str(ids[5]))
EOF
T="$SHARED/data/qm9like/tiny.xyz"
"$ELIGN" --quiet data import "$T" -o tiny.h5 --split split.json > /dev/null || bad "import tiny"
"$ELIGN" --quiet data import "$T" -o tiny8.h5 --split split8.json > /dev/null || bad "import tiny8"
"$ELIGN" --quiet data import "$T" -o nosplit.h5 > /dev/null || bad "import nosplit"
"$ELIGN" --quiet data import far.xyz -o far.h5 --split split.json > /dev/null || bad "import far"

cat > base.yaml <<'EOF'
seed: 3
run:
  dir: run
data:
  path: tiny.h5
pretrain:
  batch_size: 16
  chunk_size: 4
  max_steps: 4
  log_every: 1
  checkpoint_every: 2
  eval_every: 2
  eval_samples: 6
  eval_sample_steps: 10
  ema_decay: 0.9
  data_augmentation: true
  model:
    n_layers: 2
    nf: 16
EOF
"$ELIGN" config check base.yaml --for pretrain > /dev/null && ok || bad "config check --for pretrain"
for c in pretrain_demo pretrain_qm9like; do
  "$ELIGN" config check "$SRC/configs/$c.yaml" --for pretrain > /dev/null && ok || bad "configs/$c.yaml does not check"
done
"$ELIGN" pretrain --help | grep -q "usage: elign pretrain CONFIG" && ok || bad "--help"

# ---- 1, 2, 4 ranks: the same bits
for np in 1 2 4; do
  "${MPIRUN[@]}" -np $np "$ELIGN" --quiet pretrain base.yaml --set run.dir=np$np 2> log_np$np.txt \
    && ok || { bad "np $np run"; cat log_np$np.txt >&2; }
done
same "1, 2, 4 ranks: checkpoints at step 4" np1/checkpoints/step_000000004.h5 np2/checkpoints/step_000000004.h5 \
  np4/checkpoints/step_000000004.h5
same "1, 2, 4 ranks: model.h5" np1/model.h5 np2/model.h5 np4/model.h5
same "1, 2, 4 ranks: checkpoints at step 2" np1/checkpoints/step_000000002.h5 np4/checkpoints/step_000000002.h5
# the checkpoint holds the whole training state; model.h5 the EMA as parameters; the sampler reads it
"$PY" - <<'EOF' && ok || bad "checkpoint contents"
import h5py, numpy as np
c = h5py.File("np1/checkpoints/step_000000004.h5", "r"); m = h5py.File("np1/model.h5", "r")
for k in ("optimizer/m", "optimizer/v", "optimizer/vmax", "optimizer/clip_queue", "ema/flat", "nodes_hist/count"):
    assert k in c, k
assert "optimizer" not in m and "ema" not in m
assert np.array_equal(m["params/flat"][:], c["ema/flat"][:])
assert not np.array_equal(c["params/flat"][:], c["ema/flat"][:])
assert c.attrs["optimizer_step"] == 4 and c["optimizer"].attrs["step"] == 4
assert c["nodes_hist/count"][:].sum() == 48   # the train split's sizes
q = c["optimizer/clip_queue"][:]
assert len(q) == 5 and q[-1] == 3000.0, q     # 4 norms pushed in front of the initial 3000
EOF
"$ELIGN" --quiet sample --model np1/model.h5 -n 2 --steps 10 --out s.h5 && ok || bad "sample from model.h5"
lines=$(grep -c '"phase": "train"' np1/metrics.jsonl); evals=$(grep -c '"phase": "eval"' np1/metrics.jsonl)
[ "$lines" = 4 ] && [ "$evals" = 2 ] && ok || bad "metrics: $lines train lines, $evals eval lines (want 4, 2)"
grep -q '"molecules_per_s"' np1/metrics.jsonl && grep -q '"val_loss"' np1/metrics.jsonl && ok || bad "metrics fields"
# evaluations (validation loss, stability of 6 samples) agree across rank counts
for np in 2 4; do
  "$PY" - np1/metrics.jsonl np$np/metrics.jsonl <<'EOF' && ok || bad "eval lines of np1 and np$np differ"
import json, sys
def evals(path):
    out = []
    for l in open(path):
        d = json.loads(l)
        if d["phase"] == "eval":
            out.append((d["step"], d["val_loss"], d["val_l2"], d["samples"], d["atom_stability"], d["molecule_stability"]))
    return out
a, b = evals(sys.argv[1]), evals(sys.argv[2])
assert len(a) == 2 and a == b and a[0][3] == 6, (a, b)
EOF
done

# ---- stop + resume (on 2 ranks), --force, refusing a non-empty directory
"$ELIGN" --quiet pretrain base.yaml --set run.dir=rs --stop-after 1 && ok || bad "--stop-after"
[ -f rs/checkpoints/step_000000001.h5 ] && [ ! -f rs/checkpoints/step_000000002.h5 ] && ok || bad "stopped at step 1"
expect_fail "non-empty run dir" "run directory rs is not empty" "$ELIGN" --quiet pretrain base.yaml --set run.dir=rs
"${MPIRUN[@]}" -np 2 "$ELIGN" --quiet pretrain base.yaml --resume rs && ok || bad "--resume on 2 ranks"
same "stop at 1 + resume = uninterrupted" np1/checkpoints/step_000000004.h5 rs/checkpoints/step_000000004.h5
"$ELIGN" --quiet pretrain base.yaml --set run.dir=rs --force && ok || bad "--force"
same "--force run = a fresh run" np1/checkpoints/step_000000004.h5 rs/checkpoints/step_000000004.h5
[ "$(grep -c '"phase": "train"' rs/metrics.jsonl)" = 4 ] && ok || bad "--force keeps no old metrics lines"
ls rs/checkpoints | grep -q step_000000001 && bad "--force left an old checkpoint" || ok

# training longer with a changed config: allowed, each changed key named in a warning
cp -r np4 longer
"$ELIGN" pretrain base.yaml --resume longer --set pretrain.max_steps=5 --set pretrain.lr=0.0002 > out.txt 2> warn.txt \
  && ok || bad "resume to train longer"
grep -q "WARN\] --resume: pretrain.lr is 0.0002 now, 0.0001 in the checkpoint's config" warn.txt && \
  grep -q "pretrain.max_steps is 5 now, 4" warn.txt && [ -f longer/checkpoints/step_000000005.h5 ] && ok \
  || bad "config-change warnings: $(grep WARN warn.txt)"

# ---- kill -9 mid-run, then --resume: the same bits as a straight run of 40 steps
"$ELIGN" --quiet pretrain base.yaml --set run.dir=straight --set pretrain.max_steps=40 --set pretrain.checkpoint_every=1 \
  --set pretrain.eval_every=0 --set pretrain.eval_samples=0 || bad "straight 40"
"$ELIGN" --quiet pretrain base.yaml --set run.dir=killed --set pretrain.max_steps=40 --set pretrain.checkpoint_every=1 \
  --set pretrain.eval_every=0 &
pid=$!
# any checkpoint: a named one can already be pruned (keep_checkpoints) when we look
for i in $(seq 1 1000); do compgen -G "killed/checkpoints/step_*.h5" > /dev/null && break; sleep 0.01; done
kill -9 $pid; wait $pid 2>/dev/null
newest=$(ls killed/checkpoints | sort | tail -1)
case "$newest" in step_000000040.h5) bad "the run finished before kill -9 ($newest)";; *) ok;; esac
echo "garbage" > killed/checkpoints/step_000000039.h5.tmp.12345   # what a kill during a write leaves
"$ELIGN" --quiet pretrain base.yaml --set run.dir=killed --set pretrain.max_steps=40 --set pretrain.checkpoint_every=1 \
  --set pretrain.eval_every=0 --resume killed && ok || bad "resume after kill -9"
same "kill -9 at $newest + resume = uninterrupted" straight/checkpoints/step_000000040.h5 killed/checkpoints/step_000000040.h5
[ "$(ls straight/checkpoints | wc -l)" = 3 ] && ok || bad "keep_checkpoints: $(ls straight/checkpoints)"

# ---- a rank that hangs: rank 1 of 2 stopped (SIGSTOP) once a checkpoint of 40 is there. Rank 0
# would wait for it inside an MPI collective forever; the watchdog (learner/run_wait.h) ends the job
# within mpi.timeout + 20 s, naming the phase, the step and the newest checkpoint (intact), and
# --resume then ends bitwise equal to the uninterrupted run.
HANG_S=10
LONG="--set pretrain.max_steps=40 --set pretrain.checkpoint_every=1 --set pretrain.eval_every=0 --set mpi.timeout=$HANG_S"
stopped_rank_run hung.txt $((HANG_S + 20)) "hung/checkpoints/step_*.h5" 0 1 \
  "${MPIRUN[@]}" -np 2 "$ELIGN" --quiet pretrain base.yaml --set run.dir=hung $LONG
echo "pretrain_cli: rank 1 stopped: exit $STOPPED_RC after $STOPPED_SECONDS s (mpi.timeout $HANG_S s)"
grep -m1 "^elign: error" hung.txt
[ -n "$STOPPED_PID" ] && [ "$STOPPED_RC" != hung ] && [ "$STOPPED_RC" != 0 ] && ok ||
  bad "stopped rank: exit $STOPPED_RC $STOPPED_SECONDS s after the SIGSTOP (bound $((HANG_S + 20)) s), pid '$STOPPED_PID'"
newest=$(ls hung/checkpoints | grep '^step_[0-9]*\.h5$' | sort | tail -1 | sed 's/^step_0*\([0-9][0-9]*\)\.h5$/\1/')
case "$newest" in 40) bad "the run finished before the SIGSTOP (step $newest)";; [0-9]*) ok;; *) bad "no checkpoint in hung/";; esac
PHASES="the (gradient reduction|weight broadcast|end of the step|agreement on rank 0's checkpoint|end-of-step agreement)( \([^)]*\))?"
grep -qE "^elign: error on rank 0: in step [0-9]+, $PHASES did not finish within $HANG_S s \(mpi.timeout\): a rank is \
stopped or hung; the last checkpoint \(step $newest, in hung/checkpoints\) is intact; --resume hung continues from it$" \
  hung.txt && ok || bad "stopped rank message: $(grep -v INFO hung.txt | head -3)"
ls -a hung/checkpoints | grep -q "\.tmp\." && bad "stopped rank: temporaries left: $(ls -a hung/checkpoints)" || ok
"${MPIRUN[@]}" -np 2 "$ELIGN" --quiet pretrain base.yaml --resume hung $LONG > /dev/null 2>&1 && ok || bad "resume after the stopped rank"
same "stopped rank at step $newest + resume = uninterrupted" straight/checkpoints/step_000000040.h5 \
  hung/checkpoints/step_000000040.h5

# ---- the loss falls when the network overfits 8 molecules
"$ELIGN" --quiet pretrain base.yaml --set run.dir=fit --set data.path=tiny8.h5 --set pretrain.batch_size=8 \
  --set pretrain.max_steps=150 --set pretrain.lr=0.001 --set pretrain.data_augmentation=false \
  --set pretrain.model.nf=32 --set pretrain.log_every=25 --set pretrain.checkpoint_every=1000 \
  --set pretrain.eval_every=0 --set pretrain.ema_decay=0 || bad "overfit run"
"$PY" - <<'EOF' && ok || bad "the loss did not fall clearly when overfitting 8 molecules"
import json
l2 = [json.loads(l)["loss_t"] for l in open("fit/metrics.jsonl") if '"train"' in l]
print("overfit: l2 (t > 0) per 25 steps:", " ".join(f"{v:.3f}" for v in l2))
assert len(l2) == 6 and l2[-1] < 0.5 * l2[0] and min(l2[-2:]) < min(l2[:2]), l2
EOF

# ---- bad input: one message each
expect_fail "no train split" "nosplit.h5 has no split 'train' to train on" \
  "$ELIGN" --quiet pretrain base.yaml --set run.dir=e1 --set data.path=nosplit.h5
expect_fail "a model file as dataset" "np1/model.h5: is an Elign-C model file, expected a dataset file" \
  "$ELIGN" --quiet pretrain base.yaml --set run.dir=e2 --set data.path=np1/model.h5
expect_fail "architecture differs on --resume" "nf is 24 in the config (pretrain.model.nf) but 16 in the checkpoint" \
  "$ELIGN" --quiet pretrain base.yaml --resume np2 --set pretrain.model.nf=24
expect_fail "--resume without checkpoints" "no checkpoint" "$ELIGN" --quiet pretrain base.yaml --resume e1
expect_fail "chunk_size must divide batch_size" "pretrain.chunk_size = 5 must divide pretrain.batch_size = 16" \
  "$ELIGN" --quiet pretrain base.yaml --set run.dir=e3 --set pretrain.chunk_size=5
# (mpirun adds its own report after ours: only our line is checked here)
"${MPIRUN[@]}" -np 4 "$ELIGN" --quiet pretrain base.yaml --set run.dir=e4 --set pretrain.chunk_size=8 > out.txt 2> err.txt
rc=$?
[ $rc -ne 0 ] && [ "$(grep -c '^elign: error: ' err.txt)" = 1 ] && grep -q "^elign: error: 4 ranks but only 2 chunks per batch" err.txt \
  && ok || bad "more ranks than chunks: exit $rc, $(head -3 err.txt)"
expect_fail "no data.path" "data.path is null" "$ELIGN" --quiet pretrain base.yaml --set run.dir=e5 --set data.path=null
far=$(cat far_id.txt)
expect_fail "NaN loss" "molecule id $far" \
  "$ELIGN" --quiet pretrain base.yaml --set run.dir=nan --set data.path=far.h5 --set pretrain.max_steps=12 \
  --set pretrain.checkpoint_every=1 --set pretrain.data_augmentation=false
grep -q "the loss is -\?nan in optimizer step [0-9]* (epoch 0); .*the batch's molecules (dataset ids): .*$far" err.txt \
  && ok || bad "NaN message: $(cat err.txt)"
step=$(sed -n 's/.*in optimizer step \([0-9]*\).*/\1/p' err.txt | head -1)
last=$(printf 'nan/checkpoints/step_%09d.h5' $((step - 1)))
if [ "${step:-1}" -gt 1 ]; then
  "$ELIGN" info "$last" > /dev/null && ok || bad "the checkpoint before the NaN ($last) is not intact"
  [ ! -f "$(printf 'nan/checkpoints/step_%09d.h5' "$step")" ] && ok || bad "a checkpoint was written for the NaN step"
fi

cli_finish
