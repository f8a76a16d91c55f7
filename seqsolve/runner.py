"""``run``: drive a problem's whole sequence through a solver (problem → system → solve → advance)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .problems.base import SequenceProblem
from .records import SolveRecord, summarize
from .solver import SequenceSolver


@dataclass
class RunResult:
    """What a run produced: per-solve records, the final simulation state, and wall time."""

    problem: dict
    policy: str
    history: list[SolveRecord]
    state: np.ndarray | None
    wall_seconds: float
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Totals over the run (see :func:`seqsolve.records.summarize`) plus wall time."""
        s = summarize(self.history)
        s["wall_seconds"] = self.wall_seconds
        s["policy"] = self.policy
        return s


def run(problem: SequenceProblem, solver: SequenceSolver, *, progress: bool = True,
        steps: int | None = None, reset: bool = True, description: str | None = None) -> RunResult:
    """Solve every system of ``problem`` with ``solver`` and advance the problem with each solution.

    ``progress`` shows a progress bar (rich) with the running iteration count; ``steps`` limits
    the run to the first ``steps`` systems.
    """
    if reset:
        problem.reset()
    total = problem.steps if steps is None else min(int(steps), problem.steps)
    start = len(solver.history)
    t0 = time.perf_counter()
    bar = _progress(progress, description or f"{problem.name} · {solver.policy.spec}", total)
    try:
        for _ in range(total):
            system = problem.system()
            x = solver.solve(system.A, system.b, context=system.context, near_nullspace=system.near_nullspace,
                             structure=system.structure)
            problem.accept(x)
            if bar is not None:
                bar.advance(solver.history[-1].iterations)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    return RunResult(problem.describe(), solver.policy.spec, solver.history[start:], problem.state, wall)


class _Bar:
    """A thin wrapper over rich's progress bar: one task, steps done and iterations so far."""

    def __init__(self, description: str, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("{task.fields[its]} its"), TimeElapsedColumn(), TimeRemainingColumn(),
                           transient=False)
        self._task = self._p.add_task(description, total=total, its=0)
        self._its = 0
        self._p.start()

    def advance(self, iterations: int) -> None:
        self._its += iterations
        self._p.update(self._task, advance=1, its=self._its)

    def close(self) -> None:
        self._p.stop()


def _progress(enabled: bool, description: str, total: int) -> _Bar | None:
    return _Bar(description, total) if enabled else None
