# EDM's stability metric (common/chem/bonds, common/chem/stability), area: stability.
# Golden files in tests/data come from EDM's own code (tools/edm_stability_golden.py).
elign_add_test(NAME test_stability SOURCES test_stability.c ARGS ${CMAKE_CURRENT_SOURCE_DIR}/data TIMEOUT 120)
add_test(NAME stability_info
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/stability_info.sh $<TARGET_FILE:elign>
                 ${CMAKE_CURRENT_SOURCE_DIR}/data/stability_qm9like.txt.gz stability_test_split.h5
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_stability PROPERTIES FIXTURES_SETUP stability_samples)
set_tests_properties(stability_info PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 60
                     FIXTURES_REQUIRED stability_samples)
elign_add_test(NAME test_stability_variants SOURCES test_stability_variants.c TIMEOUT 60)
