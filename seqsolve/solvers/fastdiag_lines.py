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

from ..operators import Factor, apply_along

#: the compiled kernel module, loaded on first use (Numba's cache; ~ms once Numba is imported)
_KERNEL: list = []


def _solve_lines():
    """The kernel, loaded (or compiled) by a first call on tiny arrays: at setup, not in a timed solve."""
    if not _KERNEL:
        from ._line_kernels import fold, solve_lines, unfold

        one = np.ones(1)
        solve_lines(np.ones((1, 1)), one, 1.0, 1.0, one, one[:0])
        X = np.ones((1, 3))
        fold(X, np.empty((1, 2)), np.empty((1, 1)))
        unfold(np.ones((1, 2)), np.ones((1, 1)), X)
        _KERNEL.extend((solve_lines, fold, unfold))
    return _KERNEL[0]


#: how far from exactly even or odd an eigenvector may be for the folded transform (it is then
#: symmetrised: the error this makes is of this order, far below any tolerance the certificate checks)
FOLD_TOL = 1e-12


class Folded:
    """A symmetric, persymmetric factor's eigenbasis split into even and odd vectors.

    A factor that commutes with the reversal ``J`` (a 1-D operator on a uniform grid with the same
    condition at both ends) has eigenvectors with ``Jv = ±v``, so a product with the basis needs only
    the half rows: ``X V_even = [X_k + X_(n−1−k)] R_even`` and ``X V_odd = [X_k − X_(n−1−k)] R_odd``,
    half the multiply-adds of the full product, the bulk of a solve on a small grid."""

    def __init__(self, eig) -> None:
        V, n = eig.V, eig.V.shape[0]
        h, h1 = n // 2, (n + 1) // 2
        R = V[::-1]
        even = np.max(np.abs(R - V), axis=0) <= FOLD_TOL
        odd = np.max(np.abs(R + V), axis=0) <= FOLD_TOL
        self.ok = bool(np.all(even | odd) and even.sum() == h1 and odd.sum() == h)
        if not self.ok:
            return
        ie, io = np.flatnonzero(even), np.flatnonzero(odd)
        self.order = np.concatenate([ie, io])  # coefficient columns: the even modes, then the odd ones
        Ve, Vo = 0.5 * (V[:, ie] + R[:, ie]), 0.5 * (V[:, io] - R[:, io])  # exactly even / odd
        self.Re, self.Ro = np.ascontiguousarray(Ve[:h1]), np.ascontiguousarray(Vo[:h])
        self.ReT, self.RoT = np.ascontiguousarray(self.Re.T), np.ascontiguousarray(self.Ro.T)
        self.h, self.h1 = h, h1


def folded(eig) -> "Folded | None":
    """The folded form of ``eig`` (a symmetric factor's :class:`~.fastdiag.FactorEig`) when it has one."""
    if eig.V is None or eig.W is None or eig.V.shape[0] < 4 or not np.array_equal(eig.V.T, eig.W):
        return None
    f = Folded(eig)
    return f if f.ok else None


def symmetric_tridiagonal(f: Factor) -> tuple[np.ndarray, np.ndarray] | None:
    """``(a, e)`` (diagonal, off-diagonal; the caller's copies) when ``f`` is symmetric tridiagonal, else ``None``."""
    bands = f.tridiagonal()
    return None if bands is None else (bands[0].copy(), bands[1].copy())


def extremes(a: np.ndarray, e: np.ndarray) -> tuple[float, float]:
    """The least and largest eigenvalue of ``tridiag(e, a, e)``, by bisection (all ``n`` eigenvalues
    cost 2-3x more at n = 126-200)."""
    return tuple(float(scipy.linalg.eigvalsh_tridiagonal(a, e, select="i", select_range=(k, k),
                                                         check_finite=False)[0])
                 for k in (0, a.shape[0] - 1))


class Lines:
    """``K⁻¹`` without factor 0's eigenbasis: transforms on axes 1…D−1, line solves along axis 0.

    ``eigs`` are the other factors' eigendecompositions (:class:`~.fastdiag.FactorEig`, symmetric:
    real ``lam``, orthogonal ``V``); ``mu`` the extreme eigenvalues of ``T = tridiag(e, a, e)``
    (:func:`extremes`)."""

    def __init__(self, a: np.ndarray, e: np.ndarray, mu: tuple[float, float], eigs: list,
                 shape: tuple[int, ...]) -> None:
        self.a, self.e, self.mu, self.eigs, self.shape = a, e, mu, eigs, shape
        grid = np.zeros(shape[1:])
        for d, eig in enumerate(eigs):
            grid = grid + eig.lam.reshape([-1 if k == d else 1 for k in range(len(eigs))])
        self.lam = np.ascontiguousarray(grid.ravel())
        self.lam_range = (float(self.lam.min()), float(self.lam.max()))
        self.dense2d = len(shape) == 2 and eigs[0].V is not None
        self.fold = folded(eigs[0]) if self.dense2d else None
        if self.fold is not None:  # the lines in the folded order: even modes, then odd
            self.lam_even = np.ascontiguousarray(self.lam[self.fold.order[:self.fold.h1]])
            self.lam_odd = np.ascontiguousarray(self.lam[self.fold.order[self.fold.h1:]])
        _solve_lines()  # load the kernel now: setup time, paid once per grid

    def weighted(self, weights: tuple[float, ...]) -> "LineEigenvalues":
        """The other axes' eigenvalue grid of ``T ⊕ w_1·A_1 ⊕ … ⊕ w_{D−1}·A_{D−1}`` (``weights[0]``,
        factor 0's, is 1: the caller scales the sum by it): the same eigenvectors, so only this
        ``O(N/n_0)`` grid changes when the axes are rescaled apart."""
        grid = np.zeros(self.shape[1:])
        for d, eig in enumerate(self.eigs):
            grid = grid + weights[d + 1] * eig.lam.reshape([-1 if k == d else 1 for k in range(len(self.eigs))])
        return LineEigenvalues(self, np.ascontiguousarray(grid.ravel()))

    def eigenvalue_range(self, shift: float, scale: float,
                         lams: "LineEigenvalues | None" = None) -> tuple[float, float]:
        """The smallest and largest eigenvalue ``shift + scale·(μ + λ)`` of ``K`` (``lams``: the
        other axes' eigenvalues when weighted, see :meth:`weighted`)."""
        lam_range = self.lam_range if lams is None else lams.lam_range
        lo = shift + scale * (self.mu[0] + lam_range[0])
        hi = shift + scale * (self.mu[1] + lam_range[1])
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

    def _apply_folded(self, B: np.ndarray, shift: float, scale: float, lams: "LineEigenvalues | Lines") -> np.ndarray:
        f = self.fold
        solve_lines, fold, unfold = _KERNEL
        m = B.shape[0]
        P, Q = np.empty((m, f.h1)), np.empty((m, f.h))
        fold(B, P, Q)
        Ce, Co = P @ f.Re, Q @ f.Ro
        solve_lines(Ce, lams.lam_even, shift, scale, self.a, self.e)
        solve_lines(Co, lams.lam_odd, shift, scale, self.a, self.e)
        X = np.empty_like(B)
        unfold(Ce @ f.ReT, Co @ f.RoT, X)
        return X

    def apply(self, b: np.ndarray, shift: float, scale: float, lams: "LineEigenvalues | None" = None) -> np.ndarray:
        """``K⁻¹ b`` for a definite ``K`` (see :meth:`definite`; ``lams``: see :meth:`weighted`)."""
        lams = self if lams is None else lams
        if self.fold is not None:
            return self._apply_folded(b.reshape(self.shape), shift, scale, lams).reshape(b.shape)
        C = self._forward(b.reshape(self.shape))
        _solve_lines()(C.reshape(self.shape[0], -1), lams.lam, shift, scale, self.a, self.e)
        return self._inverse(C).reshape(b.shape)


class LineEigenvalues:
    """The other axes' eigenvalues of a :class:`Lines` sum whose axes were rescaled apart (see
    :meth:`Lines.weighted`): the grid, its folded halves where the lines are folded, and its range."""

    __slots__ = ("lam", "lam_even", "lam_odd", "lam_range")

    def __init__(self, lines: Lines, lam: np.ndarray) -> None:
        self.lam = lam
        self.lam_range = (float(lam.min()), float(lam.max()))
        if lines.fold is not None:
            self.lam_even = np.ascontiguousarray(lam[lines.fold.order[:lines.fold.h1]])
            self.lam_odd = np.ascontiguousarray(lam[lines.fold.order[lines.fold.h1:]])


class LinesPrepared:
    """One system's ``K⁻¹`` on the line path: the shared :class:`Lines` and this system's scalars."""

    __slots__ = ("lines", "scale", "shift", "lifted", "lams")

    def __init__(self, lines: Lines, shift: float, scale: float, lams: LineEigenvalues | None = None) -> None:
        self.lines, self.shift, self.scale, self.lams = lines, shift, scale, lams  # lams: axes rescaled apart
        self.lifted = False  # set by a caller that shifted the sum's eigenvalues (no longer its inverse)

    def apply(self, b: np.ndarray) -> np.ndarray:
        return self.lines.apply(b, self.shift, self.scale, self.lams)
