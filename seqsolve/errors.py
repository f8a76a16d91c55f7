"""Exceptions raised by seqsolve.

Every error a user can trigger derives from :class:`SeqsolveError`, and also from the
built-in exception that fits (``ValueError`` for bad values, ``TypeError`` for bad types),
so ``except ValueError`` keeps working for SciPy-style callers.
"""

from __future__ import annotations


class SeqsolveError(Exception):
    """Base class of every seqsolve exception."""


class InvalidSystemError(SeqsolveError, ValueError):
    """A matrix or right-hand side has a bad shape, size or value (NaN/Inf, empty, non-square)."""


class UnsupportedTypeError(SeqsolveError, TypeError):
    """An input has a type seqsolve cannot use (e.g. a dense list of lists, a string)."""


class NotSymmetricError(SeqsolveError, ValueError):
    """An SPD-only method was asked to solve a system whose matrix is not symmetric."""


class ConfigurationError(SeqsolveError, ValueError):
    """A configuration or policy name is unknown, malformed, or not applicable."""


class StateFileError(SeqsolveError, ValueError):
    """A saved state or model file is missing, corrupt, or incompatible."""


class ConvergenceError(SeqsolveError, ArithmeticError):
    """No configuration, fallback included, reached the requested tolerance.

    Attributes
    ----------
    best_residual : float
        The smallest relative true residual ``||b - A x|| / ||b||`` reached.
    best_x : numpy.ndarray or None
        The iterate that reached it, for inspection (never returned as a solution).
    attempts : list of str
        Names of the configurations tried, in order.
    """

    def __init__(self, message: str, *, best_residual: float, best_x=None, attempts=()):
        super().__init__(message)
        self.best_residual = float(best_residual)
        self.best_x = best_x
        self.attempts = list(attempts)
