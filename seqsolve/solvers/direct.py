"""Sparse direct solve (SciPy SuperLU); the factorisation is the setup, reused while A is unchanged."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .base import Callback, IterationResult, Method


class Direct(Method):
    """LU factorisation plus one step of iterative refinement (counted as one iteration)."""

    def setup(self, A, previous):
        return splu(sp.csc_matrix(A))

    def solve(self, prepared, A, b, x0, *, rtol, atol, maxiter, callback: Callback = None) -> IterationResult:
        x = prepared.solve(b)
        r = b - A @ x
        it = 0
        target = max(rtol * np.linalg.norm(b), atol)
        # refinement recovers digits lost to pivoting on ill-conditioned systems
        while it < 3 and np.linalg.norm(r) > target:
            x += prepared.solve(r)
            r = b - A @ x
            it += 1
        if callback is not None:
            callback(x)
        if not np.all(np.isfinite(x)):
            return IterationResult(x, it, "nan")
        # a factorisation that refinement cannot repair means a (nearly) singular matrix
        return IterationResult(x, it, "converged" if np.linalg.norm(r) <= target else "breakdown")
