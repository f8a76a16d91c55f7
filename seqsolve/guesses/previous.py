"""``previous``: start from the last solution (the classic warm start, seqsolve's default)."""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from .base import Guess, Window


class Previous(Guess):
    """``x0`` = the solution of the previous system (when the size matches)."""

    name = "previous"
    arithmetic = False
    span = 1

    def __init__(self) -> None:
        self._last = Window(1)

    def form(self, A: Any, b: np.ndarray, key: Hashable | None = None) -> np.ndarray | None:
        last = self._last.usable(b.shape[0])
        return last[-1] if last else None

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None = None) -> None:
        # no copy: the solver hands over its own solution array (the caller gets a copy), so the
        # default strategy costs what the old warm start cost
        self._last.push(x, copy=False)

    def combination(self, available: int) -> tuple[float, ...] | None:
        return (1.0,) if available else ()

    def reset(self) -> None:
        self._last.items.clear()

    @property
    def memory_vectors(self) -> int:
        return len(self._last)


class Zero(Guess):
    """``x0 = 0`` always (a cold start; a reference point for the others)."""

    name = "zero"
    arithmetic = False

    def form(self, A: Any, b: np.ndarray, key: Hashable | None = None) -> np.ndarray | None:
        return None

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None = None) -> None:
        pass

    def combination(self, available: int) -> tuple[float, ...] | None:
        return ()

    def reset(self) -> None:
        pass
