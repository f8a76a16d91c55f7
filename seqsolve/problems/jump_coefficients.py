"""JumpCoefficients: many right-hand sides per high-contrast matrix, the matrix redrawn every few steps.

Why this workload: the sequence that repeats matrices in the suite (FEM heat with the spot moved
every 10 steps) is won by an iterative method.  Here the coefficient jumps by up to four orders of
magnitude between blocks, so iterative methods need hundreds of iterations, and each matrix serves
``redraw`` right-hand sides: a sparse factorisation, bought once per matrix, wins — if the learner
buys it early in a run, and only where runs are long enough to pay for it.  Parameter sweeps,
multiple load cases and quasi-static loops produce such sequences.

Model: ``−∇·(κ ∇u) = f`` on the unit square, ``u = 0`` on the walls (cell-centred finite volumes on
an ``m × m`` grid, harmonic face averages: an SPD M-matrix), with ``κ`` log-uniform in
``[1, contrast]`` on a ``blocks × blocks`` checkerboard of random values, redrawn every
``redraw`` steps; ``f`` is a Gaussian source circling the centre (one step per system).
Context: ``{"t": t}``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ._support import check_int, check_positive
from .base import LinearSystem, SolutionStateProblem


class JumpCoefficients(SolutionStateProblem):
    """``steps`` SPD systems of size ``m²``; the matrix changes every ``redraw`` systems.

    Parameters
    ----------
    m : int
        Cells per side (``m²`` unknowns; 140 → 19,600).
    steps : int
        Number of systems.
    redraw : int
        Systems per matrix (a run of one matrix).
    contrast : float
        Largest coefficient ratio (``κ`` is log-uniform in ``[1, contrast]``).
    blocks : int
        Coefficient blocks per side.
    seed : int
        Draws the coefficients.
    """

    name = "jump-repeat"

    def __init__(self, m: int = 16, steps: int = 30, *, redraw: int = 15, contrast: float = 1e4, blocks: int = 10,
                 seed: int = 0) -> None:
        self.m = check_int("m", m, 2)
        self._steps = check_int("steps", steps, 1)
        self.redraw = check_int("redraw", redraw, 1)
        self.contrast = check_positive("contrast", contrast)
        self.blocks = check_int("blocks", blocks, 1)
        self.seed = check_int("seed", seed, 0)
        centres = (np.arange(self.m) + 0.5) / self.m
        self._X, self._Y = np.meshgrid(centres, centres, indexing="ij")
        self.reset()

    @property
    def n(self) -> int:
        return self.m * self.m

    def reset(self) -> None:
        super().reset()
        self._rng = np.random.default_rng(self.seed)
        self._A: sp.csr_array | None = None

    def coefficient(self) -> np.ndarray:
        """A fresh draw of ``κ`` per cell (``m × m``)."""
        values = self.contrast ** self._rng.random((self.blocks, self.blocks))
        which = np.minimum((np.arange(self.m) * self.blocks) // self.m, self.blocks - 1)
        return values[np.ix_(which, which)]

    def matrix(self, kappa: np.ndarray) -> sp.csr_array:
        """The finite-volume matrix of ``κ`` (Dirichlet walls at half a cell)."""
        m = self.m
        idx = np.arange(self.n).reshape(m, m)
        rows, cols, vals = [], [], []
        diag = np.zeros(self.n)
        for axis in (0, 1):
            a = idx[:-1, :] if axis == 0 else idx[:, :-1]
            b = idx[1:, :] if axis == 0 else idx[:, 1:]
            ka = kappa[:-1, :] if axis == 0 else kappa[:, :-1]
            kb = kappa[1:, :] if axis == 0 else kappa[:, 1:]
            face = (2.0 * ka * kb / (ka + kb)).ravel()
            rows += [a.ravel(), b.ravel()]
            cols += [b.ravel(), a.ravel()]
            vals += [-face, -face]
            np.add.at(diag, a.ravel(), face)
            np.add.at(diag, b.ravel(), face)
        # walls: a face to a boundary value of 0, at half a cell (coefficient 2κ)
        for edge in (idx[0, :], idx[-1, :], idx[:, 0], idx[:, -1]):
            np.add.at(diag, edge, 2.0 * kappa.ravel()[edge])
        rows.append(np.arange(self.n))
        cols.append(np.arange(self.n))
        vals.append(diag)
        A = sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(self.n, self.n))
        A.sum_duplicates()
        A.sort_indices()
        return A

    def system(self) -> LinearSystem:
        t = self._current()
        if self._A is None or t % self.redraw == 0:
            self._A = self.matrix(self.coefficient())
        angle = 2.0 * math.pi * t / 40.0
        cx, cy = 0.5 + 0.3 * math.cos(angle), 0.5 + 0.3 * math.sin(angle)
        b = np.exp(-((self._X - cx) ** 2 + (self._Y - cy) ** 2) / 0.005).ravel() / (self.m * self.m)
        return LinearSystem(A=self._A, b=b, index=t, context={"t": float(t)})

    def describe(self) -> dict:
        return {"name": self.name, "m": self.m, "unknowns": self.n, "steps": self._steps, "redraw": self.redraw,
                "contrast": self.contrast, "blocks": self.blocks, "seed": self.seed}
