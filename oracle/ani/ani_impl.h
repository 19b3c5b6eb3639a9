/* ani_impl.h — private layout of the native ANI engine, shared by
 * ani_files.c (loading), ani_aev.c (descriptor + backward), ani_net.c
 * (networks, ensemble, batching). Not part of the public API (oracle/ani/ani.h). */
#ifndef ELIGN_ANI_IMPL_H
#define ELIGN_ANI_IMPL_H

#include <stdint.h>
#include <stdlib.h>

#include "common/base/error.h"
#include "common/base/real.h"
#include "oracle/ani/ani.h"

#define ANI_MAX_SPECIES 16
#define ANI_MAX_SHELLS 32  /* per list (ShfR, ShfA, ShfZ) */
#define ANI_MAX_LAYERS 8
#define ANI_MAX_MEMBERS 64

/* NeuroChem activation codes (§7.2). */
#define ANI_ACT_LINEAR 6
#define ANI_ACT_CELU 9
#define ANI_CELU_ALPHA 0.1

/* AEV constants of one model (§3). The list constants (eta_r … shf_z) hold
 * float32-rounded values widened back to double, as TorchANI uses them. */
typedef struct {
  int n_species;                 /* S */
  double rc_rad, rc_ang;         /* Å: Rcr, Rca */
  double eta_r;                  /* Å⁻² */
  double eta_a;                  /* Å⁻² */
  double zeta;                   /* angular sharpness ζ */
  int n_rad, n_ang, n_zeta;      /* |ShfR|, |ShfA|, |ShfZ| */
  double shf_r[ANI_MAX_SHELLS];  /* Å */
  double shf_a[ANI_MAX_SHELLS];  /* Å */
  double shf_z[ANI_MAX_SHELLS];  /* rad */
  double cos_shf_z[ANI_MAX_SHELLS], sin_shf_z[ANI_MAX_SHELLS]; /* cos θ_q, sin θ_q */
  int radial_length;             /* S·n_rad */
  int angular_block;             /* n_ang·n_zeta: features per species pair */
  int aev_length;                /* D = S·n_rad + S(S+1)/2·n_ang·n_zeta */
} ani_aev_params;

/* One dense layer z = W h + b: W (n_out, n_in) row-major as stored on disk. */
typedef struct {
  int n_in, n_out;
  int activation;  /* ANI_ACT_CELU or ANI_ACT_LINEAR */
  elign_real *w;   /* (n_out, n_in): read along its rows by the forward and the backward */
  elign_real *b;   /* (n_out) */
} ani_layer;

typedef struct {
  int n_layers;
  ani_layer layer[ANI_MAX_LAYERS];
} ani_net;

struct ani_model {
  char *name;
  ani_aev_params aev;
  int n_species;
  int species_z[ANI_MAX_SPECIES];  /* Atyp order → atomic number */
  int z_to_species[128];           /* atomic number → species index, −1 if absent */
  double sae[ANI_MAX_SPECIES];     /* Hartree */
  int n_members;                   /* M */
  ani_net *nets;                   /* [M][S]: member m, species s at m·S + s */
  /* First-layer weights of every member of species s stacked as rows:
   * (M·n1, D), member m's block at rows m·n1 … (m+1)·n1 − 1. nets[m·S+s]
   * .layer[0].w points into it. Lets the first-layer input gradient of all
   * members be one GEMM (§9.1 averaged backward). */
  elign_real *w1_stack[ANI_MAX_SPECIES];
  elign_real *b1_stack[ANI_MAX_SPECIES]; /* (M·n1) */
};

/* ---- ani_aev.c: descriptor of one molecule and its backward (double) ---- */

/* Where the blocks of an AEV row sit: the full layout of §6.4 (species s's
 * radial block at s·n_rad, species pair (a, b)'s angular block at
 * radial_length + pair(a, b)·angular_block, rows of aev_length), or a
 * compact one with only the blocks of a species set, in the same order (the
 * engine's batch: no atom of it touches the others). */
typedef struct {
  int row_length;                                      /* doubles per row */
  int angular_start;                                   /* first angular column */
  int radial_of[ANI_MAX_SPECIES];                      /* −1: species not in the set */
  int angular_of[ANI_MAX_SPECIES][ANI_MAX_SPECIES];    /* symmetric; −1: pair not in the set */
} ani_aev_layout;

/* The layout of the species in `mask` (bit s: species s); all of them
 * (mask = (1 << S) − 1) gives the full layout. */
void ani_aev_layout_init(ani_aev_layout *lay, const ani_aev_params *p, unsigned mask);

/* What the forward records for the backward of one molecule, its "tape":
 * the angular neighbours of each centre (with the cutoff and its
 * derivative), the per-triple terms A_q, dA_q/dθ', B_p, dB_p/dr, and per
 * radial pair its unit vector and dt_k/dr — so the backward does no
 * neighbour search, no trigonometry and no exp. Sized by a counting pass
 * over the same positions. */
typedef struct {
  int64_t triples;       /* angular triples (centre, unordered neighbour pair) */
  int64_t ang_neighbors; /* Σ over centres of their angular neighbours */
  int64_t rad_pairs;     /* atom pairs within the radial cutoff */
} ani_aev_tape_counts;

/* Counts the molecule's tape entries; returns the tape's size in bytes
 * (a multiple of 64; a tape placed at a 64-byte boundary keeps its
 * sections aligned). */
size_t ani_aev_tape_size(const ani_aev_params *p, int n, const double *pos, ani_aev_tape_counts *counts);

/* aev (n, lay->row_length): overwritten. species [n] in 0..S−1, all in
 * the layout's set; pos (n, 3) Å.
 * tape: NULL (energy only), or ani_aev_tape_size() bytes, 64-byte aligned,
 * with counts from the same call: filled for ani_aev_backward. */
void ani_aev_forward(double *aev, const ani_aev_layout *lay, void *tape, const ani_aev_tape_counts *counts,
                     const ani_aev_params *p, int n, const int *species, const double *pos);

/* dpos (n, 3) += Σ_i Σ_f daev[i][f] · ∂aev[i][f]/∂pos — the gradient of a
 * scalar E w.r.t. positions given γ = ∂E/∂aev (n rows in layout lay), from the tape the
 * forward filled for these positions (counts and species as given to it).
 * Only entries of daev whose species / species pair occurs in the molecule
 * are read. */
void ani_aev_backward(double *dpos, const double *daev, const ani_aev_layout *lay, const void *tape,
                      const ani_aev_tape_counts *counts, const ani_aev_params *p, int n, const int *species);

/* ---- ani_files.c ---- */
elign_status ani_model_read(const char *info_path, const char *name, ani_model **out, elign_error *err);

#endif
