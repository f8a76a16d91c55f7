"""Incomplete LU (SciPy SuperLU's ILUTP) preconditioner for non-symmetric systems."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, spilu


def ilu(A: sp.csr_array, drop_tol: float = 1e-4, fill_factor: float = 10.0) -> LinearOperator:
    """``M⁻¹ ≈ A⁻¹`` from an incomplete LU factorisation."""
    try:
        fact = spilu(sp.csc_matrix(A), drop_tol=drop_tol, fill_factor=fill_factor)
    except RuntimeError as exc:
        # SuperLU's messages end in a newline and name its C source; keep status lines one line
        raise RuntimeError(f"incomplete LU failed: {' '.join(str(exc).split())}") from exc
    n = A.shape[0]
    return LinearOperator((n, n), matvec=lambda r: fact.solve(np.asarray(r).ravel()), dtype=np.float64)
