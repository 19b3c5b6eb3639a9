#!/usr/bin/env python3
"""Do HDF5 files hold the same contents as the first? (h5py)

usage: h5_compare.py [--values] [--skip-attr NAME]... A.h5 B.h5 [C.h5 ...]  — exit 0 if every file's
datasets and attributes equal the first's, and there is at least one dataset.

Default, BIT FOR BIT (checkpoints, model and sample files of runs that must be
bitwise identical): float bytes, so -0.0 differs from 0.0 and NaN payloads
count. With --values, equal VALUES with the same dtype and shape, NaN equal to
NaN (files written collectively by 1, 2 and 4 ranks). Both ignore what
differs on purpose: the root's provenance record (rank layout, command) and a
/config dataset (the resolved config names each run's own directory). The file
bytes themselves may differ (HDF5 metadata placement). --skip-attr leaves out
a root attribute too (sample files name their model file and its hash). For a difference it
prints the dataset and, for float arrays, how many values differ and the
largest gap.
"""
import sys

import h5py
import numpy as np

IGNORED = {"config"}


def contents(path, skipped_root_attrs=()):
    """name -> (dtype, shape, value, attrs); groups have dtype "group"."""
    out = {}

    def visit(name, obj):
        if name in IGNORED:
            return
        attrs = {k: obj.attrs[k] for k in obj.attrs}
        if isinstance(obj, h5py.Dataset):
            out[name] = (obj.dtype.str if obj.dtype.kind != "O" else "O", obj.shape, obj[()], attrs)
        else:
            out[name] = ("group", None, None, attrs)

    with h5py.File(path, "r") as f:
        skip = {"provenance", *skipped_root_attrs}
        out["/"] = ("group", None, None, {k: f.attrs[k] for k in f.attrs if k not in skip})
        f.visititems(visit)
    return out


def as_bytes(v):
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "O":
            return repr(v.tolist()).encode()
        return v.dtype.str.encode() + repr(v.shape).encode() + v.tobytes()
    if isinstance(v, np.generic):
        return v.dtype.str.encode() + v.tobytes()
    return repr(v).encode()


def same_bits(a, b):
    return as_bytes(a) == as_bytes(b)


def same_values(a, b):
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.all(a == b))
    return a == b


def describe(a, b):
    if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.shape == b.shape:
        diff = a.view(np.uint8).reshape(a.shape + (-1,)) != b.view(np.uint8).reshape(b.shape + (-1,))
        n = int(diff.reshape(a.size, -1).any(axis=1).sum()) if a.size else 0
        gap = float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
        return f"{n} of {a.size} values differ, largest gap {gap:.3g}"
    return "values differ"


def compare(ref_path, ref, path, same, skipped):
    """The number of differences of the file at path against ref."""
    got = contents(path, skipped)
    if set(got) != set(ref):
        print(f"FAIL {path}: objects differ from {ref_path}: {sorted(set(got) ^ set(ref))}")
        return 1
    bad = 0
    for name, (dt, shape, value, attrs) in ref.items():
        gdt, gshape, gvalue, gattrs = got[name]
        if (dt, shape) != (gdt, gshape):
            print(f"FAIL {path}: {name} is {gdt} {gshape}, not {dt} {shape}")
            bad += 1
        elif not same(value, gvalue):
            print(f"FAIL {path}: {name}: {describe(value, gvalue)}")
            bad += 1
        if set(attrs) != set(gattrs) or any(not same(attrs[k], gattrs[k]) for k in attrs):
            print(f"FAIL {path}: attributes of {name} differ")
            bad += 1
    return bad


def main(argv):
    values, skipped, paths = False, [], []
    args = iter(argv)
    for a in args:
        if a == "--values":
            values = True
        elif a == "--skip-attr":
            skipped.append(next(args, ""))
        else:
            paths.append(a)
    if len(paths) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    ref_path, others = paths[0], paths[1:]
    ref = contents(ref_path, skipped)
    same = same_values if values else same_bits
    bad = sum(compare(ref_path, ref, path, same, skipped) for path in others)
    n = sum(1 for v in ref.values() if v[0] != "group")
    kind = "equal values" if values else "bitwise"
    print(f"h5_compare ({kind}): {len(others)} file(s) against {ref_path}, {n} datasets each: {bad} differences")
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
