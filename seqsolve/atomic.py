"""Safe file access: atomic writes that never lose what the user saved, and bounded reads.

Every file seqsolve writes (states, tables, JSON, plots, Matrix Market, models) goes through
:func:`atomic_path`: the content is written to a temporary file in the target's folder and
renamed over the target only once complete, so an interrupted write (an exception, SIGKILL, a
full disk) leaves the old file intact.  Writers of precious files pass a ``guard`` that decides
whether the file now at the target may be replaced; the check is repeated if the target changes
while we write, and an absent target is created with :func:`os.link`, which never replaces a file
that appeared meanwhile.

Every file seqsolve reads from the user goes through :func:`read_limited`: regular files only (a
device or FIFO could be endless or block forever), and never more than a cap (``/dev/zero``, a
10 GB "state file") into memory.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

#: how often a guarded write re-checks a target that keeps changing under it before giving up
_GUARD_ATTEMPTS = 20


def _identity(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _refuse_special(path: Path) -> None:
    """Renaming over ``/dev/full`` or a FIFO would delete it (as root, even in /dev): refuse."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise OSError(errno.EEXIST, f"{path} exists and is not a regular file; not replaced")


def _commit(tmp: str, path: Path, guard: Callable[[Path], None]) -> None:
    """Move ``tmp`` to ``path``, replacing only what ``guard`` accepted (best effort, no locks)."""
    for _ in range(_GUARD_ATTEMPTS):
        before = _identity(path)
        if before is None:
            try:
                os.link(tmp, path)  # fails if a file appeared since: then judge that file
                return
            except FileExistsError:
                continue
            except OSError:  # a file system without hard links
                os.replace(tmp, path)
                return
        guard(path)  # raises if the file at the target must not be replaced
        if _identity(path) == before:  # still the file the guard judged
            os.replace(tmp, path)
            return
    raise OSError(f"{path} kept changing while it was being replaced; try again")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "",
                guard: Callable[[Path], None] | None = None) -> Iterator[str]:
    """Yield a temporary path; on success it replaces ``path`` (mode 0644), on error it is removed.

    ``suffix`` keeps writers that choose a format by extension (matplotlib, Matrix Market) happy.
    ``guard(path)``, if given, is called on an existing target before it is replaced and raises
    to keep it.  The target's folder must exist: a mistyped output path is an error, not a new tree.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or ".tmp")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes private files; results are ordinary files
        if guard is None:
            _refuse_special(path)
            os.replace(tmp, path)
        else:
            _commit(tmp, path, guard)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def write_bytes(path: str | os.PathLike, data: bytes, guard: Callable[[Path], None] | None = None) -> None:
    """Write ``data`` atomically (flushed to disk before the rename); see :func:`atomic_path`."""
    with atomic_path(path, guard=guard) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_text(path: str | os.PathLike, text: str, guard: Callable[[Path], None] | None = None) -> None:
    """Write ``text`` (UTF-8) atomically (flushed to disk before the rename)."""
    write_bytes(path, text.encode("utf-8"), guard)


def write_json(path: str | os.PathLike, data: Any, **dump_options: Any) -> None:
    """Write JSON atomically; NumPy scalars and arrays are converted."""
    write_text(path, json.dumps(data, default=_jsonable, **({"indent": 1} | dump_options)))


def _jsonable(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def open_regular(path: str | os.PathLike, error: type[Exception], what: str = "file") -> int:
    """A read-only descriptor of the regular file ``path`` (``error`` naming it otherwise).

    Devices, FIFOs and folders are refused before opening (they could be endless or block), and
    the file is opened non-blocking, so a FIFO swapped in meanwhile cannot make us wait.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # refuse devices without even opening them
            kind = "a directory" if os.path.isdir(path) else "not a regular file"
            raise error(f"cannot read {what} {path}: it is {kind}")
        return os.open(path, flags)
    except FileNotFoundError:
        raise error(f"no {what} at {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def read_limited(path: str | os.PathLike, max_bytes: int, error: type[Exception], what: str = "file") -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them.

    Raises ``error`` (e.g. :class:`~seqsolve.errors.StateFileError`) with a message naming
    ``path`` when it is missing, unreadable, not a regular file, or larger than ``max_bytes``.
    """
    fd = open_regular(path, error, what)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise error(f"cannot read {what} {path}: it is {kind}")
        if st.st_size > max_bytes:
            raise error(f"{what} {path} is too large ({st.st_size:,} bytes; at most {max_bytes:,} are read)")
        chunks, total = [], 0
        while total <= max_bytes:  # the file may grow while we read: the cap still holds
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if total > max_bytes:
        raise error(f"{what} {path} is too large (more than {max_bytes:,} bytes)")
    return b"".join(chunks)


def check_output_folder(path: str | os.PathLike, error: type[Exception], *, is_folder: bool = False) -> Path:
    """Check that an output can be written at ``path`` before hours of work are spent on it.

    ``path`` is a file whose folder must exist or, with ``is_folder``, a folder that may still have
    to be created.  Probes by creating and removing a temporary file, as the atomic writers will.
    Returns the folder; raises ``error`` naming the problem.
    """
    path = Path(path)
    if is_folder:
        folder = probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent  # the folder will be created under this one
        if not probe.is_dir():
            raise error(f"cannot create output folder {folder}: {probe} is not a folder")
    else:
        folder = probe = path.parent
        if path.is_dir():
            raise error(f"cannot write {path}: it is a folder")
        if path.exists() and not path.is_file():
            raise error(f"cannot write {path}: it exists and is not a regular file")
        if not folder.is_dir():
            raise error(f"cannot write {path}: folder {folder} does not exist" if not folder.exists()
                        else f"cannot write {path}: {folder} is not a folder")
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".seqsolve-probe-")
        os.close(fd)
        os.remove(tmp)
    except OSError as exc:
        raise error(f"cannot write {path}: {exc.strerror or exc} in {probe}") from None
    return folder
