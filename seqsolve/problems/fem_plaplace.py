"""PicardPLaplacian: the p-Laplacian solved by Picard iterations under load continuation (P2, scikit-fem).

Why this workload: nonlinear solvers produce sequences whose matrix depends on the previous
*iterate*, not on time.  Here every Picard iterate is one SPD system whose coefficient
``μ = (ε² + |∇u|²)^((p−2)/2)`` varies by orders of magnitude in space (large where the gradient
is small: ``p < 2``), and consecutive iterates at one load differ less and less, so a solver that
learns when its setup can be reused pays off.

Model: ``−div(μ(∇u) ∇u) = λ f`` on the unit square (scikit-fem ``MeshTri.init_sqsymmetric``,
refined ``refine`` times, quadratic elements), ``u = 0`` on the boundary.  The load ``λ`` rises
in ``loads`` equal increments to ``max_load``; at each load ``picard`` iterations solve
``A(u_k) u_{k+1} = λ F`` starting from the last iterate of the previous load (``u = 0`` at first).
``steps = loads · picard``.  Context: ``{"load": λ, "picard": k}``.

``forcing="sine"`` uses ``f = 2π² sin(πx) sin(πy)``: with ``p = 2`` and ``λ = 1`` the exact
solution is ``sin(πx) sin(πy)`` (a manufactured solution); ``forcing="bumps"`` (default) uses a
few Gaussian sources placed from ``seed``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigurationError
from ._support import check_int, check_positive, require_skfem, restrict
from .base import LinearSystem, SequenceProblem


class PicardPLaplacian(SequenceProblem):
    """Picard iterations for the regularised p-Laplacian with load continuation.

    Parameters
    ----------
    refine : int
        Refinements of the square mesh: 2 → 225 unknowns, 3 → 961, 4 → 3,969, 5 → 16,129.
    loads, picard : int
        Load increments, and Picard iterations per load (``steps = loads · picard``).
    p : float
        The exponent (``1 < p``; ``p = 2`` is the linear Poisson problem).
    eps : float
        Regularisation of ``|∇u|`` (bounds ``μ`` by ``eps^(p−2)`` for ``p < 2``).
    max_load : float
        The final load factor ``λ``.
    forcing : {"bumps", "sine"}
        The load shape (see the module docstring).
    seed : int
        Places the Gaussian sources of ``forcing="bumps"``.
    """

    name = "plaplace"

    def __init__(self, refine: int = 2, loads: int = 4, picard: int = 5, *, p: float = 1.5, eps: float = 1e-3,
                 max_load: float = 10.0, forcing: str = "bumps", seed: int = 0) -> None:
        skfem = require_skfem("PicardPLaplacian")
        from skfem.helpers import dot, grad

        self.refine = check_int("refine", refine, 0)
        self.loads = check_int("loads", loads, 1)
        self.picard = check_int("picard", picard, 1)
        self.seed = check_int("seed", seed, 0)
        self.p = check_positive("p", p)
        if self.p <= 1.0:
            raise ConfigurationError(f"p must be > 1, got {p!r}")
        self.eps = check_positive("eps", eps)
        self.max_load = check_positive("max_load", max_load)
        if forcing not in ("bumps", "sine"):
            raise ConfigurationError(f"forcing must be 'bumps' or 'sine', got {forcing!r}")
        self.forcing = forcing

        mesh = skfem.MeshTri.init_sqsymmetric().refined(self.refine)
        self.basis = skfem.Basis(mesh, skfem.ElementTriP2())
        self.free = self.basis.complement_dofs(self.basis.get_dofs())
        self._form = skfem.BilinearForm(lambda u, v, w: w.mu * dot(grad(u), grad(v)))
        f = self._load_shape()
        self.F = np.asarray(skfem.LinearForm(lambda v, w: f(w.x) * v).assemble(self.basis))[self.free]
        self.reset()

    def _load_shape(self):
        if self.forcing == "sine":
            return lambda x: 2.0 * np.pi**2 * np.sin(np.pi * x[0]) * np.sin(np.pi * x[1])
        rng = np.random.default_rng(self.seed)
        centres = rng.uniform(0.2, 0.8, size=(3, 2))
        weights = rng.uniform(0.5, 1.5, size=3)

        def bumps(x):
            out = np.zeros_like(x[0])
            for (cx, cy), wgt in zip(centres, weights):
                out += 10.0 * wgt * np.exp(-((x[0] - cx) ** 2 + (x[1] - cy) ** 2) / 0.02)
            return out

        return bumps

    @property
    def steps(self) -> int:
        return self.loads * self.picard

    @property
    def n(self) -> int:
        """Number of unknowns (interior P2 degrees of freedom)."""
        return int(self.free.size)

    def reset(self) -> None:
        self._step = 0
        self.u = np.zeros(self.n)
        self.changes: list[float] = []  # ‖u_{k+1} − u_k‖ / ‖u_{k+1}‖ per accepted iterate

    def load(self, step: int | None = None) -> float:
        """The load factor ``λ`` of a step (default: the current one)."""
        k = self._step if step is None else step
        return self.max_load * (k // self.picard + 1) / self.loads

    def coefficient(self, u: np.ndarray) -> np.ndarray:
        """``μ(∇u)`` at the quadrature points for interior values ``u``."""
        g = self.basis.interpolate(self.nodal(u)).grad
        return (self.eps**2 + g[0] ** 2 + g[1] ** 2) ** ((self.p - 2.0) / 2.0)

    def matrix(self, u: np.ndarray) -> sp.csr_array:
        """The Picard matrix ``A(u)`` on the interior degrees of freedom."""
        return restrict(self._form.assemble(self.basis, mu=self.coefficient(u)), self.free)

    def system(self) -> LinearSystem:
        if self._step >= self.steps:
            raise IndexError(f"the sequence has {self.steps} steps; call reset() to run it again")
        lam = self.load()
        return LinearSystem(A=self.matrix(self.u), b=lam * self.F, index=self._step,
                            context={"load": lam, "picard": float(self._step % self.picard)})

    def accept(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).copy()
        self.changes.append(float(np.linalg.norm(x - self.u) / max(np.linalg.norm(x), 1e-300)))
        self.u = x
        self._step += 1

    @property
    def state(self) -> np.ndarray:
        return self.u

    def nodal(self, u: np.ndarray | None = None) -> np.ndarray:
        """All P2 degrees of freedom (boundary zeros included) for interior values ``u``."""
        full = np.zeros(self.basis.N)
        full[self.free] = self.u if u is None else u
        return full

    def describe(self) -> dict:
        return {"name": self.name, "refine": self.refine, "n": self.n, "steps": self.steps, "loads": self.loads,
                "picard": self.picard, "p": self.p, "eps": self.eps, "max_load": self.max_load,
                "forcing": self.forcing, "seed": self.seed}
