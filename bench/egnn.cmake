# EGNN benchmark (owner: egnn): run manually, e.g.
#   OPENBLAS_CORETYPE=SkylakeX build/bench/bench_egnn            (EDM_SRC=<EDM checkout> for the original EDM)
# bench_util.c (sgemm peak, PyTorch runner, CPU line, BENCH lines) is shared with bench_train_step.
add_library(elign_bench_util STATIC ${CMAKE_CURRENT_SOURCE_DIR}/bench_util.c)
target_link_libraries(elign_bench_util PUBLIC elign_core)
add_executable(bench_egnn ${CMAKE_CURRENT_SOURCE_DIR}/bench_egnn.c)
target_link_libraries(bench_egnn PRIVATE elign_bench_util)
target_compile_definitions(bench_egnn PRIVATE EGNN_TORCH_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/egnn_torch.py")
