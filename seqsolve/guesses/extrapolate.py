"""``extrapolate``: polynomial extrapolation of the last solutions in the step index.

For a time-stepping sequence with a fixed step the solution is a smooth function of time, so
``2 x₁ - x₂`` (linear) or ``3 x₁ - 3 x₂ + x₃`` (quadratic) is closer to the next one than ``x₁``
at no matrix-vector cost.  On a sequence that is not smooth in the step it can be worse than
``previous``; the ``auto`` chooser finds that out from measured cost.

``alternating=a`` adds a component that flips sign every step with a polynomial amplitude of
degree ``a − 1``: the stiff modes of a Crank–Nicolson (trapezoidal) step do that (amplification
``(1 − μ)/(1 + μ) → −1``), and plain extrapolation multiplies them by up to ``2^(order+1) − 1``.
The weights are those of the linear recurrence with characteristic polynomial
``(z − 1)^(order+1) (z + 1)^a``: exact for ``p(n) + (−1)ⁿ q(n)`` with ``deg p ≤ order`` and
``deg q < a``.  E.g. ``order=1, alternating=1``: ``x₁ + x₂ − x₃``; ``order=3, alternating=1``:
``3 x₁ − 2 x₂ − 2 x₃ + 3 x₄ − x₅``.
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from ..errors import ConfigurationError
from .base import Guess, Window, combine

MAX_ORDER, MAX_ALTERNATING = 4, 2


def weights(order: int, alternating: int = 0) -> tuple[float, ...]:
    """The extrapolation weights, newest solution first (they sum to 1)."""
    # coefficients of (z − 1)^(order+1) (z + 1)^alternating, highest power first; monic
    c = np.array([1.0])
    for root in [1.0] * (order + 1) + [-1.0] * alternating:
        c = np.convolve(c, [1.0, -root])
    return tuple(float(-v) + 0.0 for v in c[1:])  # + 0.0: no negative zeros in the weights


class Extrapolate(Guess):
    """Extrapolate with a polynomial of degree ``order`` (1 to 4) through the last solutions,
    plus a sign-alternating polynomial of degree ``alternating − 1`` (``alternating`` 0 to 2)."""

    def __init__(self, order: int = 1, alternating: int = 0) -> None:
        if isinstance(order, bool) or order not in range(1, MAX_ORDER + 1):
            raise ConfigurationError(f"extrapolate: order must be 1 to {MAX_ORDER}, got {order!r}")
        if isinstance(alternating, bool) or alternating not in range(MAX_ALTERNATING + 1):
            raise ConfigurationError(f"extrapolate: alternating must be 0 to {MAX_ALTERNATING}, got {alternating!r}")
        self.order, self.alternating = int(order), int(alternating)
        self.name = (f"extrapolate(order={order})" if not alternating
                     else f"extrapolate(order={order},alternating={alternating})")
        #: how many solutions it keeps (the ``auto`` chooser keeps as many for a lazy catch-up)
        self.window = self.span = order + 1 + alternating
        self._window = Window(self.window)
        # with fewer solutions stored: plain extrapolation of the degree they allow; with an
        # alternating part, ``previous`` until the window is full (a polynomial alone would
        # multiply the flipping modes)
        self._weights = {n: (weights(min(order, n - 1)) if n > 1 and not alternating else (1.0,))
                         for n in range(1, order + 1 + alternating)}
        self._weights[order + 1 + alternating] = weights(order, alternating)

    def form(self, A: Any, b: np.ndarray, key: Hashable | None = None) -> np.ndarray | None:
        xs = self._window.usable(b.shape[0])
        if not xs:
            return None
        return combine(self._weights[len(xs)], xs)

    def combination(self, available: int) -> tuple[float, ...] | None:
        return self._weights[min(available, self.window)] if available else ()

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None = None) -> None:
        # no copy (as Previous): the solver hands over its own solution array, never written again
        self._window.push(x, copy=False)

    def reset(self) -> None:
        self._window.items.clear()

    @property
    def memory_vectors(self) -> int:
        return len(self._window)
