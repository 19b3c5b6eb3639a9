# Hardening (issue 8, branch harden): outputs never destroy inputs, full disks,
# number parsing, non-finite values, unresponsive ranks, signals.
# Every observation of the issue is a check in one of these tests.
add_executable(harden_make_files harden_make_files.c)
target_link_libraries(harden_make_files PRIVATE elign_core)
elign_add_test(NAME test_parse SOURCES test_parse.c TIMEOUT 30)
elign_add_test(NAME test_outputs SOURCES test_outputs.c TIMEOUT 30)
elign_add_test(NAME test_nonfinite SOURCES test_nonfinite.c TIMEOUT 30)
# One process: outputs vs inputs, numbers, non-finite values, oracle/info
# file kinds, stdout on a full disk, SIGTERM (tests/harden_cli.sh).
add_test(NAME harden_cli
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/harden_cli.sh $<TARGET_FILE:elign> $<TARGET_FILE:harden_make_files>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(harden_cli PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV};ELIGN_PYTHON=${Python3_EXECUTABLE}" TIMEOUT 120)
# Full disks: every writer, 1-3 ranks, on a small tmpfs (skipped where no tmpfs can be mounted).
add_test(NAME harden_disk
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/harden_disk.sh $<TARGET_FILE:elign> $<TARGET_FILE:harden_make_files>
                 ${MPIEXEC_EXECUTABLE}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(harden_disk PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 300)
# Unresponsive ranks: SIGSTOP / kill -9 of a rank, SIGTERM to mpirun, for
# sample (2 ranks) and oracle (3 ranks), with --timeout 2. These tests (and
# harden_disk) mostly wait for a timeout or a launcher: one ctest slot each.
foreach(cmd sample oracle)
  add_test(NAME harden_ranks_${cmd}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/harden_ranks.sh $<TARGET_FILE:elign>
                   $<TARGET_FILE:harden_make_files> ${MPIEXEC_EXECUTABLE} ${cmd}
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(harden_ranks_${cmd} PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 300)
endforeach()
