#!/usr/bin/env python3
"""Bitwise comparison of Elign-C checkpoints (h5py).

usage: pretrain_compare.py A.h5 B.h5 [C.h5 ...]  — exit 0 if every file's
datasets and attributes equal the first's BIT FOR BIT (float bytes, so -0.0
differs from 0.0 and NaN payloads count), ignoring /config: the resolved
config text names each run's own directory. For a difference it prints the
dataset and, for float arrays, how many values differ and the largest gap.
"""
import sys

import h5py
import numpy as np

IGNORED = {"config"}


def contents(path):
    out = {}

    def visit(name, obj):
        if name in IGNORED:
            return
        attrs = {k: obj.attrs[k] for k in obj.attrs}
        value = obj[()] if isinstance(obj, h5py.Dataset) else None
        out[name] = (value, attrs)

    with h5py.File(path, "r") as f:
        # the provenance record names the rank layout and command: it differs on purpose
        out["/"] = (None, {k: f.attrs[k] for k in f.attrs if k != "provenance"})
        f.visititems(visit)
    return out


def as_bytes(v):
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "O":
            return repr(v.tolist()).encode()
        return v.dtype.str.encode() + repr(v.shape).encode() + v.tobytes()
    if isinstance(v, (np.generic,)):
        return v.dtype.str.encode() + v.tobytes()
    return repr(v).encode()


def describe(a, b):
    if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.shape == b.shape:
        diff = a.view(np.uint8).reshape(a.shape + (-1,)) != b.view(np.uint8).reshape(b.shape + (-1,))
        n = int(diff.reshape(a.size, -1).any(axis=1).sum()) if a.size else 0
        gap = float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
        return f"{n} of {a.size} values differ, largest gap {gap:.3g}"
    return "values differ"


def main():
    ref_path, others = sys.argv[1], sys.argv[2:]
    ref = contents(ref_path)
    bad = 0
    for path in others:
        got = contents(path)
        if set(got) != set(ref):
            print(f"FAIL {path}: objects differ from {ref_path}: {sorted(set(got) ^ set(ref))}")
            bad += 1
            continue
        for name, (value, attrs) in ref.items():
            gvalue, gattrs = got[name]
            if as_bytes(value) != as_bytes(gvalue):
                print(f"FAIL {path}: {name}: {describe(value, gvalue)}")
                bad += 1
            if set(attrs) != set(gattrs) or any(as_bytes(attrs[k]) != as_bytes(gattrs[k]) for k in attrs):
                print(f"FAIL {path}: attributes of {name} differ")
                bad += 1
    n = sum(1 for v in ref.values() if v[0] is not None)
    print(f"pretrain_compare: {len(others)} file(s) against {ref_path}, {n} datasets each: {bad} differences")
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
