"""Subdomain-deflated SSOR-PCG: the coarse space is piecewise constant on aggregates (``deflated-cg(space=subdomains)``).

Why: deflating Ritz vectors recycled from earlier solves (:mod:`.deflated_compiled`) halves the
iterations on Fluid2D, but every iteration then streams ``2k`` dense vectors and every new matrix
needs a transform of all ``k`` of them, so it never paid in wall time.  The slow modes of these
SSOR-preconditioned operators are smooth (the spectrum is Laplacian-like, no few outliers), and
smooth modes are approximated just as well by vectors that are constant on subdomains (Nicolaides
1987; the deflated ICCG of Vuik and co-workers for bubbly flow).  Such a ``W`` is sparse: one
entry per row.  So ``W μ``, ``Ŵ μ = Eᵀ W μ`` and ``(A W)ᵀ t`` cost O(n) per iteration however many
subdomains there are (hundreds), the coarse matrix ``WᵀAW`` is a sum over ``A``'s entries, and a
new matrix costs one pass over it plus a banded Cholesky factorisation: no harvest, no transform
of dense vectors.

The subdomains come from the matrix graph, not from a grid: ``levels`` rounds of PyAMG's standard
aggregation (strength θ = 0), each round grouping about 9 neighbours, so 2 rounds give aggregates
of ~80 unknowns.  They are computed once per matrix size (a partition stays a valid deflation space
when the values or even the pattern change; only ``A W`` and ``WᵀAW`` follow each new matrix) and
numbered in reverse Cuthill–McKee order so the coarse Cholesky factor stays inside a narrow band.
Rows with no off-diagonal entries (e.g. solid cells) belong to no subdomain.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee

from . import _deflated_kernels as K
from ..accuracy import ResidualPass
from ..errors import InvalidSystemError
from .base import Callback, IterationResult, Method
from .compiled import MAX_RESTARTS, PreparedMatrix, prepare


def aggregate(A, levels: int = 2) -> np.ndarray:
    """A subdomain index per unknown (``-1``: none), numbered in reverse Cuthill–McKee order.

    ``levels`` rounds of standard aggregation on the matrix graph; unknowns without off-diagonal
    entries get ``-1``; a coarse node left unaggregated keeps its own subdomain.
    """
    from pyamg.aggregation import standard_aggregation
    from pyamg.strength import symmetric_strength_of_connection

    G = sp.csr_matrix(A)
    n = G.shape[0]
    agg = np.arange(n)
    for level in range(levels):
        C = symmetric_strength_of_connection(G, 0.0)
        AggOp = standard_aggregation(C)[0].tocsr()
        owner = np.full(G.shape[0], -1)
        rows = np.repeat(np.arange(AggOp.shape[0]), np.diff(AggOp.indptr))
        owner[rows] = AggOp.indices
        if level > 0:  # a coarse node standard aggregation left out is still a subdomain
            alone = np.flatnonzero(owner < 0)
            owner[alone] = AggOp.shape[1] + np.arange(alone.size)
        count = owner.max() + 1
        agg = np.where(agg >= 0, owner[np.maximum(agg, 0)], -1)
        keep = owner >= 0
        R = sp.csr_matrix((np.ones(keep.sum()), (np.flatnonzero(keep), owner[keep])), shape=(G.shape[0], count))
        G = (R.T @ abs(G) @ R).tocsr()
        if count <= 1:
            break
    # number the subdomains so that their coupling matrix is banded (a cheap coarse Cholesky)
    used = np.unique(agg[agg >= 0])
    relabel = np.full(agg.max() + 2, -1)
    relabel[used] = np.arange(used.size)
    agg = np.where(agg >= 0, relabel[np.maximum(agg, 0)], -1)
    m = used.size
    inside = agg >= 0
    R = sp.csr_matrix((np.ones(inside.sum()), (np.flatnonzero(inside), agg[inside])), shape=(n, m))
    coupling = (R.T @ (abs(sp.csr_matrix(A)) @ R)).tocsr()
    order = reverse_cuthill_mckee(coupling, symmetric_mode=True)
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    return np.where(inside, rank[np.maximum(agg, 0)], -1).astype(np.int64)


class _Coarse:
    """Everything the loop needs for one matrix: the prepared arrays and the coarse space's products."""

    __slots__ = ("P", "aw", "wh", "L", "first")

    def __init__(self, P: PreparedMatrix, aw: tuple, wh: tuple, L: np.ndarray, first: np.ndarray) -> None:
        self.P, self.aw, self.wh, self.L, self.first = P, aw, wh, L, first


class SubdomainDeflatedCG(Method):
    """SSOR-PCG (compiled, Eisenstat) deflating the constant vectors of ``levels``-round aggregates."""

    spd_only = True
    needs_matrix = True
    uses_finite_hint = True
    numpy_arithmetic = False

    def __init__(self, omega: float = 1.5, levels: int = 2) -> None:
        if not 0.0 < omega < 2.0:
            raise ValueError(f"SSOR needs 0 < omega < 2, got omega={omega!r}")
        self.omega, self.levels = float(omega), int(levels)
        self.agg: np.ndarray | None = None
        self._work = np.empty((8, 0))

    @property
    def subdomains(self) -> int:
        return 0 if self.agg is None else int(self.agg.max()) + 1

    @property
    def memory_vectors(self) -> int:
        """Length-n arrays kept: the subdomain index, ``A W`` and ``Ŵ`` (about one each), the loop's eight."""
        return 0 if self.agg is None else 11

    def setup(self, A, previous: _Coarse | None, *, finite: bool = False) -> _Coarse:
        P = prepare(A, previous.P if previous is not None else None, finite=finite)
        if P.has_zero_diagonal:
            raise InvalidSystemError("SSOR needs a nonzero diagonal; A has a zero (or missing) diagonal entry")
        if self.agg is None or self.agg.shape[0] != P.n:
            self.agg = aggregate(sp.csr_array((P.data, P.indices, P.indptr), shape=(P.n, P.n)), self.levels)
            # the loop's index: rows in no subdomain read the zero slot μ[m], no branch
            self._slots = np.where(self.agg >= 0, self.agg, self.subdomains)
        most = int(np.diff(P.indptr).max()) + 1
        *products, E = K.subdomain_products(P.indptr, P.indices, P.data, P.inv_diag, P.diag_pos, self.omega,
                                            self.agg, self.subdomains, most)
        L, first, ok = K.skyline_cholesky(E)
        if not ok:
            raise InvalidSystemError("the subdomains' coarse matrix WᵀAW is not positive definite: A is not SPD")
        return _Coarse(P, tuple(products[:3]), tuple(products[3:]), L, first)

    def solve(self, prepared: _Coarse, A, b, x0, *, rtol, atol, maxiter, callback: Callback = None) -> IterationResult:
        P = prepared.P
        n = P.n
        if self._work.shape[1] != n:
            self._work = np.empty((8, n))  # kept: fresh megabyte arrays cost page faults each solve
        b = np.ascontiguousarray(b, dtype=np.float64)
        x = np.array(x0, dtype=np.float64, copy=True).reshape(-1)
        r, mag = np.empty(n), np.empty(n)
        it, code, _, _, terms, rr, mm = K.subdomain_eisenstat(
            P.indptr, P.indices, P.data, P.inv_diag, P.diag_pos, b, x, self.omega, self._slots, *prepared.aw,
            *prepared.wh, prepared.L, prepared.first, float(rtol), float(atol), int(maxiter), MAX_RESTARTS,
            r, mag, self._work)
        status = K.STATUS_NAMES[code]
        if callback is not None:
            callback(x)
            return IterationResult(x, int(it), status)
        same = (P.data is getattr(A, "data", None) and P.indices is getattr(A, "indices", None)
                and P.indptr is getattr(A, "indptr", None))
        done = ResidualPass(r, mag, int(terms), float(rr), float(mm)) if same and terms else None
        return IterationResult(x, int(it), status, done)
