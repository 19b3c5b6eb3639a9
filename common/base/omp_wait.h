/* omp_wait.h — the OpenMP wait policy Elign-C runs with.
 *
 * libgomp's default lets idle threads spin before they sleep. With more
 * threads than free cores (ranks × threads > cores, or another job on the
 * node) the spinning threads steal the cores the working ones need: a test
 * that takes 0.9 s with one thread took 86 s with two while a 2-rank job ran
 * (docs/performance.md). Elign-C therefore runs with OMP_WAIT_POLICY=passive
 * unless the user set the variable (`active` is right on a dedicated node
 * with one thread per core). libgomp reads it once, when it loads, before
 * main: the only way to set it from the program is to start again with it. */
#ifndef ELIGN_OMP_WAIT_H
#define ELIGN_OMP_WAIT_H

/* If OMP_WAIT_POLICY is unset: set it to passive and re-execute this program
 * with the same arguments (same process id, before MPI starts). Returns only
 * when the variable was already set or the re-execution failed (then the
 * run goes on with libgomp's default). */
void elign_omp_wait_policy_default(char **argv);

#endif
