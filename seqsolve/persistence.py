"""Saving what a solver learned, so the next run of the same simulation starts informed.

The file is JSON with a format tag, a version and a SHA-256 checksum of its payload, written to a
temporary file in the same folder and renamed into place (never half-written).  Loading checks
all three and raises :class:`~seqsolve.StateFileError` with the reason; saving refuses to replace
an existing file that is not a seqsolve state file, so nothing the user saved is lost.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .atomic import write_text
from .errors import StateFileError

FORMAT = "seqsolve-state"
VERSION = 1


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def read_state(path: str | os.PathLike) -> dict:
    """Read and verify a state file; return its payload."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise StateFileError(f"no state file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateFileError(f"cannot read state file {path}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateFileError(f"{path} is not a seqsolve state file (corrupt JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StateFileError(f"{path} is not a seqsolve state file (format tag missing)")
    if doc.get("version") != VERSION:
        raise StateFileError(f"{path} has state format version {doc.get('version')!r}; this seqsolve reads {VERSION}")
    payload = doc.get("payload")
    if not isinstance(payload, dict) or doc.get("sha256") != _digest(payload):
        raise StateFileError(f"{path} is corrupt (checksum mismatch)")
    return payload


def write_state(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically; refuse to replace a file that is not a seqsolve state file."""
    path = Path(path)
    if path.exists():
        try:
            doc = json.loads(path.read_text())
            ours = isinstance(doc, dict) and doc.get("format") == FORMAT
        except (OSError, ValueError, UnicodeDecodeError):
            ours = False
        if not ours:
            raise StateFileError(f"refusing to overwrite {path}: it is not a seqsolve state file")
    doc = {"format": FORMAT, "version": VERSION, "sha256": _digest(payload), "payload": payload}
    write_text(path, json.dumps(doc))
