"""Sparse direct solve (SciPy SuperLU); the factorisation is the setup, reused while A is unchanged.

A small ``LinearOperator`` (up to :data:`DENSE_MAX` unknowns) is materialised with ``n`` products
and factorised densely (LAPACK ``getrf``): the robust last resort when Krylov methods fail on it.
A matrix with a narrow band (:mod:`seqsolve.band`: a 1-D problem) is factorised in LAPACK's band
storage (``gbtrf``, partial pivoting): 33 ms instead of SuperLU's 150 ms on 200,000 unknowns.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, splu

from ..accuracy import norm, precise_residual
from ..band import narrow_band
from .base import Callback, IterationResult, Method

#: most refinement steps after the first solve (each halves the residual or refinement stops)
MAX_REFINEMENTS = 6

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


class _BandedLU:
    """LAPACK's band LU (``gbtrf``/``gbtrs``, partial pivoting) of a CSR matrix with a narrow band."""

    def __init__(self, A: sp.csr_array, w: int) -> None:
        if not A.has_canonical_format:  # duplicates sum, as in A (np.add.at would, at twice the cost)
            A = A.copy()
            A.sum_duplicates()
        n = A.shape[0]
        rows = np.repeat(np.arange(n), np.diff(A.indptr))
        band = np.zeros((3 * w + 1, n))  # w more rows above for the pivoting's fill
        band[2 * w + rows - A.indices, A.indices] = A.data
        self.lu, self.piv, info = scipy.linalg.lapack.dgbtrf(band, w, w, overwrite_ab=True)
        if info > 0:
            raise np.linalg.LinAlgError("band LU found an exactly zero pivot: A is singular")
        self.w = w

    def solve(self, b: np.ndarray) -> np.ndarray:
        x, _ = scipy.linalg.lapack.dgbtrs(self.lu, self.w, self.w, b, self.piv)
        return x


def _residual(A, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``b − A x``, in twice the working precision where :func:`precise_residual` can."""
    r = precise_residual(A, b, x)
    return b - A @ x if r is None else r


class Direct(Method):
    """LU factorisation plus iterative refinement (up to ``MAX_REFINEMENTS`` steps, counted as iterations)."""

    needs_matrix = False
    uses_x0 = False
    independent_setups = True  # a SuperLU object (or a dense LU) is never changed after its build

    def applicable(self, A, *, symmetric: bool) -> bool:
        return not isinstance(A, LinearOperator) or A.shape[0] <= DENSE_MAX

    def setup(self, A, previous):
        if isinstance(A, LinearOperator):
            return _DenseLU(A)
        w = narrow_band(A) if A.dtype == np.float64 else 0
        if w:
            return _BandedLU(A if A.format == "csr" else sp.csr_array(A), w)
        return splu(sp.csc_matrix(A))

    def solve(self, prepared, A, b, x0, *, rtol, atol, maxiter, callback: Callback = None) -> IterationResult:
        with np.errstate(all="ignore"):
            x = prepared.solve(b)
            r = b - A @ x
            it = 0
            target = max(rtol * norm(b), atol)
            rn, last = norm(r), math.inf
            # Refinement recovers digits lost to pivoting on ill-conditioned systems.  Its residual
            # is taken in twice the working precision where it can be: a float64 residual carries
            # an error of n·u·|A||x|, at which refinement stalls short of a tolerance that a float64
            # x meets (cond 3e7, rtol 1e-12: 3.5e-12 after three steps).  It stops once a step no
            # longer cuts the residual by a tenth (at cond 1e10 a step that cut it by 47 % was
            # followed by one that halved it again, to what exact residuals reach)
            if rn > target:
                r = _residual(A, b, x)
                rn = norm(r)
            while it < MAX_REFINEMENTS and target < rn < 0.9 * last and np.all(np.isfinite(r)):
                x += prepared.solve(r)
                r = _residual(A, b, x)
                rn, last = norm(r), rn
                it += 1
        if callback is not None:
            callback(x)
        if not np.all(np.isfinite(x)):
            return IterationResult(x, it, "nan")
        # a factorisation that refinement cannot repair means a (nearly) singular matrix
        return IterationResult(x, it, "converged" if rn <= target else "breakdown")
