# Oracle backends (owner: branch oracle). Reference programs: the xtb CLI, psi4.
elign_add_test(NAME test_oracle_registry SOURCES test_oracle_registry.c TIMEOUT 60)
if(ELIGN_WITH_XTB)
  elign_add_test(NAME test_oracle_xtb SOURCES test_oracle_xtb.c TIMEOUT 120)
endif()
if(ELIGN_WITH_PYTHON)
  elign_add_test(NAME test_oracle_python SOURCES test_oracle_python.c ARGS ${CMAKE_CURRENT_SOURCE_DIR} TIMEOUT 60)
endif()
