"""Compiled projection pass for :func:`seqsolve.operators.structure.nearest_kronecker_sum`.

The NumPy projection builds ~a dozen ``nnz``-long temporaries (grid indices of every row and
column, per axis) and bincounts them: ~4.5 ms on a 126×126 grid, where one fastdiag-cg solve costs
~0.5 ms, and ``auto`` pays it before it can try the method.  Here one pass over the CSR arrays
gathers the same sums, in the same order (so to the last bit, as bincount adds in input order).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def kronecker_sums(indptr, indices, data, n0, n1, n2, rowsums):  # pragma: no cover - compiled
    """Per axis of the C-order grid ``(n0, n1, n2)`` (a 2-D grid as ``(1, n1, n2)``), the sums of
    the couplings ``i→k`` between unknowns that differ in that grid index only, as ``n_d × n_d``
    arrays; and per row its sum (``rowsums``) or its diagonal entry (the last stored one wins, as
    in NumPy's fancy assignment).  Entries that change two or more grid indices enter only the
    row sums."""
    N = indptr.shape[0] - 1
    F0 = np.zeros((n0, n0))
    F1 = np.zeros((n1, n1))
    F2 = np.zeros((n2, n2))
    target = np.zeros(N)
    plane = n1 * n2
    i0 = i1 = i2 = 0
    for i in range(N):
        line = i - i2  # the row's line along the last axis: [line, line + n2)
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            v = data[k]
            s += v
            d = j - line
            if 0 <= d < n2:  # on the row's line: only the last grid index may change
                if d != i2:
                    F2[i2, d] += v
                elif not rowsums:
                    target[i] = v
                continue
            # a stencil's nearest neighbours along axes 1 and 0, told apart without a division
            if d == i2 + n2 and i1 + 1 < n1:
                F1[i1, i1 + 1] += v
                continue
            if d == i2 - n2 and i1 > 0:
                F1[i1, i1 - 1] += v
                continue
            if d == i2 + plane and i0 + 1 < n0:
                F0[i0, i0 + 1] += v
                continue
            if d == i2 - plane and i0 > 0:
                F0[i0, i0 - 1] += v
                continue
            # any other entry: j's grid index by division
            j0 = j // plane
            r = j - j0 * plane
            j1 = r // n2
            j2 = r - j1 * n2
            if j2 == i2 and (j1 == i1) != (j0 == i0):  # exactly one index changed, not the last
                if j1 != i1:
                    F1[i1, j1] += v
                else:
                    F0[i0, j0] += v
        if rowsums:
            target[i] = s
        i2 += 1  # the next row's grid index (C order: the last axis fastest)
        if i2 == n2:
            i2 = 0
            i1 += 1
            if i1 == n1:
                i1 = 0
                i0 += 1
    return target, F0, F1, F2
