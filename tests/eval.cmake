# elign eval (area: eval): superposition, geometry optimisation, the evaluation
# metrics and the command end to end.
elign_add_test(NAME test_align SOURCES test_align.c TIMEOUT 60)
elign_add_test(NAME test_geomopt SOURCES test_geomopt.c TIMEOUT 60)
