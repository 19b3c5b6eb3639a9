#!/usr/bin/python3
"""perf_table.py — the machine facts and the README performance table of bench/run_all.sh.

    perf_table.py machine                          JSON: CPU model, vector extensions, cores, OpenBLAS, date
    perf_table.py table MACHINE.json BENCH.jsonl [EGNN.out]
                                                   the markdown table (CPU line first); with
                                                   bench_egnn's output, its phase shares below
    perf_table.py readme README.md TABLE.md        replace the README's table between its markers
    perf_table.py train-ranks POINTS.tsv           BENCH line of bench/scaling.sh's 1- and 2-actor strong points
"""
import datetime
import json
import os
import re
import sys

BEGIN, END = "<!-- perf-table:begin -->", "<!-- perf-table:end -->"
VECTOR_FLAGS = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_vnni"]


def machine():
    info = {"cpu": "unknown", "vector_extensions": [], "logical_cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        ident = [re.search(rf"^{k}\s*:\s*(.+)$", text, re.M) for k in ("vendor_id", "cpu family", "model")]
        if all(ident):  # a virtual machine's model name can be generic: family and model say which core
            info["cpu_id"] = "{} family {} model {}".format(*(i.group(1).strip() for i in ident))
        flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
        if model:
            info["cpu"] = model.group(1).strip()
        if flags:
            have = set(flags.group(1).split())
            info["vector_extensions"] = [f for f in VECTOR_FLAGS if f in have]
    except OSError:
        pass
    info["openblas_coretype"] = os.environ.get("OPENBLAS_CORETYPE", "(auto)")
    info["date"] = datetime.date.today().isoformat()
    return info


def fmt(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if abs(v) >= 100:
        return f"{v:.0f}{unit}"
    if abs(v) >= 10:
        return f"{v:.1f}{unit}"
    return f"{v:.2f}{unit}"


def table(machine_path, bench_path):
    m = json.load(open(machine_path))
    rows = [json.loads(l) for l in open(bench_path) if l.strip()]
    ext = ", ".join(m["vector_extensions"]) or "none found"
    cpu = m["cpu"] + (f" [{m['cpu_id']}]" if m.get("cpu_id") else "")
    out = [f"Measured {m['date']} on {cpu} ({m['logical_cpus']} logical CPUs; vector extensions: {ext}; "
           f"OPENBLAS_CORETYPE {m['openblas_coretype']}) by `bash bench/run_all.sh`.", "",
           "| figure | ours | reference (program) | ratio | of sgemm peak | threads | target | met |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ref_unit = r.get("reference_unit", r["unit"])  # a speed-up's reference is a time
        ref = f"{fmt(r['reference'])} {ref_unit} ({r['reference_program']})" if r["reference"] is not None \
            else r["reference_program"]
        peak = f"{100 * r['peak_fraction']:.0f} % of {r['peak_gflops']:.0f} GFLOP/s" \
            if r.get("peak_fraction") is not None and r.get("peak_gflops") else "–"
        ratio = fmt(r["ratio"], "×") if r["ratio"] is not None else "–"
        out.append(f"| {r['what']} | {fmt(r['ours'])} {r['unit']} | {ref} | {ratio} | {peak} | {r['threads']} | "
                   f"{r['target'] or '–'} | {fmt(r['pass'])} |")
    return "\n".join(out) + "\n"


# a phase row of bench_egnn's table: "    edge_in   15.46 ms   8.2%    70.19 ms  11.0%"
PHASE_ROW = re.compile(r"^    (\S.*?)\s+[\d.]+ ms\s+([\d.]+%)\s+[\d.]+ ms\s+([\d.]+%)\s*$")


def egnn_phases(egnn_out_path):
    """Where the EGNN's time goes, from bench_egnn's phase tables in the same run's
    output: one column per case and pass, each phase's share of that pass."""
    cases, case, rows = [], None, {}
    for line in open(egnn_out_path):
        if line.startswith("== "):  # "== qm9 network (...), 1 thread, float32"
            case = f"{line.split()[1].upper()} {line.split(', ')[-2]}"
        elif case and (row := PHASE_ROW.match(line)):
            if case not in cases:
                cases.append(case)
            rows.setdefault(row.group(1), {})[case] = [row.group(2), row.group(3)]
    if not cases:
        return ""
    out = ["", "Where the EGNN's time goes (bench_egnn's phase timers, share of each pass; 2 threads: "
           "thread 0's share, \"other\" includes its waits):", "",
           "| phase | " + " | ".join(f"{c} fwd | {c} fwd+bwd" for c in cases) + " |",
           "|---|" + "---|" * (2 * len(cases))]
    for name, by_case in rows.items():
        cells = []
        for c in cases:
            cells += by_case.get(c, ["–", "–"])
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def readme(readme_path, table_path):
    text = open(readme_path).read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{readme_path}: no {BEGIN} … {END} markers around the performance table")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(readme_path + ".tmp", "w") as f:
        f.write(head + BEGIN + "\n" + open(table_path).read() + END + tail)
    os.replace(readme_path + ".tmp", readme_path)


def train_ranks(points_path):
    """`elign train` iteration time, 2 actor ranks against 1 (issue 10: >= 1.7x), from scaling.sh's points."""
    rows = [l.rstrip("\n").split("\t") for l in open(points_path)][1:]
    it = {(r[0], int(r[1]), int(r[2])): float(r[5]) for r in rows}
    one, two = it.get(("strong", 1, 0)), it.get(("strong", 2, 0))
    speedup = one / two if one and two else None
    print("BENCH " + json.dumps({
        "figure": "train_iter_2r_over_1r", "what": "elign train iteration, 2 ranks vs 1 (OMP_NUM_THREADS=1)",
        "ours": speedup, "unit": "x", "reference": one, "reference_unit": "s/iteration", "reference_program": "elign train on 1 rank",
        "ratio": speedup, "peak_fraction": None, "peak_gflops": None, "threads": 1, "batch": None,
        "target": ">= 1.7x", "pass": None if speedup is None else speedup >= 1.7}))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "machine":
        print(json.dumps(machine(), indent=1))
    elif len(sys.argv) in (4, 5) and sys.argv[1] == "table":
        sys.stdout.write(table(sys.argv[2], sys.argv[3]))
        if len(sys.argv) == 5 and os.path.exists(sys.argv[4]):  # bench_egnn's output: the phase table
            sys.stdout.write(egnn_phases(sys.argv[4]))
    elif len(sys.argv) == 3 and sys.argv[1] == "train-ranks":
        train_ranks(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "readme":
        readme(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
