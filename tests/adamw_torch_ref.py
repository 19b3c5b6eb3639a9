#!/usr/bin/env python3
"""Reference trajectories for tests/test_adamw.c from PyTorch itself.

Writes OUT (little-endian binary, read by test_adamw.c):
  header  int64 n, steps, amsgrad; float64 lr, beta1, beta2, eps, weight_decay, ema_decay
  p0      float32[n]
  per step: g float32[n] (the raw gradient), then
            norm float64, limit float64, clipped int64, g_clipped float32[n],
            and after AdamW + EMA: p, m, v, vmax, ema float32[n] each

The optimizer is torch.optim.AdamW(amsgrad=True); the clipping follows EDM's
utils.gradient_clipping (a queue of the last 50 norms starting at [3000],
limit 1.5*mean + 2*std, torch.nn.utils.clip_grad_norm_ to that limit, the
queue receives min(norm, limit)); the EMA is EDM's old*beta + (1-beta)*new.
Gradients are large on a few steps so that the clipping path is exercised.
"""
import struct
import sys

import numpy as np
import torch


def run(out_path, n=1000, steps=12, lr=1e-3, wd=1e-2, ema_decay=0.9):
    rng = np.random.RandomState(7)
    p = torch.nn.Parameter(torch.tensor(rng.standard_normal(n).astype(np.float32)))
    opt = torch.optim.AdamW([p], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd, amsgrad=True)
    ema = p.detach().clone()
    queue = [3000.0]
    with open(out_path, "wb") as f:
        f.write(struct.pack("<3q6d", n, steps, 1, lr, 0.9, 0.999, 1e-8, wd, ema_decay))
        f.write(p.detach().numpy().astype("<f4").tobytes())
        for s in range(steps):
            scale = 5000.0 if s in (3, 7) else 1.0 + 0.5 * s
            g = (rng.standard_normal(n) * scale / np.sqrt(n)).astype(np.float32)
            # a few exact zeros and tiny values: the eps and max paths
            g[:5] = 0.0
            g[5:10] = 1e-30
            f.write(g.astype("<f4").tobytes())
            p.grad = torch.tensor(g)
            limit = 1.5 * np.mean(queue) + 2 * np.std(queue)
            norm = float(torch.nn.utils.clip_grad_norm_([p], max_norm=limit, norm_type=2.0))
            clipped = norm > limit
            queue.insert(0, float(limit) if clipped else norm)
            if len(queue) > 50:
                queue.pop()
            g_clipped = p.grad.detach().clone()
            opt.step()
            ema = ema * ema_decay + (1 - ema_decay) * p.detach()
            st = opt.state[p]
            f.write(struct.pack("<ddq", norm, limit, int(clipped)))
            f.write(g_clipped.numpy().astype("<f4").tobytes())
            for t in (p.detach(), st["exp_avg"], st["exp_avg_sq"], st["max_exp_avg_sq"], ema):
                f.write(t.numpy().astype("<f4").tobytes())


if __name__ == "__main__":
    run(sys.argv[1])
