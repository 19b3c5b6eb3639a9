# EGNN benchmark (owner: egnn): run manually, e.g.
#   build/bench/bench_egnn --threads 1,2 --torch bench/egnn_torch.py
add_executable(bench_egnn ${CMAKE_CURRENT_SOURCE_DIR}/bench_egnn.c)
target_link_libraries(bench_egnn PRIVATE elign_core)
