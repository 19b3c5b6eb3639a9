# Hardening (issue 8, branch harden): outputs never destroy inputs, full disks,
# number parsing, non-finite values, unresponsive ranks, signals.
# Every observation of the issue is a check in one of these tests.
add_executable(harden_make_files harden_make_files.c)
target_link_libraries(harden_make_files PRIVATE elign_core)
elign_add_test(NAME test_parse SOURCES test_parse.c TIMEOUT 30)
elign_add_test(NAME test_outputs SOURCES test_outputs.c TIMEOUT 30)
elign_add_test(NAME test_nonfinite SOURCES test_nonfinite.c TIMEOUT 30)
