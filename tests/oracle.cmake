# Oracle backends (owner: branch oracle). Reference programs: the xtb CLI, psi4.
elign_add_test(NAME test_oracle_registry SOURCES test_oracle_registry.c TIMEOUT 60)
if(ELIGN_WITH_XTB)
  elign_add_test(NAME test_oracle_xtb SOURCES test_oracle_xtb.c TIMEOUT 120)
endif()
if(ELIGN_WITH_PYTHON)
  elign_add_test(NAME test_oracle_python SOURCES test_oracle_python.c ARGS ${CMAKE_CURRENT_SOURCE_DIR} TIMEOUT 60)
endif()
# psi4 (Debian) through the python backend; skipped where psi4 is absent.
if(ELIGN_WITH_PYTHON AND EXISTS /usr/lib/x86_64-linux-gnu/psi4/__init__.py)
  elign_add_test(NAME test_oracle_dft SOURCES test_oracle_dft.c ARGS ${CMAKE_SOURCE_DIR}/tools/oracles TIMEOUT 180)
endif()
