"""Setups kept for matrices that come back: one solver serving two alternating operators.

Why: the solver keeps one setup per configuration, for the last matrix it was built for.  A
sequence whose matrices alternate — operator splitting (Strang, ADI), a projection method solving
a velocity and a pressure system with one solver, a Newton loop that refreshes its Jacobian every
other step — then rebuilt every setup on every solve: a fixed sparse LU refactorised two
alternating 128² matrices 120 times (100 ms each, for 5 ms solves).  Here a configuration's
setups for matrices that *recur* (a fingerprint solved again within the last ``HORIZON`` solves) are kept,
up to ``most`` per configuration; a setup whose matrix never comes back is never kept, so a
sequence of new matrices holds one setup, as before.  Only methods whose setups are independent
snapshots take part (:attr:`~seqsolve.solvers.base.Method.independent_setups`): a sparse LU, not
an AMG hierarchy reused in place.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable

#: setups kept per configuration, besides the solver's current one
MOST = 4
#: matrices remembered to tell that one came back
REMEMBERED = 16
#: solves after which a kept setup not used again is let go
HORIZON = 64


class RecurringSetups:
    """Per configuration: the setups of recurring matrices (key → prepared), least recently used first."""

    def __init__(self, most: int = MOST, remembered: int = REMEMBERED, horizon: int = HORIZON) -> None:
        self.most, self.horizon = most, horizon
        self._remembered = remembered
        self._kept: dict[Hashable, dict[tuple, tuple[Any, int, int]]] = {}  # config → key → (prepared, made, used)
        self._seen: OrderedDict[tuple, int] = OrderedDict()  # fingerprint → the last solve of that matrix

    def find(self, config: Hashable, key: tuple) -> tuple[Any, int] | None:
        """``(prepared, made)``: the kept setup of ``config`` for ``key`` (taken out: the caller
        makes it current), or ``None``."""
        kept = self._kept.get(config)
        if not kept:
            return None
        entry = kept.pop(key, None)
        return None if entry is None else (entry[0], entry[1])

    def replaced(self, config: Hashable, current: tuple | None, key: tuple, now: int) -> None:
        """``config``'s current setup ``(key, prepared, made)`` gives way to a build for ``key``:
        kept if the matrices recur (``key``'s matrix was solved lately, before the current setup
        was made, so the one it replaces may come back too), else let go.  A matrix solved since
        then by another configuration has not come back: it is the matrix after, in a run that
        another configuration started (PETSc's Cholesky of the last run was kept so, and the next
        build made a new KSP and analysed the pattern again: 426 ms instead of 130)."""
        last = self._seen.get(key[0])  # (key[0]: the matrix's fingerprint)
        keep = self.came_back(key[0], now) and (current is None or last < current[2])
        self.give_back(config, current, now, keep)

    def give_back(self, config: Hashable, current: tuple | None, now: int, keep: bool = True) -> None:
        """The current setup ``(key, prepared, made)`` that a kept one replaces (or a build, where
        ``keep``): kept, the least recently used beyond ``most`` (or unused for ``horizon``
        solves) let go."""
        kept = self._kept.get(config)
        if kept:
            for k in [k for k, (_, _, used) in kept.items() if now - used > self.horizon]:
                del kept[k]
        if current is None or not keep:
            return
        if kept is None:
            kept = self._kept[config] = {}
        kept[current[0]] = (current[1], current[2], now)
        while len(kept) > self.most:
            del kept[next(iter(kept))]

    def ready(self, fingerprint: tuple, before: int) -> list[Hashable]:
        """Configurations with a kept setup for the matrix ``fingerprint`` made before solve ``before``."""
        return [c for c, kept in self._kept.items()
                if any(k[0] == fingerprint and made < before for k, (_, made, _) in kept.items())]

    def seen(self, fingerprint: tuple, now: int) -> None:
        """Solve ``now`` was of the matrix ``fingerprint``."""
        seen = self._seen
        if fingerprint in seen:
            seen.move_to_end(fingerprint)
        seen[fingerprint] = now
        if len(seen) > self._remembered:
            seen.popitem(last=False)  # (O(1): a plain dict's first key is found past its deleted slots)

    def came_back(self, fingerprint: tuple, now: int) -> bool:
        """Whether the matrix ``fingerprint`` was solved within the last ``horizon`` solves (a
        learner may then count on the setups kept for it, as for a matrix repeated at once)."""
        last = self._seen.get(fingerprint)
        return last is not None and now - last <= self.horizon

    def clear(self) -> None:
        self._kept.clear()
        self._seen.clear()
