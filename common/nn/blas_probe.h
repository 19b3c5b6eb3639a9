/* blas_probe.h — does this process's BLAS keep a row's bits whatever the
 * height of the product?
 *
 * The wrappers of blas.h pad the last M mod 16 rows so that OpenBLAS's edge
 * kernels never see a row; that is enough for the kernels it was measured on
 * (Haswell and SkylakeX on Intel). On a 2-core AMD EPYC (Zen 4) Debian's
 * OpenBLAS 0.3.21 picks its Haswell core and there rows 0..79 of an 80-row
 * product differ in the last bits from the same rows of a 208-row product:
 * the learner's recomputed log-probabilities then differ from the actors'
 * (the first PPO ratio of an iteration is not 1) and a molecule's ε̂ depends
 * on its batch. The probe multiplies fixed matrices of the EGNN's widths at
 * several heights (multiples of 16) in both orientations the layers use and
 * compares every row with the tallest product's. A few milliseconds. */
#ifndef ELIGN_NN_BLAS_PROBE_H
#define ELIGN_NN_BLAS_PROBE_H

/* 1 if every probed row is bitwise equal across heights, 0 if not. */
int elign_blas_rows_independent(void);

#endif
