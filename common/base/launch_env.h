/* launch_env.h — the environment Elign-C's libraries start with.
 *
 * OMP_WAIT_POLICY is read once by libgomp, when it loads (before main), and
 * its default costs users a lot: libgomp lets idle threads spin before they
 * sleep. With more threads than free cores (ranks × threads > cores, or
 * another job on the node) the spinning threads steal the cores the working
 * ones need: a test that takes 0.9 s with one thread took 86 s with two
 * beside a 2-rank job (docs/performance.md). Default here: passive. An
 * OMP_WAIT_POLICY the user set is kept, and so is libgomp's own
 * spin-then-sleep where the user set GOMP_SPINCOUNT (a short spin, e.g.
 * 1000, suits multi-threaded training on cores that are all the job's).
 * Setting the policy from the program means starting it again; both
 * variables are recorded in every file's provenance.
 *
 * OpenBLAS runs the core it detects or the one OPENBLAS_CORETYPE names:
 * nothing here depends on which. The products whose rows must keep their
 * bits whatever the batch (the EGNN's row-wise products, ANI's networks) run
 * on the fixed-order kernel of common/nn/gemm_fixed.h, not on OpenBLAS; only
 * the weight and bias gradients (reductions over rows) do. The core is
 * recorded in every file's provenance. Debian's OpenBLAS 0.3.21 does not
 * know CPUs newer than itself (a 5th-generation Xeon gets Prescott, SSE3);
 * elign_openblas_better_core says what faster core the CPU could run, and
 * `elign --version` mentions it. */
#ifndef ELIGN_LAUNCH_ENV_H
#define ELIGN_LAUNCH_ENV_H

/* Set OMP_WAIT_POLICY where neither it nor GOMP_SPINCOUNT is set and, if so, re-execute this
 * program with the same arguments (same process id, before MPI starts).
 * Returns when nothing needed setting or the re-execution failed (then the
 * run goes on with libgomp's default). */
void elign_launch_env_defaults(char **argv);

/* The OpenBLAS core type this process runs with ("unknown" if OpenBLAS does
 * not say). */
const char *elign_openblas_core(void);

/* The OpenBLAS core that uses the vector extensions of this CPU, or NULL
 * when `current` already does (or the CPU has neither AVX2+FMA nor AVX-512). */
const char *elign_openblas_better_core(const char *current);

#endif
