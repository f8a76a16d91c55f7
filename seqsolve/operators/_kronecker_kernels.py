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
        start = line - i1 * n2  # and its plane of the last two axes: [start, start + plane)
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            v = data[k]
            s += v
            # j's grid index, dividing only when j leaves the row's line (most stencil entries stay)
            j0, j1, j2 = i0, i1, j - line
            if j2 < 0 or j2 >= n2:
                r = j - start
                if r < 0 or r >= plane:
                    j0 = j // plane
                    r = j - j0 * plane
                j1 = r // n2
                j2 = r - j1 * n2
            changed = (j0 != i0) + (j1 != i1) + (j2 != i2)
            if changed == 0:
                if not rowsums:
                    target[i] = v
            elif changed == 1:
                if j2 != i2:
                    F2[i2, j2] += v
                elif j1 != i1:
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
