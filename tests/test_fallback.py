"""Fallback: a failing configuration is repaired (and the repair recorded), or ConvergenceError is
raised with what was tried — never a silent wrong answer."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import aslinearoperator

import seqsolve
from seqsolve import ConvergenceError, SeqsolveError, SequenceSolver
from seqsolve.configs import parse
from seqsolve.policies import Policy

from conftest import assert_contract, exact_meets, poisson2d, random_nonsymmetric, true_residual


def ill_conditioned_spd(k: int = 8, decades: float = 9.0) -> sp.csr_array:
    """``D P D`` with ``P`` the 2-D Poisson matrix and ``D`` spanning ``decades/2`` decades: SPD,
    condition number about ``10**decades``."""
    P = poisson2d(k)
    d = np.logspace(0, decades / 2, P.shape[0])
    D = sp.diags_array(d)
    return sp.csr_array(D @ P @ D)


def singular_inconsistent() -> tuple[sp.csr_array, np.ndarray]:
    """Symmetric, singular (a zero row and column), and ``b`` outside the range: no x solves it."""
    A = sp.csr_array(sp.block_diag([poisson2d(3), sp.csr_array((1, 1))]))
    b = np.ones(A.shape[0])
    return A, b


# ----------------------------------------------------------------------------- repaired failures
def test_sor_with_tiny_maxiter_falls_back_and_is_correct(poisson_system):
    A, b = poisson_system
    s = SequenceSolver(rtol=1e-8, policy="fixed:sor(omega=1.0)", maxiter=2)
    x = s.solve(A, b)
    assert_contract(A, b, x, 1e-8)
    rec = s.history[-1]
    assert rec.configuration == "sor(omega=1)"
    assert rec.status == "maxiter"
    assert rec.fallback is not None and rec.fallback != "sor(omega=1)"
    assert rec.converged
    assert rec.iterations >= 2  # the two failed sweeps are charged too
    assert rec.residual <= 1e-8
    assert s.summary()["fallbacks"] == 1


def test_cg_on_ill_conditioned_spd_with_tiny_maxiter_falls_back():
    A = ill_conditioned_spd()
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    s = SequenceSolver(rtol=1e-8, policy="fixed:cg", maxiter=5)
    x = s.solve(A, b)
    assert true_residual(A, b, x) <= 1e-8 * np.linalg.norm(b)
    assert_contract(A, b, x, 1e-8)
    rec = s.history[-1]
    assert rec.configuration == "cg" and rec.status == "maxiter"
    assert rec.fallback is not None
    assert rec.converged


def test_setup_error_falls_back():
    """Jacobi needs a nonzero diagonal: its setup fails, the failure is recorded, x is still right."""
    A = sp.csr_array(sp.block_diag([sp.csr_array([[0.0, 1.0], [1.0, 0.0]]), poisson2d(4)]))
    b = np.arange(1.0, A.shape[0] + 1)
    s = SequenceSolver(rtol=1e-10, policy="fixed:jacobi-cg")
    x = s.solve(A, b)
    assert_contract(A, b, x, 1e-10)
    rec = s.history[-1]
    assert rec.status.startswith("error")
    assert "diagonal" in rec.status
    assert rec.fallback is not None


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_linear_operator_falls_back_to_matrix_free_methods():
    """CG breaks down on a symmetric indefinite operator (p^T A p = 0 at the first step); the
    fallback for a LinearOperator must be matrix-free (GMRES/BiCGStab) and must solve it."""
    A = sp.csr_array(sp.block_diag([sp.csr_array([[0.0, 1.0], [1.0, 0.0]]), poisson2d(3)]))
    b = np.zeros(A.shape[0])
    b[0] = 1.0
    s = SequenceSolver(rtol=1e-10, policy="fixed:cg")
    x = s.solve(aslinearoperator(A), b)
    assert_contract(A, b, x, 1e-10)
    rec = s.history[-1]
    assert rec.status != "converged"
    assert rec.fallback in ("gmres", "bicgstab")


def test_nonsymmetric_fallback_uses_general_methods():
    A = random_nonsymmetric(40, seed=2)
    b = np.ones(40)
    s = SequenceSolver(rtol=1e-10, policy="fixed:bicgstab", maxiter=1)
    x = s.solve(A, b)
    assert_contract(A, b, x, 1e-10)
    rec = s.history[-1]
    assert rec.fallback is not None
    assert seqsolve.parse_configuration(rec.fallback).spec.spd_only is False


# ----------------------------------------------------------------------------- ConvergenceError
def test_fallback_disabled_raises_convergence_error(poisson_system):
    A, b = poisson_system
    s = SequenceSolver(rtol=1e-8, policy="fixed:sor(omega=1.0)", maxiter=2, fallback=False)
    with pytest.raises(ConvergenceError) as info:
        s.solve(A, b)
    err = info.value
    assert isinstance(err, SeqsolveError) and isinstance(err, ArithmeticError)
    assert isinstance(err.best_residual, float)
    assert err.best_residual > 1e-8
    assert err.attempts == ["sor(omega=1)"]
    assert err.best_x is not None and err.best_x.shape == b.shape
    # best_residual is the relative true residual of best_x
    assert err.best_residual == pytest.approx(true_residual(A, b, err.best_x) / np.linalg.norm(b), rel=1e-9)
    assert "sor(omega=1)" in str(err)
    # the failure is recorded, not hidden
    rec = s.history[-1]
    assert rec.converged is False and rec.fallback is None
    assert s.summary()["failures"] == 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", ["cg", "jacobi-cg", "direct", "gmres", "amg-cg(rebuild)"])
def test_unsolvable_system_raises_after_trying_the_chain(name):
    A, b = singular_inconsistent()
    s = SequenceSolver(rtol=1e-8, policy=f"fixed:{name}", maxiter=20)
    with pytest.raises(ConvergenceError) as info:
        s.solve(A, b)
    err = info.value
    assert err.best_residual > 1e-8
    assert np.isfinite(err.best_residual)
    assert err.attempts[0] == seqsolve.parse_configuration(name).name
    assert len(err.attempts) > 1  # fallback was on: robust configurations were tried
    assert "direct" in err.attempts
    assert s.history[-1].converged is False


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_failed_configuration_is_not_retried_verbatim():
    A, b = singular_inconsistent()
    with pytest.raises(ConvergenceError) as info:
        SequenceSolver(rtol=1e-8, policy="fixed:direct").solve(A, b)
    attempts = info.value.attempts
    assert len(attempts) == len(set(attempts)), attempts


def test_failure_does_not_poison_the_next_solve(poisson_system):
    A, b = poisson_system
    s = SequenceSolver(rtol=1e-8, policy="fixed:cg", maxiter=3, fallback=False)
    with pytest.raises(ConvergenceError):
        s.solve(A, b)
    s.maxiter = None
    x = s.solve(A, b)
    assert_contract(A, b, x, 1e-8)
    assert [h.converged for h in s.history] == [False, True]


@settings(max_examples=15)
@given(name=st.sampled_from(["cg", "jacobi-cg", "ssor-cg(omega=1.7)", "sor(omega=1.2)", "gmres", "bicgstab",
                             "amg-cg(reuse)"]),
       maxiter=st.integers(1, 40), rtol=st.sampled_from([1e-6, 1e-10, 1e-13, 1e-15]),
       decades=st.floats(0.0, 10.0), fallback=st.booleans())
def test_never_a_silent_wrong_answer(name, maxiter, rtol, decades, fallback):
    """Whatever happens, a returned x meets the target on the true residual; otherwise an error."""
    A = ill_conditioned_spd(k=6, decades=decades)
    b = np.cos(np.arange(A.shape[0]))
    s = SequenceSolver(rtol=rtol, policy=f"fixed:{name}", maxiter=maxiter, fallback=fallback)
    try:
        x = s.solve(A, b)
    except ConvergenceError as err:
        assert err.best_residual > rtol
        assert s.history[-1].converged is False
    else:
        # exact rational residual: at rtol near machine epsilon a float64 residual is itself off
        assert exact_meets(A, b, x, rtol, 0.0)
        assert s.history[-1].converged is True
        assert s.history[-1].residual <= rtol


# ----------------------------------------------------------------------------- starts worse than zero
_EVERY_PATH = ["numba-cg", "numba-jacobi-cg", "numba-ssor-cg(omega=1.5)", "cg", "gmres", "bicgstab",
               "amg-cg(rebuild)", "deflated-cg(k=4)", "subdomain-deflated-cg", "sor(omega=1.5)"]


@pytest.mark.parametrize("config", _EVERY_PATH)
@pytest.mark.parametrize("scale", [1e12, 1e200, -1e300])
def test_a_start_far_worse_than_zero_is_solved_without_another_configuration(config, scale):
    """An x0 10¹² times the solution bounds the accuracy a Krylov method reaches (ε·‖A‖·‖x0‖ ≫
    rtol·‖b‖), one of 10²⁰⁰ overflows: both were ConvergenceErrors with ``fallback=False``.  The
    same configuration now starts from zero instead (the compiled kernels at once, the others on a
    retry) and certifies; the record names no other configuration."""
    A = sp.csr_array(poisson2d(12))
    b = np.linspace(1.0, 2.0, A.shape[0])
    s = SequenceSolver(rtol=1e-8, policy=f"fixed:{config}", fallback=False)
    x = s.solve(A, b, x0=np.full(A.shape[0], scale))
    assert_contract(A, b, x, 1e-8)
    assert s.history[-1].fallback in (None, s.history[-1].configuration)


def test_compiled_pcg_scales_its_start_in_the_a_norm():
    """The compiled kernels scale the start, in their first residual pass, by the step that
    minimises CG's A-norm error on its line where that step is beyond a factor 4 either way: a
    multiple of the solution so far off — 10¹² times it (which once stalled at a relative residual
    of 10⁻⁴), a negative or a tiny one — is the solution, no iteration; one within the band is kept; one that overflows starts from zero; one not parallel to the solution about as many
    iterations as zero; one near the solution is kept."""
    from seqsolve.solvers.compiled import pcg

    A = sp.csr_array(poisson2d(15))
    b = np.sin(np.arange(A.shape[0]))
    x_true = sp.linalg.spsolve(sp.csc_matrix(A), b)
    zero = pcg(A, b, rtol=1e-10, preconditioner="ssor", omega=1.5)
    for c in (1e12, -10.0, 1e-3, 0.1, 8.0):  # beyond START_SCALE_BAND (4) either way
        scaled = pcg(A, b, c * x_true, rtol=1e-10, preconditioner="ssor", omega=1.5)
        assert scaled.converged and scaled.iterations == 0, c
    kept = pcg(A, b, 0.5 * x_true, rtol=1e-10, preconditioner="ssor", omega=1.5)  # within it: as given
    assert kept.converged and kept.iterations > 0
    overflowing = pcg(A, b, np.full(A.shape[0], -1e200), rtol=1e-10, preconditioner="ssor", omega=1.5)
    assert overflowing.converged and overflowing.iterations == zero.iterations
    # (a smaller A-norm error than zero's: the residual's tolerance may take one iteration more)
    far = pcg(A, b, np.full(A.shape[0], 1e12), rtol=1e-10, preconditioner="ssor", omega=1.5)
    assert far.converged and far.iterations <= zero.iterations + 1
    near = pcg(A, b, x_true + 1e-6, rtol=1e-10, preconditioner="ssor", omega=1.5)
    assert near.converged and 0 < near.iterations < zero.iterations


@pytest.mark.parametrize("energy", [True, False])
def test_a_scaled_start_is_never_worse_than_zero_nor_the_start_in_the_methods_norm(energy):
    """``scaled_start`` (the Python-loop methods' rule, one product): a start whose optimal scale
    in the norm the method minimises (the A-norm for CG, the residual's otherwise) lies beyond a
    factor 4 is scaled by it, and then has an error no larger than zero's or its own in that norm
    (checked against both on random starts); one within the band is kept as given."""
    from seqsolve.solvers.base import scaled_start

    rng = np.random.default_rng(5)
    A = sp.csr_array(poisson2d(10) + (0 if energy else sp.diags_array(rng.random(99), offsets=1)))
    n = A.shape[0]
    x_true = rng.standard_normal(n)
    b = A @ x_true

    def norm(x):
        e = x_true - x
        return float(e @ (A @ e)) if energy else float(np.linalg.norm(A @ e))

    scaled = 0
    for scale in (1e-3, 1e-2, 0.3, 1.0, 3.0, 1e2, 1e6):
        x0 = scale * (x_true + 0.5 * rng.standard_normal(n))
        Ax = A @ x0
        alpha = (x0 @ b) / (x0 @ Ax) if energy else (Ax @ b) / (Ax @ Ax)  # the optimum on the line
        start = scaled_start(A, b, x0, energy=energy)
        if 0.25 <= abs(alpha) <= 4.0:
            assert start is x0  # kept as given
        else:
            scaled += 1
            assert np.allclose(start, alpha * x0, rtol=1e-9, atol=0)
            assert norm(start) <= min(norm(x0), norm(np.zeros(n))) * (1 + 1e-12)
    assert scaled >= 4
    assert scaled_start(A, b, 10.0 * x_true, energy=energy) == pytest.approx(x_true)
    assert not np.any(scaled_start(A, b, np.full(n, 1e300), energy=energy))  # overflows: zero


@pytest.mark.parametrize("config", ["numba-ssor-cg(omega=1.6)", "cg", "fastdiag-cg", "deflated-cg(k=4)",
                                    "deflated-cg(k=4,preconditioner=ssor)", "subdomain-deflated-cg", "gmres",
                                    "bicgstab", "amg-cg(rebuild)"])
def test_a_shrinking_newton_correction_is_started_from_zero(config):
    """Along a Newton loop each system solves for a correction 100x smaller than the last; the
    previous correction as a start has a residual ~100x ‖b‖.  It is dropped (zero start) by every
    method, so no solve needs more iterations than a cold one, nor a second attempt.  (SciPy's CG
    behind fastdiag-cg kept it, stalled short of the tolerance on every converging Newton step of
    a Bratu problem, and was refined: twice the solve.)"""
    rng = np.random.default_rng(0)
    n = 20 * 20  # (a varying diagonal, as a Jacobian's: no Kronecker sum, fastdiag-cg iterates)
    A = sp.csr_array(poisson2d(20) + sp.diags(rng.uniform(0.0, 2.0, n)))
    warm, cold = SequenceSolver(rtol=1e-8, policy=f"fixed:{config}", fallback=False), \
        SequenceSolver(rtol=1e-8, policy=f"fixed:{config}", warm_start=False, fallback=False)
    for k in range(5):
        x_true = rng.standard_normal(n) * 10.0 ** (-2 * k)
        b = A @ x_true
        for s in (warm, cold):
            assert_contract(A, b, s.solve(A, b), 1e-8)
        assert warm.history[-1].fallback is None
        assert warm.history[-1].iterations <= cold.history[-1].iterations + (k == 0)


# ----------------------------------------------------------------------------- a capped incumbent runs on
class _CappedPolicy(Policy):
    """Always plain CG, capped at ``limit`` iterations; says ``resume`` as told (and records asks)."""

    def __init__(self, limit: int, resume: bool) -> None:
        self.limit, self.answer, self.asked = limit, resume, []
        self.spec = "capped"

    def candidates(self):
        return [parse("numba-cg")]

    def select(self, context=None, *, allowed=None, n=None):
        return self.candidates()[0]

    def update(self, cost, info):
        return self

    def attempt_limit(self):
        return self.limit

    def resume(self, config, remaining_seconds):
        self.asked.append((config.name, remaining_seconds))
        return self.answer


@pytest.mark.parametrize("resume", [True, False])
def test_a_capped_attempt_runs_on_only_when_the_policy_says_so(resume):
    """A cap stops a stale estimate; a system merely harder than the cap assumed is finished by the
    same method from its iterate (one attempt, no fallback) when the policy finds that cheapest."""
    A = poisson2d(16)
    b = np.ones(A.shape[0])
    policy = _CappedPolicy(limit=12, resume=resume)
    s = SequenceSolver(rtol=1e-8, policy=policy)
    x = s.solve(A, b)
    assert_contract(A, b, x, 1e-8)
    np.testing.assert_allclose(x, spsolve_reference(A, b), rtol=1e-6)
    r = s.history[-1]
    assert len(policy.asked) == 1 and policy.asked[0][0] == "numba-cg" and policy.asked[0][1] > 0
    if resume:
        assert r.configuration == "numba-cg" and r.fallback is None and r.iterations > 12
        assert r.converged and r.projected_seconds is None
    else:
        assert r.fallback is not None and r.fallback != "numba-cg"


def spsolve_reference(A, b):
    from scipy.sparse.linalg import spsolve
    return spsolve(sp.csc_array(A), b)
