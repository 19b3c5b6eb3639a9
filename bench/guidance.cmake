# Guided vs unguided sampling cost (owner: guide). Not part of ctest.
# Run: OMP_NUM_THREADS=1 build/bench/bench_guidance --model models/demo.h5 --oracle ani --model-dir $ZOO
#      bench/bench_guidance_quality.sh (quality at equal wall time), bench/bench_warmstart.sh (relax warm start)
add_executable(bench_guidance ${CMAKE_CURRENT_SOURCE_DIR}/bench_guidance.c)
target_link_libraries(bench_guidance PRIVATE elign_core)
