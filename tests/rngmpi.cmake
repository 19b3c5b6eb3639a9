# Tests of the RNG, MPI roles, logging/progress and metrics (area: rngmpi).
elign_add_test(NAME test_rng SOURCES test_rng.c TIMEOUT 60)
