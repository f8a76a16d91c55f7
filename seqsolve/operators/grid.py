"""Recognise a matrix whose unknowns live on a tensor grid, so structured methods need no hint.

A finite-difference or finite-volume operator on an ``n_1 × … × n_D`` grid, numbered in natural
(C) order, couples each unknown only to unknowns on the same grid line along one axis: every
off-diagonal entry ``(i, j)`` has multi-indices that differ in exactly one axis.  That is all
:func:`~seqsolve.operators.nearest_kronecker_sum` needs to build a separable approximation (the
``fastdiag-cg`` preconditioner), so a user who assembled a 5- or 7-point stencil gets it without
passing ``structure=``.  Unstructured (FEM) matrices fail the test at once: their column offsets
take many values.

Detection reads the pattern once (``O(nnz)`` NumPy); :class:`~seqsolve.SequenceSolver` caches the
verdict per sparsity pattern, so a sequence pays it once.  A wrong verdict costs no accuracy — a
structured preconditioner is judged like any other, on the certified residual — only the
learner's time on a poor candidate.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import scipy.sparse as sp

from .kronecker import KroneckerSum
from .structure import Structure, banded_factor, is_kronecker_sum, nearest_kronecker_factors

#: at most this many distinct column offsets: a stencil has a few per axis, an FEM matrix hundreds
MAX_OFFSETS = 24
#: no axis shorter than this: a grid of 2-long lines is no tensor grid worth transforming
MIN_AXIS = 3
#: couplings tested first when several shapes are candidates
_SAMPLE = 4096
#: a known grid is re-checked against a new pattern on every this-many-th row (a sample)
_RECHECK_EVERY = 16
#: 2-D and 3-D grids (a 1-D "grid" is a banded matrix: a direct solve's job)
DIMENSIONS = (2, 3)


def detect_grid(A: sp.csr_array | sp.csr_matrix) -> tuple[int, ...] | None:
    """The grid shape ``(n_1, …, n_D)`` (C order, ``D`` 2 or 3) whose lines ``A`` couples along, or ``None``.

    Every stored off-diagonal entry must couple two unknowns that differ in one grid index only
    (any distance along that axis: higher-order stencils qualify; couplings across the ends of
    grid lines or diagonal ones do not), and every axis must be coupled somewhere.  A 3-D grid
    also fits as a 2-D one with two axes merged: the fit with the most axes is returned, and
    ``None`` when two such fits remain.
    """
    n = A.shape[0]
    if A.shape[1] != n or n < MIN_AXIS ** 2:
        return None
    indptr, indices = A.indptr, A.indices
    r = min(n, int(np.searchsorted(indptr, _SAMPLE)) + 1)  # the first rows, ~_SAMPLE entries
    head = indices[:indptr[r]].astype(np.int64) - np.repeat(np.arange(r, dtype=np.int64), np.diff(indptr[:r + 1]))
    if np.unique(np.abs(head[head != 0])).size > MAX_OFFSETS:
        return None  # an unstructured matrix: its first rows show it already
    from ._grid_kernels import distinct_offsets

    distinct = distinct_offsets(indptr, indices, MAX_OFFSETS)  # sorted; empty: none, or too many
    if distinct.size == 0:
        return None
    shapes = _candidates(n, distinct)
    if len(shapes) > 1:  # most shapes fail on the first rows' couplings already: test those first
        coupled = head != 0
        cols = indices[:indptr[r]][coupled].astype(np.int64)
        shapes = [shape for shape in shapes if _axis_aligned(cols - head[coupled], cols, shape, partial=True)]
    # a 3-D grid also fits as 2-D with two axes merged into one: the finest fit is the grid, so
    # the finest shapes are checked first and coarser ones only if none of those fits
    finest: list[tuple[int, ...]] = []
    for shape in sorted(shapes, key=len, reverse=True):
        if finest and len(shape) < len(finest[0]):
            break
        if fits_grid(A, shape):  # one compiled pass (NumPy: ~1 ms per shape at 100k entries)
            finest.append(shape)
    return finest[0] if len(finest) == 1 else None


def _candidates(n: int, distinct: np.ndarray) -> list[tuple[int, ...]]:
    """Shapes whose axis strides (products of the trailing lengths) are column offsets seen in ``A``.

    A coupled axis of stride ``s`` shows the offset ``s`` itself (nearest neighbours) unless only
    farther neighbours are coupled, which no stencil does."""
    strides = [int(s) for s in distinct if 1 < s < n and n % s == 0]
    out = []
    for D in DIMENSIONS:
        for chosen in itertools.combinations(strides, D - 1):
            bounds = (1, *chosen, n)  # strides of the last axis (1), …, and n above the first axis
            if any(hi % lo for lo, hi in itertools.pairwise(bounds)):
                continue
            shape = tuple(hi // lo for lo, hi in itertools.pairwise(bounds))[::-1]
            if min(shape) >= MIN_AXIS and math.prod(shape) == n:
                out.append(shape)
    return out


def _axis_aligned(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, ...], partial: bool = False) -> bool:
    """Whether every coupling ``rows[k] → cols[k]`` stays on one grid line of ``shape`` and (unless
    ``partial``: a first sample of the couplings) every axis is coupled."""
    ri = np.unravel_index(rows, shape)
    ci = np.unravel_index(cols, shape)
    differ = np.array([r != c for r, c in zip(ri, ci)])  # (D, couplings)
    return bool((differ.sum(axis=0) == 1).all() and (partial or differ.any(axis=1).all()))


def fits_grid(A: sp.csr_array | sp.csr_matrix, shape: tuple[int, ...], every: int = 1) -> bool:
    """Whether ``A``'s pattern couples along the lines of ``shape`` only, every axis somewhere (one
    compiled pass over every ``every``-th row: a known grid checked against a new pattern of the
    same size needs no proof, as a wrong grid costs a poor preconditioner, never accuracy)."""
    if math.prod(shape) != A.shape[0]:
        return False
    from ._grid_kernels import axis_couplings

    counts = axis_couplings(A.indptr, A.indices, _coordinates(shape), every)
    return bool(counts[0] >= 0 and (counts > 0).all())


@functools.lru_cache(maxsize=4)
def _coordinates(shape: tuple[int, ...]) -> np.ndarray:
    """``coords[d, i]``: unknown ``i``'s index along axis ``d`` of ``shape`` (C order), read-only."""
    coords = np.array(np.unravel_index(np.arange(math.prod(shape)), shape), dtype=np.int32)
    coords.flags.writeable = False
    return coords


def grid_structure(A: sp.csr_array | sp.csr_matrix, pattern: tuple | None = None,
                   last: tuple[int, ...] | None = None) -> Structure | None:
    """The :class:`Structure` found in ``A``'s pattern (:func:`detect_grid`), else ``None``;
    ``pattern`` (the caller's hash of that pattern) rides along, so a method need not compare
    index arrays to recognise it.  ``last``, the grid of the previous pattern, is tried first (one
    compiled pass: a sequence whose pattern moves on a fixed grid, as Fluid2D's obstacles do)."""
    shape = last if last is not None and fits_grid(A, last, _RECHECK_EVERY) else detect_grid(A)
    return None if shape is None else Structure(shape, pattern=pattern)


def separable(A: sp.csr_array, structure: Structure) -> tuple[bool, KroneckerSum]:
    """Whether ``A`` *is* the Kronecker sum of its grid (a constant-coefficient stencil: then a
    separable preconditioner is ``A⁻¹``), and that nearest sum (``rowsums=True``, as fastdiag-cg
    builds it, banded factors sparse): one projection and one random test product, ~1 ms at 126×126."""
    K = KroneckerSum([banded_factor(F) for F in nearest_kronecker_factors(A, structure.grid_shape, rowsums=True)])
    return is_kronecker_sum(A, K), K
