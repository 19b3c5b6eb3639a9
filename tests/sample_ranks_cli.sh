#!/usr/bin/env bash
# `elign sample -n 16` on 1, 2 and 3 ranks with the demo model: 16 one-molecule
# batches shared out by their network cost (actor/sampler.h, sampler_rank_share;
# for seed 11 largest first on 2 ranks, so a rank's batches are apart, and
# contiguous runs on 3, the more even split there) and put back into global
# order before the parallel write (common/io/molset_mpi.h). The sample files
# are bitwise identical, so is the XYZ export, and rank 0 names the largest
# rank's share.
set -u
# shellcheck source=SCRIPTDIR/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"
MODEL="$SRC/models/demo.h5"
cli_workdir sample_ranks_cli

S=(sample --model "$MODEL" -n 16 --T 20 --seed 11)
"$ELIGN" "${S[@]}" --out s1.h5 --xyz s1.xyz 2> log1.txt && ok || bad "1 rank: $(tail -3 log1.txt)"
for np in 2 3; do
  "${MPIRUN[@]}" -np $np "$ELIGN" "${S[@]}" --out s$np.h5 --xyz s$np.xyz 2> log$np.txt && ok \
    || bad "$np ranks: $(tail -3 log$np.txt)"
  same "samples on $np ranks differ from 1 rank" s1.h5 s$np.h5
  cmp -s s1.xyz s$np.xyz && ok || bad "$np ranks: the XYZ export differs from 1 rank's"
  grep -q "over $np ranks: the largest rank's share is [0-9.]* % of the network cost" log$np.txt && ok \
    || bad "$np ranks: no line on the split's balance"
done

cli_finish
