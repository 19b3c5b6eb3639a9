/* energy_loss.h — the pairwise-distance "energy" loss of Kaba et al.
 * (spec/SEEDS_NOTES.md §3, paper 002) for one molecule, with its gradient.
 *
 *   E(x̂, x) = Σ_{i≠j} ½ k_ij (d_ij − d̂_ij)²,   k_ij = (k0/N) · g(d_ij)
 *
 * over ordered pairs (every unordered pair counted twice, as the reference's
 * edge mask does), d from the data geometry x, d̂ from the prediction x̂,
 * N = atoms of the molecule. It compares distance matrices, so it is
 * invariant to rigid motions and reflections of either argument by
 * construction and is zero exactly at the data's rigid images.
 *
 * The coefficient g is evaluated on *positions* (the paper); the public EDM
 * code evaluates it on the whole normalised feature vector [x, onehot/4,
 * Z/10] — a difference we keep on purpose (docs/pretrain.md).
 *
 * Inside diffusion training the position channel's ε-MSE is replaced by
 * w · (α_t²/σ_t²) · E(x̂, x) with x̂ = (z_t − σ_t ε̂)/α_t (common/model/diffusion.h
 * does that; this file knows only geometry). Everything here is double: the
 * sums are short but the coefficients span orders of magnitude. */
#ifndef ELIGN_ENERGY_LOSS_H
#define ELIGN_ENERGY_LOSS_H

#include <stdint.h>

typedef enum {
  ENERGY_COEFF_CONSTANT = 0, /* g = 1 */
  ENERGY_COEFF_INV_DIST,     /* g = 5 / (d + 1e-5) */
  ENERGY_COEFF_INV_DIST2,    /* g = 16 / (d² + 1e-5) */
  ENERGY_COEFF_EXP_DIST      /* g = 42 · exp(−d)  (best for EDM in the paper) */
} energy_coeff_kind;

/* Config spellings "constant", "inv_dist", "inv_dist2", "exp_dist"; −1 if unknown. */
int energy_coeff_from_name(const char *name);
const char *energy_coeff_name(energy_coeff_kind kind);

/* g(d) of a data distance d (Å). */
double energy_coeff_g(energy_coeff_kind kind, double d);

/* E(x̂, x) of one molecule of n atoms; xhat and x are (n, stride) row-major
 * with the 3 position channels first (so a packed latent row can be passed
 * with stride = D). */
double energy_loss_molecule(const double *xhat, const double *x, int64_t n, int stride, energy_coeff_kind kind,
                            double k0);

/* Accumulates scale · ∂E/∂x̂ into d_xhat (n, 3), next to the forward above:
 *   ∂E/∂x̂_a = Σ_{j≠a} 2 k_aj (d̂_aj − d_aj)(x̂_a − x̂_j)/d̂_aj
 * (factor 2: the ordered pairs (a,j) and (j,a) both appear). Coincident
 * predicted atoms (d̂ < 1e-12) contribute no direction. The rows sum to zero,
 * so the gradient is already free of centre-of-mass motion. */
void energy_loss_molecule_backward(double *d_xhat, const double *xhat, const double *x, int64_t n, int stride,
                                   energy_coeff_kind kind, double k0, double scale);

#endif
