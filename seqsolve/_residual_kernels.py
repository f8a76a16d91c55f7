"""Compiled residual kernels for :mod:`seqsolve.accuracy` (one pass over the matrix each).

``residual_with_bound`` computes ``r = b − A x`` exactly as a CSR product would, together with
a bound on its rounding error; ``residual_dot2`` computes it in twice the working precision with
error-free transformations (TwoSum, and TwoProduct by Dekker's splitting, since Numba exposes no
fused multiply–add) for the rare inconclusive case.  The absolute error of underflowing products (a multiple of the
smallest subnormal per term) is left to the caller: arithmetic on subnormals is ~100× slower.
They return the largest number of terms in a row (``k + 1``), or ``-1`` when ``x`` or an
intermediate is not finite.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_U = 2.0**-53
_SPLIT = 134217729.0  # 2^27 + 1
_IX = np.uintp  # unsigned indices: Numba skips its negative-index branch (2x faster loops)


@njit(cache=True)
def _gamma(m):
    return m * _U / (1.0 - m * _U)


@njit(cache=True)
def residual_with_bound(indptr, indices, data, b, x, r, mag):  # pragma: no cover - compiled
    """``r = fl(b − A x)`` and ``mag = (|A||x| + |b|)``: then ``|r_i − (b − A x)_i| ≤ γ_{k+2} mag_i``
    (+ underflow) with ``k + 1`` the returned number of terms of the longest row.

    Also returns ``Σ r_i²`` and ``Σ mag_i²`` (the caller's norms without two more passes; they
    may over- or underflow, which the caller checks)."""
    n = b.shape[0]
    most = 0
    check = 0.0
    rr = 0.0
    mm = 0.0
    for i in range(n):
        s = 0.0
        m = abs(b[i])
        k0, k1 = _IX(indptr[i]), _IX(indptr[i + 1])
        for k in range(k0, k1):
            p = data[k] * x[_IX(indices[k])]
            s += p
            m += abs(p)
        ri = b[i] - s
        r[i] = ri
        mag[i] = m
        rr += ri * ri
        mm += m * m
        check += ri * 0.0 + m * 0.0  # stays 0 unless something is inf or nan
        most = max(most, k1 - k0)
    return (int(most) + 1 if check == 0.0 else -1), rr, mm


@njit(cache=True)
def _two_sum(a, b):
    s = a + b
    z = s - a
    return s, (a - (s - z)) + (b - z)


@njit(cache=True)
def _split(a):
    c = _SPLIT * a
    h = c - (c - a)
    return h, a - h


@njit(cache=True)
def _two_prod(a, b):
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, al * bl - (((p - ah * bh) - al * bh) - ah * bl)


@njit(cache=True)
def residual_dot2(indptr, indices, data, b, x, r, bound):  # pragma: no cover - compiled
    """``r ≈ b − A x`` in twice the working precision (Ogita–Rump–Oishi ``Dot2``) and
    ``bound_i ≥ |r_i − (b − A x)_i| − u|(b − A x)_i|``: γ²_{k+1}(|A||x| + |b|)_i (+ underflow)."""
    n = b.shape[0]
    most = 1
    for i in range(n):
        s = b[i]
        c = 0.0
        m = abs(b[i])
        k0, k1 = _IX(indptr[i]), _IX(indptr[i + 1])
        for k in range(k0, k1):
            p, e = _two_prod(-data[k], x[_IX(indices[k])])
            s, q = _two_sum(s, p)
            c += q + e
            m += abs(p)
        ri = s + c
        terms = k1 - k0 + 1
        g = _gamma(terms + 2)
        bi = 2.0 * g * g * m
        if not (math.isfinite(ri) and math.isfinite(bi)):
            return -1
        r[i] = ri
        bound[i] = bi
        most = max(most, terms)
    return most
