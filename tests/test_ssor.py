"""SSOR: the verified PyAMG pitfall (ω silently ignored by ``sor(sweep='symmetric')``) must not bite.

seqsolve builds SSOR from a forward and a backward ``sor_gauss_seidel`` sweep, each with ω; so the
iteration count must depend on ω, over-relaxation must pay off on Poisson-like systems, and the
operator must be the symmetric ``ω(2-ω)(D+ωU)⁻¹ D (D+ωL)⁻¹`` (up to a constant factor).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from seqsolve import SequenceSolver
from seqsolve.preconditioners import ssor
from seqsolve.problems import Heat2D

from conftest import assert_contract, poisson2d, random_spd

OMEGAS = [1.0, 1.2, 1.4, 1.6, 1.7, 1.8, 1.9]


def ssor_iterations(A, b, omega: float, rtol: float = 1e-8) -> int:
    s = SequenceSolver(rtol=rtol, policy=f"fixed:ssor-cg(omega={omega})", warm_start=False)
    x = s.solve(A, b)
    assert_true_residual(A, b, x, rtol)
    assert s.history[-1].fallback is None
    return s.history[-1].iterations


def assert_true_residual(A, b, x, rtol):
    assert np.linalg.norm(b - A @ x) <= rtol * np.linalg.norm(b)


def heat2d_large_c(nx: int = 40) -> tuple[sp.csr_array, np.ndarray, float]:
    """The Heat2D system at t ≈ 0.75 where c(h) ≈ 10 (the hard part of the sequence)."""
    p = Heat2D(nx=nx, steps=1000)
    for _ in range(750):
        p.accept(p.u)  # advance time only; the state does not matter for the matrix
    s = p.system()
    return s.A, s.b, s.context["c"]


def check_omega_matters(A, b):
    its = {w: ssor_iterations(A, b, w) for w in OMEGAS}
    # ω is not ignored: iteration counts differ across ω
    assert len(set(its.values())) >= 4, its
    # over-relaxation pays: some ω in (1.5, 1.95) beats ω = 1 clearly
    best_over = min(v for w, v in its.items() if 1.5 < w < 1.95)
    assert best_over < 0.8 * its[1.0], its
    return its


def test_iterations_depend_on_omega_poisson_40x40():
    A = poisson2d(40)
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    check_omega_matters(A, b)


def test_iterations_depend_on_omega_heat2d_large_c():
    A, b, c = heat2d_large_c(40)
    assert c > 9.9
    check_omega_matters(A, b)


@pytest.mark.parametrize("omega", [1.0, 1.3, 1.6, 1.95])
def test_ssor_cg_solution_agrees_with_spsolve(omega):
    A = poisson2d(12)
    b = np.random.default_rng(1).standard_normal(A.shape[0])
    x = SequenceSolver(rtol=1e-10, policy=f"fixed:ssor-cg(omega={omega})").solve(A, b)
    assert_contract(A, b, x, 1e-10)


# ----------------------------------------------------------------------------- the operator
def explicit_ssor_inverse(A: np.ndarray, omega: float) -> np.ndarray:
    """``M⁻¹ = ω(2-ω) (D+ωU)⁻¹ D (D+ωL)⁻¹`` from dense triangular parts (independent reference)."""
    D = np.diag(np.diag(A))
    L = np.tril(A, -1)
    U = np.triu(A, 1)
    return omega * (2 - omega) * np.linalg.solve(D + omega * U, D @ np.linalg.inv(D + omega * L))


def dense_operator(op, n: int) -> np.ndarray:
    return np.column_stack([op.matvec(e) for e in np.eye(n)])


@pytest.mark.parametrize("omega", [0.7, 1.0, 1.3, 1.6, 1.95])
@pytest.mark.parametrize("which", ["random-spd", "poisson"])
def test_operator_equals_explicit_formula_up_to_a_constant(omega, which):
    A = random_spd(7, seed=2, density=0.5) if which == "random-spd" else poisson2d(3)
    n = A.shape[0]
    M = dense_operator(ssor(sp.csr_array(A), omega), n)
    R = explicit_ssor_inverse(A.toarray(), omega)
    factor = float(np.sum(M * R) / np.sum(R * R))
    assert factor > 0
    np.testing.assert_allclose(M, factor * R, rtol=1e-12, atol=1e-12 * np.abs(R).max())


@given(seed=st.integers(0, 10_000), n=st.integers(2, 30), omega=st.floats(0.05, 1.95))
def test_operator_is_symmetric_positive_definite(seed, n, omega):
    A = random_spd(n, seed=seed, density=0.3)
    op = ssor(A, omega)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((2, n))
    lhs, rhs = x @ op.matvec(y), y @ op.matvec(x)
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-12 * (np.linalg.norm(x) * np.linalg.norm(y)))
    assert x @ op.matvec(x) > 0


def test_operator_on_heat2d_large_c_is_symmetric():
    A, _, _ = heat2d_large_c(12)
    op = ssor(A, 1.7)
    rng = np.random.default_rng(3)
    for _ in range(5):
        x, y = rng.standard_normal((2, A.shape[0]))
        assert x @ op.matvec(y) == pytest.approx(y @ op.matvec(x), rel=1e-11)


def test_operator_changes_with_omega():
    A = poisson2d(5)
    r = np.random.default_rng(4).standard_normal(A.shape[0])
    outs = [ssor(A, w).matvec(r) for w in (1.0, 1.5, 1.9)]
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            assert not np.allclose(outs[i], outs[j])


def test_operator_rejects_zero_diagonal():
    A = sp.csr_array(np.array([[0.0, 1.0], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="diagonal"):
        ssor(A, 1.5)
