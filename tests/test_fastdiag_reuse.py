"""fastdiag-cg's setup reuse: exact scalar-plus-shift follows, stale reuse, rent-or-buy rebuilds."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from seqsolve import SequenceSolver
from seqsolve.configs import parse
from seqsolve.operators import Structure
from seqsolve.problems.heat2d import variable_diffusion as diffusion_matrix
from seqsolve.solvers import fastdiag
from seqsolve.solvers.fastdiag_reuse import NearestSumPreconditioner, Snapshot




def bumpy(x, y):
    return 1 + 0.5 * np.sin(2 * np.pi * x) * np.sin(2 * np.pi * y) + 0.3 * np.cos(6 * np.pi * x * y)


def front(s: float):
    """A conductivity front (1 → 10) at ``x = 0.2 + 0.6 s``: as ``s`` moves, an old projection goes stale."""
    return lambda x, y: 1 + 9 / (1 + np.exp(-(x - 0.2 - 0.6 * s) / 0.05))


def crank_nicolson(L: sp.csr_array, c: float) -> sp.csr_array:
    return sp.csr_array(sp.eye_array(L.shape[0], format="csr") + c * L)


def drifting(name: str, m: int = 31, steps: int = 20) -> tuple[SequenceSolver, list[np.ndarray], list]:
    solver = SequenceSolver(policy=f"fixed:{name}")
    xs, As = [], []
    for k in range(steps):
        A = crank_nicolson(diffusion_matrix(m, front(k / (steps - 1))), 1e-2)
        xs.append(solver.solve(A, np.ones(m * m), structure=(m, m)))
        As.append(A)
    return solver, xs, As


def test_the_setup_parameter_names_the_schedule_and_defaults_to_adaptive():
    assert parse("fastdiag-cg").get("setup") == "adaptive"
    assert parse("fastdiag-cg").name == "fastdiag-cg"
    assert parse("fastdiag-cg(rebuild)").name == "fastdiag-cg(rebuild)"
    assert fastdiag.build(parse("fastdiag-cg(reuse)")).schedule_name == "reuse"
    with pytest.raises(ValueError):
        fastdiag.FastDiagCG("sometimes")


def test_a_scalar_plus_shift_change_is_followed_exactly_without_projecting(monkeypatch):
    m = 23
    L = diffusion_matrix(m, bumpy)
    A0, A1 = crank_nicolson(L, 3e-3), crank_nicolson(L, 7.5e-3)  # c(t) changed: A1 = α·A0 + (1 − α)·I
    structure = Structure((m, m))
    method = fastdiag.FastDiagCG("reuse")
    prev = method.setup(A0, None, structure=structure)
    projections = []
    real = fastdiag.nearest_kronecker_factors
    monkeypatch.setattr(fastdiag, "nearest_kronecker_factors", lambda *a, **k: projections.append(1) or real(*a, **k))
    followed = method.setup(A1, prev, structure=structure)
    assert followed is prev and followed.fresh and projections == []  # reused in place, no projection
    rebuilt = fastdiag.FastDiagCG("rebuild").setup(A1, None, structure=structure)
    assert len(projections) == 1
    b = np.random.default_rng(0).standard_normal(m * m)
    ref = rebuilt.matvec(b)
    np.testing.assert_allclose(followed.matvec(b), ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_a_change_beyond_scale_and_shift_is_not_taken_for_one():
    m = 15
    A0 = crank_nicolson(diffusion_matrix(m, bumpy), 1e-2)
    snap = Snapshot(A0, (m, m))
    exact = snap.drift(sp.csr_array(2.0 * A0 + 0.5 * sp.eye_array(m * m, format="csr")), (m, m))
    assert exact.exact and exact.alpha == pytest.approx(2.0) and exact.beta == pytest.approx(0.5)
    A1 = A0.copy()
    A1.data[7] *= 1 + 1e-9
    assert not snap.drift(A1, (m, m)).exact
    assert snap.drift(A0, (m + 2, m - 2)) is None  # another grid
    A2 = sp.csr_array(A0 + 1e-3 * sp.eye_array(m * m, k=2 * m))  # another pattern
    assert snap.drift(A2, (m, m)) is None


@pytest.mark.parametrize("schedule", ["reuse", "adaptive"])
def test_reuse_gives_the_converged_answer_of_rebuild(schedule):
    ref, xs_ref, As = drifting("fastdiag-cg(rebuild)")
    solver, xs, _ = drifting(f"fastdiag-cg({schedule})")
    assert sum(r.setup_reused for r in solver.history) > 0
    assert all(r.converged and r.fallback is None for r in solver.history)
    for A, x, x_ref in zip(As, xs, xs_ref):
        b = np.ones(A.shape[0])
        assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
        np.testing.assert_allclose(x, x_ref, rtol=0, atol=1e-6 * np.abs(x_ref).max())


def test_adaptive_projects_again_when_the_iterations_grow():
    runs = {s: drifting(f"fastdiag-cg({s})")[0] for s in ("rebuild", "reuse", "adaptive")}
    its = {s: sum(r.iterations for r in solver.history) for s, solver in runs.items()}
    builds = {s: sum(not r.setup_reused for r in solver.history) for s, solver in runs.items()}
    assert builds["rebuild"] == 20 and builds["reuse"] == 1
    assert 1 < builds["adaptive"] < 20, builds
    assert its["rebuild"] < its["adaptive"] < its["reuse"], its


def test_an_exact_follow_along_a_c_of_t_sequence_keeps_rebuild_iterations():
    m = 31
    L = diffusion_matrix(m, bumpy)
    runs = {}
    for s in ("rebuild", "adaptive"):
        solver = SequenceSolver(policy=f"fixed:fastdiag-cg({s})")
        for c in np.linspace(1e-3, 2e-2, 8):
            solver.solve(crank_nicolson(L, c), np.ones(m * m), structure=(m, m))
        runs[s] = solver.history
    assert [r.iterations for r in runs["adaptive"]] == [r.iterations for r in runs["rebuild"]]
    assert sum(r.setup_reused for r in runs["adaptive"]) == 7


def test_a_hopeless_stale_sum_is_rebuilt_within_the_solve():
    m = 23
    method = fastdiag.FastDiagCG("adaptive")
    structure = Structure((m, m))
    A0 = crank_nicolson(diffusion_matrix(m, front(0.0)), 1e-2)
    A1 = crank_nicolson(diffusion_matrix(m, front(1.0)), 1e-2)
    b = np.ones(m * m)
    prep = method.setup(A0, None, structure=structure)
    base = method.solve(prep, A0, b, np.zeros(m * m), rtol=1e-10, atol=0.0, maxiter=500).iterations
    method.schedule.base_iterations = 1  # pretend the fresh sum needed one iteration: the cap is 13
    prep = method.setup(A1, prep, structure=structure)
    assert isinstance(prep, NearestSumPreconditioner) and not prep.fresh
    res = method.solve(prep, A1, b, np.zeros(m * m), rtol=1e-10, atol=0.0, maxiter=500)
    assert res.status == "converged" and prep.fresh and method.schedule.builds == 2
    assert res.iterations > 13 and base > 1


def _constant_laplacian(m: int) -> sp.csr_array:
    T = sp.diags_array([np.full(m, 2.0), np.full(m - 1, -1.0), np.full(m - 1, -1.0)], offsets=[0, 1, -1])
    I = sp.eye_array(m)
    return sp.csr_array(sp.kron(I, T) + sp.kron(T, I))


@pytest.mark.parametrize("schedule", ["rebuild", "adaptive"])
def test_a_separable_matrix_is_solved_by_one_exact_step(schedule):
    """A constant-coefficient operator *is* its nearest Kronecker sum: fastdiag-cg's preconditioner
    is A⁻¹ (also after an exact scalar-and-shift follow), and one step gives the certified answer."""
    m = 23
    L = _constant_laplacian(m)
    solver = SequenceSolver(rtol=1e-10, policy=f"fixed:fastdiag-cg({schedule})")
    rng = np.random.default_rng(4)
    for c in (1e-3, 5e-3, 2e-2, 0.3):
        A = crank_nicolson(L, c)
        b = rng.standard_normal(m * m)
        x = solver.solve(A, b)  # the grid is found in A's pattern
        np.testing.assert_allclose(x, sp.linalg.spsolve(sp.csc_array(A), b), rtol=1e-9, atol=1e-12)
        assert solver.history[-1].iterations == 1
    prepared = next(iter(solver._setups.values()))[1]
    assert prepared.exact
    if schedule == "adaptive":
        assert sum(r.setup_reused for r in solver.history) == 3


def test_a_variable_coefficient_matrix_is_not_taken_for_its_sum():
    m = 31
    A = crank_nicolson(diffusion_matrix(m, bumpy), 1e-2)
    solver = SequenceSolver(rtol=1e-10, policy="fixed:fastdiag-cg")
    b = np.ones(m * m)
    x = solver.solve(A, b, structure=(m, m))
    assert not next(iter(solver._setups.values()))[1].exact
    assert solver.history[-1].iterations > 1
    assert np.linalg.norm(A @ x - b) <= 1e-10 * np.linalg.norm(b)


def test_the_drift_fit_matches_a_numpy_reference():
    """The compiled fit (pattern check, exact α/β deviation, least-squares α/β) against NumPy."""
    m = 17
    A0 = crank_nicolson(diffusion_matrix(m, bumpy), 1e-2)
    snap = Snapshot(A0, (m, m))
    rng = np.random.default_rng(5)
    A = A0.copy()
    A.data = 1.7 * A.data + 0.01 * rng.standard_normal(A.nnz)
    A.setdiag(A.diagonal() + 0.4)
    A = sp.csr_array(A)
    drift = snap.drift(A, (m, m))
    diag = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr)) == A.indices
    off = ~diag
    alpha = np.dot(A.data[off], A0.data[off]) / np.dot(A0.data[off], A0.data[off])
    beta = (A.data[diag].sum() - alpha * A0.data[diag].sum()) / A.shape[0]
    assert not drift.exact
    assert drift.alpha == pytest.approx(alpha, rel=1e-12)
    assert drift.beta == pytest.approx(beta, rel=1e-10)
    exact = sp.csr_array(2.5 * A0 + 0.75 * sp.eye_array(A0.shape[0]))
    d = snap.drift(exact, (m, m))
    assert d.exact and d.alpha == pytest.approx(2.5) and d.beta == pytest.approx(0.75)
    other = sp.csr_array(A0 + sp.diags_array([np.full(m * m - 2, 1e-3)], offsets=[2]))  # another pattern
    assert snap.drift(other, (m, m)) is None


def test_a_known_pattern_skips_the_index_comparison_but_not_the_values():
    m = 13
    A0 = crank_nicolson(diffusion_matrix(m, bumpy), 1e-2)
    snap = Snapshot(A0, (m, m), pattern=("p", 1))
    A = sp.csr_array(3.0 * A0 + 0.5 * sp.eye_array(m * m))
    d = snap.drift(A, (m, m), ("p", 1))
    assert d.exact and d.alpha == pytest.approx(3.0) and d.beta == pytest.approx(0.5)
    B = A.copy()
    B.data[7] *= 1.01  # the values are still read in full: an entry off the fit is seen
    assert not snap.drift(B, (m, m), ("p", 1)).exact
    shuffled = A.copy()
    shuffled.indices = shuffled.indices.copy()
    shuffled.indices[[1, 2]] = shuffled.indices[[2, 1]]  # another pattern, and no hash says so
    assert snap.drift(shuffled, (m, m)) is None


def numpy_probes(A: sp.csr_array) -> tuple[np.ndarray, np.ndarray, int, int]:
    """What a snapshot keeps of ``A``'s pattern, by NumPy (the reference for the compiled pass)."""
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    diagonal = rows == A.indices
    off = np.flatnonzero(~diagonal & (A.data != 0))
    k_off = int(off[np.argmax(np.abs(A.data[off]))]) if off.size else -1
    on = np.flatnonzero(diagonal)
    diag_pos = np.full(A.shape[0], -1, dtype=np.int64)
    diag_pos[rows[on]] = on
    return diagonal.astype(np.uint8), diag_pos, k_off, int(on[0]) if on.size else -1


@pytest.mark.parametrize("case", ["diffusion", "gaps", "ties", "diagonal"])
def test_the_snapshot_probes_match_a_numpy_reference(case):
    m = 9
    A = crank_nicolson(diffusion_matrix(m, bumpy), 1e-2)
    if case == "gaps":  # rows without a diagonal entry, explicit zeros, a duplicate diagonal entry
        A = A.tolil()
        A[0, 0] = A[5, 5] = 0.0
        A = sp.csr_array(A)
        A.eliminate_zeros()
        A.data[A.indptr[3] + 1] = 0.0
        r = 7
        A = sp.csr_array((np.insert(A.data, A.indptr[r + 1], 2.0), np.insert(A.indices, A.indptr[r + 1], r),
                          A.indptr + (np.arange(A.indptr.size) > r)), shape=A.shape)
    elif case == "ties":  # the largest off-diagonal magnitude taken first by several entries
        A.data[:] = np.where(np.repeat(np.arange(m * m), np.diff(A.indptr)) == A.indices, 4.0, -1.0)
    elif case == "diagonal":
        A = sp.csr_array(sp.diags_array(np.arange(1.0, m * m + 1)))
    snap = Snapshot(A, (m, m))
    on, pos, k_off, k_diag = numpy_probes(A)
    np.testing.assert_array_equal(snap.on_diagonal, on)
    np.testing.assert_array_equal(snap.diag_pos, pos)
    assert (snap.k_off, snap.k_diag) == (k_off, k_diag)
    assert snap.on_diagonal.dtype == np.uint8 and snap.diag_pos.dtype == np.int64


def test_the_build_projects_to_what_the_canonical_nearest_sum_is():
    """fastdiag-cg canonicalises the projection's factors without freezing them first: the same sum."""
    from seqsolve.operators import nearest_kronecker_sum

    m = 15
    A = crank_nicolson(diffusion_matrix(m, bumpy), 1e-2)
    built = fastdiag.FastDiagCG()._build(A, (m, m)).base
    ref = fastdiag._canonical(nearest_kronecker_sum(A, (m, m), rowsums=True))
    assert built.fingerprint == ref.fingerprint


def test_canonical_factors_are_sparse_when_banded_with_the_dense_values():
    from seqsolve.operators import KroneckerSum, nearest_kronecker_sum
    from seqsolve.operators.structure import BANDED

    m = 12
    A = crank_nicolson(diffusion_matrix(m, bumpy), 1e-2)
    full = np.random.default_rng(1).standard_normal((m, m))  # a factor coupling every pair: stays dense
    for K in (nearest_kronecker_sum(A, (m, m), rowsums=True), KroneckerSum([full + full.T, np.eye(m)], 0.5, 2.0)):
        C = fastdiag._canonical(K)
        mats = [(f.dense() + f.dense().T) / 2 for f in K.factors]
        shifts = [np.mean(np.diag(M)) for M in mats]
        mats = [M - t * np.eye(m) for M, t in zip(mats, shifts)]
        size = max(np.abs(M).max() for M in mats)
        for f, M in zip(C.factors, mats):
            np.testing.assert_array_equal(f.dense(), np.round(M / size, 12))
            assert sp.issparse(f.matrix) == (np.count_nonzero(M) <= BANDED * m)
        assert C.shift == pytest.approx(K.shift + sum(shifts) * K.scale) and C.scale == pytest.approx(K.scale * size)
    assert sp.issparse(C.factors[1].matrix) and not sp.issparse(C.factors[0].matrix)
    stencil = fastdiag._canonical(nearest_kronecker_sum(A, (m, m), rowsums=True))
    assert all(sp.issparse(f.matrix) for f in stencil.factors)
