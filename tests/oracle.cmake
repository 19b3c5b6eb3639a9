# Oracle backends (owner: branch oracle). Reference programs: the xtb CLI, psi4.
elign_add_test(NAME test_oracle_registry SOURCES test_oracle_registry.c TIMEOUT 60)
if(ELIGN_WITH_XTB)
  elign_add_test(NAME test_oracle_xtb SOURCES test_oracle_xtb.c TIMEOUT 120)
endif()
if(ELIGN_WITH_PYTHON)
  elign_add_test(NAME test_oracle_python SOURCES test_oracle_python.c ARGS ${CMAKE_CURRENT_SOURCE_DIR} TIMEOUT 60)
endif()
# psi4 through the python backend; skipped where configure found no psi4.
if(ELIGN_WITH_PYTHON AND ELIGN_PSI4_PYTHONPATH)
  elign_add_test(NAME test_oracle_dft SOURCES test_oracle_dft.c ARGS ${CMAKE_SOURCE_DIR}/tools/oracles TIMEOUT 180)
  target_compile_definitions(test_oracle_dft PRIVATE ELIGN_PSI4_PYTHONPATH="${ELIGN_PSI4_PYTHONPATH}"
                             ELIGN_PYTHON="${Python3_EXECUTABLE}")
endif()
if(ELIGN_WITH_XTB)
  elign_add_test(NAME test_oracle_failures SOURCES test_oracle_failures.c TIMEOUT 60)
endif()
elign_add_test(NAME test_oracle_ani SOURCES test_oracle_ani.c TIMEOUT 60)
