"""Kronecker-structured operators: sums ``Σ_d I⊗…⊗A_d⊗…⊗I`` and products ``A_1⊗…⊗A_D``.

Tensor-grid discretisations (finite differences on a box, spectral methods, GP covariances on a
grid) produce these; storing the small 1-D factors instead of the assembled matrix makes a
product cost ``O(N·Σ n_d)`` and lets ``fast-diag`` solve exactly from the factors'
eigendecompositions.  Vectors are grid arrays flattened row-major (last index fastest), so
factor ``d`` acts on axis ``d`` — the convention of ``scipy.sparse.kron``.

Each operator carries a cheap :attr:`fingerprint` (a hash of its factors, computed once, plus the
scalars), so seqsolve's per-call checks identify it without products.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from ..errors import InvalidSystemError, UnsupportedTypeError


class Factor:
    """One small square 1-D factor (dense or sparse), frozen, with its hash and symmetry known."""

    __slots__ = ("_bands", "key", "matrix", "n", "symmetric")

    def __init__(self, A: Any) -> None:
        if isinstance(A, Factor):
            self.matrix, self.n, self.key, self.symmetric, self._bands = A.matrix, A.n, A.key, A.symmetric, A._bands
            return
        if sp.issparse(A):
            M = sp.csr_array(A, dtype=np.float64, copy=True)  # frozen below: never the caller's arrays
            M.sum_duplicates()
            M.sort_indices()
        elif isinstance(A, (np.ndarray, list, tuple)):
            M = np.array(A, dtype=np.float64)
        else:
            raise UnsupportedTypeError(f"a Kronecker factor must be a 2-D array or sparse matrix, "
                                       f"got {type(A).__name__}")
        if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
            raise InvalidSystemError(f"a Kronecker factor must be square and non-empty, got shape {M.shape}")
        self._freeze(M)

    @classmethod
    def adopt(cls, M: np.ndarray | sp.csr_array, symmetric: bool | None = None,
              bands: tuple[np.ndarray, np.ndarray] | None = None) -> Factor:
        """``M`` frozen in place, without the constructor's copy and conversions: for a caller's own
        fresh float64 square array or canonical CSR (sorted, no duplicates) that nothing else holds,
        with ``symmetric`` when the caller knows it (else it is tested) and the ``bands`` of
        :meth:`tridiagonal` when it has them.  fastdiag-cg freezes its projected factors so: the
        copies and tests cost more than the rest of a 25³ build."""
        f = cls.__new__(cls)
        f._freeze(M, symmetric)
        if bands is not None:
            for b in bands:
                b.setflags(write=False)
            f._bands = bands
        return f

    def _freeze(self, M: np.ndarray | sp.csr_array, symmetric: bool | None = None) -> None:
        """Make ``M`` read-only and record its hash and symmetry (it must be finite)."""
        sparse = sp.issparse(M)
        if not np.all(np.isfinite(M.data if sparse else M)):
            raise InvalidSystemError("a Kronecker factor contains NaN or Inf")
        if sparse:
            h = hashlib.blake2b(digest_size=8)
            for arr in (M.data, M.indices, M.indptr):
                arr.setflags(write=False)
                h.update(arr.tobytes())
            digest = h.digest()
            self.symmetric = _csr_symmetric(M) if symmetric is None else symmetric
        else:
            M.setflags(write=False)
            digest = hashlib.blake2b(M.tobytes(), digest_size=8).digest()
            self.symmetric = bool(np.array_equal(M, M.T)) if symmetric is None else symmetric
        self.matrix = M
        self.n = M.shape[0]
        self.key = (self.n, sparse, digest)
        self._bands = _UNKNOWN

    def tridiagonal(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(a, e)``, the diagonal and off-diagonal (read-only), when the factor is symmetric
        tridiagonal (a 1-D stencil's), else ``None``; found once (a build asks up to three times)."""
        if self._bands is _UNKNOWN:
            self._bands = _symmetric_bands(self.matrix) if self.symmetric and self.n >= 2 else None
        return self._bands

    def dense(self) -> np.ndarray:
        return self.matrix.toarray() if sp.issparse(self.matrix) else np.asarray(self.matrix)

    def sparse(self) -> sp.csr_array:
        return sp.csr_array(self.matrix)


#: :attr:`Factor._bands` before :meth:`Factor.tridiagonal` has looked
_UNKNOWN: Any = object()


def _symmetric_bands(M: np.ndarray | sp.csr_array) -> tuple[np.ndarray, np.ndarray] | None:
    """The diagonal and off-diagonal of a symmetric ``M`` with no entries off the three diagonals."""
    n = M.shape[0]
    if sp.issparse(M):
        if M.nnz > 3 * n - 2:
            return None
        a, e, stored = M.diagonal(0), M.diagonal(1), M.count_nonzero()
    else:  # read in place: a conversion to CSR costs more than the whole check (~0.1 ms at n = 126)
        a, e, stored = np.diagonal(M), np.diagonal(M, 1), np.count_nonzero(M)
    # symmetric: the subdiagonal holds as many nonzeros as the superdiagonal
    if np.count_nonzero(a) + 2 * np.count_nonzero(e) != stored:
        return None  # entries off the three diagonals
    a, e = np.array(a, dtype=np.float64), np.array(e, dtype=np.float64)
    a.setflags(write=False)
    e.setflags(write=False)
    return a, e


def _csr_symmetric(M: sp.csr_array) -> bool:
    """``M == Mᵀ`` for a canonical CSR (sorted, no duplicates), stored zeros ignored, by comparing
    arrays: SciPy's ``M != M.T`` builds three sparse matrices (~70 µs even for a 25×25 factor)."""
    n = M.shape[0]
    rows = np.repeat(np.arange(n), np.diff(M.indptr))
    nonzero = M.data != 0
    rows, cols, values = rows[nonzero], M.indices[nonzero].astype(np.int64), M.data[nonzero]
    key = rows * n + cols  # ascending: the canonical order
    transposed = cols * n + rows
    order = np.argsort(transposed, kind="stable")  # entry order[p] sits at the mirror of entry p
    return bool(np.array_equal(transposed[order], key) and np.array_equal(values[order], values))


def _factors(factors: Sequence[Any]) -> tuple[Factor, ...]:
    if len(factors) < 1:
        raise InvalidSystemError("a Kronecker operator needs at least one factor")
    return tuple(Factor(f) for f in factors)


def apply_along(X: np.ndarray, axis: int, M: Any) -> np.ndarray:
    """``M`` applied to every 1-D line of the grid array ``X`` along ``axis`` (no assembly)."""
    Y = np.moveaxis(X, axis, 0) if axis else X
    shape = Y.shape
    Z = M @ Y.reshape(shape[0], -1)
    Z = np.asarray(Z).reshape((Z.shape[0],) + shape[1:])
    return np.moveaxis(Z, 0, axis) if axis else Z


def _scalar(name: str, v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise InvalidSystemError(f"{name} must be a real number, got {v!r}") from None
    if not math.isfinite(f):
        raise InvalidSystemError(f"{name} must be finite, got {v!r}")
    return f


class _Kron(LinearOperator):
    """Shared plumbing: the grid, batched products and the assembled forms for tests."""

    factors: tuple[Factor, ...]

    def __init__(self, factors: tuple[Factor, ...]) -> None:
        self.factors = factors  # frozen Factors: their keys and symmetry are read once here
        self._factor_key = tuple(f.key for f in factors)
        self._symmetric = all(f.symmetric for f in factors)
        self.grid_shape = tuple(f.n for f in factors)
        n = int(np.prod(self.grid_shape))
        super().__init__(np.float64, (n, n))

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        return np.column_stack([self._matvec(X[:, j]) for j in range(X.shape[1])]) if X.shape[1] else X

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self.T._matvec(x)

    def _adjoint(self) -> _Kron:
        return self.T

    def toarray(self) -> np.ndarray:
        """The assembled dense matrix (tests and small fallbacks only)."""
        return self.tocsr().toarray()

    @property
    def symmetric(self) -> bool:
        """True when every factor is symmetric (then so is the operator)."""
        return self._symmetric

    #: entries are not scanned: a magnitude of ``nan`` tells seqsolve not to rescale
    max_abs = math.nan


class KroneckerSum(_Kron):
    """``shift·I + scale·Σ_d I⊗…⊗A_d⊗…⊗I`` on a grid of shape ``(n_1, …, n_D)``.

    Parameters
    ----------
    factors : sequence of square arrays or sparse matrices
        ``A_d`` of size ``n_d``; factor 0 acts on the slowest grid index.
    shift, scale : float
        The scalars; a sequence whose systems differ only in them (Crank–Nicolson with a
        time-varying coefficient) keeps the same factors, so their eigendecompositions are reused.
    """

    def __init__(self, factors: Sequence[Any], shift: float = 0.0, scale: float = 1.0) -> None:
        super().__init__(_factors(factors))
        self.shift = _scalar("shift", shift)
        self.scale = _scalar("scale", scale)

    @property
    def factor_key(self) -> tuple:
        """Identity of the factors alone (what an eigendecomposition depends on)."""
        return self._factor_key

    @property
    def fingerprint(self) -> tuple:
        """Identity of the operator's values, computed without touching a vector."""
        return ("kron-sum", self.factor_key, self.shift, self.scale)

    def with_scalars(self, shift: float, scale: float) -> KroneckerSum:
        """The same factors (shared, hashes kept) with new ``shift`` and ``scale``."""
        return KroneckerSum(self.factors, shift, scale)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        X = np.asarray(x, dtype=np.float64).reshape(self.grid_shape)
        Y = apply_along(X, 0, self.factors[0].matrix)  # a new array: summed into in place
        for d, f in enumerate(self.factors[1:], start=1):
            Y += apply_along(X, d, f.matrix)
        Y *= self.scale
        if self.shift:
            Y += self.shift * X
        return Y.reshape(x.shape)

    def _transpose(self) -> KroneckerSum:
        if self.symmetric:
            return self
        return KroneckerSum([f.matrix.T for f in self.factors], self.shift, self.scale)

    def tocsr(self) -> sp.csr_array:
        """The assembled sparse matrix (tests and small fallbacks only)."""
        N = self.shape[0]
        S = sp.csr_array((N, N))
        for d, f in enumerate(self.factors):
            left = int(np.prod(self.grid_shape[:d]))
            right = int(np.prod(self.grid_shape[d + 1:]))
            S = S + sp.kron(sp.kron(sp.eye_array(left), f.sparse()), sp.eye_array(right))
        return sp.csr_array(self.scale * S + self.shift * sp.eye_array(N))

    def __repr__(self) -> str:
        return f"KroneckerSum(grid_shape={self.grid_shape}, shift={self.shift:g}, scale={self.scale:g})"


class KroneckerProduct(_Kron):
    """``scale·(A_1⊗…⊗A_D)`` (e.g. a GP covariance with a product kernel on a grid)."""

    def __init__(self, factors: Sequence[Any], scale: float = 1.0) -> None:
        super().__init__(_factors(factors))
        self.scale = _scalar("scale", scale)

    @property
    def fingerprint(self) -> tuple:
        return ("kron-product", tuple(f.key for f in self.factors), self.scale)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        X = np.asarray(x, dtype=np.float64).reshape(self.grid_shape)
        for d, f in enumerate(self.factors):
            X = apply_along(X, d, f.matrix)
        return (self.scale * X).reshape(x.shape)

    def _transpose(self) -> KroneckerProduct:
        if self.symmetric:
            return self
        return KroneckerProduct([f.matrix.T for f in self.factors], self.scale)

    def tocsr(self) -> sp.csr_array:
        out = sp.csr_array(np.ones((1, 1)))
        for f in self.factors:
            out = sp.kron(out, f.sparse())
        return sp.csr_array(self.scale * out)

    def __repr__(self) -> str:
        return f"KroneckerProduct(grid_shape={self.grid_shape}, scale={self.scale:g})"
