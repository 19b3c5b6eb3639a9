# Native ANI engine (oracle/ani*.c): reference parity, finite differences,
# symmetry, batching with flagged molecules, file errors.
# The reference JSON is flattened once per ctest run (fixture ani_ref).
set(ANI_REF_TXT ${CMAKE_CURRENT_BINARY_DIR}/ani_reference.txt)
add_test(NAME ani_ref_convert
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/ani_ref_convert.py
          ${ELIGN_SHARED_DIR}/spec/ani_reference.json ${ANI_REF_TXT})
set_tests_properties(ani_ref_convert PROPERTIES FIXTURES_SETUP ani_ref)

# Float build: the product (elign_core, float32 networks unless ELIGN_DOUBLE).
add_executable(test_ani test_ani.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_link_libraries(test_ani PRIVATE elign_core)

# Double build: the same engine sources compiled again with ELIGN_DOUBLE into
# a test-only library, so one ctest run also covers the tight checks (§10).
set(ANI_ENGINE_SOURCES ${CMAKE_SOURCE_DIR}/oracle/ani/ani_files.c ${CMAKE_SOURCE_DIR}/oracle/ani/ani_aev.c
    ${CMAKE_SOURCE_DIR}/oracle/ani/ani_net.c)
add_library(ani_double STATIC ${ANI_ENGINE_SOURCES} ${CMAKE_SOURCE_DIR}/common/base/error.c)
target_include_directories(ani_double PUBLIC ${CMAKE_SOURCE_DIR} ${OPENBLAS_INCLUDE})
target_compile_definitions(ani_double PUBLIC ELIGN_DOUBLE=1)
target_link_libraries(ani_double PUBLIC gemm_fixed_dbl OpenMP::OpenMP_C BZip2::BZip2 ${OPENBLAS_LIB} m)
add_executable(test_ani_double test_ani.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_link_libraries(test_ani_double PRIVATE ani_double)

foreach(variant test_ani test_ani_double)
  foreach(section ref fd symmetry batch errors)
    add_test(NAME ${variant}_${section} COMMAND ${variant} ${section} ${ANI_REF_TXT}
             WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    set_tests_properties(${variant}_${section} PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120
                         FIXTURES_REQUIRED ani_ref LABELS ani)
  endforeach()
endforeach()

