"""Setup reuse for ``fastdiag-cg``: follow a drifting matrix without projecting it again.

Projecting a variable-coefficient matrix onto its nearest Kronecker sum costs ~10 ms at 200×200,
~40 % of a ``fastdiag-cg`` step.  Along a sequence two cases are cheap:

* ``A = α·A₀ + β·I`` (Crank–Nicolson ``I + c(t)·dt/2·L`` with only ``c(t)`` changing): the projection
  is linear and maps ``I`` to ``I``, so the nearest sum of ``A`` is exactly ``α·K₀ + β·I`` — the same
  factors with new scalars, whose eigenvalue arrays update in ``O(1)``/``O(N)``.  One compiled pass
  over the values (:mod:`._drift_kernels`) reads ``α, β`` off two entries and checks that they fit
  every entry to 12 digits.
* ``A = β·I + Σ_d α_d·(I⊗K₀_d⊗I)`` where the snapshot ``A₀`` was itself a Kronecker sum ``K₀``
  (3-D heat whose axis diffusivities drift independently): on a grid every off-diagonal entry
  belongs to one axis, so ``α_d`` is read off one entry per axis, ``β`` off a diagonal one with the
  axis parts' diagonals (``K₀_d``'s) removed, and one compiled pass checks every entry to 12 digits.
  ``A`` is then a sum with ``K₀``'s factors, so its inverse needs only new eigenvalues
  ``β + Σ_d α_d·λ_d(i_d)``: ``O(N)``, no projection, no decomposition.
* Otherwise (the coefficient itself drifts) the old factors, rescaled by the least-squares ``α, β``
  from the same pass, remain a good preconditioner for a while; :class:`~seqsolve.solvers.reuse.RebuildSchedule` (rent-or-buy on
  measured seconds) says when projecting anew pays.

Either way the result is only a preconditioner: CG and the certified residual check decide ``x``.
"""

from __future__ import annotations

import time
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


#: the per-axis kernels, loaded on the first per-axis fit (only a separable sequence that a scalar
#: and shift did not follow gets there; everyone else is spared the load)
_AXES_KERNEL: list = []
#: seconds their load took (a Numba compile, or a read of its cache) that no setup has reported yet
_AXES_ONE_OFF = [0.0]


def _axes_kernels():
    if not _AXES_KERNEL:
        t0 = time.perf_counter()
        from ._drift_kernels import axes_of_entries, fit_axis_scales

        one, zero = np.ones(1), np.zeros(1)
        shape, diag_pos, k_axes = np.ones(1, np.int64), np.zeros(1, np.int64), np.full(1, -1, np.int64)
        for width in (np.int32, np.int64):  # both index widths SciPy uses
            ptr = np.array([0, 1], dtype=width)
            axis, _ = axes_of_entries(ptr, ptr[:1], one, shape)
            fit_axis_scales(ptr, ptr[:1], one, ptr, ptr[:1], one, axis, diag_pos, k_axes, zero, diag_pos, shape,
                            False)
        _AXES_KERNEL.extend((axes_of_entries, fit_axis_scales))
        _AXES_ONE_OFF[0] += time.perf_counter() - t0
    return _AXES_KERNEL


def one_off_seconds() -> float:
    """The per-axis kernels' load time not yet reported (then zero): one-off work a setup that
    triggered it reports as such, so a learner does not take it for the price of a follow."""
    seconds, _AXES_ONE_OFF[0] = _AXES_ONE_OFF[0], 0.0
    return seconds


@dataclass(frozen=True)
class Drift:
    """How ``A`` relates to the snapshot: ``A ≈ alpha·A₀ + beta·I``, ``exact`` when equal to 12 digits.

    With ``alphas`` (one per grid axis; exact fits only) ``A = beta·I + Σ_d alphas[d]·(I⊗K₀_d⊗I)``
    instead, ``K₀_d`` the axis-``d`` parts of the snapshot's sum (``alpha`` is ``alphas[0]``)."""

    alpha: float
    beta: float
    exact: bool
    alphas: tuple[float, ...] | None = None


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
        self.kron: KroneckerSum | None = None  # the sum A₀ is (attach): then axes may scale apart
        self._axes: tuple | None = None  # what the per-axis fit reads, made on its first use
        self.prefer_axes = False  # the last follow was per-axis: try that fit first

    def attach(self, K: KroneckerSum) -> None:
        """Record that ``A₀`` *is* the sum ``K`` (to rounding), so a later matrix may be followed
        per axis; only a sum on this grid with two or more axes qualifies."""
        if tuple(K.grid_shape) == tuple(self.grid_shape) and len(K.factors) >= 2:
            self.kron = K

    def _axes_info(self) -> tuple | None:
        """``(axis, k_axes, dref, offsets, shape)`` for :func:`._drift_kernels.fit_axis_scales`
        (``None``: no per-axis fit, as for a row without a diagonal entry)."""
        if self._axes is None:
            info: tuple | bool = False
            n = self.diag_pos.size  # one stored diagonal entry per row (the fit reads each row's once)
            if self.kron is not None and n and int(self.diag_pos.min()) >= 0 and int(self.on_diagonal.sum()) == n:
                shape = np.asarray(self.grid_shape, dtype=np.int64)
                axis, k_axes = _axes_kernels()[0](self.indptr, self.indices, self.data, shape)
                diagonals = [self.kron.scale * (f.matrix.diagonal() if sp.issparse(f.matrix) else np.diagonal(f.matrix))
                             for f in self.kron.factors]
                dref = np.ascontiguousarray(np.concatenate(diagonals), dtype=np.float64)
                offsets = np.cumsum([0] + [d.size for d in diagonals[:-1]]).astype(np.int64)
                info = (axis, k_axes, dref, offsets, shape)
            self._axes = info
        return self._axes or None

    def _drift_axes(self, A: sp.csr_array, known: bool) -> Drift | None:
        """The exact per-axis fit of ``A`` (see :class:`Drift`), or ``None`` when there is none."""
        info = self._axes_info()
        if info is None:
            return None
        axis, k_axes, dref, offsets, shape = info
        same, alphas, beta, dev, amax = _axes_kernels()[1](
            A.indptr, A.indices, np.asarray(A.data, dtype=np.float64), self.indptr, self.indices, self.data,
            axis, self.diag_pos, k_axes, dref, offsets, shape, known)
        if not (same and dev <= EXACT * amax and np.isfinite(beta) and np.all(np.isfinite(alphas))
                and np.all(alphas > 0)):
            return None
        scales = tuple(float(a) for a in alphas)
        return Drift(scales[0], float(beta), True, scales)

    def drift(self, A: sp.csr_array, grid_shape: tuple[int, ...], pattern: tuple | None = None) -> Drift | None:
        """The fit of ``A`` to the snapshot, or ``None`` when it cannot follow it (another grid or
        pattern, or a diagonal snapshot: no off-diagonal scale to fit).  A ``pattern`` hash equal to
        the snapshot's spares the comparison of the index arrays (a third of the pass)."""
        if grid_shape != self.grid_shape or self.k_off < 0 or not (sp.issparse(A) and A.format == "csr"):
            return None
        known = pattern is not None and pattern == self.pattern
        if self.prefer_axes:  # the sequence moves its axes apart: one pass where it still does
            drift = self._drift_axes(A, known)
            if drift is not None:
                return drift
            self.prefer_axes = False
        drift = self._drift_scalar(A, known)
        if drift is not None and not drift.exact and self.kron is not None:
            # a sum whose axes scale apart: followed exactly all the same
            axes = self._drift_axes(A, known)
            if axes is not None:
                self.prefer_axes = True
                return axes
        return drift

    def _drift_scalar(self, A: sp.csr_array, known: bool) -> Drift | None:
        """The fit ``A ≈ α·A₀ + β·I`` (exact, or least squares), or ``None`` (another pattern)."""
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
    would give for the matrix being solved (a build, or an exact scalar-plus-shift or per-axis follow).
    ``exact`` is true while the inverse is ``A⁻¹`` itself (to rounding): ``A`` was a Kronecker sum
    (``base_exact``: tested at the build), it moved by an exact scalar and shift (or per-axis scales), and no eigenvalue
    was lifted — then one preconditioned step solves it.
    """

    def __init__(self, base: KroneckerSum, grid_shape: tuple[int, ...], snapshot: Snapshot | None,
                 make_inverse: Callable[..., object], A: sp.csr_array | None = None) -> None:
        n = base.shape[0]
        super().__init__(np.float64, (n, n))
        self.base, self.grid_shape, self.snapshot, self.make_inverse = base, grid_shape, snapshot, make_inverse
        self.base_exact = A is not None and is_kronecker_sum(A, base)
        self.inverse = make_inverse(base, exact=self.base_exact)  # A itself: its inverse, not lifted
        self.fresh = True
        self.exact = self.base_exact and not getattr(self.inverse, "lifted", True)
        if self.base_exact and snapshot is not None:
            snapshot.attach(base)  # A₀ is this sum: its axes may be followed one by one

    def follow(self, drift: Drift) -> None:
        """Use the sum ``alpha·base + beta·I``: the same factors, so only the scalars change; or,
        with per-axis ``alphas``, ``beta·I + Σ_d alphas[d]·scale·B_d`` (``B_d`` the base's factors):
        the same eigenvectors, with eigenvalues ``beta + scale·Σ_d alphas[d]·λ_d``."""
        exact = self.base_exact and drift.exact  # A is the followed sum itself
        if drift.alphas is not None:
            a0 = drift.alphas[0]
            K = self.base.with_scalars(drift.beta, a0 * self.base.scale)
            self.inverse = self.make_inverse(K, tuple(a / a0 for a in drift.alphas), exact=exact)
        else:
            K = self.base.with_scalars(drift.alpha * self.base.shift + drift.beta, drift.alpha * self.base.scale)
            self.inverse = self.make_inverse(K, exact=exact)
        self.fresh = drift.exact
        self.exact = self.base_exact and drift.exact and not getattr(self.inverse, "lifted", True)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self.inverse.apply(x)
