#!/usr/bin/env bash
# elign report end to end (and tools/steps_table.py, whose table it plots):
#   inputs: a metrics.jsonl with the keys `elign train` writes, an `elign eval` summary
#   with a baseline (lj oracle: distributions and KS), a steps table assembled by
#   tools/steps_table.py from eval summaries (its docs block replaced, not duplicated, on a
#   second run), and two samples files for the viewer;
#   the page: written, self-contained (no external reference; 3Dmol.js embedded), the KS
#   numbers of the summary in the CDF titles; usage errors;
#   in headless Chromium: no console errors, every plot's PNG copy made, every plot and
#   the 3D viewer drawn (their screenshot regions are not blank).
#   report_cli.sh ELIGN   (env: ELIGN_PYTHON; cwd: the test build dir, fixture eval_inputs)
# Exit 77 (skipped, after the other checks) when chromium or 3Dmol.js is missing.
set -u
ELIGN="$1"
PY="${ELIGN_PYTHON:-/usr/bin/python3}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
D=report_cli.d
rm -rf "$D"
mkdir -p "$D/run" "$D/steps"
fails=0
passes=0
ok() { passes=$((passes + 1)); }
bad() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}
for f in eval_tiny_a.h5 eval_tiny_b.h5; do
  [ -s "$f" ] || { echo "FAIL: $f missing (test_eval makes it)"; exit 1; }
done

# ---- inputs ------------------------------------------------------------------------------------
"$PY" - "$D/run/metrics.jsonl" <<'PYEOF'
import json, math, sys
with open(sys.argv[1], "w") as f:
    for i in range(12):   # the keys learner/train_run.c writes per iteration
        f.write(json.dumps({"iteration": i, "reward_mean": -5 + 0.2 * i, "force_reward_mean": -5.5 + 0.15 * i,
                            "energy_reward_mean": -0.2 + 0.05 * i, "kl": 0.01 * i * i, "clipfrac": 0.1 + 0.02 * math.sin(i),
                            "adv_clipfrac": 0.0, "atom_stability": 0.70 + 0.01 * i, "molecule_stability": 0.01 * i,
                            "rdkit_validity": 0.3 + 0.02 * i}) + "\n")
PYEOF
"$ELIGN" eval eval_tiny_a.h5 --ref eval_tiny_b.h5 --oracle lj --out $D/e.json --run-dir $D/e.d --no-print \
  2> $D/e.log && ok || bad "eval: $(tail -2 $D/e.log)"
for K in 50 100; do   # stand-ins for the steps sweep: two summaries per model
  cp $D/e.json $D/steps/base_K$K.json
  "$ELIGN" eval eval_tiny_b.h5 --oracle lj --out $D/steps/post_K$K.json --run-dir $D/e.d --no-print 2>> $D/e.log
done
printf '# Results\n\nText before.\n' > $D/results.md
for i in 1 2; do
  "$PY" "$SRC/tools/steps_table.py" --dir $D/steps --steps "50 100" --oracle lj --base b.h5 --post p.h5 \
    --note "test table" --doc $D/results.md > $D/steps.log 2>&1 || bad "steps_table.py: $(tail -2 $D/steps.log)"
done
[ "$(grep -c 'steps-table:begin' $D/results.md)" = 1 ] && grep -q "Text before." $D/results.md &&
  grep -q "| post | 100 |" $D/results.md && ok || bad "steps table block in results.md"
"$PY" - $D/steps/steps.json $D/e.json <<'PYEOF' && ok || bad "steps.json rows"
import json, sys
t = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2]))
r = [x for x in t["rows"] if x["model"] == "base" and x["steps"] == 50][0]
ok = len(t["rows"]) == 4 and r["atom_stable"] == e["samples"]["mean"]["stability"]["atom_stable"]
ok &= r["frms_mean"] == e["samples"]["mean"]["oracle:lj"]["frms_mean"]
sys.exit(0 if ok else 1)
PYEOF

# ---- the page -----------------------------------------------------------------------------------
"$ELIGN" report $D/run --eval $D/e.json --steps $D/steps/steps.json --samples post=eval_tiny_a.h5 \
  --samples base=eval_tiny_b.h5 --molecules 4 --out $D/report.html --svg-dir $D/svg 2> $D/r.log && ok ||
  bad "report: $(tail -3 $D/r.log)"
[ "$(ls $D/svg/*.svg 2> /dev/null | wc -l)" = 10 ] && grep -q "<svg" $D/svg/train-kl.svg && ok || bad "--svg-dir files"
HAVE_3DMOL=1
grep -q "3Dmol.js not found" $D/r.log && HAVE_3DMOL=0
"$PY" - $D/report.html $D/e.json $HAVE_3DMOL <<'PYEOF' && ok || bad "page content"
import json, re, sys
page = open(sys.argv[1], encoding="utf-8").read(); e = json.load(open(sys.argv[2])); lib = sys.argv[3] == "1"
ok = True
ext = re.findall(r'(?:src|href)\s*=\s*["\'](?:https?:)?//', page) + re.findall(r'@import|<link[^>]+stylesheet', page)
if ext: print("external references:", ext); ok = False
ks = e["distributions"]["oracle:lj"]["frms"]["ks"]
want = "KS D = %.3f, p = %.3g" % (ks["statistic"], ks["p_value"])
if want not in page: print("missing", want); ok = False
n_svg = page.count("<svg ")
if n_svg != 4 + 2 + 4: print("svg plots:", n_svg); ok = False   # training 4, CDFs 2, steps 4
mols = json.loads(re.search(r'<script type="application/json" id="molecules">(.*?)</script>', page, re.S).group(1))
if len(mols) != 8: print("molecules:", len(mols)); ok = False
if lib and "$3Dmol" not in page: print("3Dmol.js not embedded"); ok = False
print("page: %d bytes, %d plots, %d molecules, 3Dmol %s" % (len(page), n_svg, len(mols), "embedded" if lib else "absent"))
sys.exit(0 if ok else 1)
PYEOF
"$ELIGN" report $D/run --eval $D/e.json --out $D/report.html 2> $D/u.log; [ $? -eq 1 ] && grep -q "exists" $D/u.log && ok ||
  bad "existing --out without --force"
"$ELIGN" report $D/run --eval $D/nope.json --out $D/x.html 2> $D/u.log; [ $? -eq 1 ] && grep -q "nope.json" $D/u.log && ok ||
  bad "missing --eval file"
"$ELIGN" report $D/run --eval $D/run/metrics.jsonl --out $D/x.html 2> $D/u.log; [ $? -eq 1 ] && ok || bad "not a summary"

# ---- headless Chromium ----------------------------------------------------------------------------
BROWSER=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$BROWSER" ] || [ $HAVE_3DMOL = 0 ]; then
  why="chromium not found (./setup.sh installs it)"
  [ -n "$BROWSER" ] && why="3Dmol.js not found (./setup.sh fetches it)"
  echo "report_cli: $passes passed, $fails failed; browser checks skipped: $why"
  [ $fails -eq 0 ] && exit 77
  exit 1
fi
CHROME=("$BROWSER" --headless --no-sandbox --disable-gpu --enable-unsafe-swiftshader --use-angle=swiftshader
        --hide-scrollbars --virtual-time-budget=8000 --user-data-dir="$PWD/$D/chrome")
URL="file://$PWD/$D/report.html"
timeout 180 "${CHROME[@]}" --window-size=1280,6000 --dump-dom "$URL" > $D/dom.html 2> $D/chrome1.log
H=$("$PY" -c "
import json, re, sys
m = re.search(r'<pre id=\"elign-layout\">(.*?)</pre>', open('$D/dom.html').read(), re.S)
L = json.loads(m.group(1)) if m and m.group(1).strip() else None
print(int(max([b['y'] + b['h'] for b in L['plots']] + [L['viewer']['y'] + L['viewer']['h']]) + 40) if L else 0)")
[ "$H" -gt 0 ] && ok || bad "the page did not lay itself out (no #elign-layout): $(tail -3 $D/chrome1.log)"
timeout 180 "${CHROME[@]}" --window-size=1280,$H --screenshot="$PWD/$D/shot.png" "$URL" 2> $D/chrome2.log
"$PY" - $D/dom.html $D/shot.png <<'PYEOF' && ok || bad "browser checks"
import json, re, struct, sys, zlib

def png_pixels(path):
    """8-bit RGB/RGBA non-interlaced PNG -> (width, height, rows of bytes, bytes per pixel)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line)); prev = line
    return w, h, rows, bpp

def region(rows, bpp, box, W, H):
    x0, y0 = max(0, int(box["x"]) + 2), max(0, int(box["y"]) + 2)
    x1, y1 = min(W, int(box["x"] + box["w"]) - 2), min(H, int(box["y"] + box["h"]) - 2)
    colours, ink, total = set(), 0, 0
    for y in range(y0, y1, 2):
        r = rows[y]
        for x in range(x0, x1, 2):
            px = r[x * bpp:x * bpp + 3]
            colours.add(px); total += 1
            ink += px != b"\xff\xff\xff"
    return len(colours), ink / max(total, 1)

L = json.loads(re.search(r'<pre id="elign-layout">(.*?)</pre>', open(sys.argv[1]).read(), re.S).group(1))
ok = True
if L["errors"]: print("console errors:", L["errors"]); ok = False
for p in L["plots"]:
    if L["png"].get(p["id"], 0) < 2000: print("PNG copy of", p["id"], "failed:", L["png"].get(p["id"])); ok = False
W, H, rows, bpp = png_pixels(sys.argv[2])
for p in L["plots"]:
    n, ink = region(rows, bpp, p, W, H)
    good = n >= 4 and ink > 0.01
    ok &= good
    if not good: print("plot %s blank: %d colours, %.3f ink" % (p["id"], n, ink))
v = L["viewer"]
n, ink = region(rows, bpp, v, W, H)
print("viewer: canvas %s, %d colours, %.3f of the region drawn; %d plots checked; no console errors: %s"
      % (v["canvas"], n, ink, len(L["plots"]), not L["errors"]))
ok &= v["canvas"] and n >= 10 and ink > 0.005
sys.exit(0 if ok else 1)
PYEOF

echo "report_cli: $passes passed, $fails failed"
[ $fails -eq 0 ]
