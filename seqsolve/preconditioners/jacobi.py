"""Jacobi (diagonal) preconditioner."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from ..errors import InvalidSystemError


def inverse_diagonal(A: sp.csr_array) -> np.ndarray:
    """``1 / diag(A)``; a zero diagonal entry makes Jacobi and SOR undefined, so it is an error."""
    d = A.diagonal()
    if np.any(d == 0):
        raise InvalidSystemError(f"A has {int(np.sum(d == 0))} zero diagonal entries; Jacobi/SOR need a nonzero diagonal")
    return 1.0 / d


def jacobi(A: sp.csr_array) -> LinearOperator:
    """``M⁻¹ r = r / diag(A)`` as a LinearOperator."""
    dinv = inverse_diagonal(A)
    n = A.shape[0]
    return LinearOperator((n, n), matvec=lambda r: dinv * r.ravel(), dtype=np.float64)
