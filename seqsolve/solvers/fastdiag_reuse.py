"""Setup reuse for ``fastdiag-cg``: follow a drifting matrix without projecting it again.

Projecting a variable-coefficient matrix onto its nearest Kronecker sum costs ~10 ms at 200×200,
~40 % of a ``fastdiag-cg`` step.  Along a sequence two cases are cheap:

* ``A = α·A₀ + β·I`` (Crank–Nicolson ``I + c(t)·dt/2·L`` with only ``c(t)`` changing): the projection
  is linear and maps ``I`` to ``I``, so the nearest sum of ``A`` is exactly ``α·K₀ + β·I`` — the same
  factors with new scalars, whose eigenvalue arrays update in ``O(1)``/``O(N)``.  One compiled pass
  over the values (:mod:`._drift_kernels`) reads ``α, β`` off two entries and checks that they fit
  every entry to 12 digits.
* Otherwise (the coefficient itself drifts) the old factors, rescaled by the least-squares ``α, β``
  from the same pass, remain a good preconditioner for a while; :class:`~seqsolve.solvers.reuse.RebuildSchedule` (rent-or-buy on
  measured seconds) says when projecting anew pays.

Either way the result is only a preconditioner: CG and the certified residual check decide ``x``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from ..operators import KroneckerSum
from ..operators.structure import is_kronecker_sum

#: a fit whose largest deviation is below this fraction of ``max|A|`` counts as exact
EXACT = 1e-12

#: the compiled kernel, loaded (or compiled) on first use: at a build, not in a timed reuse
_KERNEL: list = []


def _fit():
    if not _KERNEL:
        from ._drift_kernels import fit_scalar_shift, probes

        one = np.ones(1)
        for width in (np.int32, np.int64):  # both index widths SciPy uses
            ptr = np.array([0, 1], dtype=width)
            fit_scalar_shift(ptr, ptr[:1], one, ptr, ptr[:1], one, np.ones(1, np.uint8), np.zeros(1, np.int64),
                             0, -1, False)
            probes(ptr, ptr[:1], one)
        _KERNEL.extend((fit_scalar_shift, probes))
    return _KERNEL[0]


def _probes():
    _fit()
    return _KERNEL[1]


@dataclass(frozen=True)
class Drift:
    """How ``A`` relates to the snapshot: ``A ≈ alpha·A₀ + beta·I``, ``exact`` when equal to 12 digits."""

    alpha: float
    beta: float
    exact: bool


class Snapshot:
    """A private copy of the CSR matrix a projection was built from (the caller may reuse its arrays)."""

    def __init__(self, A: sp.csr_array, grid_shape: tuple[int, ...], pattern: tuple | None = None) -> None:
        self.pattern = pattern  # the caller's hash of A's pattern, if it has one
        self.indptr = A.indptr.copy()
        self.indices = A.indices.copy()
        self.data = np.array(A.data, dtype=np.float64)
        self.grid_shape = grid_shape
        # the probes that read off α and β: the largest off-diagonal entry, and a diagonal one
        self.on_diagonal, self.diag_pos, k_off, k_diag = _probes()(self.indptr, self.indices, self.data)
        self.k_off, self.k_diag = int(k_off), int(k_diag)

    def drift(self, A: sp.csr_array, grid_shape: tuple[int, ...], pattern: tuple | None = None) -> Drift | None:
        """The fit of ``A`` to the snapshot, or ``None`` when it cannot follow it (another grid or
        pattern, or a diagonal snapshot: no off-diagonal scale to fit).  A ``pattern`` hash equal to
        the snapshot's spares the comparison of the index arrays (a third of the pass)."""
        if grid_shape != self.grid_shape or self.k_off < 0 or not (sp.issparse(A) and A.format == "csr"):
            return None
        known = pattern is not None and pattern == self.pattern
        same, alpha, beta, dev, amax, fitted_alpha, fitted_beta = _fit()(
            A.indptr, A.indices, np.asarray(A.data, dtype=np.float64), self.indptr, self.indices, self.data,
            self.on_diagonal, self.diag_pos, self.k_off, self.k_diag, known)
        if not same:
            return None
        if dev <= EXACT * amax:
            return Drift(float(alpha), float(beta), True)
        if not (np.isfinite(fitted_alpha) and np.isfinite(fitted_beta)):
            return None
        return Drift(float(fitted_alpha), float(fitted_beta), False)


class NearestSumPreconditioner(LinearOperator):
    """``K⁻¹`` for the nearest sum ``K`` of a matrix, kept with what a later matrix needs to reuse it.

    ``base`` is the sum projected from ``snapshot`` (``None``: not kept, never followed); :meth:`follow` retargets the inverse to
    ``alpha·base + beta·I`` in place.  ``fresh`` is true while the inverse is the one a rebuild
    would give for the matrix being solved (a build, or an exact scalar-plus-shift follow).
    ``exact`` is true while the inverse is ``A⁻¹`` itself (to rounding): ``A`` was a Kronecker sum
    (``base_exact``: tested at the build), it moved by an exact scalar and shift, and no eigenvalue
    was lifted — then one preconditioned step solves it.
    """

    def __init__(self, base: KroneckerSum, grid_shape: tuple[int, ...], snapshot: Snapshot | None,
                 make_inverse: Callable[[KroneckerSum], object], A: sp.csr_array | None = None) -> None:
        n = base.shape[0]
        super().__init__(np.float64, (n, n))
        self.base, self.grid_shape, self.snapshot, self.make_inverse = base, grid_shape, snapshot, make_inverse
        self.inverse = make_inverse(base)
        self.fresh = True
        self.base_exact = A is not None and is_kronecker_sum(A, base)
        self.exact = self.base_exact and not getattr(self.inverse, "lifted", True)

    def follow(self, drift: Drift) -> None:
        """Use the sum ``alpha·base + beta·I``: the same factors, so only the scalars change."""
        K = self.base.with_scalars(drift.alpha * self.base.shift + drift.beta, drift.alpha * self.base.scale)
        self.inverse = self.make_inverse(K)
        self.fresh = drift.exact
        self.exact = self.base_exact and drift.exact and not getattr(self.inverse, "lifted", True)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self.inverse.apply(x)
