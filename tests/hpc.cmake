# HPC operation (issue 12; slurm/, common/base/trace.h, learner/run_dir.h signals and restarts).

# Preemption: SIGTERM to every rank / SIGUSR1 via mpirun -> a checkpoint and exit 0; the same
# command line (--resume-if-exists) continues bitwise; kill -9 with metrics rewound; moved run
# directories; pretrain too (tests/preempt_cli.sh).
add_test(NAME preempt_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/preempt_cli.sh $<TARGET_FILE:elign> $<TARGET_FILE:train_make_model>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(preempt_cli PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV};ELIGN_PYTHON=${Python3_EXECUTABLE};ELIGN_MPIRUN=${MPIEXEC_EXECUTABLE}"
                     TIMEOUT 600 LABELS mpi PROCESSORS 2)

# The slurm/ templates on a one-node SLURM started by the test (skipped, exit 77, where it cannot start).
add_test(NAME slurm_cluster COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/slurm_cluster.sh $<TARGET_FILE:elign> $<TARGET_FILE:train_make_model>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(slurm_cluster PROPERTIES ENVIRONMENT "${ELIGN_TEST_ENV};ELIGN_PYTHON=${Python3_EXECUTABLE};ELIGN_MPIRUN=${MPIEXEC_EXECUTABLE}"
                     TIMEOUT 900 LABELS mpi PROCESSORS 2 SKIP_RETURN_CODE 77)

# Traces: run.trace on 2 actors + 1 oracle rank -> valid Chrome trace JSON per rank with every
# span kind; `elign trace summary` against a hand-made trace with known fractions and critical path.
elign_add_script_test(trace_cli trace_cli.sh)
set_tests_properties(trace_cli PROPERTIES LABELS mpi PROCESSORS 2)

# The job scripts pass shellcheck (skipped without it).
add_test(NAME shellcheck_slurm COMMAND bash -c "command -v shellcheck >/dev/null || { echo 'SKIP: no shellcheck'; exit 77; }; cd ${CMAKE_SOURCE_DIR} && shellcheck -x slurm/elign_job.sh slurm/sweep.sh slurm/*.sbatch tests/preempt_cli.sh tests/slurm_cluster.sh tests/trace_cli.sh")
set_tests_properties(shellcheck_slurm PROPERTIES SKIP_RETURN_CODE 77)
