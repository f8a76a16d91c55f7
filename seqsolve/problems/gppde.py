"""GP-HM on a grid (Fang et al., ICLR 2024) as a sequence workload: one structured solve per kernel.

The solution ``u`` of ``Δu = f`` on ``[0,1]^D`` (Dirichlet data ``g``) gets a GP prior with a
product kernel ``k(x, x') = Π_d k_1(x_d − x'_d)``; ``k_1`` is a spectral mixture whose spectrum is
a Student-t mixture (GP-HM's choice), i.e. Matérn-5/2 envelopes times cosines:
``k_1(r) = Σ_q w_q m_{5/2}(r/ℓ_q) cos(ω_q r)``.  On a tensor grid ``X`` the covariance is the
Kronecker product ``K = K_1⊗…⊗K_1`` and, by the kernel differential trick, the Laplacian of the
GP's interpolant of the grid values ``U`` is ``(D_1⊕…⊕D_1) U`` with ``D_1 = K_1'' K_1⁻¹``.

For fixed kernel parameters GP-HM's MAP objective is quadratic in ``U``; in the limit of its
boundary and equation noise going to zero (the grid holds the boundary values exactly, and the
equation is imposed at every interior point) the MAP solves the Kronecker-sum system
``(G⊕…⊕G) U_I = f_I − (boundary terms)``, ``G`` the interior block of ``D_1`` — one structured
solve, by ``fast-diag`` with non-symmetric factors, certified on the true residual.

The kernel parameters (dominant frequency ``ω``, length scale ``ℓ``) are learned in an outer
loop: each outer step is one system of the sequence, and the next parameters depend on the last
solution.  GP-HM learns them by Adam on the joint likelihood; here a derivative-free search (scan,
then golden-section refinement) minimises the PDE residual of the GP interpolant at the cell
centres — points where no equation was imposed, so it measures generalisation, and it tracks the
true error within a small factor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import LinearOperator

from ..errors import InvalidSystemError
from ..operators import KroneckerProduct, KroneckerSum, apply_along, as_structure
from .base import LinearSystem, SequenceProblem

SQRT5 = math.sqrt(5.0)


@dataclass(frozen=True)
class MaternCosine:
    """``k(r) = Σ_q w_q m_{5/2}(r/ℓ_q) cos(ω_q r)``: a Student-t (ν = 5/2) spectral mixture."""

    weights: tuple[float, ...] = (1.0,)
    lengthscales: tuple[float, ...] = (0.2,)
    frequencies: tuple[float, ...] = (0.0,)

    def __post_init__(self) -> None:
        if not (len(self.weights) == len(self.lengthscales) == len(self.frequencies) >= 1):
            raise InvalidSystemError("weights, lengthscales and frequencies need the same length >= 1")
        if min(self.lengthscales) <= 0 or min(self.weights) <= 0:
            raise InvalidSystemError("weights and length scales must be positive")

    def values(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(k(r), k''(r))`` elementwise (``k''`` is the covariance of ``u''(x)`` with ``u(x − r)``)."""
        s = np.abs(r)
        k = np.zeros_like(s)
        k2 = np.zeros_like(s)
        for w, ell, om in zip(self.weights, self.lengthscales, self.frequencies):
            a = SQRT5 / ell
            e = np.exp(-a * s)
            m = (1 + a * s + (a * s) ** 2 / 3) * e
            m1 = -(a * a * s / 3) * (1 + a * s) * e  # dm/ds (zero at s = 0: smooth)
            m2 = -(a * a / 3) * (1 + a * s - (a * s) ** 2) * e
            c, sn = np.cos(om * s), np.sin(om * s)
            k += w * m * c
            k2 += w * ((m2 - om**2 * m) * c - 2 * om * m1 * sn)
        return k, k2


@dataclass
class Factors1D:
    """The 1-D pieces on grid ``x``: ``D = K''K⁻¹`` and, at the cell centres, value and ``∂²`` maps."""

    D: np.ndarray
    E_mid: np.ndarray
    F_mid: np.ndarray
    K_inv: np.ndarray  #: the prior precision factor (``K⁻¹``, jittered)


def factors_1d(kernel: MaternCosine, x: np.ndarray, jitter: float = 1e-10) -> Factors1D:
    """Differentiation and interpolation matrices of the GP interpolant (Cholesky of ``K``)."""
    K, K2 = kernel.values(x[:, None] - x[None, :])
    K[np.diag_indices_from(K)] += jitter * K[0, 0]
    cho = scipy.linalg.cho_factor(K, check_finite=False)
    xm = 0.5 * (x[1:] + x[:-1])
    Km, K2m = kernel.values(xm[:, None] - x[None, :])
    # A K⁻¹ = (K⁻¹ Aᵀ)ᵀ since K is symmetric
    inv = lambda A: scipy.linalg.cho_solve(cho, A.T, check_finite=False).T
    return Factors1D(inv(K2), inv(Km), inv(K2m), scipy.linalg.cho_solve(cho, np.eye(len(x)), check_finite=False))


class MapOperator(LinearOperator):
    """``I + τ G⁻ᵀ P G⁻¹``: GP-HM's MAP normal equations ``(τ P + GᵀG) U = …`` in ``W = G U``.

    ``P`` is the prior precision on the interior (a Kronecker product of the factors' ``K⁻¹``
    blocks) and ``G`` the Kronecker-sum Laplacian; the change of variables is the fast-diag
    preconditioner applied on both sides, so CG sees ``I`` plus the prior's pull: few iterations
    when the equation noise ``τ`` is small.  Symmetric positive definite.
    """

    def __init__(self, solve_G: Callable, solve_GT: Callable, P: KroneckerProduct, tau: float) -> None:
        super().__init__(np.float64, P.shape)
        self.solve_G, self.solve_GT, self.P, self.tau = solve_G, solve_GT, P, tau

    def _matvec(self, w: np.ndarray) -> np.ndarray:
        w = np.ravel(w)
        return w + self.tau * self.solve_GT(self.P @ self.solve_G(w))

    def _rmatvec(self, w: np.ndarray) -> np.ndarray:
        return self._matvec(w)


def sin_solution(frequency: float = 100.0, dim: int = 2) -> tuple[Callable, Callable]:
    """``u = Π_d sin(a x_d)`` and ``f = Δu = −D a² u`` (the paper's high-frequency benchmark)."""
    u = lambda *xs: np.prod([np.sin(frequency * x) for x in xs], axis=0)
    f = lambda *xs: -len(xs) * frequency**2 * u(*xs)
    return u, f


@dataclass
class Trial:
    """One outer step: the kernel tried, the interpolant's residual at the cell centres, its error."""

    frequency: float
    lengthscale: float
    validation: float
    error: float | None = None


class GPPoisson(SequenceProblem):
    """GP-HM's Poisson benchmarks on an ``n^dim`` grid; each system is one kernel's MAP solve.

    Parameters
    ----------
    n : int
        Grid points per dimension, boundary included (the paper: 200 or 300 in 2-D).
    dim : int
        1 or 2 (3 works; the cost grows as ``n^dim·n``).
    solution : (u, f) callables or None
        The exact solution (for Dirichlet data and the reported error) and ``f = Δu``; default
        ``sin(100x)·sin(100y)``.
    noise : float
        The equation likelihood's variance ``τ``.  0 (default): its limit, the collocation system
        ``(G⊕…⊕G) U = …`` solved exactly by ``fast-diag``.  ``τ > 0``: GP-HM's MAP with the prior
        term, each system the SPD :class:`MapOperator` (solved by CG; its matvec is two fast-diag
        solves and a Kronecker product).
    scan, refine, stages : int, int, tuple of (ℓ, width)
        Outer steps: a scan of the frequency over ``[0, max_frequency]`` at ``scan_lengthscale``,
        then per stage ``refine`` golden-section steps at length scale ``ℓ`` within ``±width``
        scan spacings of the best frequency so far (longer ℓ: a narrower, more accurate peak).
    """

    name = "gp-poisson"

    def __init__(self, n: int = 200, dim: int = 2, solution: tuple[Callable, Callable] | None = None, *,
                 max_frequency: float | None = None, scan: int = 13, refine: int = 8,
                 stages: tuple[tuple[float, float], ...] = ((0.3, 1.0), (1.0, 0.3), (2.0, 0.1)),
                 scan_lengthscale: float = 0.1,
                 jitter: float = 1e-10, noise: float = 0.0) -> None:
        if int(n) != n or n < 5:
            raise InvalidSystemError(f"n must be an integer >= 5, got {n!r}")
        if dim not in (1, 2, 3):
            raise InvalidSystemError(f"dim must be 1, 2 or 3, got {dim!r}")
        self.n, self.dim = int(n), int(dim)
        self.u_exact, self.f = solution or sin_solution(100.0, self.dim)
        self.x = np.linspace(0.0, 1.0, self.n)
        self.max_frequency = max_frequency or 0.5 * math.pi * (self.n - 1)  # half the grid's Nyquist
        self.scan, self.refine, self.stages = int(scan), int(refine), tuple(stages)
        self.scan_lengthscale, self.jitter = float(scan_lengthscale), float(jitter)
        if not (math.isfinite(noise) and noise >= 0):
            raise InvalidSystemError(f"noise must be a finite number >= 0, got {noise!r}")
        self.noise = float(noise)
        grids = np.meshgrid(*([self.x] * self.dim), indexing="ij")
        self.U_true = self.u_exact(*grids)
        self.F = self.f(*grids)
        xm = 0.5 * (self.x[1:] + self.x[:-1])
        mids = np.meshgrid(*([xm] * self.dim), indexing="ij")
        self.F_mid = self.f(*mids)
        self.interior = (slice(1, -1),) * self.dim
        self.reset()

    @property
    def steps(self) -> int:
        return self.scan + self.refine * len(self.stages)

    def reset(self) -> None:
        self._step = 0
        self.trials: list[Trial] = []
        self.best: tuple[float, np.ndarray] | None = None  # (validation, full grid values)
        self._search = self._schedule()
        self._theta = next(self._search)
        self._current: tuple[Factors1D, np.ndarray] | None = None

    # the outer loop: a generator that proposes (ω, ℓ) and is sent each proposal's validation score
    def _schedule(self) -> Generator[tuple[float, float], float, None]:
        ell = self.scan_lengthscale
        grid = np.linspace(0.0, self.max_frequency, self.scan)
        scores = []
        for om in grid:
            scores.append((yield float(om), ell))
        i = int(np.argmin(scores))
        centre, step = float(grid[i]), float(grid[1] - grid[0])
        # the spectral peak narrows as ℓ grows: each stage refines ω in a narrower window
        for ell, width in self.stages:
            _, centre, _ = yield from self._golden(max(0.0, centre - width * step), centre + width * step,
                                                   ell, (math.inf, centre, ell))

    def _golden(self, lo: float, hi: float, ell: float, best: tuple) -> Generator:
        ratio = (math.sqrt(5) - 1) / 2
        a, b = lo, hi
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        fc = yield c, ell
        best = min(best, (fc, c, ell))
        fd = yield d, ell
        best = min(best, (fd, d, ell))
        for _ in range(self.refine - 2):
            if fc < fd:
                b, d, fd = d, c, fc
                c = b - ratio * (b - a)
                fc = yield c, ell
                best = min(best, (fc, c, ell))
            else:
                a, c, fc = c, d, fd
                d = a + ratio * (b - a)
                fd = yield d, ell
                best = min(best, (fd, d, ell))
        return best

    @property
    def kernel(self) -> MaternCosine:
        """The kernel of the current outer step."""
        om, ell = self._theta
        return MaternCosine((1.0,), (ell,), (om,))

    def system(self) -> LinearSystem:
        if self._step >= self.steps:
            raise IndexError(f"the sequence has {self.steps} steps; call reset() to run it again")
        fac = factors_1d(self.kernel, self.x, self.jitter)
        # Dirichlet data moved to the right-hand side: Laplacian of the grid function that is g on
        # the boundary and 0 inside
        Ub = self.U_true.copy()
        Ub[self.interior] = 0.0
        lap_b = sum(apply_along(Ub, d, fac.D) for d in range(self.dim))
        rhs = (self.F - lap_b)[self.interior].ravel()
        G = fac.D[1:-1, 1:-1]
        A = KroneckerSum([G] * self.dim)
        self._current = (fac, Ub, None)
        om, ell = self._theta
        context = {"frequency": om, "lengthscale": ell}
        if self.noise == 0.0:
            return LinearSystem(A=A, b=rhs, index=self._step, context=context, grid_shape=A.grid_shape, structure=A)
        from ..solvers.fastdiag import FastDiag

        solve_G = FastDiag().setup(A, None, structure=as_structure(A, A)).apply
        AT = KroneckerSum([G.T] * self.dim)
        solve_GT = FastDiag().setup(AT, None, structure=as_structure(AT, AT)).apply
        inner = fac.K_inv[1:-1, 1:-1]
        P = KroneckerProduct([inner] * self.dim)
        # the prior couples interior and boundary values: (K⁻¹ U_b) on the interior moves to the right
        prior_b = KroneckerProduct([fac.K_inv] * self.dim) @ Ub.ravel()
        b = rhs - self.noise * solve_GT(prior_b.reshape(Ub.shape)[self.interior].ravel())
        self._current = (fac, Ub, solve_G)
        return LinearSystem(A=MapOperator(solve_G, solve_GT, P, self.noise), b=b, index=self._step,
                            context=context, grid_shape=A.grid_shape)

    def values(self, x: np.ndarray) -> np.ndarray:
        """The full grid values (boundary data included) for interior solution ``x``."""
        _, Ub, solve_G = self._current
        if solve_G is not None:  # the MAP system's unknown is W = G U
            x = solve_G(x)
        U = Ub.copy()
        U[self.interior] = x.reshape((self.n - 2,) * self.dim)
        return U

    def validation(self, U: np.ndarray) -> float:
        """Relative residual ``‖Δu − f‖/‖f‖`` of the GP interpolant at the cell centres."""
        fac = self._current[0]
        lap = 0.0
        for d in range(self.dim):
            V = U
            for e in range(self.dim):
                V = apply_along(V, e, fac.F_mid if e == d else fac.E_mid)
            lap = lap + V
        return float(np.linalg.norm(lap - self.F_mid) / np.linalg.norm(self.F_mid))

    def accept(self, x: np.ndarray) -> None:
        U = self.values(np.asarray(x, dtype=np.float64))
        score = self.validation(U)
        om, ell = self._theta
        self.trials.append(Trial(om, ell, score, self.error(U)))
        if self.best is None or score < self.best[0]:
            self.best = (score, U)
        self._step += 1
        try:
            self._theta = self._search.send(score)
        except StopIteration:
            pass

    def error(self, U: np.ndarray | None = None) -> float:
        """Relative L2 error on the grid against the exact solution (of the best trial by default)."""
        U = self.best[1] if U is None else U
        return float(np.linalg.norm(U - self.U_true) / np.linalg.norm(self.U_true))

    @property
    def state(self) -> np.ndarray | None:
        return None if self.best is None else self.best[1]

    def describe(self) -> dict:
        return {"name": self.name, "n": self.n, "dim": self.dim, "steps": self.steps}
