# ANI-2x energy + forces: native engine at batch 32 and one molecule per call,
# against TorchANI itself (source checkout in $TORCHANI_SRC; else our PyTorch
# re-implementation, bench/ani_torch.py) and the FLOP limit. Not part of ctest.
# Run: TORCHANI_SRC=/path/to/torchani build/bench/bench_ani /path/to/ani-model-zoo [--reps N]
add_executable(bench_ani ${CMAKE_CURRENT_SOURCE_DIR}/bench_ani.c)
target_link_libraries(bench_ani PRIVATE elign_bench_util)
target_compile_definitions(bench_ani PRIVATE ANI_TORCH_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/ani_torch.py")

# The same engine in a plain loop: per-call timings (thread CPU time, steadier
# than wall time on a shared host), a target for perf record, and a bit probe
# (%a of every output) to diff two builds. Usage in bench/bench_ani_loop.c.
add_executable(bench_ani_loop ${CMAKE_CURRENT_SOURCE_DIR}/bench_ani_loop.c)
target_link_libraries(bench_ani_loop PRIVATE elign_core)
