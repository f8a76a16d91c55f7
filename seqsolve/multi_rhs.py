"""Several right-hand sides ``A X = B``: one system of the sequence per column, setup shared.

The columns go through :meth:`SequenceSolver.solve` one by one: the first builds the
preconditioner or factorisation, the others find it in the solver's setup cache (the matrix
fingerprint is unchanged), and each column keeps the contract and gets its own record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .errors import InvalidSystemError

if TYPE_CHECKING:
    from .solver import SequenceSolver


def is_block(b: Any) -> bool:
    """Whether ``b`` holds several right-hand sides (shape ``(n, k)``, ``k > 1``)."""
    if type(b) is np.ndarray:  # the usual case, without the sparse-type checks
        return b.ndim == 2 and b.shape[1] > 1
    shape = b.shape if (sp.issparse(b) or isinstance(b, np.ndarray)) else None
    return shape is not None and len(shape) == 2 and shape[1] > 1


def solve_columns(solver: "SequenceSolver", A, B, X0, context, callback, near_nullspace, M) -> np.ndarray:
    """Solve ``A X = B`` column by column with ``solver``; returns ``X`` of ``B``'s shape."""
    B = B.toarray() if sp.issparse(B) else B
    n, k = B.shape
    if X0 is not None:
        X0 = np.asarray(X0)
        if X0.shape != (n, k):
            raise InvalidSystemError(f"x0 must have the shape of b, {(n, k)}, for several right-hand sides; "
                                     f"got {X0.shape}")
    elif solver.warm_start and solver._X_prev is not None and solver._X_prev.shape == (n, k):
        X0 = solver._X_prev  # column j starts from column j of the previous block, not from column j-1
    X = np.empty((n, k))
    for j in range(k):
        x0 = X0[:, j] if X0 is not None else np.zeros(n)
        X[:, j] = solver._solve(A, B[:, j], x0, context, callback, near_nullspace, M)
    solver._X_prev = X.copy()
    return X
