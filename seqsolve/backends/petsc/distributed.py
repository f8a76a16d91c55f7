"""Sequences of distributed systems under MPI: seqsolve's policy choosing PETSc KSP/PC per system.

``mpiexec -n P python script.py`` with a ``DistributedSolver`` in the time loop: every rank passes
its part of an ``mpiaij`` ``Mat`` and ``Vec`` (as assembled by FEniCSx, Firedrake, a DMDA, …).

* The policy lives on rank 0; its choice is broadcast, so every rank runs the same configuration.
* Costs are the maximum over ranks (the slowest rank is the wall time everyone waited for).
* An initial-guess strategy that only combines earlier solutions (``previous``, ``extrapolate``,
  ``zero``) runs on each rank's part of the vectors: its weights do not depend on the data, so the
  ranks stay consistent without communication.  Strategies that need products or inner products
  of distributed vectors (``projection``, ``pod``, ``deflation``, ``auto``) are refused.
* The accuracy contract is checked on the true residual ``b − A x`` computed by PETSc in parallel;
  on failure the same fallback idea as the serial solver (the policy's hint, then a direct MUMPS
  factorisation, then GMRES+block-Jacobi/ILU), and :class:`~seqsolve.ConvergenceError` if all fail.
  Unlike the serial path, the residual is not certified with a rounding-error bound (that needs
  the entries on one process); a margin of ``n·ε·‖A‖·‖x‖`` is reported, not added.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Mapping

from ...configs import Configuration, parse
from ...errors import ConfigurationError, ConvergenceError, InvalidSystemError, UnsupportedTypeError
from ...guesses import Guess, parse_guess
from ...policies import make_policy
from ...records import SolveRecord
from ...solvers.base import start_scale
from ...solvers.reuse import RebuildSchedule
from ._import import is_petsc_object, petsc
from .keepalive import IMMORTAL
from .mapping import OPTIONS, mumps
from .method import configure

#: options that differ in parallel: SOR is processor-local there (PETSc's default), ILU/ICC run
#: per block (block Jacobi), Eisenstat is left out (sequential only)
_PARALLEL = {"icc-cg": {"ksp_type": "cg", "pc_type": "bjacobi", "sub_pc_type": "icc"},
             "cholesky": mumps("cholesky"),  # (PETSc's own Cholesky is sequential: MUMPS here)
             "ssor-cg": None}

_STATUS = {-3: "maxiter", -4: "breakdown", -5: "breakdown", -8: "indefinite", -9: "nan", -11: "error"}


class _Portfolio:
    """What the policy may choose in parallel: the PETSc backend's kinds."""

    name = "petsc"

    def supports(self, config: Configuration) -> bool:
        return config.kind in OPTIONS

    def portfolio(self) -> list[Configuration]:
        from . import PetscBackend

        return PetscBackend.portfolio(self)  # type: ignore[arg-type]


class DistributedSolver:
    """Solve a sequence of distributed PETSc systems, learning the configuration as it goes.

    Parameters mirror :class:`~seqsolve.SequenceSolver` (``rtol``, ``atol``, ``policy``, ``seed``,
    ``maxiter``, ``warm_start``, ``initial_guess``: a history-only strategy, see the module
    docstring).  ``solve(A, b)`` returns a new ``Vec`` (like ``b``).
    """

    def __init__(self, rtol: float = 1e-8, atol: float = 0.0, policy: str = "auto", seed: int | None = 0, *,
                 maxiter: int | None = None, warm_start: bool = True, initial_guess: str | Guess = "previous",
                 comm: Any = None) -> None:
        PETSc = petsc()
        self.comm = comm if comm is not None else PETSc.COMM_WORLD
        self._mpi = self.comm.tompi4py()
        self.rank = self._mpi.Get_rank()
        self.rtol, self.atol, self.maxiter, self.warm_start = float(rtol), float(atol), maxiter, warm_start
        self.policy = make_policy(policy, seed, backend=_Portfolio()) if self.rank == 0 else None
        self.history: list[SolveRecord] = []
        self._ksps: dict[Configuration, list] = {}  # config → [ksp, matrix key it was built for, schedule]
        self._guess = _history_only(initial_guess)
        self._symmetric: dict[int, bool] = {}

    # ------------------------------------------------------------------ public API
    def solve(self, A, b, x0=None, context: Mapping[str, float] | None = None):
        if not (is_petsc_object(A, "Mat") and is_petsc_object(b, "Vec")):
            raise UnsupportedTypeError("DistributedSolver.solve takes a petsc4py Mat and Vec")
        n = A.getSize()[0]
        if A.getSize()[1] != n or b.getSize() != n:
            raise InvalidSystemError(f"A is {A.getSize()} but b has {b.getSize()} entries")
        symmetric = self._is_symmetric(A)
        t0 = time.perf_counter()
        choice = None
        if self.rank == 0:
            allowed = [c for c in self.policy.candidates() if symmetric or not c.spec.spd_only]
            config = self.policy.select(context, allowed=allowed, n=n)
            hint = self.policy.fallback_hint()
            choice = (config.name, self.policy.attempt_limit(), hint.name if hint else None, self.policy.explored())
        name, limit, hint, explored = self._mpi.bcast(choice, root=0)
        config = parse(name)
        policy_seconds = time.perf_counter() - t0

        x = b.duplicate()
        guess = "x0" if x0 is not None else "zero"
        if x0 is not None:
            x0.copy(x)
        else:
            x.set(0.0)
            if self.warm_start:
                local = self._guess.form(None, b.getArray(readonly=True), None)  # this rank's part
                if local is not None:
                    x.setArray(local)
                    guess = self._guess.name
        bnorm = b.norm()
        if bnorm == 0.0:  # A x = 0 has the exact answer x = 0, whatever A is
            x.set(0.0)
            return x
        target = max(self.rtol * bnorm, self.atol)
        maxiter = self.maxiter or 10 * n
        chain = [config] + [parse(c) for c in (hint, "direct" if n <= 2_000_000 else None, "gmres(ilu)")
                            if c is not None and c != name]
        attempts = []
        for i, c in enumerate(chain):
            cap = min(maxiter, limit) if (i == 0 and limit) else maxiter
            attempt = self._run(c, A, b, x, cap, target)
            attempts.append((c, attempt))
            if attempt["residual"] <= target:
                break
        first = attempts[0][1]
        last_c, last = attempts[-1]
        from mpi4py import MPI

        seconds = [self._mpi.allreduce(sum(a[k] for _, a in attempts), op=MPI.MAX) for k in ("setup", "solve")]
        record = SolveRecord(
            index=len(self.history), configuration=config.name,
            iterations=sum(a["iterations"] for _, a in attempts),
            setup_seconds=seconds[0], solve_seconds=seconds[1],
            residual=last["residual"] / bnorm if bnorm else 0.0, converged=last["residual"] <= target,
            fallback=last_c.name if len(attempts) > 1 and last["residual"] <= target else None,
            status=first["status"], setup_reused=first["reused"], context=dict(context or {}),
            attempt_seconds=first["setup"] + first["solve"], explored=bool(explored), initial_guess=guess)
        if self.rank == 0:
            t1 = time.perf_counter()
            self.policy.update(record.seconds, record)
            policy_seconds += time.perf_counter() - t1
        self.history.append(dataclasses.replace(record, policy_seconds=policy_seconds))
        if not record.converged:
            raise ConvergenceError(
                f"no configuration reached the tolerance on {self.comm.getSize()} ranks: best relative "
                f"residual {record.residual:.3e} after trying {', '.join(c.name for c, _ in attempts)}",
                best_residual=record.residual, attempts=[c.name for c, _ in attempts])
        self._guess.update(None, None, x.getArray().copy(), None)  # (the caller gets x itself)
        return x.copy()

    def summary(self) -> dict:
        from ...records import summarize

        return summarize(self.history)

    # ------------------------------------------------------------------ internals
    def _is_symmetric(self, A) -> bool:
        key = A.handle
        if key not in self._symmetric:  # once per Mat object: values change, symmetry does not
            self._symmetric[key] = bool(A.isSymmetric(1e-12 * max(A.norm(), 1e-300)))
        return self._symmetric[key]

    def _ksp(self, config: Configuration, A):
        PETSc = petsc()
        entry = self._ksps.get(config)
        if entry is None:
            opts = _PARALLEL.get(config.kind, OPTIONS[config.kind](config))
            if opts is None:  # ssor-cg: processor-local symmetric SOR sweeps
                opts = {"ksp_type": "cg", "pc_type": "sor", "pc_sor_omega": repr(config.get("omega")),
                        "pc_sor_local_symmetric": ""}
            opts = dict(opts)
            if opts.get("pc_type") == "ilu":  # parallel ILU: one per block
                opts.update(pc_type="bjacobi", sub_pc_type="ilu")
            if opts["ksp_type"] == "cg":
                opts["ksp_norm_type"] = "unpreconditioned"
            ksp = PETSc.KSP().create(comm=A.getComm())
            IMMORTAL.append(ksp)
            configure(ksp, opts, "mpi")
            entry = self._ksps[config] = [ksp, None, RebuildSchedule()]
        return entry

    def _run(self, config: Configuration, A, b, x, maxiter: int, target: float) -> dict:
        ksp, built_for, schedule = entry = self._ksp(config, A)
        key = (A.handle, A.stateGet())
        schedule_name = config.get_or("setup", "rebuild")
        reuse = built_for is not None and built_for[0] == key[0] and (
            built_for == key or schedule_name == "reuse" or (schedule_name == "adaptive" and not schedule.stale))
        t0 = time.perf_counter()
        ksp.getPC().setReusePreconditioner(reuse)
        ksp.setOperators(A)
        ksp.setUp()
        t1 = time.perf_counter()
        if not reuse:
            schedule.built(t1 - t0)
            entry[1] = key
        r = b.duplicate()
        A.mult(x, r)
        r.aypx(-1.0, b)
        bnorm = b.norm()
        # the start scaled as on one process (solvers.base.start_scale; the dots are collective,
        # so every rank scales alike): a Newton correction does not start the next
        alpha = start_scale(ksp.getType() == "cg", x, b, r, dot=lambda u, v: u.dot(v),
                            bb=bnorm * bnorm) if x.norm() > 0 else None
        if alpha == 0.0:
            x.set(0.0)
            b.copy(r)
        elif alpha is not None:
            x.scale(alpha)
            r.scale(alpha)
            r.axpy(1.0 - alpha, b)  # b − A(αx) = (1 − α) b + α (b − A x)
        rn0 = r.norm()
        iterations, status = 0, "converged"
        if rn0 > target:
            d = b.duplicate()
            ksp.setTolerances(rtol=min(0.5, target / rn0), atol=0.0, divtol=1e12, max_it=max(1, maxiter))
            ksp.solve(r, d)
            iterations = max(1, ksp.getIterationNumber())
            reason = int(ksp.getConvergedReason())
            status = "converged" if reason > 0 else _STATUS.get(reason, "error")
            x.axpy(1.0, d)
            A.mult(x, r)
            r.aypx(-1.0, b)
            d.destroy()
        residual = r.norm()
        r.destroy()
        t2 = time.perf_counter()
        schedule.solved(t2 - t1, iterations)
        return {"iterations": iterations, "setup": t1 - t0 if not reuse else 0.0, "solve": t2 - t1,
                "status": status, "reused": reuse, "residual": residual}



def _history_only(spec: str | Guess) -> Guess:
    """The strategy ``spec`` if it only combines earlier solutions with fixed weights (each rank can
    form its part alone), else a :class:`~seqsolve.ConfigurationError` naming the ones that can."""
    strategy = None if isinstance(spec, str) and spec.strip() == "auto" else parse_guess(spec)
    if strategy is None or strategy.combination(1) is None:
        name = "auto" if strategy is None else strategy.name
        raise ConfigurationError(
            f"DistributedSolver: initial_guess={name!r} needs products or inner products of "
            "distributed vectors; use 'previous', 'zero' or 'extrapolate(order=..., alternating=...)'")
    return strategy
