"""Sequences saved by other codes as Matrix Market files: ``A_0000.mtx, b_0000.mtx, …``.

A step whose ``A_k.mtx`` is absent keeps the previous matrix (codes often save a matrix only when
it changes); every step needs its ``b_k.mtx``.  Optional ``context_k.json`` files hold a mapping
of named scalars for the policies.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import scipy.io
import scipy.sparse as sp

from ..atomic import atomic_path
from ..errors import InvalidSystemError
from .base import LinearSystem, SequenceProblem

_B_FILE = re.compile(r"^b_(\d+)\.mtx$")


def read_matrix(path: str | os.PathLike) -> sp.csr_array:
    """Read a sparse (or dense) Matrix Market matrix as float64 CSR, with a clear error."""
    try:
        M = scipy.io.mmread(str(path))
    except (OSError, ValueError, IndexError, TypeError) as exc:
        raise InvalidSystemError(f"cannot read Matrix Market matrix {path}: {exc}") from None
    if np.iscomplexobj(M.data if sp.issparse(M) else M):
        raise InvalidSystemError(f"{path}: complex matrices are not supported")
    return sp.csr_array(M, dtype=np.float64)


def read_vector(path: str | os.PathLike) -> np.ndarray:
    """Read a Matrix Market vector (an ``n×1`` array or coordinate file) as a 1-D float64 array."""
    try:
        v = scipy.io.mmread(str(path))
    except (OSError, ValueError, IndexError, TypeError) as exc:
        raise InvalidSystemError(f"cannot read Matrix Market vector {path}: {exc}") from None
    v = v.toarray() if sp.issparse(v) else np.asarray(v)
    if v.ndim == 2 and 1 in v.shape:
        v = v.ravel()
    if v.ndim != 1:
        raise InvalidSystemError(f"{path}: expected a vector (n×1), got shape {v.shape}")
    return v.astype(np.float64)


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
            (directory / f"context_{k:04d}.json").write_text(json.dumps(dict(ctx)))
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
        context: Mapping[str, float] = {}
        if ctx_file.exists():
            try:
                context = {str(key): float(v) for key, v in json.loads(ctx_file.read_text()).items()}
            except (ValueError, AttributeError, TypeError) as exc:
                raise InvalidSystemError(f"{ctx_file}: not a JSON mapping of numbers ({exc})") from None
        return LinearSystem(A=A, b=b, index=k, context=context)

    def accept(self, x: np.ndarray) -> None:
        self._x = np.asarray(x)
        self._step += 1

    @property
    def state(self) -> np.ndarray | None:
        return self._x

    def describe(self) -> dict:
        return {"name": self.name, "directory": str(self.directory), "steps": self._steps}
