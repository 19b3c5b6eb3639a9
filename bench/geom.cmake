# GEOM-Drugs (owner: geom): memory per rank and time of one forward+backward of the
# 4-layer GEOM architecture on batches of 181-atom molecules (docs/geom.md). Run manually:
#   OMP_NUM_THREADS=2 build/bench/bench_geom_memory --batches 1,8,32 --run-max 8
add_executable(bench_geom_memory ${CMAKE_CURRENT_SOURCE_DIR}/bench_geom_memory.c)
target_link_libraries(bench_geom_memory PRIVATE elign_core)
