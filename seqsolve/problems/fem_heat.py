"""TransientHeatFEM: heat flow on a disc whose conductivity has a hot spot that moves (P1, scikit-fem).

Why this workload: unlike Heat2D's uniform diffusion on a square grid, the matrix here comes from
an unstructured triangle mesh and has a *spatial* contrast (~100) that moves every step, so a
setup built for one step (AMG hierarchy, factorisation) goes stale in a way no scalar context
describes.  With ``update_every=k`` the conductivity changes only every ``k`` steps and the very
same matrix object is returned in between, which rewards configurations that reuse their setup.

Model: ``u_t − div(κ(x, t) ∇u) = f`` on the unit disc (scikit-fem's ``MeshTri.init_circle``,
refined ``refine`` times), ``u = 0`` on the boundary, ``u(0) = 0``, constant source ``f``;
``κ = 1 + (contrast − 1)·exp(−|x − c(t)|²/r²)`` with the spot centre ``c(t)`` circling the origin
(start angle, orbit radius and direction drawn from ``seed``).  Backward Euler gives
``(M + dt K) u⁺ = M u + dt F``, Crank–Nicolson ``(M + dt/2 K) u⁺ = (M − dt/2 K) u + dt F`` with
``K`` at the half step; unknowns are the interior nodes.  Context: ``{"t": time of the new state}``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigurationError
from ._support import check_int, check_positive, require_skfem, restrict
from .base import LinearSystem, SolutionStateProblem


class TransientHeatFEM(SolutionStateProblem):
    """Transient heat with a moving conductive spot: ``steps`` SPD systems of P1 finite elements.

    Parameters
    ----------
    refine : int
        Refinements of the disc mesh: 3 → 113 unknowns, 4 → 481, 5 → 1,985, 6 → 8,065, 7 → 32,513.
    steps : int
        Number of time steps (systems).
    dt : float
        Time step.
    contrast : float
        Peak conductivity of the spot over the background (1 = uniform conductivity).
    period : float
        Time for the spot to circle once.
    scheme : {"cn", "be"}
        Crank–Nicolson or backward Euler.
    update_every : int
        Move the spot (reassemble the matrix) only every this many steps.
    source : float
        The constant heat source ``f``.
    seed : int
        Draws the spot's start angle, orbit radius and direction.
    """

    name = "fem-heat"

    def __init__(self, refine: int = 4, steps: int = 100, *, dt: float = 5e-3, contrast: float = 100.0,
                 spot_radius: float = 0.2, period: float = 0.5, scheme: str = "cn", update_every: int = 1,
                 source: float = 1.0, seed: int = 0) -> None:
        skfem = require_skfem("TransientHeatFEM")
        from skfem.helpers import dot, grad

        self.refine = check_int("refine", refine, 1)
        self._steps = check_int("steps", steps, 1)
        self.update_every = check_int("update_every", update_every, 1)
        self.seed = check_int("seed", seed, 0)
        self.dt = check_positive("dt", dt)
        self.contrast = check_positive("contrast", contrast)
        self.spot_radius = check_positive("spot_radius", spot_radius)
        self.period = check_positive("period", period)
        self.source = float(source)
        if scheme not in ("cn", "be"):
            raise ConfigurationError(f"scheme must be 'cn' or 'be', got {scheme!r}")
        self.scheme = scheme
        rng = np.random.default_rng(self.seed)
        self._phase = float(rng.uniform(0.0, 2.0 * math.pi))
        self._orbit = float(rng.uniform(0.3, 0.6))
        self._direction = float(rng.choice([-1.0, 1.0]))

        mesh = skfem.MeshTri.init_circle(self.refine)
        self.basis = skfem.Basis(mesh, skfem.ElementTriP1())
        self.free = self.basis.complement_dofs(self.basis.get_dofs())
        self._xq = np.asarray(self.basis.global_coordinates())  # (2, elements, quadrature points)
        self._stiffness_form = skfem.BilinearForm(lambda u, v, w: w.kappa * dot(grad(u), grad(v)))
        M = skfem.BilinearForm(lambda u, v, w: u * v).assemble(self.basis)
        F = skfem.LinearForm(lambda v, w: self.source * v).assemble(self.basis)
        self.M = restrict(M, self.free)
        self.F = np.asarray(F)[self.free]
        self.reset()

    @property
    def n(self) -> int:
        """Number of unknowns (interior nodes)."""
        return int(self.free.size)

    def reset(self) -> None:
        self._step = 0
        self.u = np.zeros(self.n)
        self._cached: tuple[int, sp.csr_array, sp.csr_array] | None = None  # (block, A, dt/2·K or dt·K)

    def spot_centre(self, t: float) -> tuple[float, float]:
        """Where the conductive spot is at time ``t``."""
        a = self._phase + self._direction * 2.0 * math.pi * t / self.period
        return self._orbit * math.cos(a), self._orbit * math.sin(a)

    def conductivity(self, t: float) -> np.ndarray:
        """``κ`` at the quadrature points, shape ``(elements, quadrature points)``."""
        cx, cy = self.spot_centre(t)
        d2 = (self._xq[0] - cx) ** 2 + (self._xq[1] - cy) ** 2
        return 1.0 + (self.contrast - 1.0) * np.exp(-d2 / self.spot_radius**2)

    def stiffness(self, t: float) -> sp.csr_array:
        """The stiffness matrix ``K`` for ``κ(·, t)`` on the interior nodes."""
        return restrict(self._stiffness_form.assemble(self.basis, kappa=self.conductivity(t)), self.free)

    def _matrices(self) -> tuple[sp.csr_array, sp.csr_array]:
        """``(A, B)``: the system matrix and the scaled stiffness it adds to ``M``; cached per block."""
        block = self._step // self.update_every
        if self._cached is None or self._cached[0] != block:
            first = block * self.update_every  # the step whose time sets κ for this block
            theta = 0.5 if self.scheme == "cn" else 1.0
            t_k = (first + theta) * self.dt
            B = sp.csr_array((theta * self.dt) * self.stiffness(t_k))
            self._cached = (block, sp.csr_array(self.M + B), B)
        return self._cached[1], self._cached[2]

    def system(self) -> LinearSystem:
        self._current()
        A, B = self._matrices()
        b = self.M @ self.u + self.dt * self.F
        if self.scheme == "cn":
            b = b - B @ self.u
        return LinearSystem(A=A, b=b, index=self._step, context={"t": (self._step + 1) * self.dt})

    def nodal(self, u: np.ndarray | None = None) -> np.ndarray:
        """The temperature at every mesh node (boundary zeros included)."""
        full = np.zeros(self.basis.N)
        full[self.free] = self.u if u is None else u
        return full

    def describe(self) -> dict:
        return {"name": self.name, "refine": self.refine, "n": self.n, "steps": self._steps, "dt": self.dt,
                "contrast": self.contrast, "scheme": self.scheme, "update_every": self.update_every,
                "seed": self.seed}
