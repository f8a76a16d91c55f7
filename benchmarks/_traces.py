"""Keep benchmark results small in git: summaries in ``results/``, per-step traces elsewhere.

A per-step trace (cumulative seconds, iterations, configuration or ω of every one of thousands of
systems) is what a plot is drawn from, not what a reader checks, and it made ``results/`` 15 MB.
:func:`save` writes the summary JSON with every long list left out (noted in ``"traces"``) and,
only when asked (``--traces``), the full data gzipped to ``benchmarks/traces/`` (ignored by git).
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from seqsolve.atomic import write_json

#: a list at least this long is a per-step trace
TRACE_MIN = 100
TRACES = Path(__file__).resolve().parent / "traces"


def split(data: Any, path: str = "") -> tuple[Any, list[str]]:
    """``data`` without its long lists, and the paths (``a/b/c``) of what was left out."""
    if isinstance(data, dict):
        kept, dropped = {}, []
        for key, value in data.items():
            where = f"{path}/{key}" if path else str(key)
            if _is_trace(value):
                dropped.append(where)
                continue
            kept[key], more = split(value, where)
            dropped += more
        return kept, dropped
    return data, []


def _is_trace(value: Any) -> bool:
    """A long list, or a list of long lists (one trace per ω, per seed …)."""
    return isinstance(value, list) and (len(value) >= TRACE_MIN or any(_is_trace(v) for v in value))


def save(data: dict, out: str | os.PathLike, stem: str, traces: bool = False) -> list[Path]:
    """Write ``out/<stem>.json`` (summary) and, with ``traces``, ``benchmarks/traces/<stem>.json.gz``."""
    summary, dropped = split(data)
    written = [Path(out) / f"{stem}.json"]
    if dropped:
        summary["traces"] = {"left_out": _grouped(dropped),
                             "how": f"rerun with --traces: benchmarks/traces/{stem}.json.gz"}
    write_json(written[0], summary)
    if traces and dropped:
        TRACES.mkdir(parents=True, exist_ok=True)
        target = TRACES / f"{stem}.json.gz"
        fd, tmp = tempfile.mkstemp(dir=TRACES, prefix=f".{stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                gz.write(json.dumps(data, default=_plain).encode())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)  # never a half-written file under the real name
        except BaseException:
            os.unlink(tmp)
            raise
        written.append(target)
    return written


def _grouped(paths: list[str]) -> list[str]:
    """``a/b/x``, ``a/b/y``, … as ``a/b/*`` (the left-out list is for a reader)."""
    parents: dict[str, list[str]] = {}
    for p in paths:
        parents.setdefault(p.rpartition("/")[0], []).append(p)
    return [f"{parent}/*" if parent and len(kids) > 3 else k
            for parent, kids in parents.items() for k in (kids[:1] if parent and len(kids) > 3 else kids)]


def _plain(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def shrink_png(path: str | os.PathLike) -> None:
    """Re-save a plot as a 256-colour palette PNG (about a third of the size, same look)."""
    from PIL import Image

    path = Path(path)
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    tmp = path.with_name(f".{path.name}.tmp.png")
    small.save(tmp, optimize=True)
    os.replace(tmp, path)
