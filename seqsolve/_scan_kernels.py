"""Compiled checks of a CSR matrix in one call for :mod:`seqsolve.validation` (run on every solve).

Per call seqsolve must know whether ``A`` is finite, whether it changed since the last call (so a
setup is reused only while it is unchanged), its magnitude (for exact rescaling) and whether it is
symmetric.  Done with NumPy that is eight passes over the entries and two products; here it is one
compiled call (:func:`scan`: a pass over the values, one over the pattern's words) plus, when the
values changed, one gather (:func:`symmetric_entries`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_IX = np.uintp  # unsigned indices: Numba skips its negative-index branch
_ODD = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio, odd
_MIX = np.uint64(0xBF58476D1CE4E5B9)  # SplitMix64's first multiplier
_SHIFT, _HALF, _ONE = np.uint64(29), np.uint64(32), np.uint64(1)
_LOW = np.uint64(0xFFFFFFFF)  # a word's lower half
_ABS = np.uint64(0x7FFFFFFFFFFFFFFF)  # all bits but the sign
_INF_BITS = np.uint64(0x7FF0000000000000)  # the bits of inf: |v| bits below it are finite


@njit(cache=True)
def scan(indptr, indices, data, perm, lo, hi, rtol, rhs):  # pragma: no cover - compiled
    """``(value hash, pattern hash, max |a_ij|, symmetry, Σ b_i²)`` of a CSR matrix (and a
    right-hand side) in one call.

    The value hash is a sum of the entries' bits, each offset by a position-dependent amount and
    mixed (:func:`pattern_hash` hashes the pattern), modulo 2⁶⁴: any change of one entry changes
    it, and nothing can overflow.  The mixing must be nonlinear.  Summed raw bits times odd weights
    were not: the sign bit alone added 2⁶³ whatever the weight, so two sign flips cancelled and
    ``-A`` hashed as ``A`` for any even number of entries (a solver reused the scaled copy and
    setups of ``A`` for ``-A``: x off by a factor -1, its check passed on the stale copy; the
    contract fuzz), and with weights in arithmetic progression (``w₀ + w₃ = w₁ + w₂``) values
    swapped symmetrically cancelled: ``[[2e180, -1e180], [-1e180, 2e180]]`` hashed as its
    negative.  Now none of the 161,051 5-entry matrices over eleven values collide, for one
    multiply per entry: 32–37 µs for Heat2D nx=100's 49,600 entries and their pattern (56 µs
    with entries and weights mixed separately, 37 with the flawed sums).
    ``max |a_ij|`` is ``inf`` or ``nan`` when an entry is.

    ``symmetry`` folds in the symmetry test of entries ``lo:hi`` (:func:`symmetric_block`, with
    ``tol = rtol·max|a_ij|``), so a solve pays one compiled call, not two: ``perm`` is the transpose
    permutation of the pattern the caller expects (it checks the returned pattern hash before
    trusting the answer); 1 symmetric, 0 not, -1 not tested (``lo >= hi``, or ``A`` not finite).

    ``rhs`` (empty: none) is the system's right-hand side ``b``: ``Σ b_i²`` is finite when every
    entry is (see :func:`finite_squares`), so a solve's input checks cost one compiled call, not two.
    """
    bits = data.view(np.uint64)
    nnz = bits.shape[0]
    hv = np.uint64(0)
    top = np.uint64(0)
    w = np.uint64(1)
    step = _ODD + _ODD  # a Weyl sequence 1, 1 + 2c, 1 + 4c, ...: one addition each
    for k in range(nnz):
        b = bits[k]
        f = b + w  # the entry's bits offset by its position, then mixed (a multiply, xor-shifts)
        f = (f ^ (f >> _HALF)) * _MIX
        hv += f ^ (f >> _SHIFT)
        w += step
        # |v| as bits: for non-negative floats the unsigned bit order is the value order, and
        # inf/nan sort above every finite value, so one integer max finds max|v| and non-finites
        top = max(top, b & _ABS)
    hp = pattern_hash(indptr, indices)
    box = np.empty(1, np.uint64)  # the bits of max|a_ij| as the float they are
    box[0] = top
    top_value = box.view(np.float64)[0]
    sym = -1
    if lo < hi and top < _INF_BITS and hi <= nnz and perm.shape[0] == nnz:
        sym = 1 if symmetric_block(data, perm, rtol * top_value, lo, hi) else 0
    return hv, hp, top_value, sym, squares(rhs)


@njit(cache=True)
def pattern_hash(indptr, indices):  # pragma: no cover - compiled
    """A hash of a CSR pattern: its column indices and row pointers read as 64-bit words (two
    int32 indices a word: half the multiplies), each word mixed and times an odd weight that is
    not linear in its position, summed modulo 2⁶⁴."""
    hp, w = _hash_words(indices, np.uint64(0), np.uint64(1))
    return _hash_words(indptr, hp, w)[0]


@njit(cache=True, inline="always")
def _hash_words(a, hp, w):  # pragma: no cover - compiled
    """``hp`` plus the hash of the index array ``a`` (int32 or int64, SciPy's index types), its
    weights continuing from ``w``.  A strided ``a`` is hashed as its contiguous copy: one matrix,
    one hash."""
    if not a.flags.c_contiguous:
        a = a.copy()  # (rare: SciPy keeps index arrays as given)
    n = a.shape[0]
    words = a[: n - n % 2].view(np.uint64) if a.itemsize == 4 else a.view(np.uint64)
    step = _ODD + _ODD
    for k in range(words.shape[0]):
        hp += _mixed(words[_IX(k)]) * ((w ^ (w >> _SHIFT)) | _ONE)
        w += step
    if a.itemsize == 4 and n % 2:  # the odd int32 out, as the lower half of a word
        hp += _mixed(np.uint64(a[_IX(n - 1)]) & _LOW) * ((w ^ (w >> _SHIFT)) | _ONE)
        w += step
    return hp, w


@njit(cache=True, inline="always")
def _mixed(p):  # pragma: no cover - compiled
    """A word's halves folded together (a bijection, so no two words hash alike)."""
    return p ^ (p >> _HALF)


@njit(cache=True)
def canonical(indptr, indices, n):  # pragma: no cover - compiled
    """Whether every row's column indices are strictly increasing and in ``[0, n)`` (sorted, no
    duplicates: SciPy's ``has_canonical_format``, which costs a Python-level pass of its own)."""
    for i in range(indptr.shape[0] - 1):
        lo = indptr[_IX(i)]
        hi = indptr[_IX(i) + _IX(1)]
        if hi > lo and (indices[_IX(lo)] < 0 or indices[_IX(hi - 1)] >= n):
            return False
        for k in range(lo + 1, hi):
            if indices[_IX(k)] <= indices[_IX(k - 1)]:
                return False
    return True


@njit(cache=True)
def transpose_positions(indptr, indices, perm):  # pragma: no cover - compiled
    """Fill ``perm`` (length nnz) with the transpose permutation of a CSR pattern with sorted rows:
    entry ``q`` at ``(j, i)`` gets the position ``k`` of ``(i, j)``.  ``False`` (``perm`` then
    undefined) when the pattern is not structurally symmetric or a row is unsorted.

    Entries are visited row by row, so each column's partners arrive in increasing row order: the
    transpose of a sorted pattern needs no sort, and its pattern is compared with ``A``'s on the fly
    (SciPy's transpose, its sort and the comparison cost five passes and three arrays more)."""
    n = indptr.shape[0] - 1
    nxt = np.empty(n, dtype=np.int64)
    for j in range(n):
        nxt[j] = indptr[j]
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j < 0 or j >= n:
                return False
            q = nxt[j]
            if q >= indptr[j + 1] or indices[q] != i:
                return False  # row j has no (j, i) where the transpose puts it
            nxt[j] = q + 1
            perm[q] = k
    for j in range(n):  # every entry of row j was some (i, j)'s partner
        if nxt[j] != indptr[j + 1]:
            return False
    return True


@njit(cache=True)
def unpartnered(indptr, indices, out):  # pragma: no cover - compiled
    """Write into ``out`` the positions of the entries ``(i, j)`` of a CSR pattern with sorted
    rows whose transpose ``(j, i)`` is not stored, and return how many (at most ``out``'s length:
    the count stops there).  A binary search in row ``j`` per entry.  Any such entry holding a
    value proves the matrix unsymmetric, whatever its other entries."""
    count = 0
    n = indptr.shape[0] - 1
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j == i:
                continue
            lo, hi = indptr[j], indptr[j + 1]
            while lo < hi:
                mid = (lo + hi) // 2
                if indices[mid] < i:
                    lo = mid + 1
                else:
                    hi = mid
            if lo == indptr[j + 1] or indices[lo] != i:
                if count < out.shape[0]:
                    out[count] = k
                count += 1
    return count


@njit(cache=True)
def symmetric_entries(data, perm, tol):  # pragma: no cover - compiled
    """Whether ``|a_ij − a_ji| ≤ tol`` for all entries (``perm[k]``: position of the transpose entry)."""
    return symmetric_block(data, perm, tol, 0, data.shape[0])


@njit(cache=True)
def symmetric_block(data, perm, tol, lo, hi):  # pragma: no cover - compiled
    """:func:`symmetric_entries` on entries ``lo:hi`` only: a cheap check between full ones.

    Tested 512 entries at a time without a branch (then the loop vectorises its gathers), and
    with unsigned indices (Numba's negative-index branch off): 1.4x faster than an early exit."""
    k = _IX(lo)
    end = _IX(hi)
    while k < end:
        stop = min(k + _IX(512), end)
        ok = True
        for j in range(k, stop):
            ok &= abs(data[j] - data[_IX(perm[j])]) <= tol
        if not ok:
            return False
        k = stop
    return True


@njit(cache=True)
def all_finite(v):  # pragma: no cover - compiled
    """Whether every entry is finite (``x - x`` is 0 only for finite ``x``): no temporaries, and
    no early exit, so the loop vectorises."""
    ok = True
    for k in range(v.shape[0]):
        x = v[k]
        ok &= x - x == 0.0
    return ok


@njit(cache=True)
def finite_squares(v):  # pragma: no cover - compiled
    """``(whether every entry is finite, sum of v_i^2)``: a right-hand side's check and norm in
    one pass.  A non-finite entry makes the sum non-finite, so only then (or on overflow) is each
    entry looked at."""
    total = squares(v)
    if total - total == 0.0:
        return True, total
    return all_finite(v), total


@njit(cache=True)
def squares(v):  # pragma: no cover - compiled
    """``Σ v_i²`` with eight partial sums, so the additions do not wait on each other."""
    n = v.shape[0]
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    m = n - n % 8
    for k in range(0, m, 8):
        x0, x1, x2, x3 = v[k], v[k + 1], v[k + 2], v[k + 3]
        x4, x5, x6, x7 = v[k + 4], v[k + 5], v[k + 6], v[k + 7]
        a0 += x0 * x0
        a1 += x1 * x1
        a2 += x2 * x2
        a3 += x3 * x3
        a4 += x4 * x4
        a5 += x5 * x5
        a6 += x6 * x6
        a7 += x7 * x7
    for k in range(m, n):
        a0 += v[k] * v[k]
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
