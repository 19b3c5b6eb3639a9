# The tree's structure (owner: layout): layer order, include circles, command
# mains, machine paths — tests/layering.py reads the sources, no build needed.
add_test(NAME layering COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/layering.py ${CMAKE_SOURCE_DIR})
add_test(NAME layering_self_test COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/layering.py --self-test)
set_tests_properties(layering layering_self_test PROPERTIES TIMEOUT 60)

# The run context of every MPI command: without mpirun and on 2 and 3 ranks;
# an error agreed on is printed once (rank 0), whatever the rank count.
elign_add_test(NAME test_runctx SOURCES test_runctx.c TIMEOUT 60)
foreach(np 2 3)
  add_test(NAME test_runctx_np${np} COMMAND ${ELIGN_MPIRUN} -np ${np} $<TARGET_FILE:test_runctx>
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(test_runctx_np${np} PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120
                       PROCESSORS ${np} LABELS mpi)
endforeach()
string(REPLACE ";" " " ELIGN_MPIRUN_LINE "${ELIGN_MPIRUN}")
add_test(NAME test_runctx_print_once
         COMMAND bash -c "n=$(${ELIGN_MPIRUN_LINE} -np 3 $<TARGET_FILE:test_runctx> --print-once 2>&1 | grep -c 'injected fault'); echo \"printed $n time(s)\"; [ \"$n\" = 1 ]"
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_runctx_print_once PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120 PROCESSORS 3
                     LABELS mpi)
