"""Saving what a solver learned, so the next run of the same simulation starts informed.

The file is JSON with a format tag, a version and a SHA-256 checksum of its payload, written to a
temporary file in the same folder and renamed into place (never half-written, even if the process
is killed or the disk fills up).  Loading checks all three and raises
:class:`~seqsolve.StateFileError` with the reason.  Saving replaces only a valid, checksum-verified
seqsolve state file: a foreign or corrupt file at the target is kept (it may be the only copy of
something), and so is a device or FIFO.

Safety: the checksum detects *corruption* (a truncated copy, flipped bits, a hand edit that forgot
the checksum), not *tampering*: anyone can recompute it.  Loading is nevertheless safe for any
bytes at all: at most :data:`MAX_STATE_BYTES` are read, no code is ever run (plain JSON, no
pickle), and every value is validated (types, ranges, lengths) by
:meth:`~seqsolve.SequenceSolver.load` and the policies' ``load_state_dict`` before it is used, so
a bad file raises :class:`~seqsolve.StateFileError` instead of poisoning later solves.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Callable

from .atomic import read_limited, write_text
from .errors import StateFileError

FORMAT = "seqsolve-state"
VERSION = 1
#: the largest state file read or written (real ones are a few kB to a few MB)
MAX_STATE_BYTES = 64 * 1024 * 1024


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def read_state(path: str | os.PathLike) -> dict:
    """Read and verify a state file; return its payload (validating the values is the caller's job)."""
    path = Path(path)
    raw = read_limited(path, MAX_STATE_BYTES, StateFileError, "state file")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise StateFileError(f"{path} is not a seqsolve state file (not UTF-8 text)") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, 5000-digit integers, deep nesting
        raise StateFileError(f"{path} is not a seqsolve state file (corrupt JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StateFileError(f"{path} is not a seqsolve state file (format tag missing)")
    if doc.get("version") != VERSION:
        raise StateFileError(f"{path} has state format version {doc.get('version')!r}; this seqsolve reads {VERSION}")
    payload = doc.get("payload")
    try:
        ok = isinstance(payload, dict) and doc.get("sha256") == _digest(payload)
    except (ValueError, RecursionError):
        ok = False
    if not ok:
        raise StateFileError(f"{path} is corrupt (checksum mismatch)")
    return payload


def _replaceable(path: Path) -> None:
    """Guard for :func:`~seqsolve.atomic.atomic_path`: only a verified state file may be replaced."""
    try:
        read_state(path)
    except StateFileError as exc:
        raise StateFileError(f"refusing to overwrite {path}: it is not a valid seqsolve state file ({exc})") from None


def write_state(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically; refuse to replace anything but a valid seqsolve state file.

    Every failure (missing folder, permissions, full disk, a file that must be kept) raises
    :class:`~seqsolve.StateFileError` and leaves the file at ``path`` as it was.
    """
    path = Path(path)
    doc = {"format": FORMAT, "version": VERSION, "sha256": _digest(payload), "payload": payload}
    text = json.dumps(doc)
    if len(text) > MAX_STATE_BYTES:
        raise StateFileError(f"state too large to save ({len(text):,} bytes; at most {MAX_STATE_BYTES:,})")
    folder = path.parent
    if not folder.is_dir():
        raise StateFileError(f"cannot save state to {path}: folder {folder} does not exist")
    try:
        write_text(path, text, guard=_replaceable)
    except OSError as exc:
        raise StateFileError(f"cannot save state to {path}: {exc.strerror or exc} "
                             f"(any previous file there is unchanged)") from None


#: what :meth:`~seqsolve.SequenceSolver.save` stores under "solver", and the test each value must pass
#: (the constructor's own checks, plus bounds where a huge value would only fail during a solve)
_SETTINGS: dict[str, Callable[[Any], bool]] = {
    "rtol": lambda v: _is_real(v) and v >= 0,
    "atol": lambda v: _is_real(v) and v >= 0,
    "seed": lambda v: v is None or (_is_int(v) and -2**63 <= v < 2**64),
    "maxiter": lambda v: v is None or (_is_int(v) and 1 <= v <= 2**31 - 1),
    "warm_start": lambda v: isinstance(v, bool),
    "fallback": lambda v: isinstance(v, bool),
    "backend": lambda v: isinstance(v, str),
    "blas_threads": lambda v: v is None or (_is_int(v) and 1 <= v <= 4096),
}


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and -1e308 < v < 1e308 and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_solver_settings(saved: dict, path: str | os.PathLike) -> dict:
    """The solver settings of a state file, checked; unknown keys or bad values raise StateFileError."""
    out = {}
    for key, value in saved.items():
        check = _SETTINGS.get(key)
        if check is None:
            raise StateFileError(f"{path}: unknown solver setting {key!r} in the state file")
        if not check(value):
            text = repr(value)
            raise StateFileError(f"{path}: saved solver setting {key} = {text[:60]} is invalid")
        out[key] = value
    return out
