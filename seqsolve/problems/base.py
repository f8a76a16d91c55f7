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
