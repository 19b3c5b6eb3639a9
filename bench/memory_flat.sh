#!/usr/bin/env bash
# Memory per rank over a long `elign train` run (docs/scaling.md, "Long runs"):
# every rank's resident set (VmRSS) sampled once a second while the run does
# ITERS iterations on NP ranks, and the run's own rss_max_mb metric.
#   bash bench/memory_flat.sh ELIGN OUT CONFIG NP ITERS [--set KEY=VALUE]...
# Output: OUT/rss.tsv (seconds, rank, VmRSS MiB), OUT/run/ (the run directory),
# and a line per rank: RSS after 10 % of the run, at the end, the growth.
set -u
ELIGN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
OUT="$2" CONFIG="$3" NP="$4" ITERS="$5"
shift 5
PY="${ELIGN_PYTHON:-/usr/bin/python3}"
MPIRUN="${ELIGN_MPIRUN:-mpirun} --oversubscribe --bind-to none --allow-run-as-root -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1"
mkdir -p "$OUT"
$MPIRUN -np "$NP" "$ELIGN" --quiet train "$CONFIG" --force --set run.dir="$OUT/run" --set dataloader.epoches="$ITERS" "$@" \
  > "$OUT/run.log" 2>&1 &
job=$!
t0=$(date +%s)
printf 'seconds\trank\trss_mib\n' > "$OUT/rss.tsv"
while kill -0 $job 2> /dev/null; do
  r=0
  for pid in $(pgrep -P $job); do
    kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2> /dev/null)
    [ -n "$kib" ] && printf '%d\t%d\t%.2f\n' $(( $(date +%s) - t0 )) $r "$(echo "$kib / 1024" | bc -l)" >> "$OUT/rss.tsv"
    r=$((r + 1))
  done
  sleep 1
done
wait $job || { echo "memory_flat: the run failed: $(tail -3 "$OUT/run.log")" >&2; exit 1; }
"$PY" - "$OUT/rss.tsv" "$OUT/run/metrics.jsonl" <<'EOF'
import json, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n")[1:] if l]
by = {}
for t, r, m in rows:
    by.setdefault(int(r), []).append((int(t), float(m)))
for r, pts in sorted(by.items()):
    pts.sort()
    early = [m for t, m in pts if t >= pts[-1][0] * 0.1][:5]
    late = [m for _, m in pts[-5:]]
    a, b = sum(early) / len(early), sum(late) / len(late)
    print(f"rank {r}: VmRSS {a:.1f} MiB after 10 % of the run, {b:.1f} MiB at the end ({b - a:+.2f} MiB), max {max(m for _, m in pts):.1f}")
m = [json.loads(l) for l in open(sys.argv[2])]
x = [d["rss_max_mb"] for d in m]
n = len(x)
print(f"metrics rss_max_mb over {n} iterations: iteration {n // 10}: {x[n // 10]:.1f}, last: {x[-1]:.1f}, max {max(x):.1f} MiB")
# rss.svg: VmRSS of every rank over the run (linear axes, 0 to 1.2 x the maximum)
W, H, L, B, T = 640, 360, 60, 45, 30
tmax = max(t for pts in by.values() for t, _ in pts) or 1
ymax = 1.2 * max(m for pts in by.values() for _, m in pts)
px = lambda t: L + t / tmax * (W - L - 20)
py = lambda m: H - B - m / ymax * (H - B - T)
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="18" font-size="14">VmRSS per rank over {n} iterations</text>',
       f'<line x1="{L}" y1="{H - B}" x2="{W - 20}" y2="{H - B}" stroke="black"/><line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
       f'<text x="{W / 2 - 40}" y="{H - 10}">seconds of the run</text>', f'<text x="4" y="{T - 8}">MiB</text>']
for k in range(6):
    y = ymax * k / 5
    out.append(f'<line x1="{L}" y1="{py(y):.1f}" x2="{W - 20}" y2="{py(y):.1f}" stroke="#ddd"/><text x="8" y="{py(y) + 4:.1f}">{y:.0f}</text>')
for k in range(6):
    t = tmax * k / 5
    out.append(f'<text x="{px(t) - 10:.1f}" y="{H - B + 16}">{t:.0f}</text>')
colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
for r, pts in sorted(by.items()):
    d = " ".join(f"{px(t):.1f},{py(m):.1f}" for t, m in pts)
    out.append(f'<polyline points="{d}" fill="none" stroke="{colors[r % 6]}" stroke-width="1.5"/>')
    out.append(f'<text x="{W - 90}" y="{T + 14 * r + 10}" fill="{colors[r % 6]}">rank {r}</text>')
out.append("</svg>")
import os
open(os.path.join(os.path.dirname(sys.argv[1]), "rss.svg"), "w").write("\n".join(out) + "\n")
EOF
