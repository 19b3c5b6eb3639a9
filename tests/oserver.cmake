# Oracle server area: wire format, lj backend, batching server under MPI, `elign oracle` CLI.
elign_add_test(NAME test_wire SOURCES test_wire.c TIMEOUT 60)
elign_add_test(NAME test_oracle_lj SOURCES test_oracle_lj.c TIMEOUT 60)
