"""When to rebuild a reused preconditioner: the rent-or-buy rule.

Reusing an AMG hierarchy built for an earlier matrix costs nothing up front but more iterations as
the matrix drifts; rebuilding costs one setup.  The classic ski-rental argument gives a schedule
that is never worse than twice the best one in hindsight: keep reusing while the *extra* iteration
time paid since the last build (iterations beyond those the fresh hierarchy needed, times the
time per iteration) stays below what the build cost; rebuild once it exceeds it.
"""

from __future__ import annotations


class RebuildSchedule:
    """Tracks one reusable setup and says when it has gone stale."""

    def __init__(self, slack: float = 1.0) -> None:
        self.slack = slack  # rebuild when excess >= slack * build cost
        self.build_seconds: float | None = None
        self.base_iterations: int | None = None
        self.excess_seconds = 0.0
        self.builds = 0

    def built(self, seconds: float) -> None:
        """A fresh setup was built in ``seconds``."""
        self.build_seconds = seconds
        self.base_iterations = None
        self.excess_seconds = 0.0
        self.builds += 1

    def solved(self, seconds: float, iterations: int) -> None:
        """A solve with the current setup took ``iterations`` in ``seconds``."""
        if self.base_iterations is None:
            self.base_iterations = iterations
            return
        if iterations > 0:
            extra = max(0, iterations - self.base_iterations)
            self.excess_seconds += extra * seconds / iterations

    @property
    def stale(self) -> bool:
        """True once the accumulated extra iteration time pays for a rebuild."""
        return self.build_seconds is None or self.excess_seconds >= self.slack * self.build_seconds
