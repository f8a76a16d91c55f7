"""``extrapolate``: polynomial extrapolation of the last solutions in the step index.

For a time-stepping sequence with a fixed step the solution is a smooth function of time, so
``2 x₁ - x₂`` (linear) or ``3 x₁ - 3 x₂ + x₃`` (quadratic) is closer to the next one than ``x₁``
at no matrix-vector cost.  On a sequence that is not smooth in the step it can be worse than
``previous``; the ``auto`` chooser finds that out from measured cost.
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from ..errors import ConfigurationError
from .base import Guess, Window

#: Newton backward-difference weights of the extrapolation, newest solution first
_WEIGHTS = {0: (1.0,), 1: (2.0, -1.0), 2: (3.0, -3.0, 1.0)}


class Extrapolate(Guess):
    """Extrapolate with a polynomial of degree ``order`` (1 or 2) through the last solutions."""

    def __init__(self, order: int = 1) -> None:
        if order not in (1, 2):
            raise ConfigurationError(f"extrapolate: order must be 1 or 2, got {order!r}")
        self.order = order
        self.name = f"extrapolate(order={order})"
        self._window = Window(order + 1)

    def form(self, A: Any, b: np.ndarray, key: Hashable | None = None) -> np.ndarray | None:
        xs = self._window.usable(b.shape[0])
        if not xs:
            return None
        weights = _WEIGHTS[min(self.order, len(xs) - 1)]
        x0 = weights[0] * xs[-1]
        for w, x in zip(weights[1:], reversed(xs[:-1])):
            x0 += w * x
        return x0

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None = None) -> None:
        self._window.push(x)

    def reset(self) -> None:
        self._window.items.clear()

    @property
    def memory_vectors(self) -> int:
        return len(self._window)
