"""Compiled kernel for :mod:`seqsolve.solvers.fastdiag_reuse`: how a CSR matrix moved from a cached one.

One call reads both matrices at most twice (``O(nnz)``, no temporaries): first the pattern and the
moments that fit ``A ≈ α·A₀ + β·I`` (least squares on the off-diagonal entries, the trace for
``β``: both exact when ``A`` is such a combination), then the largest deviation from that fit.
A different pattern stops the first pass at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def fit_scalar_shift(indptr, indices, data, indptr0, indices0, data0):  # pragma: no cover - compiled
    """``(same_pattern, α, β, max|A − (α·A₀ + β·I)|, max|A|)``; ``α = β = nan`` when no fit exists."""
    n = indptr.shape[0] - 1
    if indptr0.shape[0] != n + 1 or indices.shape[0] != indices0.shape[0]:
        return False, np.nan, np.nan, np.inf, 0.0
    cross = 0.0
    norm0 = 0.0
    trace = 0.0
    trace0 = 0.0
    amax = 0.0
    for i in range(n):
        if indptr[i + 1] != indptr0[i + 1]:
            return False, np.nan, np.nan, np.inf, 0.0
        for k in range(indptr[i], indptr[i + 1]):
            if indices[k] != indices0[k]:
                return False, np.nan, np.nan, np.inf, 0.0
            a = data[k]
            amax = max(amax, abs(a))
            if indices[k] == i:
                trace += a
                trace0 += data0[k]
            else:
                cross += a * data0[k]
                norm0 += data0[k] * data0[k]
    if norm0 == 0.0:  # A₀ is diagonal: no off-diagonal scale to fit
        return True, np.nan, np.nan, np.inf, amax
    alpha = cross / norm0
    beta = (trace - alpha * trace0) / n
    dev = 0.0
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            fit = alpha * data0[k] + (beta if indices[k] == i else 0.0)
            dev = max(dev, abs(data[k] - fit))
    return True, alpha, beta, dev, amax
