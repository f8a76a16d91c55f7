"""The usual solve of a settled compiled-PCG configuration, in straight-line code (issue 9's
per-call overhead): a fixed policy's, and each system of a commitment ``auto`` handed to the solver
(:class:`~seqsolve.policies.base.Stretch`).

:meth:`SequenceSolver.solve <seqsolve.SequenceSolver.solve>` is written for every policy, backend
and input: it asks the policy, scales, bounds attempts in chunks, falls back, learns.  A settled
compiled ``numba-*-cg`` configuration with a stored-vector guess (``previous``, ``zero``, or the
``auto`` chooser while it is dormant — on an extrapolation too, under the solver's BLAS thread
limit) needs none of that on a system that goes well, yet paid ~40 Python-level steps for it:
7 % of a 1.4 ms Heat2D solve.  :class:`FixedCompiledPath` runs only the steps that decide
something — the matrix scan (finiteness, fingerprint, symmetry sample, ``b``'s check and norm),
the canonical-pattern and symmetry bookkeeping, the setup (refreshed or reused), one kernel call,
the certified residual check, the guess update — and writes the same record.

Every other case goes back to the general path, which then solves the system from the start:
arguments other than ``A``, ``b`` and ``context``, inputs to convert, a copied (non-canonical)
matrix, a system to rescale, ``b = 0``, an unsymmetric ``A`` (the general path raises), a setup
that fails, and an attempt that is not certified within its first chunk.  Only what a redo
recomputes identically (the canonical pattern, the symmetry verdict of this very matrix) is stored
before that point, so the redo behaves, records and raises as if the lean path had not run; a
failed first chunk costs that chunk twice, as with the structured lean scan (``_lean_scan``).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Mapping

import numpy as np
import scipy.sparse as sp

from .accuracy import check_residual, moderate_norm
from .errors import SeqsolveError
from .guesses.chooser import FixedGuess, GuessChooser
from .log import logger, solve_logged
from .policies.fixed import FixedPolicy
from .records import SolveRecord
from .solvers.compiled import CompiledPCG
from .validation import _F64, all_finite, as_canonical, scan_csr

if TYPE_CHECKING:
    from .solver import SequenceSolver

_CSR = sp.csr_array

#: the failures of a configuration that the general path turns into a fallback (as ``_attempt``)
_FAILURES = (SeqsolveError, ArithmeticError, ValueError, RuntimeError, np.linalg.LinAlgError)


class FixedCompiledPath:
    """The lean solve of one :class:`CompiledPCG` configuration for ``solver`` — its ``FixedPolicy``'s
    one candidate, or a stretch's — with a :class:`FixedGuess` that does no arithmetic, or a
    :class:`GuessChooser` while it is dormant (see the module)."""

    __slots__ = ("solver", "config", "name", "method", "primary_chunk", "sized", "in_stretch")

    def __init__(self, solver: "SequenceSolver", config, method: CompiledPCG, primary_chunk: int) -> None:
        self.solver, self.config, self.name, self.method = solver, config, config.name, method
        self.primary_chunk = primary_chunk  # the least first chunk of the general path (_bounded)
        self.sized: tuple | None = None  # (n, solver.maxiter, maxiter, first chunk) of the last solve
        #: a policy's stretch (not a fixed policy's path): its records say, as the general path's,
        #: whether a matrix came back (a learner counts it as repeated: seqsolve.recurring)
        self.in_stretch = False

    @staticmethod
    def guesser_fits(guesser) -> bool:
        """Whether the lean path may form and update starts with ``guesser`` (exact types: a
        subclass may override what the lean path skips)."""
        return type(guesser) is FixedGuess and not guesser.arithmetic or type(guesser) is GuessChooser

    @staticmethod
    def fits(policy, guesser, method_of) -> bool:
        """Whether a solver with this policy and guesser may take the lean path (decided once per
        policy; ``method_of`` builds a configuration's method).  Exact types: a subclass may
        override what the lean path skips."""
        if type(policy) is not FixedPolicy or not FixedCompiledPath.guesser_fits(guesser):
            return False
        candidates = policy.candidates()
        return len(candidates) == 1 and type(method_of(candidates[0])) is CompiledPCG

    def solve(self, A, b, context: Mapping[str, float] | None, limit: int | None = None,
              fresh_ends: bool = False, arithmetic: bool = False) -> np.ndarray | None:
        """``x`` for ``A x = b`` as the general path would return it, with the same record appended,
        or ``None``: the general path is to solve this system (nothing it would see was changed).

        In a policy's stretch (:class:`~seqsolve.policies.base.Stretch`): ``limit`` caps the
        iterations as the policy capped the configuration, and ``fresh_ends``: a new matrix is left
        to the general path (which ends the stretch); ``arithmetic``: the caller limits BLAS threads,
        so a dormant guess chooser exploiting an arithmetic strategy (an extrapolation) may form it."""
        s = self.solver
        if (type(A) is not _CSR or type(b) is not np.ndarray or b.ndim != 1 or b.dtype is not _F64
                or not b.flags.c_contiguous or s._warm is not A.indices.dtype or s.record_residuals
                or not (s._guesser.stored or arithmetic and type(s._guesser) is GuessChooser and s._guesser.dormant)
                or s._start_solved):
            return None  # (a guess chooser is lean only while dormant: on a stored-vector guess, or
            # on any when the caller limits BLAS threads; a start that solved the last system may
            # solve this one without a setup: the general path checks it first)
        n, shape, data = b.shape[0], A.shape, A.data
        if data.dtype is not _F64 or shape != (n, n) or not data.flags.c_contiguous:
            return None
        # finiteness of A and b, fingerprint, max|a_ij|, symmetry sample and ‖b‖², in one pass
        scan = scan_csr(A, shape, data, s._symmetry_plan(), b)
        known = s._canonical.get(scan.pattern)
        canonical, scan = as_canonical(A, scan, known)
        if canonical is not A:  # duplicates or unsorted rows: the general path works on a copy
            return None
        if known is None:
            s._canonical.put(scan.pattern, scan.pattern)
        if fresh_ends and scan.fingerprint != s._previous_fp:
            return None
        bnorm = moderate_norm(scan.b_squares, scan.max_abs)
        if bnorm == 0.0:
            return None  # x = 0 at once, or a system to rescale
        if context is not None:
            context = s._check_context(context)
        s._structure = s._near_nullspace = s._user_M = None  # (the general path's per-solve state)
        fp = scan.fingerprint
        if not s._symmetric(A, scan):  # (the verdict is cached for this matrix: a redo reads it)
            return None  # the general path raises NotSymmetricError
        if self.sized is None or self.sized[0] != n or self.sized[1] is not s.maxiter:
            maxiter = int(s.maxiter or 10 * n)
            # (maxiter, and the general path's first chunk: _bounded's first_chunk)
            self.sized = (n, s.maxiter, maxiter, min(maxiter, max(self.primary_chunk, 10 * math.isqrt(n))))
        maxiter, chunk = self.sized[2], self.sized[3]
        if limit is not None and limit < chunk:
            chunk = limit
        target = max(s.rtol * bnorm, s.atol)

        # (each clock reading ends one timed step and starts the next)
        t_policy = time.perf_counter()
        config, method = self.config, self.method  # the policy's choice, known since it was built
        t_guess = time.perf_counter()
        x0, guess = None, "zero"
        if s.warm_start:
            x0, guess = s._guesser.form(A, b, fp)
        if x0 is None or not all_finite(x0):
            x0 = np.zeros(n)
        t0 = time.perf_counter()
        policy_seconds, guess_seconds = t_guess - t_policy, t0 - t_guess
        try:
            hints, key = s._setup_hints(method, fp, 0)
            cached = s._setups.get(config)
            made = cached is None or cached[0] != key
            prepared = method.setup(A, cached[1] if cached else None, **hints) if made else cached[1]
            t1 = time.perf_counter()
            x, iterations, status, done = method.run(prepared, A, b, x0, s.rtol, s.atol, chunk)
        except _FAILURES:
            return None  # a fallback's case
        verdict = check_residual(A, b, x, bnorm, target, done)
        t2 = time.perf_counter()
        if not verdict.upper <= target:  # (verdict.meets: the target is finite, a NaN bound fails)
            return None  # more chunks, a refinement or a fallback: the general path's work
        s._guesser.update(A, b, x, fp)  # (timed from t2 on: the comparison above is all it adds)
        guess_seconds += time.perf_counter() - t2  # (a dormant chooser learns nothing: no learn())
        if made:
            s._setups[config] = (key, prepared, len(s.history))
        setup_seconds, solve_seconds = t1 - t0, t2 - t1
        history = s.history
        again = fp == s._previous_fp
        if self.in_stretch and s._keeps_setups():  # (a matrix that came back is repeated, as on the general path)
            again = again or s._recurring.came_back(fp, len(history))
            s._recurring.seen(fp, len(history))
        record = SolveRecord.of({
            "index": len(history),
            "configuration": self.name,
            "iterations": iterations,
            "setup_seconds": guess_seconds + setup_seconds,
            "solve_seconds": solve_seconds,
            "residual": verdict.residual / bnorm,
            "converged": True,
            "fallback": None,
            "status": status,
            "setup_reused": not made or (cached is not None and prepared is cached[1]),
            "policy_seconds": policy_seconds,
            "context": {} if context is None else dict(context),
            "attempt_seconds": setup_seconds + solve_seconds,
            "projected_seconds": None,
            "projected_iterations": None,
            "explored": False,
            "matrix_repeated": again,
            "residuals": None,
            "initial_guess": guess,
            "guess_seconds": guess_seconds,
            "one_off_seconds": method.one_off_seconds if made else 0.0,
        })
        if logger.isEnabledFor(20):  # INFO
            solve_logged(record, [(self.name, status, iterations)], maxiter, maxiter)
        s._previous_fp = fp
        s._start_solved = iterations == 0 and guess != "zero"
        history.append(record)
        s._x_prev = x
        return x.copy()

