#!/usr/bin/python3
"""bench_sample.py — sampling throughput: Elign-C vs the original EDM sampler (or a PyTorch sampler of the same network).

    /usr/bin/python3 bench/bench_sample.py build/bench/bench_sample [--mols 8] [--steps 10] [--threads 1 2]
        [--edm PATH | --no-edm] [--cpu-clock]

Both sides: the EDM QM9 network (9 blocks, F = 256, attention, tanh), random
weights, the same batch of molecules with 10–29 atoms, STEPS reverse steps
(ancestral updates, §2.6) + the decode call, torch.set_num_threads equal to
the C side's OMP_NUM_THREADS / OPENBLAS_NUM_THREADS.

With the original EDM code (--edm PATH or the environment variable EDM_SRC: a
local checkout of ehoogeboom/e3_diffusion_for_molecules, never part of this
repository): EnVariationalDiffusion with EGNN_dynamics_QM9 and STEPS diffusion
steps is built with its own random initialisation, its state_dict is saved and
imported with tools/edm_import.py into an Elign-C model file, and both sample
that same network: EnVariationalDiffusion.sample (masks as in EDM's
qm9/sampling.py) against build/bench/bench_sample --model.
Without it: a PyTorch sampler written from the spec (tests/edm_parity.py,
padded dense batch with masks, EDM's formulation) on the fixture weights,
labelled "our PyTorch re-implementation".

Prints molecules·calls per second, the ratio, and one BENCH line per thread
count (sample_vs_edm_t1, sample_vs_edm_t2).
"""
import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))
TARGET = 5.0  # issue 14: sampling >= 5x the original EDM


CLOCK = time.perf_counter  # time.process_time with --cpu-clock


def torch_sampler(sizes, steps, threads):
    """Our PyTorch re-implementation of EDM's sampler (no EDM checkout)."""
    import torch
    import edm_parity as ep
    torch.set_num_threads(threads)
    ep.need_torch()
    with tempfile.TemporaryDirectory(prefix='elign_bench_fixture') as fixture:
        ep.make_fixture(fixture, 'qm9', 256, 9, 0)
        sd, args = ep.load_fixture(fixture)
    B, N, D = len(sizes), max(sizes), 9
    node_mask = torch.zeros(B, N, 1)
    for b, n in enumerate(sizes):
        node_mask[b, :n] = 1
    edge_mask = (node_mask[:, :, None, :] * node_mask[:, None, :, :]) * (1 - torch.eye(N)).view(1, N, N, 1)
    gamma = sd['gamma.gamma']
    sp, ls = torch.nn.functional.softplus, torch.nn.functional.logsigmoid

    def noise():
        z = torch.randn(B, N, D) * node_mask
        x = z[:, :, :3]
        z[:, :, :3] = x - x.sum(1, keepdim=True) / node_mask.sum(1, keepdim=True) * node_mask
        return z

    def run(T):
        z = noise()
        for s in range(T - 1, -1, -1):
            t = s + 1
            tau_t = torch.full((B,), t / T)
            g_t = gamma[torch.round(tau_t * 1000).long()]
            g_s = gamma[torch.round(torch.full((B,), s / T) * 1000).long()]
            eps = ep.phi(sd, args, z, tau_t, node_mask, edge_mask)
            s2 = -torch.expm1(sp(g_s) - sp(g_t))
            a_ts = torch.exp(0.5 * (ls(-g_t) - ls(-g_s)))
            sig_t, sig_s = torch.sqrt(torch.sigmoid(g_t)), torch.sqrt(torch.sigmoid(g_s))
            v = lambda a: a.view(B, 1, 1)
            mu = z / v(a_ts) - v(s2 / a_ts / sig_t) * eps
            z = mu + v(torch.sqrt(s2) * sig_s / sig_t) * noise()
            z[:, :, :3] -= z[:, :, :3].sum(1, keepdim=True) / node_mask.sum(1, keepdim=True) * node_mask
        eps = ep.phi(sd, args, z, torch.zeros(B), node_mask, edge_mask)
        return z, eps

    with torch.no_grad():
        run(1)  # warm-up
        t0 = CLOCK()
        run(steps)
        return CLOCK() - t0


def edm_version(path):
    if not os.path.exists(os.path.join(path, '.git')):
        return 'EDM_SRC tree'
    r = subprocess.run(['git', '-C', path, 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True)
    return 'git ' + r.stdout.strip() if r.returncode == 0 else 'EDM_SRC tree'


def edm_build(edm_path, steps):
    """The original EnVariationalDiffusion + EGNN_dynamics_QM9 (QM9 settings), random init."""
    import torch
    sys.path.insert(0, edm_path)
    from egnn.models import EGNN_dynamics_QM9
    from equivariant_diffusion.en_diffusion import EnVariationalDiffusion
    torch.manual_seed(0)
    H = 6  # 5 atom types + charge
    dyn = EGNN_dynamics_QM9(in_node_nf=H + 1, context_node_nf=0, n_dims=3, device='cpu', hidden_nf=256,
                            act_fn=torch.nn.SiLU(), n_layers=9, attention=True, tanh=True, mode='egnn_dynamics',
                            norm_constant=1, inv_sublayers=1, sin_embedding=False, normalization_factor=1,
                            aggregation_method='sum')
    return EnVariationalDiffusion(dynamics=dyn, in_node_nf=H, n_dims=3, timesteps=steps,
                                  noise_schedule='polynomial_2', noise_precision=1e-5, loss_type='l2',
                                  norm_values=[1, 4, 10], include_charges=True)


def edm_export_import(model, steps, workdir):
    """Save the EDM model as EDM does (state_dict + args.pickle) and import it with tools/edm_import.py."""
    import torch
    import edm_parity as ep
    ep.make_fixture(workdir, 'qm9', 256, 9, 0)  # args.pickle with EDM's QM9 settings (weights replaced below)
    with open(os.path.join(workdir, 'args.pickle'), 'rb') as f:
        args = pickle.load(f)
    args.diffusion_steps = steps
    with open(os.path.join(workdir, 'args.pickle'), 'wb') as f:
        pickle.dump(args, f)
    torch.save(model.state_dict(), os.path.join(workdir, 'generative_model_ema.npy'))
    out = os.path.join(workdir, 'edm_random.h5')
    subprocess.run([sys.executable, os.path.join(HERE, '..', 'tools', 'edm_import.py'), '--args',
                    os.path.join(workdir, 'args.pickle'), '--weights',
                    os.path.join(workdir, 'generative_model_ema.npy'), '--out', out, '--force'], check=True)
    return out


def edm_sample_time(model, sizes, threads):
    """EnVariationalDiffusion.sample on the batch, masks as in EDM's qm9/sampling.py."""
    import torch
    torch.set_num_threads(threads)
    B, N = len(sizes), max(sizes)
    node_mask = torch.zeros(B, N)
    for i, n in enumerate(sizes):
        node_mask[i, :n] = 1
    edge_mask = node_mask.unsqueeze(1) * node_mask.unsqueeze(2)
    edge_mask *= ~torch.eye(N, dtype=torch.bool).unsqueeze(0)
    edge_mask = edge_mask.view(B * N * N, 1)
    node_mask = node_mask.unsqueeze(2)
    model.eval()
    with torch.no_grad():
        xh = torch.randn(B, N, 9) * node_mask  # warm-up: one network call
        model.phi(xh, torch.zeros(B, 1), node_mask, edge_mask, None)
        t0 = CLOCK()
        model.sample(B, N, node_mask, edge_mask, None)
        return CLOCK() - t0


def bench_line(th, ours_s, ref_s, label, mols, steps):
    ratio = ref_s / ours_s
    return 'BENCH ' + json.dumps({
        'figure': f'sample_vs_edm_t{th}',
        'what': f'sampling {mols} QM9-size molecules, {steps} steps + decode, EDM QM9 network (9 x 256)',
        'ours': round(ours_s, 4), 'unit': 's', 'reference': round(ref_s, 4), 'reference_program': label,
        'ratio': round(ratio, 3), 'peak_fraction': None, 'peak_gflops': None, 'threads': th, 'batch': mols,
        'target': f'>= {TARGET:g}x', 'pass': ratio >= TARGET})


def main():
    p = argparse.ArgumentParser()
    p.add_argument('binary')
    p.add_argument('--mols', type=int, default=8)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--edm', default=os.environ.get('EDM_SRC') or None)
    p.add_argument('--no-edm', dest='edm', action='store_const', const=None)
    p.add_argument('--cpu-clock', action='store_true',
                   help='1-thread runs timed in process CPU time on both sides (a machine shared with other jobs)')
    a = p.parse_args()
    global CLOCK
    if a.edm and not os.path.exists(os.path.join(a.edm, 'egnn', 'models.py')):
        print(f'EDM_SRC={a.edm} has no egnn/models.py: using our PyTorch re-implementation', file=sys.stderr)
        a.edm = None
    rng = np.random.default_rng(a.seed)
    sizes = [int(x) for x in rng.integers(10, 30, size=a.mols)]
    print(f'QM9 architecture (L=9, F=256); {a.mols} molecules, atoms {sizes}; {a.steps} steps + decode')
    with tempfile.TemporaryDirectory(prefix='elign_bench_sample') as work:
        model_args, edm_model, label = [], None, 'our PyTorch re-implementation (tests/edm_parity.py sampler)'
        if a.edm:
            edm_model = edm_build(a.edm, a.steps)
            model_args = ['--model', edm_export_import(edm_model, a.steps, work)]
            label = f'original EDM EnVariationalDiffusion.sample ({edm_version(a.edm)})'
        print(f'reference: {label}')
        for th in a.threads:
            env = dict(os.environ, OMP_NUM_THREADS=str(th), OPENBLAS_NUM_THREADS=str(th))
            out = subprocess.run([a.binary] + model_args + [str(a.steps)] + [str(s) for s in sizes], env=env,
                                 check=True, capture_output=True, text=True).stdout.split()
            cpu = a.cpu_clock and th == 1
            CLOCK = time.process_time if cpu else time.perf_counter
            c = float(out[5]) if cpu else float(out[1])
            t = edm_sample_time(edm_model, sizes, th) if edm_model is not None else torch_sampler(sizes, a.steps, th)
            calls = a.steps + 1
            print(f'threads {th} ({"process CPU time" if cpu else "wall clock"}): Elign-C {a.mols * calls / c:8.2f} mol·calls/s ({c:.3f} s)   '
                  f'reference {a.mols * calls / t:8.2f} mol·calls/s ({t:.3f} s)   ratio {t / c:.2f}x')
            print(bench_line(th, c, t, label, a.mols, a.steps), flush=True)


if __name__ == '__main__':
    main()
