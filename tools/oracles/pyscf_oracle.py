"""pyscf_oracle — HF/DFT energies and forces through PySCF, for Elign-C's "python" oracle.

    evaluate(Z int32 (n,), R float64 (n,3) Angstrom, charge, multiplicity, options)
        -> (energy eV, forces (n,3) eV/Angstrom)

options: method ("b3lyp"; "hf" for Hartree-Fock; any PySCF xc string),
basis ("6-31g(d)"), time_limit (s, 0 = none; the SCF runs in a forked child),
threads, max_memory (MB). Open shells use UHF/UKS with spin = multiplicity-1.
Note: PySCF's "b3lyp" uses VWN5 in the LDA part; "b3lypg" is the
Gaussian/psi4 VWN(RPA) variant, so pass method="b3lypg" to compare with psi4.
Raises ImportError with an install hint where PySCF is missing.
"""
import numpy as np

from oracle_common import BOHR_ANGSTROM, HARTREE_EV, ConvergenceFailure, run_with_time_limit

try:
    from pyscf import dft, gto, lib, scf
except ImportError as exc:  # pragma: no cover - depends on the machine
    raise ImportError("pyscf_oracle needs PySCF (pip install pyscf) in the interpreter Elign-C embeds: %s" % exc)

# Provenance: the C side records these versions (oracle_python.c, docs/trust.md).
import pyscf  # noqa: E402

ELIGN_PROVENANCE_VERSIONS = {"pyscf": getattr(pyscf, "__version__", "unknown")}


def _compute(Z, R, charge, multiplicity, options):
    threads = int(options.get("threads") or 0)
    if threads > 0:
        lib.num_threads(threads)
    mol = gto.M(atom=[(int(z), tuple(float(c) for c in r)) for z, r in zip(Z, R)], unit="Angstrom",
                charge=int(charge), spin=int(multiplicity) - 1, basis=options.get("basis") or "6-31g(d)",
                verbose=0, max_memory=int(options.get("max_memory") or 2000))
    method = (options.get("method") or "b3lyp").lower()
    open_shell = multiplicity != 1
    if method in ("hf", "scf"):
        mf = scf.UHF(mol) if open_shell else scf.RHF(mol)
    else:
        mf = dft.UKS(mol) if open_shell else dft.RKS(mol)
        mf.xc = method
    mf.conv_tol = 1e-9
    if options.get("max_iterations"):
        mf.max_cycle = int(options["max_iterations"])
    energy = mf.kernel()
    if not mf.converged:
        raise ConvergenceFailure("pyscf_oracle: SCF did not converge (%d atoms)" % len(Z))
    grad = np.zeros((len(Z), 3)) if len(Z) == 1 else np.asarray(mf.nuc_grad_method().kernel())
    return float(energy), grad


def evaluate(Z, R, charge, multiplicity, options):
    Z = np.asarray(Z, dtype=np.int32)
    R = np.asarray(R, dtype=np.float64).reshape(-1, 3)
    energy, grad = run_with_time_limit(_compute, (Z, R, charge, multiplicity, options),
                                       float(options.get("time_limit") or 0.0))
    return energy * HARTREE_EV, -np.asarray(grad) * (HARTREE_EV / BOHR_ANGSTROM)
