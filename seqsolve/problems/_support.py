"""What the suite workloads share: the optional scikit-fem import, argument checks, Dirichlet restriction.

scikit-fem is an optional extra (``pip install 'seqsolve[fem]'``), so the FEM problem modules
import it only when a problem is built, and a missing install is a clear seqsolve error rather
than an ``ImportError`` deep inside a benchmark.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigurationError, InvalidSystemError, UnsupportedTypeError


def require_skfem(problem: str) -> ModuleType:
    """Import and return :mod:`skfem`, or raise ConfigurationError saying how to install it."""
    try:
        import skfem
    except ImportError:
        raise ConfigurationError(
            f"{problem} needs scikit-fem, which is not installed; install it with "
            "`pip install 'seqsolve[fem]'` (or `pip install scikit-fem`)") from None
    return skfem


def check_int(label: str, value: object, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools and floats rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UnsupportedTypeError(f"{label} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise InvalidSystemError(f"{label} must be >= {minimum}, got {value}")
    return int(value)


def check_positive(label: str, value: object) -> float:
    """``value`` as a finite float > 0."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UnsupportedTypeError(f"{label} must be a number, got {type(value).__name__}") from None
    if not (np.isfinite(v) and v > 0):
        raise InvalidSystemError(f"{label} must be a finite number > 0, got {value!r}")
    return v


def restrict(A: sp.spmatrix | sp.sparray, free: np.ndarray) -> sp.csr_array:
    """The block ``A[free, free]`` as a canonical CSR array (Dirichlet rows and columns removed)."""
    A = sp.csr_array(A)
    sub = sp.csr_array(A[free][:, free])
    sub.sum_duplicates()
    sub.sort_indices()
    return sub
