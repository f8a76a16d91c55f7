"""AnisotropicHeat3D: backward-Euler heat on a cube whose three axis diffusivities drift independently.

Why this workload: every other grid workload is 2-D, and Heat2D's matrices change by one scalar
(``I + c(t)·dt·L``), which ``fastdiag-cg`` follows without projecting again.  Here each axis has its
own diffusivity, ``k_x(t)``, ``k_y(t)``, ``k_z(t)``, so every matrix is still a Kronecker sum (one
projection solves it exactly) but no scalar and shift map one onto the next: a reused separable
preconditioner goes stale at once, and whether to rebuild it every step or fall back to SSOR-PCG
is what a learner must find.  The 3-D grid also makes sparse LU costly (fill grows as ``n²``).

Model: ``u_t = ∂x(k_x u_x) + ∂y(k_y u_y) + ∂z(k_z u_z) + f(t)`` on the unit cube, ``u = 0`` on the
boundary, ``u(0) = 0``, on the ``m³`` interior points of a uniform grid (7-point stencil, x fastest),
backward Euler: ``(I + dt K(t)) u⁺ = u + dt f(t)``.  ``k_x = 1 + A sin²(ω₁ t)``,
``k_y = 1 + A cos²(ω₂ t)``, ``k_z = 1``; ``f`` is a Gaussian source circling the cube's centre.
Context: ``{"t": t}``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ._support import check_int, check_positive
from .base import LinearSystem, SolutionStateProblem


def _second_difference(m: int) -> sp.csr_array:
    """``−d²/dx²`` on ``m`` interior points of ``[0, 1]`` (Dirichlet), scaled by ``1/h²``."""
    h = 1.0 / (m + 1)
    ones = np.ones(m)
    return sp.csr_array(sp.diags_array([-ones[:-1], 2.0 * ones, -ones[:-1]], offsets=[-1, 0, 1]) / h**2)


class AnisotropicHeat3D(SolutionStateProblem):
    """``steps`` SPD systems of size ``m³`` from backward-Euler steps with drifting anisotropy.

    Parameters
    ----------
    m : int
        Interior points per side (``m³`` unknowns; 25 → 15,625).
    steps : int
        Number of time steps (systems).
    dt : float
        Time step.
    anisotropy : float
        ``A``: how far ``k_x`` and ``k_y`` swing above 1.
    rates : tuple of two floats
        ``ω₁, ω₂``: how fast ``k_x`` and ``k_y`` swing (radians per unit time).
    seed : int
        Draws the source's orbit phase and height.
    """

    name = "heat3d-aniso"

    def __init__(self, m: int = 6, steps: int = 30, *, dt: float = 1e-3, anisotropy: float = 50.0,
                 rates: tuple[float, float] = (100.0, 130.0), seed: int = 0) -> None:
        self.m = check_int("m", m, 3)
        self._steps = check_int("steps", steps, 1)
        self.seed = check_int("seed", seed, 0)
        self.dt = check_positive("dt", dt)
        self.anisotropy = check_positive("anisotropy", anisotropy)
        self.rates = (check_positive("rates[0]", rates[0]), check_positive("rates[1]", rates[1]))
        eye, second = sp.eye_array(self.m, format="csr"), _second_difference(self.m)
        # unknown (i, j, k) at index (i*m + j)*m + k: the last axis varies fastest
        self._axes = [sp.csr_array(sp.kron(sp.kron(second, eye), eye)),
                      sp.csr_array(sp.kron(sp.kron(eye, second), eye)),
                      sp.csr_array(sp.kron(sp.kron(eye, eye), second))]
        self._identity = sp.eye_array(self.n, format="csr")
        rng = np.random.default_rng(self.seed)
        self._phase, self._height = float(rng.uniform(0.0, 2.0 * math.pi)), float(rng.uniform(0.35, 0.65))
        self._grid = np.arange(1, self.m + 1) / (self.m + 1)
        self.reset()

    @property
    def n(self) -> int:
        """Number of unknowns, ``m³``."""
        return self.m ** 3

    def diffusivities(self, t: float) -> tuple[float, float, float]:
        """``(k_x, k_y, k_z)`` at time ``t``."""
        a, (w1, w2) = self.anisotropy, self.rates
        return 1.0 + a * math.sin(w1 * t) ** 2, 1.0 + a * math.cos(w2 * t) ** 2, 1.0

    def source(self, t: float) -> np.ndarray:
        """The Gaussian heat source at time ``t``, circling the centre in the x–z plane."""
        angle = self._phase + 2.0 * math.pi * t / (50.0 * self.dt)
        c = (0.5 + 0.3 * math.cos(angle), self._height, 0.5 + 0.3 * math.sin(angle))
        X, Y, Z = np.meshgrid(self._grid, self._grid, self._grid, indexing="ij")
        return 100.0 * np.exp(-((X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2) / 0.02).ravel()

    def system(self) -> LinearSystem:
        k = self._current()
        t = (k + 1) * self.dt
        K = sum(k * L for k, L in zip(self.diffusivities(t), self._axes))
        A = sp.csr_array(self._identity + self.dt * K)
        A.sum_duplicates()
        A.sort_indices()
        return LinearSystem(A=A, b=self.u + self.dt * self.source(t), index=k, context={"t": t},
                            grid_shape=(self.m, self.m, self.m))

    def describe(self) -> dict:
        return {"name": self.name, "m": self.m, "unknowns": self.n, "steps": self._steps, "dt": self.dt,
                "anisotropy": self.anisotropy, "rates": list(self.rates), "seed": self.seed}
