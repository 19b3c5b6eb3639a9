#!/usr/bin/python3
"""bench_pretrain.py — pretraining throughput (issue 9): `elign pretrain` against
the original EDM training step on the same cores, and data-parallel efficiency.

    /usr/bin/python3 bench/bench_pretrain.py ELIGN DATASET.h5 [--arch qm9like|qm9|demo]
        [--steps 20] [--threads 1,2] [--ranks 2] [--workdir DIR]

Same work on both sides: the architecture of --arch, batches of 64 molecules
of the dataset's train split, EDM's l2 objective with its t = 0 terms, one
backward, gradient-norm clipping, AdamW (amsgrad) and the EMA update per step.

PyTorch side: with EDM_SRC=<checkout of ehoogeboom/e3_diffusion_for_molecules>
the original EnVariationalDiffusion + EGNN_dynamics_QM9 and EDM's own
compute_loss_and_nll / gradient_clipping / EMA, fed padded batches as its
dataloader makes them. Without EDM_SRC the comparison is skipped (there is no
other PyTorch trainer of this network here to compare with).

Elign-C side: `elign pretrain` on the dataset, throughput from the wall time
between two metrics lines (start-up and the first steps excluded). The
data-parallel efficiency is molecules/s with --ranks ranks over --ranks × that
of one rank, every rank with one thread. Prints BENCH lines.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ARCH = {"demo": (4, 64), "qm9like": (6, 128), "qm9": (9, 256)}
BATCH = 64


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def bench_line(**kw):
    keys = ["figure", "what", "ours", "unit", "reference", "reference_program", "ratio", "peak_fraction",
            "peak_gflops", "threads", "batch", "target", "pass"]
    print("BENCH " + json.dumps({k: kw.get(k) for k in keys}), flush=True)


def elign_rate(elign, dataset, arch, steps, threads, ranks, workdir):
    """molecules/s of `elign pretrain` between the metrics line at steps/4 and the last."""
    layers, nf = ARCH[arch]
    run = os.path.join(workdir, f"run_r{ranks}_t{threads}")
    shutil.rmtree(run, ignore_errors=True)
    cfg = os.path.join(workdir, "bench_pretrain.yaml")
    with open(cfg, "w") as f:
        f.write(f"""seed: 1
name: bench_pretrain
run:
  dir: {run}
data:
  path: {dataset}
  train_split: train
  val_split: valid
pretrain:
  lr: 0.0002
  batch_size: {BATCH}
  chunk_size: 8
  max_steps: {steps}
  log_every: {max(1, steps // 4)}
  checkpoint_every: 1000000
  eval_every: 0
  clip_grad: true
  amsgrad: true
  ema_decay: 0.999
  model:
    n_layers: {layers}
    nf: {nf}
    attention: true
    tanh: true
    atom_types: qm9
""")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    cmd = [elign, "--quiet", "pretrain", cfg]
    if ranks > 1:
        cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), "-x", "OMP_NUM_THREADS",
               "-x", "OPENBLAS_NUM_THREADS"] + cmd
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    lines = [json.loads(x) for x in open(os.path.join(run, "metrics.jsonl")) if '"phase": "train"' in x]
    a, b = lines[0], lines[-1]
    return (b["step"] - a["step"]) * BATCH / (b["wall_s"] - a["wall_s"])


def edm_batches(dataset, n_batches):
    """Padded batches as EDM's QM9 dataloader makes them: positions, one-hot, charges, masks."""
    import h5py
    import numpy as np
    import torch
    types = [1, 6, 7, 8, 9]
    with h5py.File(dataset, "r") as f:
        off, pos, Z = f["offsets"][()], f["positions"][()], f["atomic_numbers"][()]
        train = f["split/train"][()]
        hist_n, hist_c = f["nodes_hist/n_atoms"][()], f["nodes_hist/count"][()]
    out = []
    for b in range(n_batches):
        ids = train[(b * BATCH) % len(train):][:BATCH]
        n = max(off[i + 1] - off[i] for i in ids)
        x = torch.zeros(BATCH, n, 3)
        one_hot = torch.zeros(BATCH, n, len(types))
        charges = torch.zeros(BATCH, n, 1)
        node_mask = torch.zeros(BATCH, n, 1)
        for k, i in enumerate(ids):
            m = off[i + 1] - off[i]
            x[k, :m] = torch.tensor(pos[off[i]:off[i + 1]], dtype=torch.float32)
            for a, z in enumerate(Z[off[i]:off[i + 1]]):
                one_hot[k, a, types.index(int(z))] = 1
                charges[k, a, 0] = float(z)
            node_mask[k, :m] = 1
        edge_mask = (node_mask * node_mask.transpose(1, 2)) * (1 - torch.eye(n))[None]
        out.append((x, one_hot, charges, node_mask, edge_mask.view(BATCH * n * n, 1)))
    return out, {int(k): int(c) for k, c in zip(hist_n, hist_c) if c > 0}


def edm_rate(edm, dataset, arch, steps, threads):
    """molecules/s of the original EDM training step (EDM's train_epoch body) after 2 warm-up steps."""
    import copy
    import torch
    sys.path.insert(0, edm)
    from egnn.models import EGNN_dynamics_QM9
    from equivariant_diffusion.en_diffusion import EnVariationalDiffusion
    from equivariant_diffusion import utils as diffusion_utils
    from qm9.models import DistributionNodes
    from qm9 import losses
    import utils as edm_utils
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layers, nf = ARCH[arch]
    in_node_nf = 5 + 1  # one-hot of H C N O F + the charge
    dyn = EGNN_dynamics_QM9(in_node_nf=in_node_nf + 1, context_node_nf=0, n_dims=3, hidden_nf=nf,
                            act_fn=torch.nn.SiLU(), n_layers=layers, attention=True, tanh=True, mode="egnn_dynamics",
                            norm_constant=1, inv_sublayers=1, sin_embedding=False, normalization_factor=1,
                            aggregation_method="sum", device="cpu")
    model = EnVariationalDiffusion(dynamics=dyn, in_node_nf=in_node_nf, n_dims=3, timesteps=1000,
                                   noise_schedule="polynomial_2", noise_precision=1e-5, loss_type="l2",
                                   norm_values=[1, 4, 10], include_charges=True)
    model_ema = copy.deepcopy(model)
    ema = diffusion_utils.EMA(0.999)
    optim = torch.optim.AdamW(model.parameters(), lr=2e-4, amsgrad=True, weight_decay=1e-12)
    queue = edm_utils.Queue()
    queue.add(3000)
    batches, hist = edm_batches(dataset, steps + 2)
    nodes_dist = DistributionNodes(hist)

    class Args:
        probabilistic_model = "diffusion"

    model.train()
    t0 = None
    for k, (x, one_hot, charges, node_mask, edge_mask) in enumerate(batches):
        if k == 2:
            t0 = time.perf_counter()
        optim.zero_grad()
        x = diffusion_utils.remove_mean_with_mask(x, node_mask)
        h = {"categorical": one_hot, "integer": charges}
        nll, _, _ = losses.compute_loss_and_nll(Args, model, nodes_dist, x, h, node_mask, edge_mask, None)
        nll.backward()
        edm_utils.gradient_clipping(model, queue)
        optim.step()
        ema.update_model_average(model_ema, model)
    return steps * BATCH / (time.perf_counter() - t0)


def edm_rate_subprocess(edm, dataset, arch, steps, threads):
    """The PyTorch side in its own process (its threads and allocator apart from ours)."""
    out = subprocess.run([sys.executable, __file__, "--edm-worker", edm, dataset, arch, str(steps), str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--edm-worker":
        _, _, edm, dataset, arch, steps, threads = sys.argv
        with open(os.devnull, "w") as quiet:  # EDM prints every clipped gradient
            saved, sys.stdout = sys.stdout, quiet
            rate = edm_rate(edm, dataset, arch, int(steps), int(threads))
            sys.stdout = saved
        print(rate)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("elign")
    ap.add_argument("dataset")
    ap.add_argument("--arch", default="qm9like", choices=sorted(ARCH))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    edm = os.environ.get("EDM_SRC")
    work = a.workdir or tempfile.mkdtemp(prefix="elign_bench_pretrain")
    os.makedirs(work, exist_ok=True)  # a --workdir that does not exist yet
    layers, nf = ARCH[a.arch]
    print(f"pretraining, {a.arch} architecture ({layers} x {nf}), batch {BATCH}, {a.steps} steps; "
          f"{cpu_name()}")
    rate1 = None
    for th in [int(t) for t in a.threads.split(",")]:
        ours = elign_rate(os.path.abspath(a.elign), os.path.abspath(a.dataset), a.arch, a.steps, th, 1, work)
        if th == 1:
            rate1 = ours
        ref = edm_rate_subprocess(edm, os.path.abspath(a.dataset), a.arch, a.steps, th) if edm else None
        ratio = ours / ref if ref else None
        print(f"threads {th}: elign {ours:.1f} mol/s, original EDM {ref and f'{ref:.1f}'} mol/s, ratio {ratio}")
        bench_line(figure=f"pretrain_mols_per_s_t{th}", what=f"pretraining molecules/s, {a.arch} arch, {th} thread(s)",
                   ours=ours, unit="mol/s", reference=ref,
                   reference_program="original EDM training step (EDM_SRC)" if edm else "none",
                   ratio=ratio, threads=th, batch=BATCH, target=">= 2x",
                   **{"pass": (ratio >= 2) if ratio else None})
    if a.ranks > 1 and rate1:
        rr = elign_rate(os.path.abspath(a.elign), os.path.abspath(a.dataset), a.arch, a.steps, 1, a.ranks, work)
        eff = rr / (a.ranks * rate1)
        print(f"{a.ranks} ranks x 1 thread: {rr:.1f} mol/s, data-parallel efficiency {eff:.2f}")
        bench_line(figure=f"pretrain_dp_eff_{a.ranks}r", what=f"pretraining data-parallel efficiency, {a.ranks} ranks vs 1",
                   ours=eff, unit="efficiency", reference=None, reference_program="elign pretrain on 1 rank",
                   ratio=None, threads=1, batch=BATCH, target=">= 0.85", **{"pass": eff >= 0.85})
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
