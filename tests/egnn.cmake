# EGNN tests (owner: egnn). Float (build precision) and a double copy.
elign_add_test(NAME test_egnn_grad SOURCES test_egnn_grad.c)

# The double-precision copy: common/model/egnn.c compiled a second time with
# ELIGN_DOUBLE into a test-only static library, so one normal build runs
# the tight finite-difference checks too. It links error.c and rng.c directly
# and the double fixed-order GEMM (gemm_fixed_dbl, tests/gemm.cmake), not
# elign_core, so the float and double egnn_* symbols never meet.
add_library(egnn_dbl STATIC ${CMAKE_SOURCE_DIR}/common/model/egnn.c ${CMAKE_SOURCE_DIR}/common/base/error.c
            ${CMAKE_SOURCE_DIR}/common/base/rng.c)
target_include_directories(egnn_dbl PUBLIC ${CMAKE_SOURCE_DIR} ${OPENBLAS_INCLUDE})
target_compile_definitions(egnn_dbl PUBLIC ELIGN_DOUBLE=1)
target_link_libraries(egnn_dbl PUBLIC gemm_fixed_dbl OpenMP::OpenMP_C ${OPENBLAS_LIB} m)

function(egnn_add_dbl_test NAME SRC)
  add_executable(${NAME} ${SRC} ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
  target_link_libraries(${NAME} PRIVATE egnn_dbl)
  add_test(NAME ${NAME} COMMAND ${NAME} ${ARGN} WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(${NAME} PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120)
endfunction()
egnn_add_dbl_test(test_egnn_grad_dbl test_egnn_grad.c)

elign_add_test(NAME test_egnn_layout SOURCES test_egnn_layout.c)
elign_add_test(NAME test_egnn_equiv SOURCES test_egnn_equiv.c)
egnn_add_dbl_test(test_egnn_equiv_dbl test_egnn_equiv.c)

# Against the PyTorch reference (tools/egnn_reference.py): the fixture is
# written once per ctest run by the Debian interpreter (python3-torch).
add_test(NAME egnn_torch_fixture
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/egnn_torch_ref.py ${CMAKE_CURRENT_BINARY_DIR}/egnn_ref)
set_tests_properties(egnn_torch_fixture PROPERTIES FIXTURES_SETUP egnn_ref ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120)
elign_add_test(NAME test_egnn_torch SOURCES test_egnn_torch.c ARGS ${CMAKE_CURRENT_BINARY_DIR}/egnn_ref)
set_tests_properties(test_egnn_torch PROPERTIES FIXTURES_REQUIRED egnn_ref)
egnn_add_dbl_test(test_egnn_torch_dbl test_egnn_torch.c ${CMAKE_CURRENT_BINARY_DIR}/egnn_ref)
set_tests_properties(test_egnn_torch_dbl PROPERTIES FIXTURES_REQUIRED egnn_ref)

# Bitwise-identical results with 1 and 2 threads (sets its own thread counts).
elign_add_test(NAME test_egnn_threads SOURCES test_egnn_threads.c)

# Each layer alone against finite differences (double only; see the file).
egnn_add_dbl_test(test_egnn_layers_dbl test_egnn_layers.c)
