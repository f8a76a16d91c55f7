"""TopologyOptimization: SIMP compliance minimisation of a plane-stress beam (Q1 elements, scikit-fem).

Why this workload: each design iteration solves one elasticity system whose stiffness contrast
grows from 1 to ``1/emin = 10⁹`` as material is removed, so the sequence starts easy and becomes
very ill-conditioned; plain or point-smoothed CG stall on it, and AMG needs the rigid-body modes
(:meth:`TopologyOptimization.near_nullspace`) to work well on vector problems.

Model (as in Andreassen et al., "Efficient topology optimization in MATLAB using 88 lines of
code", 2011): a ``nelx × nely`` grid of unit square bilinear (Q1) elements, plane stress with
``E₀ = 1`` and ``ν``; element Young's modulus ``E = emin + ρ̃^penal (E₀ − emin)`` from the
*filtered* density ``ρ̃ = H ρ / H·1`` (linear hat filter of radius ``rmin``).  Each step solves
``K(ρ̃) u = f`` on the free degrees of freedom; :meth:`accept` then computes the compliance
``c = fᵀu`` and its sensitivities and moves the design by the optimality-criteria update (move
limit ``move``, volume fraction ``volfrac`` enforced by bisection).  The initial density is
``volfrac`` with a ±1 % perturbation drawn from ``seed``.

Cases: ``"cantilever"`` clamps the left edge and pulls down at the middle of the right edge;
``"mbb"`` is the half MBB beam (symmetry ``u_x = 0`` on the left edge, a roller ``u_y = 0`` at the
bottom-right corner, a downward load at the top-left corner).  Context: ``{"design": k}``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from ..errors import ConfigurationError
from ._support import check_int, check_positive, require_skfem, restrict
from .base import LinearSystem, SequenceProblem


class TopologyOptimization(SequenceProblem):
    """SIMP topology optimisation with a density filter and the OC update: one SPD system per design.

    Parameters
    ----------
    nelx, nely : int
        Elements along x and y; unknowns ≈ ``2 (nelx+1)(nely+1)`` (24×12 → 624, 160×80 → 25,920).
    steps : int
        Design iterations (systems).
    volfrac, penal, rmin, move : float
        Volume fraction, SIMP penalty, filter radius (in element widths), OC move limit.
    emin : float
        Void stiffness relative to solid (``1e-9``: contrast 10⁹).
    nu : float
        Poisson's ratio.
    case : {"cantilever", "mbb"}
        Supports and load (module docstring).
    seed : int
        Draws the ±1 % perturbation of the initial density.
    """

    name = "topopt"

    def __init__(self, nelx: int = 24, nely: int = 12, steps: int = 20, *, volfrac: float = 0.5,
                 penal: float = 3.0, rmin: float = 1.5, move: float = 0.2, emin: float = 1e-9, nu: float = 0.3,
                 case: str = "cantilever", seed: int = 0) -> None:
        skfem = require_skfem("TopologyOptimization")
        from skfem.helpers import ddot, sym_grad
        from skfem.models.elasticity import linear_stress, plane_stress

        self.nelx = check_int("nelx", nelx, 2)
        self.nely = check_int("nely", nely, 2)
        self._steps = check_int("steps", steps, 1)
        self.seed = check_int("seed", seed, 0)
        self.volfrac = check_positive("volfrac", volfrac)
        if self.volfrac >= 1.0:
            raise ConfigurationError(f"volfrac must be in (0, 1), got {volfrac!r}")
        self.penal = check_positive("penal", penal)
        self.rmin = check_positive("rmin", rmin)
        self.move = check_positive("move", move)
        self.emin = check_positive("emin", emin)
        self.nu = float(nu)
        if case not in ("cantilever", "mbb"):
            raise ConfigurationError(f"case must be 'cantilever' or 'mbb', got {case!r}")
        self.case = case

        mesh = skfem.MeshQuad.init_tensor(np.arange(self.nelx + 1.0), np.arange(self.nely + 1.0))
        self.basis = skfem.Basis(mesh, skfem.ElementVector(skfem.ElementQuad1()))
        stress = linear_stress(*plane_stress(1.0, self.nu))
        self._stiffness_form = skfem.BilinearForm(lambda u, v, w: w.E * ddot(stress(sym_grad(u)), sym_grad(v)))
        self._energy_form = skfem.Functional(lambda w: ddot(stress(sym_grad(w["u"])), sym_grad(w["u"])))
        self._nqp = self.basis.X.shape[1]
        self.fixed, self.f_full = self._supports_and_load(mesh)
        self.free = np.setdiff1d(np.arange(self.basis.N), self.fixed)
        self.f = self.f_full[self.free]
        self.H, self.Hs = self._filter(mesh)
        self.reset()

    # ------------------------------------------------------------------ set-up helpers
    def _supports_and_load(self, mesh) -> tuple[np.ndarray, np.ndarray]:
        x, y = mesh.p
        ux, uy = self.basis.nodal_dofs  # x- and y-displacement dof of every node
        f = np.zeros(self.basis.N)
        if self.case == "cantilever":
            left = np.flatnonzero(x == 0.0)
            fixed = np.concatenate([ux[left], uy[left]])
            load = np.argmin((x - self.nelx) ** 2 + (y - self.nely / 2.0) ** 2)
        else:
            left = np.flatnonzero(x == 0.0)
            corner = np.flatnonzero((x == self.nelx) & (y == 0.0))
            fixed = np.concatenate([ux[left], uy[corner]])
            load = np.argmin(x**2 + (y - self.nely) ** 2)
        f[uy[load]] = -1.0
        return np.unique(fixed), f

    def _filter(self, mesh) -> tuple[sp.csr_array, np.ndarray]:
        """The density filter's weights ``H_ij = max(0, rmin − |c_i − c_j|)`` and row sums."""
        centres = mesh.p[:, mesh.t].mean(axis=1).T
        tree = cKDTree(centres)
        pairs = tree.query_ball_point(centres, r=self.rmin)
        rows = np.repeat(np.arange(len(pairs)), [len(p) for p in pairs])
        cols = np.concatenate([np.asarray(p, dtype=np.intp) for p in pairs])
        w = self.rmin - np.linalg.norm(centres[rows] - centres[cols], axis=1)
        keep = w > 0
        H = sp.csr_array((w[keep], (rows[keep], cols[keep])), shape=(len(pairs), len(pairs)))
        return H, np.asarray(H.sum(axis=1)).ravel()

    # ------------------------------------------------------------------ the sequence
    @property
    def steps(self) -> int:
        return self._steps

    @property
    def n(self) -> int:
        """Number of unknowns (free displacement degrees of freedom)."""
        return int(self.free.size)

    def reset(self) -> None:
        self._step = 0
        rng = np.random.default_rng(self.seed)
        x = self.volfrac * (1.0 + 0.01 * rng.uniform(-1.0, 1.0, self.nelx * self.nely))
        self.density = np.clip(x * self.volfrac / x.mean(), 0.0, 1.0)
        self.physical = self._filtered(self.density)
        self.u = np.zeros(self.n)
        self.compliance: list[float] = []

    def _filtered(self, x: np.ndarray) -> np.ndarray:
        return (self.H @ x) / self.Hs

    def young(self) -> np.ndarray:
        """Element Young's moduli of the current design."""
        return self.emin + self.physical**self.penal * (1.0 - self.emin)

    def full_stiffness(self) -> sp.csr_array:
        """The stiffness of the current design over *all* degrees of freedom (no supports)."""
        E = np.repeat(self.young()[:, None], self._nqp, axis=1)
        return sp.csr_array(self._stiffness_form.assemble(self.basis, E=E))

    def rigid_body_modes(self) -> np.ndarray:
        """Translations in x and y and the rotation about the origin, all dofs: shape ``(N, 3)``."""
        ux, uy = self.basis.nodal_dofs
        x, y = self.basis.mesh.p
        R = np.zeros((self.basis.N, 3))
        R[ux, 0] = 1.0
        R[uy, 1] = 1.0
        R[ux, 2] = -y
        R[uy, 2] = x
        return R

    def near_nullspace(self) -> np.ndarray:
        """The rigid-body modes on the free dofs, shape ``(n, 3)``: AMG's near-null space ``B``."""
        return self.rigid_body_modes()[self.free]

    def system(self) -> LinearSystem:
        if self._step >= self._steps:
            raise IndexError(f"the sequence has {self._steps} steps; call reset() to run it again")
        A = restrict(self.full_stiffness(), self.free)
        return LinearSystem(A=A, b=self.f.copy(), index=self._step, context={"design": float(self._step)},
                            near_nullspace=self.near_nullspace())

    def accept(self, x: np.ndarray) -> None:
        """Record the compliance of displacement ``x`` and take one optimality-criteria step."""
        self.u = np.asarray(x, dtype=np.float64).copy()
        full = np.zeros(self.basis.N)
        full[self.free] = self.u
        self.compliance.append(float(self.f @ self.u))
        energy = self._energy_form.elemental(self.basis, u=self.basis.interpolate(full))  # uₑᵀ Kₑ⁰ uₑ
        dc = -self.penal * self.physical ** (self.penal - 1.0) * (1.0 - self.emin) * energy
        dc = self.H @ (dc / self.Hs)  # chain rule through the (symmetric) filter
        dv = self.H @ (np.ones_like(dc) / self.Hs)
        self.density = self._oc_update(self.density, dc, dv)
        self.physical = self._filtered(self.density)
        self._step += 1

    def _oc_update(self, x: np.ndarray, dc: np.ndarray, dv: np.ndarray) -> np.ndarray:
        """Optimality criteria: ``x·sqrt(−dc/(λ dv))`` within the move limit, λ bisected for the volume."""
        lo, hi = 0.0, 1e9
        target = self.volfrac * x.size
        ratio = np.sqrt(np.maximum(-dc, 0.0) / dv)
        while (hi - lo) / (hi + lo) > 1e-3:
            mid = 0.5 * (lo + hi)
            new = np.clip(x * ratio / np.sqrt(mid), np.maximum(0.0, x - self.move), np.minimum(1.0, x + self.move))
            if self._filtered(new).sum() > target:
                lo = mid
            else:
                hi = mid
        return new

    @property
    def state(self) -> np.ndarray:
        return self.density

    def describe(self) -> dict:
        return {"name": self.name, "nelx": self.nelx, "nely": self.nely, "n": self.n, "steps": self._steps,
                "volfrac": self.volfrac, "penal": self.penal, "rmin": self.rmin, "emin": self.emin,
                "case": self.case, "seed": self.seed}
