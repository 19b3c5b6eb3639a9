#!/usr/bin/python3
"""bench_sample.py — sampling throughput: Elign-C vs a PyTorch sampler of the same network.

    /usr/bin/python3 bench/bench_sample.py build/bench/bench_sample [--mols 8] [--steps 10] [--threads 1 2]

Both sides: QM9 architecture (9 blocks, F = 256, attention, tanh), random
weights, the same batch of molecules with 10–29 atoms, STEPS reverse steps
(ancestral DDPM updates, §2.6) + the decode call. The PyTorch side is EDM's
formulation (padded dense batch with node/edge masks, like
EGNN_dynamics_QM9 / EnVariationalDiffusion.sample), written from the spec in
tests/edm_parity.py. torch.set_num_threads equals the C side's
OMP_NUM_THREADS. Prints molecules·steps per second and the ratio.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))


def torch_sampler(sizes, steps, threads):
    import torch
    import edm_parity as ep
    torch.set_num_threads(threads)
    ep.need_torch()
    import tempfile
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
        t0 = time.perf_counter()
        run(steps)
        return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser()
    p.add_argument('binary')
    p.add_argument('--mols', type=int, default=8)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    sizes = [int(x) for x in rng.integers(10, 30, size=a.mols)]
    print(f'QM9 architecture (L=9, F=256); {a.mols} molecules, atoms {sizes}; {a.steps} steps + decode')
    for th in a.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(th), OPENBLAS_NUM_THREADS=str(th))
        out = subprocess.run([a.binary, str(a.steps)] + [str(s) for s in sizes], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        c = float(out[1])
        t = torch_sampler(sizes, a.steps, th)
        calls = a.steps + 1
        print(f'threads {th}: Elign-C {a.mols * calls / c:8.2f} mol·calls/s ({c:.3f} s)   '
              f'PyTorch {a.mols * calls / t:8.2f} mol·calls/s ({t:.3f} s)   ratio {t / c:.2f}x')


if __name__ == '__main__':
    main()
