"""Input checks shared by every entry point: turn what a user passes into a clean system.

Checks run once per solve and must stay cheap next to a solve of a few hundred microseconds, so
finiteness, a fingerprint and the magnitude come from one compiled pass (:func:`scan_matrix`), and
symmetry is tested entrywise through a transpose permutation computed once per sparsity pattern
(two products against fixed random vectors for a ``LinearOperator``), never by forming ``A - A.T``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from .accuracy import norm, norm_from_squares
from .errors import InvalidSystemError, UnsupportedTypeError

Operator = sp.csr_array | LinearOperator

#: native float64: the fast checks below compare dtypes by identity (NumPy's dtype of every native
#: float64 array is this one object; ``== np.float64`` converts the type on each call).  A float64
#: of another byte order fails the identity test and takes the general path, which converts it.
_F64 = np.dtype(np.float64)

_KERNELS: list = []


def _kernels():
    """:mod:`seqsolve._scan_kernels`, imported on first use (Numba costs ~0.5 s to import); an
    import statement on every call costs a microsecond of the per-call budget."""
    if not _KERNELS:
        from . import _scan_kernels as k

        # each function is loaded from Numba's cache on its first call (~2 ms): here, not in the first
        # timed solve of whichever configuration comes first (a learner would believe it)
        one, idx, perm = np.ones(1), np.array([0, 1], dtype=np.int32), np.zeros(1, dtype=np.int32)
        k.scan(idx, idx[:1], one, perm, 0, 1, 1e-10, one)
        k.canonical(idx, idx[:1], 1)
        k.symmetric_entries(one, perm, 0.0)
        k.transpose_positions(idx, idx[:1], perm)
        k.unpartnered(idx, idx[:1], np.empty(1, dtype=np.int64))
        k.all_finite(one)
        k.finite_squares(one)
        _KERNELS.append(k)
    return _KERNELS[0]


def as_operator(A: Any, check_finite: bool = True, canonical: bool = True) -> Operator:
    """Return ``A`` as a float64 CSR array, or as the given ``LinearOperator``.

    Raises :class:`UnsupportedTypeError` for types seqsolve cannot use and
    :class:`InvalidSystemError` for empty, non-square or (unless ``check_finite=False``, for a
    caller that runs :func:`scan_matrix`) non-finite matrices.
    """
    if type(A) is sp.csr_array and not check_finite and not canonical and A.data.dtype is _F64:
        shape = A.shape
        if len(shape) == 2 and shape[0] == shape[1] > 0:
            return A  # the common case along a sequence, already what is needed (the caller scans it)
    if type(A).__module__.startswith("petsc4py"):  # a petsc4py Mat: its CSR arrays, copied once (a shell: its product)
        from .backends.petsc.matrices import to_input

        A = to_input(A, "Mat")
    if isinstance(A, LinearOperator):
        if len(A.shape) != 2 or A.shape[0] != A.shape[1]:
            raise InvalidSystemError(f"A must be square, got LinearOperator of shape {A.shape}")
        if A.shape[0] == 0:
            raise InvalidSystemError("A is empty (shape (0, 0))")
        return A
    if sp.issparse(A):
        M = A
    elif isinstance(A, np.ndarray):
        if A.ndim != 2:
            raise InvalidSystemError(f"A must be 2-D, got an array with {A.ndim} dimension(s)")
        M = A
    else:
        raise UnsupportedTypeError(
            f"A must be a SciPy sparse matrix/array, a 2-D numpy array or a LinearOperator, "
            f"got {type(A).__name__}"
        )
    if M.shape[0] != M.shape[1]:
        raise InvalidSystemError(f"A must be square, got shape {M.shape}")
    if M.shape[0] == 0:
        raise InvalidSystemError("A is empty (shape (0, 0))")
    if M.dtype.kind == "c":
        raise UnsupportedTypeError("complex matrices are not supported; A must be real")
    if M.dtype.kind not in "fiub":
        raise UnsupportedTypeError(f"A has unsupported dtype {M.dtype}")
    csr = sp.csr_array(M, dtype=np.float64) if not (sp.issparse(M) and M.format == "csr"
                                                      and M.dtype == np.float64
                                                      and isinstance(M, sp.csr_array)) else M
    if check_finite and not np.all(np.isfinite(csr.data)):
        raise InvalidSystemError("A contains NaN or Inf entries")
    if canonical and not csr.has_canonical_format:
        # duplicate or unsorted entries: sweeps (SOR/SSOR) read one entry as "the" diagonal;
        # copy first, the arrays may be shared with the caller's matrix
        csr = csr.copy()
        csr.sum_duplicates()
    return csr


def as_vector(b: Any, n: int, name: str = "b") -> np.ndarray:
    """Return ``b`` as a contiguous float64 vector of length ``n`` (accepts shape (n, 1))."""
    if type(b) is np.ndarray and b.dtype is _F64 and b.shape == (n,) and b.flags.c_contiguous:
        if not _kernels().all_finite(b):  # the common case, with none of the conversions below
            raise InvalidSystemError(f"{name} contains NaN or Inf")
        return b
    if sp.issparse(b):
        b = b.toarray()
    if type(b).__module__.startswith("petsc4py"):  # a petsc4py Vec
        from .backends.petsc.matrices import to_input

        b = to_input(b, "Vec")
    if not isinstance(b, (np.ndarray, list, tuple)):
        raise UnsupportedTypeError(f"{name} must be a 1-D numpy array, got {type(b).__name__}")
    try:
        arr = np.asarray(b)
    except ValueError as exc:  # ragged nested lists
        raise InvalidSystemError(f"{name} must be a 1-D array of numbers: {exc}") from None
    if np.iscomplexobj(arr):
        raise UnsupportedTypeError(f"{name} is complex; only real systems are supported")
    if arr.dtype.kind not in "fiub":
        raise UnsupportedTypeError(f"{name} has unsupported dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidSystemError(f"{name} must be 1-D (or a single column), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise InvalidSystemError(f"shape mismatch: A is {n}x{n} but {name} has length {arr.shape[0]}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not _kernels().all_finite(arr):
        raise InvalidSystemError(f"{name} contains NaN or Inf")
    return arr


def all_finite(v: np.ndarray) -> bool:
    """Whether every entry of the float64 vector ``v`` is finite: one compiled pass, no temporaries
    (``np.all(np.isfinite(v))`` allocates a boolean array and costs a few times more)."""
    if v.dtype == np.float64 and v.ndim == 1 and v.flags.c_contiguous:
        return bool(_kernels().all_finite(v))
    return bool(np.all(np.isfinite(v)))


def as_rhs(b: Any, n: int, scan: "MatrixScan | None" = None) -> tuple[np.ndarray, float]:
    """``(as_vector(b, n), ‖b‖)``; for a float64 vector already, check and norm come from one
    compiled pass (the norm as :func:`~seqsolve.accuracy.norm` computes it, up to rounding order),
    or from none when ``scan`` is the matrix's :func:`scan_matrix` that was given this ``b``."""
    if scan is not None and scan.b is b and b is not None:
        bnorm = norm_from_squares(scan.b_squares, b)  # checked by the scan
    elif _plain(b, n):
        finite, squares = _kernels().finite_squares(b)
        if not finite:
            raise InvalidSystemError("b contains NaN or Inf")
        bnorm = norm_from_squares(squares, b)
    else:
        b = as_vector(b, n)
        bnorm = norm(b)
    if bnorm == math.inf:
        # finite entries whose norm is not: a relative tolerance rtol·‖b‖ would read as infinite
        # and pass any x (a fuzzed 26-unknown system, entries to 1.6e308, was "solved" so)
        raise InvalidSystemError(f"‖b‖ overflows float64 (largest |b_i| = {float(np.max(np.abs(b))):.3g}): "
                                 "scale the system down")
    return b, bnorm


def _plain(b: Any, n: int) -> bool:
    """Whether ``b`` is already what :func:`as_vector` returns: a contiguous float64 vector of length ``n``."""
    return type(b) is np.ndarray and b.dtype is _F64 and b.shape == (n,) and b.flags.c_contiguous


_PROBES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def is_symmetric(A: Operator, rtol: float = 1e-10) -> bool:
    """Cheap randomised symmetry test: ``y·(A x) == x·(A y)`` for fixed random ``x, y``.

    Any real asymmetry ``E = A - Aᵀ`` makes the two sides differ with probability one; the
    tolerance only absorbs rounding.  Costs two matrix–vector products.
    """
    n = A.shape[0]
    if n not in _PROBES:
        rng = np.random.default_rng(12345)
        _PROBES[n] = (rng.standard_normal(n), rng.standard_normal(n))
    x, y = _PROBES[n]
    with np.errstate(all="ignore"):
        Ax = np.asarray(A @ x, dtype=np.float64).ravel()
        Ay = np.asarray(A @ y, dtype=np.float64).ravel()
        ax, ay = norm(Ax), norm(Ay)
        if not (math.isfinite(ax) and math.isfinite(ay)):
            return False  # the products overflow: nothing shows symmetry (an SPD method is not offered)
        # in units of the larger product: with entries near 1e237 the plain scale overflowed to inf
        # and any matrix passed (a fuzzed non-symmetric one reached hypre, which crashed)
        c = max(ax, ay, np.finfo(float).tiny)
        lhs = float(y @ (Ax / c))
        rhs = float(x @ (Ay / c))
        scale = (ax / c) * norm(y) + (ay / c) * norm(x)
    return abs(lhs - rhs) <= rtol * max(scale, np.finfo(float).tiny)


class MatrixScan:
    """What one pass over a CSR matrix's entries tells (see :mod:`seqsolve._scan_kernels`).

    ``fingerprint`` identifies values *and* pattern (setups are reused only while it is
    unchanged); ``pattern`` identifies the sparsity pattern alone; ``max_abs`` is ``max |a_ij|``;
    ``symmetric`` is the verdict of the symmetry test folded into the pass (see
    :func:`scan_matrix`), ``None`` when none was made; ``b`` the right-hand side checked finite in
    the same pass, with its ``b_squares = Σ b_i²`` (``None``: none was).  A slotted class: one is
    built per solve.
    """

    __slots__ = ("fingerprint", "pattern", "max_abs", "symmetric", "b", "b_squares")

    def __init__(self, fingerprint: tuple, pattern: tuple, max_abs: float, symmetric: bool | None = None,
                 b: np.ndarray | None = None, b_squares: float = math.nan) -> None:
        self.fingerprint, self.pattern, self.max_abs, self.symmetric = fingerprint, pattern, max_abs, symmetric
        self.b, self.b_squares = b, b_squares

    def __repr__(self) -> str:
        return f"MatrixScan(pattern={self.pattern}, max_abs={self.max_abs!r}, symmetric={self.symmetric})"


#: tolerance of the entrywise symmetry test: ``|a_ij − a_ji| <= SYMMETRY_RTOL·max|A|``
SYMMETRY_RTOL = 1e-10
_NO_PERM = np.empty(0, dtype=np.int32)
_NO_B = np.empty(0)


def scan_matrix(A: Operator, symmetry: tuple | None = None, b: Any = None) -> MatrixScan:
    """Scan ``A`` once: :class:`InvalidSystemError` if it holds NaN or Inf, else its :class:`MatrixScan`.

    ``symmetry = (pattern, perm, lo, hi)`` folds :func:`symmetric_by_entries` of entries ``lo:hi``
    into the same compiled call, for a caller that knows the transpose permutation ``perm`` of
    ``pattern`` (a ``MatrixScan.pattern``) and expects ``A`` to have that pattern: the verdict
    lands in ``symmetric`` only when it does (else ``None``).

    ``b``, the right-hand side, is checked in the same call when it is a contiguous float64 vector
    of ``A``'s size (:class:`InvalidSystemError` if it holds NaN or Inf, after ``A``'s check):
    pass the scan to :func:`as_rhs` for its norm.  Any other ``b`` is left to :func:`as_rhs`."""
    if isinstance(A, LinearOperator):
        from .operators import is_structured

        key = A.fingerprint if is_structured(A) else ("op", id(A))  # Kronecker operators know theirs
        return MatrixScan(key, key, math.nan)
    data = A.data if A.data.flags.c_contiguous else np.ascontiguousarray(A.data)
    shape = A.shape
    return scan_csr(A, shape, data, symmetry, b if b is not None and _plain(b, shape[0]) else None)


def scan_csr(A: sp.csr_array, shape: tuple, data: np.ndarray, symmetry: tuple | None,
             b: np.ndarray | None) -> MatrixScan:
    """:func:`scan_matrix` past its input checks, for a caller that made them: ``A`` a CSR array of
    ``shape`` with contiguous values ``data``, ``b`` a contiguous float64 vector of its size or
    ``None`` (the checks cost ~3 µs on cold caches, and a lean caller has made them already)."""
    rhs = _NO_B if b is None else b
    scan = (_KERNELS[0] if _KERNELS else _kernels()).scan  # (no call once loaded: this runs on every solve)
    if symmetry is None:
        hv, hp, top, sym, squares = scan(A.indptr, A.indices, data, _NO_PERM, 0, 0, SYMMETRY_RTOL, rhs)
    else:
        hv, hp, top, sym, squares = scan(A.indptr, A.indices, data, symmetry[1], symmetry[2], symmetry[3],
                                         SYMMETRY_RTOL, rhs)
    if not math.isfinite(top):
        raise InvalidSystemError("A contains NaN or Inf entries")
    if squares - squares != 0.0 and not _kernels().all_finite(rhs):  # (else a sum that overflowed)
        raise InvalidSystemError("b contains NaN or Inf")
    # indptr[-1]: the nnz, without SciPy's property calls; the kernel's hashes are Python ints already
    pattern = (shape, int(A.indptr[-1]), hp)
    return MatrixScan((*pattern, hv), pattern, top,
                      None if sym < 0 or symmetry[0] != pattern else sym == 1,
                      None if rhs is _NO_B else rhs, squares)


def as_canonical(A: sp.csr_array, scan: MatrixScan, known: tuple | None = None) -> tuple[sp.csr_array, MatrixScan]:
    """``A`` with sorted, duplicate-free rows (sweeps read one entry as "the" diagonal) and its scan.

    ``known`` is a pattern (``MatrixScan.pattern``) already found canonical: a matrix with the
    same pattern hash is canonical too, so a sequence pays the check once, not per system.  Only
    a non-canonical matrix is copied (its arrays may be the caller's) and scanned again; SciPy is
    told the verdict, so it never re-checks the same object.
    """
    if scan.pattern == known or _kernels().canonical(A.indptr, A.indices, A.shape[1]):
        A.has_canonical_format = True
        return A, scan
    A = A.copy()
    A.sum_duplicates()
    return A, scan_matrix(A)


def transpose_permutation(A: sp.csr_array) -> np.ndarray | None:
    """``perm`` with ``A.data[perm[k]]`` the transpose partner of entry ``k``; ``None`` when the
    pattern is not structurally symmetric (or its rows are not sorted).  One compiled pass, once
    per pattern — every call where the pattern moves (Fluid2D's obstacles: 0.9 ms through SciPy's
    transpose at 79k entries)."""
    nnz = int(A.indptr[-1])
    perm = np.empty(nnz, dtype=np.int32 if nnz <= np.iinfo(np.int32).max else np.int64)  # int32: half the bytes to read
    return perm if _kernels().transpose_positions(A.indptr, A.indices, perm) else None


#: unpartnered entries kept per pattern to disprove symmetry from (:func:`unpartnered_entries`)
_UNPARTNERED = 4096


def unpartnered_entries(A: sp.csr_array) -> np.ndarray:
    """Positions of (up to 4,096 of) ``A``'s stored entries ``a_ij`` whose ``a_ji`` is not stored, for a
    pattern with sorted rows: one compiled pass, once per pattern.  Where one of them holds a value,
    ``A`` is not symmetric — no products needed (a directed graph's matrix, a non-symmetric
    stencil: two products on every solve were 8 % of a PageRank BiCGStab solve)."""
    nnz = int(A.indptr[-1])
    out = np.empty(min(nnz, _UNPARTNERED), dtype=np.int64)
    count = _kernels().unpartnered(A.indptr, A.indices, out)
    return out[:min(count, out.shape[0])]


def symmetric_by_entries(A: sp.csr_array, perm: np.ndarray, max_abs: float, rtol: float = SYMMETRY_RTOL,
                         part: tuple[int, int] | None = None) -> bool:
    """Exact-pattern symmetry test: every ``|a_ij − a_ji| <= rtol·max|A|`` (one gather pass);
    with ``part=(i, m)`` only the ``i``-th of ``m`` contiguous blocks of entries (a sample, not a
    proof: contiguous, so it reads a ``1/m`` of the arrays, where every ``m``-th entry read about
    half their cache lines)."""
    if part is not None:
        i, m = part
        nnz = A.data.shape[0]
        return bool(_kernels().symmetric_block(A.data, perm, rtol * max_abs, i * nnz // m, (i + 1) * nnz // m))
    return bool(_kernels().symmetric_entries(A.data, perm, rtol * max_abs))


_W: list[np.ndarray] = [np.empty(0)]


def _weights(m: int) -> np.ndarray:
    if _W[0].shape[0] < m:
        _W[0] = np.random.default_rng(7).random(max(m, 2 * _W[0].shape[0]))
    return _W[0][:m]


#: most near-null-space vectors accepted (PyAMG's coarse spaces grow with k; 6 for 3-D elasticity)
MAX_NEAR_NULLSPACE = 64


def as_near_nullspace(B: Any, n: int) -> np.ndarray:
    """Return ``B`` as a finite float64 ``(n, k)`` array with ``1 <= k <= 64`` (a vector is one column)."""
    try:
        arr = np.asarray(B)
    except ValueError as exc:
        raise InvalidSystemError(f"near_nullspace must be an (n, k) array of numbers: {exc}") from None
    if arr.dtype.kind not in "fiub":
        raise UnsupportedTypeError(f"near_nullspace must be real, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n or not 1 <= arr.shape[1] <= min(MAX_NEAR_NULLSPACE, n):
        raise InvalidSystemError(f"near_nullspace must have shape ({n}, k) with 1 <= k <= "
                                 f"{min(MAX_NEAR_NULLSPACE, n)}, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InvalidSystemError("near_nullspace contains NaN or Inf")
    return arr


def near_nullspace_key(B: np.ndarray | None) -> tuple | None:
    """A cheap identity of ``B``'s values, so an AMG setup is rebuilt when the modes change."""
    if B is None:
        return None
    flat = B.ravel()
    return (B.shape, float(flat @ _weights(flat.shape[0])))
