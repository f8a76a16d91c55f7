"""``projection(k)``: the best combination of the last ``k`` solutions (Fischer 1998).

For symmetric positive definite ``A`` the guess is the Galerkin projection of the unknown
solution onto ``S = span(x₁ … x_k)``: the ``x0 ∈ S`` with the smallest A-norm error, computed
from ``b`` alone, since ``Vᵀ A x = Vᵀ b``.  For non-symmetric ``A`` it is the ``x0 ∈ S`` with the
smallest residual ``||b − A x0||`` (a least-squares problem on ``A S``).

Numerics: consecutive solutions are nearly parallel, so ``S`` is held as an orthonormal basis
``Q`` with ``A Q`` and the small ``G = Qᵀ A Q`` beside it (condition at most that of ``A``), so
nearly dependent solutions cost nothing in accuracy.  ``Q`` and ``A Q`` are the rows of C-ordered
``k × n`` arrays: every BLAS call streams contiguous vectors.

Cost, O(n·k) a step while the operator is unchanged (per the fingerprint): a new solution is
orthogonalised by classical Gram–Schmidt, repeated while a pass cancels (usually two passes),
and costs one product ``A q`` and two matrix–vector products for ``G``'s new row and column.  The
oldest solution leaves by one Householder reflection of ``Q`` (and of ``A Q``, and ``G ← H G H``)
that turns the one direction only it contributed into the last row, which is then dropped: a
matrix–vector product and a rank-one update, where rotating to a new basis costs an n×k×k
product.  After the operator changed, ``A Q`` is ``k`` products (for a CSR matrix a compiled kernel
writing the rows of ``A Q`` straight from those of ``Q``, see :mod:`._projection_kernels`; else one
sparse-times-block product) and ``G`` one k×n×k product: its ``k²`` inner products are new, the only
work above O(n·k).
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy.linalg.blas import dgemv, dger
from scipy.linalg.lapack import dgeqrf, dormqr

from ..errors import ConfigurationError
from .base import Guess

_VARIANTS = ("auto", "galerkin", "minres")


class Projection(Guess):
    """Project onto the last ``k`` solutions: Galerkin (SPD) or minimal residual (otherwise).

    ``variant="auto"`` uses Galerkin while ``Qᵀ A Q`` is symmetric, else minres.
    """

    def __init__(self, k: int = 8, variant: str = "auto") -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigurationError(f"projection: k must be a positive integer, got {k!r}")
        if variant not in _VARIANTS:
            raise ConfigurationError(f"projection: variant must be one of {', '.join(_VARIANTS)}, got {variant!r}")
        self.k, self.variant = int(k), variant
        self.span = self.k
        self.name = f"projection(k={self.k})" if variant == "auto" else f"projection(k={self.k},variant={variant})"
        self.reset()
        #: the variant the last :meth:`form` used (``"galerkin"`` or ``"minres"``)
        self.used_: str | None = None

    # ---------------------------------------------------------------- the three verbs
    def form(self, A: Any, b: np.ndarray, key: Hashable | None = None) -> np.ndarray | None:
        if not self._products(A, b.shape[0], key):
            return None
        m = self._m
        Q, G = self._q[:m], self._g[:m, :m]
        variant = self.variant
        if variant == "auto":
            variant = "galerkin" if np.abs(G - G.T).max() <= 1e-10 * np.abs(G).max() else "minres"
        self.used_ = variant
        b = np.asarray(b, dtype=np.float64)
        y = _solve_spd(0.5 * (G + G.T), Q @ b) if variant == "galerkin" else self._least_squares(b)
        return Q.T @ y

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None = None) -> None:
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0]
        if self._q.shape[1] != n:  # first solution, or the size changed: start over
            self.reset()
            self._q, self._aq = np.empty((self.k, n)), np.empty((self.k, n))
        if self._m == self.k:
            self._drop_oldest()
        m = self._m
        h, v = _orthogonalise(self._q[:m], x)
        rho = float(np.linalg.norm(v))
        if not rho > 1e-13 * np.linalg.norm(x):  # x lies in S to rounding: nothing new to store
            return
        self._q[m] = v / rho
        R = np.zeros((m + 1, m + 1))
        R[:m, :m], R[:m, m], R[m, m] = self._r, h, rho
        self._r, self._m = R, m + 1  # A·q is computed when a guess is next formed, for that solve's operator

    def reset(self) -> None:
        self._q = self._aq = np.empty((self.k, 0))  # rows 0..m-1: Q and, for rows < done, A Q
        self._m = self._done = 0
        self._r = np.zeros((0, 0))  # stored solutions = Qᵀ R (columns oldest first): what the downdate needs
        self._g = np.empty((self.k, self.k))  # Qᵀ A Q, valid on [:done, :done]
        self._aqaq: np.ndarray | None = None  # (A Q)ᵀ A Q likewise, kept once the minres variant is used
        self._pending: tuple[np.ndarray, float] | None = None  # a reflection A Q still owes (see _drop_oldest)
        self._key: Hashable | None = None  # the operator A Q is for
        self._work = np.empty((0, 4))  # the compiled product's n × 4 work array, kept between calls

    @property
    def memory_vectors(self) -> int:
        return 2 * self.k if self._m else 0

    @property
    def planned_vectors(self) -> int:
        return 2 * self.k  # Q and A·Q

    # ---------------------------------------------------------------- the basis
    def basis(self, A: Any, n: int, key: Hashable | None = None) -> tuple[np.ndarray, np.ndarray]:
        """An A-orthonormal basis ``V`` of the stored solutions and ``A V`` (SPD ``A``): ``V = Q L⁻ᵀ``
        with ``Qᵀ A Q = L Lᵀ``, refined by a second pass so ``Vᵀ A V = I`` to rounding."""
        if not self._products(A, n, key):
            return np.zeros((n, 0)), np.zeros((n, 0))
        V, AV = self._q[:self._m].T, self._aq[:self._m].T
        for _ in range(2):
            G = V.T @ AV
            L = np.linalg.cholesky(0.5 * (G + G.T))
            V, AV = la.solve_triangular(L, V.T, lower=True).T, la.solve_triangular(L, AV.T, lower=True).T
        return V, AV

    # ---------------------------------------------------------------- internals
    def _products(self, A: Any, n: int, key: Hashable | None) -> bool:
        """Bring ``A Q`` and ``G`` (and ``(A Q)ᵀ A Q`` if kept) up to date for the operator ``A``:
        only the rows added since the last call while ``key`` is unchanged.  ``False`` when nothing
        is stored for length ``n``."""
        m = self._m
        if m == 0 or self._q.shape[1] != n:
            return False
        if key is None or key != self._key:  # another operator: every stored product is stale
            self._done, self._key, self._aqaq, self._pending = 0, key, None, None
        self._settle()
        d = self._done
        if d == m:
            return True
        Q, AQ = self._q[:m], self._aq[:m]
        if m - d > 1 and _is_csr64(A, n):  # several rows: the compiled product, no transposing copies
            if self._work.shape[0] != n:
                self._work = np.empty((n, 4))
            _kernels().csr_times_rows(A.indptr, A.indices, A.data, Q[d:], AQ[d:], self._work)
        else:
            AQ[d:] = np.asarray(A @ (Q[d] if m - d == 1 else Q[d:].T)).reshape(n, m - d).T
        if self.variant != "minres":  # G decides the variant and makes the Galerkin guess
            G = self._g
            G[:m, d:m] = Q @ AQ[d:].T  # new columns: one matrix-vector product per new row
            G[d:m, :d] = Q[d:] @ AQ[:d].T
        if self._aqaq is not None:
            P = self._aqaq
            P[:m, d:m] = AQ @ AQ[d:].T
            P[d:m, :d] = P[:d, d:m].T
        self._done = m
        return True

    def _least_squares(self, b: np.ndarray) -> np.ndarray:
        """``argmin ||b − (A Q) y||``: for a well-conditioned ``A Q`` from its Gram matrix (kept
        up to date in O(n·k) a step) with one step of refinement, otherwise by a dense SVD."""
        m = self._m
        AQ = self._aq[:m]
        if self._aqaq is None:
            self._aqaq = np.empty((self.k, self.k))
            self._aqaq[:m, :m] = AQ @ AQ.T
        P = self._aqaq[:m, :m]
        lam = np.linalg.eigvalsh(P)
        if lam[0] > 1e-8 * lam[-1]:  # cond(A Q) < 10⁴: the refined semi-normal equations are accurate to rounding
            c = la.cho_factor(P)
            y = la.cho_solve(c, AQ @ b)
            return y + la.cho_solve(c, AQ @ (b - AQ.T @ y))
        y, *_ = np.linalg.lstsq(AQ.T, b, rcond=1e-12)
        return y

    def _drop_oldest(self) -> None:
        """Remove the oldest solution from ``S`` without products with ``A``: with ``X = Qᵀ R``, the
        direction ``z`` orthogonal to ``range(R[:, 1:])`` is the one only the oldest contributed; the
        reflection ``H`` with ``H z = ±e_last`` makes it the last row of ``H Q``, which is dropped."""
        m = self._m
        if m == 1:
            self._m = self._done = 0
            self._pending = None
            self._r = np.zeros((0, 0))
            return
        w = _left_null_vector(self._r[:, 1:])  # z, made the reflector's vector in place:
        w[-1] += 1.0 if w[-1] >= 0 else -1.0  # no cancellation; H = I − β w wᵀ maps z to ∓e_last
        beta = 2.0 / float(w @ w)
        H = np.eye(m) - beta * np.outer(w, w)
        _reflect(self._q[:m], w, beta)
        if self._done == m:  # the products follow by the same reflection, no new ones; A Q's is
            self._settle()  # applied when next needed: wasted if the operator changes first
            self._pending = (w, beta)
            for small in (self._g, self._aqaq):
                if small is not None:
                    small[:m - 1, :m - 1] = (H @ small[:m, :m] @ H)[:m - 1, :m - 1]
            self._done = m - 1
        else:  # products missing: recompute all when needed
            self._done, self._pending = 0, None
        self._r, self._m = (H @ self._r[:, 1:])[:m - 1], m - 1

    def _settle(self) -> None:
        """Apply the reflection ``A Q`` still owes (its rows up to the one then dropped are intact)."""
        if self._pending is not None:
            w, beta = self._pending
            _reflect(self._aq[:w.shape[0]], w, beta)
            self._pending = None


_KERNELS: list = []


def _kernels():
    """Compile (or load from Numba's cache) the block product on first use: a sequence that never
    forms a projection on a new CSR matrix never loads it."""
    if not _KERNELS:
        from . import _projection_kernels

        for index in (np.int32, np.int64):
            _projection_kernels.csr_times_rows(np.array([0, 1], dtype=index), np.zeros(1, dtype=index),
                                               np.ones(1), np.ones((2, 1)), np.empty((2, 1)), np.empty((1, 4)))
        _KERNELS.append(_projection_kernels)
    return _KERNELS[0]


def warmup() -> None:
    """Load the compiled block product now (from Numba's cache) rather than inside a timed solve."""
    _kernels()


def _is_csr64(A: Any, n: int) -> bool:
    """Whether ``A`` is an ``n × n`` SciPy CSR matrix of float64 with canonical index arrays: the
    compiled product's input (anything else multiplies by ``A @``)."""
    return (sp.issparse(A) and A.format == "csr" and A.shape == (n, n) and A.dtype == np.float64
            and A.indices.dtype == A.indptr.dtype and A.indptr.dtype in (np.int32, np.int64))


def _left_null_vector(M: np.ndarray) -> np.ndarray:
    """The unit ``z`` orthogonal to the ``m − 1`` columns of the ``m × (m − 1)`` matrix ``M``: the last
    column of ``M``'s complete QR, by LAPACK directly (a fourth of ``numpy.linalg.qr``'s ~30 µs)."""
    m = M.shape[0]
    qr, tau, _, _ = dgeqrf(M)
    e = np.zeros((m, 1))
    e[-1] = 1.0
    z, _, _ = dormqr("L", "N", qr, tau, e, lwork=max(1, m))
    return z[:, 0]


def _reflect(rows: np.ndarray, w: np.ndarray, beta: float) -> None:
    """``rows ← (I − β w wᵀ) rows`` in place: a matrix-vector product and a rank-one update."""
    p = dgemv(1.0, rows.T, w)  # rowsᵀ w
    dger(-beta, p, w, a=rows.T, overwrite_a=1)


def _orthogonalise(Q: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(h, v)`` with ``x = Qᵀ h + v`` and ``v`` orthogonal to the rows of ``Q`` to rounding:
    classical Gram–Schmidt, repeated while a pass removes more than 30 % of what is left (Daniel,
    Gragg, Kaufman and Stewart 1976), at most four passes.  A solution close to ``S`` takes two,
    one far from it one."""
    v = np.array(x, dtype=np.float64)
    h = np.zeros(Q.shape[0])
    if not Q.shape[0]:
        return h, v
    left = np.linalg.norm(v)
    for _ in range(4):
        c = dgemv(1.0, Q.T, v, trans=1)  # Q v
        v = dgemv(-1.0, Q.T, c, beta=1.0, y=v, overwrite_y=1)
        h += c
        before, left = left, np.linalg.norm(v)
        if left >= 0.7 * before:
            break
    return h, v


def _solve_spd(G: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``G⁻¹ c`` for the symmetric ``G = Qᵀ A Q``; eigenvalues that are not clearly positive
    (``A`` not quite definite on ``S``) are left out rather than inverted."""
    try:
        return la.cho_solve(la.cho_factor(G), c)
    except la.LinAlgError:
        lam, U = np.linalg.eigh(G)
        good = lam > 1e-12 * max(abs(lam).max(), np.finfo(float).tiny)
        return U[:, good] @ ((U[:, good].T @ c) / lam[good])
