#!/usr/bin/python3
"""edm_acceptance.py — compare `elign denoise` with the public EDM code itself.

Not a ctest (it needs a checkout of github ehoogeboom/e3_diffusion_for_molecules,
which is never committed here):

    edm_acceptance.py EDM_CHECKOUT ELIGN_BINARY WORKDIR [--layers 9 --nf 256]

Builds EDM's EnVariationalDiffusion (qm9/models.get_model) from a QM9-like
argparse.Namespace with random weights (PyTorch default init, the coordinate
heads scaled ×30, env ACC_COORD_SCALE, so positions move), torch.save's its state_dict + args.pickle,
imports them with tools/edm_import.py, runs `elign denoise` on fixed latents,
and compares with EDM's own phi (ε̂), sample_p_zs_given_zt's mean and std
(captured from its sample_normal call) and compute_x_pred (ẑ₀). Prints the
max deviations.
"""
import argparse
import os
import pickle
import subprocess
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools'))
import elign_h5  # noqa: E402  (tools/ is not a package)

torch.set_num_threads(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('edm')
    p.add_argument('elign')
    p.add_argument('work')
    p.add_argument('--layers', type=int, default=9)
    p.add_argument('--nf', type=int, default=256)
    p.add_argument('--T', type=int, default=1000)
    a = p.parse_args()
    sys.path.insert(0, a.edm)
    from configs.datasets_config import get_dataset_info
    from qm9.models import get_model

    os.makedirs(a.work, exist_ok=True)
    args = argparse.Namespace(
        model='egnn_dynamics', probabilistic_model='diffusion', diffusion_steps=1000,
        diffusion_noise_schedule='polynomial_2', diffusion_noise_precision=1e-5, diffusion_loss_type='l2',
        n_layers=a.layers, inv_sublayers=1, nf=a.nf, tanh=True, attention=True, norm_constant=1,
        sin_embedding=False, condition_time=True, dataset='qm9', remove_h=False, include_charges=True,
        normalize_factors=[1, 4, 10], normalization_factor=1, aggregation_method='sum', context_node_nf=0,
        conditioning=[], current_epoch=0, exp_name='acceptance')
    info = get_dataset_info('qm9', False)
    torch.manual_seed(0)
    model, nodes_dist, _ = get_model(args, torch.device('cpu'), info, None)
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if name.endswith('coord_mlp.4.weight'):
                prm.mul_(float(os.environ.get("ACC_COORD_SCALE", "30")))
    model.eval()
    wpath = os.path.join(a.work, 'generative_model_ema.npy')
    torch.save(model.state_dict(), wpath)
    with open(os.path.join(a.work, 'args.pickle'), 'wb') as f:
        pickle.dump(args, f)
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools', 'edm_import.py')
    mpath = os.path.join(a.work, 'model.h5')
    subprocess.run([sys.executable, tool, '--args', os.path.join(a.work, 'args.pickle'), '--weights', wpath,
                    '--out', mpath], check=True)

    # fixed latents: B molecules padded to N, CoM-free x
    from equivariant_diffusion import utils as dutils
    sizes = [9, 19, 4, 27, 14]
    ts = [a.T, 701, 300, 101, 1]
    B, N, D = len(sizes), max(sizes), 9
    g = torch.Generator().manual_seed(3)
    node_mask = torch.zeros(B, N, 1)
    for b, n in enumerate(sizes):
        node_mask[b, :n] = 1
    edge_mask = (node_mask.view(B, N, 1) * node_mask.view(B, 1, N)) * (1 - torch.eye(N)).unsqueeze(0)
    edge_mask = edge_mask.view(B * N * N, 1)
    z = torch.randn(B, N, D, generator=g) * node_mask
    z[:, :, :3] = dutils.remove_mean_with_mask(z[:, :, :3], node_mask)
    t = torch.tensor(ts, dtype=torch.float32).view(B, 1)
    s = t - 1
    captured = {}

    def capture(mu, sigma, node_mask, fix_noise=False):
        captured['mu'], captured['sigma'] = mu, sigma
        return mu

    model.sample_normal = capture
    with torch.no_grad():
        eps = model.phi(z, t / a.T, node_mask, edge_mask, None)
        model.sample_p_zs_given_zt(s / a.T, t / a.T, z, node_mask, edge_mask, None)
        gamma_t = model.inflate_batch_array(model.gamma(t / a.T), z)
        x0 = model.compute_x_pred(eps, z, gamma_t)
    unpad = lambda x: np.concatenate([x[b, :n].numpy() for b, n in enumerate(sizes)])
    ref = {'eps_hat': unpad(eps), 'mu': unpad(captured['mu']), 'sigma': captured['sigma'].view(B).numpy(),
           'zhat0': unpad(x0)}
    # the decode p(x, h | z0) on the same latents: μ_x, σ_x, and EDM's decoded atom types
    with torch.no_grad():
        eps0 = model.phi(z, torch.zeros(B, 1), node_mask, edge_mask, None)
        _, hdec = model.sample_p_xh_given_z0(z, node_mask, edge_mask, None)
    ref0 = {'eps_hat': unpad(eps0), 'mu': unpad(captured['mu']), 'sigma': captured['sigma'].reshape(-1)[:1].expand(B).numpy(),
            'zhat0': unpad(captured['mu'])}
    types_ref = np.concatenate([hdec['categorical'][b, :n].argmax(-1).numpy() for b, n in enumerate(sizes)])
    worst = 0.0
    for tag, tvals, reference in (('steps', ts, ref), ('decode', [0] * B, ref0)):
        spath = os.path.join(a.work, f'states_{tag}.h5')
        with elign_h5.create(spath) as f:
            elign_h5.set_str_attr(f, 'elign_format', 'denoise_states')
            f.attrs.create('elign_format_version', np.int64(elign_h5.FORMAT_VERSION))
            f.attrs.create('T', np.int64(a.T))
            elign_h5.put_array(f, 'offsets', np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
            elign_h5.put_array(f, 'z_t', unpad(z).astype(np.float32))
            elign_h5.put_array(f, 't', np.array(tvals, dtype=np.int32))
        opath = os.path.join(a.work, f'denoised_{tag}.h5')
        subprocess.run([a.elign, 'denoise', '--model', mpath, '--in', spath, '--out', opath], check=True)
        with h5py.File(opath, 'r') as f:
            for k, r in reference.items():
                got = f[k][()].astype(np.float64)
                dev = np.abs(got - r)
                rel = dev / (1 + np.abs(r))
                worst = max(worst, rel.max())
                print(f'{tag:6s} {k:8s} max |diff| {dev.max():.3g}  max |diff|/(1+|ref|) {rel.max():.3g}  '
                      f'(max |ref| {np.abs(r).max():.3g})')
    # EDM's decoded types vs the rule diffusion_decode_molecules implements (first argmax of z0[3:3+5])
    ours = unpad(z)[:, 3:8].argmax(-1)
    print(f'EDM sample_p_xh_given_z0 types == argmax rule of diffusion_decode_molecules: {bool((ours == types_ref).all())}')
    print(f'worst relative deviation {worst:.3g}')
    return 0 if worst < 1e-4 else 1


if __name__ == '__main__':
    sys.exit(main())
