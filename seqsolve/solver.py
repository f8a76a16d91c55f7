"""SequenceSolver: one object that solves a sequence of related systems and learns as it goes.

The loop for each system: validate → the policy picks a configuration → the backend's method
sets up (or reuses its setup) and iterates → the *true* residual is checked → on failure a
robust fallback runs → the measured cost is recorded and fed back to the policy.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
import importlib.util
import math
import time
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
from scipy.sparse.linalg import LinearOperator

from .accuracy import (FAILED, RTOL_MIN, ScaledSystem, Verdict, check_residual, ldexp, magnitude_exponent, moderate,
                       scale_matrix, scale_system, warmup as accuracy_warmup)
from .backends import Backend, get_backend
from .configs import Configuration, parse
from .dirichlet_rows import Reduced, RowElimination
from .operators import Structure, as_structure, is_structured, structure_for
from .operators.grid import grid_structure
from .operators.grid import separable as grid_separable
from .operators.structure import sum_max_abs
from .errors import ConfigurationError, ConvergenceError, InvalidSystemError, NotSymmetricError, SeqsolveError
from .fixed_path import FixedCompiledPath
from .log import logger, solve_logged
from .guesses import make_guesser
from .guesses.chooser import FixedGuess
from .policies import AutoPolicy, Policy, make_policy
from .policies.base import Stretch, SystemFacts, constant_diagonal
from .policies.fixed import FixedPolicy
from .multi_rhs import is_block, solve_columns
from .pattern_memo import PatternMemo
from .recurring import RecurringSetups
from .records import SolveRecord, summarize
from .residual_history import recording
from .solvers.base import Callback, Method, scaled_start
from .solvers.compiled import CompiledPCG
from .solvers.direct import DENSE_MAX
from .user_preconditioner import PreconditionerError, as_preconditioner, usable
from .validation import (SYMMETRY_RTOL, MatrixScan, all_finite, as_canonical, as_rhs, as_near_nullspace, as_operator, as_vector, is_symmetric, near_nullspace_key,
                         scan_matrix, symmetric_by_entries, transpose_permutation, unpartnered_entries)

#: largest system the sparse direct solver is used on as a fallback (2-D problems only, in practice)
DIRECT_MAX_SIZE = 250_000


class _Attempt:
    __slots__ = ("x", "iterations", "setup_seconds", "solve_seconds", "verdict", "status", "reused",
                 "projected_seconds", "projected_iterations", "done", "one_off_seconds")


#: the setup keywords of a method that takes the finiteness hint alone (see _setup_hints); read only
_FINITE = MappingProxyType({"finite": True})
_NO_M = id(None)  # the setup key's preconditioner part when no M is used

#: ``chosen`` for a redone solve that still asks the policy (a system to rescale, found after the lean scan)
_GENERAL = object()


#: a SciPy method → its compiled twin (the same iterations, faster; it needs a matrix): where both
#: apply, the policy is offered the twin only
TWINS = {"cg": "numba-cg", "jacobi-cg": "numba-jacobi-cg", "ssor-cg": "numba-ssor-cg"}


class SequenceSolver:
    """Solve ``A x = b`` for a sequence of systems, choosing the configuration per system.

    Parameters
    ----------
    rtol, atol : float
        Every returned ``x`` satisfies ``||b - A x|| <= max(rtol * ||b||, atol)`` on the true
        residual; otherwise :class:`~seqsolve.ConvergenceError` is raised.
    policy : str or Policy
        ``"auto"`` (default: learns the cheapest configuration per kind of system),
        ``"fixed:<configuration>"`` (e.g. ``"fixed:ssor-cg(omega=1.6)"``), ``"tsallis-inf"``,
        ``"chebcb[:KEY=LO..HI]"``, or a :class:`~seqsolve.policies.Policy` instance.
    seed : int or None
        Seeds every random choice of the policy.
    maxiter : int or None
        Iteration limit per attempt; ``None`` means ``10 * n`` as in SciPy.
    warm_start : bool
        Start from the previous solution when the size matches and no ``x0`` is given.
    fallback : bool
        Try robust configurations when the chosen one fails (recorded in the history).
    backend : str or Backend
        Which engine runs configurations (``"scipy"``).
    initial_guess : str, Guess, list or None
        Where an iteration starts when no ``x0`` is given (see :mod:`seqsolve.guesses`):
        ``"previous"``, ``"extrapolate(order=2)"``, ``"projection(k=8)"``, ``"pod(k=4)"``,
        ``"auto"`` (learned online from measured cost), or a list of specs to choose among.
        ``None`` (default): ``"auto"`` under ``policy="auto"``, which learns the start together
        with the configuration (p-Laplace by Picard: 0.45x the time of ``auto`` with the previous
        solution as start), ``"previous"`` under any other policy, whose user chose the method, and
        under an ``AutoPolicy(cost="iterations")``, whose runs must repeat exactly.
        Forming the guess is charged as setup time.
    blas_threads : int or None
        BLAS threads during a solve.  Sparse iterative solves gain nothing from threaded BLAS
        (vectors of 10⁴–10⁶ entries, memory bound), and OpenBLAS's threaded dot product costs
        hundreds of microseconds per call when the cores are shared, so the default is 1;
        ``None`` leaves the process setting alone.  A fixed policy whose method calls no BLAS
        (the compiled ``numba-*`` PCG) sets the limit only once something that may call BLAS
        runs (a fallback, a converted ``b``): reading the libraries' thread counts costs ~10 µs
        of a call on cold caches.
    record_residuals : bool
        Store in each record's ``residuals`` the true relative residual of every iterate a
        method reports (see :mod:`seqsolve.residual_history`); off by default, since it costs a
        matrix–vector product per iterate.
    """

    def __init__(self, rtol: float = 1e-8, atol: float = 0.0, policy: str | Policy = "auto",
                 seed: int | None = 0, *, maxiter: int | None = None, warm_start: bool = True,
                 fallback: bool = True, backend: str | Backend = "scipy", blas_threads: int | None = 1,
                 record_residuals: bool = False,
                 initial_guess: Any = None) -> None:
        rtol, atol = _tolerance("rtol", rtol), _tolerance("atol", atol)
        if rtol == 0 and atol == 0:
            raise InvalidSystemError("rtol and atol cannot both be 0: no finite-precision solve meets that")
        if 0 < rtol < RTOL_MIN:
            raise InvalidSystemError(
                f"rtol={rtol:g} is below {RTOL_MIN:.2g} (4 machine epsilons): float64 cannot certify a "
                f"residual that small; use rtol >= {RTOL_MIN:.2g}, or rtol=0 with an absolute atol")
        if maxiter is not None and (isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer))
                                    or maxiter < 1):
            raise InvalidSystemError(f"maxiter must be a positive integer or None, got {maxiter!r}")
        self.rtol = rtol
        self.atol = atol
        self.seed = seed
        self.maxiter = maxiter
        self.warm_start = warm_start
        self.fallback = fallback
        self.backend = get_backend(backend)
        self.blas_threads = blas_threads
        self.record_residuals = bool(record_residuals)
        self._policy = make_policy(policy, seed, backend=self.backend)
        self._stretch: Stretch | None = None  # a commitment the policy handed over (Policy.stretch)
        unsupported = [c.name for c in self._policy.candidates() if not self.backend.supports(c)]
        if unsupported:
            raise ConfigurationError(
                f"the {self.backend.name} backend cannot run {', '.join(unsupported[:3])}"
                f"{' …' if len(unsupported) > 3 else ''}; use policy='auto' or a configuration it runs")
        if initial_guess is None:
            # (a reproducible cost="iterations" run keeps a start that no clock chooses)
            initial_guess = ("auto" if isinstance(self._policy, AutoPolicy) and self._policy.cost == "seconds"
                             else "previous")
        self.initial_guess = initial_guess
        self._guesser = make_guesser(initial_guess, tolerance=rtol if rtol > 0 else 1e-8)
        self.history: list[SolveRecord] = []
        self._methods: dict[Configuration, Method] = {}
        self._setups: dict[Configuration, tuple[tuple, Any, int]] = {}  # config → (key, prepared, solve)
        self._recurring = RecurringSetups()  # setups kept for matrices that come back
        self._rows = RowElimination()  # rows that only fix an unknown, eliminated
        self._keeps: tuple | None = None  # (the policy's candidates, whether one keeps such setups, methods built)
        self._x_prev: np.ndarray | None = None
        self._start_solved = False  # whether the last system's start met the tolerance (_start_meets)
        self._sym_cache: tuple[tuple, bool] | None = None
        self._sym_trust: tuple = (None, 0)  # (pattern, sampled checks left before a full one)
        self._canonical = PatternMemo()  # patterns found sorted and duplicate-free (→ the pattern)
        self._warm: object = False  # the index dtype the residual kernels were loaded for (False: none)
        self._scale_cache: tuple | None = None
        self._perm_cache: tuple | None = None  # (pattern, its transpose permutation) of the current pattern
        self._perms = PatternMemo()  # pattern → its transpose permutation (None: not structurally symmetric)
        self._unpartnered = PatternMemo()  # such a pattern → entries whose transpose is not stored
        self._previous_fp: tuple | None = None
        self._previous_config: str | None = None  # the configuration of the last solve (see defer)
        self._near_nullspace: np.ndarray | None = None
        self._structure = None
        self._allowed_cache: dict[tuple, list[Configuration]] = {}
        self._allowed_for: object = None
        self._user_M: LinearOperator | None = None  # the preconditioner passed to this solve, if any
        self._residuals: list[float] | None = None  # residual history of this solve (record_residuals)
        self._res_bnorm = 1.0
        self._X_prev: np.ndarray | None = None  # the last block solution (several right-hand sides)
        self._entries_free_for: object = None  # the candidates _entries_free was computed for
        self._entries_free = False  # whether one of them solves from a structure alone (_lean_scan)
        self._grid_users_for: object = None  # the candidates _grid_users was computed for
        self._grid_users = False  # whether one of them uses a grid found in A's pattern (_detected_grid)
        # [pattern, the Structure detected in it (None: no grid), whether its matrices are separable
        # (None: not asked yet)]
        self._grid_cache: list | None = None  # [pattern, grid found, separable verdict] of the current pattern
        self._grids = PatternMemo()  # pattern → its _grid_cache entry
        self._diagonals = PatternMemo()  # pattern → whether its first matrix's diagonal was constant
        self._threads = None  # this solve's BLAS limit (None: not set yet; see _limit_blas)
        self._blas_free_for: object = None  # the candidates _blas_free_ok was decided for
        self._blas_free_ok = False
        self._fixed_path_for: object = None  # the policy _fixed_path was decided for
        self._fixed_path: FixedCompiledPath | None = None
        self._stretch_paths: dict[Configuration, FixedCompiledPath | bool] = {}  # a stretch's lean path per configuration

    @property
    def policy(self) -> Policy:
        """The policy, having learned from every solve so far (a stretch's records handed over)."""
        self._end_stretch()
        return self._policy

    @policy.setter
    def policy(self, policy: Policy) -> None:
        self._end_stretch()
        self._policy = policy

    def _end_stretch(self, resume: bool = False) -> None:
        """Hand the stretch's records to the policy.  ``resume``: the stretch ended on a record the
        policy must see (a slow solve: on 0.1 ms solves timing noise alone ends one every ~10
        systems); if the policy's commitment survives it, the next stretch starts at once — the
        general path's committed choice and update would make exactly that one, at ~3x the cost
        of a lean solve."""
        st, self._stretch = self._stretch, None
        if st is not None and st.records:
            self._policy.absorb(st.records)
            if resume:
                self._stretch = nxt = self._policy.stretch()
                if nxt is not None:
                    nxt.n, nxt.allowed = st.n, st.allowed

    # ------------------------------------------------------------------ public API
    def solve(self, A: Any, b: Any, x0: Any = None, context: Mapping[str, float] | None = None,
              *, callback: Callback = None, near_nullspace: Any = None, M: Any = None,
              structure: Any = None) -> np.ndarray:
        """Solve one system of the sequence and return ``x`` meeting the tolerance.

        ``callback(xk)`` is called after each iteration by methods that iterate in Python
        (SciPy Krylov, SOR) and once with the final iterate by compiled and direct methods.
        ``near_nullspace`` (shape ``(n, k)``) tells AMG which modes the operator nearly
        annihilates — the rigid-body modes of an elasticity problem (3 in 2-D, 6 in 3-D);
        without it AMG assumes the constant vector, right for scalar diffusion only.
        ``M`` is your preconditioner (≈ ``A⁻¹``: LinearOperator, matrix or callable), run by the
        configurations ``user-cg``/``user-gmres``, which the policy weighs against its own.
        ``b`` of shape ``(n, k)`` solves ``k`` right-hand sides (one record each, setup reused)
        and returns ``X`` of shape ``(n, k)``.

        ``structure`` is a :class:`~seqsolve.operators.KroneckerSum` equal to ``A`` (``fast-diag``)
        or the grid shape of the unknowns (``fastdiag-cg``); a ``KroneckerSum`` ``A`` is its own.

        ``A`` and ``b`` may also be petsc4py ``Mat``/``Vec`` (sequential); ``x`` is then a new
        ``Vec`` laid out like ``b``, so a petsc4py/FEniCSx time loop needs no conversion.
        """
        if x0 is None and callback is None and near_nullspace is None and M is None and structure is None:
            st = self._stretch
            if st is not None:
                x = self._stretch_step(st, A, b, context)
                if x is not None:
                    return x
            else:
                lean = self._fixed_path if self._fixed_path_for is self._policy else self._lean_path()
                if lean is not None:
                    x = self._lean_call(lean, A, b, context)
                    if x is not None:
                        return x
        # the BLAS limit: entered here, or on first need (_limit_blas); an outer solve's is kept
        # for it (a callback that solves again with this solver)
        outer, self._threads = self._threads, None
        try:
            if not (type(b) is np.ndarray and b.ndim == 1) and is_block(b):
                self._limit_blas()
                return solve_columns(self, A, b, x0, context, callback, near_nullspace, M)
            if not self._blas_free():
                self._limit_blas()
            x = self._solve(A, b, x0, context, callback, near_nullspace, M, structure)
        finally:
            threads, self._threads = self._threads, outer
            if threads is not None and threads is not _NOTHING:
                threads.__exit__(None, None, None)
        if type(b) is not np.ndarray and type(b).__module__.startswith("petsc4py"):  # a petsc4py Vec
            out = b.duplicate()
            out.setArray(x)
            return out
        return x

    def _limit_blas(self) -> None:
        """Limit BLAS threads (``blas_threads``) for the rest of this solve, unless already done."""
        if self._threads is None:
            self._threads = blas_threads(self.blas_threads)
            if self._threads is not _NOTHING:  # entered by hand: a with-block costs two Python calls
                self._threads.__enter__()

    def _lean_path(self) -> FixedCompiledPath | None:
        """The straight-line solve of a fixed compiled-PCG policy (:mod:`.fixed_path`), or ``None``
        for any other policy; decided once per policy (a ``FixedPolicy``'s candidates never change)."""
        policy = self._policy
        if self._fixed_path_for is not policy:
            self._fixed_path_for = policy
            self._fixed_path = (FixedCompiledPath(self, policy.candidates()[0], self._method(policy.candidates()[0]),
                                                  _PRIMARY_CHUNK)
                                if FixedCompiledPath.fits(policy, self._guesser, self._method) else None)
        return self._fixed_path

    def _stretch_step(self, st: Stretch, A, b, context) -> np.ndarray | None:
        """One system of a stretch the policy handed over, on the lean path of its compiled-PCG
        configuration (:mod:`.fixed_path`, capped at the stretch's limit), or ``None``: the general
        path is to solve it (another configuration kind, another kind of system, a solve that is
        not certified at once — which the general path repeats under the same cap, then falls back)."""
        path = self._stretch_paths.get(st.config)
        if path is None:
            method = self._method(st.config)
            path = self._stretch_paths[st.config] = (
                FixedCompiledPath(self, st.config, method, _PRIMARY_CHUNK)
                if type(method) is CompiledPCG and FixedCompiledPath.guesser_fits(self._guesser) else False)
            if path:
                path.in_stretch = True
        if path is False or getattr(b, "shape", None) != (st.n,):
            return None
        if context is not None:  # checked first: a context that is not valid is named, as on any path
            context = self._check_context(context)
        if st.admits is not None and not st.admits(context):
            return None
        x = self._lean_call(path, A, b, context, st.limit, st.new_matrix_ends)
        if x is None:
            return None
        record = self.history[-1]
        st.left -= 1
        st.records.append(record)
        if st.ends_after(record):
            self._end_stretch(resume=True)
        return x

    def _lean_call(self, path: FixedCompiledPath, A, b, context, limit: int | None = None,
                   fresh_ends: bool = False) -> np.ndarray | None:
        """``path.solve``; with a guess that may call BLAS (a dormant chooser's extrapolation), under
        the solver's BLAS thread limit, as the general path would run it."""
        if self._guesser.stored or not getattr(self._guesser, "dormant", False):
            # a stored vector handed back (no arithmetic, no BLAS), or a guess the path declines
            return path.solve(A, b, context, limit, fresh_ends)
        outer, self._threads = self._threads, None
        try:
            self._limit_blas()
            return path.solve(A, b, context, limit, fresh_ends, arithmetic=True)
        finally:
            threads, self._threads = self._threads, outer
            if threads is not None and threads is not _NOTHING:
                threads.__exit__(None, None, None)

    def _blas_free(self) -> bool:
        """Whether this solve can start without the BLAS limit (:meth:`_limit_blas` is then called
        where BLAS may be: a method that uses it, a ``b`` or ``A`` NumPy converts or multiplies):
        a fixed policy of a method that never calls BLAS, with a guess that does no arithmetic.
        Decided once per candidate list."""
        candidates = self._policy.candidates()
        if self._blas_free_for is not candidates:
            self._blas_free_for = candidates
            self._blas_free_ok = (isinstance(self._policy, FixedPolicy) and len(candidates) == 1
                                  and not self._method(candidates[0]).uses_blas
                                  and not getattr(self._guesser, "arithmetic", True))
        return self._blas_free_ok

    def _solve(self, A, b, x0, context, callback, near_nullspace=None, M=None, structure=None,
               chosen: Configuration | None = None) -> np.ndarray:
        """One solve (see :meth:`solve`); ``chosen``: the configuration the policy already chose for
        this very system, when a lean first attempt is redone on the general path (_lean_scan)."""
        A_given, x0_given = A, x0
        A = as_operator(A, check_finite=False, canonical=False)
        op = isinstance(A, LinearOperator)
        # (a Kronecker operator is its own structure)
        self._structure = None if structure is None and not op else as_structure(structure, A)
        scan = self._lean_scan(A) if chosen is None and self._structure is not None else None
        lean = scan is not None
        if not lean:
            # finiteness, fingerprint, magnitude (and symmetry), and b's finiteness and norm, in one pass
            scan = scan_matrix(A, self._symmetry_plan(), b)
            if not op:
                known = self._canonical.get(scan.pattern)
                A, scan = as_canonical(A, scan, known)
                if known is None:
                    self._canonical.put(scan.pattern, scan.pattern)
                if self._structure is None:
                    self._structure = self._detected_grid(A, scan.pattern)
        if not op and self._warm is not A.indices.dtype:
            # kernel loading is not a cost of the first configuration tried (one per index width)
            accuracy_warmup(A.indices.dtype)
            self._warm = A.indices.dtype
        n = A.shape[0]
        if scan.b is None:  # b to convert, or an operator A: NumPy (BLAS) work from here on
            self._limit_blas()
        b, bnorm = as_rhs(b, n, scan)  # finiteness and norm (from the scan when it checked b)
        if scan.max_abs == 0.0 and bnorm != 0.0:
            # no x solves it, and no method need find that out (hypre's BoomerAMG crashed the process
            # on an all-zero matrix: PETSc 3.18, SIGSEGV)
            raise ConvergenceError("A is the zero matrix and b is not zero: A x = b has no solution",
                                   best_residual=1.0, best_x=np.zeros(n), attempts=())
        plain = moderate(scan.max_abs, bnorm)  # the usual case: nothing to rescale
        if lean and not plain:
            # a system to rescale: the general path
            return self._solve(A_given, b, x0_given, context, callback, near_nullspace, M, structure, chosen=_GENERAL)
        self._near_nullspace = None if near_nullspace is None else as_near_nullspace(near_nullspace, n)
        self._user_M = None if M is None else as_preconditioner(M, n)
        if context is not None:
            context = self._check_context(context)
        fp = scan.fingerprint
        key = None if fp[0] == "op" else fp
        repeated = key is not None and fp == self._previous_fp
        # a matrix solved a few systems ago (alternating operators): the setups kept for it serve
        # again, so a learner counts it as repeated (and so does its record)
        again = repeated or (key is not None and self._recurring.came_back(fp, len(self.history))
                             and self._keeps_setups())
        if x0 is not None:
            x0 = as_vector(x0, n, "x0")
        symmetric = scan.symmetric if lean else self._symmetric(A, scan)
        if not symmetric and not op and callback is None and M is None and structure is None:
            # rows that only fix an unknown (Dirichlet conditions by row replacement) made A
            # unsymmetric: eliminated, the rest is solved as its own system (dirichlet_rows.py)
            reduced = self._rows.reduce(A, scan.pattern, b)
            if reduced is not None:
                return self._solve_reduced(reduced, A, b, bnorm, x0, context)
        maxiter = self.maxiter or 10 * n

        t0 = time.perf_counter()
        allowed = self._allowed(A, symmetric, op)
        if not allowed:
            raise self._not_applicable(self._policy.candidates()[0], A, symmetric)
        if self._user_M is not None and not any(c.spec.user_preconditioner for c in allowed):
            raise ConfigurationError(
                f"M was given but policy {self._policy.spec!r} has no configuration that uses it here; use "
                f"policy='auto' (weighs M against its own portfolio) or 'fixed:user-cg' / 'fixed:user-gmres'")
        st = self._stretch
        if st is not None and (chosen is not None or n != st.n or allowed is not st.allowed
                               or (st.admits is not None and not st.admits(context))
                               or (st.new_matrix_ends and not again)):
            self._end_stretch()  # another kind of system (or a redone one): the policy decides
            st = None
        if chosen is not None and chosen is not _GENERAL:
            config = chosen  # chosen for this system already (a lean attempt that is redone)
        elif st is not None:  # a commitment the policy handed over: no choosing
            config = st.config
            st.left -= 1
        elif type(self._policy).observe is not Policy.observe:
            # only learners that use the facts get them
            # setups made for this very matrix before this solve (the value hash compared first:
            # along a sequence it differs), found only if the policy asks
            setups, now = self._setups, len(self.history)
            self._policy.observe(SystemFacts(n, again, lambda: (
                *(c.name for c, (k, _, made) in setups.items() if made < now and k[0][-1] == fp[-1] and k[0] == fp),
                *(c.name for c in self._recurring.ready(fp, now))), A,
                separable=False if self._structure is None or self._grid_cache is None
                or self._structure is not self._grid_cache[1] else (lambda: self._grid_separable(A)),
                constant_diagonal=None if key is None else (lambda: self._constant_diagonal(A, fp))))
        fixed = type(self._policy) is FixedPolicy  # (its select and limits are known: see below)
        if (chosen is None or chosen is _GENERAL) and st is None:
            # a fixed policy's choice is its one candidate once _allowed kept it (else _allowed was
            # empty and raised above): the select call that would say so is skipped on every solve
            config = allowed[0] if fixed else self._policy.select(context, allowed=allowed, n=n)
            if lean and not config.spec.entries_free:  # it reads A's entries: scan them first
                return self._solve(A_given, b, x0_given, context, callback, near_nullspace, M, structure, chosen=config)
        if st is not None:
            limit, budget = st.limit, None
        else:  # (a fixed policy caps nothing)
            limit, budget = (None, None) if fixed else (self._policy.attempt_limit(), self._policy.attempt_budget())
        rent = None if fixed or st is not None else self._policy.attempt_rent()
        policy_seconds = time.perf_counter() - t0
        t_guess, guess = time.perf_counter(), "x0" if x0 is not None else "zero"
        tentative = False  # the previous solution, checked before the strategy's own start is formed
        if x0 is None and self.warm_start:
            if not self._method(config).uses_x0:  # a factorisation or an exact solve: a guess would be formed for nothing
                guess = "unused"
            elif self._start_solved and self._x_prev is not None and self._x_prev.shape[0] == n and callback is None:
                # the last system's start met the tolerance: the sequence has settled, and the
                # previous solution, free, may solve this one too (an extrapolation or a projection
                # formed at 1-2 ms a system, on a converged pseudo-transient, did no better)
                x0, guess, tentative = self._x_prev, "previous", True
            else:
                x0, guess = self._formed_guess(A, b, key, st, fixed, config)
        if x0 is None or (guess != "unused" and not all_finite(x0)):  # nothing known, or a broken guess: cold start
            x0 = np.zeros(n)
        guess_seconds = time.perf_counter() - t_guess

        if bnorm == 0.0:
            # A x = 0 has the exact answer x = 0 for every A: nothing to solve or learn
            self.history.append(SolveRecord(len(self.history), config.name, 0, 0.0, 0.0, 0.0, True,
                                            policy_seconds=policy_seconds, context=dict(context or {})))
            self._x_prev = np.zeros(n)
            self._guesser.update(A, b, self._x_prev, key)
            return np.zeros(n)
        target = max(self.rtol * bnorm, self.atol)
        if plain:
            system = ScaledSystem(A, b, 0, 0)
        else:
            system = scale_system(A, *self._scaled_matrix(A, scan), b, bnorm)
        beta = system.beta
        goal = (_Goal(bnorm, target, self.atol) if beta == 0 else
                _Goal(ldexp(bnorm, -beta), ldexp(target, -beta), ldexp(self.atol, -beta)))
        self._residuals, self._res_bnorm = ([] if self.record_residuals else None), goal.bnorm

        attempts: list[tuple[Configuration, _Attempt]] = []
        start = x0 if system.shift == 0 else system.to_scaled(x0)
        first, residual = self._start_meets(system, start, goal) if self._start_solved \
            and guess not in ("zero", "unused") and callback is None else (None, math.inf)
        if first is None and tentative:  # not this time: the strategy's own start after all
            t_guess = time.perf_counter()
            prev_x0, prev_start, prev_residual = x0, start, residual
            x0, guess = self._formed_guess(A, b, key, st, fixed, config)
            if x0 is None or not all_finite(x0):
                x0, guess = np.zeros(n), "zero"
            start = x0 if system.shift == 0 else system.to_scaled(x0)
            guess_seconds += time.perf_counter() - t_guess
            if guess != "zero":  # (a start the strategy formed may meet it where the previous did not)
                first, residual = self._start_meets(system, start, goal)
            if first is None and prev_residual <= residual:
                # of the two starts checked, the previous solution's residual is the smaller: near a
                # steady state an extrapolation or a stale projection overshoots (on a pseudo-
                # transient, 27-29 iterations from the formed start where the previous needed 7-13)
                x0, start, guess = prev_x0, prev_start, "previous"
                self._guesser.discard()
        if first is None:
            first = self._bounded(config, system, start, fp, goal,
                                  min(maxiter, limit or maxiter), callback, first_chunk=max(_PRIMARY_CHUNK, 10 * math.isqrt(n)),
                                  budget=budget, hard_maxiter=maxiter, rent=rent)
        if first.status == "maxiter" and not lean:
            first = self._resumed(config, system, first, fp, goal, maxiter, callback)
        attempts.append((config, first))
        best = first
        first_met = first.verdict.meets(goal.target)
        if lean and not first_met:  # a wrong hint, entries that are not finite, a singular sum: the general path
            return self._solve(A_given, b, x0_given, context, callback, near_nullspace, M, structure, chosen=config)
        if not first_met and _far_worse_than_zero(system, start, goal.bnorm):
            # a start far worse than zero (an x0 or a guess far off) bounds the accuracy a Krylov
            # method reaches (ε·‖A‖·‖x0‖) or overflows: the same configuration again, from zero,
            # before any other (the compiled PCG kernels drop any start worse than zero, for free)
            retry = self._bounded(config, system, np.zeros(n), fp, goal, min(maxiter, limit or maxiter), callback)
            attempts.append((config, retry))
            if retry.verdict.upper < best.verdict.upper or not np.isfinite(best.verdict.upper):
                best = retry
        if not best.verdict.meets(goal.target) and self.fallback:
            hint = self._policy.fallback_hint()
            for fb in self._fallbacks(config, first, system.A, symmetric, hint, goal):
                # from the best iterate so far, unless it is worse than a zero start (a guess far
                # off, a method that diverged) or so large that its rounding alone comes near the
                # target (a factorisation's near-zero pivot on a singular matrix put a huge
                # null-space part into x, and every fallback from it stagnated at 2e-7): its size
                # would bound the accuracy reachable
                start = best.x if best.verdict.residual <= goal.bnorm and all_finite(best.x) \
                    and best.verdict.error_bound <= _FLOOR_SHARE * goal.target else np.zeros(n)
                if fb == config:  # the method converged by its own measure: refine instead of restarting
                    att = self._refine(fb, system, best, fp, goal, maxiter, callback)
                elif (as_first := self._policy.fallback_first_try(fb)) is not None:
                    # the first try a probe went before: capped and rented as one
                    att = self._bounded(fb, system, start, fp, goal, min(maxiter, as_first[0]), callback,
                                        first_chunk=max(_PRIMARY_CHUNK, 10 * math.isqrt(n)),
                                        hard_maxiter=maxiter, rent=as_first[1])
                    if att.status == "maxiter":
                        att = self._resumed(fb, system, att, fp, goal, maxiter, callback)
                else:
                    att = self._bounded(fb, system, start, fp, goal, maxiter, callback)
                attempts.append((fb, att))
                if att.verdict.upper < best.verdict.upper or not np.isfinite(best.verdict.upper):
                    best = att
                if att.verdict.meets(goal.target):
                    break

        x, exact = (best.x, True) if system.shift == 0 else system.from_scaled(best.x)
        verdict = best.verdict
        converged = first_met if best is first else verdict.meets(goal.target)
        if converged and not exact:  # the unscaling lost bits: check what is returned
            # (it may even overflow, in a component no stored entry of A multiplies: the residual
            # cannot see that, so finiteness is checked first)
            verdict = check_residual(A, b, x, bnorm, target) if all_finite(x) else FAILED
            goal = _Goal(bnorm, target, self.atol)
            converged = verdict.meets(goal.target)
            first_met = first.verdict.meets(goal.target)
        if converged:  # only certified solutions teach the guess strategies
            t_guess = time.perf_counter()
            self._guesser.update(A, b, x, key)
            guess_seconds += time.perf_counter() - t_guess
        if len(attempts) == 1:  # the usual case: the chosen configuration alone
            iterations, setup_seconds, solve_seconds = first.iterations, first.setup_seconds, first.solve_seconds
        else:
            iterations = sum(a.iterations for _, a in attempts)
            setup_seconds = sum(a.setup_seconds for _, a in attempts)
            solve_seconds = sum(a.solve_seconds for _, a in attempts)
        record = SolveRecord.of({
            "index": len(self.history),
            "configuration": config.name,
            "iterations": iterations,
            "setup_seconds": guess_seconds + setup_seconds,
            "solve_seconds": solve_seconds,
            "residual": verdict.residual / goal.bnorm,
            "converged": converged,
            "fallback": next((c.name for c, a in attempts[1:] if a is best), None) if len(attempts) > 1 else None,
            "status": first.status,
            "setup_reused": first.reused,
            "policy_seconds": policy_seconds,  # choosing; learning is added below, once timed
            "context": {} if context is None else dict(context),
            "attempt_seconds": first.setup_seconds + first.solve_seconds,
            "projected_seconds": None if first_met else first.projected_seconds,
            "projected_iterations": None if first_met else first.projected_iterations,
            "explored": st is None and not fixed and self._policy.explored(),
            "matrix_repeated": again,
            "residuals": None if self._residuals is None else tuple(self._residuals),
            "initial_guess": guess,
            "guess_seconds": guess_seconds,
            "one_off_seconds": first.one_off_seconds,
        })
        if logger.isEnabledFor(20):  # INFO; nothing is formatted when logging is off
            solve_logged(record, [(c.name, a.status, a.iterations) for c, a in attempts],
                         min(maxiter, limit or maxiter), maxiter)
        self._previous_fp = fp
        if key is not None:
            self._recurring.seen(fp, record.index)
        self._previous_config = config.name
        self._start_solved = converged and iterations == 0 and guess not in ("zero", "unused")
        if st is not None or not fixed or (guess not in ("x0", "zero", "unused") and type(self._guesser) is not FixedGuess
                                           and not getattr(self._guesser, "asleep", False)):
            self._learn(record, st, attempts, n, allowed, guess, guess_seconds)
        # (a fixed policy with a fixed guess learns nothing: nothing to time)
        self.history.append(record)
        if not converged:
            raise ConvergenceError(
                f"no configuration reached the tolerance: best relative residual {record.residual:.3e} "
                f"(target {goal.target / goal.bnorm:.3e}) after trying "
                f"{', '.join(f'{c.name} [{a.status}]' for c, a in attempts)}{_unattainable(verdict, goal)}",
                best_residual=record.residual, best_x=x.copy() if np.all(np.isfinite(x)) else None,
                attempts=[c.name for c, _ in attempts],
            )
        self._x_prev = x
        return x.copy()

    def _learn(self, record: SolveRecord, st: Stretch | None, attempts: list, n: int, allowed: list,
               guess: str, guess_seconds: float) -> None:
        """Feed the solve's ``record`` to the policy (or to the stretch it handed over) and its guess's
        cost to the guess chooser; the seconds this takes are added to ``record.policy_seconds``."""
        t1 = time.perf_counter()
        if st is not None:  # learned in one batch when the stretch ends, or now if it must end
            st.records.append(record)
            if st.ends_after(record, len(attempts)):
                self._end_stretch(resume=True)
        elif type(self._policy) is not FixedPolicy:  # (a fixed policy learns nothing, hands over no stretch)
            self._policy.update(record.seconds, record)
            if record.fallback is not None and record.fallback != record.configuration:
                # what the configuration that rescued the system cost there is a measurement too
                # (a refinement of the chosen one teaches nothing new)
                fb, att = next((c, a) for c, a in reversed(attempts) if c.name == record.fallback)
                self._policy.rescued(fb, att.setup_seconds, att.solve_seconds, iterations=att.iterations,
                                     one_off_seconds=att.one_off_seconds)
            self._stretch = st = self._policy.stretch()
            if st is not None:
                st.n, st.allowed = n, allowed
        if guess not in ("x0", "zero", "unused") and type(self._guesser) is not FixedGuess \
                and not record.explored and not record.fallback:
            # a guess changes the iterations and costs its own forming, not the configuration's
            # setup: an AMG hierarchy rebuilt every few systems would otherwise decide the round.
            # Not where the policy explored or fell back: another configuration (another ω) changes
            # the iterations too, and the strategies' costs compare only under one (on a Crank–
            # Nicolson sequence with ω explored on 8 % of its systems, a projection so scored was
            # exploited on a third of them, 2.7x the extrapolation's forming); a try scored nothing
            # is made again on the next system
            self._guesser.learn(guess_seconds + record.solve_seconds, record.iterations, guess_seconds)
        # set in place, not on a copy (~3 µs): the policy has seen the record, but no policy reads
        # policy_seconds, which it could not know before its own update was timed
        object.__setattr__(record, "policy_seconds", record.policy_seconds + time.perf_counter() - t1)

    def _solve_reduced(self, reduced: Reduced, A, b: np.ndarray, bnorm: float, x0, context) -> np.ndarray:
        """Solve ``reduced`` (see :mod:`seqsolve.dirichlet_rows`) as a system of the sequence and
        put ``x`` together: its record stands for the whole system (the residual vector is the same,
        its norm taken relative to the whole ``b``)."""
        rows, n = reduced.rows, A.shape[0]
        rest = float(np.linalg.norm(reduced.b))
        rtol = self.rtol
        self.rtol = RowElimination.rtol_for(rtol, bnorm, rest)
        try:
            x_rest = self._solve(reduced.A, reduced.b, None if x0 is None else x0[rows], context, None,
                                 None if self._near_nullspace is None else self._near_nullspace[rows])
        except ConvergenceError as exc:
            best = None if exc.best_x is None else reduced.expand(exc.best_x, n)
            raise ConvergenceError(str(exc), best_residual=exc.best_residual * rest / bnorm if bnorm else
                                   exc.best_residual, best_x=best, attempts=exc.attempts) from None
        finally:
            self.rtol = rtol
        x = reduced.expand(x_rest, n)
        if not bnorm:
            return x
        # the same residual vector; its norm taken on the whole system, as the record of any solve
        target = max(self.rtol * bnorm, self.atol)
        verdict = check_residual(A, b, x, bnorm, target)
        self.history[-1] = replace(self.history[-1], residual=verdict.residual / bnorm)
        if not verdict.meets(target):  # (rounding in x_D = b_D / a_DD only)
            raise ConvergenceError(f"the reduced system met its tolerance, the whole one did not (relative "
                                   f"residual {verdict.residual / bnorm:.3g})", best_residual=verdict.residual / bnorm,
                                   best_x=x, attempts=[self.history[-1].configuration])
        return x

    def save(self, path) -> None:
        """Save the settings and what the policy learned (atomic; see :mod:`seqsolve.persistence`)."""
        from . import __version__
        from .persistence import write_state

        self._end_stretch()
        write_state(path, {
            "seqsolve_version": __version__,
            "solver": {"rtol": self.rtol, "atol": self.atol, "seed": self.seed, "maxiter": self.maxiter,
                       "warm_start": self.warm_start, "fallback": self.fallback, "backend": self.backend.name,
                       "blas_threads": self.blas_threads},
            "policy": {"spec": self._policy.spec, "state": self._policy.state_dict()},
            **self._guess_section(),
        })

    def _guess_section(self) -> dict:
        """The initial-guess spec, and the chooser's learned scores when it is ``"auto"`` (or a list
        given as specs), so that :meth:`load` restores both (the spec even where it is the default
        of this release: the default depends on the policy and may change).  A :class:`Guess`
        object given by the user is not saved: the loaded solver takes the default."""
        if not isinstance(self.initial_guess, (str, list, tuple)) \
                or not all(isinstance(g, str) for g in ([self.initial_guess] if isinstance(self.initial_guess, str)
                                                        else self.initial_guess)):
            return {}
        state = self._guesser.state_dict() if hasattr(self._guesser, "state_dict") else {}
        return {"initial_guess": {"spec": self.initial_guess if isinstance(self.initial_guess, str)
                                  else list(self.initial_guess), "state": state}}

    @classmethod
    def load(cls, path, **overrides) -> "SequenceSolver":
        """Recreate a solver saved by :meth:`save`; keyword ``overrides`` replace saved settings.

        Any file at all either loads into a working solver or raises
        :class:`~seqsolve.StateFileError`: every saved value is validated before it is used.
        """
        from .errors import StateFileError
        from .persistence import check_solver_settings, read_state

        payload = read_state(path)
        solver_part, policy_part = payload.get("solver"), payload.get("policy")
        if not isinstance(solver_part, dict) or not isinstance(policy_part, dict):
            raise StateFileError(f"{path}: state file lacks the 'solver' or 'policy' section")
        spec, state = policy_part.get("spec"), policy_part.get("state")
        if not isinstance(spec, str) or not isinstance(state, dict):
            raise StateFileError(f"{path}: the saved policy needs a string 'spec' and a mapping 'state'")
        settings = check_solver_settings(solver_part, path)
        guess_part = payload.get("initial_guess")
        if guess_part is not None and (not isinstance(guess_part, dict) or set(guess_part) != {"spec", "state"}
                                       or not (isinstance(guess_part["spec"], str) or (
                                           isinstance(guess_part["spec"], list)
                                           and all(isinstance(g, str) for g in guess_part["spec"])))):
            raise StateFileError(f"{path}: the saved initial-guess section needs a spec and a state")
        if guess_part is not None:
            settings["initial_guess"] = guess_part["spec"]
        settings.update(overrides)
        settings.setdefault("policy", spec)
        try:
            solver = cls(**settings)
        except (SeqsolveError, TypeError, ValueError) as exc:
            if overrides:  # possibly the caller's mistake: report it as it is
                raise
            raise StateFileError(f"{path}: saved settings are invalid ({exc})") from None
        if guess_part is not None and solver.initial_guess == guess_part["spec"] \
                and hasattr(solver._guesser, "load_state_dict"):
            try:
                solver._guesser.load_state_dict(guess_part["state"])
            except ValueError as exc:
                raise StateFileError(f"{path}: {exc}") from None
        if solver.policy.spec == spec:
            try:
                solver.policy.load_state_dict(state)
            except StateFileError as exc:
                raise StateFileError(f"{path}: {exc}") from None
            except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError,
                    ZeroDivisionError, RecursionError) as exc:  # a check a policy missed: still a bad file
                raise StateFileError(f"{path}: the saved policy state is malformed ({exc!r})") from None
        return solver

    def report(self) -> str:
        """A Markdown report of what the policy did: where the time went (exploiting, exploring,
        fallbacks), the configurations along the sequence, and why each stopped attempt stopped."""
        from .report import report

        return report(self.history, title=f"seqsolve report — policy {self._policy.spec}")

    def summary(self) -> dict:
        """Totals over the history: solves, iterations, seconds (setup/solve), per-configuration counts."""
        return summarize(self.history)

    def reset(self) -> "SequenceSolver":
        """Forget the history, cached setups and warm start (the policy keeps what it learned)."""
        self._end_stretch()  # (what a commitment's solves taught is the policy's: handed over first)
        self.history.clear()
        self._setups.clear()
        self._recurring.clear()
        self._x_prev = self._X_prev = None
        self._start_solved = False
        self._guesser.reset()
        return self

    def __repr__(self) -> str:
        return (f"SequenceSolver(rtol={self.rtol:g}, atol={self.atol:g}, policy={self._policy.spec!r}, "
                f"seed={self.seed!r}, solves={len(self.history)})")

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _check_context(context: Mapping[str, float] | None) -> Mapping[str, float] | None:
        if context is None:
            return None
        if type(context) is not dict and not isinstance(context, Mapping):  # (the ABC check: ~3 µs)
            raise InvalidSystemError(f"context must be a mapping of names to numbers, got {type(context).__name__}")
        out = {}
        for k, v in context.items():
            if type(v) is float and type(k) is str and math.isfinite(v):
                out[k] = v  # the usual case, without the conversions below
                continue
            try:
                if isinstance(v, (str, bytes)):
                    raise TypeError
                v = float(v)
            except (TypeError, ValueError, OverflowError):
                raise InvalidSystemError(f"context[{k!r}] must be a finite real number, got {_short(v)}") from None
            if not math.isfinite(v):
                raise InvalidSystemError(f"context[{k!r}] is not finite ({v})")
            out[str(k)] = v
        return out

    def _symmetry_plan(self) -> tuple | None:
        """What the scan of the next matrix should test for symmetry, as ``(pattern, perm, lo, hi)``
        (see :func:`~seqsolve.validation.scan_matrix`): entries ``lo:hi`` through the transpose
        permutation of the last pattern seen, the next sampled block or all of them (see
        :meth:`_symmetric`); ``None`` before a structurally symmetric pattern is known."""
        if self._perm_cache is None or self._perm_cache[1] is None:
            return None
        pattern, perm = self._perm_cache
        nnz = perm.shape[0]
        trusted, left = self._sym_trust
        if trusted == pattern and left > 0:
            return pattern, perm, left * nnz // _SYMMETRY_STRIDE, (left + 1) * nnz // _SYMMETRY_STRIDE
        return pattern, perm, 0, nnz

    def _lean_scan(self, A) -> MatrixScan | None:
        """``A``'s scan read off an exact structure hint, without a pass over its entries.

        A ``KroneckerSum`` hint says ``A`` equals it: the fingerprint, the symmetry and the largest
        entry follow from the factors in ``O(Σ n_d)``, so a configuration that solves from the
        factors alone (``entries_free``: ``fast-diag``) runs without the pass over ``A`` that
        every other solve starts with — a tenth of a fast-diag call on a 99×99 grid.  The hint is
        never trusted for the answer: the certified residual check reads ``A`` (a finite residual
        proves every entry finite), and if the policy chooses a configuration that reads ``A``'s
        entries, or the attempt is not certified (a wrong hint, entries that are not finite, a
        singular sum), the solve is redone on the general path with the same choice.  The lean
        attempt's seconds are then not recorded: a wrong hint costs one structured solve more per
        system, and ``auto`` learns from the general path's record that the choice failed."""
        if self._structure.kron is None or isinstance(A, LinearOperator):
            return None
        candidates = self._policy.candidates()
        if candidates is not self._entries_free_for:
            self._entries_free_for = candidates
            self._entries_free = any(c.spec.entries_free for c in candidates)
        if not self._entries_free:
            return None
        kron = self._structure.kron
        fp = kron.fingerprint
        return MatrixScan(fp, fp, sum_max_abs(kron), kron.symmetric)

    def _detected_grid(self, A, pattern: tuple) -> Structure | None:
        """The tensor grid ``A``'s pattern couples along (:func:`~seqsolve.operators.grid.detect_grid`),
        found once per pattern, and only while a candidate would use it (``fastdiag-cg``): a user
        who assembled a stencil gets the structured preconditioner without passing ``structure=``."""
        candidates = self._policy.candidates()
        if candidates is not self._grid_users_for:
            self._grid_users_for = candidates
            self._grid_users = any(c.spec.needs_structure and not c.spec.entries_free for c in candidates)
        if not self._grid_users:
            return None
        if self._grid_cache is None or self._grid_cache[0] != pattern:
            entry = self._grids.get(pattern)
            if entry is None:
                _, last, verdict = self._grid_cache or (None, None, None)
                found = grid_structure(A, pattern, last and last.grid_shape)
                # a pattern moving on the same grid (Fluid2D's obstacles) keeps a "not separable":
                # the verdict costs a projection, which must not be paid on every step
                same = found is not None and last is not None and found.grid_shape == last.grid_shape
                entry = self._grids.put(pattern, [pattern, found, False if same and verdict is False else None])
            self._grid_cache = entry
        return self._grid_cache[1]

    def _constant_diagonal(self, A, fp: tuple) -> bool:
        """Whether ``A``'s diagonal is one value (Jacobi-PCG is then CG), judged on the first matrix of
        each pattern asked about: auto asks in every new context bin, and a diagonal extraction costs
        a tenth of a millisecond on Heat2D's sub-millisecond solves.  A wrong answer only decides
        whether Jacobi-PCG is screened."""
        pattern = fp[:-1]
        found = self._diagonals.get(pattern)
        return self._diagonals.put(pattern, constant_diagonal(A)) if found is None else found

    def _grid_separable(self, A) -> bool:
        """Whether the grid's matrices are separable (judged on the first matrix asked about, once
        per pattern: only when the policy weighs fastdiag-cg).  The projection made for the verdict
        goes to fastdiag-cg's build of this same matrix, which need not project it again."""
        entry = self._grid_cache
        if entry[2] is None:
            entry[2], K = grid_separable(A, entry[1])
            if self._structure is entry[1]:
                self._structure = replace(entry[1], nearest=K)  # for this solve only
        return entry[2]

    def _symmetric(self, A, scan: MatrixScan) -> bool:
        """Symmetry of ``A``: entrywise through the transpose permutation of its pattern (cached per
        pattern) or, for operators and unsymmetric patterns, by two products.

        Along a sequence whose matrices share one pattern, a matrix found symmetric is followed by
        sampled checks (a 16th of the entries, another contiguous block each time: any asymmetry
        seen is proof) and a full check every 16th matrix, each made inside the matrix's scan
        (:meth:`_symmetry_plan`).  A missed asymmetry cannot cost accuracy — every x is certified
        on the true residual, and an SPD method failing on it falls back — only the choice of method."""
        fp = scan.fingerprint
        if self._sym_cache is not None and self._sym_cache[0] == fp and fp[0] != "op":
            return self._sym_cache[1]  # the same matrix again (a block tested by its scan changes nothing)
        if isinstance(A, LinearOperator):
            self._limit_blas()  # (already so: _solve set it for an operator)
            sym = A.symmetric if is_structured(A) else is_symmetric(A)
        else:
            if self._perm_cache is None or self._perm_cache[0] != scan.pattern:
                perm = self._perms.get(scan.pattern, False)
                if perm is False:
                    perm = self._perms.put(scan.pattern, transpose_permutation(A))
                self._perm_cache = (scan.pattern, perm)
                self._sym_trust = (None, 0)
            perm = self._perm_cache[1]
            trusted, left = self._sym_trust
            sampled = trusted == scan.pattern and left > 0  # as _symmetry_plan chose
            if scan.symmetric is not None:  # tested by the scan, through this pattern's permutation
                sym = scan.symmetric
            elif perm is None:  # an entry whose transpose is not stored holds a value, else two products
                lone = self._unpartnered.get(scan.pattern)
                if lone is None:
                    lone = self._unpartnered.put(scan.pattern, unpartnered_entries(A))
                if lone.size and np.max(np.abs(A.data[lone])) > SYMMETRY_RTOL * scan.max_abs:
                    sym = False
                else:
                    self._limit_blas()
                    sym = is_symmetric(A)
            else:  # a matrix the scan could not test (a new pattern, a canonicalised copy)
                sym = symmetric_by_entries(A, perm, scan.max_abs, part=(left, _SYMMETRY_STRIDE) if sampled else None)
            if perm is not None:
                self._sym_trust = (scan.pattern, (left - 1 if sampled else _SYMMETRY_TRUST) if sym else 0)
        self._sym_cache = (fp, sym)
        return sym

    def _allowed(self, A, symmetric: bool, op: bool | None = None) -> list[Configuration]:
        """The policy's candidates that apply to ``A`` (``op``: whether it is a LinearOperator, when
        the caller knows already)."""
        if op is None:
            op = isinstance(A, LinearOperator)
        candidates = self._policy.candidates()
        # applicability depends only on these, so the filtered list is computed once per kind of system
        if candidates is not self._allowed_for:
            self._allowed_for = candidates
            self._allowed_cache.clear()
        has_M = self._user_M is not None
        structure = self._structure
        key = (symmetric, op, A.shape[0] <= DIRECT_MAX_SIZE, has_M,
               None if structure is None else structure.kron is not None)
        allowed = self._allowed_cache.get(key)
        if allowed is None:
            fits = [c for c in candidates if self._applicable(c, A, symmetric)
                    and (c.kind != "direct" or A.shape[0] <= DIRECT_MAX_SIZE)]
            kinds = {c.kind for c in fits}
            # a SciPy method whose compiled twin runs here is dominated (the same iterations, slower)
            fits = [c for c in fits if TWINS.get(c.kind) not in kinds]
            allowed = self._allowed_cache[key] = usable(fits, has_M, symmetric)
        return allowed

    def _keeps_setups(self) -> bool:
        """Whether a configuration of the policy keeps its setups for matrices that come back
        (:attr:`~seqsolve.solvers.base.Method.independent_setups`: SciPy's sparse LU)."""
        candidates, built = self._policy.candidates(), len(self._methods)  # (methods are built when first needed)
        if self._keeps is None or self._keeps[0] is not candidates or self._keeps[2] != built:
            self._keeps = (candidates, any(getattr(self._methods.get(c), "independent_setups", False)
                                           for c in candidates), built)
        return self._keeps[1]

    def _applicable(self, config: Configuration, A, symmetric: bool) -> bool:
        if (config.spec.needs_structure and self._structure is None) or (config.spec.spd_only and not symmetric):
            return False  # decided without building the method (and loading its kernels)
        m = self._method(config)
        if getattr(m, "uses_structure", False):
            return m.applicable(A, symmetric=symmetric, structure=self._structure)
        return m.applicable(A, symmetric=symmetric)

    def _not_applicable(self, config: Configuration, A, symmetric: bool) -> SeqsolveError:
        """The exception explaining why no configuration of the policy fits this system."""
        spec = config.spec
        if spec.user_preconditioner and self._user_M is None:
            return ConfigurationError(f"configuration {config.name!r} runs your preconditioner: pass M= to solve()")
        if spec.spd_only and not symmetric:
            return NotSymmetricError(
                f"configuration {config.name!r} needs a symmetric positive definite matrix, but A is not "
                f"symmetric; use policy='auto' or a general method such as 'fixed:gmres(ilu)'")
        if isinstance(A, LinearOperator) and self.backend.name != "scipy":
            return ConfigurationError(
                f"the {self.backend.name} backend needs assembled entries (a SciPy sparse matrix or an "
                f"AIJ petsc4py Mat), not a LinearOperator or a matrix-free (shell) Mat: solve it with "
                f"backend='scipy' (CG, GMRES, BiCGStab, or your own M)")
        if isinstance(A, LinearOperator) and self._method(config).needs_matrix:
            return ConfigurationError(
                f"configuration {config.name!r} needs explicit matrix entries, not a LinearOperator; "
                f"use 'fixed:cg' (symmetric) or 'fixed:gmres'")
        if config.kind == "direct" and isinstance(A, LinearOperator):
            return ConfigurationError(
                f"'direct' factorises a LinearOperator densely only up to {DENSE_MAX:,} unknowns; A has "
                f"{A.shape[0]:,}: pass the sparse matrix, or use 'fixed:cg' (symmetric) or 'fixed:gmres'")
        if config.kind == "direct":
            return ConfigurationError(f"'direct' is limited to {DIRECT_MAX_SIZE:,} unknowns; A has {A.shape[0]:,}")
        side = int(round(A.shape[0] ** 0.5))
        hint = (f" (no DCDM model trained for a {side}x{side} grid: train one with "
                f"'seqsolve train-precond fluid2d --n {side}' and set SEQSOLVE_DCDM_MODEL)") if config.kind == "dcdm" else ""
        if config.kind == "dcdm" and importlib.util.find_spec("torch") is None:
            hint = " (PyTorch is not installed: pip install torch==2.13.0, or the CPU build as the README says)"
        return ConfigurationError(f"configuration {config.name!r} is not applicable to this system{hint}")

    def _method(self, config: Configuration) -> Method:
        m = self._methods.get(config)
        if m is None:
            m = self._methods[config] = self.backend.build(config)
        return m

    def _scaled_matrix(self, A, scan: MatrixScan):
        """``(2^-α A, α)`` for the current matrix, computed once per matrix (see :mod:`.accuracy`)."""
        alpha = magnitude_exponent(scan.max_abs)
        if alpha == 0:
            return A, 0  # entries of moderate size (b is not): nothing to scale or remember
        fp = scan.fingerprint
        if self._scale_cache is None or self._scale_cache[0] != fp or fp[0] == "op":
            scaled = scale_matrix(A, alpha)
            self._scale_cache = (fp, (A, 0) if scaled is None else (scaled, alpha))
        return self._scale_cache[1]

    def _attempt(self, config, system, b, x0, fp, maxiter, callback, rtol, atol,
                 goal: "_Goal | None" = None) -> _Attempt:
        """Run ``config`` once on ``system.A`` with right-hand side ``b``; with a ``goal``, certify
        the iterate as :meth:`_checked` does (``b`` must be ``system.b``), else no residual check."""
        if callback is not None:
            callback = _guard(callback, system.shift)
        if self._residuals is not None:
            callback = recording(callback, system.A, b, self._res_bnorm, self._residuals)
        att = _Attempt()
        att.reused = False
        att.one_off_seconds = 0.0
        att.projected_seconds = att.projected_iterations = math.inf
        method = self._methods.get(config) or self._method(config)
        if method.uses_blas and self._threads is None:
            self._limit_blas()
        A = system.A
        done = None
        t0 = time.perf_counter()
        try:
            hints, key = self._setup_hints(method, fp, system.alpha)
            cached = self._setups.get(config)
            if cached is not None and cached[0] == key:
                prepared, att.reused = cached[1], True
            else:
                now = len(self.history)
                kept = self._recurring.find(config, key) if method.independent_setups else None
                if kept is not None:  # a matrix that came back: its setup was kept
                    prepared, att.reused = kept[0], True
                    self._recurring.give_back(config, cached, now)
                    self._setups[config] = (key, prepared, kept[1])
                else:
                    previous = cached[1] if cached else None
                    if method.independent_setups:
                        # kept or let go before the build: a setup let go frees what it holds for
                        # this one (a PETSc factorisation's KSP, whose symbolic analysis still holds)
                        self._recurring.replaced(config, cached, key, now)
                        self._setups.pop(config, None)
                        cached = previous = None
                    prepared = method.setup(A, previous, **hints)
                    att.one_off_seconds = method.one_off_seconds
                    self._setups[config] = (key, prepared, now)  # (the solve it was made for)
                    att.reused = previous is not None and prepared is previous
            t1 = time.perf_counter()
            if method.uses_x0 and not method.scales_start:
                x0 = scaled_start(A, b, x0, energy=method.energy_norm)
            # overflow in a failing method shows in its result; compiled code raises no NumPy warnings
            if callback is None and not getattr(method, "numpy_arithmetic", True):
                res = method.solve(prepared, A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, callback=None)
            else:
                with np.errstate(all="ignore"):
                    res = method.solve(prepared, A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, callback=callback)
            x, att.iterations, att.status = res.x, res.iterations, res.status
            done = getattr(res, "residual_pass", None)
        except _CallbackFailed as exc:
            raise exc.original from None  # the user's callback failed: not ours to hide
        except PreconditionerError:
            raise  # the user's M failed: not ours to hide either
        except (SeqsolveError, ArithmeticError, ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
            # a numerical failure of this configuration (singular factor, zero pivot): fall back
            t1 = time.perf_counter()
            x, att.iterations, att.status = np.array(x0, copy=True), 0, f"error: {exc}"
        att.x = np.asarray(x, dtype=np.float64).ravel()
        att.setup_seconds = t1 - t0
        if goal is not None:  # certified at once, on the method's own pass of the check if it made one
            att.verdict = check_residual(A, b, att.x, goal.bnorm, goal.target, done)
            att.done = None
        else:  # the method's own pass of the residual check, valid while b and x stay these (see _checked)
            att.done = None if done is None else (b, att.x, done)
        att.solve_seconds = time.perf_counter() - t1
        return att

    def _formed_guess(self, A, b, key, st, fixed: bool, config: Configuration) -> tuple[np.ndarray | None, str]:
        """The initial-guess strategy's start for this system (``None``: nothing known)."""
        if st is None and not fixed and (self._policy.explored() or config.name != self._previous_config):
            # one learner tries at a time, and a start is judged against the configuration the
            # policy settled on, not on the first solve after a switch
            self._guesser.defer()
        return self._guesser.form(A, b, key)

    def _start_meets(self, system, start: np.ndarray, goal: "_Goal") -> tuple[_Attempt | None, float]:
        """The start itself as the first attempt, where it already meets the tolerance: no setup is
        built and nothing iterates (else ``None``), and the start's residual norm.  Checked only
        after a system whose start met it: a converging Picard or Newton loop, or a transient at
        its steady state, ends with starts that are the solution (p-Laplace: 0-1 iterations from a
        projected start, while the deflated SSOR-PCG setup built for each system took 2-5 ms of a
        5-6 ms solve); elsewhere the check would cost one product per solve."""
        t0 = time.perf_counter()
        verdict = check_residual(system.A, system.b, start, goal.bnorm, goal.target)
        if not verdict.meets(goal.target):
            return None, verdict.residual
        att = _Attempt()
        att.x, att.verdict, att.iterations, att.status = np.array(start, dtype=np.float64), verdict, 0, "start"
        att.reused, att.done, att.one_off_seconds, att.setup_seconds = True, None, 0.0, 0.0
        att.projected_seconds = att.projected_iterations = math.inf
        att.solve_seconds = time.perf_counter() - t0
        return att, verdict.residual

    def _setup_hints(self, method: Method, fp: tuple, alpha: int) -> tuple[Mapping[str, Any], tuple]:
        """The keywords ``method.setup`` takes for this solve, and the key its setup is reused under
        (a setup serves while the matrix, its scaling and every hint it was built with are these).
        A compiled method takes the finiteness hint alone: its case is decided first, with no
        dictionary to fill and no hint to look up (this runs on every solve)."""
        finite = getattr(method, "uses_finite_hint", False)
        user_M, structure = getattr(method, "uses_user_preconditioner", False), getattr(method, "uses_structure", False)
        if finite and not (method.uses_near_nullspace or user_M or structure):
            return _FINITE, (fp, alpha, None, _NO_M, None)
        hints = {"near_nullspace": self._near_nullspace} if method.uses_near_nullspace else {}
        if user_M:
            hints["M"] = self._user_M
        if structure:
            hints["structure"] = structure_for(self._structure, alpha)
        if finite:
            hints["finite"] = True  # _solve's scan proved A finite (and 2^-α A is exact)
        return hints, (fp, alpha, near_nullspace_key(hints.get("near_nullspace")), id(hints.get("M")),
                       hints["structure"].key if hints.get("structure") else None)

    def _checked(self, att: _Attempt, system, goal: "_Goal") -> _Attempt:
        """Certify ``att``'s iterate against the scaled system (the check is charged as solve time)."""
        t0 = time.perf_counter()
        done = att.done[2] if att.done is not None and att.done[0] is system.b and att.done[1] is att.x else None
        att.verdict = check_residual(system.A, system.b, att.x, goal.bnorm, goal.target, done)
        att.solve_seconds += time.perf_counter() - t0
        return att

    def _bounded(self, config, system, x0, fp, goal: "_Goal", maxiter: int, callback,
                 first_chunk: int = 0, budget: float | None = None, hard_maxiter: int | None = None,
                 rent: float | None = None) -> _Attempt:
        """Run ``config`` in growing chunks while its measured rate projects success within ``maxiter``
        (and, given a ``budget`` in seconds, iterations costing at most that budget).

        Failure must be cheap: a method that stagnates (a singular or inconsistent system, a
        hopeless preconditioner) is stopped once the true-residual reduction of its last chunk,
        extrapolated, cannot reach the target within the iterations left — instead of running to
        ``maxiter``.  A chunk restarts the Krylov method from the current iterate.  With a budget
        the first chunk is a probe (an eighth of ``maxiter``, at most ``_PROBE_CHUNK`` and at least
        10 iterations), so a method whose iterations cost far more than its cap assumed is stopped
        after a fraction of it; one whose speed fits runs the rest in one chunk (one restart, not
        one per doubling).  Given a ``rent`` in seconds (:meth:`Policy.attempt_rent`), the attempt
        stops after the chunk that spent it ("maxiter": the caller asks whether to run on) — with no
        probe: after a few iterations CG's residual may still exceed its start's (p-Laplace, FEM
        heat: an infinite projection handed a 100 ms solve to a 250 ms factorisation), and a probe's
        restart cost a first system 10-18 % more iterations.
        """
        chunk = min(maxiter, first_chunk or _FALLBACK_CHUNK)
        priced = maxiter  # the cap as the caller priced it
        if budget is not None:
            # an unknown speed is probed before much is spent: a cap priced with a guessed speed
            # let BiCGStab(ILU) run 1,500 iterations (0.4 s, 8x its budget) before the first check
            chunk = min(chunk, max(10, min(maxiter // 8, _PROBE_CHUNK)))
        x, before, used, total = x0, None, 0, None
        while True:
            att = self._attempt(config, system, system.b, x, fp, chunk, callback, self.rtol, goal.atol, goal)
            ran = att.iterations
            used += ran
            if total is not None:
                att.iterations, att.reused = used, total.reused
                att.setup_seconds += total.setup_seconds
                att.solve_seconds += total.solve_seconds
                att.one_off_seconds += total.one_off_seconds
            total = att
            if att.verdict.meets(goal.target) or att.status != "maxiter" or ran == 0:
                return total
            if before is None:  # the starting residual, measured only once a chunk did not suffice
                before = check_residual(system.A, system.b, x, goal.bnorm, goal.target).residual
            rate = (att.verdict.residual / before) ** (1.0 / ran) if before > 0 else 1.0
            # (logs taken apart: the quotient of a tiny target and a large residual may underflow)
            need = ((math.log(goal.target) - math.log(att.verdict.residual)) / math.log(rate)
                    if 0 < rate < 1 and goal.target > 0 and 0 < att.verdict.residual < math.inf else math.inf)
            # what finishing would cost at the rate just seen: what a learner believes of a capped try
            total.projected_seconds = total.setup_seconds + total.solve_seconds * (used + need) / used
            total.projected_iterations = used + need
            if rent is not None and rent - total.solve_seconds <= 0:
                return total  # what the rent bought is spent: the caller asks whether to run on (resume)
            probe = budget is not None and used == ran
            finish = total.projected_seconds - total.setup_seconds  # a setup is judged by the caller apart
            if budget is not None:
                # the budget in seconds is what binds a try of unknown speed: what the rest of it buys
                # at the speed measured so far (with the fixed part in: a cautious speed)
                left = budget - total.solve_seconds
                affordable = int(max(0.0, left) * used / max(total.solve_seconds, 1e-12))
                if hard_maxiter is not None:
                    # the iteration cap came priced with a guessed speed: re-priced at the measured one.
                    # On the random graph Jacobi-PCG, priced from SSOR-PCG at twice its speed, was
                    # capped at 91 iterations where it needs 133 and costs 0.9x the incumbent
                    maxiter = max(maxiter, min(hard_maxiter, used + affordable, _REPRICED * priced))
            # a probe (a tenth of the cap) sees CG at its slowest, before its superlinear phase
            # (Jacobi-PCG there: 175 more iterations projected after 11, 122 needed), and its speed
            # holds the solve's fixed part (0.31 ms per iteration over 11, 0.13 over 100): what it
            # projects is believed only beyond 3x, and the next chunk then runs only as far as the
            # rest of the budget buys at the speed measured, so the try still costs its budget at most
            slack = 3.0 if probe else 1.0
            if need > slack * (maxiter - used):
                total.status = "stagnated" if used < maxiter else "maxiter"
                return total
            if budget is not None and finish > slack * budget:
                return total  # finishing would cost more than the caller allows ("maxiter")
            # a budgeted try whose speed now fits its budget runs the rest of its cap in one chunk:
            # each chunk restarts the Krylov method (its search directions are lost), and doubling
            # chunks (12, 24, 48 iterations) cost a first try iterations that could lose it its cap
            grow = maxiter - used if budget is not None else 2 * chunk
            if budget is not None:
                # what the rest of the budget buys binds too, however near the rate says the end
                # is: a cap priced at a guessed speed let SSOR-PCG on Fluid2D run 98 iterations,
                # 1.5x its budget, on a warm start's fast first chunk; and a probe within the
                # slack runs only what the rest buys
                if left <= 0:
                    return total
                grow = min(grow, max(10, affordable))
            x, before, chunk = att.x, att.verdict.residual, min(grow, maxiter - used)

    def _resumed(self, config, system, first: _Attempt, fp, goal: "_Goal", maxiter: int, callback) -> _Attempt:
        """``first``, a capped attempt, run on from its iterate when the policy says finishing it is
        cheaper than anything else it knows (:meth:`Policy.resume`, told the seconds its measured
        rate projects): one attempt that ran longer, not a fallback.

        A cap guards against a stale estimate, not against a system merely harder than the last
        ones: with projected starts on p-Laplace the incumbent's mean fell to 7 iterations, a load
        step needed 32, the cap stopped it at 31, and the fallback, an LU, cost 10x the solve.
        The run-on is bounded too: twice the projected iterations left, plus 10."""
        its = first.projected_iterations
        if its is None or not math.isfinite(its) or first.iterations >= maxiter:
            return first
        remaining = first.projected_seconds - first.setup_seconds - first.solve_seconds
        if not self._policy.resume(config, remaining):
            return first
        more = min(maxiter - first.iterations, int(2.0 * (its - first.iterations)) + 10)
        att = self._bounded(config, system, first.x, fp, goal, more, callback)
        # one attempt: the better iterate, charged both runs' work
        kept = att if att.verdict.upper < first.verdict.upper else first
        total = first.iterations + att.iterations
        kept.setup_seconds, kept.solve_seconds, kept.one_off_seconds = (
            first.setup_seconds + att.setup_seconds, first.solve_seconds + att.solve_seconds,
            first.one_off_seconds + att.one_off_seconds)
        if kept is att:
            att.reused = first.reused
            if att.projected_iterations is not None and math.isfinite(att.projected_iterations):
                att.projected_iterations += first.iterations
                att.projected_seconds = att.setup_seconds + att.solve_seconds * att.projected_iterations / total
        kept.iterations = total
        return kept

    def _refine(self, config, system, att: _Attempt, fp, goal: "_Goal", maxiter: int, callback) -> _Attempt:
        """Iterative refinement: solve ``A d = r`` for the certified residual ``r`` and add ``d``.

        The cure when a method met its *own* (recursive, float64) residual but the certified one
        is still above the target: restarting would stop at once, correcting does not.
        """
        best = att
        for _ in range(2):
            r, rn = best.verdict.r, best.verdict.residual
            if r is None or not np.isfinite(rn) or rn == 0:
                break
            step = self._attempt(config, system, r, np.zeros_like(r), fp, maxiter, callback,
                                 min(0.5, 0.25 * goal.target / rn), 0.0)
            step.x = best.x + step.x
            step.iterations += best.iterations
            step.setup_seconds += best.setup_seconds
            step.solve_seconds += best.solve_seconds
            step.one_off_seconds += best.one_off_seconds
            step = self._checked(step, system, goal)
            if step.verdict.upper >= best.verdict.upper:
                break
            best = step
            if best.verdict.meets(goal.target):
                break
        return best

    def _fallbacks(self, config: Configuration, first: _Attempt, A, symmetric: bool,
                   hint: Configuration | None, goal: "_Goal") -> list[Configuration]:
        """Robust configurations to try, in order, after ``config`` failed."""
        # the method's own residual met the target but the certified one did not (recurrence drift,
        # rounding on a badly scaled system): refining with the same configuration is the cheapest repair
        retry = first.status == "converged" and first.verdict.r is not None
        chain: list[Configuration] = [config] if retry else []
        if hint is not None and hint != config:
            chain.append(hint)
        direct = self._method(parse("direct"))
        if not isinstance(A, LinearOperator):
            if A.shape[0] <= DIRECT_MAX_SIZE:
                if symmetric and self.backend.supports(_CHOLESKY):
                    # a backend's Cholesky before its LU on a symmetric matrix: on PETSc the rescue
                    # then costs 0.5-1x the LU's build and 0.2-0.5x its solves, and the learner that
                    # measured it there (rescued) need not buy another factorisation (a plate: MUMPS's
                    # LU rescued the first system, PETSc's Cholesky was bought five systems later);
                    # one that fails on an indefinite matrix leaves the LU next in the chain
                    chain.append(_CHOLESKY)
                chain.append(parse("direct"))
            if symmetric:
                # SSOR-PCG after the AMG: on a singular but consistent matrix (pure Neumann) CG
                # converges where a factorisation meets a zero pivot, an AMG's coarsest solve fails
                # ("indefinite") and GMRES/BiCGStab with ILU stagnate (PETSc: BoomerAMG failed on
                # one such system in twelve, and so did every fallback before this one)
                chain.append(parse("amg-cg(rebuild)"))
                chain += [c for c in _SSOR_FALLBACKS if self.backend.supports(c)][:1]
            chain += [parse("gmres(ilu)"), parse("bicgstab(ilu)")]
        else:
            chain += [parse("gmres"), parse("bicgstab")]
            if direct.applicable(A, symmetric=symmetric):  # small operators: a dense LU as last resort
                chain.append(parse("direct"))
        seen: set = {config}
        out = []
        for i, c in enumerate(chain):
            if (c not in seen or (retry and i == 0)) and self._applicable(c, A, symmetric):
                out.append(c)
                seen.add(c)
        return out


#: a fallback does not start from an iterate whose residual's rounding bound (``ε‖|A||x|‖``: the
#: accuracy its size allows) exceeds this share of the target
_FLOOR_SHARE = 0.1

#: the compiled SSOR-PCG where the backend runs it, else the backend's own
_SSOR_FALLBACKS = (parse("numba-ssor-cg(omega=1.5)"), parse("ssor-cg(omega=1.5)"))


class _Goal:
    """The tolerance in the units of the (scaled) system the methods iterate on (a slotted class:
    built on every solve, where a frozen dataclass costs a µs more)."""

    __slots__ = ("bnorm", "target", "atol")

    def __init__(self, bnorm: float, target: float, atol: float) -> None:
        self.bnorm, self.target, self.atol = bnorm, target, atol


#: symmetry along a sequence: check a 16th of the entries (another block each time), all of them every 16th matrix
_SYMMETRY_STRIDE = 16
_SYMMETRY_TRUST = 15

#: a factorisation a backend may offer besides its LU (PETSc), tried first on a symmetric matrix
_CHOLESKY = parse("cholesky")

#: first iteration chunk of a fallback, and the least of a first attempt (doubled while it pays)
_FALLBACK_CHUNK = 100
_PRIMARY_CHUNK = 500
#: the most iterations a budgeted attempt of unknown speed runs before its speed is checked
_PROBE_CHUNK = 32


def _unattainable(verdict: Verdict, goal: _Goal) -> str:
    """A note for the error message when the tolerance is below what the check can certify."""
    if np.isfinite(verdict.error_bound) and verdict.error_bound >= 0.5 * goal.target:
        return (f"; the target is below the attainable accuracy for this system (rounding-error bound "
                f"of the residual itself: {verdict.error_bound / goal.bnorm:.1e} relative)")
    return ""


def _tolerance(label: str, v: Any) -> float:
    """A tolerance as a float: finite, real and >= 0, or an :class:`InvalidSystemError` naming it."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise InvalidSystemError(f"{label} must be a finite real number >= 0, got {_short(v)}")
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if not (math.isfinite(f) and f >= 0):
        raise InvalidSystemError(f"{label} must be a finite real number >= 0, got {_short(v)}")
    return f


def _short(v: Any) -> str:
    """``repr(v)`` cut to a readable length (a 400-digit integer is not a message)."""
    text = repr(v)
    return text if len(text) <= 40 else f"{text[:20]}…{text[-8:]} ({len(text)} characters)"


class _CallbackFailed(Exception):
    def __init__(self, original: BaseException) -> None:
        self.original = original


#: a budgeted try's iteration cap, re-priced at the speed it measured, grows at most this many times
#: (the rough per-iteration priors were off by up to 3.5x)
_REPRICED = 4

#: a start whose residual exceeds ``‖b‖`` this many times is retried from zero after a failure: far
#: enough off that its size, not the method, may be what failed (``ε‖A‖‖x0‖`` near ``rtol‖b‖``, or
#: an overflow).  A start merely worse than zero (a sequence of unrelated right-hand sides) is left to
#: the fallback, which starts from zero itself: a retry would double the cost of every capped try
_FAR_OFF = 1e4


def _far_worse_than_zero(system, x0: np.ndarray, bnorm: float) -> bool:
    """Whether ``x0`` is a nonzero start whose residual exceeds ``_FAR_OFF·‖b‖`` (or overflows): one
    product, asked only after an attempt from it failed."""
    if not np.any(x0):
        return False
    with np.errstate(all="ignore"):
        r0 = float(np.linalg.norm(system.b - system.A @ x0))
    return not r0 <= _FAR_OFF * bnorm


def _guard(callback, shift: int = 0):
    """Mark exceptions from the user's callback so they propagate instead of causing a fallback;
    iterates are shown to it in the user's units (``shift``: see :class:`~seqsolve.accuracy.ScaledSystem`)."""
    def wrapped(xk):
        try:
            callback(np.ldexp(xk, shift) if shift else xk)
        except Exception as exc:
            raise _CallbackFailed(exc) from exc
    return wrapped


_BLAS: list = []  # [[(get_num_threads, set_num_threads) of each BLAS library]], looked up once
_NOTHING = contextlib.nullcontext()  # reusable: no BLAS limit, no errstate


class _Limited:
    """Sets every BLAS library to ``limit`` threads on entry and back to what it had on exit."""

    __slots__ = ("libs", "limit", "saved")

    def __init__(self, libs: list, limit: int, saved: list[int]) -> None:
        self.libs, self.limit, self.saved = libs, limit, saved

    def __enter__(self) -> None:
        for _, set_threads in self.libs:
            set_threads(self.limit)

    def __exit__(self, *exc) -> None:
        for (_, set_threads), n in zip(self.libs, self.saved):
            set_threads(n)


def _thread_reader(lib) -> Any:
    """A function returning ``lib``'s thread count: OpenBLAS's own C function, looked up once
    (threadpoolctl searches the symbol's name variants on every read, a few µs a call), else the
    controller's method.  Setting always goes through threadpoolctl, which tracks who set what."""
    find = getattr(lib, "_get_symbol", None)
    if lib.internal_api == "openblas" and find is not None:
        symbol = find("omp_get_max_threads" if lib.threading_layer == "openmp" else "openblas_get_num_threads")
        if symbol is not None:
            return symbol
    return lib.get_num_threads


def blas_threads(limit: int | None):
    """Context manager limiting BLAS threads (a no-op for ``None``); ~1 µs per use when nothing
    is to change, a few when it is.

    The BLAS libraries are looked up once (threadpoolctl) and then read and set directly:
    threadpoolctl's own ``limit()`` re-inspects every loaded library on each call (~20 µs, a
    tenth of a small solve).  Each library's count is read once per call when all already have
    ``limit`` (the usual case, under a caller's ``threadpool_limits``), else once more to restore.
    """
    if limit is None:
        return _NOTHING
    if not _BLAS:
        from threadpoolctl import ThreadpoolController

        libs = ThreadpoolController().select(user_api="blas").lib_controllers
        _BLAS.append([(_thread_reader(lib), lib.set_num_threads) for lib in libs])
    libs = _BLAS[0]
    for get_threads, _ in libs:
        if get_threads() != limit:
            return _Limited(libs, limit, [get_threads() for get_threads, _ in libs])
    return _NOTHING  # already so (a caller's threadpool_limits): nothing to set


def solve(A: Any, b: Any, x0: Any = None, *, rtol: float = 1e-8, atol: float = 0.0,
          maxiter: int | None = None, policy: str | None = None, callback: Callback = None,
          near_nullspace: Any = None, M: Any = None,
          structure: Any = None) -> np.ndarray:
    """Solve a single system ``A x = b`` to ``||b - A x|| <= max(rtol ||b||, atol)``.

    A convenience around :class:`SequenceSolver`.  With ``policy=None`` a configuration is chosen
    from the matrix alone (nothing can be learned from one system): sparse direct up to 20,000
    unknowns, else AMG-PCG for symmetric and GMRES+ILU for non-symmetric matrices; CG or GMRES
    for a LinearOperator; with ``M``, CG (symmetric) or GMRES with ``M``; with a Kronecker-sum
    ``structure``, ``fast-diag``.  The fallback chain still guarantees the tolerance.
    ``near_nullspace``, ``M``, ``structure`` and a block ``b``: see :meth:`SequenceSolver.solve`.
    """
    if policy is None:
        s = as_structure(structure, as_operator(A))
        policy = "fixed:fast-diag" if s and s.kron else _default_single(as_operator(A), M is not None)
    return SequenceSolver(rtol=rtol, atol=atol, policy=policy, maxiter=maxiter).solve(
        A, b, x0, callback=callback, near_nullspace=near_nullspace, M=M, structure=structure)


def _default_single(A, user_M: bool = False) -> str:
    if user_M:
        return "fixed:user-cg" if is_symmetric(A) else "fixed:user-gmres"
    if isinstance(A, LinearOperator):
        return "fixed:cg" if is_symmetric(A) else "fixed:gmres"
    if A.shape[0] <= 20_000:
        return "fixed:direct"
    return "fixed:amg-cg(rebuild)" if is_symmetric(A) else "fixed:gmres(ilu)"
