# EDM's stability metric (common/chem/bonds, common/chem/stability), area: stability.
# Golden files in tests/data come from EDM's own code (tools/edm_stability_golden.py).
elign_add_test(NAME test_stability SOURCES test_stability.c ARGS ${CMAKE_CURRENT_SOURCE_DIR}/data TIMEOUT 120)
