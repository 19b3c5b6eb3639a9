#!/usr/bin/env bash
# elign eval end to end, on the files test_eval writes (fixture eval_inputs):
#   the data row of the qm9like test split (JSON numbers, and the CSV against EDM's
#   golden files molecule by molecule); novelty against a dataset's train split equal
#   to tools/train_smiles.py's list and to EDM's number; seeds and --ref; odd molecules
#   and unreadable files reported without stopping; a killed run resumed to the same
#   JSON (one process and under mpirun); results equal for 1 and 3 ranks (lj, ani);
#   a torn journal line; usage errors.
#   eval_cli.sh ELIGN   (env: ELIGN_SHARED_DIR, ELIGN_PYTHON, ELIGN_MPIRUN; cwd: the test build dir)
set -u
ELIGN="$1"
PY="${ELIGN_PYTHON:-/usr/bin/python3}"
MPIRUN=("${ELIGN_MPIRUN:-mpirun}" --oversubscribe --bind-to none --allow-run-as-root -x OMP_NUM_THREADS=1
        -x OPENBLAS_NUM_THREADS=1)
SRC="$(cd "$(dirname "$0")/.." && pwd)"
GOLDEN="$SRC/tests/data"
ZOO="$ELIGN_SHARED_DIR/models/ani-model-zoo"
D=eval_cli.d
rm -rf "$D"
mkdir -p "$D"
fails=0
passes=0
ok() { passes=$((passes + 1)); }
# jcmp A.json B.json: byte-identical summaries up to the provenance record (the last member;
# it names the rank layout, which some comparisons change on purpose); both must have one
jcmp() { "$PY" "$SRC/tests/json_same_but_provenance.py" "$@"; }
bad() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}
for f in eval_test_split.h5 eval_tiny.h5 eval_tiny_a.h5 eval_tiny_b.h5 eval_tiny4.h5 eval_odd.h5 eval_empty.h5 \
  eval_python.h5; do
  [ -s "$f" ] || { echo "FAIL: $f missing (test_eval makes it)"; exit 1; }
done

# ---- the data row ----------------------------------------------------------------------
"$ELIGN" eval eval_test_split.h5 --out $D/row.json --table $D/row.csv > $D/row.txt 2> $D/row.log && ok ||
  bad "data row: $(cat $D/row.log)"
grep -q "^rdkit.validity  *0.881667" $D/row.txt && ok || bad "data row: printed table"
"$PY" - $D/row.json $D/row.csv "$GOLDEN" <<'EOF' && ok || bad "data row: numbers or molecules differ from EDM"
import csv, gzip, json, sys
js, table, golden = sys.argv[1:]
m = json.load(open(js))['samples']['files'][0]['metrics']
st, rd = m['stability'], m['rdkit']
want = {'atom_stable': 52126 / 53345, 'mol_stable': 2480 / 3000}
ok = all(st[k] == v for k, v in want.items()) and rd['validity'] == 2645 / 3000 and rd['uniqueness'] == 1.0
ok &= rd['n_valid'] == 2645 and rd['n_unique'] == 2645 and rd['novelty'] is None
stab = {}
for line in gzip.open(golden + '/stability_qm9like.txt.gz', 'rt'):
    if not line.startswith('#'):
        i, s, ns, n = map(int, line.split())
        stab[i] = (s, ns, n)
rdk = {}
for line in gzip.open(golden + '/rdkit/qm9like_test.tsv.gz', 'rt'):
    if not line.startswith('#'):
        f = line.rstrip('\n').split('\t')
        rdk[int(f[0])] = (int(f[1]), f[2])
rows = list(csv.DictReader(open(table)))
diff = 0
for r in rows:
    i = int(r['id'])
    diff += (int(r['stable']), int(r['n_stable_atoms']), int(r['n_atoms'])) != stab[i]
    valid, smi = rdk[i]
    diff += (r['valid'] == '1') != (valid == 1) or (valid == 1 and r['smiles'] != smi)
print('data row: %d molecules, %d differ from EDM; A %.4f M %.4f V %.4f U %.4f'
      % (len(rows), diff, st['atom_stable'], st['mol_stable'], rd['validity'], rd['uniqueness']))
sys.exit(0 if ok and diff == 0 and len(rows) == 3000 else 1)
EOF

# ---- novelty: --dataset (train split computed in C) = tools/train_smiles.py = EDM ----------
"$PY" - "$ELIGN_SHARED_DIR/data/qm9like/tiny.xyz" > $D/tiny_all.json <<'EOF'
import json, re, sys
print(json.dumps({"train": [int(m.group(1)) for m in re.finditer(r' id=(\d+)', open(sys.argv[1]).read())]}))
EOF
"$ELIGN" data import "$ELIGN_SHARED_DIR/data/qm9like/tiny.xyz" -o $D/tiny_all.h5 --split $D/tiny_all.json \
  > $D/import.log 2>&1 && ok || bad "import tiny: $(cat $D/import.log)"
"$ELIGN" eval eval_test_split.h5 --dataset $D/tiny_all.h5 --out $D/nov.json --run-dir $D/nov.d --no-print \
  2> $D/nov.log && ok || bad "novelty --dataset: $(cat $D/nov.log)"
"$PY" "$SRC/tools/train_smiles.py" $D/tiny_all.h5 -o $D/tiny_train.txt > $D/tool.log 2>&1 && ok || bad "train_smiles.py"
"$ELIGN" eval eval_test_split.h5 --train-smiles $D/tiny_train.txt --out $D/nov2.json --run-dir $D/nov.d --no-print \
  2> $D/nov2.log && ok || bad "novelty --train-smiles: $(cat $D/nov2.log)"
"$PY" - $D/nov.json $D/nov2.json $D/tiny_train.txt $D/nov.d "$GOLDEN" <<'EOF' && ok || bad "novelty differs"
import glob, gzip, json, sys
a, b, listfile, rundir, golden = sys.argv[1:]
ra = json.load(open(a))['samples']['mean']['rdkit']
rb = json.load(open(b))['samples']['mean']['rdkit']
head = dict(l[2:].split() for l in gzip.open(golden + '/rdkit/qm9like_test.tsv.gz', 'rt')
            if l.startswith('# ') and len(l.split()) == 3)
tool = [l.rstrip('\n') for l in open(listfile) if not l.startswith('#')]
cached = glob.glob(rundir + '/train_smiles.*.txt')
mine = [l.rstrip('\n') for l in open(cached[0]) if not l.startswith('#')] if len(cached) == 1 else None
print('novelty: --dataset %r, --train-smiles %r, EDM %s/%s; C list %s SMILES, tool %d, equal %s'
      % (ra['novelty'], rb['novelty'], head['n_novel_vs_tiny'], head['novelty_vs_tiny'],
         None if mine is None else len(mine), len(tool), mine == tool))
ok = ra == rb and ra['n_novel'] == int(head['n_novel_vs_tiny']) and ra['novelty'] == float(head['novelty_vs_tiny'])
sys.exit(0 if ok and mine == tool and len(tool) == int(head['tiny_train_list']) else 1)
EOF
# the second --dataset run reads the cached list
"$ELIGN" eval eval_tiny4.h5 --dataset $D/tiny_all.h5 --run-dir $D/nov.d --no-print 2> $D/nov3.log && \
  grep -q "cached in" $D/nov3.log && ok || bad "train SMILES cache not used: $(cat $D/nov3.log)"

# ---- seeds and a baseline ---------------------------------------------------------------
"$ELIGN" eval eval_tiny_a.h5 eval_tiny_b.h5 --ref eval_tiny.h5 --oracle lj --out $D/seeds.json \
  --table $D/seeds.csv > $D/seeds.txt 2> $D/seeds.log && ok || bad "seeds: $(cat $D/seeds.log)"
grep -q "samples - ref" $D/seeds.txt && grep -q "mean ± std" $D/seeds.txt && grep -q "^same_formula:lj .*sign test p" $D/seeds.txt && ok || bad "side-by-side table"
"$PY" - $D/seeds.json $D/seeds.csv <<'EOF' && ok || bad "seeds / ref numbers"
import csv, json, statistics, sys
d = json.load(open(sys.argv[1]))
s, r = d['samples'], d['ref']
files = [f['metrics'] for f in s['files']]
ok = s['n_averaged'] == 2 and r['n_averaged'] == 1
for sec, key in [('stability', 'mol_stable'), ('rdkit', 'validity'), ('oracle:lj', 'energy_mean')]:
    vals = [f[sec][key] for f in files]
    ok &= abs(s['mean'][sec][key] - statistics.mean(vals)) < 1e-15
    ok &= abs(s['std'][sec][key] - statistics.stdev(vals)) < 1e-15
    ok &= d['diff'][sec][key] == s['mean'][sec][key] - r['mean'][sec][key]
ok &= r['std']['rdkit']['validity'] is None
rows = list(csv.DictReader(open(sys.argv[2])))
ok &= len(rows) == 128 and sum(x['set'] == 'ref' for x in rows) == 64
# halves of one set: molecule stability of the whole is the size-weighted mean of the halves
n = [f['stability']['n_molecules'] for f in files]
whole = r['files'][0]['metrics']['stability']['mol_stable']
ok &= abs(whole - sum(f['stability']['mol_stable'] * k for f, k in zip(files, n)) / sum(n)) < 1e-15
print('seeds: validity %.4f ± %.4f vs ref %.4f' % (s['mean']['rdkit']['validity'], s['std']['rdkit']['validity'],
                                                 r['mean']['rdkit']['validity']))
# energies at equal composition, recomputed from the table (the halves pooled against the whole)
side = {'samples': {}, 'ref': {}}
for x in rows:
    if x['lj.status'] == 'ok':
        side[x['set']].setdefault(x['formula'], []).append(float(x['lj.energy_per_atom']))
both = sorted(set(side['samples']) & set(side['ref']))
pairs = sum(min(len(side['samples'][f]), len(side['ref'][f])) for f in both)
mean = lambda v: sum(v) / len(v)
diff = sum(min(len(side['samples'][f]), len(side['ref'][f])) * (mean(side['samples'][f]) - mean(side['ref'][f]))
           for f in both) / pairs
same = d['same_formula']['same_formula:lj']
ok &= same['formulas'] == len(both) and same['pairs'] == pairs and abs(same['energy_per_atom_diff'] - diff) < 1e-12
print('same formula: %d formulas, %d pairs, energy/atom diff %.3g' % (len(both), pairs, diff))
sys.exit(0 if ok else 1)
EOF

# ---- odd molecules and unreadable files: reported, never a stop ------------------------------
echo "not an HDF5 file" > $D/garbage.h5
head -c 2000 eval_tiny.h5 > $D/truncated.h5
"$ELIGN" eval eval_odd.h5 eval_empty.h5 $D/garbage.h5 $D/truncated.h5 $D/missing.h5 eval_tiny4.h5 --oracle lj \
  --relax --out $D/odd.json --table $D/odd.csv --run-dir $D/odd.d --no-print 2> $D/odd.log
rc=$?
[ $rc -eq 1 ] && ok || bad "odd inputs: exit $rc, want 1: $(tail -5 $D/odd.log)"
grep -q "3 input file(s) could not be read" $D/odd.log && ok || bad "odd inputs: no count of unreadable files"
"$PY" - $D/odd.json $D/odd.csv <<'EOF' && ok || bad "odd inputs: report"
import csv, json, sys
d = json.load(open(sys.argv[1]))['samples']
f = {x['path'].split('/')[-1]: x for x in d['files']}
ok = all(f[k]['error'] for k in ('garbage.h5', 'truncated.h5', 'missing.h5'))
ok &= f['eval_empty.h5']['error'] is None and f['eval_empty.h5']['n_molecules'] == 0
ok &= d['n_files'] == 6 and d['n_averaged'] == 2
odd = f['eval_odd.h5']
sp = {x['index']: x['status'] for x in odd['failed']['lj']['single_point']}
ok &= sp == {2: 'unsupported element', 3: 'overlapping atoms', 4: 'non-finite coordinate', 5: 'no atoms'}
ok &= odd['failed']['rdkit_errors'] == [2]  # Fe is in neither atom decoder
m = odd['metrics']
ok &= m['oracle:lj']['n_ok'] == 3 and m['oracle:lj']['n_failed'] == 4 and m['relax:lj']['n_relaxed'] == 3
ok &= m['stability']['n_molecules'] == 7
rows = [r for r in csv.DictReader(open(sys.argv[2])) if r['path'].endswith('eval_odd.h5')]
ok &= [r['lj.status'] for r in rows][:3] == ['ok', 'ok', 'unsupported element'] and rows[0]['valid'] == '1'
ok &= rows[2]['valid'] == 'error' and rows[5]['n_atoms'] == '0'
print('odd inputs: single-point failures %s; unreadable: %s' % (sp, [k for k in f if f[k]['error']]))
sys.exit(0 if ok else 1)
EOF

# a Python oracle that raises for some molecules (tests/oracle_toy.py): flagged, listed, the rest evaluated
"$ELIGN" eval eval_python.h5 --oracle python --python-module oracle_toy --python-function toy \
  --python-path "$SRC/tests" --out $D/py.json --run-dir $D/py.d --no-print 2> $D/py.log
rc=$?
if grep -q "not built" $D/py.log; then
  echo "skip: python backend not built"
else
  [ $rc -eq 0 ] && "$PY" - $D/py.json <<'EOF' && ok || bad "python oracle failures: exit $rc $(tail -3 $D/py.log)"
import json, sys
f = json.load(open(sys.argv[1]))['samples']['files'][0]
sp = {x['index']: x['status'] for x in f['failed']['python']['single_point']}
print('python oracle: %s' % sp)
ok = sp == {0: 'time limit exceeded', 1: 'backend error', 3: 'not converged'}
sys.exit(0 if ok and f['metrics']['oracle:python']['n_ok'] == 1 else 1)
EOF
fi

# ---- resume: killed midway (after 11 journal records = 8 chemistry + 3 oracle chunks) ----------
run_relax() { "$ELIGN" eval eval_tiny.h5 --oracle lj --relax --batch 8 --no-print "$@"; }
run_relax --out $D/full.json --table $D/full.csv --run-dir $D/full.d 2> $D/full.log && ok || bad "uninterrupted run"
ELIGN_EVAL_TEST_KILL_AFTER=11 run_relax --out $D/kill.json --table $D/kill.csv --run-dir $D/kill.d 2> $D/kill.log
rc=$?
[ $rc -ne 0 ] && [ ! -e $D/kill.json ] && ok || bad "the kill hook did not stop the run (exit $rc)"
run_relax --out $D/kill.json --table $D/kill.csv --run-dir $D/kill.d 2> $D/resume.log && ok || bad "resume failed"
grep -q "40 done in this run, 88 taken from journals" $D/resume.log && ok ||
  bad "resume: counts: $(grep 'molecule evaluations' $D/resume.log)"
grep "molecule evaluations" $D/resume.log
jcmp $D/full.json $D/kill.json && cmp -s $D/full.csv $D/kill.csv && ok || bad "resumed JSON/CSV differ"
# a finished run again: nothing to do, same bytes
run_relax --out $D/kill.json --table $D/kill.csv --run-dir $D/kill.d --force 2> $D/again.log && \
  grep -q "0 done in this run, 128 taken" $D/again.log && jcmp $D/full.json $D/kill.json && ok ||
  bad "rerun of a finished eval: $(grep 'molecule evaluations' $D/again.log)"
# a torn record at the end of a journal is cut, the chunk it held comes again
printf '1234abcd {"section": "oracle", "backend": "lj", "chu' >> $D/kill.d/eval_tiny.h5.*.jsonl
run_relax --out $D/kill.json --run-dir $D/kill.d --force 2> $D/torn.log && grep -q "cut a torn" $D/torn.log && \
  jcmp $D/full.json $D/kill.json && ok || bad "torn journal line: $(tail -3 $D/torn.log)"
# --restart evaluates everything again
run_relax --out $D/kill.json --run-dir $D/kill.d --force --restart 2> $D/restart.log && \
  grep -q "128 done in this run, 0 taken" $D/restart.log && jcmp $D/full.json $D/kill.json && ok || bad "--restart"

# ---- MPI: 1 and 3 ranks, kill under mpirun and resume on 2 ------------------------------------
"${MPIRUN[@]}" -np 3 "$ELIGN" eval eval_tiny.h5 --oracle lj --relax --batch 8 --no-print --out $D/mpi3.json \
  --table $D/mpi3.csv --run-dir $D/mpi3.d > /dev/null 2> $D/mpi3.log && ok || bad "mpirun -np 3: $(tail -5 $D/mpi3.log)"
jcmp $D/full.json $D/mpi3.json && cmp -s $D/full.csv $D/mpi3.csv && ok || bad "3 ranks differ from 1"
"${MPIRUN[@]}" -x ELIGN_EVAL_TEST_KILL_AFTER=12 -np 3 "$ELIGN" eval eval_tiny.h5 --oracle lj --relax --batch 8 \
  --no-print --out $D/mk.json --run-dir $D/mk.d > /dev/null 2> $D/mk.log
[ ! -e $D/mk.json ] && ok || bad "mpirun kill hook"
"${MPIRUN[@]}" -np 2 "$ELIGN" eval eval_tiny.h5 --oracle lj --relax --batch 8 --no-print --out $D/mk.json \
  --run-dir $D/mk.d > /dev/null 2> $D/mk2.log && jcmp $D/full.json $D/mk.json && ok ||
  bad "killed on 3 ranks, resumed on 2: $(grep -E 'evaluations|error' $D/mk2.log)"
if [ -d "$ZOO/resources" ]; then
  # ANI (float32, batched): one process and 2 ranks give the same bits, single points and relaxation
  "$ELIGN" eval eval_tiny4.h5 --oracle ani --model-dir "$ZOO" --relax --batch 4 --no-print --out $D/ani1.json \
    --run-dir $D/ani1.d 2> $D/ani1.log && ok || bad "ani: $(tail -3 $D/ani1.log)"
  "${MPIRUN[@]}" -np 2 "$ELIGN" eval eval_tiny4.h5 --oracle ani --model-dir "$ZOO" --relax --batch 4 --no-print \
    --out $D/ani2.json --run-dir $D/ani2.d > /dev/null 2> $D/ani2.log && jcmp $D/ani1.json $D/ani2.json && ok ||
    bad "ani: 2 ranks differ from 1"
  "$PY" - $D/ani1.json <<'EOF' && ok || bad "ani relaxation numbers"
import json, sys
m = json.load(open(sys.argv[1]))['samples']['mean']
r = m['relax:ani']
print('ani: E/atom %.4f eV, RMS F %.3f eV/Å; relaxed %d/%d in %.1f steps, strain %.3f eV, RMSD %.3f Å, fmax %.4f'
      % (m['oracle:ani']['energy_per_atom_mean'], m['oracle:ani']['frms_mean'], r['n_converged'], r['n_relaxed'],
         r['steps_mean'], r['strain_mean'], r['rmsd_mean'], r['fmax_final_mean']))
ok = r['n_converged'] == 4 and r['fmax_final_mean'] < 0.03 and r['strain_mean'] > 0 and r['rmsd_mean'] > 0
ok &= m['oracle:ani']['frms_mean'] > r['fmax_final_mean'] / 2  # MMFF geometries are not ANI minima
sys.exit(0 if ok else 1)
EOF
  # ANI models named as judges are: --oracle ani-2x --oracle ani-1ccx in one run (on an oracle
  # rank) give each model's numbers of a run with --oracle ani --model M, under its own name
  "$ELIGN" eval eval_tiny4.h5 --oracle ani --model ani-1ccx --model-dir "$ZOO" --batch 4 --no-print \
    --out $D/ccx.json --run-dir $D/ccx.d 2> $D/ccx.log && ok || bad "ani-1ccx: $(tail -3 $D/ccx.log)"
  "$ELIGN" eval eval_tiny4.h5 --oracle ani --model-dir "$ZOO" --batch 4 --no-print --out $D/a2x.json \
    --table $D/a2x.csv --run-dir $D/a2x.d 2> $D/a2x.log && ok || bad "ani-2x: $(tail -3 $D/a2x.log)"
  # atomization energy per atom = (E - the lone atoms' energies) / n, the lone atoms asked of
  # `elign oracle` here: per molecule in the table and as the summary's mean
  printf '1\nH\nH 0 0 0\n1\nC\nC 0 0 0\n1\nN\nN 0 0 0\n1\nO\nO 0 0 0\n1\nF\nF 0 0 0\n' > $D/atoms.xyz
  "$ELIGN" oracle --backend ani --model-dir "$ZOO" --in $D/atoms.xyz --out $D/atoms.h5 --no-table 2> /dev/null ||
    bad "lone atoms"
  "$PY" - $D/atoms.h5 $D/a2x.csv $D/a2x.json <<'EOF' && ok || bad "atomization energies"
import csv, json, re, sys
import h5py
f = h5py.File(sys.argv[1])
atom = dict(zip("HCNOF", f["energy"][:].tolist()))
rows = [r for r in csv.DictReader(open(sys.argv[2])) if r["ani.status"] == "ok"]
worst, got = 0.0, []
for r in rows:
    ref = sum(atom[el] * int(n or 1) for el, n in re.findall(r"([A-Z][a-z]?)(\d*)", r["formula"]))
    want = (float(r["ani.energy"]) - ref) / int(r["n_atoms"])
    got.append(float(r["ani.atomization_energy_per_atom"]))
    worst = max(worst, abs(got[-1] - want))
mean = json.load(open(sys.argv[3]))["samples"]["mean"]["oracle:ani"]["atomization_energy_per_atom_mean"]
print("atomization per atom: %d molecules, worst gap %.2e eV, mean %.6f eV" % (len(rows), worst, mean))
sys.exit(0 if rows and worst < 1e-9 and abs(mean - sum(got) / len(got)) < 1e-9 and -3 < mean < 0 else 1)
EOF
  "${MPIRUN[@]}" -np 2 "$ELIGN" eval eval_tiny4.h5 --oracle ani-2x --oracle ani-1ccx --model-dir "$ZOO" --batch 4 \
    --no-print --out $D/two.json --run-dir $D/two.d > /dev/null 2> $D/two.log && ok || bad "two ANI models: $(tail -3 $D/two.log)"
  "$PY" - $D/a2x.json $D/ccx.json $D/two.json <<'EOF' && ok || bad "ani-2x / ani-1ccx by name"
import json, sys
a2x, ccx, two = (json.load(open(f))['samples']['mean'] for f in sys.argv[1:])
pairs = [(two['oracle:ani-2x'], a2x['oracle:ani']), (two['oracle:ani-1ccx'], ccx['oracle:ani'])]
for k in ('energy_per_atom_mean', 'frms_mean'):
    print('%s: ani-2x %.6f / %.6f, ani-1ccx %.6f / %.6f' % (k, pairs[0][0][k], pairs[0][1][k], pairs[1][0][k], pairs[1][1][k]))
ok = all(p[0][k] == p[1][k] for p in pairs for k in ('energy_per_atom_mean', 'frms_mean'))
ok &= two['oracle:ani-2x']['energy_per_atom_mean'] != two['oracle:ani-1ccx']['energy_per_atom_mean']
sys.exit(0 if ok else 1)
EOF
else
  echo "skip: no ANI model zoo at $ZOO"
fi

# ---- usage errors -----------------------------------------------------------------------------
expect_usage() {
  local want="$1"
  shift
  "$ELIGN" eval "$@" > /dev/null 2> $D/usage.txt
  local rc=$?
  [ $rc -eq 2 ] && grep -q -- "$want" $D/usage.txt && ok || bad "eval $*: exit $rc, $(cat $D/usage.txt)"
}
expect_usage "'nosuch' is not an oracle backend" eval_tiny4.h5 --oracle nosuch
expect_usage "unknown ANI model 'ani-3x'" eval_tiny4.h5 --oracle ani:ani-3x
expect_usage "--oracle ani-1ccx given twice" eval_tiny4.h5 --oracle ani-1ccx --oracle ani-1ccx
expect_usage "--relax needs an --oracle" eval_tiny4.h5 --relax
expect_usage "exists: refusing to overwrite it" eval_tiny4.h5 --out $D/full.json
expect_usage "at least one samples file" --oracle lj
expect_usage "is the same file as" eval_tiny4.h5 --table ./eval_tiny4.h5 --force
expect_usage "--optimizer" eval_tiny4.h5 --oracle lj --relax --optimizer bfgs
expect_usage "--fmax" eval_tiny4.h5 --oracle lj --relax --fmax 0x10
"$ELIGN" eval --help | grep -q "usage: elign eval" && ok || bad "--help"

echo "eval_cli: $passes passed, $fails failed"
[ $fails -eq 0 ]
