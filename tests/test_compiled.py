"""Tests of the compiled (Numba) PCG kernel, ``seqsolve.solvers.compiled``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyamg
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyamg import amg_core
from scipy.sparse.linalg import LinearOperator, cg, spsolve

from seqsolve.solvers.compiled import (
    PRECONDITIONERS,
    CompiledResult,
    PreparedMatrix,
    _apply_preconditioner,
    csr_matvec,
    pcg,
    prepare,
)

PCS = list(PRECONDITIONERS)


def poisson(nx: int) -> sp.csr_array:
    """2D 5-point Poisson matrix (pyamg gallery) on an ``nx x nx`` grid."""
    return sp.csr_array(pyamg.gallery.poisson((nx, nx), format="csr"))


def poisson_lambda_min(nx: int) -> float:
    """Smallest eigenvalue of :func:`poisson` (``nx x nx`` interior grid)."""
    return 8.0 * np.sin(np.pi / (2 * (nx + 1))) ** 2


def scipy_cg_iterations(A, b, rtol: float, M=None) -> int:
    count = [0]

    def cb(_x):
        count[0] += 1

    _, info = cg(A, b, rtol=rtol, atol=0.0, M=M, callback=cb)
    assert info == 0
    return count[0]


def assert_solves(A, b, res: CompiledResult, rtol: float, atol: float, lam_min: float) -> None:
    """True residual meets the target (recomputed with SciPy) and x is close to spsolve's."""
    bnorm = np.linalg.norm(b)
    target = max(rtol * bnorm, atol)
    assert res.converged and res.status == "converged"
    true_res = np.linalg.norm(b - A @ res.x)
    assert true_res <= target * (1 + 1e-6) + 1e-14 * bnorm
    assert res.residual_norm == pytest.approx(true_res, rel=1e-6, abs=1e-14 * bnorm)
    x_exact = spsolve(sp.csc_array(A), b)
    # ||x - x*|| <= ||A^{-1}|| ||b - A x|| <= ||r|| / lambda_min
    assert np.linalg.norm(res.x - x_exact) <= true_res / lam_min * (1 + 1e-6) + 1e-12 * (
        np.linalg.norm(x_exact) + 1
    )


# --------------------------------------------------------------------------------------------
# agreement with a direct solve
# --------------------------------------------------------------------------------------------


@st.composite
def spd_systems(draw):
    n = draw(st.integers(1, 60))
    density = draw(st.floats(0.02, 0.5))
    shift = draw(st.floats(0.05, 5.0))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    B = sp.random_array(
        (n, n), density=density, rng=rng, data_sampler=lambda size: rng.uniform(-1, 1, size)
    )
    A = sp.csr_array(B @ B.T + shift * sp.eye_array(n))
    b = rng.standard_normal(n)
    return A, b, shift


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    system=spd_systems(),
    log_rtol=st.floats(-10.0, -4.0),
    pc=st.sampled_from(PCS),
    omega=st.floats(0.2, 1.9),
)
def test_random_spd_matches_spsolve(system, log_rtol, pc, omega):
    A, b, shift = system
    rtol = 10.0**log_rtol
    res = pcg(A, b, rtol=rtol, preconditioner=pc, omega=omega)
    assert res.x.shape == b.shape
    assert_solves(A, b, res, rtol, 0.0, lam_min=shift)


@pytest.mark.parametrize("pc", PCS)
def test_poisson_2d_matches_spsolve(pc):
    nx = 25
    A = poisson(nx)
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    res = pcg(A, b, rtol=1e-9, preconditioner=pc, omega=1.6)
    assert_solves(A, b, res, 1e-9, 0.0, lam_min=poisson_lambda_min(nx))


def test_atol_dominates_when_larger():
    A = poisson(20)
    b = np.random.default_rng(1).standard_normal(A.shape[0])
    loose = pcg(A, b, rtol=1e-12, atol=1e-2)
    tight = pcg(A, b, rtol=1e-12)
    assert loose.converged and loose.residual_norm <= 1e-2
    assert loose.iterations < tight.iterations


def test_x0_is_used_and_not_modified():
    A = poisson(15)
    b = np.random.default_rng(2).standard_normal(A.shape[0])
    x_exact = spsolve(sp.csc_array(A), b)
    x0 = x_exact.copy()
    res = pcg(A, b, x0, rtol=1e-8)
    assert res.iterations == 0 and res.converged
    np.testing.assert_array_equal(x0, x_exact)
    assert res.x is not x0
    near = pcg(A, b, x_exact + 1e-6, rtol=1e-8)
    far = pcg(A, b, rtol=1e-8)
    assert near.iterations < far.iterations


# --------------------------------------------------------------------------------------------
# iteration counts
# --------------------------------------------------------------------------------------------


def test_cg_iterations_match_scipy():
    A = poisson(40)
    b = np.random.default_rng(3).standard_normal(A.shape[0])
    for rtol in (1e-5, 1e-8):
        res = pcg(A, b, rtol=rtol)
        assert res.converged
        assert abs(res.iterations - scipy_cg_iterations(A, b, rtol)) <= 2


def test_ssor_matches_pyamg_sweeps():
    """M^{-1} r equals a forward SOR sweep from zero then a backward sweep (PyAMG)."""
    A = poisson(12)
    n = A.shape[0]
    P = prepare(A)
    r = np.random.default_rng(4).standard_normal(n)
    for omega in (0.7, 1.0, 1.6):
        z = np.empty(n)
        rz = _apply_preconditioner(
            P.indptr, P.indices, P.data, P.inv_diag, P.diag_pos, 2, omega, r, z
        )
        ref = np.zeros(n)
        amg_core.sor_gauss_seidel(A.indptr, A.indices, A.data, ref, r, 0, n, 1, omega)
        amg_core.sor_gauss_seidel(A.indptr, A.indices, A.data, ref, r, n - 1, -1, -1, omega)
        np.testing.assert_allclose(z, ref, rtol=1e-13, atol=1e-13)
        assert rz == pytest.approx(r @ ref, rel=1e-12)


def test_ssor_iterations_match_scipy_with_pyamg_ssor():
    A = poisson(30)
    n = A.shape[0]
    b = np.random.default_rng(5).standard_normal(n)
    omega = 1.5

    def apply(r):
        z = np.zeros(n)
        r = np.ascontiguousarray(r, dtype=float).ravel()
        amg_core.sor_gauss_seidel(A.indptr, A.indices, A.data, z, r, 0, n, 1, omega)
        amg_core.sor_gauss_seidel(A.indptr, A.indices, A.data, z, r, n - 1, -1, -1, omega)
        return z

    M = LinearOperator((n, n), matvec=apply, dtype=float)
    res = pcg(A, b, rtol=1e-8, preconditioner="ssor", omega=omega)
    assert res.converged
    assert abs(res.iterations - scipy_cg_iterations(A, b, 1e-8, M=M)) <= 2


def test_ssor_omega_changes_iterations_and_overrelaxation_wins():
    A = poisson(50)
    b = np.random.default_rng(6).standard_normal(A.shape[0])
    its = {}
    for omega in (1.0, 1.3, 1.7, 1.8, 1.9):
        res = pcg(A, b, rtol=1e-8, preconditioner="ssor", omega=omega)
        assert res.converged
        its[omega] = res.iterations
    assert len(set(its.values())) > 1
    for omega in (1.7, 1.8, 1.9):
        assert its[omega] < its[1.0], its
    assert its[1.0] < pcg(A, b, rtol=1e-8).iterations


def test_jacobi_beats_plain_cg_on_badly_scaled_matrix():
    A = poisson(30)
    n = A.shape[0]
    rng = np.random.default_rng(7)
    S = sp.diags_array(10.0 ** rng.uniform(-3, 3, n))
    As = sp.csr_array(S @ A @ S)  # symmetric scaling keeps it SPD
    b = rng.standard_normal(n)
    plain = pcg(As, b, rtol=1e-8, maxiter=3000)
    jac = pcg(As, b, rtol=1e-8, preconditioner="jacobi", maxiter=3000)
    assert jac.converged
    assert (not plain.converged) or plain.iterations > 2 * jac.iterations


# --------------------------------------------------------------------------------------------
# statuses and edge cases
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pc", PCS)
def test_negative_definite_is_reported_indefinite(pc):
    A = sp.csr_array(-poisson(10))
    b = np.ones(A.shape[0])
    res = pcg(A, b, preconditioner=pc)
    assert res.status == "indefinite"
    assert not res.converged
    assert res.residual_norm == pytest.approx(np.linalg.norm(b - A @ res.x))


def test_indefinite_never_reports_a_wrong_answer():
    rng = np.random.default_rng(8)
    for trial in range(20):
        n = 40
        d = rng.uniform(-1, 3, n)
        A = sp.csr_array(sp.diags_array(d) + 0.1 * sp.random_array((n, n), density=0.1, rng=rng))
        A = sp.csr_array(A + A.T)
        b = rng.standard_normal(n)
        res = pcg(A, b, rtol=1e-8, maxiter=200)
        assert res.status in ("indefinite", "converged", "maxiter", "breakdown")
        if res.converged:
            assert np.linalg.norm(b - A @ res.x) <= 1e-8 * np.linalg.norm(b) * (1 + 1e-6)
    # b along a negative eigenvector: p^T A p < 0 at the first step
    A = sp.csr_array(sp.diags_array(np.array([-2.0, 1.0, 3.0])))
    res = pcg(A, np.array([1.0, 0.0, 0.0]))
    assert res.status == "indefinite" and res.iterations == 0


@pytest.mark.parametrize("pc", PCS)
def test_zero_rhs_gives_zero(pc):
    A = poisson(8)
    b = np.zeros(A.shape[0])
    res = pcg(A, b, x0=np.ones(A.shape[0]), preconditioner=pc)
    assert res.iterations == 0 and res.converged and res.status == "converged"
    np.testing.assert_array_equal(res.x, 0.0)
    assert res.residual_norm == 0.0


@pytest.mark.parametrize("pc", PCS)
def test_maxiter_exhausted(pc):
    A = poisson(30)
    b = np.random.default_rng(9).standard_normal(A.shape[0])
    res = pcg(A, b, rtol=1e-10, maxiter=5, preconditioner=pc)
    assert not res.converged
    assert res.status == "maxiter"
    assert res.iterations == 5
    assert res.residual_norm == pytest.approx(np.linalg.norm(b - A @ res.x))
    zero = pcg(A, b, maxiter=0, preconditioner=pc)
    assert zero.status == "maxiter" and zero.iterations == 0
    np.testing.assert_array_equal(zero.x, 0.0)


def test_default_maxiter_is_ten_n():
    off = np.full(49, 0.4)
    A = sp.csr_array(sp.diags_array([off, np.logspace(0, 14, 50), off], offsets=[-1, 0, 1]))
    res = pcg(A, np.ones(50), rtol=1e-15)  # plain CG cannot reach this: cond(A) ~ 1e14
    assert not res.converged and res.iterations <= 500


def test_nan_rhs_reports_nan():
    A = poisson(5)
    b = np.ones(A.shape[0])
    b[3] = np.nan
    res = pcg(A, b)
    assert res.status == "nan" and not res.converged and res.iterations == 0
    x0 = np.zeros(A.shape[0])
    x0[0] = np.inf  # a start whose residual is not finite is worse than zero: it starts from zero
    res, zero = pcg(A, np.ones(A.shape[0]), x0), pcg(A, np.ones(A.shape[0]))
    assert res.converged and res.iterations == zero.iterations and np.array_equal(res.x, zero.x)


def test_recurrence_drift_restarts_from_true_residual():
    A = poisson(30)
    b = np.random.default_rng(1).standard_normal(A.shape[0])
    bnorm = np.linalg.norm(b)
    res = pcg(A, b, rtol=1e-15)
    # at this tolerance the recursive residual drifts below the true one: restarts kick in
    assert res.restarts >= 1
    true_res = np.linalg.norm(b - A @ res.x)
    if res.converged:
        assert true_res <= 1e-15 * bnorm * (1 + 1e-6)
    else:
        assert res.status == "breakdown"
    # an unreachable target ends in "breakdown" after the restarts, not an endless loop
    hopeless = pcg(A, b, rtol=1e-17)
    assert hopeless.status == "breakdown" and not hopeless.converged
    assert hopeless.restarts == 3 and hopeless.iterations < 10 * A.shape[0]


def test_small_systems():
    res = pcg(sp.csr_array(np.array([[4.0]])), np.array([2.0]), rtol=1e-12)
    assert res.converged and res.x[0] == pytest.approx(0.5)
    for pc in PCS:
        res = pcg(sp.csr_array(np.array([[4.0]])), np.array([2.0]), preconditioner=pc)
        assert res.x[0] == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pc", PCS)
def test_int32_and_int64_indices(pc):
    A32 = poisson(20)
    assert A32.indices.dtype == np.int32
    A64 = sp.csr_array(
        (A32.data.copy(), A32.indices.astype(np.int64), A32.indptr.astype(np.int64)),
        shape=A32.shape,
    )
    assert A64.indices.dtype == np.int64 and A64.indptr.dtype == np.int64
    b = np.random.default_rng(10).standard_normal(A32.shape[0])
    r32 = pcg(A32, b, rtol=1e-8, preconditioner=pc, omega=1.5)
    r64 = pcg(A64, b, rtol=1e-8, preconditioner=pc, omega=1.5)
    assert r32.converged and r64.converged
    assert r32.iterations == r64.iterations
    np.testing.assert_array_equal(r32.x, r64.x)


def test_int64_kernel_path():
    """Matrices over 2^31 entries keep int64 indices: the kernels work on them too."""
    A = poisson(12)
    P = prepare(A)
    P64 = dataclasses.replace(
        P,
        indptr=P.indptr.astype(np.int64),
        indices=P.indices.astype(np.int64),
        diag_pos=P.diag_pos.astype(np.int64),
    )
    b = np.random.default_rng(11).standard_normal(A.shape[0])
    for pc in PCS:
        a = pcg(P, b, rtol=1e-8, preconditioner=pc, omega=1.3)
        c = pcg(P64, b, rtol=1e-8, preconditioner=pc, omega=1.3)
        assert a.iterations == c.iterations
        np.testing.assert_array_equal(a.x, c.x)


def test_matrix_formats_and_prepared_object():
    A = poisson(10)
    b = np.random.default_rng(12).standard_normal(A.shape[0])
    ref = pcg(A, b, rtol=1e-10, preconditioner="ssor")
    P = prepare(A)
    assert isinstance(P, PreparedMatrix) and prepare(P) is P
    assert P.shape == A.shape and P.nnz == A.nnz
    for M in (sp.csr_matrix(A), A.tocsc(), A.tocoo(), sp.coo_matrix(A), P):
        res = pcg(M, b, rtol=1e-10, preconditioner="ssor")
        assert res.iterations == ref.iterations
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-12, atol=1e-14)
    # (n, 1) right-hand sides are accepted and flattened
    res = pcg(P, b[:, None], rtol=1e-10, preconditioner="ssor")
    np.testing.assert_array_equal(res.x, ref.x)


def test_noncanonical_matrix_is_not_modified():
    # duplicates and unsorted column indices within rows
    indptr = np.array([0, 3, 5, 7], dtype=np.int32)
    indices = np.array([2, 0, 0, 1, 0, 2, 1], dtype=np.int32)
    data = np.array([-1.0, 2.0, 2.0, 4.0, -1.0, 5.0, 0.0])
    A = sp.csr_array((data, indices, indptr), shape=(3, 3))
    before = (A.indptr.copy(), A.indices.copy(), A.data.copy())
    P = prepare(A)
    for arr, old in zip((A.indptr, A.indices, A.data), before):
        np.testing.assert_array_equal(arr, old)
    dense = A.toarray()
    rebuilt = sp.csr_array((P.data, P.indices, P.indptr), shape=(3, 3)).toarray()
    np.testing.assert_allclose(rebuilt, dense)
    np.testing.assert_allclose(1.0 / P.inv_diag, np.diag(dense))
    b = np.array([1.0, 2.0, 3.0])
    res = pcg(A, b, rtol=1e-12, preconditioner="ssor")
    np.testing.assert_allclose(res.x, np.linalg.solve(dense, b), rtol=1e-10)


def test_csr_matvec():
    A = sp.csr_array(sp.random_array((50, 50), density=0.2, rng=np.random.default_rng(13)))
    x = np.random.default_rng(14).standard_normal(50)
    out = np.empty(50)
    P = prepare(A)
    assert csr_matvec(P, x, out) is out
    np.testing.assert_allclose(out, A @ x, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(csr_matvec(A, x), A @ x, rtol=1e-14, atol=1e-14)
    with pytest.raises(ValueError):
        csr_matvec(P, x[:10], out)


def test_validation_errors():
    A = poisson(5)
    n = A.shape[0]
    b = np.ones(n)
    with pytest.raises(ValueError, match="'none', 'jacobi', 'ssor'"):
        pcg(A, b, preconditioner="ilu")
    for omega in (0.0, 2.0, -0.5, 2.5, float("nan")):
        with pytest.raises(ValueError, match="omega"):
            pcg(A, b, preconditioner="ssor", omega=omega)
    assert pcg(A, b, preconditioner="none", omega=5.0).converged  # omega only matters for SSOR
    Z = sp.lil_array(A)
    Z[2, 2] = 0.0
    Z = sp.csr_array(Z)  # explicit zero on the diagonal
    M = sp.csr_array(A - sp.diags_array(A.diagonal()) + sp.diags_array(np.r_[np.ones(n - 1), 0.0]))
    M.eliminate_zeros()  # missing diagonal entry
    for bad in (Z, M):
        for pc in ("jacobi", "ssor"):
            with pytest.raises(ValueError, match="diagonal"):
                pcg(bad, b, preconditioner=pc)
    with pytest.raises(ValueError):
        pcg(A, np.ones(n + 1))
    with pytest.raises(ValueError):
        pcg(A, b, x0=np.ones(n - 1))
    with pytest.raises(ValueError):
        pcg(A, b, rtol=-1.0)
    with pytest.raises(ValueError):
        pcg(A, b, maxiter=-1)
    with pytest.raises(ValueError):
        pcg(sp.csr_array(np.ones((2, 3))), np.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        pcg(sp.csr_array(np.array([[np.nan]])), np.ones(1))
    with pytest.raises(TypeError):
        pcg(A.toarray(), b)
    with pytest.raises(NotImplementedError, match="callback"):
        pcg(A, b, callback=lambda x: None)


def test_result_is_frozen():
    res = pcg(poisson(4), np.ones(16))
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.iterations = 3  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Method adapter
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pc", PCS)
def test_method_adapter(pc):
    from seqsolve.solvers.base import IterationResult
    from seqsolve.solvers.compiled import CompiledPCG

    A = poisson(15)
    b = np.random.default_rng(15).standard_normal(A.shape[0])
    m = CompiledPCG(pc, 1.4)
    assert m.spd_only and m.needs_matrix
    P = m.setup(A, None)
    res = m.solve(P, A, b, np.zeros(A.shape[0]), rtol=1e-9, atol=0.0, maxiter=1000)
    assert isinstance(res, IterationResult) and res.status == "converged"
    ref = pcg(A, b, rtol=1e-9, preconditioner=pc, omega=1.4)
    assert res.iterations == ref.iterations
    np.testing.assert_array_equal(res.x, ref.x)
    with pytest.raises(ValueError):
        CompiledPCG("ilu")
    with pytest.raises(ValueError):
        CompiledPCG("ssor", 2.0)


def test_sequence_solver_runs_compiled_configuration():
    import seqsolve

    A = poisson(12)
    b = np.random.default_rng(16).standard_normal(A.shape[0])
    s = seqsolve.SequenceSolver(rtol=1e-8, policy="fixed:numba-ssor-cg(omega=1.5)")
    x = s.solve(A, b)
    assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b) * (1 + 1e-6)


# --------------------------------------------------------------------------------------------
# prepare along a sequence: the pattern's diagonal positions are reused, the values never
# --------------------------------------------------------------------------------------------


def test_prepare_reuses_diagonal_positions_of_same_pattern_only():
    A = poisson(9)
    P = prepare(A)
    B = A.copy()
    B.data *= 2.0
    Q = prepare(B, P)
    assert Q.diag_pos is P.diag_pos  # same pattern: searched once
    np.testing.assert_array_equal(Q.inv_diag, prepare(B).inv_diag)  # values read afresh
    C = sp.csr_array(A + sp.eye_array(A.shape[0], k=2, format="csr"))  # a new pattern
    R = prepare(C, P)
    assert R.diag_pos is not P.diag_pos
    np.testing.assert_array_equal(R.diag_pos, prepare(C).diag_pos)


def test_prepare_reuse_survives_in_place_changes_of_the_pattern():
    """A pattern changed in place after prepare is not mistaken for the one diag_pos was found for."""
    A = sp.csr_array(np.array([[4.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 4.0]]))
    P = prepare(A)
    # same structure sizes, another pattern: row 0 now holds (0, 2) instead of (0, 1)
    A.indices[1] = 2
    Q = prepare(A, P)
    np.testing.assert_array_equal(Q.diag_pos, prepare(A).diag_pos)
    np.testing.assert_array_equal(Q.inv_diag, prepare(A).inv_diag)


def test_prepare_proves_reused_diagonal_positions_against_the_new_pattern():
    """Same n and nnz, another pattern: the old diagonal positions are not this matrix's, and the
    O(n) check (each position in its row, holding column i) sees it without comparing patterns."""
    A = sp.csr_array(np.array([[4.0, 1.0, 0.0], [1.0, 4.0, 0.0], [0.0, 0.0, 4.0]]))
    B = sp.csr_array(np.array([[4.0, 0.0, 0.0], [1.0, 4.0, 0.0], [0.0, 1.0, 4.0]]))  # nnz 5 both
    P = prepare(A)
    Q = prepare(B, P)
    np.testing.assert_array_equal(Q.diag_pos, prepare(B).diag_pos)
    np.testing.assert_array_equal(Q.inv_diag, prepare(B).inv_diag)
    # a previous with a missing diagonal is never trusted for the rows it lacks
    C = sp.csr_array(np.array([[0.0, 1.0], [1.0, 2.0]]))
    C.eliminate_zeros()
    D = sp.csr_array(np.array([[3.0, 1.0], [0.0, 2.0]]))  # same nnz, diagonal now present
    R = prepare(D, prepare(C))
    assert not R.has_zero_diagonal
    np.testing.assert_array_equal(R.inv_diag, [1 / 3, 0.5])


def test_prepare_finite_hint_skips_only_the_finiteness_pass():
    A = poisson(5)
    B = A.copy()
    B.data[3] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        prepare(B)
    P = prepare(B, finite=True)  # the caller vouched (wrongly here): no pass, same arrays
    assert P.data is B.data


def test_prepare_still_rejects_non_finite_values_on_reuse():
    A = poisson(5)
    P = prepare(A)
    B = A.copy()
    B.data[3] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        prepare(B, P)


def test_prepare_marks_zero_and_missing_diagonals_inf():
    A = sp.csr_array(np.array([[0.0, 1.0, 0.0], [1.0, -0.0, 1.0], [0.0, 1.0, 2.0]]))
    A.eliminate_zeros()  # (0, 0) and (1, 1) are now missing
    P = prepare(A)
    assert P.has_zero_diagonal
    np.testing.assert_array_equal(P.inv_diag, [np.inf, np.inf, 0.5])
    B = sp.csr_array(np.array([[1.0, 1.0], [1.0, 1.0]]))
    B.data[3] = -0.0
    Q = prepare(B)
    assert Q.has_zero_diagonal and Q.inv_diag[1] == np.inf



# --------------------------------------------------------------------------------------------
# the last true residual is the certified check's own pass
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pc,eisenstat", [("none", True), ("jacobi", True), ("ssor", True), ("ssor", False)])
def test_residual_pass_is_exactly_the_checks_pass(pc, eisenstat):
    from seqsolve.accuracy import check_residual, norm

    A = poisson(20)
    b = np.random.default_rng(3).standard_normal(A.shape[0])
    res = pcg(A, b, np.ones(A.shape[0]), rtol=1e-8, preconditioner=pc, omega=1.5, eisenstat=eisenstat)
    assert res.residual_pass is not None
    bnorm = norm(b)
    for target in (1e-8 * bnorm, 1e-3 * bnorm, 1e-20 * bnorm):  # met, easily met, inconclusive/unmet
        full = check_residual(A, b, res.x, bnorm, target)
        handed = check_residual(A, b, res.x, bnorm, target, res.residual_pass)
        assert (full.residual, full.upper, full.error_bound) == (handed.residual, handed.upper, handed.error_bound)
    assert pcg(A, np.zeros(A.shape[0])).residual_pass is None  # no pass ran


def _count_check_passes(monkeypatch):
    from seqsolve import _residual_kernels, accuracy

    accuracy.warmup()
    calls = []
    real = _residual_kernels.residual_with_bound
    monkeypatch.setattr(_residual_kernels, "residual_with_bound", lambda *a: calls.append(1) or real(*a))
    return calls


def test_solver_certifies_with_the_kernels_pass(monkeypatch):
    import seqsolve

    calls = _count_check_passes(monkeypatch)
    A = poisson(12)
    s = seqsolve.SequenceSolver(policy="fixed:numba-ssor-cg(omega=1.6)")
    for k in range(3):
        # (b moves too: for A scaled alone the scaled previous solution solves it, no iteration)
        b = np.ones(A.shape[0]) + 0.5 * k * np.sin(np.arange(A.shape[0]))
        x = s.solve(A * (1.0 + k), b)
        assert np.linalg.norm(b - (A * (1.0 + k)) @ x) <= 1e-8 * np.linalg.norm(b)
        assert s.history[-1].iterations > 0
    assert calls == []  # the check reused the kernel's last residual pass every time
    s.solve(A * 5.0, b, callback=lambda xk: None)  # a callback may change x: checked afresh
    assert len(calls) == 1


def test_solver_checks_afresh_when_x_was_changed_by_the_callback(monkeypatch):
    import seqsolve
    from seqsolve.errors import ConvergenceError

    A = poisson(12)
    b = np.ones(A.shape[0])
    s = seqsolve.SequenceSolver(policy="fixed:numba-cg", fallback=False)
    with pytest.raises(ConvergenceError):  # the spoiled iterate must not pass on the kernel's residual
        s.solve(A, b, callback=lambda xk: xk.__setitem__(slice(None), 1e3))
