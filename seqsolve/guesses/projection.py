"""``projection(k)``: the best combination of the last ``k`` solutions (Fischer 1998).

For symmetric positive definite ``A`` the guess is the Galerkin projection of the unknown
solution onto ``S = span(x₁ … x_k)``: the ``x0 ∈ S`` with the smallest A-norm error, computed
from ``b`` alone, since ``Vᵀ A x = Vᵀ b``.  For non-symmetric ``A`` it is the ``x0 ∈ S`` with the
smallest residual ``||b − A x0||`` (a least-squares problem on ``A S``).

Numerics: consecutive solutions are nearly parallel, so ``S`` is held as an orthonormal basis
``Q`` (updated by two Gram–Schmidt passes when a solution arrives, downdated by a small QR when
the oldest leaves), and ``A Q`` is stored beside it.  The A-inner products live in the small
matrix ``G = Qᵀ A Q`` (condition at most that of ``A``), so nearly dependent solutions cost
nothing in accuracy.  Products with ``A``: one per new solution while the operator is unchanged
(per the fingerprint), ``k`` (one sparse-times-block product) after it changed.
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np
import scipy.linalg as la

from ..errors import ConfigurationError
from .base import Guess

_VARIANTS = ("auto", "galerkin", "minres")


class Projection(Guess):
    """Project onto the last ``k`` solutions: Galerkin (SPD) or minimal residual (otherwise).

    ``variant="auto"`` uses Galerkin while ``Qᵀ A Q`` is symmetric, else minres.
    """

    def __init__(self, k: int = 8, variant: str = "auto") -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigurationError(f"projection: k must be a positive integer, got {k!r}")
        if variant not in _VARIANTS:
            raise ConfigurationError(f"projection: variant must be one of {', '.join(_VARIANTS)}, got {variant!r}")
        self.k, self.variant = int(k), variant
        self.name = f"projection(k={self.k})" if variant == "auto" else f"projection(k={self.k},variant={variant})"
        self.reset()
        #: the variant the last :meth:`form` used (``"galerkin"`` or ``"minres"``)
        self.used_: str | None = None

    # ---------------------------------------------------------------- the three verbs
    def form(self, A: Any, b: np.ndarray, key: Hashable | None = None) -> np.ndarray | None:
        Q, AQ = self._products(A, b.shape[0], key)
        if Q is None:
            return None
        G = Q.T @ AQ
        variant = self.variant
        if variant == "auto":
            variant = "galerkin" if np.abs(G - G.T).max() <= 1e-10 * np.abs(G).max() else "minres"
        self.used_ = variant
        if variant == "galerkin":
            y = _solve_spd(0.5 * (G + G.T), Q.T @ b)
        else:
            y, *_ = np.linalg.lstsq(AQ, b, rcond=1e-12)
        return Q @ y

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None = None) -> None:
        n = x.shape[0]
        if self._buf_q.shape[0] != n:  # first solution, or the size changed: start over
            self.reset()
            self._buf_q, self._buf_aq = np.zeros((n, self.k)), np.zeros((n, self.k))
        if self._m == self.k:
            self._drop_oldest()
        # two classical Gram–Schmidt passes: orthogonal to rounding however close x is to S
        m = self._m
        Q = self._buf_q[:, :m]
        h = Q.T @ x
        v = x - Q @ h
        h2 = Q.T @ v
        v -= Q @ h2
        h += h2
        rho = float(np.linalg.norm(v))
        if not rho > 1e-13 * np.linalg.norm(x):  # x lies in S to rounding: nothing new to store
            return
        v /= rho
        v -= Q @ (Q.T @ v)  # a third pass on the unit vector: v may be mostly rounding when rho is small
        v /= np.linalg.norm(v)
        self._buf_q[:, m] = v
        R = np.zeros((m + 1, m + 1))
        R[:m, :m], R[:m, m], R[m, m] = self._R, h, rho
        self._R, self._m = R, m + 1
        self._missing.append(m)  # A·q is computed when a guess is next formed, for that solve's operator

    def reset(self) -> None:
        self._buf_q = self._buf_aq = np.zeros((0, self.k))  # columns 0..m-1: Q and A Q
        self._m = 0
        self._R = np.zeros((0, 0))  # stored solutions = Q R, oldest first: what the downdate needs
        self._missing: list[int] = []  # columns of A Q not yet computed for operator self._key
        self._rotation: np.ndarray | None = None  # A Q = (stored A Q) · rotation, applied lazily
        self._key: Hashable | None = None

    @property
    def memory_vectors(self) -> int:
        return 2 * self.k if self._m else 0

    # ---------------------------------------------------------------- the basis
    def basis(self, A: Any, n: int, key: Hashable | None = None) -> tuple[np.ndarray, np.ndarray]:
        """An A-orthonormal basis ``V`` of the stored solutions and ``A V`` (SPD ``A``): ``V = Q L⁻ᵀ``
        with ``Qᵀ A Q = L Lᵀ``, refined by a second pass so ``Vᵀ A V = I`` to rounding."""
        Q, AQ = self._products(A, n, key)
        if Q is None:
            return np.zeros((n, 0)), np.zeros((n, 0))
        V, AV = Q, AQ
        for _ in range(2):
            G = V.T @ AV
            L = np.linalg.cholesky(0.5 * (G + G.T))
            V, AV = la.solve_triangular(L, V.T, lower=True).T, la.solve_triangular(L, AV.T, lower=True).T
        return V, AV

    # ---------------------------------------------------------------- internals
    def _products(self, A, n: int, key):
        """``Q`` and ``A Q`` for the operator ``A`` (``None`` when nothing is stored)."""
        m = self._m
        if m == 0 or self._buf_q.shape[0] != n:
            return None, None
        Q, AQ = self._buf_q[:, :m], self._buf_aq[:, :m]
        if key is None or key != self._key:  # another operator: every stored product is stale
            self._missing, self._key = list(range(m)), key
        if len(self._missing) == m:
            AQ[:] = np.asarray(A @ Q).reshape(n, m)
        else:
            if self._rotation is not None:  # the oldest solution left while A stayed: rotate, no products
                r = self._rotation.shape[1]
                AQ[:, :r] = self._buf_aq[:, :r + 1] @ self._rotation
            if self._missing:
                cols = self._missing
                AQ[:, cols] = np.asarray(A @ Q[:, cols]).reshape(n, len(cols))
        self._missing, self._rotation = [], None
        return Q, AQ

    def _drop_oldest(self) -> None:
        """Remove the oldest solution from ``S`` without products with ``A``: with ``X = Q R``,
        ``X[:, 1:] = (Q Z) T`` for the QR ``R[:, 1:] = Z T`` of a small Hessenberg matrix."""
        Z, T = np.linalg.qr(self._R[:, 1:], mode="complete")
        m = self._m - 1
        self._buf_q[:, :m] = self._buf_q[:, :m + 1] @ Z[:, :m]
        if self._missing or self._rotation is not None:  # products pending: recompute all when needed
            self._missing = list(range(m))
            self._rotation = None
        else:
            self._rotation = Z[:, :m]
        self._R, self._m = T[:m], m


def _solve_spd(G: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``G⁻¹ c`` for the symmetric ``G = Qᵀ A Q``; eigenvalues that are not clearly positive
    (``A`` not quite definite on ``S``) are left out rather than inverted."""
    try:
        return la.cho_solve(la.cho_factor(G), c)
    except la.LinAlgError:
        lam, U = np.linalg.eigh(G)
        good = lam > 1e-12 * max(abs(lam).max(), np.finfo(float).tiny)
        return U[:, good] @ ((U[:, good].T @ c) / lam[good])
