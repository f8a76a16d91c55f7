"""SciPy's Krylov methods (CG, GMRES, BiCGStab) with a preconditioner built in ``setup``."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import scipy.sparse.linalg as sla

from .. import preconditioners
from ..validation import near_nullspace_key
from .base import Callback, IterationResult, Method
from .reuse import RebuildSchedule

#: preconditioner name → builder ``A -> LinearOperator`` (None: no preconditioner)
PreconditionerBuilder = Callable[[Any], sla.LinearOperator] | None

GMRES_RESTART = 30


class ScipyKrylov(Method):
    """A SciPy Krylov method with an optional preconditioner.

    ``reuse_setup=True`` keeps the first preconditioner built (for an earlier matrix of the
    sequence) instead of rebuilding it for every new matrix: cheap, but it goes stale.
    """

    def __init__(self, method: str, build_preconditioner: PreconditionerBuilder = None,
                 *, spd_only: bool = False, reuse_setup: bool = False) -> None:
        if method not in ("cg", "gmres", "bicgstab"):
            raise ValueError(f"unknown Krylov method {method!r}")
        self.method = method
        self.energy_norm = method == "cg"  # (a start is scaled in CG's norm: see scaled_start)
        self.build_preconditioner = build_preconditioner
        self.spd_only = spd_only
        self.needs_matrix = build_preconditioner is not None
        self.reuse_setup = reuse_setup

    def setup(self, A: Any, previous: Any | None, **hints: Any) -> Any:
        if self.build_preconditioner is None:
            return None
        if self.reuse_setup and previous is not None:
            return previous
        return self.build_preconditioner(A, **hints)

    def solve(self, prepared, A, b, x0, *, rtol, atol, maxiter, callback: Callback = None) -> IterationResult:
        count = [0]
        if self.method == "gmres":
            def on_iter(_res):
                count[0] += 1
            # SciPy's maxiter counts restart cycles; keep the total inner iterations <= maxiter
            restart = min(GMRES_RESTART, maxiter)
            cycles = max(1, maxiter // restart)
            with np.errstate(all="ignore"):  # a breakdown shows in the status, not as warnings
                x, info = sla.gmres(A, b, x0=x0, rtol=rtol, atol=atol, restart=restart,
                                    maxiter=cycles, M=prepared, callback=on_iter, callback_type="pr_norm")
            if callback is not None:
                callback(x)
        else:
            def on_iter(xk):
                count[0] += 1
                if callback is not None:
                    callback(xk)
            fn = sla.cg if self.method == "cg" else sla.bicgstab
            with np.errstate(all="ignore"):  # a breakdown shows in the status, not as warnings
                x, info = fn(A, b, x0=x0, rtol=rtol, atol=atol, maxiter=maxiter, M=prepared, callback=on_iter)
        if not np.all(np.isfinite(x)):
            status = "nan"
        elif info == 0:
            status = "converged"
        elif info > 0:
            status = "maxiter"
        else:
            status = "breakdown"
        return IterationResult(x, count[0], status)


def jacobi_cg() -> ScipyKrylov:
    return ScipyKrylov("cg", preconditioners.jacobi, spd_only=True)


def ssor_cg(omega: float) -> ScipyKrylov:
    return ScipyKrylov("cg", lambda A: preconditioners.ssor(A, omega), spd_only=True)


def amg_cg(setup: str) -> ScipyKrylov:
    """AMG-PCG; ``setup`` is ``"rebuild"``, ``"reuse"`` (first hierarchy forever) or ``"adaptive"``."""
    if setup == "adaptive":
        return AdaptiveAMGCG()
    method = ScipyKrylov("cg", preconditioners.smoothed_aggregation, spd_only=True, reuse_setup=setup == "reuse")
    method.uses_near_nullspace = True
    return method


class _Hierarchy:
    """A reusable AMG preconditioner and whether it was built for the matrix being solved."""

    __slots__ = ("M", "fresh", "hints")

    def __init__(self, M, hints: dict) -> None:
        self.M, self.fresh, self.hints = M, True, hints


class AdaptiveAMGCG(ScipyKrylov):
    """AMG-PCG that reuses its hierarchy across matrices until the rent-or-buy rule says rebuild.

    A reused hierarchy can also be hopeless at once (a topology-optimisation step that moves the
    material): a solve with a reused hierarchy that overruns three times the iterations a fresh
    one needed rebuilds it on the spot and continues, instead of running to ``maxiter``.
    """

    def __init__(self) -> None:
        super().__init__("cg", preconditioners.smoothed_aggregation, spd_only=True, reuse_setup=True)
        self.schedule = RebuildSchedule()
        self.uses_near_nullspace = True
        self._modes: tuple | None = None

    def setup(self, A, previous, **hints):
        modes = near_nullspace_key(hints.get("near_nullspace"))
        if previous is not None and not self.schedule.stale and modes == self._modes:
            previous.fresh = False
            return previous
        self._modes = modes  # new near-null-space modes change the hierarchy: rebuild
        return _Hierarchy(self._build(A, hints), hints)

    def _build(self, A, hints: dict):
        t0 = time.perf_counter()
        M = self.build_preconditioner(A, **hints)
        self.schedule.built(time.perf_counter() - t0)
        return M

    def solve(self, prepared: _Hierarchy, A, b, x0, *, maxiter, **kw) -> IterationResult:
        t0 = time.perf_counter()
        cap = maxiter if prepared.fresh else self.schedule.reuse_cap(maxiter)
        res = super().solve(prepared.M, A, b, x0, maxiter=cap, **kw)
        if res.status == "maxiter" and cap < maxiter:  # the reused hierarchy is hopeless here
            self.schedule.gave_up()  # a reuse that missed (see reuse.py)
            prepared.M, prepared.fresh = self._build(A, prepared.hints), True
            t0 = time.perf_counter()
            more = super().solve(prepared.M, A, b, res.x, maxiter=maxiter - res.iterations, **kw)
            res = IterationResult(more.x, res.iterations + more.iterations, more.status)
            self.schedule.solved(time.perf_counter() - t0, more.iterations)
            return res
        self.schedule.solved(time.perf_counter() - t0, res.iterations)
        return res
