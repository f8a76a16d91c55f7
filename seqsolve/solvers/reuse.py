"""When to rebuild a reused preconditioner: the rent-or-buy rule.

Reusing an AMG hierarchy built for an earlier matrix costs nothing up front but more iterations as
the matrix drifts; rebuilding costs one setup.  The classic ski-rental argument gives a schedule
that is never worse than twice the best one in hindsight: keep reusing while the *extra* iteration
time paid since the last build (iterations beyond those the fresh hierarchy needed, times the
time per iteration) stays below what the build cost; rebuild once it exceeds it.

Where the matrix drifts so fast that the first reuse after a build already costs more extra time
than the build (Fluid2D's pressure systems under BoomerAMG: 6 iterations fresh, 40-108 with the
previous step's hierarchy, a reuse costing 3-6 builds), rent-or-buy pays that loss on every other
system.  Such a miss is remembered: after ``m`` misses in a row the next ``2**m - 1`` builds are
not followed by a reuse (each is stale at once), and then one reuse is tried again.  A first reuse
that cost less than a build resets the count.  Only the first reuse that needed extra iterations
is judged (a repeat of the same matrix needs none and says nothing): the last reuse of a slow
drift's cycle is naturally the dearest, and judging it rebuilt FEM heat's AMG twice as often
(SciPy, 1.24x the time).  So a fast drift costs one lost reuse per doubling period
(``log2`` of the builds) instead of one per two systems, and a drift that slows down is noticed
within as many builds as were skipped.
"""

from __future__ import annotations

import math

#: a fresh setup whose solve takes at most this many iterations is an exact (or nearly exact)
#: preconditioner: a reuse's restart loses no Krylov progress worth keeping (see reuse_cap)
EXACT_ITERATIONS = 2
#: a reuse of an exact setup still gets at least this many extra iterations before it is given up
MIN_EXTRA = 3


class RebuildSchedule:
    """Tracks one reusable setup and says when it has gone stale."""

    def __init__(self, slack: float = 1.0) -> None:
        self.slack = slack  # rebuild when excess >= slack * build cost
        self.build_seconds: float | None = None
        self.base_iterations: int | None = None
        self.iteration_seconds: float | None = None  # the latest solve's seconds per iteration
        self.excess_seconds = 0.0
        self.builds = 0
        self.misses = 0  # first reuses in a row that already cost more than their build
        self.skip = 0  # builds still to come that are not followed by a reuse
        self._judged = False  # the current setup's first reuse with extra iterations was judged

    def built(self, seconds: float) -> None:
        """A fresh setup was built in ``seconds``."""
        self.build_seconds = seconds
        self.base_iterations = None
        self.excess_seconds = 0.0
        self.builds += 1
        self._judged = False

    def solved(self, seconds: float, iterations: int) -> None:
        """A solve with the current setup took ``iterations`` in ``seconds``."""
        if iterations > 0:
            self.iteration_seconds = seconds / iterations
        if self.base_iterations is None:
            self.base_iterations = iterations
            if self.skip > 0:  # a fast drift: this build is not reused (see the module docstring)
                self.skip -= 1
                self.excess_seconds = float("inf")
            return
        if iterations > 0:
            extra = max(0, iterations - self.base_iterations) * seconds / iterations
            self.excess_seconds += extra
            if extra > 0 and not self._judged and self.build_seconds is not None:
                self._judged = True
                if extra >= self.slack * self.build_seconds:
                    self.misses += 1  # the first reuse already cost more than a rebuild would have
                    self.skip = min(63, 2 ** self.misses - 1)
                else:
                    self.misses = 0

    def gave_up(self) -> None:
        """A reuse ran into :meth:`reuse_cap` and is rebuilt now: a miss, whatever was judged
        before (the cycle's first reuse may have passed narrowly; a fast drift then paid a capped
        reuse on every other system: a 3-D grid whose axes rescale independently, where a fresh
        fast-diagonalisation needs one step and a followed one 13)."""
        self._judged = True
        self.misses += 1
        self.skip = min(63, 2 ** self.misses - 1)

    @property
    def stale(self) -> bool:
        """True once the accumulated extra iteration time pays for a rebuild."""
        return self.build_seconds is None or self.excess_seconds >= self.slack * self.build_seconds

    def reuse_cap(self, maxiter: int) -> int:
        """Iterations a solve with a reused setup may take before it is given up and rebuilt: three
        times a fresh setup's count, plus ten.  (Tighter, at what a build's seconds buy, it would
        restart CG near convergence on long solves — Fluid2D's 220 iterations — and lose more
        than the build.)  A fresh setup that solves in a step or two (``EXACT_ITERATIONS``: an exact
        preconditioner, a separable matrix's fast diagonalisation) leaves no long Krylov run for a
        restart to lose, so its reuse is capped at what a build's seconds buy (at least
        ``MIN_EXTRA`` more iterations): on 3-D heat whose axes rescale independently a followed
        sum that needed 13 iterations (7 ms) before its rebuild could have been rebuilt after 6."""
        base = self.base_iterations
        if not base:
            return maxiter
        cap = 3 * base + 10
        if base <= EXACT_ITERATIONS and self.build_seconds and self.iteration_seconds:
            cap = min(cap, base + max(MIN_EXTRA, math.ceil(self.build_seconds / self.iteration_seconds - 1e-9)))
        return min(maxiter, cap)
