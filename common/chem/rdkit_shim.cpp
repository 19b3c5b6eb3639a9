// rdkit_shim.cpp — EDM's mol2smiles (qm9/rdkit_functions.py) on RDKit's C++ API.
//
// The molecule is built and written exactly as the Python reference does with
// the same RDKit build, so SMILES and validity agree string for string
// (tests/rdkit.cmake). Nothing thrown by RDKit leaves this file: a failed
// sanitization (what EDM's `except ValueError` catches) means "invalid", any
// other exception becomes an error code with its message.
#include "common/chem/rdkit_shim.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef ELIGN_WITH_RDKIT

#include <GraphMol/MolOps.h>
#include <GraphMol/RWMol.h>
#include <GraphMol/SanitException.h>
#include <GraphMol/SmilesParse/SmilesWrite.h>
#include <RDGeneral/Exceptions.h>
#include <RDGeneral/RDLog.h>
#include <RDGeneral/versions.h>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace {

// A library must not write to stderr for every invalid molecule; RDKit logs
// each sanitization failure. Switched off once for the process, which also
// silences an embedded Python RDKit sharing these libraries.
void silence_rdkit_logs() {
  static std::once_flag once;
  std::call_once(once, [] { boost::logging::disable_logs("rdApp.*"); });
}

RDKit::Bond::BondType bond_type(int order) {
  switch (order) {
    case 1: return RDKit::Bond::SINGLE;
    case 2: return RDKit::Bond::DOUBLE;
    case 3: return RDKit::Bond::TRIPLE;
  }
  throw std::invalid_argument("bond order " + std::to_string(order) + " is not 1, 2 or 3");
}

// EDM's build_molecule: atoms by element only, bonds in row-major order of
// the lower triangle (begin atom i, end atom j < i).
// charges: formal charges (the corrected validity variant), or NULL (EDM: none).
std::unique_ptr<RDKit::RWMol> build_molecule(int64_t n, const int32_t *Z, const int8_t *charges, const int8_t *orders) {
  auto mol = std::make_unique<RDKit::RWMol>();
  for (int64_t i = 0; i < n; i++) {
    auto *atom = new RDKit::Atom(static_cast<int>(Z[i]));
    if (charges) atom->setFormalCharge(charges[i]);
    mol->addAtom(atom, true, true);
  }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < i; j++) {
      int order = orders[i * n + j];
      if (order != 0)
        mol->addBond(static_cast<unsigned>(i), static_cast<unsigned>(j), bond_type(order));
    }
  return mol;
}

// EDM's mol2smiles: sanitize in place; Python's `except ValueError` catches
// RDKit's MolSanitizeException family and ValueErrorException. Anything else
// (an Invariant violation is a RuntimeError in Python) escapes, as in EDM.
bool sanitized_smiles(RDKit::RWMol &mol, std::string &smiles) {
  try {
    RDKit::MolOps::sanitizeMol(mol);
  } catch (const RDKit::MolSanitizeException &) {
    return false;
  } catch (const ValueErrorException &) {
    return false;
  }
  smiles = RDKit::MolToSmiles(mol);
  return true;
}

// max(GetMolFrags(mol, asMols=True), default=mol, key=GetNumAtoms): the
// first fragment with the most atoms. Fragments are sanitized by
// GetMolFrags (its default), whose failure counts as invalid too.
bool largest_fragment_smiles(const RDKit::RWMol &mol, std::string &smiles) {
  std::vector<boost::shared_ptr<RDKit::ROMol>> frags;
  try {
    frags = RDKit::MolOps::getMolFrags(mol);
  } catch (const RDKit::MolSanitizeException &) {
    return false;
  }
  const RDKit::ROMol *largest = &mol;
  if (!frags.empty()) {
    largest = frags[0].get();
    for (const auto &f : frags)
      if (f->getNumAtoms() > largest->getNumAtoms()) largest = f.get();
  }
  RDKit::RWMol copy(*largest);
  return sanitized_smiles(copy, smiles);
}

int fail(char *msg, size_t cap, const std::string &what) {
  if (msg && cap) std::snprintf(msg, cap, "RDKit: %s", what.c_str());
  return ELIGN_RDKIT_SHIM_ERROR;
}

}  // namespace

extern "C" int elign_rdkit_shim_smiles_charged(int64_t n, const int32_t *Z, const int8_t *charges,
                                               const int8_t *orders, int largest_fragment, char **smiles, char *msg,
                                               size_t msg_cap) {
  *smiles = nullptr;
  try {
    silence_rdkit_logs();
    std::unique_ptr<RDKit::RWMol> mol = build_molecule(n, Z, charges, orders);
    std::string smi;
    if (!sanitized_smiles(*mol, smi)) return ELIGN_RDKIT_SHIM_INVALID;
    if (largest_fragment && !largest_fragment_smiles(*mol, smi)) return ELIGN_RDKIT_SHIM_INVALID;
    char *out = static_cast<char *>(std::malloc(smi.size() + 1));
    if (!out) return fail(msg, msg_cap, "out of memory for a SMILES string");
    std::memcpy(out, smi.c_str(), smi.size() + 1);
    *smiles = out;
    return ELIGN_RDKIT_SHIM_VALID;
  } catch (const Invar::Invariant &e) {
    return fail(msg, msg_cap, std::string("invariant violation: ") + e.what());
  } catch (const std::exception &e) {
    return fail(msg, msg_cap, e.what());
  } catch (...) {
    return fail(msg, msg_cap, "unknown C++ exception");
  }
}

extern "C" int elign_rdkit_shim_smiles(int64_t n, const int32_t *Z, const int8_t *orders, int largest_fragment,
                                       char **smiles, char *msg, size_t msg_cap) {
  return elign_rdkit_shim_smiles_charged(n, Z, nullptr, orders, largest_fragment, smiles, msg, msg_cap);
}

extern "C" const char *elign_rdkit_shim_version(void) { return RDKit::rdkitVersion; }

#else  // built without RDKit

extern "C" int elign_rdkit_shim_smiles(int64_t n, const int32_t *Z, const int8_t *orders, int largest_fragment,
                                       char **smiles, char *msg, size_t msg_cap) {
  (void)n, (void)Z, (void)orders, (void)largest_fragment;
  *smiles = nullptr;
  if (msg && msg_cap) std::snprintf(msg, msg_cap, "built without RDKit");
  return ELIGN_RDKIT_SHIM_NOT_BUILT;
}

extern "C" int elign_rdkit_shim_smiles_charged(int64_t n, const int32_t *Z, const int8_t *charges,
                                               const int8_t *orders, int largest_fragment, char **smiles, char *msg,
                                               size_t msg_cap) {
  (void)charges;
  return elign_rdkit_shim_smiles(n, Z, orders, largest_fragment, smiles, msg, msg_cap);
}

extern "C" const char *elign_rdkit_shim_version(void) { return ""; }

#endif
