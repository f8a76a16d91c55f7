"""Partial fast diagonalisation: eigenbases on all axes but one, tridiagonal solves along that one.

When factor 0 of ``K = shift·I + scale·Σ_d I⊗A_d⊗I`` is a symmetric tridiagonal ``T`` (a 1-D
finite-difference operator: Heat2D's Laplacian), transforming only the other axes leaves one
independent tridiagonal system per mode ``j`` along axis 0,
``((shift + scale·λ_j)·I + scale·T)·y_j = c_j``: ``O(N)`` work instead of a second pair of
transforms.  On a 99×99 grid that halves the dense products (two 99³ products instead of four),
the bulk of a ``fast-diag`` solve.

Elimination without pivoting is backward stable for definite tridiagonal systems, so this path is
taken only when ``K`` is definite, known in ``O(1)`` per call from the extreme eigenvalues of the
factors (each line system's eigenvalues are a subset of ``K``'s).  Indefinite sums keep the full
diagonalisation of :mod:`.fastdiag`; either way the solver certifies ``x`` on the true residual.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ..operators import Factor, apply_along

#: the compiled kernel module, loaded on first use (Numba's cache; ~ms once Numba is imported)
_KERNEL: list = []


def _solve_lines():
    """The kernel, loaded (or compiled) by a first call on tiny arrays: at setup, not in a timed solve."""
    if not _KERNEL:
        from ._line_kernels import solve_lines

        one = np.ones(1)
        solve_lines(np.ones((1, 1)), one, 1.0, 1.0, one, one[:0])
        _KERNEL.append(solve_lines)
    return _KERNEL[0]


def symmetric_tridiagonal(f: Factor) -> tuple[np.ndarray, np.ndarray] | None:
    """``(a, e)`` (diagonal, off-diagonal) when ``f`` is symmetric tridiagonal, else ``None``."""
    if not f.symmetric or f.n < 2:
        return None
    M = sp.csr_array(f.matrix) if not sp.issparse(f.matrix) else f.matrix
    if M.nnz > 3 * f.n - 2:
        return None
    a, e = M.diagonal(0), M.diagonal(1)
    if np.count_nonzero(a) + 2 * np.count_nonzero(e) != M.count_nonzero():
        return None  # entries off the three diagonals
    return np.ascontiguousarray(a, dtype=np.float64), np.ascontiguousarray(e, dtype=np.float64)


class Lines:
    """``K⁻¹`` without factor 0's eigenbasis: transforms on axes 1…D−1, line solves along axis 0.

    ``eigs`` are the other factors' eigendecompositions (:class:`~.fastdiag.FactorEig`, symmetric:
    real ``lam``, orthogonal ``V``); ``mu`` the extreme eigenvalues of ``T = tridiag(e, a, e)``."""

    def __init__(self, a: np.ndarray, e: np.ndarray, eigs: list, shape: tuple[int, ...]) -> None:
        self.a, self.e, self.eigs, self.shape = a, e, eigs, shape
        mu = scipy.linalg.eigvalsh_tridiagonal(a, e, check_finite=False)
        self.mu = (float(mu[0]), float(mu[-1]))
        grid = np.zeros(shape[1:])
        for d, eig in enumerate(eigs):
            grid = grid + eig.lam.reshape([-1 if k == d else 1 for k in range(len(eigs))])
        self.lam = np.ascontiguousarray(grid.ravel())
        self.lam_range = (float(self.lam.min()), float(self.lam.max()))
        self.dense2d = len(shape) == 2 and eigs[0].V is not None
        _solve_lines()  # load the kernel now: setup time, paid once per grid

    def eigenvalue_range(self, shift: float, scale: float) -> tuple[float, float]:
        """The smallest and largest eigenvalue ``shift + scale·(μ + λ)`` of ``K``."""
        lo = shift + scale * (self.mu[0] + self.lam_range[0])
        hi = shift + scale * (self.mu[1] + self.lam_range[1])
        return (lo, hi) if lo <= hi else (hi, lo)

    def definite(self, shift: float, scale: float) -> bool:
        """Whether every eigenvalue of ``K`` has one strict sign (then the line solves are stable)."""
        lo, hi = self.eigenvalue_range(shift, scale)
        return math.isfinite(lo) and math.isfinite(hi) and lo * hi > 0

    def _forward(self, X: np.ndarray) -> np.ndarray:
        if self.dense2d:
            return X @ self.eigs[0].V  # = (Vᵀ Xᵀ)ᵀ: coefficients along axis 1, a new C-ordered array
        from .fastdiag import _fft

        for d, eig in enumerate(self.eigs, start=1):
            X = _fft().dst(X, type=1, norm="ortho", axis=d) if eig.V is None else apply_along(X, d, eig.W)
        return np.ascontiguousarray(X)

    def _inverse(self, C: np.ndarray) -> np.ndarray:
        if self.dense2d:
            return C @ self.eigs[0].W
        from .fastdiag import _fft

        for d, eig in enumerate(self.eigs, start=1):
            C = _fft().dst(C, type=1, norm="ortho", axis=d) if eig.V is None else apply_along(C, d, eig.V)
        return C

    def apply(self, b: np.ndarray, shift: float, scale: float) -> np.ndarray:
        """``K⁻¹ b`` for a definite ``K`` (see :meth:`definite`)."""
        C = self._forward(b.reshape(self.shape))
        _solve_lines()(C.reshape(self.shape[0], -1), self.lam, shift, scale, self.a, self.e)
        return self._inverse(C).reshape(b.shape)


class LinesPrepared:
    """One system's ``K⁻¹`` on the line path: the shared :class:`Lines` and this system's scalars."""

    __slots__ = ("lines", "scale", "shift")

    def __init__(self, lines: Lines, shift: float, scale: float) -> None:
        self.lines, self.shift, self.scale = lines, shift, scale

    def apply(self, b: np.ndarray) -> np.ndarray:
        return self.lines.apply(b, self.shift, self.scale)
