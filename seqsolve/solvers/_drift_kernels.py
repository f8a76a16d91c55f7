"""Compiled kernel for :mod:`seqsolve.solvers.fastdiag_reuse`: how a CSR matrix moved from a cached one.

One pass over both matrices (``O(nnz)``, no temporaries) measures how far ``A`` is from
``α·A₀ + β·I`` with ``α, β`` read off two probe entries (exact when ``A`` is such a combination),
and accumulates the moments of the least-squares fit (off-diagonal entries for ``α``, the trace
for ``β``) that a drifted ``A`` is followed by; the pattern is compared first, in a pass of its own.
Every loop is branch-free, with four partial results (lanes) per reduction so they pipeline:
this runs on every ``fastdiag-cg`` solve of a drifting sequence (3x faster than one branchy loop).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U = np.uintp  # unsigned indices: Numba skips its negative-index branch
_FAIL = (False, np.nan, np.nan, np.inf, 0.0, np.nan, np.nan)


@njit(cache=True, error_model="numpy")
def same_pattern(indptr, indices, indptr0, indices0):  # pragma: no cover - compiled
    """Whether two CSR patterns are equal (no early exit: the loops vectorise)."""
    if indptr.shape[0] != indptr0.shape[0] or indices.shape[0] != indices0.shape[0]:
        return False
    ok = True
    for i in range(indptr.shape[0]):
        ok &= indptr[_U(i)] == indptr0[_U(i)]
    for k in range(indices.shape[0]):
        ok &= indices[_U(k)] == indices0[_U(k)]
    return ok


@njit(cache=True, error_model="numpy")  # no off-diagonal entries: a nan fit, no exception
def fit_scalar_shift(indptr, indices, data, indptr0, indices0, data0, on_diagonal, diag_pos,
                     k_off, k_diag, same_known):  # pragma: no cover - compiled
    """``(same_pattern, exact_α, exact_β, max deviation, max|A|, fitted_α, fitted_β)``.

    ``on_diagonal[k]`` is 1 for a diagonal entry of the (shared) pattern, else 0; ``diag_pos[i]``
    the position of row ``i``'s diagonal entry (``-1``: none).  ``k_off``: the position of
    ``A₀``'s largest off-diagonal entry; ``k_diag``: of a diagonal entry (``-1``: none, then
    ``β = 0``).  The deviation is ``max|A − (exact_α·A₀ + exact_β·I)|``.  ``same_known``: the
    caller knows the patterns equal (its hashes of both) and the comparison is skipped."""
    if data.shape[0] != data0.shape[0] or not (same_known or same_pattern(indptr, indices, indptr0, indices0)):
        return _FAIL
    alpha = data[k_off] / data0[k_off]
    beta = data[k_diag] - alpha * data0[k_diag] if k_diag >= 0 else 0.0
    nnz = data.shape[0]
    # four partial results of each kind (lanes): the reductions do not wait on each other
    dev4, top4, cross4, norm4 = np.zeros(4), np.zeros(4), np.zeros(4), np.zeros(4)
    for k in range(nnz):
        lane = k & 3
        a, b = data[_U(k)], data0[_U(k)]
        dev4[lane] = max(dev4[lane], abs(a - alpha * b - beta * on_diagonal[_U(k)]))
        top4[lane] = max(top4[lane], abs(a))
        cross4[lane] += a * b
        norm4[lane] += b * b
    dev, amax = max(max(dev4[0], dev4[1]), max(dev4[2], dev4[3])), max(max(top4[0], top4[1]), max(top4[2], top4[3]))
    cross, norm0 = (cross4[0] + cross4[1]) + (cross4[2] + cross4[3]), (norm4[0] + norm4[1]) + (norm4[2] + norm4[3])
    trace = trace0 = 0.0
    for i in range(diag_pos.shape[0]):  # the diagonal: its moments leave the off-diagonal fit
        p = diag_pos[_U(i)]
        if p >= 0:
            a, b = data[_U(p)], data0[_U(p)]
            trace += a
            trace0 += b
            cross -= a * b
            norm0 -= b * b
    fitted = cross / norm0
    n = indptr.shape[0] - 1
    return True, alpha, beta, dev, amax, fitted, (trace - fitted * trace0) / n


@njit(cache=True)
def probes(indptr, indices, data):  # pragma: no cover - compiled
    """What :class:`~seqsolve.solvers.fastdiag_reuse.Snapshot` keeps of a CSR matrix, in one pass
    (NumPy needs eight ``nnz``-long temporaries, up to 1 ms of a fastdiag-cg build):
    ``(on_diagonal, diag_pos, k_off, k_diag)`` — 1 per diagonal entry, else 0; per row the position
    of its diagonal entry (the last stored one; ``-1``: none); the position of the first largest
    ``|a_ij|`` off the diagonal among nonzeros (a NaN wins, as in ``np.argmax``; ``-1``: none); the
    position of the first diagonal entry (``-1``: none)."""
    n = indptr.shape[0] - 1
    on_diagonal = np.zeros(data.shape[0], np.uint8)
    diag_pos = np.full(n, -1, np.int64)
    k_off = k_diag = -1
    top = 0.0
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            if indices[k] == i:
                on_diagonal[k] = 1
                diag_pos[i] = k
                if k_diag < 0:
                    k_diag = k
            elif data[k] != 0:
                a = abs(data[k])
                if k_off < 0 or a > top or (a != a and top == top):
                    k_off, top = k, a
    return on_diagonal, diag_pos, k_off, k_diag


@njit(cache=True)
def axes_of_entries(indptr, indices, data, shape):  # pragma: no cover - compiled
    """Which grid axis each entry of a CSR matrix on a C-ordered grid of ``shape`` couples, in one pass:
    ``(axis, k_axes)``.  ``axis[k]`` is ``d`` when row and column differ in coordinate ``d`` alone (an
    entry of the axis-``d`` factor ``I⊗K_d⊗I``), ``D`` on the diagonal, ``D + 1`` when they differ in
    more than one coordinate (no Kronecker sum has such an entry); ``k_axes[d]`` is the position of
    the first largest ``|a_ij|`` on axis ``d`` among nonzeros (``-1``: none).  Run once per snapshot."""
    D = shape.shape[0]
    n = indptr.shape[0] - 1
    axis = np.empty(data.shape[0], np.uint8)
    k_axes = np.full(D, -1, np.int64)
    top = np.zeros(D)
    row = np.zeros(D, np.int64)  # row i's grid coordinates (odometer: the last axis fastest)
    col = np.zeros(D, np.int64)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            for d in range(D - 1, -1, -1):
                col[d] = j % shape[d]
                j //= shape[d]
            differ, which = 0, D
            for d in range(D):
                if col[d] != row[d]:
                    differ += 1
                    which = d
            ax = D if differ == 0 else (which if differ == 1 else D + 1)
            axis[k] = ax
            if ax < D and data[k] != 0:
                a = abs(data[k])
                if k_axes[ax] < 0 or a > top[ax]:
                    k_axes[ax], top[ax] = k, a
        for d in range(D - 1, -1, -1):
            row[d] += 1
            if row[d] < shape[d]:
                break
            row[d] = 0
    return axis, k_axes


@njit(cache=True, error_model="numpy")
def fit_axis_scales(indptr, indices, data, indptr0, indices0, data0, axis, diag_pos, k_axes, dref, offsets,
                    shape, same_known):  # pragma: no cover - compiled
    """``(same_pattern, α, β, max deviation, max|A|)`` of ``A ≈ β·I + Σ_d α_d·(I⊗K_d⊗I)``.

    The snapshot ``A₀`` is a Kronecker sum whose axis-``d`` part has the off-diagonal entries of
    ``A₀`` on axis ``d`` (``axis`` from :func:`axes_of_entries`) and the diagonal ``dref[offsets[d] +
    i_d]``.  ``α_d`` is read off the probe ``k_axes[d]`` (``1`` where an axis has none), ``β`` off
    row 0's diagonal (every row has one: ``diag_pos``), and the deviation of every entry from the
    model is measured in one pass: an entry coupling several axes must be zero."""
    D = shape.shape[0]
    if data.shape[0] != data0.shape[0] or not (same_known or same_pattern(indptr, indices, indptr0, indices0)):
        return False, np.full(D, np.nan), np.nan, np.inf, 0.0
    coef = np.zeros(D + 2)  # per axis code: α_d, then 0 for the diagonal and for other entries
    for d in range(D):
        k = k_axes[d]
        coef[d] = data[k] / data0[k] if k >= 0 else 1.0
    beta = data[diag_pos[0]]
    for d in range(D):
        beta -= coef[d] * dref[offsets[d]]
    # off the diagonal, one flat pass (a diagonal entry's deviation is masked here, measured below)
    nnz = data.shape[0]
    dev4, top4 = np.zeros(4), np.zeros(4)
    for k in range(nnz):
        lane = k & 3
        ax = axis[_U(k)]
        a = data[_U(k)]
        dev4[lane] = max(dev4[lane], abs(a - coef[_U(ax)] * data0[_U(k)]) * (ax != D))
        top4[lane] = max(top4[lane], abs(a))
    dev, amax = max(max(dev4[0], dev4[1]), max(dev4[2], dev4[3])), max(max(top4[0], top4[1]), max(top4[2], top4[3]))
    # the diagonal: row i at grid coordinates (i_1, …, i_D), counted as an odometer (the last axis fastest)
    n = indptr.shape[0] - 1
    row = np.zeros(D, np.int64)
    for i in range(n):
        dv = beta
        for d in range(D):
            dv += coef[d] * dref[offsets[d] + row[d]]
        dev = max(dev, abs(data[_U(diag_pos[_U(i)])] - dv))
        for d in range(D - 1, -1, -1):
            row[d] += 1
            if row[d] < shape[d]:
                break
            row[d] = 0
    return True, coef[:D].copy(), beta, dev, amax
