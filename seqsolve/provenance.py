"""What every JSON file seqsolve writes says about how it was made: versions, seed, command line.

A result without its versions and command cannot be reproduced or compared; one helper keeps
the CLI's files and the benchmark scripts' files alike.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from importlib import metadata

#: distributions whose versions change numbers (solvers, kernels, the network)
PACKAGES = ("numpy", "scipy", "pyamg", "numba", "torch", "scikit-fem")


def versions() -> dict[str, str | None]:
    """Installed versions of seqsolve, Python and the packages it computes with (``None``: absent)."""
    from . import __version__

    out: dict[str, str | None] = {"seqsolve": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(seed: int | None = None, argv: list[str] | None = None) -> dict:
    """The block stored under ``"provenance"``: versions, seed, command line, machine, time (UTC)."""
    args = sys.argv if argv is None else argv
    return {
        "versions": versions(),
        "seed": seed,
        "command": " ".join(shlex.quote(a) for a in [os.path.basename(args[0]) if args else "python", *args[1:]]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
