# HDF5 formats, checkpoints, importers, `elign data import` and `elign info` (area: h5data).
elign_add_test(NAME test_h5_dataset SOURCES test_h5_dataset.c TIMEOUT 60)
elign_add_test(NAME test_h5_checkpoint SOURCES test_h5_checkpoint.c TIMEOUT 120)

# Collective MPI-IO writes of one sample file from 1, 2 and 4 ranks; the
# compare step checks that the three files hold identical datasets (h5py).
add_executable(test_h5_parallel test_h5_parallel.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_link_libraries(test_h5_parallel PRIVATE elign_core)
foreach(np 1 2 4)
  add_test(NAME test_h5_parallel_np${np}
           COMMAND ${ELIGN_MPIRUN} -np ${np} $<TARGET_FILE:test_h5_parallel> h5par_np${np}.h5
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(test_h5_parallel_np${np} PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120
                       FIXTURES_SETUP h5par PROCESSORS ${np})
endforeach()
add_test(NAME test_h5_parallel_identical
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/h5_compare.py --values
                 h5par_np1.h5 h5par_np2.h5 h5par_np4.h5
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_h5_parallel_identical PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 60
                     FIXTURES_REQUIRED h5par)

# Molecules moved into contiguous ordered slices by id (common/io/molset_mpi.h),
# as `elign sample` does before its parallel write; 3 ranks: uneven slices and
# a rank that starts with no molecules.
add_executable(test_molset_mpi test_molset_mpi.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c
               ${CMAKE_CURRENT_SOURCE_DIR}/testutil_molset.c)
target_link_libraries(test_molset_mpi PRIVATE elign_core)
foreach(np 1 2 3)
  add_test(NAME test_molset_mpi_np${np} COMMAND ${ELIGN_MPIRUN} -np ${np} $<TARGET_FILE:test_molset_mpi>
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(test_molset_mpi_np${np} PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120
                       PROCESSORS ${np})
endforeach()

# End to end: import (tiny, full qm9like, QM9 tar.bz2), info on every file kind,
# malformed/truncated/foreign inputs; contents checked with h5py by h5data_check.py.
add_executable(h5data_make_files h5data_make_files.c)
target_link_libraries(h5data_make_files PRIVATE elign_core)
add_test(NAME h5data_cli
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/h5data_cli.sh $<TARGET_FILE:elign>
                 $<TARGET_FILE:h5data_make_files> ${Python3_EXECUTABLE}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(h5data_cli PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 180)
