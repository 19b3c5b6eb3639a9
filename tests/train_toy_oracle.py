"""train_toy_oracle — toy energy/force oracles for the `elign train` tests
(embedded through the python backend; not physics).

harmonic(Z, R, ...): every atom is bonded to its nearest neighbour by a
spring of rest length 1.5 Å: E = 1/2 k sum_i (r_i,nn(i) - 1.5)^2 (eV, k = 1
eV/Å^2), forces analytic (with the neighbour fixed). A policy that learns
to place atoms ~1.5 Å from their nearest neighbour lowers the RMS force —
the smoke test's reward must rise.

flaky(...): harmonic, except that about one molecule in ten (chosen by a
hash of its coordinates, so the same molecule always fails) returns NaN: the
training loop must count it as an oracle failure and go on.

dies(...): harmonic until the process has answered ELIGN_TOY_DIE_AFTER
molecules (default 20), then the process exits at once (an oracle rank
that dies).
"""
import os
import zlib

import numpy as np

K = 1.0
R0 = 1.5

# Provenance (oracle_python.c): versions the python backend records; tests/trust_cli.sh checks it.
ELIGN_PROVENANCE_VERSIONS = {"train_toy_oracle": "toy-1"}


def harmonic(Z, R, charge, multiplicity, options):
    n = len(Z)
    F = np.zeros((n, 3))
    if n < 2:
        return 0.0, F
    d = R[:, None, :] - R[None, :, :]
    r = np.sqrt((d * d).sum(-1))
    np.fill_diagonal(r, np.inf)
    nn = r.argmin(axis=1)
    E = 0.0
    for i in range(n):
        j = nn[i]
        rij = r[i, j]
        E += 0.5 * K * (rij - R0) ** 2
        g = K * (rij - R0) * d[i, j] / max(rij, 1e-12)  # dE/dR_i of this spring
        F[i] -= g
        F[j] += g
    return float(E), F


def with_atoms(Z, R, charge, multiplicity, options):
    """harmonic plus an energy of -Z eV for each atom of atomic number Z (a
    lone atom: just that): what the elements give, apart from the geometry —
    the test of reward.energy_atom_refs (oracle: these -Z come back as the
    references)."""
    E, F = harmonic(Z, R, charge, multiplicity, options)
    return E - float(np.sum(Z)), F


def flaky(Z, R, charge, multiplicity, options):
    if zlib.crc32(np.ascontiguousarray(R).tobytes()) % 10 == 0:
        return float("nan"), np.zeros((len(Z), 3))
    return harmonic(Z, R, charge, multiplicity, options)


_answered = [0]


def dies(Z, R, charge, multiplicity, options):
    _answered[0] += 1
    if _answered[0] > int(os.environ.get("ELIGN_TOY_DIE_AFTER", "20")):
        os._exit(3)
    return harmonic(Z, R, charge, multiplicity, options)


def stretch(Z, R, charge, multiplicity, options):
    """The harmonic energy with the opposite sign (forces too): an energy
    reward on it pays for spreading the atoms out — the smoke test checks
    that training follows the reward in either direction."""
    E, F = harmonic(Z, R, charge, multiplicity, options)
    return -E, -F


def hangs(Z, R, charge, multiplicity, options):
    """harmonic until ELIGN_TOY_DIE_AFTER molecules, then never answers (an
    oracle rank that hangs): the actor's mpi.timeout must end the job."""
    _answered[0] += 1
    if _answered[0] > int(os.environ.get("ELIGN_TOY_DIE_AFTER", "20")):
        import time
        time.sleep(3600)
    return harmonic(Z, R, charge, multiplicity, options)


def collapse(Z, R, charge, multiplicity, options):
    """An exploitable oracle (the judges test): E = sum_i r_i,nn(i) eV/Å, the
    distance of every atom to its nearest neighbour, so the energy keeps
    dropping as atoms fall onto each other — a hole no physical potential has.
    An energy reward on it pays for unphysical, collapsed geometries; an
    independent judge (lj) must see its energy or failures rise."""
    n = len(Z)
    F = np.zeros((n, 3))
    if n < 2:
        return 0.0, F
    d = R[:, None, :] - R[None, :, :]
    r = np.sqrt((d * d).sum(-1))
    np.fill_diagonal(r, np.inf)
    nn = r.argmin(axis=1)
    E = 0.0
    for i in range(n):
        j = nn[i]
        E += r[i, j]
        g = d[i, j] / max(r[i, j], 1e-12)
        F[i] -= g
        F[j] += g
    return float(E), F
