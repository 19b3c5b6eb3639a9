"""grpo_ref.py — an independent NumPy/PyTorch re-implementation of the
FED-GRPO numerics (ALGORITHMS.md §4.5–4.10, plus Elign-C's documented
deviations in docs/fed-grpo.md), written from the spec, and a JSON fixture of
random cases with its answers for tests/test_grpo_ref.c.

Everything here is float64. Settings travel as {dotted config key: value};
the C side applies them with grpo_settings_set_*. Non-finite oracle outputs
cannot be written in JSON, so they travel as index lists (nan_energy,
nan_force_atoms) that the C test turns into NaN.

usage: grpo_ref.py OUT.json [--seed 0]
"""
import argparse
import json
import math

import numpy as np
import torch

# ---- settings ---------------------------------------------------------------

DEFAULTS = {
    "model.time_step": 1000, "model.share_initial_noise": False, "model.skip_prefix": None,
    "reward.force_clip_threshold": None, "reward.force_aggregation": "rms", "reward.use_energy": False,
    "reward.energy_only_if_stable": False, "reward.force_only_if_stable": False,
    "reward.force_weight": 1.0, "reward.energy_weight": 1.0,
    "reward.force_adv_weight": None, "reward.energy_adv_weight": None,
    "reward.stability_weight": 0.0, "reward.atom_stability_weight": 0.0,
    "reward.valence_underbond_weight": 0.0, "reward.valence_overbond_weight": 0.0,
    "reward.valence_underbond_soft_weight": 0.0, "reward.valence_overbond_soft_weight": 0.0,
    "reward.valence_soft_temperature": 0.02, "reward.energy_transform_offset": 10000.0,
    "reward.energy_transform_scale": 1000.0, "reward.energy_transform_clip": None,
    "reward.energy_normalize_by_atoms": False, "reward.energy_atom_refs": None,
    "reward.oracle_failure": "min_margin", "reward.oracle_failure_margin": 1.0,
    "reward.shaping.enabled": False, "reward.shaping.mode": "delta", "reward.shaping.gamma": 1.0,
    "reward.shaping.skip_prefix": 0, "reward.shaping.only_energy_reshape": False,
    "reward.shaping.terminal_weight": 1.5,
    "reward.shaping.scheduler.mode": "uniform", "reward.shaping.scheduler.skip_prefix": None,
    "reward.shaping.scheduler.uniform_stride": 1, "reward.shaping.scheduler.include_terminal": True,
    "reward.shaping.scheduler.adaptive.coarse_stride": 10, "reward.shaping.scheduler.adaptive.fine_stride": 2,
    "reward.shaping.scheduler.adaptive.threshold_fraction": 0.25,
    "reward.shaping.scheduler.adaptive.threshold_timestep": None,
    "filters.enable_filtering": False, "filters.enable_penalty": False, "filters.penalty_scale": 0.5,
    "filters.invalid_penalty_scale": 0.0, "filters.duplicate_penalty_scale": 0.0,
    "train.clip_range": 0.2, "train.kl_penalty_weight": 0.0, "train.adv_clip_max": 5.0,
    "train.clip_advantage_value": None, "train.train_micro_batch_size": 8,
    "train.gradient_accumulation_steps": 1, "train.loss_mean_over_accumulation": True,
}


class Cfg:
    def __init__(self, overrides):
        self.v = dict(DEFAULTS)
        self.v.update(overrides)
        self.overrides = overrides

    def __getitem__(self, k):
        return self.v[k]

    def tw(self):  # the rewarder's terminal weight
        return max(0.0, self["reward.shaping.terminal_weight"]) if self["reward.shaping.enabled"] else 1.0

    def wF(self):
        v = self["reward.force_adv_weight"]
        return self["reward.force_weight"] if v is None else v

    def wE(self):
        v = self["reward.energy_adv_weight"]
        return self["reward.energy_weight"] if v is None else v

    def clip_adv(self):
        v = self["train.clip_advantage_value"]
        if v is None:
            v = self["train.adv_clip_max"]
        return v if (v is not None and v > 0) else 5.0

    def sched_skip(self):
        v = self["reward.shaping.scheduler.skip_prefix"]
        return self["reward.shaping.skip_prefix"] if v is None else v


# ---- §4.5 rewards ---------------------------------------------------------------


def force_metric(F, cfg):
    n = F.shape[0]
    if n == 0:
        return 0.0
    norms = np.sqrt((F ** 2).sum(axis=1))
    c = cfg["reward.force_clip_threshold"]
    if c is not None:
        norms = norms * np.minimum(1.0, c / (norms + 1e-12))
    if cfg["reward.force_aggregation"] == "rms":
        return float(np.sqrt((norms ** 2).sum() / n))
    return float(norms.max())


def energy_potential(E, n, ref, cfg):
    e = E - ref
    if cfg["reward.energy_normalize_by_atoms"]:
        e = e / max(n, 1)
    t = (e + cfg["reward.energy_transform_offset"]) / cfg["reward.energy_transform_scale"]
    c = cfg["reward.energy_transform_clip"]
    if c is not None:
        t = min(max(t, -c), c)
    return -t


def frame_potentials(forces, energy, ok, sizes, ref_sum, cfg):
    """-> (phi_f, phi_e, failed); failure rule of docs/fed-grpo.md D1."""
    use_e = cfg["reward.use_energy"]
    off = np.concatenate([[0], np.cumsum(sizes)])
    B = len(sizes)
    pf, pe, failed = np.zeros(B), np.zeros(B), np.zeros(B, dtype=int)
    for b in range(B):
        F = forces[off[b]:off[b + 1]]
        good = bool(ok[b]) and np.all(np.isfinite(F)) and (not use_e or np.isfinite(energy[b]))
        failed[b] = 0 if good else 1
        ref = ref_sum[b] if (use_e and ref_sum is not None) else 0.0
        if good:
            pf[b] = -force_metric(F, cfg)
            pe[b] = energy_potential(energy[b], sizes[b], ref, cfg) if use_e else 0.0
        elif cfg["reward.oracle_failure"] == "reference":
            pf[b] = -force_metric(np.tile([5.0, 0.0, 0.0], (sizes[b], 1)), cfg)
            pe[b] = energy_potential(0.0, sizes[b], ref, cfg) if use_e else 0.0
    if failed.any() and cfg["reward.oracle_failure"] == "min_margin":
        m = cfg["reward.oracle_failure_margin"]
        okm = failed == 0
        mf = pf[okm].min() if okm.any() else 0.0
        me = pe[okm].min() if okm.any() else 0.0
        pf[~okm] = mf - m
        pe[~okm] = (me - m) if use_e else 0.0
    return pf, pe, failed


def valence_hard(nb, types, table, wu, wo):
    miss = exc = 0
    for t, b in zip(types, nb):
        allowed = sorted(table[t])
        if not allowed:
            continue
        if len(allowed) == 1:
            miss += max(allowed[0] - b, 0)
            exc += max(b - allowed[0], 0)
            continue
        if b in allowed:
            continue
        lower = [v for v in allowed if v < b]
        upper = [v for v in allowed if v > b]
        if not lower:
            miss += upper[0] - b
        elif not upper:
            exc += b - lower[-1]
        else:
            md, ed = upper[0] - b, b - lower[-1]
            if abs(wu) == 0:
                exc += ed
            elif abs(wo) == 0:
                miss += md
            elif ed * abs(wo) <= md * abs(wu):
                exc += ed
            else:
                miss += md
    return float(miss), float(exc)


def valence_soft(pos, types, bonds, margins, table, tau):
    n = len(types)
    val = np.zeros(n, dtype=np.float32)

    def S(u):
        u = min(max(u, -60.0), 60.0)
        return 1.0 / (1.0 + math.exp(-u))

    for i in range(n):
        for j in range(i + 1, n):
            a, b = types[i], types[j]
            l1, l2, l3 = bonds[0][a][b], bonds[1][a][b], bonds[2][a][b]
            if l1 <= 0:
                continue
            d = float(np.linalg.norm(pos[i] - pos[j]))
            o = S((l1 / 100.0 + margins[0] / 100.0 - d) / tau)
            if l2 > 0:
                o += S((l2 / 100.0 + margins[1] / 100.0 - d) / tau)
                if l3 > 0:
                    o += S((l3 / 100.0 + margins[2] / 100.0 - d) / tau)
            val[i] = np.float32(float(val[i]) + o)
            val[j] = np.float32(float(val[j]) + o)
    miss = exc = 0.0
    for t, v in zip(types, val):
        allowed = table[t]
        if not allowed:
            continue
        v = float(v)
        best = min(sorted(allowed), key=lambda a: abs(a - v))  # min keeps the first on ties
        miss += max(best - v, 0.0)
        exc += max(v - best, 0.0)
    return miss, exc


def molecule_terms(sizes, types, stable, n_stable, nr_bonds, pos, valence, bonds, margins, cfg):
    off = np.concatenate([[0], np.cumsum(sizes)])
    wu, wo = cfg["reward.valence_underbond_weight"], cfg["reward.valence_overbond_weight"]
    wus, wos = cfg["reward.valence_underbond_soft_weight"], cfg["reward.valence_overbond_soft_weight"]
    out = []
    for b, n in enumerate(sizes):
        t = dict(stability=0.0, atom_stability=0.0, vu=0.0, vo=0.0, vus=0.0, vos=0.0)
        sl = slice(off[b], off[b + 1])
        if n > 0:
            t["stability"] = 1.0 if stable[b] else 0.0
            t["atom_stability"] = n_stable[b] / n
            if wu != 0 or wo != 0:
                t["vu"], t["vo"] = valence_hard(nr_bonds[sl], types[sl], valence, wu, wo)
            if (wus != 0 or wos != 0) and bonds is not None:
                t["vus"], t["vos"] = valence_soft(pos[sl], types[sl], bonds, margins, valence,
                                                  cfg["reward.valence_soft_temperature"])
        bonus = 0.0
        if cfg["reward.stability_weight"] != 0:
            bonus += cfg["reward.stability_weight"] * (2 * t["stability"] - 1)
        if cfg["reward.atom_stability_weight"] != 0:
            bonus += -cfg["reward.atom_stability_weight"] * min(max(1 - t["atom_stability"], 0), 1)
        bonus += -wu * t["vu"] - wo * t["vo"] - wus * t["vus"] - wos * t["vos"]
        t["bonus"] = bonus
        out.append(t)
    return out


def finish(R, last, terms, cfg):
    """§4.5 items 9–11 on R = dict(f, e[, rts, fts, ets])."""
    use_e = cfg["reward.use_energy"]
    tw = cfg.tw()
    fw, ew = cfg["reward.force_weight"], cfg["reward.energy_weight"]
    st = np.array([t["stability"] for t in terms])
    bonus = np.array([t["bonus"] for t in terms])
    if cfg["reward.force_only_if_stable"]:
        R["f"] = R["f"] * st
        if R.get("fts") is not None:
            R["fts"] = R["fts"] * st[:, None]
        if R.get("rts") is not None and not use_e:
            R["rts"] = R["rts"] * st[:, None]
    R["f"] = R["f"] + bonus
    if not use_e:
        R["e"] = np.zeros_like(R["f"])
    elif cfg["reward.energy_only_if_stable"]:
        R["e"] = R["e"] * st
        if R.get("ets") is not None:
            R["ets"] = R["ets"] * st[:, None]
    R["wf"] = fw * tw * R["f"]
    R["we"] = ew * tw * R["e"]
    R["r"] = R["wf"] + R["we"]
    if R.get("rts") is not None:
        R["rts"][:, last] += fw * tw * bonus
        if R.get("fts") is not None:
            R["fts"][:, last] += tw * bonus
        if use_e and R.get("fts") is not None and R.get("ets") is not None:
            R["rts"] = fw * R["fts"] + ew * R["ets"]
        R["r"] = R["rts"].sum(axis=1)
    return R


# ---- §4.6 shaping ---------------------------------------------------------------


def schedule(timesteps, cfg):
    S = len(timesteps)
    end = S - 1
    tmax = max(timesteps)
    adaptive = cfg["reward.shaping.scheduler.mode"] == "adaptive"
    th = None
    if adaptive:
        tt = cfg["reward.shaping.scheduler.adaptive.threshold_timestep"]
        if tt is not None:
            th = float(tt)
        elif tmax > 0:
            th = tmax * cfg["reward.shaping.scheduler.adaptive.threshold_fraction"]

    def stride(ts):
        if not adaptive:
            return cfg["reward.shaping.scheduler.uniform_stride"]
        if th is None:
            return cfg["reward.shaping.scheduler.adaptive.fine_stride"]
        return (cfg["reward.shaping.scheduler.adaptive.coarse_stride"] if ts > th
                else cfg["reward.shaping.scheduler.adaptive.fine_stride"])

    k = min(cfg.sched_skip(), end)
    idx = []
    while k <= end:
        idx.append(k)
        k += stride(timesteps[k])
    if cfg["reward.shaping.scheduler.include_terminal"] and idx[-1] != end:
        idx.append(end)
    iv = [idx[j + 1] - idx[j] for j in range(len(idx) - 1)] + [1]
    fine = [1 if (th is not None and timesteps[k] <= th) else 0 for k in idx]
    return idx, iv, fine


def std_timesteps(T):
    return [T - k - 1 for k in range(T)] + [0]


def shaped(idx, iv, S, phi_f, phi_e, terms, cfg):
    """phi_*: (J, B). -> R dict."""
    use_e = cfg["reward.use_energy"]
    J, B = phi_f.shape
    last = idx[-1]
    tw = cfg.tw()
    fw, ew = cfg["reward.force_weight"], cfg["reward.energy_weight"]
    g = cfg["reward.shaping.gamma"]
    R = dict(f=phi_f[J - 1].copy(), e=phi_e[J - 1].copy() if use_e else np.zeros(B))
    if cfg["reward.shaping.mode"] == "delta":
        sf, se = np.zeros((B, S)), np.zeros((B, S))
        for j in range(J - 1):
            fac = g ** max(iv[j], 1)
            if not cfg["reward.shaping.only_energy_reshape"]:
                sf[:, idx[j]] = fac * phi_f[j + 1] - phi_f[j]
            if use_e:
                se[:, idx[j]] = fac * phi_e[j + 1] - phi_e[j]
        rts = fw * sf + (ew * se if use_e else 0.0)
        fts = sf.copy()
        ets = se.copy() if use_e else None
        rts[:, last] = fw * tw * phi_f[J - 1]
        fts[:, last] = tw * phi_f[J - 1]
        if use_e:
            rts[:, last] += ew * tw * phi_e[J - 1]
            ets[:, last] = tw * phi_e[J - 1]
        R.update(rts=rts, fts=fts, ets=ets)
    else:
        fts = np.zeros((B, S))
        fts[:, last] = phi_f[J - 1]
        ets = None
        if use_e:
            ets = np.zeros((B, S))
            for j, k in enumerate(idx):
                ets[:, k] = phi_e[j]
        R.update(rts=None, fts=fts, ets=ets)
    return finish(R, last, terms, cfg)


# ---- §4.7 filter ------------------------------------------------------------------


def apply_filter(R, smiles, known, cfg):
    B = len(smiles)
    valid = np.array([s is not None for s in smiles], dtype=float)
    nv = int(valid.sum())
    uniq = len({s for s in smiles if s is not None})
    stats = dict(validity=nv / B if B else 0.0, uniqueness=uniq / nv if nv else 0.0, nov_ratio=1.0)
    ts_keys = [k for k in ("rts", "fts", "ets") if R.get(k) is not None]
    sc_keys = ["r", "f", "e", "wf", "we"]
    ci = cfg["filters.invalid_penalty_scale"]
    cd = cfg["filters.duplicate_penalty_scale"]
    if ci > 0:
        for k in ["f", "wf", "e", "we", "r"]:
            R[k] = R[k] * valid
        for k in ts_keys:
            R[k] = R[k] * valid[:, None]
        if R.get("rts") is None:
            R["r"] = R["wf"] + R["we"]
    dedup, pen_on = cfg["filters.enable_filtering"], cfg["filters.enable_penalty"]
    keep = list(range(B))
    if dedup or pen_on or ci > 0 or cd > 0:
        groups = {}
        for b, s in enumerate(smiles):
            if s is not None:
                groups.setdefault(s, []).append(b)

        def add_pen(p):
            for k in ("r", "f", "e"):
                R[k] = R[k] + p
            for k in ts_keys:
                R[k][:, -1] += p

        if dedup:
            km = [s is None for s in smiles]
            for members in groups.values():
                best = max(members, key=lambda b: R["f"][b])  # max() returns the first maximum
                km[best] = True
            keep = [b for b in range(B) if km[b]]
        if cd > 0 and groups:
            p = np.zeros(B)
            for members in groups.values():
                c = len(members)
                if c < 2:
                    continue
                if dedup:
                    kept = [b for b in members if b in keep]
                    p[kept[0]] = -cd * (c - 1)
                else:
                    p[members] = -cd * (c - 1) / c
            add_pen(p)
        if pen_on:
            nov = np.array([-1.0 if (s is None or known[b]) else 0.0 for b, s in enumerate(smiles)])
            stats["nov_ratio"] = 1 + nov.sum() / B
            add_pen(cfg["filters.penalty_scale"] * nov)
        if ci > 0 and nv < B:
            vm = valid > 0
            for k in sc_keys:
                lo = R[k][vm].min() if vm.any() else R[k].min()
                R[k] = np.where(vm, R[k], lo - ci)
            for k in ts_keys:
                lo = R[k][vm, -1].min() if vm.any() else R[k][:, -1].min()
                R[k][~vm, -1] = lo - ci
    for k in sc_keys:
        R[k] = R[k][keep]
    for k in ts_keys:
        R[k] = R[k][keep]
    stats["keep"] = keep
    return R, stats


# ---- §4.8 advantages --------------------------------------------------------------


def gnorm(x):
    x = np.asarray(x, dtype=float)
    if np.all(x == x[0]):
        return np.zeros_like(x)
    return (x - x.mean()) / (x.std() + 1e-8)  # numpy std: population


def per_group(mat, groups):
    """mat (B,) or (B, T): normalise each group, per column."""
    out = np.zeros_like(mat)
    for g in np.unique(groups):
        m = groups == g
        if mat.ndim == 1:
            out[m] = gnorm(mat[m])
        else:
            for k in range(mat.shape[1]):
                out[m, k] = gnorm(mat[m, k])
    return out


def advantages(R, groups, T, timesteps, sched_idx, cfg):
    wF, wE, clip, twA = cfg.wF(), cfg.wE(), cfg.clip_adv(), cfg["reward.shaping.terminal_weight"]
    groups = np.asarray(groups)
    if cfg["reward.shaping.mode"] in ("pbrs_return_to_go",) and R.get("ets") is not None:
        path = 2
        ets = R["ets"]
        if sched_idx is not None:
            I = [k for k in sched_idx if k < T]
        else:
            I = [k for k in range(T) if np.abs(ets[:, k]).max() > 1e-12]
        G = np.zeros((len(groups), T))
        for k in I:
            G[:, k] = cfg["reward.shaping.gamma"] ** (timesteps[k] + 1) * R["e"] - ets[:, k]
        A = wF * per_group(R["f"], groups)[:, None] + wE * per_group(G, groups)
    elif R.get("rts") is not None:
        path = 1

        def fold(x):
            y = x[:, :T].copy()
            y[:, T - 1] += x[:, T:].sum(axis=1)
            return y
        if R.get("fts") is not None and R.get("ets") is not None:
            A = wF * per_group(fold(R["fts"]), groups) + wE * per_group(fold(R["ets"]), groups)
        else:
            A = per_group(fold(R["rts"]), groups)
    else:
        path = 0
        A = wF * per_group(R["f"], groups) + wE * per_group(R["e"], groups)
    if path != 0 and twA != 1.0:
        A[:, -1] *= twA
    A = np.clip(A, -clip, clip)
    zero = 0
    for g in np.unique(groups):
        if np.all(A[groups == g] == 0):
            zero += 1
    return path, A, zero


# ---- §4.9–4.10 PPO ---------------------------------------------------------------


def ppo_torch(logp, old, adv, eps, c, w):
    lp = torch.tensor(logp, dtype=torch.float64, requires_grad=True)
    A = torch.clamp(torch.tensor(adv, dtype=torch.float64), -c, c)
    ratio = torch.exp(lp - torch.tensor(old, dtype=torch.float64))
    un = -A * ratio
    cl = -A * torch.clamp(ratio, 1.0 - eps, 1.0 + eps)
    pg = torch.maximum(un, cl)
    (w * pg.sum()).backward()
    return dict(dlogp=lp.grad.tolist(), policy_loss=float(pg.mean()),
                clipfrac=float((torch.abs(ratio - 1.0) > eps).double().mean()),
                adv_clipfrac=float((torch.tensor(adv, dtype=torch.float64).abs() > c).double().mean()),
                weighted=float(w * pg.sum()))


def kl_torch(mu, mu_ref, sigma, sizes, dkl):
    m = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    mr = torch.tensor(mu_ref, dtype=torch.float64)
    sg = torch.clamp(torch.tensor(sigma, dtype=torch.float64), min=1e-8)
    off = np.concatenate([[0], np.cumsum(sizes)])
    kls = []
    for b in range(len(sizes)):
        d = m[off[b]:off[b + 1]] - mr[off[b]:off[b + 1]]
        kls.append((d ** 2 / (2 * sg[b] ** 2 + 1e-12)).sum())
    kl = torch.stack(kls)
    (torch.tensor(dkl, dtype=torch.float64) * kl).sum().backward()
    return kl.tolist(), m.grad.reshape(-1).tolist()


def step_torch(z_s, mu, mu_ref, sigma, eps_coef, sizes, old, adv, eps, c, beta, w):
    """Whole step: dL/dε̂ = −eps_coef_b · dL/dμ with ℓ_b the Gaussian log-prob."""
    m = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    zs = torch.tensor(z_s, dtype=torch.float64)
    off = np.concatenate([[0], np.cumsum(sizes)])
    lps, kls = [], []
    for b in range(len(sizes)):
        sl = slice(off[b], off[b + 1])
        s = max(sigma[b], 1e-12)
        d = zs[sl] - m[sl]
        lps.append((-0.5 * (d / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)).sum())
        if beta > 0:
            sk = max(sigma[b], 1e-8)
            kls.append(((m[sl] - torch.tensor(mu_ref[sl], dtype=torch.float64)) ** 2 / (2 * sk * sk + 1e-12)).sum())
    lp = torch.stack(lps)
    A = torch.clamp(torch.tensor(adv, dtype=torch.float64), -c, c)
    ratio = torch.exp(lp - torch.tensor(old, dtype=torch.float64))
    pg = torch.maximum(-A * ratio, -A * torch.clamp(ratio, 1 - eps, 1 + eps))
    L = w * pg.sum()
    if beta > 0:
        L = L + w * beta * torch.stack(kls).sum()
    L.backward()
    coef = np.repeat(np.asarray(eps_coef), np.asarray(sizes))[:, None]
    d_eps = -coef * m.grad.numpy()
    return dict(logp=lp.tolist(), loss=float(L), d_eps_hat=d_eps.reshape(-1).tolist())


def plan(n_kept, T_act, m, accum, mean_over_accum):
    if n_kept == 0 or T_act == 0:
        return []
    if m >= n_kept:
        chunks = [(0, n_kept)]
    else:
        chunks = [(i * m, m) for i in range(n_kept // m)]
        if n_kept % m:
            chunks.append((n_kept - n_kept % m, n_kept % m))
    out = []
    for i, (b, c) in enumerate(chunks):
        step = i // accum
        after = (i + 1) % accum == 0 or i + 1 == len(chunks)
        if mean_over_accum:
            mols = sum(cc for j, (_, cc) in enumerate(chunks) if j // accum == step)
            w = 1.0 / (mols * T_act)
        else:
            w = 1.0 / (c * accum * T_act)
        out.append([b, c, step, int(after), w])
    return out


# ---- random cases -------------------------------------------------------------------

QM9_TYPES = ["H", "C", "N", "O", "F"]
B1 = {("H", "H"): 74, ("H", "C"): 109, ("H", "N"): 101, ("H", "O"): 96, ("H", "F"): 92, ("C", "C"): 154,
      ("C", "N"): 147, ("C", "O"): 143, ("C", "F"): 135, ("N", "N"): 145, ("N", "O"): 140, ("N", "F"): 136,
      ("O", "O"): 148, ("O", "F"): 142, ("F", "F"): 142}
B2 = {("C", "C"): 134, ("C", "N"): 129, ("C", "O"): 120, ("N", "N"): 125, ("N", "O"): 121, ("O", "O"): 121}
B3 = {("C", "C"): 120, ("C", "N"): 116, ("C", "O"): 113, ("N", "N"): 110}


def qm9_bond_table():
    t = [[[0.0] * 5 for _ in range(5)] for _ in range(3)]
    for order, tab in enumerate((B1, B2, B3)):
        for (a, b), v in tab.items():
            i, j = QM9_TYPES.index(a), QM9_TYPES.index(b)
            t[order][i][j] = t[order][j][i] = float(v)
    return t


# H 1, C 4, N {3, 5} (P-like, exercises the list rule), O {2}, F {1, 2} (synthetic list)
VALENCE = [[1], [4], [3, 5], [2], [1, 2]]
MARGINS = [10.0, 5.0, 3.0]


def rand_settings(rng, shaping=False):
    s = {}
    s["reward.force_clip_threshold"] = None if rng.random() < 0.4 else float(rng.uniform(0.5, 4))
    s["reward.force_aggregation"] = "rms" if rng.random() < 0.6 else "max"
    s["reward.use_energy"] = bool(rng.random() < 0.7)
    s["reward.energy_only_if_stable"] = bool(rng.random() < 0.4)
    s["reward.force_only_if_stable"] = bool(rng.random() < 0.3)
    s["reward.force_weight"] = float(rng.choice([1.0, 0.7]))
    s["reward.energy_weight"] = float(rng.choice([1.0, 0.25]))
    s["reward.stability_weight"] = float(rng.choice([0.0, 2.0]))
    s["reward.atom_stability_weight"] = float(rng.choice([0.0, 20.0]))
    s["reward.valence_underbond_weight"] = float(rng.choice([0.0, 1.0, 3.0]))
    s["reward.valence_overbond_weight"] = float(rng.choice([0.0, 1.0, 2.0]))
    s["reward.valence_underbond_soft_weight"] = float(rng.choice([0.0, 2.0]))
    s["reward.valence_overbond_soft_weight"] = float(rng.choice([0.0, 1.0]))
    s["reward.valence_soft_temperature"] = float(rng.choice([0.02, 0.05]))
    if rng.random() < 0.5:
        s["reward.energy_transform_offset"] = 0.0
        s["reward.energy_transform_scale"] = 1.0
        s["reward.energy_normalize_by_atoms"] = True
        s["reward.energy_atom_refs"] = "omol"
    else:
        s["reward.energy_transform_clip"] = float(rng.choice([5.0, 3.0])) if rng.random() < 0.6 else None
    s["reward.oracle_failure"] = "min_margin" if rng.random() < 0.7 else "reference"
    s["reward.oracle_failure_margin"] = float(rng.choice([1.0, 0.5]))
    if shaping:
        s["reward.shaping.enabled"] = True
        s["reward.shaping.terminal_weight"] = float(rng.choice([1.0, 5.0]))
        s["reward.shaping.gamma"] = float(rng.choice([1.0, 0.99]))
        s["reward.shaping.mode"] = "delta" if rng.random() < 0.5 else "pbrs_return_to_go"
        s["reward.shaping.only_energy_reshape"] = bool(rng.random() < 0.3)
    return s


def rand_batch(rng, sizes):
    N = sum(sizes)
    types = rng.integers(0, 5, N)
    pos = rng.normal(0, 1.0, (N, 3))
    # bring a few pairs to bond-like distances so the soft orders are not all 0 or 1
    for i in range(1, N):
        if rng.random() < 0.5:
            d = rng.normal(0, 1, 3)
            pos[i] = pos[i - 1] + d / np.linalg.norm(d) * rng.uniform(0.9, 1.6)
    return types, pos


def reward_case(rng, shaping, T=None):
    cfg_over = rand_settings(rng, shaping)
    cfg = Cfg(cfg_over)
    B = int(rng.integers(3, 9))
    sizes = [int(x) for x in rng.integers(1, 7, B)]
    if rng.random() < 0.2:
        sizes[int(rng.integers(0, B))] = 0
    N = sum(sizes)
    types, pos = rand_batch(rng, sizes)
    stable = rng.integers(0, 2, B)
    n_stable = [int(rng.integers(0, n + 1)) for n in sizes]
    nr_bonds = rng.integers(0, 7, N)
    refs = rng.uniform(-1100, -10, 5) if cfg["reward.energy_atom_refs"] else None
    off = np.concatenate([[0], np.cumsum(sizes)])
    ref_sum = None
    if refs is not None:
        ref_sum = np.array([refs[types[off[b]:off[b + 1]]].sum() for b in range(B)])

    def oracle_frame():
        F = rng.normal(0, 1.5, (N, 3))
        E = rng.uniform(-12000, -8000, B) if cfg["reward.energy_atom_refs"] is None else \
            (ref_sum + rng.uniform(-40, -2, B) if ref_sum is not None else rng.uniform(-12000, -8000, B))
        ok = (rng.random(B) > 0.15).astype(int)
        nan_e = [int(b) for b in range(B) if rng.random() < 0.05]
        nan_f = [int(a) for a in range(N) if rng.random() < 0.03]
        Fx, Ex = F.copy(), E.copy()
        Ex[nan_e] = np.nan
        Fx[nan_f, 1] = np.nan
        return dict(forces=F.reshape(-1).tolist(), energy=E.tolist(), ok=ok.tolist(), nan_energy=nan_e,
                    nan_force_atoms=nan_f), (Fx, Ex, ok)

    terms = molecule_terms(sizes, types, stable, n_stable, nr_bonds, pos, VALENCE, qm9_bond_table(), MARGINS, cfg)
    case = dict(settings=cfg_over, sizes=sizes, types=types.tolist(), positions=pos.reshape(-1).tolist(),
                stable=stable.tolist(), n_stable=n_stable, nr_bonds=nr_bonds.tolist(),
                ref_by_type=None if refs is None else refs.tolist(), valence=VALENCE, bonds=qm9_bond_table(),
                margins=MARGINS)
    exp_terms = dict(stability=[t["stability"] for t in terms], atom_stability=[t["atom_stability"] for t in terms],
                     vu=[t["vu"] for t in terms], vo=[t["vo"] for t in terms], vus=[t["vus"] for t in terms],
                     vos=[t["vos"] for t in terms], bonus=[t["bonus"] for t in terms])
    if not shaping:
        fr, (F, E, ok) = oracle_frame()
        pf, pe, failed = frame_potentials(F, E, ok, sizes, ref_sum, cfg)
        R = finish(dict(f=pf.copy(), e=pe.copy()), None, terms, cfg)
        case.update(frames=[fr], expect=dict(terms=exp_terms, phi_f=[pf.tolist()], phi_e=[pe.tolist()],
                                             failed=[failed.tolist()], **scalars(R)))
        return case
    cfg_over["reward.shaping.scheduler.mode"] = "adaptive" if rng.random() < 0.5 else "uniform"
    cfg_over["reward.shaping.scheduler.skip_prefix"] = int(rng.integers(0, T))
    cfg_over["reward.shaping.scheduler.uniform_stride"] = int(rng.integers(1, 4))
    cfg_over["reward.shaping.scheduler.adaptive.coarse_stride"] = 4
    cfg_over["reward.shaping.scheduler.adaptive.fine_stride"] = 2
    cfg_over["reward.shaping.scheduler.include_terminal"] = bool(rng.random() < 0.8)
    cfg = Cfg(cfg_over)
    ts = std_timesteps(T)
    idx, iv, _ = schedule(ts, cfg)
    frames, PF, PE, FL = [], [], [], []
    for _ in idx:
        fr, (F, E, ok) = oracle_frame()
        pf, pe, failed = frame_potentials(F, E, ok, sizes, ref_sum, cfg)
        frames.append(fr)
        PF.append(pf)
        PE.append(pe)
        FL.append(failed)
    R = shaped(idx, iv, T + 1, np.array(PF), np.array(PE), terms, cfg)
    case.update(T=T, frames=frames, expect=dict(terms=exp_terms, phi_f=[p.tolist() for p in PF],
                                                  phi_e=[p.tolist() for p in PE], failed=[f.tolist() for f in FL],
                                                  indices=idx, **scalars(R)))
    return case


def scalars(R):
    out = dict(force_rewards=R["f"].tolist(), energy_rewards=R["e"].tolist(), rewards=R["r"].tolist(),
               weighted_force_rewards=R["wf"].tolist(), weighted_energy_rewards=R["we"].tolist())
    for k, name in (("rts", "rewards_ts"), ("fts", "force_rewards_ts"), ("ets", "energy_rewards_ts")):
        if R.get(k) is not None:
            out[name] = R[k].reshape(-1).tolist()
    return out


def schedule_cases(rng):
    out = []
    fixed = [  # the spec's worked examples
        (1000, {"reward.shaping.scheduler.mode": "adaptive", "reward.shaping.scheduler.skip_prefix": 500}),
        (1000, {"reward.shaping.scheduler.mode": "uniform", "reward.shaping.scheduler.uniform_stride": 1,
                "reward.shaping.skip_prefix": 600}),
    ]
    for _ in range(30):
        T = int(rng.integers(1, 120))
        s = {"reward.shaping.scheduler.mode": "adaptive" if rng.random() < 0.5 else "uniform",
             "reward.shaping.scheduler.uniform_stride": int(rng.integers(1, 7)),
             "reward.shaping.scheduler.include_terminal": bool(rng.random() < 0.7),
             "reward.shaping.scheduler.adaptive.coarse_stride": int(rng.integers(1, 12)),
             "reward.shaping.scheduler.adaptive.fine_stride": int(rng.integers(1, 4)),
             "reward.shaping.scheduler.adaptive.threshold_fraction": float(rng.uniform(0, 1))}
        if rng.random() < 0.5:
            s["reward.shaping.scheduler.skip_prefix"] = int(rng.integers(0, T + 5))
        else:
            s["reward.shaping.skip_prefix"] = int(rng.integers(0, T + 5))
        if rng.random() < 0.3:
            s["reward.shaping.scheduler.adaptive.threshold_timestep"] = float(rng.integers(0, T + 1))
        fixed.append((T, s))
    for T, s in fixed:
        idx, iv, fine = schedule(std_timesteps(T), Cfg(s))
        out.append(dict(T=T, settings=s, expect=dict(indices=idx, intervals=iv, fine=fine)))
    return out


SMILES_POOL = ["C", "CC", "CO", "C=O", "N#N", "OCC", "c1ccccc1", "[H]OC([H])([H])[H]"]


def pick(rng, options):
    return list(options[int(rng.integers(0, len(options)))])


def rand_reward_batch(rng, B, S, kinds):
    R = dict(f=rng.normal(-2, 1, B), e=rng.normal(0, 2, B))
    fw, ew = 1.0, 0.5
    R["wf"], R["we"] = fw * R["f"], ew * R["e"]
    R["r"] = R["wf"] + R["we"] + rng.normal(0, 0.5, B)  # not yet consistent: the filter's step 2 re-sums it
    for k in kinds:
        R[k] = rng.normal(0, 1, (B, S))
    if "rts" in kinds:
        R["r"] = R["rts"].sum(axis=1)
    return R


def filter_cases(rng):
    out = []
    for i in range(40):
        B = int(rng.integers(1, 14))
        S = int(rng.choice([0, 5]))
        kinds = [] if S == 0 else pick(rng, [["rts", "fts", "ets"], ["fts", "ets"], ["rts", "fts"]])
        R = rand_reward_batch(rng, B, S, kinds)
        if rng.random() < 0.3:  # ties in the force reward
            R["f"][:] = np.round(R["f"])
        p_invalid = 1.0 if i == 0 else 0.25   # case 0: no valid molecule at all
        smiles = [None if rng.random() < p_invalid else str(rng.choice(SMILES_POOL[:int(rng.integers(1, 9))]))
                  for _ in range(B)]
        known = [int(rng.random() < 0.4) for _ in range(B)]
        s = {"filters.enable_filtering": bool(rng.random() < 0.6), "filters.enable_penalty": bool(rng.random() < 0.5),
             "filters.penalty_scale": float(rng.choice([0.5, 0.2])),
             "filters.invalid_penalty_scale": float(rng.choice([0.0, 2.0])),
             "filters.duplicate_penalty_scale": float(rng.choice([0.0, 0.05, 0.4]))}
        inp = scalars(R)
        Rf, st = apply_filter({k: (v.copy() if v is not None else None) for k, v in R.items()}, smiles, known, Cfg(s))
        out.append(dict(settings=s, S=S, smiles=smiles, known=known, input=inp,
                        expect=dict(keep=st["keep"], validity=st["validity"], uniqueness=st["uniqueness"],
                                    nov_ratio=st["nov_ratio"], **scalars(Rf))))
    return out


def advantage_cases(rng):
    out = []
    for i in range(36):
        path = i % 3
        T = int(rng.integers(2, 12))
        S = T + 1
        P = int(rng.integers(1, 4))
        groups = np.sort(rng.integers(0, P, int(rng.integers(1, 12))))
        B = len(groups)
        if path == 0:
            R = rand_reward_batch(rng, B, S, [])
        elif path == 1:
            R = rand_reward_batch(rng, B, S, pick(rng, [["rts", "fts", "ets"], ["rts", "fts"]]))
        else:
            R = rand_reward_batch(rng, B, S, ["fts", "ets"])
        if rng.random() < 0.3:  # a constant channel / column
            R["e"][:] = 0.1
            if R.get("ets") is not None:
                R["ets"][:, 0] = 0.3
        s = {"reward.shaping.mode": "pbrs_return_to_go" if path == 2 else "delta",
             "reward.shaping.gamma": float(rng.choice([1.0, 0.97])),
             "reward.shaping.terminal_weight": float(rng.choice([1.0, 1.5, 5.0])),
             "reward.force_adv_weight": float(rng.choice([1.0, 0.5])),
             "reward.energy_adv_weight": float(rng.choice([0.05, 1.0, 2.0])),
             "train.adv_clip_max": float(rng.choice([5.0, 1.5, 0.0]))}
        if rng.random() < 0.3:
            s["train.clip_advantage_value"] = float(rng.choice([0.8, 3.0]))
        sched = None
        if path == 2 and rng.random() < 0.7:
            sched = sorted(set(int(x) for x in rng.integers(0, S, int(rng.integers(1, S)))) | {T})
            for k in range(S):  # unscheduled columns hold 0, as the rewarder leaves them
                if k not in sched:
                    R["ets"][:, k] = 0.0
        p, A, zero = advantages(R, groups, T, std_timesteps(T), sched, Cfg(s))
        out.append(dict(settings=s, T=T, S=S, groups=groups.tolist(), schedule=sched, input=scalars(R),
                        expect=dict(path=p, adv=A.reshape(-1).tolist(), zero_signal=zero,
                                    n_groups=len(np.unique(groups)))))
    return out


def ppo_cases(rng):
    out = []
    for i in range(30):
        n = int(rng.integers(1, 10))
        old = rng.normal(-200, 30, n)
        eps = float(rng.choice([0.002, 0.15, 0.2]))
        drift = rng.normal(0, 2 * eps, n)
        if i % 5 == 0:
            drift[:] = 0.0  # ratio exactly 1: both terms tie
        logp = old + drift
        adv = rng.normal(0, 3, n)
        if i % 7 == 0:
            adv[0] = 0.0
        c = float(rng.choice([5.0, 1.0]))
        w = float(rng.uniform(0.001, 0.1))
        r = ppo_torch(logp.tolist(), old.tolist(), adv.tolist(), eps, c, w)
        out.append(dict(logp=logp.tolist(), old=old.tolist(), adv=adv.tolist(), eps=eps, c=c, w=w, expect=r))
    return out


def kl_cases(rng):
    out = []
    for _ in range(10):
        sizes = [int(x) for x in rng.integers(1, 6, int(rng.integers(1, 5)))]
        D = int(rng.choice([4, 9]))
        N = sum(sizes)
        mu = rng.normal(0, 1, (N, D))
        mu_ref = mu + rng.normal(0, 0.05, (N, D))
        sigma = rng.uniform(0.005, 0.2, len(sizes))
        sigma[0] = 1e-9 if rng.random() < 0.3 else sigma[0]  # exercises the 1e-8 floor
        dkl = rng.normal(0, 1, len(sizes))
        kl, dmu = kl_torch(mu.tolist(), mu_ref.tolist(), sigma.tolist(), sizes, dkl.tolist())
        out.append(dict(sizes=sizes, D=D, mu=mu.reshape(-1).tolist(), mu_ref=mu_ref.reshape(-1).tolist(),
                        sigma=sigma.tolist(), dkl=dkl.tolist(), expect=dict(kl=kl, d_mu=dmu)))
    return out


def step_cases(rng):
    out = []
    for i in range(10):
        sizes = [int(x) for x in rng.integers(1, 6, int(rng.integers(1, 5)))]
        D = 9
        N = sum(sizes)
        sigma = rng.uniform(0.02, 0.1, len(sizes))
        eps_coef = rng.uniform(0.001, 0.05, len(sizes))
        mu = rng.normal(0, 1, (N, D))
        z_s = mu + np.repeat(sigma, sizes)[:, None] * rng.normal(0, 1, (N, D))
        mu_ref = mu + rng.normal(0, 0.01, (N, D))
        # old log-probs: the current ones plus a small drift (some clipped at ε = 0.05)
        lp_now = [float((-0.5 * ((z_s[o:o + n] - mu[o:o + n]) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)).sum())
                  for o, n, s in zip(np.concatenate([[0], np.cumsum(sizes)])[:-1], sizes, sigma)]
        drift = []
        for _ in sizes:  # keep every ratio 5e-3 away from the clip bounds (float builds stay on one branch)
            d = rng.normal(0, 0.06)
            while min(abs(math.exp(d) - 0.95), abs(math.exp(d) - 1.05)) < 5e-3:
                d = rng.normal(0, 0.06)
            drift.append(d)
        old = (np.array(lp_now) - np.array(drift)).tolist()
        adv = rng.normal(0, 2, len(sizes)).tolist()
        beta = 0.0 if i % 3 == 0 else 0.08
        w = 1.0 / (len(sizes) * 7)
        r = step_torch(z_s.tolist(), mu.tolist(), mu_ref.tolist(), sigma.tolist(), eps_coef.tolist(), sizes, old,
                       adv, 0.05, 5.0, beta, w)
        out.append(dict(sizes=sizes, D=D, z_s=z_s.reshape(-1).tolist(), mu=mu.reshape(-1).tolist(),
                        mu_ref=mu_ref.reshape(-1).tolist(), sigma=sigma.tolist(), eps_coef=eps_coef.tolist(),
                        old=old, adv=adv, beta=beta, w=w, expect=r))
    return out


def plan_cases(rng):
    out = []
    for _ in range(25):
        n_kept = int(rng.integers(0, 40))
        T_act = int(rng.integers(0, 5))
        m = int(rng.integers(1, 12))
        accum = int(rng.integers(1, 4))
        mean = bool(rng.random() < 0.5)
        s = {"train.train_micro_batch_size": m, "train.gradient_accumulation_steps": accum,
             "train.loss_mean_over_accumulation": mean}
        out.append(dict(n_kept=n_kept, T_act=T_act, settings=s, expect=plan(n_kept, T_act, m, accum, mean)))
    return out


def pipeline_case(rng):
    """Appendix B (group4x6, terminal-only): rewards → filter → advantages on 4 × 6 molecules."""
    s = {"reward.force_clip_threshold": 2.0, "reward.use_energy": True, "reward.energy_only_if_stable": True,
         "reward.stability_weight": 2.0, "reward.energy_transform_clip": 5.0, "reward.energy_adv_weight": 0.05,
         "filters.enable_filtering": True, "filters.invalid_penalty_scale": 2.0, "filters.penalty_scale": 0.0,
         "reward.shaping.terminal_weight": 5.0}
    cfg = Cfg(s)
    P, K = 4, 6
    sizes = [int(n) for n in np.repeat(rng.integers(8, 20, P), K)]
    B, N = P * K, sum(sizes)
    types, pos = rand_batch(rng, sizes)
    stable = rng.integers(0, 2, B)
    n_stable = [int(rng.integers(0, n + 1)) for n in sizes]
    F = rng.normal(0, 1.2, (N, 3))
    E = rng.uniform(-16000, -6000, B)
    ok = np.ones(B, dtype=int)
    ok[5] = 0
    pf, pe, _ = frame_potentials(F, E, ok, sizes, None, cfg)
    terms = molecule_terms(sizes, types, stable, n_stable, None, pos, VALENCE, None, MARGINS, cfg)
    R = finish(dict(f=pf, e=pe), None, terms, cfg)
    smiles = [None if rng.random() < 0.2 else str(rng.choice(SMILES_POOL[:4])) for _ in range(B)]
    groups = np.repeat(np.arange(P), K)
    Rf, st = apply_filter(R, smiles, [0] * B, cfg)
    p, A, zero = advantages(Rf, groups[st["keep"]], 1000, None, None, cfg)
    return dict(settings=s, sizes=sizes, types=types.tolist(), positions=pos.reshape(-1).tolist(),
                stable=stable.tolist(), n_stable=n_stable, forces=F.reshape(-1).tolist(), energy=E.tolist(),
                ok=ok.tolist(), smiles=smiles, groups=groups.tolist(),
                expect=dict(keep=st["keep"], adv=A.reshape(-1).tolist(), zero_signal=zero, **scalars(Rf)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    torch.set_num_threads(1)
    fx = dict(
        rewards=[reward_case(rng, False) for _ in range(40)],
        shaped=[reward_case(rng, True, T=int(rng.integers(3, 30))) for _ in range(30)],
        schedule=schedule_cases(rng),
        filter=filter_cases(rng),
        advantages=advantage_cases(rng),
        ppo=ppo_cases(rng),
        kl=kl_cases(rng),
        step=step_cases(rng),
        plan=plan_cases(rng),
        pipeline=[pipeline_case(rng) for _ in range(3)],
        qm9_bonds=qm9_bond_table(),  # §3.2 as the spec prints it; the C side builds it from common/chem
    )
    with open(a.out, "w") as f:
        json.dump(fx, f)


if __name__ == "__main__":
    main()
