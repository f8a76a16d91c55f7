"""One seqsolve configuration run as a PETSc KSP: setup builds the PC, solve iterates.

The KSP's own convergence test is not trusted: PETSc monitors the preconditioned residual by
default and, with Eisenstat's trick, the residual of a transformed system (true residual 4.6e-8
at rtol 1e-8, measured).  Each solve therefore ends with the true residual ``b - A x`` (one
matrix-vector product); if it misses the target, the KSP continues from ``x`` with a tightened
tolerance, and the tightening is remembered for the next solve.  SequenceSolver then certifies
the result again, as for every backend.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import numpy as np

from ...configs import Configuration
from ...solvers.base import Callback, IterationResult, Method
from ...solvers.reuse import RebuildSchedule
from ...validation import near_nullspace_key
from ._import import petsc
from .mapping import options
from .matrices import MatCache

_PREFIXES = itertools.count()

#: KSPConvergedReason → seqsolve status (negative reasons are failures)
_STATUS = {-3: "maxiter", -4: "breakdown", -5: "breakdown", -6: "breakdown", -7: "breakdown",
           -8: "indefinite", -9: "nan", -10: "indefinite", -11: "error"}


class _Prepared:
    __slots__ = ("ksp", "fresh", "modes")

    def __init__(self, ksp, fresh: bool, modes) -> None:
        self.ksp, self.fresh, self.modes = ksp, fresh, modes


class PetscKSP(Method):
    """``config`` as KSP/PC options; setup reuse per the configuration's ``setup`` schedule."""

    def __init__(self, config: Configuration, mats: MatCache) -> None:
        self.config = config
        self.options = options(config)
        self.spd_only = config.spec.spd_only
        self.needs_matrix = True  # PETSc needs assembled entries (no MATSHELL path)
        self.uses_near_nullspace = self.options.get("pc_type") == "gamg"
        self.schedule_name = config.get_or("setup", "rebuild")
        self.schedule = RebuildSchedule() if self.schedule_name == "adaptive" else None
        self.preonly = self.options["ksp_type"] == "preonly"
        self._mats = mats
        self._tighten = 1.0  # factor applied to rtol so the *true* residual meets it
        self._work: tuple | None = None

    def _new_ksp(self):
        PETSc = petsc()
        prefix = f"seqsolve{next(_PREFIXES)}_"
        db = PETSc.Options()
        for k, v in self.options.items():
            db[prefix + k] = v
        if not self.preonly and self.options["ksp_type"] in ("cg", "richardson"):
            db[prefix + "ksp_norm_type"] = "unpreconditioned"
        ksp = PETSc.KSP().create(comm=PETSc.COMM_SELF)
        ksp.setOptionsPrefix(prefix)
        ksp.setFromOptions()
        return ksp

    def setup(self, A, previous: _Prepared | None, near_nullspace=None) -> _Prepared:
        mat = self._mats.matrix(A)
        modes = near_nullspace_key(near_nullspace)
        if previous is None:
            prepared = _Prepared(self._new_ksp(), True, None)
        else:
            prepared = previous
        reuse = previous is not None and modes == previous.modes and (
            self.schedule_name == "reuse" or (self.schedule is not None and not self.schedule.stale))
        if near_nullspace is not None and not reuse:
            mat.setNearNullSpace(_null_space(near_nullspace))
        ksp = prepared.ksp
        ksp.getPC().setReusePreconditioner(reuse)
        ksp.setOperators(mat)
        t0 = time.perf_counter()
        ksp.setUp()
        if not reuse and self.schedule is not None:
            self.schedule.built(time.perf_counter() - t0)
        prepared.fresh, prepared.modes = not reuse, modes
        return prepared

    def _vectors(self, n: int):
        if self._work is None or self._work[0] != n:
            PETSc = petsc()
            arrays = [np.zeros(n) for _ in range(3)]
            vecs = [PETSc.Vec().createWithArray(a, comm=PETSc.COMM_SELF) for a in arrays]
            self._work = (n, arrays, vecs, vecs[0].duplicate())
        return self._work[1], self._work[2], self._work[3]

    def solve(self, prepared: _Prepared, A, b, x0, *, rtol, atol, maxiter, callback: Callback = None) -> IterationResult:
        ksp = prepared.ksp
        (ba, xa, ra), (bv, xv, rv), dv = self._vectors(b.shape[0])
        ba[:] = b
        xa[:] = x0
        target = max(rtol * float(np.linalg.norm(b)), atol)
        mat = self._mats.mat
        t0 = time.perf_counter()
        used, status = 0, "maxiter"
        for _ in range(4):  # the true-residual loop (see the module docstring)
            mat.mult(xv, rv)
            rv.aypx(-1.0, bv)  # r = b - A x
            true = rv.norm()
            if not math.isfinite(true):
                status = "nan"
                break
            if true <= target:
                status = "converged"
                if true < 0.05 * target and self._tighten < 1.0:
                    self._tighten = min(1.0, 2 * self._tighten)
                break
            if used >= maxiter or (used and self.preonly and true > 0.5 * previous):
                break  # out of iterations, or a factorisation that cannot improve on itself
            if used:
                self._tighten *= max(1e-6, 0.5 * target / true)
            # solve for the correction from a zero guess: PCEISENSTAT transforms the system and does
            # not support a nonzero initial guess, and every KSP then reads the same tolerance
            goal = target * self._tighten
            # a relative tolerance only: Eisenstat's residual has other units than the true one
            ksp.setTolerances(rtol=min(0.5, goal / true), atol=0.0, divtol=1e12, max_it=max(1, maxiter - used))
            ksp.solve(rv, dv)
            used += max(1, ksp.getIterationNumber())
            xv.axpy(1.0, dv)
            previous = true
            reason = int(ksp.getConvergedReason())
            if reason <= 0:
                status = _STATUS.get(reason, "error")
                break
        if self.schedule is not None:
            self.schedule.solved(time.perf_counter() - t0, used)
        x = xa.copy()
        if callback is not None:
            callback(x)
        return IterationResult(x, used, status)


def _null_space(modes: np.ndarray):
    """Near-null-space vectors for GAMG, orthonormalised (PETSc expects an orthonormal basis)."""
    PETSc = petsc()
    q, _ = np.linalg.qr(np.asarray(modes, dtype=np.float64))
    vecs = [PETSc.Vec().createWithArray(np.ascontiguousarray(q[:, j]).copy(), comm=PETSc.COMM_SELF)
            for j in range(q.shape[1])]
    return PETSc.NullSpace().create(vectors=vecs, comm=PETSc.COMM_SELF)
