"""egnn_torch_ref.py — write an EGNN fixture from the PyTorch reference
(tools/egnn_reference.py) for test_egnn_torch{,_dbl}.

Random weights (torch default init, coord_mlp.4 scaled up so coordinates move)
and a random packed batch; the reference runs in float64 on the padded batch.
Written: <out>/egnn_ref.bin (little-endian float64 blobs) and <out>/egnn_ref.txt,
one line per blob: `name count byte_offset`, plus `config L F H` and `sizes ...`
lines. Blobs: param:<state-dict key>, grad:<key> (dL/dθ of L = Σ W ⊙ ε̂), xh, tau,
W, eps, dxh, h_<l>/x_<l> (packed h, x entering block l; l = L after the last),
h_out (EGNN h output incl. time channel), x_out.

usage: egnn_torch_ref.py OUTDIR [--layers 9 --hidden 256 --in-node-nf 6 --seed 0]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from egnn_reference import Dynamics, pad, unpad  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=9)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--in-node-nf", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    sizes = [6, 11, 3, 9, 1]
    H = a.in_node_nf
    D = 3 + H
    model = Dynamics(in_node_nf=H, hidden=a.hidden, n_layers=a.layers).double()
    with torch.no_grad():
        for k, p in model.named_parameters():
            if k.endswith("coord_mlp.4.weight"):
                p.mul_(30.0)
    N = sum(sizes)
    xh = torch.randn(N, D, dtype=torch.float64)
    xh[:, :3] *= 1.5
    o = 0
    for n in sizes:   # centred positions, as the diffusion feeds them
        xh[o:o + n, :3] -= xh[o:o + n, :3].mean(dim=0)
        o += n
    tau = torch.rand(len(sizes), dtype=torch.float64)
    W = torch.randn(N, D, dtype=torch.float64)

    xh_pad, mask = pad(xh, sizes)
    xh_pad.requires_grad_(True)
    eps_pad, trace = model(xh_pad, tau, mask, trace=True)
    eps = unpad(eps_pad, sizes)
    loss = (W * eps).sum()
    loss.backward()

    blobs = [("xh", xh), ("tau", tau), ("W", W), ("eps", eps.detach()),
             ("dxh", unpad(xh_pad.grad, sizes))]
    for l, (h, x) in enumerate(trace[:-1]):
        blobs.append((f"h_{l}", unpad(h.detach(), sizes)))
        blobs.append((f"x_{l}", unpad(x.detach(), sizes)))
    blobs.append(("h_out", unpad(trace[-1][0].detach(), sizes)))
    blobs.append(("x_out", unpad(trace[-1][1].detach(), sizes)))
    for k, p in model.state_dict().items():
        blobs.append(("param:" + k, p))
    for k, p in model.named_parameters():
        blobs.append(("grad:" + k, p.grad))

    os.makedirs(a.out, exist_ok=True)
    off = 0
    with open(os.path.join(a.out, "egnn_ref.bin"), "wb") as fb, open(os.path.join(a.out, "egnn_ref.txt"), "w") as ft:
        ft.write(f"config {a.layers} {a.hidden} {H}\n")
        ft.write("sizes " + " ".join(str(n) for n in sizes) + "\n")
        for name, t in blobs:
            data = t.detach().contiguous().to(torch.float64).numpy().astype("<f8").tobytes()
            fb.write(data)
            ft.write(f"{name} {t.numel()} {off}\n")
            off += len(data)
    print(f"egnn_torch_ref: {len(blobs)} blobs, {off} bytes, loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
