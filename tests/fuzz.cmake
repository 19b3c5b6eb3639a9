# Fuzzing and sanitizers (issue 8; tests/fuzz/README.md). Owned by the fuzz area.
#
# ELIGN_FUZZ=ON (clang) builds one libFuzzer harness per input kind and a
# short campaign per corpus as ctest tests (label "fuzz"). ELIGN_SANITIZE
# (e.g. address,undefined) instruments everything; the tests listed in
# ELIGN_SANITIZE_TESTS get the label "sanitize", and the target
# sanitize_suite builds exactly what `ctest -L sanitize` runs (.ci/run).

# Fast tests that exercise the file readers/writers, the importers, the config
# and the core numerics; under ASan + UBSan they run in about a minute.
set(ELIGN_SANITIZE_TESTS test_error cli_basics test_config config_cli test_rng test_h5_dataset test_h5_checkpoint
    test_h5_parallel_np1 test_h5_parallel_np2 test_h5_parallel_identical h5data_cli test_geom_import test_stability
    test_metrics test_egnn_layers test_diffusion)
set(ELIGN_SANITIZE_TARGETS elign h5data_make_files test_error test_config test_rng test_h5_dataset test_h5_checkpoint
    test_h5_parallel test_geom_import test_stability test_metrics test_egnn_layers test_diffusion)

set(ELIGN_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
# kind -> harness: the HDF5 kinds share one harness (every reader on every input).
# values: well-formed files with fuzzed contents (fuzz_h5_values.c).
set(ELIGN_FUZZ_KINDS dataset:h5 model:h5 samples:h5 values:h5_values xyz:xyz qm9:qm9 yaml:config)

if(ELIGN_FUZZ)
  foreach(h h5 xyz qm9 config h5_values)
    add_executable(fuzz_${h} ${ELIGN_FUZZ_DIR}/fuzz_${h}.c ${ELIGN_FUZZ_DIR}/fuzz_common.c)
    target_link_libraries(fuzz_${h} PRIVATE elign_core)
    target_link_options(fuzz_${h} PRIVATE -fsanitize=fuzzer)
    list(APPEND ELIGN_SANITIZE_TARGETS fuzz_${h})
  endforeach()
  # the value-level harness reads its files with fuzz_h5's readers
  target_sources(fuzz_h5_values PRIVATE ${ELIGN_FUZZ_DIR}/fuzz_h5.c)
  target_compile_definitions(fuzz_h5_values PRIVATE FUZZ_H5_NO_MAIN)
  add_executable(make_seeds ${ELIGN_FUZZ_DIR}/make_seeds.c)
  target_link_libraries(make_seeds PRIVATE elign_core)
  # A short campaign per corpus: new inputs go to a scratch corpus in the build
  # tree (the committed seeds stay as they are), findings to fuzz_findings/.
  set(ELIGN_FUZZ_SECONDS 20 CACHE STRING "seconds of each ctest fuzz campaign")
  foreach(kh ${ELIGN_FUZZ_KINDS})
    string(REPLACE ":" ";" kh ${kh})
    list(GET kh 0 kind)
    list(GET kh 1 h)
    add_test(NAME fuzz_${kind}
             COMMAND bash ${ELIGN_FUZZ_DIR}/run_campaign.sh --build ${CMAKE_BINARY_DIR} --seconds ${ELIGN_FUZZ_SECONDS}
                     --out ${CMAKE_CURRENT_BINARY_DIR}/fuzz_campaign ${kind})
    set_tests_properties(fuzz_${kind} PROPERTIES LABELS "fuzz;sanitize" TIMEOUT 300
                         ENVIRONMENT "${ELIGN_TEST_ENV}")
  endforeach()
endif()

add_custom_target(sanitize_suite DEPENDS ${ELIGN_SANITIZE_TARGETS})

# Label the chosen tests once every fragment has defined its tests.
function(elign_label_sanitize_tests)
  foreach(t ${ELIGN_SANITIZE_TESTS})
    if(TEST ${t})
      set_property(TEST ${t} APPEND PROPERTY LABELS sanitize)
    endif()
  endforeach()
endfunction()
cmake_language(DEFER CALL elign_label_sanitize_tests)
