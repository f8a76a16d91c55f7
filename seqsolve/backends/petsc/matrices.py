"""SciPy CSR ↔ PETSc ``Mat``/``Vec`` without re-allocation along a sequence.

A ``Mat`` is created once per sparsity pattern on arrays this module owns
(``MatCreateSeqAIJWithArrays``: PETSc reads them in place); a later matrix with the same pattern
only has its values copied into those arrays and the ``Mat`` re-assembled, so PETSc knows a
preconditioner built earlier is out of date.  ``MatSetValuesCSR`` plus assembly, the obvious
route, cost 15–20 % of PETSc's solve time on Heat2D; a copy costs almost nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidSystemError, UnsupportedTypeError
from ._import import is_petsc_object, petsc
from .keepalive import IMMORTAL as _IMMORTAL


#: the graph dimension up to which a pattern counts as planar: planar meshes measure 2.0-2.2,
#: 3-D grids 2.7-2.8 and volume meshes 3.3-3.6 (:mod:`seqsolve.policies.graph_dimension`)
PLANAR = 2.5


#: a row whose entries sum to at most this share of their absolute sum sums to zero (rounding of an
#: assembled pure-Neumann row: ~1e-15).  A matrix shifted by less is singular to the 1e-8 tolerances
#: iterative solves are asked for (condition number beyond 1e12) all the same
NULL_ROW_SUM = 1e-12

#: sparsity patterns whose ``Mat`` is kept (least recently used let go): sequences that alternate
#: between systems of two patterns (a velocity and a pressure solve through one solver) made a new
#: ``Mat``, and new KSPs, on every solve — never freed (see keepalive)
PATTERNS = 4


class _Held:
    """A ``Mat`` on CSR arrays this module owns, and the generation that numbers its pattern."""

    __slots__ = ("mat", "indptr", "indices", "data", "generation", "null")

    def __init__(self, mat, indptr, indices, data, generation: int) -> None:
        self.mat, self.indptr, self.indices, self.data = mat, indptr, indices, data
        self.generation = generation
        self.null = (False, False)  # whether the constants are set as its (null, transpose null) space


class MatCache:
    """The PETSc ``Mat`` mirroring the latest CSR matrix (one per sparsity pattern, the last
    :data:`PATTERNS` patterns kept), shared by every method of a backend.

    A matrix whose rows sum to zero (a pure-Neumann operator: ``A·1 = 0``) gets the constants as
    its ``MatNullSpace``, and as its transpose null space where its columns sum to zero too: every
    KSP then keeps its Krylov vectors, and the right-hand side, clear of the constant.  Without
    it, BoomerAMG-PCG on such a singular but consistent system stopped on an indefinite
    preconditioner (``KSP_DIVERGED_INDEFINITE_PC``) on every system but the first, GAMG-PCG too;
    with it, 8 and 10 iterations (a 128² pure-Neumann Laplacian, measured).  The factorisations and
    SOR/ICC-PCG solve it either way."""

    def __init__(self) -> None:
        #: unknowns per mesh node, from the caller's near-null-space modes (see :meth:`nodes_of`):
        #: kept for later Mats, since only the AMG methods are handed the modes
        self.block_size = 1
        self._made = 0  # Mats made so far (the last generation handed out)
        #: increases with every copy of values: a method whose setup saw another version finds the
        #: Mat holding another matrix (a different method's setup since) and copies its own back
        self.version = 0
        self._held: list[_Held] = []  # the kept patterns, least recently used first: the current last
        self._band = (-1, False)  # (generation, whether that pattern is a narrow band)
        self._planar = (-1, True)  # (generation, whether that pattern's graph is at most planar)

    @property
    def mat(self) -> Any:
        """The current ``Mat`` (``None`` before the first matrix)."""
        return self._held[-1].mat if self._held else None

    @property
    def generation(self) -> int:
        """The current Mat's pattern: a new number for every new Mat, its own again when a kept
        pattern comes back (methods keep their KSPs per generation)."""
        return self._held[-1].generation if self._held else 0

    def holds(self, generation: int) -> bool:
        """Whether the ``Mat`` of pattern ``generation`` is still kept."""
        return any(h.generation == generation for h in self._held)

    def matrix(self, A) -> Any:
        """The ``Mat`` holding ``A``'s current values (a copy of its values, not of its pattern).

        Called from a method's setup, i.e. when the solver saw new values; the copy is one pass
        (an identity test would miss a caller who updates one matrix object in place)."""
        self.version += 1
        for held in reversed(self._held):  # the current pattern first, then kept ones coming back
            if _copied(A, held):
                if held is not self._held[-1]:
                    self._held.remove(held)
                    self._held.append(held)
                # assembly (not just a state increase): it also drops what AIJ caches about the values
                # (the inverted diagonal SOR/Eisenstat use), and PCs compare states to decide on a rebuild
                held.mat.assemble()
                _set_null_space(held)
                return held.mat
        PETSc = petsc()
        it = PETSc.IntType
        indptr = np.array(A.indptr, dtype=it)  # copies: PETSc will read them in place
        indices = np.array(A.indices, dtype=it)
        data = np.array(A.data, dtype=np.float64)
        n = A.shape[0]
        mat = PETSc.Mat().createAIJWithArrays((n, n), (indptr, indices, data), comm=PETSc.COMM_SELF)
        # no "inodes" (PETSc's blocked-row kernels): PETSc 3.18's inode SOR in Eisenstat mode
        # with ω ≠ 1 crashed the process (SIGSEGV) on a 5×5 SPD matrix, measured
        mat.setOption(PETSc.Mat.Option.USE_INODES, False)
        # PETSc reads these arrays in place: composed onto the Mat itself, they live as long as
        # it does (a KSP may hold an earlier Mat after this cache has moved on, or outlive it)
        mat.setAttr("seqsolve_csr", (indptr, indices, data))
        _IMMORTAL.append(mat)
        mat.assemble()
        self._made += 1
        if self.block_size > 1 and n % self.block_size == 0:
            mat.setBlockSize(self.block_size)
        self._held.append(_Held(mat, indptr, indices, data, self._made))
        del self._held[:-PATTERNS]
        _set_null_space(self._held[-1])
        return mat

    @property
    def singular(self) -> bool:
        """Whether the current matrix's rows sum to zero: the constants are its null space, set on
        its ``Mat`` (see the class docstring)."""
        return bool(self._held) and self._held[-1].null[0]

    @property
    def narrow_band(self) -> bool:
        """Whether the current sparsity pattern is a narrow band in its own numbering
        (:mod:`seqsolve.band`), judged once per pattern."""
        if self._band[0] != self.generation:
            from ...band import narrow_band

            self._band = (self.generation, narrow_band(self._csr()) > 0)
        return self._band[1]

    @property
    def planar(self) -> bool:
        """Whether the current sparsity pattern's graph grows at most like a plane's
        (:func:`~seqsolve.policies.graph_dimension.graph_dimension` ≤ ``PLANAR``; a graph too
        small to tell counts as planar), judged once per pattern: where PETSc's own
        factorisation fills little (see ``mapping.CHOLESKY``)."""
        if self._planar[0] != self.generation:
            from ...policies.graph_dimension import graph_dimension

            self._planar = (self.generation, not graph_dimension(self._csr()) > PLANAR)
        return self._planar[1]

    def _csr(self) -> sp.csr_array:
        """The current matrix as SciPy CSR on the arrays the Mat reads (no copy): for judging its pattern."""
        held = self._held[-1]
        n = held.indptr.shape[0] - 1
        return sp.csr_array((held.data, held.indices, held.indptr), shape=(n, n))

    def nodes_of(self, modes: np.ndarray) -> None:
        """Give the Mat the block size that ``modes`` (near-null-space vectors, one column each)
        imply: rigid-body modes number 3 in 2-D and 6 in 3-D, for 2 and 3 unknowns per node
        (``MatNullSpaceCreateRigidBody``'s convention), and PETSc's AMGs read the block size to keep
        a node's unknowns together.  Only where the unknowns are interleaved node by node
        (:func:`interleaved`); otherwise the block size stays 1.

        Measured on the SIMP topology optimisation (2-D elasticity, 25,920 unknowns): with block
        size 1 GAMG given the three modes failed at once (``KSP_DIVERGED_PC_FAILED``, NaN) and
        BoomerAMG needed 86 iterations (2.7 s); with block size 2, 15 and 11 (81 and 205 ms), where
        a MUMPS solve costs ~90 ms."""
        bs = {3: 2, 6: 3}.get(modes.shape[1], 1)
        bs = bs if bs > 1 and modes.shape[0] % bs == 0 and interleaved(modes, bs) else 1
        if bs != self.block_size:
            self.block_size = bs
            if self.mat is not None:
                self.mat.setBlockSize(bs)


def _copied(A, held: _Held) -> bool:
    """Copy ``A``'s values into ``held``'s arrays if ``A`` has their sparsity pattern: one compiled
    pass compares the pattern and copies (``np.array_equal`` twice and ``np.copyto`` cost 1.6x
    more, measured on Heat2D nx=200)."""
    data, indices = A.data, A.indices
    if (A.shape[0] + 1 != held.indptr.shape[0] or data.shape[0] != held.data.shape[0]
            or indices.shape[0] != held.indices.shape[0]):
        return False  # (the kernel reads every array to its length: no bounds checks)
    from ._kernels import copy_if_same_pattern

    return bool(copy_if_same_pattern(A.indptr, indices, data, held.indptr, held.indices, held.data))


def _set_null_space(held: _Held) -> None:
    """Set (or clear) the constants as ``held``'s null space and transpose null space, by whether
    its rows and its columns sum to zero (:data:`NULL_ROW_SUM`).  The row test stops at the first
    row that does not: on a nonsingular matrix it costs a row or two."""
    from ._kernels import rows_sum_to_zero

    rows = bool(rows_sum_to_zero(held.indptr, held.data, NULL_ROW_SUM))
    columns = False
    if rows:  # (rare: a pass with scattered sums)
        n = held.indptr.shape[0] - 1
        sums = np.bincount(held.indices, weights=held.data, minlength=n)
        sizes = np.bincount(held.indices, weights=np.abs(held.data), minlength=n)
        columns = bool(np.all(np.abs(sums) <= NULL_ROW_SUM * sizes) and np.all(sizes > 0))
    if (rows, columns) != held.null:
        PETSc = petsc()
        held.mat.setNullSpace(_constants() if rows else PETSc.NullSpace())  # (an empty one: none)
        held.mat.setTransposeNullSpace(_constants() if columns else PETSc.NullSpace())
        held.null = (rows, columns)


_CONSTANTS: list = []


def _constants():
    """The ``MatNullSpace`` of the constant vectors (one per process, never freed: see keepalive)."""
    if not _CONSTANTS:
        PETSc = petsc()
        ns = PETSc.NullSpace().create(constant=True, comm=PETSc.COMM_SELF)
        _IMMORTAL.append(ns)
        _CONSTANTS.append(ns)
    return _CONSTANTS[0]


def interleaved(modes: np.ndarray, bs: int) -> bool:
    """Whether ``modes`` contain the ``bs`` translations of unknowns ordered node by node — the
    vectors that are 1 on every ``bs``-th unknown from the ``c``-th — up to 10 % of their norm
    (the topology optimisation's holdout zeroes its clamped unknowns in the modes: 1.2 %; ordered
    component by component, 50 %)."""
    q, _ = np.linalg.qr(np.asarray(modes, dtype=np.float64))
    n = q.shape[0]
    for c in range(bs):
        t = np.zeros(n)
        t[c::bs] = 1.0
        r = t - q @ (q.T @ t)
        if r @ r > 0.1 * (t @ t):
            return False
    return True


def from_petsc_mat(M) -> Any:
    """A petsc4py ``Mat`` (sequential, or one rank's communicator of size 1) as a SciPy CSR array,
    or, where it holds no entries (a shell), as a ``LinearOperator`` on its product."""
    if M.getComm().getSize() != 1:
        raise UnsupportedTypeError(
            "a distributed petsc4py Mat cannot be passed to SequenceSolver.solve; use "
            "seqsolve.backends.petsc.DistributedSolver under mpiexec")
    rows, cols = M.getSize()
    if rows != cols:
        raise InvalidSystemError(f"A must be square, got a petsc4py Mat of size {rows}x{cols}")
    if M.getType() in _MATRIX_FREE:
        return _shell_operator(M, rows)
    if M.getType() not in ("seqaij", "mpiaij", "aij"):
        M = M.convert("aij")
    indptr, indices, data = M.getValuesCSR()
    if np.iscomplexobj(data):
        raise UnsupportedTypeError("complex matrices are not supported; A must be real")
    return sp.csr_array((np.asarray(data, dtype=np.float64), indices, indptr), shape=(rows, cols))


#: petsc4py Mat types that hold no entries, only a product: converted to AIJ, PETSc applies them to
#: every unit vector — n products per solve (a 16k-unknown shell: 16,384 of them, where CG needs a
#: few hundred)
_MATRIX_FREE = ("python", "shell")


def _shell_operator(M, n: int):
    """A matrix-free petsc4py ``Mat`` as a SciPy ``LinearOperator`` applying ``M.mult`` (and
    ``multTranspose`` for the adjoint): solved by the methods that need only products."""
    from scipy.sparse.linalg import LinearOperator

    x, y = M.createVecs()

    def product(apply):
        def run(v: np.ndarray) -> np.ndarray:
            x.setArray(np.ascontiguousarray(v, dtype=np.float64).ravel())
            apply(x, y)
            return np.array(y.getArray(readonly=True), dtype=np.float64)
        return run

    return LinearOperator((n, n), matvec=product(M.mult), rmatvec=product(M.multTranspose), dtype=np.float64)


def from_petsc_vec(v) -> np.ndarray:
    """A petsc4py ``Vec``'s values as a new NumPy array."""
    if v.getComm().getSize() != 1:
        raise UnsupportedTypeError("a distributed petsc4py Vec cannot be passed to SequenceSolver.solve")
    return np.array(v.getArray(readonly=True), dtype=np.float64)


def to_input(obj: Any, kind: str) -> Any:
    """``obj`` converted when it is a petsc4py ``Mat``/``Vec``; anything else passes through."""
    if kind == "Mat" and is_petsc_object(obj, "Mat"):
        return from_petsc_mat(obj)
    if kind == "Vec" and is_petsc_object(obj, "Vec"):
        return from_petsc_vec(obj)
    return obj
