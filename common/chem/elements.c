/* elements.c — element symbols (elements.h). */
#include "common/chem/elements.h"

#include <string.h>

static const char *const element_symbols[ELIGN_MAX_Z + 1] = {
    "?",  "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si", "P",  "S",
    "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As",
    "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn",
    "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho",
    "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",  "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po",
    "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md",
    "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};

const char *elign_element_symbol(int z) { return elign_element_valid(z) ? element_symbols[z] : "?"; }

int elign_element_z(const char *symbol, int len) {
  if (len < 1 || len > 2) return 0;
  /* Fast path for the organic elements of QM9-like data. */
  if (len == 1) switch (symbol[0]) {
      case 'H': return 1;
      case 'C': return 6;
      case 'N': return 7;
      case 'O': return 8;
      case 'F': return 9;
      default: break;
    }
  char norm[3] = {(char)(symbol[0] >= 'a' && symbol[0] <= 'z' ? symbol[0] - 32 : symbol[0]), 0, 0};
  if (len == 2) norm[1] = (char)(symbol[1] >= 'A' && symbol[1] <= 'Z' ? symbol[1] + 32 : symbol[1]);
  for (int z = 1; z <= ELIGN_MAX_Z; z++)
    if (strcmp(norm, element_symbols[z]) == 0) return z;
  return 0;
}

void elign_count_elements(const int32_t *Z, int64_t n, int64_t counts[ELIGN_MAX_Z + 1]) {
  for (int64_t a = 0; a < n; a++)
    if (elign_element_valid(Z[a])) counts[Z[a]]++;
}

int elign_atom_ground_multiplicity(int Z) {
  /* Main-group elements: the open valence subshell decides (Hund's first
   * rule): s^1 → doublet, s^2 → singlet, p^k → 2S+1 with S = min(k, 6−k)/2. */
  static const int p_block_start[] = {5, 13, 31, 49}; /* B, Al, Ga, In */
  static const int s_block_start[] = {1, 3, 11, 19, 37};  /* H, Li, Na, K, Rb */
  if (Z == 2) return 1;
  for (int k = 0; k < 5; k++)
    if (Z == s_block_start[k]) return 2;
  for (int k = 1; k < 5; k++)
    if (Z == s_block_start[k] + 1) return 1; /* Be, Mg, Ca, Sr */
  for (int k = 0; k < 4; k++) {
    int p = Z - p_block_start[k] + 1; /* p electrons */
    if (p >= 1 && p <= 6) {
      int unpaired = p <= 3 ? p : 6 - p;
      return unpaired + 1;
    }
  }
  return 0; /* d-block: not tabulated */
}
