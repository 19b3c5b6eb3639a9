"""oracle_toy — tiny oracle functions for test_oracle_python (not a physics model).

toy(Z, R, charge, multiplicity, options): E = s * sum_{i<j} Z_i Z_j / r_ij
  + 0.5*charge + 0.25*multiplicity + time_limit   (eV, r in Angstrom),
  s = 0.1; forces analytic. The C test recomputes all of it independently.
Special inputs raise, to test the per-molecule flags: first atom He ->
RuntimeError, Ne -> TimeoutError, Ar -> a *ConvergenceError*.
"""
import numpy as np

S = 0.1


class FakeConvergenceError(RuntimeError):
    pass


def toy(Z, R, charge, multiplicity, options):
    assert Z.dtype == np.int32 and R.dtype == np.float64 and R.shape == (len(Z), 3)
    if Z[0] == 2:
        raise RuntimeError("toy: helium is not allowed")
    if Z[0] == 10:
        raise TimeoutError("toy: neon takes forever")
    if Z[0] == 18:
        raise FakeConvergenceError("toy: argon does not converge")
    n = len(Z)
    E = 0.5 * charge + 0.25 * multiplicity + float(options.get("time_limit", 0.0))
    F = np.zeros((n, 3))
    for i in range(n):
        for j in range(i + 1, n):
            d = R[i] - R[j]
            r = np.sqrt(d @ d)
            e = S * Z[i] * Z[j] / r
            E += e
            F[i] += e / r**2 * d   # -dE/dR_i = +S Zi Zj d / r^3
            F[j] -= e / r**2 * d
    return E, F


def toy_batched(Zs, Rs, charges, multiplicities, options):
    out = [toy(Z, R, c, m, options) for Z, R, c, m in zip(Zs, Rs, charges, multiplicities)]
    return [o[0] for o in out], [o[1] for o in out]


toy_batched.batched = True


def bad_shape(Z, R, charge, multiplicity, options):
    return 0.0, np.zeros((len(Z), 2))


def returns_nan(Z, R, charge, multiplicity, options):
    return float("nan"), np.zeros((len(Z), 3))
