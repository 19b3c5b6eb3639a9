"""egnn_reference.py — a PyTorch reference of EDM's EGNN dynamics (ALGORITHMS.md §1).

Written from the spec for Elign-C's tests and benchmarks: padded batches with
node/edge masks (the layout the original uses), dense (B, N, N, ·) pair
tensors, state_dict keys exactly those of §1.8 under the `dynamics.` prefix,
so a checkpoint of the original loads into it (strict=False ignores `buffer`
and `gamma.gamma`).

    model = Dynamics(hidden=256, n_layers=9, in_node_nf=6)
    eps = model(xh, tau, node_mask)            # xh (B,N,3+H), tau (B,), node_mask (B,N)
    eps, trace = model(xh, tau, node_mask, trace=True)   # + per-layer activations

Also: pack/unpack helpers between padded (B,N,·) and packed (Σn,·) layouts.
"""
import torch
from torch import nn


class GCL(nn.Module):
    """Graph convolution with a sigmoid attention gate and a residual node MLP (§1.6)."""

    def __init__(self, hidden, attention=True):
        super().__init__()
        self.attention = attention
        self.edge_mlp = nn.Sequential(nn.Linear(2 * hidden + 2, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.node_mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        if attention:
            self.att_mlp = nn.Sequential(nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, h, pair_attr, node_mask, edge_mask, norm_factor):
        n = h.shape[1]
        hi = h.unsqueeze(2).expand(-1, -1, n, -1)   # receiver i
        hj = h.unsqueeze(1).expand(-1, n, -1, -1)   # neighbour j
        mu = self.edge_mlp(torch.cat([hi, hj, pair_attr], dim=-1))
        if self.attention:
            mu = mu * self.att_mlp(mu)
        agg = (mu * edge_mask).sum(dim=2) / norm_factor
        h = h + self.node_mlp(torch.cat([h, agg], dim=-1))
        return h * node_mask


class EquivariantUpdate(nn.Module):
    """x_i += Σ_j u_ij · tanh(c_ij) · coords_range (§1.7)."""

    def __init__(self, hidden, use_tanh=True, coords_range=15.0):
        super().__init__()
        self.use_tanh = use_tanh
        self.coords_range = coords_range
        last = nn.Linear(hidden, 1, bias=False)
        torch.nn.init.xavier_uniform_(last.weight, gain=0.001)
        self.coord_mlp = nn.Sequential(nn.Linear(2 * hidden + 2, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), last)

    def forward(self, h, x, unit_diff, pair_attr, node_mask, edge_mask, norm_factor):
        n = h.shape[1]
        hi = h.unsqueeze(2).expand(-1, -1, n, -1)
        hj = h.unsqueeze(1).expand(-1, n, -1, -1)
        c = self.coord_mlp(torch.cat([hi, hj, pair_attr], dim=-1))
        f = torch.tanh(c) * self.coords_range if self.use_tanh else c
        step = (unit_diff * f * edge_mask).sum(dim=2) / norm_factor
        return (x + step) * node_mask


class EquivariantBlock(nn.Module):
    def __init__(self, hidden, attention=True, use_tanh=True, coords_range=15.0):
        super().__init__()
        self.gcl_0 = GCL(hidden, attention)
        self.gcl_equiv = EquivariantUpdate(hidden, use_tanh, coords_range)

    def forward(self, h, x, d0, node_mask, edge_mask, norm_constant, norm_factor):
        diff = x.unsqueeze(2) - x.unsqueeze(1)                 # (B,N,N,3): x_i - x_j
        r = (diff ** 2).sum(dim=-1, keepdim=True)              # squared distance (current)
        unit = diff / (torch.sqrt(r + 1e-8) + norm_constant)
        pair_attr = torch.cat([r, d0], dim=-1)                 # [current, initial]
        h = self.gcl_0(h, pair_attr, node_mask, edge_mask, norm_factor)
        x = self.gcl_equiv(h, x, unit, pair_attr, node_mask, edge_mask, norm_factor)
        return h * node_mask, x


class EGNN(nn.Module):
    def __init__(self, node_nf, hidden, n_layers, attention=True, use_tanh=True, coords_range=15.0,
                 norm_constant=1.0, normalization_factor=1.0):
        super().__init__()
        self.n_layers = n_layers
        self.norm_constant = norm_constant
        self.normalization_factor = normalization_factor
        self.embedding = nn.Linear(node_nf, hidden)
        self.embedding_out = nn.Linear(hidden, node_nf)
        for l in range(n_layers):   # every block gets the full coords_range (pitfall §7.1)
            self.add_module(f"e_block_{l}", EquivariantBlock(hidden, attention, use_tanh, coords_range))

    def forward(self, h, x, node_mask, edge_mask, trace=None):
        d0 = ((x.unsqueeze(2) - x.unsqueeze(1)) ** 2).sum(dim=-1, keepdim=True)
        h = self.embedding(h)
        if trace is not None:
            trace.append((h, x))
        for l in range(self.n_layers):
            h, x = getattr(self, f"e_block_{l}")(h, x, d0, node_mask, edge_mask, self.norm_constant,
                                                  self.normalization_factor)
            if trace is not None:
                trace.append((h, x))
        return self.embedding_out(h) * node_mask, x


class EGNNDynamics(nn.Module):
    """φ of §1.3: [x | h] and τ → ε̂ = [v − mean(v) | h_out without time]."""

    def __init__(self, in_node_nf, hidden, n_layers, include_time=True, **kw):
        super().__init__()
        self.in_node_nf = in_node_nf
        self.include_time = include_time
        self.egnn = EGNN(in_node_nf + (1 if include_time else 0), hidden, n_layers, **kw)

    def forward(self, xh, tau, node_mask, trace=None):
        m = node_mask.unsqueeze(-1).to(xh.dtype)                              # (B,N,1)
        n = xh.shape[1]
        eye = torch.eye(n, dtype=xh.dtype, device=xh.device)
        edge_mask = (m.unsqueeze(2) * m.unsqueeze(1)) * (1 - eye).view(1, n, n, 1)   # (B,N,N,1)
        xh = xh * m
        x, h = xh[..., :3], xh[..., 3:]
        if self.include_time:
            h = torch.cat([h, tau.view(-1, 1, 1).expand(-1, n, 1).to(xh.dtype)], dim=-1)
        h_out, x_out = self.egnn(h, x, m, edge_mask, trace)
        if trace is not None:
            trace.append((h_out, x_out))
        v = (x_out - x) * m
        v = torch.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
        mean = v.sum(dim=1, keepdim=True) / m.sum(dim=1, keepdim=True)
        v = v - mean * m
        return torch.cat([v, h_out[..., :self.in_node_nf]], dim=-1)


class Dynamics(nn.Module):
    """Root module so that state_dict keys read `dynamics.egnn.…` as in EDM's checkpoints."""

    def __init__(self, in_node_nf=6, hidden=256, n_layers=9, **kw):
        super().__init__()
        self.dynamics = EGNNDynamics(in_node_nf, hidden, n_layers, **kw)

    def forward(self, xh, tau, node_mask, trace=False):
        if trace:
            t = []
            return self.dynamics(xh, tau, node_mask, t), t
        return self.dynamics(xh, tau, node_mask)


def pad(packed, sizes, fill=0.0):
    """Packed (Σn, C) → padded (B, max n, C) and node mask (B, max n)."""
    B, nmax = len(sizes), max(sizes)
    out = packed.new_full((B, nmax, packed.shape[-1]), fill)
    mask = packed.new_zeros((B, nmax))
    o = 0
    for b, n in enumerate(sizes):
        out[b, :n] = packed[o:o + n]
        mask[b, :n] = 1
        o += n
    return out, mask


def unpad(padded, sizes):
    """Padded (B, max n, C) → packed (Σn, C)."""
    return torch.cat([padded[b, :n] for b, n in enumerate(sizes)], dim=0)
