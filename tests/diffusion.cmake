# Diffusion process, sampler, EDM import and the denoise/sample CLI (owner: diffusion).
elign_add_test(NAME test_diffusion SOURCES test_diffusion.c)
elign_add_test(NAME test_diffusion_grad SOURCES test_diffusion_grad.c testutil_fd.c)

# Double-precision copies (tight finite differences) in the normal build: the
# diffusion maths, the RNG and the EGNN compiled again with ELIGN_DOUBLE into
# a test-only library (same pattern as tests/egnn.cmake).
add_library(diffusion_dbl STATIC ${CMAKE_SOURCE_DIR}/common/model/diffusion.c ${CMAKE_SOURCE_DIR}/common/model/energy_loss.c ${CMAKE_SOURCE_DIR}/common/model/egnn.c
            ${CMAKE_SOURCE_DIR}/common/base/rng.c ${CMAKE_SOURCE_DIR}/common/base/error.c)
target_include_directories(diffusion_dbl PUBLIC ${CMAKE_SOURCE_DIR} ${OPENBLAS_INCLUDE})
target_compile_definitions(diffusion_dbl PUBLIC ELIGN_DOUBLE=1)
target_link_libraries(diffusion_dbl PUBLIC gemm_fixed_dbl OpenMP::OpenMP_C ${OPENBLAS_LIB} m)
foreach(t test_diffusion test_diffusion_grad)
  add_executable(${t}_dbl ${t}.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
  target_link_libraries(${t}_dbl PRIVATE diffusion_dbl)
  add_test(NAME ${t}_dbl COMMAND ${t}_dbl WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(${t}_dbl PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120)
endforeach()
target_sources(test_diffusion_grad_dbl PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/testutil_fd.c)
elign_add_test(NAME test_sampler SOURCES test_sampler.c testutil_molset.c)
# -n 16 on 1, 2 and 3 ranks: batches shared by cost, the file and export bitwise the same.
elign_add_script_test(sample_ranks_cli sample_ranks_cli.sh)
set_tests_properties(sample_ranks_cli PROPERTIES LABELS mpi PROCESSORS 2)
elign_add_script_test(test_edm_import test_edm_import.sh)
elign_add_test(NAME test_energy_loss SOURCES test_energy_loss.c)
