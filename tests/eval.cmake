# elign eval (area: eval): superposition, geometry optimisation, the evaluation
# metrics and the command end to end.
elign_add_test(NAME test_align SOURCES test_align.c TIMEOUT 60)
elign_add_test(NAME test_geomopt SOURCES test_geomopt.c TIMEOUT 60)
# The pieces of elign eval and the data row of the qm9like test split against EDM's golden
# files; writes the input files eval_cli.sh runs the command on.
elign_add_test(NAME test_eval SOURCES test_eval.c ARGS ${CMAKE_CURRENT_SOURCE_DIR}/data TIMEOUT 120)
set_tests_properties(test_eval PROPERTIES FIXTURES_SETUP eval_inputs)
elign_add_script_test(eval_cli eval_cli.sh)
set_tests_properties(eval_cli PROPERTIES FIXTURES_REQUIRED eval_inputs PROCESSORS 2 LABELS mpi)
# The two-sample KS test of the DFT check: hand cases, enumeration, scipy where installed.
elign_add_test(NAME test_ks SOURCES test_ks.c ARGS ${Python3_EXECUTABLE} TIMEOUT 60)
# elign eval --dft (psi4, HF/STO-3G): numbers, KS, resumption, rank layouts, time limits.
elign_add_script_test(eval_dft eval_dft.sh)
set_tests_properties(eval_dft PROPERTIES FIXTURES_REQUIRED eval_inputs PROCESSORS 2 LABELS mpi SKIP_RETURN_CODE 77)
# elign report (tools/elign_report.py) and tools/steps_table.py; the page in headless Chromium.
elign_add_script_test(report_cli report_cli.sh)
set_tests_properties(report_cli PROPERTIES FIXTURES_REQUIRED eval_inputs SKIP_RETURN_CODE 77)
