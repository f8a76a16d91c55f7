"""The method seam: what every solve strategy (Krylov, stationary, direct, neural) implements.

A method is split like lineax's solvers and PETSc's KSP/PC: :meth:`Method.setup` does the work
that depends only on the matrix (factorisation, AMG hierarchy, preconditioner build) and is timed
as *setup*; :meth:`Method.solve` does the per-right-hand-side iterations and is timed as *solve*.
Keeping them apart is what lets a sequence reuse setup across systems, and lets a policy see both
costs honestly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.sparse.linalg import LinearOperator

Callback = Callable[[np.ndarray], None] | None


@dataclass(frozen=True)
class IterationResult:
    """What a method reports; seqsolve re-checks the true residual itself afterwards.

    ``status`` is one of ``"converged"``, ``"maxiter"``, ``"breakdown"``, ``"indefinite"``,
    ``"nan"``, ``"error"``.
    """

    x: np.ndarray
    iterations: int
    status: str = "converged"
    #: the certified check's pass over ``(A, b, x)`` when the method made it as its own last true
    #: residual (compiled PCG), so seqsolve's check need not repeat it; ``None`` otherwise
    residual_pass: Any = None


class Method(ABC):
    """A configured solve strategy built from a :class:`~seqsolve.configs.Configuration`."""

    #: True when the method is only valid for symmetric positive definite matrices
    spd_only: bool = False
    #: True when the method needs explicit matrix entries (not a bare LinearOperator)
    needs_matrix: bool = True
    #: True when :meth:`setup` takes a ``near_nullspace`` keyword (AMG): the user's knowledge of
    #: the operator's near-kernel (e.g. rigid-body modes) reaches it
    uses_near_nullspace: bool = False
    #: True when :meth:`setup` takes a ``finite`` keyword: ``finite=True`` tells it that the caller
    #: (SequenceSolver's scan of this very matrix) already proved every entry finite, so setup
    #: need not read them all again to check
    uses_finite_hint: bool = False
    #: False when :meth:`solve` does its arithmetic in compiled code, where NumPy's floating-point
    #: warnings cannot arise: the caller then sets no ``np.errstate`` around it (~3 µs a call)
    numpy_arithmetic: bool = True
    #: False when neither :meth:`setup` nor :meth:`solve` ever calls BLAS (compiled loops): a
    #: solver with no other BLAS work then skips reading the BLAS libraries' thread counts
    uses_blas: bool = True
    #: False when :meth:`solve` ignores ``x0`` (a factorisation, an exact structured solve): the
    #: caller then forms no initial guess for it
    uses_x0: bool = True
    #: True when :meth:`solve` itself starts from zero where ``x0`` starts worse than zero would
    #: (the compiled kernels: their first residual pass decides, for free); else the caller
    #: decides, at one product (see :func:`no_worse_than_zero`)
    screens_start: bool = False
    #: seconds of the last :meth:`setup` spent on work this instance never repeats (a partition
    #: of the graph, buffers sized once): the caller records them, and a learner judging the
    #: method by its first try leaves them out of what later setups will cost
    one_off_seconds: float = 0.0
    #: True when each :meth:`setup` result is a snapshot nothing later changes (a sparse LU's
    #: factors): several may then be kept at once, for matrices that come back
    #: (:mod:`seqsolve.recurring`).  False where a setup shares or updates state in place (a
    #: reused AMG hierarchy, a PETSc Mat whose values are copied over, double-buffered factors)
    independent_setups: bool = False

    def applicable(self, A: Any, *, symmetric: bool) -> bool:
        """Whether the method may be used on ``A`` (``symmetric`` was detected by the caller)."""
        if self.needs_matrix and isinstance(A, LinearOperator):
            return False
        if self.spd_only and not symmetric:
            return False
        return True

    @abstractmethod
    def setup(self, A: Any, previous: Any | None) -> Any:
        """Prepare for solves with ``A``.

        ``previous`` is what the last ``setup`` of this same configuration returned (for an
        earlier matrix of the sequence), so a method may reuse it; ``None`` the first time.
        """

    @abstractmethod
    def solve(
        self,
        prepared: Any,
        A: Any,
        b: np.ndarray,
        x0: np.ndarray,
        *,
        rtol: float,
        atol: float,
        maxiter: int,
        callback: Callback = None,
    ) -> IterationResult:
        """Iterate from ``x0`` until ``||b - A x|| <= max(rtol ||b||, atol)`` or ``maxiter``."""


def no_worse_than_zero(A: Any, b: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """``x0``, or a zero start where ``x0``'s residual exceeds ``‖b‖`` (or overflows): such a start
    only costs iterations, and its size bounds the accuracy a Krylov method reaches (``ε‖A‖‖x0‖``).
    Along a Newton loop the previous correction is such a start for the next, much smaller one:
    from it SciPy's CG stalled short of the tolerance on every converging Bratu step and was
    refined, twice the solve.  One product, for the methods that do not decide it themselves."""
    if not np.any(x0):
        return x0
    with np.errstate(all="ignore"):
        r0 = float(np.linalg.norm(b - A @ x0))
    return x0 if r0 <= float(np.linalg.norm(b)) else np.zeros_like(x0)

