"""uma_oracle — FAIRChem UMA (task "omol") as Elign-C's MLFF reward oracle.

Follows the project's algorithm specification (spec/ALGORITHMS.md §5): positions in Angstrom, cell
50 Angstrom * I, pbc False, charge 0 and spin multiplicity 1 (the batch's
values, which default to exactly these), energy in eV (total), forces in
eV/Angstrom. options: model ("uma-s-1p1" default; "uma-s-1" maps to it;
"uma-m-1p1"), device via the environment variable ELIGN_UMA_DEVICE ("cpu"
default, "cuda").

    evaluate(Z, R, charge, multiplicity, options) -> (energy eV, forces (n,3) eV/A)

The model is loaded once per process (first call). Raises ImportError with
an install hint where fairchem-core is missing. Not exercised by the ctest
suite (no fairchem/UMA weights on the build machine).
"""
import os

import numpy as np

try:
    from ase import Atoms
    from fairchem.core import FAIRChemCalculator, pretrained_mlip
except ImportError as exc:  # pragma: no cover - depends on the machine
    raise ImportError("uma_oracle needs fairchem-core >= 2 and ase (pip install fairchem-core; UMA weights need "
                      "a Hugging Face login with access to facebook/UMA): %s" % exc)

_calculators = {}


def _calculator(options):
    name = options.get("model") or "uma-s-1p1"
    if name == "uma-s-1":
        name = "uma-s-1p1"
    if name not in _calculators:
        device = os.environ.get("ELIGN_UMA_DEVICE", "cpu")
        predictor = pretrained_mlip.get_predict_unit(name, device=device)
        _calculators[name] = FAIRChemCalculator(predictor, task_name="omol")
    return _calculators[name]


def evaluate(Z, R, charge, multiplicity, options):
    atoms = Atoms(numbers=np.asarray(Z, dtype=int), positions=np.asarray(R, dtype=float).reshape(-1, 3),
                  cell=50.0 * np.eye(3), pbc=False)
    atoms.info.update({"charge": int(charge), "spin": int(multiplicity)})
    atoms.calc = _calculator(options)
    energy = float(atoms.get_potential_energy())
    forces = np.asarray(atoms.get_forces(), dtype=np.float64)
    return energy, forces
