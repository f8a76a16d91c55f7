"""seqsolve: solve sequences of related sparse linear systems faster by learning as they run.

The flow: a *problem* yields systems → a *policy* picks a *configuration* → a *backend* builds
and runs it → the true residual is checked (fallback if needed) → the measured cost is recorded
and fed back to the policy.

``import seqsolve`` is cheap (errors, configuration names and records only): the solver, SciPy's
sparse machinery, PyAMG, Numba, torch, rich and matplotlib are imported on first use, so a
command-line call or a script that only needs part of the package does not pay for all of it.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import log as _log  # noqa: F401  (installs the NullHandler on the 'seqsolve' logger)
from .configs import Configuration, configs, parse as parse_configuration
from .errors import (ConfigurationError, ConvergenceError, InvalidSystemError, NotSymmetricError,
                     SeqsolveError, StateFileError, UnsupportedTypeError)
from .records import SolveRecord

__version__ = "0.1.0"

#: public name → the module that defines it, imported when the name is first used
_LAZY: dict[str, str] = {
    "SequenceSolver": ".solver",
    "solve": ".solver",
    "run": ".runner",
    "RunResult": ".runner",
}
#: subpackages reachable as attributes (``seqsolve.problems.Heat2D``) without an explicit import
_SUBMODULES = ("problems", "linalg", "policies", "report")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later look-ups are plain attribute reads
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'seqsolve' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


__all__ = [
    "SequenceSolver", "solve", "run", "RunResult", "configs", "Configuration", "parse_configuration",
    "SolveRecord", "problems", "linalg", "SeqsolveError", "ConvergenceError", "InvalidSystemError",
    "UnsupportedTypeError", "NotSymmetricError", "ConfigurationError", "StateFileError", "__version__",
]
