"""The method seam: what every solve strategy (Krylov, stationary, direct, neural) implements.

A method is split like lineax's solvers and PETSc's KSP/PC: :meth:`Method.setup` does the work
that depends only on the matrix (factorisation, AMG hierarchy, preconditioner build) and is timed
as *setup*; :meth:`Method.solve` does the per-right-hand-side iterations and is timed as *solve*.
Keeping them apart is what lets a sequence reuse setup across systems, and lets a policy see both
costs honestly.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.sparse.linalg import LinearOperator

Callback = Callable[[np.ndarray], None] | None

#: a start is scaled (:func:`scaled_start`) only where its optimal scale ``α`` lies beyond this
#: factor either way (``|α| < 1/4`` or ``|α| > 4``: a Newton correction for the next, a load
#: continuation's step, an unrelated right-hand side); within it the start is kept as given.  The
#: A-norm weighs stiff modes most, CG's iteration count smooth ones: on a Crank–Nicolson sequence
#: with ringing stiff modes the previous solution scaled by its α ≈ −0.99 took 10 % more
#: iterations, an extrapolation scaled by 0.86 took 10 % more; on Fluid2D (α ≈ 0.4–0.8) a zero
#: start, as a residual test chose, took 7 % more.  (Shared with the compiled kernels.)
START_SCALE_BAND = 4.0


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
    #: True when :meth:`solve` scales its start itself (the compiled kernels, in their first
    #: residual pass, for free); else the caller scales it (:func:`scaled_start`, one product)
    scales_start: bool = False
    #: the norm a start is scaled in (:func:`scaled_start`): the ``A``-norm of the error for the
    #: CG family, the residual's for the others
    energy_norm: bool = False
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


def start_scale(energy: bool, x0: Any, b: Any, r: Any, *, dot: Callable[[Any, Any], float] | None = None,
                rr: float | None = None, bb: float | None = None) -> float | None:
    """The factor a nonzero start ``x0`` (residual ``r = b − A x0``) is scaled by, or ``None`` to
    keep it: the step optimal on its line in the norm the method minimises — ``α = x0ᵀb / x0ᵀAx0``
    (CG's ``A``-norm of the error, ``energy``; ``x0ᵀAx0 = x0ᵀ(b − r)``) or ``α = (Ax0)ᵀb / ‖Ax0‖²``
    (the residual's norm: GMRES, BiCGStab; ``Ax0 = b − r``) — where ``|α|`` lies beyond
    ``START_SCALE_BAND`` either way.  So scaled, the start is worse neither than zero nor than
    itself in that norm.  Where there is nothing to scale by (``A`` not positive on ``x0``, or an
    overflow) the residual decides: ``0.0`` (a zero start) if ``‖r‖ > ‖b‖``.  ``dot`` is the
    inner product (NumPy's by default, or a distributed vector's), so every backend applies one
    rule; ``rr = ‖r‖²`` and ``bb = ‖b‖²`` where the caller's residual pass has them."""
    dot = dot or _dot
    with np.errstate(all="ignore"):
        rr = dot(r, r) if rr is None else rr
        bb = dot(b, b) if bb is None else bb
        if energy:
            num = dot(x0, b)
            den = num - dot(x0, r)
        else:
            rb = dot(r, b)
            num, den = bb - rb, bb - 2.0 * rb + rr
    if den > 0.0 and math.isfinite(den) and math.isfinite(num) and math.isfinite(rr):
        alpha = num / den
        return None if 1.0 / START_SCALE_BAND <= abs(alpha) <= START_SCALE_BAND else alpha
    return None if math.sqrt(rr) <= math.sqrt(bb) else 0.0


def scaled_start(A: Any, b: np.ndarray, x0: np.ndarray, *, energy: bool) -> np.ndarray:
    """``x0`` scaled as :func:`start_scale` says, for the methods that do not scale their start
    themselves (the compiled kernels do the same for free, :func:`seqsolve.solvers.compiled._start`).
    Along a Newton loop the previous correction started the next, much smaller one (α ≈ 10⁻³),
    and SciPy's CG behind fastdiag-cg stalled short of the tolerance on every converging Bratu
    step and was refined, twice the solve.  One product."""
    if not np.any(x0):
        return x0
    with np.errstate(all="ignore"):
        alpha = start_scale(energy, x0, b, b - A @ x0)
    if alpha is None:
        return x0
    return alpha * x0 if alpha else np.zeros_like(x0)


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v)
