#!/usr/bin/python3
"""Quality of guided vs unguided sampling at equal cost.

usage: bench_guidance_quality.py ELIGN MODEL.h5 ZOO OUTDIR [--n 64] [--T 1000] [--scale 0.01]
                                 [--oracle ani] [--seed 11] [--post POST.h5]

1. Samples N molecules unguided (T steps) and guided (--guidance ORACLE, T steps) and
   measures each run's CPU time (user + sys of the child process: steadier than wall time
   on a shared machine; both runs use one thread, OMP_NUM_THREADS=1).
2. ratio r = guided / unguided CPU time. The guided sampler gets the unguided run's budget
   by taking fewer steps: K = the largest divisor of T with K <= T / r (--steps K), sampled
   and timed too.
3. With --post, the post-trained model (Elign's answer: no oracle at sampling time) is
   sampled unguided with the same seed and T, and timed.
4. `elign eval` of the sets with the same oracle (no relaxation): EDM stability, RDKit
   validity, atomization energy per atom (the energy minus the oracle's lone atoms, which a
   shift of the element mix moves far less than the total energy per atom) and RMS force.
Equal cost here means equal CPU seconds of one process; the molecule sizes come from the
model's histogram (QM9-like: up to 29 atoms).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time


def run_timed(cmd):
    """Run cmd; return (CPU seconds of the child, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("elign")
    p.add_argument("model")
    p.add_argument("zoo")
    p.add_argument("out")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--T", type=int, default=1000)
    p.add_argument("--scale", type=float, default=0.01)
    p.add_argument("--oracle", default="ani")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--post", help="a post-trained model, sampled unguided beside the others")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    base = [a.elign, "--quiet", "sample", "--model", a.model, "-n", str(a.n), "--T", str(a.T), "--seed",
            str(a.seed), "--force"]
    guide = ["--guidance", a.oracle, "--guidance-scale", str(a.scale)]
    if a.oracle == "ani":
        guide += ["--model-dir", a.zoo]
    runs = []
    cpu_u, wall_u = run_timed(base + ["--out", f"{a.out}/unguided.h5"])
    runs.append(("unguided", a.T, cpu_u, wall_u, f"{a.out}/unguided.h5"))
    cpu_g, wall_g = run_timed(base + guide + ["--out", f"{a.out}/guided.h5"])
    runs.append(("guided", a.T, cpu_g, wall_g, f"{a.out}/guided.h5"))
    r = cpu_g / cpu_u
    k = max(d for d in range(1, a.T + 1) if a.T % d == 0 and d <= a.T / r)
    cpu_k, wall_k = run_timed(base + guide + ["--steps", str(k), "--out", f"{a.out}/guided_k{k}.h5"])
    runs.append((f"guided K={k}", k, cpu_k, wall_k, f"{a.out}/guided_k{k}.h5"))
    if a.post:
        post = [x if x != a.model else a.post for x in base]
        cpu_p, wall_p = run_timed(post + ["--out", f"{a.out}/post_unguided.h5"])
        runs.append(("post-trained", a.T, cpu_p, wall_p, f"{a.out}/post_unguided.h5"))

    rows = []
    for name, steps, cpu, wall, path in runs:
        js = f"{path[:-3]}.json"
        cmd = [a.elign, "--quiet", "eval", path, "--oracle", a.oracle, "--no-print", "--restart", "--force",
               "--out", js]
        if a.oracle == "ani":
            cmd += ["--model-dir", a.zoo]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        m = json.load(open(js))["samples"]["mean"]
        o = m[f"oracle:{a.oracle}"]
        rows.append((name, steps, cpu, wall, 100 * m["stability"]["atom_stable"], 100 * m["stability"]["mol_stable"],
                     100 * m["rdkit"]["validity"], o["atomization_energy_per_atom_mean"], o["frms_median"], o["frms_mean"],
                     int(o["n_ok"])))
    print(f"{a.n} molecules from {a.model}, seed {a.seed}; guidance: {a.oracle}, scale {a.scale} Å²/eV at every step;"
          f" guided/unguided CPU ratio at T = {a.T}: {r:.2f}")
    print("%-14s %6s %9s %9s %8s %8s %8s %12s %11s %11s %6s" % ("sampler", "steps", "CPU s", "wall s", "A %", "M %",
          "V %", "Eat/atom eV", "RMS F med", "RMS F mean", "ok"))
    for row in rows:
        print("%-14s %6d %9.1f %9.1f %8.2f %8.2f %8.2f %12.3f %11.3f %11.3f %6d" % row)
    print("A/M: EDM atom / molecule stability; V: RDKit validity; Eat/atom (atomization energy per atom) and RMS F "
          "(eV/Å, per-atom magnitude) under "
          f"{a.oracle}; CPU s = user + sys of the sampling process (one thread); wall s on a shared machine.")


if __name__ == "__main__":
    sys.exit(main())
