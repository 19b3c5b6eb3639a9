#!/usr/bin/python3
"""Flatten spec/ani_reference.json into a token file the C tests read.

Output format (whitespace separated, one record per line):
    mol <name> <n_atoms>
    <key> <count> v1 v2 ...        (key e.g. Z, pos, ANI-2x/float64/energy)
Nested lists are flattened row-major. Usage: ani_ref_convert.py IN.json OUT.txt
"""
import json
import sys


def flatten(v):
    if isinstance(v, list):
        out = []
        for x in v:
            out.extend(flatten(x))
        return out
    return [v]


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        data = json.load(f)
    with open(dst, "w") as out:
        for mol in data["molecules"]:
            z = mol["atomic_numbers"]
            out.write("mol %s %d\n" % (mol["name"], len(z)))
            out.write("Z %d %s\n" % (len(z), " ".join(str(v) for v in z)))
            pos = flatten(mol["coordinates"])
            out.write("pos %d %s\n" % (len(pos), " ".join(repr(float(v)) for v in pos)))
            for model, by_dtype in mol["results"].items():
                for dtype, fields in by_dtype.items():
                    for key, val in fields.items():
                        vals = flatten(val)
                        out.write("%s/%s/%s %d %s\n" % (model, dtype, key, len(vals),
                                                         " ".join(repr(float(v)) for v in vals)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
