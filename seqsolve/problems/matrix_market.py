"""Sequences saved by other codes as Matrix Market files: ``A_0000.mtx, b_0000.mtx, …``.

A step whose ``A_k.mtx`` is absent keeps the previous matrix (codes often save a matrix only when
it changes); every step needs its ``b_k.mtx``.  Optional ``context_k.json`` files hold a mapping
of named scalars for the policies.

Files are untrusted input: any bytes give a correct matrix or :class:`~seqsolve.InvalidSystemError`.
The header (``scipy.io.mminfo``) is checked against the file's size and a memory limit before
anything is allocated, and the entries are parsed here with NumPy rather than by
``scipy.io.mmread``, whose C++ reader (SciPy 1.17) crashes the interpreter on some malformed files
(a trailing blank after the last entry, extra values in a dense array, a 0xN array).  That costs
speed on huge files (about 1 s per million entries) for never crashing.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import warnings
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import scipy.io
import scipy.sparse as sp

from ..atomic import atomic_path, read_limited, write_text
from ..errors import InvalidSystemError
from .base import LinearSystem, SequenceProblem

_B_FILE = re.compile(r"^b_(\d+)\.mtx$")
#: what SciPy's Matrix Market reader raises on bad bytes
_READ_ERRORS = (OSError, ValueError, OverflowError, IndexError, TypeError, RuntimeError, MemoryError)
#: environment variable that raises the memory limit of :func:`read_matrix` / :func:`read_vector`
MAX_BYTES_ENV = "SEQSOLVE_MAX_MATRIX_BYTES"
DEFAULT_MAX_MATRIX_BYTES = 4 << 30
_MAX_LINE = 1 << 20  # longest header line read
#: the Matrix Market kinds read: (format, field, symmetry)
_KINDS = {(fmt, field, sym) for fmt in ("coordinate", "array") for field in ("real", "integer", "pattern")
          for sym in ("general", "symmetric", "skew-symmetric")
          if not (fmt == "array" and field == "pattern") and not (field == "pattern" and sym == "skew-symmetric")}


def max_matrix_bytes() -> int:
    """Memory a matrix or vector file may need once read: ``$SEQSOLVE_MAX_MATRIX_BYTES``, else 4 GiB."""
    try:
        return int(os.environ.get(MAX_BYTES_ENV, "")) or DEFAULT_MAX_MATRIX_BYTES
    except ValueError:
        return DEFAULT_MAX_MATRIX_BYTES


def _check_header(path: str, what: str) -> tuple[int, int, int, str, str, str]:
    """Read and check a Matrix Market header before anything is allocated.

    Only the standard real, integer and pattern kinds are accepted.  The declared sizes must
    fit in the file (every stored entry takes a few bytes, so a file cannot declare more entries
    than its size allows) and in memory (a 10**9 x 10**9 matrix with one entry needs gigabytes for
    its row pointers alone).  Returns ``(rows, cols, entries, format, field, symmetry)``.
    """
    if path.endswith((".gz", ".bz2")):  # SciPy would decompress them: sizes could not be checked
        raise InvalidSystemError(f"{path}: compressed Matrix Market files are not supported; decompress it first")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InvalidSystemError(f"cannot read Matrix Market {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block, a device never end
        raise InvalidSystemError(f"cannot read Matrix Market {what} {path}: not a regular file")
    try:
        rows, cols, entries, fmt, field, symmetry = scipy.io.mminfo(path)
    except _READ_ERRORS as exc:
        raise InvalidSystemError(f"cannot read Matrix Market {what} {path}: {exc}") from None
    if field in ("complex", "hermitian") or symmetry == "hermitian":
        raise InvalidSystemError(f"{path}: complex values are not supported (in the {what})")
    if (fmt, field, symmetry) not in _KINDS:
        raise InvalidSystemError(f"{path}: unsupported Matrix Market kind '{fmt} {field} {symmetry}'")
    if rows == 0 or cols == 0:
        raise InvalidSystemError(f"{path}: the {what} is empty ({rows}x{cols})")
    if symmetry != "general" and rows != cols:
        raise InvalidSystemError(f"{path}: a {symmetry} {what} must be square, got {rows}x{cols}")
    size = st.st_size
    if fmt == "coordinate":
        stored = entries
        line = 4 if field == "pattern" else 6  # "i j\n" or "i j v\n" at the least
        held = stored * (2 if symmetry != "general" else 1)
        memory = 8 * (rows + 1) + 8 * cols + 64 * held  # CSR row pointers, a vector, parsed + COO + CSR entries
    else:
        stored = _stored_values(rows, cols, symmetry)
        line = 2  # "v\n"
        memory = 20 * rows * cols + 2 * size  # the dense array, its sparse copy, the text being parsed
    if stored * line > size:
        raise InvalidSystemError(f"{path}: declares {rows:,}x{cols:,} with {stored:,} stored entries, "
                                 f"more than its {size:,} bytes can hold (truncated or corrupt)")
    limit = max_matrix_bytes()
    if memory > limit:
        raise InvalidSystemError(f"{path}: a {rows:,}x{cols:,} {what} with {stored:,} stored entries needs "
                                 f"about {memory / 2**30:.1f} GiB, over the {limit / 2**30:.1f} GiB limit "
                                 f"(set ${MAX_BYTES_ENV} to raise it)")
    return rows, cols, entries, fmt, field, symmetry


def _stored_values(rows: int, cols: int, symmetry: str) -> int:
    """How many values a dense (array) file stores: all, or one triangle, column by column."""
    if symmetry == "symmetric":
        return rows * (rows + 1) // 2
    if symmetry == "skew-symmetric":
        return rows * (rows - 1) // 2
    return rows * cols


def _read_array(path: str, rows: int, cols: int, field: str, symmetry: str, what: str) -> np.ndarray:
    """Parse a dense (array) file here: SciPy 1.17's reader overflows its buffer on extra values."""
    raw = read_limited(path, max_matrix_bytes(), InvalidSystemError, f"Matrix Market {what}")
    lines = raw.split(b"\n")
    body = [ln for ln in lines[1:] if ln.strip() and not ln.lstrip().startswith(b"%")]
    tokens = b" ".join(body[1:]).split()  # body[0] is the size line that mminfo read
    expected = _stored_values(rows, cols, symmetry)
    if len(tokens) != expected:
        raise InvalidSystemError(f"{path}: a {rows}x{cols} {symmetry} array stores {expected:,} values, "
                                 f"the file has {len(tokens):,}")
    try:
        if field == "integer":
            values = np.array([int(t) for t in tokens], dtype=np.float64)
        else:
            values = np.array([float(t) for t in tokens], dtype=np.float64)
    except (ValueError, OverflowError) as exc:
        raise InvalidSystemError(f"cannot read Matrix Market {what} {path}: bad value ({exc})") from None
    if symmetry == "general":
        return values.reshape(cols, rows).T  # stored column by column
    M = np.zeros((rows, cols))
    r, c = np.triu_indices(rows, k=0 if symmetry == "symmetric" else 1)
    M[c, r] = values  # the lower triangle, column by column
    M[r, c] = values if symmetry == "symmetric" else -values
    return M


def _skip_header(fh, path: str) -> None:
    """Advance ``fh`` past the banner, comments and size line (that mminfo has checked)."""
    fh.readline(_MAX_LINE)  # the banner
    while True:
        line = fh.readline(_MAX_LINE)
        if not line or len(line) == _MAX_LINE:
            raise InvalidSystemError(f"{path}: Matrix Market header is truncated or has an overlong line")
        if line.strip() and not line.lstrip().startswith(b"%"):
            return  # the size line


def _read_coordinate(path: str, rows: int, cols: int, entries: int, field: str, symmetry: str,
                     what: str) -> sp.coo_array:
    """Parse a coordinate file with NumPy: SciPy 1.17's reader crashes on e.g. a trailing blank."""
    width = 2 if field == "pattern" else 3
    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            _skip_header(fh, path)
            # one row more than declared is read, to notice extra entries without reading them all
            table = np.loadtxt(fh, dtype=np.float64, comments="%", ndmin=2, max_rows=entries + 1)
    except (OSError, ValueError) as exc:
        raise InvalidSystemError(f"cannot read Matrix Market {what} {path}: {exc}") from None
    if table.size == 0:
        table = table.reshape(0, width)
    if table.shape != (entries, width):
        raise InvalidSystemError(f"{path}: declares {entries:,} entries of {width} numbers each, found "
                                 f"{table.shape[0]:,}{'+' if table.shape[0] > entries else ''} lines of "
                                 f"{table.shape[1]}")
    i, j = table[:, 0], table[:, 1]
    values = table[:, 2] if width == 3 else np.ones(entries)
    for name, index, n in (("row", i, rows), ("column", j, cols)):
        if not np.all((index == np.floor(index)) & (index >= 1) & (index <= n)):
            raise InvalidSystemError(f"{path}: a {name} index is not an integer in 1..{n}")
    if field == "integer" and not np.all(values == np.floor(values)):
        raise InvalidSystemError(f"{path}: an integer {what} has a non-integer value")
    i, j = i.astype(np.int64) - 1, j.astype(np.int64) - 1
    if symmetry != "general":  # only one triangle is stored: mirror the off-diagonal entries
        off = i != j
        i, j = np.concatenate([i, j[off]]), np.concatenate([j, i[off]])
        values = np.concatenate([values, values[off] if symmetry == "symmetric" else -values[off]])
    return sp.coo_array((values, (i, j)), shape=(rows, cols))


def _read(path: str | os.PathLike, what: str):
    path = os.fspath(path)
    rows, cols, entries, fmt, field, symmetry = _check_header(path, what)
    if fmt == "array":
        M = _read_array(path, rows, cols, field, symmetry, what)
    else:
        M = _read_coordinate(path, rows, cols, entries, field, symmetry, what)
    data = M.data if sp.issparse(M) else M
    if not np.all(np.isfinite(data)):
        raise InvalidSystemError(f"{path}: the {what} has NaN or infinite entries")
    return M


def read_matrix(path: str | os.PathLike) -> sp.csr_array:
    """Read a sparse (or dense) Matrix Market matrix as float64 CSR, with a clear error.

    Any file at all gives a matrix or :class:`~seqsolve.InvalidSystemError`: sizes are checked
    against the file and a memory limit (:func:`max_matrix_bytes`) before anything is allocated.
    """
    return sp.csr_array(_read(path, "matrix"), dtype=np.float64)


def read_vector(path: str | os.PathLike) -> np.ndarray:
    """Read a Matrix Market vector (an ``n×1`` or ``1×n`` array or coordinate file) as 1-D float64.

    Complex values are refused, not silently truncated to their real part.
    """
    v = _read(path, "vector")
    v = v.toarray() if sp.issparse(v) else np.asarray(v)
    if v.ndim == 2 and 1 in v.shape:
        v = v.ravel()
    if v.ndim != 1:
        raise InvalidSystemError(f"{path}: expected a vector (n×1), got shape {v.shape}")
    return v.astype(np.float64)


#: most bytes a context file may have (it holds a few named numbers)
MAX_CONTEXT_BYTES = 1 << 20


def read_context(path: str | os.PathLike) -> dict[str, float]:
    """Read a ``context_k.json`` file: a JSON object of names to finite numbers."""
    raw = read_limited(path, MAX_CONTEXT_BYTES, InvalidSystemError, "context file")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, 5000-digit numbers, deep nesting
        raise InvalidSystemError(f"{path}: not a JSON mapping of numbers ({exc})") from None
    if not isinstance(doc, dict):
        raise InvalidSystemError(f"{path}: not a JSON mapping of numbers (got a {type(doc).__name__})")
    context = {}
    for key, value in doc.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidSystemError(f"{path}: context[{key!r}] must be a number, got {str(value)[:40]!r}")
        try:
            v = float(value)
        except OverflowError:  # a 400-digit integer
            v = math.inf
        if not math.isfinite(v):
            raise InvalidSystemError(f"{path}: context[{key!r}] is not a finite number ({str(value)[:40]})")
        context[key] = v
    return context


def write_atomic(path: str | os.PathLike, obj, comment: str = "") -> None:
    """Write a matrix or vector as Matrix Market, via a temp file renamed into place."""
    path = Path(path)
    data = obj if sp.issparse(obj) else np.asarray(obj, dtype=np.float64).reshape(-1, 1) if np.ndim(obj) == 1 else obj
    # the temp name must end in ".mtx": otherwise scipy's mmwrite writes to "<name>.mtx" instead
    with atomic_path(path, suffix=".tmp.mtx") as tmp:
        scipy.io.mmwrite(tmp, sp.coo_matrix(data) if sp.issparse(data) else data, comment=comment)


def save_sequence(directory: str | os.PathLike, systems: Iterable[LinearSystem | tuple]) -> int:
    """Write systems as ``A_k.mtx``/``b_k.mtx`` (a matrix only when it changed); returns the count."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    previous = None
    count = 0
    for k, s in enumerate(systems):
        A, b = (s.A, s.b) if isinstance(s, LinearSystem) else (s[0], s[1])
        A = sp.csr_array(A)
        if previous is None or A.shape != previous.shape or (A != previous).nnz:
            write_atomic(directory / f"A_{k:04d}.mtx", A)
            previous = A
        write_atomic(directory / f"b_{k:04d}.mtx", b)
        ctx = s.context if isinstance(s, LinearSystem) else (s[2] if len(s) > 2 else None)
        if ctx:
            write_text(directory / f"context_{k:04d}.json", json.dumps(dict(ctx)))
        count += 1
    return count


class MatrixMarketSequence(SequenceProblem):
    """A directory of ``A_kkkk.mtx`` / ``b_kkkk.mtx`` files, read lazily step by step."""

    name = "matrix-market"

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise InvalidSystemError(f"{self.directory} is not a directory")
        found = {}
        for f in self.directory.iterdir():
            m = _B_FILE.match(f.name)
            if m:
                found[int(m.group(1))] = f.name
        if not found:
            raise InvalidSystemError(f"{self.directory} holds no b_0000.mtx-style right-hand sides")
        indices = sorted(found)
        if indices != list(range(len(indices))):
            missing = sorted(set(range(indices[-1] + 1)) - set(indices))
            raise InvalidSystemError(f"{self.directory}: right-hand sides missing for steps {missing[:10]}")
        self._width = len(found[0]) - len("b_.mtx")
        if not self._path("A", 0).exists():
            raise InvalidSystemError(f"{self.directory}: the first step needs a matrix {self._path('A', 0).name}")
        self._steps = len(indices)
        self.reset()

    def _path(self, prefix: str, k: int, ext: str = "mtx") -> Path:
        return self.directory / f"{prefix}_{k:0{self._width}d}.{ext}"

    @property
    def steps(self) -> int:
        return self._steps

    def reset(self) -> None:
        self._step = 0
        self._A: sp.csr_array | None = None
        self._A_step = -1
        self._x: np.ndarray | None = None

    def _matrix_for(self, k: int) -> sp.csr_array:
        # the newest matrix file at or before step k
        j = k
        while j >= 0 and not self._path("A", j).exists():
            j -= 1
        if j != self._A_step:
            self._A = read_matrix(self._path("A", j))
            self._A_step = j
        return self._A

    def system(self) -> LinearSystem:
        k = self._step
        if k >= self._steps:
            raise IndexError(f"the sequence has {self._steps} steps; call reset() to run it again")
        A = self._matrix_for(k)
        b = read_vector(self._path("b", k))
        if b.shape[0] != A.shape[0]:
            raise InvalidSystemError(f"step {k}: A is {A.shape[0]}x{A.shape[1]} but b has length {b.shape[0]}")
        ctx_file = self._path("context", k, "json")
        context: Mapping[str, float] = read_context(ctx_file) if os.path.lexists(ctx_file) else {}
        return LinearSystem(A=A, b=b, index=k, context=context)

    def accept(self, x: np.ndarray) -> None:
        self._x = np.asarray(x)
        self._step += 1

    @property
    def state(self) -> np.ndarray | None:
        return self._x

    def describe(self) -> dict:
        return {"name": self.name, "directory": str(self.directory), "steps": self._steps}
