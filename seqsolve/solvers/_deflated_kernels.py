"""Numba kernels of the compiled deflated SSOR-PCG (Eisenstat's trick plus a recycled subspace).

Why a kernel of its own: deflation halves CG's iterations where a few slow modes dominate
(Fluid2D's pressure Poisson), but a Python loop around the sweeps costs 2–3× the compiled
SSOR-PCG per iteration and eats the gain.  Here the deflation is fused into the compiled loop.

Eisenstat space.  With ``E = D/ω + L`` SSOR-PCG on ``A x = b`` is CG on ``Â = E⁻¹ A E⁻ᵀ``
(``x = x₀ + E⁻ᵀ y``) preconditioned by ``D`` (see :mod:`.compiled`).  A recycled space ``W`` of the
original unknowns is ``Ŵ = Eᵀ W`` there, with ``Â Ŵ = E⁻¹ A W`` and the same coarse matrix
``Ŵᵀ Â Ŵ = Wᵀ A W``.  The deflated CG (Saad, Yeung, Erhel & Guyomarc'h 2000) then

* starts from ``y₀ = Ŵ μ``, ``μ = (ŴᵀÂŴ)⁻¹ Ŵᵀ r̂₀``, so the residual is orthogonal to ``Ŵ``;
* keeps every direction Â-orthogonal to ``Ŵ``: ``p = z + β p − Ŵ μ``, ``μ = (ŴᵀÂŴ)⁻¹ (ÂŴ)ᵀ z``.

Per iteration this adds ``k`` dot products ``(D ÂŴ)ᵀ r̂`` and ``k`` axpys ``Ŵ μ``.  The ``k`` vectors of a block are the rows of
a C-ordered ``k × n`` array, so each of these is a contiguous, vectorised pass (a short dot
product or an axpy) beside the sweeps, whose row-to-row chain stays as in the plain kernel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .compiled import _lower_norm, _lower_row, _upper_row  # shared with the plain kernel

# status codes, as in .compiled
_CONVERGED, _MAXITER, _BREAKDOWN, _INDEFINITE, _NAN = 0, 1, 2, 3, 4
_RUNNING = -1
STATUS_NAMES = ("converged", "maxiter", "breakdown", "indefinite", "nan")
_U = np.uintp  # unsigned indices: no negative-index branch in the hot loops (see .compiled)


@njit(cache=True, fastmath=False)
def _residual(indptr, indices, data, b, x, r):  # pragma: no cover - compiled
    """``r = b − A x``; returns ``r·r``."""
    rr = 0.0
    for i in range(b.shape[0]):
        s = 0.0
        for k in range(_U(indptr[i]), _U(indptr[i + 1])):
            s += data[k] * x[_U(indices[k])]
        ri = b[i] - s
        r[i] = ri
        rr += ri * ri
    return rr


@njit(cache=True, fastmath=False)
def _cholesky_solve(L, c):  # pragma: no cover - compiled
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
def _dot(u, v):  # pragma: no cover - compiled
    """``u·v``, vectorised: fastmath lets LLVM split the sum over several accumulators."""
    s = 0.0
    for i in range(u.shape[0]):
        s += u[i] * v[i]
    return s


@njit(cache=True, fastmath=True)
def _dot4(a, b, c, d, u, out, j):  # pragma: no cover - compiled
    """``out[j:j+4] = (a·u, b·u, c·u, d·u)`` in one pass over ``u``."""
    s0 = s1 = s2 = s3 = 0.0
    for i in range(u.shape[0]):
        ui = u[i]
        s0 += a[i] * ui
        s1 += b[i] * ui
        s2 += c[i] * ui
        s3 += d[i] * ui
    out[j], out[j + 1], out[j + 2], out[j + 3] = s0, s1, s2, s3


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
    _cholesky_solve(L, mu)


@njit(cache=True, fastmath=False)
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


@njit(cache=True, fastmath=False)
def _to_eisenstat_row(indptr, indices, data, inv_diag, diag_pos, omega, w, wh, awh, dawh):  # pragma: no cover - compiled
    """One vector: ``ŵ = Eᵀ w``, ``Âŵ = E⁻¹ A w`` and ``D Âŵ``."""
    for i in range(w.shape[0]):  # ŵ = (D/ω + U) w, and A w into awh
        kd = _U(diag_pos[i])
        lo = 0.0
        for k in range(_U(indptr[i]), kd):
            lo += data[k] * w[_U(indices[k])]
        up = 0.0
        for k in range(kd + _U(1), _U(indptr[i + 1])):
            up += data[k] * w[_U(indices[k])]
        wh[i] = w[i] / (omega * inv_diag[i]) + up
        awh[i] = lo + data[kd] * w[i] + up
    vi = 0.0
    for i in range(w.shape[0]):  # Âŵ = (D/ω + L)⁻¹ (A w)
        vi = _lower_row(indptr, indices, data, inv_diag, diag_pos, omega, awh[i], awh, i, vi)
        awh[i] = vi
        dawh[i] = vi / inv_diag[i]


@njit(cache=True, fastmath=False)
def to_eisenstat(indptr, indices, data, inv_diag, diag_pos, omega, W, Wh, AWh, DAWh):  # pragma: no cover - compiled
    """``Ŵ = Eᵀ W``, ``ÂŴ = E⁻¹ A W`` and ``D ÂŴ`` for the rows of ``W`` (the vectors)."""
    for j in range(W.shape[0]):
        _to_eisenstat_row(indptr, indices, data, inv_diag, diag_pos, omega, W[j], Wh[j], AWh[j], DAWh[j])


@njit(cache=True, fastmath=False)
def deflated_eisenstat(
    indptr, indices, data, inv_diag, diag_pos, b, x, omega, W, AW, DAW, L, rtol, atol, maxiter, max_restarts,
    T, coef, MU
):  # pragma: no cover - compiled
    """Deflated SSOR-PCG through Eisenstat's trick; ``x`` is updated in place.

    ``W``, ``AW``, ``DAW``: ``Ŵ``, ``ÂŴ`` and ``D ÂŴ`` (``m × n``, ``m = 0`` for none), ``L`` the
    Cholesky factor of ``ŴᵀÂŴ``.  For the Ritz harvest, the first ``T.shape[0]`` directions are
    stored in the original unknowns (``t = E⁻ᵀ p̂``, rows of ``T``) with the scalars that formed them:
    ``coef[s] = (r̂ᵀD r̂, β, p̂ᵀÂp̂)`` and ``MU[s] = μ`` (so ``p̂ = D r̂ + β p̂_prev − Ŵᵀμ``).  Stopping, restarts and
    statuses are those of :func:`seqsolve.solvers.compiled._eisenstat_kernel`; every (re)start
    is deflated.  Returns ``(iterations, status_code, true_residual_norm, restarts, stored)``.
    """
    n = b.shape[0]
    m = W.shape[0]
    store = T.shape[0]
    bb = _dot(b, b)
    bnorm = math.sqrt(bb)
    if not math.isfinite(bnorm):
        return 0, _NAN, bnorm, 0, 0
    if bnorm == 0.0:
        for i in range(n):
            x[i] = 0.0
        return 0, _CONVERGED, 0.0, 0, 0
    target = max(rtol * bnorm, atol)
    r = np.empty(n)
    rh = np.empty(n)
    p = np.empty(n)
    q = np.empty(n)
    t = np.empty(n)
    w = np.empty(n)
    y = np.empty(n)
    c = np.zeros(n)  # Ŵ μ (stays 0 without a recycled space)
    diag = np.empty(n)
    mu = np.zeros(m)
    for i in range(n):
        diag[i] = 1.0 / inv_diag[i]
    kappa = 1.0 - 2.0 / omega
    rr = _residual(indptr, indices, data, b, x, r)
    rnorm = math.sqrt(rr)
    if not math.isfinite(rnorm):
        return 0, _NAN, rnorm, 0, 0
    if rnorm <= target:
        return 0, _CONVERGED, rnorm, 0, 0
    it = 0
    restarts = 0
    kept = 0
    safety = 1.0
    while True:
        # r̂ = E⁻¹ r, then the deflated start: y = Ŵ μ, r̂ −= ÂŴ μ with μ = (ŴᵀÂŴ)⁻¹ Ŵᵀ r̂
        ri = 0.0
        for i in range(n):
            ri = _lower_row(indptr, indices, data, inv_diag, diag_pos, omega, r[i], rh, i, ri)
            rh[i] = ri
        stop = 4.0 * target * math.sqrt(_dot(rh, rh)) / rnorm  # from here on, r = E r̂ is checked
        _project(W, rh, L, mu)
        _combine(W, mu, y)
        if m > 0:
            _combine(AW, mu, c)
        hh = 0.0
        rz = 0.0
        for i in range(n):
            ri = rh[i] - c[i]
            rh[i] = ri
            hh += ri * ri
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
            hh = 0.0
            rz_new = 0.0
            for i in range(n):
                y[i] += alpha * p[i]
                ri = rh[i] - alpha * q[i]
                rh[i] = ri
                hh += ri * ri
                rz_new += diag[i] * ri * ri
            if not math.isfinite(hh):
                status = _NAN
                break
            if math.sqrt(hh) <= stop:
                # near the target: the residual in the original space, r = E r̂ (half a product)
                if _lower_norm(indptr, indices, data, diag, diag_pos, omega, rh) <= safety * target:
                    break
            _project(DAW, rh, L, mu)
            beta = rz_new / rz
            rz = rz_new
        # back to x: x += E⁻ᵀ y, then the true residual decides
        ti = 0.0
        for i in range(n - 1, -1, -1):
            ti = _upper_row(indptr, indices, data, inv_diag, diag_pos, omega, y[i], t, i, ti)
            t[i] = ti
        for i in range(n):
            x[i] += t[i]
        rr = _residual(indptr, indices, data, b, x, r)
        rnorm = math.sqrt(rr)
        if not math.isfinite(rnorm):
            return it, _NAN, rnorm, restarts, kept
        if status != _RUNNING:
            return it, status, rnorm, restarts, kept
        if rnorm <= target:
            return it, _CONVERGED, rnorm, restarts, kept
        if it >= maxiter:
            return it, _MAXITER, rnorm, restarts, kept
        if restarts >= max_restarts:
            return it, _BREAKDOWN, rnorm, restarts, kept
        restarts += 1
        safety *= 0.1
        store = kept  # the harvest's recurrences hold within one start only
