"""Compiled deflated SSOR-PCG with Ritz vectors recycled across solves (``deflated-cg``, SSOR).

Why: :mod:`.deflated` shows that deflating a few slow modes halves CG's iterations on
pressure-Poisson sequences, but its Python loop costs 2–3× the compiled SSOR-PCG per iteration.
This is the same method with the loop compiled (:mod:`._deflated_kernels`): SSOR through
Eisenstat's trick, the deflation fused into its loops.

Everything lives in Eisenstat's space (``Â = E⁻¹ A E⁻ᵀ`` with ``E = D/ω + L``, preconditioned by
``D``): the kernel stores its first ``harvest`` directions ``p̂`` and ``Â p̂`` (no extra products),
and a Rayleigh–Ritz step for the pencil ``(Â, D⁻¹)`` on ``span(Ŵ, P̂)`` keeps the ``k`` smallest
Ritz vectors, the slowest modes of the SSOR-preconditioned operator.  When ``A`` changes (a new
:meth:`setup`), the space is carried over through the original unknowns, ``W = E_old⁻ᵀ Ŵ``, and
``Ŵ = E_newᵀ W``, ``ÂŴ = E_new⁻¹ A W`` are formed by block kernels (one pass each for all ``k``
columns).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la

from . import _deflated_kernels as K
from ..errors import InvalidSystemError
from .base import Callback, IterationResult, Method
from .compiled import MAX_RESTARTS, PreparedMatrix, prepare


class CompiledDeflatedCG(Method):
    """Deflated SSOR-PCG (compiled) recycling ``k`` Ritz vectors harvested from each solve.

    ``harvest`` directions of a solve (default ``max(k, 12)``) feed the Rayleigh–Ritz step; a
    harvest happens every ``every`` solves.
    """

    spd_only = True
    needs_matrix = True

    def __init__(self, k: int = 8, omega: float = 1.5, harvest: int | None = None, every: int = 1) -> None:
        if not 0.0 < omega < 2.0:
            raise ValueError(f"SSOR needs 0 < omega < 2, got omega={omega!r}")
        self.k, self.omega, self.every = int(k), float(omega), int(every)
        self.harvest = max(self.k, 12) if harvest is None else int(harvest)
        self._since = 0  # solves since the last harvest
        self.W: np.ndarray | None = None  # the recycled space in the original unknowns (rows: m <= k vectors)
        self._space: tuple | None = None  # (Ŵ, ÂŴ, D ÂŴ as m × n rows, L) for the matrix self._for
        self._for: PreparedMatrix | None = None
        self._store = np.empty((0, 0))

    @property
    def memory_vectors(self) -> int:
        """Vectors kept between solves: ``W``, ``Ŵ``, ``ÂŴ``, ``D ÂŴ`` and the harvest's directions."""
        return (0 if self.W is None else 4 * self.W.shape[0]) + self._store.shape[0]

    def setup(self, A, previous: PreparedMatrix | None, **hints) -> PreparedMatrix:
        P = prepare(A)
        if P.has_zero_diagonal:
            raise InvalidSystemError("SSOR needs a nonzero diagonal; A has a zero (or missing) diagonal entry")
        return P

    def solve(self, prepared: PreparedMatrix, A, b, x0, *, rtol, atol, maxiter,
              callback: Callback = None) -> IterationResult:
        n = prepared.n
        if self.W is not None and self.W.shape[1] != n:
            self.W, self._space = None, None
        Wh, AWh, DAWh, L = self._spaces(prepared)
        m = Wh.shape[0]
        harvest = self.W is None or self._since + 1 >= self.every
        rows = min(self.harvest, maxiter) if harvest else 0
        if self._store.shape[1] != n or self._store.shape[0] < rows:
            self._store = np.empty((rows, n))
        T, coef, MU = self._store[:rows], np.empty((rows, 3)), np.empty((rows, m))
        b = np.ascontiguousarray(b, dtype=np.float64)
        x = np.array(x0, dtype=np.float64, copy=True).reshape(-1)
        it, code, _, _, kept = K.deflated_eisenstat(
            prepared.indptr, prepared.indices, prepared.data, prepared.inv_diag, prepared.diag_pos, b, x,
            self.omega, Wh, AWh, DAWh, L, float(rtol), float(atol), int(maxiter), MAX_RESTARTS, T, coef, MU)
        if callback is not None:
            callback(x)
        self._since += 1
        if kept and code in (0, 1):
            self._harvest(L, T[:kept], coef[:kept], MU[:kept])
            self._since = 0
        return IterationResult(x, int(it), K.STATUS_NAMES[code])

    # ------------------------------------------------------------------ the recycled space
    def _spaces(self, prepared: PreparedMatrix) -> tuple:
        """``Ŵ``, ``ÂŴ``, ``D ÂŴ`` and the Cholesky factor of ``ŴᵀÂŴ`` for this matrix (empty
        without a space); formed from ``W`` once per matrix and per harvest."""
        if self.W is None:
            return (_EMPTY,) * 4
        if self._space is None or self._for is not prepared:
            P, W = prepared, self.W
            Wh, AWh, DAWh = np.empty_like(W), np.empty_like(W), np.empty_like(W)
            K.to_eisenstat(P.indptr, P.indices, P.data, P.inv_diag, P.diag_pos, self.omega, W, Wh, AWh, DAWh)
            E = Wh @ AWh.T  # = Wᵀ A W
            try:
                L = np.linalg.cholesky(0.5 * (E + E.T))
            except np.linalg.LinAlgError:
                L = None
            if L is None or not np.all(np.isfinite(L)):
                self.W, self._space = None, None  # a broken space is dropped, never used
                return (_EMPTY,) * 4
            self._space, self._for = (Wh, AWh, DAWh, np.ascontiguousarray(L)), prepared
        return self._space

    def _harvest(self, L: np.ndarray, T: np.ndarray, coef: np.ndarray, MU: np.ndarray) -> None:
        """Rayleigh–Ritz for ``A v = θ M v`` on ``span(W, T)``: keep the ``k`` smallest Ritz vectors.

        The Gram matrices come from the loop's scalars, no products over ``n``: the directions are
        A-conjugate to each other and to ``W``, so ``G_A = diag(WᵀAW, p̂ᵀÂp̂)``; ``p̂ = z̃ + β p̂_prev`` with
        ``z̃ = D r̂ − Ŵᵀμ``, and the ``r̂`` are D-orthogonal and orthogonal to ``Ŵ``, so the M-Gram is
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
        Ct = np.ascontiguousarray(C.T)
        W = Ct[:, m:] @ T
        if m:
            W += Ct[:, :m] @ self.W
        self.W, self._space = W, None


_EMPTY = np.zeros((0, 0))
