"""fastdiag-cg's build against references assembled independently: the projected factors, their
canonical form, the frozen factors' symmetry and bands, and the prepared inverse."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from seqsolve.operators import Factor
from seqsolve.operators.structure import _nearest_kronecker_sum_numpy, banded_factor, sparse_if_banded
from seqsolve.problems import AnisotropicHeat3D
from seqsolve.problems.heat2d import variable_diffusion
from seqsolve.solvers import fastdiag


def heat3d(perturb: bool) -> tuple[sp.csr_array, tuple[int, ...]]:
    """An anisotropic 3-D heat matrix (a Kronecker sum), or one with a non-separable diagonal."""
    problem = AnisotropicHeat3D(m=6, steps=3)
    problem.system()
    problem.accept(np.zeros(problem.n))
    A = problem.system().A  # k_x ≠ k_y ≠ k_z
    if perturb:
        A = sp.csr_array(A + sp.diags_array(np.random.default_rng(0).uniform(0.0, 5.0, problem.n)))
    return A, (6, 6, 6)


def heat2d(anisotropic: bool) -> tuple[sp.csr_array, tuple[int, ...]]:
    m = 13
    L = variable_diffusion(m, lambda x, y: 1 + 0.5 * np.sin(2 * np.pi * x) * np.sin(2 * np.pi * y))
    if anisotropic:  # coupling along axis 1 weighted 20x
        L = L + 20 * sp.kron(sp.eye_array(m), sp.diags_array([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)],
                                                             offsets=[-1, 0, 1]) * (m + 1) ** 2)
    return sp.csr_array(sp.eye_array(m * m) + 1e-3 * L), (m, m)


def reference_sum(A: sp.csr_array, shape: tuple[int, ...]) -> np.ndarray:
    """The canonical nearest sum, assembled densely from the NumPy projection (no fast path)."""
    K = _nearest_kronecker_sum_numpy(A, shape, rowsums=True)
    mats = [(f.dense() + f.dense().T) / 2 for f in K.factors]
    shifts = [np.mean(np.diag(M)) for M in mats]
    mats = [M - t * np.eye(M.shape[0]) for M, t in zip(mats, shifts)]
    size = max(np.abs(M).max() for M in mats)
    mats = [np.round(M / size, 12) for M in mats]
    N = A.shape[0]
    S = np.zeros((N, N))
    for d, M in enumerate(mats):
        S += np.kron(np.kron(np.eye(int(np.prod(shape[:d]))), M), np.eye(int(np.prod(shape[d + 1:]))))
    return sum(shifts) * np.eye(N) + size * S, mats


@pytest.mark.parametrize("case", [lambda: heat3d(False), lambda: heat3d(True), lambda: heat2d(False),
                                  lambda: heat2d(True)])
def test_the_build_prepares_the_inverse_of_the_canonical_nearest_sum(case):
    A, shape = case()
    K, mats = reference_sum(A, shape)
    for setup in ("rebuild", "adaptive"):
        prepared = fastdiag.FastDiagCG(setup)._build(A, shape)
        for f, M in zip(prepared.base.factors, mats):  # the canonical factors, to the last bit
            np.testing.assert_array_equal(f.dense(), M)
            assert f.symmetric and sp.issparse(f.matrix)
            a, e = f.tridiagonal()
            np.testing.assert_array_equal(a, np.diag(M))
            np.testing.assert_array_equal(e, np.diag(M, 1))
        assert not prepared.inverse.lifted
        b = np.random.default_rng(2).standard_normal(A.shape[0])
        ref = np.linalg.solve(K, b)
        np.testing.assert_allclose(prepared @ b, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
        separable = np.abs(A.toarray() - K).max() <= 1e-10 * np.abs(K).max()
        assert prepared.exact == separable


def test_exactness_follows_the_cases():
    assert fastdiag.FastDiagCG("rebuild")._build(*heat3d(False)).exact
    assert not fastdiag.FastDiagCG("rebuild")._build(*heat3d(True)).exact
    assert not fastdiag.FastDiagCG("rebuild")._build(*heat2d(True)).exact


@pytest.mark.parametrize("shift", [0.0, -0.05], ids=["poisson", "helmholtz"])
def test_a_separable_matrix_is_solved_in_one_step_however_ill_conditioned_or_indefinite(shift):
    """2-D Poisson on 120 x 120 (κ ≈ 5900) and a shifted, indefinite one (Helmholtz-like): ``A`` is
    its own nearest sum, so its inverse, not lifted (the SPD clamp is for approximations), solves
    it in one step — the clamp made them take 16 and 8 CG iterations."""
    from seqsolve import SequenceSolver

    m = 120
    T = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    A = sp.csr_array(sp.kron(T, sp.identity(m)) + sp.kron(sp.identity(m), T) + shift * sp.identity(m * m))
    b = np.random.default_rng(0).standard_normal(m * m)
    s = SequenceSolver(policy="fixed:fastdiag-cg", rtol=1e-10, fallback=False)
    for scale in (1.0, 1.5):  # the build, then an exact follow of a new scale
        x = s.solve(A * scale, b)
        assert s.history[-1].iterations == 1
        np.testing.assert_allclose(x, spsolve(sp.csc_matrix(A * scale), b), rtol=1e-7, atol=1e-9 * np.abs(x).max())


def random_sparse(n: int, seed: int, symmetric: bool, zeros: bool) -> sp.csr_array:
    rng = np.random.default_rng(seed)
    M = sp.random_array((n, n), density=0.3, rng=rng, format="csr")
    if symmetric:
        M = sp.csr_array(M + M.T)
    if zeros:  # explicit zeros on one side only: still symmetric for SciPy's comparison
        M = sp.csr_array(M)
        M.data[::3] = 0.0
        if symmetric:
            M = sp.csr_array(M + M.T)
            M.data[rng.random(M.nnz) < 0.2] = 0.0
    return M


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("zeros", [False, True])
def test_sparse_factor_symmetry_agrees_with_scipy(seed, symmetric, zeros):
    M = random_sparse(9, seed, symmetric, zeros)
    assert Factor(M).symmetric == ((M != M.T).nnz == 0)


@pytest.mark.parametrize("kind", ["symmetric", "nonsymmetric", "pentadiagonal", "dense", "tiny"])
def test_banded_factor_is_the_factor_of_its_matrix(kind):
    rng = np.random.default_rng(3)
    n = 2 if kind == "tiny" else 11
    e, a = rng.standard_normal(n - 1), rng.standard_normal(n)
    a[3 % n] = 0.0  # a zero on the band: not stored
    M = np.diag(a) + np.diag(e, 1) + np.diag(e if kind != "nonsymmetric" else 2 * e, -1)
    if kind == "pentadiagonal":
        M += np.diag(np.ones(n - 2), 2) + np.diag(np.ones(n - 2), -2)
    elif kind == "dense":
        M = M + M.T + 1.0
    f = banded_factor(M.copy())
    ref = Factor(sparse_if_banded(M.copy()))
    assert f.key == ref.key and f.symmetric == ref.symmetric == bool(np.array_equal(M, M.T))
    np.testing.assert_array_equal(f.dense(), M)
    bands = f.tridiagonal()
    if kind in ("symmetric", "tiny"):
        np.testing.assert_array_equal(bands[0], a)
        np.testing.assert_array_equal(bands[1], e)
    else:
        assert bands is None


def test_a_first_build_loads_what_its_solves_use_so_no_timed_solve_pays_an_import():
    """scipy.fft (~60 ms to import) is loaded by the setup of a grid long enough for its sine
    transforms, reported as one-off work; imported in the first timed solve, ``auto`` in a fresh
    process took the exact solver of Heat2D nx=150 for 50x dearer than it is and never chose it."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys, time
        import numpy as np, scipy.sparse as sp
        from seqsolve import SequenceSolver
        m = 130  # an axis of at least DST_MIN points: sine transforms by scipy.fft
        T = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
        A = sp.csr_array(sp.kron(sp.identity(m), T) + sp.kron(T, sp.identity(m)) + sp.identity(m * m))
        before = "scipy.fft" in sys.modules
        s = SequenceSolver(policy="fixed:fastdiag-cg")
        s.solve(A, np.ones(m * m))
        r = s.history[-1]
        print(before, "scipy.fft" in sys.modules, r.one_off_seconds > 0, r.solve_seconds)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    before, after, one_off, solve = out.stdout.split()
    assert before == "False" and after == "True" and one_off == "True"
    assert float(solve) < 0.02  # the transforms alone (the import was the setup's one-off)
