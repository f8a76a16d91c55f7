"""Compiled kernel for :mod:`seqsolve.solvers.fastdiag_reuse`: how a CSR matrix moved from a cached one.

One pass over both matrices (``O(nnz)``, no temporaries) checks the pattern, measures how far ``A``
is from ``α·A₀ + β·I`` with ``α, β`` read off two probe entries (exact when ``A`` is such a
combination), and accumulates the moments of the least-squares fit (off-diagonal entries for ``α``,
the trace for ``β``) that a drifted ``A`` is followed by.  A different pattern stops it at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")  # no off-diagonal entries: a nan fit, no exception
def fit_scalar_shift(indptr, indices, data, indptr0, indices0, data0, k_off, k_diag):  # pragma: no cover
    """``(same_pattern, exact_α, exact_β, max deviation, max|A|, fitted_α, fitted_β)``.

    ``k_off``: the position of ``A₀``'s largest off-diagonal entry; ``k_diag``: of a diagonal entry
    (``-1``: none, then ``β = 0``).  The deviation is ``max|A − (exact_α·A₀ + exact_β·I)|``."""
    n = indptr.shape[0] - 1
    if indptr0.shape[0] != n + 1 or indices.shape[0] != indices0.shape[0]:
        return False, np.nan, np.nan, np.inf, 0.0, np.nan, np.nan
    alpha = data[k_off] / data0[k_off]
    beta = data[k_diag] - alpha * data0[k_diag] if k_diag >= 0 else 0.0
    cross = norm0 = trace = trace0 = dev = amax = 0.0
    for i in range(n):
        if indptr[i + 1] != indptr0[i + 1]:
            return False, np.nan, np.nan, np.inf, 0.0, np.nan, np.nan
        for k in range(indptr[i], indptr[i + 1]):
            if indices[k] != indices0[k]:
                return False, np.nan, np.nan, np.inf, 0.0, np.nan, np.nan
            a, a0 = data[k], data0[k]
            amax = max(amax, abs(a))
            if indices[k] == i:
                dev = max(dev, abs(a - alpha * a0 - beta))
                trace += a
                trace0 += a0
            else:
                dev = max(dev, abs(a - alpha * a0))
                cross += a * a0
                norm0 += a0 * a0
    fitted = cross / norm0
    return True, alpha, beta, dev, amax, fitted, (trace - fitted * trace0) / n
