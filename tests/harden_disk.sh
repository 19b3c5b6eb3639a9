#!/usr/bin/env bash
# Hardening, full disks (issue 8): every writer on a small tmpfs that runs
# out of space — data import, oracle, denoise, export, sample on 1, 2 and 3
# ranks (mpirun -np 2 sample onto a full disk deadlocked; the others died
# with SIGSEGV after "closing the HDF5 file failed", export left a partial
# file). Each must end with rc 1 and one "elign: error" line, no crash,
# nothing under the final name, no "*.tmp.*" left, and an existing output
# (--force) untouched. ELIGN_NO_FALLOCATE=1 repeats the parallel case as on
# a file system without fallocate (the collective writes then fail mid-way).
# Needs to mount a tmpfs (root): skipped with a message otherwise.
# $1 = elign, $2 = harden_make_files, $3 = mpiexec.
set -u
ELIGN_MPIRUN="${3:-mpirun}" # the launcher comes as argument 3 here
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
MAKE="$(cli_abspath "$2")"
W="$(mktemp -d "${TMPDIR:-/tmp}/elign_harden_disk.XXXXXX")"
D="$W/disk"
mkdir -p "$D"
if ! mount -t tmpfs -o size=1m tmpfs "$D" 2> /dev/null; then
  echo "harden_disk: SKIPPED: cannot mount a tmpfs here (needs root): the full-disk checks did not run"
  rm -rf "$W"
  exit 0
fi
trap 'umount "$D" 2> /dev/null; rm -rf "$W"' EXIT
cd "$W"

# Leave `free` KiB on the 1 MiB disk.
fill() { rm -f "$D"/*; dd if=/dev/zero of="$D/fill" bs=1k count=$((1024 - $1)) 2> /dev/null; }

# on_full_disk what out free cmd...: the command writes $D/out with `free`
# KiB left; an old $D/out (written with room) must survive it.
on_full_disk() {
  local what="$1" out="$2" free="$3"; shift 3
  rm -f "$D"/*
  printf 'the previous %s\n' "$out" > "$D/$out" && cp "$D/$out" old_out
  dd if=/dev/zero of="$D/fill" bs=1k count=$((1024 - free - 4)) 2> /dev/null
  timeout -k 5 60 "$@" > out.txt 2> err.txt; local rc=$?
  local errors; errors=$(grep -c "^elign: error" err.txt)
  if [ $rc = 1 ] && [ "$errors" = 1 ]; then ok
  else bad "$what: rc=$rc (want 1; 124 = hang, 139 = crash), $errors error lines: $(grep -v INFO err.txt | head -4 | tr '\n' '|')"; fi
  cmp -s "$D/$out" old_out && ok || bad "$what: the previous $out was replaced or removed"
  ls "$D" | grep -q "\.tmp\." && bad "$what: temporaries left: $(ls "$D" | grep '\.tmp\.')" || ok
}

# inputs whose outputs take 0.3-1 MB: beyond 200 KiB free, within 900
N=500 # molecules sampled (--T 1: one step and the decode)
"$MAKE" model m.h5 && "$MAKE" states st.h5 && ok || bad "fixtures"
zcat "$SHARED/data/qm9like/qm9like_mmff.xyz.gz" | head -n 40000 > in.xyz # ~2000 molecules
"$ELIGN" sample --model m.h5 -n $N --T 1 --out big.h5 2> /dev/null && ok || bad "samples fixture"
cp in.xyz in_orig.xyz && cp m.h5 m_orig.h5

# with too little room for even an empty HDF5 file, and with room for its
# metadata but not its data
for free in 16 200; do
  on_full_disk "data import ($free KiB free)" x.h5 $free "$ELIGN" data import in.xyz -o "$D/x.h5" --force
  on_full_disk "oracle ($free KiB free)" o.h5 $free "$ELIGN" oracle --backend lj --in in.xyz --out "$D/o.h5" --no-table --force
  on_full_disk "sample ($free KiB free)" s.h5 $free "$ELIGN" sample --model m.h5 -n $N --T 1 --out "$D/s.h5" --force
  on_full_disk "export --xyz ($free KiB free)" b.xyz $free "$ELIGN" export big.h5 --xyz "$D/b.xyz" --force
done
on_full_disk "denoise (16 KiB free)" d.h5 16 "$ELIGN" denoise --model m.h5 --in st.h5 --out "$D/d.h5" --force
for np in 2 3; do
  on_full_disk "mpirun -np $np sample" s.h5 200 "${MPIRUN[@]}" -np $np "$ELIGN" sample --model m.h5 -n $N --T 1 --out "$D/s.h5" --force
done
on_full_disk "mpirun -np 2 sample without fallocate" s.h5 200 \
  "${MPIRUN[@]}" -x ELIGN_NO_FALLOCATE=1 -np 2 "$ELIGN" sample --model m.h5 -n $N --T 1 --out "$D/s.h5" --force
on_full_disk "mpirun -np 3 oracle" o.h5 200 \
  "${MPIRUN[@]}" -np 3 "$ELIGN" oracle --backend lj --in in.xyz --out "$D/o.h5" --no-table --force
cmp -s in.xyz in_orig.xyz && cmp -s m.h5 m_orig.h5 && ok || bad "an input changed"
# and with room, the same commands write (the checks above are not just "never writes")
fill 900
"$ELIGN" sample --model m.h5 -n $N --T 1 --out "$D/s.h5" 2> /dev/null && "$ELIGN" info "$D/s.h5" > /dev/null && ok \
  || bad "sample with room"

cli_finish
