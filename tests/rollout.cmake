# FED-GRPO rollouts of actor/ (owner: rollout): the noise-sharing cases, the
# record re-derived bitwise, rank independence, sampler equality for K = 1.
elign_add_test(NAME test_rollout SOURCES test_rollout.c TIMEOUT 60)
# Two ranks: each samples its block of global groups; rank 1's record, sent
# to rank 0, equals the same groups sampled there (bitwise).
add_executable(test_rollout_mpi test_rollout_mpi.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_link_libraries(test_rollout_mpi PRIVATE elign_core)
add_test(NAME test_rollout_mpi_np2 COMMAND ${ELIGN_MPIRUN} -np 2 $<TARGET_FILE:test_rollout_mpi>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_rollout_mpi_np2 PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120 PROCESSORS 2
                     LABELS mpi)
