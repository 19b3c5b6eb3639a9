# Rollout iteration time (owner: rollout): run manually, e.g.
#   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 build/bench/bench_rollout
add_executable(bench_rollout ${CMAKE_CURRENT_SOURCE_DIR}/bench_rollout.c)
target_link_libraries(bench_rollout PRIVATE elign_core)
