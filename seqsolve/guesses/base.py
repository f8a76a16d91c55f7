"""The initial-guess seam: what every strategy implements (PETSc's ``KSPGuess`` shape).

A strategy sees the sequence only through three verbs: :meth:`Guess.form` proposes ``x0`` for
the next system *before* it is solved, :meth:`Guess.update` learns from a solution the solver has
certified, and :meth:`Guess.reset` forgets (the size changed, or the caller says the operator
changed beyond use).  Strategies never solve anything themselves, so a bad guess costs iterations,
never correctness: the solver still certifies the true residual.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Hashable

import numpy as np
from scipy.linalg.blas import daxpy


class Guess(ABC):
    """An initial-guess strategy for a sequence of systems ``A x = b``.

    ``key`` identifies ``A`` (the solver passes the matrix fingerprint; ``None`` means unknown,
    so anything cached for an earlier operator must be recomputed).
    """

    #: the canonical spec, e.g. ``"projection(k=8)"``
    name: str = "guess"
    #: False when :meth:`form` only hands back a stored vector: no arithmetic that could overflow or
    #: fail, so the solver skips the floating-point guard around it (~4 µs a call)
    arithmetic: bool = True
    #: the guess lies in the span of the last ``span`` solutions (once that many are stored), or
    #: ``None`` when it need not: the ``auto`` chooser tries such a strategy only once it has them
    #: all and their span could hold a better start (:mod:`.bound`)
    span: int | None = None

    @abstractmethod
    def form(self, A: Any, b: np.ndarray, key: Hashable | None = None) -> np.ndarray | None:
        """A starting vector for ``A x = b``, or ``None`` when the strategy knows nothing yet."""

    @abstractmethod
    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None = None) -> None:
        """Learn from the certified solution ``x`` of ``A x = b``.

        ``A`` and ``b`` are ``None`` when the update is replayed later (the ``auto`` chooser
        catches a strategy up only when it next chooses it): products with ``A`` belong in
        :meth:`form`, which always gets the current operator.
        """

    @abstractmethod
    def reset(self) -> None:
        """Forget every stored solution."""

    def combination(self, available: int) -> tuple[float, ...] | None:
        """The weights (newest solution first) of the fixed linear combination of the last
        solutions that :meth:`form` returns when ``available`` solutions are stored, or ``None``
        when the guess is not one (it needs products with ``A`` or adapts to the data).

        Why: such a guess needs nothing but the history, so the ``auto`` chooser can replay it
        in hindsight after every solve and see its error without ever trying it."""
        return None

    def missed(self) -> None:
        """Some solutions were dropped before this strategy saw them (the ``auto`` chooser's
        backlog overflowed): the next :meth:`update` is not for the last :meth:`form`."""

    @property
    def memory_vectors(self) -> int:
        """How many length-``n`` vectors the strategy holds now (its extra memory)."""
        return 0

    @property
    def planned_vectors(self) -> int:
        """How many length-``n`` vectors it will hold once its window is full: what the ``auto``
        chooser weighs against its memory limit before it holds any."""
        return getattr(self, "span", 0) or 1

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Window:
    """The last ``k`` solutions, newest last; cleared when their length changes."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.items: list[np.ndarray] = []

    def push(self, x: np.ndarray, copy: bool = True) -> bool:
        """Store ``x`` (a copy unless ``copy=False``); returns ``True`` when the window was cleared first."""
        cleared = bool(self.items) and self.items[-1].shape != x.shape
        if cleared:
            self.items.clear()
        self.items.append(np.array(x, dtype=np.float64, copy=True) if copy else x)
        if len(self.items) > self.k:
            del self.items[0]
        return cleared

    def usable(self, n: int) -> list[np.ndarray]:
        """The stored solutions if they have length ``n``, else none."""
        return self.items if self.items and self.items[-1].shape[0] == n else []

    def __len__(self) -> int:
        return len(self.items)


def combine(weights: tuple[float, ...], xs: list[np.ndarray]) -> np.ndarray:
    """``Σ weights[j] · xs[-1-j]`` (newest solution first) as a new array, accumulated in place
    by BLAS axpy: no temporary per term (half the time of ``x0 += w * x`` at n = 10⁴–3·10⁴)."""
    out = weights[0] * xs[-1]
    for w, x in zip(weights[1:], reversed(xs[:len(xs) - 1])):
        if w:
            out = daxpy(x, out, a=w)
    return out
