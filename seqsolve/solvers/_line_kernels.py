"""Compiled kernel for :mod:`seqsolve.solvers.fastdiag_lines`: many tridiagonal solves at once.

Each column ``j`` of ``C`` is one system ``((shift + scale·lam[j])·I + scale·T)·y = C[:, j]`` with
the same symmetric tridiagonal ``T = tridiag(e, a, e)``.  The elimination runs down the rows and
across all columns at once, so the inner loop is contiguous and vectorises; the caller only
calls it for definite systems, where elimination without pivoting (LDLᵀ) is backward stable.
NumPy's error model (no ZeroDivisionError check per division) lets the divisions vectorise:
half the time of the default.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")  # a zero pivot gives inf, which the certificate rejects
def solve_lines(C, lam, shift, scale, a, e):  # pragma: no cover - compiled
    """Overwrite ``C`` (shape ``(n, m)``, C order) with the solutions of its ``m`` column systems."""
    n, m = C.shape
    piv = np.empty((n, m))  # the reciprocal pivots of each column's elimination
    d0 = shift + scale * a[0]
    for j in range(m):
        p = 1.0 / (d0 + scale * lam[j])
        piv[0, j] = p
        C[0, j] *= p
    for i in range(1, n):
        se = scale * e[i - 1]
        se2 = se * se
        di = shift + scale * a[i]
        for j in range(m):
            p = 1.0 / (di + scale * lam[j] - se2 * piv[i - 1, j])
            piv[i, j] = p
            C[i, j] = (C[i, j] - se * C[i - 1, j]) * p
    for i in range(n - 2, -1, -1):
        se = scale * e[i]
        for j in range(m):
            C[i, j] -= se * piv[i, j] * C[i + 1, j]
    return C


@njit(cache=True)
def fold(X, P, Q):  # pragma: no cover - compiled
    """Even and odd halves of ``X``'s rows: ``P[:, k] = X[:, k] + X[:, n−1−k]``, ``Q[:, k] = X[:, k] −
    X[:, n−1−k]`` for ``k < n//2``, and ``P``'s last column the middle one when ``n`` is odd."""
    m, n = X.shape
    h = n // 2
    for i in range(m):
        for k in range(h):
            u, v = X[i, k], X[i, n - 1 - k]
            P[i, k] = u + v
            Q[i, k] = u - v
        if n % 2:
            P[i, h] = X[i, h]


@njit(cache=True)
def unfold(U, W, X):  # pragma: no cover - compiled
    """The inverse pairing of :func:`fold`: ``X[:, k] = U[:, k] + W[:, k]``, ``X[:, n−1−k] = U[:, k] − W[:, k]``."""
    m, n = X.shape
    h = n // 2
    for i in range(m):
        for k in range(h):
            u, w = U[i, k], W[i, k]
            X[i, k] = u + w
            X[i, n - 1 - k] = u - w
        if n % 2:
            X[i, h] = U[i, h]
