# Oracle server throughput with 1, 2, 4 actors (run manually under mpirun; see the source's header).
add_executable(bench_oracle_server bench_oracle_server.c)
target_link_libraries(bench_oracle_server PRIVATE elign_core)
