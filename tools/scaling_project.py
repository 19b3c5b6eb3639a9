#!/usr/bin/env python3
"""Per-task costs of a traced `elign train` run and a projection of the
iteration time to 1..64 nodes (docs/scaling.md).

usage: scaling_project.py RUN_DIR [--params N] [--cores-per-node C]
                          [--alpha-us A] [--beta-gbs B] [--out-dir D]

RUN_DIR is a run made with run.trace: true (RUN_DIR/trace/*.json and
RUN_DIR/metrics.jsonl). Costs measured from its trace (means over the
iterations):
  t_block   one "sample" span: one rollout block (a group of K molecules, T steps),
            without the embedded oracle's time inside it
  t_oracle  oracle seconds per block: embedded "oracle_submit" (the actor
            evaluates while submitting) or the oracle ranks' "oracle_compute"
  t_unit    gradient seconds per unit (all ranks' "gradient" / metrics units)
  t_opt     one "optimizer" span (rank 0, per optimizer step)
  t_reward  rank 0's "reward" per iteration, per group
The model of one iteration on N nodes of C cores (one rank per core, R = N C
ranks: A actors and O oracle ranks, rank 0 the learner and an actor), P
groups, S optimizer steps of U units each:
  rollout  embedded (O = 0): ceil(P/A) (t_block + t_oracle)
           oracle ranks:     max(ceil(P/A) t_block, ceil(P/O) t_oracle) + min(t_block, t_oracle)
  reward   P t_reward + A alpha                       (rank 0 alone)
  update   S [ceil(U/A) t_unit + U (alpha + 4n/beta)  (the ordered fold: every unit's
            gradient to rank 0, point to point — what keeps the bits rank-count free)
            + t_opt + 2 (4n/beta) + log2(R) alpha]    (the weight broadcast)
with n parameters (float32) and an interconnect of latency alpha and
bandwidth beta (defaults: 2 us, 12.5 GB/s, HDR100 InfiniBand). O is chosen
so that oracle and actors are equally busy: O/A = t_oracle / t_block.
Prints Markdown tables and writes SVG plots into --out-dir.
"""
import argparse
import glob
import json
import math
import os
import sys


def load_trace(run):
    ev = []
    files = sorted(glob.glob(os.path.join(run, "trace", "*.json")))
    if not files:
        sys.exit(f"{run}/trace: no trace files (run with --set run.trace=true)")
    for f in files:
        text = open(f).read().rstrip().rstrip(",")
        if not text.endswith("]"):
            text += "]"
        ev += [e for e in json.loads(text) if e.get("ph") == "X"]
    return ev


def costs(run):
    ev = load_trace(run)
    metrics = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    iters = sorted({e["args"]["iteration"] for e in ev if e["name"] == "iteration"})
    n_it = len(iters)
    if not n_it:
        sys.exit(f"{run}: no complete iteration in the trace")

    def spans(name):
        return [e["dur"] * 1e-6 for e in ev if e["name"] == name]

    def total(name):
        return sum(spans(name))

    m = metrics[-1]
    groups, units, steps = m["groups"], m["units"], m["optimizer_steps"]
    sample = spans("sample")
    embedded = total("oracle_compute") == 0
    oracle_total = total("oracle_submit") if embedded else total("oracle_compute")
    # the embedded oracle evaluates inside the actor's sample spans (while submitting): take it out
    sample_only = sum(sample) - (oracle_total if embedded else 0.0)
    c = {
        "iterations": n_it,
        "groups": groups,
        "molecules": m["molecules"],
        "units": units,
        "optimizer_steps": steps,
        "t_block": sample_only / len(sample),
        "t_oracle": oracle_total / (n_it * groups),
        "t_unit": total("gradient") / (n_it * units),
        "t_opt": total("optimizer") / (n_it * steps),
        "t_reward": total("reward") / (n_it * groups),
        "t_ckpt": (sum(spans("checkpoint_io")) / len(spans("checkpoint_io"))) if spans("checkpoint_io") else 0.0,
        "iteration_s": total("iteration") / max(1, len({e["pid"] for e in ev if e["name"] == "iteration"})) / n_it,
        "oracle": "embedded" if embedded else "oracle ranks",
    }
    return c


def project(c, nodes, cores, params, alpha, beta, groups, units_per_step, steps):
    R = nodes * cores
    ratio = c["t_oracle"] / c["t_block"]
    O = max(0, min(R - 1, round(R * ratio / (1 + ratio)))) if R > 1 else 0
    A = R - O
    P = groups
    if O == 0:
        roll = math.ceil(P / A) * (c["t_block"] + c["t_oracle"])
    else:
        roll = max(math.ceil(P / A) * c["t_block"], math.ceil(P / O) * c["t_oracle"]) + min(c["t_block"], c["t_oracle"])
    reward = P * c["t_reward"] + A * alpha
    msg = 4.0 * params / beta
    fold = units_per_step * (alpha + msg)
    bcast = 2 * msg + math.log2(max(R, 2)) * alpha
    grad = math.ceil(units_per_step / A) * c["t_unit"]
    update = steps * (grad + fold + c["t_opt"] + bcast)
    return {"nodes": nodes, "ranks": R, "actors": A, "oracles": O, "rollout": roll, "reward": reward,
            "gradient": steps * grad, "comm": steps * (fold + bcast), "optimizer": steps * c["t_opt"],
            "iteration": roll + reward + update, "molecules": P * 4}


def svg_plot(path, title, xlabel, ylabel, series, logy=True):
    """series: [(label, color, [(x, y)...])]; x on a log2 axis."""
    W, H, L, B, T, Rm = 700, 400, 70, 50, 40, 190
    xs = [x for _, _, pts in series for x, _ in pts]
    ys = [y for _, _, pts in series for _, y in pts if y > 0]
    x0, x1 = math.log2(min(xs)), math.log2(max(xs))
    f = (lambda v: math.log10(v)) if logy else (lambda v: v)
    y0, y1 = f(min(ys)), f(max(ys))
    if logy:
        y0, y1 = math.floor(y0), math.ceil(y1)
    else:
        y0, y1 = 0.0, max(1.0, y1 * 1.1)
    px = lambda x: L + (math.log2(x) - x0) / max(1e-9, x1 - x0) * (W - L - Rm)
    py = lambda y: H - B - (f(y) - y0) / max(1e-9, y1 - y0) * (H - B - T)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2 - 60}" y="20" font-size="14">{title}</text>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - Rm}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
           f'<text x="{(L + W - Rm) / 2 - 20}" y="{H - 12}">{xlabel}</text>',
           f'<text x="14" y="{T - 10}">{ylabel}</text>']
    for x in sorted(set(xs)):
        out.append(f'<text x="{px(x) - 6}" y="{H - B + 16}">{x}</text>')
    ticks = [10 ** k for k in range(int(y0), int(y1) + 1)] if logy else [y0 + (y1 - y0) * i / 5 for i in range(6)]
    for t in ticks:
        out.append(f'<line x1="{L - 4}" y1="{py(t)}" x2="{W - Rm}" y2="{py(t)}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 60}" y="{py(t) + 4}">{t:.3g}</text>')
    for i, (label, color, pts) in enumerate(series):
        d = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts if y > 0)
        out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in pts:
            if y > 0:
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        out.append(f'<rect x="{W - Rm + 10}" y="{T + 18 * i}" width="12" height="3" fill="{color}"/>')
        out.append(f'<text x="{W - Rm + 28}" y="{T + 18 * i + 5}">{label}</text>')
    out.append("</svg>")
    open(path, "w").write("\n".join(out) + "\n")


# the four projections: strong / weak x step size kept (S grows with P) / steps kept (batch grows)
LABEL = {"strong_steps": "strong, step size kept", "strong_batch": "strong, steps kept",
         "weak_steps": "weak, step size kept", "weak_batch": "weak, steps kept"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--params", type=int, required=True, help="parameters of the model (the run's log line)")
    ap.add_argument("--cores-per-node", type=int, default=64)
    ap.add_argument("--alpha-us", type=float, default=2.0)
    ap.add_argument("--beta-gbs", type=float, default=12.5)
    ap.add_argument("--strong-groups", type=int, default=1024, help="groups per iteration of the strong-scaling problem")
    ap.add_argument("--weak-groups-per-core", type=int, default=2)
    ap.add_argument("--cost-divisor", type=float, default=1.0,
                    help="divide every measured compute cost by this (a trace taken on a loaded machine)")
    ap.add_argument("--out-dir", default=None)
    a = ap.parse_args()
    c = costs(a.run)
    if a.cost_divisor != 1.0:  # measured on a loaded machine: every compute cost was inflated alike
        for k in ("t_block", "t_oracle", "t_unit", "t_opt", "t_reward", "t_ckpt", "iteration_s"):
            c[k] /= a.cost_divisor
    alpha, beta = a.alpha_us * 1e-6, a.beta_gbs * 1e9
    print(f"## Per-task costs measured in {a.run} ({c['iterations']} iteration(s), oracle {c['oracle']})"
          + (f", divided by {a.cost_divisor:g}" if a.cost_divisor != 1.0 else "") + "\n")
    print("| cost | seconds | from |\n|---|---|---|")
    for k, what in [("t_block", "mean `sample` span (one block: one group of K molecules)"),
                    ("t_oracle", "oracle seconds per group"), ("t_unit", "`gradient` seconds per unit"),
                    ("t_opt", "mean `optimizer` span"), ("t_reward", "`reward` seconds per group (rank 0)"),
                    ("t_ckpt", "mean `checkpoint_io` span"), ("iteration_s", "mean `iteration` span")]:
        print(f"| {k} | {c[k]:.4g} | {what} |")
    print(f"\nper iteration: {c['groups']} groups, {c['molecules']} molecules, {c['units']} units in "
          f"{c['optimizer_steps']} optimizer steps; model {a.params} parameters ({4 * a.params / 1e6:.2f} MB float32)\n")
    nodes = [1, 2, 4, 8, 16, 32, 64]
    rows = {}
    # "steps": the run's molecules per optimizer step kept (optimizer steps grow with P; each
    # step's units bound its parallelism); "batch": the run's optimizer steps per iteration kept
    # (train_micro_batch_size grows with P: more units per step, the usual way to scale out)
    for kind, mode, groups_of in [("strong", "steps", lambda n: a.strong_groups),
                                  ("strong", "batch", lambda n: a.strong_groups),
                                  ("weak", "steps", lambda n: a.weak_groups_per_core * n * a.cores_per_node),
                                  ("weak", "batch", lambda n: a.weak_groups_per_core * n * a.cores_per_node)]:
        key = f"{kind}_{mode}"
        rows[key] = []
        size = 'P = %d groups' % a.strong_groups if kind == 'strong' else '%d groups per core' % a.weak_groups_per_core
        how = "molecules per optimizer step as measured" if mode == "steps" else "optimizer steps per iteration as measured"
        print(f"### {kind} scaling, {how} ({size}; {a.cores_per_node} cores per node, alpha {a.alpha_us} us, "
              f"beta {a.beta_gbs} GB/s)\n")
        print("| nodes | ranks | actors : oracles | rollout s | reward s | gradient s | fold+bcast s | iteration s | efficiency |")
        print("|---|---|---|---|---|---|---|---|---|")
        base = None
        for n in nodes:
            P = groups_of(n)
            if mode == "steps":
                steps = max(1, round(c["optimizer_steps"] * P / c["groups"]))
                ups = c["units"] / c["optimizer_steps"]
            else:
                steps = c["optimizer_steps"]
                ups = c["units"] * P / c["groups"] / steps
            p = project(c, n, a.cores_per_node, a.params, alpha, beta, P, ups, steps)
            if base is None:
                base = p["iteration"]
            eff = base / (n * p["iteration"]) if kind == "strong" else base / p["iteration"]
            p["efficiency"] = eff
            rows[key].append(p)
            print(f"| {n} | {p['ranks']} | {p['actors']} : {p['oracles']} | {p['rollout']:.4g} | {p['reward']:.4g} | "
                  f"{p['gradient']:.4g} | {p['comm']:.4g} | {p['iteration']:.4g} | {100 * eff:.0f}% |")
        print()
    if a.out_dir:
        os.makedirs(a.out_dir, exist_ok=True)
        for kind in rows:
            r = rows[kind]
            svg_plot(os.path.join(a.out_dir, f"projection_{kind}{'' if a.cost_divisor == 1.0 else f'_div{a.cost_divisor:g}'}.svg"), f"projected {LABEL[kind]}", "nodes",
                     "seconds per iteration",
                     [("iteration", "#1f77b4", [(p["nodes"], p["iteration"]) for p in r]),
                      ("rollout", "#2ca02c", [(p["nodes"], p["rollout"]) for p in r]),
                      ("gradient", "#ff7f0e", [(p["nodes"], p["gradient"]) for p in r]),
                      ("fold+bcast", "#d62728", [(p["nodes"], p["comm"]) for p in r]),
                      ("reward", "#9467bd", [(p["nodes"], p["reward"]) for p in r])])
        tag = "" if a.cost_divisor == 1.0 else f"_div{a.cost_divisor:g}"
        svg_plot(os.path.join(a.out_dir, f"projection_efficiency{tag}.svg"), "projected parallel efficiency", "nodes",
                 "efficiency", [(LABEL[k], col, [(p["nodes"], p["efficiency"]) for p in rows[k]])
                                for k, col in zip(rows, ["#1f77b4", "#2ca02c", "#ff7f0e", "#d62728"])], logy=False)
        json.dump({"costs": c, "params": a.params, "alpha_us": a.alpha_us, "beta_gbs": a.beta_gbs, "rows": rows},
                  open(os.path.join(a.out_dir, f"projection{tag}.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
