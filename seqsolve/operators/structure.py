"""How structure reaches the solver: a hint per system, and the nearest Kronecker sum of a matrix.

A hint is either a :class:`KroneckerSum` equal to ``A`` (``fast-diag`` solves with its factors)
or the grid shape of the unknowns (``fastdiag-cg`` preconditions with the nearest Kronecker sum).
A wrong hint cannot produce a wrong answer: every returned ``x`` is still certified on ``A``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg  # noqa: F401 (sp.linalg.norm)
from scipy.sparse.linalg import LinearOperator

from ..errors import InvalidSystemError, UnsupportedTypeError
from .kronecker import Factor, KroneckerProduct, KroneckerSum, _Kron


@dataclass(frozen=True)
class Structure:
    """What is known about ``A``'s tensor structure: the grid, and ``A`` itself as factors if exact."""

    grid_shape: tuple[int, ...]
    kron: KroneckerSum | None = None
    #: the nearest sum (``rowsums=True``) of the very matrix being solved, when grid detection has
    #: just projected it: fastdiag-cg's first build takes it instead of projecting again
    nearest: KroneckerSum | None = field(default=None, compare=False)
    #: the sparsity pattern (the solver's scan hash) the grid was found in: a method handed this
    #: structure needs no comparison of index arrays to know the pattern is the same as before
    pattern: tuple | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple:
        """Identity for setup caches (the factors and scalars, or the grid alone)."""
        return self.kron.fingerprint if self.kron is not None else ("grid", self.grid_shape)


def is_structured(A: Any) -> bool:
    """True for seqsolve's Kronecker operators (they know their symmetry and fingerprint)."""
    return isinstance(A, _Kron)


def as_structure(hint: Any, A: Any) -> Structure | None:
    """Validate a ``structure=`` hint for ``A`` (``None`` when there is none and ``A`` is unstructured)."""
    if hint is None:
        if isinstance(A, KroneckerSum):
            return Structure(A.grid_shape, A)
        if isinstance(A, KroneckerProduct):
            return Structure(A.grid_shape)
        return None
    n = A.shape[0]
    if isinstance(hint, Structure):
        shape, kron = hint.grid_shape, hint.kron
    elif isinstance(hint, KroneckerSum):
        shape, kron = hint.grid_shape, hint
    elif isinstance(hint, (tuple, list)) and all(isinstance(m, (int, np.integer)) for m in hint):
        shape, kron = tuple(int(m) for m in hint), None
    else:
        raise UnsupportedTypeError(f"structure must be a KroneckerSum equal to A or a grid shape tuple, "
                                   f"got {type(hint).__name__}")
    if not shape or min(shape) < 1 or math.prod(shape) != n:
        raise InvalidSystemError(f"structure grid shape {shape} does not fit A with {n} unknowns; "
                                 f"the product of the grid sizes must equal A.shape[0]")
    return Structure(shape, kron)


def structure_for(structure: Structure | None, alpha: int) -> Structure | None:
    """``structure`` of ``2^-alpha·A`` (seqsolve rescales matrices with extreme entries exactly)."""
    if structure is None or structure.kron is None or alpha == 0:
        return structure
    k = structure.kron
    return Structure(structure.grid_shape, k.with_scalars(math.ldexp(k.shift, -alpha), math.ldexp(k.scale, -alpha)))


def nearest_kronecker_sum(A: sp.csr_array | LinearOperator, grid_shape: tuple[int, ...], *,
                          rowsums: bool = False) -> KroneckerSum:
    """A Kronecker sum ``Σ_d I⊗A_d⊗I`` close to ``A`` (exact when ``A`` is one).

    ``rowsums=False``: the nearest in the Frobenius norm.  Kronecker sums form a linear subspace
    whose terms touch disjoint off-diagonal positions, so the projection (the Kronecker-sum analogue
    of Van Loan–Pitsianis) is an average: ``A_d[i,k]`` is the mean of ``A``'s couplings ``i→k``
    along axis ``d`` over all grid lines, and the diagonal is the best additive fit ``Σ_d g_d(i_d)``.

    ``rowsums=True`` (the preconditioner's choice): the same averaged couplings, but each factor's
    diagonal makes its rows sum to the additive fit of ``A``'s row sums.  For a diffusion operator
    the Frobenius diagonal keeps an ``O(1/h²)`` variation its couplings do not match — a spurious
    potential that smooth modes feel, so preconditioned iterations grow as the grid is refined —
    while this keeps every factor a 1-D diffusion operator with averaged coefficients, spectrally
    equivalent to ``A`` for coefficients bounded above and below.  Entries coupling two axes at
    once enter only through the row sums.

    2-D and 3-D grids of a real matrix are summed by one compiled pass (:mod:`._kronecker_kernels`),
    others by NumPy (:func:`_nearest_kronecker_sum_numpy`, the reference it agrees with).
    """
    return _nearest(A, grid_shape, rowsums, compiled=True)


def nearest_kronecker_factors(A: sp.csr_array | LinearOperator, grid_shape: tuple[int, ...], *,
                              rowsums: bool = False) -> list[np.ndarray]:
    """The dense factors ``A_d`` of :func:`nearest_kronecker_sum`, not yet frozen into a
    :class:`KroneckerSum` (hashing them costs a third of the projection: a caller that rescales
    them first, as fastdiag-cg does, hashes only its own)."""
    if isinstance(A, KroneckerSum):
        raise UnsupportedTypeError("nearest_kronecker_factors takes a matrix, not a KroneckerSum")
    return _nearest_factors(A, grid_shape, rowsums, compiled=True)


def _nearest_kronecker_sum_numpy(A: sp.csr_array | LinearOperator, grid_shape: tuple[int, ...], *,
                                 rowsums: bool = False) -> KroneckerSum:
    """:func:`nearest_kronecker_sum` summed by NumPy alone (the reference for the compiled pass)."""
    return _nearest(A, grid_shape, rowsums, compiled=False)


def _nearest(A: Any, grid_shape: tuple[int, ...], rowsums: bool, compiled: bool) -> KroneckerSum:
    if isinstance(A, KroneckerSum):
        return A
    return KroneckerSum(_nearest_factors(A, grid_shape, rowsums, compiled))


def _nearest_factors(A: Any, grid_shape: tuple[int, ...], rowsums: bool, compiled: bool) -> list[np.ndarray]:
    A = A if isinstance(A, sp.csr_array) else sp.csr_array(A)
    shape = tuple(grid_shape)
    N = A.shape[0]
    if math.prod(shape) != N:
        raise InvalidSystemError(f"grid shape {shape} does not fit A with {N} unknowns")
    if compiled and len(shape) in (2, 3) and A.data.dtype.kind in "biuf":
        n0, n1, n2 = (1, *shape) if len(shape) == 2 else shape
        target, *sums = _kernel()(A.indptr, A.indices, np.asarray(A.data, dtype=np.float64),
                                  n0, n1, n2, bool(rowsums))
        sums = sums[3 - len(shape):]
    else:
        target, sums = _sums_numpy(A, shape, rowsums)
    target = target.reshape(shape)
    mean = target.mean()
    D = len(shape)
    factors = []
    for d, (n, F) in enumerate(zip(shape, sums)):
        other = tuple(a for a in range(D) if a != d)
        g = target.mean(axis=other) - mean if other else target - mean
        F /= N // n
        F[np.diag_indices(n)] = g + mean / D - (F.sum(axis=1) if rowsums else 0.0)
        factors.append(F)
    return factors


def _sums_numpy(A: sp.csr_array, shape: tuple[int, ...], rowsums: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """The row sums (or the diagonal) of ``A`` and, per axis, the ``n_d × n_d`` sums of its
    couplings along that axis alone, by bincount."""
    N = A.shape[0]
    D = len(shape)
    rows = np.repeat(np.arange(N), np.diff(A.indptr))
    cols = A.indices.astype(np.int64)
    data = A.data
    # grid indices by strides (C order), and each factor's couplings summed by bincount: 2.4x
    # faster than unravel_index and np.add.at
    strides = [math.prod(shape[d + 1:]) for d in range(D)]
    ri = [(rows // st) % n for st, n in zip(strides, shape)]
    ci = [(cols // st) % n for st, n in zip(strides, shape)]
    differ = [r != c for r, c in zip(ri, ci)]
    ndiff = sum(d.astype(np.int8) for d in differ)
    if rowsums:
        target = np.bincount(rows, weights=data, minlength=N)
    else:
        diag = ndiff == 0
        target = np.zeros(N)
        target[rows[diag]] = data[diag]
    sums = []
    for d, n in enumerate(shape):
        sel = differ[d] & (ndiff == 1)
        sums.append(np.bincount(ri[d][sel] * n + ci[d][sel], weights=data[sel], minlength=n * n).reshape(n, n))
    return target, sums


#: the compiled pass, loaded on first use (Numba's import and cache cost ~ms: not at import time)
_KERNEL: list = []


def _kernel():
    """The compiled pass, loaded (or compiled) by a first call on a tiny matrix, for both index
    widths SciPy uses: the setup or warm-up that first asks for it pays that, not a timed solve."""
    if not _KERNEL:
        from ._kronecker_kernels import kronecker_sums

        for dtype in (np.int32, np.int64):
            ptr = np.array([0, 1], dtype=dtype)
            kronecker_sums(ptr, ptr[:1], np.ones(1), 1, 1, 1, True)
        _KERNEL.append(kronecker_sums)
    return _KERNEL[0]


def warmup() -> None:
    """Load the compiled projection pass now (see :func:`_kernel`)."""
    _kernel()


#: a projected factor with at most this many nonzeros per row on average is kept sparse
BANDED = 5


def sparse_if_banded(M: np.ndarray) -> np.ndarray | sp.csr_array:
    """``M`` as CSR when it has at most ``BANDED`` nonzeros per row on average (a stencil's factor:
    tridiagonal), else ``M``: freezing it into a :class:`~.kronecker.Factor` hashes ``O(n)`` bytes
    instead of ``n²``, and the sum's products (:func:`is_kronecker_sum`, on every fastdiag-cg
    build and grid verdict) cost ``O(N)`` instead of ``O(N·n)`` (0.9 ms → 0.3 ms at 200×200)."""
    n = M.shape[0]
    if np.count_nonzero(M) > BANDED * n:
        return M
    flat = np.flatnonzero(M)  # row-major: a canonical CSR's order
    rows, cols = np.divmod(flat, n)
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    S = sp.csr_array((M.ravel()[flat], cols.astype(np.int32), indptr), shape=M.shape)
    S.has_canonical_format = True  # sorted and duplicate-free by construction: no check later
    return S


def tridiagonal_bands(M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Views of the diagonal, superdiagonal and subdiagonal of a dense square ``M`` with no entries
    off them (a stencil's factor), else ``None``."""
    a, up, low = np.diagonal(M), np.diagonal(M, 1), np.diagonal(M, -1)
    if M.shape[0] < 2 or np.count_nonzero(M) != np.count_nonzero(a) + np.count_nonzero(up) + np.count_nonzero(low):
        return None
    return a, up, low


def tridiagonal_factor(a: np.ndarray, e: np.ndarray) -> Factor:
    """The symmetric factor ``tridiag(e, a, e)`` from bands the caller hands over (kept, frozen,
    for the line solves), as the CSR :func:`sparse_if_banded` makes of it (zeros not stored), built
    from the bands: ~25 µs of NumPy where the dense route and a symmetry test cost 60-130 µs at
    n = 25-127."""
    n = a.shape[0]
    values = np.zeros((n, 3))  # row i: (i, i-1), (i, i), (i, i+1)
    values[1:, 0], values[:, 1], values[:-1, 2] = e, a, e
    cols = np.arange(-1, n - 1, dtype=np.int32)[:, None] + np.arange(3, dtype=np.int32)
    stored = values != 0
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.count_nonzero(stored, axis=1), out=indptr[1:])
    S = sp.csr_array((values[stored], cols[stored], indptr), shape=(n, n))
    S.has_canonical_format = True  # sorted and duplicate-free by construction: no check later
    return Factor.adopt(S, symmetric=True, bands=(a, e))


def banded_factor(M: np.ndarray, symmetric: bool | None = None) -> Factor:
    """``M``, a dense square float64 array the caller hands over (it is frozen, not copied), as a
    :class:`~.kronecker.Factor` stored as :func:`sparse_if_banded` stores it; ``symmetric`` when the
    caller knows.  A symmetric tridiagonal ``M`` goes by :func:`tridiagonal_factor`."""
    bands = tridiagonal_bands(M)
    if bands is None or not (symmetric or (symmetric is None and np.array_equal(bands[1], bands[2]))):
        return Factor.adopt(sparse_if_banded(M), symmetric)
    return tridiagonal_factor(bands[0].copy(), bands[1].copy())


#: ``A`` counts as equal to a Kronecker sum when they differ by at most this much on a random
#: vector (fastdiag-cg rounds its sums' factors to 12 digits)
SUM_EXACT = 1e-10


#: size → the random test vector of :func:`is_kronecker_sum` (always the same one: drawing it cost
#: as much as the product with ``A``, on every fastdiag-cg build)
_TEST_VECTORS: dict[int, np.ndarray] = {}


def _test_vector(n: int) -> np.ndarray:
    v = _TEST_VECTORS.get(n)
    if v is None:
        if len(_TEST_VECTORS) >= 8:
            _TEST_VECTORS.clear()
        v = _TEST_VECTORS[n] = np.random.default_rng(12345).standard_normal(n)
        v.setflags(write=False)
    return v


def is_kronecker_sum(A: sp.csr_array, K: KroneckerSum) -> bool:
    """Whether ``A == K`` to rounding, tested on one random vector (``O(N·Σ n_d)``: for setups).

    A random test vector misses a difference only with probability zero; a false "no" costs a
    caller only its shortcut."""
    v = _test_vector(A.shape[0])
    Av = A @ v
    return bool(np.linalg.norm(Av - K @ v) <= SUM_EXACT * np.linalg.norm(Av))


def kronecker_distance(A: sp.csr_array, K: KroneckerSum) -> float:
    """``‖A − K‖_F / ‖A‖_F`` (assembles ``K``: for tests and reports)."""
    A = sp.csr_array(A)
    return float(sp.linalg.norm(A - K.tocsr()) / sp.linalg.norm(A))


#: factors' key → (least and largest sum of their diagonal entries, largest |off-diagonal entry|)
_ENTRY_RANGES: dict[tuple, tuple[float, float, float]] = {}


def _entry_ranges(kron: KroneckerSum) -> tuple[float, float, float]:
    r = _ENTRY_RANGES.get(kron.factor_key)
    if r is None:
        lo = hi = off = 0.0
        for f in kron.factors:
            M = f.matrix
            d = M.diagonal() if sp.issparse(M) else np.diagonal(M)
            rest = abs(sp.csr_array(M) - sp.diags_array(d)) if sp.issparse(M) else np.abs(M - np.diag(d))
            lo, hi, off = lo + float(d.min()), hi + float(d.max()), max(off, float(rest.max()))
        if len(_ENTRY_RANGES) > 64:
            _ENTRY_RANGES.clear()
        r = _ENTRY_RANGES[kron.factor_key] = (lo, hi, off)
    return r


def sum_max_abs(kron: KroneckerSum) -> float:
    """``max |a_ij|`` of the assembled ``shift·I + scale·Σ_d I⊗A_d⊗I``, from the factors alone.

    A diagonal entry is ``shift + scale·Σ_d (A_d)_ii``, linear in the sum of the factors'
    diagonal entries, so its extremes come from the factors' extremes; an off-diagonal entry is
    ``scale`` times one factor's off-diagonal entry."""
    lo, hi, off = _entry_ranges(kron)
    shift, scale = kron.shift, kron.scale
    return max(abs(shift + scale * lo), abs(shift + scale * hi), abs(scale) * off)
