# The AVX2 code paths, tested on an AVX-512 host too. The product is built for
# the host (-march=native), so on an AVX-512 machine the AVX2 kernels that
# AVX2 machines run (gemm_fixed's tiles and in-register W transposes, the AEV's
# vector loops) would otherwise go untested. When the native build has
# AVX-512, the fixed-order GEMM and the ANI engine are compiled once more for
# x86-64-v3 (AVX2 + FMA; a later -march replaces the native one entirely) and
# run the same tests: reference parity, finite differences, symmetry, batch
# bitwise and errors for ANI; the GEMM's bitwise contract.
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "${ELIGN_ARCH_FLAGS}")
check_c_source_compiles("#ifndef __AVX512F__\n#error no AVX-512\n#endif\nint main(void) { return 0; }"
                        ELIGN_NATIVE_HAS_AVX512)
unset(CMAKE_REQUIRED_FLAGS)
check_c_compiler_flag("-march=x86-64-v3" ELIGN_HAS_X86_64_V3)

if(ELIGN_NATIVE_HAS_AVX512 AND ELIGN_HAS_X86_64_V3)
  add_library(gemm_fixed_avx2 STATIC ${CMAKE_SOURCE_DIR}/common/nn/gemm_fixed.c)
  target_include_directories(gemm_fixed_avx2 PUBLIC ${CMAKE_SOURCE_DIR} ${OPENBLAS_INCLUDE})
  target_compile_options(gemm_fixed_avx2 PRIVATE -march=x86-64-v3)
  target_link_libraries(gemm_fixed_avx2 PUBLIC OpenMP::OpenMP_C ${OPENBLAS_LIB} m)

  add_library(ani_avx2 STATIC ${ANI_ENGINE_SOURCES} ${CMAKE_SOURCE_DIR}/common/base/error.c)
  target_include_directories(ani_avx2 PUBLIC ${CMAKE_SOURCE_DIR} ${OPENBLAS_INCLUDE})
  target_compile_options(ani_avx2 PRIVATE -march=x86-64-v3 -fno-math-errno)
  target_link_libraries(ani_avx2 PUBLIC gemm_fixed_avx2 OpenMP::OpenMP_C BZip2::BZip2 ${OPENBLAS_LIB} m)

  add_executable(test_gemm_fixed_avx2 test_gemm_fixed.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
  target_link_libraries(test_gemm_fixed_avx2 PRIVATE gemm_fixed_avx2)
  add_test(NAME test_gemm_fixed_avx2 COMMAND test_gemm_fixed_avx2)
  set_tests_properties(test_gemm_fixed_avx2 PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120
                       LABELS "ani;egnn")

  add_executable(test_ani_avx2 test_ani.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
  target_link_libraries(test_ani_avx2 PRIVATE ani_avx2)
  foreach(section ref fd symmetry batch errors)
    add_test(NAME test_ani_avx2_${section} COMMAND test_ani_avx2 ${section} ${ANI_REF_TXT}
             WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    set_tests_properties(test_ani_avx2_${section} PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120
                         FIXTURES_REQUIRED ani_ref LABELS ani)
  endforeach()
endif()
