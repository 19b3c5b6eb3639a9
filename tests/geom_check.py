#!/usr/bin/python3
"""GEOM-Drugs msgpack import: test inputs and an independent reference.

  geom_check.py make OUT.msgpack INDEX.json   small file in the drugs_crude.msgpack schema
  geom_check.py check IN.msgpack OUT.h5 [--conformers N] [--max-atoms N] [--drop-unknown]
                      [--split-by conformer|molecule] [--valid F] [--test F]
  geom_check.py same A.h5 B.h5 [--ignore-splits]   identical datasets (h5py)
  geom_check.py big OUT.msgpack MB               a large synthetic file, written map by map

`check` re-reads the msgpack with msgpack-python the way EDM's
build_geom_dataset.py does (Unpacker over the top-level dicts; per SMILES the
conformers argsorted by totalenergy, the first N kept) and compares every
array of the dataset file with h5py. The split is checked for what EDM's
load_split_data guarantees: sizes int(0.1 N), disjoint, complete.
"""
import json
import math
import struct
import sys

import h5py
import msgpack
import numpy as np

GEOM_TYPES = [1, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 33, 35, 53, 80, 83]
PROPS = ["totalenergy", "relativeenergy", "boltzmannweight", "geom_id", "charge"]


# ---- making inputs --------------------------------------------------------------------------------------


def conformer(rng, zs, energy, geom_id, float32=False, int_z=False):
    xyz = []
    for z in zs:
        row = [int(z) if int_z else float(z)] + [float(v) for v in rng.normal(0, 3, 3)]
        if float32:
            row[1:] = [float(np.float32(v)) for v in row[1:]]
        xyz.append(row)
    return {"xyz": xyz, "geom_id": geom_id, "set": 1, "degeneracy": 1, "totalenergy": energy,
            "relativeenergy": 0.0, "boltzmannweight": float(rng.uniform()), "conformerweights": [0.5, 0.5]}


def molecule(rng, zs, energies, first_id, **kw):
    confs = [conformer(rng, zs, e, first_id + i, **kw) for i, e in enumerate(energies)]
    lo = min((e for e in energies if not math.isnan(e)), default=0.0)
    for c in confs:
        if not math.isnan(c["totalenergy"]):
            c["relativeenergy"] = (c["totalenergy"] - lo) * 627.5
    return {"conformers": confs, "totalconfs": len(confs), "uniqueconfs": len(confs), "temperature": 298.15,
            "lowestenergy": lo, "charge": int(rng.integers(-1, 2)), "datasets": ["test"]}


def random_molecule(rng, n_atoms, n_conf, first_id, **kw):
    zs = rng.choice([1, 1, 1, 6, 6, 7, 8, 9, 16, 17, 35], size=n_atoms)
    energies = list(-50.0 - rng.uniform(0, 0.05, n_conf))
    return molecule(rng, zs, energies, first_id, **kw)


def make(out, index_path):
    """Four top-level maps (fixmap, map16, a hand-written map32 header, an
    empty map), with the cases the importer must get right."""
    rng = np.random.default_rng(7)
    maps = [[], [], [], []]
    gid = 1000
    # > 30 conformers with distinct energies in shuffled file order: the 30 lowest, ascending
    e = list(-80.0 + rng.permutation(40) * 1e-3)
    maps[0].append(("CCO_many", molecule(rng, [8, 6, 6, 1, 1, 1, 1, 1, 1], e, gid)))
    gid += 100
    # ties at the cut and a NaN energy: stable order, NaN last (numpy's argsort puts NaN last)
    e = [-10.0] * 3 + [-11.0] * 28 + [float("nan")] + [-12.0] * 2
    maps[0].append(("C_ties", molecule(rng, [6, 1, 1, 1, 1], e, gid)))
    gid += 100
    # an element outside EDM's 16 types (Se, Z = 34): EDM keeps it (all-zero one-hot)
    maps[0].append(("[SeH2]", molecule(rng, [34, 1, 1], [-5.0, -5.1], gid)))
    gid += 100
    # above 181 atoms: dropped by the default --max-atoms 181
    maps[0].append(("C_big", molecule(rng, [6] * 60 + [1] * 125, [-300.0, -300.2], gid)))
    gid += 100
    # no conformers at all
    maps[0].append(("C_none", {"conformers": [], "charge": 0}))
    # exactly 181 atoms: kept
    maps[1].append(("C_181", molecule(rng, [6] * 60 + [1] * 121, [-290.0], gid)))
    gid += 100
    # integer atomic numbers, float32 coordinates, no optional fields
    m = molecule(rng, [7, 1, 1, 1], [-3.0, -3.5, -2.5], gid, float32=True, int_z=True)
    for c in m["conformers"]:
        del c["relativeenergy"], c["boltzmannweight"], c["geom_id"]
    del m["charge"]
    maps[1].append(("N_int", m))
    gid += 100
    for k in range(18):
        maps[1].append((f"rand{k}", random_molecule(rng, int(rng.integers(3, 70)), int(rng.integers(1, 36)), gid)))
        gid += 100
    for k in range(5):
        maps[2].append((f"wide{k}", random_molecule(rng, int(rng.integers(3, 40)), int(rng.integers(1, 5)), gid)))
        gid += 100
    # a SMILES key packed as msgpack bin rather than str
    maps[2].append((b"O_bin", molecule(rng, [8, 1, 1], [-7.0, -7.2, -7.1], gid)))
    index = {"molecules": []}
    with open(out, "wb") as f:
        for i, pairs in enumerate(maps):
            if i == 2:  # map32 header (0xdf), which msgpack-python writes only past 65535 entries
                f.write(b"\xdf" + struct.pack(">I", len(pairs)))
            else:
                f.write(_map_header(len(pairs)))
            for smiles, mol in pairs:
                key_at = f.tell()
                f.write(msgpack.packb(smiles, use_bin_type=True))
                val_at = f.tell()
                f.write(msgpack.packb(mol, use_bin_type=True, use_single_float=False))
                index["molecules"].append({"smiles": smiles if isinstance(smiles, str) else smiles.decode(), "key": key_at, "value": val_at, "end": f.tell()})
        index["size"] = f.tell()
    with open(index_path, "w") as f:
        json.dump(index, f)


def _map_header(n):
    if n < 16:
        return bytes([0x80 | n])
    if n < 65536:
        return b"\xde" + struct.pack(">H", n)
    return b"\xdf" + struct.pack(">I", n)


def big(out, mb):
    """About `mb` MB of GEOM-like molecules (30-80 atoms, 1-60 conformers),
    top-level maps of 1000 molecules like drugs_crude.msgpack."""
    rng = np.random.default_rng(11)
    target = mb * 1_000_000
    gid = 0
    n_mol = 0
    with open(out, "wb") as f:
        while f.tell() < target:
            pairs = []
            for _ in range(1000):
                pairs.append((f"M{n_mol}", random_molecule(rng, int(rng.integers(30, 81)), int(rng.integers(1, 61)), gid)))
                gid += 100
                n_mol += 1
            f.write(msgpack.packb(dict(pairs), use_bin_type=True))
        size = f.tell()
    print(f"{out}: {n_mol} molecules, {size} bytes")


# ---- the reference reading (EDM's rules) -----------------------------------------------------------------


def reference(path, conformers=30, max_atoms=181, drop_unknown=False, stats=None):
    entries = []
    n_read = 0
    stats = {} if stats is None else stats
    for k in ("read", "conformers", "empty", "over", "large", "unknown"):
        stats[k] = 0
    with open(path, "rb") as f:
        for block in msgpack.Unpacker(f, raw=False, strict_map_key=False):
            for smiles, info in block.items():
                if isinstance(smiles, bytes):
                    smiles = smiles.decode()
                mol_index = n_read
                n_read += 1
                confs = info["conformers"]
                stats["read"] += 1
                stats["conformers"] += len(confs)
                stats["over"] += max(0, len(confs) - conformers)
                if not confs:
                    stats["empty"] += 1
                    continue
                energies = np.array([c["totalenergy"] for c in confs], dtype=float)
                order = np.argsort(energies, kind="stable")[:conformers]
                if not np.isnan(energies).any() and len(set(energies.tolist())) == len(energies):
                    # without ties EDM's default argsort gives the same order
                    assert (np.argsort(energies)[:conformers] == order).all()
                for c in order:
                    xyz = np.array(confs[c]["xyz"], dtype=float)
                    if max_atoms and len(xyz) > max_atoms:
                        stats["large"] += 1
                        continue
                    unknown = not np.isin(xyz[:, 0], GEOM_TYPES).all()
                    stats["unknown"] += unknown
                    if drop_unknown and unknown:
                        continue
                    props = [confs[c].get(k, float("nan")) for k in PROPS[:4]] + [info.get("charge", float("nan"))]
                    entries.append({"mol": mol_index, "smiles": smiles, "Z": xyz[:, 0].astype(int),
                                    "pos": xyz[:, 1:], "props": [float(v) for v in props]})
    return entries


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)


def same_float(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and ((a == b) | (np.isnan(a) & np.isnan(b))).all()


def check_report(report, stats, n, conformers, max_atoms, drop_unknown):
    """The counts `elign data import` printed, against the reference's."""
    text = open(report).read()
    want = [f"GEOM molecules read: {stats['read']} ({stats['conformers']} conformers; "
            f"{stats['empty']} molecules without conformers)",
            f"conformers beyond the {conformers} lowest-energy ones of their molecule: {stats['over']}",
            f"conformers with elements outside the 16 GEOM types: {stats['unknown']} "
            + ("(dropped)" if drop_unknown else "(kept, as EDM keeps them)"),
            f"molecules: {n} "]
    if max_atoms:
        want.append(f"conformers dropped for more than {max_atoms} atoms: {stats['large']}")
    for line in want:
        if line not in text:
            fail(f"report lacks '{line}'")


def check(path, h5, conformers=30, max_atoms=181, drop_unknown=False, split_by="conformer", valid=0.1, test=0.1,
          report=None):
    stats = {}
    ref = reference(path, conformers, max_atoms, drop_unknown, stats)
    if report:
        check_report(report, stats, len(ref), conformers, max_atoms, drop_unknown)
    f = h5py.File(h5, "r")
    if f.attrs["elign_format"].decode() != "dataset":
        fail("not a dataset file")
    off = f["offsets"][()]
    n = len(ref)
    if len(off) != n + 1 or f.attrs["n_mol"] != n:
        fail(f"{len(off) - 1} entries, reference {n}")
    Z, pos = f["atomic_numbers"][()], f["positions"][()]
    ids, smiles = f["ids"][()], [s.decode() for s in f["smiles"][()]]
    if f["positions"].attrs["unit"].decode() != "angstrom":
        fail("positions unit")
    props = {k: f["properties/" + k][()] for k in PROPS}
    for i, e in enumerate(ref):
        a, b = off[i], off[i + 1]
        if b - a != len(e["Z"]) or not (Z[a:b] == e["Z"]).all():
            fail(f"entry {i} ({e['smiles']}): atomic numbers differ")
        if not same_float(pos[a:b], e["pos"]):
            fail(f"entry {i} ({e['smiles']}): positions differ")
        if ids[i] != e["mol"] or smiles[i] != e["smiles"]:
            fail(f"entry {i}: id/smiles {ids[i]} {smiles[i]} vs {e['mol']} {e['smiles']}")
        for k, name in enumerate(PROPS):
            if not same_float(props[name][i], e["props"][k]):
                fail(f"entry {i} ({e['smiles']}): property {name} {props[name][i]} vs {e['props'][k]}")
    if f.attrs["n_atoms"] != off[-1] or len(Z) != off[-1]:
        fail("n_atoms")
    sizes = np.diff(off)
    keys, counts = np.unique(sizes, return_counts=True)
    if not (f["nodes_hist/n_atoms"][()] == keys).all() or not (f["nodes_hist/count"][()] == counts).all():
        fail("nodes_hist")
    zk, zc = np.unique(Z, return_counts=True)
    if not (f["element_hist/Z"][()] == zk).all() or not (f["element_hist/count"][()] == zc).all():
        fail("element_hist")
    # split: EDM's sizes, disjoint, complete, ascending
    split = {k: f["split/" + k][()] for k in ("train", "valid", "test")}
    units = n if split_by == "conformer" else len(set(ids.tolist()))
    if len(split["valid"]) and split_by == "conformer" and len(split["valid"]) != int(units * valid):
        fail(f"valid has {len(split['valid'])}, expected int({units}*{valid})")
    if split_by == "conformer" and len(split["test"]) != int(units * test):
        fail(f"test has {len(split['test'])}, expected int({units}*{test})")
    allidx = np.concatenate(list(split.values()))
    if sorted(allidx.tolist()) != list(range(n)):
        fail("splits are not a partition of the entries")
    for k, v in split.items():
        if (np.diff(v) <= 0).any():
            fail(f"split {k} not ascending")
    if split_by == "molecule":
        where = {}
        for k, v in split.items():
            for i in v:
                where.setdefault(ids[i], set()).add(k)
        if any(len(s) > 1 for s in where.values()):
            fail("a molecule's conformers landed in two splits")
        mol_in = {k: len({ids[i] for i in v}) for k, v in split.items()}
        if mol_in["valid"] != int(units * valid) or mol_in["test"] != int(units * test):
            fail(f"molecule split sizes {mol_in} for {units} molecules")
    print(f"ok: {n} entries, {off[-1]} atoms, splits " + ", ".join(f"{k} {len(v)}" for k, v in split.items()))


def same(a, b, ignore_splits=False):
    fa, fb = h5py.File(a, "r"), h5py.File(b, "r")
    names = []
    fa.visit(lambda n: names.append(n) if isinstance(fa[n], h5py.Dataset) else None)
    namesb = []
    fb.visit(lambda n: namesb.append(n) if isinstance(fb[n], h5py.Dataset) else None)
    if sorted(names) != sorted(namesb):
        fail(f"dataset lists differ: {sorted(set(names) ^ set(namesb))}")
    differ = []
    for n in names:
        if ignore_splits and n.startswith("split/"):
            continue
        x, y = fa[n][()], fb[n][()]
        if x.dtype.kind == "f":
            ok = same_float(x, y)
        else:
            ok = x.shape == y.shape and (x == y).all()
        if not ok:
            differ.append(n)
    if differ:
        fail(f"datasets differ: {differ}")
    print(f"ok: {len(names)} datasets identical")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    opts = {}
    pos = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--conformers":
            opts["conformers"] = int(args[i + 1]); i += 1
        elif a == "--max-atoms":
            opts["max_atoms"] = int(args[i + 1]); i += 1
        elif a == "--drop-unknown":
            opts["drop_unknown"] = True
        elif a == "--split-by":
            opts["split_by"] = args[i + 1]; i += 1
        elif a == "--valid":
            opts["valid"] = float(args[i + 1]); i += 1
        elif a == "--test":
            opts["test"] = float(args[i + 1]); i += 1
        elif a == "--report":
            opts["report"] = args[i + 1]; i += 1
        elif a == "--ignore-splits":
            opts["ignore_splits"] = True
        else:
            pos.append(a)
        i += 1
    if cmd == "make":
        make(*pos)
    elif cmd == "check":
        check(*pos, **opts)
    elif cmd == "same":
        same(*pos, **opts)
    elif cmd == "big":
        big(pos[0], int(pos[1]))
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main()
