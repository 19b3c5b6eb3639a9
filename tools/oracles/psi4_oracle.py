"""psi4_oracle — DFT/HF energies and forces through psi4, for Elign-C's "python" oracle.

Contract (oracle/backends/oracle_python.c):
    evaluate(Z int32 (n,), R float64 (n,3) Angstrom, charge, multiplicity, options)
        -> (energy in eV, forces (n,3) in eV/Angstrom, F = -dE/dR)

options (all optional): method (default "b3lyp"), basis ("6-31g(d)"),
time_limit (s per molecule, 0 = none), threads, scratch_dir, memory ("1 GB"),
max_iterations (SCF maxiter).

With time_limit > 0 the calculation runs in a forked child process that is
killed when the limit passes; the call then raises TimeoutError, which the C
side turns into ELIGN_MOL_TIMEOUT. psi4 is imported once in the parent, so the
fork costs no re-import. An SCF that does not converge is retried once from a
3-21G guess (basis_guess; without max_iterations); a failure then raises psi4's
ConvergenceError (-> ELIGN_MOL_NOT_CONVERGED). Open shells use UHF/UKS.

psi4 on Debian lives in the interpreter's multiarch library directory, outside
its sys.path. The embedded interpreter gets that directory from the build
(CMake's ELIGN_PSI4_PYTHONPATH); a standalone run takes $ELIGN_PSI4_PYTHONPATH,
else asks the interpreter where its multiarch directory is.
"""
import os
import sys
import sysconfig

from oracle_common import BOHR_ANGSTROM, HARTREE_EV, run_with_time_limit


def _psi4_dirs():
    env = os.environ.get("ELIGN_PSI4_PYTHONPATH")
    if env:
        return [d for d in env.split(os.pathsep) if d]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    return [os.path.join(sys.base_prefix, "lib", multiarch)] if multiarch else []


for _dir in _psi4_dirs():
    if _dir not in sys.path and os.path.isdir(os.path.join(_dir, "psi4")):
        sys.path.append(_dir)

try:
    import psi4
except ImportError as exc:  # pragma: no cover - depends on the machine
    raise ImportError("psi4_oracle needs psi4 (Debian: apt-get install psi4 python3-psi4; conda: psi4): %s" % exc)

# Provenance: the C side records these versions (oracle_python.c, docs/trust.md).
ELIGN_PROVENANCE_VERSIONS = {"psi4": getattr(psi4, "__version__", "unknown")}

import numpy as np

_SYMBOLS = ["X", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl",
            "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se",
            "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb",
            "Te", "I", "Xe"]

_configured = {}


def _remove_clean_file(pid):
    """psi4 lists its scratch files in psi.<pid>.clean in the working directory and
    removes it at interpreter exit, which a forked child (os._exit) never reaches."""
    try:
        os.remove("psi.%d.clean" % pid)
    except OSError:
        pass


def _configure(options):
    """Output, scratch, threads and memory: set once per process (and again if they change)."""
    scratch = options.get("scratch_dir") or None
    threads = int(options.get("threads") or 1)
    memory = options.get("memory") or "1 GB"
    key = (scratch, threads, memory)
    if _configured.get("key") == key:
        return
    if scratch:
        rank_dir = os.path.join(scratch, "psi4-rank%d-pid%d" % (int(options.get("rank") or 0), os.getpid()))
        os.makedirs(rank_dir, exist_ok=True)
        psi4.core.IOManager.shared_object().set_default_path(rank_dir)
        psi4.core.set_output_file(os.path.join(rank_dir, "psi4.out"), False)
    else:
        psi4.core.be_quiet()
    psi4.set_num_threads(threads)
    psi4.set_memory(memory)
    _configured["key"] = key


def _geometry(Z, R, charge, multiplicity):
    lines = ["%d %d" % (charge, multiplicity)]
    for z, (x, y, w) in zip(Z, R):
        z = int(z)
        if z <= 0 or z >= len(_SYMBOLS):
            raise ValueError("psi4_oracle: element Z=%d not in this adapter's table" % z)
        lines.append("%s %.12f %.12f %.12f" % (_SYMBOLS[z], x, y, w))
    # Our frame, our atom order: no reorientation, no centring, no symmetry.
    lines += ["units angstrom", "no_reorient", "no_com", "symmetry c1"]
    return "\n".join(lines)


def _compute(Z, R, charge, multiplicity, options):
    """(energy Hartree, gradient (n,3) Hartree/Bohr) in this process.

    An SCF that does not converge is tried once more starting from a converged
    3-21G calculation (psi4's basis_guess): open-shell atoms such as triplet carbon at
    B3LYP/6-31G(d) oscillate from the default SAD guess, and neither damping nor a GWH,
    core or UHF guess helps them in psi4 1.3.2. Not when the caller set
    max_iterations: then the limit is the caller's and the failure stands."""
    try:
        return _compute_once(Z, R, charge, multiplicity, options, retry=False)
    except psi4.ConvergenceError:
        if options.get("max_iterations"):
            raise
        return _compute_once(Z, R, charge, multiplicity, options, retry=True)


def _compute_once(Z, R, charge, multiplicity, options, retry):
    _configure(options)
    method = (options.get("method") or "b3lyp").lower()
    basis = options.get("basis") or "6-31g(d)"
    psi4.core.clean()
    psi4.core.clean_options()
    mol = psi4.geometry(_geometry(Z, R, charge, multiplicity))
    open_shell = multiplicity != 1
    reference = ("uhf" if method in ("hf", "scf") else "uks") if open_shell else ("rhf" if method in ("hf", "scf") else "rks")
    settings = {"basis": basis, "reference": reference, "scf_type": options.get("scf_type", "df"),
                "e_convergence": 1e-8, "d_convergence": 1e-8}
    if options.get("max_iterations"):
        settings["maxiter"] = int(options["max_iterations"])
        settings["fail_on_maxiter"] = True
    if retry:
        settings["basis_guess"] = True
        settings["maxiter"] = 200
    psi4.set_options(settings)
    if len(Z) == 1:
        # An isolated atom has no force. (psi4 1.3.2 also segfaults on a
        # one-atom gradient after an earlier calculation in the process.)
        energy = psi4.energy(method, molecule=mol)
        g = np.zeros((1, 3))
    else:
        grad, wfn = psi4.gradient(method, molecule=mol, return_wfn=True)
        energy = wfn.energy()
        g = np.array(grad.to_array(), dtype=np.float64).reshape(len(Z), 3)
    psi4.core.clean()
    return energy, g


def evaluate(Z, R, charge, multiplicity, options):
    Z = np.asarray(Z, dtype=np.int32)
    R = np.asarray(R, dtype=np.float64).reshape(-1, 3)
    time_limit = float(options.get("time_limit") or 0.0)
    try:
        energy, grad = run_with_time_limit(_compute, (Z, R, int(charge), int(multiplicity), options), time_limit,
                                           after=_remove_clean_file)
    except TimeoutError as exc:
        raise TimeoutError("psi4_oracle: %d atoms %s" % (len(Z), exc))
    return energy * HARTREE_EV, -grad * (HARTREE_EV / BOHR_ANGSTROM)


if __name__ == "__main__":
    # Stand-alone check: water, HF/STO-3G.
    Z = np.array([8, 1, 1], dtype=np.int32)
    R = np.array([[0.0, 0.0, 0.117], [0.0, 0.757, -0.467], [0.0, -0.757, -0.467]])
    e, f = evaluate(Z, R, 0, 1, {"method": "hf", "basis": "sto-3g"})
    print("E = %.10f eV" % e)
    print(f)
