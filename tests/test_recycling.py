"""Compiled deflated CG and the ``deflation(k)`` guess, checked against direct solves and the Python path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from seqsolve import SequenceSolver
from seqsolve.guesses import Deflation, GuessChooser, parse_guess
from seqsolve.problems import Heat2D
from seqsolve.solvers import compiled
from seqsolve.solvers.deflated import DeflatedCG
from seqsolve.solvers.deflated_compiled import CompiledDeflatedCG

from conftest import poisson2d, reference_solve


def _rel(A, b, x) -> float:
    return float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


def _drifting(step: int, k: int = 20) -> sp.csr_array:
    """Poisson plus a slowly growing random diagonal: a new matrix every step."""
    rng = np.random.default_rng(step)
    return sp.csr_array(poisson2d(k) + sp.diags_array(0.01 * (1 + step) * rng.random(k * k)))


def test_compiled_deflated_cg_equals_a_direct_solve_and_beats_plain_pcg_on_outliers():
    # SSOR-preconditioned Poisson: a few small, well separated eigenvalues (the smoothest modes)
    A = poisson2d(24)
    rng = np.random.default_rng(3)
    method = CompiledDeflatedCG(k=8, omega=1.2)
    prepared = method.setup(A, None)
    plain, deflated = [], []
    for _ in range(4):
        b = rng.standard_normal(A.shape[0])
        res = method.solve(prepared, A, b, np.zeros_like(b), rtol=1e-10, atol=0.0, maxiter=5000)
        assert res.status == "converged"
        assert _rel(A, b, res.x) <= 1.01e-10
        x_ref = reference_solve(A, b)
        assert np.linalg.norm(res.x - x_ref) <= 1e-6 * np.linalg.norm(x_ref)
        deflated.append(res.iterations)
        plain.append(compiled.pcg(A, b, rtol=1e-10, preconditioner="ssor", omega=1.2).iterations)
    # the first solve has nothing recycled yet; each later one refines the Ritz vectors
    assert max(deflated[1:]) < min(plain) and deflated[-1] <= 0.75 * min(plain)
    assert method.W is not None and method.W.shape == (8, A.shape[0])


def test_compiled_and_python_deflated_cg_agree_as_the_matrix_drifts():
    fast, slow = CompiledDeflatedCG(k=8, omega=1.5), DeflatedCG(k=8, preconditioner="ssor", omega=1.5)
    x_fast = x_slow = np.zeros(400)
    rng = np.random.default_rng(0)
    for step in range(6):
        A, b = _drifting(step), rng.standard_normal(400)
        r1 = fast.solve(fast.setup(A, None), A, b, x_fast, rtol=1e-10, atol=0.0, maxiter=2000)
        r2 = slow.solve(slow.setup(A, None), A, b, x_slow, rtol=1e-10, atol=0.0, maxiter=2000)
        assert r1.status == r2.status == "converged"
        assert abs(r1.iterations - r2.iterations) <= 1
        x_ref = reference_solve(A, b)
        assert np.linalg.norm(r1.x - x_ref) <= 1e-7 * np.linalg.norm(x_ref)
        assert _rel(A, b, r1.x) <= 1.01e-10
        x_fast, x_slow = r1.x, r2.x


def test_compiled_deflated_cg_keeps_the_statuses_of_the_plain_kernel():
    A = poisson2d(10)
    m = CompiledDeflatedCG(k=4, omega=1.5)
    P = m.setup(A, None)
    b = np.ones(100)
    assert m.solve(P, A, b, np.zeros(100), rtol=1e-12, atol=0.0, maxiter=3).status == "maxiter"
    zero = m.solve(P, A, np.zeros(100), np.ones(100), rtol=1e-8, atol=0.0, maxiter=50)
    assert zero.status == "converged" and not zero.x.any()
    assert m.solve(P, A, np.full(100, np.nan), np.zeros(100), rtol=1e-8, atol=0.0, maxiter=50).status == "nan"
    bad = sp.csr_array(-poisson2d(10))  # negative diagonal: SSOR-PCG sees an indefinite preconditioner
    assert m.solve(m.setup(bad, None), bad, b, np.zeros(100), rtol=1e-8, atol=0.0, maxiter=50).status == "indefinite"


def _keeps_the_contract_on_heat2d(solver: SequenceSolver, nx: int, steps: int) -> None:
    """Every solve of a short Heat2D sequence meets rtol=1e-8 on the true residual."""
    problem = Heat2D(nx=nx, steps=steps)
    for _ in range(problem.steps):
        s = problem.system()
        x = solver.solve(s.A, s.b)
        assert _rel(s.A, s.b, x) <= 1e-8
        problem.accept(x)


def test_deflated_cg_configuration_with_ssor_runs_compiled_and_keeps_the_contract():
    solver = SequenceSolver(rtol=1e-8, policy="fixed:deflated-cg(k=6,preconditioner=ssor,omega=1.6)", fallback=False)
    _keeps_the_contract_on_heat2d(solver, nx=16, steps=12)
    assert any(isinstance(m, CompiledDeflatedCG) for m in solver._methods.values())


# ----------------------------------------------------------------------------- the deflation guess
def test_deflation_guess_is_the_a_norm_best_correction_of_the_warm_start():
    A = poisson2d(12)
    n = A.shape[0]
    rng = np.random.default_rng(1)
    g = Deflation(k=4, every=1)
    x = np.zeros(n)
    for step in range(8):  # right-hand sides that drift along smooth modes: the errors share them
        b = np.sin(np.linspace(0, 3, n) * (1 + 0.1 * step)) + 0.01 * rng.standard_normal(n)
        x0 = g.form(A, b, key="A")
        x = reference_solve(A, b)
        if x0 is not None and g.W is not None:
            W = g.W.T
            prev = g._last.items[-1]
            # Galerkin: the start's residual is orthogonal to span(W), and the A-norm error no larger
            assert np.abs(W.T @ (b - A @ x0)).max() <= 1e-8 * np.linalg.norm(b)
            e0, e_prev = x - x0, x - prev
            assert e0 @ (A @ e0) <= e_prev @ (A @ e_prev) * (1 + 1e-12)
        g.update(A, b, x, key="A")
    assert g.W is not None and g.W.shape[0] <= 4
    assert g.memory_vectors > 0


def test_deflation_guess_registered_chosen_by_auto_and_keeps_the_contract():
    assert parse_guess("deflation(k=8)").name == "deflation(k=8)"
    assert parse_guess("deflation(4, every=1)").name == "deflation(k=4,every=1)"
    # not a default candidate of the guess 'auto' (it never paid), but one it can be given
    assert "deflation(k=8)" not in [a.name for a in GuessChooser().arms]
    assert "deflation(k=8)" in [a.name for a in GuessChooser(["previous", "deflation(k=8)"]).arms]
    for spec in ("deflation(k=4)", "auto"):
        solver = SequenceSolver(rtol=1e-8, policy="fixed:numba-ssor-cg(omega=1.5)", initial_guess=spec)
        _keeps_the_contract_on_heat2d(solver, nx=14, steps=30)


@pytest.mark.parametrize("bad", ["deflation(k=0)", "deflation(k=2,every=0)"])
def test_deflation_guess_rejects_bad_parameters(bad):
    from seqsolve import ConfigurationError

    with pytest.raises(ConfigurationError):
        parse_guess(bad)


def test_deflation_guess_forgets_a_start_it_did_not_see_solved():
    g = Deflation(k=2, every=1)
    A = poisson2d(6)
    b = np.ones(36)
    g.update(A, b, reference_solve(A, b))
    g.form(A, b)
    g.missed()
    g.update(None, None, np.zeros(36))  # not the solution of that start: no error is learned
    assert len(g._errors) == 0
