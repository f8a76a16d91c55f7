"""A narrow band (seqsolve.band): its width read off a pattern, and what ``auto`` does with it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator

from seqsolve import SequenceSolver
from seqsolve.band import NARROW_BAND, THIN, narrow_band



@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(0, 900), st.integers(0, 2**32 - 1), st.integers(1, 20))
def test_a_narrow_band_is_its_width_within_the_limits_and_nothing_else(n, nnz, seed, reach):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n, nnz)
    cols = np.clip(rows + rng.integers(-reach, reach + 1, nnz), 0, n - 1)
    A = sp.csr_array((np.ones(nnz), (rows, cols)), shape=(n, n))
    w = max((abs(int(i) - int(j)) for i, j in zip(rows, cols)), default=0)
    narrow = 1 <= w <= NARROW_BAND and n >= THIN * w * w and n >= THIN
    assert narrow_band(A) == (w if narrow else 0)


def _meets(A, b, x, rtol: float = 1e-8) -> None:
    assert np.linalg.norm(b - A @ x) <= rtol * np.linalg.norm(b)


def _line(n: int, shift: float = 1e-6) -> sp.csr_array:
    """A 1-D diffusion matrix with a small mass term: SPD, no diagonal margin worth a bound."""
    return sp.csr_array(sp.diags([-np.ones(n - 1), 2.0 + shift * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]))


def test_narrow_band_tells_a_line_from_a_grid_and_a_diagonal():
    assert narrow_band(_line(500)) == 1
    assert narrow_band(sp.csr_array(sp.kron(_line(200), np.ones((3, 3))))) == 5  # three fields along a line
    grid = sp.csr_array(sp.kronsum(_line(40), _line(40)))  # natural ordering: w = 40
    assert not narrow_band(grid)
    assert not narrow_band(sp.csr_array(sp.kronsum(_line(12), _line(12))))  # a small square grid: w = 12, n = w²
    assert narrow_band(sp.csr_array(sp.kronsum(_line(10), _line(200))))  # a thin strip: w = 10, n = 20 w²
    assert not narrow_band(sp.identity(500, format="csr"))  # nothing to factorise
    assert not narrow_band(LinearOperator((500, 500), matvec=lambda v: v))


def test_auto_factorises_a_band_first_instead_of_iterating():
    # condition ~1e7: a CG-type first try runs thousands of iterations; an LU costs O(n)
    A, rng = _line(4000), np.random.default_rng(0)
    s = SequenceSolver(policy="auto", seed=0)
    for _ in range(3):
        b = rng.standard_normal(4000)
        _meets(A, b, s.solve(A, b))
    first = s.history[0]
    assert first.configuration == "direct" and first.iterations == 0 and not first.fallback


def test_a_band_with_a_diagonal_margin_keeps_the_cheap_first_try():
    # Gershgorin bounds this system to a few CG iterations: no factorisation first
    A, b = _line(4000, shift=2.0), np.ones(4000)
    s = SequenceSolver(policy="auto", seed=0)
    _meets(A, b, s.solve(A, b))
    assert s.history[0].configuration != "direct"


def test_scipy_direct_factorises_a_band_in_lapack_band_storage_with_pivoting():
    from scipy.sparse.linalg import spsolve

    from seqsolve.solvers.direct import Direct, _BandedLU

    rng = np.random.default_rng(4)
    n = 300
    # unsymmetric, three fields along a line (w = 5), and a zero diagonal that needs pivots
    mixed = sp.csr_array(sp.kron(_line(n // 3), rng.standard_normal((3, 3))) + sp.diags(rng.standard_normal(n)))
    swap = sp.diags([np.ones(n - 1), np.full(n, 1e-300), np.ones(n - 1)], [-1, 0, 1], format="csr")
    swap.data[swap.data == 1e-300] = 0.0  # stored zeros on the diagonal
    for A in (mixed, sp.csr_array(swap)):
        assert narrow_band(A)
        prepared = Direct().setup(A, None)
        assert isinstance(prepared, _BandedLU)
        B = rng.standard_normal((n, 2))
        np.testing.assert_allclose(prepared.solve(B), spsolve(sp.csc_matrix(A), B), rtol=1e-9, atol=1e-12)
        b = B[:, 0]
        x = SequenceSolver(policy="fixed:direct").solve(A, b)
        _meets(A, b, x, 1e-10)
    singular = sp.csr_array(sp.diags([np.ones(n - 1), np.zeros(n), np.zeros(n - 1)], [-1, 0, 1]))
    with pytest.raises(np.linalg.LinAlgError):
        _BandedLU(singular, 1)
