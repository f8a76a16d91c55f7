"""The accuracy contract in floating point: safe norms, exact rescaling, a certified residual check.

seqsolve promises that a returned ``x`` satisfies ``‖b − A x‖₂ ≤ max(rtol·‖b‖₂, atol)`` for the
*exact* residual of the float64 vector it returns.  Three things stand between a computed
check and that promise, and this module handles each:

1. **Norms that cannot over- or underflow.**  ``‖b‖`` of ``b = 1e-200·1`` squares to 0 and of
   ``1e200·1`` to ``inf``; :func:`norm` rescales (as BLAS ``nrm2`` does) whenever the fast
   sum of squares leaves the safe range.

2. **Exact rescaling.**  Methods iterate on ``(2^-α A)(2^(α-β) x) = 2^-β b`` with ``α``, ``β``
   chosen from ``max|A|`` and ``‖b‖`` (:class:`ScaledSystem`), so no Krylov recurrence sees
   magnitudes near the ends of the float range.  Multiplying by a power of two is exact unless a
   value becomes subnormal, which is checked; the scaled residual is then exactly ``2^-β`` times
   the original one.

3. **A residual check whose own error is bounded** (:func:`check_residual`).  Computing
   ``r = b − A x`` in float64 has a componentwise error up to
   ``γ_{k+1}(|A||x| + |b|)_i`` (``k`` = stored entries in row ``i``, ``γ_m = m u/(1 − m u)``,
   ``u = 2⁻⁵³``; Higham, *Accuracy and Stability*, §3.5).  On badly scaled systems that is
   larger than the residual itself: a float64 residual can look thousands of times better than
   the exact one.  So ``x`` is *certified* only when ``‖fl(r)‖`` plus that bound (computed in the
   same compiled pass) is below the target.  When neither the pass nor its negation is conclusive,
   the residual is recomputed with error-free transformations (Ogita, Rump & Oishi's ``Dot2``:
   TwoSum/TwoProduct, as accurate as twice the working precision), whose error is at most
   ``u|r_i| + γ²_{k+1}(|A||x| + |b|)_i``.  Only a certified ``x`` is returned.

What can be attained: no float64 ``x`` is in general closer to ``A⁻¹b`` than half an ulp per
component, so relative residuals of order ``u·‖A‖‖x‖/‖b‖`` are the floor.  ``rtol`` below
:data:`RTOL_MIN` (4ε ≈ 8.9e-16) is refused up front; a tolerance that is above it but below what a
particular system allows ends in a :class:`~seqsolve.ConvergenceError` saying so, never in an
uncertified ``x``.  For a ``LinearOperator`` seqsolve cannot see ``|A|``: up to
:data:`OPERATOR_ENTRIES_MAX` unknowns it reads the entries off the operator (``A e_j``, one product
per column) and certifies as for a matrix; above that its check trusts the operator's product and
bounds the rounding by ``4ε(‖b‖ + ‖A x‖)`` — which misses cancellation inside ``A x`` (a row whose
terms are 1e13 and whose sum is 0.1), the documented limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

U = 2.0**-53  #: unit roundoff of float64
EPS = 2.0**-52  #: machine epsilon
RTOL_MIN = 4 * EPS  #: smallest ``rtol`` seqsolve accepts (≈ 8.9e-16)
_ETA = 2.0**-1074  #: smallest subnormal: absolute error of one underflowing operation
_TINY = np.finfo(np.float64).tiny
_SAFE_LOW = 1e-250  # a sum of squares above this lost nothing relevant to underflow
_SCALE_RANGE = 2.0**100  # magnitudes inside [2^-100, 2^100] are left alone


def gamma(m: float) -> float:
    """Higham's ``γ_m = m u / (1 − m u)``: the relative error bound of ``m`` rounded operations."""
    mu = m * U
    return mu / (1.0 - mu) if mu < 0.5 else math.inf


def norm(v: np.ndarray) -> float:
    """Euclidean norm without spurious over- or underflow (scaled like BLAS ``nrm2`` when needed)."""
    with np.errstate(over="ignore"):
        s = float(np.dot(v, v))
    if _SAFE_LOW < s < math.inf:
        return math.sqrt(s)
    if v.size == 0:
        return 0.0
    m = float(np.max(np.abs(v)))
    if m == 0.0 or not math.isfinite(m):
        return m
    w = v / m
    return m * math.sqrt(float(np.dot(w, w)))


def norm_from_squares(sumsq: float, v: np.ndarray) -> float:
    """``‖v‖`` from ``Σ v_i²`` computed in some order (``γ_n`` bounds any order's rounding), or
    by :func:`norm` when that sum left the safe range."""
    return math.sqrt(sumsq) if _SAFE_LOW < sumsq < math.inf else norm(v)


def ldexp(v: float, e: int) -> float:
    """``v·2^e`` that saturates to 0 or ``inf`` instead of raising like :func:`math.ldexp`."""
    try:
        return math.ldexp(v, e)  # rounds underflow to a subnormal or 0, like NumPy's
    except OverflowError:
        return math.copysign(math.inf, v)


def _exponent(magnitude: float) -> int:
    """``e`` with ``magnitude·2^-e`` near 1, or 0 when ``magnitude`` needs no rescaling."""
    if magnitude == 0.0 or not math.isfinite(magnitude) or 1 / _SCALE_RANGE <= magnitude <= _SCALE_RANGE:
        return 0
    return math.frexp(magnitude)[1]


def _scaled_exactly(v: np.ndarray, e: int) -> np.ndarray | None:
    """``v·2^-e`` if every entry keeps all its bits (nothing becomes subnormal, zero or inf)."""
    w = np.ldexp(v, -e)
    nz = v != 0
    aw = np.abs(w[nz])
    if aw.size and (aw.min() < _TINY or not np.isfinite(aw.max())):
        return None
    return w


class ScaledSystem:
    """``A x = b`` rewritten exactly as ``A_s x_s = b_s`` with ``A_s = 2^-α A``, ``b_s = 2^-β b``.

    ``x = 2^(β−α) x_s`` (``shift = β − α``); residuals scale by ``2^-β``, so relative residuals are
    unchanged.  When a power-of-two scaling would lose bits it is not applied (``α`` or ``β`` is 0).
    A plain slotted class, built once per solve: a frozen dataclass costs a µs more to build.
    """

    __slots__ = ("A", "b", "alpha", "beta", "shift")

    def __init__(self, A: object, b: np.ndarray, alpha: int, beta: int) -> None:
        self.A, self.b, self.alpha, self.beta, self.shift = A, b, alpha, beta, beta - alpha

    def __repr__(self) -> str:
        return f"ScaledSystem(alpha={self.alpha}, beta={self.beta})"

    def to_scaled(self, x: np.ndarray) -> np.ndarray:
        """An initial guess in scaled units (any finite vector will do: it is only a guess)."""
        if self.shift == 0:
            return x
        xs = np.ldexp(x, -self.shift)
        return xs if np.all(np.isfinite(xs)) else np.zeros_like(x)

    def from_scaled(self, xs: np.ndarray) -> tuple[np.ndarray, bool]:
        """``(x, exact)``: ``x = 2^shift x_s`` and whether that multiplication was exact."""
        if self.shift == 0:
            return xs, True
        x = np.ldexp(xs, self.shift)
        back = np.ldexp(x, -self.shift)
        return x, bool(np.array_equal(back, xs))


def moderate(max_abs: float, bnorm: float) -> bool:
    """Whether neither ``A`` (entries up to ``max_abs``) nor ``b`` (norm ``bnorm``) is rescaled:
    both inside ``[2^-100, 2^100]``, the usual case, decided before any :class:`ScaledSystem` is
    worked out (then ``α = β = 0``: :func:`scale_system` would return the system as it is)."""
    return 1 / _SCALE_RANGE <= max_abs <= _SCALE_RANGE and 1 / _SCALE_RANGE <= bnorm <= _SCALE_RANGE


def moderate_norm(b_squares: float, max_abs: float) -> float:
    """``‖b‖ = √(Σ b_i²)`` when :func:`moderate` holds for it (its squares within ``[2^-200, 2^200]``,
    safely inside :func:`norm_from_squares`'s exact range) and ``max_abs``; else 0.0, also for
    ``b = 0``: the caller then takes the general path.  One call for the usual case, on every solve
    of the lean fixed path (:mod:`seqsolve.fixed_path`)."""
    if 1 / _SCALE_RANGE**2 <= b_squares <= _SCALE_RANGE**2 and 1 / _SCALE_RANGE <= max_abs <= _SCALE_RANGE:
        return math.sqrt(b_squares)
    return 0.0


def magnitude_exponent(max_abs: float) -> int:
    """The ``α`` for a matrix with ``max|A| = max_abs``: nonzero only outside ``[2^-100, 2^100]``
    (``nan`` for an operator, whose entries are unknown: 0)."""
    return _exponent(max_abs) if math.isfinite(max_abs) else 0


def scale_matrix(A, alpha: int):
    """``2^-α A`` as a new CSR array, or ``None`` if that would lose bits."""
    if alpha == 0:
        return A
    data = _scaled_exactly(A.data, alpha)
    if data is None:
        return None
    return sp.csr_array((data, A.indices, A.indptr), shape=A.shape)


def scale_system(A, A_scaled, alpha: int, b: np.ndarray, bnorm: float) -> ScaledSystem:
    """The scaled system for right-hand side ``b`` (``A_scaled = 2^-α A``, computed once per matrix)."""
    beta = alpha + _exponent(ldexp(bnorm, -alpha) if alpha else bnorm)
    if beta == 0 == alpha:
        return ScaledSystem(A, b, 0, 0)  # the usual case: nothing to scale
    for a, bt in ((alpha, beta), (alpha, alpha), (0, 0)):
        bs = _scaled_exactly(b, bt) if bt else b
        if bs is not None:  # else: scaling would lose bits of b; try a milder one
            return ScaledSystem(A_scaled if a else A, bs, a, bt)
    raise AssertionError("unreachable: the unscaled system is always exact")


@dataclass(frozen=True)
class Verdict:
    """Outcome of a residual check.

    ``residual`` is the best estimate of ``‖b − A x‖``, ``upper`` a rigorous upper bound of the
    exact value (``inf`` when the check overflowed or ``x`` is not finite), ``error_bound`` the
    part of ``upper`` due to rounding in the check itself.
    """

    residual: float
    upper: float
    error_bound: float
    r: np.ndarray | None = field(default=None, repr=False, compare=False)

    def meets(self, target: float) -> bool:
        return self.upper <= target and math.isfinite(self.upper)


FAILED = Verdict(math.inf, math.inf, math.inf)


@dataclass(frozen=True)
class ResidualPass:
    """What the check's compiled pass (``residual_with_bound``) gives for one ``(A, b, x)``.

    A method that computes its final true residual with that same pass (compiled PCG) hands it
    over, so :func:`check_residual` does not repeat it: ``r = fl(b − A x)``, ``mag = |A||x| + |b|``,
    ``terms`` (the longest row's terms + 1; −1: not finite), ``rr = Σ r_i²``, ``mm = Σ mag_i²``.
    """

    r: np.ndarray = field(repr=False)
    mag: np.ndarray = field(repr=False)
    terms: int
    rr: float
    mm: float


def check_residual(A, b: np.ndarray, x: np.ndarray, bnorm: float, target: float,
                   done: ResidualPass | None = None) -> Verdict:
    """Certify ``‖b − A x‖ ≤ target`` (see the module docstring for the bounds used).

    ``done`` is the compiled pass already made over exactly this ``A``, ``b`` and ``x`` (the
    caller vouches for that); the certificate is then the same, one pass cheaper."""
    if isinstance(A, LinearOperator):
        if not np.all(np.isfinite(x)):
            return FAILED
        if b.shape[0] <= OPERATOR_ENTRIES_MAX:
            entries = operator_entries(A)
            if entries is None:
                return FAILED  # the operator's own product is not finite
            return check_residual(entries, b, x, bnorm, target)
        r = b - np.asarray(A @ x).ravel()
        rn = norm(r)
        err = 4 * EPS * (bnorm + norm(b - r))
        upper = rn * (1 + gamma(r.size + 4)) + err
        return Verdict(rn, upper, err, r) if math.isfinite(upper) else FAILED
    n = b.shape[0]
    if done is None:
        r, mag = np.empty(n), np.empty(n)
        terms, rr, mm = _kernels().residual_with_bound(A.indptr, A.indices, A.data, b, x, r, mag)
    else:
        r, mag, terms, rr, mm = done.r, done.mag, done.terms, done.rr, done.mm
    if terms < 0:
        return FAILED  # x is not finite, or the check overflowed
    # + the absolute error of products that underflow: at most 2η per term (η: smallest subnormal)
    gn = gamma(n + 4)
    rn, err = norm_from_squares(rr, r), gamma(terms + 1) * norm_from_squares(mm, mag) * (1 + gn) + math.sqrt(n) * 2 * terms * _ETA
    upper = rn * (1 + gn) + err
    lower = rn * (1 - gn) - err
    if upper <= target or lower > target or not math.isfinite(upper):
        return Verdict(rn, upper, err, r) if math.isfinite(upper) else FAILED
    # inconclusive: recompute the residual in twice the working precision
    r, mag = np.empty(n), np.empty(n)
    terms = _kernels().residual_dot2(A.indptr, A.indices, A.data, b, x, r, mag)
    if terms < 0:
        return FAILED
    rn2, err2 = norm(r), norm(mag) * (1 + gn) + math.sqrt(n) * 8 * terms * _ETA
    upper2 = (rn2 * (1 + gn) + err2) / (1 - U)
    return Verdict(rn2, upper2, err2, r) if math.isfinite(upper2) else FAILED


def precise_residual(A, b: np.ndarray, x: np.ndarray) -> np.ndarray | None:
    """``b − A x`` in twice the working precision (compensated ``Dot2``) for a CSR matrix of float64
    entries, ``None`` otherwise or where it overflows: what iterative refinement needs to reach the
    accuracy of the factorisation's *solution*, not that of a float64 residual (n·u·|A||x|)."""
    if not (sp.issparse(A) and A.format == "csr" and A.data.dtype == np.float64):
        return None
    r, mag = np.empty(b.shape[0]), np.empty(b.shape[0])
    if _kernels().residual_dot2(A.indptr, A.indices, A.data, np.ascontiguousarray(b, dtype=np.float64),
                                np.ascontiguousarray(x, dtype=np.float64), r, mag) < 0:
        return None
    return r


#: a LinearOperator up to this many unknowns is certified on its entries (n products to read them)
OPERATOR_ENTRIES_MAX = 64


def operator_entries(A: LinearOperator) -> sp.csr_array | None:
    """The matrix of a small operator, column by column (``A e_j``), or ``None`` if not finite."""
    n = A.shape[1]
    cols = np.column_stack([np.asarray(A @ e, dtype=np.float64).ravel() for e in np.eye(n)])
    if not np.all(np.isfinite(cols)):
        return None
    return sp.csr_array(cols)


_KERNELS: list = []
_LOADED_WIDTHS: set = set()  # the index dtypes the residual kernels are loaded for


def _kernels():
    """Compile (or load from Numba's cache) the residual kernels on first use."""
    if not _KERNELS:
        from . import _residual_kernels

        _KERNELS.append(_residual_kernels)
        warmup(np.int32)
    return _KERNELS[0]


def warmup(index_dtype=np.int32) -> None:
    """Load the residual kernels for CSR indices of ``index_dtype`` now (~10-50 ms from Numba's
    cache) rather than inside a timed solve: each index width is its own compiled signature, and
    a first solve on int64 indices (SciPy's sparse arrays often have them) had the load charged to
    the first configuration tried — SSOR-PCG's first solve read 7 ms for 2.5, and the learner
    believed it."""
    kernels = _kernels()
    width = np.dtype(index_dtype)
    if width in _LOADED_WIDTHS:
        return
    _LOADED_WIDTHS.add(width)
    one, idx = np.ones(1), np.array([0, 1], dtype=width)
    for kernel in (kernels.residual_with_bound, kernels.residual_dot2):
        kernel(idx, idx[:1], one, one, one, np.empty(1), np.empty(1))
