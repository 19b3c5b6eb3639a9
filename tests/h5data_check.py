"""Independent checks of Elign-C HDF5 files with h5py (run with /usr/bin/python3).

  h5data_check.py xyz XYZ[.gz] DATASET.h5 INFO.txt [--readme README.md] [--split split.json]
      Parse the extended XYZ here, compare every array of the dataset file and
      the counts / histograms printed by `elign info` (and the README tables).
  h5data_check.py make_qm9 OUT.tar.bz2 [--bad]
      Write 3 hand-written QM9-format molecules (with *^ exponents) into a
      tar.bz2 (--bad: the third has a broken atom line at line 4).
  h5data_check.py qm9 DATASET.h5
      Compare the imported QM9 archive with the hand-written values.
  h5data_check.py kinds DIR
      Check kind_model.h5, kind_samples.h5, kind_oracle.h5 written by
      h5data_make_files against the formulas stated there.
Prints "FAIL ..." lines and exits 1 on any mismatch.
"""
import collections
import gzip
import io
import json
import re
import sys
import tarfile

import h5py
import numpy as np

FAILS = []
PASSES = [0]


def as_str(v):
    """A fixed-length string attribute (numpy bytes) as str."""
    return v.decode() if isinstance(v, (bytes, np.bytes_)) else v


def check_storage(f, what):
    """Format version 2 storage: superblock 3 (checksummed metadata), every
    dataset chunked with Fletcher32 alone, fixed-length strings only."""
    check(f.id.get_create_plist().get_version()[0] == 3, f"{what}: superblock version 3")
    bad = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            dcpl = obj.id.get_create_plist()
            filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
            if obj.chunks is None or filters != [h5py.h5z.FILTER_FLETCHER32]:
                bad.append(name)
            if h5py.check_string_dtype(obj.dtype) and h5py.check_string_dtype(obj.dtype).length is None:
                bad.append(name + " (variable-length strings)")
        for k in obj.attrs:
            t = obj.attrs.get_id(k).dtype
            if h5py.check_string_dtype(t) and h5py.check_string_dtype(t).length is None:
                bad.append(f"{name} attribute {k} (variable-length string)")
    visit("/", f)
    f.visititems(visit)
    check(not bad, f"{what}: checksummed storage ({', '.join(bad)})")


def check(ok, what):
    if ok:
        PASSES[0] += 1
    else:
        FAILS.append(what)
        print("FAIL", what)


SYMBOLS = ("H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br "
           "Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er "
           "Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn").split()
Z_OF = {s: i + 1 for i, s in enumerate(SYMBOLS)}


# ---------------------------------------------------------------------------- xyz

def read_xyz(path):
    opener = gzip.open if path.endswith(".gz") else open
    mols = []
    with opener(path, "rt") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        n = int(lines[i])
        comment = lines[i + 1]
        kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', comment))
        kv = {k: v.strip('"') for k, v in kv.items()}
        atoms = [lines[i + 2 + a].split() for a in range(n)]
        mols.append({
            "Z": [Z_OF[a[0]] for a in atoms],
            "pos": [[float(x) for x in a[1:4]] for a in atoms],
            "id": int(kv["id"]) if "id" in kv else -1,
            "smiles": kv.get("smiles"),
            "mmff_energy": float(kv["mmff_energy"]) if "mmff_energy" in kv else None,
        })
        i += 2 + n
    return mols


def parse_info(text):
    """Counts and the three tables printed by `elign info` / the import report."""
    out = {"elements": {}, "nodes": {}, "heavy": {}, "splits": {}}
    section = None
    for line in text.splitlines():
        m = re.match(r"(molecules|atoms): (\d+)$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
        m = re.match(r"split (\w+): (\d+) molecules", line)
        if m:
            out["splits"][m.group(1)] = int(m.group(2))
        if line.startswith("elements:"):
            section = "elements"
        elif line.startswith("molecules per atom count"):
            section = "nodes"
        elif line.startswith("molecules per heavy-atom count"):
            section = "heavy"
        elif not line.strip():
            section = None
        elif section == "elements":
            m = re.match(r"\s+(\d+)\s+([A-Z][a-z]?)\s+(\d+)\s+([\d.]+)", line)
            if m:
                out["elements"][m.group(2)] = (int(m.group(1)), int(m.group(3)), float(m.group(4)))
        elif section in ("nodes", "heavy"):
            m = re.match(r"\s+(\d+)\s+(\d+)\s", line)
            if m:
                out[section][int(m.group(1))] = int(m.group(2))
    return out


def readme_tables(path):
    """Per-size tables of the qm9like README: {'atoms': {n: count}, 'heavy atoms': {...}}."""
    tables = collections.defaultdict(dict)
    lines = open(path).read().splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in ("atoms", "heavy atoms") and i + 2 < len(lines):
            counts = [c.strip() for c in lines[i + 2].strip().strip("|").split("|")]
            if counts[0] == "molecules":
                for k, v in zip(cells[1:], counts[1:]):
                    tables[cells[0]][int(k)] = int(v.replace(",", ""))
    per_mol = {}
    for line in lines:
        m = re.match(r"\| ([A-Z][a-z]?) \| ([\d.]+) \|", line)
        if m:
            per_mol[m.group(1)] = float(m.group(2))
    return tables, per_mol


def check_xyz(xyz, h5, info_path, readme=None, split=None):
    mols = read_xyz(xyz)
    n_mol = len(mols)
    sizes = [len(m["Z"]) for m in mols]
    n_atoms = sum(sizes)
    Z = np.array([z for m in mols for z in m["Z"]], dtype=np.int32)
    pos = np.array([p for m in mols for p in m["pos"]], dtype=np.float64).reshape(-1, 3)
    size_hist = collections.Counter(sizes)
    heavy_hist = collections.Counter(sum(1 for z in m["Z"] if z > 1) for m in mols)
    elem_hist = collections.Counter(Z.tolist())
    with h5py.File(h5, "r") as f:
        check(as_str(f.attrs["elign_format"]) == "dataset", "elign_format attribute")
        check_storage(f, h5)
        check(int(f.attrs["elign_format_version"]) == 2, "format version")
        check(int(f.attrs["n_mol"]) == n_mol and int(f.attrs["n_atoms"]) == n_atoms, "n_mol/n_atoms attributes")
        off = f["offsets"][()]
        check(off.dtype == np.int64 and off.shape == (n_mol + 1,), "offsets dtype/shape")
        check(np.array_equal(np.diff(off), sizes) and off[0] == 0, "offsets values")
        check(f["atomic_numbers"].dtype == np.int32 and np.array_equal(f["atomic_numbers"][()], Z), "atomic_numbers")
        check(f["positions"].dtype == np.float64 and f["positions"].shape == (n_atoms, 3), "positions shape")
        check(np.array_equal(f["positions"][()], pos), "positions values (exact)")
        check(np.array_equal(f["ids"][()], [m["id"] for m in mols]), "ids")
        smiles = [s.decode() for s in f["smiles"][()]]
        check(smiles == [m["smiles"] for m in mols], "smiles")
        if mols[0]["mmff_energy"] is not None:
            e = f["properties/mmff_energy"]
            check(np.array_equal(e[()], [m["mmff_energy"] for m in mols]), "mmff_energy values")
            check(as_str(e.attrs["unit"]) == "kcal/mol", "mmff_energy unit")
        nh = dict(zip(f["nodes_hist/n_atoms"][()].tolist(), f["nodes_hist/count"][()].tolist()))
        check(nh == dict(size_hist), "stored nodes_hist")
        eh = dict(zip(f["element_hist/Z"][()].tolist(), f["element_hist/count"][()].tolist()))
        check(eh == dict(elem_hist), "stored element_hist")
        if split:
            lists = {k: v for k, v in json.load(open(split)).items() if isinstance(v, list)}
            ids = f["ids"][()]
            for name, id_list in lists.items():
                idx = f["split/" + name][()]
                check(np.all(np.diff(idx) > 0), f"split {name} sorted")
                check(sorted(ids[idx].tolist()) == sorted(id_list), f"split {name} ids")
    info = parse_info(open(info_path).read())
    check(info.get("molecules") == n_mol and info.get("atoms") == n_atoms, "info counts")
    check(info["nodes"] == dict(size_hist), "info size histogram")
    check(info["heavy"] == dict(heavy_hist), "info heavy-atom histogram")
    check({s: c for s, (z, c, _) in info["elements"].items()} == {SYMBOLS[z - 1]: c for z, c in elem_hist.items()},
          "info element histogram")
    if split:
        check(info["splits"] == {k: len(v) for k, v in lists.items()}, "info split sizes")
    if readme:
        tables, per_mol = readme_tables(readme)
        check(n_mol == 30000 and n_atoms == 532403, "README totals 30,000 molecules / 532,403 atoms")
        check(tables["atoms"] == dict(size_hist), "README atoms-per-molecule table")
        check(tables["heavy atoms"] == dict(heavy_hist), "README heavy-atom table")
        check(len(per_mol) == 5 and all(abs(info["elements"][s][2] - v) < 5e-4 for s, v in per_mol.items()),
              "README per-molecule element counts")


# ---------------------------------------------------------------------------- qm9

QM9_MEMBERS = {
    "dsgdb9nsd_000001.xyz": """5
gdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t0.044749\t-40.47893\t-40.476062\t-40.475117\t-40.498597\t6.469\t
C\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689
H\t 0.002150416\t-0.0060313176\t 0.0019761204\t 0.133921
H\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922
H\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923
H\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923
1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t3151.7078
C\tC\t
InChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4
""",
    "dsgdb9nsd_000002.xyz": """4
gdb 2\t293.60975\t293.54111\t191.39397\t1.6256\t9.46\t-0.257\t0.0829\t0.3399\t26.1563\t0.034358\t-56.525887\t-56.523026\t-56.522082\t-56.544961\t6.316\t
N\t-4.04260543*^-2\t 1.0241077531\t 0.0625637998\t-0.707143
H\t 1.72574639*^-2\t 0.0125452063\t-2.73771593*^-2\t 0.235712
H\t 0.9157893661\t 1.3587451948\t-2.87577581*^-2\t 0.235712
H\t-0.5202777357\t 1.3435321258\t-0.7755426124\t 2.35719*^-1
1091.5544\t1674.6002\t1675.1294\t3442.8082\t3525.1314\t3525.9131
N\tN\t
InChI=1S/H3N/h1H3\tInChI=1S/H3N/h1H3
""",
    "dsgdb9nsd_000017.xyz": """4
gdb 17\t285.48839\t38.9823\t34.29892\t2.1089\t14.18\t-0.267\t-0.0406\t0.2263\t59.9891\t0.026603\t-114.483613\t-114.480746\t-114.479802\t-114.505268\t6.413\t
C\t-0.0082360291\t-2.71*^-5\t 0.0058508669\t 0.14839
O\t 0.0085064954\t 1.2008006001\t 0.0030963934\t-0.30376
H\t 0.9315283405\t-0.5843745087\t 0.0081234566\t 0.077685
H\t-0.9315323345\t-0.5833860093\t 0.0060316245\t 0.077685
1186.5\t1274.4\t1540.0\t1843.4\t2882.1\t2944.6
[CH2]=O\tC=O\t
InChI=1S/CH2O/c1-2/h1H2\tInChI=1S/CH2O/c1-2/h1H2
""",
}
QM9_PROPS = ["A", "B", "C", "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U", "H", "G", "Cv"]


def qm9_float(s):
    return float(s.replace("*^", "e"))


def make_qm9(out, bad=False):
    with tarfile.open(out, "w:bz2") as tar:
        for name, text in QM9_MEMBERS.items():
            if bad and name.endswith("17.xyz"):
                lines = text.split("\n")
                lines[3] = "O\t0.0085064954\tx1.2008006001\t0.0030963934\t-0.30376"  # line 4
                text = "\n".join(lines)
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def check_qm9(h5):
    expect = []
    for name, text in QM9_MEMBERS.items():
        lines = text.split("\n")
        n = int(lines[0])
        head = lines[1].split()
        atoms = [l.split() for l in lines[2:2 + n]]
        expect.append({
            "id": int(head[1]), "props": [qm9_float(x) for x in head[2:17]],
            "Z": [Z_OF[a[0]] for a in atoms], "pos": [[qm9_float(x) for x in a[1:4]] for a in atoms],
            "smiles": lines[2 + n + 1].split("\t")[1],
        })
    with h5py.File(h5, "r") as f:
        check(int(f.attrs["n_mol"]) == 3 and int(f.attrs["n_atoms"]) == 13, "qm9 counts")
        check(f["ids"][()].tolist() == [1, 2, 17], "qm9 ids")
        check([s.decode() for s in f["smiles"][()]] == [e["smiles"] for e in expect], "qm9 relaxed SMILES")
        check(f["atomic_numbers"][()].tolist() == sum((e["Z"] for e in expect), []), "qm9 atomic numbers")
        pos = np.array(sum((e["pos"] for e in expect), []))
        check(np.array_equal(f["positions"][()], pos), "qm9 positions incl. *^ exponents")
        for k, p in enumerate(QM9_PROPS):
            check(np.array_equal(f["properties/" + p][()], [e["props"][k] for e in expect]), f"qm9 property {p}")
        check(as_str(f["properties/U0"].attrs["unit"]) == "Hartree" and as_str(f["properties/mu"].attrs["unit"]) == "Debye",
              "qm9 property units")
        check(f["offsets"][()].tolist() == [0, 5, 9, 13], "qm9 offsets")


# ---------------------------------------------------------------------------- other kinds

def check_kinds(d):
    with h5py.File(d + "/kind_model.h5", "r") as f:
        check(as_str(f.attrs["elign_format"]) == "model" and int(f.attrs["elign_format_version"]) == 2, "model format")
        check_storage(f, "model")
        i = np.arange(1000)
        p = ((i % 97) * 0.25 - 3.0).astype(np.float32)
        flat = f["params/flat"]
        check(flat.dtype == np.float32 and flat.shape == (1000,) and np.array_equal(flat[()], p), "params/flat")
        check([s.decode() for s in f["params/names"][()]] == ["dynamics.egnn.embedding.weight",
                                                             "dynamics.egnn.embedding.bias", "dynamics.egnn.rest"],
              "params/names")
        check(f["params/offsets"][()].tolist() == [0, 200, 220], "params/offsets")
        check(f["params/shapes"][()].tolist() == [[10, 20, -1, -1], [20, -1, -1, -1], [780, -1, -1, -1]],
              "params/shapes")
        w = flat[0:200].reshape(10, 20)
        check(w[3, 4] == p[3 * 20 + 4], "a view reshaped from the flat buffer")
        check(np.array_equal(f["optimizer/m"][()], 0.5 * p), "optimizer/m")
        check(np.array_equal(f["optimizer/v"][()], (0.125 * (i % 5)).astype(np.float32)), "optimizer/v")
        check(as_str(f["optimizer"].attrs["kind"]) == "adamw" and int(f["optimizer"].attrs["step"]) == 7, "optimizer attrs")
        check(np.array_equal(f["reference/flat"][()], -p), "reference/flat")
        a = f["arch"].attrs
        check(int(a["n_layers"]) == 9 and int(a["hidden"]) == 256 and float(a["coords_range"]) == 15.0, "arch ints")
        check(as_str(a["aggregation"]) == "sum" and as_str(a["noise_schedule"]) == "polynomial_2", "arch strings")
        check(a["normalize_factors"].tolist() == [1.0, 4.0, 10.0], "arch vector")
        check(int(f.attrs["iteration"]) == 12 and int(f.attrs["optimizer_step"]) == 7 and int(f.attrs["epoch"]) == 1,
              "iteration counters")
        check(int(f["rng"].attrs["seed"]) == 42 and f["rng/counters"][()].tolist() == [3, 5], "rng")
        check(f["config"].asstr()[0] == "train:\n  learning_rate: 1.0e-5\n", "config text")
        check(f["nodes_hist/n_atoms"][()].tolist() == [17, 19] and f["nodes_hist/count"][()].tolist() == [3974, 3789],
              "model nodes_hist")
    # samples and oracle results: molecule m has m+2 atoms, Z = 1 + (m+a) % 8,
    # pos = (m + 0.5 a, -a, 0.25 m); energy -10 m - 0.5; forces 0.125 (i % 7) - 0.25.
    Z, pos = [], []
    for m in range(5):
        for a in range(m + 2):
            Z.append(1 + (m + a) % 8)
            pos.append([m + 0.5 * a, -a, 0.25 * m])
    n_atoms = len(Z)
    forces = (0.125 * (np.arange(3 * n_atoms) % 7) - 0.25).reshape(-1, 3)
    for name, kind in (("kind_samples.h5", "samples"), ("kind_oracle.h5", "oracle_results")):
        with h5py.File(d + "/" + name, "r") as f:
            check(as_str(f.attrs["elign_format"]) == kind, f"{kind} format")
            check_storage(f, kind)
            check(f["offsets"][()].tolist() == [0, 2, 5, 9, 14, 20], f"{kind} offsets")
            check(f["atomic_numbers"][()].tolist() == Z, f"{kind} atomic numbers")
            check(np.array_equal(f["positions"][()], np.array(pos, dtype=float)), f"{kind} positions")
            check(f["ids"][()].tolist() == [100, 101, 102, 103, 104], f"{kind} ids")
            check(np.array_equal(f["energy"][()], [-10.0 * m - 0.5 for m in range(5)]), f"{kind} energy")
            check(as_str(f["energy"].attrs["unit"]) == "eV" and as_str(f["forces"].attrs["unit"]) == "eV/angstrom", f"{kind} units")
            check(np.array_equal(f["forces"][()], forces), f"{kind} forces")
            check(dict(zip(f["nodes_hist/n_atoms"][()].tolist(), f["nodes_hist/count"][()].tolist())) ==
                  {2: 1, 3: 1, 4: 1, 5: 1, 6: 1}, f"{kind} nodes_hist")
            if kind == "samples":
                check(f["group"][()].tolist() == [0, 0, 1, 1, 1], "samples group")
                check(as_str(f.attrs["model"]) == "kind_model.h5" and int(f.attrs["seed"]) == 42 and
                      int(f.attrs["steps"]) == 1000, "samples attrs")
            else:
                check(f["status"].dtype == np.int32 and f["status"][()].tolist() == [0, 0, 3, 0, 0], "oracle status")
                check(as_str(f.attrs["oracle"]) == "test-oracle", "oracle name")


def main(argv):
    cmd = argv[1]
    if cmd == "xyz":
        opts = dict(zip(argv[5::2], argv[6::2]))
        check_xyz(argv[2], argv[3], argv[4], opts.get("--readme"), opts.get("--split"))
    elif cmd == "make_qm9":
        make_qm9(argv[2], bad="--bad" in argv)
        return 0
    elif cmd == "qm9":
        check_qm9(argv[2])
    elif cmd == "kinds":
        check_kinds(argv[2])
    else:
        print("unknown command", cmd)
        return 2
    print(f"h5data_check {cmd}: {PASSES[0]} passed, {len(FAILS)} failed")
    return 1 if FAILS or PASSES[0] == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
