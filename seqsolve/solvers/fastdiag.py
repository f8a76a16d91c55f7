"""Fast diagonalisation: exact solves with Kronecker sums from their factors' eigendecompositions.

``K = shift·I + scale·Σ_d I⊗A_d⊗I`` with symmetric ``A_d = V_d Λ_d V_dᵀ`` has eigenvectors
``V_1⊗…⊗V_D`` and eigenvalues ``shift + scale·(λ_1 ⊕ … ⊕ λ_D)``, so ``K⁻¹b`` is a transform
along each grid axis, a division, and the inverse transform: ``O(N·Σ n_d)`` with dense ``V_d``,
``O(N log N)`` when ``A_d`` is the standard 1-D Dirichlet Laplacian ``c·tridiag(e, a, e)`` (its
eigenvectors are the DST-I basis, applied with :func:`scipy.fft.dst`).  Non-symmetric factors
(kernel collocation matrices, upwind convection) may have badly conditioned eigenvectors, so in
2-D they use the real Schur forms ``A_d = Q_d T_d Q_dᵀ`` instead (Bartels–Stewart: the Sylvester
equation ``A_1 X + X A_2ᵀ = B`` solved with orthogonal transforms and LAPACK ``trsyl``, stable);
other non-symmetric sums use ``A_d = V_d Λ_d V_d⁻¹`` in complex arithmetic, and the certificate
judges the result, as for any method.

A definite symmetric sum whose factor 0 is tridiagonal (Heat2D's) skips that factor's transforms:
:mod:`.fastdiag_lines` solves one tridiagonal system per mode along its axis instead.

The decompositions depend only on the factors, so they are cached by the factors' hashes: a
sequence whose systems differ in ``shift``/``scale`` alone (Crank–Nicolson with a time-varying
coefficient) decomposes once, and so does one whose axes are rescaled apart (the weighted
eigenvalue grids of :meth:`Diagonalised.weighted` and :meth:`.Lines.weighted`).  ``fastdiag-cg``
uses the same solve with the nearest Kronecker sum of a variable-coefficient matrix as a CG
preconditioner; :mod:`.fastdiag_reuse` lets a later matrix of the sequence reuse that projection.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from ..configs import Configuration
from ..errors import SeqsolveError
from ..validation import all_finite
from ..operators import (
    Factor,
    KroneckerSum,
    Structure,
    apply_along,
)
from ..operators.structure import banded_factor, nearest_kronecker_factors, tridiagonal_bands, tridiagonal_factor
from ..operators.structure import warmup as nearest_warmup
from .base import Callback, IterationResult, Method, scaled_start
from .fastdiag_lines import Lines, LinesPrepared, _solve_lines, extremes, symmetric_tridiagonal
from . import fastdiag_reuse
from .fastdiag_reuse import NearestSumPreconditioner, Snapshot, _fit
from .reuse import RebuildSchedule

#: how many eigendecompositions were computed (tests check that a changing shift adds none)
counters = {"eigendecompositions": 0}

def _fft():
    """``scipy.fft``, imported on first use: it costs ~70 ms, which ``auto`` must not pay on every
    first solve only to learn that fast-diag does not apply (no structure)."""
    import scipy.fft

    return scipy.fft


#: below this size a transform by the dense sine matrix (BLAS) beats ``scipy.fft.dst`` (pocketfft's
#: DST-I); measured on 2 shared cores: n=99 dense 80 µs vs dstn 108 µs, n=199 546 µs vs 394 µs
DST_MIN = 128


#: fastdiag-cg's setup schedules (the ``setup=`` parameter, as amg-cg's)
SETUPS = ("rebuild", "reuse", "adaptive")

#: fastdiag-cg's preconditioner lifts eigenvalues below this fraction of the largest one
CLAMP = 1e-3


class StructureError(SeqsolveError, ValueError):
    """The structure needed by a fast-diagonalisation method is missing or unusable."""


@dataclass(frozen=True)
class FactorEig:
    """``A_d = V diag(lam) W`` with ``W = V⁻¹`` (``Vᵀ`` when symmetric); ``V is None``: the DST-I basis."""

    lam: np.ndarray
    V: np.ndarray | None
    W: np.ndarray | None = None


def _dirichlet_laplacian(tri: tuple[np.ndarray, np.ndarray] | None) -> tuple[float, float] | None:
    """``(a, e)`` when the bands ``tri`` (of :func:`.symmetric_tridiagonal`) are constant: the
    factor is ``tridiag(e, a, e)``, a scaled and shifted 1-D Dirichlet Laplacian; else ``None``."""
    if tri is None:
        return None
    d0, d1 = tri
    a, e = d0[0], d1[0]
    if not (np.all(d0 == a) and np.all(d1 == e)):
        return None
    return float(a), float(e)


def decompose(f: Factor) -> FactorEig:
    """Eigendecomposition of one factor (DST-I for a constant symmetric tridiagonal one)."""
    counters["eigendecompositions"] += 1
    tri = symmetric_tridiagonal(f)
    laplacian = _dirichlet_laplacian(tri)
    if laplacian is not None:  # eigenpairs in closed form: the sine basis
        a, e = laplacian
        k = np.arange(1, f.n + 1)
        lam = a + 2.0 * e * np.cos(np.pi * k / (f.n + 1))
        if f.n >= DST_MIN:
            return FactorEig(lam, None)
        S = np.sqrt(2.0 / (f.n + 1)) * np.sin(np.pi * np.outer(k, k) / (f.n + 1))
        return FactorEig(lam, S, S)
    if tri is not None:  # a 1-D operator with variable coefficients: LAPACK's MRRR on the bands
        # (stemr; what dense eigh runs after reducing to tridiagonal form, 1.3-1.6x faster)
        lam, V = scipy.linalg.eigh_tridiagonal(*tri, check_finite=False)
        return FactorEig(lam, V, V.T)
    if f.symmetric:
        lam, V = scipy.linalg.eigh(f.dense(), check_finite=False)
        return FactorEig(lam, V, V.T)
    lam, V = scipy.linalg.eig(f.dense(), check_finite=False)
    if np.all(lam.imag == 0):
        lam, V = lam.real, V.real
    with warnings.catch_warnings():  # an ill-conditioned V shows in the certified residual
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        return FactorEig(lam, V, scipy.linalg.inv(V, check_finite=False))


def line_extremes(f: Factor) -> tuple[float, float]:
    """The extreme eigenvalues of a symmetric tridiagonal factor (what :class:`.Lines` needs of
    the factor it solves along: its eigenvalues are cached per factor, as the decompositions)."""
    counters["eigendecompositions"] += 1
    return extremes(*f.tridiagonal())


def schur(f: Factor) -> tuple[np.ndarray, np.ndarray]:
    """Real Schur form ``(T, Q)`` of a factor: ``A = Q T Qᵀ``, ``T`` quasi-upper-triangular."""
    counters["eigendecompositions"] += 1
    return scipy.linalg.schur(f.dense(), output="real", check_finite=False)


class Diagonalised:
    """The factors' eigenbases and the eigenvalue grid ``λ_1 ⊕ … ⊕ λ_D`` of ``Σ_d A_d``."""

    def __init__(self, eigs: list[FactorEig], shape: tuple[int, ...]) -> None:
        self.eigs = eigs
        self.shape = shape
        grid = np.zeros(shape)
        for d, e in enumerate(eigs):
            grid = grid + e.lam.reshape([-1 if a == d else 1 for a in range(len(shape))])
        self.lam = grid
        self.all_dst = all(e.V is None for e in eigs)
        self.complex = np.iscomplexobj(grid)
        self.dense2d = len(eigs) == 2 and all(e.V is not None for e in eigs)

    def weighted(self, weights: tuple[float, ...]) -> np.ndarray:
        """The eigenvalue grid ``w_1·λ_1 ⊕ … ⊕ w_D·λ_D`` of ``Σ_d w_d·(I⊗A_d⊗I)``: ``O(N)``."""
        D = len(self.shape)
        grid = np.zeros(self.shape, dtype=self.lam.dtype)
        for d, e in enumerate(self.eigs):
            grid = grid + weights[d] * e.lam.reshape([-1 if a == d else 1 for a in range(D)])
        return grid

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Coefficients ``(V_1⊗…⊗V_D)ᵀ x`` of a grid array."""
        if self.all_dst:
            return _fft().dstn(X, type=1, norm="ortho")
        if self.dense2d:
            return self.eigs[0].W @ X @ self.eigs[1].W.T
        for d, e in enumerate(self.eigs):
            X = _fft().dst(X, type=1, norm="ortho", axis=d) if e.V is None else apply_along(X, d, e.W)
        return X

    def inverse(self, C: np.ndarray) -> np.ndarray:
        """``(V_1⊗…⊗V_D) c`` (the DST-I basis is symmetric and its own inverse)."""
        if self.all_dst:
            return _fft().idstn(C, type=1, norm="ortho")
        if self.dense2d:
            C = self.eigs[0].V @ C @ self.eigs[1].V.T
            return C.real if self.complex else C
        for d, e in enumerate(self.eigs):
            C = _fft().dst(C, type=1, norm="ortho", axis=d) if e.V is None else apply_along(C, d, e.V)
        return C.real if self.complex else C


class _Cache:
    """Diagonalisations kept by factor identity, least recently used dropped (each distinct factor
    is decomposed once: an isotropic grid's equal factors share one decomposition)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.items: OrderedDict[tuple, Diagonalised] = OrderedDict()
        self.factors: OrderedDict[tuple, FactorEig] = OrderedDict()
        self.line_items: OrderedDict[tuple, Lines | None] = OrderedDict()

    def _factor(self, f: Factor, how=decompose) -> Any:
        key = (how.__name__, f.key)
        eig = self.factors.get(key)
        if eig is None:
            eig = self.factors[key] = how(f)
            if len(self.factors) > 2 * self.size:
                self.factors.popitem(last=False)
        return eig

    def get(self, K: KroneckerSum) -> Diagonalised:
        key = K.factor_key
        diag = self.items.get(key)
        if diag is None:
            diag = Diagonalised([self._factor(f) for f in K.factors], K.grid_shape)
            self.items[key] = diag
            if len(self.items) > self.size:
                self.items.popitem(last=False)
        else:
            self.items.move_to_end(key)
        return diag

    def lines(self, K: KroneckerSum) -> Lines | None:
        """The line-solve form of a symmetric sum whose factor 0 is tridiagonal (else ``None``)."""
        key = K.factor_key
        if key in self.line_items:
            self.line_items.move_to_end(key)
            return self.line_items[key]
        tri = symmetric_tridiagonal(K.factors[0]) if len(K.factors) >= 2 and K.symmetric else None
        lines = None
        if tri is not None:
            lines = Lines(*tri, self._factor(K.factors[0], line_extremes),
                          [self._factor(f) for f in K.factors[1:]], K.grid_shape)
        self.line_items[key] = lines
        if len(self.line_items) > self.size:
            self.line_items.popitem(last=False)
        return lines

    def sylvester(self, K: KroneckerSum) -> list[tuple[np.ndarray, np.ndarray]]:
        """Schur forms of a 2-D sum's two factors (cached like the eigendecompositions)."""
        return [self._factor(f, schur) for f in K.factors]


class Sylvester:
    """``K⁻¹`` for a 2-D sum with a non-symmetric factor: ``A_1 X + X A_2ᵀ = B`` by Bartels–Stewart."""

    def __init__(self, forms: list, shift: float, scale: float) -> None:
        (T1, self.Q1), (T2, self.Q2) = forms
        self.shape = (T1.shape[0], T2.shape[0])
        self.scale = scale
        self.shift = shift
        if scale != 0.0:  # shift·I + scale·(A_1⊕A_2) = scale·((A_1 + c I)⊕(A_2 + c I)), c = shift/(2 scale)
            c = shift / (2.0 * scale)
            self.T1 = T1 + c * np.eye(self.shape[0])
            self.T2 = T2 + c * np.eye(self.shape[1])

    def apply(self, b: np.ndarray) -> np.ndarray:
        if self.scale == 0.0:
            return b / self.shift
        C = self.Q1.T @ b.reshape(self.shape) @ self.Q2
        trsyl = scipy.linalg.lapack.get_lapack_funcs("trsyl", (self.T1, self.T2, C))
        X, s, info = trsyl(self.T1, self.T2, C, trana="N", tranb="T", isgn=1)
        if info < 0:
            raise np.linalg.LinAlgError(f"LAPACK trsyl rejected argument {-info}")
        # info = 1: eigenvalues of A_1 and −A_2 nearly meet (a nearly singular sum); the certificate judges x
        return (self.Q1 @ (X / (s * self.scale)) @ self.Q2.T).reshape(b.shape)


class Prepared:
    """``K⁻¹`` for one shift/scale: the diagonalisation and ``1/(shift + scale·λ)``."""

    def __init__(self, diag: Diagonalised, shift: float, scale: float, clamp: bool = False,
                 weights: tuple[float, ...] | None = None) -> None:
        # weights: the sum shift·I + scale·Σ_d w_d·(I⊗A_d⊗I), its axes rescaled apart (same eigenvectors)
        grid = diag.lam if weights is None else diag.weighted(weights)
        lam = exact = shift + scale * grid
        if clamp:  # a preconditioner must be SPD: lift eigenvalues the projection made too small
            lam = lam.real
            top = float(np.max(lam))
            lam = np.maximum(lam, CLAMP * top) if top > 0 else np.abs(lam)
        self.diag = diag
        self.lifted = bool(clamp and np.any(lam != exact))  # not the sum's inverse
        # a zero eigenvalue (a singular sum) gives a non-finite x, which the solver's check turns
        # into a fallback; a nearly zero one an x the certificate rejects: no extra pass here
        with np.errstate(divide="ignore"):
            self.inv = 1.0 / lam

    def apply(self, b: np.ndarray) -> np.ndarray:
        C = self.diag.forward(b.reshape(self.diag.shape))
        C *= self.inv
        return self.diag.inverse(C).reshape(b.shape)


def _has_kron(structure: Structure | None) -> bool:
    return structure is not None and structure.kron is not None


class FastDiag(Method):
    """Exact solve with a Kronecker sum given as ``A`` or as the ``structure`` hint (one "iteration")."""

    needs_matrix = False
    uses_structure = True
    uses_x0 = False

    def __init__(self) -> None:
        self.cache = _Cache()

    def applicable(self, A: Any, *, symmetric: bool, structure: Structure | None = None) -> bool:
        return _has_kron(structure)

    def setup(self, A: Any, previous: Any | None, *,
              structure: Structure | None = None) -> Prepared | Sylvester | LinesPrepared:
        if not _has_kron(structure):
            raise StructureError("fast-diag needs A as a KroneckerSum "
                                 "(pass structure=KroneckerSum(...) with a CSR matrix)")
        K = structure.kron
        t0 = time.perf_counter()
        _load_fft(f.n for f in K.factors)
        self.one_off_seconds = time.perf_counter() - t0
        if len(K.factors) == 2 and not K.symmetric:
            return Sylvester(self.cache.sylvester(K), K.shift, K.scale)
        lines = self.cache.lines(K)
        if lines is not None and lines.definite(K.shift, K.scale):
            return LinesPrepared(lines, K.shift, K.scale)
        return Prepared(self.cache.get(K), K.shift, K.scale)

    def solve(self, prepared: Prepared, A, b, x0, *, rtol, atol, maxiter, callback: Callback = None) -> IterationResult:
        x = prepared.apply(b)
        if callback is not None:
            callback(x)
        return IterationResult(x, 1, "converged" if all_finite(x.reshape(-1)) else "nan")


class FastDiagCG(Method):
    """CG preconditioned by the nearest Kronecker sum, solved by fast diagonalisation.

    For a variable-coefficient operator on a tensor grid the separable approximation is spectrally
    equivalent with constants set by the coefficient's range, so iteration counts do not grow with
    the grid.  ``setup`` says what a new matrix costs (:mod:`.fastdiag_reuse`): ``"rebuild"``
    projects every new matrix; ``"reuse"`` projects the first and follows later ones by a fitted
    scale and shift (exact when only those changed, or when a separable matrix's axes were rescaled
    independently: per-axis scales); ``"adaptive"`` (the default) follows them too,
    and projects anew once the rent-or-buy rule says the extra iterations paid for it.  The factor
    decompositions are cached by factor values either way.
    """

    spd_only = True
    needs_matrix = False
    scales_start = True  # (_cg does; an exact step ignores x0 and must not pay the product)
    uses_structure = True

    def __init__(self, setup: str = "adaptive") -> None:
        if setup not in SETUPS:
            raise ValueError(f"fastdiag-cg setup must be one of {SETUPS}, got {setup!r}")
        self.cache = _Cache()
        self.schedule_name = setup
        self.schedule = RebuildSchedule()

    def applicable(self, A: Any, *, symmetric: bool, structure: Structure | None = None) -> bool:
        # an operator other than a Kronecker sum has no entries to approximate
        return symmetric and structure is not None and (structure.kron is not None or not isinstance(A, sla.LinearOperator))

    def setup(self, A: Any, previous: Any | None, *, structure: Structure | None = None) -> sla.LinearOperator:
        if structure is None:
            raise StructureError("fastdiag-cg needs the grid shape: pass structure=(n1, n2[, n3])")
        # kernel loading (tens of ms, once per process) is one-off work: a first build timed with
        # it made the rebuild schedule believe builds cost 40 ms where they cost 1-2
        t0 = time.perf_counter()
        if structure.kron is not None and structure.kron.symmetric:  # the sum itself: nothing to project
            _load_fft(structure.grid_shape)
            self.one_off_seconds = time.perf_counter() - t0
            n = A.shape[0]
            return sla.LinearOperator((n, n), matvec=self.preconditioner(structure.kron).apply, dtype=np.float64)
        warmup(structure.grid_shape)
        self.one_off_seconds = time.perf_counter() - t0
        A = sp.csr_array(A)
        stale = self.schedule_name == "adaptive" and self.schedule.stale
        # a stale sum is only followed where the fit is exact (a new scale and shift); once a follow
        # has missed (the sequence drifts otherwise: 3-D heat's axes rescale independently) the fit
        # is not paid for (0.6 ms of a 3 ms system) until the schedule tries a reuse again
        if isinstance(previous, NearestSumPreconditioner) and previous.snapshot is not None \
                and not (stale and self.schedule.misses > 0):
            drift = previous.snapshot.drift(A, structure.grid_shape, structure.pattern)
            self.one_off_seconds += fastdiag_reuse.one_off_seconds()  # a first per-axis fit's kernel load
            if drift is not None and drift.alpha > 0 and (drift.exact or not stale):
                previous.follow(drift)  # in place: the record says the setup was reused
                return previous
        return self._build(A, structure.grid_shape, structure.nearest, structure.pattern)

    def _build(self, A: sp.csr_array, grid_shape: tuple[int, ...], nearest: KroneckerSum | None = None,
               pattern: tuple | None = None) -> NearestSumPreconditioner:
        """Project ``A`` onto its nearest Kronecker sum (the setup that reuse saves), timed for the
        schedule; ``nearest`` is that projection when already made (grid detection, same matrix)."""
        t0 = time.perf_counter()
        K = _canonical(nearest) if nearest is not None else \
            _canonical_factors(nearest_kronecker_factors(A, grid_shape, rowsums=True))
        snapshot = Snapshot(A, grid_shape, pattern) if self.schedule_name != "rebuild" else None
        prepared = NearestSumPreconditioner(K, grid_shape, snapshot, self.preconditioner, A)
        self.schedule.built(time.perf_counter() - t0)
        return prepared

    def preconditioner(self, K: KroneckerSum, weights: tuple[float, ...] | None = None,
                       exact: bool = False) -> Prepared | LinesPrepared:
        """``K⁻¹`` made SPD: eigenvalues below ``CLAMP`` times the largest are lifted to it —
        unless ``exact``: ``K`` is ``A`` itself, and its inverse, untouched, solves ``A`` in one step
        whatever its conditioning or sign (the lift made 2-D Poisson on a 150 x 150 grid, κ ≈ 9000,
        take 16 iterations, and Helmholtz 8).

        ``weights`` (``weights[0] = 1``) rescale the axes apart: ``shift·I + scale·Σ_d w_d·(I⊗A_d⊗I)``,
        the same eigenvectors and decompositions with new eigenvalues (a per-axis follow)."""
        lines = self.cache.lines(K)
        lams = lines.weighted(weights) if lines is not None and weights is not None else None
        lo, hi = lines.eigenvalue_range(K.shift, K.scale, lams) if lines is not None else (0.0, 0.0)
        if 0 < lo and math.isfinite(hi):
            # SPD already: line solves, with the smallest eigenvalues lifted by a shift instead
            # of one by one (the operator stays a Kronecker sum)
            lift = 0.0 if exact else max(0.0, CLAMP * hi - lo)
            prepared = LinesPrepared(lines, K.shift + lift, K.scale, lams)
            prepared.lifted = lift > 0
            return prepared
        return Prepared(self.cache.get(K), K.shift, K.scale, clamp=not exact, weights=weights)

    def solve(self, prepared, A, b, x0, *, rtol, atol, maxiter, callback: Callback = None) -> IterationResult:
        if not isinstance(prepared, NearestSumPreconditioner):
            return self._cg(prepared, A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, callback=callback)
        if prepared.exact:
            t0 = time.perf_counter()
            res = self._exact_step(prepared, A, b, x0, callback)
            if prepared.fresh and self.schedule.base_iterations is None:
                # what a fresh sum needs here: one step.  Unrecorded, the first inexact follow
                # after it (another anisotropy, say) became the base, and its excess went unseen
                self.schedule.solved(time.perf_counter() - t0, 1)
            return res
        t0 = time.perf_counter()
        # as amg-cg(adaptive): a stale sum that overruns 3x a fresh one's iterations is rebuilt at once
        stale = not prepared.fresh and self.schedule_name == "adaptive"
        cap = self.schedule.reuse_cap(maxiter) if stale else maxiter
        res = self._cg(prepared, A, b, x0, rtol=rtol, atol=atol, maxiter=cap, callback=callback)
        if res.status == "maxiter" and cap < maxiter:  # the stale sum is hopeless here: project now
            self.schedule.gave_up()  # a miss (see reuse.py)
            fresh = self._build(sp.csr_array(A), prepared.grid_shape)
            prepared.base, prepared.snapshot, prepared.inverse = fresh.base, fresh.snapshot, fresh.inverse
            prepared.base_exact = fresh.base_exact  # what a later follow may claim is the new sum's
            prepared.fresh = True
            t0 = time.perf_counter()
            more = self._cg(prepared, A, b, res.x, rtol=rtol, atol=atol, maxiter=maxiter - res.iterations,
                            callback=callback)
            self.schedule.solved(time.perf_counter() - t0, more.iterations)
            return IterationResult(more.x, res.iterations + more.iterations, more.status)
        if not prepared.fresh or self.schedule.base_iterations is None:
            # an exact follow needs what a rebuild would: its iterations are no excess to charge
            self.schedule.solved(time.perf_counter() - t0, res.iterations)
        return res

    @staticmethod
    def _exact_step(prepared: NearestSumPreconditioner, A, b, x0, callback: Callback) -> IterationResult:
        """``K⁻¹b`` when ``A`` *is* its nearest sum ``K`` (a separable operator, as Heat2D's): what
        CG's first step gives (``α = 1``), without its two products and scalar work.  Exact
        up to rounding; the solver's certificate judges it, and refines with the same step if
        rounding (an ill-conditioned ``A``, a tolerance near machine precision) left it short."""
        with np.errstate(all="ignore"):
            x = prepared.inverse.apply(b)  # x0 + K⁻¹(b − A x0) is the same for A = K, at a product more
        if callback is not None:
            callback(x)
        return IterationResult(x, 1, "converged" if np.all(np.isfinite(x)) else "nan")

    @staticmethod
    def _cg(M, A, b, x0, *, rtol, atol, maxiter, callback: Callback) -> IterationResult:
        count = [0]

        def on_iter(xk):
            count[0] += 1
            if callback is not None:
                callback(xk)

        x0 = scaled_start(A, b, x0, energy=True)
        with np.errstate(all="ignore"):
            x, info = sla.cg(A, b, x0=x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M, callback=on_iter)
        status = "nan" if not np.all(np.isfinite(x)) else ("converged" if info == 0 else
                                                           "maxiter" if info > 0 else "breakdown")
        return IterationResult(x, count[0], status)


def warmup(grid_shape: tuple[int, ...] = ()) -> None:
    """Load the compiled kernels a ``fastdiag-cg`` build uses, and ``scipy.fft`` where an axis of
    ``grid_shape`` is long enough for its sine transforms (``DST_MIN``); each loader runs once per
    process.  Imported in the first timed solve instead (~60 ms on Heat2D nx=150, 1 ms systems),
    the try looked 50x dearer than it is, and ``auto`` in a fresh process never chose the exact
    solver (SSOR-PCG and CG instead, 2.3x the time)."""
    nearest_warmup()
    _fit()
    _solve_lines()
    _load_fft(grid_shape)


def _load_fft(axis_lengths) -> None:
    """Import ``scipy.fft`` (and plan a tiny transform) if any axis is long enough for the sine
    transforms (``DST_MIN``): at a setup, as one-off work, never in a timed solve."""
    if any(n >= DST_MIN for n in axis_lengths):
        _fft().dst(np.ones(4), type=1, norm="ortho")


def _canonical(K: KroneckerSum) -> KroneckerSum:
    """``K`` as ``shift·I + scale·Σ B_d`` with symmetrised, zero-mean-diagonal, unit-size ``B_d``
    rounded to 12 digits, so matrices differing by a scalar coefficient share cached decompositions."""
    return _canonical_factors([f.dense() for f in K.factors], K.shift, K.scale)


def _canonical_factors(mats: list[np.ndarray], shift: float = 0.0, scale: float = 1.0) -> KroneckerSum:
    """:func:`_canonical` of ``shift·I + scale·Σ_d I⊗mats[d]⊗I`` (dense factors not yet in a sum).

    A tridiagonal factor (a stencil's) is canonicalised on its bands: the values the dense matrix
    would get, without its ``n²`` work (0.3 → 0.15 ms for the two factors of a 127×127 grid)."""
    forms = []  # per factor: the arrays of its entries, symmetrised, and the one with its diagonal
    for M in mats:  # a CG preconditioner must be symmetric: (M + Mᵀ)/2, entry by entry
        bands = tridiagonal_bands(M)
        if bands is not None:
            a, up, low = bands
            a = (a + a) / 2
            forms.append(([a, (up + low) / 2], a))
        else:
            S = (M + M.T) / 2
            forms.append(([S], S.reshape(-1)[::S.shape[0] + 1]))  # in place: a dense n×n copy
    shifts = [float(np.mean(diagonal)) for _, diagonal in forms]
    for (_, diagonal), t in zip(forms, shifts):
        diagonal -= t
    # the zeros off a band change no maximum of |entry|: max(top, −bottom) is one without them
    size = max(max(float(x.max()), -float(x.min())) for arrays, _ in forms for x in arrays) or 1.0
    factors = []
    for arrays, _ in forms:
        for x in arrays:
            x /= size
            np.round(x, 12, out=x)
        # symmetric by construction: (a + b)/2 is (b + a)/2, and the rest acts entry by entry
        factors.append(tridiagonal_factor(*arrays) if len(arrays) == 2 else banded_factor(arrays[0], symmetric=True))
    return KroneckerSum(factors, shift + sum(shifts) * scale, scale * size)


def build(config: Configuration) -> Method:
    """The scipy backend's factory for ``fast-diag`` and ``fastdiag-cg(setup)``."""
    return FastDiag() if config.kind == "fast-diag" else FastDiagCG(config.get("setup"))

