# ANI-2x energy + forces: native engine at batch 32 and one molecule per call,
# against TorchANI itself (source checkout in $TORCHANI_SRC; else our PyTorch
# re-implementation, bench/ani_torch.py) and the FLOP limit. Not part of ctest.
# Run: TORCHANI_SRC=/path/to/torchani build/bench/bench_ani /path/to/ani-model-zoo [--reps N]
add_executable(bench_ani ${CMAKE_CURRENT_SOURCE_DIR}/bench_ani.c)
target_link_libraries(bench_ani PRIVATE elign_core)
target_compile_definitions(bench_ani PRIVATE ANI_TORCH_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/ani_torch.py")
