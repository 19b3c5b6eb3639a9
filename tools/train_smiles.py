#!/usr/bin/python3
"""train_smiles.py — the training-set SMILES that RDKit novelty is measured against.

    train_smiles.py DATASET.h5 -o train_smiles.txt [--split train]

Builds, for every molecule of one split of an Elign-C dataset file (docs/formats.md; made
by `elign data import ... --split split.json`), the list EDM keeps as qm9/temp/
qm9_smiles.pickle (ALGORITHMS.md §3.5): the molecule's bond graph from its geometry by the
QM9 rule, RDKit sanitization, canonical SMILES of the WHOLE molecule (no largest-fragment
step), molecules that fail sanitization dropped. The list is written in split order, one
SMILES per line (repeats kept, like EDM's list), after '#' comment lines saying what it is.
The C side loads it with elign_smiles_set_load (common/chem/smiles_set.h).

The graph follows EDM's build_xae_molecule: float32 positions, torch.cdist distances (its
formula switch above 25 atoms included, by calling it), 100·d rounded to float32 and
compared strictly with the reference lengths + margins 10/5/3 pm, the pair sorted by type,
bonds added for j < i in row-major order. Run it with the same RDKit build as the C shim
(Debian's python3-rdkit, /usr/bin/python3); tests/rdkit.cmake checks it against EDM.
Only H, C, N, O, F molecules (QM9's decoder), as EDM only keeps a QM9 list.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import rdkit
import torch
from rdkit import Chem, RDLogger

# QM9's atom decoder order: H C N O F; pairs below are (lower type, higher type).
QM9_TYPE = {1: 0, 6: 1, 7: 2, 8: 3, 9: 4}
H, C, N, O, F = range(5)
# Reference bond lengths in pm (ALGORITHMS.md §3.2) and their margins.
SINGLE = {(H, H): 74, (H, C): 109, (H, N): 101, (H, O): 96, (H, F): 92, (C, C): 154, (C, N): 147,
          (C, O): 143, (C, F): 135, (N, N): 145, (N, O): 140, (N, F): 136, (O, O): 148, (O, F): 142,
          (F, F): 142}
DOUBLE = {(C, C): 134, (C, N): 129, (C, O): 120, (N, N): 125, (N, O): 121, (O, O): 121}
TRIPLE = {(C, C): 120, (C, N): 116, (C, O): 113, (N, N): 110}
MARGIN_SINGLE, MARGIN_DOUBLE, MARGIN_TRIPLE = 10, 5, 3
BOND_TYPE = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}


def bond_order(pair, pm):
    """Nested thresholds, strict: a double needs the single test, a triple the double."""
    if not pm < SINGLE[pair] + MARGIN_SINGLE:
        return 0
    if pair not in DOUBLE or not pm < DOUBLE[pair] + MARGIN_DOUBLE:
        return 1
    if pair not in TRIPLE or not pm < TRIPLE[pair] + MARGIN_TRIPLE:
        return 2
    return 3


def whole_molecule_smiles(Z, pos):
    """Canonical SMILES of the whole molecule, or None if RDKit cannot sanitize it."""
    types = [QM9_TYPE[int(z)] for z in Z]
    p = torch.tensor(pos, dtype=torch.float32).unsqueeze(0)
    pm = (100 * torch.cdist(p, p, p=2).squeeze(0)).numpy()  # float32, like EDM's 100 * distance
    mol = Chem.RWMol()
    for z in Z:
        mol.AddAtom(Chem.Atom(int(z)))
    for i in range(len(Z)):
        for j in range(i):
            order = bond_order(tuple(sorted((types[i], types[j]))), pm[i, j])
            if order:
                mol.AddBond(i, j, BOND_TYPE[order])
    try:
        Chem.SanitizeMol(mol)
    except ValueError:  # RDKit's sanitization errors, as EDM's mol2smiles catches them
        return None
    return Chem.MolToSmiles(mol)


def read_split(path, split):
    """(Z, positions) of each molecule of the split, in split order."""
    with h5py.File(path, 'r') as f:
        kind = f.attrs.get('elign_format')
        kind = kind.decode() if isinstance(kind, bytes) else kind  # fixed-length strings come back as bytes
        if kind != 'dataset':
            sys.exit('%s: not an Elign-C dataset file (elign_format = %r)' % (path, kind))
        if 'split/' + split not in f:
            have = sorted(f['split'].keys()) if 'split' in f else []
            sys.exit('%s: no split %r (the file has: %s; import with --split)' % (path, split, ', '.join(have) or 'none'))
        index = f['split/' + split][()]
        offsets = f['offsets'][()]
        Z_all = f['atomic_numbers'][()]
        pos_all = f['positions'][()]
    for m in index:
        a, b = offsets[m], offsets[m + 1]
        yield int(m), Z_all[a:b], pos_all[a:b]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('dataset', help='Elign-C dataset file (HDF5) with a /split/<name> index')
    ap.add_argument('-o', '--out', required=True, help='output text file, one SMILES per line')
    ap.add_argument('--split', default='train', help='split name (default: train)')
    args = ap.parse_args()
    RDLogger.DisableLog('rdApp.*')  # one log line per invalid molecule otherwise
    torch.set_num_threads(1)

    smiles, n_mol = [], 0
    for m, Z, pos in read_split(args.dataset, args.split):
        if len(Z) == 0:  # its SMILES would be an empty line
            sys.exit('%s: molecule %d has no atoms' % (args.dataset, m))
        foreign = sorted(set(int(z) for z in Z) - set(QM9_TYPE))
        if foreign:
            sys.exit('%s: molecule %d has element(s) Z=%s outside QM9\'s H, C, N, O, F' %
                     (args.dataset, m, ','.join(map(str, foreign))))
        s = whole_molecule_smiles(Z, pos)
        if s is not None:
            smiles.append(s)
        n_mol += 1

    tmp = '%s.tmp.%d' % (args.out, os.getpid())
    with open(tmp, 'w') as f:
        f.write('# training-set SMILES for RDKit novelty (EDM qm9_smiles rule: whole molecules, invalid dropped)\n')
        f.write('# dataset %s split %s: %d molecules, %d SMILES; RDKit %s\n' %
                (os.path.basename(args.dataset), args.split, n_mol, len(smiles), rdkit.__version__))
        for s in smiles:
            f.write(s + '\n')
    os.replace(tmp, args.out)
    print('%s: %d of %d molecules of split %r sanitized; %d distinct SMILES' %
          (args.out, len(smiles), n_mol, args.split, len(set(smiles))))


if __name__ == '__main__':
    main()
