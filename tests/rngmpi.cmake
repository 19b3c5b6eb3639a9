# Tests of the RNG, MPI roles, logging/progress and metrics (area: rngmpi).
elign_add_test(NAME test_rng SOURCES test_rng.c TIMEOUT 60)

# Roles: the same program without mpirun (singleton MPI) and on 1, 2, 4 ranks.
elign_add_test(NAME test_roles SOURCES test_roles.c TIMEOUT 60)
foreach(np 1 2 4)
  add_test(NAME test_roles_np${np} COMMAND ${ELIGN_MPIRUN} -np ${np} $<TARGET_FILE:test_roles>
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(test_roles_np${np} PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120
                       PROCESSORS ${np} LABELS mpi)
endforeach()
# A fault on one rank: printed with that rank's id, then the whole job aborts.
add_test(NAME test_roles_fail_one COMMAND ${ELIGN_MPIRUN} -np 2 $<TARGET_FILE:test_roles> --fail-one
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_roles_fail_one PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120 LABELS mpi
                     PASS_REGULAR_EXPRESSION "elign: error on rank 1: injected fault: NaN in oracle reply")

# Log lines, progress lines (non-terminal mode) and metrics.jsonl read back by Python's json.
elign_add_test(NAME test_metrics SOURCES test_metrics.c TIMEOUT 60)
