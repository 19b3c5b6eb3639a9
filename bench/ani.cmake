# ANI-2x throughput: native engine vs TorchANI's published figures and the
# in-run PyTorch reference (bench/ani_torch.py). Not part of ctest.
# Run: build/bench/bench_ani /path/to/ani-model-zoo [--threads 1,2]
add_executable(bench_ani ${CMAKE_CURRENT_SOURCE_DIR}/bench_ani.c)
target_link_libraries(bench_ani PRIVATE elign_core)
target_compile_definitions(bench_ani PRIVATE ANI_TORCH_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/ani_torch.py")
