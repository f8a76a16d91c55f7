"""Heat2D: the time-varying 2-D heat equation of *Learning to Relax* (Khodak et al., ICLR 2024).

Crank–Nicolson on ``[0,1]²`` with homogeneous Dirichlet boundary; every step gives one SPD
system ``(I − (c(h)·dt/2)·L) x = (I + (c(h)·dt/2)·L) u + dt·f(h)`` whose matrix changes with the
diffusion coefficient ``c(h)`` at the half step ``h``.  Definitions follow ``shared/workloads.md``
exactly; ``c(h)`` is passed to policies as the context ``{"c": c(h)}``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidSystemError
from ..operators import KroneckerSum
from .base import LinearSystem, SequenceProblem


def laplacian_2d(nx: int) -> sp.csr_array:
    """5-point Laplacian on the ``(nx-1)²`` interior points, divided by ``dx²`` (j fastest)."""
    m = nx - 1
    dx = 1.0 / nx
    T = sp.diags_array([np.ones(m - 1), -2.0 * np.ones(m), np.ones(m - 1)], offsets=[-1, 0, 1])
    I = sp.eye_array(m)
    return sp.csr_array((sp.kron(I, T) + sp.kron(T, I)) / dx**2)


def laplacian_1d(nx: int) -> sp.csr_array:
    """The 1-D factor ``tridiag(1, −2, 1)/dx²`` of :func:`laplacian_2d` (``L = T⊗I + I⊗T``)."""
    m, dx = nx - 1, 1.0 / nx
    return sp.csr_array(sp.diags_array([np.ones(m - 1), -2.0 * np.ones(m), np.ones(m - 1)],
                                       offsets=[-1, 0, 1]) / dx**2)


def variable_diffusion(m: int, k) -> sp.csr_array:
    """``−∇·(k∇·)`` on an m×m interior grid of the unit square (spacing 1/(m+1)), 5-point, the
    coefficient ``k(x, y)`` evaluated at the cell faces (j fastest): a tensor-grid matrix that is
    not a Kronecker sum unless ``k`` separates."""
    h = 1.0 / (m + 1)
    g = (np.arange(m) + 1) * h
    X, Y = np.meshgrid(g, g, indexing="ij")
    idx = np.arange(m * m).reshape(m, m)
    ii, jj = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    rows, cols, vals = [], [], []
    diag = np.zeros((m, m))
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        kf = k(X + di * h / 2, Y + dj * h / 2) / h**2
        diag += kf
        ni, nj = ii + di, jj + dj
        ok = (ni >= 0) & (ni < m) & (nj >= 0) & (nj < m)
        rows.append(idx[ok]); cols.append(idx[ni[ok], nj[ok]]); vals.append(-kf[ok])
    rows.append(idx.ravel()); cols.append(idx.ravel()); vals.append(diag.ravel())
    return sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m,) * 2)


def diffusion(t: float) -> float:
    """``c(t) = max(0.1·sin(2πt), −10·sin(2πt))``: small and positive, then large."""
    s = np.sin(2.0 * np.pi * t)
    return float(max(0.1 * s, -10.0 * s))


def bump(px: np.ndarray, py: np.ndarray, centre: tuple[float, float], r: float) -> np.ndarray:
    """``exp(1 − 1/(1 − s))`` with ``s = min(1, |x − centre|²/r²)``; 0 where ``s = 1``."""
    s = np.minimum(1.0, ((px - centre[0]) ** 2 + (py - centre[1]) ** 2) / r**2)
    out = np.zeros_like(s)
    inside = s < 1.0
    out[inside] = np.exp(1.0 - 1.0 / (1.0 - s[inside]))
    return out


class Heat2D(SequenceProblem):
    """The Heat2D sequence: ``steps`` Crank–Nicolson systems of size ``(nx-1)²``.

    Parameters
    ----------
    nx : int
        Intervals per side (the paper uses 25, 50, 100, 200, 400).
    steps : int
        Number of time steps (the paper: 5000, with ``dt = 5.0 / 5000``).
    dt : float
        Time step; the default ``1e-3`` matches the paper's stop time 5.0 over 5000 steps.
    """

    name = "heat2d"

    def __init__(self, nx: int = 100, steps: int = 5000, *, dt: float = 1e-3) -> None:
        if int(nx) != nx or nx < 3:
            raise InvalidSystemError(f"nx must be an integer >= 3, got {nx!r}")
        if int(steps) != steps or steps < 1:
            raise InvalidSystemError(f"steps must be a positive integer, got {steps!r}")
        if not (np.isfinite(dt) and dt > 0):
            raise InvalidSystemError(f"dt must be positive, got {dt!r}")
        self.nx = int(nx)
        self._steps = int(steps)
        self.dt = float(dt)
        self.L = laplacian_2d(self.nx)
        self.identity = sp.eye_array(self.L.shape[0], format="csr")
        T = laplacian_1d(self.nx)
        #: ``L`` as factors: each system's matrix is ``L_kron.with_scalars(1, −c·dt/2)``
        self.L_kron = KroneckerSum([T, T])
        grid = np.arange(1, self.nx) / self.nx
        # unknown k at (i·dx, j·dx), j fastest: px varies slowly, py fast
        self.px, self.py = (a.ravel() for a in np.meshgrid(grid, grid, indexing="ij"))
        self.reset()

    @property
    def steps(self) -> int:
        return self._steps

    @property
    def n(self) -> int:
        """Number of unknowns, ``(nx-1)²``."""
        return self.L.shape[0]

    def reset(self) -> None:
        self._step = 0
        self.t = 0.0
        self.u = bump(self.px, self.py, (0.5, 0.5), 0.25)

    def forcing(self, t: float) -> np.ndarray:
        """``f(t, x) = 32·bump(x; (0.5 + cos(16πt)/4, 0.5 + sin(16πt)/4), 0.125)``."""
        centre = (0.5 + np.cos(16 * np.pi * t) / 4, 0.5 + np.sin(16 * np.pi * t) / 4)
        return 32.0 * bump(self.px, self.py, centre, 0.125)

    def system(self) -> LinearSystem:
        if self._step >= self._steps:
            raise IndexError(f"the sequence has {self._steps} steps; call reset() to run it again")
        h = self.t + self.dt / 2
        c = diffusion(h)
        K = (c * self.dt / 2) * self.L
        A = sp.csr_array(self.identity - K)
        b = self.u + K @ self.u + self.dt * self.forcing(h)
        m = self.nx - 1
        return LinearSystem(A=A, b=b, index=self._step, context={"c": c}, grid_shape=(m, m),
                            structure=self.L_kron.with_scalars(1.0, -c * self.dt / 2))

    def accept(self, x: np.ndarray) -> None:
        self.u = np.asarray(x, dtype=np.float64).copy()
        self.t += self.dt
        self._step += 1

    @property
    def state(self) -> np.ndarray:
        return self.u

    def describe(self) -> dict:
        return {"name": self.name, "nx": self.nx, "steps": self._steps, "dt": self.dt}
