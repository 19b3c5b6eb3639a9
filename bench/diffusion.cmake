# Sampling throughput vs a PyTorch sampler of the same network (owner: diffusion).
# Run: /usr/bin/python3 bench/bench_sample.py build/bench/bench_sample
add_executable(bench_sample ${CMAKE_CURRENT_SOURCE_DIR}/bench_sample.c)
target_link_libraries(bench_sample PRIVATE elign_core)
