"""The problem seam: a sequence of related linear systems that may depend on earlier solutions.

A time-stepping simulation is the typical case: step ``k``'s right-hand side is built from the
solution of step ``k-1``.  So a problem is *stateful*: :meth:`SequenceProblem.system` builds the
current system, the caller solves it, and :meth:`SequenceProblem.accept` advances the state with
the solution.  :func:`seqsolve.run` drives exactly this loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator


@dataclass(frozen=True)
class LinearSystem:
    """One system ``A x = b`` of a sequence, with what a policy may know about it.

    ``context`` holds named scalars describing the system (Heat2D: the diffusion coefficient);
    ``grid_shape`` says how the unknowns lie on a structured grid (row-major), when they do,
    so grid-aware configurations (e.g. a CNN preconditioner) can reshape vectors.
    """

    A: sp.sparray | sp.spmatrix | LinearOperator
    b: np.ndarray
    index: int
    context: Mapping[str, float] = field(default_factory=dict)
    grid_shape: tuple[int, ...] | None = None
    #: modes A nearly annihilates (``(n, k)``; elasticity: rigid-body modes), for AMG
    near_nullspace: np.ndarray | None = None
    #: a KroneckerSum equal to A, or the grid shape (see ``SequenceSolver.solve(structure=...)``)
    structure: object = None


class SequenceProblem(ABC):
    """A workload that yields systems one at a time and advances with their solutions."""

    #: short identifier used in benchmark records, e.g. ``"heat2d"``
    name: str = "problem"

    @property
    @abstractmethod
    def steps(self) -> int:
        """Number of systems in the sequence."""

    @abstractmethod
    def reset(self) -> None:
        """Return to the initial state so the sequence can be run again from step 0."""

    @abstractmethod
    def system(self) -> LinearSystem:
        """Build the current step's system (does not advance)."""

    @abstractmethod
    def accept(self, x: np.ndarray) -> None:
        """Advance to the next step using the solution ``x`` of the current system."""

    @property
    def step(self) -> int:
        """Index of the current (not yet solved) system."""
        return self._step

    @property
    def state(self) -> np.ndarray | None:
        """The simulation state after the last accepted step (``None`` if stateless)."""
        return None

    def describe(self) -> dict:
        """Parameters identifying this problem, for benchmark records and saved states."""
        return {"name": self.name, "steps": self.steps}


class SolutionStateProblem(SequenceProblem):
    """A sequence whose state is the last accepted solution ``u`` (a time step's, a sweep's):
    ``steps``, ``accept``, ``state``, the end-of-sequence check and a reset to ``u = 0``, written
    once.  A subclass sets ``_steps`` and ``n`` (its unknowns), and overrides :meth:`reset` for
    another initial state or more to rewind."""

    _steps: int
    u: np.ndarray
    n: int

    def reset(self) -> None:
        self._step = 0
        self.u = np.zeros(self.n)

    @property
    def steps(self) -> int:
        return self._steps

    def _current(self) -> int:
        """The index of the system to build now; ``IndexError`` once the sequence is over."""
        if self._step >= self._steps:
            raise IndexError(f"the sequence has {self._steps} steps; call reset() to run it again")
        return self._step

    def accept(self, x: np.ndarray) -> None:
        self.u = np.asarray(x, dtype=np.float64).copy()
        self._step += 1

    @property
    def state(self) -> np.ndarray:
        return self.u
