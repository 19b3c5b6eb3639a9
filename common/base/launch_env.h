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
 * OPENBLAS_CORETYPE. Results that must not depend on the batch (a PPO ratio
 * recomputed in other micro-batches is exactly 1, a molecule's ε̂ alone or in
 * a batch) need GEMMs whose rows' bits do not depend on the product's height.
 * Which OpenBLAS kernels give that depends on the CPU: Haswell's do on Intel
 * but not on an AMD EPYC (Zen 4), SkylakeX's never; Sandybridge (AVX) and
 * Prescott (SSE3) did everywhere measured. So the program probes the core
 * OpenBLAS picked (common/nn/blas_probe.h, a few ms) and, where a row's bits
 * move, restarts itself with OPENBLAS_CORETYPE=Sandybridge, then Prescott.
 * The core that failed is kept in ELIGN_OPENBLAS_FALLBACK_FROM for `elign
 * --version` and provenance. Debian's OpenBLAS 0.3.21 also does not know
 * CPUs newer than itself (a 5th-generation Xeon gets Prescott);
 * elign_openblas_better_core says what faster core the CPU could run, which
 * is used once the EGNN products are made row-independent on any kernel
 * (fixed-shape panels or our own fixed-order kernel, common/nn/gemm_fixed.c,
 * which ANI runs on).
 *
 * An OPENBLAS_CORETYPE set in the environment (some clusters and containers
 * export one for every job) is replaced too when it fails the probe, unless
 * ELIGN_KEEP_OPENBLAS_CORETYPE is set: exact results first. An
 * OMP_WAIT_POLICY the user set is always kept. Both are recorded in every
 * file's provenance. Setting them from the program means starting it again. */
#ifndef ELIGN_LAUNCH_ENV_H
#define ELIGN_LAUNCH_ENV_H

/* Set OMP_WAIT_POLICY where it is unset and, where rows_independent (e.g.
 * elign_blas_rows_independent; NULL = no probe) says the OpenBLAS core is not
 * row-independent and the user did not choose one, the next fallback core;
 * if anything was set, re-execute this program with the same arguments (same
 * process id, before MPI starts). Returns when nothing needed setting or the
 * re-execution failed (then the run goes on with the libraries' defaults). */
void elign_launch_env_defaults(char **argv, int (*rows_independent)(void));

/* The core OpenBLAS picked before a fallback for row independence, or NULL. */
const char *elign_openblas_fallback_from(void);

/* The OpenBLAS core type this process runs with ("unknown" if OpenBLAS does
 * not say). */
const char *elign_openblas_core(void);

/* The OpenBLAS core that uses the vector extensions of this CPU, or NULL
 * when `current` already does (or the CPU has neither AVX2+FMA nor AVX-512). */
const char *elign_openblas_better_core(const char *current);

#endif
