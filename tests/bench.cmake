# The bench tooling (owner: bench/): run_all.sh's table renderer and README rewrite,
# sample_ranks.sh's BENCH line. The benches themselves are never timed tests.
elign_add_script_test(bench_tools bench_tools.sh)
