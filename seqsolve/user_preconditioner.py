"""A preconditioner the user brings (``solve(A, b, M=M)``): checked once, run as ``user-cg``/``user-gmres``.

SciPy's convention: ``M`` approximates ``A⁻¹`` and is a LinearOperator, a sparse or dense matrix,
or (seqsolve's addition) a callable ``M(r) -> z``.  It is a per-call input, not part of a
configuration: the configuration says *how* it is used (CG or GMRES), the solver hands the
operator to that configuration's setup, so the policy can weigh it against its own portfolio.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from .errors import InvalidSystemError, UnsupportedTypeError
from .solvers.krylov import ScipyKrylov

#: configuration kinds that run the user's ``M``
USER_KINDS = ("user-cg", "user-gmres")


class PreconditionerError(InvalidSystemError):
    """The user's ``M`` failed or returned a wrong vector: reported, never hidden by a fallback."""


def as_preconditioner(M: Any, n: int) -> LinearOperator:
    """``M`` as an ``n x n`` float64 LinearOperator, or a :class:`~seqsolve.SeqsolveError` saying why not."""
    if isinstance(M, LinearOperator) or sp.issparse(M) or isinstance(M, np.ndarray):
        shape = M.shape
        if len(shape) != 2 or shape != (n, n):
            raise InvalidSystemError(f"M must have shape ({n}, {n}) like A, got {shape}")
        if np.issubdtype(np.dtype(M.dtype if M.dtype is not None else float), np.complexfloating):
            raise UnsupportedTypeError("M is complex; only real preconditioners are supported")
        return aslinearoperator(M)
    if callable(M):
        def matvec(r: np.ndarray) -> np.ndarray:
            try:
                z = np.asarray(M(np.ravel(r)), dtype=np.float64).ravel()
            except Exception as exc:
                raise PreconditionerError(f"your preconditioner M failed: {type(exc).__name__}: {exc}") from exc
            if z.shape != (n,):
                raise PreconditionerError(f"M(r) must return a vector of length {n}, got shape {z.shape}")
            return z

        return LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    raise UnsupportedTypeError(
        f"M must be a LinearOperator, a sparse or dense matrix, or a callable r -> z; got {type(M).__name__}")


class UserKrylov(ScipyKrylov):
    """CG or GMRES with the user's preconditioner (handed to :meth:`setup` by the solver)."""

    uses_user_preconditioner = True

    def __init__(self, method: str) -> None:
        super().__init__(method, spd_only=method == "cg")
        self.needs_matrix = False  # M does the preconditioning: a LinearOperator A is fine

    def setup(self, A: Any, previous: Any | None, *, M: LinearOperator | None = None, **hints: Any) -> Any:
        if M is None:  # the solver filters these kinds out when no M was given
            raise InvalidSystemError("this configuration needs a preconditioner: pass M= to solve()")
        return M


def usable(allowed: list, has_M: bool, symmetric: bool) -> list:
    """``allowed`` without the user kinds when no ``M`` was given; on a symmetric matrix, without
    ``user-gmres`` when ``user-cg`` is offered too (CG with ``M`` does the same work for less)."""
    if not has_M:
        return [c for c in allowed if not c.spec.user_preconditioner]
    if symmetric and any(c.kind == "user-cg" for c in allowed):
        return [c for c in allowed if c.kind != "user-gmres"]
    return allowed
