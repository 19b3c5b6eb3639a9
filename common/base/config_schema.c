/* config_schema.c — THE table of configuration keys (one row per key).
 *
 * Public Elign keys keep their names and the reference code defaults
 * (spec/ALGORITHMS.md §4.14 "Code defaults"); keys marked "[Elign-C]" are ours.
 * Rows sharing a dotted prefix must stay contiguous (the YAML writer nests
 * them; tests/test_config.c checks this). After editing, regenerate the key
 * table of docs/config.md (ctest's config_cli checks that it is current):
 *   bash tests/config_cli.sh build/elign --regen-doc
 *
 * Columns: key, type, nullable, default ("=k" copies key k, NULL = required),
 * range, enum choices ("alias>value" = accepted alias), doc.
 */
#include "common/base/config.h"

#define B ELIGN_CFG_BOOL
#define I ELIGN_CFG_INT
#define F ELIGN_CFG_FLOAT
#define S ELIGN_CFG_STRING
#define E ELIGN_CFG_ENUM
#define L ELIGN_CFG_LIST
#define REQUIRED NULL

const elign_config_key elign_config_schema[] = {
    /* ---- top level (public Elign) ---- */
    {"seed", I, 0, "42", "[0,2147483647]", NULL, "base seed of every random stream; each draw is keyed by (seed, iteration, group, member, step, purpose) (common/base/rng.h), so results do not depend on the rank count"},
    {"name", S, 0, "elign", NULL, NULL, "run name (logs; default run directory runs/<name>)"},
    {"save_path", S, 1, "null", NULL, NULL, "public Elign output directory; used as the run directory when run.dir is null"},
    {"resume", B, 0, "false", NULL, NULL, "resume from checkpoint_path (optimizer and scheduler state restored)"},
    {"checkpoint_path", S, 1, "null", NULL, NULL, "checkpoint to resume from (Elign-C: an HDF5 checkpoint written by `elign train`)"},
    {"best_checkpoint_metric", S, 0, "reward", NULL, NULL, "metric whose improvement writes checkpoint_best (e.g. molecule_stability, validity_x_uniqueness)"},
    {"best_checkpoint_mode", E, 0, "max", NULL, "max|min", "whether a larger or smaller best_checkpoint_metric is better"},
    {"save_interval", I, 0, "10", "[1,inf)", NULL, "write latest + per-iteration checkpoints every this many iterations"},
    {"queue_size", I, 0, "256", "[1,inf)", NULL, "reference: rollout chunks queued for the reward thread (Elign-C: batches in flight per actor)"},

    /* ---- dataloader (public Elign) ---- */
    {"dataloader.sample_group_size", I, 0, REQUIRED, "[1,inf)", NULL, "P: prompt groups (molecule sizes) per iteration; Elign-C splits them over the actor ranks (the reference: per rank)"},
    {"dataloader.each_prompt_sample", I, 0, REQUIRED, "[1,inf)", NULL, "K: rollouts per prompt group (batch B = P*K)"},
    {"dataloader.epoches", I, 0, REQUIRED, "[1,inf)", NULL, "number of rollout iterations (the public key keeps its spelling)"},
    {"dataloader.micro_batch_size", I, 1, "null", "[1,inf)", NULL, "rollout chunk in molecules, a multiple of K: one network batch, and the unit of work of an actor rank (whole chunks per rank); null = B"},
    {"dataloader.smiles_path", S, 1, REQUIRED, NULL, NULL, "training-set SMILES for the novelty penalty (null: no novelty check, e.g. GEOM)"},
    {"dataloader.geom_data_file", S, 1, "null", NULL, NULL, "GEOM-Drugs data file (public key; Elign-C reads data.path)"},
    {"dataloader.nodes_dist_focus_min", I, 1, "null", "[1,inf)", NULL, "re-weight molecule sizes >= this (null: off)"},
    {"dataloader.nodes_dist_focus_max", I, 1, "null", "[1,inf)", NULL, "re-weight molecule sizes <= this (null: off)"},
    {"dataloader.nodes_dist_focus_multiplier", F, 0, "1.0", "[0,inf)", NULL, "probability multiplier for sizes in the focus window (1 = off)"},

    /* ---- filters (public Elign, §4.7) ---- */
    {"filters.condition", B, 0, "false", NULL, NULL, "conditional generation filter (unused for unconditional EDM)"},
    {"filters.enable_filtering", B, 0, "false", NULL, NULL, "RDKit dedup: keep one molecule per distinct SMILES across the batch"},
    {"filters.enable_penalty", B, 0, "false", NULL, NULL, "novelty penalty for invalid or training-set molecules"},
    {"filters.penalty_scale", F, 0, "0.5", "[0,inf)", NULL, "novelty penalty added to non-novel molecules' rewards (times -1)"},
    {"filters.invalid_penalty_scale", F, 0, "0.0", "[0,inf)", NULL, "invalid molecules get (min valid reward) - this; 0 = off"},
    {"filters.duplicate_penalty_scale", F, 0, "0.0", "[0,inf)", NULL, "penalty per extra copy of a SMILES; 0 = off"},

    /* ---- model ---- */
    {"model.checkpoint", S, 1, "null", NULL, NULL, "[Elign-C] pretrained EDM model file (HDF5, from tools/edm_import.py); required by train/sample"},
    {"model.model_path", S, 1, "null", NULL, NULL, "public Elign name of the PyTorch weights (.npy); accepted, Elign-C reads model.checkpoint"},
    {"model.config", S, 1, "null", NULL, NULL, "public Elign name of the PyTorch args.pickle; accepted, Elign-C reads model.checkpoint"},
    {"model.time_step", I, 0, REQUIRED, "[1,100000]", NULL, "T: reverse diffusion steps per rollout (1000 = the pretrained schedule)"},
    {"model.share_initial_noise", B, 0, "false", NULL, NULL, "all K members of a group start from the same z_T"},
    {"model.skip_prefix", I, 1, "null", "[0,inf)", NULL, "shared-prefix length p (steps); null = reward.shaping.scheduler.skip_prefix"},
    {"model.return_suffix_only", B, 0, "false", NULL, NULL, "store only the trajectory suffix from the branch point"},

    /* ---- reward (public Elign, §4.5) ---- */
    {"reward.type", E, 0, "uma", NULL, "uma|dummy", "force/energy reward of §4.5 (computed by oracle.backend), or dummy (zero) for smoke tests"},
    {"reward.mlff_model", S, 0, "uma-s-1p1", NULL, NULL, "UMA model name (python backend only; uma-s-1p1 or uma-m-1p1)"},
    {"reward.force_clip_threshold", F, 1, "null", "(0,inf)", NULL, "per-atom force clip before aggregation, eV/Å (null: no clip)"},
    {"reward.force_aggregation", E, 0, "rms", NULL, "rms|max", "per-molecule force metric over atoms"},
    {"reward.force_weight", F, 0, "1.0", "[0,inf)", NULL, "weight of the force channel in the logged scalar reward"},
    {"reward.energy_weight", F, 0, "1.0", "[0,inf)", NULL, "weight of the energy channel in the logged scalar reward"},
    {"reward.force_adv_weight", F, 0, "=reward.force_weight", "[0,inf)", NULL, "weight of the force advantage (default: reward.force_weight)"},
    {"reward.energy_adv_weight", F, 0, "=reward.energy_weight", "[0,inf)", NULL, "weight of the energy advantage (default: reward.energy_weight)"},
    {"reward.use_energy", B, 0, "false", NULL, NULL, "compute the energy reward channel (else it is 0)"},
    {"reward.force_only_if_stable", B, 0, "false", NULL, NULL, "force reward multiplied by molecule stability (0/1)"},
    {"reward.energy_only_if_stable", B, 0, "false", NULL, NULL, "energy reward multiplied by molecule stability (0/1)"},
    {"reward.stability_weight", F, 0, "0.0", "[0,inf)", NULL, "bonus w*(2*stable - 1) added to the force reward"},
    {"reward.atom_stability_weight", F, 0, "0.0", "[0,inf)", NULL, "penalty w*(1 - atom stability fraction) on the force reward"},
    {"reward.valence_underbond_weight", F, 0, "0.0", "[0,inf)", NULL, "penalty per missing bond order (hard valence count)"},
    {"reward.valence_overbond_weight", F, 0, "0.0", "[0,inf)", NULL, "penalty per excess bond order (hard valence count)"},
    {"reward.valence_underbond_soft_weight", F, 0, "0.0", "[0,inf)", NULL, "penalty per missing soft (sigmoid) bond order, QM9 only"},
    {"reward.valence_overbond_soft_weight", F, 0, "0.0", "[0,inf)", NULL, "penalty per excess soft (sigmoid) bond order, QM9 only"},
    {"reward.valence_soft_temperature", F, 0, "0.02", "(0,inf)", NULL, "sigmoid width of the soft bond order, Å"},
    {"reward.energy_transform_offset", F, 0, "10000.0", NULL, NULL, "energy transform E' = (E + offset)/scale; offset in eV"},
    {"reward.energy_transform_scale", F, 0, "1000.0", "(0,inf)", NULL, "energy transform scale, eV"},
    {"reward.energy_transform_clip", F, 1, "null", "(0,inf)", NULL, "clamp E' to [-c, c] (null: no clamp)"},
    {"reward.energy_normalize_by_atoms", B, 0, "false", NULL, NULL, "divide the energy by the atom count before the transform"},
    {"reward.energy_atom_refs", S, 1, "null", NULL, NULL, "subtract per-element atom energies: null (total energy), omol (UMA), oracle (the backend's own), custom"},
    {"reward.energy_atom_ref_values", L, 1, "null", NULL, NULL, "[Elign-C] atom energies in eV indexed by Z-1 (H first) for energy_atom_refs = custom"},
    {"reward.oracle_failure", E, 0, "min_margin", NULL, "min_margin|reference", "[Elign-C] a molecule the oracle could not evaluate gets the worst value of its frame minus oracle_failure_margin (min_margin), or the public fallback forces (5,0,0) eV/Å and energy 0 (reference); docs/fed-grpo.md D1"},
    {"reward.oracle_failure_margin", F, 0, "1.0", "[0,inf)", NULL, "[Elign-C] margin below the worst evaluated molecule of min_margin (reward units)"},
    {"reward.clash_distance", F, 1, "null", "(0,inf)", NULL, "[Elign-C] clash guard: a molecule with two atoms closer than this (Å) is never sent to the oracle; it is flagged (overlap) and rewarded as an oracle failure, so a policy cannot exploit an MLFF where it extrapolates (0.7 Å suits QM9/GEOM; null = off, as the reference)"},

    /* ---- reward.shaping (public Elign, §4.6) ---- */
    {"reward.shaping.enabled", B, 0, "false", NULL, NULL, "evaluate the oracle on z0 predictions along the trajectory (PBRS)"},
    {"reward.shaping.mode", E, 0, "delta", NULL,
     "delta|pbrs_return_to_go|pbrs>pbrs_return_to_go|return_to_go>pbrs_return_to_go|paper>pbrs_return_to_go",
     "delta: per-step potential differences; pbrs_return_to_go: paper Eq. 4 return-to-go"},
    {"reward.shaping.gamma", F, 0, "1.0", "[0,1]", NULL, "PBRS discount"},
    {"reward.shaping.skip_prefix", I, 0, "0", "[0,inf)", NULL, "first shaped schedule index (default of scheduler.skip_prefix)"},
    {"reward.shaping.only_energy_reshape", B, 0, "false", NULL, NULL, "shape only the energy channel (force stays terminal)"},
    {"reward.shaping.mlff_batch_size", I, 0, "32", "[0,inf)", NULL, "molecules (or molecule-steps) per oracle call in the reward; 0 = 32"},
    {"reward.shaping.terminal_weight", F, 0, "1.5", "[0,inf)", NULL, "weight of the terminal reward when shaping is enabled"},
    {"reward.shaping.scheduler.mode", E, 0, "uniform", NULL, "uniform|adaptive", "which schedule indices are oracle-evaluated"},
    {"reward.shaping.scheduler.skip_prefix", I, 1, "=reward.shaping.skip_prefix", "[0,inf)", NULL, "first evaluated schedule index; also the shared prefix when model.skip_prefix is null"},
    {"reward.shaping.scheduler.uniform_stride", I, 0, "1", "[1,inf)", NULL, "uniform stride in steps (alias: stride)"},
    {"reward.shaping.scheduler.include_terminal", B, 0, "true", NULL, NULL, "always evaluate the decode frame"},
    {"reward.shaping.scheduler.adaptive.coarse_stride", I, 0, "10", "[1,inf)", NULL, "stride at timesteps above the threshold"},
    {"reward.shaping.scheduler.adaptive.fine_stride", I, 0, "2", "[1,inf)", NULL, "stride at timesteps at or below the threshold"},
    {"reward.shaping.scheduler.adaptive.threshold_fraction", F, 0, "0.25", "[0,1]", NULL, "threshold = (T-1) * this when threshold_timestep is null"},
    {"reward.shaping.scheduler.adaptive.threshold_timestep", I, 1, "null", "[0,inf)", NULL, "explicit threshold timestep (null: use threshold_fraction)"},

    /* ---- train (public Elign, §4.9-4.12) ---- */
    {"train.learning_rate", F, 0, REQUIRED, "(0,1]", NULL, "AdamW base learning rate"},
    {"train.adam_beta1", F, 0, REQUIRED, "[0,1)", NULL, "AdamW beta1 (0.9)"},
    {"train.adam_beta2", F, 0, REQUIRED, "[0,1)", NULL, "AdamW beta2 (0.999)"},
    {"train.adam_epsilon", F, 0, REQUIRED, "(0,1)", NULL, "AdamW epsilon (1e-8)"},
    {"train.adam_weight_decay", F, 0, REQUIRED, "[0,inf)", NULL, "AdamW decoupled weight decay (1e-4)"},
    {"train.train_micro_batch_size", I, 0, REQUIRED, "[1,inf)", NULL, "molecules per PPO micro-batch"},
    {"train.max_grad_norm", F, 0, REQUIRED, "(0,inf)", NULL, "global gradient L2-norm clip"},
    {"train.clip_range", F, 0, REQUIRED, "(0,1]", NULL, "PPO ratio clip epsilon: ratio clipped to [1-eps, 1+eps]"},
    {"train.adv_clip_max", F, 1, "5.0", "[0,inf)", NULL, "actor-side clamp [-c, c] of the advantage at every trained step (§4.10); 0 or null = 5 (reference behaviour)"},
    {"train.clip_advantage_value", F, 1, "=train.adv_clip_max", "[0,inf)", NULL, "trainer-side clamp of the group-relative advantages (§4.8; default: train.adv_clip_max); 0 = 5 (docs/fed-grpo.md D4)"},
    {"train.epoch_per_rollout", I, 0, "1", "[1,inf)", NULL, "PPO passes over each iteration's rollouts"},
    {"train.kl_penalty_weight", F, 0, "0.0", "[0,inf)", NULL, "beta of the KL penalty to the frozen pretrained policy"},
    {"train.gradient_accumulation_steps", I, 0, "1", "[1,inf)", NULL, "micro-batches per optimizer step"},
    {"train.loss_mean_over_accumulation", B, 0, "true", NULL, NULL, "[Elign-C] each optimizer step descends the mean loss over the molecules it covers; false = the public per-micro-batch mean / gradient_accumulation_steps (docs/fed-grpo.md D2)"},
    {"train.max_staleness", I, 0, "0", "[0,inf)", NULL, "[Elign-C] policy versions a rollout may lag the weights it is trained on: 0 = strictly on-policy; >= 1 = the next iteration is sampled with the current weights before the update, so the oracle evaluates it while the actors update (staleness 1; larger values act as 1)"},
    {"train.keep_checkpoints", I, 0, "3", "[1,inf)", NULL, "[Elign-C] iteration checkpoints kept in RUN/checkpoints (older ones are deleted)"},
    {"train.force_alignment_enabled", B, 1, "null", NULL, NULL, "force-alignment regularizer (§4.13); null = on iff force_alignment_weight > 0"},
    {"train.force_alignment_weight", F, 0, "0.0", "[0,inf)", NULL, "weight of the force-alignment term"},
    {"train.force_alignment_min_force", F, 0, "0.0001", "[0,inf)", NULL, "atoms with |F| below this are skipped, eV/Å"},
    {"train.force_alignment_min_delta", F, 0, "0.0001", "[0,inf)", NULL, "atoms with |delta mu| below this are skipped (normalized units)"},
    {"train.max_time_hours", F, 1, "null", "(0,inf)", NULL, "stop after this wall time, hours (null: no limit)"},
    {"train.early_stop_metric", S, 1, "null", NULL, NULL, "metric for early stopping (null: off)"},
    {"train.early_stop_mode", E, 0, "max", NULL, "max|min", "whether a larger or smaller early_stop_metric is better"},
    {"train.early_stop_min_delta", F, 0, "0.0", "[0,inf)", NULL, "an improvement must exceed this"},
    {"train.early_stop_patience_minutes", F, 1, "null", "(0,inf)", NULL, "stop after this many wall minutes without improvement (null: off)"},
    {"train.judges", S, 1, "null", NULL, NULL, "[Elign-C] independent judges: comma-separated oracle backends that are not the reward (e.g. \"ani-1ccx, gfn2-xtb\" when the reward is ANI-2x; BACKEND, an ANI model name, ani:MODEL or python:FUNCTION); each scores a fixed sample set every train.judge_every iterations (docs/train.md, Judges); null = none"},
    {"train.judge_every", I, 0, "10", "[1,inf)", NULL, "[Elign-C] iterations between judge rounds"},
    {"train.judge_samples", I, 0, "16", "[1,4096]", NULL, "[Elign-C] molecules of the fixed judge set (sampled with the current weights, the same noise every round)"},
    {"train.judge_seed", I, 0, "20251", "[0,2147483647]", NULL, "[Elign-C] seed of the judge set's noise (its own streams: training is unaffected)"},
    {"train.judge_window", I, 0, "3", "[1,inf)", NULL, "[Elign-C] the alarm compares a judge round with the one this many rounds earlier"},
    {"train.judge_reward_min_rise", F, 0, "0.0", "[0,inf)", NULL, "[Elign-C] the reward (mean reward_mean since the previous round) counts as improved over the window when it rose by more than this"},
    {"train.judge_energy_tolerance", F, 0, "0.05", "[0,inf)", NULL, "[Elign-C] alarm when the reward improved while a judge's mean atomization energy per atom (energy minus the judge's isolated-atom energies) rose by more than this, eV/atom"},
    {"train.judge_force_tolerance", F, 0, "0.25", "[0,inf)", NULL, "[Elign-C] alarm when the reward improved while a judge's mean RMS force rose by more than this fraction"},
    {"train.judge_failure_rise", F, 0, "0.1", "[0,1]", NULL, "[Elign-C] alarm when the reward improved while the fraction of the set a judge cannot evaluate rose by more than this"},
    {"train.judge_stability_drop", F, 0, "0.1", "[0,1]", NULL, "[Elign-C] alarm when the judge set's molecule stability fell by more than this over the window"},
    {"train.judge_uniqueness_drop", F, 0, "0.1", "[0,1]", NULL, "[Elign-C] alarm when the judge set's uniqueness (distinct valid SMILES / molecules) fell by more than this"},
    {"train.judge_alarm_stop", B, 0, "false", NULL, NULL, "[Elign-C] a firing alarm stops the run (with a checkpoint) instead of only warning"},
    {"train.zero_signal_warn_fraction", F, 0, "0.5", "[0,1]", NULL, "[Elign-C] warn when at least this fraction of the prompt groups has all-zero advantages (no learning signal; metric zero_signal_fraction)..."},
    {"train.zero_signal_warn_iterations", I, 0, "3", "[1,inf)", NULL, "[Elign-C] ...for this many iterations in a row; the warning names the group size and clip settings behind it"},
    {"train.scheduler.name", E, 1, "null", NULL, "cosine|constant|constant_warmup|linear_warmup|wsd|none",
     "LR schedule stepped per optimizer step; null or none = constant lr"},
    {"train.scheduler.warmup_steps", I, 0, "0", "[0,inf)", NULL, "linear warm-up length, optimizer steps (step 0 uses lr = 0)"},
    {"train.scheduler.total_steps", I, 1, "null", "[1,inf)", NULL, "schedule length, optimizer steps (null: dataloader.epoches)"},
    {"train.scheduler.min_lr_ratio", F, 0, "0.0", "[0,1]", NULL, "final lr as a fraction of the base lr"},
    {"train.scheduler.num_cycles", F, 0, "0.5", "(0,inf)", NULL, "cosine cycles over the decay (0.5 = half cosine)"},
    {"train.scheduler.stable_ratio", F, 0, "0.9", "[0,1]", NULL, "wsd: fraction of post-warm-up steps at constant lr"},

    /* ---- [Elign-C] MPI layout ---- */
    {"mpi.oracle_ranks", I, 0, "0", "[0,inf)", NULL, "[Elign-C] ranks serving the oracle; 0 = actors evaluate it in-process"},
    {"mpi.dft_ranks", I, 0, "0", "[0,inf)", NULL, "[Elign-C] ranks running DFT validation; 0 = none"},
    {"mpi.threads_per_rank", I, 0, "0", "[0,1024]", NULL, "[Elign-C] OpenMP threads per rank; 0 = leave OMP_NUM_THREADS"},
    {"mpi.timeout", F, 0, "600", "(0,1e9]", NULL, "[Elign-C] seconds a rank waits for another (an oracle reply, a request, an error agreement) before it ends the job with a message naming the silent rank; must exceed the longest work between two messages (one oracle batch, one sampling phase)"},
    {"mpi.gradient_average", B, 0, "true", NULL, NULL, "[Elign-C] average gradients over learner ranks (the reference never does, §6.1)"},

    /* ---- [Elign-C] reward oracle ---- */
    {"oracle.backend", S, 0, "ani", NULL, NULL, "[Elign-C] energy/force backend: ani, gfn2-xtb, gfn-ff, python, ..."},
    {"oracle.model", E, 0, "ani-2x", NULL, "ani-2x|ani-1x|ani-1ccx|uma-s-1p1|uma-m-1p1", "[Elign-C] model of the backend: ANI (ani) or UMA (python with tools/oracles/uma_oracle.py)"},
    {"oracle.model_dir", S, 1, "null", NULL, NULL, "[Elign-C] ANI model zoo directory (holds resources/ani-2x_8x.info ...)"},
    {"oracle.batch_size", I, 0, "32", "[1,inf)", NULL, "[Elign-C] molecules per oracle batch"},
    {"oracle.python_module", S, 1, "null", NULL, NULL, "[Elign-C] python backend: module to import"},
    {"oracle.python_function", S, 1, "null", NULL, NULL, "[Elign-C] python backend: function (Z, R in Å) -> (E in eV, F in eV/Å)"},
    {"oracle.python_path", S, 1, "null", NULL, NULL, "[Elign-C] python backend: directory prepended to sys.path"},
    {"oracle.scratch_dir", S, 1, "null", NULL, NULL, "[Elign-C] scratch directory for backends that write files (null: $TMPDIR)"},
    {"oracle.time_limit", F, 1, "null", "(0,inf)", NULL, "[Elign-C] per-molecule time limit, s (null: none); a molecule over it is flagged"},
    {"oracle.min_distance", F, 1, "null", "[0,inf)", NULL, "[Elign-C] molecules with two atoms closer than this are flagged (failure fallback), Å; null = the backend's default (0.5 Å; ANI: coincident atoms only), 0 = no check"},
    {"oracle.xtb_retry", E, 0, "etemp+gfn-ff", NULL, "none|etemp|etemp+gfn-ff", "[Elign-C] gfn2-xtb after an SCF failure: retry at oracle.xtb_retry_etemp, then with GFN-FF (each attempt logged); GFN-FF energies are not on GFN2's scale, so an energy reward should use etemp"},
    {"oracle.xtb_retry_etemp", F, 0, "3000.0", "(300,100000]", NULL, "[Elign-C] electronic temperature of the gfn2-xtb retry, K (xtb's default is 300 K)"},

    /* ---- [Elign-C] DFT validation pool ---- */
    {"dft.enabled", B, 0, "false", NULL, NULL, "[Elign-C] run DFT single points on sampled molecules for validation"},
    {"dft.backend", E, 0, "psi4", NULL, "psi4|pyscf", "[Elign-C] DFT program"},
    {"dft.method", S, 0, "b3lyp", NULL, NULL, "[Elign-C] DFT functional"},
    {"dft.basis", S, 0, "6-31g(d)", NULL, NULL, "[Elign-C] basis set"},
    {"dft.time_limit", F, 0, "600.0", "(0,inf)", NULL, "[Elign-C] per-molecule time limit, s"},
    {"dft.max_molecules", I, 0, "16", "[0,inf)", NULL, "[Elign-C] molecules per DFT validation round"},
    {"dft.every", I, 0, "10", "[1,inf)", NULL, "[Elign-C] run a DFT validation round every this many iterations"},

    /* ---- [Elign-C] run directory, data, pretraining ---- */
    {"run.dir", S, 1, "null", NULL, NULL, "[Elign-C] output run directory (null: save_path, else runs/<name>)"},
    {"run.log_every", F, 0, "10.0", "[0,inf)", NULL, "[Elign-C] seconds between progress lines"},
    {"data.path", S, 1, "null", NULL, NULL, "[Elign-C] HDF5 dataset (from `elign data import`) for pretraining and novelty"},
    {"data.train_split", S, 0, "train", NULL, NULL, "[Elign-C] split of data.path that pretraining trains on (`elign data import --split`)"},
    {"data.val_split", S, 1, "valid", NULL, NULL, "[Elign-C] split of data.path for the validation loss (null: no validation)"},
    {"pretrain.lr", F, 0, "0.0001", "(0,1]", NULL, "[Elign-C] pretraining (EDM loss) AdamW learning rate (EDM QM9: 1e-4)"},
    {"pretrain.batch_size", I, 0, "64", "[1,inf)", NULL, "[Elign-C] pretraining molecules per batch (one optimizer step)"},
    {"pretrain.chunk_size", I, 0, "8", "[1,inf)", NULL, "[Elign-C] molecules per gradient chunk, the unit of work of a rank; must divide batch_size; chunk gradients are summed in chunk order, so any rank count up to batch_size/chunk_size gives the same bits"},
    {"pretrain.epochs", I, 0, "100", "[1,inf)", NULL, "[Elign-C] pretraining passes over the train split (used when max_steps is null)"},
    {"pretrain.max_steps", I, 1, "null", "[1,inf)", NULL, "[Elign-C] optimizer steps to train (null: epochs x steps per epoch)"},
    {"pretrain.ema_decay", F, 0, "0.999", "[0,1)", NULL, "[Elign-C] EMA of the weights (0 = no EMA; EDM QM9: 0.9999); evaluation and model.h5 use the EMA"},
    {"pretrain.weight_decay", F, 0, "1e-12", "[0,inf)", NULL, "[Elign-C] pretraining AdamW weight decay"},
    {"pretrain.beta1", F, 0, "0.9", "[0,1)", NULL, "[Elign-C] pretraining AdamW beta1"},
    {"pretrain.beta2", F, 0, "0.999", "[0,1)", NULL, "[Elign-C] pretraining AdamW beta2"},
    {"pretrain.adam_epsilon", F, 0, "1e-8", "(0,1)", NULL, "[Elign-C] pretraining AdamW epsilon"},
    {"pretrain.amsgrad", B, 0, "true", NULL, NULL, "[Elign-C] AdamW with AMSGrad (EDM: true)"},
    {"pretrain.clip_grad", B, 0, "true", NULL, NULL, "[Elign-C] EDM's adaptive gradient clipping: 1.5 mean + 2 std of the last 50 gradient norms"},
    {"pretrain.loss", E, 0, "l2", NULL, "l2|energy", "[Elign-C] position loss: l2 = EDM's epsilon-MSE; energy = the pairwise-distance energy loss of Kaba et al. (SEEDS_NOTES §3) on the predicted clean positions, one-hot and charges keep the MSE"},
    {"pretrain.energy.coeff", E, 0, "exp_dist", NULL, "constant|inv_dist|inv_dist2|exp_dist", "[Elign-C] energy loss pair coefficient g(d) of the data distance: 1, 5/(d+1e-5), 16/(d^2+1e-5) or 42 exp(-d) (the paper's best for EDM)"},
    {"pretrain.energy.k0", F, 0, "1.0", "(0,inf)", NULL, "[Elign-C] energy loss coefficient scale: k_ij = (k0/N) g(d_ij)"},
    {"pretrain.energy.weight", F, 0, "0.05", "(0,inf)", NULL, "[Elign-C] energy loss weight w on w (alpha_t^2/sigma_t^2) E(x_hat, x) (the paper's best for EDM: 0.05)"},
    {"pretrain.data_augmentation", B, 0, "false", NULL, NULL, "[Elign-C] rotate every training molecule at random each time it is seen (EDM's data_augmentation)"},
    {"pretrain.scheduler.name", E, 1, "null", NULL, "cosine|constant|constant_warmup|linear_warmup|wsd|none",
     "[Elign-C] pretraining LR schedule per optimizer step (null or none: constant lr, as EDM)"},
    {"pretrain.scheduler.warmup_steps", I, 0, "0", "[0,inf)", NULL, "[Elign-C] linear warm-up length, optimizer steps"},
    {"pretrain.scheduler.total_steps", I, 1, "null", "[1,inf)", NULL, "[Elign-C] schedule length, optimizer steps (null: the run's total steps)"},
    {"pretrain.scheduler.min_lr_ratio", F, 0, "0.0", "[0,1]", NULL, "[Elign-C] final lr as a fraction of pretrain.lr"},
    {"pretrain.scheduler.num_cycles", F, 0, "0.5", "(0,inf)", NULL, "[Elign-C] cosine cycles over the decay (0.5 = half cosine)"},
    {"pretrain.scheduler.stable_ratio", F, 0, "0.9", "[0,1]", NULL, "[Elign-C] wsd: fraction of post-warm-up steps at constant lr"},
    {"pretrain.log_every", I, 0, "50", "[1,inf)", NULL, "[Elign-C] optimizer steps per metrics line (values averaged over them)"},
    {"pretrain.checkpoint_every", I, 0, "1000", "[1,inf)", NULL, "[Elign-C] optimizer steps between checkpoints (also written at the end and on SIGTERM / SIGUSR1)"},
    {"pretrain.keep_checkpoints", I, 0, "3", "[1,inf)", NULL, "[Elign-C] checkpoints kept in RUN/checkpoints (older ones are deleted)"},
    {"pretrain.eval_every", I, 0, "2000", "[0,inf)", NULL, "[Elign-C] optimizer steps between evaluations of the EMA weights (0: only at the end)"},
    {"pretrain.eval_molecules", I, 1, "null", "[1,inf)", NULL, "[Elign-C] validation molecules per evaluation, the first of data.val_split (null: all)"},
    {"pretrain.eval_samples", I, 0, "0", "[0,inf)", NULL, "[Elign-C] molecules sampled from the EMA weights per evaluation for EDM's atom / molecule stability (0: none); the same seed each time"},
    {"pretrain.eval_sample_steps", I, 1, "null", "[1,100000]", NULL, "[Elign-C] reverse steps of those samples (null: the full chain; fewer must divide diffusion_steps and give lower stability)"},
    {"pretrain.model.n_layers", I, 0, "9", "[1,64]", NULL, "[Elign-C] EGNN equivariant blocks (EDM QM9: 9)"},
    {"pretrain.model.nf", I, 0, "256", "[1,4096]", NULL, "[Elign-C] EGNN hidden width (EDM QM9: 256)"},
    {"pretrain.model.attention", B, 0, "true", NULL, NULL, "[Elign-C] sigmoid attention on messages"},
    {"pretrain.model.tanh", B, 0, "true", NULL, NULL, "[Elign-C] tanh-bounded coordinate updates"},
    {"pretrain.model.coords_range", F, 0, "15.0", "(0,inf)", NULL, "[Elign-C] coordinate update range"},
    {"pretrain.model.norm_constant", F, 0, "1.0", "[0,inf)", NULL, "[Elign-C] coordinate difference normalisation constant"},
    {"pretrain.model.normalization_factor", F, 0, "1.0", "(0,inf)", NULL, "[Elign-C] message aggregation divisor"},
    {"pretrain.model.atom_types", E, 0, "qm9", NULL, "qm9|geom", "[Elign-C] one-hot channels: qm9 = H C N O F + charge channel, geom = EDM's 16 GEOM types"},
    {"pretrain.model.diffusion_steps", I, 0, "1000", "[1,100000]", NULL, "[Elign-C] T0 of the noise schedule"},
    {"pretrain.model.noise_schedule", S, 0, "polynomial_2", NULL, NULL, "[Elign-C] noise schedule (polynomial_<p>)"},
    {"pretrain.model.noise_precision", F, 0, "1e-5", "(0,1)", NULL, "[Elign-C] noise schedule precision"},
};
const int elign_config_schema_len = (int)(sizeof elign_config_schema / sizeof elign_config_schema[0]);

const elign_config_alias elign_config_key_aliases[] = {
    {"reward.shaping.scheduler.stride", "reward.shaping.scheduler.uniform_stride"},
    {NULL, NULL},
};
