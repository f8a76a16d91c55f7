"""Validation of loaded policy states: every value checked before a policy uses it.

A state file's checksum detects corruption, not edits, so ``load_state_dict`` must accept any
JSON value and either restore a policy that keeps working or raise
:class:`~seqsolve.errors.StateFileError`.  Checking types alone is not enough: a NaN estimate, a
negative count or a 400-digit integer loads fine and poisons later solves (``int(inf)``,
``2.0 ** 10**6``), so these helpers also enforce ranges.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping

from ..errors import StateFileError

#: largest count (steps, iterations, updates) a state may hold: exact in float64, far above any real run
MAX_COUNT = 2**53
#: largest seconds / cost / estimate a state may hold (a bound that keeps products and ratios finite)
MAX_VALUE = 1e12


def as_int(value: Any, where: str, *, lo: int = 0, hi: int = MAX_COUNT) -> int:
    """``value`` as an int in ``[lo, hi]`` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise StateFileError(f"{where} must be an integer in [{lo}, {hi}], got {_short(value)}")
    return int(value)


def as_float(value: Any, where: str, *, lo: float = 0.0, hi: float = MAX_VALUE) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (ints are accepted, bools and strings are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise StateFileError(f"{where} must be a number, got {_short(value)}")
    try:
        v = float(value)
    except OverflowError:
        raise StateFileError(f"{where} is out of range: {_short(value)}") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise StateFileError(f"{where} must be a finite number in [{lo:g}, {hi:g}], got {_short(value)}")
    return v


def as_list(value: Any, where: str, *, length: int | None = None) -> list:
    """``value`` as a list, of exactly ``length`` items when given."""
    if not isinstance(value, list):
        raise StateFileError(f"{where} must be a list, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise StateFileError(f"{where} must have {length} items, got {len(value)}")
    return value


def as_dict(value: Any, where: str) -> Mapping:
    """``value`` as a mapping with string keys."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise StateFileError(f"{where} must be a mapping with string keys, got {type(value).__name__}")
    return value


def as_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise StateFileError(f"{where} must be a string, got {_short(value)}")
    return value


def float_table(value: Any, where: str, *, lo: float = 0.0, hi: float = MAX_VALUE) -> dict[str, float]:
    """A mapping of names to finite floats in ``[lo, hi]``."""
    return {k: as_float(v, f"{where}[{k!r}]", lo=lo, hi=hi) for k, v in as_dict(value, where).items()}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
