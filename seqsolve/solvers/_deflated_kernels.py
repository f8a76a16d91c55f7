"""Numba kernels of the compiled deflated SSOR-PCG (Eisenstat's trick plus a recycled subspace).

Why a kernel of its own: deflation halves CG's iterations where a few slow modes dominate
(Fluid2D's pressure Poisson), but the deflation's extra vector work must be paid inside the loop
at the price of the arithmetic alone, or it eats the gain.

Eisenstat space.  With ``E = D/ω + L`` SSOR-PCG on ``A x = b`` is CG on ``Â = E⁻¹ A E⁻ᵀ``
(``x = x₀ + E⁻ᵀ y``) preconditioned by ``D`` (see :mod:`.compiled`).  A recycled space ``W`` of the
original unknowns is ``Ŵ = Eᵀ W`` there, with ``Â Ŵ = E⁻¹ A W`` and the same coarse matrix
``Ŵᵀ Â Ŵ = Wᵀ A W``.  The deflated CG (Saad, Yeung, Erhel & Guyomarc'h 2000) then

* starts from ``y₀ = Ŵ μ``, ``μ = (ŴᵀÂŴ)⁻¹ Ŵᵀ r̂₀``, so the residual is orthogonal to ``Ŵ``;
* keeps every direction Â-orthogonal to ``Ŵ``: ``p = z + β p − Ŵ μ``, ``μ = (ŴᵀÂŴ)⁻¹ (ÂŴ)ᵀ z``.

Layout and fusion.  A block of ``m`` vectors is an ``n × m`` C-ordered array: row ``i`` holds the
``m`` entries of unknown ``i`` side by side.  Both products of an iteration then ride along loops
the plain kernel already makes: ``(Ŵμ)_i`` is a short contiguous dot product formed inside the
backward sweep (off its row-to-row dependency chain), and the ``m`` dot products ``(DÂŴ)ᵀ r̂``
accumulate inside the residual update (an ``m``-wide SIMD axpy per row).  No separate passes over
``n``-vectors, and the recycled blocks are streamed once per iteration each.  The same layout turns
the per-matrix transform (``Ŵ``, ``ÂŴ`` for ``m`` vectors) into one sweep whose inner loops run
over the ``m`` vectors: ``m`` independent dependency chains side by side instead of ``m`` sweeps.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .compiled import (  # shared with the plain kernel
    _after_true_residual,
    _eisenstat_finish,
    _eisenstat_step,
    _lower_norm,
    _lower_row,
    _lower_solve,
    _residual,
    _rhs_norm,
    _start,
    _upper_row,
)

# status codes, as in .compiled
_CONVERGED, _MAXITER, _BREAKDOWN, _INDEFINITE, _NAN = 0, 1, 2, 3, 4
_RUNNING = -1
STATUS_NAMES = ("converged", "maxiter", "breakdown", "indefinite", "nan")
_U = np.uintp  # unsigned indices: no negative-index branch in the hot loops (see .compiled)


@njit(cache=True, fastmath=False)
def cholesky_solve(L, c):  # pragma: no cover - compiled
    """``c ← (L Lᵀ)⁻¹ c`` in place for a small lower-triangular ``L``."""
    m = c.shape[0]
    for i in range(m):
        s = c[i]
        for j in range(i):
            s -= L[i, j] * c[j]
        c[i] = s / L[i, i]
    for i in range(m - 1, -1, -1):
        s = c[i]
        for j in range(i + 1, m):
            s -= L[j, i] * c[j]
        c[i] = s / L[i, i]


@njit(cache=True, fastmath=True)
def _dot4(a, b, c, d, u, out, j):  # pragma: no cover - compiled
    """``out[j:j+4] = (a·u, b·u, c·u, d·u)`` in one pass over ``u`` (fastmath: several SIMD accumulators)."""
    s0 = s1 = s2 = s3 = 0.0
    for i in range(u.shape[0]):
        ui = u[i]
        s0 += a[i] * ui
        s1 += b[i] * ui
        s2 += c[i] * ui
        s3 += d[i] * ui
    out[j], out[j + 1], out[j + 2], out[j + 3] = s0, s1, s2, s3


@njit(cache=True, fastmath=True)
def _dot(a, u):  # pragma: no cover - compiled
    s = 0.0
    for i in range(u.shape[0]):
        s += a[i] * u[i]
    return s


@njit(cache=True, fastmath=False)
def _project(V, u, L, mu):  # pragma: no cover - compiled
    """``mu = (L Lᵀ)⁻¹ V u`` for the rows of ``V`` (four rows per pass over ``u``)."""
    m = V.shape[0]
    j = 0
    while j + 4 <= m:
        _dot4(V[j], V[j + 1], V[j + 2], V[j + 3], u, mu, j)
        j += 4
    while j < m:
        mu[j] = _dot(V[j], u)
        j += 1
    cholesky_solve(L, mu)


@njit(cache=True, fastmath=True)
def _combine(V, mu, out):  # pragma: no cover - compiled
    """``out = Vᵀ mu`` (``0`` for an empty ``V``): four rows of ``V`` per pass over ``out``."""
    n = out.shape[0]
    m = V.shape[0]
    j = m % 4
    for i in range(n):
        s = 0.0
        for jj in range(j):
            s += mu[jj] * V[jj, i]
        out[i] = s
    while j < m:
        c0, c1, c2, c3 = mu[j], mu[j + 1], mu[j + 2], mu[j + 3]
        a, b, c, d = V[j], V[j + 1], V[j + 2], V[j + 3]
        for i in range(n):
            out[i] += (c0 * a[i] + c1 * b[i]) + (c2 * c[i] + c3 * d[i])
        j += 4


@njit(cache=True, fastmath=True)
def to_eisenstat(indptr, indices, data, inv_diag, diag_pos, omega, W, H, S, Wh, AWh, DAWh):  # pragma: no cover - compiled
    """``Ŵ = Eᵀ W``, ``ÂŴ = E⁻¹ A W`` and ``D ÂŴ`` for a block of ``m`` vectors, in one pass over the matrix.

    ``W`` and the scratch blocks ``H`` (``Ŵ``) and ``S`` (``ÂŴ``) are ``n × m`` (row ``i``: the
    ``m`` vectors' entries at unknown ``i``), so every inner loop runs over the ``m`` vectors: each
    matrix entry is read once for all of them, and the forward sweep carries ``m`` independent
    dependency chains side by side (about 3× faster than ``m`` single-vector passes).  Row ``i``
    accumulates ``a_ii W_i + Σ_{c<i} a_ic (W_c − (ÂŴ)_c) + Σ_{c>i} a_ic W_c`` (rows ``c < i`` of
    ``ÂŴ`` are final) and scales it by ``ω / a_ii``.  Every 64 rows the finished tile, still in
    L1, is written transposed into the loop's ``m × n`` outputs ``Wh``, ``AWh``, ``DAWh`` (whose
    dtype may be narrower); writing them row by row instead cost as much as the sweep itself.
    """
    n, m = W.shape
    tile = 64
    for i0 in range(0, n, tile):
        i1 = min(n, i0 + tile)
        for i in range(i0, i1):
            kd = _U(diag_pos[i])
            dd = 1.0 / (omega * inv_diag[i])
            a = data[kd]
            wi, hi, si = W[i], H[i], S[i]
            for j in range(m):
                hi[j] = dd * wi[j]
                si[j] = a * wi[j]
            for k in range(_U(indptr[i]), kd):
                a = data[k]
                c = _U(indices[k])
                wc, sc = W[c], S[c]
                for j in range(m):
                    si[j] += a * (wc[j] - sc[j])
            for k in range(kd + _U(1), _U(indptr[i + 1])):
                a = data[k]
                wc = W[_U(indices[k])]
                for j in range(m):
                    u = a * wc[j]
                    hi[j] += u
                    si[j] += u
            g = omega * inv_diag[i]
            for j in range(m):
                si[j] *= g
        for j in range(m):
            oh, oa, od = Wh[j], AWh[j], DAWh[j]
            for i in range(i0, i1):
                v = S[i, j]
                oh[i] = H[i, j]
                oa[i] = v
                od[i] = v / inv_diag[i]


@njit(cache=True, fastmath=False)
def deflated_eisenstat(
    indptr, indices, data, inv_diag, diag_pos, b, x, omega, W, AW, DAW, L, rtol, atol, maxiter, max_restarts,
    T, coef, MU, r, mag, work
):  # pragma: no cover - compiled
    """Deflated SSOR-PCG through Eisenstat's trick; ``x`` is updated in place.

    ``W``, ``AW``, ``DAW``: ``Ŵ``, ``ÂŴ`` and ``D ÂŴ`` (``m × n``, rows the vectors, ``m = 0`` for none), ``L`` the
    Cholesky factor of ``ŴᵀÂŴ``.  For the Ritz harvest, the first ``T.shape[0]`` directions are
    stored in the original unknowns (``t = E⁻ᵀ p̂``, rows of ``T``) with the scalars that formed them:
    ``coef[s] = (r̂ᵀD r̂, β, p̂ᵀÂp̂)`` and ``MU[s] = μ`` (so ``p̂ = D r̂ + β p̂_prev − Ŵμ``).  Stopping, restarts and
    statuses are those of :func:`seqsolve.solvers.compiled._eisenstat_kernel`; every (re)start
    is deflated.  The last true residual is the certified check's own pass (``r``, ``mag``).
    ``work`` (``8 × n``) holds the loop's vectors: the caller keeps it between solves, as fresh
    megabyte-sized arrays cost page faults on their first touch (they made the per-matrix
    transform 3× slower).
    Returns ``(iterations, status_code, true_residual_norm, restarts, stored, terms, r·r, mag·mag)``.
    """
    n = b.shape[0]
    m = W.shape[0]
    store = T.shape[0]
    bnorm = _rhs_norm(b, x)
    if not math.isfinite(bnorm):
        return 0, _NAN, bnorm, 0, 0, 0, 0.0, 0.0
    if bnorm == 0.0:
        return 0, _CONVERGED, 0.0, 0, 0, 0, 0.0, 0.0
    target = max(rtol * bnorm, atol)
    rh, p, q, t, w, y, c, diag = work[0], work[1], work[2], work[3], work[4], work[5], work[6], work[7]
    c[:] = 0.0  # Ŵ μ (stays 0 without a recycled space)
    mu = np.zeros(m)
    for i in range(n):
        diag[i] = 1.0 / inv_diag[i]
    kappa = 1.0 - 2.0 / omega
    rr, terms, mm = _start(indptr, indices, data, b, bnorm, x, r, mag)  # (scaled first where far off: compiled._start)
    rnorm = math.sqrt(rr)
    if not math.isfinite(rnorm):
        return 0, _NAN, rnorm, 0, 0, terms, rr, mm
    if rnorm <= target:
        return 0, _CONVERGED, rnorm, 0, 0, terms, rr, mm
    it = 0
    restarts = 0
    kept = 0
    safety = 1.0
    while True:
        _lower_solve(indptr, indices, data, inv_diag, diag_pos, omega, r, rh)  # r̂ = E⁻¹ r
        hh = 0.0
        for i in range(n):
            hh += rh[i] * rh[i]
        stop = 4.0 * target * math.sqrt(hh) / rnorm  # from here on, r = E r̂ is checked
        # the deflated start: y = Ŵ μ, r̂ −= ÂŴ μ with μ = (ŴᵀÂŴ)⁻¹ Ŵᵀ r̂
        _project(W, rh, L, mu)
        _combine(W, mu, y)
        if m > 0:
            _combine(AW, mu, c)
        rz = 0.0
        for i in range(n):
            ri = rh[i] - c[i]
            rh[i] = ri
            rz += diag[i] * ri * ri
            p[i] = 0.0
        _project(DAW, rh, L, mu)  # the first direction's projection: μ = (ŴᵀÂŴ)⁻¹ (ÂŴ)ᵀ D r̂
        beta = 0.0
        status = _RUNNING
        while it < maxiter:
            if not math.isfinite(rz):
                status = _NAN
                break
            if rz <= 0.0:
                status = _INDEFINITE if rz < 0.0 else _BREAKDOWN
                break
            # p = D r̂ + β p − Ŵ μ fused with the backward sweep t = E⁻ᵀ p
            if m > 0:
                _combine(W, mu, c)
            ti = 0.0
            for i in range(n - 1, -1, -1):
                pi = diag[i] * rh[i] + beta * p[i] - c[i]
                p[i] = pi
                ti = _upper_row(indptr, indices, data, inv_diag, diag_pos, omega, pi, t, i, ti)
                t[i] = ti
            # q = Â p = t + E⁻¹(p + κ D t), fused with p·q
            pq = 0.0
            wi = 0.0
            for i in range(n):
                wi = _lower_row(indptr, indices, data, inv_diag, diag_pos, omega, p[i] + kappa * diag[i] * t[i],
                                w, i, wi)
                w[i] = wi
                qi = t[i] + wi
                q[i] = qi
                pq += p[i] * qi
            if not math.isfinite(pq):
                status = _NAN
                break
            if pq <= 0.0:
                status = _INDEFINITE
                break
            if kept < store:
                T[kept] = t
                coef[kept, 0], coef[kept, 1], coef[kept, 2] = rz, beta, pq
                for j in range(m):
                    MU[kept, j] = mu[j]
                kept += 1
            alpha = rz / pq
            it += 1
            hh, rz_new = _eisenstat_step(y, rh, p, q, diag, alpha)
            if not math.isfinite(hh):
                status = _NAN
                break
            if math.sqrt(hh) <= stop:
                # near the target: the residual in the original space, r = E r̂ (half a product)
                if _lower_norm(indptr, indices, data, diag, diag_pos, omega, rh) <= safety * target:
                    break
            _project(DAW, rh, L, mu)  # the next projection: μ = (ŴᵀÂŴ)⁻¹ (ÂŴ)ᵀ D r̂
            beta = rz_new / rz
            rz = rz_new
        # back to x: x += E⁻ᵀ y, then the true residual decides
        rr, terms, mm = _eisenstat_finish(indptr, indices, data, inv_diag, diag_pos, omega, y, t, x, b, r, mag)
        rnorm = math.sqrt(rr)
        code = _after_true_residual(it, status, rnorm, target, maxiter, restarts, max_restarts)
        if code != _RUNNING:
            return it, code, rnorm, restarts, kept, terms, rr, mm
        restarts += 1
        safety *= 0.1
        store = kept  # the harvest's recurrences hold within one start only


# ------------------------------------------------------------------------------ subdomain deflation
# The coarse space is piecewise constant on aggregates (Nicolaides 1987): W[i, agg[i]] = 1.  Its
# products are sparse, so the deflation costs O(n) per iteration whatever the number of aggregates
# (see .deflated_subdomains).


@njit(cache=True, fastmath=False)
def _merge(j, v, cols, vals, cnt):  # pragma: no cover - compiled
    """Add ``v`` to subdomain ``j``'s slot among the ``cnt`` of a row (a row touches a handful)."""
    for s in range(cnt):
        if cols[s] == j:
            vals[s] += v
            return cnt
    cols[cnt] = j
    vals[cnt] = v
    return cnt + 1


@njit(cache=True, fastmath=False)
def subdomain_products(indptr, indices, data, inv_diag, diag_pos, omega, agg, m, most, buf_i, buf_v,
                       wown, E):  # pragma: no cover - compiled
    """The coarse space's products for one matrix, in the loop's layouts (see :func:`subdomain_eisenstat`).

    Row ``i`` of ``A W`` is ``Σ_c a_ic e_agg(c)`` and of ``Ŵ = Eᵀ W`` is ``(a_ii/ω) e_agg(i) + Σ_{c>i}
    a_ic e_agg(c)``, both merged per subdomain.  Writes ``A W`` by columns into ``buf_i[0:2]`` /
    ``buf_v[0]`` (rows, values; exact zeros left out: a zero-row-sum operator has none inside a
    subdomain), ``Ŵ`` as ``wown`` plus its cross entries into ``buf_i[2:4]`` / ``buf_v[1]``, and
    ``E = WᵀAW``.  The buffers (``4 × nnz`` integers, ``3 × nnz`` values) are the caller's, kept
    between matrices (fresh ones cost page faults).  Returns ``(aw_ptr, naw, nx)``.
    """
    n = indptr.shape[0] - 1
    cols = np.empty(most, dtype=np.int64)
    vals = np.empty(most)
    E[:, :] = 0.0
    wown[:] = 0.0
    count = np.zeros(m + 1, dtype=np.int64)
    row, col, aw_row, xrow, xcol = buf_i[0], buf_i[1], buf_i[4], buf_i[2], buf_i[3]
    val, xval, aw_val = buf_v[2], buf_v[1], buf_v[0]
    naw = 0
    nxe = 0
    for i in range(n):
        ai = agg[i]
        cnt = 0
        for k in range(_U(indptr[i]), _U(indptr[i + 1])):
            j = agg[_U(indices[k])]
            if j >= 0:
                cnt = _merge(j, data[k], cols, vals, cnt)
        for s in range(cnt):
            if vals[s] != 0.0:
                row[naw], col[naw], val[naw] = i, cols[s], vals[s]
                count[cols[s] + 1] += 1
                naw += 1
                if ai >= 0:
                    E[ai, cols[s]] += vals[s]
        cnt = 0
        if ai >= 0:
            cnt = _merge(ai, 1.0 / (omega * inv_diag[i]), cols, vals, 0)
        for k in range(_U(diag_pos[i]) + _U(1), _U(indptr[i + 1])):
            j = agg[_U(indices[k])]
            if j >= 0:
                cnt = _merge(j, data[k], cols, vals, cnt)
        for s in range(cnt):
            if cols[s] == ai:
                wown[i] = vals[s]
            else:
                xrow[nxe], xcol[nxe], xval[nxe] = i, cols[s], vals[s]
                nxe += 1
    for j in range(m):
        count[j + 1] += count[j]
    aw_ptr = count.copy()
    for e in range(naw):  # by columns, rows ascending within each
        c = col[e]
        aw_row[count[c]] = row[e]
        aw_val[count[c]] = val[e]
        count[c] += 1
    return aw_ptr, naw, nxe


#: a coarse pivot this small beside its diagonal entry is rounding about zero: a null direction
_NULL_PIVOT = 1e-10
#: what such a pivot is replaced by, times the diagonal entry's root: its coordinate solves to ~0
_HUGE_PIVOT = 1e30


@njit(cache=True, fastmath=False)
def skyline_cholesky(E, L, first):  # pragma: no cover - compiled
    """Cholesky factor ``L`` of the SPD ``E`` within its envelope (row ``i`` from its first nonzero
    ``first[i]``; the factor has no fill outside it): ``O(Σ bandwidth²)``.  ``L`` (``m × m``) and
    ``first`` are written; entries of ``L`` outside the envelope are not touched (never read).

    A pivot that vanishes to rounding (within ``_NULL_PIVOT`` of its diagonal entry) is a null
    direction of a semidefinite ``E``: a singular pure-Neumann ``A`` whose null space (the
    constants) the subdomains' indicators span.  It is made huge, so that the solves with ``L``
    set that coordinate to ~0: ``E``'s pseudo-inverse on the consistent right-hand sides
    ``Wᵀr`` (``r ⊥`` the null space) that deflation forms.  Such pivots came out of rounding
    either side of zero, and a negative one failed the build on one system in three.  Returns
    False when a pivot is clearly negative or not finite (``E`` not positive semidefinite)."""
    m = E.shape[0]
    for i in range(m):
        f = i
        for j in range(i):
            if E[i, j] != 0.0 or E[j, i] != 0.0:
                f = j
                break
        first[i] = f
    for i in range(m):
        for j in range(first[i], i + 1):
            s = 0.5 * (E[i, j] + E[j, i])
            for k in range(max(first[i], first[j]), j):
                s -= L[i, k] * L[j, k]
            if i == j:
                d = E[i, i]
                if not (d > 0.0 and math.isfinite(s)) or s < -_NULL_PIVOT * d:
                    return False
                L[i, i] = math.sqrt(s) if s > _NULL_PIVOT * d else _HUGE_PIVOT * math.sqrt(d)
            else:
                L[i, j] = s / L[j, j]
    return True


@njit(cache=True, fastmath=True)
def _row_dot(L, i, lo, c):  # pragma: no cover - compiled
    """``Σ_{lo ≤ j < i} L[i, j] c[j]`` (fastmath: vectorised)."""
    s = 0.0
    for j in range(lo, i):
        s += L[i, j] * c[j]
    return s


@njit(cache=True, fastmath=True)
def _row_axpy(L, i, lo, c, a):  # pragma: no cover - compiled
    """``c[lo:i] −= a L[i, lo:i]`` (fastmath: vectorised)."""
    for j in range(lo, i):
        c[j] -= L[i, j] * a


@njit(cache=True, fastmath=False)
def skyline_solve(L, first, c):  # pragma: no cover - compiled
    """``c ← (L Lᵀ)⁻¹ c`` for a Cholesky factor whose row ``i`` is zero left of ``first[i]``
    (the envelope of a band-ordered coarse matrix: O(k · bandwidth) instead of O(k²))."""
    m = first.shape[0]
    for i in range(m):
        c[i] = (c[i] - _row_dot(L, i, first[i], c)) / L[i, i]
    for i in range(m - 1, -1, -1):
        ci = c[i] / L[i, i]
        c[i] = ci
        _row_axpy(L, i, first[i], c, ci)


@njit(cache=True, fastmath=False)
def subdomain_eisenstat(
    indptr, indices, data, inv_diag, diag_pos, b, x, omega, agg, aw_ptr, aw_row, aw_val, wown, xrow, xcol, xval,
    L, first, rtol, atol, maxiter, max_restarts, r, mag, work
):  # pragma: no cover - compiled
    """SSOR-PCG through Eisenstat's trick, deflating the aggregates' piecewise-constant vectors.

    The deflated PCG of Saad, Yeung, Erhel & Guyomarc'h (2000) in the original space, mapped onto
    Eisenstat's loop (``r̂ = E⁻¹ r``, direction ``t = E⁻ᵀ p̂``): the backward sweep forms the
    undeflated ``t̃ = E⁻ᵀ(D r̂ + β p̂)``; then ``μ = (WᵀAW)⁻¹ (AW)ᵀ t̃``, and the forward loop deflates
    ``t = t̃ − W μ`` and ``p̂ = Eᵀ t = p̂̃ − Ŵ μ`` row by row just before it uses them.  Using ``t̃``
    instead of ``M⁻¹ r`` is exact (the previous direction is A-orthogonal to ``W``) and re-projects
    its rounding.  Every (re)start is deflated: ``x += W (WᵀAW)⁻¹ Wᵀ r``.

    The sparse products, laid out so that none carries a dependency through memory: ``agg``
    (subdomain per row; ``m``, a zero slot of ``μ``, for none), ``A W`` by columns (``aw_ptr``,
    ``aw_row``, ``aw_val``: each ``(AW)ᵀ t̃`` entry sums in a register), ``Ŵ`` as its own-subdomain
    coefficient per row (``wown``) plus the few entries coupling to a neighbouring subdomain
    (``xrow``, ``xcol``, ``xval``).  ``L`` is the Cholesky factor of ``WᵀAW`` with envelope
    ``first``; ``work`` is ``8 × n``.  Stopping, restarts and statuses are those of
    :func:`deflated_eisenstat`; returns ``(iterations, status, true_residual_norm, restarts,
    terms, r·r, mag·mag)``.
    """
    n = b.shape[0]
    m = L.shape[0]
    nx = xrow.shape[0]
    bnorm = _rhs_norm(b, x)
    if not math.isfinite(bnorm):
        return 0, _NAN, bnorm, 0, 0, 0.0, 0.0
    if bnorm == 0.0:
        return 0, _CONVERGED, 0.0, 0, 0, 0.0, 0.0
    target = max(rtol * bnorm, atol)
    rh, p, q, t, w, y = work[0], work[1], work[2], work[3], work[4], work[5]
    diag = work[7]
    mu = np.zeros(m + 1)  # mu[m] = 0: the slot of rows in no subdomain
    for i in range(n):
        diag[i] = 1.0 / inv_diag[i]
    kappa = 1.0 - 2.0 / omega
    rr, terms, mm = _start(indptr, indices, data, b, bnorm, x, r, mag)  # (scaled first where far off: compiled._start)
    rnorm = math.sqrt(rr)
    if not math.isfinite(rnorm):
        return 0, _NAN, rnorm, 0, terms, rr, mm
    if rnorm <= target:
        return 0, _CONVERGED, rnorm, 0, terms, rr, mm
    it = 0
    restarts = 0
    safety = 1.0
    while True:
        # the deflated start: x += W μ, r −= A W μ with μ = (WᵀAW)⁻¹ Wᵀ r
        mu[:] = 0.0
        for i in range(n):
            mu[agg[i]] += r[i]
        mu[m] = 0.0
        skyline_solve(L, first, mu)
        for i in range(n):
            x[i] += mu[agg[i]]
        for j in range(m):
            mj = mu[j]
            for e in range(aw_ptr[j], aw_ptr[j + 1]):
                r[aw_row[e]] -= aw_val[e] * mj
        _lower_solve(indptr, indices, data, inv_diag, diag_pos, omega, r, rh)  # r̂ = E⁻¹ r
        hh = 0.0
        rz = 0.0
        rr = 0.0
        for i in range(n):
            ri = rh[i]
            hh += ri * ri
            rz += diag[i] * ri * ri
            rr += r[i] * r[i]
            p[i] = 0.0
            y[i] = 0.0
        if rr == 0.0:
            rr = rnorm * rnorm
        stop = 4.0 * target * math.sqrt(hh / rr)  # from here on, r = E r̂ is checked
        beta = 0.0
        status = _RUNNING
        while it < maxiter:
            if not math.isfinite(rz):
                status = _NAN
                break
            if rz <= 0.0:
                status = _INDEFINITE if rz < 0.0 else _BREAKDOWN
                break
            # the undeflated direction p̂̃ = D r̂ + β p̂ and t̃ = E⁻ᵀ p̂̃ (the plain backward sweep)
            ti = 0.0
            for i in range(n - 1, -1, -1):
                pi = diag[i] * rh[i] + beta * p[i]
                p[i] = pi
                ti = _upper_row(indptr, indices, data, inv_diag, diag_pos, omega, pi, t, i, ti)
                t[i] = ti
            # μ = (WᵀAW)⁻¹ (AW)ᵀ t̃, then the cross-subdomain part of p̂ −= Ŵ μ
            for j in range(m):
                s = 0.0
                for e in range(aw_ptr[j], aw_ptr[j + 1]):
                    s += aw_val[e] * t[aw_row[e]]
                mu[j] = s
            skyline_solve(L, first, mu)
            for e in range(nx):
                p[xrow[e]] -= xval[e] * mu[xcol[e]]
            # deflate row by row (t = t̃ − μ_agg, p̂ −= own part of Ŵμ), then q = Â p = t + E⁻¹(p + κ D t), p·q
            pq = 0.0
            wi = 0.0
            for i in range(n):
                ma = mu[agg[i]]
                tt = t[i] - ma
                pi = p[i] - wown[i] * ma
                p[i] = pi
                wi = _lower_row(indptr, indices, data, inv_diag, diag_pos, omega, pi + kappa * diag[i] * tt,
                                w, i, wi)
                w[i] = wi
                qi = tt + wi
                q[i] = qi
                pq += pi * qi
            if not math.isfinite(pq):
                status = _NAN
                break
            if pq <= 0.0:
                status = _INDEFINITE
                break
            alpha = rz / pq
            it += 1
            hh, rz_new = _eisenstat_step(y, rh, p, q, diag, alpha)
            if not math.isfinite(hh):
                status = _NAN
                break
            if math.sqrt(hh) <= stop:
                # near the target: the residual in the original space, r = E r̂ (half a product)
                if _lower_norm(indptr, indices, data, diag, diag_pos, omega, rh) <= safety * target:
                    break
            beta = rz_new / rz
            rz = rz_new
        # back to x: x += E⁻ᵀ y, then the true residual decides
        rr, terms, mm = _eisenstat_finish(indptr, indices, data, inv_diag, diag_pos, omega, y, t, x, b, r, mag)
        rnorm = math.sqrt(rr)
        code = _after_true_residual(it, status, rnorm, target, maxiter, restarts, max_restarts)
        if code != _RUNNING:
            return it, code, rnorm, restarts, terms, rr, mm
        restarts += 1
        safety *= 0.1


@njit(cache=True, fastmath=False)
def greedy_aggregate(indptr, indices, target):  # pragma: no cover - compiled
    """Subdomains of about ``target`` connected unknowns, grown breadth-first from the lowest free index.

    Rows without off-diagonal entries get ``-1`` (no subdomain).  A subdomain that could not grow
    past ``target // 4`` (boxed in by its neighbours) is dissolved into the neighbouring ones, node
    by node.  Returns ``(agg, count)``; ``O(nnz)``.
    """
    n = indptr.shape[0] - 1
    agg = np.full(n, -1, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    sizes = np.zeros(n + 1, dtype=np.int64)
    count = 0
    for s in range(n):
        if agg[s] >= 0:
            continue
        coupled = False
        for k in range(indptr[s], indptr[s + 1]):
            if indices[k] != s:
                coupled = True
                break
        if not coupled:
            continue
        head, tail, size = 0, 1, 1
        queue[0] = s
        agg[s] = count
        while head < tail and size < target:
            i = queue[head]
            head += 1
            for k in range(indptr[i], indptr[i + 1]):
                c = indices[k]
                if c != i and agg[c] < 0 and size < target:
                    agg[c] = count
                    queue[tail] = c
                    tail += 1
                    size += 1
        sizes[count] = size
        count += 1
    small = max(1, target // 4)
    for i in range(n):  # dissolve the fragments into a neighbouring full subdomain
        a = agg[i]
        if a < 0 or sizes[a] >= small:
            continue
        for k in range(indptr[i], indptr[i + 1]):
            c = indices[k]
            b = agg[c]
            if b >= 0 and sizes[b] >= small:
                agg[i] = b
                break
    # renumber densely (dissolved subdomains leave gaps)
    new = np.full(count, -1, dtype=np.int64)
    m = 0
    for i in range(n):
        a = agg[i]
        if a >= 0:
            if new[a] < 0:
                new[a] = m
                m += 1
            agg[i] = new[a]
    return agg, m


@njit(cache=True, fastmath=False)
def coupling_pattern(indptr, indices, data, agg, m):  # pragma: no cover - compiled
    """The pattern of the subdomains' coupling ``Rᵀ|A|R`` (``R``: the 0/1 subdomain indicators of
    ``agg``) as CSR ``(indptr, indices)`` of an ``m × m`` matrix: ``s`` and ``t`` are coupled where
    a row of ``s`` holds a nonzero entry in a column of ``t``.  One pass over ``A``'s entries,
    rows taken subdomain by subdomain (a counting sort); SciPy's two sparse products for the same
    pattern cost 15 ms on a 33k-unknown P1 mass matrix."""
    n = agg.shape[0]
    start = np.zeros(m + 1, dtype=np.int64)
    for i in range(n):
        if agg[i] >= 0:
            start[agg[i] + 1] += 1
    for s in range(m):
        start[s + 1] += start[s]
    rows = np.empty(start[m], dtype=np.int64)
    fill = start[:m].copy()
    for i in range(n):
        a = agg[i]
        if a >= 0:
            rows[fill[a]] = i
            fill[a] += 1
    marker = np.full(m, -1, dtype=np.int64)
    out_ptr = np.zeros(m + 1, dtype=np.int64)
    out = np.empty(indices.shape[0], dtype=np.int64)  # (at most one entry per entry of A)
    pos = 0
    for s in range(m):
        for r in range(start[s], start[s + 1]):
            i = rows[r]
            for k in range(indptr[i], indptr[i + 1]):
                t = agg[indices[k]]
                if t >= 0 and marker[t] != s and data[k] != 0.0:
                    marker[t] = s
                    out[pos] = t
                    pos += 1
        out_ptr[s + 1] = pos
    return out_ptr, out[:pos].copy()
