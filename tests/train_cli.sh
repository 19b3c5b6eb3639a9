#!/usr/bin/env bash
# `elign train` end to end on a small random model (2 layers x 32 features,
# tests/train_make_model.c) with toy Python oracles (tests/train_toy_oracle.py),
# T = 10 reverse steps, 4 groups x 4 rollouts (seconds per run):
#   - smoke: the mean reward rises when the reward pays for compact molecules
#     AND when it pays for spread-out ones (a sign or indexing error in the
#     advantages, ratios or gradient cannot pass both);
#   - zero drift: with one optimizer step per iteration every ratio is exactly 1
#     and the KL to the (identical) reference exactly 0, also when the filter
#     dropped molecules from the rollout blocks; the first optimizer step's
#     ratios are exactly 1 with units that cut the blocks, too;
#   - determinism: 1 process, mpirun -np 3 and -np 4 with one oracle rank give
#     bitwise identical final checkpoints (terminal and shaped rewards); kill -9 during the second iteration
#     + --resume on 2 ranks, and SIGTERM (checkpoint and stop) + --resume, end bitwise equal as well;
#   - faults: 10 % of the oracle answers NaN -> the run goes on and counts them;
#     a NaN in a rollout names iteration, group and step, exits 1 and leaves the
#     last checkpoint intact; an oracle rank that dies or hangs ends the job in
#     bounded time, and so does an actor rank that is stopped (SIGSTOP: the
#     message names phase, iteration and checkpoint; --resume ends bitwise equal);
#   - train.max_staleness 1 (the next iteration sampled before the update): the
#     staleness logged, bitwise over rank counts;
#   - elign sample --model RUN/checkpoint.h5 and RUN/model.h5 (same samples), and bad input messages.
#   bash tests/train_cli.sh path/to/elign path/to/train_make_model
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
MAKE_MODEL="$(cli_abspath "$2")"
cli_workdir train_cli

# metric FILE ITER KEY: one value of metrics.jsonl; mtrue FILE ITER EXPR: EXPR over that line's keys is true
metric() { "$PY" -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2])][sys.argv[3]])" "$@"; }
mtrue() { "$PY" -c "import json,sys; d=[json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2])]; sys.exit(0 if eval(sys.argv[3], {}, d) else 1)" "$@"; }
# expect_fail "description" "fragment" cmd... : exit 1, the fragment on stderr
expect_fail() {
  local what="$1" frag="$2"; shift 2
  "$@" > out.txt 2> err.txt; local rc=$?
  if [ $rc -eq 1 ] && grep -qF -- "$frag" err.txt; then ok
  else bad "$what: exit $rc, stderr: $(cat err.txt)"; fi
}

"$MAKE_MODEL" tiny.h5 7 || bad "make model"
. "$SRC/tests/tiny_train_config.sh"
. "$SRC/tests/stopped_rank.sh"
tiny_train_config base.yaml tiny.h5 3 1
T() { "$ELIGN" --quiet train base.yaml "$@"; }

# ---- smoke: the reward rises, whichever way it points -----------------------------
# The toy energy reward is -E/n of springs pulling nearest neighbours to 1.5 Å
# (harmonic: compact molecules pay) or +E/n (stretch: spread-out ones pay).
# After 3 iterations, 32 molecules sampled with the same noise from the base
# and the trained weights are scored with the same function: the reward must
# have risen by 10 % in both cases (small steps: the first-order improvement
# of the policy gradient, not a lucky jump).
SMOKE="--set model.share_initial_noise=false --set reward.force_adv_weight=0 --set reward.energy_adv_weight=1
       --set train.kl_penalty_weight=0 --set train.learning_rate=3e-6 --set train.scheduler.name=none"
"$ELIGN" --quiet sample --model tiny.h5 -n 32 --T 10 --seed 99 --batch 8 --out base_s.h5 > /dev/null 2>&1 || bad "sample base"
for fn in harmonic stretch; do
  T --set run.dir=smoke_$fn --set oracle.python_function=$fn $SMOKE > /dev/null 2>&1 || bad "smoke $fn run"
  "$ELIGN" --quiet sample --model smoke_$fn/checkpoint.h5 -n 32 --T 10 --seed 99 --batch 8 --out s_$fn.h5 > /dev/null 2>&1 ||
    bad "sample smoke $fn"
  "$PY" - base_s.h5 s_$fn.h5 $fn "$SRC/tests" <<'EOF' && ok || bad "smoke $fn: the reward did not rise"
import sys
import h5py
import numpy as np
sys.path.insert(0, sys.argv[4])
import train_toy_oracle as toy

fn = getattr(toy, sys.argv[3])
def reward(path):  # mean of -E/n, the energy reward of the run
    with h5py.File(path, "r") as f:
        pos, off, Z = f["positions"][()].astype(float), f["offsets"][()], f["atomic_numbers"][()]
    return np.mean([-fn(Z[a:b], pos[a:b], 0, 1, {})[0] / (b - a) for a, b in zip(off[:-1], off[1:])])
r0, r1 = reward(sys.argv[1]), reward(sys.argv[2])
print(f"smoke {sys.argv[3]}: mean reward on fixed noise {r0:.5g} (base) -> {r1:.5g} (trained)")
sys.exit(0 if r1 > r0 + 0.1 * abs(r0) else 1)
EOF
done

# ---- zero drift: one optimizer step per iteration -> every ratio is exactly 1 -----
# (dedup on: the units are whatever molecules of a block survive, not whole blocks)
T --set run.dir=drift --set train.train_micro_batch_size=16 --set dataloader.epoches=1 --set filters.enable_filtering=true \
  > /dev/null 2>&1 || bad "drift run"
for i in 0; do
  mtrue drift/metrics.jsonl $i "ratio_min == 1 and ratio_max == 1 and kl == 0 and clipfrac == 0 and optimizer_steps == 1 and kept < molecules" && ok ||
    bad "zero drift iteration $i: ratio [$(metric drift/metrics.jsonl $i ratio_min), $(metric drift/metrics.jsonl $i ratio_max)] kl $(metric drift/metrics.jsonl $i kl)"
done
# the base run: 3 optimizer steps per iteration, units cutting the blocks; the first step is drift-free
T --set run.dir=r1 > /dev/null 2>&1 || bad "1-process run"
mtrue r1/metrics.jsonl 1 "ratio_first_step_min == 1 and ratio_first_step_max == 1 and optimizer_steps == 3 and units > 3" &&
  ok || bad "first-step ratios of the base run are not exactly 1"

# ---- determinism over rank counts and restarts ---------------------------------------
"${MPIRUN[@]}" -np 3 "$ELIGN" --quiet train base.yaml --set run.dir=r3 > /dev/null 2>&1 || bad "-np 3 run"
"${MPIRUN[@]}" -np 4 "$ELIGN" --quiet train base.yaml --set run.dir=r4 --set mpi.oracle_ranks=1 > /dev/null 2>&1 || bad "-np 4 run"
same "1 process vs -np 3 vs -np 4 (one oracle rank)" r1/checkpoint.h5 r3/checkpoint.h5 r4/checkpoint.h5
# the shaped path (PBRS return-to-go, reward frames from inside the shared prefix on): 1 process = 2 actors + 1 oracle rank
SHAPED="--set reward.shaping.enabled=true --set reward.shaping.mode=pbrs_return_to_go --set reward.shaping.scheduler.skip_prefix=2
        --set reward.shaping.terminal_weight=1.0 --set dataloader.epoches=1"
T --set run.dir=p1 $SHAPED > /dev/null 2>&1 || bad "shaped run"
"${MPIRUN[@]}" -np 3 "$ELIGN" --quiet train base.yaml --set run.dir=p3 --set mpi.oracle_ranks=1 $SHAPED > /dev/null 2>&1 || bad "shaped -np 3"
same "shaped: 1 process vs -np 3 (one oracle rank)" p1/checkpoint.h5 p3/checkpoint.h5
mtrue p1/metrics.jsonl 0 "oracle_evaluations == 16 * 9 and zero_signal_groups < groups" && ok || bad "shaped: 9 frames per molecule"
# train.max_staleness 1: iteration i+1 is sampled before iteration i's update (never across a
# checkpoint): staleness 0, 1, 0, 1 with save_interval 2; 1 process = 2 actors + 1 oracle rank, bitwise
STALE="--set train.max_staleness=1 --set save_interval=2 --set dataloader.epoches=4"
T --set run.dir=s1 $STALE > /dev/null 2>&1 || bad "staleness run"
"${MPIRUN[@]}" -np 3 "$ELIGN" --quiet train base.yaml --set run.dir=s3 --set mpi.oracle_ranks=1 $STALE > /dev/null 2>&1 ||
  bad "staleness -np 3"
same "staleness 1: 1 process vs -np 3" s1/checkpoint.h5 s3/checkpoint.h5
"$PY" -c "import json,sys; s=[json.loads(l)['staleness_max'] for l in open('s1/metrics.jsonl')]; sys.exit(0 if s == [0, 1, 0, 1] else 1)" &&
  ok || bad "staleness pattern"
# kill -9 while the second iteration runs (its first checkpoint is there, the second not yet),
# then --resume on 2 ranks
"$ELIGN" --quiet train base.yaml --set run.dir=rk > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f rk/checkpoints/iter_000000001.h5 ] && break; sleep 0.02; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[ ! -f rk/checkpoints/iter_000000003.h5 ] && ok || bad "kill -9 came too late"
"${MPIRUN[@]}" -np 2 "$ELIGN" --quiet train base.yaml --resume rk > /dev/null 2>&1 || bad "resume after kill -9 (2 ranks)"
same "kill -9 + --resume (2 ranks)" r1/checkpoint.h5 rk/checkpoint.h5
[ "$(wc -l < rk/metrics.jsonl)" -ge 3 ] && ok || bad "resumed metrics lines"

# SIGTERM while the second iteration runs: that iteration finishes, a checkpoint, exit 0; --resume ends bitwise equal
"$ELIGN" --quiet train base.yaml --set run.dir=rt > rt.txt 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f rt/checkpoints/iter_000000001.h5 ] && break; sleep 0.02; done
kill -TERM $pid 2>/dev/null; wait $pid; rc=$?
[ $rc -eq 0 ] && [ -f rt/checkpoints/iter_000000002.h5 ] && [ ! -f rt/checkpoints/iter_000000003.h5 ] && ok ||
  bad "SIGTERM: exit $rc, checkpoints $(ls rt/checkpoints)"
T --resume rt > /dev/null 2>&1 || bad "resume after SIGTERM"
same "SIGTERM + --resume" r1/checkpoint.h5 rt/checkpoint.h5

# the element-mix term's integral offsets are run state: stopped after 2 iterations and
# resumed, the third iteration must see the same offsets (and the same weights) as a
# straight run; lost offsets would restart at 0 and show as a smaller H offset
MIX="--set reward.composition_weight=1 --set reward.composition_integral=0.5
     --set reward.composition_target=[0.5,0.01,0.01,0.01,0.01,0.3,0.06,0.08,0.02]"
T --set run.dir=mix $MIX > /dev/null 2>&1 || bad "element-mix run"
T --set run.dir=mixr $MIX --set dataloader.epoches=2 > /dev/null 2>&1 || bad "element-mix run, 2 iterations"
T --resume mixr $MIX > /dev/null 2>&1 || bad "element-mix resume"
same "element-mix offsets: 2 iterations + --resume" mix/checkpoint.h5 mixr/checkpoint.h5
"$PY" - mix/metrics.jsonl mixr/metrics.jsonl <<'PY' && ok || bad "element-mix offsets not carried over --resume"
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
off = [m.get("composition_offset_H") for m in a]
print("composition_offset_H by iteration:", off, "resumed:", b[-1].get("composition_offset_H"))
# a surplus of H every iteration: the offset grows by 0.5 log(p_H / 0.5) > 0 each time
sys.exit(0 if len(a) == 3 and off[0] > 0 and off[2] > off[1] > off[0] and b[-1]["composition_offset_H"] == off[2] else 1)
PY

# ---- faults ---------------------------------------------------------------------------
T --set run.dir=flaky --set oracle.python_function=flaky --set dataloader.epoches=2 > flaky.txt 2>&1 ||
  bad "flaky oracle run: $(cat flaky.txt)"
"$PY" - flaky/metrics.jsonl <<'EOF' && ok || bad "oracle failures not counted"
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
f, n = sum(x["oracle_failures"] for x in m), sum(x["oracle_evaluations"] for x in m)
print(f"flaky oracle: {f:.0f} of {n:.0f} evaluations failed over {len(m)} iterations")
sys.exit(0 if len(m) == 2 and 0 < f < n / 2 else 1)
EOF
ELIGN_TEST_NAN_ITERATION=1 expect_fail "NaN in a rollout" "non-finite latent at iteration 1, group 0" T --set run.dir=nan
grep -qF "checkpoint (iteration 1)" err.txt && [ -f nan/checkpoints/iter_000000001.h5 ] && [ ! -f nan/checkpoints/iter_000000002.h5 ] &&
  ok || bad "NaN: last checkpoint: $(cat err.txt)"
same "the checkpoint before the NaN is intact" r1/checkpoints/iter_000000001.h5 nan/checkpoints/iter_000000001.h5
for fn in dies hangs; do
  t0=$(date +%s)
  timeout 90 "${MPIRUN[@]}" -x ELIGN_TOY_DIE_AFTER=20 -np 2 "$ELIGN" --quiet train base.yaml --set run.dir=o_$fn --set mpi.oracle_ranks=1 \
    --set oracle.python_function=$fn --set mpi.timeout=3 > o_$fn.txt 2>&1
  rc=$? dt=$(( $(date +%s) - t0 ))
  if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $dt -lt 60 ]; then ok; else bad "oracle rank that $fn: exit $rc after $dt s"; fi
done
grep -qF "no reply from oracle rank 1" o_hangs.txt && ok || bad "hung oracle message: $(head -5 o_hangs.txt)"
# An actor that hangs: rank 1 of 2 stopped (SIGSTOP) as soon as the first checkpoint is there (in
# the second iteration, or just before it, or later on a machine that polls slowly: the phase is
# whichever rank 0 waits in; 8 iterations, so the stop cannot miss the run). Rank 0 would wait for it
# inside an MPI collective forever; the watchdog (learner/run_wait.h) ends the job within mpi.timeout
# + 20 s, naming the phase, the iteration and the newest checkpoint (bitwise intact), and --resume
# then ends bitwise equal to the uninterrupted run.
HANG_S=10
AH="--set dataloader.epoches=8 --set train.keep_checkpoints=8"
T --set run.dir=ah_ref $AH > /dev/null 2>&1 || bad "the uninterrupted 8-iteration run"
stopped_rank_run ah.txt $((HANG_S + 20)) "ah/checkpoints/iter_*.h5" 0 1 \
  "${MPIRUN[@]}" -np 2 "$ELIGN" --quiet train base.yaml --set run.dir=ah --set mpi.timeout=$HANG_S $AH
echo "train_cli: actor rank 1 stopped: exit $STOPPED_RC after $STOPPED_SECONDS s (mpi.timeout $HANG_S s)"
grep -m1 "^elign: error" ah.txt
[ -n "$STOPPED_PID" ] && [ "$STOPPED_RC" != hung ] && [ "$STOPPED_RC" != 0 ] && ok ||
  bad "stopped actor: exit $STOPPED_RC $STOPPED_SECONDS s after the SIGSTOP (bound $((HANG_S + 20)) s), pid '$STOPPED_PID'"
newest=$(ls ah/checkpoints | grep '^iter_[0-9]*\.h5$' | sort | tail -1 | sed 's/^iter_0*\([0-9][0-9]*\)\.h5$/\1/')
case "$newest" in 8) bad "the run finished before the SIGSTOP";; [1-7]) ok;; *) bad "stopped actor: checkpoints $(ls ah/checkpoints)";; esac
PHASES="the (sampling phase|reward stage|force-alignment count|gradient reduction|weight broadcast|timing metrics|end of the \
iteration|agreement on rank 0's checkpoint|end-of-iteration agreement)( \([^)]*\))?"
grep -qE "^elign: error on rank 0: in iteration [0-9]+, $PHASES did not finish within $HANG_S s \(mpi.timeout\): a rank is \
stopped or hung; the last checkpoint \(iteration $newest, in ah/checkpoints\) is intact; --resume ah continues from it$" ah.txt &&
  ok || bad "stopped actor message: $(grep -v INFO ah.txt | head -3)"
ls -a ah ah/checkpoints | grep -q "\.tmp\." && bad "stopped actor: temporaries left: $(ls -a ah ah/checkpoints)" || ok
same "the checkpoint before the stopped actor is intact" ah_ref/checkpoints/iter_00000000$newest.h5 \
  ah/checkpoints/iter_00000000$newest.h5
"${MPIRUN[@]}" -np 2 "$ELIGN" --quiet train base.yaml --resume ah --set mpi.timeout=$HANG_S $AH > /dev/null 2>&1 ||
  bad "resume after the stopped actor"
same "stopped actor + --resume" ah_ref/checkpoint.h5 ah/checkpoint.h5

# ---- energy references: the oracle's lone atoms --------------------------------------
# with_atoms gives every atom -Z eV besides the springs. energy_atom_refs: oracle asks it
# for the lone atoms (H -1, C -6, ...) and must train exactly as the same numbers given by
# hand (custom); without references the composition enters the energy channel: other weights.
REFS="--set oracle.python_function=with_atoms --set reward.energy_adv_weight=1"
"$ELIGN" train base.yaml --set run.dir=ref_oracle $REFS --set reward.energy_atom_refs=oracle > /dev/null 2> ref_oracle.txt ||
  bad "refs oracle run"
grep -q "energy references (the oracle's lone atoms): H -1.000000, C -6.000000" ref_oracle.txt && ok ||
  bad "refs oracle: no references line: $(grep -v 'INFO iteration' ref_oracle.txt | tail -3)"
T --set run.dir=ref_custom $REFS --set reward.energy_atom_refs=custom \
  --set "reward.energy_atom_ref_values=[-1, -2, -3, -4, -5, -6, -7, -8, -9]" > /dev/null 2>&1 || bad "refs custom run"
same "energy_atom_refs oracle vs the same values as custom" ref_oracle/checkpoint.h5 ref_custom/checkpoint.h5
T --set run.dir=ref_none $REFS > /dev/null 2>&1 || bad "refs none run"
# the first iteration's mean energy reward, -(E - refs)/n: without references it is higher by
# the mean of sum(Z)/n, between 1 (all H) and 9 (all F). (The tiny model's random weights
# sample hydrogen only, so the advantages, and the weights, come out alike either way.)
"$PY" - ref_none/metrics.jsonl ref_oracle/metrics.jsonl <<'PY' && ok || bad "energy references: the energy rewards did not move by sum(Z)/n"
import json, sys
none, oracle = (json.loads(open(p).readline())["energy_reward_mean"] for p in sys.argv[1:3])
print(f"energy reward without references {none:.6f}, with {oracle:.6f}", file=sys.stderr)
sys.exit(not 1 - 1e-9 <= none - oracle <= 9 + 1e-9)
PY
expect_fail "custom refs without an element of the model" "has no energy for C (Z = 6, entry 5)" T --set run.dir=x6 $REFS \
  --set reward.energy_atom_refs=custom --set "reward.energy_atom_ref_values=[-1]"

# ---- the trained weights sample; bad input ------------------------------------------
"$ELIGN" --quiet sample --model r1/checkpoint.h5 -n 4 --T 10 --out s.h5 > /dev/null 2>&1 && ok || bad "sample from RUN/checkpoint.h5"
# RUN/model.h5: the same weights without the training state, so the same samples, in a smaller file
"$ELIGN" --quiet sample --model r1/model.h5 -n 4 --T 10 --out s_model.h5 > /dev/null 2>&1 && ok || bad "sample from RUN/model.h5"
"$PY" "$SRC/tests/h5_compare.py" --skip-attr model --skip-attr model_sha256 s.h5 s_model.h5 > cmp.txt 2>&1 && ok ||
  bad "RUN/model.h5 samples differ: $(cat cmp.txt)"
[ "$(stat -c %s r1/model.h5)" -lt "$(stat -c %s r1/checkpoint.h5)" ] && ok || bad "RUN/model.h5 is not smaller than checkpoint.h5"
expect_fail "non-empty run dir" "is not empty" T --set run.dir=r1
expect_fail "no model" "model.checkpoint is null" T --set model.checkpoint=null --set run.dir=x1
expect_fail "micro batch" "not a multiple of dataloader.each_prompt_sample" T --set dataloader.micro_batch_size=2 --set run.dir=x3
expect_fail "resume nothing" "no such directory" T --resume x4
mkdir -p x5 && expect_fail "resume empty" "no checkpoint" T --resume x5

cli_finish checks
