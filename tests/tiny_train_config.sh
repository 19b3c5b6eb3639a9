# tiny_train_config.sh — sourced by the train tests (train_cli, preempt_cli,
# slurm_cluster): the small FED-GRPO config they all run, written once.
#
#   tiny_train_config OUT.yaml MODEL.h5 ITERATIONS SAVE_INTERVAL [ORACLE_RANKS]
#
# T = 10 steps of the tiny test model, 4 groups x 4 rollouts, the harmonic toy
# oracle of tests/train_toy_oracle.py through the python backend ($SRC must
# name the source tree), a cosine schedule; ORACLE_RANKS (default 0) oracle ranks.
tiny_train_config() {
  local out="$1" model="$2" iters="$3" save="$4" oranks="${5:-0}"
  cat > "$out" <<EOF
seed: 5
run:
  dir: run
  log_every: 0
model:
  checkpoint: $model
  time_step: 10
  share_initial_noise: true
  skip_prefix: 5
dataloader:
  sample_group_size: 4
  each_prompt_sample: 4
  epoches: $iters
  micro_batch_size: 4
  smiles_path: null
filters:
  enable_filtering: false
reward:
  use_energy: true
  energy_transform_offset: 0.0
  energy_transform_scale: 1.0
  energy_normalize_by_atoms: true
train:
  learning_rate: 1.0e-4
  adam_beta1: 0.9
  adam_beta2: 0.999
  adam_epsilon: 1.0e-8
  adam_weight_decay: 1.0e-4
  max_grad_norm: 1.0
  clip_range: 0.2
  kl_penalty_weight: 0.01
  train_micro_batch_size: 6
  scheduler:
    name: cosine
    warmup_steps: 2
    total_steps: 10
    min_lr_ratio: 0.3
oracle:
  backend: python
  python_module: train_toy_oracle
  python_function: harmonic
  python_path: $SRC/tests
  min_distance: 0
  batch_size: 8
mpi:
  oracle_ranks: $oranks
save_interval: $save
EOF
}
