"""Subdomain-deflated SSOR-PCG: the coarse space is piecewise constant on subdomains (``subdomain-deflated-cg``).

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

The subdomains come from the matrix graph, not from a grid: connected groups of about ``size``
unknowns grown breadth-first.  They are computed once per matrix size (a partition stays a valid
deflation space when the values or even the pattern change; only ``A W`` and ``WᵀAW`` follow each
new matrix) and numbered in reverse Cuthill–McKee order so the coarse Cholesky factor stays
inside a narrow band.  Rows with no off-diagonal entries (e.g. solid cells) belong to no
subdomain.

Measured (``benchmarks/results/guesses_recycling.md``, ``previous`` guess, time ÷ the same
workload's SSOR-PCG): FEM heat 0.29× the iterations, ≈ 0.6× the time; Fluid2D 0.68× / 0.93×;
Heat2D (12 iterations a step, a new matrix every step) loses: 1.08× / 1.7×.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee

from . import _deflated_kernels as K
from ..accuracy import ResidualPass
from ..errors import InvalidSystemError
from .base import Callback, IterationResult, Method
from .compiled import MAX_RESTARTS, PreparedMatrix, prepare


#: most subdomains: the coarse matrix ``WᵀAW`` and its two factors are dense ``m × m`` blocks (filled
#: and factorised within their envelope), so beyond this the subdomains grow instead.  At 262,144
#: unknowns (a 512² grid) 4,099 subdomains of 64 took 0.4 GB and a first setup of 532 ms (94 ms each
#: new matrix) for 45 iterations; 2,052 of 128, 0.1 GB and 225 ms (35 ms) for 56 — the same time
#: per solve.  At a million unknowns, 64 per subdomain would have asked for 5.8 GB
MAX_SUBDOMAINS = 2048


def aggregate(A, size: int = 64) -> np.ndarray:
    """A subdomain index per unknown (``-1``: none), numbered in reverse Cuthill–McKee order.

    Subdomains of about ``size`` connected unknowns grown breadth-first on the matrix graph
    (:func:`._deflated_kernels.greedy_aggregate`, one pass: PyAMG's aggregation twice cost 25 ms
    on FEM heat's first matrix, which priced the method out of ``auto``'s first try); unknowns
    without off-diagonal entries get ``-1``.
    """
    C = sp.csr_array(A)
    indptr, indices = C.indptr.astype(np.int64), C.indices.astype(np.int64)
    agg, m = K.greedy_aggregate(indptr, indices, int(size))
    if m == 0:
        return agg
    # number the subdomains so that their coupling matrix is banded (a cheap coarse Cholesky)
    ptr, idx = K.coupling_pattern(indptr, indices, np.asarray(C.data, dtype=np.float64), agg, m)
    coupling = sp.csr_matrix((np.ones(idx.shape[0]), idx, ptr), shape=(m, m))
    order = reverse_cuthill_mckee(coupling, symmetric_mode=True)
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    return np.where(agg >= 0, rank[np.maximum(agg, 0)], -1).astype(np.int64)


def _touched(shape: tuple, dtype=np.float64) -> np.ndarray:
    """A zeroed array whose pages are already mapped (``np.zeros`` maps them on first write)."""
    out = np.empty(shape, dtype=dtype)
    out.fill(0)
    return out


class _Coarse:
    """Everything the loop needs for one matrix: the prepared arrays and the coarse space's products."""

    __slots__ = ("P", "aw", "wh", "L", "first")

    def __init__(self, P: PreparedMatrix, aw: tuple, wh: tuple, L: np.ndarray, first: np.ndarray) -> None:
        self.P, self.aw, self.wh, self.L, self.first = P, aw, wh, L, first


class SubdomainDeflatedCG(Method):
    """SSOR-PCG (compiled, Eisenstat) deflating the constant vectors of subdomains of about ``size`` unknowns."""

    spd_only = True
    needs_matrix = True
    uses_finite_hint = True
    numpy_arithmetic = False
    scales_start = True  # (the kernel's first residual pass)

    def __init__(self, omega: float = 1.5, size: int = 64) -> None:
        if not 0.0 < omega < 2.0:
            raise ValueError(f"SSOR needs 0 < omega < 2, got omega={omega!r}")
        self.omega, self.size = float(omega), int(size)
        self.agg: np.ndarray | None = None
        self._work = np.empty((8, 0))
        # the per-matrix products' scratch (entries of A), kept: fresh arrays cost page faults
        self._buf_i, self._buf_v = np.empty((5, 0), dtype=np.int64), np.empty((3, 0))
        self._dense = np.empty((3, 0, 0))

    @property
    def subdomains(self) -> int:
        return 0 if self.agg is None else int(self.agg.max()) + 1

    @property
    def memory_vectors(self) -> int:
        """Length-n arrays kept: the subdomain index, ``A W`` and ``Ŵ`` (about one each), the loop's
        eight, and the dense coarse blocks (``WᵀAW`` and two factors, ``3m²`` entries) in their length."""
        if self.agg is None:
            return 0
        return 11 + -(-3 * self.subdomains**2 // self.agg.shape[0])

    def setup(self, A, previous: _Coarse | None, *, finite: bool = False) -> _Coarse:
        P = prepare(A, previous.P if previous is not None else None, finite=finite)
        if P.has_zero_diagonal:
            raise InvalidSystemError("SSOR needs a nonzero diagonal; A has a zero (or missing) diagonal entry")
        # the partition and the scratch are made once per size: on FEM heat (32k unknowns) they
        # were 13 ms of a first setup whose repeats cost 2 ms, which made the method's first try
        # look no better than SSOR-PCG's (one_off_seconds tells the learner)
        t0 = time.perf_counter()
        if self.agg is None or self.agg.shape[0] != P.n:
            size = max(self.size, -(-P.n // MAX_SUBDOMAINS))  # (ceil: at most MAX_SUBDOMAINS of them)
            self.agg = aggregate(sp.csr_array((P.data, P.indices, P.indptr), shape=(P.n, P.n)), size)
            # the loop's index: rows in no subdomain read the zero slot μ[m], no branch
            self._slots = np.where(self.agg >= 0, self.agg, self.subdomains)
        m, nnz = self.subdomains, P.data.shape[0]
        # (scratch is touched when made, so that its page faults are not charged to the first products)
        if self._buf_v.shape[1] < nnz:
            self._buf_i, self._buf_v = _touched((5, nnz), np.int64), _touched((3, nnz))
        if self._dense.shape[1] != m:
            self._dense = _touched((3, m, m))  # E = WᵀAW and two factors: kept, as they reach megabytes
        if self._work.shape[1] != P.n:
            self._work = _touched((8, P.n))  # the loop's vectors
        self.one_off_seconds = time.perf_counter() - t0
        # the factor goes where the previous matrix's is not: that one stays intact if this fails
        E, L = self._dense[0], self._dense[2 if previous is not None and previous.L is self._dense[1] else 1]
        wown, first = np.empty(P.n), np.empty(m, dtype=np.int64)
        aw_ptr, naw, nx = K.subdomain_products(P.indptr, P.indices, P.data, P.inv_diag, P.diag_pos, self.omega,
                                               self.agg, m, int(np.diff(P.indptr).max()) + 1, self._buf_i,
                                               self._buf_v, wown, E)
        if not K.skyline_cholesky(E, L, first):
            raise InvalidSystemError("the subdomains' coarse matrix WᵀAW is not positive definite: A is not SPD")
        bi, bv = self._buf_i, self._buf_v
        return _Coarse(P, (aw_ptr, bi[4, :naw].copy(), bv[0, :naw].copy()),
                       (wown, bi[2, :nx].copy(), bi[3, :nx].copy(), bv[1, :nx].copy()), L, first)

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


_WARM: list = []


def warmup() -> None:
    """Load (or compile) this method's kernels once per process on a tiny system, so that no timed
    solve pays it: ``auto`` judges a family by its first try, and loading the kernels from Numba's
    cache took longer than FEM heat's whole solve."""
    if _WARM:
        return
    _WARM.append(True)
    A = sp.csr_array(sp.diags_array([[-1.0] * 7, [2.5] * 8, [-1.0] * 7], offsets=[-1, 0, 1]))
    method = SubdomainDeflatedCG(omega=1.5, size=4)
    method.solve(method.setup(A, None), A, np.ones(8), np.zeros(8), rtol=1e-8, atol=0.0, maxiter=20)
