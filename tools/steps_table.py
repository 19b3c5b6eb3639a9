#!/usr/bin/env python3
"""Assemble the quality-versus-steps table of tools/steps_table.sh.

Reads DIR/{base,post}_K<K>.json (`elign eval` summaries) and writes
DIR/steps.json (the table as data, for `elign report --steps`) and, with
--doc, the Markdown table into that file between the markers
<!-- steps-table:begin --> and <!-- steps-table:end --> (added at the end when
absent), so re-running replaces the previous table.
"""
import argparse
import datetime
import json
import os
import sys

BEGIN = "<!-- steps-table:begin -->"
END = "<!-- steps-table:end -->"


def metric(summary, section, key):
    v = summary.get("samples", {}).get("mean", {}).get(section, {}).get(key)
    return float("nan") if v is None else float(v)


def rows_of(args):
    rows = []
    tags = ["base"] + (["post"] if args.post else [])
    for tag in tags:
        for k in [int(x) for x in args.steps.split()]:
            path = os.path.join(args.dir, "%s_K%d.json" % (tag, k))
            if not os.path.exists(path):
                sys.exit("steps_table.py: %s missing (run tools/steps_table.sh)" % path)
            d = json.load(open(path))
            o = "oracle:" + args.oracle
            secs = os.path.join(args.dir, "%s_K%d.h5.seconds" % (tag, k))
            rows.append({
                "model": tag, "steps": k,
                "n_molecules": metric(d, "stability", "n_molecules"),
                "atom_stable": metric(d, "stability", "atom_stable"),
                "mol_stable": metric(d, "stability", "mol_stable"),
                "validity": metric(d, "rdkit", "validity"),
                "validity_x_uniqueness": metric(d, "rdkit", "validity_x_uniqueness"),
                "energy_per_atom_mean": metric(d, o, "energy_per_atom_mean"),
                "frms_mean": metric(d, o, "frms_mean"),
                "frms_median": metric(d, o, "frms_median"),
                "oracle_failed": metric(d, o, "n_failed"),
                "sample_seconds": float(open(secs).read()) if os.path.exists(secs) else None,
            })
    return rows


def no_nan(v):
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: no_nan(x) for k, x in v.items()}
    if isinstance(v, list):
        return [no_nan(x) for x in v]
    return v


def pct(x):
    return "–" if x != x else "%.1f %%" % (100 * x)


def num(x, fmt="%.2f"):
    return "–" if x != x else fmt % x


def markdown(rows, args):
    when = datetime.date.today().isoformat()
    lines = [BEGIN, "",
             "Quality versus sampling steps (`elign sample --steps K`, %d molecules per cell, seed %s, "
             "the same prior noise for both models; oracle %s). Base: `%s`%s. Made by "
             "`tools/steps_table.sh` on %s.%s" % (int(rows[0]["n_molecules"]), args.seed, args.oracle, args.base,
                                                 "; post-trained: `%s`" % args.post if args.post else
                                                 "; no post-trained model given", when,
                                                 (" " + args.note) if args.note else ""),
             "",
             "| model | K | atom stable | mol stable | valid | V×U | E/atom (eV) | RMS force mean / median (eV/Å) "
             "| oracle failures | sampling wall (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s / %s | %d | %s |" % (
            r["model"], r["steps"], pct(r["atom_stable"]), pct(r["mol_stable"]), pct(r["validity"]),
            pct(r["validity_x_uniqueness"]), num(r["energy_per_atom_mean"]), num(r["frms_mean"]),
            num(r["frms_median"]), int(r["oracle_failed"]) if r["oracle_failed"] == r["oracle_failed"] else -1,
            "–" if r["sample_seconds"] is None else "%d" % r["sample_seconds"]))
    lines += ["", "Sampling wall times come from a shared machine and are indicative only; the cost of a "
              "chain is proportional to K.", "", END]
    return "\n".join(lines)


def write_doc(path, block):
    text = open(path).read() if os.path.exists(path) else "# Results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n## Quality versus sampling steps\n\n" + block + "\n"
    tmp = path + ".tmp"
    open(tmp, "w").write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--steps", default="50 100 250 500 1000")
    ap.add_argument("--oracle", default="gfn2-xtb")
    ap.add_argument("--n", default="")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--base", default="")
    ap.add_argument("--post", default="")
    ap.add_argument("--note", default="")
    ap.add_argument("--doc", default=None)
    args = ap.parse_args()
    rows = rows_of(args)
    table = {"elign_steps_table": 1, "oracle": args.oracle, "seed": args.seed, "base": args.base,
             "post": args.post or None, "note": args.note, "rows": rows}
    out = os.path.join(args.dir, "steps.json")
    with open(out + ".tmp", "w") as f:
        json.dump(no_nan(table), f, indent=1, allow_nan=False)  # strict JSON: undefined numbers are null
    os.replace(out + ".tmp", out)
    block = markdown(rows, args)
    print(block)
    if args.doc:
        write_doc(args.doc, block)
        print("steps_table.py: wrote %s and %s" % (out, args.doc), file=sys.stderr)


if __name__ == "__main__":
    main()
