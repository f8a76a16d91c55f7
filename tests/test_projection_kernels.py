"""The compiled block product of ``projection(k)`` against dense NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

from seqsolve.guesses import Projection
from seqsolve.guesses.projection import _is_csr64, _kernels


def _random_csr(n: int, density: float, seed: int, index=np.int32) -> sp.csr_array:
    """A random square CSR matrix with some empty rows (and columns)."""
    rng = np.random.default_rng(seed)
    A = sp.random_array((n, n), density=density, format="csr", rng=rng, dtype=np.float64).tolil()
    if n > 2:
        A[rng.choice(n, size=max(1, n // 5), replace=False), :] = 0.0
    A = sp.csr_array(A)
    A.indptr, A.indices = A.indptr.astype(index), A.indices.astype(index)
    return A


def _product(A, Q: np.ndarray) -> np.ndarray:
    AQ = np.full_like(Q, np.nan)
    _kernels().csr_times_rows(A.indptr, A.indices, A.data, Q, AQ, np.empty((A.shape[0], 4)))
    return AQ


@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("n, m", [(1, 1), (1, 3), (7, 1), (40, 4), (50, 5), (60, 8), (33, 11)])
def test_rows_of_a_q_match_a_dense_reference(n, m, index):
    A = _random_csr(n, 0.2 if n > 1 else 1.0, seed=n + m, index=index)
    Q = np.random.default_rng(m).standard_normal((m, n))
    AQ = _product(A, Q)
    ref = A.toarray() @ Q.T
    assert np.allclose(AQ, ref.T, rtol=1e-13, atol=1e-13 * max(1.0, np.abs(ref).max()))
    assert np.array_equal(AQ, np.asarray(A @ Q.T).T)  # SciPy's order of summation, to the last bit
    G = Q @ AQ.T
    assert np.allclose(G, Q @ A.toarray() @ Q.T, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(G).max()))


def test_unsorted_indices_and_duplicates_are_summed_like_scipy():
    A = _random_csr(30, 0.3, seed=3)
    rng = np.random.default_rng(4)
    for i in range(30):  # shuffle every row's entries
        lo, hi = A.indptr[i], A.indptr[i + 1]
        order = lo + rng.permutation(hi - lo)
        A.indices[lo:hi], A.data[lo:hi] = A.indices[order].copy(), A.data[order].copy()
    A.has_sorted_indices = False
    D = sp.csr_array((np.ones(4), np.array([2, 2, 5, 2]), np.array([0, 3] + [4] * 29)), shape=(30, 30))
    Q = rng.standard_normal((6, 30))
    for M in (A, D):
        assert np.allclose(_product(M, Q), (M.toarray() @ Q.T).T, rtol=1e-13, atol=1e-13)


def test_rows_of_a_larger_block_are_written_in_place_and_others_untouched():
    """``Q[d:]`` and ``AQ[d:]`` of C-ordered ``k × n`` arrays, as the projection passes them."""
    A = _random_csr(25, 0.3, seed=9)
    Q = np.random.default_rng(2).standard_normal((7, 25))
    AQ = np.zeros((7, 25))
    _kernels().csr_times_rows(A.indptr, A.indices, A.data, Q[3:], AQ[3:], np.empty((25, 4)))
    assert np.all(AQ[:3] == 0.0)
    assert np.allclose(AQ[3:], (A.toarray() @ Q[3:].T).T, rtol=1e-13, atol=1e-13)


def test_non_contiguous_rows_are_accepted():
    A = _random_csr(20, 0.3, seed=1)
    Q = np.random.default_rng(0).standard_normal((10, 40))[::2, ::2]  # strided both ways
    AQ = np.empty((10, 20))[::2]
    _kernels().csr_times_rows(A.indptr, A.indices, A.data, Q, AQ, np.empty((20, 4)))
    assert np.allclose(AQ, (A.toarray() @ Q.T).T, rtol=1e-13, atol=1e-13)


def test_only_float64_csr_matrices_of_the_right_size_take_the_compiled_path():
    A = _random_csr(10, 0.3, seed=0)
    assert _is_csr64(A, 10) and _is_csr64(sp.csr_matrix(A), 10)
    assert not _is_csr64(A, 9)
    assert not _is_csr64(A.astype(np.float32), 10)
    assert not _is_csr64(A.tocsc(), 10)
    assert not _is_csr64(A.toarray(), 10)


@pytest.mark.parametrize("make", [sp.csr_array, sp.csc_array, lambda A: A.astype(np.float32), aslinearoperator])
def test_projection_guess_is_the_same_through_either_product(make):
    """The guess with the compiled product (CSR) equals the one through ``A @`` (other formats)
    to rounding, on a matrix that changes every step."""
    rng = np.random.default_rng(11)
    A0 = _random_csr(80, 0.05, seed=12) + sp.diags_array(np.full(80, 4.0))
    A0 = sp.csr_array(A0 + A0.T)
    base, other = Projection(k=5), Projection(k=5)
    for t in range(12):
        A = sp.csr_array(A0 + sp.diags_array(np.full(80, 0.1 * t)))
        x = rng.standard_normal(80)
        base.update(A, None, x, key=t)
        other.update(make(A), None, x, key=t)
        b = rng.standard_normal(80)
        x0, y0 = base.form(A, b, key=t), other.form(make(A), b, key=t)
        tol = 1e-5 if make(A).dtype == np.float32 else 1e-12  # a float32 matrix is another operator
        assert np.linalg.norm(x0 - y0) <= tol * np.linalg.norm(x0)
