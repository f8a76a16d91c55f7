"""The graph dimension behind the factorisation priors (issue 8: cheap features set the priors)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from seqsolve.configs import parse
from seqsolve.policies import AutoPolicy
from seqsolve.policies.base import SystemFacts
from seqsolve.policies.graph_dimension import _levels, graph_dimension, lu_products


def _grid(m: int, d: int) -> sp.csr_array:
    T = sp.diags([-np.ones(m - 1), 2.0 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    out = None
    for axis in range(d):
        term = None
        for k in range(d):
            f = T if k == axis else sp.identity(m)
            term = f if term is None else sp.kron(term, f)
        out = term if out is None else out + term
    return sp.csr_array(out)


@pytest.mark.parametrize("m, d, low, high", [(3000, 1, 0.95, 1.05), (60, 2, 1.8, 2.15), (150, 2, 1.85, 2.1),
                                             (14, 3, 2.4, 3.1), (26, 3, 2.6, 3.1)])
def test_a_grid_has_its_dimension(m, d, low, high):
    # (a cube's balls reach its faces at a third of its radius: 3-D grids measure 2.7-2.8)
    assert low <= graph_dimension(_grid(m, d)) <= high


def test_an_unstructured_planar_mesh_is_two_dimensional():
    from scipy.spatial import Delaunay

    pts = np.random.default_rng(0).random((6000, 2))
    tri = Delaunay(pts).simplices
    rows = np.concatenate([tri[:, [0, 1, 2]].ravel(), tri[:, [1, 2, 0]].ravel()])
    cols = np.concatenate([tri[:, [1, 2, 0]].ravel(), tri[:, [0, 1, 2]].ravel()])
    A = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(6000, 6000))
    assert 1.8 <= graph_dimension(A) <= 2.4


def test_a_tetrahedral_ball_mesh_is_priced_as_three_dimensional():
    """The middle of a pseudo-diameter need not be central: on a tetrahedral ball (scikit-fem's,
    refined twice, the Dirichlet nodes removed: 41,727 unknowns) it lies at radius 0.75, its balls
    reach the sphere early, and a window placed by levels alone read 2.18.  Its LU, so priced as
    2-D at 2,800 products, cost 58,000-71,000 (52 s in one try, on a sequence whose best solve
    takes 60 ms).  The window placed by the share of the nodes reached sees the bulk: 2.8."""
    skfem = pytest.importorskip("skfem")
    from skfem.models.poisson import laplace

    basis = skfem.Basis(skfem.MeshTet.init_ball().refined(2), skfem.ElementTetP1())
    inside = basis.complement_dofs(basis.get_dofs())
    A = sp.csr_array(sp.csr_array(laplace.assemble(basis))[inside][:, inside])
    d = graph_dimension(A)
    assert d >= 2.6
    assert lu_products(A.shape[0], d, A.nnz) >= 30_000


def test_a_random_graph_is_far_from_any_mesh():
    n = 5000
    R = sp.random(n, n, density=4 / n, random_state=1)
    assert graph_dimension(sp.csr_array(R + R.T + sp.identity(n))) > 4.0


def test_breadth_first_levels_are_the_graph_distances():
    A = _grid(13, 2)
    G = sp.csr_array((np.ones(A.nnz), A.indices, A.indptr), shape=A.shape)
    depth, reached = _levels(G, 40)
    assert reached == A.shape[0]
    assert np.array_equal(depth, shortest_path(G, indices=40, unweighted=True).astype(int))
    # a long thin graph (more levels than are searched for): the same distances by pointer jumping
    P = _grid(2000, 1)
    G1 = sp.csr_array((np.ones(P.nnz), P.indices, P.indptr), shape=P.shape)
    depth, _ = _levels(G1, 700)
    assert np.array_equal(depth, shortest_path(G1, indices=700, unweighted=True).astype(int))
    # a disconnected part is not reached
    B = sp.block_diag([G, G]).tocsr()
    depth, reached = _levels(sp.csr_array(B), 0)
    assert reached == A.shape[0] and np.all(depth[A.shape[0]:] == -1)


def test_too_small_to_tell_is_nan_and_priced_as_two_dimensional():
    assert math.isnan(graph_dimension(_grid(5, 2)))
    assert lu_products(20_000, math.nan) == lu_products(20_000, 2.0)


@pytest.mark.parametrize("m, d, measured", [(140, 2, 970), (200, 2, 1168), (26, 3, 18_764), (32, 3, 31_552)])
def test_lu_products_follow_the_measured_cost_at_the_measured_dimension(m, d, measured):
    # SuperLU (COLAMD) on Laplacians, in products of the matrix (this machine class)
    A = _grid(m, d)
    assert lu_products(A.shape[0], graph_dimension(A), A.nnz) == pytest.approx(measured, rel=0.5)


def test_lu_products_grow_with_the_dimension_up_to_a_dense_lu():
    # monotone in the dimension, and never above a dense LU
    ds = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0]
    costs = [lu_products(20_000, d) for d in ds]
    assert costs == sorted(costs)
    assert lu_products(2_000, 6.0, nnz=10_000) <= 2_000**3 / (3 * 10_000) * (1 + 1e-12)


def test_a_three_dimensional_matrix_prices_its_factorisation_as_three_dimensional():
    A2, A3 = _grid(130, 2), _grid(26, 3)  # ~17k unknowns each
    estimates = {}
    for name, A in (("2d", A2), ("3d", A3)):
        p = AutoPolicy(candidates=["direct", "numba-cg"], seed=0, cost="iterations")  # (in products)
        p.observe(SystemFacts(A.shape[0], A=A))
        p.select(None, n=A.shape[0])
        fam = p._fam_of["direct"]
        estimates[name] = p._setup_estimate(fam, parse("direct"))
        p._dimension = {A.shape[0]: (2.0, A.nnz / A.shape[0])}  # the same matrix priced as 2-D: the calibrated prior
        estimates[name + " as 2d"] = p._setup_estimate(fam, parse("direct"))
    assert estimates["2d"] == pytest.approx(estimates["2d as 2d"], rel=0.2)
    assert estimates["3d"] > 10 * estimates["3d as 2d"]


def test_the_dimension_is_measured_only_once_a_factorisation_comes_within_reach():
    from seqsolve.records import SolveRecord

    A = _grid(20, 3)
    n = A.shape[0]
    p = AutoPolicy(candidates=["direct", "numba-cg"], seed=0)

    def step(seconds: float, iterations: int = 100) -> None:
        p.observe(SystemFacts(n, A=A))
        chosen = p.select(None, n=n).name
        its = iterations if chosen == "numba-cg" else 0
        p.update(seconds, SolveRecord(index=p.t_, configuration=chosen, iterations=its, setup_seconds=0.0,
                                      solve_seconds=seconds, residual=1e-9, converged=True))

    for _ in range(5):  # cheap solves: the LU, even at its 2-D price, is out of reach
        step(1e-4)
    assert n not in p._dimension
    for _ in range(15):  # dear ones (re-weighed within 10 systems): within reach, so priced at its dimension
        step(5.0, iterations=100_000)
    assert 2.4 <= p._dimension[n][0] <= 3.1



def test_the_dimension_is_measured_once_per_family_of_meshes():
    from seqsolve.policies import auto as auto_module

    # a 3-D mesh refined and coarsened (one density, two sizes), then a 2-D one (another density)
    sizes = [_grid(12, 3), _grid(16, 3), _grid(12, 3), _grid(40, 2)]
    p = AutoPolicy(candidates=["direct", "numba-cg"], seed=0)
    measured = []
    real = auto_module.graph_dimension
    try:
        auto_module.graph_dimension = lambda A: measured.append(A.shape[0]) or real(A)
        for A in sizes:
            p.observe(SystemFacts(A.shape[0], A=A))
            p.select(None, n=A.shape[0])
            p._fill_growth(0.0)  # (a setup within reach: measured if not known)
    finally:
        auto_module.graph_dimension = real
    assert measured == [12**3, 40**2]
    assert p._dimension[16**3][0] == p._dimension[12**3][0] and 2.4 <= p._dimension[16**3][0] <= 3.1
    assert 1.7 <= p._dimension[40**2][0] <= 2.3
