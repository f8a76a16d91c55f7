"""Compiled (Numba) preconditioned conjugate gradient on CSR arrays.

Why this kernel exists
----------------------
For the systems seqsolve targets (10^4-10^5 unknowns, 10-300 CG iterations per system,
thousands of systems per sequence) one CG iteration is only a few tens of microseconds of
arithmetic, so what happens between the arithmetic matters.  Profile on the development
machine (Heat2D matrix ``I - (c dt/2) L``, nx = 100: n = 9801, nnz = 48 609; one thread;
``benchmarks/compiled_pcg.py``, best-of-repeats, the machine otherwise idle):

=====================================  ==============  =====================
solver                                 us / iteration  iteration / A @ x
=====================================  ==============  =====================
one SciPy ``A @ x`` (reference)        ~22             1
``scipy.sparse.linalg.cg``             ~38-41          ~1.75
SciPy cg + SSOR (PyAMG sweeps)         ~220-235        ~10
compiled, no preconditioner            ~28-30          ~1.3
compiled, Jacobi                       ~30-31          ~1.35
compiled, SSOR                         ~75-85          ~3.5-3.9
=====================================  ==============  =====================

So SciPy's CG spends ~40% of each iteration outside the matvec (Python, separate NumPy passes,
temporaries) and the SSOR path ~90%: besides the ``LinearOperator`` wrapping, PyAMG's
``sor_gauss_seidel`` divides by the diagonal inside the row-to-row dependency chain, so its two
sweeps cost ~180 us against ~40 us here.  On a loaded machine the SciPy numbers rise to ~60 and
~330 us (the orientation figures this module was planned with).  The matvec itself is as fast
as SciPy's, so plain CG gains ~1.35x per iteration and SSOR-PCG ~2.8x.

The loop here is a single compiled function: the matvec is fused with ``p^T A p``, the
``x``/``r`` updates with ``||r||^2`` (and, for Jacobi, with ``z = D^{-1} r`` and ``r^T z``; for
SSOR, with the forward sweep, and the backward sweep with ``r^T z``).  The SSOR sweeps touch
only the strictly lower / upper part of each row through a precomputed diagonal position, and
keep the row-to-row dependency chain to one multiply and one subtraction (see
:func:`_forward_row`).

Preconditioners
---------------
``"none"``, ``"jacobi"`` (``M = D``) and ``"ssor"`` with ``0 < omega < 2``::

    M^{-1} r = omega (2 - omega) (D + omega U)^{-1} D (D + omega L)^{-1} r

which is exactly one forward SOR sweep from zero followed by one backward SOR sweep (as
PyAMG's ``sor_gauss_seidel`` forward + backward computes); for symmetric ``A`` with positive
diagonal it is symmetric positive definite, so PCG is valid.

Stopping and statuses
---------------------
The loop stops when the recursively updated residual satisfies
``||r|| <= max(rtol ||b||, atol)``; then the TRUE residual ``b - A x`` is computed.  If it misses
the target (recurrence drift), CG restarts from the current ``x`` with the true residual, up to
``MAX_RESTARTS`` times.  ``status`` is one of:

* ``"converged"`` - the true residual meets the target (``converged`` is True only then);
* ``"maxiter"`` - the iteration budget (restarts included) ran out;
* ``"indefinite"`` - ``p^T A p <= 0`` or ``r^T M^{-1} r < 0``: ``A`` (or the diagonal the
  preconditioner is built from) is not positive definite;
* ``"breakdown"`` - ``r^T M^{-1} r == 0`` with a nonzero residual, or the true residual still
  missed the target after ``MAX_RESTARTS`` restarts (stagnation at rounding level: the requested
  tolerance is below what this matrix allows in float64);
* ``"nan"`` - a NaN/Inf appeared (in ``b``, ``x0`` or during the iteration; a non-finite
  ``A`` is rejected by :func:`prepare`).

On every status the returned ``x`` is the last iterate and ``residual_norm`` its true residual.

Numba
-----
Numba is a hard dependency of this module.  Kernels are compiled with ``cache=True`` (the
machine code is stored next to this file in ``__pycache__``), so the compile cost, a few seconds,
is paid once per machine, not per process.  All kernels are serial (no ``parallel=True``), so
thread settings do not matter.  Index arrays are converted once, in :func:`prepare`, to int32
when the matrix fits (always, below 2^31 stored entries) and int64 otherwise, so the hot path
is compiled for one index type only.

The ``A`` given to :func:`pcg` is assumed symmetric; symmetry is not checked (that costs as much
as several iterations).  For repeated solves with one matrix call :func:`prepare` once and pass
the :class:`PreparedMatrix` to :func:`pcg`; then a call costs a few microseconds of Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numba import njit

from .._residual_kernels import residual_with_bound
from ..accuracy import ResidualPass
from ..errors import ConfigurationError, InvalidSystemError, UnsupportedTypeError
from .base import START_SCALE_BAND, Callback, IterationResult, Method

__all__ = [
    "CompiledResult",
    "PreparedMatrix",
    "PRECONDITIONERS",
    "MAX_RESTARTS",
    "prepare",
    "pcg",
    "csr_matvec",
    "csr_matvec_kernel",
    "CompiledPCG",
    "warmup",
]

#: valid ``preconditioner`` names, mapped to the kernel's integer code
PRECONDITIONERS: dict[str, int] = {"none": 0, "jacobi": 1, "ssor": 2}
#: how many times the loop may restart from the true residual after recurrence drift
MAX_RESTARTS: int = 3

# kernel status codes
_CONVERGED, _MAXITER, _BREAKDOWN, _INDEFINITE, _NAN = 0, 1, 2, 3, 4
_RUNNING = -1
_STATUS_NAMES = ("converged", "maxiter", "breakdown", "indefinite", "nan")

_INT32_MAX = np.iinfo(np.int32).max
_F64, _I32 = np.dtype(np.float64), np.dtype(np.int32)  # compared by identity (native byte order)
# Indices are stored signed (like SciPy) but cast to unsigned where they index: Numba emits a
# negative-index wrap-around branch for every signed index, which made the matvec 2x slower
# than SciPy's; unsigned indices skip it.  Only diag_pos may be -1, and never where it indexes.
_U = np.uintp


# --------------------------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------------------------


@njit(cache=True, fastmath=False)
def csr_matvec_kernel(indptr, indices, data, x, out):  # pragma: no cover - compiled
    """``out = A @ x`` for CSR arrays (jitted; ``out`` must not alias ``x``)."""
    n = indptr.shape[0] - 1
    for i in range(n):
        s = 0.0
        for k in range(_U(indptr[i]), _U(indptr[i + 1])):
            s += data[k] * x[_U(indices[k])]
        out[i] = s


@njit(cache=True, fastmath=False)
def _find_diagonal(indptr, indices, diag_pos):  # pragma: no cover - compiled
    """Fill ``diag_pos`` (-1 where missing) of a canonical (sorted) CSR pattern; returns how many
    are missing.  Depends on the pattern only: :func:`prepare` reuses it along a sequence."""
    n = indptr.shape[0] - 1
    missing = 0
    for i in range(n):
        p = -1
        for k in range(_U(indptr[i]), _U(indptr[i + 1])):
            j = indices[k]
            if j >= i:  # sorted: the diagonal is here or missing
                if j == i:
                    p = k
                break
        diag_pos[i] = p
        if p < 0:
            missing += 1
    return missing


@njit(cache=True, fastmath=False, error_model="numpy")
def _invert_diagonal(data, diag_pos, inv_diag):  # pragma: no cover - compiled
    """Fill ``inv_diag`` (``inf`` where the diagonal is zero or missing); returns how many are.

    Gather first, then divide in a separate loop (:func:`_reciprocals`)."""
    n = diag_pos.shape[0]
    for i in range(n):
        p = diag_pos[i]
        inv_diag[i] = data[_U(p)] if p >= 0 else 0.0
    return _reciprocals(data, diag_pos, inv_diag)


@njit(cache=True, fastmath=False, error_model="numpy")
def _invert_known_diagonal(indptr, indices, data, diag_pos, inv_diag):  # pragma: no cover - compiled
    """:func:`_invert_diagonal` with ``diag_pos`` taken from an earlier matrix, checked on the way.

    Returns -1 (``diag_pos`` does not fit: search again) unless every ``diag_pos[i]`` lies in row
    ``i`` and holds column ``i``; then, rows being sorted and duplicate-free, they *are* this
    pattern's diagonal positions.  An O(n) proof, where comparing whole patterns reads both
    patterns' O(nnz) index arrays."""
    n = diag_pos.shape[0]
    ok = True
    for i in range(n):  # indptr[i] <= p < indptr[i + 1] <= nnz: the reads below are in bounds
        p = diag_pos[i]
        ok &= (p >= indptr[_U(i)]) & (p < indptr[_U(i) + _U(1)])
    if not ok:
        return -1
    for i in range(n):
        p = _U(diag_pos[i])
        ok &= indices[p] == i
        inv_diag[i] = data[p]
    if not ok:
        return -1
    return _reciprocals(data, diag_pos, inv_diag)


@njit(cache=True, fastmath=False, error_model="numpy")
def _reciprocals(data, diag_pos, inv_diag):  # pragma: no cover - compiled
    """``inv_diag = 1 / inv_diag`` with every zero or missing diagonal ``+inf``; returns how many.

    A loop of its own: it vectorises (``error_model="numpy"`` drops Numba's division-by-zero
    check, which made it 3x slower)."""
    n = diag_pos.shape[0]
    n_zero = 0
    for i in range(n):
        d = inv_diag[i]
        n_zero += d == 0.0
        inv_diag[i] = 1.0 / d
    if n_zero > 0:  # 1 / ±0 is ±inf: make every zero or missing diagonal +inf
        for i in range(n):
            p = diag_pos[i]
            if p < 0 or data[_U(p)] == 0.0:
                inv_diag[i] = np.inf
    return n_zero


@njit(cache=True, fastmath=False)
def _all_finite(data):  # pragma: no cover - compiled
    """Whether every entry is finite (``v - v`` is 0 for finite ``v``, NaN otherwise; vectorises)."""
    ok = True
    for k in range(data.shape[0]):
        v = data[k]
        ok &= v - v == 0.0
    return ok


@njit(cache=True, fastmath=False)
def _residual(indptr, indices, data, b, x, r, mag):  # pragma: no cover - compiled
    """``r = b - A x``; returns ``(r.r, terms, mag.mag)``.

    It is the certified check's own pass (:func:`seqsolve._residual_kernels.residual_with_bound`:
    ``mag`` and ``terms`` are its rounding-bound companions), so the last true residual of a solve
    is handed to the check instead of computed twice."""
    terms, rr, mm = residual_with_bound(indptr, indices, data, b, x, r, mag)
    return rr, terms, mm


@njit(cache=True, fastmath=False)
def _forward_row(
    indptr, indices, data, inv_diag, diag_pos, omega, ri, z, i, zprev
):  # pragma: no cover - compiled
    """Row ``i`` of ``(D + w L) y = r``: returns ``y_i``, reading ``y_j`` (``j < i``) from ``z``;
    ``zprev`` is ``y_{i-1}`` (any value when ``i == 0``).

    A sweep is latency-bound: row ``i`` needs the ``y_{i-1}`` just computed.  So the nearest
    lower entry (the last one before the diagonal, column ``i-1`` on a grid) is applied last,
    with a coefficient computed off the critical path, and, when it is column ``i-1``, from the
    register copy ``zprev`` instead of a store-to-load round trip through memory.  Each of the
    two tricks made the sweeps about 2x faster.  The first changes only the rounding order of
    the row sum (agreement with PyAMG's sweeps to ~1e-16 relative); the second nothing.
    """
    lo = _U(indptr[i])
    kd = _U(diag_pos[i])
    d = inv_diag[i]
    if kd == lo:
        return ri * d
    last = kd - _U(1)
    s = 0.0
    for k in range(lo, last):
        s += data[k] * z[_U(indices[k])]
    j = _U(indices[last])
    if j + _U(1) == _U(i):
        zj = zprev
    else:
        zj = z[j]
    return (ri - omega * s) * d - (omega * data[last] * d) * zj


@njit(cache=True, fastmath=False)
def _backward_row(
    indptr, indices, data, inv_diag, diag_pos, omega, c, yi, z, i, znext
):  # pragma: no cover - compiled
    """Row ``i`` of ``(D + w U) z = c D y`` (``c = w (2 - w)``): returns ``z_i``, reading
    ``z_j`` (``j > i``) from ``z``; ``znext`` is ``z_{i+1}``.  The nearest upper entry goes
    last, as in :func:`_forward_row`.
    """
    first = _U(diag_pos[i]) + _U(1)
    hi = _U(indptr[i + 1])
    d = inv_diag[i]
    if first == hi:
        return c * yi
    s = 0.0
    for k in range(first + _U(1), hi):
        s += data[k] * z[_U(indices[k])]
    j = _U(indices[first])
    if j == _U(i) + _U(1):
        zj = znext
    else:
        zj = z[j]
    return (c * yi - omega * d * s) - (omega * data[first] * d) * zj


@njit(cache=True, fastmath=False)
def _apply_preconditioner(
    indptr, indices, data, inv_diag, diag_pos, kind, omega, r, z
):  # pragma: no cover - compiled
    """``z = M^{-1} r`` for ``kind`` 1 (Jacobi) or 2 (SSOR); returns ``r.z``.

    Kind 0 (none) is handled by the caller (``z`` is ``r``).  SSOR: forward sweep
    ``(D + w L) y = r`` into ``z``, then backward ``(D + w U) z = w (2 - w) D y`` in place
    (row ``i`` reads ``y_i`` before overwriting it and ``z_j``, ``j > i``, already final).
    """
    n = r.shape[0]
    rz = 0.0
    if kind == 1:
        for i in range(n):
            zi = inv_diag[i] * r[i]
            z[i] = zi
            rz += r[i] * zi
        return rz
    zi = 0.0
    for i in range(n):
        zi = _forward_row(indptr, indices, data, inv_diag, diag_pos, omega, r[i], z, i, zi)
        z[i] = zi
    c = omega * (2.0 - omega)
    zi = 0.0
    for i in range(n - 1, -1, -1):
        zi = _backward_row(indptr, indices, data, inv_diag, diag_pos, omega, c, z[i], z, i, zi)
        z[i] = zi
        rz += r[i] * zi
    return rz


@njit(cache=True, fastmath=False)
def _rhs_norm(b, x):  # pragma: no cover - compiled
    """``||b||``, zeroing ``x`` when ``b = 0`` (like SciPy: the solution of A x = 0 is x = 0)."""
    bb = 0.0
    for i in range(b.shape[0]):
        bb += b[i] * b[i]
    bnorm = math.sqrt(bb)
    if bnorm == 0.0:
        for i in range(x.shape[0]):
            x[i] = 0.0
    return bnorm


@njit(cache=True, fastmath=False)
def _start(indptr, indices, data, b, bnorm, x, r, mag):  # pragma: no cover - compiled
    """The true residual of the start ``x``, after ``x`` is scaled by the step ``α = xᵀb / xᵀAx``
    that minimises CG's error norm ``‖x* − αx‖_A`` on its line, where ``|α|`` lies beyond
    ``START_SCALE_BAND`` either way (see there): so scaled, the start is worse neither than zero
    nor than itself in the norm CG minimises.  Along a Newton loop the previous correction starts
    the next, much smaller one (α ≈ 10⁻³); a load continuation's first step needs the previous
    solution times the load's growth; a guess 10¹² times the solution stalled at a relative
    residual of 10⁻⁴ (its size bounds the accuracy reachable, ``ε·‖A‖·‖x‖``).  Where ``xᵀAx`` is
    not positive or a product overflows, the residual decides (zero if ``‖b − Ax‖ > ‖b‖``)."""
    rr, terms, mm = _residual(indptr, indices, data, b, x, r, mag)
    xb = 0.0
    xr = 0.0
    for i in range(x.shape[0]):
        xb += x[i] * b[i]
        xr += x[i] * r[i]
    xax = xb - xr  # xᵀA x = xᵀ(b − r)
    if xax > 0.0 and math.isfinite(xax) and math.isfinite(rr):
        alpha = xb / xax
        if 1.0 / START_SCALE_BAND <= abs(alpha) <= START_SCALE_BAND:
            return rr, terms, mm
    elif math.sqrt(rr) <= bnorm:
        return rr, terms, mm
    else:
        alpha = 0.0
    for i in range(x.shape[0]):
        x[i] = x[i] * alpha if alpha != 0.0 else 0.0  # (an overflowed x times zero is no zero)
    return _residual(indptr, indices, data, b, x, r, mag)


@njit(cache=True, fastmath=False)
def _after_true_residual(it, status, rnorm, target, maxiter, restarts, max_restarts):  # pragma: no cover - compiled
    """The kernel's status once the true residual ``rnorm`` is known; ``_RUNNING``: restart."""
    if not math.isfinite(rnorm):
        return _NAN
    if status != _RUNNING:
        return status
    if rnorm <= target:
        return _CONVERGED
    if it >= maxiter:
        return _MAXITER
    if restarts >= max_restarts:
        return _BREAKDOWN
    return _RUNNING


@njit(cache=True, fastmath=False)
def _pcg_kernel(
    indptr, indices, data, inv_diag, diag_pos, b, x, kind, omega, rtol, atol, maxiter, max_restarts, r, mag
):  # pragma: no cover - compiled
    """PCG on CSR arrays, ``x`` updated in place; ``r`` and ``mag`` are work and output vectors.

    Returns ``(iterations, status_code, true_residual_norm, restarts, terms, r.r, mag.mag)``:
    the last three are those of the last true-residual pass (:func:`_residual`), which left its
    ``r`` and ``mag`` for the returned ``x``; ``terms`` is 0 when no pass ran (``b`` zero or not
    finite).
    """
    n = b.shape[0]
    bnorm = _rhs_norm(b, x)
    if not math.isfinite(bnorm):
        return 0, _NAN, bnorm, 0, 0, 0.0, 0.0
    if bnorm == 0.0:
        return 0, _CONVERGED, 0.0, 0, 0, 0.0, 0.0
    target = max(rtol * bnorm, atol)

    p = np.empty(n)
    q = np.empty(n)
    if kind == 0:
        z = r
    else:
        z = np.empty(n)

    rr, terms, mm = _start(indptr, indices, data, b, bnorm, x, r, mag)
    rnorm = math.sqrt(rr)
    if not math.isfinite(rnorm):
        return 0, _NAN, rnorm, 0, terms, rr, mm
    if rnorm <= target:
        return 0, _CONVERGED, rnorm, 0, terms, rr, mm

    it = 0
    restarts = 0
    c = omega * (2.0 - omega)
    while True:
        # (re)start from the current r
        if kind == 0:
            rz = rr
        else:
            rz = _apply_preconditioner(
                indptr, indices, data, inv_diag, diag_pos, kind, omega, r, z
            )
        for i in range(n):
            p[i] = z[i]
        status = _RUNNING
        while it < maxiter:
            if not math.isfinite(rz):
                status = _NAN
                break
            if rz <= 0.0:
                status = _INDEFINITE if rz < 0.0 else _BREAKDOWN
                break
            # q = A p fused with p.q
            pq = 0.0
            for i in range(n):
                s = 0.0
                for k in range(_U(indptr[i]), _U(indptr[i + 1])):
                    s += data[k] * p[_U(indices[k])]
                q[i] = s
                pq += p[i] * s
            if not math.isfinite(pq):
                status = _NAN
                break
            if pq <= 0.0:
                status = _INDEFINITE
                break
            alpha = rz / pq
            it += 1
            # x += alpha p, r -= alpha q, fused with r.r and the preconditioner's first pass
            rr = 0.0
            if kind == 0:
                for i in range(n):
                    x[i] += alpha * p[i]
                    ri = r[i] - alpha * q[i]
                    r[i] = ri
                    rr += ri * ri
                rz_new = rr
            elif kind == 1:
                rz_new = 0.0
                for i in range(n):
                    x[i] += alpha * p[i]
                    ri = r[i] - alpha * q[i]
                    r[i] = ri
                    rr += ri * ri
                    zi = inv_diag[i] * ri
                    z[i] = zi
                    rz_new += ri * zi
            else:
                # forward SSOR sweep (D + w L) y = r, row i needs only r_i and y_{j<i}
                zi = 0.0
                for i in range(n):
                    x[i] += alpha * p[i]
                    ri = r[i] - alpha * q[i]
                    r[i] = ri
                    rr += ri * ri
                    zi = _forward_row(
                        indptr, indices, data, inv_diag, diag_pos, omega, ri, z, i, zi
                    )
                    z[i] = zi
                # backward sweep, fused with r.z
                rz_new = 0.0
                zi = 0.0
                for i in range(n - 1, -1, -1):
                    zi = _backward_row(
                        indptr, indices, data, inv_diag, diag_pos, omega, c, z[i], z, i, zi
                    )
                    z[i] = zi
                    rz_new += r[i] * zi
            if not math.isfinite(rr):
                status = _NAN
                break
            if math.sqrt(rr) <= target:
                break
            beta = rz_new / rz
            rz = rz_new
            for i in range(n):
                p[i] = z[i] + beta * p[i]

        # check the TRUE residual (r is overwritten with it, ready for a restart)
        rr, terms, mm = _residual(indptr, indices, data, b, x, r, mag)
        rnorm = math.sqrt(rr)
        code = _after_true_residual(it, status, rnorm, target, maxiter, restarts, max_restarts)
        if code != _RUNNING:
            return it, code, rnorm, restarts, terms, rr, mm
        restarts += 1


@njit(cache=True, fastmath=False)
def _lower_norm(indptr, indices, data, diag, diag_pos, omega, v):  # pragma: no cover - compiled
    """``‖(D/ω + L) v‖``: Eisenstat's transformed residual taken back to the original space."""
    ee = 0.0
    for i in range(v.shape[0]):
        s = diag[i] / omega * v[i]
        for k in range(_U(indptr[i]), _U(diag_pos[i])):
            s += data[k] * v[_U(indices[k])]
        ee += s * s
    return math.sqrt(ee)


@njit(cache=True, fastmath=False)
def _lower_row(indptr, indices, data, inv_diag, diag_pos, omega, vi, w, i, wprev):  # pragma: no cover - compiled
    """Row ``i`` of ``(D/ω + L) w = v``; the nearest lower entry goes last, from the register copy
    ``wprev`` when it is column ``i-1`` (the latency trick of :func:`_forward_row`)."""
    lo = _U(indptr[i])
    kd = _U(diag_pos[i])
    if kd == lo:
        return vi * omega * inv_diag[i]
    last = kd - _U(1)
    s = vi
    for k in range(lo, last):
        s -= data[k] * w[_U(indices[k])]
    j = _U(indices[last])
    wj = wprev if j + _U(1) == _U(i) else w[j]
    return (s - data[last] * wj) * omega * inv_diag[i]


@njit(cache=True, fastmath=False)
def _upper_row(indptr, indices, data, inv_diag, diag_pos, omega, vi, t, i, tnext):  # pragma: no cover - compiled
    """Row ``i`` of ``(D/ω + U) t = v``; the nearest upper entry goes last, from ``tnext``."""
    first = _U(diag_pos[i]) + _U(1)
    hi = _U(indptr[i + 1])
    if first == hi:
        return vi * omega * inv_diag[i]
    s = vi
    for k in range(first + _U(1), hi):
        s -= data[k] * t[_U(indices[k])]
    j = _U(indices[first])
    tj = tnext if j == _U(i) + _U(1) else t[j]
    return (s - data[first] * tj) * omega * inv_diag[i]


@njit(cache=True, fastmath=False)
def _lower_solve(indptr, indices, data, inv_diag, diag_pos, omega, v, w):  # pragma: no cover - compiled
    """``w = (D/ω + L)^{-1} v``: one forward sweep over the strictly lower entries."""
    wi = 0.0
    for i in range(v.shape[0]):
        wi = _lower_row(indptr, indices, data, inv_diag, diag_pos, omega, v[i], w, i, wi)
        w[i] = wi


@njit(cache=True, fastmath=False)
def _upper_solve(indptr, indices, data, inv_diag, diag_pos, omega, v, t):  # pragma: no cover - compiled
    """``t = (D/ω + U)^{-1} v``: one backward sweep over the strictly upper entries."""
    ti = 0.0
    for i in range(v.shape[0] - 1, -1, -1):
        ti = _upper_row(indptr, indices, data, inv_diag, diag_pos, omega, v[i], t, i, ti)
        t[i] = ti


@njit(cache=True, fastmath=False)
def _eisenstat_step(y, rh, p, q, diag, alpha):  # pragma: no cover - compiled
    """CG's update in Eisenstat's transformed space (``y += αp``, ``r̂ −= αq``); returns
    ``(‖r̂‖², r̂ᵀ D r̂)``.  Shared by the plain and the deflated Eisenstat kernels."""
    hh = 0.0
    rz = 0.0
    for i in range(y.shape[0]):
        y[i] += alpha * p[i]
        ri = rh[i] - alpha * q[i]
        rh[i] = ri
        hh += ri * ri
        rz += diag[i] * ri * ri
    return hh, rz


@njit(cache=True, fastmath=False)
def _eisenstat_finish(indptr, indices, data, inv_diag, diag_pos, omega, y, t, x, b, r, mag):  # pragma: no cover
    """Back from Eisenstat's space (``x += E⁻ᵀ y``) and the true residual: ``(‖r‖², terms, mag)``
    as :func:`_residual` (the kernels' last step before the true residual decides)."""
    _upper_solve(indptr, indices, data, inv_diag, diag_pos, omega, y, t)
    for i in range(x.shape[0]):
        x[i] += t[i]
    return _residual(indptr, indices, data, b, x, r, mag)


@njit(cache=True, fastmath=False)
def _eisenstat_kernel(
    indptr, indices, data, inv_diag, diag_pos, b, x, omega, rtol, atol, maxiter, max_restarts, r, mag
):  # pragma: no cover - compiled
    """SSOR-PCG through Eisenstat's trick; same contract and return value as :func:`_pcg_kernel`.

    With ``E = D/ω + L`` (so ``Eᵀ = D/ω + U`` for symmetric ``A``) SSOR is ``M ∝ E D⁻¹ Eᵀ``, and
    CG with ``M`` equals CG on ``Â = E⁻¹ A E⁻ᵀ`` preconditioned by ``D``.  Since
    ``A = E + Eᵀ + (1 − 2/ω) D``, a product ``Â p = t + E⁻¹(p + (1 − 2/ω) D t)`` with
    ``t = E⁻ᵀ p`` costs one backward and one forward sweep — where SSOR-PCG pays a matrix-vector
    product *and* both sweeps.  The loop monitors the transformed residual ``E⁻¹ r``; once it is
    within 4× of the target (rescaled by ``‖E⁻¹ r₀‖/‖r₀‖``), the recursive residual ``r = E (E⁻¹ r)``
    itself is checked each iteration (half a product), so CG stops where plain SSOR-PCG would;
    the true residual decides, and a miss restarts from the true residual with a tighter factor,
    like recurrence drift in :func:`_pcg_kernel`.
    """
    n = b.shape[0]
    bnorm = _rhs_norm(b, x)
    if not math.isfinite(bnorm):
        return 0, _NAN, bnorm, 0, 0, 0.0, 0.0
    if bnorm == 0.0:
        return 0, _CONVERGED, 0.0, 0, 0, 0.0, 0.0
    target = max(rtol * bnorm, atol)
    rh = np.empty(n)
    p = np.empty(n)
    q = np.empty(n)
    t = np.empty(n)
    w = np.empty(n)
    y = np.empty(n)
    diag = np.empty(n)
    for i in range(n):
        diag[i] = 1.0 / inv_diag[i]
    kappa = 1.0 - 2.0 / omega
    rr, terms, mm = _start(indptr, indices, data, b, bnorm, x, r, mag)
    rnorm = math.sqrt(rr)
    if not math.isfinite(rnorm):
        return 0, _NAN, rnorm, 0, terms, rr, mm
    if rnorm <= target:
        return 0, _CONVERGED, rnorm, 0, terms, rr, mm
    it = 0
    restarts = 0
    safety = 1.0
    while True:
        _lower_solve(indptr, indices, data, inv_diag, diag_pos, omega, r, rh)
        hh = 0.0
        rz = 0.0
        for i in range(n):
            hh += rh[i] * rh[i]
            rz += diag[i] * rh[i] * rh[i]
            p[i] = 0.0
            y[i] = 0.0
        stop = 4.0 * target * math.sqrt(hh) / rnorm  # from here on, r = E rh is checked
        beta = 0.0
        status = _RUNNING
        while it < maxiter:
            if not math.isfinite(rz):
                status = _NAN
                break
            if rz <= 0.0:
                status = _INDEFINITE if rz < 0.0 else _BREAKDOWN
                break
            # p = D rh + beta p fused with the backward sweep t = E^{-T} p (row i needs t_{j>i})
            ti = 0.0
            for i in range(n - 1, -1, -1):
                pi = diag[i] * rh[i] + beta * p[i]
                p[i] = pi
                ti = _upper_row(indptr, indices, data, inv_diag, diag_pos, omega, pi, t, i, ti)
                t[i] = ti
            # q = A^ p = t + E^{-1}(p + kappa D t), fused with p.q
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
            alpha = rz / pq
            it += 1
            hh, rz_new = _eisenstat_step(y, rh, p, q, diag, alpha)
            if not math.isfinite(hh):
                status = _NAN
                break
            if math.sqrt(hh) <= stop:
                # near the target: the residual in the original space, r = E rh (half a product)
                if _lower_norm(indptr, indices, data, diag, diag_pos, omega, rh) <= safety * target:
                    break
            beta = rz_new / rz
            rz = rz_new
        # back to x: x += E^{-T} y, then the true residual decides
        rr, terms, mm = _eisenstat_finish(indptr, indices, data, inv_diag, diag_pos, omega, y, t, x, b, r, mag)
        rnorm = math.sqrt(rr)
        code = _after_true_residual(it, status, rnorm, target, maxiter, restarts, max_restarts)
        if code != _RUNNING:
            return it, code, rnorm, restarts, terms, rr, mm
        restarts += 1
        safety *= 0.1


# --------------------------------------------------------------------------------------------
# Python API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledResult:
    """Outcome of :func:`pcg`.

    ``iterations`` counts all iterations, restarts included; ``converged`` and
    ``residual_norm`` refer to the TRUE residual ``||b - A x||``; ``restarts`` says how often
    the loop restarted from the true residual after recurrence drift (diagnostic).
    """

    x: np.ndarray
    iterations: int
    converged: bool
    status: str
    residual_norm: float
    restarts: int = 0
    #: the certified check's pass over ``(P, b, x)``, made as the last true residual (see
    #: :class:`~seqsolve.accuracy.ResidualPass`); ``None`` when none ran
    residual_pass: ResidualPass | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class PreparedMatrix:
    """CSR arrays of a square matrix in the form the kernels use; build with :func:`prepare`.

    ``inv_diag[i]`` is ``1 / a_ii`` (``inf`` where the diagonal is zero or missing) and
    ``diag_pos[i]`` the position of ``a_ii`` in ``indices``/``data`` (``-1`` where missing;
    then only plain CG may use the matrix).  The arrays may share memory with the matrix
    they were built from (no copy when it was already canonical float64 CSR): treat them as
    read-only, and call :func:`prepare` again after changing that matrix in place.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    inv_diag: np.ndarray
    diag_pos: np.ndarray
    n: int
    has_zero_diagonal: bool

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, n)``."""
        return (self.n, self.n)

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.data.shape[0])


def prepare(A: sp.sparray | sp.spmatrix | PreparedMatrix, previous: PreparedMatrix | None = None, *,
            finite: bool = False) -> PreparedMatrix:
    """Convert ``A`` once (CSR, canonical format, float64, one index dtype, inverse diagonal).

    Returns ``A`` itself when it is already a :class:`PreparedMatrix`.  The caller's matrix is
    never modified.  Raises :class:`~seqsolve.errors.UnsupportedTypeError` (a ``TypeError``)
    for non-sparse input and :class:`~seqsolve.errors.InvalidSystemError` (a ``ValueError``)
    for non-square, empty or non-finite matrices.

    ``previous`` is the :class:`PreparedMatrix` of an earlier matrix of a sequence: its diagonal
    positions are reused when they prove to be ``A``'s (checked in O(n), see
    :func:`_invert_known_diagonal`) instead of searched again; the values are always read afresh.
    ``finite=True`` says the caller has already proved every entry of ``A`` finite (as
    :class:`~seqsolve.SequenceSolver`'s scan of the same arrays does): the pass is not repeated.
    """
    if isinstance(A, PreparedMatrix):
        return A
    if finite and previous is not None and _in_kernel_form(A, previous):
        # the usual case along a sequence: A's own arrays, as _kernel_arrays would keep them
        n, data, indptr, indices = previous.n, A.data, A.indptr, A.indices
    else:
        n, data, indptr, indices = _kernel_arrays(A, finite)
    idx = indptr.dtype
    inv_diag = np.empty(n)
    n_zero = -1
    if previous is not None and previous.diag_pos.shape == (n,) and previous.diag_pos.dtype == idx:
        diag_pos = previous.diag_pos
        n_zero = _invert_known_diagonal(indptr, indices, data, diag_pos, inv_diag)
    if n_zero < 0:  # no previous, or its diagonal positions are not this pattern's
        diag_pos = np.empty(n, dtype=idx)
        _find_diagonal(indptr, indices, diag_pos)
        n_zero = _invert_diagonal(data, diag_pos, inv_diag)
    return PreparedMatrix(
        indptr=indptr,
        indices=indices,
        data=data,
        inv_diag=inv_diag,
        diag_pos=diag_pos,
        n=n,
        has_zero_diagonal=n_zero > 0,
    )


def _in_kernel_form(A, previous: PreparedMatrix) -> bool:
    """Whether ``A`` is a canonical float64 CSR array of ``previous``'s size and int32 indices, its
    arrays contiguous and writeable: then :func:`_kernel_arrays` would return them as they are,
    and :func:`prepare` skips its dozen checks (the next matrix of a sequence, ~10 µs a solve)."""
    if type(A) is not sp.csr_array:
        return False
    data, indptr, indices, n = A.data, A.indptr, A.indices, previous.n
    return (data.dtype is _F64 and indptr.dtype is _I32 and indices.dtype is _I32 and previous.diag_pos.dtype is _I32
            and A.shape == (n, n) and data.flags.c_contiguous and data.flags.writeable
            and indptr.flags.c_contiguous and indptr.flags.writeable and indices.flags.c_contiguous
            and indices.flags.writeable and A.has_canonical_format)


def _kernel_arrays(A, finite: bool) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """``(n, data, indptr, indices)`` of ``A`` in the kernels' form (see :func:`prepare`), copied
    only where they are not: the caller's matrix is never modified."""
    if not sp.issparse(A):
        raise UnsupportedTypeError(
            f"A must be a SciPy sparse matrix/array or a PreparedMatrix, got {type(A).__name__}"
        )
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise InvalidSystemError(f"A must be square, got shape {A.shape}")
    n = int(A.shape[0])
    if n == 0:
        raise InvalidSystemError("A is empty (0 x 0)")
    if A.dtype.kind == "c":
        raise UnsupportedTypeError("complex matrices are not supported")
    C = A.tocsr()
    if not C.has_canonical_format:
        if C is A:  # sum_duplicates works in place: never touch the caller's arrays
            C = C.copy()
        C.sum_duplicates()
    data = np.ascontiguousarray(C.data, dtype=np.float64)
    if data is C.data and not data.flags.writeable:
        data = data.copy()
    idx = np.int32 if (C.nnz <= _INT32_MAX and n <= _INT32_MAX) else np.int64
    indptr = np.ascontiguousarray(C.indptr, dtype=idx)
    indices = np.ascontiguousarray(C.indices, dtype=idx)
    if not indptr.flags.writeable:
        indptr = indptr.copy()
    if not indices.flags.writeable:
        indices = indices.copy()
    if not finite and not _all_finite(data):
        raise InvalidSystemError("A contains NaN or Inf")
    return n, data, indptr, indices


def csr_matvec(
    A: sp.sparray | sp.spmatrix | PreparedMatrix, x: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """``out = A @ x`` with the compiled kernel; returns ``out`` (allocated when ``None``).

    Pass a :class:`PreparedMatrix` to avoid converting ``A`` on every call.  ``x`` and ``out``
    must be contiguous float64 vectors of length ``n``, and must not alias each other.
    """
    P = A if isinstance(A, PreparedMatrix) else prepare(A)
    if out is None:
        out = np.empty(P.n)
    if x.shape != (P.n,) or out.shape != (P.n,):
        raise InvalidSystemError(f"x and out must have shape ({P.n},)")
    csr_matvec_kernel(P.indptr, P.indices, P.data, x, out)
    return out


def _preconditioner_code(preconditioner: str, omega: float) -> int:
    """Kernel code of ``preconditioner``; ConfigurationError for a bad name or SSOR omega."""
    kind = PRECONDITIONERS.get(preconditioner)
    if kind is None:
        raise ConfigurationError(
            f"unknown preconditioner {preconditioner!r}; valid names: "
            + ", ".join(repr(k) for k in PRECONDITIONERS)
        )
    if kind == 2 and not (0.0 < omega < 2.0):  # also rejects NaN
        raise ConfigurationError(f"SSOR needs 0 < omega < 2, got omega={omega!r}")
    return kind


def _check_diagonal(P: PreparedMatrix, kind: int, preconditioner: str) -> None:
    if kind != 0 and P.has_zero_diagonal:
        raise InvalidSystemError(
            f"{preconditioner} preconditioning needs a nonzero diagonal; A has a zero "
            "(or missing) diagonal entry"
        )


def pcg(
    A: sp.sparray | sp.spmatrix | PreparedMatrix,
    b: np.ndarray,
    x0: np.ndarray | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 0.0,
    maxiter: int | None = None,
    preconditioner: str = "none",
    omega: float = 1.0,
    callback: Callback = None,
    eisenstat: bool = True,
) -> CompiledResult:
    """Solve the SPD system ``A x = b`` with compiled (preconditioned) conjugate gradients.

    Stops when ``||b - A x|| <= max(rtol ||b||, atol)`` holds for the TRUE residual (see the
    module docstring for restarts and statuses).  ``maxiter`` (default ``10 n``, like SciPy)
    bounds all iterations, restarts included.  ``preconditioner`` is ``"none"``, ``"jacobi"``
    or ``"ssor"`` (with ``0 < omega < 2``).  A zero ``b`` gives ``x = 0`` after 0 iterations.
    SSOR runs through Eisenstat's trick (:func:`_eisenstat_kernel`: half the sweep-and-product
    work per iteration) unless ``eisenstat=False``, which applies the sweeps explicitly.

    ``callback`` must be ``None``: a per-iteration Python callback cannot run inside the
    compiled loop, and calling it less often than SciPy does would silently change its meaning,
    so any other value raises ``NotImplementedError``.

    Raises ``ValueError`` (seqsolve's ``ConfigurationError``/``InvalidSystemError``) for an
    unknown preconditioner (the message lists the valid names), ``omega`` outside ``(0, 2)``
    for SSOR, a zero or missing diagonal entry with Jacobi/SSOR, bad tolerances or shapes.
    """
    if callback is not None:
        raise NotImplementedError(
            "the compiled PCG loop cannot call a Python callback per iteration; "
            "pass callback=None or use the SciPy solver path"
        )
    kind = _preconditioner_code(preconditioner, omega)
    P = A if isinstance(A, PreparedMatrix) else prepare(A)
    n = P.n
    _check_diagonal(P, kind, preconditioner)
    if not (rtol >= 0.0 and atol >= 0.0):  # also rejects NaN
        raise InvalidSystemError(f"rtol and atol must be >= 0, got rtol={rtol!r}, atol={atol!r}")

    b = np.asarray(b, dtype=np.float64)
    if b.shape != (n,):
        if b.shape == (n, 1):
            b = b.ravel()
        else:
            raise InvalidSystemError(f"b must have shape ({n},), got {b.shape}")
    if not b.flags.c_contiguous or not b.flags.writeable:
        b = b.copy()  # one numba signature: contiguous, writeable
    if x0 is None:
        x = np.zeros(n)
    else:
        x = np.array(x0, dtype=np.float64, copy=True).reshape(-1)
        if x.shape != (n,):
            raise InvalidSystemError(f"x0 must have shape ({n},), got {np.shape(x0)}")
    if maxiter is None:
        maxiter = 10 * n
    elif maxiter < 0:
        raise InvalidSystemError(f"maxiter must be >= 0, got {maxiter!r}")

    r, mag = np.empty(n), np.empty(n)
    if kind == 2 and eisenstat:
        it, code, rnorm, restarts, terms, rr, mm = _eisenstat_kernel(
            P.indptr, P.indices, P.data, P.inv_diag, P.diag_pos, b, x, float(omega), float(rtol),
            float(atol), int(maxiter), MAX_RESTARTS, r, mag)
    else:
        it, code, rnorm, restarts, terms, rr, mm = _pcg_kernel(
            P.indptr, P.indices, P.data, P.inv_diag, P.diag_pos, b, x, kind, float(omega), float(rtol),
            float(atol), int(maxiter), MAX_RESTARTS, r, mag)
    return CompiledResult(
        x=x,
        iterations=int(it),
        converged=code == _CONVERGED,
        status=_STATUS_NAMES[code],
        residual_norm=float(rnorm),
        restarts=int(restarts),
        residual_pass=ResidualPass(r, mag, int(terms), float(rr), float(mm)) if terms != 0 else None,
    )


def warmup() -> float:
    """Load (or, the first time on a machine, compile) every kernel on a tiny system.

    The first :func:`pcg` call of a process otherwise pays this, ~0.2-0.3 s from the on-disk
    cache or a few seconds cold, which would distort a policy that times the first solve.
    Returns the seconds spent.
    """
    import time

    t0 = time.perf_counter()
    A = sp.csr_array(
        sp.diags_array([[-1.0, -1.0], [4.0, 4.0, 4.0], [-1.0, -1.0]], offsets=[-1, 0, 1])
    )
    P = prepare(A)
    b = np.ones(3)
    for name in PRECONDITIONERS:
        pcg(P, b, preconditioner=name, omega=1.5)
    pcg(P, b, preconditioner="ssor", omega=1.5, eisenstat=False)
    csr_matvec(P, b, np.empty(3))
    return time.perf_counter() - t0


class CompiledPCG(Method):
    """:class:`~seqsolve.solvers.base.Method` adapter: ``setup`` is :func:`prepare`, ``solve``
    is :func:`pcg` (configuration kinds ``numba-cg``, ``numba-jacobi-cg``, ``numba-ssor-cg``).

    The compiled loop cannot call Python per iteration, so a ``callback`` is called once, with
    the final iterate (documented in the SequenceSolver API).
    """

    spd_only = True
    needs_matrix = True
    uses_finite_hint = True
    numpy_arithmetic = False
    scales_start = True  # (the kernel's first residual pass: see _start)
    uses_blas = False  # prepare, the kernels and the residual pass are compiled loops

    def __init__(self, preconditioner: str = "none", omega: float = 1.0) -> None:
        self.kind = _preconditioner_code(preconditioner, omega)
        self.preconditioner = preconditioner
        self.omega = float(omega)

    def setup(self, A, previous: PreparedMatrix | None, *, finite: bool = False) -> PreparedMatrix:
        """Convert ``A`` once; from ``previous`` only the diagonal positions are reused, when the
        sparsity pattern is the same (each matrix of a sequence has new values).  ``finite``: the
        caller's scan already proved ``A`` finite (see :attr:`Method.uses_finite_hint`)."""
        P = prepare(A, previous, finite=finite)
        _check_diagonal(P, self.kind, self.preconditioner)
        return P

    def solve(
        self,
        prepared: PreparedMatrix,
        A,
        b: np.ndarray,
        x0: np.ndarray,
        *,
        rtol: float,
        atol: float,
        maxiter: int,
        callback: Callback = None,
    ) -> IterationResult:
        """One :func:`pcg` call on the prepared matrix; the status strings are the same."""
        res = pcg(
            prepared,
            b,
            x0,
            rtol=rtol,
            atol=atol,
            maxiter=maxiter,
            preconditioner=self.preconditioner,
            omega=self.omega,
        )
        if callback is not None:
            callback(res.x)  # it may change x: then the kernel's residual pass is not x's
            return IterationResult(res.x, res.iterations, res.status)
        # the pass ran on the prepared arrays: it is A's only when they are A's own arrays
        same = prepared.data is A.data and prepared.indices is A.indices and prepared.indptr is A.indptr
        return IterationResult(res.x, res.iterations, res.status, res.residual_pass if same else None)

    def run(self, prepared: PreparedMatrix, A, b: np.ndarray, x0: np.ndarray, rtol: float, atol: float,
            maxiter: int) -> tuple[np.ndarray, int, str, ResidualPass | None]:
        """:meth:`solve` with no callback, as ``(x, iterations, status, residual_pass)``: the kernel
        call alone, without :func:`pcg`'s input checks and its three result objects (~10 µs of a
        1 ms solve; see :mod:`seqsolve.fixed_path`).  The caller vouches for what :func:`pcg`
        would check: ``b`` and ``x0`` are finite-or-not contiguous float64 vectors of the prepared
        size, ``rtol``, ``atol`` >= 0 and ``maxiter`` >= 0 are Python numbers, and ``prepared``
        passed :meth:`setup`.  ``x0`` is copied, never changed."""
        x = x0.copy()
        n = prepared.n
        r, mag = np.empty(n), np.empty(n)
        P = prepared
        if self.kind == 2:
            it, code, _, _, terms, rr, mm = _eisenstat_kernel(
                P.indptr, P.indices, P.data, P.inv_diag, P.diag_pos, b, x, self.omega, rtol, atol, maxiter,
                MAX_RESTARTS, r, mag)
        else:
            it, code, _, _, terms, rr, mm = _pcg_kernel(
                P.indptr, P.indices, P.data, P.inv_diag, P.diag_pos, b, x, self.kind, self.omega, rtol, atol,
                maxiter, MAX_RESTARTS, r, mag)
        # the pass ran on the prepared arrays: it is A's only when they are A's own arrays
        same = terms != 0 and P.data is A.data and P.indices is A.indices and P.indptr is A.indptr
        return x, it, _STATUS_NAMES[code], ResidualPass(r, mag, terms, rr, mm) if same else None
