"""Smoothed-aggregation AMG (PyAMG) as a preconditioner; the hierarchy is the expensive setup."""

from __future__ import annotations

import pyamg
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator


def smoothed_aggregation(A: sp.csr_array) -> LinearOperator:
    """One V-cycle of a PyAMG smoothed-aggregation hierarchy built for ``A``."""
    ml = pyamg.smoothed_aggregation_solver(sp.csr_matrix(A), max_coarse=50)
    return ml.aspreconditioner(cycle="V")
