"""SOR as a stand-alone iterative solver, on PyAMG's compiled sweeps.

One iteration is one forward SOR sweep; the true residual is checked after every sweep (one
extra product), so the returned ``x`` is already known to meet the tolerance when converged.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pyamg import amg_core

from ..preconditioners.jacobi import inverse_diagonal
from .base import Callback, IterationResult, Method


class SOR(Method):
    """Successive over-relaxation ``x ← x + ω D⁻¹ (b − L x_new − (D+U) x_old)``."""

    spd_only = True  # converges for every 0 < ω < 2 only when A is SPD

    def __init__(self, omega: float) -> None:
        if not 0.0 < omega < 2.0:
            raise ValueError(f"SOR needs 0 < omega < 2, got {omega}")
        self.omega = omega

    def setup(self, A, previous):
        inverse_diagonal(A)
        if A.indices.dtype != A.indptr.dtype:
            A = sp.csr_array((A.data, A.indices.astype(A.indptr.dtype), A.indptr), shape=A.shape)
        return A

    def solve(self, prepared, A, b, x0, *, rtol, atol, maxiter, callback: Callback = None) -> IterationResult:
        M = prepared
        n = M.shape[0]
        x = np.array(x0, dtype=np.float64, copy=True)
        target = max(rtol * float(np.linalg.norm(b)), atol)
        r0 = float(np.linalg.norm(b - M @ x))
        if r0 <= target:
            return IterationResult(x, 0, "converged")
        for k in range(1, maxiter + 1):
            amg_core.sor_gauss_seidel(M.indptr, M.indices, M.data, x, b, 0, n, 1, self.omega)
            if callback is not None:
                callback(x)
            rn = float(np.linalg.norm(b - M @ x))
            if rn <= target:
                return IterationResult(x, k, "converged")
            if not np.isfinite(rn) or rn > 1e12 * r0:
                return IterationResult(x, k, "nan" if not np.isfinite(rn) else "breakdown")
        return IterationResult(x, maxiter, "maxiter")
