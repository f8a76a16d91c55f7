"""Compiled passes of the PETSc backend's per-call work (one pass over the matrix each).

A solve needs the starting residual ``b − A x₀`` (the right-hand side of the correction solve),
``‖b‖`` and, for ``ssor-cg``, whether ``A`` is strictly diagonally dominant (the PETSc 3.18
workaround in :func:`~.mapping.eisenstat`).  Each is a pass over ``A`` row by row; done apart
they cost three passes (PETSc's product, a NumPy norm, a dominance scan), here one.  A new
matrix's values are also asked whether its rows sum to zero (:func:`rows_sum_to_zero`: the constant
null space of a pure-Neumann operator, see :class:`~.matrices.MatCache`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_IX = np.uintp  # unsigned indices: Numba skips its negative-index branch


@njit(cache=True)
def residual(indptr, indices, data, b, x, r):  # pragma: no cover - compiled
    """``r = b − A x`` and ``(Σ r_i², Σ b_i²)``: :func:`start` without the dominance test, which
    costs 60 % more (measured, Heat2D nx=200)."""
    n = b.shape[0]
    rr = 0.0
    bb = 0.0
    for i in range(n):
        s = 0.0
        for k in range(_IX(indptr[_IX(i)]), _IX(indptr[_IX(i) + _IX(1)])):
            s += data[k] * x[_IX(indices[k])]
        bi = b[_IX(i)]
        ri = bi - s
        r[_IX(i)] = ri
        rr += ri * ri
        bb += bi * bi
    return rr, bb


@njit(cache=True)
def start(indptr, indices, data, b, x, r):  # pragma: no cover - compiled
    """``r = b − A x`` and ``(Σ r_i², Σ b_i², dominant)``.

    ``dominant``: every row has a positive diagonal larger than the sum of its off-diagonal
    ``|a_ij|`` (entries of column ``i`` summed as the diagonal, each off-diagonal added in
    order).  The
    sums may over- or underflow; the caller checks."""
    n = b.shape[0]
    rr = 0.0
    bb = 0.0
    ok = True
    for i in range(n):
        s = 0.0
        diag = 0.0
        off = 0.0
        for k in range(_IX(indptr[_IX(i)]), _IX(indptr[_IX(i) + _IX(1)])):
            v = data[k]
            c = indices[k]
            s += v * x[_IX(c)]
            on = c == i
            diag += v if on else 0.0  # selects, not branches: the diagonal's position varies
            off += 0.0 if on else abs(v)
        bi = b[_IX(i)]
        ri = bi - s
        r[_IX(i)] = ri
        rr += ri * ri
        bb += bi * bi
        ok &= diag > off
    return rr, bb, ok


@njit(cache=True)
def copy_if_same_pattern(indptr, indices, data, own_indptr, own_indices, own_data):  # pragma: no cover - compiled
    """Copy ``data`` into ``own_data`` when ``(indptr, indices)`` equal ``(own_indptr, own_indices)``
    (same lengths checked by the caller); ``False``, with nothing written, when they differ."""
    same = True
    for i in range(indptr.shape[0]):
        same &= indptr[_IX(i)] == own_indptr[_IX(i)]
    if not same:
        return False
    k = _IX(0)
    end = _IX(indices.shape[0])
    while k < end:  # in blocks with no early exit inside: the comparisons vectorise
        stop = min(k + _IX(1024), end)
        for j in range(k, stop):
            same &= indices[j] == own_indices[j]
        if not same:
            return False
        k = stop
    for j in range(data.shape[0]):
        own_data[j] = data[j]
    return True


@njit(cache=True)
def rows_sum_to_zero(indptr, data, tol):  # pragma: no cover - compiled
    """Whether every row's entries sum to at most ``tol`` times their absolute sum (a row of zeros
    does not count): ``A·1 = 0``.  Stops at the first row that does not, which on a matrix with a
    shift or a mass term is the first: free there."""
    for i in range(indptr.shape[0] - 1):
        s = 0.0
        m = 0.0
        for k in range(_IX(indptr[_IX(i)]), _IX(indptr[_IX(i) + _IX(1)])):
            v = data[k]
            s += v
            m += abs(v)
        if not abs(s) <= tol * m or m == 0.0:  # (NaN-safe: not ≤)
            return False
    return True


_WARM: list = []


def warmup() -> None:
    """Load the kernels (from Numba's cache, or compile them the first time on a machine) on a
    tiny system, once per process: at backend construction rather than inside a timed solve."""
    if _WARM:
        return
    indptr = np.array([0, 1, 2], dtype=np.int32)
    indices = np.array([0, 1], dtype=np.int32)
    data, v, r = np.ones(2), np.ones(2), np.empty(2)
    start(indptr, indices, data, v, v, r)
    residual(indptr, indices, data, v, v, r)
    copy_if_same_pattern(indptr, indices, data, indptr.copy(), indices.copy(), np.empty(2))
    rows_sum_to_zero(indptr, data, 0.0)
    _WARM.append(True)
