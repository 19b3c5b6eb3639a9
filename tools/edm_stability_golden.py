#!/usr/bin/python3
"""edm_stability_golden.py — golden values for Elign-C's stability metric, made by
RUNNING EDM's own metric code (github ehoogeboom/e3_diffusion_for_molecules).

    edm_stability_golden.py --edm EDM_CHECKOUT --data QM9LIKE_DIR --out-dir tests/data

EDM_CHECKOUT is a local copy of the public EDM repository (its Python files
suffice; nothing of it is committed here). QM9LIKE_DIR holds
qm9like_mmff.xyz.gz and split.json (the qm9like data set). Writes:

  stability_qm9like.txt.gz   one line per molecule of qm9like_mmff.xyz.gz, in
      file order: "id stable n_stable_atoms n_atoms", from
      qm9.analyze.check_stability(positions, atom_types, qm9_with_h), and a
      header (# lines) with EDM's pooled aggregates per split from
      qm9.analyze.analyze_stability_for_molecules.
  bond_orders_golden.txt.gz  one line per query "rule t1 t2 distance order":
      rule   qm9  = qm9.bond_analyze.get_bond_order(dec[t1], dec[t2], d)
             geom = geom_predictor((dec[t1], dec[t2]), d)
             geom1 = geom_predictor(..., limit_bonds_to_one=True)
             with d a numpy float32 scalar, as check_stability passes it;
             qm9t / geomt: the same with d a 0-d torch float32 tensor, as
             rdkit_functions.build_xae_molecule passes it (torch.cdist);
      t1 t2  type indices of the GEOM decoder (H B C N O F Al Si P S Cl As Br I Hg Bi);
      distance  float32 in Å written with 9 significant digits (round-trips).
      Queries: every ordered type pair at each of its thresholds (single,
      double, triple, read from both orderings of the tables) and at the
      float32 neighbours around each, plus random distances.

Numerics this reproduces (numpy 1.24, the version this was run with):
positions are parsed as Python floats and cast to float32; check_stability
takes d = sqrt(sum((p1 - p2)**2)) in float32 (the three squares summed left to
right) and get_bond_order multiplies 100 * d, which numpy 1.x promotes to
float64, so the comparison with the integer thresholds is exact. With a torch
tensor d (the RDKit path) 100 * d stays float32. Molecules are used as stored
(not re-centred).

EDM's analyze.py imports matplotlib and scipy for plots it does not use in
the metric; when they are missing here, empty placeholder modules stand in.
"""
import argparse
import gzip
import json
import os
import sys
import types

import numpy as np


def import_edm(edm_dir):
    sys.path.insert(0, os.path.abspath(edm_dir))
    for name in ["matplotlib", "matplotlib.pyplot", "scipy", "scipy.stats"]:
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    mpl = sys.modules["matplotlib"]
    if not hasattr(mpl, "use"):
        mpl.use = lambda *a, **k: None
        mpl.pyplot = sys.modules["matplotlib.pyplot"]
        sys.modules["scipy"].stats = sys.modules["scipy.stats"]
    import warnings
    warnings.simplefilter("ignore", SyntaxWarning)
    from configs.datasets_config import get_dataset_info
    from qm9 import analyze, bond_analyze
    return analyze, bond_analyze, get_dataset_info


def read_xyz_gz(path):
    """(ids, symbols per molecule, float64 positions per molecule) in file order."""
    ids, syms, poss = [], [], []
    with gzip.open(path, "rt") as f:
        while True:
            line = f.readline()
            if not line:
                break
            n = int(line)
            comment = f.readline()
            mol_id = int(comment.split(" id=")[1].split()[0])
            s, p = [], []
            for _ in range(n):
                tok = f.readline().split()
                s.append(tok[0])
                p.append([float(t) for t in tok[1:4]])
            ids.append(mol_id)
            syms.append(s)
            poss.append(np.array(p, dtype=np.float64).reshape(n, 3))
    return ids, syms, poss


def molecule_golden(analyze, info, ids, syms, poss):
    enc = info["atom_encoder"]
    rows = []
    for mol_id, s, p in zip(ids, syms, poss):
        types_ = [enc[a] for a in s]
        stable, n_stable, n = analyze.check_stability(p.astype(np.float32), types_, info)
        rows.append((mol_id, int(bool(stable)), int(n_stable), int(n)))
    return rows


def split_aggregate(analyze, info, idx, syms, poss):
    """EDM's own pooled aggregate over the molecules idx (padded torch batch)."""
    import torch
    enc, nt = info["atom_encoder"], len(info["atom_decoder"])
    nmax = max(len(syms[i]) for i in idx)
    one_hot = torch.zeros(len(idx), nmax, nt)
    x = torch.zeros(len(idx), nmax, 3)
    mask = torch.zeros(len(idx), nmax)
    for b, i in enumerate(idx):
        n = len(syms[i])
        for a, el in enumerate(syms[i]):
            one_hot[b, a, enc[el]] = 1
        x[b, :n] = torch.from_numpy(poss[i].astype(np.float32))
        mask[b, :n] = 1
    analyze.use_rdkit = False  # stability only: the RDKit part wants QM9's training SMILES
    d, _ = analyze.analyze_stability_for_molecules({"one_hot": one_hot, "x": x, "node_mask": mask}, info)
    return d["mol_stable"], d["atm_stable"]


def pair_queries(bond_analyze, decoder, rng, n_random):
    """(t1, t2, float32 distance) queries around every threshold of every pair."""
    tables = [(bond_analyze.bonds1, bond_analyze.margin1), (bond_analyze.bonds2, bond_analyze.margin2),
              (bond_analyze.bonds3, bond_analyze.margin3)]
    out = []
    for t1, a1 in enumerate(decoder):
        for t2, a2 in enumerate(decoder):
            thresholds = set()
            for table, margin in tables:
                for x, y in ((a1, a2), (a2, a1)):
                    if x in table and y in table[x]:
                        thresholds.add(table[x][y] + margin)
            for thr in sorted(thresholds):
                d = np.float32(thr / 100.0)
                cand = [d]
                lo = hi = d
                for _ in range(2):
                    lo = np.nextafter(lo, np.float32(0))
                    hi = np.nextafter(hi, np.float32(10))
                    cand += [lo, hi]
                cand += [np.float32(thr / 100.0 - 1e-4), np.float32(thr / 100.0 + 1e-4)]
                out += [(t1, t2, c) for c in cand]
            for _ in range(n_random):
                out.append((t1, t2, np.float32(rng.uniform(0.6, 3.0))))
    return out


def bond_golden(bond_analyze, qm9_decoder, geom_decoder, seed):
    import torch
    rng = np.random.RandomState(seed)
    rows = []
    # QM9 rule (check_exists=False): only pairs present in bonds1, else EDM raises KeyError.
    geom_index = {a: i for i, a in enumerate(geom_decoder)}
    for t1, t2, d in pair_queries(bond_analyze, qm9_decoder, rng, 4):
        a1, a2 = qm9_decoder[t1], qm9_decoder[t2]
        g1, g2 = geom_index[a1], geom_index[a2]
        rows.append(("qm9", g1, g2, d, bond_analyze.get_bond_order(a1, a2, d)))
        rows.append(("qm9t", g1, g2, d, int(bond_analyze.get_bond_order(a1, a2, torch.tensor(d)))))
    for t1, t2, d in pair_queries(bond_analyze, geom_decoder, rng, 2):
        p = (geom_decoder[t1], geom_decoder[t2])
        rows.append(("geom", t1, t2, d, bond_analyze.geom_predictor(p, d)))
        rows.append(("geom1", t1, t2, d, bond_analyze.geom_predictor(p, d, limit_bonds_to_one=True)))
        rows.append(("geomt", t1, t2, d, int(bond_analyze.geom_predictor(p, torch.tensor(d)))))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edm", required=True, help="local checkout of ehoogeboom/e3_diffusion_for_molecules")
    ap.add_argument("--data", required=True, help="qm9like folder (qm9like_mmff.xyz.gz, split.json)")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--seed", type=int, default=20240917, help="random distances of the pair golden set")
    args = ap.parse_args()

    analyze, bond_analyze, get_dataset_info = import_edm(args.edm)
    qm9 = get_dataset_info("qm9", remove_h=False)
    geom = get_dataset_info("geom", remove_h=False)
    assert qm9["name"] == "qm9" and geom["name"] == "geom"

    ids, syms, poss = read_xyz_gz(os.path.join(args.data, "qm9like_mmff.xyz.gz"))
    assert ids == list(range(len(ids))), "ids are expected to be file positions"
    with open(os.path.join(args.data, "split.json")) as f:
        split = json.load(f)

    rows = molecule_golden(analyze, qm9, ids, syms, poss)
    header = ["# EDM qm9.analyze.check_stability (dataset qm9_with_h) on qm9like_mmff.xyz.gz, positions as stored, float32",
              "# made by tools/edm_stability_golden.py; columns: id stable n_stable_atoms n_atoms"]
    for name in ["train", "valid", "test"]:
        idx = split[name]
        mol, atm = split_aggregate(analyze, qm9, idx, syms, poss)
        n_mol = len(idx)
        n_atoms = sum(rows[i][3] for i in idx)
        header.append(f"# split {name}: molecules {n_mol} stable_molecules {round(mol * n_mol)} "
                      f"atoms {n_atoms} stable_atoms {round(atm * n_atoms)} mol_stable {mol:.6f} atm_stable {atm:.6f}")
        print(header[-1])
    os.makedirs(args.out_dir, exist_ok=True)
    with gzip.GzipFile(os.path.join(args.out_dir, "stability_qm9like.txt.gz"), "wb", mtime=0) as f:
        text = "\n".join(header) + "\n" + "".join(f"{r[0]} {r[1]} {r[2]} {r[3]}\n" for r in rows)
        f.write(text.encode())

    pairs = bond_golden(bond_analyze, qm9["atom_decoder"], geom["atom_decoder"], args.seed)
    with gzip.GzipFile(os.path.join(args.out_dir, "bond_orders_golden.txt.gz"), "wb", mtime=0) as f:
        text = ("# EDM qm9/bond_analyze.py on float32 distances (Angstrom); made by tools/edm_stability_golden.py\n"
                "# columns: rule t1 t2 distance order; t = GEOM decoder index "
                + " ".join(geom["atom_decoder"]) + "\n")
        text += "".join(f"{r} {a} {b} {float(d):.9g} {o}\n" for r, a, b, d, o in pairs)
        f.write(text.encode())
    print(f"{len(rows)} molecules, {len(pairs)} bond-order queries written to {args.out_dir}")


if __name__ == "__main__":
    main()
