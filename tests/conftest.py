"""Shared fixtures and helpers: small reference systems and an independent reference solve.

Every helper here is deliberately independent of seqsolve (plain NumPy/SciPy/PyAMG), so the
tests compare seqsolve against something it did not compute itself.
"""

from __future__ import annotations

import os

# Multi-threaded OpenBLAS is pathological on the 2-core test machines: a dense 144x144 SVD (the
# condition-number reference below) takes ~0.3 s with its default threads and ~1 ms with one.
# Must be set before NumPy is first imported; an explicit setting by the user wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from fractions import Fraction

import numpy as np  # noqa: E402
import pyamg  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from scipy.sparse.linalg import spsolve  # noqa: E402

from seqsolve.guesses.base import Guess  # noqa: E402

# fast on 2 cores: no deadline (first calls compile/import), few examples
settings.register_profile(
    "seqsolve",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("seqsolve")


# ----------------------------------------------------------------------------- systems
def random_spd(n: int, seed: int = 0, density: float = 0.1, shift: float = 1.0) -> sp.csr_array:
    """A random sparse SPD matrix: symmetric, strictly diagonally dominant with positive diagonal.

    ``shift`` controls conditioning: the diagonal is ``sum_j |a_ij| + shift``.
    """
    rng = np.random.default_rng(seed)
    R = sp.random_array((n, n), density=density, rng=rng, format="csr")
    R.data = rng.uniform(-1.0, 1.0, R.data.shape[0])
    S = sp.triu(R, k=1)
    S = S + S.T
    d = np.asarray(abs(S).sum(axis=1)).ravel() + shift
    return sp.csr_array(S + sp.diags_array(d))


def random_nonsymmetric(n: int, seed: int = 0, density: float = 0.1) -> sp.csr_array:
    """A random sparse, clearly non-symmetric, strictly diagonally dominant matrix."""
    rng = np.random.default_rng(seed)
    R = sp.random_array((n, n), density=density, rng=rng, format="csr")
    R.data = rng.uniform(-1.0, 1.0, R.data.shape[0])
    R = sp.csr_array(R - sp.diags_array(R.diagonal()))
    # make sure at least one off-diagonal pair is asymmetric even for a very sparse draw
    R = sp.csr_array(R + sp.csr_array(([0.75], ([0], [n - 1])), shape=(n, n)))
    d = np.asarray(abs(R).sum(axis=1)).ravel() + 1.0
    return sp.csr_array(R + sp.diags_array(d))


def poisson2d(k: int) -> sp.csr_array:
    """PyAMG gallery 5-point Poisson on a ``k x k`` grid (SPD, condition ~ k^2)."""
    return sp.csr_array(pyamg.gallery.poisson((k, k), format="csr"))


def elasticity2d(k: int) -> sp.csr_array:
    """PyAMG gallery 2-D linear elasticity (Q1 elements) on a ``k x k`` grid (SPD)."""
    A, _ = pyamg.gallery.linear_elasticity((k, k), format="csr")
    return sp.csr_array(A)


def reference_solve(A, b) -> np.ndarray:
    """SciPy's sparse direct solve, the reference answer."""
    return np.asarray(spsolve(sp.csc_matrix(A), np.asarray(b, dtype=np.float64)), dtype=np.float64).ravel()


def cond2(A) -> float:
    """2-norm condition number from a dense copy (small matrices only)."""
    return float(np.linalg.cond(A.toarray() if sp.issparse(A) else np.asarray(A)))


def true_residual(A, b, x) -> float:
    return float(np.linalg.norm(b - A @ x))


def assert_contract(A, b, x, rtol: float, atol: float = 0.0) -> None:
    """``||b - A x|| <= max(rtol ||b||, atol)`` on the true residual, and agreement with spsolve.

    Forward error bound: ``||x - x*|| / ||x*|| <= cond(A) * ||r|| / ||b||``; spsolve itself is
    accurate to about ``cond(A) * eps``, so the allowed difference is
    ``cond * (target/||b|| + 100 eps)`` with a factor 2 of slack.
    """
    x = np.asarray(x)
    assert x.shape == (A.shape[0],)
    assert x.dtype == np.float64
    assert np.all(np.isfinite(x))
    bnorm = float(np.linalg.norm(b))
    target = max(rtol * bnorm, atol)
    r = true_residual(A, b, x)
    assert r <= target, f"true residual {r:.3e} > target {target:.3e}"
    ref = reference_solve(A, b)
    kappa = cond2(A)
    err = float(np.linalg.norm(x - ref))
    scale = max(float(np.linalg.norm(ref)), np.finfo(float).tiny)
    rel_res = target / bnorm if bnorm > 0 else target
    bound = 2.0 * kappa * (rel_res + 100 * np.finfo(float).eps) * scale + (target if bnorm == 0 else 0.0)
    assert err <= bound, f"||x - spsolve|| = {err:.3e} > bound {bound:.3e} (cond {kappa:.2e})"


def compiled_available() -> bool:
    """Whether the numba-* configurations have an implementation (``CompiledPCG``)."""
    try:
        from seqsolve.solvers import compiled
    except Exception:  # pragma: no cover - numba missing or broken
        return False
    return hasattr(compiled, "CompiledPCG")


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def spd_system():
    A = random_spd(60, seed=3)
    b = np.random.default_rng(4).standard_normal(60)
    return A, b


@pytest.fixture
def poisson_system():
    A = poisson2d(10)
    b = np.random.default_rng(5).standard_normal(A.shape[0])
    return A, b


@pytest.fixture
def nonsym_system():
    A = random_nonsymmetric(50, seed=6)
    b = np.random.default_rng(7).standard_normal(50)
    return A, b


def exact_meets(A, b, x, rtol, atol) -> bool:
    """Whether the exact residual of float64 ``x`` meets the tolerance (rational arithmetic)."""
    A = sp.csr_array(A)
    xb = [Fraction(float(v)) for v in x]
    rr = Fraction(0)
    for i in range(A.shape[0]):
        s = Fraction(float(b[i]))
        for k in range(A.indptr[i], A.indptr[i + 1]):
            s -= Fraction(float(A.data[k])) * xb[A.indices[k]]
        rr += s * s
    bb = sum(Fraction(float(v)) ** 2 for v in b)
    return rr <= Fraction(rtol) ** 2 * bb or rr <= Fraction(atol) ** 2



class BrokenGuess(Guess):
    """An initial-guess strategy whose guess is garbage: a constant (NaN, inf, huge), one of the
    wrong length (``"short"``), or an exception (``"raise"``).  The solve must still be certified."""

    name = "broken"

    def __init__(self, value) -> None:
        self.value = value

    def form(self, A, b, key=None):
        if self.value == "raise":
            raise np.linalg.LinAlgError("broken on purpose")
        if self.value == "short":
            return np.ones(b.shape[0] - 1)
        return np.full(b.shape[0], self.value)

    def update(self, A, b, x, key=None):
        pass

    def reset(self):
        pass
