# Oracle server area: wire format, lj backend, batching server under MPI, `elign oracle` CLI.
elign_add_test(NAME test_wire SOURCES test_wire.c TIMEOUT 60)
elign_add_test(NAME test_oracle_lj SOURCES test_oracle_lj.c TIMEOUT 60)
elign_add_test(NAME test_oracle_server_embedded SOURCES test_oracle_server_embedded.c TIMEOUT 60)

# lj, batches mixing requests: 1 oracle + 4 actors, small batches (requests split
# and merged); 2 oracles + 3 actors; 1 oracle + 3 actors waiting in blocking
# MPI_Mprobe. ani, one request per batch and batches mixing requests: bit for
# bit as in-process (the ANI engine's results do not depend on the batch).
# (built like elign_add_test's executables, but only ever run under mpirun)
add_executable(test_oracle_server test_oracle_server.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_link_libraries(test_oracle_server PRIVATE elign_core)
add_test(NAME test_oracle_server_np5
         COMMAND ${ELIGN_MPIRUN} -np 5 $<TARGET_FILE:test_oracle_server> 1 8 0 1)
add_test(NAME test_oracle_server_np5_2oracles
         COMMAND ${ELIGN_MPIRUN} -np 5 $<TARGET_FILE:test_oracle_server> 2 5 0 1)
add_test(NAME test_oracle_server_np4
         COMMAND ${ELIGN_MPIRUN} -np 4 $<TARGET_FILE:test_oracle_server> 1 64 -1 1)
add_test(NAME test_oracle_server_np5_ani
         COMMAND ${ELIGN_MPIRUN} -np 5 $<TARGET_FILE:test_oracle_server> 1 4 0 0 ani)
add_test(NAME test_oracle_server_np5_ani_merge
         COMMAND ${ELIGN_MPIRUN} -np 5 $<TARGET_FILE:test_oracle_server> 1 4 0 1 ani)
set_tests_properties(test_oracle_server_np5 test_oracle_server_np5_2oracles test_oracle_server_np4
                     test_oracle_server_np5_ani test_oracle_server_np5_ani_merge
                     PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120 PROCESSORS 2)

# `elign oracle` end to end (single process and mpirun -np 3), bad inputs.
elign_add_script_test(oracle_cli oracle_cli.sh)
