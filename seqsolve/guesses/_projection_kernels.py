"""Compiled kernel for :mod:`seqsolve.guesses.projection`: ``A Q`` for the rows of ``Q`` in one go.

Why compiled: after the operator changed, ``projection(k)`` recomputes ``A Q`` for its ``k × n``
C-ordered basis ``Q`` (rows are the basis vectors).  SciPy's CSR block product wants an ``n × k``
C-ordered block in and gives one out, so the rows layout paid a transposing copy each way, which
cost about as much as the product itself (n = 32,513, k = 8: 1.2 ms for copies and product against
0.75 ms for the product alone).  No library multiplies a CSR matrix into the rows of a C-ordered
block.  This kernel transposes four rows of ``Q`` at a time into a small ``n × 4`` work array (so
each nonzero reads one 32-byte row of it) and sums each row of ``A`` in four scalar accumulators
(registers), writing the four rows of ``A Q`` directly.  A kernel looping over a run-time number
of columns per nonzero was slower than SciPy (the accumulators live in memory); four fixed
columns per pass, one pass over ``A`` per four rows of ``Q``, match SciPy's block product.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U = np.uintp  # unsigned indices: Numba skips its negative-index branch


@njit(cache=True, error_model="numpy")
def csr_times_rows(indptr, indices, data, Q, AQ, T):  # pragma: no cover - compiled
    """``AQ[p] = A @ Q[p]`` for every row ``p`` of the C-ordered ``Q`` (``m × n``), in passes of four
    rows; ``T`` is an ``n × 4`` C-ordered work array.  Each entry is summed in the CSR order, as
    SciPy's product does (the same result to the last bit for sorted or unsorted indices)."""
    m, n = Q.shape
    for p0 in range(0, m, 4):
        w = min(4, m - p0)
        for i in range(n):  # T = Q[p0:p0 + 4].T, zero where Q has fewer rows
            for c in range(4):
                T[_U(i), c] = Q[_U(p0 + c), _U(i)] if c < w else 0.0
        for i in range(n):
            a0 = a1 = a2 = a3 = 0.0
            for t in range(_U(indptr[i]), _U(indptr[i + 1])):
                a = data[t]
                j = _U(indices[t])
                a0 += a * T[j, 0]
                a1 += a * T[j, 1]
                a2 += a * T[j, 2]
                a3 += a * T[j, 3]
            ii = _U(i)
            AQ[_U(p0), ii] = a0
            if w > 1:
                AQ[_U(p0 + 1), ii] = a1
            if w > 2:
                AQ[_U(p0 + 2), ii] = a2
            if w > 3:
                AQ[_U(p0 + 3), ii] = a3
