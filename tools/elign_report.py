#!/usr/bin/env python3
"""elign report: one self-contained HTML page about a run and its evaluations.

    elign report RUN_DIR [--eval E.json]... [--steps STEPS.json] [--samples LABEL=S.h5]...
                 --out report.html [--title T] [--molecules N] [--3dmol PATH] [--svg-dir DIR] [--force]

(`elign report` runs this file with Debian's python3; it can also be run directly.)

The page holds, all inline so it opens offline from a single file:
  * training curves from RUN_DIR/metrics.jsonl (`elign train`): reward per channel
    (reward_mean and every <channel>_reward_mean), KL, clip fraction, stability and
    validity per iteration;
  * one table per --eval summary (`elign eval --out`): every metric, the model, the
    baseline (--ref) and the difference;
  * the cumulative distributions of each summary's `distributions` (oracle energy per
    atom and RMS force, DFT formation energy per atom and force RMS), model vs
    baseline, with the two-sample KS statistic and p-value `elign eval` computed;
  * quality versus sampling steps from --steps (tools/steps_table.sh's steps.json);
  * a 3D viewer (3Dmol.js, embedded) of sample molecules from --samples files (or the
    files the summaries name, when they exist).
Every plot is inline SVG with an "SVG" and a "PNG" download (the PNG is drawn from
the SVG in the browser); --svg-dir also writes the SVG files. Plots are drawn here, in plain Python (no plotting library:
the page must not depend on anything the machine lacks).

3Dmol.js comes from the npm registry (package 3dmol, BSD-3-Clause): ./setup.sh
fetches the pinned version into vendor/3dmol/; the build copies it beside the binary.
Without it the page is written with a note in place of the viewer (exit status 0,
a warning on stderr), unless --require-viewer.
"""
import argparse
import datetime
import html
import json
import math
import os
import sys

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
ELEMENTS = {1: "H", 5: "B", 6: "C", 7: "N", 8: "O", 9: "F", 13: "Al", 14: "Si", 15: "P", 16: "S", 17: "Cl",
            33: "As", 35: "Br", 53: "I", 80: "Hg", 83: "Bi"}


def fail(msg):
    print("elign report: " + msg, file=sys.stderr)
    sys.exit(1)


# ---- inputs ------------------------------------------------------------------------------------

def read_metrics(run_dir):
    """The metrics lines of `elign train` (one JSON object per iteration)."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return path, []
    rows = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                fail("%s line %d: not JSON (%s)" % (path, lineno, e))
            if not isinstance(row, dict):
                fail("%s line %d: not a JSON object" % (path, lineno))
            rows.append(row)
    return path, rows


def read_json(path, what, key):
    try:
        d = json.load(open(path))
    except (OSError, ValueError) as e:
        fail("%s: cannot read %s (%s)" % (path, what, e))
    if not isinstance(d, dict) or key not in d:
        fail("%s: not %s (no \"%s\" key)" % (path, what, key))
    return d


def read_molecules(path, limit):
    """(label-less) list of (title, xyz text) of the first `limit` molecules of an Elign-C samples or dataset file."""
    import h5py  # python3-h5py, a project dependency
    out = []
    with h5py.File(path, "r") as f:
        if "offsets" not in f or "atomic_numbers" not in f or "positions" not in f:
            fail("%s: no molecules (expected offsets, atomic_numbers, positions)" % path)
        off = f["offsets"][:]
        n_mol = len(off) - 1
        for m in range(min(limit, n_mol)):
            a0, a1 = int(off[m]), int(off[m + 1])
            if a1 <= a0:
                continue
            Z = f["atomic_numbers"][a0:a1]
            R = f["positions"][a0:a1]
            if not all(math.isfinite(float(x)) for x in R.ravel()):
                continue
            lines = [str(a1 - a0), "%s molecule %d" % (os.path.basename(path), m)]
            for z, r in zip(Z, R):
                lines.append("%s %.5f %.5f %.5f" % (ELEMENTS.get(int(z), "X"), r[0], r[1], r[2]))
            formula = {}
            for z in Z:
                formula[ELEMENTS.get(int(z), "X")] = formula.get(ELEMENTS.get(int(z), "X"), 0) + 1
            title = "molecule %d: %s" % (m, "".join(e + (str(c) if c > 1 else "") for e, c in sorted(formula.items())))
            out.append((title, "\n".join(lines) + "\n"))
    return out


# ---- SVG plots ------------------------------------------------------------------------------------

def nice_ticks(lo, hi, n=5):
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        lo, hi = lo - 0.5 if lo == hi else lo, hi + 0.5
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=10 * mag)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = first
    while t <= hi + 1e-9 * step:
        ticks.append(0.0 if abs(t) < 1e-12 * step else t)
        t += step
    return ticks


def fmt_tick(v):
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        return "%.0e" % v
    return ("%.4f" % v).rstrip("0").rstrip(".")


class Plot:
    """A line / step plot as an SVG string."""

    W, H = 560, 320
    L, R, T, B = 64, 16, 34, 48

    def __init__(self, title, xlabel, ylabel, logx=False):
        self.title, self.xlabel, self.ylabel, self.logx = title, xlabel, ylabel, logx
        self.series = []

    def add(self, label, xs, ys, step=False, color=None, marker=False):
        pts = [(float(x), float(y)) for x, y in zip(xs, ys)
               if x is not None and y is not None and math.isfinite(float(x)) and math.isfinite(float(y))
               and (not self.logx or float(x) > 0)]
        if pts:
            self.series.append({"label": label, "pts": pts, "step": step, "marker": marker,
                                "color": color or PALETTE[len(self.series) % len(PALETTE)]})

    def empty(self):
        return not self.series

    def svg(self):
        W, H, L, R, T, B = self.W, self.H, self.L, self.R, self.T, self.B
        xs = [p[0] for s in self.series for p in s["pts"]]
        ys = [p[1] for s in self.series for p in s["pts"]]
        fx = (lambda v: math.log10(v)) if self.logx else (lambda v: v)
        x0, x1 = (min(map(fx, xs)), max(map(fx, xs))) if xs else (0, 1)
        y0, y1 = (min(ys), max(ys)) if ys else (0, 1)
        if x1 == x0:
            x0, x1 = x0 - 0.5, x1 + 0.5
        if y1 == y0:
            y0, y1 = y0 - 0.5, y1 + 0.5
        pad = 0.05 * (y1 - y0)
        y0, y1 = y0 - pad, y1 + pad
        pw, ph = W - L - R, H - T - B

        def px(v):
            return L + (fx(v) - x0) / (x1 - x0) * pw

        def py(v):
            return T + (1 - (v - y0) / (y1 - y0)) * ph

        o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">' % (W, H, W, H),
             '<rect x="0" y="0" width="%d" height="%d" fill="white"/>' % (W, H),
             '<text x="%d" y="18" font-size="13" font-weight="bold">%s</text>' % (L, html.escape(self.title))]
        if self.logx:
            xt = [10 ** e for e in range(int(math.floor(x0)), int(math.ceil(x1)) + 1)]
            xt += [k * 10 ** e for e in range(int(math.floor(x0)), int(math.ceil(x1)) + 1) for k in (2, 5)]
            xt = sorted(v for v in xt if x0 - 1e-9 <= math.log10(v) <= x1 + 1e-9)
        else:
            xt = [v for v in nice_ticks(x0, x1) if x0 - 1e-9 <= v <= x1 + 1e-9]
        for v in xt:
            X = px(v)
            o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>' % (X, T, X, T + ph))
            o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (X, T + ph + 14, fmt_tick(v)))
        for v in nice_ticks(y0, y1):
            if not (y0 <= v <= y1):
                continue
            Y = py(v)
            o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>' % (L, Y, L + pw, Y))
            o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 4, Y + 4, fmt_tick(v)))
        o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (L, T, pw, ph))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (L + pw / 2, H - 8,
                                                                          html.escape(self.xlabel)))
        o.append('<text transform="translate(14,%.1f) rotate(-90)" text-anchor="middle">%s</text>'
                 % (T + ph / 2, html.escape(self.ylabel)))
        for s in self.series:
            pts = s["pts"]
            if s["step"]:  # an empirical CDF: horizontal then vertical
                path = []
                for i, (x, y) in enumerate(pts):
                    if i == 0:
                        path.append("M%.2f,%.2f" % (px(x), py(0.0)))
                    else:
                        path.append("L%.2f,%.2f" % (px(x), py(pts[i - 1][1])))
                    path.append("L%.2f,%.2f" % (px(x), py(y)))
                d = " ".join(path)
            else:
                d = " ".join(("M" if i == 0 else "L") + "%.2f,%.2f" % (px(x), py(y)) for i, (x, y) in enumerate(pts))
            o.append('<path d="%s" fill="none" stroke="%s" stroke-width="1.8"/>' % (d, s["color"]))
            if s["marker"] or len(pts) == 1:
                for x, y in pts:
                    o.append('<circle cx="%.2f" cy="%.2f" r="3" fill="%s"/>' % (px(x), py(y), s["color"]))
        for i, s in enumerate(self.series):  # legend, top right inside the frame
            ly = T + 14 + 15 * i
            lx = L + pw - 150
            o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>'
                     % (lx, ly - 4, lx + 18, ly - 4, s["color"]))
            o.append('<text x="%d" y="%d">%s</text>' % (lx + 22, ly, html.escape(s["label"][:24])))
        o.append("</svg>")
        return "\n".join(o)


# ---- sections --------------------------------------------------------------------------------------

def training_plots(rows):
    if not rows:
        return []
    it = [r.get("iteration", i) for i, r in enumerate(rows)]
    plots = []
    p = Plot("Reward per channel", "iteration", "reward (mean over molecules)")
    keys = ["reward_mean"] + sorted(k for k in rows[0] if k.endswith("_reward_mean"))
    for k in keys:
        p.add(k.replace("_reward_mean", "").replace("reward_mean", "total"), it, [r.get(k) for r in rows])
    plots.append(("train-reward", p))
    p = Plot("KL to the reference policy", "iteration", "KL")
    p.add("kl", it, [r.get("kl") for r in rows])
    plots.append(("train-kl", p))
    p = Plot("PPO clip fraction", "iteration", "fraction of ratios clipped")
    p.add("clipfrac", it, [r.get("clipfrac") for r in rows])
    if any("adv_clipfrac" in r for r in rows):
        p.add("advantage clip", it, [r.get("adv_clipfrac") for r in rows])
    plots.append(("train-clip", p))
    p = Plot("Stability and validity of the rollouts", "iteration", "fraction")
    for k, label in (("atom_stability", "atom stable"), ("molecule_stability", "molecule stable"),
                     ("rdkit_validity", "RDKit valid")):
        p.add(label, it, [r.get(k) for r in rows])
    plots.append(("train-stability", p))
    return [(pid, pl) for pid, pl in plots if not pl.empty()]


def cell(mean, std):
    if mean is None:
        return "–"
    s = "%.6g" % mean
    if std is not None:
        s += " ± %.2g" % std
    return s


def eval_table(d):
    s, r, diff = d.get("samples", {}), d.get("ref"), d.get("diff", {})
    head = "<tr><th>metric</th><th>model</th>" + ("<th>baseline</th><th>model − baseline</th>" if r else "") + "</tr>"
    body = []
    for sec, metrics in s.get("mean", {}).items():
        for key, v in metrics.items():
            std = s.get("std", {}).get(sec, {}).get(key)
            row = "<tr><td>%s.%s</td><td>%s</td>" % (html.escape(sec), html.escape(key), cell(v, std))
            if r:
                row += "<td>%s</td><td>%s</td>" % (cell(r.get("mean", {}).get(sec, {}).get(key),
                                                        r.get("std", {}).get(sec, {}).get(key)),
                                                   cell(diff.get(sec, {}).get(key), None))
            body.append(row + "</tr>")
    files = ", ".join(html.escape(f.get("path", "?")) for f in s.get("files", []))
    rfiles = ", ".join(html.escape(f.get("path", "?")) for f in (r or {}).get("files", []))
    caption = "model: %s%s; RDKit %s" % (files, "; baseline: " + rfiles if r else "",
                                          html.escape(str(d.get("rdkit_version"))))
    return '<p class="caption">%s</p><table>%s%s</table>' % (caption, head, "".join(body))


PRETTY = {"energy_per_atom": ("energy per atom", "eV/atom"), "frms": ("RMS force", "eV/Å"),
          "formation_energy_per_atom": ("formation energy per atom", "eV/atom")}


def cdf_plots(d, tag):
    plots = []
    for sec, kinds in (d.get("distributions") or {}).items():
        for key, dist in kinds.items():
            name, unit = PRETTY.get(key, (key, ""))
            title = "%s: %s" % ("DFT" if sec == "dft" else sec.replace("oracle:", ""), name)
            ks = dist.get("ks")
            if ks and ks.get("statistic") is not None:
                title += " (KS D = %.3f, p = %.3g)" % (ks["statistic"], ks["p_value"])
            p = Plot(title, "%s (%s)" % (name, unit), "cumulative fraction")
            for label, vals, color in (("model", dist.get("samples") or [], PALETTE[0]),
                                       ("baseline", dist.get("ref") or [], PALETTE[1])):
                n = len(vals)
                if n:
                    p.add("%s (n = %d)" % (label, n), vals, [(i + 1) / n for i in range(n)], step=True, color=color)
            if not p.empty():
                plots.append(("cdf-%s-%s-%s" % (tag, sec.replace(":", "-"), key), p))
    return plots


def steps_plots(t):
    rows = t.get("rows", [])
    plots = []
    for key, label, ylabel in (("atom_stable", "Atom stability", "fraction"),
                               ("validity", "RDKit validity", "fraction"),
                               ("frms_mean", "RMS force (mean, %s)" % t.get("oracle", "oracle"), "eV/Å"),
                               ("energy_per_atom_mean", "Energy per atom (%s)" % t.get("oracle", "oracle"), "eV/atom")):
        p = Plot(label + " versus sampling steps", "sampling steps K (log scale)", ylabel, logx=True)
        for i, model in enumerate(sorted({r["model"] for r in rows})):
            rs = sorted((r for r in rows if r["model"] == model), key=lambda r: r["steps"])
            p.add(model, [r["steps"] for r in rs], [r.get(key) for r in rs], marker=True, color=PALETTE[i])
        if not p.empty():
            plots.append(("steps-" + key, p))
    return plots


def steps_table(t):
    cols = [("model", "model"), ("steps", "K"), ("atom_stable", "atom stable"), ("mol_stable", "mol stable"),
            ("validity", "valid"), ("energy_per_atom_mean", "E/atom (eV)"), ("frms_mean", "RMS force mean (eV/Å)"),
            ("frms_median", "median"), ("sample_seconds", "sampling wall (s)")]
    head = "".join("<th>%s</th>" % html.escape(c[1]) for c in cols)
    body = []
    for r in t.get("rows", []):
        cells = []
        for k, _ in cols:
            v = r.get(k)
            cells.append("<td>%s</td>" % ("–" if v is None else html.escape("%.4g" % v if isinstance(v, float) else str(v))))
        body.append("<tr>%s</tr>" % "".join(cells))
    note = html.escape(t.get("note") or "")
    return '<p class="caption">%s</p><table><tr>%s</tr>%s</table>' % (note, head, "".join(body))


# ---- the page ---------------------------------------------------------------------------------------

CSS = """
body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;color:#222;max-width:1240px}
h1{font-size:22px} h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
.plots{display:flex;flex-wrap:wrap;gap:16px}
.plot{border:1px solid #ddd;padding:6px;background:#fff}
.plot .dl{font-size:12px;margin-top:2px} .plot .dl a{margin-right:10px;cursor:pointer;color:#1f5fa8}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right} td:first-child,th:first-child{text-align:left}
.caption{font-size:12px;color:#555} .note{color:#8a6d00;background:#fff8e0;padding:6px}
#errors{display:none;color:#fff;background:#b00020;padding:8px;white-space:pre-wrap}
#viewer{width:560px;height:420px;position:relative;border:1px solid #ddd}
#elign-layout{display:none}
"""

JS = r"""
(function(){
  var errors = [];
  function report(m){ errors.push(String(m)); var e=document.getElementById('errors');
    if(e){ e.style.display='block'; e.textContent = errors.join('\n'); } }
  window.addEventListener('error', function(ev){ report('error: ' + ev.message); });
  var ce = console.error; console.error = function(){ report('console.error: ' + Array.prototype.join.call(arguments,' ')); ce.apply(console, arguments); };
  window.elignErrors = errors;
})();
function elignSvgText(id){ return new XMLSerializer().serializeToString(document.querySelector('#'+id+' svg')); }
function elignDownload(name, url){ var a=document.createElement('a'); a.href=url; a.download=name; document.body.appendChild(a); a.click(); a.remove(); }
function elignSvg(id){ elignDownload(id+'.svg', 'data:image/svg+xml;base64,' + btoa(unescape(encodeURIComponent(elignSvgText(id))))); }
/* PNG copy: the SVG drawn on a canvas at 2x; cb(dataURL) */
function elignPngUrl(id, cb){
  var svg = document.querySelector('#'+id+' svg'); var w = svg.width.baseVal.value, h = svg.height.baseVal.value;
  var img = new Image();
  img.onload = function(){ var c=document.createElement('canvas'); c.width=2*w; c.height=2*h;
    var g=c.getContext('2d'); g.scale(2,2); g.drawImage(img,0,0); cb(c.toDataURL('image/png')); };
  img.onerror = function(){ console.error('PNG copy of ' + id + ' failed'); cb(null); };
  img.src = 'data:image/svg+xml;base64,' + btoa(unescape(encodeURIComponent(elignSvgText(id))));
}
function elignPng(id){ elignPngUrl(id, function(u){ if(u) elignDownload(id+'.png', u); }); }
"""

VIEWER_JS = r"""
(function(){
  var mols = JSON.parse(document.getElementById('molecules').textContent);
  var sel = document.getElementById('mol-select');
  mols.forEach(function(m, i){ var o=document.createElement('option'); o.value=i; o.textContent=m.set+': '+m.title; sel.appendChild(o); });
  if (typeof $3Dmol === 'undefined') { return; }
  var viewer = $3Dmol.createViewer(document.getElementById('viewer'), {backgroundColor: 'white'});
  function show(i){ viewer.removeAllModels(); viewer.addModel(mols[i].xyz, 'xyz');
    viewer.setStyle({}, {stick: {radius: 0.15}, sphere: {scale: 0.25}}); viewer.zoomTo(); viewer.render(); }
  sel.addEventListener('change', function(){ show(+sel.value); });
  document.getElementById('mol-prev').onclick = function(){ sel.value = (+sel.value + mols.length - 1) % mols.length; show(+sel.value); };
  document.getElementById('mol-next').onclick = function(){ sel.value = (+sel.value + 1) % mols.length; show(+sel.value); };
  if (mols.length) show(0);
  window.elignViewer = viewer;
})();
"""

# Where every plot and the viewer sit, whether the PNG copies work, and the errors seen:
# written into #elign-layout once the page has settled, for the headless-browser test
# (tests/report_cli.sh) and for anyone checking a page without looking at it.
LAYOUT_JS = r"""
window.addEventListener('load', function(){
  var ids = Array.prototype.map.call(document.querySelectorAll('.plot'), function(e){ return e.id; });
  var out = {plots: [], viewer: null, errors: window.elignErrors, png: {}};
  function box(e){ var r = e.getBoundingClientRect(); return {x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height}; }
  ids.forEach(function(id){ var b = box(document.querySelector('#'+id+' svg')); b.id = id; out.plots.push(b); });
  var v = document.getElementById('viewer');
  if (v) { out.viewer = box(v); out.viewer.canvas = !!v.querySelector('canvas'); }
  var pending = ids.length;
  function done(){ document.getElementById('elign-layout').textContent = JSON.stringify(out); }
  if (!pending) done();
  ids.forEach(function(id){ elignPngUrl(id, function(u){
    out.png[id] = u ? u.length : 0; if (--pending === 0) done(); }); });
});
"""


def plot_html(pid, plot):
    return ('<div class="plot" id="%s">%s<div class="dl"><a onclick="elignSvg(\'%s\')">SVG</a>'
            '<a onclick="elignPng(\'%s\')">PNG</a></div></div>' % (pid, plot.svg(), pid, pid))


def find_3dmol(explicit):
    here = os.path.dirname(os.path.abspath(__file__))
    for p in ([explicit] if explicit else []) + [os.environ.get("ELIGN_3DMOL", ""),
                                                 os.path.join(here, "..", "vendor", "3dmol", "3Dmol-min.js")]:
        if p and os.path.exists(p):
            return p
    return None


def main():
    ap = argparse.ArgumentParser(prog="elign report", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", metavar="RUN_DIR", help="an `elign train` run directory (metrics.jsonl); '-' for none")
    ap.add_argument("--eval", action="append", default=[], metavar="E.json", help="an `elign eval --out` summary (repeatable)")
    ap.add_argument("--steps", metavar="STEPS.json", help="tools/steps_table.sh's steps.json")
    ap.add_argument("--samples", action="append", default=[], metavar="LABEL=S.h5",
                    help="molecules for the 3D viewer (repeatable; default: the files the summaries name)")
    ap.add_argument("--molecules", type=int, default=12, help="molecules per file in the viewer (default 12)")
    ap.add_argument("--out", required=True, metavar="report.html")
    ap.add_argument("--title", default=None)
    ap.add_argument("--3dmol", dest="threedmol", default=None, metavar="3Dmol-min.js",
                    help="3Dmol.js to embed (default: $ELIGN_3DMOL, else vendor/3dmol/ beside the tools)")
    ap.add_argument("--require-viewer", action="store_true", help="fail when 3Dmol.js is not found")
    ap.add_argument("--svg-dir", metavar="DIR", help="also write every plot as DIR/<plot id>.svg")
    ap.add_argument("--force", action="store_true", help="replace an existing --out (and SVG files in --svg-dir)")
    a = ap.parse_args()

    if os.path.exists(a.out) and not a.force:
        fail("%s exists (use --force to replace it)" % a.out)
    if not os.path.isdir(os.path.dirname(os.path.abspath(a.out))):
        fail("--out %s: the directory %s does not exist" % (a.out, os.path.dirname(os.path.abspath(a.out))))
    if a.molecules < 0:
        fail("--molecules must be >= 0")
    for p in a.eval + ([a.steps] if a.steps else []):
        if os.path.abspath(p) == os.path.abspath(a.out):
            fail("--out %s is also an input" % a.out)
    if a.run_dir != "-" and not os.path.isdir(a.run_dir):
        fail("%s: not a directory (give an `elign train` run directory, or '-')" % a.run_dir)
    metrics_path, rows = read_metrics(a.run_dir) if a.run_dir != "-" else (None, [])
    evals = [(p, read_json(p, "an elign eval summary", "elign_eval")) for p in a.eval]
    steps = read_json(a.steps, "a steps table (tools/steps_table.sh)", "elign_steps_table") if a.steps else None

    sets = []
    for spec in a.samples:
        label, _, path = spec.rpartition("=")
        sets.append((label or os.path.basename(path), path))
    if not sets:
        for p, d in evals:
            for group, label in (("samples", "model"), ("ref", "baseline")):
                for f in (d.get(group) or {}).get("files", []):
                    q = f.get("path")
                    if q and not f.get("error") and os.path.exists(q):
                        sets.append(("%s %s" % (label, os.path.basename(q)), q))
                        break
    mols = []
    for label, path in sets:
        if not os.path.exists(path):
            fail("%s: no such samples file" % path)
        for title, xyz in read_molecules(path, a.molecules):
            mols.append({"set": label, "title": title, "xyz": xyz})

    lib = find_3dmol(a.threedmol)
    if not lib:
        if a.require_viewer:
            fail("3Dmol.js not found: run ./setup.sh (fetches it from the npm registry) or give --3dmol")
        print("elign report: warning: 3Dmol.js not found (./setup.sh fetches it): the page has no 3D viewer",
              file=sys.stderr)

    title = a.title or "Elign-C report: %s" % (os.path.basename(os.path.abspath(a.run_dir)) if a.run_dir != "-" else "evaluation")
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>%s</title><style>%s</style>'
             '<script>%s</script></head><body>' % (html.escape(title), CSS, JS),
             '<div id="errors"></div><h1>%s</h1>' % html.escape(title),
             '<p class="caption">written %s by elign report; self-contained: opens offline.</p>'
             % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")]
    # training
    parts.append("<h2>Training</h2>")
    tp = training_plots(rows)
    if tp:
        parts.append('<p class="caption">%s: %d iterations</p><div class="plots">%s</div>'
                     % (html.escape(metrics_path), len(rows), "".join(plot_html(i, p) for i, p in tp)))
    else:
        parts.append('<p class="note">no training metrics (%s)</p>' % html.escape(str(metrics_path or "no run directory")))
    # evaluations
    parts.append("<h2>Evaluation</h2>")
    if not evals:
        parts.append('<p class="note">no --eval summary given</p>')
    for k, (p, d) in enumerate(evals):
        parts.append("<h3>%s</h3>%s" % (html.escape(p), eval_table(d)))
        cp = cdf_plots(d, "e%d" % k)
        if cp:
            parts.append('<h4>Cumulative distributions, model vs baseline</h4><div class="plots">%s</div>'
                         % "".join(plot_html(i, pl) for i, pl in cp))
    # steps
    parts.append("<h2>Quality versus sampling steps</h2>")
    if steps:
        parts.append('<div class="plots">%s</div>%s' % ("".join(plot_html(i, p) for i, p in steps_plots(steps)),
                                                        steps_table(steps)))
    else:
        parts.append('<p class="note">no --steps table given (tools/steps_table.sh)</p>')
    # viewer
    parts.append("<h2>Sample molecules</h2>")
    parts.append('<div><button id="mol-prev">&larr;</button> <select id="mol-select"></select> '
                 '<button id="mol-next">&rarr;</button></div>')
    if lib and mols:
        parts.append('<div id="viewer"></div><p class="caption">3Dmol.js (BSD-3-Clause, %s), embedded; drag to rotate, '
                     'scroll to zoom.</p>' % html.escape(os.path.basename(lib)))
    else:
        parts.append('<p class="note">%s</p>' % ("no molecules (give --samples)" if not mols else
                                                "3D viewer unavailable: 3Dmol.js was not found when the page was written"))
    parts.append('<script type="application/json" id="molecules">%s</script>'
                 % json.dumps(mols).replace("</", "<\\/"))
    if lib and mols:
        parts.append("<script>%s</script>" % open(lib, encoding="utf-8").read().replace("</script", "<\\/script"))
    parts.append("<script>%s</script>" % VIEWER_JS)
    parts.append('<pre id="elign-layout"></pre><script>%s</script></body></html>' % LAYOUT_JS)
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    os.replace(tmp, a.out)
    all_plots = tp + [pl for k, (_, d) in enumerate(evals) for pl in cdf_plots(d, "e%d" % k)] + \
        (steps_plots(steps) if steps else [])
    if a.svg_dir:
        os.makedirs(a.svg_dir, exist_ok=True)
        for pid, plot in all_plots:
            path = os.path.join(a.svg_dir, pid + ".svg")
            if os.path.exists(path) and not a.force:
                fail("%s exists (use --force to replace it)" % path)
            with open(path, "w", encoding="utf-8") as f:
                f.write(plot.svg())
    n_plots = len(all_plots)
    print("elign report: wrote %s (%d plots, %d molecules in the viewer, %.0f kB)"
          % (a.out, n_plots, len(mols), os.path.getsize(a.out) / 1024), file=sys.stderr)


if __name__ == "__main__":
    main()
