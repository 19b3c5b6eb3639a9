# RDKit validity / uniqueness / novelty against EDM's own code (area: rdkit).
# Golden files in tests/data/rdkit come from tests/rdkit_edm_golden.py (EDM + Debian torch/RDKit).
elign_add_test(NAME test_rdkit SOURCES test_rdkit.c ARGS ${CMAKE_CURRENT_SOURCE_DIR}/data/rdkit TIMEOUT 120)
