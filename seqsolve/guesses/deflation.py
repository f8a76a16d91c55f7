"""``deflation(k)``: the warm start corrected on the slow modes of the recent errors (cheap recycling).

Why: what CG spends its iterations on is the error of its start, and within that error the
slow (small-eigenvalue) components.  Consecutive systems make similar errors, so the strategy
keeps ``W``, ``k`` Ritz vectors of ``A`` for the smallest Ritz values on the span of the recent
errors ``x − x0``, and starts from the Galerkin correction of the previous solution::

    x0 = x_prev + W (Wᵀ A W)⁻¹ Wᵀ (b − A x_prev)

the ``x0 ∈ x_prev + span(W)`` with the smallest A-norm error (SPD ``A``), so never worse than
``previous`` in that norm.  It works with every configuration (deflated CG recycles inside the
solver and only with SSOR).  Cost per step: one product with ``A`` (the residual of ``x_prev``),
``2k`` vector operations, plus ``k`` products whenever ``A`` changed or the space was refreshed.
The products ``A e`` of the errors need no extra work: ``A (x − x0) = r0 − r ≈ r0``, the start's
residual, which the correction computes anyway (the final residual is below the tolerance).
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np
import scipy.linalg as la

from ..errors import ConfigurationError
from .base import Guess, Window


class Deflation(Guess):
    """Galerkin-correct ``previous`` on ``k`` Ritz vectors of the recent errors (refreshed every
    ``every`` solves, default ``max(1, k // 2)``)."""

    def __init__(self, k: int = 8, every: int | None = None) -> None:
        every = max(1, k // 2) if every is None else every
        for label, v in (("k", k), ("every", every)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigurationError(f"deflation: {label} must be a positive integer, got {v!r}")
        self.k, self.every = int(k), int(every)
        self.name = f"deflation(k={self.k})" if every == max(1, k // 2) else f"deflation(k={self.k},every={every})"
        self.reset()

    def form(self, A: Any, b: np.ndarray, key: Hashable | None = None) -> np.ndarray | None:
        last = self._last.usable(b.shape[0])
        if not last:
            return None
        x = last[-1]
        r = b - np.asarray(A @ x).reshape(-1)
        x0 = x.copy()
        W = self.W if self.W is not None and self.W.shape[1] == b.shape[0] else None
        if W is not None:
            if self._AW is None or key is None or key != self._key:
                self._AW, self._key = np.asarray(A @ W.T).T.copy(), key  # k products, rows again
            E = W @ self._AW.T
            try:
                y = la.cho_solve(la.cho_factor(0.5 * (E + E.T)), W @ r)
            except la.LinAlgError:
                y = None  # A is not definite on span(W): plain warm start, and a fresh space
                self.W = self._AW = None
            if y is not None:
                x0 += W.T @ y
                r -= self._AW.T @ y
        self._pending = (x0, r)
        return x0

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None = None) -> None:
        pending, self._pending = self._pending, None
        self._last.push(x)
        if pending is None or pending[0].shape != x.shape:
            return
        self._errors.push(x - pending[0])
        self._residuals.push(pending[1])
        self._fresh += 1
        if self._fresh >= self.every:
            self._refresh()

    def missed(self) -> None:
        self._pending = None  # the next solution shown is not the one this start was formed for

    def reset(self) -> None:
        self._last = Window(1)
        self._errors, self._residuals = Window(self.k), Window(self.k)
        self.W: np.ndarray | None = None  # Ritz vectors (rows)
        self._AW: np.ndarray | None = None  # A W for the operator self._key (rows)
        self._key: Hashable | None = None
        self._pending: tuple[np.ndarray, np.ndarray] | None = None  # (x0, b − A x0) of the last form
        self._fresh = 0

    @property
    def planned_vectors(self) -> int:
        return 5 * self.k  # the last, errors, residuals, W and A·W

    @property
    def memory_vectors(self) -> int:
        held = len(self._last) + len(self._errors) + len(self._residuals)
        return held + (0 if self.W is None else 2 * self.W.shape[0])

    def _refresh(self) -> None:
        """Rayleigh–Ritz of ``A`` on ``span(W, recent errors)``: keep the ``k`` smallest Ritz vectors."""
        self._fresh = 0
        n = self._errors.items[-1].shape[0]
        S, AS = np.array(self._errors.items), np.array(self._residuals.items)
        if self.W is not None and self._AW is not None and self.W.shape[1] == n:
            S, AS = np.vstack((self.W, S)), np.vstack((self._AW, AS))
        GA, GM = S @ AS.T, S @ S.T
        GA, GM = 0.5 * (GA + GA.T), 0.5 * (GM + GM.T)
        try:
            s = 1.0 / np.sqrt(np.maximum(np.diag(GM), np.finfo(float).tiny))  # unit columns: better scaled
            GMs = s[:, None] * GM * s
            lam, U = np.linalg.eigh(GMs)  # drop (nearly) dependent directions before the pencil
            keep = lam > 1e-10 * lam[-1]
            V = U[:, keep] / np.sqrt(lam[keep])
            theta, C = np.linalg.eigh(V.T @ (s[:, None] * GA * s) @ V)
        except (np.linalg.LinAlgError, ValueError):
            return
        good = theta > 0
        if not np.any(good):
            return
        C = (s[:, None] * (V @ C[:, good]))[:, : self.k]
        self.W, self._AW = C.T @ S, None  # A W is recomputed, exactly, for the next operator
