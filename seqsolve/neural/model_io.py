"""Saving and loading DCDM networks: one self-describing, checksummed file.

File layout (little-endian)::

    MAGIC                  12 bytes  b"SEQSOLVE-NN\\n"
    header length          8 bytes   unsigned
    header                 UTF-8 JSON (see below)
    payload                the tensors' raw bytes, back to back

The header holds ``format`` / ``format_version``, ``architecture`` (``{"class": "DCDMNet"`` or
``"VCycleNet", "config": {...}}``, the constructor arguments), ``metadata`` (problem name, grid size ``n``,
training settings, seqsolve and torch versions, creation time, plus anything the caller adds),
``tensors`` (name, dtype, shape, offset, byte count, in payload order), ``payload_nbytes`` and
``payload_sha256``.  No pickle is involved, so loading an untrusted file cannot run code; a
missing, truncated, corrupted or foreign file is reported as
:class:`~seqsolve.errors.StateFileError`.  Loading is also bounded for any bytes: every
hyper-parameter and size in the header is checked against fixed limits and against the file's
real size before the payload is read or the network built (a header claiming ``width = 200000``
or a 10**15-byte payload costs nothing).  The checksum detects corruption, not tampering.

Files are written atomically (a temporary file in the same directory, fsync, rename), and only
over nothing or a valid model file: anything else at the target is kept.  The conventional
suffix is ``.sqnn``.

:func:`read_metadata` reads only the header and does not need torch.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import struct
from typing import Any, Mapping

import numpy as np

from ..atomic import atomic_path, open_regular
from ..errors import StateFileError

__all__ = ["save_model", "load_model", "read_metadata", "ensure_replaceable", "FORMAT", "FORMAT_VERSION", "MAGIC"]

MAGIC = b"SEQSOLVE-NN\n"
FORMAT = "seqsolve-neural-model"
FORMAT_VERSION = 1
_MAX_HEADER = 16 * 1024 * 1024
#: the largest model file read (100 M float32 parameters fit; real models are ~100 kB)
MAX_FILE_BYTES = 1 << 30
_MAX_GRID_SIZE = 1 << 16  # = seqsolve.neural.model.MAX_GRID_SIZE (this module must not need torch)
_SIZE_DEFAULTS = {"width": 16, "levels": 2, "enc_blocks": 1, "bottom_blocks": 2, "dec_blocks": 1}
_CONFIG_KEYS = set(_SIZE_DEFAULTS) | {"features"}
_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16,
           "int64": np.int64, "int32": np.int32}


def _seqsolve_version() -> str:
    try:
        import seqsolve

        return str(getattr(seqsolve, "__version__", "0"))
    except Exception:  # pragma: no cover - a partially importable package
        return "0"


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
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        with atomic_path(path, guard=ensure_replaceable) as tmp, open(tmp, "wb") as fh:
            fh.writelines((MAGIC, struct.pack("<Q", len(hbytes)), hbytes, payload))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StateFileError(f"cannot write model file {path!r}: {exc.strerror or exc} "
                             f"(any previous file there is unchanged)") from None
    return path


def ensure_replaceable(path: str | os.PathLike) -> None:
    """Raise :class:`~seqsolve.errors.StateFileError` unless ``path`` is absent or a valid model file.

    :func:`save_model` replaces only a checksum-verified model file: anything else at the target
    (the user's notes, a damaged model worth inspecting, a device) is kept.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        return
    try:
        _read_verified(path)
    except StateFileError as exc:
        raise StateFileError(f"refusing to overwrite {path!r}: it is not a valid seqsolve model file ({exc})") \
            from None


def _open(path: str) -> tuple[Any, int]:
    """Open a model file for reading: a regular file of at most :data:`MAX_FILE_BYTES`; returns (file, size)."""
    fd = open_regular(path, StateFileError, "model file")
    size = os.fstat(fd).st_size
    fh = os.fdopen(fd, "rb")
    if size > MAX_FILE_BYTES:
        fh.close()
        raise StateFileError(f"model file {path!r} is too large ({size:,} bytes; at most {MAX_FILE_BYTES:,})")
    return fh, size


def _read_header(fh, path: str, size: int) -> tuple[dict, int]:
    """The checked header and the payload's offset; reads at most the header's bytes."""
    head = fh.read(len(MAGIC) + 8)
    if len(head) < len(MAGIC) + 8 or not head.startswith(MAGIC):
        if len(head) < len(MAGIC) and MAGIC.startswith(head):
            raise StateFileError(f"model file {path!r} is truncated ({len(head)} bytes)")
        raise StateFileError(f"{path!r} is not a seqsolve model file (bad magic bytes)")
    (hlen,) = struct.unpack("<Q", head[len(MAGIC):])
    if hlen == 0 or hlen > _MAX_HEADER:
        raise StateFileError(f"model file {path!r} is corrupt (header length {hlen})")
    if hlen > size - len(head):
        raise StateFileError(f"model file {path!r} is truncated (header of {hlen} bytes, file of {size})")
    raw = fh.read(hlen)
    if len(raw) != hlen:
        raise StateFileError(f"model file {path!r} is truncated (header cut at {len(raw)} of "
                             f"{hlen} bytes)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StateFileError(f"model file {path!r} is corrupt (unreadable header: {exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise StateFileError(f"{path!r} is not a seqsolve neural model file")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StateFileError(f"model file {path!r} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise StateFileError(
            f"model file {path!r} has format version {version}, newer than this seqsolve reads "
            f"({FORMAT_VERSION}); upgrade seqsolve")
    for key in ("architecture", "metadata", "tensors", "payload_nbytes", "payload_sha256"):
        if key not in header:
            raise StateFileError(f"model file {path!r} is corrupt (header lacks {key!r})")
    meta = header["metadata"]
    n = meta.get("grid_size") if isinstance(meta, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= _MAX_GRID_SIZE:
        raise StateFileError(f"model file {path!r} is corrupt (metadata lacks a valid grid size)")
    # the claimed payload must be exactly what follows the header in the file: checked before
    # anything is read or built, so a header claiming 10**15 bytes costs nothing
    nbytes, start = header["payload_nbytes"], len(MAGIC) + 8 + hlen
    if not isinstance(nbytes, int) or isinstance(nbytes, bool) or nbytes < 0:
        raise StateFileError(f"model file {path!r} is corrupt (payload size {nbytes!r})")
    if nbytes > size - start:
        raise StateFileError(f"model file {path!r} is truncated (payload has {size - start} of "
                             f"{nbytes} bytes)")
    if nbytes < size - start:
        raise StateFileError(f"model file {path!r} is corrupt (trailing bytes after payload)")
    if not isinstance(header["payload_sha256"], str):
        raise StateFileError(f"model file {path!r} is corrupt (payload checksum {header['payload_sha256']!r})")
    return header, start


def _read_payload(fh, header: dict, path: str) -> bytes:
    """The payload that follows the header, checksum-verified (its size was checked by _read_header)."""
    payload = fh.read(header["payload_nbytes"] + 1)
    if len(payload) != header["payload_nbytes"]:  # the file changed while we read it
        raise StateFileError(f"model file {path!r} changed while it was read")
    if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        raise StateFileError(f"model file {path!r} is corrupt (payload checksum mismatch)")
    return payload


def _read_verified(path: str) -> tuple[dict, bytes]:
    """Header and checksum-verified payload of a model file (no torch needed)."""
    fh, size = _open(path)
    with fh:
        header, _ = _read_header(fh, path, size)
        return header, _read_payload(fh, header, path)


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata dict of a model file (header only; no torch needed).

    Also holds ``"architecture"`` (class and constructor arguments).  Raises
    :class:`~seqsolve.errors.StateFileError` for a missing or malformed file.
    """
    path = os.fspath(path)
    fh, size = _open(path)
    with fh:
        header, _ = _read_header(fh, path, size)
    meta = dict(header["metadata"])
    meta["architecture"] = header["architecture"]
    return meta


def _tensor_table(header: dict, path: str) -> list[tuple[str, Any, tuple[int, ...], int, int]]:
    """The tensor table as (name, dtype, shape, offset, nbytes), back to back as written; checked."""
    table, offset = [], 0
    entries = header["tensors"]
    if not isinstance(entries, list) or len(entries) > 10_000:
        raise StateFileError(f"model file {path!r} is corrupt (tensor table)")
    for entry in entries:
        try:
            name, dt, shape = entry["name"], np.dtype(_DTYPES[entry["dtype"]]), entry["shape"]
            off, nb = entry["offset"], entry["nbytes"]
            ok = (isinstance(name, str) and isinstance(shape, list) and len(shape) <= 8
                  and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_FILE_BYTES for d in shape)
                  and off == offset and nb == math.prod(shape) * dt.itemsize)
        except (KeyError, TypeError):
            ok = False
        if not ok:
            raise StateFileError(f"model file {path!r} is corrupt (tensor table entry {str(entry)[:80]})")
        table.append((name, dt, tuple(shape), off, nb))
        offset += nb
    if offset != header["payload_nbytes"]:
        raise StateFileError(f"model file {path!r} is corrupt (tensors cover {offset} of "
                             f"{header['payload_nbytes']} payload bytes)")
    return table


def _check_architecture(header: dict, path: str) -> tuple[dict, list]:
    """The constructor arguments and tensor table, checked against fixed limits and each other.

    Everything here is computed from the header: nothing is built before it passes.
    """
    from .model import check_hyperparameters

    arch = header["architecture"]
    if isinstance(arch, dict) and arch.get("class") == "VCycleNet" and isinstance(arch.get("config"), dict):
        return _check_vcycle(header, arch["config"], path)
    if not isinstance(arch, dict) or arch.get("class") != "DCDMNet" or not isinstance(arch.get("config"), dict):
        raise StateFileError(f"model file {path!r} holds an unknown architecture "
                             f"{arch.get('class') if isinstance(arch, dict) else arch!r}")
    config = {k: v for k, v in arch["config"].items() if k != "grid_size"}  # the metadata's counts
    if not set(config) <= _CONFIG_KEYS:
        raise StateFileError(f"model file {path!r} has an invalid architecture: unknown "
                             f"arguments {sorted(set(config) - _CONFIG_KEYS)[:5]}")
    features = config.get("features", ["residual", "solid", "deficit"])
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise StateFileError(f"model file {path!r} has an invalid architecture: features {features!r:.80}")
    try:
        count = check_hyperparameters(header["metadata"]["grid_size"], in_channels=len(features),
                                      **{k: config.get(k, d) for k, d in _SIZE_DEFAULTS.items()})
    except ValueError as exc:
        raise StateFileError(f"model file {path!r} has an invalid architecture: {exc}") from None
    table = _counted_table(header, path, count)
    return config, table


def _counted_table(header: dict, path: str, count: int) -> list:
    """The header's tensor table, checked to hold exactly ``count`` parameters."""
    table = _tensor_table(header, path)
    if sum(math.prod(shape) for _, _, shape, _, _ in table) != count:
        raise StateFileError(f"model file {path!r} does not match its architecture "
                             f"({count:,} parameters expected)")
    return table


_VCYCLE_DEFAULTS = {"hidden": 8, "channels": 2, "smoothing_steps": 2, "coarsest": 8}


def _check_vcycle(header: dict, config: dict, path: str) -> tuple[dict, list]:
    """:func:`_check_architecture` for a VCycleNet (bounded sizes, parameter count from the header)."""
    from .multigrid import check_vcycle_hyperparameters

    config = {k: v for k, v in config.items() if k != "grid_size"}
    if not set(config) <= set(_VCYCLE_DEFAULTS):
        raise StateFileError(f"model file {path!r} has an invalid architecture: unknown "
                             f"arguments {sorted(set(config) - set(_VCYCLE_DEFAULTS))[:5]}")
    config = {k: config.get(k, d) for k, d in _VCYCLE_DEFAULTS.items()}
    try:
        count = check_vcycle_hyperparameters(**config)
    except ValueError as exc:
        raise StateFileError(f"model file {path!r} has an invalid architecture: {exc}") from None
    table = _counted_table(header, path, count)
    config["_class"] = "VCycleNet"
    return config, table


def load_model(path: str | os.PathLike, *, expected_n: int | None = None, device: Any = None):
    """Load a network saved by :func:`save_model`, in eval mode on ``device``.

    ``device`` defaults to CUDA when available, else CPU.  The returned
    :class:`~seqsolve.neural.model.DCDMNet` (or :class:`~seqsolve.neural.multigrid.VCycleNet`)
    carries the file's metadata as ``model.metadata``.

    Raises :class:`~seqsolve.errors.StateFileError` when the file is missing, truncated,
    corrupt (checksum), of another format or version, or when ``expected_n`` differs from the
    grid size the model was trained for.  Every size in the header is checked against the file's
    real size and fixed limits before the payload is read or the network built.
    """
    from . import default_device, require_torch
    from .model import DCDMNet

    torch = require_torch()
    path = os.fspath(path)
    fh, size = _open(path)
    with fh:
        header, _ = _read_header(fh, path, size)
        n = header["metadata"]["grid_size"]
        if expected_n is not None and int(expected_n) != n:
            raise StateFileError(
                f"model file {path!r} was trained for grid size n={n}, but n={int(expected_n)} "
                f"was expected")
        config, table = _check_architecture(header, path)
        payload = _read_payload(fh, header, path)
    try:
        if config.pop("_class", None) == "VCycleNet":
            from .multigrid import VCycleNet

            model = VCycleNet(n, **config)
        else:
            model = DCDMNet(n, **config)
    except (TypeError, ValueError) as exc:
        raise StateFileError(f"model file {path!r} has an invalid architecture: {exc}") from None
    state = {}
    for name, dt, shape, off, nb in table:
        arr = np.frombuffer(payload, dtype=dt.newbyteorder("<"), count=nb // dt.itemsize, offset=off)
        state[name] = torch.from_numpy(arr.reshape(shape).astype(dt, copy=True))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise StateFileError(f"model file {path!r} does not match its architecture: {exc}") from None
    model = model.to(default_device(device)).eval()
    model.metadata = dict(header["metadata"])
    return model
