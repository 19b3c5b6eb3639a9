#!/usr/bin/env bash
# The force-alignment regularizer (ALGORITHMS.md §4.13) in `elign train`, end
# to end on the tiny model and the harmonic toy oracle (forces analytic) of
# tests/train_cli.sh, with adaptive shaping (T = 10, trained k = 5..9, reward
# frames 2, 4, 6, 8, 10; fine stage at timesteps ≤ 4, i.e. k ≥ 5):
#   - active: the term is logged every iteration (force_align_loss in (0, 2w],
#     qualifying atoms, steps, mean cosine) and changes the weights;
#   - one ratio over the whole micro-batch: with one micro-batch cut into 4
#     units and one active step, force_align_loss = w·(1 − mean cos) exactly
#     (per-unit ratios would not add up to it);
#   - determinism: 1 process, mpirun -np 2 and -np 3 with one oracle rank give
#     bitwise identical checkpoints (the count crosses ranks, the gradient is
#     reduced in unit order);
#   - inert (logged once with the reason, no metrics, weights as without it):
#     shaping off, a uniform scheduler, no fine-stage frame on a trained step,
#     weight 0.
#   bash tests/force_align_cli.sh path/to/elign path/to/train_make_model
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
MAKE_MODEL="$(cli_abspath "$2")"
cli_workdir force_align_cli

# mall FILE EXPR: EXPR is true on every metrics line; mnone FILE PREFIX: no key starts with PREFIX
mall() { "$PY" -c "import json,sys; sys.exit(0 if all(eval(sys.argv[2], {}, json.loads(l)) for l in open(sys.argv[1])) else 1)" "$@"; }
mnone() { "$PY" -c "import json,sys; sys.exit(1 if any(k.startswith(sys.argv[2]) for l in open(sys.argv[1]) for k in json.loads(l)) else 0)" "$@"; }
differ() { # differ "what" A B
  "${COMPARE[@]}" "$2" "$3" > cmp.txt 2>&1 && bad "$1: the weights are bitwise equal" || ok
}

"$MAKE_MODEL" tiny.h5 7 || bad "make model"
. "$SRC/tests/tiny_train_config.sh"
tiny_train_config base.yaml tiny.h5 2 1
# adaptive shaping; no KL and a small constant lr keep the tiny model's steps sane
FA="--set reward.shaping.enabled=true --set reward.shaping.mode=delta --set reward.shaping.scheduler.mode=adaptive
    --set reward.shaping.scheduler.skip_prefix=2 --set reward.shaping.scheduler.adaptive.threshold_timestep=4
    --set reward.shaping.scheduler.adaptive.coarse_stride=2 --set reward.shaping.scheduler.adaptive.fine_stride=2
    --set train.kl_penalty_weight=0 --set train.scheduler.name=none --set train.learning_rate=1e-5"
T() { "$ELIGN" train base.yaml "$@"; }

# ---- active -------------------------------------------------------------------------
T --set run.dir=a1 $FA --set train.force_alignment_weight=0.5 > a1.txt 2>&1 || bad "active run: $(tail -3 a1.txt)"
grep -qF "force alignment (§4.13): weight 0.5 at 2 fine-stage trained step(s) of 5" a1.txt && ok || bad "active: start line"
mall a1/metrics.jsonl "force_align_atoms > 0 and 0 < force_align_loss <= 1.0 and force_align_steps >= 1 and -1 <= force_align_cos <= 1" &&
  ok || bad "active: force_align_* metrics: $(cat a1/metrics.jsonl)"
T --set run.dir=off $FA --set train.force_alignment_enabled=false --set train.force_alignment_weight=0.5 > /dev/null 2>&1 ||
  bad "disabled run"
differ "the term changes the update" a1/checkpoint.h5 off/checkpoint.h5
mnone off/metrics.jsonl force_align && ok || bad "disabled: force_align metrics logged"

# ---- one ratio per micro-batch: 1 micro-batch of 16 in 4 units, one active step (k = 8), 2 passes
ONE="--set train.train_micro_batch_size=16 --set train.epoch_per_rollout=2 --set dataloader.epoches=1
     --set reward.shaping.scheduler.adaptive.threshold_timestep=1 --set train.force_alignment_weight=0.5"
T --set run.dir=one $FA $ONE > one.txt 2>&1 || bad "one micro-batch run: $(tail -3 one.txt)"
mall one/metrics.jsonl "units == 4 and optimizer_steps == 2 and force_align_steps == 1 and force_align_atoms > 0 and \
  abs(force_align_loss - 0.5 * (1 - force_align_cos)) < 1e-9" && ok || bad "micro-batch ratio: $(cat one/metrics.jsonl)"

# ---- determinism over rank counts ------------------------------------------------------
"${MPIRUN[@]}" -np 2 "$ELIGN" --quiet train base.yaml --set run.dir=a2 $FA --set train.force_alignment_weight=0.5 > /dev/null 2>&1 ||
  bad "-np 2 run"
"${MPIRUN[@]}" -np 3 "$ELIGN" --quiet train base.yaml --set run.dir=a3 --set mpi.oracle_ranks=1 $FA --set train.force_alignment_weight=0.5 \
  > /dev/null 2>&1 || bad "-np 3 run"
same "force alignment: 1 process vs -np 2 vs -np 3 (one oracle rank)" a1/checkpoint.h5 a2/checkpoint.h5 a3/checkpoint.h5

# ---- inert: said once, why, no metrics, the same weights as without it -------------------
inert() { # inert compare|nocompare "reason fragment" run-args...
  local cmp="$1" frag="$2"; shift 2
  T --set run.dir=i_on --set dataloader.epoches=1 "$@" --set train.force_alignment_enabled=true > i_on.txt 2>&1 || bad "inert run ($frag)"
  [ "$(grep -c "is inert: $frag" i_on.txt)" = 1 ] && ok || bad "inert ($frag): message: $(grep -i 'force align' i_on.txt)"
  mnone i_on/metrics.jsonl force_align && ok || bad "inert ($frag): force_align metrics logged"
  if [ "$cmp" = compare ]; then
    T --set run.dir=i_off --set dataloader.epoches=1 "$@" --set train.force_alignment_enabled=false > /dev/null 2>&1 || bad "inert ref ($frag)"
    same "inert ($frag): weights as without it" i_off/checkpoint.h5 i_on/checkpoint.h5
  fi
  rm -rf i_on i_off
}
inert compare "reward shaping is off" $FA --set reward.shaping.enabled=false --set train.force_alignment_weight=0.5
inert compare "the reward scheduler is uniform" $FA --set reward.shaping.scheduler.mode=uniform --set train.force_alignment_weight=0.5
inert nocompare "no fine-stage reward frame falls on a trained step" $FA --set reward.shaping.scheduler.adaptive.threshold_timestep=0 \
  --set reward.shaping.scheduler.include_terminal=false --set train.force_alignment_weight=0.5
inert nocompare "train.force_alignment_weight is 0" $FA --set train.force_alignment_weight=0

cli_finish checks
