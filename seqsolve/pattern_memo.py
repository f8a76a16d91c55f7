"""What the solver finds once per sparsity pattern, kept for the few patterns a sequence alternates.

Why: several facts depend on a matrix's pattern alone — the rows that only fix an unknown, the
transpose permutation behind the symmetry test, a tensor grid in the couplings, whether the
diagonal is one value — and each is worth finding once per pattern.  Kept for the last pattern
only, two patterns taking turns evicted each other and every solve found everything again: a
system with such rows is solved as its reduced system, a pattern of its own (PageRank, 30k
unknowns: the grid search, the row search and its plan were 40 % of a BiCGStab solve), and so do
splittings that put a velocity and a pressure system through one solver.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable

#: patterns remembered at once (each fact is small next to the matrix: index arrays of its size)
PATTERNS = 4

_MISSING = object()


class PatternMemo:
    """A bounded map pattern → fact, the least recently used pattern forgotten first."""

    def __init__(self, most: int = PATTERNS) -> None:
        self.most = most
        self._facts: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, pattern: Hashable, default: Any = None) -> Any:
        """The fact found for ``pattern`` (now the most recently used), else ``default``."""
        fact = self._facts.get(pattern, _MISSING)
        if fact is _MISSING:
            return default
        self._facts.move_to_end(pattern)
        return fact

    def put(self, pattern: Hashable, fact: Any) -> Any:
        """Keep ``fact`` for ``pattern`` (forgetting the least recently used beyond ``most``); returns it."""
        self._facts[pattern] = fact
        self._facts.move_to_end(pattern)
        while len(self._facts) > self.most:
            self._facts.popitem(last=False)
        return fact

    def last(self) -> Any:
        """The most recently used fact, or ``None``."""
        return next(reversed(self._facts.values())) if self._facts else None
