"""How fast a matrix's graph grows around a node — its *dimension* — and what that says about the
cost of factorising it (issue 8: cheap features of the system set the priors).

Why: a sparse LU's fill, and so its cost, is set by the graph's separators, which grow with its
dimension: measured with SuperLU (COLAMD), a 2-D 5-point Laplacian of 20k unknowns factorises in
~1,000 matrix–vector products' time, a 3-D 7-point one of 17.6k in ~19,000 (8k: 6,800; 32.8k:
31,600), and a random graph not at all usefully.  One prior of 1,200 products (fitted on the
suite's 2-D sequences) priced a 3-D factorisation 8-13x too cheap, so a rent-or-buy rule could
buy a 2.6 s LU on a sequence of 20 ms solves.

The dimension is read off breadth-first level sets: on a d-dimensional mesh the number of nodes
within graph distance r of a node grows like r^d.  Four searches (SciPy's ``csgraph``: three to
find a central node, the middle of a pseudo-diameter, one from it) and a log-log fit of the
cumulative level counts before the balls reach the boundary: O(nnz), once per size.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

#: SuperLU's time in matrix–vector products at n = ``_REFERENCE_N``, and its growth exponent in n,
#: by the dimension :func:`graph_dimension` *measures* (measured costs: 2-D 970 products at 19.6k,
#: 1,168 at 40k; 3-D 6,754 at 8k, 18,764 at 17.6k, 31,552 at 32.8k; a 1-D band a few tens).  The
#: 3-D grids measure 2.7-2.8, not 3 (their balls reach the faces early), so that is where the 3-D
#: costs are anchored; random planar and volume Delaunay meshes measure 2.0-2.2 and 3.3-3.6
_LU_PRODUCTS = ((1.0, 60.0, 0.0), (2.0, 1000.0, 0.25), (2.75, 21000.0, 1.1))
_REFERENCE_N = 20_000

#: the share of the nodes a ball may hold in the second fit window of :func:`graph_dimension`
_BULK_SHARE = 0.1

#: levels found by binary search before a long thin graph switches to pointer jumping
_LEVEL_SEARCHES = 512


def graph_dimension(A) -> float:
    """The growth exponent d of the breadth-first balls of ``A``'s graph: ~1 for a
    band, ~2 for a planar mesh, ~3 for a volume mesh, large for an expander-like graph (a random
    graph: its levels are few).  ``nan`` when too small or disconnected to tell (under 64 nodes
    reached, or fewer than 4 levels and a small graph)."""
    A = sp.csr_array(A)
    n = A.shape[0]
    if n < 64:
        return math.nan
    # the pattern's out-edges (symmetrising cost more than the searches, 6 ms at 32k unknowns, and
    # the sequences' patterns are structurally symmetric or nearly: upwind stencils keep theirs)
    G = sp.csr_array((np.ones(A.nnz), A.indices, A.indptr), shape=A.shape)
    # a central node: the middle of a pseudo-diameter (s, t), from where the balls grow as in the
    # interior (from a corner of a cube they are simplices, C(r + 3, 3), whose slope at r = 10 is 2.5)
    first = _levels(G, 0)[0]
    ds, reached = _levels(G, int(np.argmax(first)))
    if reached < 64:
        return math.nan
    dt = _levels(G, int(np.argmax(ds)))[0]
    eccentric = np.where(ds >= 0, np.maximum(ds, dt), np.iinfo(np.int64).max)
    depth = _levels(G, int(np.argmin(eccentric)))[0]
    levels = int(depth.max())
    if levels < 4:
        # every node within three steps of one: expander-like (a random graph), not a mesh
        return math.log(reached) / math.log(max(levels, 2)) if levels >= 2 else math.inf
    counts = np.cumsum(np.bincount(depth[depth >= 0]))  # nodes within distance r, r = 0..levels
    # past the first levels, before the balls reach the nearest boundary (a third of the radius in a
    # cube, half in a square); the lattice ball of radius r holds ~c (r + 1/2)^d nodes
    by_levels = _slope(counts, max(1, levels // 10), max(3, levels // 3))
    # ... and, read the other way, while the ball holds at most a tenth of the nodes: a few far
    # nodes (a mesh's thin appendage, a graded boundary layer) stretch the levels past the bulk,
    # and the first window then measures the bulk's boundary.  A tetrahedral ball of 41,727 nodes
    # has 52 levels, half its nodes within 17: the first window read 2.18, this one 2.81, and its
    # LU cost 58,000 products where 2-D pricing said 2,800.  The larger is kept: a factorisation
    # cannot be capped, so pricing it too dear only delays its purchase, too cheap risks a try
    # that costs the whole sequence many times over
    hi = int(np.searchsorted(counts, _BULK_SHARE * reached))
    by_count = _slope(counts, min(2, max(1, hi - 2)), hi) if hi >= 3 else math.nan
    return float(max(by_levels, by_count)) if math.isfinite(by_count) else float(by_levels)


def _slope(counts: np.ndarray, lo: int, hi: int) -> float:
    """The log-log slope of the ball sizes ``counts[r]`` over ``lo <= r <= hi``."""
    r = np.arange(lo, hi + 1, dtype=float)
    return float(np.polyfit(np.log(r + 0.5), np.log(counts[lo:hi + 1].astype(float)), 1)[0])


def _levels(G, start: int) -> tuple[np.ndarray, int]:
    """Breadth-first depth of every node from ``start`` (-1: not reached) and how many were.

    SciPy gives the order and the predecessors; in breadth-first order each level follows the one
    before, and the positions of the nodes' parents never decrease, so level k + 1 ends where the
    parents leave level k: one binary search per level."""
    order, pred = breadth_first_order(G, start, directed=True, return_predecessors=True)
    n, reached = G.shape[0], int(order.size)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(reached)
    parents = position[pred[order[1:]]]  # (non-decreasing along the order)
    ends = [1]
    while ends[-1] < reached and len(ends) <= _LEVEL_SEARCHES:
        ends.append(1 + int(np.searchsorted(parents, ends[-1], side="left")))
    out = np.full(n, -1, dtype=np.int64)
    if ends[-1] >= reached:
        out[order] = np.repeat(np.arange(len(ends)), np.diff([0, *ends]))
        return out, reached
    # a long thin graph (a band): pointer jumping, O(n log levels) — depth[i] is the distance from
    # the i-th node of the order to the node at position up[i]; each round doubles the jump
    up = np.concatenate([[0], parents])
    depth = np.concatenate([[0], np.ones(reached - 1, dtype=np.int64)])
    while np.any(up):
        depth = depth + depth[up]
        up = up[up]
    out[order] = depth
    return out, reached


def lu_products(n: int, dimension: float, nnz: int | None = None) -> float:
    """A sparse LU's time in matrix–vector products of its matrix, for ``n`` unknowns (``nnz``
    stored entries) on a graph of ``dimension``: interpolated in log space between the measured
    1-, 2- and 3-D costs, beyond 3-D by the same trend, at most a dense LU's ``n³/(3 nnz)``
    (``nan``, too small to tell: 2-D; ``inf``, an expander: up to that cap)."""
    if not math.isfinite(dimension):
        dimension = 2.0 if math.isnan(dimension) else 6.0
    d = min(max(dimension, 1.0), 6.0)
    # the anchors on either side (beyond the last: the trend of the last two extended)
    (d0, p0, a0), (d1, p1, a1) = next(((lo, hi) for lo, hi in zip(_LU_PRODUCTS, _LU_PRODUCTS[1:]) if d <= hi[0]),
                                      _LU_PRODUCTS[-2:])
    t = (d - d0) / (d1 - d0)
    log_p = math.log(p0) + t * (math.log(p1) - math.log(p0))
    alpha = a0 + t * (a1 - a0)
    products = math.exp(log_p) * (n / _REFERENCE_N) ** alpha
    dense = float(n) ** 3 / (3.0 * (nnz if nnz else 5 * n))
    return float(min(products, max(dense, 1.0)))
