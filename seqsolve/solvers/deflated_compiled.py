"""Compiled deflated SSOR-PCG with Ritz vectors recycled across solves (``deflated-cg``, SSOR).

Why: :mod:`.deflated` shows that deflating a few slow modes halves CG's iterations on
pressure-Poisson sequences, but its Python loop costs 2–3× the compiled SSOR-PCG per iteration.
This is the same method with the loop compiled (:mod:`._deflated_kernels`): SSOR through
Eisenstat's trick, the deflation fused into its loops.

Everything lives in Eisenstat's space (``Â = E⁻¹ A E⁻ᵀ`` with ``E = D/ω + L``, preconditioned by
``D``): the kernel stores its first ``harvest`` directions (in the original unknowns) with the
scalars that formed them (no extra products), and a Rayleigh–Ritz step for the pencil
``(Â, D⁻¹)`` on ``span(Ŵ, P̂)`` keeps the ``k`` smallest Ritz vectors, the slowest modes of the
SSOR-preconditioned operator.  The space is kept in the original unknowns, ``W``; each new matrix
(a new :meth:`setup`) gets ``Ŵ = Eᵀ W``, ``ÂŴ = E⁻¹ A W`` and ``WᵀAW`` from one block pass
(:func:`._deflated_kernels.to_eisenstat`).  A stale ``W`` (harvested on an earlier matrix) is
still a valid deflation space: only ``ÂŴ`` and ``WᵀAW`` must be the current matrix's, and they are.

Where the time goes (Fluid2D n=128, k=16, one thread, a loaded 2-core machine; plain Eisenstat
SSOR-PCG ≈ 140 µs an iteration): the loop's two passes over the ``k`` recycled vectors per
iteration (``Ŵμ`` and ``(DÂŴ)ᵀr̂``, ≈ 70 µs: memory-bound, the ``k`` vectors are 2 MB each block),
the per-matrix transform (≈ 5 plain iterations since it is one block pass, down from ≈ 15 with a
pass per vector), and the harvest (a Rayleigh–Ritz step and an ``n × 2k × k`` product, ≈ 7).  So
0.49× the iterations of SSOR-PCG cost 1.10–1.40× its time (``benchmarks/results/guesses_recycling.md``);
harvesting every 2nd/4th solve raised the iterations to 0.63×/0.73×, single-precision blocks broke
the A-orthogonality (``Â`` amplifies the rounding of ``Ŵ`` into its large eigenvalues: maxiter),
and the Ritz vectors as a Galerkin start only (no projection in the loop) saved nothing (1.02×).
:mod:`.deflated_subdomains` is the deflation that pays.  Megabyte-sized scratch arrays are kept
between solves (:class:`_Workspace`): fresh ones cost page faults on first touch that tripled the
transform's time.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la

from . import _deflated_kernels as K
from ..accuracy import ResidualPass
from ..errors import InvalidSystemError
from .base import Callback, IterationResult, Method
from .compiled import MAX_RESTARTS, PreparedMatrix, prepare


class _Workspace:
    """Scratch arrays of one size, reused by every solve (see the module docstring)."""

    def __init__(self, n: int, k: int, harvest: int) -> None:
        self.n = n
        self.work = np.empty((8, n))  # the loop's vectors
        self.T = np.empty((harvest, n))  # harvested directions, rows
        self._blocks = np.empty((4, n * k))  # n × m blocks: W (two buffers), Ŵ and ÂŴ (the transform's)
        self.rows = np.empty((3, k, n))  # m × n, the loop's layout: Ŵ, ÂŴ and D ÂŴ
        self._which = 0

    def block(self, i: int, m: int) -> np.ndarray:
        """Block ``i`` as a C-contiguous ``n × m`` array."""
        return self._blocks[i, : self.n * m].reshape(self.n, m)

    def space(self, m: int) -> np.ndarray:
        """The buffer the next harvest writes ``W`` into (not the one holding the current ``W``)."""
        self._which ^= 1
        return self.block(self._which, m)


class CompiledDeflatedCG(Method):
    """Deflated SSOR-PCG (compiled) recycling ``k`` Ritz vectors harvested from earlier solves.

    ``harvest`` directions of a solve (default ``max(k, 12)``) feed the Rayleigh–Ritz step; a
    harvest happens every ``every`` solves.
    """

    spd_only = True
    needs_matrix = True
    uses_finite_hint = True
    numpy_arithmetic = False  # the loop is compiled; the harvest's small dense algebra checks itself
    scales_start = True  # (the kernel's first residual pass)

    def __init__(self, k: int = 8, omega: float = 1.5, harvest: int | None = None, every: int = 1) -> None:
        if not 0.0 < omega < 2.0:
            raise ValueError(f"SSOR needs 0 < omega < 2, got omega={omega!r}")
        self.k, self.omega, self.every = int(k), float(omega), int(every)
        self.harvest = max(self.k, 12) if harvest is None else int(harvest)
        self._since = 0  # solves since the last harvest
        self.W: np.ndarray | None = None  # the recycled space in the original unknowns (n × m, m <= k)
        self._space: tuple | None = None  # (Ŵ, ÂŴ, D ÂŴ as m × n rows, L) for the matrix self._for
        self._for: PreparedMatrix | None = None
        self._ws: _Workspace | None = None

    @property
    def memory_vectors(self) -> int:
        """Vectors kept between solves: ``W`` (two buffers), the transform's five blocks of ``k``,
        the harvest's directions and the loop's ten."""
        return 0 if self._ws is None else 7 * self.k + self.harvest + 10

    def setup(self, A, previous: PreparedMatrix | None, *, finite: bool = False) -> PreparedMatrix:
        P = prepare(A, previous, finite=finite)
        if P.has_zero_diagonal:
            raise InvalidSystemError("SSOR needs a nonzero diagonal; A has a zero (or missing) diagonal entry")
        return P

    def solve(self, prepared: PreparedMatrix, A, b, x0, *, rtol, atol, maxiter,
              callback: Callback = None) -> IterationResult:
        n = prepared.n
        if self._ws is None or self._ws.n != n:
            self._ws, self.W, self._space = _Workspace(n, self.k, self.harvest), None, None
        ws = self._ws
        Wh, AWh, DAWh, L = self._spaces(prepared)
        m = Wh.shape[0]
        harvest = self.W is None or self._since + 1 >= self.every
        rows = min(self.harvest, maxiter) if harvest else 0
        T, coef, MU = ws.T[:rows], np.empty((rows, 3)), np.empty((rows, m))
        b = np.ascontiguousarray(b, dtype=np.float64)
        r, mag = np.empty(n), np.empty(n)  # the last true residual: handed to the certified check
        x = np.array(x0, dtype=np.float64, copy=True).reshape(-1)
        it, code, _, _, kept, terms, rr, mm = K.deflated_eisenstat(
            prepared.indptr, prepared.indices, prepared.data, prepared.inv_diag, prepared.diag_pos, b, x,
            self.omega, Wh, AWh, DAWh, L, float(rtol), float(atol), int(maxiter), MAX_RESTARTS, T, coef, MU,
            r, mag, ws.work)
        self._since += 1
        if kept and code in (0, 1):
            self._harvest(L, T[:kept], coef[:kept], MU[:kept])
            self._since = 0
        status = K.STATUS_NAMES[code]
        if callback is not None:
            callback(x)  # it may change x: then the kernel's residual pass is not x's
            return IterationResult(x, int(it), status)
        # the pass ran on the prepared arrays: it is A's only when they are A's own arrays
        same = (prepared.data is getattr(A, "data", None) and prepared.indices is getattr(A, "indices", None)
                and prepared.indptr is getattr(A, "indptr", None))
        done = ResidualPass(r, mag, int(terms), float(rr), float(mm)) if same and terms else None
        return IterationResult(x, int(it), status, done)

    # ------------------------------------------------------------------ the recycled space
    def _spaces(self, prepared: PreparedMatrix) -> tuple:
        """``Ŵ``, ``ÂŴ``, ``D ÂŴ`` (``m × n``) and the Cholesky factor of ``ŴᵀÂŴ`` for this matrix
        (empty without a space); formed from ``W`` once per matrix and per harvest."""
        if self.W is None:
            return _empty(prepared.n)
        if self._space is None or self._for is not prepared:
            P, W, ws = prepared, self.W, self._ws
            m = W.shape[1]
            H, S = ws.block(2, m), ws.block(3, m)
            Wh, AWh, DAWh = ws.rows[0, :m], ws.rows[1, :m], ws.rows[2, :m]
            K.to_eisenstat(P.indptr, P.indices, P.data, P.inv_diag, P.diag_pos, self.omega, W, H, S, Wh, AWh, DAWh)
            E = H.T @ S  # = Wᵀ A W
            try:
                L = np.linalg.cholesky(0.5 * (E + E.T))
            except np.linalg.LinAlgError:
                L = None
            if L is None or not np.all(np.isfinite(L)):
                self.W, self._space = None, None  # a broken space is dropped, never used
                return _empty(prepared.n)
            self._space, self._for = (Wh, AWh, DAWh, np.ascontiguousarray(L)), prepared
        return self._space

    def _harvest(self, L: np.ndarray, T: np.ndarray, coef: np.ndarray, MU: np.ndarray) -> None:
        """Rayleigh–Ritz for ``A v = θ M v`` on ``span(W, T)``: keep the ``k`` smallest Ritz vectors.

        The Gram matrices come from the loop's scalars, no products over ``n``: the directions are
        A-conjugate to each other and to ``W``, so ``G_A = diag(WᵀAW, p̂ᵀÂp̂)``; ``p̂ = z̃ + β p̂_prev`` with
        ``z̃ = D r̂ − Ŵμ``, and the ``r̂`` are D-orthogonal and orthogonal to ``Ŵ``, so the M-Gram is
        ``B⁻¹ [diag(r̂ᵀDr̂) + μ μᵀ] B⁻ᵀ`` (``W`` is taken M-orthonormal, as the last harvest left it).
        """
        m, l = L.shape[0], T.shape[0]
        rz, beta, pq = coef[:, 0], coef[:, 1], coef[:, 2]
        B = np.eye(l) - np.diag(beta[1:], -1)  # z̃_s = p̂_s − β_s p̂_(s−1)
        Binv = np.linalg.inv(B)  # unit lower bidiagonal, l <= harvest: tiny
        GA = np.zeros((m + l, m + l))
        GA[:m, :m] = L @ L.T
        GA[m:, m:] = np.diag(pq)
        GM = np.eye(m + l)
        GM[m:, m:] = Binv @ (np.diag(rz) + MU @ MU.T) @ Binv.T
        GM[m:, :m] = -Binv @ MU
        GM[:m, m:] = GM[m:, :m].T
        try:
            s = 1.0 / np.sqrt(np.maximum(np.diag(GM), np.finfo(float).tiny))  # unit M-norm: a better-scaled pencil
            theta, C = la.eigh(s[:, None] * GA * s, s[:, None] * GM * s, subset_by_index=[0, min(self.k, m + l) - 1])
        except (la.LinAlgError, ValueError):
            return  # keep the old space: a failed harvest must not break the next solve
        if not (np.all(np.isfinite(theta)) and np.all(theta > 0)):
            return
        C = s[:, None] * C
        W = self._ws.space(C.shape[1])
        np.matmul(T.T, C[m:], out=W)
        if m:
            old = self._ws.block(2, W.shape[1])  # the transform's scratch, free until the next one
            np.matmul(self.W, C[:m], out=old)
            W += old
        self.W, self._space = W, None


def _empty(n: int) -> tuple:
    """No recycled space: zero-width blocks (the kernel is then plain Eisenstat SSOR-PCG)."""
    z = np.zeros((0, n))
    return z, z, z, np.zeros((0, 0))


_WARM: list = []


def warmup() -> None:
    """Load (or compile) this method's kernels once per process on a tiny system (two solves: the
    second runs with a recycled space), so that no timed solve pays it."""
    if _WARM:
        return
    _WARM.append(True)
    import scipy.sparse as sp

    A = sp.csr_array(sp.diags_array([[-1.0] * 15, [2.5] * 16, [-1.0] * 15], offsets=[-1, 0, 1]))
    method = CompiledDeflatedCG(k=2, omega=1.5)
    for _ in range(2):
        method.solve(method.setup(A, None), A, np.ones(16), np.zeros(16), rtol=1e-8, atol=0.0, maxiter=20)
