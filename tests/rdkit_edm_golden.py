#!/usr/bin/python3
"""Golden values for the RDKit metrics (tests/rdkit.cmake), made by RUNNING EDM's own code.

    /usr/bin/python3 tests/rdkit_edm_golden.py EDM_DIR SHARED_DIR OUT_DIR [--train-list FILE]

EDM_DIR is a checkout of github ehoogeboom/e3_diffusion_for_molecules (read from there,
never copied into this repository); its qm9/rdkit_functions.py (build_molecule, mol2smiles,
BasicMolecularMetrics) and qm9/bond_analyze.py decide every expected value below. Run it
with Debian's python3-torch and python3-rdkit, the RDKit build the C shim links.

Writes into OUT_DIR:
  qm9like_test.tsv.gz   every molecule of SHARED_DIR/data/qm9like's test split, in split
                        order: id, valid, SMILES as EDM's validity metric gives it (largest
                        fragment), SMILES of the whole molecule (the training-set reference);
                        header lines (#) hold EDM's validity / uniqueness of the split and its
                        novelty against the whole-molecule SMILES of tiny.xyz's molecules.
  edge_cases.txt        hand-made and near-threshold molecules (geometry + EDM's answers).
  cdist.txt             torch.cdist float32 distances (bit patterns) of random molecules on
                        both sides of torch's 25-row switch to the matrix-product formula.
  bond_grid.txt.gz      EDM's bond order for every type pair of QM9's and GEOM's decoders
                        at distances on and next to every threshold.

--train-list FILE additionally builds EDM's training-set list over the train split exactly
as compute_qm9_smiles does (slow: minutes) and compares it line by line with FILE (the
output of tools/train_smiles.py on a dataset imported from the same files).
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import rdkit
import torch
from rdkit import RDLogger

GEOM_DECODER = ['H', 'B', 'C', 'N', 'O', 'F', 'Al', 'Si', 'P', 'S', 'Cl', 'As', 'Br', 'I', 'Hg', 'Bi']
GEOM_Z = [1, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 33, 35, 53, 80, 83]
QM9_Z = [1, 6, 7, 8, 9]


def read_xyz_gz(path):
    """{id: (Z list, float64 positions n x 3)} of an extended XYZ file (plain or gz)."""
    mols = {}
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rt') as f:
        lines = f.read().split('\n')
    k = 0
    sym_z = {'H': 1, 'C': 6, 'N': 7, 'O': 8, 'F': 9}
    while k < len(lines) and lines[k].strip():
        n = int(lines[k])
        comment = lines[k + 1]
        mid = int(comment.split(' id=')[1].split()[0])
        Z, pos = [], []
        for line in lines[k + 2:k + 2 + n]:
            t = line.split()
            Z.append(sym_z[t[0]])
            pos.append([float(t[1]), float(t[2]), float(t[3])])
        mols[mid] = (Z, np.array(pos, dtype=np.float64).reshape(-1, 3))
        k += 2 + n
    return mols


class Edm:
    """EDM's functions, imported from the checkout."""

    def __init__(self, edm_dir):
        sys.path.insert(0, edm_dir)
        from configs.datasets_config import get_dataset_info
        from qm9 import bond_analyze, rdkit_functions
        self.rf = rdkit_functions
        self.ba = bond_analyze
        self.info = {'qm9': get_dataset_info('qm9', False), 'geom': get_dataset_info('geom', False)}

    def types(self, Z, rule):
        dec = self.info[rule]['atom_decoder']
        sym = {z: s for z, s in zip(GEOM_Z, GEOM_DECODER)}
        return torch.tensor([dec.index(sym[z]) for z in Z], dtype=torch.long)

    def graph(self, Z, pos, rule):
        """(positions float32 tensor, atom types) as EDM's samplers hand them over."""
        return torch.tensor(np.asarray(pos, dtype=np.float64).reshape(-1, 3), dtype=torch.float32), self.types(Z, rule)

    def largest(self, Z, pos, rule):
        """EDM's validity path for one molecule: (valid, SMILES)."""
        metrics = self.rf.BasicMolecularMetrics(self.info[rule], dataset_smiles_list=[])
        valid, _ = metrics.compute_validity([self.graph(Z, pos, rule)])
        assert len(valid) <= 1 and (not valid or valid[0] is not None)
        return (1, valid[0]) if valid else (0, '')

    def whole(self, Z, pos, rule):
        """compute_qm9_smiles's per-molecule step: build_molecule + mol2smiles (None = invalid)."""
        p, t = self.graph(Z, pos, rule)
        return self.rf.mol2smiles(self.rf.build_molecule(p, t, self.info[rule]))


def fmt_pos(pos):
    return ' '.join(repr(float(v)) for v in np.asarray(pos, dtype=np.float64).reshape(-1))


# ---- the qm9like test split ------------------------------------------------------------

def write_test_split(edm, shared, out):
    data = os.path.join(shared, 'data', 'qm9like')
    split = json.load(open(os.path.join(data, 'split.json')))
    mols = read_xyz_gz(os.path.join(data, 'qm9like_mmff.xyz.gz'))
    test_ids = split['test']
    rows, generated = [], []
    for mid in test_ids:
        Z, pos = mols[mid]
        valid, largest = edm.largest(Z, pos, 'qm9')
        whole = edm.whole(Z, pos, 'qm9')
        assert (whole is not None) == bool(valid)
        rows.append((mid, valid, largest, whole or ''))
        generated.append(edm.graph(Z, pos, 'qm9'))
    # EDM's aggregate metrics over the whole split, with its reference list taken from
    # tiny.xyz's molecules the way compute_qm9_smiles makes one (whole molecules, Nones out).
    tiny = read_xyz_gz(os.path.join(data, 'tiny.xyz'))
    tiny_list = [s for s in (edm.whole(Z, pos, 'qm9') for Z, pos in tiny.values()) if s is not None]
    metrics = edm.rf.BasicMolecularMetrics(edm.info['qm9'], dataset_smiles_list=tiny_list)
    valid, validity = metrics.compute_validity(generated)
    unique, uniqueness = metrics.compute_uniqueness(valid)
    novel, novelty = metrics.compute_novelty(unique)
    assert valid == [r[2] for r in rows if r[1]]
    with gzip.GzipFile(os.path.join(out, 'qm9like_test.tsv.gz'), 'wb', mtime=0) as gz:
        w = lambda s: gz.write(s.encode())
        w('# EDM (qm9/rdkit_functions.py) on qm9like test split; made by tests/rdkit_edm_golden.py\n')
        w('# rdkit %s torch %s\n' % (rdkit.__version__, torch.__version__))
        w('# n_total %d\n# n_valid %d\n# n_unique %d\n' % (len(generated), len(valid), len(unique)))
        w('# validity %.17g\n# uniqueness %.17g\n' % (validity, uniqueness))
        w('# tiny_train_list %d\n# n_novel_vs_tiny %d\n# novelty_vs_tiny %.17g\n' % (len(tiny_list), len(novel), novelty))
        w('# id\tvalid\tsmiles_largest_fragment\tsmiles_whole\n')
        for mid, v, largest, whole in rows:
            w('%d\t%d\t%s\t%s\n' % (mid, v, largest, whole))
    print('test split: %d molecules, %d valid (%.4f), %d unique (%.4f), novel vs tiny %d (%.4f)' %
          (len(generated), len(valid), validity, len(unique), uniqueness, len(novel), novelty))
    return mols, split


# ---- edge cases ---------------------------------------------------------------------------

def far_apart(fragments):
    """Concatenate (Z, pos) fragments, each shifted 10 Å further along x."""
    Z, pos = [], []
    for k, (z, p) in enumerate(fragments):
        Z += z
        pos += [[x + 10.0 * k, y, w] for x, y, w in p]
    return Z, pos


METHANE = ([6, 1, 1, 1, 1], [[0, 0, 0], [0.629, 0.629, 0.629], [-0.629, -0.629, 0.629],
                             [-0.629, 0.629, -0.629], [0.629, -0.629, -0.629]])
WATER = ([8, 1, 1], [[0, 0, 0], [0.757, 0.586, 0], [-0.757, 0.586, 0]])
HCN = ([1, 6, 7], [[-1.066, 0, 0], [0, 0, 0], [1.156, 0, 0]])
AMMONIA = ([7, 1, 1, 1], [[0, 0, 0], [0.94, 0, 0.38], [-0.47, 0.814, 0.38], [-0.47, -0.814, 0.38]])


def hand_cases():
    cases = []
    add = lambda name, rule, Z, pos: cases.append((name, rule, list(Z), [list(map(float, p)) for p in pos]))
    add('empty', 'qm9', [], [])
    for z in QM9_Z:
        add('lone_%d' % z, 'qm9', [z], [[0.1, -0.2, 0.3]])
    add('methane', 'qm9', *METHANE)
    add('two_fragments_methane_water', 'qm9', *far_apart([WATER, METHANE]))
    add('tie_water_first', 'qm9', *far_apart([WATER, HCN]))
    add('tie_hcn_first', 'qm9', *far_apart([HCN, WATER]))
    # fragments interleaved in atom order: O H C H N H ... the first fragment is the one
    # holding atom 0
    zw, pw = WATER
    zh, ph = HCN
    add('tie_interleaved', 'qm9', [zh[0], zw[0], zh[1], zw[1], zh[2], zw[2]],
        [ph[0], [p + 10 for p in pw[0]], ph[1], [p + 10 for p in pw[1]], ph[2], [p + 10 for p in pw[2]]])
    add('three_fragments', 'qm9', *far_apart([WATER, AMMONIA, METHANE, HCN]))
    # carbon with five hydrogens at 1.09 Å: valence 5, sanitization fails
    add('hypervalent_carbon', 'qm9', [6, 1, 1, 1, 1, 1],
        [[0, 0, 0], [1.09, 0, 0], [-1.09, 0, 0], [0, 1.09, 0], [0, -1.09, 0], [0, 0, 1.09]])
    add('hypervalent_nitrogen', 'qm9', [7, 1, 1, 1, 1],
        [[0, 0, 0], [0.6, 0.6, 0.6], [-0.6, -0.6, 0.6], [-0.6, 0.6, -0.6], [0.6, -0.6, -0.6]])
    add('acetylene', 'qm9', [6, 6, 1, 1], [[0, 0, 0], [1.20, 0, 0], [-1.06, 0, 0], [2.26, 0, 0]])
    add('ethene', 'qm9', [6, 6, 1, 1, 1, 1], [[0, 0, 0], [1.33, 0, 0], [-0.55, 0.93, 0], [-0.55, -0.93, 0],
                                               [1.88, 0.93, 0], [1.88, -0.93, 0]])
    add('h2', 'qm9', [1, 1], [[0, 0, 0], [0.74, 0, 0]])
    # GEOM: every bond single (limit_bonds_to_one), foreign pairs never bonded
    add('geom_ethene_single', 'geom', [6, 6, 1, 1, 1, 1], [[0, 0, 0], [1.33, 0, 0], [-0.55, 0.93, 0],
                                                            [-0.55, -0.93, 0], [1.88, 0.93, 0], [1.88, -0.93, 0]])
    add('geom_acetylene_single', 'geom', [6, 6, 1, 1], [[0, 0, 0], [1.20, 0, 0], [-1.06, 0, 0], [2.26, 0, 0]])
    add('geom_thiol_chloride', 'geom', [16, 6, 17, 1, 1, 1],
        [[0, 0, 0], [1.82, 0, 0], [2.4, 1.66, 0], [-0.3, 1.3, 0], [2.2, -0.5, 0.9], [2.2, -0.5, -0.9]])
    add('geom_hg_unbonded', 'geom', [80, 6, 1, 1, 1, 1], [[0, 0, 0.3], [1.0, 0, 0]] +
        [[1.0 + x, y, z] for x, y, z in METHANE[1][1:]])
    add('geom_lone_bi', 'geom', [83], [[0, 0, 0]])
    add('geom_bromine_boron', 'geom', [35, 5, 1, 1, 1], [[0, 0, 0], [1.9, 0, 0], [2.5, 1.0, 0],
                                                          [2.5, -0.5, 0.9], [2.5, -0.5, -0.9]])
    return cases


def near_threshold_cases(edm, rng):
    """Molecules whose bond decision hangs on the last bits of torch's float32 distance.

    A pair (C-C at its single, double and triple thresholds 1.64, 1.39, 1.23 Å; N-O at
    1.26; H-O at 1.06) is placed within a few float32 ulps of the threshold, at random
    centres and directions, and kept only if
    torch's two cdist formulas (direct, and matrix-product above 25 atoms) disagree on the
    bond order there. Each such pair goes into a 2-atom molecule (direct formula) and into a
    26-atom one with 24 far-away H (matrix-product formula)."""
    cases = []
    found = {'direct': 0, 'mm': 0}
    thresholds = [(6, 6, 1.64), (6, 6, 1.39), (6, 6, 1.23), (7, 8, 1.26), (1, 8, 1.06)]
    hydrogens = [[20.0 + 7.0 * (k % 6), 7.0 * (k // 6), -30.0] for k in range(24)]
    tries = 0
    while min(found.values()) < 12 and tries < 200000:
        tries += 1
        za, zb, thr = thresholds[tries % len(thresholds)]
        centre = rng.uniform(-3, 3, size=3)
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        d = thr + rng.integers(-6, 7) * 1.2e-7
        a, b = centre - 0.5 * d * u, centre + 0.5 * d * u
        pair = torch.tensor(np.array([a, b]), dtype=torch.float32)
        direct = torch.cdist(pair.unsqueeze(0), pair.unsqueeze(0)).squeeze(0)[1, 0]
        big = torch.tensor(np.array([a, b] + hydrogens), dtype=torch.float32)
        mm = torch.cdist(big.unsqueeze(0), big.unsqueeze(0)).squeeze(0)[1, 0]
        sa, sb = GEOM_DECODER[GEOM_Z.index(za)], GEOM_DECODER[GEOM_Z.index(zb)]
        if edm.ba.get_bond_order(sa, sb, direct) == edm.ba.get_bond_order(sa, sb, mm):
            continue
        kind = 'direct' if found['direct'] <= found['mm'] else 'mm'
        if kind == 'direct':
            cases.append(('threshold_direct_%d' % found['direct'], 'qm9', [za, zb], [list(a), list(b)]))
        else:
            cases.append(('threshold_mm_%d' % found['mm'], 'qm9', [za, zb] + [1] * 24,
                          [list(a), list(b)] + hydrogens))
        found[kind] += 1
    return cases


def write_edge_cases(edm, out, rng):
    cases = hand_cases() + near_threshold_cases(edm, rng)
    with open(os.path.join(out, 'edge_cases.txt'), 'w') as f:
        f.write('# EDM answers for hand-made and near-threshold molecules; made by tests/rdkit_edm_golden.py\n')
        f.write('# name rule n | Z... | x y z ... | valid | smiles_largest_fragment | smiles_whole\n')
        for name, rule, Z, pos in cases:
            valid, largest = edm.largest(Z, pos, rule)
            whole = edm.whole(Z, pos, rule)
            assert (whole is not None) == bool(valid)
            f.write('%s %s %d | %s | %s | %d | %s | %s\n' % (name, rule, len(Z), ' '.join(map(str, Z)),
                                                             fmt_pos(pos), valid, largest, whole or ''))
    print('edge cases: %d' % len(cases))


# ---- torch.cdist bit patterns and the bond-order grid -------------------------------------------

def write_cdist(out, rng):
    with open(os.path.join(out, 'cdist.txt'), 'w') as f:
        f.write('# torch %s cdist float32 distances (hex bits, lower triangle row-major) of random molecules\n'
                % torch.__version__)
        f.write('# n | x y z ... | bits of d[i][j], j < i\n')
        for n in [2, 3, 5, 9, 17, 24, 25, 26, 27, 29, 35, 40]:
            pos = np.round(rng.uniform(-4, 4, size=(n, 3)), 6)
            p = torch.tensor(pos, dtype=torch.float32)
            d = torch.cdist(p.unsqueeze(0), p.unsqueeze(0), p=2).squeeze(0).numpy()
            bits = ['%08x' % struct.unpack('<I', struct.pack('<f', d[i, j]))[0] for i in range(n) for j in range(i)]
            f.write('%d | %s | %s\n' % (n, fmt_pos(pos), ' '.join(bits)))


def grid_distances():
    """Distances (float32) on and next to every integer-pm threshold from 60 to 280 pm, plus a
    half-pm grid."""
    ds = set()
    for pm in range(60, 281):
        d = np.float32(pm / 100.0)
        for k in (-2, -1, 0, 1, 2):
            ds.add(float(d + k * np.spacing(d)) if k >= 0 else float(d - (-k) * np.spacing(d)))
    for half in range(120, 600):
        ds.add(float(np.float32(half / 200.0)))
    return sorted(ds)


def write_bond_grid(edm, out):
    ds = grid_distances()
    with gzip.GzipFile(os.path.join(out, 'bond_grid.txt.gz'), 'wb', mtime=0) as gz:
        w = lambda s: gz.write(s.encode())
        w('# EDM bond orders of build_xae_molecule (pair sorted by type; qm9: get_bond_order, '
          'geom: geom_predictor limit_bonds_to_one); made by tests/rdkit_edm_golden.py\n')
        w('distances %d %s\n' % (len(ds), ' '.join('%08x' % struct.unpack('<I', struct.pack('<f', d))[0] for d in ds)))
        dt = [torch.tensor(d, dtype=torch.float32) for d in ds]
        for rule, zs in (('qm9', QM9_Z), ('geom', GEOM_Z)):
            dec = edm.info[rule]['atom_decoder']
            sym = {z: s for z, s in zip(GEOM_Z, GEOM_DECODER)}
            for a in range(len(zs)):
                for b in range(a, len(zs)):
                    s1, s2 = sym[zs[a]], sym[zs[b]]
                    assert dec.index(s1) <= dec.index(s2)
                    if rule == 'qm9':
                        orders = [edm.ba.get_bond_order(s1, s2, d) for d in dt]
                    else:
                        orders = [edm.ba.geom_predictor((s1, s2), d, limit_bonds_to_one=True) for d in dt]
                    w('%s %d %d %s\n' % (rule, zs[a], zs[b], ''.join(str(int(o)) for o in orders)))


# ---- optional: EDM's training-set list vs tools/train_smiles.py ---------------------------------------

def check_train_list(edm, mols, split, path):
    ours = [line.rstrip('\n') for line in open(path) if not line.startswith('#')]
    ref = []
    for k, mid in enumerate(split['train']):
        s = edm.whole(*mols[mid], 'qm9')
        if s is not None:
            ref.append(s)
        if k % 4000 == 0:
            print('  train list: %d / %d' % (k, len(split['train'])), flush=True)
    same = sum(a == b for a, b in zip(ours, ref))
    print('train list: EDM %d SMILES (of %d molecules), tool %d, equal line by line %d%s' %
          (len(ref), len(split['train']), len(ours), same, '' if ours == ref else '  MISMATCH'))
    return ours == ref


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('edm_dir')
    ap.add_argument('shared_dir')
    ap.add_argument('out_dir')
    ap.add_argument('--train-list', help='compare tools/train_smiles.py output with EDM over the train split')
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    edm = Edm(os.path.abspath(args.edm_dir))
    torch.set_num_threads(1)
    RDLogger.DisableLog('rdApp.*')  # one line per invalid molecule otherwise
    rng = np.random.default_rng(20240601)
    mols, split = write_test_split(edm, args.shared_dir, args.out_dir)
    write_edge_cases(edm, args.out_dir, rng)
    write_cdist(args.out_dir, rng)
    write_bond_grid(edm, args.out_dir)
    if args.train_list and not check_train_list(edm, mols, split, args.train_list):
        sys.exit(1)


if __name__ == '__main__':
    main()
