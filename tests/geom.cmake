# GEOM-Drugs msgpack import (area: geom): the streaming dataset writer, the split
# permutation, truncated / damaged input (C), and the imported contents against
# an independent msgpack-python reading with EDM's rules (h5py).
elign_add_test(NAME test_geom_import SOURCES test_geom_import.c TIMEOUT 120)
add_test(NAME geom_cli
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/geom_cli.sh $<TARGET_FILE:elign> ${Python3_EXECUTABLE}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(geom_cli PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 180)
