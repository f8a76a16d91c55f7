"""How structure reaches the solver: a hint per system, and the nearest Kronecker sum of a matrix.

A hint is either a :class:`KroneckerSum` equal to ``A`` (``fast-diag`` solves with its factors)
or the grid shape of the unknowns (``fastdiag-cg`` preconditions with the nearest Kronecker sum).
A wrong hint cannot produce a wrong answer: every returned ``x`` is still certified on ``A``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from ..errors import InvalidSystemError, UnsupportedTypeError
from .kronecker import KroneckerProduct, KroneckerSum, _Kron


@dataclass(frozen=True)
class Structure:
    """What is known about ``A``'s tensor structure: the grid, and ``A`` itself as factors if exact."""

    grid_shape: tuple[int, ...]
    kron: KroneckerSum | None = None

    @property
    def key(self) -> tuple:
        """Identity for setup caches (the factors and scalars, or the grid alone)."""
        return self.kron.fingerprint if self.kron is not None else ("grid", self.grid_shape)


def is_structured(A: Any) -> bool:
    """True for seqsolve's Kronecker operators (they know their symmetry and fingerprint)."""
    return isinstance(A, _Kron)


def as_structure(hint: Any, A: Any) -> Structure | None:
    """Validate a ``structure=`` hint for ``A`` (``None`` when there is none and ``A`` is unstructured)."""
    if hint is None:
        if isinstance(A, KroneckerSum):
            return Structure(A.grid_shape, A)
        if isinstance(A, KroneckerProduct):
            return Structure(A.grid_shape)
        return None
    n = A.shape[0]
    if isinstance(hint, Structure):
        shape, kron = hint.grid_shape, hint.kron
    elif isinstance(hint, KroneckerSum):
        shape, kron = hint.grid_shape, hint
    elif isinstance(hint, (tuple, list)) and all(isinstance(m, (int, np.integer)) for m in hint):
        shape, kron = tuple(int(m) for m in hint), None
    else:
        raise UnsupportedTypeError(f"structure must be a KroneckerSum equal to A or a grid shape tuple, "
                                   f"got {type(hint).__name__}")
    if not shape or min(shape) < 1 or math.prod(shape) != n:
        raise InvalidSystemError(f"structure grid shape {shape} does not fit A with {n} unknowns; "
                                 f"the product of the grid sizes must equal A.shape[0]")
    return Structure(shape, kron)


def structure_for(structure: Structure | None, alpha: int) -> Structure | None:
    """``structure`` of ``2^-alpha·A`` (seqsolve rescales matrices with extreme entries exactly)."""
    if structure is None or structure.kron is None or alpha == 0:
        return structure
    k = structure.kron
    return Structure(structure.grid_shape, k.with_scalars(math.ldexp(k.shift, -alpha), math.ldexp(k.scale, -alpha)))


def nearest_kronecker_sum(A: sp.csr_array | LinearOperator, grid_shape: tuple[int, ...]) -> tuple[KroneckerSum, float]:
    """The Kronecker sum ``Σ_d I⊗A_d⊗I`` nearest to ``A`` in the Frobenius norm, and ``‖A−K‖_F/‖A‖_F``.

    Kronecker sums form a linear subspace whose terms touch disjoint off-diagonal positions, so the
    projection (the Kronecker-sum analogue of Van Loan–Pitsianis) is an average: ``A_d[i,k]`` is the
    mean of ``A``'s couplings ``i→k`` along axis ``d`` over all grid lines, and the diagonal is the
    best additive fit ``Σ_d g_d(i_d)``.  Entries coupling two axes at once are dropped.
    """
    if isinstance(A, KroneckerSum):
        return A, 0.0
    A = sp.csr_array(A)
    shape = tuple(grid_shape)
    N = A.shape[0]
    if math.prod(shape) != N:
        raise InvalidSystemError(f"grid shape {shape} does not fit A with {N} unknowns")
    rows = np.repeat(np.arange(N), np.diff(A.indptr))
    ri = np.unravel_index(rows, shape)
    ci = np.unravel_index(A.indices, shape)
    data = A.data
    differ = np.array([r != c for r, c in zip(ri, ci)])  # (D, nnz)
    ndiff = differ.sum(axis=0)
    diag = ndiff == 0
    D = len(shape)
    # the additive fit of the diagonal: mean + per-axis deviations of the axis means
    dgrid = np.zeros(shape)
    dgrid[tuple(r[diag] for r in ri)] = data[diag]
    mean = dgrid.mean()
    factors = []
    norm2_k = dgrid.size * mean**2
    for d, n in enumerate(shape):
        other = tuple(a for a in range(D) if a != d)
        g = dgrid.mean(axis=other) - mean if other else dgrid - mean
        norm2_k += (N // n) * float(g @ g)
        sel = differ[d] & (ndiff == 1)
        F = np.zeros((n, n))
        np.add.at(F, (ri[d][sel], ci[d][sel]), data[sel])
        F /= N // n
        norm2_k += (N // n) * float(np.sum(F * F))
        F[np.diag_indices(n)] = g + mean / D
        factors.append(F)
    normA2 = float(data @ data)
    rel = math.sqrt(max(normA2 - norm2_k, 0.0) / normA2) if normA2 > 0 else 0.0
    return KroneckerSum(factors), rel
