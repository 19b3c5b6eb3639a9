#!/usr/bin/python3
"""edm_parity.py — PyTorch side of the EDM import / denoise parity tests.

    fixture DIR [--dataset qm9|geom] [--nf F] [--layers L] [--seed S]
        random-weight EnVariationalDiffusion state_dict with EDM's key names
        (torch.save → DIR/generative_model_ema.npy) and DIR/args.pickle, plus an
        Elign-style copy (module.-prefixed, every tensor also under model.) in
        DIR/elign_style.pth.
    states MODEL_DIR OUT.h5 [--T T] [--seed S]
        a "denoise states" file (docs/formats-diffusion.md): random CoM-free
        latents for a few molecules of different sizes and times incl. t = T
        and t = 0 (decode).
    compare MODEL_DIR STATES.h5 DENOISED.h5 [--tol X]
        recompute ε̂, μ, σ, ẑ₀ with a padded-batch PyTorch forward written from
        ALGORITHMS.md §1.3–1.7 and §2.6–2.7 (independent of the C code) and
        compare with `elign denoise` output; prints max deviations, exit 1 on
        mismatch.
    h5equal A.h5 B.h5
        every dataset and attribute of two HDF5 files equal (round trip).
"""
import argparse
import collections
import math
import os
import pickle
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools'))
from edm_import import polynomial_gamma  # noqa: E402  (tools/ is not a package)
import elign_h5  # noqa: E402

torch = None  # imported lazily: it takes seconds, and h5equal/states do not need it


def need_torch():
    global torch
    if torch is None:
        import torch as t
        t.set_num_threads(1)
        torch = t
    return torch


# ---- fixture ------------------------------------------------------------------

def block_shapes(F):
    return [('gcl_0.edge_mlp.0.weight', (F, 2 * F + 2)), ('gcl_0.edge_mlp.0.bias', (F,)),
            ('gcl_0.edge_mlp.2.weight', (F, F)), ('gcl_0.edge_mlp.2.bias', (F,)),
            ('gcl_0.node_mlp.0.weight', (F, 2 * F)), ('gcl_0.node_mlp.0.bias', (F,)),
            ('gcl_0.node_mlp.2.weight', (F, F)), ('gcl_0.node_mlp.2.bias', (F,)),
            ('gcl_0.att_mlp.0.weight', (1, F)), ('gcl_0.att_mlp.0.bias', (1,)),
            ('gcl_equiv.coord_mlp.0.weight', (F, 2 * F + 2)), ('gcl_equiv.coord_mlp.0.bias', (F,)),
            ('gcl_equiv.coord_mlp.2.weight', (F, F)), ('gcl_equiv.coord_mlp.2.bias', (F,)),
            ('gcl_equiv.coord_mlp.4.weight', (1, F))]


def gamma_table(T0=1000, power=2.0, s=1e-5):
    # EDM's polynomial γ table, computed once in tools/edm_import.py
    return need_torch().from_numpy(polynomial_gamma(T0, power, s))


def make_fixture(out_dir, dataset, F, L, seed):
    need_torch()
    g = torch.Generator().manual_seed(seed)
    n_types, charges = (5, True) if dataset == 'qm9' else (16, False)
    n_in = n_types + int(charges) + 1
    sd = collections.OrderedDict()
    sd['buffer'] = torch.zeros(1)
    sd['gamma.gamma'] = gamma_table()

    def lin(name, shape, scale=1.0):
        fan_in = shape[1] if len(shape) == 2 else prev_fan[0]
        if len(shape) == 2:
            prev_fan[0] = shape[1]
        sd[name] = ((torch.rand(shape, generator=g) * 2 - 1) / math.sqrt(fan_in) * scale).float()

    prev_fan = [1]
    lin('dynamics.egnn.embedding.weight', (F, n_in))
    lin('dynamics.egnn.embedding.bias', (F,))
    for l in range(L):
        for suffix, shp in block_shapes(F):
            # a coordinate head large enough to move atoms visibly
            lin(f'dynamics.egnn.e_block_{l}.{suffix}', shp, 0.3 if suffix.endswith('coord_mlp.4.weight') else 1.0)
    lin('dynamics.egnn.embedding_out.weight', (n_in, F))
    lin('dynamics.egnn.embedding_out.bias', (n_in,))
    # EDM's state-dict order: embedding, e_blocks, embedding_out (module registration order)
    order = ['buffer', 'gamma.gamma', 'dynamics.egnn.embedding.weight', 'dynamics.egnn.embedding.bias',
             'dynamics.egnn.embedding_out.weight', 'dynamics.egnn.embedding_out.bias']
    order += [k for k in sd if k.startswith('dynamics.egnn.e_block_')]
    sd = collections.OrderedDict((k, sd[k]) for k in order)
    os.makedirs(out_dir, exist_ok=True)
    torch.save(sd, os.path.join(out_dir, 'generative_model_ema.npy'))
    elign = collections.OrderedDict()
    for k, v in sd.items():
        elign['module.' + k] = v
    for k, v in sd.items():
        elign['module.model.' + k] = v
    torch.save({'model_state_dict': elign, 'epoch': 3}, os.path.join(out_dir, 'elign_style.pth'))
    args = argparse.Namespace(
        exp_name='parity_fixture', model='egnn_dynamics', probabilistic_model='diffusion',
        diffusion_steps=1000, diffusion_noise_schedule='polynomial_2', diffusion_noise_precision=1e-5,
        diffusion_loss_type='l2', n_epochs=1, batch_size=64, lr=1e-4, brute_force=False, actnorm=True,
        break_train_epoch=False, dp=True, condition_time=True, clip_grad=True, trace='hutch', n_layers=L,
        inv_sublayers=1, nf=F, tanh=True, attention=True, norm_constant=1, sin_embedding=False, ode_regularization=1e-3,
        dataset='qm9' if dataset == 'qm9' else 'geom', datadir='qm9/temp', filter_n_atoms=None,
        dequantization='argmax_variational', n_report_steps=1, wandb_usr=None, no_wandb=True, online=True,
        no_cuda=True, save_model=True, generate_epochs=1, num_workers=0, test_epochs=10, data_augmentation=False,
        conditioning=[], resume=None, start_epoch=0, ema_decay=0.9999, augment_noise=0, n_stability_samples=500,
        normalize_factors=[1, 4, 10], remove_h=False, include_charges=charges, visualize_every_batch=1e8,
        normalization_factor=1, aggregation_method='sum', cuda=False, context_node_nf=0, current_epoch=7)
    with open(os.path.join(out_dir, 'args.pickle'), 'wb') as f:
        pickle.dump(args, f)


def load_fixture(model_dir):
    need_torch()
    sd = torch.load(os.path.join(model_dir, 'generative_model_ema.npy'), map_location='cpu')
    with open(os.path.join(model_dir, 'args.pickle'), 'rb') as f:
        args = pickle.load(f)
    return sd, args


# ---- reference forward from the spec (padded batch with masks) ----------------

def egnn(sd, args, h, x, node_mask, edge_mask):
    """§1.4–1.7. h (B,N,Hin), x (B,N,3), node_mask (B,N,1), edge_mask (B,N,N,1)."""
    P = 'dynamics.egnn.'
    silu = torch.nn.functional.silu

    def lin(v, name, bias=True):
        y = v @ sd[P + name + '.weight'].T
        return y + sd[P + name + '.bias'] if bias else y

    d0 = ((x[:, :, None, :] - x[:, None, :, :]) ** 2).sum(-1, keepdim=True)
    h = lin(h, 'embedding')
    B, N, F = h.shape
    for l in range(args.n_layers):
        e = f'e_block_{l}.'
        diff = x[:, :, None, :] - x[:, None, :, :]
        r = (diff ** 2).sum(-1, keepdim=True)
        u = diff / (torch.sqrt(r + 1e-8) + args.norm_constant)
        a = torch.cat([r, d0], -1)
        q = torch.cat([h[:, :, None, :].expand(B, N, N, F), h[:, None, :, :].expand(B, N, N, F), a], -1)
        m = silu(lin(silu(lin(q, e + 'gcl_0.edge_mlp.0')), e + 'gcl_0.edge_mlp.2'))
        gate = torch.sigmoid(lin(m, e + 'gcl_0.att_mlp.0'))
        agg = (m * gate * edge_mask).sum(2) / args.normalization_factor
        h = h + lin(silu(lin(torch.cat([h, agg], -1), e + 'gcl_0.node_mlp.0')), e + 'gcl_0.node_mlp.2')
        h = h * node_mask
        q = torch.cat([h[:, :, None, :].expand(B, N, N, F), h[:, None, :, :].expand(B, N, N, F), a], -1)
        c = lin(silu(lin(silu(lin(q, e + 'gcl_equiv.coord_mlp.0')), e + 'gcl_equiv.coord_mlp.2')),
                e + 'gcl_equiv.coord_mlp.4', bias=False)
        delta = u * torch.tanh(c) * 15.0 * edge_mask
        x = (x + delta.sum(2) / args.normalization_factor) * node_mask
        h = h * node_mask
    return lin(h, 'embedding_out') * node_mask, x


def phi(sd, args, xh, tau, node_mask, edge_mask):
    """§1.3: ε̂ = [v − mean v | h_out[:H]]."""
    xh = xh * node_mask
    x = xh[:, :, :3]
    h = xh[:, :, 3:]
    B, N, _ = xh.shape
    h = torch.cat([h, tau.view(B, 1, 1).expand(B, N, 1)], -1)
    h_out, x_out = egnn(sd, args, h, x, node_mask, edge_mask)
    v = (x_out - x) * node_mask
    h_out = h_out[:, :, :-1]
    v = torch.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
    n = node_mask.sum(1, keepdim=True)
    v = v - (v.sum(1, keepdim=True) / n) * node_mask
    return torch.cat([v, h_out], -1)


def reference(sd, args, z, offsets, t, s, T):
    gamma = sd['gamma.gamma']
    B = len(offsets) - 1
    sizes = [offsets[b + 1] - offsets[b] for b in range(B)]
    N = max(sizes)
    D = z.shape[1]
    zp = torch.zeros(B, N, D)
    node_mask = torch.zeros(B, N, 1)
    for b in range(B):
        zp[b, :sizes[b]] = torch.from_numpy(z[offsets[b]:offsets[b + 1]])
        node_mask[b, :sizes[b]] = 1
    edge_mask = (node_mask[:, :, None, :] * node_mask[:, None, :, :]) * (1 - torch.eye(N)).view(1, N, N, 1)
    t_f = torch.tensor(t, dtype=torch.int64)
    s_f = torch.tensor(s, dtype=torch.int64)
    tau_t = t_f / T  # float32, as EDM's t_int / T
    tau_s = s_f / T
    look = lambda tau: gamma[torch.round(tau * 1000).long()]
    g_t, g_s = look(tau_t), look(tau_s)
    eps = phi(sd, args, zp, tau_t.float(), node_mask, edge_mask)
    sp = torch.nn.functional.softplus
    ls = torch.nn.functional.logsigmoid
    sigma2_ts = -torch.expm1(sp(g_s) - sp(g_t))
    alpha_ts = torch.exp(0.5 * (ls(-g_t) - ls(-g_s)))
    sigma_ts = torch.sqrt(sigma2_ts)
    sig = lambda g: torch.sqrt(torch.sigmoid(g))
    alp = lambda g: torch.sqrt(torch.sigmoid(-g))
    sigma_t, sigma_s, alpha_t = sig(g_t), sig(g_s), alp(g_t)
    v = lambda a: a.view(B, 1, 1)
    mu = zp / v(alpha_ts) - v(sigma2_ts / alpha_ts / sigma_t) * eps
    sigma = sigma_ts * sigma_s / sigma_t
    zhat0 = 1.0 / v(alpha_t) * (zp - v(sigma_t) * eps)
    # decode rows (t = 0): μ_x = (1/α₀)(z₀ − σ₀ ε̂), σ_x = exp(½γ₀)
    g0 = gamma[0]
    mu_x = 1.0 / alp(g0) * (zp - sig(g0) * eps)
    sigma_x = torch.exp(-(-0.5 * g0))
    dec = (t_f == 0)
    mu = torch.where(v(dec), mu_x, mu)
    zhat0 = torch.where(v(dec), mu_x, zhat0)
    sigma = torch.where(dec, sigma_x.expand(B), sigma)
    unpad = lambda a: np.concatenate([a[b, :sizes[b]].numpy() for b in range(B)])
    return unpad(eps), unpad(mu), sigma.numpy(), unpad(zhat0)


# ---- states / compare ----------------------------------------------------------

def make_states(model_dir, out, T, seed):
    with open(os.path.join(model_dir, 'args.pickle'), 'rb') as f:
        args = pickle.load(f)
    D = 3 + (5 + 1 if args.include_charges else 16)
    rng = np.random.default_rng(seed)
    sizes = [5, 1, 11, 19, 2, 8]
    ts = [T, 3, T // 2, 1, 0, T - 7]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    z = rng.standard_normal((offsets[-1], D)).astype(np.float32)
    for b in range(len(sizes)):
        xs = z[offsets[b]:offsets[b + 1], :3]
        xs -= xs.mean(0, keepdims=True)
    with elign_h5.create(out) as f:
        elign_h5.set_str_attr(f, 'elign_format', 'denoise_states')
        f.attrs.create('elign_format_version', np.int64(elign_h5.FORMAT_VERSION))
        f.attrs.create('T', np.int64(T))
        elign_h5.put_array(f, 'offsets', offsets)
        elign_h5.put_array(f, 'z_t', z)
        elign_h5.put_array(f, 't', np.array(ts, dtype=np.int32))


def compare(model_dir, states, denoised, tol):
    print(f'== {model_dir}: {states} vs {denoised}')
    sd, args = load_fixture(model_dir)
    with h5py.File(states, 'r') as f:
        z = f['z_t'][()]
        offsets = [int(o) for o in f['offsets'][()]]
        t = [int(x) for x in f['t'][()]]
        T = int(f.attrs['T'])
        s = [int(x) for x in f['s'][()]] if 's' in f else [max(x - 1, 0) for x in t]
    with torch.no_grad():
        eps, mu, sigma, zhat0 = reference(sd, args, z, offsets, t, s, T)
    ok = True
    with h5py.File(denoised, 'r') as f:
        for name, ref in (('eps_hat', eps), ('mu', mu), ('sigma', sigma), ('zhat0', zhat0)):
            got = f[name][()]
            if got.shape != ref.shape:
                print(f'{name}: shape {got.shape} vs reference {ref.shape}')
                ok = False
                continue
            dev = np.abs(got.astype(np.float64) - ref.astype(np.float64))
            scale = np.abs(ref).max()
            rel = dev.max() / max(scale, 1e-30)
            print(f'{name}: max |diff| {dev.max():.3g} (max |ref| {scale:.3g}, rel {rel:.3g})')
            if not np.all(dev <= tol * (1 + np.abs(ref))):
                ok = False
                print(f'  MISMATCH beyond {tol} · (1 + |ref|)')
    return ok


def h5equal(a, b):
    diffs = []

    def attrs_equal(x, y, where):
        if set(x.attrs) != set(y.attrs):
            diffs.append(f'{where}: attributes {sorted(x.attrs)} vs {sorted(y.attrs)}')
            return
        for k in x.attrs:
            if k == 'provenance' and where == '/':  # names the rank layout: differs on purpose
                continue
            va, vb = x.attrs[k], y.attrs[k]
            if not np.array_equal(np.asarray(va), np.asarray(vb)):
                diffs.append(f'{where}@{k}: {va!r} vs {vb!r}')

    with h5py.File(a, 'r') as fa, h5py.File(b, 'r') as fb:
        attrs_equal(fa, fb, '/')
        na, nb = [], []
        fa.visit(na.append)
        fb.visit(nb.append)
        if sorted(na) != sorted(nb):
            diffs.append(f'objects differ: {sorted(set(na) ^ set(nb))}')
        for n in na:
            if n not in fb:
                continue
            attrs_equal(fa[n], fb[n], n)
            if isinstance(fa[n], h5py.Dataset):
                if not np.array_equal(fa[n][()], fb[n][()]):
                    diffs.append(f'{n}: contents differ')
    for d in diffs[:10]:
        print(d)
    return not diffs


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    f = sub.add_parser('fixture')
    f.add_argument('dir')
    f.add_argument('--also-geom', metavar='DIR', help='also write a GEOM fixture (nf 16) there')
    f.add_argument('--dataset', default='qm9')
    f.add_argument('--nf', type=int, default=32)
    f.add_argument('--layers', type=int, default=2)
    f.add_argument('--seed', type=int, default=0)
    s = sub.add_parser('states')
    s.add_argument('model_dir')
    s.add_argument('out')
    s.add_argument('--T', type=int, default=1000)
    s.add_argument('--seed', type=int, default=1)
    c = sub.add_parser('compare', help='MODEL_DIR STATES DENOISED [MODEL_DIR STATES DENOISED ...]')
    c.add_argument('triples', nargs='+')
    c.add_argument('--tol', type=float, default=2e-5)
    c.add_argument('--sdequal', nargs=2, metavar=('A', 'B'), help='also: two torch state_dict files equal')
    e = sub.add_parser('h5equal')
    e.add_argument('a')
    e.add_argument('b')
    a = p.parse_args()
    if a.cmd == 'fixture':
        make_fixture(a.dir, a.dataset, a.nf, a.layers, a.seed)
        if a.also_geom:
            make_fixture(a.also_geom, 'geom', 16, a.layers, a.seed + 5)
    elif a.cmd == 'states':
        make_states(a.model_dir, a.out, a.T, a.seed)
    elif a.cmd == 'compare':
        if len(a.triples) % 3:
            p.error('compare takes MODEL_DIR STATES DENOISED triples')
        ok = True
        for i in range(0, len(a.triples), 3):
            ok &= compare(*a.triples[i:i + 3], a.tol)
        if a.sdequal:
            x, y = (need_torch().load(f, map_location='cpu') for f in a.sdequal)
            same = list(x) == list(y) and all(torch.equal(x[k], y[k]) for k in x)
            print(f'state dicts {a.sdequal[0]} and {a.sdequal[1]}: {"equal" if same else "DIFFER"}')
            ok &= same
        return 0 if ok else 1
    elif a.cmd == 'h5equal':
        return 0 if h5equal(a.a, a.b) else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
