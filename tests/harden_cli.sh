#!/usr/bin/env bash
# Hardening, one process (issue 8): each observation of the issue that one
# process shows is a check here.
#   outputs never destroy inputs (every writing command, tools/edm_import.py)
#   numbers: overflow, range, memory, seeds, hex; XYZ hex and ids; config hex
#   non-finite values: NaN model, overflowing model, NaN latents, NaN coordinates
#   oracle --in samples files, info on denoise files, stdout on a full disk,
#   SIGTERM during a command
# $1 = elign, $2 = harden_make_files. Needs /usr/bin/python3 with h5py.
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
MAKE="$(cli_abspath "$2")"
cli_workdir elign_harden_cli "${TMPDIR:-/tmp}"
# expect RC PATTERN what cmd...: exit code RC, stderr matching PATTERN in one
# "elign...error" line (at most 2 lines: the message and a HINT)
expect() {
  local want="$1" pat="$2" what="$3"; shift 3
  "$@" > out.txt 2> err.txt; local rc=$?
  local msgs; msgs=$(grep -v "INFO\|HINT" err.txt | grep -c .)
  if [ "$rc" = "$want" ] && grep -q -- "$pat" err.txt && [ "$msgs" -le 1 ]; then ok
  else bad "$what: rc=$rc (want $want), stderr: $(head -3 err.txt | tr '\n' '|')"; fi
}
# same_bytes A B WHAT: A and B are byte for byte equal (cli_lib.sh's `same` compares checkpoints)
same_bytes() { cmp -s "$1" "$2" && ok || bad "$3"; }

"$MAKE" model m.h5 && "$MAKE" model mnan.h5 nan && "$MAKE" model minf.h5 inf && "$MAKE" model mhuge.h5 huge \
  && "$MAKE" states st.h5 && "$MAKE" states stnan.h5 nan && "$MAKE" dataset ds.h5 && "$MAKE" dataset dsnan.h5 nan \
  && ok || bad "fixtures"
cp "$SHARED/data/qm9like/tiny.xyz" tiny.xyz
for f in m.h5 st.h5 ds.h5 tiny.xyz; do cp "$f" "orig_$f"; done
"$ELIGN" sample --model m.h5 -n 4 --T 4 --out s.h5 2> /dev/null && ok || bad "sample fixture"
cp s.h5 orig_s.h5

# ---- outputs never destroy inputs -------------------------------------------------
ln -s m.h5 m_link.h5; ln m.h5 m_hard.h5
expect 1 "is the same file as INPUT tiny.xyz" "data import -o = input" "$ELIGN" data import tiny.xyz -o tiny.xyz --force
expect 1 "is the same file as --split" "data import -o = --split" "$ELIGN" data import tiny.xyz -o split.json --split split.json
expect 1 "is the same file as --in" "oracle --out = --in" "$ELIGN" oracle --backend lj --in ds.h5 --out ds.h5 --force
expect 1 "is the same file as --model" "sample --out = --model" "$ELIGN" sample --model m.h5 -n 2 --T 2 --out m.h5 --force
expect 1 "is the same file as --model" "sample --out = a symlink to --model" "$ELIGN" sample --model m.h5 -n 2 --T 2 --out m_link.h5 --force
expect 1 "is the same file as --model" "sample --out = a hard link to --model" "$ELIGN" sample --model m.h5 -n 2 --T 2 --out m_hard.h5 --force
expect 1 "are the same file" "sample --xyz = --out" "$ELIGN" sample --model m.h5 -n 2 --T 2 --out n.h5 --xyz n.h5
expect 1 "is the same file as --model" "sample --sdf = --model" "$ELIGN" sample --model m.h5 -n 2 --T 2 --out n.h5 --sdf ./m.h5
expect 1 "is the same file as SAMPLES" "export --xyz = input" "$ELIGN" export s.h5 --xyz s.h5 --force
expect 1 "is the same file as --in" "denoise --out = --in" "$ELIGN" denoise --model m.h5 --in st.h5 --out st.h5 --force
expect 1 "is the same file as --model" "denoise --out = --model" "$ELIGN" denoise --model m.h5 --in st.h5 --out m.h5 --force
touch args.pickle weights.npy
expect 1 "is the same file as --args" "edm_import --out = --args" "$PY" "$SRC/tools/edm_import.py" --args args.pickle --weights weights.npy --out args.pickle
expect 1 "exists: refusing" "edm_import existing --out" "$PY" "$SRC/tools/edm_import.py" --args args.pickle --weights weights.npy --out m.h5
for f in m.h5 st.h5 ds.h5 tiny.xyz s.h5; do same_bytes "$f" "orig_$f" "$f changed by a refused command"; done
[ ! -e n.h5 ] && ok || bad "a refused sample wrote n.h5"
# an existing output is replaced only with --force
"$ELIGN" data import tiny.xyz -o t.h5 > /dev/null 2>&1 && cp t.h5 t_first.h5 && ok || bad "import t.h5"
expect 1 "exists: refusing to overwrite it" "data import onto an existing file" "$ELIGN" data import tiny.xyz -o t.h5
same_bytes t.h5 t_first.h5 "refused import touched t.h5"
"$ELIGN" data import tiny.xyz -o t.h5 --force > /dev/null 2>&1 && ok || bad "import --force"
for cmd in "sample --model m.h5 -n 2 --T 2 --out s.h5" "oracle --backend lj --in ds.h5 --out t.h5" \
           "denoise --model m.h5 --in st.h5 --out t.h5" "export s.h5 --xyz tiny.xyz"; do
  expect 1 "exists: refusing to overwrite it" "$cmd onto an existing file" $ELIGN $cmd
done
expect 1 "not a regular file" "an output that is a device" "$ELIGN" export s.h5 --xyz /dev/null --force
"$ELIGN" export s.h5 --xyz e.xyz > /dev/null 2>&1 && "$ELIGN" export s.h5 --xyz e.xyz --force > /dev/null 2>&1 && ok \
  || bad "export --force"

# ---- numbers ------------------------------------------------------------------------
expect 2 "'18446744073709551617' is out of range (allowed 1..2147483647)" "sample -n 2^64+1 (was: 'sampled 9223372036854775807')" \
  "$ELIGN" sample --model m.h5 -n 18446744073709551617 --out x.h5
expect 2 "'2147483648' is out of range" "sample -n 2^31 (was: a minute of growing memory)" "$ELIGN" sample --model m.h5 -n 2147483648 --out x.h5
expect 1 "GiB of memory, but about" "sample -n 2^31-1 fails early on memory" timeout 20 "$ELIGN" sample --model m.h5 -n 2147483647 --out x.h5
expect 2 "'18446744073709551616' is out of range" "--seed 2^64" "$ELIGN" sample --model m.h5 -n 2 --seed 18446744073709551616 --out x.h5
expect 2 "is not a decimal integer" "--batch 0x10" "$ELIGN" sample --model m.h5 -n 2 --batch 0x10 --out x.h5
expect 2 "is not a decimal integer" "oracle --batch 0x10" "$ELIGN" oracle --backend lj --in ds.h5 --batch 0x10
"$ELIGN" sample --model m.h5 -n 2 --T 2 --seed 18446744073709551615 --out big_seed.h5 2> /dev/null \
  && "$ELIGN" info big_seed.h5 | grep -q "^seed: 18446744073709551615$" && ok || bad "a seed >= 2^63 is kept as given (was clamped)"
printf '2\nid=5\nH 0x10 0 0\nH 0 0 0.74\n' > hex.xyz
expect 1 "hex.xyz: molecule 0 (line 3): bad atom line 'H 0x10 0 0' (coordinates must be finite decimal numbers)" \
  "XYZ coordinate 0x10 (was: read as 16)" "$ELIGN" data import hex.xyz -o x.h5
printf '2\nid=99999999999999999999\nH 0 0 0\nH 0 0 0.74\n' > bigid.xyz
expect 1 "bigid.xyz: molecule 0 (line 2): id=99999999999999999999 is not an integer" "XYZ id out of range (was: dropped)" \
  "$ELIGN" data import bigid.xyz -o x.h5
printf 'seed: 0x10\n' > hex.yaml
expect 1 "hex.yaml:1: key 'seed' expects an int, got '0x10'" "config int 0x10" "$ELIGN" config check hex.yaml
printf 'train:\n  learning_rate: 0x1p-3\n' > hexf.yaml
expect 1 "expects a float, got '0x1p-3'" "config hex float" "$ELIGN" config check hexf.yaml

# ---- non-finite values ----------------------------------------------------------------
expect 1 "holds 1 non-finite value" "a NaN weight is refused on load (was: samples)" "$ELIGN" sample --model mnan.h5 -n 2 --T 2 --out x.h5
expect 1 "holds 1 non-finite value" "an Inf weight is refused on load" "$ELIGN" denoise --model minf.h5 --in st.h5 --out x.h5
expect 1 "non-finite latents (molecules 0, 1, 2); nothing written" "an overflowing model: molecules named, nothing written" \
  "$ELIGN" sample --model mhuge.h5 -n 3 --T 2 --out x.h5
expect 1 "/z_t of 1 of 3 molecules is not finite (molecules 1); nothing written" "denoise NaN input (was: rc 0)" \
  "$ELIGN" denoise --model m.h5 --in stnan.h5 --out x.h5
expect 1 "results for 3 of 3 molecules are not finite" "denoise overflowing results" "$ELIGN" denoise --model mhuge.h5 --in st.h5 --out x.h5
[ ! -e x.h5 ] && ok || bad "a refused command wrote x.h5"
"$ELIGN" oracle --backend lj --in dsnan.h5 --out o_nan.h5 > table.txt 2> /dev/null && grep -q "non-finite coordinate" table.txt \
  && "$PY" -c "import h5py, sys; s = h5py.File('o_nan.h5')['status'][:].tolist(); sys.exit(s != [0, 0, 3])" && ok \
  || bad "oracle: a NaN coordinate is flagged per molecule (status 3)"

# ---- oracle on samples files; info on every file kind ----------------------------------
"$ELIGN" oracle --backend lj --in s.h5 --no-table > /dev/null 2>&1 && ok || bad "oracle --in a samples file (was refused)"
expect 1 "an Elign-C model file: --in takes molecules" "oracle --in a model file" "$ELIGN" oracle --backend lj --in m.h5
"$ELIGN" denoise --model m.h5 --in st.h5 --out dn.h5 2> /dev/null && ok || bad "denoise"
for f in st.h5 dn.h5; do
  "$ELIGN" info $f > info.txt 2> info_err.txt && grep -q "molecules: 3" info.txt && grep -q "channels D: 9" info.txt \
    && ok || bad "info $f (was: a header, then an error): $(cat info_err.txt)"
done
"$PY" -c "
import sys; sys.path.insert(0, '$SRC/tools')
import elign_h5
with elign_h5.create('future.h5') as f:
    elign_h5.set_str_attr(f, 'elign_format', 'train_state_v9'); f.attrs['elign_format_version'] = 2
"
expect 1 "Elign-C format 'train_state_v9' is not one this build describes" "info on an unknown Elign-C format" "$ELIGN" info future.h5
[ ! -s out.txt ] && ok || bad "info printed a header before failing: $(head -1 out.txt)"

# ---- stdout on a full disk; SIGTERM --------------------------------------------------------
expect 1 "cannot write to standard output" "info > /dev/full (was: rc 0)" bash -c '"$0" info "$1" > /dev/full' "$ELIGN" s.h5
# the signal goes once sampling runs (its first progress line), not after a fixed
# sleep: start-up (the BLAS check, a restart on another core) takes > 1 s on a loaded machine
ELIGN_PROGRESS_SECONDS=0.1 "$ELIGN" sample --model m.h5 -n 4000 --T 100 --out sig.h5 2> sig.txt & P=$!
cli_wait_line sig.txt "INFO\] sampling" 30 $P || bad "SIGTERM during sample: no progress line in 30 s"
kill -TERM $P; wait $P; rc=$?
[ $rc = 143 ] && grep -q "^elign sample: interrupted by SIGTERM while sampling 4000 molecules; nothing written" sig.txt \
  && [ "$(grep -vc INFO sig.txt)" = 1 ] && ok || bad "SIGTERM during sample: rc=$rc, $(grep -v INFO sig.txt | head -2)"
ls | grep -q "\.tmp\." && bad "temporaries left: $(ls | grep '\.tmp\.')" || ok

cli_finish
