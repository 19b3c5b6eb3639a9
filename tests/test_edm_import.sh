#!/usr/bin/env bash
# EDM checkpoint import (tools/edm_import.py), `elign denoise` parity with a
# PyTorch reference written from the spec (tests/edm_parity.py), the import
# round trip, and `elign sample` bitwise identical on 1, 2 and 4 MPI ranks.
# $1 = the elign binary. Needs /usr/bin/python3 with torch + h5py.
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
TOOL="$SRC/tools/edm_import.py"
PAR="$SRC/tests/edm_parity.py"
cli_workdir elign_edm_import "${TMPDIR:-/tmp}"
expect_fail() { # expect_fail "what" "pattern" cmd...
  local what="$1" pat="$2"; shift 2
  "$@" > out.txt 2> err.txt; local rc=$?
  if [ $rc -ne 0 ] && grep -q -- "$pat" err.txt && [ "$(wc -l < err.txt)" -le 2 ]; then ok
  else bad "$what: rc=$rc, stderr: $(head -3 err.txt)"; fi
}

# ---- fixtures: random-weight EDM state dicts with EDM's names -------------------
"$PY" "$PAR" fixture qm9 --dataset qm9 --nf 32 --layers 2 --also-geom geom && ok || bad "fixtures"

# ---- import, round trip, Elign-style checkpoints --------------------------------
"$PY" "$TOOL" --args qm9/args.pickle --weights qm9/generative_model_ema.npy --out a.h5 && ok || bad "import qm9"
"$PY" "$TOOL" --export a.h5 --out-dir exported && ok || bad "export"
"$PY" "$TOOL" --args exported/args.pickle --weights exported/generative_model_ema.npy --out b.h5 && ok || bad "re-import"
"$PY" "$PAR" h5equal a.h5 b.h5 && ok || bad "import → export → import changed the file"
"$PY" "$TOOL" --args qm9/args.pickle --weights qm9/elign_style.pth --out c.h5 && ok || bad "import Elign-style"
"$PY" "$PAR" h5equal a.h5 c.h5 && ok || bad "module./model. prefixes not stripped to the same model"
"$PY" "$TOOL" --args geom/args.pickle --weights geom/generative_model_ema.npy --out g.h5 && ok || bad "import geom"

# ---- importer errors: one line naming the file and key ---------------------------
expect_fail "missing weights" "nope.npy: no such file" "$PY" "$TOOL" --args qm9/args.pickle --weights nope.npy --out x.h5
expect_fail "args not a pickle" "not a pickled argparse.Namespace" "$PY" "$TOOL" --args qm9/generative_model_ema.npy --weights qm9/generative_model_ema.npy --out x.h5
expect_fail "shape mismatch" "embedding.weight has shape" "$PY" "$TOOL" --args geom/args.pickle --weights qm9/generative_model_ema.npy --out x.h5

# ---- denoise parity against the PyTorch reference (T = 1000 and T = 50) -----------
# (one Python process for all comparisons: importing torch takes seconds)
for T in 1000 50; do
  "$PY" "$PAR" states qm9 st$T.h5 --T $T && "$ELIGN" denoise --model a.h5 --in st$T.h5 --out dn$T.h5 && ok || bad "denoise T=$T"
done
"$PY" "$PAR" states geom gst.h5 && "$ELIGN" denoise --model g.h5 --in gst.h5 --out gdn.h5 && ok || bad "geom denoise"
"$PY" "$PAR" compare qm9 st1000.h5 dn1000.h5 qm9 st50.h5 dn50.h5 geom gst.h5 gdn.h5 \
    --sdequal qm9/generative_model_ema.npy exported/generative_model_ema.npy \
  && ok || bad "denoise parity (qm9 T=1000, T=50, geom) or exported state_dict"
expect_fail "states with the wrong width" "needs D = 19" "$ELIGN" denoise --model g.h5 --in st50.h5 --out x.h5
# /z_t narrower than the model's D: a clean error before anything is sized or
# read at the model's width. 4M rows read at D = 9 would run 128 MB past the
# 16 MB buffer and need 4 x 144 MB of model-width buffers; under a 300 MB
# address-space limit a late check therefore aborts ("out of memory") or
# crashes instead of printing the error.
"$PY" - "$SRC/tools" <<'PY' && ok || bad "narrow states fixture"
import sys; sys.path.insert(0, sys.argv[1])
import elign_h5, numpy as np
n = 4000000
with elign_h5.create('narrow.h5') as f:
    elign_h5.set_str_attr(f, 'elign_format', 'denoise_states')
    f.attrs['elign_format_version'] = np.int64(elign_h5.FORMAT_VERSION); f.attrs['T'] = np.int64(50)
    elign_h5.put_array(f, 'offsets', np.array([0, n], dtype=np.int64))
    elign_h5.put_array(f, 't', np.array([10], dtype=np.int32))
    elign_h5.put_array(f, 'z_t', np.zeros((n, 1), dtype=np.float32))
PY
expect_fail "states narrower than the model" "/z_t has 1 channels" \
  bash -c 'ulimit -v 300000 && exec "$0" denoise --model a.h5 --in narrow.h5 --out x.h5' "$ELIGN"
expect_fail "model is not a model" "expected a model file" "$ELIGN" denoise --model st50.h5 --in st50.h5 --out x.h5
expect_fail "missing states" "missing.h5" "$ELIGN" denoise --model a.h5 --in missing.h5 --out x.h5
"$ELIGN" denoise --model a.h5 > /dev/null 2>&1; [ $? -eq 2 ] && ok || bad "denoise without --in should exit 2"

# ---- sampling: bitwise identical on 1, 2 and 4 ranks ----------------------------------
"$ELIGN" sample --model a.h5 -n 10 --T 20 --batch 3 --seed 9 --out s1.h5 --xyz s1.xyz --sdf s1.sdf 2> log1.txt && ok || bad "sample 1 rank: $(cat log1.txt)"
for np in 2 4; do
  "${MPIRUN[@]}" -np $np "$ELIGN" sample --model a.h5 -n 10 --T 20 --batch 3 --seed 9 --out s$np.h5 2> log$np.txt && ok || bad "sample $np ranks: $(tail -3 log$np.txt)"
  "$PY" "$PAR" h5equal s1.h5 s$np.h5 && ok || bad "samples on $np ranks differ from 1 rank"
done
"$ELIGN" sample --model a.h5 -n 10 --T 20 --batch 3 --seed 10 --out s1b.h5 2> /dev/null
"$PY" "$PAR" h5equal s1.h5 s1b.h5 > /dev/null && bad "another seed gave the same samples" || ok
[ "$(grep -c '^molecule=' s1.xyz)" -eq 10 ] && ok || bad "xyz: expected 10 molecules"
[ "$(grep -c '^\$\$\$\$' s1.sdf)" -eq 10 ] && ok || bad "sdf: expected 10 records"
"$ELIGN" export s1.h5 --xyz e1.xyz && cmp -s e1.xyz s1.xyz && ok || bad "export differs from sample --xyz"
expect_fail "steps not dividing T" "must divide" "$ELIGN" sample --model a.h5 -n 2 --T 20 --steps 3 --out x.h5
expect_fail "export of a model file" "expected a samples file" "$ELIGN" export a.h5 --xyz x.xyz
"$ELIGN" sample --model a.h5 --out x.h5 > /dev/null 2>&1; [ $? -eq 2 ] && ok || bad "sample without -n should exit 2"

# atom counts from a dataset's histogram (--nodes-from)
TINY="$SHARED/data/qm9like/tiny.xyz"
if [ -f "$TINY" ]; then
  "$ELIGN" data import "$TINY" -o tiny.h5 > /dev/null 2>&1 && \
  "$ELIGN" sample --model a.h5 -n 6 --T 10 --nodes-from tiny.h5 --out st.h5 2> /dev/null && \
  "$PY" - <<'PY' && ok || bad "--nodes-from: sizes outside the dataset histogram"
import h5py, numpy as np
with h5py.File('tiny.h5') as d, h5py.File('st.h5') as s:
    allowed = set(int(k) for k, c in zip(d['nodes_hist/n_atoms'][()], d['nodes_hist/count'][()]) if c > 0)
    sizes = set(int(n) for n in np.diff(s['offsets'][()]))
    assert sizes <= allowed, (sizes, allowed)
PY
  expect_fail "--nodes-from a model" "expected a dataset file" "$ELIGN" sample --model a.h5 -n 2 --T 10 --nodes-from a.h5 --out x.h5
else
  bad "missing $TINY"
fi

cli_finish
