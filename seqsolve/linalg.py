"""SciPy-style functional forms: ``x, info = seqsolve.linalg.cg(A, b, ...)``.

Drop-in replacements for ``scipy.sparse.linalg.cg`` and ``gmres``: the same argument names
(``x0``, keyword-only ``rtol``, ``atol``, ``maxiter``, ``M``, ``callback``) and the same result
``(x, info)`` — ``info == 0`` when ``x`` meets ``‖b − A x‖ ≤ max(rtol·‖b‖, atol)`` on the true
residual, ``info > 0`` (the iterations run) when it does not, in which case ``x`` is the best
iterate found and nothing is raised.  Bad inputs raise as everywhere in seqsolve.

Two differences from SciPy, both on the side of the answer: the residual is certified (not the
method's own recurrence), and a failing CG or GMRES falls back to robust configurations first.

``cg``/``gmres`` are one-off: nothing carries over between calls.  ``auto_cg``/``auto_gmres`` share
one learning :class:`Sequence` per process (``reset()`` forgets it), for loops that call SciPy's
functions on related systems; :class:`Sequence` makes your own.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .errors import ConfigurationError, ConvergenceError

#: SciPy's default relative tolerance for ``cg``/``gmres``
RTOL = 1e-5


def _solve(solver_args: dict, policy: str, A, b, x0, M, callback, solver=None) -> tuple[np.ndarray, int]:
    from .solver import SequenceSolver

    if solver is None:
        solver = SequenceSolver(policy=policy, warm_start=False, **solver_args)
    try:
        return solver.solve(A, b, x0, callback=callback, M=M), 0
    except ConvergenceError as exc:
        x = exc.best_x if exc.best_x is not None else (np.zeros(np.shape(b)[0]) if x0 is None
                                                        else np.array(x0, dtype=float).ravel())
        its = solver.history[-1].iterations if solver.history else 0
        return x, max(1, its)


def _gmres_callback(callback: Callable | None, callback_type: str | None) -> Callable | None:
    if callback is None:
        return None
    if callback_type != "x":
        raise ConfigurationError(
            "seqsolve calls a GMRES callback with the current iterate x, not with residual norms: pass "
            "callback_type='x' (SciPy's 'legacy' and 'pr_norm' forms are not supported)")
    return callback


def cg(A: Any, b: Any, x0: Any = None, *, rtol: float = RTOL, atol: float = 0.0, maxiter: int | None = None,
       M: Any = None, callback: Callable | None = None) -> tuple[np.ndarray, int]:
    """Conjugate gradients for symmetric positive definite ``A``, as ``scipy.sparse.linalg.cg``.

    Runs the configuration ``cg`` (or ``user-cg`` with ``M``) with seqsolve's fallback.
    ``callback(xk)`` is called after each CG iteration.  Returns ``(x, info)``.
    """
    args = {"rtol": rtol, "atol": atol, "maxiter": maxiter}
    return _solve(args, "fixed:user-cg" if M is not None else "fixed:cg", A, b, x0, M, callback)


def gmres(A: Any, b: Any, x0: Any = None, *, rtol: float = RTOL, atol: float = 0.0, restart: int | None = None,
          maxiter: int | None = None, M: Any = None, callback: Callable | None = None,
          callback_type: str | None = None) -> tuple[np.ndarray, int]:
    """Restarted GMRES for any nonsingular ``A``, as ``scipy.sparse.linalg.gmres``.

    seqsolve's GMRES restarts every 30 iterations (``restart`` is accepted for compatibility and
    not used) and ``maxiter`` counts iterations, not restart cycles.  A ``callback`` needs
    ``callback_type='x'``.  Returns ``(x, info)``.
    """
    callback = _gmres_callback(callback, callback_type)
    args = {"rtol": rtol, "atol": atol, "maxiter": maxiter}
    return _solve(args, "fixed:user-gmres" if M is not None else "fixed:gmres", A, b, x0, M, callback)


class Sequence:
    """``cg``/``gmres`` that learn across calls: one :class:`~seqsolve.SequenceSolver` per tolerance.

    ``policy`` (default ``"auto"``) chooses the configuration for each call among everything
    applicable — not necessarily CG or GMRES — and every call keeps the contract.  Keyword
    arguments go to :class:`~seqsolve.SequenceSolver` (e.g. ``seed``, ``warm_start``).
    """

    def __init__(self, policy: str = "auto", **solver_options: Any) -> None:
        self.policy = policy
        self.solver_options = solver_options
        self.solvers_: dict[tuple, Any] = {}

    def _solver(self, rtol: float, atol: float, maxiter: int | None):
        from .solver import SequenceSolver

        key = (float(rtol), float(atol), maxiter)
        solver = self.solvers_.get(key)
        if solver is None:
            solver = self.solvers_[key] = SequenceSolver(rtol=rtol, atol=atol, maxiter=maxiter, policy=self.policy,
                                                         **self.solver_options)
        return solver

    def cg(self, A: Any, b: Any, x0: Any = None, *, rtol: float = RTOL, atol: float = 0.0,
           maxiter: int | None = None, M: Any = None, callback: Callable | None = None) -> tuple[np.ndarray, int]:
        """Like :func:`cg`, learning across calls."""
        return _solve({}, "", A, b, x0, M, callback, self._solver(rtol, atol, maxiter))

    def gmres(self, A: Any, b: Any, x0: Any = None, *, rtol: float = RTOL, atol: float = 0.0,
              restart: int | None = None, maxiter: int | None = None, M: Any = None,
              callback: Callable | None = None, callback_type: str | None = None) -> tuple[np.ndarray, int]:
        """Like :func:`gmres`, learning across calls."""
        callback = _gmres_callback(callback, callback_type)
        return _solve({}, "", A, b, x0, M, callback, self._solver(rtol, atol, maxiter))

    def reset(self) -> "Sequence":
        """Forget every solver (and what their policies learned)."""
        self.solvers_.clear()
        return self


_SHARED = Sequence()


def auto_cg(A: Any, b: Any, x0: Any = None, **kwargs: Any) -> tuple[np.ndarray, int]:
    """:func:`cg`'s form, learning across calls in this process (a module-level :class:`Sequence`)."""
    return _SHARED.cg(A, b, x0, **kwargs)


def auto_gmres(A: Any, b: Any, x0: Any = None, **kwargs: Any) -> tuple[np.ndarray, int]:
    """:func:`gmres`'s form, learning across calls in this process (a module-level :class:`Sequence`)."""
    return _SHARED.gmres(A, b, x0, **kwargs)


def reset() -> None:
    """Forget what :func:`auto_cg` and :func:`auto_gmres` learned."""
    _SHARED.reset()


__all__ = ["cg", "gmres", "auto_cg", "auto_gmres", "Sequence", "reset"]
