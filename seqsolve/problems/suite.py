"""The workload suite: every sequence a change to the solver or a learner is judged on, at two sizes.

Why: a learner tuned on Heat2D alone can overfit one kind of drift.  The suite adds an
unstructured FEM heat problem with a moving contrast (and a variant whose matrix changes only
every 10 steps), Picard iterations of a nonlinear PDE, a topology optimisation whose stiffness
contrast grows to 10⁹, and a non-symmetric convection–diffusion sequence, next to Heat2D and
Fluid2D.  ``"test"`` sizes have a few hundred unknowns and build and solve in seconds;
``"bench"`` sizes have 10k–35k unknowns.  ``"holdout"`` runs each workload at other sizes and
parameters (time step, contrast, scheme, seed, load case) than anything was tuned on: a learner
that only fits the bench sequences shows it there.  ``"small"`` sizes have 1k–4k unknowns, where a
solve takes 0.2–10 ms and every fixed cost (the learner's bookkeeping, a first try, a setup) weighs
several times what it does at bench size: the regime of many users' sequences.  Four workloads were added after the learner
was built, each aimed at a path the first seven never exercise: a 3-D grid whose separable matrices
no scalar follows, an irregular graph with no grid, long runs of one high-contrast matrix (a
factorisation's case), and symmetric indefinite systems (CG breaks down).  The FEM workloads need
scikit-fem (``pip install 'seqsolve[fem]'``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..errors import ConfigurationError
from .base import SequenceProblem

#: the sizes every workload is available at
SIZES = ("test", "bench", "holdout", "small")


@dataclass(frozen=True)
class Workload:
    """A named workload with a factory per size; ``symmetric``: its matrices are symmetric, and
    ``definite``: positive definite too (Helmholtz is symmetric, not definite)."""

    name: str
    description: str
    symmetric: bool
    factories: dict[str, Callable[[], SequenceProblem]]
    definite: bool = True

    def fixed_configurations(self, spd: list[str], general: list[str]) -> list[str]:
        """The fixed configurations to judge ``auto`` against: the SPD ones on symmetric matrices
        (on indefinite ones too: whether CG breaks down is part of the picture), the general ones
        where a matrix is not SPD."""
        chosen = (spd if self.symmetric else []) + ([] if self.symmetric and self.definite else general)
        return list(dict.fromkeys(chosen))  # once each (both lists hold direct)

    def make(self, size: str = "test") -> SequenceProblem:
        """A fresh problem at ``size`` (one of :data:`SIZES`)."""
        if size not in self.factories:
            raise ConfigurationError(f"size must be one of {SIZES}, got {size!r}")
        return self.factories[size]()


def _lazy(module: str, cls: str) -> Callable[..., Callable[[], SequenceProblem]]:
    """``factory(**options)``: a maker of ``cls(**options)`` from ``module``, imported only when a
    problem is built (the FEM workloads need scikit-fem, Fluid2D its simulator)."""
    def factory(**options) -> Callable[[], SequenceProblem]:
        def make() -> SequenceProblem:
            return getattr(importlib.import_module(f"{__package__}.{module}"), cls)(**options)
        return make
    return factory


_heat2d = _lazy("heat2d", "Heat2D")
_fluid2d = _lazy("fluid2d", "Fluid2D")
_fem_heat = _lazy("fem_heat", "TransientHeatFEM")
_plaplace = _lazy("fem_plaplace", "PicardPLaplacian")
_topopt = _lazy("fem_topopt", "TopologyOptimization")
_convdiff = _lazy("convection_diffusion", "ConvectionDiffusion")
_heat3d = _lazy("anisotropic_heat3d", "AnisotropicHeat3D")
_graph = _lazy("graph_diffusion", "GraphDiffusion")
_jumps = _lazy("jump_coefficients", "JumpCoefficients")
_helmholtz = _lazy("helmholtz", "Helmholtz")


def suite() -> dict[str, Workload]:
    """All suite workloads by name, each with a factory per size in :data:`SIZES` (in run order)."""
    workloads = [
        Workload("heat2d", "Heat2D, Crank–Nicolson, 5-point grid (test 225, bench 16,129 unknowns)", True,
                 {"test": _heat2d(nx=16, steps=60), "bench": _heat2d(nx=128, steps=1000),
                  "holdout": _heat2d(nx=150, steps=1000, dt=2e-3)}),
        Workload("fluid2d", "Fluid2D pressure Poisson past moving obstacles (test 256, bench 16,384)", True,
                 {"test": _fluid2d(n=16, steps=40), "bench": _fluid2d(n=128, steps=300),
                  "holdout": _fluid2d(n=96, steps=300, seed=3)}),
        Workload("fem-heat", "P1 heat on a disc, conductive spot (×100) moving every step (test 481, bench 32,513)",
                 True, {"test": _fem_heat(refine=4, steps=60, update_every=1), "bench": _fem_heat(refine=7, steps=400, update_every=1),
                        "holdout": _fem_heat(refine=6, steps=400, update_every=1, seed=3, contrast=1000.0, scheme="be", spot_radius=0.15)}),
        Workload("fem-heat-reuse", "fem-heat with the spot moved only every 10 steps: same matrix in between",
                 True, {"test": _fem_heat(refine=4, steps=60, update_every=10), "bench": _fem_heat(refine=7, steps=400, update_every=10),
                        "holdout": _fem_heat(refine=6, steps=400, update_every=5, seed=3, contrast=1000.0, scheme="be", spot_radius=0.15)}),
        Workload("plaplace", "P2 p-Laplacian (p=1.5), Picard iterates under load continuation "
                 "(test 225, bench 16,129)", True,
                 {"test": _plaplace(refine=2, loads=4, picard=5), "bench": _plaplace(refine=5, loads=10, picard=10),
                  "holdout": _plaplace(refine=5, loads=8, picard=8, seed=2, p=1.8, forcing="sine")}),
        Workload("topopt", "SIMP cantilever, Q1 plane stress, contrast up to 1e9 (test 624, bench 25,920)", True,
                 {"test": _topopt(nelx=24, nely=12, steps=20), "bench": _topopt(nelx=160, nely=80, steps=100),
                  "holdout": _topopt(nelx=200, nely=50, steps=100, seed=1, case="mbb")}),
        Workload("convdiff", "upwind convection–diffusion, turning gusty wind: non-symmetric "
                 "(test 256, bench 22,500)", False,
                 {"test": _convdiff(n=16, steps=60), "bench": _convdiff(n=150, steps=400),
                  "holdout": _convdiff(n=180, steps=400, seed=2, eps=5e-3, wind=20.0)}),
        # added after the learner was built (see the module docstring): judged, never tuned on
        Workload("heat3d-aniso", "3-D backward-Euler heat, axis diffusivities drifting independently: separable, "
                 "no scalar follows it (test 216, bench 15,625)", True,
                 {"test": _heat3d(m=6, steps=30), "bench": _heat3d(m=25, steps=400),
                  "holdout": _heat3d(m=28, steps=400, dt=2e-3, anisotropy=20.0, rates=(70.0, 170.0), seed=1)}),
        Workload("graph-diffusion", "implicit diffusion on a random geometric graph, weights ×100 in a moving "
                 "region (test 300, bench 20,000)", True,
                 {"test": _graph(nodes=300, steps=30), "bench": _graph(nodes=20000, steps=400),
                  "holdout": _graph(nodes=30000, steps=400, tau=2.0, degree=12.0, seed=2)}),
        Workload("jump-repeat", "jump coefficients up to 1e4, one matrix per 15 right-hand sides "
                 "(test 256, bench 19,600)", True,
                 {"test": _jumps(m=16, steps=30), "bench": _jumps(m=140, steps=400),
                  "holdout": _jumps(m=160, steps=400, redraw=8, contrast=1e5, blocks=7, seed=2)}),
        Workload("helmholtz", "−Δu − k²u sweeping k² across Laplacian eigenvalues: symmetric indefinite "
                 "(test 256, bench 14,400)", True,
                 {"test": _helmholtz(m=16, steps=30), "bench": _helmholtz(m=120, steps=400),
                  "holdout": _helmholtz(m=150, steps=400, centre=5.7, swing=1.5, period=90.0, source=(0.65, 0.4))},
                 definite=False),
    ]
    return {w.name: replace(w, factories={**w.factories, "small": _SMALL[w.name]}) for w in workloads}


#: the "small" size of each workload (see the module docstring): 1k–4k unknowns, 60–300 systems
_SMALL = {
    "heat2d": _heat2d(nx=50, steps=300),
    "fluid2d": _fluid2d(n=48, steps=150),
    "fem-heat": _fem_heat(refine=5, steps=200, update_every=1, seed=5),
    "fem-heat-reuse": _fem_heat(refine=5, steps=200, update_every=10, seed=5),
    "plaplace": _plaplace(refine=4, loads=8, picard=8),
    "topopt": _topopt(nelx=60, nely=30, steps=60),
    "convdiff": _convdiff(n=50, steps=200),
    "heat3d-aniso": _heat3d(m=14, steps=200),
    "graph-diffusion": _graph(nodes=3000, steps=200),
    "jump-repeat": _jumps(m=50, steps=200),
    "helmholtz": _helmholtz(m=50, steps=200),
}
