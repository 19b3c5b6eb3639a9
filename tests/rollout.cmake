# FED-GRPO rollouts of actor/ (owner: rollout): the noise-sharing cases, the
# record re-derived bitwise, rank independence, sampler equality for K = 1.
elign_add_test(NAME test_rollout SOURCES test_rollout.c TIMEOUT 60)
