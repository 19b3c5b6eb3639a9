# `elign train` learner work per trained step vs PyTorch (owner: learner/train). Run manually:
#   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 build/bench/bench_train_step --torch bench/egnn_torch.py
add_executable(bench_train_step ${CMAKE_CURRENT_SOURCE_DIR}/bench_train_step.c)
target_link_libraries(bench_train_step PRIVATE elign_core)
