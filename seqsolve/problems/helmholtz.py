"""Helmholtz: a frequency sweep of ``−Δu − k² u = f``, symmetric but indefinite.

Why this workload: the suite's other symmetric workloads are positive definite, so CG-based
configurations never break down on them.  Here the shift ``k²`` sweeps across several eigenvalues
of the Laplacian: the matrices stay symmetric but have a few negative eigenvalues (CG and SSOR-PCG
may break down or stagnate, incomplete factorisations lose their footing), and as ``k²`` nears an
eigenvalue the systems become ill-conditioned.  A learner must notice failures, fall back cleanly
and find what works — and the accuracy contract must hold throughout.

Model: ``−Δu − k(t)² u = f`` on the unit square, ``u = 0`` on the boundary, 5-point stencil on the
``m × m`` interior points (x fastest), with ``k(t)² = 2π² (centre + swing · sin(2π t / period))``
— in units of the smallest Laplacian eigenvalue ``2π²``, so ``centre = 3.3`` lies between its 2nd
and 3rd; ``f`` a Gaussian source whose strength oscillates.  Context: ``{"t": t, "k2": k(t)²}``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidSystemError
from ._support import check_int, check_positive
from .base import LinearSystem, SolutionStateProblem


class Helmholtz(SolutionStateProblem):
    """``steps`` symmetric indefinite systems of size ``m²`` along a sweep of the wavenumber.

    Parameters
    ----------
    m : int
        Interior points per side (``m²`` unknowns; 120 → 14,400).
    steps : int
        Number of systems.
    centre, swing : float
        ``k²`` sweeps ``2π² (centre ± swing)``.
    period : float
        Systems per full sweep.
    source : tuple of two floats
        Where the Gaussian source sits.
    """

    name = "helmholtz"

    def __init__(self, m: int = 16, steps: int = 30, *, centre: float = 3.3, swing: float = 2.0,
                 period: float = 125.0, source: tuple[float, float] = (0.3, 0.6)) -> None:
        self.m = check_int("m", m, 2)
        self._steps = check_int("steps", steps, 1)
        self.centre = check_positive("centre", centre)
        self.swing = float(swing)
        if not (math.isfinite(self.swing) and 0.0 <= self.swing < self.centre):
            raise InvalidSystemError(f"swing must be in [0, centre), got {swing!r}")
        self.period = check_positive("period", period)
        h = 1.0 / (self.m + 1)
        ones = np.ones(self.m)
        second = sp.diags_array([-ones[:-1], 2.0 * ones, -ones[:-1]], offsets=[-1, 0, 1]) / h**2
        eye = sp.eye_array(self.m, format="csr")
        self._laplacian = sp.csr_array(sp.kron(eye, second) + sp.kron(second, eye))
        self._identity = sp.eye_array(self.n, format="csr")
        grid = np.arange(1, self.m + 1) * h
        X, Y = np.meshgrid(grid, grid, indexing="xy")
        self._f = np.exp(-((X - source[0]) ** 2 + (Y - source[1]) ** 2) / 0.0125).ravel()
        self.reset()

    @property
    def n(self) -> int:
        return self.m * self.m

    def shift(self, t: int) -> float:
        """``k(t)²``."""
        return 2.0 * math.pi ** 2 * (self.centre + self.swing * math.sin(2.0 * math.pi * t / self.period))

    def system(self) -> LinearSystem:
        t = self._current()
        k2 = self.shift(t)
        A = sp.csr_array(self._laplacian - k2 * self._identity)
        A.sum_duplicates()
        A.sort_indices()
        b = (1.0 + 0.1 * math.sin(0.2 * t)) * self._f
        return LinearSystem(A=A, b=b, index=t, context={"t": float(t), "k2": k2}, grid_shape=(self.m, self.m))

    def describe(self) -> dict:
        return {"name": self.name, "m": self.m, "unknowns": self.n, "steps": self._steps, "centre": self.centre,
                "swing": self.swing, "period": self.period}
