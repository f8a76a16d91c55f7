"""Deflated CG with a subspace recycled from earlier solves (Saad, Yeung, Erhel & Guyomarc'h 2000).

Why: the slow part of CG is the few smallest eigenvalues of the (preconditioned) operator.  The
systems of a sequence share them approximately, so approximate eigenvectors harvested from one
solve can be *deflated* from the next: the start is corrected so the residual is orthogonal to
the recycled space ``W``, and every search direction is kept A-orthogonal to ``W``, so CG
converges as if those eigenvalues were gone.

Harvesting costs no extra products with ``A``: the first ``ℓ`` search directions ``p`` of a solve
are stored with ``A p`` and ``M p`` (the latter by the recurrence ``M p = r + β M p_prev − M W μ``,
since ``M z = r``), and a Rayleigh–Ritz step for the pencil ``(A, M)`` on ``span(W, P)`` gives the
new ``W``: the Ritz vectors of the ``k`` smallest Ritz values, i.e. the slowest modes of ``M⁻¹A``.
When ``A`` changes (another fingerprint, hence another :meth:`DeflatedCG.setup`), ``A W`` and
``M W`` are recomputed (``k`` products each) and the next harvest refreshes ``W`` for the new matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from ..preconditioners.jacobi import inverse_diagonal
from .base import Callback, IterationResult, Method


class _Preconditioner:
    """``M⁻¹`` (apply) and ``M`` itself (forward, for the harvest's M-inner products) for one matrix.

    ``M⁻¹`` is applied with the compiled sweep kernel of :mod:`.compiled` (the same SSOR as
    ``numba-ssor-cg``); ``M`` is formed from the SSOR factors as sparse products.
    """

    def __init__(self, A: sp.csr_array, kind: str, omega: float) -> None:
        self.kind, self.omega = kind, omega
        if kind == "none":
            return
        from . import compiled

        self.P = compiled.prepare(A)
        self._kernel, self._code = compiled._apply_preconditioner, compiled.PRECONDITIONERS[kind]
        d = A.diagonal()
        self.dinv = inverse_diagonal(A)
        self.d = d
        if kind == "ssor":
            # M = (D + ωL) D⁻¹ (D + ωU) / (ω(2−ω)), exactly the inverse of the two sweeps
            self.lower = sp.csr_array(sp.diags_array(d) + omega * sp.tril(A, -1))
            self.upper = sp.csr_array(sp.diags_array(d) + omega * sp.triu(A, 1))

    def apply(self, r: np.ndarray, z: np.ndarray) -> float:
        """``z = M⁻¹ r`` in place; returns ``r·z``."""
        if self.kind == "none":
            z[:] = r
            return float(r @ r)
        P = self.P
        return self._kernel(P.indptr, P.indices, P.data, P.inv_diag, P.diag_pos, self._code, self.omega, r, z)

    def forward(self, V: np.ndarray) -> np.ndarray:
        """``M V`` for a block of vectors (columns)."""
        if self.kind == "none":
            return V.copy()
        if self.kind == "jacobi":
            return self.d[:, None] * V
        w = self.omega * (2.0 - self.omega)
        return self.lower @ (self.dinv[:, None] * (self.upper @ V)) / w


class _Prepared:
    __slots__ = ("M",)

    def __init__(self, M: _Preconditioner) -> None:
        self.M = M


class DeflatedCG(Method):
    """Preconditioned CG deflating ``k`` approximate slowest eigenvectors recycled across solves.

    ``preconditioner`` is ``"none"``, ``"jacobi"`` or ``"ssor"`` (with ``omega``); ``harvest`` is
    how many search directions of a solve feed the Rayleigh–Ritz step (default ``max(k, 12)``),
    and a harvest happens every ``every`` solves (each costs ``O(n (k + harvest)²)``; harvesting
    every solve refines the Ritz vectors fastest, so 1 is the default).
    """

    spd_only = True
    needs_matrix = True
    energy_norm = True

    def __init__(self, k: int = 8, preconditioner: str = "ssor", omega: float = 1.5,
                 harvest: int | None = None, every: int = 1) -> None:
        self.k, self.kind, self.omega, self.every = k, preconditioner, omega, every
        self.harvest = max(k, 12) if harvest is None else harvest
        self._since = 0  # solves since the last harvest
        self.W: np.ndarray | None = None  # recycled space (n × m), m <= k
        self._AW: np.ndarray | None = None
        self._MW: np.ndarray | None = None
        self._for: _Prepared | None = None  # the setup A W and M W were computed for

    @property
    def memory_vectors(self) -> int:
        """Vectors kept between solves: ``W``, ``A W`` and ``M W``."""
        return 0 if self.W is None else 3 * self.W.shape[1]

    def setup(self, A: Any, previous: Any | None, **hints: Any) -> _Prepared:
        return _Prepared(_Preconditioner(A, self.kind, self.omega))

    def solve(self, prepared: _Prepared, A, b, x0, *, rtol, atol, maxiter, callback: Callback = None) -> IterationResult:
        M = prepared.M
        n = b.shape[0]
        if self.W is not None and self.W.shape[0] != n:
            self.W = None
        harvest = self.W is None or self._since + 1 >= self.every
        W, AW, MW, Einv = self._recycled(prepared, A, harvest)
        x = np.array(x0, dtype=np.float64, copy=True)
        r = b - A @ x
        if W is not None:  # start with a residual orthogonal to W
            mu = Einv @ (W.T @ r)
            x += W @ mu
            r -= AW @ mu
        tol = max(rtol * np.linalg.norm(b), atol)
        if np.linalg.norm(r) <= tol:
            return IterationResult(x, 0, "converged")
        z = np.empty(n)
        rz = M.apply(r, z)
        p, Mp = z.copy(), r.copy()
        if W is not None:
            mu = Einv @ (AW.T @ z)
            p -= W @ mu
            if harvest:
                Mp -= MW @ mu
        store = min(self.harvest, maxiter) if harvest else 0
        P, AP, MP = np.empty((store, n)), np.empty((store, n)), np.empty((store, n))  # rows: vectors
        kept, status, it = 0, "maxiter", 0
        tol2 = tol * tol
        while it < maxiter:
            Ap = A @ p
            pAp = p @ Ap
            if not (pAp > 0 and np.isfinite(pAp)):
                status = "indefinite" if np.isfinite(pAp) else "nan"
                break
            if kept < store:
                P[kept], AP[kept], MP[kept] = p, Ap, Mp
                kept += 1
            alpha = rz / pAp
            x += alpha * p
            r -= alpha * Ap
            it += 1
            if callback is not None:
                callback(x)
            if r @ r <= tol2:
                status = "converged"
                break
            rz, rz_old = M.apply(r, z), rz
            beta = rz / rz_old
            p *= beta
            p += z
            if kept < store:
                Mp *= beta
                Mp += r
            if W is not None:
                mu = Einv @ (AW.T @ z)
                p -= W @ mu
                if kept < store:
                    Mp -= MW @ mu
        if not np.all(np.isfinite(x)):
            return IterationResult(x, it, "nan")
        self._since += 1
        if kept:
            self._harvest(prepared, P[:kept].T, AP[:kept].T, MP[:kept].T)
            self._since = 0
        return IterationResult(x, it, status)

    # ------------------------------------------------------------------ the recycled space
    def _recycled(self, prepared: _Prepared, A, harvest: bool):
        """``W, A W, M W`` and ``(Wᵀ A W)⁻¹`` for the current matrix (recomputed after a new setup;
        ``M W`` only when this solve harvests)."""
        if self.W is None:
            return None, None, None, None
        if self._for is not prepared:
            self._AW = np.asarray(A @ self.W).reshape(self.W.shape)
            self._MW = None
            self._for = prepared
        if harvest and self._MW is None:
            self._MW = prepared.M.forward(self.W)
        E = self.W.T @ self._AW
        try:
            Einv = la.inv(0.5 * (E + E.T))
        except (la.LinAlgError, ValueError):
            self.W = None
            return None, None, None, None
        if not np.all(np.isfinite(Einv)):
            self.W = None
            return None, None, None, None
        return self.W, self._AW, self._MW, Einv

    def _harvest(self, prepared: _Prepared, P, AP, MP) -> None:
        """Rayleigh–Ritz for ``A v = θ M v`` on ``span(W, P)``: keep the ``k`` smallest Ritz vectors."""
        if self.W is not None and self._for is prepared:
            S, AS, MS = (np.hstack(pair) for pair in ((self.W, P), (self._AW, AP), (self._MW, MP)))
        else:
            S, AS, MS = P, AP, MP
        GA, GM = S.T @ AS, S.T @ MS
        GA, GM = 0.5 * (GA + GA.T), 0.5 * (GM + GM.T)
        try:
            # scale to unit M-norm columns first: the Gram matrices mix vectors of very different sizes
            s = 1.0 / np.sqrt(np.maximum(np.diag(GM), np.finfo(float).tiny))
            theta, C = la.eigh(s[:, None] * GA * s, s[:, None] * GM * s,
                               subset_by_index=[0, min(self.k, S.shape[1]) - 1])
        except (la.LinAlgError, ValueError):
            return  # keep the old space: a failed harvest must not break the next solve
        if not (np.all(np.isfinite(theta)) and np.all(theta > 0)):
            return
        C = s[:, None] * C
        self.W, self._AW, self._MW, self._for = S @ C, AS @ C, MS @ C, prepared
