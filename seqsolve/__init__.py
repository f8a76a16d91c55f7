"""seqsolve: solve sequences of related sparse linear systems faster by learning as they run.

The flow: a *problem* yields systems → a *policy* picks a *configuration* → a *backend* builds
and runs it → the true residual is checked (fallback if needed) → the measured cost is recorded
and fed back to the policy.
"""

from . import problems
from .configs import Configuration, configs, parse as parse_configuration
from .errors import (ConfigurationError, ConvergenceError, InvalidSystemError, NotSymmetricError,
                     SeqsolveError, StateFileError, UnsupportedTypeError)
from .records import SolveRecord
from .runner import RunResult, run
from .solver import SequenceSolver, solve

__version__ = "0.1.0"

__all__ = [
    "SequenceSolver", "solve", "run", "RunResult", "configs", "Configuration", "parse_configuration",
    "SolveRecord", "problems", "SeqsolveError", "ConvergenceError", "InvalidSystemError",
    "UnsupportedTypeError", "NotSymmetricError", "ConfigurationError", "StateFileError", "__version__",
]
