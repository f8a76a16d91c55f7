"""Sparse direct solve (SciPy SuperLU); the factorisation is the setup, reused while A is unchanged.

A small ``LinearOperator`` (up to :data:`DENSE_MAX` unknowns) is materialised with ``n`` products
and factorised densely (LAPACK ``getrf``): the robust last resort when Krylov methods fail on it.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, splu

from ..accuracy import norm
from .base import Callback, IterationResult, Method

#: largest LinearOperator materialised for a dense factorisation (n products, n³/3 flops)
DENSE_MAX = 1000


class _DenseLU:
    def __init__(self, A: LinearOperator) -> None:
        dense = np.asarray(A @ np.eye(A.shape[0]), dtype=np.float64)
        if not np.all(np.isfinite(dense)):
            raise np.linalg.LinAlgError("the operator produced non-finite entries")
        self.lu = scipy.linalg.lu_factor(dense, check_finite=False)
        if np.any(np.diag(self.lu[0]) == 0):
            raise np.linalg.LinAlgError("dense LU found an exactly zero pivot: A is singular")

    def solve(self, b: np.ndarray) -> np.ndarray:
        return scipy.linalg.lu_solve(self.lu, b, check_finite=False)


class Direct(Method):
    """LU factorisation plus up to three steps of iterative refinement (counted as iterations)."""

    needs_matrix = False
    uses_x0 = False

    def applicable(self, A, *, symmetric: bool) -> bool:
        return not isinstance(A, LinearOperator) or A.shape[0] <= DENSE_MAX

    def setup(self, A, previous):
        if isinstance(A, LinearOperator):
            return _DenseLU(A)
        return splu(sp.csc_matrix(A))

    def solve(self, prepared, A, b, x0, *, rtol, atol, maxiter, callback: Callback = None) -> IterationResult:
        with np.errstate(all="ignore"):
            x = prepared.solve(b)
            r = b - A @ x
            it = 0
            target = max(rtol * norm(b), atol)
            # refinement recovers digits lost to pivoting on ill-conditioned systems
            while it < 3 and norm(r) > target and np.all(np.isfinite(r)):
                x += prepared.solve(r)
                r = b - A @ x
                it += 1
        if callback is not None:
            callback(x)
        if not np.all(np.isfinite(x)):
            return IterationResult(x, it, "nan")
        # a factorisation that refinement cannot repair means a (nearly) singular matrix
        return IterationResult(x, it, "converged" if norm(r) <= target else "breakdown")
