/* launch_env.h — the environment Elign-C's libraries start with.
 *
 * Two settings that libgomp and OpenBLAS read once, when they load (before
 * main), and whose defaults cost users a lot:
 *
 * OMP_WAIT_POLICY. libgomp lets idle threads spin before they sleep. With
 * more threads than free cores (ranks × threads > cores, or another job on
 * the node) the spinning threads steal the cores the working ones need: a
 * test that takes 0.9 s with one thread took 86 s with two beside a 2-rank
 * job (docs/performance.md). Default here: passive.
 *
 * OPENBLAS_CORETYPE. Debian's OpenBLAS 0.3.21 does not know CPUs newer than
 * its release and falls back to old kernels: on a 5th-generation Xeon
 * (family 6 model 207) it picks Prescott (SSE3), about 5 times slower in
 * sgemm than its AVX-512 (SkylakeX) kernels. It is NOT switched here: with
 * the SkylakeX kernels a GEMM row's bits depend on the number of rows of the
 * product, so the learner's recomputed log-probabilities no longer equal
 * the actors' and the first PPO ratio of an iteration is not 1
 * (tests/train_cli.sh "zero drift" fails). The Prescott and Haswell kernels
 * are row-independent. elign_openblas_better_core says what a switch would
 * pick, for `elign --version` and provenance; switching waits for the EGNN
 * products to be made row-independent (fixed-shape panels or our own
 * fixed-order kernel, as oracle/ani/ani_gemm.c does for ANI).
 *
 * A variable the user set is always kept. Both are recorded in every file's
 * provenance. Setting them from the program means starting it again. */
#ifndef ELIGN_LAUNCH_ENV_H
#define ELIGN_LAUNCH_ENV_H

/* Set OMP_WAIT_POLICY where it is unset and, if so,
 * re-execute this program with the same arguments (same process id, before
 * MPI starts). Returns when nothing needed setting or the re-execution
 * failed (then the run goes on with the libraries' defaults). */
void elign_launch_env_defaults(char **argv);

/* The OpenBLAS core type this process runs with ("unknown" if OpenBLAS does
 * not say). */
const char *elign_openblas_core(void);

/* The OpenBLAS core that uses the vector extensions of this CPU, or NULL
 * when `current` already does (or the CPU has neither AVX2+FMA nor AVX-512). */
const char *elign_openblas_better_core(const char *current);

#endif
