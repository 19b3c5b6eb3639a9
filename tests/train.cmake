# Training: optimizer kernels, training state, `elign pretrain` (owner: learner).

# AdamW / clipping / EMA against PyTorch: the fixture is written by the Debian
# interpreter (python3-torch) at test time.
add_test(NAME adamw_torch_fixture
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/adamw_torch_ref.py ${CMAKE_CURRENT_BINARY_DIR}/adamw_ref.bin)
set_tests_properties(adamw_torch_fixture PROPERTIES FIXTURES_SETUP adamw_ref ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120)
elign_add_test(NAME test_adamw SOURCES test_adamw.c ARGS ${CMAKE_CURRENT_BINARY_DIR}/adamw_ref.bin TIMEOUT 60)
set_tests_properties(test_adamw PROPERTIES FIXTURES_REQUIRED adamw_ref)

# `elign pretrain` end to end: 1/2/4-rank bitwise equality, resume and kill -9,
# the loss falling on an overfit, every bad-input message (tests/pretrain_cli.sh).
elign_add_script_test(pretrain_cli pretrain_cli.sh)
set_tests_properties(pretrain_cli PROPERTIES LABELS mpi PROCESSORS 2)
elign_add_test(NAME test_pretrain SOURCES test_pretrain.c TIMEOUT 60)
