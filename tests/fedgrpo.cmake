# `elign train` (FED-GRPO, owner: learner/train*): end-to-end runs on a small
# random model and a toy Python oracle (tests/train_toy_oracle.py).
add_executable(train_make_model train_make_model.c)
target_link_libraries(train_make_model PRIVATE elign_core)
add_test(NAME train_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/train_cli.sh $<TARGET_FILE:elign> $<TARGET_FILE:train_make_model>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(train_cli PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV};ELIGN_PYTHON=${Python3_EXECUTABLE};ELIGN_MPIRUN=${MPIEXEC_EXECUTABLE}"
                     TIMEOUT 600 PROCESSORS 2 LABELS mpi)
# The config → train_options / grpo_settings loader on the shipped configs.
elign_add_test(NAME test_train_options SOURCES test_train_options.c TIMEOUT 60)
target_compile_definitions(test_train_options PRIVATE ELIGN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
# Judges and the reward-hacking alarm, the clash guard, group-signal accounting (tests/trust_cli.sh).
add_test(NAME trust_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/trust_cli.sh $<TARGET_FILE:elign> $<TARGET_FILE:train_make_model>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(trust_cli PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV};ELIGN_PYTHON=${Python3_EXECUTABLE};ELIGN_MPIRUN=${MPIEXEC_EXECUTABLE}"
                     TIMEOUT 300 PROCESSORS 2 LABELS mpi)
elign_add_test(NAME test_judges SOURCES test_judges.c TIMEOUT 30)
# The force-alignment regularizer (§4.13) end to end: metrics, the micro-batch ratio, ranks, inert cases.
add_test(NAME force_align_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/force_align_cli.sh $<TARGET_FILE:elign> $<TARGET_FILE:train_make_model>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(force_align_cli PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV};ELIGN_PYTHON=${Python3_EXECUTABLE};ELIGN_MPIRUN=${MPIEXEC_EXECUTABLE}"
                     TIMEOUT 300 PROCESSORS 2 LABELS mpi)
