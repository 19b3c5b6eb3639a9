# Oracle backends (owner: branch oracle). Reference programs: the xtb CLI, psi4.
elign_add_test(NAME test_oracle_registry SOURCES test_oracle_registry.c TIMEOUT 60)
if(ELIGN_WITH_XTB)
  elign_add_test(NAME test_oracle_xtb SOURCES test_oracle_xtb.c TIMEOUT 120)
endif()
