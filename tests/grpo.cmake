# FED-GRPO numerics of learner/ (owner: grpo): rewards, shaping, filter,
# advantages, PPO-clip + KL. Hand-computed cases (test_grpo), the same in the
# double build with the step gradient against finite differences
# (test_grpo_dbl), and random cases against an independent PyTorch/NumPy
# re-implementation (tests/grpo_ref.py → test_grpo_ref{,_dbl}).
elign_add_test(NAME test_grpo SOURCES test_grpo.c TIMEOUT 60)

set(GRPO_SOURCES grpo_settings.c grpo_chem.c rewards.c shaping.c filter.c advantages.c ppo.c force_align.c)
list(TRANSFORM GRPO_SOURCES PREPEND ${CMAKE_SOURCE_DIR}/learner/)
add_library(grpo_dbl STATIC ${GRPO_SOURCES} ${CMAKE_SOURCE_DIR}/common/model/diffusion.c ${CMAKE_SOURCE_DIR}/common/model/energy_loss.c
            ${CMAKE_SOURCE_DIR}/common/base/rng.c ${CMAKE_SOURCE_DIR}/common/base/error.c
            ${CMAKE_SOURCE_DIR}/common/base/json.c ${CMAKE_SOURCE_DIR}/common/chem/bonds.c
            ${CMAKE_SOURCE_DIR}/common/chem/stability.c ${CMAKE_SOURCE_DIR}/common/chem/molset.c
            ${CMAKE_SOURCE_DIR}/common/chem/elements.c)
target_include_directories(grpo_dbl PUBLIC ${CMAKE_SOURCE_DIR} ${OPENBLAS_INCLUDE})
target_compile_definitions(grpo_dbl PUBLIC ELIGN_DOUBLE=1)
target_link_libraries(grpo_dbl PUBLIC ${OPENBLAS_LIB} m)

function(grpo_add_dbl_test NAME SRC)
  add_executable(${NAME} ${SRC} ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
  target_link_libraries(${NAME} PRIVATE grpo_dbl)
  add_test(NAME ${NAME} COMMAND ${NAME} ${ARGN} WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(${NAME} PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 60)
endfunction()
grpo_add_dbl_test(test_grpo_dbl test_grpo.c)
target_sources(test_grpo_dbl PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/testutil_fd.c) # the step gradient vs finite differences

add_test(NAME grpo_ref_fixture
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/grpo_ref.py ${CMAKE_CURRENT_BINARY_DIR}/grpo_ref.json)
set_tests_properties(grpo_ref_fixture PROPERTIES FIXTURES_SETUP grpo_ref ENVIRONMENT "${ELIGN_TEST_ENV}" TIMEOUT 120)
elign_add_test(NAME test_grpo_ref SOURCES test_grpo_ref.c ARGS ${CMAKE_CURRENT_BINARY_DIR}/grpo_ref.json TIMEOUT 60)
set_tests_properties(test_grpo_ref PROPERTIES FIXTURES_REQUIRED grpo_ref)
grpo_add_dbl_test(test_grpo_ref_dbl test_grpo_ref.c ${CMAKE_CURRENT_BINARY_DIR}/grpo_ref.json)
set_tests_properties(test_grpo_ref_dbl PROPERTIES FIXTURES_REQUIRED grpo_ref)

# The force-alignment regularizer (§4.13, learner/force_align.c): masks and the
# micro-batch ratio in both builds; its gradient w.r.t. μθ and, with the PPO
# step, w.r.t. ε̂ against finite differences in the double build.
elign_add_test(NAME test_force_align SOURCES test_force_align.c TIMEOUT 30)
grpo_add_dbl_test(test_force_align_dbl test_force_align.c)
target_sources(test_force_align_dbl PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/testutil_fd.c)
