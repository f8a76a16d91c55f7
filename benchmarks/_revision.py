"""Load a module of ``seqsolve`` as it was at another git revision, to run old and new code interleaved.

Why: on a shared, noisy machine a before/after comparison is only fair inside one process, the
two versions taking turns; the old module is compiled as a sibling in this checkout's package, so
its relative imports resolve to this checkout's code.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def module_at(rev: str, path: str) -> ModuleType:
    """The module ``path`` (e.g. ``seqsolve/guesses/chooser.py``) at git revision ``rev``."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
                            check=True, capture_output=True, text=True).stdout
    package, stem = path[:-3].replace("/", ".").rsplit(".", 1)
    name = f"{package}._{stem}_{rev.replace('-', '_').replace('~', '_').replace('^', '_')}"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = package
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
    sys.modules[name] = module
    return module
