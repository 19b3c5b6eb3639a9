# Oracle server area: wire format, lj backend, batching server under MPI, `elign oracle` CLI.
elign_add_test(NAME test_wire SOURCES test_wire.c TIMEOUT 60)
