# `elign train` (FED-GRPO, owner: learner/train*): end-to-end runs on a small
# random model and a toy Python oracle (tests/train_toy_oracle.py).
add_executable(train_make_model train_make_model.c)
target_link_libraries(train_make_model PRIVATE elign_core)
