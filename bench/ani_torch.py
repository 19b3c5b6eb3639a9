#!/usr/bin/python3
"""ani_torch.py — the PyTorch side of bench_ani: TorchANI itself when a
source checkout is given (--torchani DIR, bench_ani passes $TORCHANI_SRC),
else an ANI ensemble in plain PyTorch written from the project's ANI
specification (spec/ANI.md): same maths as the C engine, TorchANI-style
execution (AEV with autograd, per-species networks per member, forces by
autograd.grad of the summed energy).

TorchANI from source (tested with tag 2.2.4) needs Debian's python3-lark
(its NeuroChem file parser) and python3-importlib-metadata. It is not
installed as a distribution, so its import-time query of its own package
metadata (only used to detect the CUDA AEV extension) is answered here
with "no extension". Its builtin models download their weights; instead
the ensemble is assembled with torchani.neurochem's loaders from the local
model zoo's .info file, which is what its builtin ANI-2x does with the
same files.

Subcommands
  geom  --smiles S --out F.xyz [--seed 42]   RDKit ETKDG + MMFF94 geometry (with H)
  time  --zoo DIR --xyz F.xyz --batch B --threads T --reps R [--sigma 0.05] [--dtype float32]
        [--frames BATCH.xyz] [--torchani SRC]
        prints "TORCH_MS_PER_MOL <value>" (energy + forces, median over reps);
        --frames: the B geometries themselves (multi-frame xyz, e.g. written
        by bench_ani) instead of perturbing --xyz here; with --torchani also
        "TORCH_E_F64 <k> <Ha>" for every molecule, TorchANI in float64
  eval  --zoo DIR --xyz F.xyz [--model ani-2x] [--dtype float64] [--torchani SRC]
        prints the energy (Ha) and forces (Ha/Å) of one molecule
  stream --zoo DIR --xyz MOLS.xyz --out E.npy [--batch 32] [--threads 1] [--torchani SRC]
        what a user's script does instead of `elign oracle`: read a multi-frame
        xyz of mixed molecules, energies + forces in batches of --batch
        (TorchANI's padding: species −1; needs --torchani), write the energies (eV) and forces
        (eV/Å) to E.npy / E.forces.npy; prints "TORCH_STREAM_S <wall s>"
        (reading through writing, the model load excluded)
Units: Å, Hartree, Hartree/Å.
"""
import argparse
import bz2
import math
import os
import statistics
import sys
import time

import numpy as np
import torch

SYMBOLS = ["", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl",
           "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br"]
INFO = {"ani-2x": "ani-2x_8x.info", "ani-1x": "ani-1x_8x.info", "ani-1ccx": "ani-1ccx_8x.info"}


# ---------------------------------------------------------------- model files
def f32_list(text):
    vals = [float(v) for v in text.strip().strip("[]").split(",")]
    return [float(np.float32(v)) for v in vals]  # TorchANI keeps these as float32 (§3)


def read_params(path):
    p = {}
    for line in open(path):
        if "=" not in line:
            continue
        k, v = (s.strip() for s in line.split("=", 1))
        if k in ("Rcr", "Rca"):
            p[k] = float(v)
        elif k in ("EtaR", "ShfR", "EtaA", "Zeta", "ShfA", "ShfZ"):
            p[k] = f32_list(v)
        elif k == "Atyp":
            p[k] = v.strip("[]").split(",")
    return p


def read_sae(path, atyp):
    sae = [0.0] * len(atyp)
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        head, val = line.split("=")
        sym, idx = head.split(",")
        sae[int(idx)] = float(val)
    return sae


def read_nnf(path):
    raw = open(path, "rb").read()
    eq = raw.index(b"=")
    text = bz2.decompress(raw[eq + 2:]).rstrip(b"\0").decode()
    layers = []
    for block in text.split("layer")[1:]:
        body = block[block.index("[") + 1:]
        fields = {}
        for item in body.replace("\n", "").split(";"):
            if "=" in item:
                k, v = item.split("=", 1)
                fields[k.strip()] = v.strip()
        layers.append(fields)
    d = os.path.dirname(path)
    out = []
    for f in layers:
        nodes, block = int(f["nodes"]), int(f["blocksize"])
        act = int(f["activation"])
        assert act in (6, 9), "unsupported activation %d in %s" % (act, path)
        wname = f["weights"][5:].split("[")[0]
        bname = f["biases"][5:].split("[")[0]
        w = np.fromfile(os.path.join(d, wname), dtype="<f4").reshape(nodes, block)
        b = np.fromfile(os.path.join(d, bname), dtype="<f4")
        out.append((torch.from_numpy(w.copy()), torch.from_numpy(b.copy()), act))
    return out


class Model:
    def __init__(self, zoo, name, dtype):
        info = os.path.join(zoo, "resources", INFO.get(name, name))
        base = os.path.dirname(info)
        lines = [l.strip() for l in open(info).read().split("\n")][:4]
        self.p = read_params(os.path.join(base, lines[0]))
        self.atyp = self.p["Atyp"]
        self.sae = read_sae(os.path.join(base, lines[1]), self.atyp)
        self.z_to_s = {SYMBOLS.index(s): i for i, s in enumerate(self.atyp)}
        self.dtype = dtype
        self.members = []
        for k in range(int(lines[3])):
            nets = []
            for s in self.atyp:
                layers = read_nnf(os.path.join(base, "%s%d" % (lines[2], k), "networks", "ANN-%s.nnf" % s))
                nets.append([(w.to(dtype), b.to(dtype), a) for w, b, a in layers])
            self.members.append(nets)
        p = self.p
        self.S = len(self.atyp)
        self.nR, self.nA, self.nZ = len(p["ShfR"]), len(p["ShfA"]), len(p["ShfZ"])
        self.D = self.S * self.nR + self.S * (self.S + 1) // 2 * self.nA * self.nZ
        pair = torch.zeros(self.S, self.S, dtype=torch.long)
        idx = 0
        for a in range(self.S):
            for b in range(a, self.S):
                pair[a, b] = pair[b, a] = idx
                idx += 1
        self.pair = pair

    # ------------------------------------------------------------ AEV (§6)
    def aev(self, species, pos):
        """species (B,N) long, pos (B,N,3) → (B,N,D) in pos.dtype."""
        p, dt = self.p, pos.dtype
        B, N, _ = pos.shape
        S, nR, nA, nZ = self.S, self.nR, self.nA, self.nZ
        shfr = torch.tensor(p["ShfR"], dtype=dt)
        shfa = torch.tensor(p["ShfA"], dtype=dt)
        shfz = torch.tensor(p["ShfZ"], dtype=dt)
        eta_r, eta_a, zeta = p["EtaR"][0], p["EtaA"][0], p["Zeta"][0]
        rcr, rca = p["Rcr"], p["Rca"]

        diff = pos.unsqueeze(2) - pos.unsqueeze(1)  # (B,N,N,3): x_i − x_j
        eye = torch.eye(N, dtype=torch.bool).unsqueeze(0)
        with torch.no_grad():
            d0 = diff.norm(dim=-1)
            rad_mask = (d0 <= rcr) & ~eye
            ang_mask = (d0 <= rca) & ~eye
        # radial: pairs (b, i, j) with r ≤ Rcr, i ≠ j (both directions)
        b_i, i_i, j_i = rad_mask.nonzero(as_tuple=True)
        r = diff[b_i, i_i, j_i].norm(dim=-1)
        fc = 0.5 * torch.cos(math.pi * r / rcr) + 0.5
        t = 0.25 * torch.exp(-eta_r * (r.unsqueeze(-1) - shfr) ** 2) * fc.unsqueeze(-1)
        radial = torch.zeros(B * N * S, nR, dtype=dt)
        row = (b_i * N + i_i) * S + species[b_i, j_i]
        radial = radial.index_add(0, row, t).view(B, N, S * nR)

        # angular: neighbour lists padded to the largest count, then all pairs a<b
        counts = ang_mask.sum(-1)  # (B,N)
        mx = int(counts.max()) if counts.numel() else 0
        P = S * (S + 1) // 2
        angular = torch.zeros(B * N * P, nA * nZ, dtype=dt)
        if mx >= 2:
            order = torch.argsort((~ang_mask).to(torch.int8), dim=-1, stable=True)[..., :mx]  # (B,N,mx)
            valid = torch.arange(mx).view(1, 1, mx) < counts.unsqueeze(-1)
            ta, tb = torch.triu_indices(mx, mx, offset=1)
            tvalid = valid[..., ta] & valid[..., tb]  # (B,N,T)
            bb, cc, tt = tvalid.nonzero(as_tuple=True)
            ja = order[bb, cc, ta[tt]]
            jb = order[bb, cc, tb[tt]]
            v1 = -diff[bb, cc, ja]  # x_a − x_c
            v2 = -diff[bb, cc, jb]
            r1, r2 = v1.norm(dim=-1), v2.norm(dim=-1)
            cos_t = (v1 * v2).sum(-1) / torch.clamp(r1 * r2, min=1e-10)
            theta = torch.acos(0.95 * cos_t)
            A = ((1 + torch.cos(theta.unsqueeze(-1) - shfz)) / 2) ** zeta  # (T,nZ)
            Bp = torch.exp(-eta_a * ((r1 + r2).unsqueeze(-1) / 2 - shfa) ** 2)  # (T,nA)
            C = (0.5 * torch.cos(math.pi * r1 / rca) + 0.5) * (0.5 * torch.cos(math.pi * r2 / rca) + 0.5)
            T = 2 * Bp.unsqueeze(-1) * A.unsqueeze(-2) * C.view(-1, 1, 1)  # (T,nA,nZ): p·nZ + q
            rowa = (bb * N + cc) * P + self.pair[species[bb, ja], species[bb, jb]]
            angular = angular.index_add(0, rowa, T.reshape(-1, nA * nZ))
        angular = angular.view(B, N, P * nA * nZ)
        return torch.cat([radial, angular], dim=-1)

    # ---------------------------------------------------- networks (§7, §8)
    def energy(self, species, pos):
        """Total energies (B,) in Hartree (SAE in double)."""
        g = self.aev(species, pos)
        B, N, D = g.shape
        flat_s = species.reshape(-1)
        flat_g = g.reshape(-1, D)
        y = torch.zeros(B * N, dtype=pos.dtype)
        for s in range(self.S):
            idx = (flat_s == s).nonzero(as_tuple=True)[0]
            if idx.numel() == 0:
                continue
            x0 = flat_g.index_select(0, idx)
            acc = torch.zeros(idx.numel(), dtype=pos.dtype)
            for nets in self.members:
                h = x0
                for w, b, act in nets[s]:
                    h = torch.nn.functional.linear(h, w, b)
                    if act == 9:
                        h = torch.nn.functional.celu(h, alpha=0.1)
                acc = acc + h.squeeze(-1)
            y = y.index_add(0, idx, acc / len(self.members))
        sae = torch.tensor(self.sae, dtype=torch.float64)[species].sum(-1)
        return y.view(B, N).to(torch.float64).sum(-1) + sae

    def energy_forces(self, species, pos):
        pos = pos.detach().requires_grad_(True)
        e = self.energy(species, pos)
        (g,) = torch.autograd.grad(e.sum(), pos)
        return e.detach(), -g


class TorchANIModel:
    """TorchANI's own BuiltinEnsemble, built from the local zoo (see top)."""

    def __init__(self, src, zoo, name, dtype):
        sys.path.insert(0, os.path.abspath(src))
        try:
            import importlib_metadata
        except ImportError:  # the backport is not installed: TorchANI 2.2.4 gets the standard library's
            import importlib.metadata as importlib_metadata
            sys.modules["importlib_metadata"] = importlib_metadata
        real_metadata = importlib_metadata.metadata

        class _NoProvides:
            def get_all(self, key, default=None):
                return []

        def metadata(dist):
            try:
                return real_metadata(dist)
            except importlib_metadata.PackageNotFoundError:
                return _NoProvides()

        importlib_metadata.metadata = metadata
        import torchani
        from torchani import neurochem
        self.module_path = os.path.dirname(torchani.__file__)
        info = os.path.join(zoo, "resources", INFO.get(name, name))
        base = os.path.dirname(info)
        lines = [l.strip() for l in open(info).read().split("\n")][:4]
        consts = neurochem.Constants(os.path.join(base, lines[0]))
        shifter, sae_dict = neurochem.load_sae(os.path.join(base, lines[1]), return_dict=True)
        nets = neurochem.load_model_ensemble(consts.species, os.path.join(base, lines[2]), int(lines[3]))
        self.model = torchani.models.BuiltinEnsemble(torchani.nn.SpeciesConverter(consts.species),
                                                     torchani.AEVComputer(**consts), nets, shifter,
                                                     consts.species_to_tensor, consts, sae_dict,
                                                     periodic_table_index=True).to(dtype)
        self.z_to_s = {z: z for z in range(1, len(SYMBOLS))}  # takes atomic numbers
        self.dtype = dtype

    def energy_forces(self, species, pos):
        pos = pos.detach().requires_grad_(True)
        e = self.model((species, pos)).energies
        (g,) = torch.autograd.grad(e.sum(), pos)
        return e.detach().to(torch.float64), -g


def make_model(a, dtype):
    if getattr(a, "torchani", None):
        return TorchANIModel(a.torchani, a.zoo, a.model, dtype)
    return Model(a.zoo, a.model, dtype)


# ------------------------------------------------------------------ helpers
def read_frames(path):
    """All frames of a multi-frame xyz file: [(Z list, (n,3) array)]."""
    lines = open(path).read().split("\n")
    out, i = [], 0
    while i < len(lines) and lines[i].strip():
        n = int(lines[i])
        z, xyz = [], []
        for l in lines[i + 2:i + 2 + n]:
            f = l.split()
            z.append(SYMBOLS.index(f[0]))
            xyz.append([float(v) for v in f[1:4]])
        out.append((z, np.array(xyz)))
        i += 2 + n
    return out


def read_xyz(path):
    lines = open(path).read().split("\n")
    n = int(lines[0])
    z, xyz = [], []
    for l in lines[2:2 + n]:
        f = l.split()
        z.append(SYMBOLS.index(f[0]))
        xyz.append([float(v) for v in f[1:4]])
    return z, np.array(xyz)


def cmd_geom(a):
    from rdkit import Chem
    from rdkit.Chem import AllChem
    mol = Chem.AddHs(Chem.MolFromSmiles(a.smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = a.seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise SystemExit("ETKDG embedding failed for %s" % a.smiles)
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    conf = mol.GetConformer()
    with open(a.out, "w") as f:
        f.write("%d\n%s\n" % (mol.GetNumAtoms(), a.smiles))
        for i, atom in enumerate(mol.GetAtoms()):
            p = conf.GetAtomPosition(i)
            f.write("%s %.6f %.6f %.6f\n" % (atom.GetSymbol(), p.x, p.y, p.z))
    return 0


def cmd_time(a):
    torch.set_num_threads(a.threads)
    dtype = torch.float32 if a.dtype == "float32" else torch.float64
    m = make_model(a, dtype)
    z, xyz = read_xyz(a.xyz)
    if a.frames:
        frames = read_frames(a.frames)[:a.batch]
        if len(frames) < a.batch or any(f[0] != z for f in frames):
            raise SystemExit("%s: need %d frames of the molecule in %s" % (a.frames, a.batch, a.xyz))
        pos = np.stack([f[1] for f in frames])
    else:
        rng = np.random.default_rng(a.seed)
        pos = np.stack([xyz + a.sigma * rng.standard_normal(xyz.shape) for _ in range(a.batch)])
    species = torch.tensor([[m.z_to_s[v] for v in z]] * a.batch, dtype=torch.long)
    pos_t = torch.tensor(pos, dtype=dtype)
    for _ in range(2):
        m.energy_forces(species, pos_t)
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        e, f = m.energy_forces(species, pos_t)
        times.append(time.perf_counter() - t0)
    ms = 1e3 * statistics.median(times) / a.batch
    print("TORCH_MS_PER_MOL %.4f" % ms)
    print("TORCH_MS_PER_MOL_BEST %.4f" % (1e3 * min(times) / a.batch))
    if getattr(a, "torchani", None):
        m64 = make_model(a, torch.float64)
        e64, _ = m64.energy_forces(species, torch.tensor(pos, dtype=torch.float64))
        for k, v in enumerate(e64.tolist()):
            print("TORCH_E_F64 %d %.12f" % (k, v))
        print("TORCH_MODULE %s" % m.module_path)
    if a.energies:
        np.savetxt(a.energies, e.numpy(), fmt="%.12f")
    return 0


def cmd_eval(a):
    dtype = torch.float32 if a.dtype == "float32" else torch.float64
    m = make_model(a, dtype)
    z, xyz = read_xyz(a.xyz)
    species = torch.tensor([[m.z_to_s[v] for v in z]], dtype=torch.long)
    e, f = m.energy_forces(species, torch.tensor(xyz[None], dtype=dtype))
    print("ENERGY %.12f" % e.item())
    for row in f[0].tolist():
        print("FORCE %.12e %.12e %.12e" % tuple(row))
    return 0


HARTREE_EV = 27.211386024367243  # ELIGN_HARTREE_EV (oracle/oracle.h)


def cmd_stream(a):
    if not a.torchani:  # the re-implementation takes one composition per batch, no padding
        raise SystemExit("ani_torch.py stream: needs --torchani SRC (mixed batches need TorchANI's padding)")
    torch.set_num_threads(a.threads)
    m = make_model(a, torch.float32)
    t0 = time.perf_counter()
    mols = read_frames(a.xyz)
    energies, forces = [], []
    for b0 in range(0, len(mols), a.batch):
        part = mols[b0:b0 + a.batch]
        width = max(len(z) for z, _ in part)
        species = torch.full((len(part), width), -1, dtype=torch.long)
        pos = torch.zeros((len(part), width, 3), dtype=torch.float32)
        for k, (z, xyz) in enumerate(part):
            species[k, :len(z)] = torch.tensor([m.z_to_s[v] for v in z])
            pos[k, :len(z)] = torch.tensor(xyz, dtype=torch.float32)
        e, f = m.energy_forces(species, pos)
        energies.extend((e * HARTREE_EV).tolist())
        forces.extend((f[k, :len(z)] * HARTREE_EV).numpy() for k, (z, _) in enumerate(part))
    np.save(a.out, np.array(energies))
    np.save(a.out.replace(".npy", ".forces.npy"), np.concatenate(forces))
    print("TORCH_STREAM_S %.4f" % (time.perf_counter() - t0))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("geom")
    g.add_argument("--smiles", required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--seed", type=int, default=42)
    for name in ("time", "eval"):
        t = sub.add_parser(name)
        t.add_argument("--zoo", required=True)
        t.add_argument("--xyz", required=True)
        t.add_argument("--model", default="ani-2x")
        t.add_argument("--dtype", default="float32" if name == "time" else "float64")
        t.add_argument("--torchani", default=None, help="TorchANI source checkout (else the re-implementation)")
        if name == "time":
            t.add_argument("--batch", type=int, default=32)
            t.add_argument("--threads", type=int, default=1)
            t.add_argument("--reps", type=int, default=5)
            t.add_argument("--sigma", type=float, default=0.05)
            t.add_argument("--seed", type=int, default=1)
            t.add_argument("--energies", default=None)
            t.add_argument("--frames", default=None, help="multi-frame xyz with the batch geometries")
    st = sub.add_parser("stream")
    st.add_argument("--zoo", required=True)
    st.add_argument("--xyz", required=True)
    st.add_argument("--out", required=True)
    st.add_argument("--model", default="ani-2x")
    st.add_argument("--batch", type=int, default=32)
    st.add_argument("--threads", type=int, default=1)
    st.add_argument("--torchani", default=None, help="TorchANI source checkout (else the re-implementation)")
    a = ap.parse_args()
    return {"geom": cmd_geom, "time": cmd_time, "eval": cmd_eval, "stream": cmd_stream}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
