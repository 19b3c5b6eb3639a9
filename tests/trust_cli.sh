#!/usr/bin/env bash
# Trust checks of `elign train` (docs/trust.md) on the small random model of
# tests/train_make_model.c with the toy oracles of tests/train_toy_oracle.py:
#   - judges and the reward-hacking alarm: an exploitable reward (stretch: its
#     energy drops as atoms leave their 1.5 Å neighbour distance, i.e. as the
#     molecules fall apart) trips the alarm within its window, judged by the
#     springs (python:harmonic), and train.judge_alarm_stop stops the run;
#     the same judge on a run rewarded by the springs never fires;
#   - the judges touch no training state: checkpoints with and without judges
#     are bitwise equal; judges on an oracle rank (oracle channels) give the
#     in-process numbers;
#   - the clash guard: with reward.clash_distance every molecule is held back
#     (an oracle that dies on its first molecule is never called) and counted
#     as an oracle failure; without it the same run fails;
#   - group-signal accounting: zero_signal_fraction, and the warning naming
#     the group size and clip settings when it stays high;
#   - bad train.judges entries are refused naming the key.
#   bash tests/trust_cli.sh path/to/elign path/to/train_make_model
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
MAKE_MODEL="$(cli_abspath "$2")"
cli_workdir trust_cli
# mtrue FILE EXPR: EXPR over the list `m` of metrics lines is true
mtrue() { "$PY" -c "import json,sys; m=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if eval('(' + sys.argv[2] + ')') else 1)" "$@"; }
expect_fail() {
  local what="$1" frag="$2"; shift 2
  "$@" > out.txt 2> err.txt; local rc=$?
  if [ $rc -eq 1 ] && grep -qF -- "$frag" err.txt; then ok
  else bad "$what: exit $rc, stderr: $(cat err.txt)"; fi
}

"$MAKE_MODEL" tiny.h5 7 > /dev/null || bad "make model"
cat > base.yaml <<EOF
seed: 5
run:
  dir: run
  log_every: 0
model:
  checkpoint: tiny.h5
  time_step: 10
  share_initial_noise: false
dataloader:
  sample_group_size: 4
  each_prompt_sample: 4
  epoches: 3
  micro_batch_size: 4
  smiles_path: null
reward:
  use_energy: true
  energy_transform_offset: 0.0
  energy_transform_scale: 1.0
  energy_normalize_by_atoms: true
  force_adv_weight: 0
  energy_adv_weight: 1
train:
  learning_rate: 3.0e-6
  adam_beta1: 0.9
  adam_beta2: 0.999
  adam_epsilon: 1.0e-8
  adam_weight_decay: 1.0e-4
  max_grad_norm: 1.0
  clip_range: 0.2
  kl_penalty_weight: 0
  train_micro_batch_size: 8
  judge_every: 1
  judge_window: 2
oracle:
  backend: python
  python_module: train_toy_oracle
  python_function: harmonic
  python_path: $SRC/tests
  min_distance: 0
  batch_size: 8
save_interval: 100
EOF
T() { "$ELIGN" train base.yaml "$@"; }

# ---- the alarm: an exploitable reward trips it, an honest one does not --------------------
# (train.judge_alarm_stop: the 5-iteration run stops after the firing round, with a checkpoint)
T --set run.dir=exploit --set oracle.python_function=stretch --set train.judges=python:harmonic --set dataloader.epoches=5 \
  --set train.judge_alarm_stop=true > exploit.txt 2>&1 || bad "exploit run: $(tail -3 exploit.txt)"
mtrue exploit/metrics.jsonl "len(m) == 3 and m[2]['judge_alarm'] == 1 and m[2]['judge_reward'] > m[0]['judge_reward']
  and m[2]['judge_python_harmonic_atomization_per_atom'] > m[0]['judge_python_harmonic_atomization_per_atom']" &&
  ok || bad "exploit: no alarm within the window of 2 rounds"
grep -q "REWARD-HACKING ALARM at iteration 3: reward up while judge python:harmonic's energy rose" exploit.txt &&
  grep -q "stopping (train.judge_alarm_stop)" exploit.txt && [ -f exploit/checkpoints/iter_000000003.h5 ] &&
  ok || bad "exploit: alarm log line / stop: $(grep -i alarm exploit.txt)"
T --set run.dir=honest --set train.judges=python:harmonic > honest.txt 2>&1 || bad "honest run: $(tail -3 honest.txt)"
# no alarm, and on its fixed sample set the judge (the reward's own springs) sees the energy fall;
# the rollouts' mean reward over 3 iterations is noise (-74,242 -> -74,257 with the Sandybridge
# core while the judge's energy fell 87k -> 66k), so it is not compared here
mtrue honest/metrics.jsonl "len(m) == 3 and all(x['judge_alarm'] == 0 for x in m)
  and m[2]['judge_python_harmonic_atomization_per_atom'] < m[0]['judge_python_harmonic_atomization_per_atom']" &&
  ok || bad "honest: the alarm fired or the judge disagrees: $("$PY" -c "import json,sys; [print(json.loads(l)['judge_reward'], json.loads(l)['judge_python_harmonic_atomization_per_atom']) for l in open('honest/metrics.jsonl')]" | tr '\n' ' ')"
! grep -q "ALARM" honest.txt && ok || bad "honest: alarm line"
grep -q "train.judges: 'python:harmonic' is the reward's own oracle" honest.txt && ok || bad "honest: no same-oracle warning"
! grep -q "is the reward's own oracle" exploit.txt && ok || bad "exploit: a different function is not the reward"

# ---- judges leave the training alone; on an oracle rank they answer alike -----------------
T --set run.dir=plain > /dev/null 2>&1 || bad "run without judges"
same "judges changed the training" plain/checkpoint.h5 honest/checkpoint.h5
"${MPIRUN[@]}" -np 2 "$ELIGN" --quiet train base.yaml --set run.dir=orank --set mpi.oracle_ranks=1 \
  --set train.judges=python:harmonic,lj,ani-1ccx --set oracle.model_dir="$SHARED/models/ani-model-zoo" \
  > orank.txt 2>&1 || bad "judges on an oracle rank: $(tail -3 orank.txt)"
same "oracle rank run differs" plain/checkpoint.h5 orank/checkpoint.h5
"$PY" - honest/metrics.jsonl orank/metrics.jsonl <<'EOF' && ok || bad "judge numbers: oracle rank vs in process"
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
keys = [k for k in a[0] if k.startswith("judge_") and k.endswith(("atomization_per_atom", "rms_force", "failed"))]
assert "judge_lj_atomization_per_atom" in b[0] and len(keys) >= 6, (keys, list(b[0]))
bad = [(i, k, x[k], y[k]) for i, (x, y) in enumerate(zip(a, b)) for k in keys if x[k] != y[k]]
print(f"judges: {len(keys)} numbers x {len(a)} rounds, in process == oracle rank" if not bad else bad)
sys.exit(1 if bad or len(a) != len(b) else 0)
EOF

# ---- the clash guard: held-back molecules never reach the oracle --------------------------
# `dies` ends the process on its first molecule (ELIGN_TOY_DIE_AFTER=0)
ELIGN_TOY_DIE_AFTER=0 T --set run.dir=clash --set oracle.python_function=dies --set reward.clash_distance=1e6 \
  --set dataloader.epoches=1 > clash.txt 2>&1 || bad "clash guard run: $(tail -3 clash.txt)"
mtrue clash/metrics.jsonl "m[0]['oracle_failures'] == m[0]['molecules'] == 16" && ok || bad "clash: failures not counted"
grep -q "clash guard: a molecule with atoms closer than reward.clash_distance" clash.txt && ok || bad "clash: no log line"
ELIGN_TOY_DIE_AFTER=0 T --set run.dir=noclash --set oracle.python_function=dies --set dataloader.epoches=1 > /dev/null 2>&1 &&
  bad "without the guard the dying oracle was not reached" || ok

# ---- group-signal accounting ----------------------------------------------------------------
T --set run.dir=zero --set reward.type=dummy --set train.zero_signal_warn_iterations=2 --set dataloader.epoches=2 > zero.txt 2>&1 ||
  bad "zero-signal run"
mtrue zero/metrics.jsonl "[x['zero_signal_fraction'] for x in m] == [1, 1] and all(x['zero_signal_single_member'] == 0 for x in m)" &&
  ok || bad "zero_signal_fraction"
[ "$(grep -c "no learning signal: 4 of 4 groups" zero.txt)" = 1 ] && grep -q "dataloader.each_prompt_sample K = 4" zero.txt &&
  grep -q "reward.force_clip_threshold null" zero.txt && ok || bad "zero-signal warning: $(grep -i signal zero.txt)"
T --set run.dir=single --set reward.type=dummy --set dataloader.each_prompt_sample=1 --set dataloader.micro_batch_size=1 \
  --set dataloader.epoches=1 > /dev/null 2>&1 || bad "K = 1 run"
mtrue single/metrics.jsonl "m[0]['zero_signal_single_member'] == 4" && ok || bad "K = 1: single-member groups"
mtrue honest/metrics.jsonl "all(x['zero_signal_fraction'] == 0 for x in m)" && ok || bad "honest run has zero-signal groups"

# ---- provenance: every kind of file names it; elign info prints it -----------------------------
MODEL_SHA=$(sha256sum tiny.h5 | cut -d' ' -f1)
# the commit the binary was built from (commits may land between build and test);
# it must be HEAD or one of its ancestors
COMMIT=$("$ELIGN" --version | sed -n 's/^elign [^ ]* (git \([0-9a-f]\{40\}\|unknown\).*/\1/p')
if git -C "$SRC" rev-parse HEAD > /dev/null 2>&1; then
  git -C "$SRC" merge-base --is-ancestor "$COMMIT" HEAD && ok || bad "--version commit '$COMMIT' is not in HEAD's history"
fi
"$ELIGN" info honest/checkpoint.h5 > info_ckpt.txt 2>&1 || bad "info checkpoint"
grep -q "\"git_commit\": \"$COMMIT\"" info_ckpt.txt && grep -q "\"command\": \"train\"" info_ckpt.txt &&
  grep -q "\"sha256\": \"$MODEL_SHA\"" info_ckpt.txt && grep -q '"seed": 5' info_ckpt.txt &&
  grep -q '"hdf5": "' info_ckpt.txt && grep -q '"mpi": "' info_ckpt.txt && grep -q '"actor_ranks": 1' info_ckpt.txt &&
  grep -q '"omp_wait_policy": "passive"' info_ckpt.txt &&
  ok || bad "checkpoint provenance: $(sed -n '/provenance:/,$p' info_ckpt.txt | head -40)"
# the OpenMP wait policy: passive unless the user chose (common/base/launch_env.h)
OMP_WAIT_POLICY=active "$ELIGN" sample --model tiny.h5 -n 2 --T 10 --out waitpol.h5 > /dev/null 2>&1 &&
  "$ELIGN" info waitpol.h5 2>&1 | grep -q '"omp_wait_policy": "active"' && ok || bad "OMP_WAIT_POLICY=active not kept"
# GOMP_SPINCOUNT set: libgomp's spin-then-sleep with that count, no passive policy imposed
env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=1000 "$ELIGN" sample --model tiny.h5 -n 2 --T 10 --out spin.h5 > /dev/null 2>&1 &&
  "$ELIGN" info spin.h5 > spin_info.txt 2>&1 && grep -q '"gomp_spincount": "1000"' spin_info.txt &&
  grep -q '"omp_wait_policy": null' spin_info.txt && ok || bad "GOMP_SPINCOUNT=1000 not kept: $(grep -E 'spincount|wait_policy' spin_info.txt)"
# the OpenBLAS core: recorded, and the user's choice kept (common/base/launch_env.h)
OPENBLAS_CORETYPE=Prescott "$ELIGN" sample --model tiny.h5 -n 2 --T 10 --out core_user.h5 > /dev/null 2>&1 &&
  "$ELIGN" info core_user.h5 2>&1 | grep -q '"openblas_core": "Prescott"' && ok || bad "OPENBLAS_CORETYPE=Prescott not kept"
"$ELIGN" info waitpol.h5 2>&1 | grep -q '"openblas_core": "' && ok || bad "no OpenBLAS core in the provenance"
"$PY" - honest/checkpoint.h5 orank/checkpoint.h5 <<'EOF2' && ok || bad "provenance attribute: config hash / layout"
import hashlib, json, sys
import h5py
def rec(p):
    with h5py.File(p, "r") as f:
        v = f.attrs["provenance"]
    return json.loads(v.decode() if isinstance(v, bytes) else v)
a, b = rec(sys.argv[1]), rec(sys.argv[2])
assert a["config"]["sha256"] == hashlib.sha256(a["config"]["resolved"].encode()).hexdigest()
assert a["layout"]["ranks"] == 1 and b["layout"]["ranks"] == 2 and b["layout"]["oracle_ranks"] == 1, (a["layout"], b["layout"])
assert "python:harmonic,lj" in b["config"]["resolved"] and "python:harmonic,lj" not in a["config"]["resolved"]
# the ANI judge runs on the oracle rank; rank 0 still names its files (one entry per model)
ani = [i for i in b["inputs"] if i["role"] == "ani model"]
assert len(ani) == 1 and ani[0]["path"].endswith("ani-1ccx_8x.info") and ani[0]["files"] > 50 and len(ani[0]["sha256_of_file_sha256s"]) == 64, b["inputs"]
assert a["libraries"]["train_toy_oracle"] == "toy-1" and a["libraries"]["python"], a["libraries"]  # the adapter's own
print("provenance:", a["elign_c"], a["libraries"])
EOF2
"$ELIGN" info honest/metrics.jsonl > info_metrics.txt 2>&1 && grep -q '"command": "train"' info_metrics.txt &&
  grep -q '"from_line": 1' honest/provenance.json && ok || bad "metrics provenance: $(head -5 info_metrics.txt)"
"$ELIGN" --quiet sample --model honest/checkpoint.h5 -n 4 --T 10 --seed 9 --out s.h5 > /dev/null 2>&1 || bad "sample"
CKPT_SHA=$(sha256sum honest/checkpoint.h5 | cut -d' ' -f1)
"$ELIGN" info s.h5 > info_s.txt 2>&1 && grep -q "model sha256: $CKPT_SHA" info_s.txt && grep -q '"command": "sample"' info_s.txt &&
  grep -q '"seed": 9' info_s.txt && ok || bad "samples provenance: $(grep -i "sha256\|seed\|command" info_s.txt)"
"$ELIGN" --quiet eval s.h5 --out e.json > /dev/null 2>&1 || bad "eval"
"$ELIGN" info e.json > info_e.txt 2>&1 && grep -q '"command": "eval"' info_e.txt && ok || bad "eval summary provenance: $(head -5 info_e.txt)"
# an older file without a record says so
"$PY" -c "import h5py,sys; f=h5py.File(sys.argv[1],'a'); del f.attrs['provenance']" s.h5 &&
  "$ELIGN" info s.h5 2>&1 | grep -q "provenance: none recorded" && ok || bad "file without provenance"

# ---- bad input ------------------------------------------------------------------------------
expect_fail "unknown judge" "train.judges: 'nosuch' is not an oracle backend" T --set run.dir=x1 --set train.judges=nosuch
expect_fail "bad ANI model" "unknown ANI model 'ani-3'" T --set run.dir=x2 --set train.judges=ani:ani-3
expect_fail "judge twice" "listed twice" T --set run.dir=x3 --set "train.judges=lj, lj"

cli_finish checks
