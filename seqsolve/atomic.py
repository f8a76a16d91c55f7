"""Atomic file writes: nothing the user saved is ever half-written or lost.

Every file seqsolve writes (states, tables, JSON, plots, Matrix Market, models) goes through
:func:`atomic_path`: the content is written to a temporary file in the target's folder and
renamed over the target only once complete, so an interrupted write leaves the old file intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path; on success it replaces ``path`` (mode 0644), on error it is removed.

    ``suffix`` keeps writers that choose a format by extension (matplotlib, Matrix Market) happy.
    """
    path = Path(path)  # its folder must exist: a mistyped output path is an error, not a new tree
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or ".tmp")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes private files; results are ordinary files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` atomically (flushed to disk before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def write_json(path: str | os.PathLike, data: Any, **dump_options: Any) -> None:
    """Write JSON atomically; NumPy scalars and arrays are converted."""
    write_text(path, json.dumps(data, default=_jsonable, **({"indent": 1} | dump_options)))


def _jsonable(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
