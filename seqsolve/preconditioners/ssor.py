"""SSOR preconditioner built from PyAMG's compiled SOR sweeps.

PyAMG 5.4.1's ``sor(..., sweep='symmetric')`` silently drops ``omega`` (its symmetric branch
calls ``gauss_seidel`` without it), so SSOR is assembled here from one forward and one backward
call of ``amg_core.sor_gauss_seidel``, each with ``omega``.  Starting from ``z = 0`` this applies
``M⁻¹ = ω(2-ω) (D+ωU)⁻¹ D (D+ωL)⁻¹`` up to a constant factor, a symmetric operator, so CG stays valid.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pyamg import amg_core
from scipy.sparse.linalg import LinearOperator

from .jacobi import inverse_diagonal


def ssor_sweeps(A: sp.csr_array, r: np.ndarray, omega: float) -> np.ndarray:
    """Return ``z`` after a forward then a backward SOR sweep on ``A z = r`` from ``z = 0``."""
    n = A.shape[0]
    z = np.zeros(n)
    amg_core.sor_gauss_seidel(A.indptr, A.indices, A.data, z, r, 0, n, 1, omega)
    amg_core.sor_gauss_seidel(A.indptr, A.indices, A.data, z, r, n - 1, -1, -1, omega)
    return z


def ssor(A: sp.csr_array, omega: float) -> LinearOperator:
    """SSOR(ω) as a LinearOperator for use as ``M`` in SciPy's Krylov methods."""
    inverse_diagonal(A)  # rejects zero diagonals with a clear error
    A = sp.csr_array(A)
    if A.indices.dtype != A.indptr.dtype:
        A.indices = A.indices.astype(A.indptr.dtype)
    n = A.shape[0]

    def apply(r: np.ndarray) -> np.ndarray:
        return ssor_sweeps(A, np.ascontiguousarray(r.ravel(), dtype=np.float64), omega)

    return LinearOperator((n, n), matvec=apply, dtype=np.float64)
