# Oracle server throughput with 1, 2, 4 actors (run manually under mpirun; see the source's header).
add_executable(bench_oracle_server bench_oracle_server.c)
target_link_libraries(bench_oracle_server PRIVATE elign_core)
if(NOT EXISTS ${CMAKE_SOURCE_DIR}/oracle/oracle.c)
  # until the `oracle` branch lands: the tests' lj-only registry
  target_sources(bench_oracle_server PRIVATE ${CMAKE_SOURCE_DIR}/tests/oracle_registry_shim.c)
endif()
