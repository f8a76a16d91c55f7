"""Kronecker operators, fast diagonalisation and the structure hint, against assembled references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

import seqsolve
from seqsolve import SequenceSolver
from seqsolve.errors import InvalidSystemError
from seqsolve.operators import (
    KroneckerProduct,
    KroneckerSum,
    kronecker_distance,
    nearest_kronecker_sum,
)
from seqsolve.problems import Heat2D
from seqsolve.solvers import fastdiag


def tridiag(m: int, c: float = 1.0) -> sp.csr_array:
    return sp.csr_array(sp.diags_array([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], offsets=[-1, 0, 1]) * c)


def spd(m: int, seed: int) -> np.ndarray:
    G = np.random.default_rng(seed).standard_normal((m, m))
    return G @ G.T / m + np.eye(m)


def assembled_sum(factors, shift, scale) -> sp.csr_array:
    """``shift·I + scale·Σ_d I⊗A_d⊗I`` with scipy.sparse.kron, independently of the operator."""
    sizes = [f.shape[0] for f in factors]
    N = int(np.prod(sizes))
    S = sp.csr_array((N, N))
    for d, f in enumerate(factors):
        term = sp.eye_array(1)
        for e, g in enumerate(factors):
            term = sp.kron(term, sp.csr_array(g) if e == d else sp.eye_array(sizes[e]))
        S = S + term
    return sp.csr_array(shift * sp.eye_array(N) + scale * S)


@pytest.mark.parametrize("factors", [
    lambda: [tridiag(5), spd(4, 1)],
    lambda: [spd(3, 2), tridiag(4, 2.5), np.random.default_rng(3).standard_normal((2, 2))],
])
def test_kronecker_sum_matvec_equals_assembled_kron(factors):
    fs = factors()
    K = KroneckerSum(fs, shift=0.7, scale=-1.3)
    ref = assembled_sum(fs, 0.7, -1.3)
    x = np.random.default_rng(0).standard_normal(K.shape[0])
    np.testing.assert_allclose(K @ x, ref @ x, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(K.T @ x, ref.T @ x, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(K.toarray(), ref.toarray(), atol=1e-13)


def test_kronecker_product_matvec_and_fingerprint():
    A, B = spd(3, 4), tridiag(4).toarray()
    P = KroneckerProduct([A, B], scale=2.0)
    x = np.random.default_rng(1).standard_normal(12)
    np.testing.assert_allclose(P @ x, 2.0 * np.kron(A, B) @ x, rtol=1e-13)
    assert P.symmetric
    assert KroneckerProduct([A, B], scale=2.0).fingerprint == P.fingerprint
    assert KroneckerProduct([A, B], scale=3.0).fingerprint != P.fingerprint


def test_bad_factors_are_refused():
    with pytest.raises(InvalidSystemError):
        KroneckerSum([np.ones((2, 3))])
    with pytest.raises(InvalidSystemError):
        KroneckerSum([np.array([[np.nan]])])
    with pytest.raises(InvalidSystemError):  # the hint must fit A
        SequenceSolver(policy="fixed:fastdiag-cg").solve(tridiag(6), np.ones(6), structure=(2, 2))


@pytest.mark.parametrize("factors, shift", [
    (lambda: [tridiag(12), tridiag(9, 3.0)], 0.5),                     # sine basis, dense transform
    (lambda: [tridiag(130), tridiag(129, 3.0)], 0.5),                  # sine basis by scipy.fft.dstn
    (lambda: [tridiag(130), spd(6, 4)], 0.1),                          # scipy.fft.dst and eigh mixed
    (lambda: [tridiag(7), spd(6, 5), tridiag(5)], -0.2),               # 3-D
    (lambda: [spd(8, 6), spd(5, 7)], 0.0),
])
def test_fast_diag_equals_spsolve(factors, shift):
    fs = factors()
    K = KroneckerSum(fs, shift=shift, scale=1.7)
    A = assembled_sum(fs, shift, 1.7)
    b = np.random.default_rng(2).standard_normal(K.shape[0])
    ref = spsolve(sp.csc_matrix(A), b)
    prepared = fastdiag.FastDiag().setup(A, None, structure=seqsolve.operators.as_structure(K, A))
    np.testing.assert_allclose(prepared.apply(b), ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    x = seqsolve.solve(A, b, structure=K, rtol=1e-12)  # through the solver: CSR + hint
    np.testing.assert_allclose(x, ref, atol=1e-10 * np.abs(ref).max())
    x = seqsolve.solve(K, b, rtol=1e-12)  # the operator itself
    np.testing.assert_allclose(x, ref, atol=1e-10 * np.abs(ref).max())


def upwind(m: int, wind: float, eps: float) -> np.ndarray:
    """1-D upwind convection–diffusion: non-normal, eigenvectors conditioned like exp(Péclet)."""
    h = 1.0 / (m + 1)
    return (wind * (np.eye(m) - np.eye(m, k=-1)) / h
            + eps * (2 * np.eye(m) - np.eye(m, k=1) - np.eye(m, k=-1)) / h**2)


def test_fast_diag_on_convection_dominated_sums_is_stable():
    # cell Péclet ~ 30: an eigenvector basis would lose ~all digits; Bartels–Stewart does not
    fs = [upwind(40, 10.0, 0.005), upwind(30, 7.0, 0.005)]
    K = KroneckerSum(fs, shift=1.0, scale=0.01)
    A = assembled_sum(fs, 1.0, 0.01)
    b = np.random.default_rng(4).standard_normal(1200)
    solver = SequenceSolver(policy="fixed:fast-diag", rtol=1e-10)
    x = solver.solve(A, b, structure=K)
    assert solver.history[-1].fallback is None and solver.history[-1].iterations == 1
    ref = spsolve(sp.csc_matrix(A), b)
    np.testing.assert_allclose(x, ref, atol=1e-10 * np.abs(ref).max())


def test_fast_diag_nonsymmetric_3d_uses_eigenvectors():
    rng = np.random.default_rng(9)
    fs = [np.eye(4) * 3 + 0.3 * rng.standard_normal((4, 4)), tridiag(3).toarray(),
          np.diag([1.0, 2, 3, 4, 5]) + 0.2 * np.eye(5, k=1)]
    K = KroneckerSum(fs, shift=0.5)
    b = rng.standard_normal(60)
    solver = SequenceSolver(policy="fixed:fast-diag", rtol=1e-12)
    x = solver.solve(K, b)
    assert solver.history[-1].fallback is None
    np.testing.assert_allclose(x, np.linalg.solve(assembled_sum(fs, 0.5, 1).toarray(), b), atol=1e-10)


def test_fast_diag_nonsymmetric_factors():
    rng = np.random.default_rng(8)
    fs = [np.eye(6) * 4 + 0.5 * rng.standard_normal((6, 6)),
          tridiag(5).toarray() + 0.5 * np.diag(np.ones(4), 1)]  # convection-like, diagonalisable
    K = KroneckerSum(fs)
    b = rng.standard_normal(30)
    solver = SequenceSolver(policy="fixed:fast-diag", rtol=1e-12)
    x = solver.solve(K, b)
    assert solver.history[-1].fallback is None
    np.testing.assert_allclose(x, np.linalg.solve(assembled_sum(fs, 0, 1).toarray(), b), atol=1e-10)


def test_factors_reused_across_changing_shift_and_scale():
    base = KroneckerSum([tridiag(20), spd(15, 9)])
    solver = SequenceSolver(policy="fixed:fast-diag")
    before = fastdiag.counters["eigendecompositions"]
    b = np.ones(300)
    for k in range(12):
        K = base.with_scalars(1.0 + k, 0.1 * (k + 1))
        x = solver.solve(K.tocsr(), b, structure=K)
        assert np.linalg.norm(K @ x - b) <= 1e-8 * np.linalg.norm(b)
    assert fastdiag.counters["eigendecompositions"] - before == 2  # one per factor, once
    assert all(r.configuration == "fast-diag" and r.iterations == 1 for r in solver.history)


def test_structured_operator_is_identified_without_products():
    K = KroneckerSum([tridiag(30), tridiag(30)], shift=1.0)
    calls = [0]
    real = K._matvec

    def counting(x):
        calls[0] += 1
        return real(x)

    K._matvec = counting
    SequenceSolver(policy="fixed:fast-diag").solve(K, np.ones(900))
    assert calls[0] == 1  # the residual check only: no symmetry probes


def test_fallback_on_a_kronecker_sum_operator():
    # a nearly singular indefinite sum: the chosen cg fails, the fallbacks (gmres, dense LU) work
    K = KroneckerSum([tridiag(8), tridiag(8)], shift=-0.3)
    b = np.random.default_rng(3).standard_normal(64)
    x = SequenceSolver(policy="fixed:cg", maxiter=5).solve(K, b)
    assert np.linalg.norm(K @ x - b) <= 1e-8 * np.linalg.norm(b)


def test_auto_picks_fast_diag_on_a_structured_sequence():
    # Heat2D's matrices at a large diffusion coefficient (c ≈ 10, where iterations are many)
    problem = Heat2D(nx=96, steps=1)
    rng = np.random.default_rng(0)
    solver = SequenceSolver(policy="auto")
    for k in range(70):
        K = problem.L_kron.with_scalars(1.0, -(9.5 + 0.01 * k) * problem.dt / 2)
        solver.solve(K.tocsr(), rng.standard_normal(K.shape[0]), structure=K)
    late = [r.configuration for r in solver.history[40:]]
    assert late.count("fast-diag") >= 25, late  # timing-based: a margin for a loaded machine
    # without the hint nothing changes: fast-diag is never applicable
    solver = SequenceSolver(policy="auto")
    for _ in range(10):
        solver.solve(K.tocsr(), rng.standard_normal(K.shape[0]))
    assert "fast-diag" not in {r.configuration for r in solver.history}


def test_run_passes_heat2d_structure_to_the_solver():
    solver = SequenceSolver(policy="fixed:fast-diag")
    seqsolve.run(Heat2D(nx=20, steps=5), solver, progress=False)
    assert [r.configuration for r in solver.history] == ["fast-diag"] * 5
    assert all(r.fallback is None for r in solver.history)


def test_heat2d_structure_equals_its_matrix():
    problem = Heat2D(nx=12, steps=3)
    for _ in range(3):
        s = problem.system()
        assert abs(s.structure.tocsr() - s.A).max() == 0.0
        problem.accept(np.zeros(s.A.shape[0]))


def test_nearest_kronecker_sum_is_exact_on_sums_and_a_projection_otherwise():
    fs = [spd(5, 1), tridiag(4)]
    A = assembled_sum(fs, 0.3, 2.0)
    for rowsums in (False, True):
        K = nearest_kronecker_sum(A, (5, 4), rowsums=rowsums)
        np.testing.assert_allclose(K.toarray(), A.toarray(), atol=1e-13)
        assert kronecker_distance(A, K) < 1e-14
    # a perturbation orthogonal to all Kronecker sums (a coupling of both axes) is removed exactly
    E = sp.csr_array(([1.0, 1.0], ([0, 5], [5, 0])), shape=(20, 20))  # (0,0)<->(1,1): both axes differ
    K2 = nearest_kronecker_sum(A + E, (5, 4))
    np.testing.assert_allclose(K2.toarray(), A.toarray(), atol=1e-13)
    assert kronecker_distance(A + E, K2) == pytest.approx(np.sqrt(2) / sp.linalg.norm(A + E), rel=1e-10)


def stencil_matrix(shape: tuple[int, ...], seed: int, *, diagonal_couplings: bool = False) -> sp.csr_array:
    """Random values on the 5-/7-point pattern of a C-order grid (a 9-point one in 2-D with
    ``diagonal_couplings``), non-symmetric, with duplicate-free, unsorted-by-construction rows."""
    rng = np.random.default_rng(seed)
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    steps = [tuple(s * (a == d) for a in range(len(shape))) for d in range(len(shape)) for s in (1, -1)]
    if diagonal_couplings:
        steps += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    rows, cols = [idx.ravel()], [idx.ravel()]
    for step in steps:
        src = tuple(slice(max(0, -s), n - max(0, s)) for s, n in zip(step, shape))
        dst = tuple(slice(max(0, s), n - max(0, -s)) for s, n in zip(step, shape))
        rows.append(idx[src].ravel())
        cols.append(idx[dst].ravel())
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_array((rng.uniform(-1, 1, r.size) + 4.0 * (r == c), (r, c)), shape=(idx.size,) * 2)


def fluid2d_matrix() -> tuple[sp.csr_array, tuple[int, int]]:
    from seqsolve.operators.grid import detect_grid
    from seqsolve.problems import Fluid2D

    A = sp.csr_array(Fluid2D(n=24, steps=2).system().A)
    return A, detect_grid(A)


@pytest.mark.parametrize("case", ["heat2d", "fluid2d", "random2d", "random3d", "nonsquare2d", "nonsquare3d",
                                  "ninepoint", "int64"])
@pytest.mark.parametrize("rowsums", [False, True])
def test_compiled_nearest_kronecker_sum_agrees_with_numpy(case, rowsums):
    from seqsolve.operators.structure import _nearest_kronecker_sum_numpy

    if case == "heat2d":
        A, shape = sp.csr_array(Heat2D(nx=17, steps=1).system().A), (16, 16)
    elif case == "fluid2d":
        A, shape = fluid2d_matrix()
    else:
        shape = {"random2d": (9, 9), "random3d": (5, 5, 5), "nonsquare2d": (7, 11), "nonsquare3d": (4, 5, 6),
                 "ninepoint": (6, 8), "int64": (3, 4, 5)}[case]
        A = stencil_matrix(shape, seed=len(case), diagonal_couplings=case == "ninepoint")
        if case == "int64":
            A.indptr, A.indices = A.indptr.astype(np.int64), A.indices.astype(np.int64)
    K = nearest_kronecker_sum(A, shape, rowsums=rowsums)
    ref = _nearest_kronecker_sum_numpy(A, shape, rowsums=rowsums)
    assert K.grid_shape == ref.grid_shape == tuple(shape)
    for f, g in zip(K.factors, ref.factors):
        np.testing.assert_allclose(f.dense(), g.dense(), rtol=1e-13, atol=1e-13 * np.abs(g.dense()).max())
    if case == "heat2d":  # a separable matrix is its own nearest sum
        np.testing.assert_allclose(K.toarray(), A.toarray(), atol=1e-12 * abs(A).max())


def test_compiled_nearest_kronecker_sum_counts_entries_coupling_two_axes_only_in_row_sums():
    from seqsolve.operators.structure import _nearest_kronecker_sum_numpy

    shape = (4, 5, 6)
    A = stencil_matrix(shape, seed=7)
    # couplings that change two or three grid indices at once, some one line or plane apart in
    # memory: (0,4,2)↔(1,0,2) is 26↔32, the offset of an axis-1 neighbour
    far = sp.csr_array(([2.0, -1.5, 0.25, 0.5, -0.75], ([0, 7, 33, 26, 32], [31, 30, 0, 32, 26])), shape=A.shape)
    B = sp.csr_array(A + far)
    # and stored duplicates (a non-canonical CSR): a second diagonal entry and a second coupling in row 9
    row = slice(B.indptr[9], B.indptr[10])
    extra_cols, extra_vals = np.array([9, 10], dtype=B.indices.dtype), np.array([3.0, -0.5])
    dup = sp.csr_array((np.concatenate([B.data[:row.stop], extra_vals, B.data[row.stop:]]),
                        np.concatenate([B.indices[:row.stop], extra_cols, B.indices[row.stop:]]),
                        B.indptr + 2 * (np.arange(B.indptr.size) >= 10)), shape=B.shape)
    assert not dup.has_canonical_format
    for rowsums, M in ((False, B), (True, B), (False, dup), (True, dup)):
        K = nearest_kronecker_sum(M, shape, rowsums=rowsums)
        ref = _nearest_kronecker_sum_numpy(M, shape, rowsums=rowsums)
        for f, g in zip(K.factors, ref.factors):
            np.testing.assert_allclose(f.dense(), g.dense(), rtol=1e-13, atol=1e-14)
    # the off-diagonal couplings are A's alone
    for f, g in zip(nearest_kronecker_sum(B, shape).factors, nearest_kronecker_sum(A, shape).factors):
        off = ~np.eye(f.n, dtype=bool)
        np.testing.assert_array_equal(f.dense()[off], g.dense()[off])
    # 2-D: couplings across the ends of grid lines ((0,10)↔(1,0), (2,0)↔(1,10)) and a diagonal one
    A2 = stencil_matrix((7, 11), seed=8)
    B2 = sp.csr_array(A2 + sp.csr_array(([1.0, 2.0, 3.0, 4.0, 5.0], ([10, 11, 22, 21, 0], [11, 10, 21, 22, 12])),
                                        shape=A2.shape))
    for rowsums in (False, True):
        K = nearest_kronecker_sum(B2, (7, 11), rowsums=rowsums)
        ref = _nearest_kronecker_sum_numpy(B2, (7, 11), rowsums=rowsums)
        for f, g in zip(K.factors, ref.factors):
            np.testing.assert_allclose(f.dense(), g.dense(), rtol=1e-13, atol=1e-14)
        for f, g in zip(K.factors, nearest_kronecker_sum(A2, (7, 11), rowsums=rowsums).factors):
            off = ~np.eye(f.n, dtype=bool)
            np.testing.assert_array_equal(f.dense()[off], g.dense()[off])


def variable_diffusion(m: int) -> sp.csr_array:
    """-div(k grad u) on an m×m interior grid, k = 1 + 0.5 sin(2πx) sin(2πy) (5-point, harmonic faces)."""
    h = 1.0 / (m + 1)
    k = lambda x, y: 1 + 0.5 * np.sin(2 * np.pi * x) * np.sin(2 * np.pi * y)
    idx = np.arange(m * m).reshape(m, m)
    rows, cols, vals = [], [], []
    g = (np.arange(m) + 1) * h
    X, Y = np.meshgrid(g, g, indexing="ij")
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        kf = k(X + di * h / 2, Y + dj * h / 2) / h**2
        rows.append(idx.ravel()); cols.append(idx.ravel()); vals.append(kf.ravel())
        ii, jj = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
        ni, nj = ii + di, jj + dj
        ok = (ni >= 0) & (ni < m) & (nj >= 0) & (nj < m)
        rows.append(idx[ok]); cols.append(idx[ni[ok], nj[ok]]); vals.append(-kf[ok])
    return sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m,) * 2)


def test_fastdiag_cg_iterations_do_not_grow_with_the_grid():
    its = []
    for m in (31, 63):
        A = variable_diffusion(m)
        b = np.ones(m * m)
        solver = SequenceSolver(policy="fixed:fastdiag-cg")
        x = solver.solve(A, b, structure=(m, m))
        assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
        its.append(solver.history[-1].iterations)
    assert its[1] <= 1.3 * its[0] + 1, its
    assert its[1] < 40


def test_a_singular_kronecker_sum_ends_in_convergence_error_not_a_wrong_x():
    lam = 2 - 2 * np.cos(np.pi / 6)  # smallest eigenvalue of tridiag(5): shift -2·lam makes the sum singular
    K = KroneckerSum([tridiag(5), tridiag(5)], shift=-2 * lam)
    with pytest.raises(seqsolve.ConvergenceError):
        SequenceSolver(policy="fixed:fast-diag").solve(K, np.ones(25))


def test_a_wrong_structure_hint_cannot_produce_a_wrong_answer():
    K = KroneckerSum([tridiag(20), tridiag(20)], shift=1.0)
    A = K.with_scalars(1.0, 1.3).tocsr()  # the hint claims scale 1, A has 1.3
    b = np.random.default_rng(5).standard_normal(400)
    solver = SequenceSolver(policy="fixed:fast-diag")
    x = solver.solve(A, b, structure=K)
    assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
    assert solver.history[-1].fallback is not None or solver.history[-1].iterations > 1


def test_factors_are_copied_not_frozen_in_the_callers_matrix():
    T = tridiag(5)
    K = KroneckerSum([T, T])
    T.data[0] = 7.0  # the caller's matrix stays writable, and the operator keeps its own values
    assert K.factors[0].matrix.toarray()[0, 0] == 2.0
