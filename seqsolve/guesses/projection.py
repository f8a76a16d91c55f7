"""``projection(k)``: the best combination of the last ``k`` solutions (Fischer 1998).

For symmetric positive definite ``A`` the guess is the Galerkin projection of the unknown
solution onto ``S = span(x₁ … x_k)``: the ``x0 ∈ S`` with the smallest A-norm error, computed
from ``b`` alone, since ``Vᵀ A x = Vᵀ b``.  For non-symmetric ``A`` it is the ``x0 ∈ S`` with the
smallest residual ``||b − A x0||`` (a least-squares problem on ``A S``).

Numerics: consecutive solutions are nearly parallel, so the window is first turned into its
Newton backward differences (``x_k``, ``x_k − x_{k−1}``, …), which span the same space but are
far from parallel, then scaled and orthonormalised in the small ``k×k`` Gram space, dropping
directions that are dependent to rounding.  ``A·x`` is stored next to every ``x`` and recomputed
(one sparse-times-``k``-columns product) only when the operator changes, per the fingerprint.
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from ..errors import ConfigurationError
from .base import Guess

#: relative eigenvalue of the scaled Gram matrix below which a direction counts as dependent
DROP = 1e-11
_VARIANTS = ("auto", "galerkin", "minres")


class Projection(Guess):
    """Project onto the last ``k`` solutions: Galerkin (SPD) or minimal residual (otherwise).

    ``variant="auto"`` uses Galerkin while the Gram matrix ``Sᵀ A S`` is symmetric, else minres.
    """

    def __init__(self, k: int = 8, variant: str = "auto") -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigurationError(f"projection: k must be a positive integer, got {k!r}")
        if variant not in _VARIANTS:
            raise ConfigurationError(f"projection: variant must be one of {', '.join(_VARIANTS)}, got {variant!r}")
        self.k, self.variant = int(k), variant
        self.name = f"projection(k={self.k})" if variant == "auto" else f"projection(k={self.k},variant={variant})"
        # ring buffers, one solution (and its product with A) per column; _order lists slots oldest first
        self._x = np.zeros((0, self.k))
        self._ax = np.zeros((0, self.k))
        self._order: list[int] = []
        self._stale: set[int] = set()  # slots whose A·x is not yet known for operator self._key
        self._key: Hashable | None = None
        #: the variant the last :meth:`form` used (``"galerkin"`` or ``"minres"``)
        self.used_: str | None = None

    # ---------------------------------------------------------------- the three verbs
    def form(self, A: Any, b: np.ndarray, key: Hashable | None = None) -> np.ndarray | None:
        D, AD, noise = self._differences(A, b.shape[0], key)
        if D is None:
            return None
        G = D.T @ AD
        variant = self.variant
        if variant == "auto":
            asym = np.abs(G - G.T).max()
            variant = "galerkin" if asym <= 1e-10 * np.abs(G).max() else "minres"
        self.used_ = variant
        if variant == "galerkin":
            y = _galerkin_coefficients(G, D.T @ b, noise)
        else:
            y = _least_squares(AD, b, noise)
        return D @ y

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None = None) -> None:
        n = x.shape[0]
        if self._x.shape[0] != n:  # first solution, or the size changed: start over
            self._x, self._ax = np.zeros((n, self.k)), np.zeros((n, self.k))
            self._order, self._stale = [], set()
        slot = self._order.pop(0) if len(self._order) == self.k else len(self._order)
        self._order.append(slot)
        self._x[:, slot] = x
        self._stale.add(slot)  # A·x is computed when a guess is next formed, for that solve's operator

    def reset(self) -> None:
        self._x, self._ax = np.zeros((0, self.k)), np.zeros((0, self.k))
        self._order, self._stale, self._key = [], set(), None

    @property
    def memory_vectors(self) -> int:
        return 2 * self.k if self._order else 0

    # ---------------------------------------------------------------- the basis
    def basis(self, A: Any, n: int, key: Hashable | None = None) -> tuple[np.ndarray, np.ndarray]:
        """An A-orthonormal basis ``V`` of the stored solutions and ``A V`` (SPD ``A``).

        Two passes of Gram-space orthonormalisation (CholeskyQR2) on products with ``A`` formed
        afresh, so ``Vᵀ A V = I`` to rounding even when the solutions are nearly dependent.
        :meth:`form` needs only the first pass, on the stored products.
        """
        D, AD, noise = self._differences(A, n, key)
        if D is None:
            return np.zeros((n, 0)), np.zeros((n, 0))
        AD = np.asarray(A @ D).reshape(D.shape)  # exact products: V and A V consistent to rounding
        C = _orthonormaliser(D.T @ AD, noise)
        V, AV = D @ C, AD @ C
        G2 = V.T @ AV
        R = np.linalg.cholesky(0.5 * (G2 + G2.T)).T  # close to I: well conditioned
        return np.linalg.solve(R.T, V.T).T, np.linalg.solve(R.T, AV.T).T

    # ---------------------------------------------------------------- internals
    def _differences(self, A, n: int, key):
        """The newest-first Newton backward differences of the window, their products with ``A``,
        and the rounding noise of each difference (absolute, in the A-norm).

        Formed as one product with a small integer matrix: the weights are exact, so difference
        ``j`` carries rounding noise of about ``2^j ε`` times the size of the solutions.  A
        difference not far above its noise (a window of exactly dependent solutions) is noise,
        and is dropped rather than orthonormalised into a spurious direction.
        """
        m = len(self._order)
        if m == 0 or self._x.shape[0] != n:
            return None, None, None
        if key is None or key != self._key:  # another operator: every stored A·x is stale
            self._stale, self._key = set(self._order), key
        if len(self._stale) == m:
            self._ax[:, :m] = np.asarray(A @ self._x[:, :m]).reshape(n, m)
        elif self._stale:
            cols = sorted(self._stale)
            self._ax[:, cols] = np.asarray(A @ self._x[:, cols]).reshape(n, len(cols))
        self._stale = set()
        T = _difference_matrix(tuple(self._order), self.k)
        scale = np.sqrt(np.max(np.linalg.norm(self._x[:, :m], axis=0) * np.linalg.norm(self._ax[:, :m], axis=0)))
        noise = np.abs(T).sum(axis=0) * np.finfo(float).eps * scale
        return self._x @ T, self._ax @ T, noise


def _difference_matrix(order: tuple[int, ...], k: int) -> np.ndarray:
    """``T`` (k × m) with ``X T`` = the Newton backward differences, newest first, of the slots in ``order``."""
    cached = _DIFF_CACHE.get((order, k))
    if cached is not None:
        return cached
    m = len(order)
    W = np.eye(m)  # row j: the weights of ∇ʲ x_newest over the solutions, newest first
    for level in range(1, m):
        W[level:] = W[level - 1:-1] - np.roll(W[level - 1:-1], 1, axis=1)
    T = np.zeros((k, m))
    newest_first = order[::-1]
    for j in range(m):
        T[list(newest_first), j] = W[j]
    if len(_DIFF_CACHE) > 1024:
        _DIFF_CACHE.clear()
    _DIFF_CACHE[(order, k)] = T
    return T


_DIFF_CACHE: dict = {}


def _orthonormaliser(G: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``C`` with ``Cᵀ G C = I`` on the part of the Gram matrix ``G`` that stands above rounding.

    Columns whose A-norm is within ``1e6`` of their ``noise`` are left out; of the rest, scaled to
    unit A-norm, directions with eigenvalue below ``DROP`` or below the (squared, ×100) relative
    noise of the kept columns are dependent to rounding and dropped.
    """
    G = 0.5 * (G + G.T)
    d = np.sqrt(np.maximum(np.diag(G), 0.0))
    keep = d > 1e6 * noise
    s = np.zeros_like(d)
    s[keep] = 1.0 / d[keep]
    lam, Q = np.linalg.eigh(s[:, None] * G * s[None, :])
    rel = float(np.max(noise[keep] / d[keep])) if keep.any() else 1.0
    good = lam > max(DROP, (100.0 * rel) ** 2) * max(lam[-1], 0.0)
    return s[:, None] * Q[:, good] / np.sqrt(lam[good])


def _galerkin_coefficients(G: np.ndarray, c: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``y`` with ``(Sᵀ A S) y = Sᵀ b`` restricted to the independent directions of ``S``."""
    C = _orthonormaliser(G, noise)
    return C @ (C.T @ c)


def _least_squares(AD: np.ndarray, b: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
    """``argmin_y ||b − AD y||`` with column scaling and rank truncation (noise columns left out)."""
    norms = np.linalg.norm(AD, axis=0)
    keep = norms > (0.0 if noise is None else 1e6 * noise)
    s = np.where(keep, 1.0 / np.where(keep, norms, 1.0), 0.0)
    y, *_ = np.linalg.lstsq(AD * s, b, rcond=1e-10)
    return s * y
