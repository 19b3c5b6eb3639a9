"""egnn_torch.py — PyTorch timing of the EGNN dynamics for bench_egnn.c.

Runs the EGNN dynamics (QM9 architecture: 9 layers, 6 node channels; GEOM:
4 layers, 16; F = 256; padded batch with masks as in EDM) on the given
molecule sizes and prints two lines:
    TORCH_LABEL <what was timed>
    TORCH fwd_nograd_ms X fwd_ms Y fwdbwd_ms Z peak_gflops P   (best of --reps after a warm-up;
    P = the best torch.mm 1536³ GFLOP/s measured between the reps, to normalise for machine load)
usage: egnn_torch.py --sizes 12,17,... [--arch qm9|geom] [--threads 1] [--reps 5] [--edm PATH | --no-edm]
                     [--cpu-clock]
The original EDM EGNN_dynamics_QM9 is timed from a local checkout of
ehoogeboom/e3_diffusion_for_molecules (never part of this repository) given
by --edm or the environment variable EDM_SRC; without one (or with
--no-edm), our PyTorch re-implementation tools/egnn_reference.py.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from egnn_reference import Dynamics, pad  # noqa: E402


def edm_version(path):
    """'git <short hash>' of an EDM checkout, or 'EDM_SRC tree' for an exported one."""
    if not os.path.exists(os.path.join(path, ".git")):
        return "EDM_SRC tree"
    try:
        import subprocess
        h = subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        if h.returncode == 0 and h.stdout.strip():
            return "git " + h.stdout.strip()
    except OSError:
        pass
    return "EDM_SRC tree"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--arch", choices=["qm9", "geom"], default="qm9")
    ap.add_argument("--cpu-clock", action="store_true", help="time with process CPU time (1 thread, shared machine)")
    ap.add_argument("--edm", default=os.environ.get("EDM_SRC") or None)
    ap.add_argument("--no-edm", dest="edm", action="store_const", const=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    sizes = [int(s) for s in a.sizes.split(",")]
    H, L = (6, 9) if a.arch == "qm9" else (16, 4)
    D = 3 + H
    N = sum(sizes)
    xh, mask = pad(torch.randn(N, D), sizes)
    tau = torch.rand(len(sizes))
    if a.edm:
        sys.path.insert(0, a.edm)
        from egnn.models import EGNN_dynamics_QM9
        net = EGNN_dynamics_QM9(in_node_nf=H + 1, context_node_nf=0, n_dims=3, hidden_nf=256, n_layers=L,
                                attention=True, condition_time=True, tanh=True, norm_constant=1, inv_sublayers=1,
                                sin_embedding=False, normalization_factor=1, aggregation_method="sum")
        B, n = mask.shape
        nm = mask.unsqueeze(-1)
        em = ((mask.unsqueeze(2) * mask.unsqueeze(1)) * (1 - torch.eye(n))).view(B, n * n, 1)
        run = lambda x: net._forward(tau, x, nm, em, None)
        print(f"TORCH_LABEL original EDM EGNN_dynamics_QM9 ({edm_version(a.edm)})")
    else:
        net = Dynamics(in_node_nf=H, hidden=256, n_layers=L)
        run = lambda x: net(x, tau, mask)
        print("TORCH_LABEL our PyTorch re-implementation (tools/egnn_reference.py)")
    W = torch.randn_like(xh)
    clock = time.process_time if a.cpu_clock else time.perf_counter

    def timed(fn):
        fn()
        best = 1e30
        for _ in range(a.reps):
            t0 = clock()
            fn()
            best = min(best, clock() - t0)
        return 1e3 * best

    def fwd_nograd():
        with torch.no_grad():
            run(xh)

    def fwd():
        run(xh.clone().requires_grad_(True))

    def fwdbwd():
        net.zero_grad()
        x = xh.clone().requires_grad_(True)
        (run(x) * W).sum().backward()

    def peak_gflops():   # torch's own large matmul, same process and moment: normalises machine load
        n = 1536
        a, b = torch.rand(n, n), torch.rand(n, n)
        torch.mm(a, b.t())
        best = 1e30
        for _ in range(5):
            t0 = clock()
            torch.mm(a, b.t())
            best = min(best, clock() - t0)
        return 2.0 * n ** 3 / best * 1e-9

    peak = peak_gflops()
    t = []
    for fn in (fwd_nograd, fwd, fwdbwd):
        t.append(timed(fn))
        peak = max(peak, peak_gflops())
    print(f"TORCH fwd_nograd_ms {t[0]:.3f} fwd_ms {t[1]:.3f} fwdbwd_ms {t[2]:.3f} peak_gflops {peak:.2f}")


if __name__ == "__main__":
    main()
