"""ConvectionDiffusion: transport by a turning, gusting wind (upwind finite differences): non-symmetric systems.

Why this workload: every other workload is SPD, so without it the non-symmetric configurations
(GMRES, BiCGStab, ILU) are never judged.  The wind turns and changes strength every step, so the
matrix changes too, and how far it is from symmetric (the cell Péclet number ``|w| h / ε``)
drifts along the sequence.

Model: ``u_t + w(t)·∇u − ε Δu = f`` on the unit square, ``u = 0`` on the boundary, ``u(0) = 0``,
on the ``n × n`` interior points of a uniform grid (``h = 1/(n+1)``, x fastest).  Convection is
first-order upwind, diffusion the 5-point stencil, time backward Euler:
``(I + dt (C(w) + ε L)) u⁺ = u + dt f``.  Upwinding makes the matrix an M-matrix, so the discrete
solution obeys a maximum principle (``u ≥ 0`` for ``f ≥ 0``).  The wind is spatially uniform,
``w(t) = W (1 + ½ sin(2π t / gust)) (cos θ(t), sin θ(t))`` with ``θ(t) = θ₀ + 2π t / period``;
``θ₀`` and the source position ``(a Gaussian f)`` are drawn from ``seed``.
Context: ``{"t": t, "wind": |w(t)|}``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidSystemError
from ._support import check_int, check_positive
from .base import LinearSystem, SolutionStateProblem


def _difference_1d(m: int, h: float) -> tuple[sp.csr_array, sp.csr_array, sp.csr_array]:
    """Backward and forward first differences and the second difference on ``m`` interior points."""
    ones = np.ones(m)
    back = sp.diags_array([ones, -ones[:-1]], offsets=[0, -1]) / h
    fwd = sp.diags_array([-ones, ones[:-1]], offsets=[0, 1]) / h
    second = sp.diags_array([ones[:-1], -2.0 * ones, ones[:-1]], offsets=[-1, 0, 1]) / h**2
    return sp.csr_array(back), sp.csr_array(fwd), sp.csr_array(second)


class ConvectionDiffusion(SolutionStateProblem):
    """Backward-Euler steps of 2-D convection–diffusion: ``steps`` non-symmetric systems of size ``n²``.

    Parameters
    ----------
    n : int
        Interior points per side (``n²`` unknowns; 150 → 22,500).
    steps : int
        Number of time steps (systems).
    dt : float
        Time step.
    eps : float
        Diffusivity ``ε``.
    wind : float
        Mean wind speed ``W``.
    period, gust : float
        Time for the wind to turn once, and period of its strength oscillation.
    seed : int
        Draws the initial wind direction and the source position.
    """

    name = "convdiff"

    def __init__(self, n: int = 16, steps: int = 50, *, dt: float = 1e-2, eps: float = 1e-2, wind: float = 10.0,
                 period: float = 1.0, gust: float = 0.37, seed: int = 0) -> None:
        self.m = check_int("n", n, 2)
        self._steps = check_int("steps", steps, 1)
        self.seed = check_int("seed", seed, 0)
        self.dt = check_positive("dt", dt)
        self.eps = check_positive("eps", eps)
        self.wind = float(wind)
        if not math.isfinite(self.wind):
            raise InvalidSystemError(f"wind must be finite, got {wind!r}")
        self.period = check_positive("period", period)
        self.gust = check_positive("gust", gust)
        h = 1.0 / (self.m + 1)
        back, fwd, second = _difference_1d(self.m, h)
        eye = sp.eye_array(self.m, format="csr")
        # unknown k = j*m + i at (x_i, y_j): x varies fastest
        self._dx_back, self._dx_fwd = sp.kron(eye, back), sp.kron(eye, fwd)
        self._dy_back, self._dy_fwd = sp.kron(back, eye), sp.kron(fwd, eye)
        self._laplacian = sp.csr_array(sp.kron(eye, second) + sp.kron(second, eye))
        self._identity = sp.eye_array(self.m * self.m, format="csr")
        rng = np.random.default_rng(self.seed)
        self._theta0 = float(rng.uniform(0.0, 2.0 * math.pi))
        cx, cy = rng.uniform(0.3, 0.7, size=2)
        grid = np.arange(1, self.m + 1) * h
        X, Y = np.meshgrid(grid, grid, indexing="xy")  # row j = y_j, column i = x_i
        self.f = (10.0 * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / 0.01)).ravel()
        self.reset()

    @property
    def n(self) -> int:
        """Number of unknowns, ``n²``."""
        return self.m * self.m

    def velocity(self, t: float) -> tuple[float, float]:
        """The wind ``w(t)``."""
        speed = self.wind * (1.0 + 0.5 * math.sin(2.0 * math.pi * t / self.gust))
        theta = self._theta0 + 2.0 * math.pi * t / self.period
        return speed * math.cos(theta), speed * math.sin(theta)

    def operator(self, t: float) -> sp.csr_array:
        """``C(w(t)) − ε Δ_h``: upwind convection plus diffusion (the spatial operator, no time step)."""
        wx, wy = self.velocity(t)
        conv = (max(wx, 0.0) * self._dx_back + min(wx, 0.0) * self._dx_fwd
                + max(wy, 0.0) * self._dy_back + min(wy, 0.0) * self._dy_fwd)
        return sp.csr_array(conv - self.eps * self._laplacian)

    def system(self) -> LinearSystem:
        self._current()
        t = (self._step + 1) * self.dt
        A = sp.csr_array(self._identity + self.dt * self.operator(t))
        A.sum_duplicates()
        A.sort_indices()
        b = self.u + self.dt * self.f
        return LinearSystem(A=A, b=b, index=self._step, context={"t": t, "wind": math.hypot(*self.velocity(t))},
                            grid_shape=(self.m, self.m))

    def describe(self) -> dict:
        return {"name": self.name, "n": self.m, "unknowns": self.n, "steps": self._steps, "dt": self.dt, "eps": self.eps,
                "wind": self.wind, "seed": self.seed}
