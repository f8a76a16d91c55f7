"""``pod(k)``: Galerkin projection onto the ``k`` dominant modes of a longer window of solutions.

Proper orthogonal decomposition compresses ``window`` past solutions (default ``2k``) into the
``k`` left singular vectors that carry most of their energy, so a longer history fits in ``k``
directions.  The modes are recomputed (a thin SVD, plus ``k`` products with ``A``) only every
``k // 2`` new solutions or when the operator changes; in between the guess costs ``O(n k)``.
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from ..errors import ConfigurationError
from .base import Guess, Window
from .projection import _solve_spd


class POD(Guess):
    """Project onto the ``k`` leading POD modes of the last ``window`` solutions."""

    def __init__(self, k: int = 4, window: int | None = None) -> None:
        window = 2 * k if window is None else window
        for label, v in (("k", k), ("window", window)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigurationError(f"pod: {label} must be a positive integer, got {v!r}")
        if window < k:
            raise ConfigurationError(f"pod: window ({window}) must be at least k ({k})")
        self.k, self.window = int(k), int(window)
        self.span = self.window  # (its k modes come from the window)
        self.name = f"pod(k={self.k})" if window == 2 * k else f"pod(k={self.k},window={self.window})"
        self._x = Window(self.window)
        self._modes: tuple[np.ndarray, np.ndarray] | None = None  # (U, A U)
        self._key: Hashable | None = None
        self._fresh = 0  # solutions added since the modes were computed

    def form(self, A: Any, b: np.ndarray, key: Hashable | None = None) -> np.ndarray | None:
        xs = self._x.usable(b.shape[0])
        if not xs:
            return None
        if self._modes is None or self._fresh >= max(1, self.k // 2):
            S = np.column_stack(xs)
            U, sv, _ = np.linalg.svd(S, full_matrices=False)
            U = U[:, : min(self.k, int(np.sum(sv > 1e-12 * sv[0])))]
            self._modes, self._key, self._fresh = (U, None), None, 0
        U, AU = self._modes
        if AU is None or key is None or key != self._key:
            AU = np.asarray(A @ U).reshape(U.shape)
            self._modes, self._key = (U, AU), key
        G = U.T @ AU
        if np.abs(G - G.T).max() <= 1e-10 * np.abs(G).max():
            y = _solve_spd(0.5 * (G + G.T), U.T @ b)
        else:
            y, *_ = np.linalg.lstsq(AU, b, rcond=1e-12)
        return U @ y

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None = None) -> None:
        if self._x.push(x):
            self._modes = None
        self._fresh += 1

    def reset(self) -> None:
        self._x.items.clear()
        self._modes, self._key, self._fresh = None, None, 0

    @property
    def memory_vectors(self) -> int:
        return len(self._x) + (0 if self._modes is None else 2 * self._modes[0].shape[1])

    @property
    def planned_vectors(self) -> int:
        return self.window + 2 * self.k
