"""fastdiag-cg follows a Kronecker sum whose axes scale independently, exactly:
``A = β·I + Σ_d α_d·(I⊗K₀_d⊗I)`` costs one fit pass and new eigenvalues, no projection."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from seqsolve import SequenceSolver
from seqsolve.operators import KroneckerSum, Structure
from seqsolve.problems import suite
from seqsolve.solvers import fastdiag
from seqsolve.solvers._drift_kernels import axes_of_entries
from seqsolve.solvers.fastdiag import Prepared
from seqsolve.solvers.fastdiag_lines import LinesPrepared
from seqsolve.solvers.fastdiag_reuse import NearestSumPreconditioner, Snapshot

from test_structured import assembled_sum, spd, tridiag


def variable_tridiag(m: int, seed: int) -> sp.csr_array:
    """A symmetric positive definite tridiagonal factor with varying entries (a 1-D diffusion)."""
    rng = np.random.default_rng(seed)
    e = -(0.5 + rng.random(m - 1))
    a = 2.5 + rng.random(m)
    return sp.csr_array(sp.diags_array([e, a, e], offsets=[-1, 0, 1]))


def pentadiagonal(m: int, seed: int) -> sp.csr_array:
    """An SPD factor with a second band: not tridiagonal, so no line solves along it."""
    rng = np.random.default_rng(seed)
    e1, e2 = -(0.5 + rng.random(m - 1)), 0.1 + 0.1 * rng.random(m - 2)
    a = 4.0 + rng.random(m)
    return sp.csr_array(sp.diags_array([e2, e1, a, e1, e2], offsets=[-2, -1, 0, 1, 2]))


def scaled_sum(factors, alphas, beta) -> sp.csr_array:
    """``β·I + Σ_d α_d·(I⊗F_d⊗I)``, assembled by scipy.sparse.kron, canonical CSR."""
    A = assembled_sum([alpha * sp.csr_array(f) for f, alpha in zip(factors, alphas)], beta, 1.0)
    A.sum_duplicates()
    A.sort_indices()
    return A


#: (factors, whether factor 0 is tridiagonal: the line path) on C-ordered grids of unequal sizes
CASES = {
    "2d-lines": (lambda: [variable_tridiag(11, 1), variable_tridiag(7, 2)], True),
    "2d-folded-lines": (lambda: [variable_tridiag(9, 0), tridiag(10)], True),  # axis 1: sine basis, folded
    "3d-lines": (lambda: [variable_tridiag(5, 4), variable_tridiag(7, 5), variable_tridiag(6, 6)], True),
    "2d-transforms": (lambda: [pentadiagonal(10, 7), variable_tridiag(6, 8)], False),
    "3d-transforms": (lambda: [pentadiagonal(6, 9), variable_tridiag(5, 10), spd(4, 11)], False),
}

#: per-axis scales and shifts along a sequence: the axes move apart (and once all together)
SCHEDULE = [((1.0, 1.0, 1.0), 1.0), ((2.0, 0.5, 1.0), 1.0), ((3.5, 0.25, 0.7), 0.3), ((1.5, 1.5, 1.5), 2.0),
            ((0.2, 4.0, 1.3), 0.0), ((7.0, 1.1, 0.4), 5.0)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_sum_whose_axes_scale_apart_is_followed_exactly(case, monkeypatch):
    make, lines = CASES[case]
    factors = make()
    shape = tuple(f.shape[0] for f in factors)
    solver = SequenceSolver(rtol=1e-10, policy="fixed:fastdiag-cg")
    projections = []
    real = fastdiag.nearest_kronecker_factors
    monkeypatch.setattr(fastdiag, "nearest_kronecker_factors",
                        lambda *a, **k: projections.append(1) or real(*a, **k))
    rng = np.random.default_rng(3)
    decompositions = None
    for step, (alphas, beta) in enumerate(SCHEDULE):
        A = scaled_sum(factors, alphas[:len(shape)], beta)
        b = rng.standard_normal(A.shape[0])
        x = solver.solve(A, b, structure=shape)
        ref = spsolve(sp.csc_array(A), b)
        np.testing.assert_allclose(x, ref, rtol=1e-8, atol=1e-12 * np.abs(ref).max())
        record = solver.history[-1]
        assert record.converged and record.fallback is None
        assert record.iterations == 1, (step, record.iterations)
        if step == 0:
            decompositions = fastdiag.counters["eigendecompositions"]
            continue
        assert record.setup_reused, step
    assert len(projections) <= 1  # the first system's (none when the grid detection projected it)
    assert fastdiag.counters["eigendecompositions"] == decompositions  # no decomposition after the first
    prepared = next(iter(solver._setups.values()))[1]
    assert isinstance(prepared, NearestSumPreconditioner) and prepared.exact and prepared.fresh
    assert isinstance(prepared.inverse, LinesPrepared if lines else Prepared)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_followed_inverse_is_the_inverse_of_the_rescaled_sum(case):
    """Direct check of the new eigenvalues: the followed preconditioner against spsolve, on both paths."""
    factors = CASES[case][0]()
    shape = tuple(f.shape[0] for f in factors)
    method = fastdiag.FastDiagCG("reuse")
    structure = Structure(shape)
    prepared = method.setup(scaled_sum(factors, (1.0, 1.0, 1.0), 1.0), None, structure=structure)
    b = np.random.default_rng(1).standard_normal(prepared.shape[0])
    for alphas, beta in SCHEDULE[1:]:
        A = scaled_sum(factors, alphas[:len(shape)], beta)
        assert method.setup(A, prepared, structure=structure) is prepared
        ref = spsolve(sp.csc_array(A), b)
        np.testing.assert_allclose(prepared.matvec(b), ref, rtol=0, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("shape", [(5, 130), (4, 5, 6)])
def test_weighted_line_and_full_transforms_equal_spsolve(shape):
    """``preconditioner(K, weights)`` on the line path (dense, folded, DST) and the full transform."""
    fs = [tridiag(n, 1.0 + 0.5 * d) for d, n in enumerate(shape)]
    weights = (1.0, 0.3, 2.5)[:len(shape)]
    K = KroneckerSum(fs, shift=0.7, scale=1.9)
    A = assembled_sum([w * f for w, f in zip(weights, fs)], 0.7, 1.9)
    b = np.random.default_rng(2).standard_normal(A.shape[0])
    ref = spsolve(sp.csc_array(A), b)
    method = fastdiag.FastDiagCG()
    lines = method.preconditioner(K, weights)
    assert isinstance(lines, LinesPrepared) and not lines.lifted
    full = Prepared(method.cache.get(K), K.shift, K.scale, weights=weights)
    for inverse in (lines, full):
        np.testing.assert_allclose(inverse.apply(b), ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_a_folded_2d_line_path_follows_per_axis():
    fs = [tridiag(12), tridiag(10)]  # constant: sine bases, persymmetric (the folded transform)
    K = KroneckerSum(fs, shift=0.3, scale=1.0)
    method = fastdiag.FastDiagCG()
    inverse = method.preconditioner(K, (1.0, 3.0))
    assert isinstance(inverse, LinesPrepared) and inverse.lines.fold is not None
    A = assembled_sum([fs[0], 3.0 * fs[1]], 0.3, 1.0)
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    ref = spsolve(sp.csc_array(A), b)
    np.testing.assert_allclose(inverse.apply(b), ref, rtol=0, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("change", ["off-diagonal", "diagonal", "axis-coefficient"])
def test_a_matrix_that_is_not_a_per_axis_scaling_is_not_claimed_exact(change):
    factors = [variable_tridiag(9, 1), variable_tridiag(7, 2), variable_tridiag(5, 3)]
    shape = (9, 7, 5)
    A0 = scaled_sum(factors, (1.0, 1.0, 1.0), 1.0)
    A1 = scaled_sum(factors, (2.0, 0.5, 1.5), 0.4)
    if change == "off-diagonal":  # one coupling of one axis changed by 1e-9
        bad = A1.copy()
        k = np.flatnonzero(np.repeat(np.arange(bad.shape[0]), np.diff(bad.indptr)) != bad.indices)[17]
        bad.data[k] *= 1 + 1e-9
    elif change == "diagonal":
        bad = sp.csr_array(A1 + sp.csr_array(([1e-6], ([40], [40])), shape=A1.shape))
    else:  # one coefficient of factor 1 changed: still a Kronecker sum, but not a rescaling of A0's
        f1 = factors[1].tolil()
        f1[3, 4] = f1[4, 3] = f1[3, 4] * 1.3
        bad = scaled_sum([factors[0], sp.csr_array(f1), factors[2]], (2.0, 0.5, 1.5), 0.4)
    method = fastdiag.FastDiagCG("adaptive")
    structure = Structure(shape)
    prepared = method.setup(A0, None, structure=structure)
    assert prepared.exact and prepared.snapshot.kron is not None
    drift = prepared.snapshot.drift(A1, shape)
    # the axis parts are the canonical factors (zero-mean diagonals): β holds the rest of the diagonal
    assert drift.exact and drift.alphas == pytest.approx((2.0, 0.5, 1.5), rel=1e-12)
    means = [np.mean(f.diagonal()) for f in factors]
    assert drift.beta == pytest.approx(0.4 + sum(a * t for a, t in zip((2.0, 0.5, 1.5), means)), rel=1e-12)
    drift = prepared.snapshot.drift(bad, shape)
    assert drift is not None and not drift.exact and drift.alphas is None
    # the solver still meets the tolerance: a stale reuse or a rebuild, never the one exact step
    solver = SequenceSolver(rtol=1e-10, policy="fixed:fastdiag-cg")
    b = np.random.default_rng(5).standard_normal(A0.shape[0])
    for A in (A0, bad):
        x = solver.solve(A, b, structure=shape)
        ref = spsolve(sp.csc_array(A), b)
        np.testing.assert_allclose(x, ref, rtol=1e-8, atol=1e-12 * np.abs(ref).max())
        assert np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b)
    record = solver.history[-1]
    assert record.converged and (record.iterations > 1 or not record.setup_reused)


def test_a_scalar_and_shift_is_still_followed_by_the_scalar_fit():
    factors = [variable_tridiag(8, 1), variable_tridiag(6, 2)]
    A0 = scaled_sum(factors, (1.0, 1.0), 1.0)
    method = fastdiag.FastDiagCG("reuse")
    prepared = method.setup(A0, None, structure=Structure((8, 6)))
    drift = prepared.snapshot.drift(sp.csr_array(2.0 * A0 + 0.5 * sp.eye_array(48)), (8, 6))
    assert drift.exact and drift.alphas is None and drift.alpha == pytest.approx(2.0)
    assert drift.beta == pytest.approx(0.5)


def test_a_variable_coefficient_snapshot_is_never_fitted_per_axis():
    from seqsolve.problems.heat2d import variable_diffusion

    m = 13
    A0 = sp.csr_array(sp.eye_array(m * m) + 1e-2 * variable_diffusion(m, lambda x, y: 1 + x * y))
    prepared = fastdiag.FastDiagCG("reuse").setup(A0, None, structure=Structure((m, m)))
    assert not prepared.base_exact and prepared.snapshot.kron is None
    drift = prepared.snapshot.drift(sp.csr_array(3.0 * A0), (m, m))
    assert drift.exact and drift.alphas is None  # the scalar fit, as before


def test_a_nonpositive_axis_scale_is_not_followed_per_axis():
    factors = [variable_tridiag(6, 1), variable_tridiag(5, 2)]
    snap_method = fastdiag.FastDiagCG("reuse")
    prepared = snap_method.setup(scaled_sum(factors, (1.0, 1.0), 1.0), None, structure=Structure((6, 5)))
    flipped = scaled_sum(factors, (1.0, -1.0), 20.0)
    drift = prepared.snapshot.drift(flipped, (6, 5))
    assert drift is not None and drift.alphas is None and not drift.exact


def test_the_entry_axes_match_a_numpy_reference():
    shape = (4, 3, 5)
    factors = [sp.csr_array(np.ones((n, n))) for n in shape]  # dense factors: every coupling on an axis
    A = assembled_sum(factors, 1.0, 1.0).tolil()
    A[0, 59] = A[7, 33] = 0.5  # two entries coupling several axes
    A = sp.csr_array(A)
    A.sort_indices()
    axis, k_axes = axes_of_entries(A.indptr, A.indices, A.data, np.array(shape, dtype=np.int64))
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    r, c = np.array(np.unravel_index(rows, shape)), np.array(np.unravel_index(A.indices, shape))
    differ = r != c
    ref = np.where(differ.sum(0) == 0, 3, np.where(differ.sum(0) == 1, np.argmax(differ, axis=0), 4))
    np.testing.assert_array_equal(axis, ref)
    for d in range(3):
        on = np.flatnonzero((ref == d) & (A.data != 0))
        assert k_axes[d] == on[np.argmax(np.abs(A.data[on]))]


def test_heat3d_aniso_is_solved_by_one_step_per_system():
    problem = suite()["heat3d-aniso"].make("test")
    solver = SequenceSolver(policy="fixed:fastdiag-cg")
    for _ in range(12):
        system = problem.system()
        x = solver.solve(system.A, system.b, context=system.context)
        assert np.linalg.norm(system.b - system.A @ x) <= 1e-8 * np.linalg.norm(system.b)
        problem.accept(x)
    assert [r.iterations for r in solver.history] == [1] * 12
    assert [r.setup_reused for r in solver.history] == [False] + [True] * 11
