# RDKit validity / uniqueness / novelty against EDM's own code (area: rdkit).
# Golden files in tests/data/rdkit come from tests/rdkit_edm_golden.py (EDM + Debian torch/RDKit).
elign_add_test(NAME test_rdkit SOURCES test_rdkit.c ARGS ${CMAKE_CURRENT_SOURCE_DIR}/data/rdkit TIMEOUT 120)

# tools/train_smiles.py (the novelty reference list) against EDM's list, then loaded by test_rdkit.
add_test(NAME rdkit_train_smiles
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/rdkit_tool.sh $<TARGET_FILE:elign> ${Python3_EXECUTABLE}
                 ${CMAKE_SOURCE_DIR}/tools/train_smiles.py $<TARGET_FILE:test_rdkit> ${CMAKE_CURRENT_SOURCE_DIR}/data/rdkit
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(rdkit_train_smiles PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120)
