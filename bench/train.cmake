# `elign train` learner work per trained step vs PyTorch (owner: learner/train). Run manually:
#   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 build/bench/bench_train_step   (EDM_SRC=<EDM checkout> for the original EDM)
# elign_bench_util comes from bench/egnn.cmake (the glob in bench/CMakeLists.txt
# includes the fragments in name order; target names resolve at generate time).
add_executable(bench_train_step ${CMAKE_CURRENT_SOURCE_DIR}/bench_train_step.c)
target_link_libraries(bench_train_step PRIVATE elign_bench_util)
target_compile_definitions(bench_train_step PRIVATE EGNN_TORCH_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/egnn_torch.py")
