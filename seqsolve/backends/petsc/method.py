"""One seqsolve configuration run as a PETSc KSP: setup builds the PC, solve iterates.

The KSP's own convergence test is not trusted: PETSc monitors the preconditioned residual by
default and, with Eisenstat's trick, the residual of a transformed system (true residual 4.6e-8
at rtol 1e-8, measured).  Each solve therefore ends with the true residual ``b - A x``; if it
misses the target, the KSP continues from ``x`` with a tightened tolerance, and the tightening is
remembered for the next solve.  That final residual is computed by the certified check's own
compiled pass (:func:`seqsolve.accuracy.check_residual`'s ``residual_with_bound``, on ``A``'s
arrays and the returned ``x``) and handed to SequenceSolver as the ``residual_pass``, which then
certifies ``x`` with the same bound, without a second pass.  The starting residual, ``‖b‖`` and
(for ``ssor-cg``) the dominance verdict come from one compiled pass too (:mod:`._kernels`); a
starting ``x0`` whose residual is above ``‖b‖`` (or overflows) is dropped for zero there.

Initial guesses are formed by :mod:`seqsolve.guesses` and arrive as ``x0``; PETSc's own ``KSPGuess``
is not set: it empties its basis whenever the operator changes under a rebuilt PC (Heat2D: a zero
start), and on FEM heat it took 1.4x the NumPy ``projection(k)``'s time
(``benchmarks/results/guesses_petsc.md``).
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

import numpy as np

from ...accuracy import ResidualPass, norm_from_squares
from ...accuracy import _kernels as _residual_kernels
from ...configs import Configuration
from ...errors import InvalidSystemError
from ...solvers.base import Callback, IterationResult, Method, start_scale
from ...solvers.reuse import RebuildSchedule
from ...validation import near_nullspace_key
from ._import import petsc
from . import _kernels
from .keepalive import IMMORTAL as _IMMORTAL
from .mapping import BANDED_FACTOR, eisenstat, options, pivoting
from .matrices import MatCache


#: KSPConvergedReason → seqsolve status (negative reasons are failures)
_STATUS = {-3: "maxiter", -4: "breakdown", -5: "breakdown", -6: "breakdown", -7: "breakdown",
           -8: "indefinite", -9: "nan", -10: "indefinite", -11: "error"}
_PC_FAILED = -11  # KSP_DIVERGED_PC_FAILED: a factorisation met a zero pivot, among others


class _Prepared:
    """A KSP set up for one matrix, the near-null-space modes its PC was built with, and the
    :attr:`MatCache.version` of the values it was set up on.

    ``ksp`` is ``None`` for ``ssor-cg`` until the first solve: which KSP (Eisenstat or SOR)
    depends on the matrix's dominance, read in that solve's first residual pass.  A factorisation's
    setup owns its KSP (the factors are a snapshot, kept for a matrix that comes back:
    :mod:`seqsolve.recurring`); once the setup is let go, the KSP returns to ``spare`` to be
    refactorised for a later matrix of the same pattern, where its symbolic analysis still holds."""

    __slots__ = ("ksp", "modes", "version", "n", "fresh", "spare")

    def __init__(self, ksp, modes, version: int, n: int, spare: list | None = None) -> None:
        self.ksp, self.modes, self.version = ksp, modes, version
        self.n = n  # the size of the Mat its PC was built on
        self.fresh = True  # built for the matrix at hand (False: reused from an earlier one)
        self.spare = spare

    def __del__(self) -> None:
        if self.spare is not None and self.ksp is not None:
            self.spare.append(self.ksp)  # (never destroyed: see keepalive)


class _PatternKSPs:
    """A method's KSPs for one sparsity pattern: one per option set, and a factorisation's spares."""

    __slots__ = ("ksps", "spare")

    def __init__(self) -> None:
        self.ksps: dict[str, Any] = {}
        self.spare: list = []


def _nonzero_diagonal(mat) -> bool:
    """Whether every diagonal entry of the PETSc ``mat`` is nonzero (missing ones read as zero);
    a global reduction, so every rank gives the same answer."""
    d = mat.getDiagonal()
    try:
        d.abs()
        return bool(d.min()[1] > 0.0)
    finally:
        d.destroy()


class PetscKSP(Method):
    """``config`` as KSP/PC options; setup reuse per the configuration's ``setup`` schedule."""

    def __init__(self, config: Configuration, mats: MatCache) -> None:
        self.config = config
        self.options = options(config)
        self.spd_only = config.spec.spd_only
        self.needs_matrix = True  # PETSc needs assembled entries (no MATSHELL path)
        # GAMG builds on the modes; BoomerAMG is handed them only for the block size they imply
        # (MatCache.nodes_of): nodal coarsening, 11 iterations instead of 86 on 2-D elasticity
        self.uses_near_nullspace = self.options.get("pc_type") in ("gamg", "hypre")
        self.schedule_name = config.get_or("setup", "rebuild")
        self.schedule = RebuildSchedule() if self.schedule_name == "adaptive" else None
        self.preonly = self.options["ksp_type"] == "preonly"
        self.uses_x0 = not self.preonly  # a factorisation alone ignores the initial guess
        self.scales_start = True  # (solve's first residual pass decides: start_scale)
        self.energy_norm = self.options["ksp_type"] == "cg"
        #: a factorisation's setups are snapshots (each owns its KSP): kept for matrices that come back
        self.independent_setups = self.preonly
        self._mats = mats
        #: SSOR-PCG runs through Eisenstat's trick on matrices where that is safe (see mapping)
        self._fast = eisenstat(config) if config.kind == "ssor-cg" else None
        self._tighten = 1.0  # factor applied to rtol so the *true* residual meets it
        self._work: tuple | None = None
        #: per sparsity pattern the MatCache keeps (its generation): one KSP per option set ("" or
        #: "eisenstat"), kept across setups, and a factorisation's KSPs no setup holds now (see
        #: _Prepared); those of the current pattern
        self._patterns: dict[int, _PatternKSPs] = {}
        self._pattern = _PatternKSPs()
        self._generation = -1  # the MatCache generation (sparsity pattern) of _pattern
        #: a factorisation by PETSc's own (``cholesky``; any on a narrow band, mapping.BANDED_FACTOR)
        #: does not pivot: the KSPs doing so (their ids), and the patterns (generations) where one
        #: met a zero pivot and MUMPS took over
        self._pivot_free: set[int] = set()
        self._pivots_on: set[int] = set()

    def _new_ksp(self, opts: dict[str, str]):
        PETSc = petsc()
        opts = dict(opts)
        if not self.preonly and opts["ksp_type"] in ("cg", "richardson"):
            opts["ksp_norm_type"] = "unpreconditioned"
        ksp = PETSc.KSP().create(comm=PETSc.COMM_SELF)
        _IMMORTAL.append(ksp)
        configure(ksp, opts)
        return ksp

    def setup(self, A, previous: _Prepared | None, near_nullspace=None) -> _Prepared:
        mat = self._mats.matrix(A)
        modes = near_nullspace_key(near_nullspace)
        # a PC is reused only on a matrix of the size it was built for (a new pattern of that size may
        # use it: a preconditioner for a nearby matrix); PETSc refused a reused GAMG on a larger Mat
        # ("Cannot change local size of Amat"), and the solve fell back
        reuse = previous is not None and modes == previous.modes and previous.n == A.shape[0] \
            and (self.schedule_name == "reuse" or (self.schedule is not None and not self.schedule.stale))
        if near_nullspace is not None and not reuse:
            self._mats.nodes_of(near_nullspace)
            if self.options["pc_type"] == "gamg":
                mat.setNearNullSpace(_null_space(near_nullspace))
        # the same object back means "setup reused" to the solver; a rebuild keeps the KSP, not the object
        if reuse:
            prepared = previous
            prepared.version = self._mats.version
            prepared.fresh = False
        else:
            if self.options.get("pc_type") == "hypre" and not _nonzero_diagonal(mat):
                # BoomerAMG's smoothers divide by the diagonal: hypre 2.26 aborted the whole process
                # (MPI_ABORT) on a stored zero there, and crashed on an all-zero matrix (the contract
                # fuzz).  Checked where a hierarchy is built: a reused one never reads the new matrix
                raise InvalidSystemError("hypre's BoomerAMG needs a nonzero diagonal; A has a zero (or missing) "
                                         "diagonal entry")
            # ssor-cg: the KSP is chosen by the first solve's pass, which reads the dominance
            prepared = _Prepared(None if self._fast is not None else self._ksp(""), modes, self._mats.version,
                                 A.shape[0], self._current().spare if self.preonly else None)
        if prepared.ksp is not None:
            try:
                self._attach(prepared.ksp, mat, reuse)
            except petsc().Error:
                if id(prepared.ksp) not in self._pivot_free:
                    raise
                self._pivoting(prepared)  # a missing diagonal entry: MUMPS pivots past it
                self._attach(prepared.ksp, mat, False)
        return prepared

    def _pivoting(self, prepared: _Prepared):
        """Give ``prepared`` the MUMPS KSP that replaces a pivot-free factorisation which failed on
        this pattern (and from now on, every setup on it)."""
        self._pivots_on.add(self._mats.generation)
        self._pivot_free.discard(id(prepared.ksp))
        pattern = self._current()
        pattern.spare = []  # (the pivot-free KSPs of this pattern are not used again)
        prepared.ksp, prepared.spare = self._ksp(""), pattern.spare  # (the pivot-free KSP is let go)

    def _attach(self, ksp, mat, reuse: bool) -> None:
        """Point ``ksp`` at ``mat`` and set its PC up (reusing the one it has when ``reuse``)."""
        ksp.getPC().setReusePreconditioner(reuse)
        ksp.setOperators(mat)
        t0 = time.perf_counter()
        ksp.setUp()
        if not reuse and self.schedule is not None:
            self.schedule.built(time.perf_counter() - t0)

    def _ksp(self, kind: str):
        """This method's KSP for option set ``kind`` (``""``, or ``"eisenstat"`` for ssor-cg)."""
        pattern = self._current()
        if self.preonly:  # one KSP per setup (see _Prepared): a spare one, refactorised, or a new one
            ksp = pattern.spare.pop() if pattern.spare else None
        else:
            ksp = pattern.ksps.get(kind)
        if ksp is None:
            opts = self._fast if kind == "eisenstat" else self.options
            if self.preonly:
                if self._generation in self._pivots_on:
                    opts = pivoting(opts)
                elif self._mats.narrow_band:
                    opts = {**opts, **BANDED_FACTOR}
                elif opts.get("pc_factor_mat_solver_type") == "petsc" and not self._mats.planar:
                    opts = pivoting(opts)  # a volume graph: MUMPS (mapping.CHOLESKY)
            ksp = self._new_ksp(opts)
            if not self.preonly:
                pattern.ksps[kind] = ksp
            if opts.get("pc_factor_mat_solver_type") == "petsc":
                self._pivot_free.add(id(ksp))  # (KSPs are never freed: an id is never reused)
        return ksp

    def _current(self) -> "_PatternKSPs":
        """The KSPs of the MatCache's current pattern.  A new sparsity pattern (or size) is a new
        Mat: fresh KSPs for it, rather than re-pointing PCs built for another layout; a pattern
        that comes back finds its own (those of patterns the MatCache let go are dropped)."""
        generation = self._mats.generation
        if self._generation != generation:
            patterns = self._patterns
            for g in [g for g in patterns if not self._mats.holds(g)]:
                del patterns[g]
            self._pattern = patterns.setdefault(generation, _PatternKSPs())
            self._generation = generation
        return self._pattern

    def _vectors(self, n: int):
        """``(r, d)`` as PETSc Vecs and as NumPy views: the correction solve's right-hand side
        and solution (PETSc-owned memory: no Vec ever points into freed NumPy memory)."""
        if self._work is None or self._work[0] != n:
            PETSc = petsc()
            rv, dv = (PETSc.Vec().createSeq(n, comm=PETSc.COMM_SELF) for _ in range(2))
            self._work = (n, rv, dv, rv.getArray(), dv.getArray())
        return self._work[1:]

    def solve(self, prepared: _Prepared, A, b, x0, *, rtol, atol, maxiter, callback: Callback = None) -> IterationResult:
        """Solve; with the ``adaptive`` schedule a reused PC that overruns three times the
        iterations a fresh one needed (or half of ``maxiter``) is rebuilt on the spot and the solve
        continues (as the SciPy backend's AMG does): Fluid2D's BoomerAMG took 6 iterations fresh and 108 with the previous
        step's hierarchy, and the solver's cap then fell back to another configuration."""
        schedule = self.schedule
        if schedule is None:
            return self._run(prepared, A, b, x0, rtol, atol, maxiter, callback)
        t0 = time.perf_counter()
        base = schedule.base_iterations
        # at most half the allowed iterations: the solver's own cap on an exploited configuration
        # is also about 3x its usual count, and a reused PC stopped by that cap falls back to
        # another configuration instead of being rebuilt here (Fluid2D: 108 iterations, a fallback)
        cap = maxiter if prepared.fresh or not base else min(maxiter // 2, 3 * base + 10)
        if 0 < cap < maxiter:
            res = self._run(prepared, A, b, x0, rtol, atol, cap, None)
            if res.status == "maxiter":  # the reused PC is hopeless here: a miss, then a rebuild
                # (a miss whatever its iterations cost, as on the SciPy backend: judged by them, a
                # reuse stopped at half the solver's cap looked cheaper than the build it forced,
                # reset the misses, and BoomerAMG's reuse was probed every other system on Fluid2D)
                schedule.gave_up()
                self._attach(prepared.ksp, self._mats.matrix(A), False)
                prepared.version, prepared.fresh = self._mats.version, True
                t0 = time.perf_counter()
                more = self._run(prepared, A, b, res.x, rtol, atol, maxiter - res.iterations, callback)
                schedule.solved(time.perf_counter() - t0, more.iterations)
                return IterationResult(more.x, res.iterations + more.iterations, more.status, more.residual_pass)
            schedule.solved(time.perf_counter() - t0, res.iterations)
            if callback is not None:
                callback(res.x)
                return IterationResult(res.x, res.iterations, res.status)
            return res
        res = self._run(prepared, A, b, x0, rtol, atol, maxiter, callback)
        schedule.solved(time.perf_counter() - t0, res.iterations)
        return res

    def _run(self, prepared: _Prepared, A, b, x0, rtol, atol, maxiter, callback: Callback) -> IterationResult:
        n = b.shape[0]
        rv, dv, ra, da = self._vectors(n)
        if x0.dtype != np.float64 or not x0.flags.c_contiguous:
            x0 = np.ascontiguousarray(x0, dtype=np.float64)
        if prepared.version != self._mats.version:
            # another method's setup has copied a matrix into the shared Mat since this one was
            # set up (an exploration before a fallback): copy A back.  The solver reuses a setup
            # only for the matrix it was made for (same values), so the PC is kept as it is —
            # without this, the re-assembly's state change made PETSc refactorise a Cholesky
            # fallback whose factor was already built for this very matrix (78 ms, measured)
            mat = self._mats.matrix(A)
            prepared.version = self._mats.version
            if prepared.ksp is not None:
                prepared.ksp.getPC().setReusePreconditioner(True)
                prepared.ksp.setOperators(mat)
        indptr, indices, data = A.indptr, A.indices, A.data
        if prepared.ksp is None:  # ssor-cg after a setup: the dominance verdict rides on this pass
            rr, bb, dominant = _kernels.start(indptr, indices, data, b, x0, ra)
            # (rows summing to zero are not strictly dominant but by rounding; Eisenstat's
            # transformed system has no constant null space: with the Mat's, CG broke down)
            prepared.ksp = self._ksp("eisenstat" if dominant and not self._mats.singular else "")
            self._attach(prepared.ksp, self._mats.mat, False)
        else:
            rr, bb = _kernels.residual(indptr, indices, data, b, x0, ra)
        ksp = prepared.ksp
        bnorm = norm_from_squares(bb, b)
        target = max(rtol * bnorm, atol)
        true = norm_from_squares(rr, ra)
        alpha = start_scale(self.energy_norm, x0, b, ra, rr=rr, bb=bb) if x0.any() else None
        if alpha is not None:
            # the start scaled as on the SciPy backend (solvers.base.scaled_start): optimal on its
            # line in the method's norm, never worse than zero.  A guess of 1e200 everywhere
            # otherwise ended the solve ("nan") and cost a fallback to another configuration;
            # 1e12 cost 40 iterations, not 12
            if alpha:
                x0 = alpha * x0
                ra *= alpha
                ra += (1.0 - alpha) * b  # b − A(αx0) = (1 − α) b + α (b − A x0)
                true = float(np.linalg.norm(ra))
            else:  # (zero: also where x0 or its residual overflowed, which a product would keep)
                x0 = np.zeros(n)
                ra[:] = b
                true = bnorm
        x, done = x0, None  # done: the certified check's pass over (A, b, x), once x is ours
        used, status, previous = 0, "maxiter", math.inf
        for _ in range(4):  # the true-residual loop (see the module docstring)
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
                ra[:] = done.r  # the residual of the current x is the next correction's right-hand side
            # solve for the correction from a zero guess: PCEISENSTAT transforms the system and does
            # not support a nonzero initial guess, and every KSP then reads the same tolerance
            goal = target * self._tighten
            # a relative tolerance only: Eisenstat's residual has other units than the true one
            ksp.setTolerances(rtol=min(0.5, goal / true), atol=0.0, divtol=1e12, max_it=max(1, maxiter - used))
            ksp.solve(rv, dv)
            if id(ksp) in self._pivot_free and int(ksp.getConvergedReason()) == _PC_FAILED:
                # a zero pivot in PETSc's own (pivot-free) factorisation: MUMPS pivots
                self._pivoting(prepared)
                ksp = prepared.ksp
                self._attach(ksp, self._mats.mat, False)
                ksp.setTolerances(rtol=min(0.5, goal / true), atol=0.0, divtol=1e12, max_it=max(1, maxiter - used))
                ksp.solve(rv, dv)
            used += max(1, ksp.getIterationNumber())
            x = x + da  # a new array: x0 is the caller's
            previous = true
            reason = int(ksp.getConvergedReason())
            if reason <= 0:
                status, done = _STATUS.get(reason, "error"), None
                break
            done = _certified_pass(indptr, indices, data, b, x)
            true = norm_from_squares(done.rr, done.r) if done.terms > 0 else math.nan
        if x is x0:
            x = x0.copy()
        if callback is not None:
            callback(x)  # it may change x: then the pass is not x's
            return IterationResult(x, used, status)
        return IterationResult(x, used, status, done)


def _certified_pass(indptr, indices, data, b: np.ndarray, x: np.ndarray) -> ResidualPass:
    """:func:`~seqsolve.accuracy.check_residual`'s compiled pass over ``(A, b, x)``: the loop's
    true residual and, handed over, the solver's certificate."""
    n = b.shape[0]
    r, mag = np.empty(n), np.empty(n)
    terms, rr, mm = _residual_kernels().residual_with_bound(indptr, indices, data, b, x, r, mag)
    return ResidualPass(r, mag, int(terms), float(rr), float(mm))


def configure(ksp, opts: dict[str, str], tag: str = "") -> None:
    """Give ``ksp`` the options ``opts`` under a prefix named after them.

    PETSc's options database holds at most 512 entries (3.18): a prefix per KSP filled it after
    about a hundred KSPs.  One prefix per distinct option set keeps it to one entry per option of
    each configuration ever used; PCs that read options at setup (GAMG's level smoothers) still
    find theirs.
    """
    PETSc = petsc()
    digest = hashlib.blake2s(repr(sorted(opts.items())).encode(), digest_size=6).hexdigest()
    prefix = f"seqsolve{tag}_{digest}_"
    db = PETSc.Options()
    for k, v in opts.items():
        if not db.hasName(prefix + k):
            db[prefix + k] = v
    ksp.setOptionsPrefix(prefix)
    ksp.setFromOptions()


def _null_space(modes: np.ndarray):
    """Near-null-space vectors for GAMG, orthonormalised (PETSc expects an orthonormal basis)."""
    PETSc = petsc()
    q, _ = np.linalg.qr(np.asarray(modes, dtype=np.float64))
    vecs = []
    for j in range(q.shape[1]):  # copied into PETSc-owned memory (the NullSpace outlives this frame)
        v = PETSc.Vec().createSeq(q.shape[0], comm=PETSc.COMM_SELF)
        v.setArray(q[:, j])
        vecs.append(v)
    return PETSc.NullSpace().create(vectors=vecs, comm=PETSc.COMM_SELF)
