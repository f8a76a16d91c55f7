"""GraphDiffusion: implicit diffusion on a random geometric graph whose edge weights drift.

Why this workload: every other workload comes from a mesh or a grid, whose degrees are nearly
constant and whose smooth modes geometric coarsening captures.  A random geometric graph has
irregular degrees (Jacobi scaling matters) and no grid, and its weights jump by two orders of
magnitude inside a moving region — graph heat kernels, label propagation and implicit graph
smoothing produce such sequences.

Model: points uniform in the unit square, an edge between points closer than ``r`` (chosen for a
mean degree ``degree``), weights ``w_e(t) = w⁰_e (1 + boost · exp(−|x_e − c(t)|² / σ²))`` with
``x_e`` the edge's midpoint and ``c(t)`` circling the centre; system ``t``:
``(I + τ L_w(t)) u⁺ = u + τ f(t)`` with ``L_w`` the weighted graph Laplacian (SPD after the shift).
Nodes are numbered in a random order, as a graph's would be.  Context: ``{"t": t}``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from ._support import check_int, check_positive
from .base import LinearSystem, SolutionStateProblem


class GraphDiffusion(SolutionStateProblem):
    """``steps`` SPD systems of size ``nodes`` from implicit diffusion steps on a weighted graph.

    Parameters
    ----------
    nodes : int
        Number of graph nodes (unknowns).
    steps : int
        Number of steps (systems).
    tau : float
        Diffusion time per step (larger: harder systems).
    degree : float
        Mean number of neighbours per node.
    boost : float
        How much heavier the edges inside the moving region are.
    seed : int
        Draws the points, their numbering and the base weights.
    """

    name = "graph-diffusion"

    def __init__(self, nodes: int = 300, steps: int = 30, *, tau: float = 0.5, degree: float = 8.0,
                 boost: float = 100.0, seed: int = 0) -> None:
        self.nodes = check_int("nodes", nodes, 4)
        self._steps = check_int("steps", steps, 1)
        self.seed = check_int("seed", seed, 0)
        self.tau = check_positive("tau", tau)
        self.degree = check_positive("degree", degree)
        self.boost = check_positive("boost", boost)
        rng = np.random.default_rng(self.seed)
        self.points = rng.random((self.nodes, 2))
        radius = math.sqrt(self.degree / (math.pi * self.nodes))
        pairs = cKDTree(self.points).query_pairs(r=radius, output_type="ndarray")
        self._i, self._j = pairs[:, 0], pairs[:, 1]
        self._w0 = rng.uniform(0.1, 1.1, size=len(pairs))
        self._mid = 0.5 * (self.points[self._i] + self.points[self._j])
        self._f = np.cos(6.0 * self.points[:, 0]) * np.sin(4.0 * self.points[:, 1])
        self.reset()

    @property
    def n(self) -> int:
        return self.nodes

    def reset(self) -> None:
        self._step = 0
        self.u = np.sin(7.0 * self.points[:, 0]) * np.cos(3.0 * self.points[:, 1])

    def weights(self, t: int) -> np.ndarray:
        """The edge weights of step ``t``."""
        angle = 2.0 * math.pi * t / 60.0
        c = np.array([0.5 + 0.3 * math.cos(angle), 0.5 + 0.3 * math.sin(angle)])
        return self._w0 * (1.0 + self.boost * np.exp(-((self._mid - c) ** 2).sum(axis=1) / 0.02))

    def system(self) -> LinearSystem:
        t, n = self._current(), self.nodes
        w = self.weights(t)
        W = sp.csr_array((np.concatenate([w, w]), (np.concatenate([self._i, self._j]),
                                                    np.concatenate([self._j, self._i]))), shape=(n, n))
        degrees = np.asarray(W.sum(axis=1)).ravel()
        A = sp.csr_array(sp.diags_array(1.0 + self.tau * degrees) - self.tau * W)
        A.sum_duplicates()
        A.sort_indices()
        b = self.u + self.tau * (1.0 + 0.5 * math.sin(0.3 * t)) * self._f
        return LinearSystem(A=A, b=b, index=t, context={"t": float(t)})

    def describe(self) -> dict:
        return {"name": self.name, "nodes": self.nodes, "edges": int(self._i.size), "steps": self._steps,
                "tau": self.tau, "degree": self.degree, "boost": self.boost, "seed": self.seed}
