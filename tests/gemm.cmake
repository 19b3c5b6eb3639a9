# The fixed-order GEMM (common/nn/gemm_fixed.h) that the ANI networks and the
# EGNN's row-wise products (common/nn/blas.h) run on: bitwise equal to its
# definition, row-independent, compaction-invariant, the same for any thread
# count, and blas.h's xwt / xw / gemv_xv row-independent at the EGNN's widths;
# float (elign_core) and double.
# gemm_fixed_dbl is the double copy the other double test libraries
# (ani_double in ani.cmake) link.
add_library(gemm_fixed_dbl STATIC ${CMAKE_SOURCE_DIR}/common/nn/gemm_fixed.c)
target_include_directories(gemm_fixed_dbl PUBLIC ${CMAKE_SOURCE_DIR} ${OPENBLAS_INCLUDE})
target_compile_definitions(gemm_fixed_dbl PUBLIC ELIGN_DOUBLE=1)
target_link_libraries(gemm_fixed_dbl PUBLIC OpenMP::OpenMP_C ${OPENBLAS_LIB} m)

add_executable(test_gemm_fixed test_gemm_fixed.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_link_libraries(test_gemm_fixed PRIVATE elign_core)
add_executable(test_gemm_fixed_double test_gemm_fixed.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_link_libraries(test_gemm_fixed_double PRIVATE gemm_fixed_dbl)
foreach(variant test_gemm_fixed test_gemm_fixed_double)
  add_test(NAME ${variant} COMMAND ${variant})
  set_tests_properties(${variant} PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120 LABELS "ani;egnn")
endforeach()
