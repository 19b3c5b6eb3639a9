"""Check that HDF5 files hold identical datasets and attributes (h5py).

usage: h5data_compare.py A.h5 B.h5 [C.h5 ...]  — exit 0 if all equal the first.
Used to show that 1, 2 and 4 ranks writing one sample file collectively give
the same contents. Compares every dataset's dtype, shape and values (NaN equal
to NaN) and every attribute; the file bytes themselves may differ (HDF5 metadata
placement), the contents may not.
"""
import sys

import h5py
import numpy as np


def contents(path):
    out = {}

    def visit(name, obj):
        attrs = {k: obj.attrs[k] for k in obj.attrs}
        if isinstance(obj, h5py.Dataset):
            out[name] = (obj.dtype.str if obj.dtype.kind != "O" else "O", obj.shape, obj[()], attrs)
        else:
            out[name] = ("group", None, None, attrs)

    with h5py.File(path, "r") as f:
        # the provenance record names the rank layout and command: it differs on purpose
        out["/"] = ("group", None, None, {k: f.attrs[k] for k in f.attrs if k != "provenance"})
        f.visititems(visit)
    return out


def same_value(a, b):
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.all(a == b))
    return a == b


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
        for name, (dt, shape, value, attrs) in ref.items():
            gdt, gshape, gvalue, gattrs = got[name]
            if (dt, shape) != (gdt, gshape) or not same_value(value, gvalue):
                print(f"FAIL {path}: {name} differs ({gdt} {gshape} vs {dt} {shape})")
                bad += 1
            if set(attrs) != set(gattrs) or any(not same_value(attrs[k], gattrs[k]) for k in attrs):
                print(f"FAIL {path}: attributes of {name} differ")
                bad += 1
    n = sum(1 for v in ref.values() if v[0] != "group")
    print(f"h5data_compare: {len(others)} files against {ref_path}, {n} datasets each: {bad} differences")
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
