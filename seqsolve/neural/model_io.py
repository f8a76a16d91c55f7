"""Saving and loading DCDM networks: one self-describing, checksummed file.

File layout (little-endian)::

    MAGIC                  12 bytes  b"SEQSOLVE-NN\\n"
    header length          8 bytes   unsigned
    header                 UTF-8 JSON (see below)
    payload                the tensors' raw bytes, back to back

The header holds ``format`` / ``format_version``, ``architecture`` (``{"class": "DCDMNet",
"config": {...}}``, the constructor arguments), ``metadata`` (problem name, grid size ``n``,
training settings, seqsolve and torch versions, creation time, plus anything the caller adds),
``tensors`` (name, dtype, shape, offset, byte count, in payload order), ``payload_nbytes`` and
``payload_sha256``.  No pickle is involved, so loading an untrusted file cannot run code; a
missing, truncated, corrupted or foreign file is reported as
:class:`~seqsolve.errors.StateFileError`.  Files are written atomically (a temporary file in the
same directory, fsync, :func:`os.replace`).  The conventional suffix is ``.sqnn``.

:func:`read_metadata` reads only the header and does not need torch.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import struct
import tempfile
from typing import Any, Mapping

import numpy as np

from ..errors import StateFileError

__all__ = ["save_model", "load_model", "read_metadata", "FORMAT", "FORMAT_VERSION", "MAGIC"]

MAGIC = b"SEQSOLVE-NN\n"
FORMAT = "seqsolve-neural-model"
FORMAT_VERSION = 1
_MAX_HEADER = 16 * 1024 * 1024
_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16,
           "int64": np.int64, "int32": np.int32}


def _seqsolve_version() -> str:
    try:
        import seqsolve

        return str(getattr(seqsolve, "__version__", "0"))
    except Exception:  # pragma: no cover - a partially importable package
        return "0"


def _atomic_write(path: str, chunks) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=d)
    try:
        try:  # mkstemp makes 0600 files; keep an existing file's mode, else rw-r--r--
            os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        except OSError:
            pass
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _finite(obj: Any) -> Any:
    """``obj`` with non-finite floats replaced by ``None`` (JSON has no NaN/Infinity)."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def save_model(model: Any, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None
               ) -> str:
    """Write ``model`` (a :class:`~seqsolve.neural.model.DCDMNet`) and ``metadata`` to ``path``.

    ``metadata`` must be JSON-serialisable (NaN and infinities are stored as ``null``);
    ``problem`` defaults to ``"fluid2d"``, and
    ``grid_size`` (the model's), ``seqsolve_version``, ``torch_version``, ``format_version``
    and ``created`` are filled in.  Returns the path written.
    """
    from . import require_torch

    torch = require_torch()
    path = os.fspath(path)
    if not hasattr(model, "config") or not hasattr(model, "state_dict"):
        raise TypeError(f"save_model needs a DCDMNet, got {type(model).__name__}")
    meta = _finite(dict(metadata or {}))
    meta.setdefault("problem", "fluid2d")
    meta["grid_size"] = int(model.grid_size)
    meta["seqsolve_version"] = _seqsolve_version()
    meta["torch_version"] = str(torch.__version__)
    meta["format_version"] = FORMAT_VERSION
    meta.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    tensors, blobs, offset = [], [], 0
    for name, t in model.state_dict().items():
        arr = t.detach().to("cpu").contiguous().numpy()
        dtype = str(arr.dtype)
        if dtype not in _DTYPES:
            raise TypeError(f"tensor {name!r} has unsupported dtype {dtype}")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        tensors.append({"name": name, "dtype": dtype, "shape": list(arr.shape),
                        "offset": offset, "nbytes": len(data)})
        blobs.append(data)
        offset += len(data)
    payload = b"".join(blobs)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": {"class": type(model).__name__, "config": model.config()},
        "metadata": meta,
        "tensors": tensors,
        "payload_nbytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    }
    try:
        hbytes = json.dumps(header, sort_keys=True, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"model metadata is not JSON-serialisable: {exc}") from exc
    _atomic_write(path, [MAGIC, struct.pack("<Q", len(hbytes)), hbytes, payload])
    return path


def _read_header(fh, path: str) -> tuple[dict, int]:
    head = fh.read(len(MAGIC) + 8)
    if len(head) < len(MAGIC) + 8 or not head.startswith(MAGIC):
        if len(head) < len(MAGIC) and MAGIC.startswith(head):
            raise StateFileError(f"model file {path!r} is truncated ({len(head)} bytes)")
        raise StateFileError(f"{path!r} is not a seqsolve model file (bad magic bytes)")
    (hlen,) = struct.unpack("<Q", head[len(MAGIC):])
    if hlen == 0 or hlen > _MAX_HEADER:
        raise StateFileError(f"model file {path!r} is corrupt (header length {hlen})")
    raw = fh.read(hlen)
    if len(raw) != hlen:
        raise StateFileError(f"model file {path!r} is truncated (header cut at {len(raw)} of "
                             f"{hlen} bytes)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateFileError(f"model file {path!r} is corrupt (unreadable header: {exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise StateFileError(f"{path!r} is not a seqsolve neural model file")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise StateFileError(f"model file {path!r} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise StateFileError(
            f"model file {path!r} has format version {version}, newer than this seqsolve reads "
            f"({FORMAT_VERSION}); upgrade seqsolve")
    for key in ("architecture", "metadata", "tensors", "payload_nbytes", "payload_sha256"):
        if key not in header:
            raise StateFileError(f"model file {path!r} is corrupt (header lacks {key!r})")
    meta = header["metadata"]
    if not isinstance(meta, dict) or not isinstance(meta.get("grid_size"), int):
        raise StateFileError(f"model file {path!r} is corrupt (metadata lacks the grid size)")
    return header, len(MAGIC) + 8 + hlen


def _open(path: str):
    try:
        return open(path, "rb")
    except FileNotFoundError as exc:
        raise StateFileError(f"model file {path!r} does not exist") from exc
    except IsADirectoryError as exc:
        raise StateFileError(f"model path {path!r} is a directory, not a model file") from exc
    except OSError as exc:
        raise StateFileError(f"model file {path!r} cannot be read: {exc}") from exc


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata dict of a model file (header only; no torch needed).

    Also holds ``"architecture"`` (class and constructor arguments).  Raises
    :class:`~seqsolve.errors.StateFileError` for a missing or malformed file.
    """
    path = os.fspath(path)
    with _open(path) as fh:
        header, _ = _read_header(fh, path)
    meta = dict(header["metadata"])
    meta["architecture"] = header["architecture"]
    return meta


def load_model(path: str | os.PathLike, *, expected_n: int | None = None, device: Any = None):
    """Load a network saved by :func:`save_model`, in eval mode on ``device``.

    ``device`` defaults to CUDA when available, else CPU.  The returned
    :class:`~seqsolve.neural.model.DCDMNet` carries the file's metadata as ``model.metadata``.

    Raises :class:`~seqsolve.errors.StateFileError` when the file is missing, truncated,
    corrupt (checksum), of another format or version, or when ``expected_n`` differs from the
    grid size the model was trained for.
    """
    from . import default_device
    from .model import DCDMNet

    from . import require_torch

    torch = require_torch()
    path = os.fspath(path)
    with _open(path) as fh:
        header, start = _read_header(fh, path)
        meta = header["metadata"]
        n = meta["grid_size"]
        if expected_n is not None and int(expected_n) != n:
            raise StateFileError(
                f"model file {path!r} was trained for grid size n={n}, but n={int(expected_n)} "
                f"was expected")
        nbytes = header["payload_nbytes"]
        if not isinstance(nbytes, int) or nbytes < 0:
            raise StateFileError(f"model file {path!r} is corrupt (payload size {nbytes!r})")
        payload = fh.read(nbytes + 1)
    if len(payload) < nbytes:
        raise StateFileError(f"model file {path!r} is truncated (payload has {len(payload)} of "
                             f"{nbytes} bytes)")
    if len(payload) > nbytes:
        raise StateFileError(f"model file {path!r} is corrupt (trailing bytes after payload)")
    if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        raise StateFileError(f"model file {path!r} is corrupt (payload checksum mismatch)")

    arch = header["architecture"]
    if not isinstance(arch, dict) or arch.get("class") != "DCDMNet":
        raise StateFileError(f"model file {path!r} holds an unknown architecture "
                             f"{arch.get('class') if isinstance(arch, dict) else arch!r}")
    try:
        config = dict(arch["config"])
        config["grid_size"] = n
        grid = config.pop("grid_size")
        model = DCDMNet(grid, **config)
    except (TypeError, ValueError, KeyError) as exc:
        raise StateFileError(f"model file {path!r} has an invalid architecture: {exc}") from exc

    state = {}
    try:
        for entry in header["tensors"]:
            dt = _DTYPES[entry["dtype"]]
            off, nb, shape = int(entry["offset"]), int(entry["nbytes"]), tuple(entry["shape"])
            if off < 0 or off + nb > nbytes:
                raise ValueError(f"tensor {entry['name']!r} lies outside the payload")
            arr = np.frombuffer(payload, dtype=np.dtype(dt).newbyteorder("<"), count=nb //
                                np.dtype(dt).itemsize, offset=off).reshape(shape)
            state[entry["name"]] = torch.from_numpy(arr.astype(dt, copy=True))
    except (KeyError, TypeError, ValueError) as exc:
        raise StateFileError(f"model file {path!r} is corrupt (tensor table: {exc})") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise StateFileError(f"model file {path!r} does not match its architecture: {exc}") \
            from exc
    model = model.to(default_device(device)).eval()
    model.metadata = dict(meta)
    return model
